//! The Authentications list's filters in a real headless Chromium (the harness of
//! `tests/dashboard_browser.rs`): choosing a workspace by name and a kind, then a state,
//! through the labelled controls and the Search button; the rows shown are the ones the API
//! lists for the same filters. Screenshots go to `target/dashboard-screenshots/`.

mod dashboard_support;
mod http_support;

use dashboard_support::browser::{
    browser, choose, click_button, screenshot, sign_in_with_token, start_driver, wait_for,
};
use fantoccini::{Client, Locator};
use http_support::Server;
use reqwest::Method;
use serde_json::json;

/// Waits for the list's count to read `text`, then answers the names of its rows.
async fn rows_once_counted(client: &Client, text: &str) -> Vec<String> {
    let xpath = format!("//p[@class='count' and normalize-space(.)='{text}']");
    wait_for(client, Locator::XPath(&xpath)).await;
    let mut names = Vec::new();
    for link in client
        .find_all(Locator::Css("#results tbody td:first-child a"))
        .await
        .expect("rows")
    {
        names.push(link.text().await.expect("name"));
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_by_workspace_and_kind_then_by_state() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    for (name, workspace, service, fields) in [
        ("Air shared", &s.shared, "airtable", json!({"token": "t-1"})),
        (
            "Slack shared",
            &s.shared,
            "slack",
            json!({"access_token": "xoxb-1"}),
        ),
        (
            "Slack mine",
            &s.editor.personal,
            "slack",
            json!({"access_token": "xoxb-2"}),
        ),
    ] {
        s.call(
            Method::POST,
            "/v1/authentications",
            &s.editor.token,
            Some(
                json!({"name": name, "workspace": workspace, "service": service, "fields": fields}),
            ),
        )
        .await
        .expect(201);
    }
    let client = browser(&driver, &binary).await;
    sign_in_with_token(&client, &s.base, &s.editor.token).await;
    assert_eq!(
        rows_once_counted(&client, "3 authentications").await,
        ["Air shared", "Slack mine", "Slack shared"]
    );

    // Sales (by name) and OAuth2: the shared Slack only, as the API lists it.
    choose(&client, "workspace", "Sales").await;
    choose(&client, "kind", "OAuth2").await;
    click_button(&client, "Search").await;
    assert_eq!(
        rows_once_counted(&client, "1 authentication matching the filters").await,
        ["Slack shared"]
    );
    let api = s
        .call(
            Method::GET,
            &format!("/v1/authentications?workspace={}&kind=OAuth2", s.shared),
            &s.editor.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(api.body["items"][0]["name"], "Slack shared", "{}", api.text);
    assert_eq!(api.body["total"], 1);
    let url = client.current_url().await.expect("url");
    assert!(
        url.query().is_some_and(|q| q.contains("kind=OAuth2")),
        "{url}"
    );
    screenshot(&client, "authentications-filtered").await;

    // Needs re-authorization: none of these does (the filters chosen stay chosen).
    choose(&client, "state", "needs re-authorization").await;
    click_button(&client, "Search").await;
    assert!(
        rows_once_counted(&client, "0 authentications matching the filters")
            .await
            .is_empty()
    );
    let kind = client
        .find(Locator::Css("#kind option:checked"))
        .await
        .expect("a chosen kind")
        .text()
        .await
        .expect("text");
    assert_eq!(kind, "OAuth2");

    client.close().await.expect("close the browser");
    s.stop().await;
}
