//! Forged forms, in a real headless Chromium (the harness of `tests/dashboard_browser.rs`):
//! a page on another site (`localhost` on another port, served by this test) posts the
//! dashboard's Delete form — even carrying the signed-in session's real CSRF token — and is
//! refused, as the browser's `Sec-Fetch-Site` tells the server; and the dashboard's own Delete
//! form with its CSRF token removed is refused too. Nothing is deleted by either.

mod dashboard_support;
mod http_support;

use axum::response::Html;
use axum::routing::get;
use dashboard_support::browser::{
    browser, click_button, sign_in_with_token, start_driver, wait_for, wait_for_heading,
};
use fantoccini::{Client, Locator};
use http_support::Server;
use reqwest::Method;
use serde_json::json;

/// Serves `html` at `/` on a free loopback port; answers the port.
async fn other_site(html: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let port = listener.local_addr().expect("address").port();
    let app = axum::Router::new().route("/", get(move || async move { Html(html) }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

async fn lifecycle(s: &Server, id: &str) -> String {
    let view = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{id}"),
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    view.body["lifecycle"]
        .as_str()
        .expect("lifecycle")
        .to_owned()
}

async fn body_text(c: &Client) -> String {
    wait_for(c, Locator::Css("body"))
        .await
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_from_another_site_or_without_their_csrf_token_are_refused() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": "canary-forged-2b7c"}))
        .await;
    let c = browser(&driver, &binary).await;
    sign_in_with_token(&c, &s.base, &s.owner.token).await;
    c.goto(&format!("{}/ui/authentications/{id}", s.base))
        .await
        .expect("open it");
    wait_for(&c, Locator::Id("delete-sure")).await;
    let csrf = c
        .execute(
            "return document.querySelector('form[action$=\"/delete\"] input[name=csrf]').value",
            vec![],
        )
        .await
        .expect("the page's CSRF token");
    let csrf = csrf.as_str().expect("a token").to_owned();
    assert!(!csrf.is_empty());

    // Another site's page posts the Delete form with the real token: refused.
    let forged = format!(
        "<!doctype html><title>Win a prize</title><form method=post \
         action=\"{}/ui/authentications/{id}/delete\"><input type=hidden name=csrf value=\"{csrf}\">\
         <input type=hidden name=version value=1><input type=hidden name=sure value=yes>\
         <button type=submit>Claim</button></form>",
        s.base
    );
    let port = other_site(forged).await;
    c.goto(&format!("http://localhost:{port}/"))
        .await
        .expect("open the other site");
    click_button(&c, "Claim").await;
    wait_for(
        &c,
        Locator::XPath("//p[contains(., 'sent from another site')]"),
    )
    .await;
    assert_eq!(lifecycle(&s, &id).await, "active", "nothing was deleted");

    // The dashboard's own Delete form without its CSRF token: refused as an expired form.
    c.goto(&format!("{}/ui/authentications/{id}", s.base))
        .await
        .expect("open it again");
    wait_for_heading(&c, "airtable").await;
    c.execute(
        "document.querySelector('form[action$=\"/delete\"] input[name=csrf]').remove(); \
         document.getElementById('delete-sure').checked = true;",
        vec![],
    )
    .await
    .expect("remove the token");
    click_button(&c, "Delete").await;
    wait_for(
        &c,
        Locator::XPath("//body[contains(., 'this form has expired')]"),
    )
    .await;
    let text = body_text(&c).await;
    assert!(!text.contains("canary-forged-2b7c"), "{text}");
    assert_eq!(lifecycle(&s, &id).await, "active", "nothing was deleted");

    // With its token the same form deletes: the refusals were the guards, not a broken form.
    c.goto(&format!("{}/ui/authentications/{id}", s.base))
        .await
        .expect("open it a third time");
    wait_for(&c, Locator::Id("delete-sure"))
        .await
        .click()
        .await
        .expect("tick");
    click_button(&c, "Delete").await;
    wait_for(&c, Locator::XPath("//button[normalize-space(.)='Restore']")).await;
    assert_eq!(lifecycle(&s, &id).await, "deleted");

    c.close().await.expect("close the browser");
    s.stop().await;
}
