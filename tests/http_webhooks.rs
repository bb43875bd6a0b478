//! Webhooks over real sockets: a receiver (a real HTTP server in this test) that fails the
//! first deliveries and then gets every event its subscriber may see exactly once, in log
//! order, each with a valid Standard Webhooks signature; the delivery log; receivers on
//! private addresses refused unless the development flag is set; only the owner sees or
//! changes a subscription; removal stops deliveries; deliveries resume after a restart; a
//! receiver failing for the whole retry period disables the subscription and enabling it
//! resumes with the undelivered event; the per-user limit under racing subscribes; an
//! idempotent replay answers with the same subscription and secret.

mod http_support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use credledger::http::ServeConfig;
use credledger::oauth::endpoint::EndpointPolicy;
use http_support::Server;
use reqwest::Method;
use serde_json::{json, Value};

/// A secret value that must never reach a receiver.
const CANARY: &str = "canary-webhook-secret-51c9e2";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
    accepted: bool,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// The receiver's state: what to answer next and what it got.
#[derive(Default)]
struct Inbox {
    /// Statuses to answer before answering 200.
    failures: VecDeque<u16>,
    /// Fail every request while set.
    down: bool,
    got: Vec<Received>,
}

/// A real HTTP receiver on a loopback port.
#[derive(Clone)]
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut inbox = inbox.lock().expect("inbox");
    let status = if inbox.down {
        503
    } else {
        inbox.failures.pop_front().unwrap_or(200)
    };
    inbox.got.push(Received {
        id: text("webhook-id"),
        timestamp: text("webhook-timestamp"),
        signature: text("webhook-signature"),
        body: body.to_vec(),
        accepted: status == 200,
    });
    StatusCode::from_u16(status).expect("status")
}

impl Receiver {
    async fn start(failures: &[u16]) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox {
            failures: failures.iter().copied().collect(),
            ..Inbox::default()
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, inbox }
    }

    fn got(&self) -> Vec<Received> {
        self.inbox.lock().expect("inbox").got.clone()
    }

    fn accepted(&self) -> Vec<Received> {
        self.got().into_iter().filter(|r| r.accepted).collect()
    }

    fn set_down(&self, down: bool) {
        self.inbox.lock().expect("inbox").down = down;
    }

    /// Waits until the receiver accepted `count` deliveries (at most 30 s).
    async fn wait_for_accepted(&self, count: usize) -> Vec<Received> {
        for _ in 0..600 {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver accepted {} of {count} deliveries: {:?}",
            self.accepted().len(),
            self.got()
                .iter()
                .map(|r| r.json()["event_type"].clone())
                .collect::<Vec<_>>()
        );
    }
}

/// Fast retries and the development flag (the receiver is on loopback).
fn fast_local(config: &mut ServeConfig) {
    config.app.webhooks.policy = EndpointPolicy::insecure_for_development();
    config.app.webhooks.first_retry = Duration::from_millis(50);
    config.app.webhooks.max_retry_interval = Duration::from_millis(200);
}

async fn subscribe(s: &Server, token: &str, body: Value) -> Value {
    s.call(Method::POST, "/v1/webhooks", token, Some(body))
        .await
        .expect(201)
        .body
}

/// Checks a delivery's Standard Webhooks signature with the secret, independently of the
/// server's code.
fn signature_is_valid(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{}.{}.", received.id, received.timestamp).into_bytes();
    signed.extend_from_slice(&received.body);
    let expected = STANDARD.encode(ring::hmac::sign(&key, &signed).as_ref());
    received
        .signature
        .split(' ')
        .any(|s| s == format!("v1,{expected}"))
}

