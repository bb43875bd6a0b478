//! "Create new authentication" for an OAuth2 service over real HTTP, against the project's
//! test provider: the catalog searched without JavaScript, scopes as checkboxes with the
//! required ones marked, the API's missing-scopes warning on a confirm step, extra
//! permissions asked of the provider, and the provider's redirect completed by the dashboard
//! session (a bearer-less callback of a dashboard flow continues under `/ui`, and a page that
//! reloads itself recovers the SameSite=Strict cookie); refusals are pages, not JSON.

mod dashboard_support;
mod http_support;
mod oauth_provider;
mod oauth_support;

use dashboard_support::{csrf_of, get, location, post_form, sign_in, Pair};
use http_support::Server;
use oauth_provider::ProviderConfig;
use oauth_support::{redirect_query, setup, SERVICE};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A browser's same-origin POST.
const SAME_ORIGIN: &[Pair] = &[("sec-fetch-site", "same-origin")];

/// The address a "continuing" page moves on to (its meta refresh).
fn moves_on_to(html: &str) -> String {
    let marker = "url=";
    let start = html.find(marker).expect("a page that moves on") + marker.len();
    let escaped = html[start..].split('"').next().unwrap_or_default();
    unescape(escaped)
}

/// HTML text with its character references (`&#38;`, `&amp;`, `&quot;`…) decoded.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find(';') else {
            break;
        };
        let entity = &rest[at + 1..at + end];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix('#')
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(char::from_u32),
        };
        out.push(decoded.expect("a known character reference"));
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Posts the OAuth2 form of the test service as the signed-in `cookie`.
async fn post_oauth_form(
    s: &Server,
    cookie: &str,
    csrf: &str,
    name: &str,
    scopes: &[&str],
    extra: &str,
    confirmed: bool,
) -> (StatusCode, String) {
    let mut form: Vec<Pair> = vec![
        ("csrf", csrf),
        ("service", SERVICE),
        ("name", name),
        ("workspace", &s.org_workspace),
        ("extra_permissions", extra),
    ];
    for scope in scopes {
        form.push(("scope", scope));
    }
    if confirmed {
        form.push(("confirmed", "yes"));
    }
    let answer = post_form(
        s,
        "/ui/authentications/new/oauth",
        Some(cookie),
        &form,
        SAME_ORIGIN,
    )
    .await;
    let status = answer.status();
    (status, answer.text().await.expect("html"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_service_is_connected_from_the_dashboard_with_scopes_and_extra_permissions() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let (cookie, _) = sign_in(&s, &s.owner.token).await;

    // The catalog, searched with a plain GET form: kind and fields of each service.
    let found = get(&s, "/ui/authentications/new?q=test+oauth", Some(&cookie)).await;
    let html = found.text().await.expect("html");
    assert!(html.contains("Test OAuth"), "{html}");
    assert!(html.contains("OAuth2"), "the kind is shown");
    assert!(html.contains("domain"), "the fields are shown");
    assert!(!html.contains("Airtable"), "the search narrows the list");
    let none = get(
        &s,
        "/ui/authentications/new?q=no-such-service",
        Some(&cookie),
    )
    .await;
    assert!(none
        .text()
        .await
        .expect("html")
        .contains("No service matches"));

    // The form: scopes as checkboxes, the required one marked and ticked, extra permissions.
    let form = get(
        &s,
        &format!("/ui/authentications/new?service={SERVICE}"),
        Some(&cookie),
    )
    .await;
    let html = form.text().await.expect("html");
    assert!(
        html.contains(
            r#"name="scope" value="read" checked> read <span class="badge">required</span>"#
        ),
        "{html}"
    );
    assert!(
        html.contains(r#"name="scope" value="write"> write"#),
        "{html}"
    );
    assert!(html.contains(r#"name="extra_permissions""#), "{html}");
    let csrf = csrf_of(&html);

    // Unticking the required scope gets the API's warning on a confirm step; nothing starts.
    let calls = provider.authorize_calls();
    let (status, html) = post_oauth_form(
        &s,
        &cookie,
        &csrf,
        "CRM grant",
        &["write"],
        "offline_access",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("scopes: missing required scopes read"),
        "{html}"
    );
    assert!(html.contains(r#"name="confirmed" value="yes""#), "{html}");
    assert!(
        html.contains(r#"value="offline_access""#),
        "what was typed is kept"
    );
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "nobody leaves yet"
    );
    assert_eq!(provider.authorize_calls(), calls);

    // Continuing anyway starts the flow: a page that moves on to the provider.
    let (status, html) = post_oauth_form(
        &s,
        &cookie,
        &csrf,
        "CRM grant",
        &["write"],
        "offline_access",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let authorize_url = moves_on_to(&html);
    assert!(
        authorize_url.starts_with(&provider.authorize_endpoint()),
        "{authorize_url}"
    );
    assert!(
        authorize_url.contains("scope=write+offline_access"),
        "{authorize_url}"
    );

    // The provider sends the browser to the registered callback, without a bearer token.
    let (_, _, redirect) = provider.follow_authorize(&authorize_url).await;
    let query = redirect_query(&redirect);
    let api_callback = get(&s, &format!("/v1/oauth/callback?{query}"), None).await;
    assert_eq!(api_callback.status(), StatusCode::SEE_OTHER);
    let dashboard_callback = location(&api_callback).to_owned();
    assert_eq!(dashboard_callback, format!("/ui/oauth/callback?{query}"));

    // Arriving from the provider's site, the Strict cookie is left out: the page reloads itself.
    let hop = get(&s, &dashboard_callback, None).await;
    assert_eq!(hop.status(), StatusCode::OK);
    let again = moves_on_to(&hop.text().await.expect("html"));
    assert_eq!(again, format!("{dashboard_callback}&resumed=1"));
    let done = get(&s, &again, Some(&cookie)).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let page = location(&done).to_owned();
    assert!(
        page.starts_with("/ui/authentications/") && page.ends_with("?notice=connected"),
        "{page}"
    );
    let id = page
        .trim_start_matches("/ui/authentications/")
        .trim_end_matches("?notice=connected")
        .to_owned();
    let shown = get(&s, &page, Some(&cookie))
        .await
        .text()
        .await
        .expect("html");
    assert!(shown.contains("Connected through the provider"), "{shown}");
    assert!(shown.contains("CRM grant"), "{shown}");
    let token = &provider.issued_access_tokens()[0];
    assert!(
        !shown.contains(token.as_str()),
        "the access token is never on a page"
    );

    // The same operations as the API: the grant, its scopes, and the dashboard as origin.
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(view.body["scopes"], json!(["write", "offline_access"]));
    let history = s
        .owner_get(&format!("/v1/authentications/{id}/history"))
        .await;
    assert_eq!(history.body[0]["origin"], "Dashboard", "{}", history.body);
    let state_used_up = get(&s, &again, Some(&cookie)).await;
    assert_eq!(state_used_up.status(), StatusCode::BAD_REQUEST);
    let refused = state_used_up.text().await.expect("html");
    assert!(refused.contains("Not connected"), "{refused}");
    assert!(!refused.starts_with('{'), "a page, not JSON");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_consent_or_another_users_session_ends_on_a_page() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let (owner, _) = sign_in(&s, &s.owner.token).await;
    let (editor, _) = sign_in(&s, &s.editor.token).await;
    let form = get(
        &s,
        &format!("/ui/authentications/new?service={SERVICE}"),
        Some(&owner),
    )
    .await;
    let csrf = csrf_of(&form.text().await.expect("html"));
    let start = || post_oauth_form(&s, &owner, &csrf, "Refused grant", &["read"], "", false);

    // The user refuses at the provider.
    let (_, html) = start().await;
    let url = format!("{}&deny=1", moves_on_to(&html));
    let (_, redirect, _) = provider.authorize_raw(&url).await;
    let query = redirect_query(&redirect.expect("redirect"));
    let answer = get(&s, &format!("/ui/oauth/callback?{query}"), Some(&owner)).await;
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html")));
    assert!(answer.text().await.expect("html").contains("access_denied"));

    // Another user's session cannot complete the owner's flow (the state is the owner's).
    let (_, html) = start().await;
    let (_, _, redirect) = provider.follow_authorize(&moves_on_to(&html)).await;
    let query = redirect_query(&redirect);
    let foreign = get(&s, &format!("/ui/oauth/callback?{query}"), Some(&editor)).await;
    assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
    let listed = s
        .call(
            Method::GET,
            "/v1/authentications?q=Refused",
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(listed.body["total"], 0, "nothing was created");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_start_claiming_the_dashboard_origin_keeps_its_callback_behind_the_bearer_token() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    // The origin header only labels what is recorded: it does not make the flow the
    // dashboard's, whose callback the dashboard session may complete without a bearer token.
    let started = s
        .call_with(
            Method::POST,
            "/v1/oauth/authorize",
            Some(&s.owner.token),
            Some(
                json!({"service": SERVICE, "name": "API grant", "workspace": s.org_workspace,
                "scopes": ["read"]}),
            ),
            &[("x-credledger-origin", "dashboard")],
        )
        .await
        .expect(200);
    let authorize_url = started.body["authorization_url"]
        .as_str()
        .expect("url")
        .to_owned();
    let (_, _, redirect) = provider.follow_authorize(&authorize_url).await;
    let query = redirect_query(&redirect);
    let bearerless = get(&s, &format!("/v1/oauth/callback?{query}"), None).await;
    assert_eq!(
        bearerless.status(),
        StatusCode::UNAUTHORIZED,
        "not sent on to /ui (Location: {:?})",
        bearerless.headers().get("location")
    );
    // The flow is still the API caller's to complete, with their bearer token.
    s.call(
        Method::GET,
        &format!("/v1/oauth/callback?{query}"),
        &s.owner.token,
        None,
    )
    .await
    .expect(201);
    s.stop().await;
}
