//! OAuth2 against providers that differ the way real ones do, through HTTP: client
//! authentication by form body or as a public client, extra authorization parameters
//! (`prompt=consent` before a refresh token), extra permissions sent as scopes and kept on
//! re-consent, what the provider grants (also on refresh), the warning before the user leaves,
//! error callbacks that use up the state, `iss` (RFC 9207), refresh tokens never resolved, and
//! a custom domain that moves only with a new grant.

mod http_support;
mod leak_check;
mod oauth_provider;
mod oauth_support;

use std::time::Duration;

use oauth_provider::{ClientAuth, ProviderConfig};
use oauth_support::{
    authorize_new, consent, redirect_query, resolve_token, setup, setup_registered,
    start_authorization, view, SERVICE, TENANT_SERVICE,
};
use reqwest::Method;
use serde_json::{json, Value};

fn url_query(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    url_query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_only_provider_gets_the_secret_in_the_form_and_never_a_basic_header() {
    let (provider, s) = setup_registered(
        ProviderConfig {
            client_auth: ClientAuth::PostOnly,
            ..ProviderConfig::default()
        },
        |_, r| {
            r.insert(
                "token_endpoint_auth_method".into(),
                json!("client_secret_post"),
            );
        },
        |_| {},
    )
    .await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let request = provider.last_token_request().expect("token request");
    assert!(request.authorization.is_none(), "no Authorization header");
    assert_eq!(
        request.form.get("client_secret"),
        Some(&provider.config().client_secret)
    );
    let id = done["authentication"].as_str().expect("id");
    assert_eq!(
        resolve_token(&s, id).await,
        provider.issued_access_tokens()[0]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_sends_its_id_and_the_pkce_verifier_and_no_secret() {
    let (provider, s) = setup_registered(
        ProviderConfig {
            client_auth: ClientAuth::Public,
            access_token_lifetime_secs: 1,
            ..ProviderConfig::default()
        },
        |_, r| {
            r.remove("client_secret");
            r.insert("token_endpoint_auth_method".into(), json!("none"));
        },
        |settings| settings.refresh_margin = Duration::ZERO,
    )
    .await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let request = provider.last_token_request().expect("token request");
    assert!(request.authorization.is_none());
    assert!(!request.form.contains_key("client_secret"));
    assert_eq!(
        request.form.get("client_id"),
        Some(&provider.config().client_id)
    );
    assert!(request.form.contains_key("code_verifier"));
    // The refresh authenticates the same way.
    let id = done["authentication"].as_str().expect("id");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        resolve_token(&s, id).await,
        provider.issued_access_tokens()[1]
    );
    let refresh = provider.last_token_request().expect("refresh request");
    assert_eq!(refresh.form["grant_type"], "refresh_token");
    assert!(!refresh.form.contains_key("client_secret"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_authorize_params_reach_the_provider_and_bring_a_refresh_token() {
    let gated = ProviderConfig {
        refresh_token_needs_prompt_consent: true,
        ..ProviderConfig::default()
    };
    // Without `prompt=consent` an OpenID-style provider gives no refresh token.
    let (provider, s) = setup(gated.clone(), |_| {}).await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id");
    let shown = view(&s, id).await;
    assert!(shown.body["fields"].get("refresh_token").is_none());
    s.stop().await;

    let (provider, s) = setup_registered(
        gated,
        |_, r| {
            r.insert(
                "authorize_params".into(),
                json!({"prompt": "consent", "access_type": "offline"}),
            );
        },
        |_| {},
    )
    .await;
    let started = start_authorization(&s, json!({})).await;
    let url = started["authorization_url"].as_str().expect("url");
    assert_eq!(param(url, "prompt").as_deref(), Some("consent"));
    assert_eq!(param(url, "access_type").as_deref(), Some("offline"));
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id");
    let shown = view(&s, id).await;
    assert_eq!(shown.body["fields"]["refresh_token"]["type"], "secret");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_permissions_are_requested_as_scopes_and_kept_on_reconsent_unless_changed() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let started = start_authorization(
        &s,
        json!({"scopes": ["read"], "extra_permissions": ["offline_access", "read"]}),
    )
    .await;
    let url = started["authorization_url"].as_str().expect("url");
    assert_eq!(
        param(url, "scope").as_deref(),
        Some("read offline_access"),
        "chosen scopes, then extra permissions not already chosen"
    );
    assert_eq!(
        started["requested_scopes"],
        json!(["read", "offline_access"])
    );
    let done = consent(&s, &provider, url).await;
    let id = done["authentication"].as_str().expect("id").to_owned();
    assert_eq!(done["granted_scopes"], json!(["read", "offline_access"]));
    // A re-consent that does not mention them keeps them.
    let again = start_authorization(
        &s,
        json!({"name": null, "workspace": null, "authentication": id, "scopes": ["read", "write"]}),
    )
    .await;
    let url = again["authorization_url"].as_str().expect("url");
    assert_eq!(
        param(url, "scope").as_deref(),
        Some("read write offline_access"),
        "the kept extra permissions are asked for again"
    );
    consent(&s, &provider, url).await;
    let shown = view(&s, &id).await;
    assert_eq!(
        shown.body["extra_permissions"],
        json!(["offline_access", "read"])
    );
    // Extra permissions are scope tokens: a space would smuggle another scope in.
    let refused = s
        .call(
            Method::POST,
            "/v1/oauth/authorize",
            &s.owner.token,
            Some(json!({"service": SERVICE, "authentication": id, "scopes": ["read"], "extra_permissions": ["a b"]})),
        )
        .await
        .expect(422);
    assert!(
        refused.text.contains("extra_permissions"),
        "{}",
        refused.text
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_scopes_follow_the_provider_on_the_grant_and_on_refresh() {
    let (provider, s) = setup(
        ProviderConfig {
            granted_scopes: Some(vec!["read".into(), "write".into()]),
            refresh_granted_scopes: Some(vec!["read".into()]),
            access_token_lifetime_secs: 1,
            ..ProviderConfig::default()
        },
        |settings| settings.refresh_margin = Duration::ZERO,
    )
    .await;
    let done = authorize_new(&s, &provider, &["read", "write", "admin"]).await;
    assert_eq!(done["granted_scopes"], json!(["read", "write"]));
    let id = done["authentication"].as_str().expect("id").to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    resolve_token(&s, &id).await; // refreshes: the provider narrows to `read`
    let shown = view(&s, &id).await;
    assert_eq!(shown.body["scopes"], json!(["read"]));
    let history = s
        .owner_get(&format!("/v1/authentications/{id}/history"))
        .await;
    let last = history.body.as_array().expect("history").last().cloned();
    assert_eq!(
        last.as_ref().map(|h| h["event_type"].clone()),
        Some(json!("authentication.grant_recorded")),
        "{last:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_required_scopes_are_said_at_authorize_and_once_at_the_callback() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let started = start_authorization(&s, json!({"scopes": ["write"]})).await;
    let warnings = started["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{started}");
    assert_eq!(warnings[0]["code"], "missing_required_scopes", "{started}");
    assert!(
        warnings[0]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("missing required scopes read")),
        "names the missing scope: {started}"
    );
    let url = started["authorization_url"].as_str().expect("url");
    let done = consent(&s, &provider, url).await;
    assert_eq!(
        done["warnings"].as_array().map(Vec::len),
        Some(1),
        "one warning, not one per event: {done}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_callback_uses_up_the_state_and_is_recorded() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let first = authorize_new(&s, &provider, &["read"]).await;
    let id = first["authentication"].as_str().expect("id").to_owned();
    let started = start_authorization(
        &s,
        json!({"name": null, "workspace": null, "authentication": id}),
    )
    .await;
    let url = format!(
        "{}&deny=1",
        started["authorization_url"].as_str().expect("url")
    );
    let (status, location, _) = provider.authorize_raw(&url).await;
    assert_eq!(status, reqwest::StatusCode::FOUND);
    let location = location.expect("redirect");
    let state = param(&location, "state").expect("state");
    assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
    let calls_before = provider.token_calls();
    let refused = s
        .call(
            Method::GET,
            &format!("/v1/oauth/callback?{}", redirect_query(&location)),
            &s.owner.token,
            None,
        )
        .await
        .expect(422);
    assert!(refused.text.contains("access_denied"), "{}", refused.text);
    // The same state with a made-up code: used up, no token request.
    let replay = s
        .call(
            Method::GET,
            &format!("/v1/oauth/callback?state={state}&code=made-up"),
            &s.owner.token,
            None,
        )
        .await
        .expect(400);
    assert!(replay.text.contains("state"), "{}", replay.text);
    assert_eq!(provider.token_calls(), calls_before);
    // The refusal is in the authentication's audit trail.
    let audit = s.owner_get(&format!("/v1/audit?authentication={id}")).await;
    assert!(
        audit.text.contains("access_denied"),
        "the error callback is recorded: {}",
        audit.text
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_with_an_issuer_needs_a_matching_iss_before_any_token_call() {
    let issuer = "https://issuer.test/tenant";
    let (provider, s) = setup_registered(
        ProviderConfig {
            issuer: Some(issuer.into()),
            ..ProviderConfig::default()
        },
        |_, r| {
            r.insert("issuer".into(), json!(issuer));
        },
        |_| {},
    )
    .await;
    // The provider's own iss: accepted.
    authorize_new(&s, &provider, &["read"]).await;
    for forged in [None, Some("https://evil.test")] {
        let started = start_authorization(&s, json!({})).await;
        let url = started["authorization_url"].as_str().expect("url");
        let (code, state, _) = provider.follow_authorize(url).await;
        let mut query = format!("state={state}&code={code}");
        if let Some(iss) = forged {
            query.push_str(&format!("&iss={iss}"));
        }
        let calls_before = provider.token_calls();
        let refused = s
            .call(
                Method::GET,
                &format!("/v1/oauth/callback?{query}"),
                &s.owner.token,
                None,
            )
            .await
            .expect(400);
        assert!(refused.text.contains("iss"), "{}", refused.text);
        assert_eq!(provider.token_calls(), calls_before, "no token request");
        // The state is used up by that first callback.
        let again = s
            .call(
                Method::GET,
                &format!("/v1/oauth/callback?state={state}&code={code}&iss={issuer}"),
                &s.owner.token,
                None,
            )
            .await
            .expect(400);
        assert!(again.text.contains("state"), "{}", again.text);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_never_hands_out_a_refresh_token() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id");
    let refused = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(json!({"authentication": id, "workspace": s.org_workspace,
                "template": {"a": "{$.auth.access_token}", "r": "{$.auth.refresh_token}"}})),
        )
        .await
        .expect(422);
    let refresh = provider.current_refresh_token().expect("refresh token");
    assert!(!refused.text.contains(&refresh));
    assert!(refused.text.contains("refresh_token"), "{}", refused.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_domain_moves_only_with_a_new_grant() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let host = provider.base_url().trim_start_matches("http://").to_owned();
    let started = start_authorization(
        &s,
        json!({"service": TENANT_SERVICE, "fields": {"domain": host}}),
    )
    .await;
    let url = started["authorization_url"].as_str().expect("url");
    let done = consent(&s, &provider, url).await;
    let id = done["authentication"].as_str().expect("id").to_owned();
    let other = host.replace("127.0.0.1", "localhost");
    let refused = s
        .call(
            Method::POST,
            &format!("/v1/authentications/{id}/reauthenticate"),
            &s.owner.token,
            Some(json!({"fields": {"domain": other}})),
        )
        .await
        .expect(422);
    let problem: Value = serde_json::from_str(&refused.text).expect("problem");
    assert_eq!(problem["field"], "domain", "{problem}");
    // Through a re-consent at the new endpoints it moves.
    let again = start_authorization(
        &s,
        json!({"service": TENANT_SERVICE, "name": null, "workspace": null,
            "authentication": id, "fields": {"domain": other}}),
    )
    .await;
    let url = again["authorization_url"].as_str().expect("url");
    assert!(url.starts_with(&format!("http://{other}/")), "{url}");
    let url = url.replace(&other, &host); // the same provider, by its address
    consent(&s, &provider, &url).await;
    let shown = view(&s, &id).await;
    assert_eq!(
        shown.body["fields"]["domain"]["value"],
        json!(other),
        "{}",
        shown.text
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_service_brings_its_own_oauth_app_registered_through_the_api() {
    const CLIENT_SECRET_CANARY: &str = "canary-custom-client-secret-5b1f";
    let (provider, s) = setup(
        ProviderConfig {
            client_secret: CLIENT_SECRET_CANARY.into(),
            client_auth: ClientAuth::PostOnly,
            access_token_lifetime_secs: 1,
            ..ProviderConfig::default()
        },
        |settings| settings.refresh_margin = Duration::ZERO,
    )
    .await;
    let spec = json!({
        "name": "Our CRM", "api_version": "v1", "auth_kind": "OAuth2", "fields": [],
        "oauth": {"authorize_url": provider.authorize_endpoint(), "token_url": provider.token_endpoint(), "request_token_url": null},
        "scopes": ["read", "write"], "required_scopes": ["read"], "verification": null
    });
    let defined = s
        .call(
            Method::POST,
            "/v1/services",
            &s.owner.token,
            Some(json!({"workspace": s.org_workspace, "spec": spec})),
        )
        .await
        .expect(201);
    let service = defined.body["service"]
        .as_str()
        .expect("service")
        .to_owned();
    // Without a registration the flow says so.
    let none = s
        .call(
            Method::POST,
            "/v1/oauth/authorize",
            &s.owner.token,
            Some(json!({"service": service, "name": "CRM", "workspace": s.org_workspace, "scopes": ["read"]})),
        )
        .await
        .expect(422);
    assert!(none.text.contains("no OAuth2 client"), "{}", none.text);
    let path = format!("/v1/services/{service}/oauth-client");
    // Only who may change the service may register its client; to whom it is hidden, it
    // is not there.
    for (who, status) in [(&s.viewer, 403), (&s.outsider, 404)] {
        s.call(
            Method::PUT,
            &path,
            &who.token,
            Some(json!({"client_id": "x", "client_secret": "y"})),
        )
        .await
        .expect(status);
    }
    // Rules name their field.
    let refused = s
        .call(
            Method::PUT,
            &path,
            &s.owner.token,
            Some(json!({"client_id": "x", "token_endpoint_auth_method": "client_secret_post"})),
        )
        .await
        .expect(422);
    let problem: Value = serde_json::from_str(&refused.text).expect("problem");
    assert_eq!(problem["field"], "client_secret", "{problem}");
    let registered = s
        .call(
            Method::PUT,
            &path,
            &s.owner.token,
            Some(json!({"client_id": provider.config().client_id, "client_secret": CLIENT_SECRET_CANARY,
                "token_endpoint_auth_method": "client_secret_post"})),
        )
        .await
        .expect(200);
    assert_eq!(registered.body["version"], 2);
    assert_eq!(registered.body["oauth_client"]["client_secret_set"], true);
    assert_eq!(
        registered.body["oauth_client"]["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert!(!registered.text.contains(CLIENT_SECRET_CANARY));

    let started = start_authorization(&s, json!({"service": service, "name": "CRM"})).await;
    let url = started["authorization_url"].as_str().expect("url");
    let done = consent(&s, &provider, url).await;
    let request = provider.last_token_request().expect("token request");
    assert_eq!(
        request.form.get("client_secret").map(String::as_str),
        Some(CLIENT_SECRET_CANARY),
        "the registered secret, opened only for the token call"
    );
    let id = done["authentication"].as_str().expect("id").to_owned();
    // The refresher uses the same registration.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        resolve_token(&s, &id).await,
        provider.issued_access_tokens()[1]
    );
    // The secret is never shown: not in reads, history or audit, nor in the data directory.
    let mut seen = String::new();
    for read in [
        format!("/v1/services/{service}"),
        "/v1/services".to_owned(),
        format!("/v1/authentications/{id}/history"),
        "/v1/audit".to_owned(),
    ] {
        seen.push_str(&s.call(Method::GET, &read, &s.owner.token, None).await.text);
    }
    assert!(
        !seen.contains(CLIENT_SECRET_CANARY),
        "a read showed the client secret"
    );
    let mut s = s;
    s.shutdown().await;
    leak_check::assert_no_secret_in_files(&s.data_dir, &[CLIENT_SECRET_CANARY.to_owned()]);
}

#[test]
fn serve_refuses_a_clients_file_that_breaks_a_rule_naming_service_and_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            r#"{"slack": {"client_id": "id", "client_secret": ""}}"#,
            "slack.client_secret: must not be empty",
        ),
        (
            r#"{"slack": {"client_id": "id", "client_secret": "canary-file-secret", "token_endpoint_auth_method": "none"}}"#,
            "slack.client_secret: must not be set",
        ),
        (
            r#"{"slack": {"client_id": "id", "client_secret": "s", "authorize_params": {"redirect_uri": "https://evil.example"}}}"#,
            "slack.authorize_params.redirect_uri: is set by the flow itself",
        ),
    ];
    for (i, (file, expected)) in cases.into_iter().enumerate() {
        let clients = dir.path().join(format!("clients-{i}.json"));
        std::fs::write(&clients, file).expect("write clients file");
        let data = dir.path().join(format!("data-{i}"));
        let key = dir.path().join(format!("key-{i}"));
        let (code, text) = http_support::run_cli(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().expect("path"),
            "--key-file",
            key.to_str().expect("path"),
            "--oauth-clients",
            clients.to_str().expect("path"),
        ]);
        assert_ne!(code, 0, "{text}");
        assert!(text.contains(expected), "{expected:?} not in {text}");
        assert!(!text.contains("canary-file-secret"), "{text}");
    }
}
