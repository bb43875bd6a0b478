//! Settings in a real headless Chromium: typing a new value into a field chooses its
//! "Replace with" (the dashboard's script), so saving replaces it without a click on the
//! radio button. Without the script the radio stays on "Keep" and nothing is replaced.

mod dashboard_support;
mod http_support;

use dashboard_support::browser::{
    browser, click_button, sign_in_with_token, start_driver, type_into, wait_for_heading,
};
use fantoccini::Locator;
use http_support::Server;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_a_value_chooses_replace_with() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": "t-old"}))
        .await;
    let before = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    let client = browser(&driver, &binary).await;
    sign_in_with_token(&client, &s.base, &s.owner.token).await;
    client
        .goto(&format!("{}/ui/authentications/{id}/settings", s.base))
        .await
        .expect("open settings");
    wait_for_heading(&client, "Settings of").await;
    let replace = client
        .find(Locator::Id("replace-token"))
        .await
        .expect("the Replace with radio");
    assert!(
        !replace.is_selected().await.expect("state"),
        "Keep at first"
    );
    type_into(&client, "field-token", "t-new-typed").await;
    assert!(
        replace.is_selected().await.expect("state"),
        "typing chose Replace with"
    );
    click_button(&client, "Save settings").await;
    wait_for_heading(&client, "airtable").await;
    let after = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    assert_ne!(
        after["fields"]["token"]["fingerprint"], before["fields"]["token"]["fingerprint"],
        "the token was replaced: {after}"
    );
    client.close().await.expect("close the browser");
    s.stop().await;
}