fn types_of(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| {
            r.json()["event_type"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_failing_receiver_then_gets_every_visible_event_once_in_order_signed() {
    let s = Server::start_with(fast_local).await;
    let receiver = Receiver::start(&[503, 500, 502]).await;
    let member = s.member.clone();
    let webhook = subscribe(
        &s,
        &member.token,
        json!({"url": receiver.url, "description": "alerts"}),
    )
    .await;
    let secret = webhook["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{webhook}");
    assert_eq!(webhook["status"], "active");
    let id = webhook["id"].as_str().expect("id").to_owned();

    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(
            s.create(
                &member,
                &member.personal,
                "airtable",
                json!({"token": CANARY}),
            )
            .await,
        );
    }
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{}", created[0]),
        &member.token,
        Some(json!({"name": "renamed for the receiver"})),
    )
    .await
    .expect(200);
    // Not the member's to see: never delivered to them.
    let outsider = s.outsider.clone();
    s.create(
        &outsider,
        &outsider.personal,
        "airtable",
        json!({"token": "t"}),
    )
    .await;

    // Each create is followed by its verification record (verification is off in tests:
    // `not_verifiable`).
    let mut expected = vec!["webhook.subscribed"];
    for _ in 0..5 {
        expected.extend([
            "authentication.created",
            "authentication.verification_recorded",
        ]);
    }
    expected.push("authentication.renamed");
    let accepted = receiver.wait_for_accepted(expected.len()).await;
    // A moment more: nothing else may come.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted_now = receiver.accepted();
    assert_eq!(
        accepted_now.len(),
        expected.len(),
        "{:?}",
        types_of(&accepted_now)
    );
    assert_eq!(types_of(&accepted), expected);
    let positions: Vec<u64> = accepted
        .iter()
        .map(|r| r.json()["position"].as_u64().expect("position"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "log order, no duplicate: {positions:?}"
    );
    let delivered_auths: Vec<String> = accepted
        .iter()
        .filter(|r| r.json()["event_type"] == "authentication.created")
        .map(|r| r.json()["authentication"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(delivered_auths, created);
    for received in receiver.got() {
        assert!(
            signature_is_valid(&secret, &received),
            "signature of {:?}",
            received.id
        );
        assert_eq!(received.id, received.json()["event_id"], "webhook-id");
        let sent_at: i64 = received.timestamp.parse().expect("timestamp");
        let now = chrono::Utc::now().timestamp();
        assert!((now - sent_at).abs() < 300, "timestamp {sent_at} vs {now}");
        assert!(
            !String::from_utf8_lossy(&received.body).contains(CANARY),
            "a secret in a delivery"
        );
    }
    // The three failures were attempts at the first event: the next waited for it.
    let got = receiver.got();
    assert_eq!(got.len(), expected.len() + 3);
    assert!(got[..4].iter().all(|r| r.id == got[0].id));
    assert!(got[..3].iter().all(|r| !r.accepted));

    let log = s
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?limit=200"),
            &member.token,
            None,
        )
        .await
        .expect(200)
        .body;
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), expected.len() + 3, "{log}");
    let oldest: Vec<&Value> = items.iter().rev().collect();
    for (attempt, status) in oldest[..3].iter().zip([503, 500, 502]) {
        assert_eq!(attempt["outcome"], "failed");
        assert_eq!(attempt["status"], status);
        assert!(attempt["next_attempt_at"].is_string(), "{attempt}");
        assert!(
            attempt["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&status.to_string()) && !r.contains("/hook")),
            "{attempt}"
        );
    }
    assert!(oldest[3..].iter().all(|a| a["outcome"] == "delivered"));
    let page = s
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?limit=4"),
            &member.token,
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(4));
    let before = page["next_before"].as_u64().expect("next page");
    let older = s
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?limit=200&before={before}"),
            &member.token,
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        older["items"].as_array().map(Vec::len),
        Some(expected.len() + 3 - 4)
    );

    let read = s
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}"),
            &member.token,
            None,
        )
        .await
        .expect(200)
        .body;
    // Past the last delivered event: the outsider's events after it were looked at too.
    assert_eq!(read["delivered_through"], s.head().await);
    assert!(read["delivered_through"].as_u64() > Some(positions[positions.len() - 1]));
    assert_eq!(read["failed_attempts"], 0);
    assert!(read.get("secret").is_none(), "the secret is shown once");
    assert_eq!(read["receiver"], receiver.url.trim_end_matches("/hook"));
    let listed = s
        .call(Method::GET, "/v1/webhooks", &member.token, None)
        .await
        .expect(200);
    assert!(!listed.text.contains("whsec_") && !listed.text.contains("/hook"));
    s.stop().await;
}

