//! Managing authentications in a real headless Chromium (the harness of
//! `tests/dashboard_browser.rs`): creating each typed-in kind in a personal, a shared and the
//! organization's workspace; Settings that override, keep and clear fields; Edit details with
//! and without the rights on the target workspace; Delete, Restore and Purge with a typed
//! name; custom services alone and together with an authentication; and a form whose CSRF
//! token was tampered with. Everything goes through links, buttons and labelled fields; the
//! API is only asked afterwards what happened. No page's HTML holds a canary secret.
//! Screenshots go to `target/dashboard-screenshots/`.

mod dashboard_support;
mod http_support;

use dashboard_support::browser::{
    browser, choose, click_button, click_on, refusal_beside, screenshot, sign_in_with_token,
    start_driver, type_into, wait_for, wait_for_heading, Driver,
};
use fantoccini::{Client, Locator};
use http_support::{Persona, Server};
use reqwest::Method;
use serde_json::{json, Value};

const CANARY: &str = "canary-browser-manage-5d21c7e4";

/// A fresh server (its personas set up over the API) and a browser signed in to it.
struct Visit {
    client: Client,
    server: Server,
    _driver: Driver,
}

impl Visit {
    /// Starts both and signs in as `who` through the form; `None` where browser tests are
    /// skipped.
    async fn signed_in_as(who: Persona) -> Option<Visit> {
        let (driver, binary) = start_driver().await?;
        let server = Server::start().await;
        let client = browser(&driver, &binary).await;
        sign_in_with_token(&client, &server.base, &server.person(who).token).await;
        Some(Visit {
            client,
            server,
            _driver: driver,
        })
    }

    /// Checks that no page seen held the canary, and stops the browser and the server.
    async fn finish(self, pages: &Pages) {
        pages.assert_no_canary();
        self.client.close().await.expect("close the browser");
        self.server.stop().await;
    }
}

/// Every page a test saw, to look for the canary in at the end.
#[derive(Default)]
struct Pages(Vec<String>);

impl Pages {
    async fn keep(&mut self, c: &Client) -> String {
        let html = c.source().await.expect("source");
        self.0.push(html.clone());
        html
    }

    fn assert_no_canary(&self) {
        for html in &self.0 {
            assert!(!html.contains(CANARY), "a secret reached a page: {html}");
        }
    }
}

