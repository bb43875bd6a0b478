//! Webhook delivery latency: a real server and a real local receiver (an HTTP server in this
//! process). One writer creates authentications over HTTP, one at a time, while
//! `BENCH_WEBHOOK_SUBSCRIPTIONS` (default 5) subscriptions post every event to the receiver
//! and one auditor follows `GET /v1/events`. For each create it takes the time from the
//! write's answer (the event is durable) to the receiver getting its `authentication.created`
//! (every subscription's delivery), and, in the same run as the baseline, to the event stream
//! showing it. At each size of `BENCH_WEBHOOK_CREATES` (comma-separated, default `200,2000`,
//! ten times apart) prints one JSON line: p50/p99 of the write, of the stream and of the
//! webhook delivery, and the ratio of webhook to stream.
//! Run: `cargo bench --locked --bench webhook_latency`.

#[path = "../tests/http_support/mod.rs"]
mod http_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use credledger::oauth::endpoint::EndpointPolicy;
use http_support::Server;
use serde_json::{json, Value};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// When each authentication's creation reached the receiver, once per subscription.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    if let Ok(event) = serde_json::from_slice::<Value>(&body) {
        if event["event_type"] == "authentication.created" {
            if let Some(id) = event["authentication"].as_str() {
                arrivals
                    .lock()
                    .expect("arrivals")
                    .entry(id.to_owned())
                    .or_default()
                    .push(now);
            }
        }
    }
    StatusCode::OK
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn millis(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    (percentile(&values, 50.0), percentile(&values, 99.0))
}

fn main() {
    let subscriptions = env_usize("BENCH_WEBHOOK_SUBSCRIPTIONS", 5);
    let sizes: Vec<usize> = std::env::var("BENCH_WEBHOOK_CREATES")
        .unwrap_or_else(|_| "200,2000".to_owned())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    for creates in sizes {
        run(subscriptions, creates);
    }
}

fn run(subscriptions: usize, creates: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let s = Server::start_with(|config| {
            config.app.webhooks.policy = EndpointPolicy::insecure_for_development();
        })
        .await;
        let arrivals: Arrivals = Arc::default();
        let receiver = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(arrivals.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, receiver).await;
        });
        for _ in 0..subscriptions {
            s.call(
                reqwest::Method::POST,
                "/v1/webhooks",
                &s.owner.token,
                Some(json!({"url": url, "event_types": ["authentication.created"]})),
            )
            .await
            .expect(201);
        }
        // The baseline: the same events on the stream.
        let streamed: Arrivals = Arc::default();
        let stream = s
            .client
            .get(format!("{}/v1/events?types=authentication.created", s.base))
            .bearer_auth(&s.auditor_token)
            .send()
            .await
            .expect("stream");
        let follower = {
            let streamed = streamed.clone();
            tokio::spawn(async move {
                let mut stream = stream;
                let mut partial = String::new();
                while let Ok(Some(chunk)) = stream.chunk().await {
                    let now = Instant::now();
                    partial.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = partial.find('\n') {
                        let line: String = partial.drain(..=end).collect();
                        if let Some(data) = line.strip_prefix("data: ") {
                            if let Ok(event) = serde_json::from_str::<Value>(data) {
                                if let Some(id) = event["authentication"].as_str() {
                                    streamed
                                        .lock()
                                        .expect("streamed")
                                        .entry(id.to_owned())
                                        .or_default()
                                        .push(now);
                                }
                            }
                        }
                    }
                }
            })
        };
        let mut acknowledged = Vec::with_capacity(creates);
        let mut writes = Vec::with_capacity(creates);
        let started = Instant::now();
        for n in 0..creates {
            let sent = Instant::now();
            let answer = s
                .call(
                    reqwest::Method::POST,
                    "/v1/authentications",
                    &s.owner.token,
                    Some(
                        json!({"name": format!("bench {n}"), "workspace": s.owner.personal,
                        "service": "airtable", "fields": {"token": "t"}}),
                    ),
                )
                .await
                .expect(201);
            let at = Instant::now();
            writes.push((at - sent).as_secs_f64() * 1000.0);
            acknowledged.push((answer.body["id"].as_str().expect("id").to_owned(), at));
        }
        let wrote_for = started.elapsed();
        // Every delivery, at most a minute more.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = {
                let arrivals = arrivals.lock().expect("arrivals");
                acknowledged
                    .iter()
                    .all(|(id, _)| arrivals.get(id).is_some_and(|a| a.len() >= subscriptions))
            };
            if done || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        follower.abort();
        let (arrivals, streamed) = (
            arrivals.lock().expect("arrivals").clone(),
            streamed.lock().expect("streamed").clone(),
        );
        let mut hook = Vec::new();
        let mut sse = Vec::new();
        let mut missing = 0usize;
        for (id, at) in &acknowledged {
            match arrivals.get(id) {
                Some(times) if times.len() >= subscriptions => hook.extend(
                    times
                        .iter()
                        .map(|t| t.saturating_duration_since(*at).as_secs_f64() * 1000.0),
                ),
                _ => missing += 1,
            }
            if let Some(first) = streamed.get(id).and_then(|t| t.first()) {
                sse.push(first.saturating_duration_since(*at).as_secs_f64() * 1000.0);
            }
        }
        let (write_p50, write_p99) = millis(writes);
        let (sse_p50, sse_p99) = millis(sse);
        let (hook_p50, hook_p99) = millis(hook);
        println!(
            "{}",
            json!({
                "bench": "webhook_latency",
                "creates": creates,
                "subscriptions": subscriptions,
                "creates_per_second": creates as f64 / wrote_for.as_secs_f64(),
                "write_ms": {"p50": write_p50, "p99": write_p99},
                "stream_after_ack_ms": {"p50": sse_p50, "p99": sse_p99},
                "webhook_after_ack_ms": {"p50": hook_p50, "p99": hook_p99},
                "webhook_to_stream_p50": hook_p50 / sse_p50,
                "webhook_to_stream_p99": hook_p99 / sse_p99,
                "undelivered": missing,
            })
        );
        s.stop().await;
    });
}