#[tokio::test]
async fn receivers_on_private_addresses_are_refused_unless_the_development_flag_is_set() {
    let s = Server::start().await;
    let token = s.member.token.clone();
    for (url, why) in [
        ("https://127.0.0.1:8443/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://localhost/hook", "local host name"),
        ("http://hooks.example.com/hook", "plain http"),
        (
            "https://user:pw-7d1e@hooks.example.com/hook",
            "user credentials",
        ),
        ("not a url", "not a URL"),
    ] {
        let answer = s
            .call(
                Method::POST,
                "/v1/webhooks",
                &token,
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(answer.status, 422, "{why}: {}", answer.text);
        assert_eq!(answer.body["field"], "url", "{why}: {}", answer.text);
        assert!(!answer.text.contains("pw-7d1e"), "{}", answer.text);
    }
    let long = format!("https://hooks.example.com/{}", "a".repeat(2100));
    let answer = s
        .call(
            Method::POST,
            "/v1/webhooks",
            &token,
            Some(json!({ "url": long })),
        )
        .await;
    assert_eq!(answer.status, 422, "{}", answer.text);
    // A public name is accepted (it is resolved, and checked again, at every delivery).
    let public = subscribe(
        &s,
        &token,
        json!({"url": "https://hooks.example.com/credledger?key=in-the-query"}),
    )
    .await;
    assert_eq!(public["receiver"], "https://hooks.example.com");
    assert!(!public.to_string().contains("in-the-query"));
    // Other bad input, each naming its field.
    for (body, field, status) in [
        (
            json!({"url": "https://a.example", "event_types": ["no.such"]}),
            "event_types",
            400,
        ),
        (
            json!({"url": "https://a.example", "workspace": s.outsider.personal}),
            "workspace",
            404,
        ),
        (
            json!({"url": "https://a.example", "description": "d".repeat(201)}),
            "description",
            422,
        ),
        (
            json!({"url": "https://a.example", "colour": "red"}),
            "colour",
            422,
        ),
    ] {
        let answer = s
            .call(Method::POST, "/v1/webhooks", &token, Some(body))
            .await;
        assert_eq!(answer.status, status, "{}", answer.text);
        assert_eq!(answer.body["field"], field, "{}", answer.text);
    }
    s.stop().await;

    // With the development flag, a receiver on this machine is accepted.
    let dev = Server::start_with(fast_local).await;
    let receiver = Receiver::start(&[]).await;
    subscribe(&dev, &dev.member.token, json!({ "url": receiver.url })).await;
    let got = receiver.wait_for_accepted(1).await;
    assert_eq!(types_of(&got), ["webhook.subscribed"]);
    dev.stop().await;
}

#[tokio::test]
async fn only_the_owner_sees_or_changes_a_subscription() {
    let s = Server::start().await;
    let mine = subscribe(
        &s,
        &s.member.token,
        json!({"url": "https://hooks.example.com/a"}),
    )
    .await;
    let id = mine["id"].as_str().expect("id");
    let missing = uuid::Uuid::now_v7().to_string();
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::GET, "/deliveries"),
        (Method::DELETE, ""),
        (Method::POST, "/enable"),
    ] {
        let hidden = s
            .call(
                method.clone(),
                &format!("/v1/webhooks/{id}{suffix}"),
                &s.owner.token,
                None,
            )
            .await;
        let absent = s
            .call(
                method.clone(),
                &format!("/v1/webhooks/{missing}{suffix}"),
                &s.owner.token,
                None,
            )
            .await;
        assert_eq!(hidden.status, 404, "{method} {suffix}: {}", hidden.text);
        assert_eq!(hidden.body, absent.body, "hidden answers like missing");
    }
    let listed = s
        .call(Method::GET, "/v1/webhooks", &s.owner.token, None)
        .await
        .expect(200);
    assert_eq!(listed.body, json!([]));
    for token in [&s.runner_token, &s.auditor_token] {
        let answer = s
            .call(
                Method::POST,
                "/v1/webhooks",
                token,
                Some(json!({"url": "https://hooks.example.com/a"})),
            )
            .await;
        assert_eq!(answer.status, 403, "{}", answer.text);
    }
    // The owner may enable only what the system disabled.
    let active = s
        .call(
            Method::POST,
            &format!("/v1/webhooks/{id}/enable"),
            &s.member.token,
            None,
        )
        .await;
    assert_eq!(active.status, 409, "{}", active.text);
    s.stop().await;
}

#[tokio::test]
async fn removing_a_subscription_stops_deliveries() {
    let s = Server::start_with(fast_local).await;
    let receiver = Receiver::start(&[]).await;
    let member = s.member.clone();
    let webhook = subscribe(&s, &member.token, json!({ "url": receiver.url })).await;
    let id = webhook["id"].as_str().expect("id");
    receiver.wait_for_accepted(1).await;
    s.call(
        Method::DELETE,
        &format!("/v1/webhooks/{id}"),
        &member.token,
        None,
    )
    .await
    .expect(204);
    s.create(&member, &member.personal, "airtable", json!({"token": "t"}))
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(types_of(&receiver.got()), ["webhook.subscribed"]);
    for method in [Method::GET, Method::DELETE] {
        s.call(method, &format!("/v1/webhooks/{id}"), &member.token, None)
            .await
            .expect(404);
    }
    s.stop().await;
}

