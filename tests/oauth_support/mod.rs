//! The OAuth2 test set-up shared by the OAuth2 test files: a local provider, a server whose
//! catalog has a service at it, and the whole flow for a new authentication.

#![allow(dead_code)] // Each test file uses what it needs.

use std::time::Duration;

use credledger::oauth::endpoint::EndpointPolicy;
use credledger::oauth::OAuthSettings;
use reqwest::Method;
use serde_json::{json, Value};

use super::http_support::{Answer, Server};
use super::oauth_provider::{Provider, ProviderConfig};

pub const CALLBACK: &str = "http://credledger.test/v1/oauth/callback";
pub const SERVICE: &str = "test-oauth";
/// The same provider, reached through a tenant host in the `domain` field.
pub const TENANT_SERVICE: &str = "test-oauth-tenant";

/// A provider and a server whose catalog has a service at that provider, registered with
/// HTTP Basic client authentication.
pub async fn setup(
    provider_config: ProviderConfig,
    adjust: impl FnOnce(&mut OAuthSettings),
) -> (Provider, Server) {
    setup_registered(provider_config, |_, _| {}, adjust).await
}

/// Like [`setup`], with the client registration (JSON of the clients file, already holding
/// `client_id` and `client_secret`) adjusted first.
pub async fn setup_registered(
    provider_config: ProviderConfig,
    register: impl FnOnce(&Provider, &mut serde_json::Map<String, Value>),
    adjust: impl FnOnce(&mut OAuthSettings),
) -> (Provider, Server) {
    let provider = Provider::start(ProviderConfig {
        redirect_uri: CALLBACK.into(),
        ..provider_config
    })
    .await;
    let catalog = catalog_at(&provider, &provider.authorize_endpoint());
    let mut registration = serde_json::Map::new();
    registration.insert("client_id".into(), json!(provider.config().client_id));
    registration.insert(
        "client_secret".into(),
        json!(provider.config().client_secret),
    );
    register(&provider, &mut registration);
    let clients = json!({ SERVICE: registration.clone(), TENANT_SERVICE: registration });
    let server = server_for(&catalog, &clients, |settings| {
        settings.return_allow_list = vec!["https://app.example/done".into()];
        adjust(settings);
    })
    .await;
    (provider, server)
}

/// The catalog of the test services at `provider`, whose consent page the browser reaches at
/// `authorize_url` (the provider's own, or the same one under another host name).
pub fn catalog_at(provider: &Provider, authorize_url: &str) -> Value {
    json!({
        SERVICE: {
            "name": "Test OAuth", "api_version": "v1", "auth_kind": "OAuth2",
            "fields": [{"name": "domain", "secret": false, "required": false, "format": "Text", "description": "tenant host"}],
            "oauth": {"authorize_url": authorize_url, "token_url": provider.token_endpoint(), "request_token_url": null},
            "scopes": ["read", "write", "admin"], "required_scopes": ["read"], "verification": null
        },
        TENANT_SERVICE: {
            "name": "Test OAuth per tenant", "api_version": "v1", "auth_kind": "OAuth2",
            "fields": [{"name": "domain", "secret": false, "required": true, "format": "Text", "description": "tenant host and port"}],
            "oauth": {"authorize_url": "http://{domain}/authorize", "token_url": "http://{domain}/token", "request_token_url": null},
            "scopes": ["read"], "required_scopes": [], "verification": null
        }
    })
}

/// A provider and a server for a real browser: the server listens on a port picked first, so
/// the provider can send the browser back to its real callback, and the browser reaches the
/// consent page as `localhost` (another site than the server's `127.0.0.1`, as a real
/// provider is, so the dashboard's SameSite=Strict cookie is left out of the redirect back).
pub async fn setup_for_browser(provider_config: ProviderConfig) -> (Provider, Server) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let callback = format!("http://127.0.0.1:{port}/v1/oauth/callback");
    let provider = Provider::start(ProviderConfig {
        redirect_uri: callback.clone(),
        ..provider_config
    })
    .await;
    let authorize = provider
        .authorize_endpoint()
        .replace("127.0.0.1", "localhost");
    let catalog = catalog_at(&provider, &authorize);
    let mut registration = serde_json::Map::new();
    registration.insert("client_id".into(), json!(provider.config().client_id));
    registration.insert(
        "client_secret".into(),
        json!(provider.config().client_secret),
    );
    let clients = json!({ SERVICE: registration });
    let server = Server::start_with(|config| {
        config.listen = ([127, 0, 0, 1], port).into();
        config.app.extra_services = Some(catalog.to_string());
        config.app.extra_services_allow_http = true;
        let mut settings = OAuthSettings::new(callback)
            .with_clients_json(&clients.to_string())
            .expect("the client registration is accepted");
        settings.policy = EndpointPolicy::insecure_for_development();
        settings.refresh_interval = Duration::from_secs(3600);
        config.oauth = settings;
    })
    .await;
    (provider, server)
}

