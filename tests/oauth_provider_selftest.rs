//! The test OAuth provider itself, driven directly with reqwest: code flow with PKCE S256,
//! client authentication, single-use codes, refresh-token rotation and the failure modes.

mod oauth_provider;

use oauth_provider::{pkce_challenge, pkce_pair, Mode, Provider, ProviderConfig, Sink};
use reqwest::StatusCode;
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// POSTs a form to the token endpoint, authenticating with Basic when `basic` is set.
async fn post_token(
    provider: &Provider,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>, Value) {
    let mut request = client().post(provider.token_endpoint()).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("POST /token");
    let status = response.status();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| v.to_str().expect("ascii Location").to_owned());
    let text = response.text().await.expect("token body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, location, body)
}

fn basic(provider: &Provider) -> Option<(&str, &str)> {
    let config = provider.config();
    Some((&config.client_id, &config.client_secret))
}

/// Authorizes with a fresh PKCE pair: `(code, verifier)`.
async fn authorize(provider: &Provider, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let url = provider.authorize_url("st-1", &challenge, scope);
    let (code, state, _) = provider.follow_authorize(&url).await;
    assert_eq!(state, "st-1");
    (code, verifier)
}

async fn exchange(provider: &Provider, code: &str, verifier: &str) -> (StatusCode, Value) {
    let redirect_uri = provider.config().redirect_uri.clone();
    let (status, _, body) = post_token(
        provider,
        basic(provider),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await;
    (status, body)
}

async fn refresh(provider: &Provider, refresh_token: &str) -> (StatusCode, Option<String>, Value) {
    post_token(
        provider,
        basic(provider),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// Authorizes and exchanges: the token response.
async fn tokens(provider: &Provider) -> Value {
    let (code, verifier) = authorize(provider, "read write").await;
    let (status, body) = exchange(provider, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("<no error field>")
}

#[test]
fn challenge_matches_rfc7636_appendix_b() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[tokio::test]
async fn full_code_flow_with_pkce_and_basic_auth() {
    let provider = Provider::start(ProviderConfig {
        access_token_lifetime_secs: 1234,
        ..ProviderConfig::default()
    })
    .await;
    let (verifier, challenge) = pkce_pair();
    let url = provider.authorize_url("state with spaces&amp", &challenge, "read write");
    let (code, state, location) = provider.follow_authorize(&url).await;
    assert!(code.starts_with("code-"), "{code}");
    assert_eq!(state, "state with spaces&amp");
    assert!(
        location.starts_with(&format!("{}?", provider.config().redirect_uri)),
        "{location}"
    );
    assert_eq!(provider.authorize_calls(), 1);

    let (status, body) = exchange(&provider, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access_token = body["access_token"].as_str().expect("access_token");
    let refresh_token = body["refresh_token"].as_str().expect("refresh_token");
    assert!(access_token.starts_with("at-"), "{access_token}");
    assert!(refresh_token.starts_with("rt-"), "{refresh_token}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1234);
    assert_eq!(body["scope"], "read write");

    assert_eq!(
        provider.issued_access_tokens(),
        vec![access_token.to_owned()]
    );
    assert_eq!(
        provider.current_refresh_token().as_deref(),
        Some(refresh_token)
    );
    assert_eq!(
        (
            provider.token_calls(),
            provider.code_exchanges(),
            provider.refresh_calls()
        ),
        (1, 1, 0)
    );
    let recorded = provider.last_token_request().expect("recorded request");
    assert_eq!(recorded.form["code_verifier"], verifier);
    assert_eq!(recorded.form["code"], code);
    assert_eq!(
        recorded.basic_credentials,
        Some((
            provider.config().client_id.clone(),
            provider.config().client_secret.clone()
        ))
    );
}

#[tokio::test]
async fn client_secret_post_is_accepted_and_recorded() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let (code, verifier) = authorize(&provider, "read").await;
    let config = provider.config().clone();
    let (status, _, body) = post_token(
        &provider,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &config.redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let form = provider.last_form().expect("recorded form");
    assert_eq!(form["client_secret"], config.client_secret);
    assert_eq!(provider.last_token_request().unwrap().authorization, None);
}

#[tokio::test]
async fn wrong_verifier_is_invalid_grant_and_burns_the_code() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let (code, verifier) = authorize(&provider, "read").await;
    let (other_verifier, _) = pkce_pair();
    let (status, body) = exchange(&provider, &code, &other_verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body), "invalid_grant");
    let (status, body) = exchange(&provider, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body), "invalid_grant");
    assert!(provider.issued_access_tokens().is_empty());
}

#[tokio::test]
async fn missing_verifier_is_invalid_grant() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let (code, _) = authorize(&provider, "read").await;
    let redirect_uri = provider.config().redirect_uri.clone();
    let (status, _, body) = post_token(
        &provider,
        basic(&provider),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body), "invalid_grant");
}

#[tokio::test]
async fn reused_code_is_invalid_grant() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let (code, verifier) = authorize(&provider, "read").await;
    let (status, body) = exchange(&provider, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = exchange(&provider, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body), "invalid_grant");
    assert_eq!(provider.code_exchanges(), 2);
    assert_eq!(provider.issued_access_tokens().len(), 1);
}

