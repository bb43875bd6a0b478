//! Settings changes are verified, over HTTP on a real server, against a local "provider API"
//! (axum on 127.0.0.1) that answers 200 to known-good credentials and 401 otherwise, always
//! with a canary in its body, and counts its calls. The server's catalog gets extra services
//! whose verification URLs point at it, under the development endpoint policy.
//!
//! Cases: a verified create (recorded in history, replayed under its `Idempotency-Key`
//! without a second call, Bearer presented); a wrong token refused with 422 naming
//! `verification` and the status, nothing appended, no secret echoed; the same saved with
//! `save_unverified: true`; Basic presented as Basic with a kept password opened for the
//! call; unreachable and slow services refused without a status; POST endpoints; services
//! without an endpoint, kinds that cannot be presented (OAuth1) and the operator's `off`
//! answered or recorded as `not_verifiable`; the production policy refusing the local
//! endpoint before any call; a change landing during the check making the checked one retry
//! (`409`, nothing of it appended); and the provider's body never reaching an answer, the
//! TRACE log or the data directory.

mod http_support;
mod leak_check;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use credledger::app::{VerificationMode, VerificationSettings};
use credledger::oauth::endpoint::EndpointPolicy;
use http_support::{Answer, Server};
use leak_check::{assert_no_secret_in_files, captured_logs, logged_text};
use reqwest::Method;
use serde_json::{json, Value};

const GOOD_TOKEN: &str = "tok-GOOD-CANARY-7f3a91";
const BAD_TOKEN: &str = "tok-BAD-CANARY-c04d22";
const BASIC_USER: &str = "alice";
const GOOD_PASSWORD: &str = "pw-GOOD-CANARY-55e0b7";
const BAD_PASSWORD: &str = "pw-BAD-CANARY-91aa03";
/// Part of every answer the provider gives: it must never travel further than the socket.
const BODY_CANARY: &str = "PROVIDER-BODY-CANARY-3b8e";

/// The local provider API.
struct Provider {
    port: u16,
    state: Arc<ProviderState>,
}

#[derive(Default)]
struct ProviderState {
    calls: AtomicUsize,
    /// `/delayed` answers only once the test opens this.
    gate: tokio::sync::Notify,
    /// The `Authorization` scheme of every call (`Bearer`, `Basic`, or empty).
    schemes: Mutex<Vec<String>>,
}

impl ProviderState {
    fn record(&self, headers: &HeaderMap) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let value = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let scheme = value.split(' ').next().unwrap_or_default().to_owned();
        self.schemes.lock().expect("lock").push(scheme);
        value
    }
}

fn answer_with(ok: bool) -> (StatusCode, String) {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    (
        status,
        format!("{{\"ok\": {ok}, \"debug\": \"{BODY_CANARY}\"}}"),
    )
}

async fn bearer(
    State(state): State<Arc<ProviderState>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let value = state.record(&headers);
    answer_with(value == format!("Bearer {GOOD_TOKEN}"))
}

async fn basic(
    State(state): State<Arc<ProviderState>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let value = state.record(&headers);
    let good =
        base64::engine::general_purpose::STANDARD.encode(format!("{BASIC_USER}:{GOOD_PASSWORD}"));
    answer_with(value == format!("Basic {good}"))
}

async fn delayed(
    State(state): State<Arc<ProviderState>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let value = state.record(&headers);
    state.gate.notified().await;
    answer_with(value == format!("Bearer {GOOD_TOKEN}"))
}

async fn slow(State(state): State<Arc<ProviderState>>, headers: HeaderMap) -> (StatusCode, String) {
    state.record(&headers);
    tokio::time::sleep(Duration::from_secs(10)).await;
    answer_with(true)
}

