//! The dashboard's look-back, audit and reference pages in a real headless Chromium: the
//! history with "view as of" and "restore this version", who could use it, a workspace as of
//! a date, audit filters and both downloads (their content checked against the API's), the
//! services, directory, tokens and integrity pages through the navigation bar, search as you
//! type and a copy button (the dashboard's own script), and sign-out. No page's HTML holds
//! the canary secret. Screenshots go to `target/dashboard-screenshots/`.

mod dashboard_support;
mod http_support;

use std::path::Path;
use std::time::Duration;

use dashboard_support::browser::{
    browser_downloading_to, click_on, screenshot, start_driver, wait_for, wait_for_exact_heading,
    wait_for_heading,
};
use dashboard_support::reauthenticate;
use fantoccini::{Client, Locator};
use http_support::Server;
use reqwest::Method;
use serde_json::json;

const CANARY: &str = "canary-browser-lookback-71c0e9aa";

async fn source(c: &Client, pages: &mut Vec<String>) -> String {
    let html = c.source().await.expect("source");
    pages.push(html.clone());
    html
}

/// Waits for a finished download named `name` in `dir` and reads it.
async fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    for _ in 0..200 {
        let partial = std::fs::read_dir(dir)
            .expect("downloads")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
        if path.is_file() && !partial {
            return std::fs::read(&path).expect("read the download");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} was not downloaded into {}", dir.display());
}