#[tokio::test]
async fn expired_code_and_other_redirect_uri_are_invalid_grant() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let (code, verifier) = authorize(&provider, "read").await;
    provider.expire_pending_codes();
    let (status, body) = exchange(&provider, &code, &verifier).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let (code, verifier) = authorize(&provider, "read").await;
    let (status, _, body) = post_token(
        &provider,
        basic(&provider),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn wrong_or_missing_client_credentials_are_invalid_client() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let (code, verifier) = authorize(&provider, "read").await;
    let config = provider.config().clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", config.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    for credentials in [
        Some((config.client_id.as_str(), "wrong-secret")),
        Some(("other-client", config.client_secret.as_str())),
        None,
    ] {
        let (status, _, body) = post_token(&provider, credentials, &form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{credentials:?}");
        assert_eq!(error_of(&body), "invalid_client");
    }
    let mut wrong_post = form.to_vec();
    wrong_post.extend([
        ("client_id", config.client_id.as_str()),
        ("client_secret", "wrong-secret"),
    ]);
    let (status, _, body) = post_token(&provider, None, &wrong_post).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );

    // Client authentication failures do not consume the code.
    let (status, body) = exchange(&provider, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn authorize_validates_client_redirect_uri_and_pkce() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let (_, challenge) = pkce_pair();
    let good = provider.authorize_url("s", &challenge, "read");

    let wrong_redirect = good.replace("oauth%2Fcallback", "oauth%2Fother");
    let (status, location, _) = provider.authorize_raw(&wrong_redirect).await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));

    let wrong_client = good.replace(&provider.config().client_id, "somebody-else");
    let (status, location, _) = provider.authorize_raw(&wrong_client).await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));

    for bad in [
        good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
        good.replace("&code_challenge_method=S256", ""),
        good.replace(&format!("&code_challenge={challenge}"), ""),
    ] {
        let (status, location, _) = provider.authorize_raw(&bad).await;
        assert_eq!(status, StatusCode::FOUND, "{bad}");
        let location = location.expect("error redirect");
        assert!(location.contains("error=invalid_request"), "{location}");
        assert!(location.contains("state=s"), "{location}");
        assert!(!location.contains("code="), "{location}");
    }
}

#[tokio::test]
async fn granted_scopes_override_the_request() {
    let provider = Provider::start(ProviderConfig {
        granted_scopes: Some(vec!["read".to_owned()]),
        ..ProviderConfig::default()
    })
    .await;
    let body = tokens(&provider).await;
    assert_eq!(body["scope"], "read");
    let (status, _, body) = refresh(&provider, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "read");
}

#[tokio::test]
async fn refresh_with_rotation_invalidates_the_old_token() {
    let provider = Provider::start(ProviderConfig {
        rotate_refresh_tokens: true,
        ..ProviderConfig::default()
    })
    .await;
    let first = tokens(&provider).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, _, second) = refresh(&provider, &rt1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(rt1, rt2);
    assert_ne!(first["access_token"], second["access_token"]);
    assert_eq!(second["scope"], "read write");
    assert_eq!(provider.current_refresh_token(), Some(rt2.clone()));
    assert_eq!(provider.refresh_calls(), 1);
    assert_eq!(provider.last_form().unwrap()["refresh_token"], rt1);

    let (status, _, body) = refresh(&provider, &rt1).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let (status, _, third) = refresh(&provider, &rt2).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(provider.issued_access_tokens().len(), 3);
    assert_eq!(
        provider.issued_access_tokens()[2],
        third["access_token"].as_str().unwrap()
    );
    assert_eq!(provider.refresh_calls(), 3);
    assert_eq!(provider.token_calls(), 4);
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_token_and_revocation_kills_it() {
    let provider = Provider::start(ProviderConfig {
        rotate_refresh_tokens: false,
        ..ProviderConfig::default()
    })
    .await;
    let rt = tokens(&provider).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let (status, _, body) = refresh(&provider, &rt).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
    }
    assert_eq!(provider.current_refresh_token(), Some(rt.clone()));

    provider.revoke_all_refresh_tokens();
    assert_eq!(provider.current_refresh_token(), None);
    let (status, _, body) = refresh(&provider, &rt).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn mode_invalid_grant_rejects_every_refresh() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let rt = tokens(&provider).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    provider.set_mode(Mode::InvalidGrant);
    let (status, _, body) = refresh(&provider, &rt).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // The token itself is untouched: back to normal, it works.
    provider.set_mode(Mode::Normal);
    let (status, _, body) = refresh(&provider, &rt).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(provider.refresh_calls(), 2);
}

#[tokio::test]
async fn mode_unavailable_answers_503() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let rt = tokens(&provider).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    provider.set_mode(Mode::Unavailable);
    let (status, _, _) = refresh(&provider, &rt).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(provider.refresh_calls(), 1);
    assert_eq!(provider.issued_access_tokens().len(), 1);
    provider.set_mode(Mode::Normal);
    let (status, _, body) = refresh(&provider, &rt).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn mode_redirect_answers_307_and_a_non_following_client_never_reaches_the_sink() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let sink = Sink::start().await;
    let rt = tokens(&provider).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let target = sink.url("token");
    provider.set_mode(Mode::RedirectTo(target.clone()));
    let (status, location, _) = refresh(&provider, &rt).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(location, Some(target));
    assert_eq!(provider.refresh_calls(), 1);
    assert_eq!(sink.hits(), 0);
    assert!(sink.requests().is_empty());

    // The sink does count what reaches it.
    client().get(sink.url("probe")).send().await.expect("sink");
    assert_eq!(sink.requests(), vec!["GET /probe".to_owned()]);
}

#[tokio::test]
async fn dropping_the_provider_stops_the_server() {
    let provider = Provider::start(ProviderConfig::default()).await;
    let endpoint = provider.token_endpoint();
    drop(provider);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // Refused, or accepted by a lingering backlog and never answered: either way an error.
    let result = reqwest::Client::new()
        .post(&endpoint)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    assert!(result.is_err(), "server still answering: {result:?}");
}