impl Provider {
    async fn start() -> Provider {
        let state = Arc::new(ProviderState::default());
        let app = Router::new()
            .route("/me", get(bearer))
            .route("/auth.test", post(bearer))
            .route("/basic", get(basic))
            .route("/slow", get(slow))
            .route("/delayed", get(delayed))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the provider");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Provider { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    fn schemes(&self) -> Vec<String> {
        self.state.schemes.lock().expect("lock").clone()
    }
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

fn service(kind: &str, fields: Value, verification: Value) -> Value {
    json!({
        "name": format!("Verified {kind}"), "api_version": "1", "auth_kind": kind,
        "fields": fields, "oauth": null, "scopes": [], "required_scopes": [],
        "verification": verification
    })
}

/// A server whose catalog has services verified at `provider`, with verification `mode`,
/// under the development endpoint policy.
async fn setup(mode: VerificationMode) -> (Provider, Server) {
    let policy = EndpointPolicy::insecure_for_development();
    setup_with(mode, policy, Duration::from_secs(1)).await
}

async fn setup_with(
    mode: VerificationMode,
    policy: EndpointPolicy,
    timeout: Duration,
) -> (Provider, Server) {
    captured_logs();
    let provider = Provider::start().await;
    let unreachable = format!("http://127.0.0.1:{}/me", closed_port().await);
    let catalog = json!({
        "verified-token": service("Token", json!([]), json!({"method": "GET", "url": provider.url("/me")})),
        "verified-post": service("Token", json!([]), json!({"method": "POST", "url": provider.url("/auth.test")})),
        "verified-basic": service(
            "Basic",
            json!([{"name": "note", "secret": false, "required": false, "format": "Text", "description": "A note"}]),
            json!({"method": "GET", "url": provider.url("/basic")})
        ),
        "slow-token": service("Token", json!([]), json!({"method": "GET", "url": provider.url("/slow")})),
        "delayed-token": service("Token", json!([]), json!({"method": "GET", "url": provider.url("/delayed")})),
        "unreachable-token": service("Token", json!([]), json!({"method": "GET", "url": unreachable})),
        "unchecked-token": service("Token", json!([]), Value::Null),
    });
    let server = Server::start_with(|config| {
        config.app.extra_services = Some(catalog.to_string());
        config.app.extra_services_allow_http = true;
        config.app.verification = VerificationSettings {
            mode,
            policy,
            timeout,
        };
    })
    .await;
    (provider, server)
}

async fn create(s: &Server, service: &str, fields: Value, extra: Value) -> Answer {
    let mut body = json!({
        "name": format!("{service} {}", uuid::Uuid::now_v7()),
        "workspace": s.shared,
        "service": service,
        "fields": fields,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    s.call(
        Method::POST,
        "/v1/authentications",
        &s.editor.token,
        Some(body),
    )
    .await
}

async fn reauthenticate(s: &Server, id: &str, body: Value) -> Answer {
    s.call(
        Method::POST,
        &format!("/v1/authentications/{id}/reauthenticate"),
        &s.editor.token,
        Some(body),
    )
    .await
}

async fn history(s: &Server, id: &str) -> Vec<Value> {
    s.call(
        Method::GET,
        &format!("/v1/authentications/{id}/history"),
        &s.editor.token,
        None,
    )
    .await
    .expect(200)
    .body
    .as_array()
    .expect("history")
    .clone()
}

fn types(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .map(|h| h["event_type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn id_of(answer: &Answer) -> String {
    answer.body["id"].as_str().expect("id").to_owned()
}

/// The verification detail of the last history entry.
fn last_verification(history: &[Value]) -> Value {
    let last = history.last().expect("an entry");
    assert_eq!(last["event_type"], "authentication.verification_recorded");
    last["detail"]["VerificationRecorded"].clone()
}

fn assert_refused(answer: &Answer, needle: &str) {
    assert_eq!(answer.status.as_u16(), 422, "{}", answer.text);
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(answer.body["field"], "verification", "{}", answer.text);
    assert!(
        answer.body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/verification-failed")),
        "{}",
        answer.text
    );
    let reason = answer.body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(needle), "{reason}");
    assert!(reason.contains("save_unverified: true"), "{reason}");
    for canary in [
        GOOD_TOKEN,
        BAD_TOKEN,
        GOOD_PASSWORD,
        BAD_PASSWORD,
        BODY_CANARY,
    ] {
        assert!(!answer.text.contains(canary), "{}", answer.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_with_good_material_is_verified_recorded_and_replayed_without_a_second_call() {
    let (provider, s) = setup(VerificationMode::Required).await;
    let body = json!({
        "name": "CRM main", "workspace": s.shared, "service": "verified-token",
        "fields": {"token": GOOD_TOKEN},
    });
    let first = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.editor.token),
            Some(body.clone()),
            &[("idempotency-key", "verified-create-1")],
        )
        .await
        .expect(201);
    assert_eq!(provider.calls(), 1);
    assert_eq!(provider.schemes(), vec!["Bearer"]);
    let verification = &first.body["verification"];
    assert_eq!(verification["outcome"], "verified", "{}", first.text);
    assert_eq!(verification["status"], 200);
    assert_eq!(verification["host"], "127.0.0.1");
    assert_eq!(verification["saved_unverified"], false);
    // Created, then the record of its check: one append, two versions.
    assert_eq!(first.body["version"], 2);
    assert_eq!(first.header("etag").as_deref(), Some("\"2\""));
    assert!(!first.text.contains(GOOD_TOKEN) && !first.text.contains(BODY_CANARY));

    let id = id_of(&first);
    let entries = history(&s, &id).await;
    assert_eq!(
        types(&entries),
        vec![
            "authentication.created",
            "authentication.verification_recorded"
        ]
    );
    assert_eq!(
        entries[0]["position"].as_u64().map(|p| p + 1),
        entries[1]["position"].as_u64()
    );
    assert_eq!(
        last_verification(&entries),
        json!({"outcome": "verified", "host": "127.0.0.1", "status": 200, "reason": null, "saved_unverified": false})
    );

    // The replay answers what the first attempt recorded and calls nobody.
    let head = s.head().await;
    let replay = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.editor.token),
            Some(body),
            &[("idempotency-key", "verified-create-1")],
        )
        .await
        .expect(201);
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.body, first.body);
    assert_eq!(provider.calls(), 1, "a replay calls no service");
    assert_eq!(s.head().await, head, "a replay appends nothing");

    // A POST endpoint gets a POST (with the same Bearer presentation).
    let posted = create(&s, "verified-post", json!({"token": GOOD_TOKEN}), json!({})).await;
    let posted = posted.expect(201);
    assert_eq!(posted.body["verification"]["outcome"], "verified");
    assert_eq!(provider.calls(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_naming_the_status_unless_saved_unverified() {
    let (provider, s) = setup(VerificationMode::Required).await;
    let created = create(
        &s,
        "verified-token",
        json!({"token": GOOD_TOKEN}),
        json!({}),
    )
    .await
    .expect(201);
    let id = id_of(&created);
    let head = s.head().await;

    let refused = reauthenticate(&s, &id, json!({"fields": {"token": BAD_TOKEN}})).await;
    assert_refused(&refused, "answered 401");
    assert_eq!(provider.calls(), 2);
    assert_eq!(s.head().await, head, "nothing appended");
    let view = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{id}"),
            &s.editor.token,
            None,
        )
        .await
        .expect(200);
    assert_eq!(view.body["version"], 2, "the authentication is unchanged");
    assert_eq!(history(&s, &id).await.len(), 2);

    // A wrong token on create is refused the same way, and nothing is created.
    let refused = create(&s, "verified-token", json!({"token": BAD_TOKEN}), json!({})).await;
    assert_refused(&refused, "answered 401");
    assert_eq!(s.head().await, head);

    // Asked explicitly, the change is saved and the failure recorded with it.
    let saved = reauthenticate(
        &s,
        &id,
        json!({"fields": {"token": BAD_TOKEN}, "save_unverified": true}),
    )
    .await
    .expect(200);
    assert_eq!(
        saved.body["verification"],
        json!({"outcome": "failed", "host": "127.0.0.1", "status": 401, "reason": "the service answered 401", "saved_unverified": true})
    );
    assert_eq!(saved.body["version"], 4);
    assert!(!saved.text.contains(BAD_TOKEN) && !saved.text.contains(BODY_CANARY));
    let entries = history(&s, &id).await;
    assert_eq!(
        types(&entries)[2..],
        [
            "authentication.reauthenticated",
            "authentication.verification_recorded"
        ]
    );
    let detail = last_verification(&entries);
    assert_eq!(detail["outcome"], "failed");
    assert_eq!(detail["status"], 401);
    assert_eq!(detail["saved_unverified"], true);

    // Audit shows the record like any other change.
    let audit = s
        .call(
            Method::GET,
            &format!(
                "/v1/audit?authentication={id}&type=authentication.verification_recorded&order=oldest"
            ),
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    let records = audit.body["items"].as_array().expect("records");
    assert_eq!(records.len(), 2, "{}", audit.text);
    assert_eq!(
        records[0]["detail"]["VerificationRecorded"]["outcome"],
        "verified"
    );
    assert_eq!(records[1]["detail"]["VerificationRecorded"]["status"], 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_is_presented_as_basic_and_a_kept_password_is_opened_for_the_check() {
    let (provider, s) = setup(VerificationMode::Required).await;
    let fields = json!({"username": BASIC_USER, "password": BAD_PASSWORD});
    let refused = create(&s, "verified-basic", fields.clone(), json!({})).await;
    assert_refused(&refused, "answered 401");
    let saved = create(
        &s,
        "verified-basic",
        fields,
        json!({"save_unverified": true}),
    )
    .await
    .expect(201);
    assert_eq!(saved.body["verification"]["outcome"], "failed");
    let id = id_of(&saved);
    // A new password with the kept user name passes.
    let fixed = reauthenticate(&s, &id, json!({"fields": {"password": GOOD_PASSWORD}}))
        .await
        .expect(200);
    assert_eq!(
        fixed.body["verification"]["outcome"], "verified",
        "{}",
        fixed.text
    );
    // Only a plain field changes: the kept user name and the kept (sealed) password are
    // opened and presented, and the provider accepts them.
    let noted = reauthenticate(&s, &id, json!({"fields": {"note": "rotated in May"}}))
        .await
        .expect(200);
    assert_eq!(
        noted.body["verification"]["outcome"], "verified",
        "{}",
        noted.text
    );
    // A new user name with the kept password: the provider knows only alice.
    let renamed = reauthenticate(&s, &id, json!({"fields": {"username": "bob"}})).await;
    assert_refused(&renamed, "answered 401");
    assert_eq!(provider.calls(), 5);
    assert!(provider.schemes().iter().all(|s| s == "Basic"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_slow_services_refuse_the_change_without_a_status() {
    let (provider, s) = setup(VerificationMode::Required).await;
    let head = s.head().await;
    let refused = create(
        &s,
        "unreachable-token",
        json!({"token": GOOD_TOKEN}),
        json!({}),
    )
    .await;
    assert_refused(&refused, "unreachable");
    let slow = create(&s, "slow-token", json!({"token": GOOD_TOKEN}), json!({})).await;
    assert_refused(&slow, "timed out");
    assert_eq!(provider.calls(), 1, "the slow call reached the provider");
    assert_eq!(s.head().await, head, "nothing appended");

    let saved = create(
        &s,
        "unreachable-token",
        json!({"token": GOOD_TOKEN}),
        json!({"save_unverified": true}),
    )
    .await
    .expect(201);
    assert_eq!(
        saved.body["verification"],
        json!({"outcome": "failed", "host": "127.0.0.1", "status": null, "reason": "unreachable", "saved_unverified": true})
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_oauth1_and_the_operators_off_are_not_verifiable() {
    let (provider, s) = setup(VerificationMode::Required).await;
    // No endpoint: answered, not recorded.
    let unchecked = create(
        &s,
        "unchecked-token",
        json!({"token": BAD_TOKEN}),
        json!({}),
    )
    .await
    .expect(201);
    assert_eq!(
        unchecked.body["verification"],
        json!({"outcome": "not_verifiable", "host": null, "status": null, "reason": "the service defines no verification endpoint", "saved_unverified": false})
    );
    assert_eq!(unchecked.body["version"], 1);
    assert_eq!(
        types(&history(&s, &id_of(&unchecked)).await),
        vec!["authentication.created"]
    );
    // OAuth1 (Trello defines an endpoint on the internet): nothing is called, it is recorded.
    let oauth1 = create(
        &s,
        "trello",
        json!({"consumer_key": "ck", "consumer_secret": "cs", "token": "t", "token_secret": "ts"}),
        json!({}),
    )
    .await
    .expect(201);
    assert_eq!(oauth1.body["verification"]["outcome"], "not_verifiable");
    let detail = last_verification(&history(&s, &id_of(&oauth1)).await);
    assert!(
        detail["reason"]
            .as_str()
            .is_some_and(|r| r.contains("OAuth1")),
        "{detail}"
    );
    assert_eq!(provider.calls(), 0);
    s.stop().await;

    // Turned off by the operator: nothing is called, even a wrong token is saved.
    let (provider, s) = setup(VerificationMode::Off).await;
    let off = create(&s, "verified-token", json!({"token": BAD_TOKEN}), json!({}))
        .await
        .expect(201);
    assert_eq!(
        off.body["verification"],
        json!({"outcome": "not_verifiable", "host": null, "status": null, "reason": "turned off by the operator", "saved_unverified": false})
    );
    let id = id_of(&off);
    let detail = last_verification(&history(&s, &id).await);
    assert_eq!(detail["reason"], "turned off by the operator");
    let again = reauthenticate(&s, &id, json!({"fields": {"token": GOOD_TOKEN}}))
        .await
        .expect(200);
    assert_eq!(again.body["verification"]["outcome"], "not_verifiable");
    assert_eq!(provider.calls(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_answer_and_the_secrets_never_reach_answers_logs_or_the_data_directory() {
    let (provider, mut s) = setup(VerificationMode::Required).await;
    let mut answers = Vec::new();
    let created = create(
        &s,
        "verified-token",
        json!({"token": GOOD_TOKEN}),
        json!({}),
    )
    .await
    .expect(201);
    let id = id_of(&created);
    answers.push(created.text.clone());
    answers.push(
        reauthenticate(&s, &id, json!({"fields": {"token": BAD_TOKEN}}))
            .await
            .text,
    );
    answers.push(
        reauthenticate(
            &s,
            &id,
            json!({"fields": {"token": BAD_TOKEN}, "save_unverified": true}),
        )
        .await
        .expect(200)
        .text,
    );
    for path in [
        format!("/v1/authentications/{id}"),
        format!("/v1/authentications/{id}/history"),
        format!("/v1/audit?authentication={id}"),
    ] {
        answers.push(s.call(Method::GET, &path, &s.owner.token, None).await.text);
    }
    assert!(provider.calls() >= 3);
    for text in &answers {
        for canary in [GOOD_TOKEN, BAD_TOKEN, BODY_CANARY] {
            assert!(!text.contains(canary), "{canary} in {text}");
        }
    }
    s.shutdown().await;
    let logs = logged_text();
    assert!(
        logs.contains("verification of new credential material failed"),
        "the failure is logged (without values)"
    );
    for canary in [GOOD_TOKEN, BAD_TOKEN, BODY_CANARY] {
        assert!(!logs.contains(canary), "{canary} in the TRACE log");
    }
    assert_no_secret_in_files(
        &s.data_dir,
        &[
            GOOD_TOKEN.to_owned(),
            BAD_TOKEN.to_owned(),
            BODY_CANARY.to_owned(),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_policy_refuses_a_local_endpoint_before_any_call() {
    let strict = EndpointPolicy::strict();
    let (provider, s) =
        setup_with(VerificationMode::Required, strict, Duration::from_secs(1)).await;
    let refused = create(
        &s,
        "verified-token",
        json!({"token": GOOD_TOKEN}),
        json!({}),
    )
    .await;
    assert_refused(&refused, "refused by the outbound policy");
    assert!(
        refused.text.contains("https is required"),
        "{}",
        refused.text
    );
    assert_eq!(provider.calls(), 0, "nothing reached the local service");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_lands_during_the_check_makes_the_checked_change_retry() {
    let dev = EndpointPolicy::insecure_for_development();
    let (provider, s) = setup_with(VerificationMode::Required, dev, Duration::from_secs(30)).await;
    let created = {
        let creating = create(&s, "delayed-token", json!({"token": GOOD_TOKEN}), json!({}));
        let open = async {
            while provider.calls() < 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            provider.state.gate.notify_one();
        };
        tokio::join!(creating, open).0.expect(201)
    };
    let id = id_of(&created);
    let s = Arc::new(s);
    let checking = {
        let s = s.clone();
        let id = id.clone();
        tokio::spawn(async move {
            reauthenticate(&s, &id, json!({"fields": {"token": GOOD_TOKEN}})).await
        })
    };
    // While the service holds the check, a rename lands (no lock is held during the call).
    while provider.calls() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{id}"),
        &s.editor.token,
        Some(json!({"name": "renamed during the check"})),
    )
    .await
    .expect(200);
    provider.state.gate.notify_one();
    let answer = checking.await.expect("task");
    assert_eq!(answer.status.as_u16(), 409, "{}", answer.text);
    assert!(answer.text.contains("retry"), "{}", answer.text);
    assert_eq!(provider.calls(), 2);
    // Version 3 is the rename; nothing of the checked change landed.
    let entries = history(&s, &id).await;
    assert_eq!(
        types(&entries),
        vec![
            "authentication.created",
            "authentication.verification_recorded",
            "authentication.renamed"
        ]
    );
}
