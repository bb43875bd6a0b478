//! Lifecycle notices on `GET /v1/events` over real sockets: a client certificate nearing its
//! end gets the most urgent threshold's notice once (a second sweep adds nothing), an expired
//! one `certificate_expired` once; a token endpoint answering 500 gives one
//! `authentication.refresh_failed` per failure streak however often the refresh is retried;
//! `invalid_grant` gives `authentication.reauthorization_required` with its reason, and a
//! verification that failed (saved anyway) shows `outcome` `failed` and its reason.
//! No secret (private key, tokens, client secret) appears in what the stream shows.
//!
//! Certificates are made at test time with the `openssl` command line (a certificate that ends
//! in 5 days cannot be a fixture). The sweep runs on demand through
//! `RunningServer::sweep_certificate_notices`, beside the periodic one (hourly by default).

mod http_support;
mod oauth_provider;
mod oauth_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use http_support::Server;
use oauth_provider::{Mode, ProviderConfig};
use reqwest::Method;
use serde_json::{json, Value};

/// A client secret that must never appear in a stream.
const CANARY: &str = "canary-client-secret-5b1e0c";

const CERTIFICATE_TYPES: &str =
    "authentication.certificate_expiring,authentication.certificate_expired";

/// A self-signed P-256 certificate and its key (PEM), valid for `days` from now; `-1` makes
/// one that ended a day ago.
fn certificate(dir: &Path, days: i32) -> (String, String) {
    let key = dir.join(format!("key{days}.pem"));
    let csr = dir.join(format!("req{days}.csr"));
    let cert = dir.join(format!("cert{days}.pem"));
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("the openssl command line is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_owned();
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &path(&key),
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        &path(&key),
        "-subj",
        "/CN=notices.test",
        "-out",
        &path(&csr),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &path(&csr),
        "-signkey",
        &path(&key),
        "-days",
        &days.to_string(),
        "-out",
        &path(&cert),
    ]);
    let read = |p: &Path| std::fs::read_to_string(p).expect("a PEM file");
    (read(&cert), read(&key))
}

/// The base64 body of a PEM text (what would show if the secret leaked).
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("")
}

/// Every event `GET /v1/events{query}` shows as `token` until the stream is idle (nothing
/// for a second after the catch-up), and the raw text of the stream.
async fn events(s: &Server, token: &str, query: &str) -> (Vec<Value>, String) {
    let mut response = s
        .client
        .get(format!("{}/v1/events{query}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(response.status(), 200);
    let (mut raw, mut buffer, mut out) = (String::new(), String::new(), Vec::new());
    while let Ok(chunk) = tokio::time::timeout(Duration::from_secs(1), response.chunk()).await {
        let chunk = chunk
            .expect("the stream reads")
            .expect("the stream stays open");
        let text = String::from_utf8_lossy(&chunk).into_owned();
        raw.push_str(&text);
        buffer.push_str(&text);
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    out.push(serde_json::from_str(data.trim_start()).expect("JSON data"));
                }
            }
        }
    }
    (out, raw)
}

fn of_type<'a>(events: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == event_type)
        .collect()
}