async fn api_export(s: &Server, query: &str) -> Vec<u8> {
    s.client
        .get(format!("{}/v1/audit?{query}", s.base))
        .bearer_auth(&s.owner.token)
        .send()
        .await
        .expect("export")
        .bytes()
        .await
        .expect("body")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_looks_back_audits_and_reads_the_reference_pages() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    let id = s
        .create(&s.owner, &s.shared, "airtable", json!({"token": CANARY}))
        .await;
    s.create(
        &s.owner,
        &s.shared,
        "slack",
        json!({"access_token": format!("{CANARY}-slack")}),
    )
    .await;
    reauthenticate(&s, &id, &format!("{CANARY}-2")).await;
    s.call(Method::POST, "/v1/checkpoints", &s.owner.token, None)
        .await
        .expect(201);
    let first = s
        .owner_get(&format!("/v1/authentications/{id}?version=1"))
        .await
        .body;
    let name = first["name"].as_str().expect("name").to_owned();
    let downloads = tempfile::tempdir().expect("a download dir");
    let c = browser_downloading_to(&driver, &binary, downloads.path()).await;
    let mut pages = Vec::new();

    // Sign in; the session cookie is HttpOnly: the page's script cannot read it.
    c.goto(&s.base).await.expect("open the dashboard");
    wait_for_heading(&c, "Sign in").await;
    c.find(Locator::Id("token"))
        .await
        .expect("the token field")
        .send_keys(&s.owner.token)
        .await
        .expect("type");
    click_on(&c, Locator::Css("main button[type=submit]")).await;
    wait_for_heading(&c, "Authentications").await;
    let cookies = c
        .execute("return document.cookie", vec![])
        .await
        .expect("js");
    assert_eq!(
        cookies,
        json!(""),
        "the session cookie is out of the script's reach"
    );

    // Search as you type: no Enter, no navigation (a marker on the window survives).
    c.execute("window.stillHere = true", vec![])
        .await
        .expect("js");
    c.find(Locator::Id("q"))
        .await
        .expect("search field")
        .send_keys("airt")
        .await
        .expect("type");
    wait_for(
        &c,
        Locator::XPath("//p[@class='count'][contains(., '1 authentication ')]"),
    )
    .await;
    let kept = c
        .execute("return window.stillHere === true", vec![])
        .await
        .expect("js");
    assert_eq!(
        kept,
        json!(true),
        "the results were swapped in, not a new page"
    );
    assert!(c
        .current_url()
        .await
        .expect("url")
        .as_str()
        .contains("q=airt"));
    screenshot(&c, "search-as-you-type").await;
    source(&c, &mut pages).await;

    // The authentication's page: a copy button beside its id.
    click_on(&c, Locator::Css("tbody a")).await;
    wait_for_heading(&c, &name).await;
    click_on(
        &c,
        Locator::Css(&format!("button.copy[aria-label='Copy {id}']")),
    )
    .await;
    wait_for(
        &c,
        Locator::XPath("//button[@class='copy'][normalize-space(.)='Copied']"),
    )
    .await;
    source(&c, &mut pages).await;

    // History → view as of version 1 → restore it.
    click_on(&c, Locator::LinkText("History")).await;
    wait_for_heading(&c, "History").await;
    screenshot(&c, "history").await;
    source(&c, &mut pages).await;
    click_on(&c, Locator::LinkText("View as of version 1")).await;
    wait_for_heading(&c, &format!("{name} as of version 1")).await;
    let html = source(&c, &mut pages).await;
    let fp1 = first["fields"]["token"]["fingerprint"]
        .as_str()
        .expect("fp");
    assert!(html.contains(fp1), "the first version's fingerprint");
    screenshot(&c, "as-of").await;
    let before = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    click_on(
        &c,
        Locator::XPath("//button[normalize-space(.)='Restore this version']"),
    )
    .await;
    // The as-of page's heading starts with the name too: only the exact one is the restored
    // authentication's page.
    wait_for_exact_heading(&c, &name).await;
    let after = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    assert_eq!(after["version"], before["version"].as_u64().expect("v") + 1);
    assert_eq!(
        after["fields"]["token"]["fingerprint"], fp1,
        "version 1 is back"
    );

    // Who can use it (now).
    click_on(&c, Locator::LinkText("Who can use it")).await;
    wait_for_heading(&c, "Who could use").await;
    click_on(&c, Locator::Css("main form button[type=submit]")).await;
    wait_for(&c, Locator::XPath("//h2[starts-with(., 'At ')]")).await;
    let html = source(&c, &mut pages).await;
    assert!(
        html.contains("<td>Editor</td>"),
        "an editor of the workspace: {html}"
    );
    assert!(!html.contains("<td>Outsider</td>"), "{html}");
    screenshot(&c, "usable-by").await;

    // A workspace as of a date, through the navigation bar.
    click_on(&c, Locator::LinkText("Workspace as of")).await;
    wait_for_heading(&c, "Workspace as of a date").await;
    c.find(Locator::Id("workspace"))
        .await
        .expect("the workspace select")
        .select_by_value(&s.shared)
        .await
        .expect("choose the shared workspace");
    c.execute(
        "document.getElementById('at').value = arguments[0]",
        vec![json!("2100-01-01T00:00:00")],
    )
    .await
    .expect("set the date");
    click_on(
        &c,
        Locator::XPath("//button[normalize-space(.)='Show the workspace then']"),
    )
    .await;
    wait_for(&c, Locator::XPath("//h2[starts-with(., 'At 2100-01-01')]")).await;
    let html = source(&c, &mut pages).await;
    assert_eq!(html.matches("/as-of?version=").count(), 2, "both: {html}");
    screenshot(&c, "workspace-as-of").await;

    // Audit: filter by type, then download both files and compare them with the API's.
    click_on(&c, Locator::LinkText("Audit")).await;
    wait_for_heading(&c, "Audit").await;
    c.find(Locator::Id("type"))
        .await
        .expect("the type filter")
        .select_by_value("authentication.created")
        .await
        .expect("choose a type");
    click_on(&c, Locator::XPath("//button[normalize-space(.)='Filter']")).await;
    wait_for(
        &c,
        Locator::XPath("//p[@class='downloads']/a[contains(@href, 'type=authentication.created')]"),
    )
    .await;
    let html = source(&c, &mut pages).await;
    assert_eq!(
        html.matches("<td>authentication.created</td>").count(),
        2,
        "{html}"
    );
    screenshot(&c, "audit").await;
    for (link, file, format) in [
        ("download-ndjson", "credledger-audit.ndjson", "ndjson"),
        ("download-csv", "credledger-audit.csv", "csv"),
    ] {
        click_on(&c, Locator::Id(link)).await;
        let bytes = downloaded(downloads.path(), file).await;
        let api = api_export(&s, &format!("format={format}&type=authentication.created")).await;
        assert_eq!(bytes, api, "{file}: the API's export");
        let text = String::from_utf8(bytes).expect("text");
        assert_eq!(text.matches("authentication.created").count(), 2, "{text}");
        assert!(!text.contains(CANARY), "a secret in {file}");
    }

    // The reference pages, each through the navigation bar.
    for (link, heading, shot) in [
        ("Services", "Services", "services"),
        ("Directory", "Directory", "directory"),
        ("API tokens", "API tokens", "tokens"),
        ("Integrity", "Ledger integrity", "integrity"),
    ] {
        click_on(&c, Locator::LinkText(link)).await;
        wait_for_heading(&c, heading).await;
        screenshot(&c, shot).await;
        let html = source(&c, &mut pages).await;
        if shot == "integrity" {
            assert!(html.contains("verifies under this key"), "{html}");
        }
        if shot == "tokens" {
            assert!(!html.contains(&s.owner.token), "a token's text on the page");
        }
    }

    // Issue a token for myself: its text shows once, with a copy button.
    click_on(&c, Locator::LinkText("API tokens")).await;
    wait_for_heading(&c, "API tokens").await;
    c.find(Locator::Id("label"))
        .await
        .expect("the label field")
        .send_keys("browser laptop")
        .await
        .expect("type");
    click_on(
        &c,
        Locator::XPath("//button[normalize-space(.)='Issue a token']"),
    )
    .await;
    let shown = wait_for(&c, Locator::Id("issued-token"))
        .await
        .text()
        .await
        .expect("text");
    s.call(Method::GET, "/v1/authentications", &shown, None)
        .await
        .expect(200);
    c.find(Locator::Css("#issued-token + button.copy"))
        .await
        .expect("a copy button beside it");
    screenshot(&c, "tokens-issued").await;
    click_on(&c, Locator::LinkText("API tokens")).await;
    wait_for_heading(&c, "API tokens").await;
    let html = source(&c, &mut pages).await;
    assert!(!html.contains(&shown), "shown once only");

    // The navigation bar is reachable by keyboard: Tab from the top lands on its links.
    c.execute(
        "document.activeElement.blur(); window.scrollTo(0, 0)",
        vec![],
    )
    .await
    .expect("js");
    let mut focused = Vec::new();
    for _ in 0..3 {
        c.active_element()
            .await
            .expect("focus")
            .send_keys("\u{E004}")
            .await
            .expect("tab");
        let text = c
            .execute("return document.activeElement.textContent.trim()", vec![])
            .await
            .expect("js");
        focused.push(text.as_str().unwrap_or_default().to_owned());
    }
    assert!(
        focused.iter().any(|t| t == "Authentications"),
        "Tab reaches the navigation: {focused:?}"
    );

    // Sign out: the pages are closed to this browser.
    click_on(&c, Locator::Css("form.sign-out button")).await;
    wait_for_heading(&c, "Sign in").await;
    c.goto(&format!("{}/ui/audit", s.base))
        .await
        .expect("open audit");
    wait_for_heading(&c, "Sign in").await;

    for html in &pages {
        assert!(!html.contains(CANARY), "a secret reached a page");
    }
    c.close().await.expect("close the browser");
    s.stop().await;
}
