//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver): sign in
//! by typing a token into the form, find an authentication by searching, open it, create one
//! through the form, and sign out. Screenshots of the pages go to `target/dashboard-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian's packages; `.ci/run` installs them). Without
//! them the test says so and passes, except under `CI`, where it fails.

mod dashboard_support;
mod http_support;

use dashboard_support::browser::{browser, screenshot, start_driver, wait_for, wait_for_heading};
use fantoccini::Locator;
use http_support::Server;
use serde_json::json;

const CANARY: &str = "canary-browser-3a9f60d1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_finds_an_authentication_and_signs_out() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    s.create_personal("slack", json!({"access_token": "xoxb-browser"}))
        .await;
    let c = browser(&driver, &binary).await;

    c.goto(&s.base).await.expect("open the dashboard");
    wait_for_heading(&c, "Sign in").await;
    screenshot(&c, "sign-in").await;

    // A wrong token: the message is beside the field, and the field is marked invalid.
    c.find(Locator::Id("token"))
        .await
        .expect("the token field")
        .send_keys("cl_wrong")
        .await
        .expect("type");
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("submit");
    let error = wait_for(&c, Locator::Id("token-error")).await;
    assert!(error.text().await.expect("text").contains("not valid"));
    let field = c.find(Locator::Id("token")).await.expect("field");
    assert_eq!(
        field.attr("aria-invalid").await.expect("attr").as_deref(),
        Some("true")
    );
    screenshot(&c, "sign-in-refused").await;

    // The admin token opens the list.
    field.send_keys(&s.owner.token).await.expect("type");
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    wait_for_heading(&c, "Authentications").await;
    let listed = c.source().await.expect("source");
    assert!(listed.contains("2 authentications"), "{listed}");
    screenshot(&c, "authentications").await;

    // Search, by typing and pressing Enter.
    c.find(Locator::Id("q"))
        .await
        .expect("search field")
        .send_keys("airtable\u{E007}")
        .await
        .expect("search");
    wait_for(
        &c,
        Locator::XPath("//p[@class='count'][contains(., '1 authentication ')]"),
    )
    .await;
    c.find(Locator::Css("tbody a"))
        .await
        .expect("the match's link")
        .click()
        .await
        .expect("open it");
    wait_for_heading(&c, "airtable").await;
    assert!(c
        .current_url()
        .await
        .expect("url")
        .as_str()
        .ends_with(&format!("/ui/authentications/{id}")));
    let page = c.source().await.expect("source");
    assert!(
        page.contains("fp:"),
        "the secret shows as set with its fingerprint"
    );
    for html in [&listed, &page] {
        assert!(!html.contains(CANARY), "a secret reached the page");
    }
    screenshot(&c, "authentication").await;

    // Create one: choose the service, fill in its form, and land on its page.
    c.goto(&format!("{}/ui/authentications", s.base))
        .await
        .expect("open the list");
    c.find(Locator::LinkText("Create new authentication"))
        .await
        .expect("the create link")
        .click()
        .await
        .expect("open the form");
    wait_for_heading(&c, "Create new authentication").await;
    c.find(Locator::Css(
        "a[href='/ui/authentications/new?service=airtable']",
    ))
    .await
    .expect("Airtable in the catalog")
    .click()
    .await
    .expect("choose it");
    let name = wait_for(&c, Locator::Id("name")).await;
    name.send_keys("Made in the browser").await.expect("type");
    c.find(Locator::Css(&format!(
        "#workspace option[value='{}']",
        s.shared
    )))
    .await
    .expect("the shared workspace")
    .click()
    .await
    .expect("choose it");
    c.find(Locator::Id("field-token"))
        .await
        .expect("the token field")
        .send_keys(&format!("{CANARY}-created"))
        .await
        .expect("type");
    screenshot(&c, "create").await;
    c.find(Locator::Css("main form button[type=submit]"))
        .await
        .expect("create")
        .click()
        .await
        .expect("create");
    wait_for_heading(&c, "Made in the browser").await;
    let created = c.source().await.expect("source");
    assert!(!created.contains(CANARY), "a secret reached the page");

    // Use it as a workflow runner would: the page's resolve command, pasted into a shell with
    // the admin token as `$TOKEN`, answers the value typed into the form.
    let command = wait_for(&c, Locator::Css("pre.command code"))
        .await
        .text()
        .await
        .expect("the resolve command");
    screenshot(&c, "authentication-created").await;
    if which("curl") {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("TOKEN", &s.owner.token)
            .output()
            .expect("run the pasted command");
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{command}\n{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(answer["resolved"], format!("{CANARY}-created"), "{command}");
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs curl (.ci/run installs it)"
        );
        eprintln!("no curl on the PATH: the pasted resolve command is not run");
    }

    // Sign out: back to the form, and the list is closed to this browser.
    c.find(Locator::Css("form.sign-out button"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("sign out");
    wait_for_heading(&c, "Sign in").await;
    c.goto(&format!("{}/ui/authentications", s.base))
        .await
        .expect("open the list");
    wait_for_heading(&c, "Sign in").await;

    c.close().await.expect("close the browser");
    s.stop().await;
}

/// Whether `program` is on the `PATH`.
fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