/// A local webhook receiver: its URL and the bodies it got.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let got: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                if let Ok(event) = serde_json::from_slice::<Value>(&body) {
                    store.lock().expect("got").push(event);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_near_their_end_get_the_most_urgent_notice_once() {
    let s = Server::start_with(|config| {
        config.app.webhooks.policy =
            credledger::oauth::endpoint::EndpointPolicy::insecure_for_development();
    })
    .await;
    // The notices reach webhooks too: a receiver subscribed to them.
    let (hook_url, hooked) = receiver().await;
    s.call(
        Method::POST,
        "/v1/webhooks",
        &s.editor.token,
        Some(json!({"url": hook_url, "event_types": CERTIFICATE_TYPES.split(',').collect::<Vec<_>>()})),
    )
    .await
    .expect(201);
    let dir = tempfile::TempDir::new().expect("a temp dir");
    let (soon_cert, soon_key) = certificate(dir.path(), 5);
    let (past_cert, past_key) = certificate(dir.path(), -1);
    let soon = s
        .create(
            &s.editor,
            &s.shared,
            "mtls-api",
            json!({"certificate": soon_cert, "private_key": soon_key}),
        )
        .await;
    let past = s
        .create(
            &s.editor,
            &s.shared,
            "mtls-api",
            json!({"certificate": past_cert, "private_key": past_key}),
        )
        .await;
    // A certificate far from its end is left alone.
    let (far_cert, far_key) = certificate(dir.path(), 400);
    let far = s
        .create(
            &s.editor,
            &s.shared,
            "mtls-api",
            json!({"certificate": far_cert, "private_key": far_key}),
        )
        .await;
    let server = s.server.as_ref().expect("running");
    // The periodic sweep ran at start, before these existed; this one finds both.
    assert_eq!(server.sweep_certificate_notices().await, 2);
    assert_eq!(
        server.sweep_certificate_notices().await,
        0,
        "a second sweep adds nothing"
    );

    let query = format!("?from=0&types={CERTIFICATE_TYPES}");
    let (seen, raw) = events(&s, &s.editor.token, &query).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    let expiring = of_type(&seen, "authentication.certificate_expiring");
    assert_eq!(expiring.len(), 1, "{seen:?}");
    let notice = expiring[0];
    assert_eq!(notice["authentication"], soon.as_str());
    assert_eq!(notice["workspace"], s.shared.as_str());
    assert_eq!(
        notice["days_before"], 7,
        "the 7-day notice, not the 30-day one"
    );
    assert_eq!(notice["actor"], "system");
    assert_eq!(notice["origin"], "system");
    assert!(notice["not_after"].is_string());
    let expired = of_type(&seen, "authentication.certificate_expired");
    assert_eq!(expired.len(), 1, "{seen:?}");
    assert_eq!(expired[0]["authentication"], past.as_str());
    assert!(expired[0]["not_after"].is_string());
    assert!(expired[0].get("days_before").is_none());
    assert!(seen.iter().all(|e| e["authentication"] != far.as_str()));
    let mut delivered = Vec::new();
    for _ in 0..400 {
        delivered = hooked.lock().expect("hooked").clone();
        if delivered.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let delivered_types: Vec<&str> = delivered
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    let streamed_types: Vec<&str> = seen
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    assert_eq!(
        delivered_types, streamed_types,
        "the webhook got the same notices"
    );
    for key in [&soon_key, &past_key] {
        assert!(!raw.contains(&pem_body(key)), "a private key in the stream");
    }
    // Same scope as the authentication's other events: not in another user's stream.
    let (outsider_sees, _) = events(&s, &s.outsider.token, &query).await;
    assert!(outsider_sees.is_empty(), "{outsider_sees:?}");
    // The authentication's history says it too.
    let history = s
        .owner_get(&format!("/v1/authentications/{soon}/history"))
        .await;
    let last = history.body.as_array().and_then(|h| h.last()).cloned();
    assert_eq!(
        last.as_ref().map(|h| h["event_type"].clone()),
        Some(json!("authentication.certificate_expiring"))
    );

    // A re-authentication with a new certificate starts afresh: it ends in 5 days as well,
    // but at another `not_after`, so its 7-day notice comes again.
    let (new_cert, new_key) = certificate(dir.path(), 6);
    s.call(
        Method::POST,
        &format!("/v1/authentications/{soon}/reauthenticate"),
        &s.editor.token,
        Some(json!({"fields": {"certificate": new_cert, "private_key": new_key}})),
    )
    .await
    .expect(200);
    assert_eq!(server.sweep_certificate_notices().await, 1);
    let (seen, _) = events(&s, &s.editor.token, &query).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_endpoint_gives_one_notice_per_failure_streak() {
    let (provider, s) = oauth_support::setup(
        ProviderConfig {
            client_secret: CANARY.into(),
            access_token_lifetime_secs: 2,
            ..ProviderConfig::default()
        },
        |_| {},
    )
    .await;
    let created = oauth_support::authorize_new(&s, &provider, &["read"]).await;
    let id = created["authentication"].as_str().expect("id").to_owned();
    let resolve = || {
        s.call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(json!({"authentication": id, "workspace": s.org_workspace, "template": "$.auth.access_token"})),
        )
    };
    // The token lives 2 s, within the expiry skew: past half its lifetime (where the refresh
    // margin is clamped), every resolve refreshes it first.
    provider.set_mode(Mode::ServerError);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    for _ in 0..3 {
        let answer = resolve().await;
        assert_ne!(answer.status, 200, "{answer:?}");
    }
    // The background path fails the same way (it is backing off, or retries and fails).
    let oauth = s.server.as_ref().expect("running").oauth().clone();
    oauth.refresh_due().await;
    assert!(provider.refresh_calls() >= 3);
    let query = format!("?from=0&types=authentication.refresh_failed&authentication={id}");
    let (seen, raw) = events(&s, &s.owner.token, &query).await;
    assert_eq!(seen.len(), 1, "one notice for the whole streak: {seen:?}");
    let reason = seen[0]["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("127.0.0.1: "), "{reason}");
    assert!(!reason.contains('/'), "no URL path in {reason}");
    assert_eq!(seen[0]["actor"], "system");
    assert_eq!(seen[0]["workspace"], s.org_workspace.as_str());

    // A successful refresh ends the streak; the next failure is a new one.
    provider.set_mode(Mode::Normal);
    resolve().await.expect(200);
    provider.set_mode(Mode::ServerError);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    for _ in 0..2 {
        assert_ne!(resolve().await.status, 200);
    }
    let (seen, raw_again) = events(&s, &s.owner.token, &query).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    for text in [&raw, &raw_again] {
        assert!(!text.contains(CANARY), "the client secret in the stream");
        for token in provider.issued_access_tokens() {
            assert!(!text.contains(&token), "an access token in the stream");
        }
        if let Some(refresh) = provider.current_refresh_token() {
            assert!(!text.contains(&refresh), "a refresh token in the stream");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_token_reaches_the_stream_with_its_reason() {
    let (provider, s) = oauth_support::setup(
        ProviderConfig {
            client_secret: CANARY.into(),
            access_token_lifetime_secs: 2,
            ..ProviderConfig::default()
        },
        |_| {},
    )
    .await;
    let created = oauth_support::authorize_new(&s, &provider, &["read"]).await;
    let id = created["authentication"].as_str().expect("id").to_owned();
    provider.set_mode(Mode::InvalidGrant);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let resolve = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(json!({"authentication": id, "workspace": s.org_workspace, "template": "$.auth.access_token"})),
        )
        .await;
    assert_ne!(resolve.status, 200, "{resolve:?}");
    let query = format!(
        "?from=0&types=authentication.reauthorization_required,authentication.refresh_failed&authentication={id}"
    );
    let (seen, raw) = events(&s, &s.owner.token, &query).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0]["event_type"],
        "authentication.reauthorization_required"
    );
    assert_eq!(
        seen[0]["reason"],
        "invalid_grant: the provider refused the refresh token"
    );
    assert!(!raw.contains(CANARY));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_verification_saved_anyway_reaches_the_stream_with_its_outcome() {
    use credledger::app::{VerificationMode, VerificationSettings};
    use credledger::oauth::endpoint::EndpointPolicy;
    // A service whose verification endpoint is a closed local port: the check fails.
    let port = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let catalog = json!({"unreachable-token": {
        "name": "Unreachable", "api_version": "1", "auth_kind": "Token", "fields": [],
        "oauth": null, "scopes": [], "required_scopes": [],
        "verification": {"method": "GET", "url": format!("http://127.0.0.1:{port}/me")}
    }});
    let s = Server::start_with(|config| {
        config.app.extra_services = Some(catalog.to_string());
        config.app.extra_services_allow_http = true;
        config.app.verification = VerificationSettings {
            mode: VerificationMode::Required,
            policy: EndpointPolicy::insecure_for_development(),
            timeout: Duration::from_secs(1),
        };
    })
    .await;
    let token = "tok-canary-verification-91c2";
    let saved = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.editor.token,
            Some(
                json!({"name": "Unverified", "workspace": s.shared, "service": "unreachable-token",
                "fields": {"token": token}, "save_unverified": true}),
            ),
        )
        .await
        .expect(201);
    let id = saved.body["id"].as_str().expect("id").to_owned();
    let query = format!("?from=0&types=authentication.verification_recorded&authentication={id}");
    let (seen, raw) = events(&s, &s.editor.token, &query).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["outcome"], "failed");
    assert_eq!(seen[0]["reason"], "unreachable");
    assert!(!raw.contains(token), "the token in the stream");
    s.stop().await;
}
