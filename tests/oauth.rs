//! OAuth2 end to end against a local authorization server that checks PKCE and client
//! authentication: authorize → callback → resolve, state checks before any token call, no
//! redirect followed, refresh before expiry, one refresh for 20 concurrent resolves, rotated
//! refresh tokens, invalid_grant, re-consent, and tokens never shown or stored in clear.

mod http_support;
mod leak_check;
mod oauth_provider;
mod oauth_support;

use std::sync::Arc;
use std::time::Duration;

use leak_check::{assert_no_secret_in_files, captured_logs, logged_text};
use oauth_provider::{Mode, ProviderConfig, Sink};
use reqwest::Method;
use serde_json::json;

use oauth_support::{authorization_url, authorize_new, callback, resolve_token, setup, SERVICE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_callback_resolve_with_pkce_and_client_authentication() {
    let (provider, s) = setup(
        ProviderConfig {
            granted_scopes: Some(vec!["read".into()]),
            ..ProviderConfig::default()
        },
        |_| {},
    )
    .await;
    let done = authorize_new(&s, &provider, &["read", "write"]).await;
    assert_eq!(done["requested_scopes"], json!(["read", "write"]));
    assert_eq!(
        done["granted_scopes"],
        json!(["read"]),
        "what the provider granted is recorded"
    );
    let id = done["authentication"].as_str().expect("id").to_owned();
    assert_eq!(provider.code_exchanges(), 1);
    let request = provider.last_token_request().expect("token request");
    assert!(
        request.form.contains_key("code_verifier"),
        "PKCE verifier sent"
    );
    assert_eq!(
        request.basic_credentials.map(|(id, _)| id),
        Some(provider.config().client_id.clone()),
        "client authenticated with HTTP Basic"
    );
    assert_eq!(
        resolve_token(&s, &id).await,
        provider.issued_access_tokens()[0]
    );
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(view.body["scopes"], json!(["read"]));
    assert_eq!(view.body["fields"]["refresh_token"]["type"], "secret");
    let history = s
        .owner_get(&format!("/v1/authentications/{id}/history"))
        .await;
    let types: Vec<&str> = history
        .body
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["event_type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        vec!["authentication.created", "authentication.grant_recorded"]
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_replayed_foreign_and_expired_states_are_refused_before_any_token_call() {
    let (provider, s) = setup(ProviderConfig::default(), |settings| {
        settings.state_ttl = Duration::from_millis(2500);
    })
    .await;
    let start = || async {
        let url = authorization_url(&s, json!({})).await;
        provider.follow_authorize(&url).await
    };
    // Unknown state.
    let (code, _, _) = start().await;
    let wrong = s
        .call(
            Method::GET,
            &format!("/v1/oauth/callback?state=not-a-state&code={code}"),
            &s.owner.token,
            None,
        )
        .await
        .expect(400);
    assert_eq!(wrong.body["field"], "state");
    // Someone else's state (it is consumed, so it cannot be used by anyone afterwards).
    let (code, state, _) = start().await;
    for who in [&s.editor, &s.owner] {
        callback(&s, &who.token, &state, &code).await.expect(400);
    }
    // Expired state.
    let (code, state, _) = start().await;
    tokio::time::sleep(Duration::from_millis(2700)).await;
    let expired = callback(&s, &s.owner.token, &state, &code)
        .await
        .expect(400);
    assert!(expired.text.contains("expired"), "{}", expired.text);
    assert_eq!(provider.token_calls(), 0, "no token call for a bad state");
    // A good state works once; replaying it is refused without another token call.
    let (code, state, _) = start().await;
    let path = format!("/v1/oauth/callback?state={state}&code={code}");
    s.call(Method::GET, &path, &s.owner.token, None)
        .await
        .expect(201);
    s.call(Method::GET, &path, &s.owner.token, None)
        .await
        .expect(400);
    assert_eq!(provider.token_calls(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_token_endpoint_is_not_followed() {
    let (provider, s) = setup(ProviderConfig::default(), |_| {}).await;
    let sink = Sink::start().await;
    provider.set_mode(Mode::RedirectTo(sink.url("/token")));
    let url = authorization_url(&s, json!({"name": "Redirected"})).await;
    let (code, state, _) = provider.follow_authorize(&url).await;
    let answer = callback(&s, &s.owner.token, &state, &code)
        .await
        .expect(502);
    assert!(!answer.text.contains(&code));
    assert_eq!(sink.hits(), 0, "nothing was sent to the redirect target");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_refresh_before_expiry_at_a_clamped_margin_and_rotated_refresh_tokens_are_used_next_time(
) {
    captured_logs();
    // A margin far longer than the 6 s lifetime: without the clamp every tick would refresh.
    let (provider, mut s) = setup(
        ProviderConfig {
            access_token_lifetime_secs: 6,
            rotate_refresh_tokens: true,
            ..ProviderConfig::default()
        },
        |settings| settings.refresh_margin = Duration::from_secs(3600),
    )
    .await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id").to_owned();
    let first_refresh = provider.current_refresh_token().expect("refresh token");
    let oauth = s.server.as_ref().expect("running").oauth().clone();
    assert_eq!(
        oauth.grants_with_lifetime_within_margin().await,
        1,
        "the start-up warning counts this grant"
    );
    assert_eq!(
        oauth.refresh_due().await,
        0,
        "a fresh token is not due: the margin is clamped to half its lifetime"
    );
    assert_eq!(provider.refresh_calls(), 0);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        oauth.refresh_due().await,
        1,
        "past half its lifetime: refreshed"
    );
    assert_eq!(provider.refresh_calls(), 1);
    assert_eq!(
        provider.last_form().expect("form")["refresh_token"],
        first_refresh
    );
    assert_eq!(oauth.refresh_due().await, 0, "the new token is fresh again");
    let rotated = provider.current_refresh_token().expect("rotated");
    assert_ne!(rotated, first_refresh);
    assert_eq!(
        resolve_token(&s, &id).await,
        provider.issued_access_tokens()[1]
    );
    // The next refresh uses the rotated token (the provider refuses the old one).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(oauth.refresh_due().await, 1);
    assert_eq!(
        provider.last_form().expect("form")["refresh_token"],
        rotated
    );
    assert_eq!(
        resolve_token(&s, &id).await,
        provider.issued_access_tokens()[2]
    );
    // A start over a ledger holding such a grant says so.
    drop(oauth); // it holds the ledger open
    s.restart().await;
    assert!(
        logged_text().contains("refreshed at half their lifetime"),
        "no start-up warning about the refresh margin"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_resolves_of_an_expired_token_cause_one_refresh() {
    let (provider, s) = setup(
        ProviderConfig {
            access_token_lifetime_secs: 1,
            ..ProviderConfig::default()
        },
        |settings| settings.refresh_margin = Duration::ZERO,
    )
    .await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id").to_owned();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move { resolve_token(&s, &id).await }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("resolve"));
    }
    assert_eq!(
        provider.refresh_calls(),
        1,
        "one token request for twenty resolves"
    );
    let fresh = provider.issued_access_tokens()[1].clone();
    assert!(
        tokens.iter().all(|t| *t == fresh),
        "every resolve got the refreshed token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_marks_the_authentication_for_reauthorization_and_reconsent_clears_it() {
    let (provider, s) = setup(
        ProviderConfig {
            access_token_lifetime_secs: 1,
            ..ProviderConfig::default()
        },
        |settings| settings.refresh_margin = Duration::ZERO,
    )
    .await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id").to_owned();
    provider.set_mode(Mode::InvalidGrant);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let refused = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(json!({"authentication": id, "workspace": s.org_workspace, "template": "$.auth.access_token"})),
        )
        .await
        .expect(409);
    assert!(
        refused.text.contains("re-authorization"),
        "{}",
        refused.text
    );
    let calls = provider.refresh_calls();
    // No retry loop: the next resolve does not call the provider again.
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.owner.token,
        Some(json!({"authentication": id, "workspace": s.org_workspace, "template": "$.auth.access_token"})),
    )
    .await
    .expect(409);
    assert_eq!(provider.refresh_calls(), calls);
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(view.body["needs_reauthorization"], true);
    let listed = s.owner_get("/v1/authentications").await;
    assert!(listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|i| i["id"] == id.as_str() && i["needs_reauthorization"] == true));

    // Re-consent through the same flow, asking for more scopes: cleared, scopes changed.
    provider.set_mode(Mode::Normal);
    let reauthorize = json!({"name": null, "workspace": null, "authentication": id,
        "scopes": ["read", "write"], "return_to": "https://app.example/done"});
    let url = authorization_url(&s, reauthorize).await;
    let (code, state, _) = provider.follow_authorize(&url).await;
    let back = callback(&s, &s.owner.token, &state, &code)
        .await
        .expect(303);
    assert_eq!(
        back.header("location").as_deref(),
        Some(format!("https://app.example/done?authentication={id}").as_str())
    );
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(view.body["needs_reauthorization"], false);
    assert_eq!(view.body["scopes"], json!(["read", "write"]));
    // Open redirects are refused when the flow starts.
    let open_redirect = s
        .call(
            Method::POST,
            "/v1/oauth/authorize",
            &s.owner.token,
            Some(json!({"service": SERVICE, "authentication": id, "scopes": ["read"], "return_to": "https://evil.example/"})),
        )
        .await
        .expect(422);
    assert_eq!(open_redirect.body["field"], "return_to");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_and_refresh_tokens_never_appear_outside_resolve() {
    captured_logs();
    let (provider, mut s) = setup(
        ProviderConfig {
            rotate_refresh_tokens: true,
            access_token_lifetime_secs: 2,
            ..ProviderConfig::default()
        },
        |settings| settings.refresh_margin = Duration::from_secs(7200),
    )
    .await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id").to_owned();
    let oauth = s.server.as_ref().expect("running").oauth().clone();
    tokio::time::sleep(Duration::from_millis(1300)).await; // past the clamped margin
    assert_eq!(oauth.refresh_due().await, 1);
    let mut seen = done.to_string();
    for path in [
        format!("/v1/authentications/{id}"),
        format!("/v1/authentications/{id}/history"),
        "/v1/authentications".to_owned(),
    ] {
        seen.push_str(&s.call(Method::GET, &path, &s.owner.token, None).await.text);
    }
    let mut secrets = provider.issued_access_tokens();
    secrets.extend(provider.current_refresh_token());
    assert!(secrets.len() >= 3);
    for secret in &secrets {
        assert!(!seen.contains(secret.as_str()), "a response leaked a token");
    }
    s.shutdown().await;
    let logged = logged_text();
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "the log leaked a token");
    }
    assert_no_secret_in_files(&s.data_dir, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_refreshes_tokens_before_they_expire() {
    let (provider, s) = setup(
        ProviderConfig {
            access_token_lifetime_secs: 2,
            ..ProviderConfig::default()
        },
        |settings| {
            // Clamped to half the 2 s lifetime: due a second after the grant.
            settings.refresh_margin = Duration::from_secs(7200);
            settings.refresh_interval = Duration::from_millis(100);
        },
    )
    .await;
    let done = authorize_new(&s, &provider, &["read"]).await;
    let id = done["authentication"].as_str().expect("id").to_owned();
    // Nobody calls refresh here: the server's own task must notice the token is due and
    // record a refresh (an event with the system origin) on its own.
    let path = format!("/v1/authentications/{id}/history");
    let mut waited = 0;
    loop {
        let history = s.owner_get(&path).await;
        let refreshed = history.body.as_array().expect("history").iter().any(|h| {
            h["event_type"] == "authentication.reauthenticated" && h["origin"] == "System"
        });
        if refreshed {
            break;
        }
        assert!(waited < 300, "the background task never recorded a refresh");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(provider.refresh_calls() >= 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_provider_failures_back_off_instead_of_hammering() {
    let (provider, s) = setup(
        ProviderConfig {
            access_token_lifetime_secs: 2,
            ..ProviderConfig::default()
        },
        |settings| settings.refresh_margin = Duration::from_secs(7200),
    )
    .await;
    authorize_new(&s, &provider, &["read"]).await;
    provider.set_mode(Mode::Unavailable);
    let oauth = s.server.as_ref().expect("running").oauth().clone();
    tokio::time::sleep(Duration::from_millis(1300)).await; // past the clamped margin
    assert_eq!(oauth.refresh_due().await, 0, "the provider is down");
    assert_eq!(provider.refresh_calls(), 1);
    // Right after a failure the authentication is backing off: no new token request.
    assert_eq!(oauth.refresh_due().await, 0);
    assert_eq!(
        provider.refresh_calls(),
        1,
        "no retry before the back-off ends"
    );
    s.stop().await;
}
