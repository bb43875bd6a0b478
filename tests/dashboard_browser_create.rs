//! Creating and signing in, in a real headless Chromium (the harness of
//! `tests/dashboard_browser.rs`): a one-time sign-in link opens a session once and is refused
//! the second time; the catalog is searched and a service chosen and created in a personal
//! workspace; an OAuth2 service is connected end to end through the project's test provider
//! (reached as another site, as a real provider is) with scopes, extra permissions and the
//! missing-required-scopes warning on a confirm step. Screenshots go to
//! `target/dashboard-screenshots/`.

mod dashboard_support;
mod http_support;
mod oauth_provider;
mod oauth_support;

use dashboard_support::browser::{
    browser, choose, click_on, screenshot, sign_in_with_token, start_driver, type_into, wait_for,
    wait_for_heading, wait_for_url_containing,
};
use fantoccini::Locator;
use http_support::Server;
use oauth_provider::ProviderConfig;
use oauth_support::{setup_for_browser, SERVICE};
use reqwest::Method;
use serde_json::json;

const CANARY: &str = "canary-browser-create-81be4f03";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_link_works_once_and_the_searched_catalog_creates_in_a_personal_workspace() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let s = Server::start().await;
    let link = s
        .call(
            Method::POST,
            "/v1/sign-in-links",
            &s.owner.token,
            Some(json!({ "user": s.member.id })),
        )
        .await
        .expect(201);
    let path = link.body["path"].as_str().expect("path").to_owned();
    let c = browser(&driver, &binary).await;

    // The link shows a button; pressing it signs the member in.
    c.goto(&format!("{}{path}", s.base))
        .await
        .expect("open the link");
    wait_for_heading(&c, "Sign in with a link").await;
    screenshot(&c, "sign-in-link").await;
    click_on(&c, Locator::Css("main form button[type=submit]")).await;
    wait_for_heading(&c, "Authentications").await;

    // The second time, the same link is refused on a page.
    c.goto(&format!("{}{path}", s.base))
        .await
        .expect("open the link again");
    wait_for_heading(&c, "Sign in with a link").await;
    click_on(&c, Locator::Css("main form button[type=submit]")).await;
    wait_for(
        &c,
        Locator::XPath("//p[@role='alert'][contains(., 'not valid')]"),
    )
    .await;
    screenshot(&c, "sign-in-link-refused").await;

    // Search the catalog (a GET form), choose Airtable, create it in the personal workspace.
    c.goto(&format!("{}/ui/authentications/new", s.base))
        .await
        .expect("open create");
    wait_for_heading(&c, "Create new authentication").await;
    type_into(&c, "q", "airtable\u{E007}").await;
    wait_for_url_containing(&c, "q=airtable").await;
    wait_for(
        &c,
        Locator::XPath("//table[@class='catalog']//td[contains(., 'Airtable')]"),
    )
    .await;
    let catalog = c.source().await.expect("source");
    assert!(!catalog.contains("Slack"), "the search narrows the catalog");
    screenshot(&c, "create-catalog").await;
    click_on(
        &c,
        Locator::Css("a[href='/ui/authentications/new?service=airtable']"),
    )
    .await;
    wait_for(&c, Locator::Id("name")).await;
    type_into(&c, "name", "Airtable in my workspace").await;
    click_on(
        &c,
        Locator::Css(&format!("#workspace option[value='{}']", s.member.personal)),
    )
    .await;
    type_into(&c, "field-token", CANARY).await;
    screenshot(&c, "create-form").await;
    click_on(&c, Locator::Css("main form button[type=submit]")).await;
    wait_for_heading(&c, "Airtable in my workspace").await;
    let page = c.source().await.expect("source");
    assert!(page.contains("(personal)"), "{page}");
    assert!(!page.contains(CANARY), "a secret reached the page");
    c.close().await.expect("close the browser");
    s.stop().await;
}