#[tokio::test]
async fn deliveries_resume_after_a_restart_with_nothing_lost() {
    let mut s = Server::start_with(fast_local).await;
    let receiver = Receiver::start(&[]).await;
    receiver.set_down(true);
    let member = s.member.clone();
    let webhook = subscribe(
        &s,
        &member.token,
        json!({"url": receiver.url, "event_types": ["authentication.created"]}),
    )
    .await;
    let id = webhook["id"].as_str().expect("id").to_owned();
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(
            s.create(&member, &member.personal, "airtable", json!({"token": "t"}))
                .await,
        );
    }
    // Some attempts failed before the restart.
    for _ in 0..200 {
        if !receiver.got().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!receiver.got().is_empty(), "an attempt before the restart");
    s.restart_with(fast_local).await;
    receiver.set_down(false);
    let accepted = receiver.wait_for_accepted(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.accepted().len(), 3);
    let delivered: Vec<String> = accepted
        .iter()
        .map(|r| r.json()["authentication"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(delivered, created, "every event once, in order");
    let read = s
        .call(
            Method::GET,
            &format!("/v1/webhooks/{id}"),
            &member.token,
            None,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(read["failed_attempts"], 0, "{read}");
    s.stop().await;
}

#[tokio::test]
async fn a_receiver_failing_for_the_whole_retry_period_disables_it_until_enabled() {
    let adjust = |config: &mut ServeConfig| {
        fast_local(config);
        config.app.webhooks.retry_for = Duration::from_millis(600);
    };
    let s = Server::start_with(adjust).await;
    let receiver = Receiver::start(&[]).await;
    receiver.set_down(true);
    let member = s.member.clone();
    let webhook = subscribe(&s, &member.token, json!({ "url": receiver.url })).await;
    let id = webhook["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/webhooks/{id}");
    let mut read = Value::Null;
    for _ in 0..200 {
        read = s
            .call(Method::GET, &path, &member.token, None)
            .await
            .expect(200)
            .body;
        if read["status"] == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(read["status"], "disabled", "{read}");
    assert!(
        read["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("503")),
        "{read}"
    );
    let attempts = receiver.got().len();
    assert!(attempts >= 3, "retried before giving up: {attempts}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.got().len(), attempts, "no attempt while disabled");

    receiver.set_down(false);
    let enabled = s
        .call(Method::POST, &format!("{path}/enable"), &member.token, None)
        .await
        .expect(200)
        .body;
    assert_eq!(enabled["status"], "active");
    let accepted = receiver.wait_for_accepted(3).await;
    // The event that was not delivered first, then the disable and the enable themselves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        types_of(&accepted),
        ["webhook.subscribed", "webhook.disabled", "webhook.enabled"]
    );
    s.stop().await;
}

#[tokio::test]
async fn a_replayed_subscribe_answers_the_same_and_the_limit_holds_under_races() {
    let s = Server::start().await;
    let token = s.editor.token.clone();
    let key = [("idempotency-key", "subscribe-once")];
    let body = json!({"url": "https://hooks.example.com/once"});
    let first = s
        .call_with(
            Method::POST,
            "/v1/webhooks",
            Some(&token),
            Some(body.clone()),
            &key,
        )
        .await
        .expect(201);
    let again = s
        .call_with(Method::POST, "/v1/webhooks", Some(&token), Some(body), &key)
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(first.body["secret"], again.body["secret"]);

    // 40 racing subscribes by one user: exactly as many land as the limit allows.
    let racers = (0..40).map(|n| {
        let token = token.clone();
        let client = s.client.clone();
        let base = s.base.clone();
        tokio::spawn(async move {
            client
                .post(format!("{base}/v1/webhooks"))
                .bearer_auth(token)
                .json(&json!({"url": format!("https://hooks.example.com/{n}")}))
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.expect("racer"));
    }
    let landed = statuses.iter().filter(|&&s| s == 201).count();
    assert_eq!(landed, 19, "20 at most, one was there: {statuses:?}");
    assert!(statuses.iter().all(|&s| s == 201 || s == 422));
    let listed = s
        .call(Method::GET, "/v1/webhooks", &token, None)
        .await
        .expect(200);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(20));
    s.stop().await;
}

#[tokio::test]
async fn a_deactivated_owners_subscription_delivers_nothing() {
    let s = Server::start_with(fast_local).await;
    let receiver = Receiver::start(&[]).await;
    let editor = s.editor.clone();
    subscribe(
        &s,
        &editor.token,
        json!({"url": receiver.url, "workspace": s.shared, "event_types": ["authentication.created"]}),
    )
    .await;
    let owner = s.owner.clone();
    let before = s
        .create(&owner, &s.shared, "airtable", json!({"token": "t"}))
        .await;
    let got = receiver.wait_for_accepted(1).await;
    assert_eq!(got[0].json()["authentication"], before.as_str());
    s.call(
        Method::POST,
        &format!("/v1/users/{}/deactivate", editor.id),
        &owner.token,
        Some(json!({})),
    )
    .await
    .expect(200);
    s.create(&owner, &s.shared, "airtable", json!({"token": "t"}))
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.got().len(),
        1,
        "nothing for a deactivated owner: {:?}",
        types_of(&receiver.got())
    );
    s.stop().await;
}