/// A field typed into the Create form: its name, whether it is secret, its value.
type TypedField = (&'static str, bool, String);

/// The API's view of an authentication, as the owner.
async fn view(s: &Server, id: &str) -> Value {
    view_as(s, &s.owner.token, id).await
}

/// The API's view of an authentication, as the holder of `token` (a personal workspace is
/// its user's alone).
async fn view_as(s: &Server, token: &str, id: &str) -> Value {
    s.call(
        Method::GET,
        &format!("/v1/authentications/{id}"),
        token,
        None,
    )
    .await
    .expect(200)
    .body
}

/// The fingerprint the API gives a secret field, if it is set.
fn fingerprint(view: &Value, field: &str) -> Option<String> {
    view["fields"][field]["fingerprint"]
        .as_str()
        .map(str::to_owned)
}

/// The id at the end of the current URL (an authentication's page).
async fn id_in_url(c: &Client) -> String {
    let url = c.current_url().await.expect("url");
    url.path_segments()
        .and_then(|mut p| p.next_back())
        .expect("an id")
        .to_owned()
}

/// Opens an authentication's page from the list, by searching for its name and clicking it.
async fn open_from_list(c: &Client, s: &Server, name: &str) {
    c.goto(&format!("{}/ui/authentications", s.base))
        .await
        .expect("open the list");
    wait_for_heading(c, "Authentications").await;
    type_into(c, "q", &format!("{name}\u{E007}")).await;
    click_on(c, Locator::LinkText(name)).await;
    wait_for_heading(c, name).await;
}

/// Chooses `service` in the Create page's catalog, names it, picks the workspace, fills in
/// the fields and creates it; waits for its page.
async fn create_through_the_form(
    c: &Client,
    s: &Server,
    service: &str,
    name: &str,
    workspace: &str,
    fields: &[(&str, &str)],
) {
    c.goto(&format!("{}/ui/authentications", s.base))
        .await
        .expect("open the list");
    click_on(c, Locator::LinkText("Create new authentication")).await;
    wait_for_heading(c, "Create new authentication").await;
    click_on(
        c,
        Locator::Css(&format!(
            "a[href='/ui/authentications/new?service={service}']"
        )),
    )
    .await;
    type_into(c, "name", name).await;
    c.find(Locator::Id("workspace"))
        .await
        .expect("the workspace select")
        .select_by_value(workspace)
        .await
        .expect("choose the workspace");
    for (field, value) in fields {
        type_into(c, &format!("field-{field}"), value).await;
    }
    click_button(c, "Create").await;
    wait_for_heading(c, name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_creates_each_typed_in_kind_in_each_kind_of_workspace() {
    let Some(visit) = Visit::signed_in_as(Persona::Owner).await else {
        return;
    };
    let (s, c) = (&visit.server, &visit.client);
    let mut pages = Pages::default();

    // (service, its kind on the page, its fields: name, secret, value). Certificate has its
    // own test below.
    let kinds: [(&str, &str, Vec<TypedField>); 3] = [
        (
            "airtable",
            "Token",
            vec![("token", true, format!("{CANARY}-token"))],
        ),
        (
            "http-basic",
            "Basic",
            vec![
                ("username", false, "alice".to_owned()),
                ("password", true, format!("{CANARY}-password")),
                ("base_url", false, "https://basic.example.com".to_owned()),
            ],
        ),
        (
            "webhook",
            "Generic",
            vec![
                ("csrf_token", true, format!("{CANARY}-csrf")),
                ("signing_secret", true, format!("{CANARY}-signing")),
            ],
        ),
    ];
    let workspaces = [
        ("personal", s.owner.personal.as_str()),
        ("shared", s.shared.as_str()),
        ("organization", s.org_workspace.as_str()),
    ];
    for (where_, workspace) in workspaces {
        for (service, kind, fields) in &kinds {
            let name = format!("{kind} in the {where_} workspace");
            let typed: Vec<(&str, &str)> = fields
                .iter()
                .map(|(field, _, value)| (*field, value.as_str()))
                .collect();
            create_through_the_form(c, s, service, &name, workspace, &typed).await;
            let html = pages.keep(c).await;
            let id = id_in_url(c).await;
            let api = view(s, &id).await;
            assert_eq!(api["workspace"], workspace, "{name}");
            assert_eq!(api["service"], *service, "{name}");
            assert!(html.contains(&format!("<dd>{kind}</dd>")), "{name}: {html}");
            for (field, secret, value) in fields {
                if *secret {
                    let fp = fingerprint(&api, field).unwrap_or_else(|| panic!("{field} set"));
                    assert!(
                        html.contains(&format!("set <code>{fp}</code>")),
                        "{name}: {field} shows as set with its fingerprint: {html}"
                    );
                } else {
                    assert!(html.contains(value.as_str()), "{name}: {field} shown");
                }
            }
        }
    }
    screenshot(c, "manage-created").await;
    visit.finish(&pages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_overrides_keeps_and_clears_settings() {
    let Some(visit) = Visit::signed_in_as(Persona::Owner).await else {
        return;
    };
    let (s, c) = (&visit.server, &visit.client);
    let id = s
        .create(
            &s.owner,
            &s.shared,
            "http-basic",
            json!({"username": "alice", "password": CANARY,
                   "base_url": "https://basic.example.com"}),
        )
        .await;
    let before = view(s, &id).await;
    let name = before["name"].as_str().expect("name").to_owned();
    let mut pages = Pages::default();
    open_from_list(c, s, &name).await;

    // Options → Settings: replace the password, keep the username, clear the base URL.
    click_on(c, Locator::LinkText("Settings")).await;
    wait_for_heading(c, &format!("Settings of {name}")).await;
    let html = pages.keep(c).await;
    assert!(
        html.contains("Saved secrets are not displayed"),
        "the page says so"
    );
    click_on(c, Locator::Css("input[name='do.password'][value=replace]")).await;
    type_into(c, "field-password", &format!("{CANARY}-2")).await;
    click_on(c, Locator::Css("input[name='do.base_url'][value=clear]")).await;
    screenshot(c, "settings").await;
    click_button(c, "Save settings").await;
    wait_for_heading(c, &name).await;
    let html = pages.keep(c).await;

    let after = view(s, &id).await;
    let old = fingerprint(&before, "password").expect("password set");
    let new = fingerprint(&after, "password").expect("password still set");
    assert_ne!(new, old, "the password was overridden");
    assert!(html.contains(&format!("set <code>{new}</code>")), "{html}");
    assert!(!html.contains(&old), "the old fingerprint is gone: {html}");
    assert_eq!(after["fields"]["username"], before["fields"]["username"]);
    assert!(html.contains("alice"), "the username is kept: {html}");
    assert!(
        after["fields"].get("base_url").is_none(),
        "cleared: {after}"
    );
    assert!(!html.contains("basic.example.com"), "cleared: {html}");

    // The history says what happened to each field.
    click_on(c, Locator::LinkText("History")).await;
    wait_for_heading(c, "History").await;
    let html = pages.keep(c).await;
    for said in [
        "password: overridden",
        "username: kept",
        "base_url: cleared",
    ] {
        assert!(html.contains(said), "{said}: {html}");
    }
    visit.finish(&pages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_renames_and_moves_and_a_viewer_may_not_move_into_the_workspace() {
    let Some(visit) = Visit::signed_in_as(Persona::Owner).await else {
        return;
    };
    let (s, c) = (&visit.server, &visit.client);
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let name = view(s, &id).await["name"]
        .as_str()
        .expect("name")
        .to_owned();
    let mut pages = Pages::default();

    // The owner renames it and moves it into the shared workspace, in one save.
    open_from_list(c, s, &name).await;
    click_on(c, Locator::LinkText("Edit details")).await;
    wait_for_heading(c, &format!("Edit details of {name}")).await;
    let field = c.find(Locator::Id("name")).await.expect("the name field");
    field.clear().await.expect("clear the name");
    field.send_keys("Renamed and moved").await.expect("type");
    c.find(Locator::Id("workspace"))
        .await
        .expect("the workspace select")
        .select_by_value(&s.shared)
        .await
        .expect("choose the shared workspace");
    screenshot(c, "details").await;
    click_button(c, "Save details").await;
    wait_for_heading(c, "Renamed and moved").await;
    pages.keep(c).await;
    let moved = view(s, &id).await;
    assert_eq!(moved["name"], "Renamed and moved");
    assert_eq!(moved["workspace"], s.shared.as_str());
    click_on(c, Locator::Css("form.sign-out button")).await;
    wait_for_heading(c, "Sign in").await;

    // A viewer of the shared workspace tries to move their own into it: refused beside the
    // workspace field, and nothing changed.
    let own = s
        .create(
            &s.viewer,
            &s.viewer.personal,
            "airtable",
            json!({"token": format!("{CANARY}-viewer")}),
        )
        .await;
    let before = view_as(s, &s.viewer.token, &own).await;
    let own_name = before["name"].as_str().expect("name").to_owned();
    sign_in_with_token(c, &s.base, &s.viewer.token).await;
    open_from_list(c, s, &own_name).await;
    click_on(c, Locator::LinkText("Edit details")).await;
    wait_for_heading(c, &format!("Edit details of {own_name}")).await;
    type_into(c, "name", " (moved)").await;
    c.find(Locator::Id("workspace"))
        .await
        .expect("the workspace select")
        .select_by_value(&s.shared)
        .await
        .expect("choose the shared workspace");
    click_button(c, "Save details").await;
    let refusal = refusal_beside(c, "workspace").await;
    assert!(
        refusal.contains("Viewer"),
        "the reason names the role: {refusal}"
    );
    screenshot(c, "details-refused").await;
    pages.keep(c).await;
    assert_eq!(
        view_as(s, &s.viewer.token, &own).await,
        before,
        "the refusal changed nothing"
    );
    visit.finish(&pages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deletes_restores_and_purges_by_typing_the_name() {
    let Some(visit) = Visit::signed_in_as(Persona::Owner).await else {
        return;
    };
    let (s, c) = (&visit.server, &visit.client);
    let id = s
        .create(&s.owner, &s.shared, "airtable", json!({"token": CANARY}))
        .await;
    let live = view(s, &id).await;
    let name = live["name"].as_str().expect("name").to_owned();
    let lifecycle = |v: &Value| v["lifecycle"].as_str().expect("lifecycle").to_owned();
    let mut pages = Pages::default();
    open_from_list(c, s, &name).await;

    // Delete, once "Yes, delete it" is ticked: the page then offers Restore and Purge (with
    // the name to type).
    click_on(c, Locator::Id("delete-sure")).await;
    click_button(c, "Delete").await;
    wait_for(c, Locator::Id("confirm")).await;
    assert_eq!(lifecycle(&view(s, &id).await), "deleted");
    screenshot(c, "delete-confirm").await;
    pages.keep(c).await;

    // Restore brings it back as it was.
    click_button(c, "Restore").await;
    click_on(c, Locator::LinkText("Edit details")).await;
    wait_for_heading(c, "Edit details of").await;
    let restored = view(s, &id).await;
    assert_eq!(lifecycle(&restored), lifecycle(&live));
    assert_eq!(
        fingerprint(&restored, "token"),
        fingerprint(&live, "token"),
        "the same secret is back: {restored}"
    );

    // Delete again; a wrong name is refused beside the field and purges nothing.
    click_on(c, Locator::LinkText(&format!("← {name}"))).await;
    wait_for_heading(c, &name).await;
    click_on(c, Locator::Id("delete-sure")).await;
    click_button(c, "Delete").await;
    type_into(c, "confirm", "not its name").await;
    click_button(c, "Purge").await;
    let refusal = refusal_beside(c, "confirm").await;
    assert!(refusal.contains("name exactly"), "{refusal}");
    screenshot(c, "purge-refused").await;
    pages.keep(c).await;
    assert_eq!(lifecycle(&view(s, &id).await), "deleted");

    // The name typed exactly: purged for good; no action is offered any more.
    type_into(c, "confirm", &name).await;
    click_button(c, "Purge").await;
    wait_for(c, Locator::XPath("//dd[starts-with(., 'Purged')]")).await;
    let html = pages.keep(c).await;
    assert!(!html.contains("class=\"options\""), "{html}");
    assert_eq!(lifecycle(&view(s, &id).await), "purged");
    let history = s
        .owner_get(&format!("/v1/authentications/{id}/history"))
        .await
        .body;
    let from_the_page: Vec<&str> = history
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["origin"] == "Dashboard")
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        from_the_page,
        [
            "authentication.deleted",
            "authentication.restored",
            "authentication.deleted",
            "authentication.purged"
        ],
        "{history}"
    );
    visit.finish(&pages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_defines_a_custom_service_alone_and_together_with_an_authentication() {
    let Some(visit) = Visit::signed_in_as(Persona::Editor).await else {
        return;
    };
    let (s, c) = (&visit.server, &visit.client);
    let mut pages = Pages::default();

    // Custom service only, in the shared workspace the editor may edit.
    c.goto(&format!("{}/ui/authentications/new", s.base))
        .await
        .expect("open create");
    click_on(c, Locator::LinkText("define a custom service")).await;
    wait_for_heading(c, "New custom service").await;
    type_into(c, "service_name", "Billing API").await;
    type_into(c, "api_version", "v2").await;
    c.find(Locator::Id("kind"))
        .await
        .expect("the kind select")
        .select_by_value("Token")
        .await
        .expect("choose Token");
    type_into(c, "fields", "site required\nregion").await;
    c.find(Locator::Id("workspace"))
        .await
        .expect("the workspace select")
        .select_by_value(&s.shared)
        .await
        .expect("choose the shared workspace");
    screenshot(c, "custom-service").await;
    click_button(c, "Define the service").await;
    let notice = wait_for(c, Locator::Css("p.notice code")).await;
    let service = notice.text().await.expect("text");
    screenshot(c, "custom-service-defined").await;
    pages.keep(c).await;
    let api = s
        .call(
            Method::GET,
            &format!("/v1/services/{service}"),
            &s.editor.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(api.body["spec"]["name"], "Billing API", "{}", api.text);
    assert_eq!(api.body["spec"]["fields"][0]["name"], "site");
    assert_eq!(api.body["spec"]["fields"][0]["required"], true);
    assert_eq!(api.body["spec"]["fields"][1]["name"], "region");

    // The catalog offers it (marked custom) beside the prebuilt services; an authentication
    // is created with it in the shared workspace.
    c.goto(&format!("{}/ui/authentications/new?q=billing", s.base))
        .await
        .expect("search the catalog");
    let row = wait_for(
        c,
        Locator::XPath("//table[@class='catalog']//tr[td[contains(., 'Billing API')]]"),
    )
    .await;
    let row_text = row.text().await.expect("text");
    assert!(
        row_text.contains("custom") && row_text.contains(&service),
        "{row_text}"
    );
    click_on(c, Locator::Css("a[aria-label='Choose Billing API']")).await;
    type_into(c, "name", "Billing in Sales").await;
    choose(c, "workspace", "Sales").await;
    type_into(c, "field-token", CANARY).await;
    type_into(c, "field-site", "eu-1").await;
    click_button(c, "Create").await;
    wait_for_heading(c, "Billing in Sales").await;
    pages.keep(c).await;
    let made = view_as(s, &s.editor.token, &id_in_url(c).await).await;
    assert_eq!(made["service"], service.as_str(), "{made}");
    assert_eq!(made["workspace"], s.shared.as_str(), "{made}");

    // Service and authentication together: always in the Personal workspace.
    c.goto(&format!("{}/ui/services/new", s.base))
        .await
        .expect("open the form again");
    wait_for_heading(c, "New custom service").await;
    type_into(c, "service_name", "Personal API").await;
    type_into(c, "api_version", "1").await;
    c.find(Locator::Id("kind"))
        .await
        .expect("the kind select")
        .select_by_value("Basic")
        .await
        .expect("choose Basic");
    click_button(c, "Continue to the authentication").await;
    type_into(c, "name", "My personal API").await;
    type_into(c, "field-username", "editor").await;
    type_into(c, "field-password", CANARY).await;
    screenshot(c, "custom-service-together").await;
    click_button(c, "Create service and authentication").await;
    wait_for_heading(c, "My personal API").await;
    let html = pages.keep(c).await;
    let id = id_in_url(c).await;
    let created = view_as(s, &s.editor.token, &id).await;
    assert_eq!(created["workspace"], s.editor.personal.as_str());
    let fp = fingerprint(&created, "password").expect("password set");
    assert!(html.contains(&format!("set <code>{fp}</code>")), "{html}");
    visit.finish(&pages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_with_a_tampered_csrf_token_is_refused_as_expired() {
    let Some(visit) = Visit::signed_in_as(Persona::Owner).await else {
        return;
    };
    let (s, c) = (&visit.server, &visit.client);
    let id = s
        .create_personal("airtable", json!({"token": CANARY}))
        .await;
    let before = view(s, &id).await;
    let name = before["name"].as_str().expect("name").to_owned();

    // Edit details, then Delete: each form with its hidden token changed before submitting.
    open_from_list(c, s, &name).await;
    click_on(c, Locator::LinkText("Edit details")).await;
    wait_for_heading(c, &format!("Edit details of {name}")).await;
    type_into(c, "name", " (tampered)").await;
    tamper_and_submit(c, "Save details").await;
    assert_eq!(view(s, &id).await, before, "nothing changed");

    open_from_list(c, s, &name).await;
    click_on(c, Locator::Id("delete-sure")).await;
    tamper_and_submit(c, "Delete").await;
    assert_eq!(view(s, &id).await, before, "nothing changed");
    visit.finish(&Pages::default()).await;
}

/// Changes the CSRF token of the form holding button `button`, presses it, and waits for
/// the "expired form" answer.
async fn tamper_and_submit(c: &Client, button: &str) {
    let xpath = format!("//button[normalize-space(.)='{button}']");
    let pressed = c
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("{button}: {e}"));
    c.execute(
        "arguments[0].form.querySelector('input[name=csrf]').value = 'tampered'",
        vec![serde_json::to_value(&pressed).expect("element")],
    )
    .await
    .expect("tamper");
    pressed.click().await.expect("submit");
    wait_for(
        c,
        Locator::XPath("//body[contains(., 'this form has expired')]"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_creates_a_certificate_authentication_by_pasting_its_pem() {
    let Some(visit) = Visit::signed_in_as(Persona::Owner).await else {
        return;
    };
    let (s, c) = (&visit.server, &visit.client);
    let certificate = include_str!("../src/domain/authentication/testdata/ec_cert.pem");
    let key = include_str!("../src/domain/authentication/testdata/ec_key.pem");
    create_through_the_form(
        c,
        s,
        "mtls-api",
        "Certificate in the shared workspace",
        &s.shared,
        &[("certificate", certificate), ("private_key", key)],
    )
    .await;
    let html = c.source().await.expect("source");
    let api = view(s, &id_in_url(c).await).await;
    let fp = fingerprint(&api, "private_key").expect("the key is set");
    assert!(html.contains(&format!("set <code>{fp}</code>")), "{html}");
    let pem_body = key.lines().nth(1).expect("a line of the key");
    assert!(!html.contains(pem_body), "the key reached the page");
    visit.finish(&Pages::default()).await;
}
