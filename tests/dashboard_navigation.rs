//! The dashboard's navigation and its answer to an expired form, over real HTTP: the link of
//! the page shown carries `aria-current="page"` (and no other does); a form sent with a stale
//! CSRF token gets a whole page saying nothing changed, with links back and to sign in.

mod dashboard_support;
mod http_support;

use dashboard_support::{get, post_form, sign_in};
use http_support::Server;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_current_sections_link_is_marked_and_no_other() {
    let s = Server::start().await;
    let id = s.create_personal("airtable", json!({"token": "t-1"})).await;
    let (session, _) = sign_in(&s, &s.owner.token).await;
    let sections = [
        "/ui/authentications",
        "/ui/services",
        "/ui/audit",
        "/ui/workspaces/as-of",
        "/ui/directory",
        "/ui/tokens",
        "/ui/integrity",
    ];
    for path in sections {
        let answer = get(&s, path, Some(&session)).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let html = answer.text().await.expect("body");
        assert_eq!(html.matches("aria-current=").count(), 1, "{path}: {html}");
        assert!(
            html.contains(&format!("<a href=\"{path}\" aria-current=\"page\">")),
            "{path}: {html}"
        );
    }
    // A page that is none of the links marks none.
    let one = get(&s, &format!("/ui/authentications/{id}"), Some(&session)).await;
    let html = one.text().await.expect("body");
    assert!(!html.contains("aria-current="), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_form_gets_a_page_with_links_back_and_to_sign_in() {
    let s = Server::start().await;
    let (session, _) = sign_in(&s, &s.owner.token).await;
    let answer = post_form(
        &s,
        "/ui/sign-out",
        Some(&session),
        &[("csrf", "stale")],
        &[],
    )
    .await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let kind = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    let html = answer.text().await.expect("body");
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<h1>Form expired</h1>"), "{html}");
    assert!(html.contains("this form has expired"), "{html}");
    assert!(
        html.contains("<a href=\"/ui/authentications\">Back to the authentications</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"/ui/sign-in\">Sign in</a>"),
        "{html}"
    );
    // Nothing was done: still signed in.
    let still = get(&s, "/ui/authentications", Some(&session)).await;
    assert_eq!(still.status(), StatusCode::OK);
}
