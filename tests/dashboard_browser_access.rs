//! "Accessible and usable", in a real headless Chromium (the harness of
//! `tests/dashboard_browser.rs`): on every main page each control has a label and each link
//! or button a name; keyboard focus is visible (an outline drawn around the focused control);
//! and in a narrow window (a phone's 375 px) no page is wider than the window. Screenshots of
//! the narrow pages go to `target/dashboard-screenshots/`.

mod dashboard_support;
mod http_support;

use dashboard_support::browser::{browser, screenshot, sign_in_with_token, start_driver, wait_for};
use fantoccini::{Client, Locator};
use http_support::Server;
use serde_json::{json, Value};

/// The controls of the page with no label: not inside a `<label>`, not named by a
/// `label[for]`, and without `aria-label` / `aria-labelledby`; and links or buttons with no
/// text or `aria-label`. Each as its HTML.
const UNLABELLED: &str = r#"
const bad = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const named = (el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]'))
    || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!named) bad.push(el.outerHTML);
}
for (const el of document.querySelectorAll('a, button')) {
  if (!el.textContent.trim() && !el.getAttribute('aria-label')) bad.push(el.outerHTML);
}
return bad;
"#;

/// How much wider than the window the page is, in CSS pixels (0: it fits).
const OVERFLOW: &str =
    "return Math.max(0, document.documentElement.scrollWidth - window.innerWidth);";

/// The first elements reaching past the window's right edge, to say what does not fit.
const TOO_WIDE: &str = r#"
const out = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.right > window.innerWidth + 1) out.push(el.tagName + '.' + el.className + ' → ' + Math.round(r.right));
}
return out.slice(0, 12);
"#;

async fn run(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Opens `path` and waits for its `<h1>`.
async fn open(c: &Client, base: &str, path: &str) {
    c.goto(&format!("{base}{path}"))
        .await
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    wait_for(c, Locator::Css("main h1")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_labelled_shows_focus_and_fits_a_narrow_window() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": "canary-access-5d1e"}))
        .await;
    let pages = [
        "/ui/authentications".to_owned(),
        format!("/ui/authentications/{id}"),
        format!("/ui/authentications/{id}/settings"),
        format!("/ui/authentications/{id}/details"),
        format!("/ui/authentications/{id}/history"),
        format!("/ui/authentications/{id}/usable-by"),
        "/ui/authentications/new".to_owned(),
        "/ui/authentications/new?service=airtable".to_owned(),
        "/ui/services/new".to_owned(),
        "/ui/services".to_owned(),
        "/ui/workspaces/as-of".to_owned(),
        "/ui/audit".to_owned(),
        "/ui/directory".to_owned(),
        "/ui/tokens".to_owned(),
        "/ui/integrity".to_owned(),
    ];
    let c = browser(&driver, &binary).await;
    sign_in_with_token(&c, &s.base, &s.owner.token).await;

    for path in &pages {
        open(&c, &s.base, path).await;
        let bad = run(&c, UNLABELLED).await;
        assert_eq!(bad, json!([]), "{path}: controls without a name");
    }

    // Keyboard focus is drawn: Tab from the top of a form page, and the focused control has
    // an outline.
    open(&c, &s.base, "/ui/authentications/new?service=airtable").await;
    run(
        &c,
        "document.activeElement.blur(); window.scrollTo(0, 0); return 0",
    )
    .await;
    for _ in 0..4 {
        c.active_element()
            .await
            .expect("focus")
            .send_keys("\u{E004}")
            .await
            .expect("tab");
        let outline = run(
            &c,
            "const s = getComputedStyle(document.activeElement); \
             return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth];",
        )
        .await;
        assert_ne!(outline[1], "none", "no visible focus: {outline}");
        assert_ne!(outline[2], "0px", "no visible focus: {outline}");
    }

    // A narrow window: every page fits its width.
    c.set_window_size(375, 740).await.expect("a narrow window");
    for path in &pages {
        open(&c, &s.base, path).await;
        let overflow = run(&c, OVERFLOW).await;
        if overflow != json!(0) {
            let wide = run(&c, TOO_WIDE).await;
            panic!("{path} is {overflow} px wider than a 375 px window: {wide}");
        }
    }
    open(&c, &s.base, "/ui/authentications").await;
    screenshot(&c, "narrow-authentications").await;
    open(&c, &s.base, &format!("/ui/authentications/{id}")).await;
    screenshot(&c, "narrow-authentication").await;

    c.close().await.expect("close the browser");
    s.stop().await;
}