/// Opens the test OAuth2 service's Create form and fills in `name` and the organization's
/// workspace.
async fn open_oauth_form(c: &fantoccini::Client, s: &Server, name: &str) {
    c.goto(&format!(
        "{}/ui/authentications/new?service={SERVICE}",
        s.base
    ))
    .await
    .expect("open the form");
    wait_for_heading(c, "Create new authentication").await;
    type_into(c, "name", name).await;
    click_on(
        c,
        Locator::Css(&format!("#workspace option[value='{}']", s.org_workspace)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_service_is_connected_through_the_test_provider() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    let (provider, s) = setup_for_browser(ProviderConfig::default()).await;
    let c = browser(&driver, &binary).await;
    sign_in_with_token(&c, &s.base, &s.owner.token).await;

    // The form: the required scope comes ticked and marked; untick it, tick another, and
    // ask for an extra permission.
    open_oauth_form(&c, &s, "CRM from the browser").await;
    click_on(&c, Locator::Css("input[name=scope][value=read]")).await;
    click_on(&c, Locator::Css("input[name=scope][value=write]")).await;
    type_into(&c, "extra_permissions", "offline_access").await;
    screenshot(&c, "create-oauth").await;
    click_on(&c, Locator::Css("main form button[type=submit]")).await;

    // The confirm step says what the API says, before anyone leaves for the provider.
    let warning = wait_for(&c, Locator::Id("scope-warning")).await;
    let text = warning.text().await.expect("text");
    assert!(text.contains("missing required scopes read"), "{text}");
    assert_eq!(provider.authorize_calls(), 0);
    screenshot(&c, "create-oauth-confirm").await;
    click_on(&c, Locator::Css("main form button[type=submit]")).await;

    // The provider consents at once and sends the browser back; the dashboard finishes.
    wait_for_heading(&c, "CRM from the browser").await;
    let url = c.current_url().await.expect("url");
    assert!(url.as_str().ends_with("?notice=connected"), "{url}");
    let page = c.source().await.expect("source");
    assert!(page.contains("Connected through the provider"), "{page}");
    let token = &provider.issued_access_tokens()[0];
    assert!(
        !page.contains(token.as_str()),
        "the access token reached the page"
    );
    screenshot(&c, "oauth-connected").await;
    assert_eq!(provider.code_exchanges(), 1);
    let id = url
        .path_segments()
        .and_then(|mut p| p.next_back())
        .expect("id")
        .to_owned();
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(view.body["scopes"], json!(["write", "offline_access"]));
    c.close().await.expect("close the browser");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_authentication_needing_reauthorization_is_reconnected_from_its_settings() {
    let Some((driver, binary)) = start_driver().await else {
        return;
    };
    // Access tokens live a second, so every resolve refreshes.
    let (provider, s) = setup_for_browser(ProviderConfig {
        access_token_lifetime_secs: 1,
        ..ProviderConfig::default()
    })
    .await;
    let c = browser(&driver, &binary).await;
    sign_in_with_token(&c, &s.base, &s.owner.token).await;
    open_oauth_form(&c, &s, "CRM to reconnect").await;
    click_on(&c, Locator::Css("main form button[type=submit]")).await;
    wait_for_heading(&c, "CRM to reconnect").await;
    let url = c.current_url().await.expect("url");
    let id = url
        .path_segments()
        .and_then(|mut p| p.next_back())
        .expect("id")
        .to_owned();
    let resolve = json!({"authentication": id, "workspace": s.org_workspace,
        "template": "$.auth.access_token"});

    // The provider stops accepting the grant: the next resolve marks it.
    provider.set_mode(oauth_provider::Mode::InvalidGrant);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.owner.token,
        Some(resolve.clone()),
    )
    .await
    .expect(409);
    provider.set_mode(oauth_provider::Mode::Normal);

    // The list's "needs re-authorization" filter finds it, with its badge.
    c.goto(&format!("{}/ui/authentications", s.base))
        .await
        .expect("open the list");
    choose(&c, "state", "needs re-authorization").await;
    click_on(&c, Locator::XPath("//button[normalize-space(.)='Search']")).await;
    wait_for(
        &c,
        Locator::XPath(
            "//p[@class='count' and normalize-space(.)='1 authentication matching the filters']",
        ),
    )
    .await;
    let row = wait_for(&c, Locator::Css("#results tbody tr")).await;
    let row_text = row.text().await.expect("text");
    assert!(
        row_text.contains("CRM to reconnect") && row_text.contains("needs re-authorization"),
        "{row_text}"
    );

    // Its page says so and links to the reconnect form in its settings.
    c.goto(&format!("{}/ui/authentications/{id}", s.base))
        .await
        .expect("open it");
    wait_for(
        &c,
        Locator::XPath("//dd/span[normalize-space(.)='needs re-authorization']"),
    )
    .await;
    click_on(&c, Locator::LinkText("Reconnect")).await;
    wait_for_heading(&c, "Settings of CRM to reconnect").await;
    wait_for(&c, Locator::Id("needs-reauthorization")).await;
    let read = wait_for(&c, Locator::Css("input[name=scope][value=read]")).await;
    assert!(
        read.is_selected().await.expect("checked"),
        "granted read is ticked"
    );
    screenshot(&c, "oauth-reconnect").await;

    // Unticking the required scope asks first; ticking it again and adding one reconnects.
    read.click().await.expect("untick read");
    click_on(
        &c,
        Locator::XPath("//button[normalize-space(.)='Reconnect at the provider']"),
    )
    .await;
    let warning = wait_for(&c, Locator::Id("scope-warning")).await;
    let text = warning.text().await.expect("text");
    assert!(text.contains("missing required scopes read"), "{text}");
    let authorized = provider.authorize_calls();
    click_on(&c, Locator::Css("input[name=scope][value=read]")).await;
    click_on(&c, Locator::Css("input[name=scope][value=write]")).await;
    click_on(
        &c,
        Locator::XPath("//button[normalize-space(.)='Continue without them']"),
    )
    .await;

    // Back from the provider on the authentication's page: mended, with the new scopes.
    wait_for_heading(&c, "CRM to reconnect").await;
    wait_for_url_containing(&c, "notice=connected").await;
    assert_eq!(provider.authorize_calls(), authorized + 1);
    let page = c.source().await.expect("source");
    assert!(!page.contains("needs re-authorization"), "{page}");
    for token in provider.issued_access_tokens() {
        assert!(
            !page.contains(token.as_str()),
            "an access token reached the page"
        );
    }
    screenshot(&c, "oauth-reconnected").await;
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(view.body["needs_reauthorization"], false, "{}", view.text);
    assert_eq!(view.body["scopes"], json!(["read", "write"]));
    s.call(Method::POST, "/v1/resolve", &s.owner.token, Some(resolve))
        .await
        .expect(200);
    c.close().await.expect("close the browser");
    s.stop().await;
}
