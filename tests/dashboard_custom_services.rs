//! Custom services from the dashboard over real HTTP: "custom service only" in a shared
//! workspace (and refused, on the page, for a viewer there), and "service and authentication
//! together" in two steps, always in the user's Personal workspace, with the secret never
//! sent back into a page; the same operations as `POST /v1/services`.

mod dashboard_support;
mod http_support;

use dashboard_support::{csrf_of, get, location, post_form, sign_in, Pair};
use http_support::Server;
use reqwest::{Method, StatusCode};

const CANARY: &str = "canary-custom-service-2c7e90aa";
const SAME_ORIGIN: &[Pair] = &[("sec-fetch-site", "same-origin")];

async fn page_csrf(s: &Server, cookie: &str) -> String {
    let page = get(s, "/ui/services/new", Some(cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    csrf_of(&page.text().await.expect("html"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_service_alone_in_a_shared_workspace_with_rights_and_without() {
    let s = Server::start().await;
    let (editor, _) = sign_in(&s, &s.editor.token).await;
    let csrf = page_csrf(&s, &editor).await;
    let defined = post_form(
        &s,
        "/ui/services/new",
        Some(&editor),
        &[
            ("csrf", &csrf),
            ("service_name", "Billing API"),
            ("api_version", "v2"),
            ("kind", "Token"),
            ("fields", "site required\nregion"),
            ("workspace", &s.shared),
            ("step", "define"),
        ],
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(defined.status(), StatusCode::SEE_OTHER);
    let to = location(&defined).to_owned();
    let service = to
        .strip_prefix("/ui/services/new?defined=")
        .expect("the defined service")
        .to_owned();
    let shown = get(&s, &to, Some(&editor))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        shown.contains(&format!("<code>{service}</code>")),
        "{shown}"
    );
    let api = s
        .call(
            Method::GET,
            &format!("/v1/services/{service}"),
            &s.viewer.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(api.body["spec"]["name"], "Billing API", "{}", api.text);
    assert_eq!(
        api.body["spec"]["fields"][0]["name"], "site",
        "{}",
        api.text
    );
    assert_eq!(
        api.body["spec"]["fields"][0]["required"], true,
        "{}",
        api.text
    );

    // A viewer of the shared workspace may not define services there: refused on the page.
    let (viewer, _) = sign_in(&s, &s.viewer.token).await;
    let csrf = page_csrf(&s, &viewer).await;
    let refused = post_form(
        &s,
        "/ui/services/new",
        Some(&viewer),
        &[
            ("csrf", &csrf),
            ("service_name", "Not allowed"),
            ("api_version", "v1"),
            ("kind", "Token"),
            ("fields", ""),
            ("workspace", &s.shared),
            ("step", "define"),
        ],
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let html = refused.text().await.expect("html");
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(
        html.contains("You may not define custom services in")
            && html.contains("your role there (Viewer) does not allow it"),
        "the refusal in words: {html}"
    );
    assert!(
        html.contains("value=\"Not allowed\""),
        "what was typed is kept"
    );
    // A line that is not a field definition is named before anything is decided.
    let bad = post_form(
        &s,
        "/ui/services/new",
        Some(&viewer),
        &[
            ("csrf", &csrf),
            ("service_name", "Typo"),
            ("api_version", "v1"),
            ("kind", "Token"),
            ("fields", "site mandatory"),
            ("workspace", &s.viewer.personal),
            ("step", "define"),
        ],
        SAME_ORIGIN,
    )
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .await
        .expect("html")
        .contains("neither `secret` nor `required`"));
    let list = s
        .call(Method::GET, "/v1/services", &s.owner.token, None)
        .await
        .expect(200);
    assert!(!list.text.contains("Not allowed") && !list.text.contains("Typo"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_service_and_its_authentication_together_in_the_personal_workspace() {
    let s = Server::start().await;
    let (member, _) = sign_in(&s, &s.member.token).await;
    let csrf = page_csrf(&s, &member).await;
    let definition: [Pair; 5] = [
        ("csrf", &csrf),
        ("service_name", "My own API"),
        ("api_version", "v1"),
        ("kind", "Token"),
        ("fields", "site required"),
    ];
    // Step one: on to the fields it defines (nothing is written yet).
    let mut form = definition.to_vec();
    // A workspace in the form does not matter: together is always the Personal workspace.
    form.extend([
        ("workspace", s.org_workspace.as_str()),
        ("step", "together"),
    ]);
    let step = post_form(&s, "/ui/services/new", Some(&member), &form, SAME_ORIGIN).await;
    assert_eq!(step.status(), StatusCode::OK);
    let html = step.text().await.expect("html");
    assert!(html.contains("id=\"field-token\""), "{html}");
    assert!(html.contains("id=\"field-site\""), "{html}");
    assert!(
        html.contains("(personal)"),
        "the Personal workspace is named: {html}"
    );

    // A required field left out is refused beside it, and nothing is defined.
    let mut form = definition.to_vec();
    form.extend([
        ("step", "create"),
        ("name", "Mine"),
        ("field.token", CANARY),
        ("field.site", ""),
    ]);
    let refused = post_form(&s, "/ui/services/new", Some(&member), &form, SAME_ORIGIN).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.expect("html");
    assert!(html.contains("id=\"field-site-error\""), "{html}");
    assert!(
        !html.contains(CANARY),
        "a typed secret came back into the page"
    );

    let mut form = definition.to_vec();
    form.extend([
        ("step", "create"),
        ("name", "Mine"),
        ("field.token", CANARY),
        ("field.site", "api.example.com"),
    ]);
    let created = post_form(&s, "/ui/services/new", Some(&member), &form, SAME_ORIGIN).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let page = location(&created).to_owned();
    let id = page
        .strip_prefix("/ui/authentications/")
        .expect("its page")
        .to_owned();
    let html = get(&s, &page, Some(&member))
        .await
        .text()
        .await
        .expect("html");
    assert!(!html.contains(CANARY), "a secret reached the page");
    let view = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{id}"),
            &s.member.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(view.body["workspace"], s.member.personal, "{}", view.text);
    assert!(view.body["service"]
        .as_str()
        .is_some_and(|v| v.starts_with("custom:")));
    let services = s
        .call(Method::GET, "/v1/services", &s.member.token, None)
        .await
        .expect(200);
    assert_eq!(
        services.text.matches("My own API").count(),
        1,
        "defined once"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_service_leaves_the_catalog_and_its_authentications_keep_their_settings() {
    let s = Server::start().await;
    let spec = serde_json::json!({
        "name": "Retiring API", "api_version": "1", "auth_kind": "Generic",
        "fields": [
            {"name": "api_key", "secret": true, "required": true, "format": "Text", "description": "API key"},
            {"name": "region", "secret": false, "required": false, "format": "Text", "description": "region"}
        ],
        "scopes": [], "required_scopes": [],
    });
    let defined = s
        .call(
            Method::POST,
            "/v1/services",
            &s.editor.token,
            Some(serde_json::json!({"workspace": s.shared, "spec": spec})),
        )
        .await
        .expect(201);
    let service = defined.body["service"]
        .as_str()
        .expect("service")
        .to_owned();
    let created = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.editor.token,
            Some(
                serde_json::json!({"name": "Before retirement", "workspace": s.shared,
                "service": service, "fields": {"api_key": CANARY}}),
            ),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let (cookie, _) = sign_in(&s, &s.editor.token).await;
    assert!(
        catalog(&s, &cookie).await.contains(&service),
        "offered while live"
    );

    s.call(
        Method::POST,
        &format!("/v1/services/{service}/retire"),
        &s.editor.token,
        None,
    )
    .await
    .expect(200);
    assert!(
        !catalog(&s, &cookie).await.contains(&service),
        "not offered once retired"
    );
    // Its authentication's settings still take every field the service defines, the unset
    // optional one included, and never the secret.
    let settings = get(
        &s,
        &format!("/ui/authentications/{id}/settings"),
        Some(&cookie),
    )
    .await;
    assert_eq!(settings.status(), StatusCode::OK);
    let html = settings.text().await.expect("html");
    assert!(html.contains("api_key (required)"), "{html}");
    assert!(html.contains("region — now: not set"), "{html}");
    assert!(!html.contains(CANARY), "a secret reached the page");
}

/// The Create page's catalog searched for "retiring", as HTML.
async fn catalog(s: &Server, cookie: &str) -> String {
    get(s, "/ui/authentications/new?q=retiring", Some(cookie))
        .await
        .text()
        .await
        .expect("html")
}