/// A server whose catalog has these extra services (`http://` allowed) and these client
/// registrations (a clients file's JSON), with the development endpoint policy, the callback
/// [`CALLBACK`] and no background refresh to speak of (hourly).
pub async fn server_for(
    catalog: &Value,
    clients: &Value,
    adjust: impl FnOnce(&mut OAuthSettings),
) -> Server {
    Server::start_with(|config| {
        config.app.extra_services = Some(catalog.to_string());
        config.app.extra_services_allow_http = true;
        let mut settings = OAuthSettings::new(CALLBACK)
            .with_clients_json(&clients.to_string())
            .expect("the client registrations are accepted");
        settings.policy = EndpointPolicy::insecure_for_development();
        settings.refresh_interval = Duration::from_secs(3600);
        adjust(&mut settings);
        config.oauth = settings;
    })
    .await
}

/// Starts an authorization with `body` (service, scopes, … merged over a new
/// authentication's defaults) and returns the answer of `POST /v1/oauth/authorize`.
pub async fn start_authorization(s: &Server, body: Value) -> Value {
    let mut request = json!({"service": SERVICE, "name": format!("Grant {}", uuid::Uuid::now_v7()),
        "workspace": s.org_workspace, "scopes": ["read"]});
    for (k, v) in body.as_object().expect("object").clone() {
        if v.is_null() {
            request.as_object_mut().expect("object").remove(&k);
        } else {
            request[k] = v;
        }
    }
    s.call(
        Method::POST,
        "/v1/oauth/authorize",
        &s.owner.token,
        Some(request),
    )
    .await
    .expect(200)
    .body
}

/// The `authorization_url` of [`start_authorization`] with `body`.
pub async fn authorization_url(s: &Server, body: Value) -> String {
    start_authorization(s, body).await["authorization_url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// `GET /v1/oauth/callback` with a state and a code, as the holder of `token`.
pub async fn callback(s: &Server, token: &str, state: &str, code: &str) -> Answer {
    let path = format!("/v1/oauth/callback?state={state}&code={code}");
    s.call(Method::GET, &path, token, None).await
}

/// The query of a redirect `Location` as pairs, for building the callback's query.
pub fn redirect_query(location: &str) -> String {
    reqwest::Url::parse(location)
        .expect("redirect Location is a URL")
        .query()
        .unwrap_or_default()
        .to_owned()
}

/// Plays the user consenting at `authorization_url`, then hands the provider's redirect (all
/// of its query) to the callback as the owner; returns the callback's 201 body.
pub async fn consent(s: &Server, provider: &Provider, authorization_url: &str) -> Value {
    let (_, _, location) = provider.follow_authorize(authorization_url).await;
    s.call(
        Method::GET,
        &format!("/v1/oauth/callback?{}", redirect_query(&location)),
        &s.owner.token,
        None,
    )
    .await
    .expect(201)
    .body
}

/// `GET /v1/authentications/{id}` as the owner (200).
pub async fn view(s: &Server, id: &str) -> Answer {
    s.owner_get(&format!("/v1/authentications/{id}")).await
}

/// Runs the whole flow for a new authentication in the org workspace; returns its id.
pub async fn authorize_new(s: &Server, provider: &Provider, scopes: &[&str]) -> Value {
    let url = authorization_url(s, json!({"scopes": scopes})).await;
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    consent(s, provider, &url).await
}

/// Resolves `$.auth.access_token` of an authentication in the org workspace.
pub async fn resolve_token(s: &Server, id: &str) -> String {
    let answer = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(json!({"authentication": id, "workspace": s.org_workspace, "template": "$.auth.access_token"})),
        )
        .await
        .expect(200);
    answer.body["resolved"].as_str().expect("token").to_owned()
}
