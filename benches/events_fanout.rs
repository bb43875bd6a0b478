//! Event stream fan-out: a real server, `BENCH_SUBSCRIBERS` (default 100) auditors following
//! `GET /v1/events` over real sockets while `BENCH_WRITERS` (default 16) writers create
//! authentications over HTTP (two events each), at each size of `BENCH_CREATES`
//! (comma-separated, default `1000,10000`: 2 000 and 20 000 events, ten times apart).
//! Prints, as JSON lines per size, the append rate (events made durable per second) and, in
//! the same run, the fan-out rate (events delivered per second, summed over every
//! subscriber, until the slowest subscriber had the last event) and their ratio.
//! Run: `cargo bench --locked --bench events_fanout`.

#[path = "../tests/http_support/mod.rs"]
mod http_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use credledger::app::EventStreamSettings;
use http_support::Server;
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Reads one stream until it has seen position `last` (sent once the writers are done);
/// answers how many events it got and when it got the last one.
async fn follow(
    mut response: reqwest::Response,
    mut last: tokio::sync::watch::Receiver<u64>,
) -> (u64, Instant) {
    let mut events = 0u64;
    let mut highest = 0u64;
    let mut partial = String::new();
    loop {
        let target = *last.borrow();
        if target > 0 && highest >= target {
            return (events, Instant::now());
        }
        // Woken by the target too: a follower that already has everything must not wait
        // for the next chunk (a heartbeat, 15 s away) to notice.
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            _ = last.changed() => continue,
        };
        let Ok(Some(chunk)) = chunk else {
            return (events, Instant::now());
        };
        partial.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            if let Some(id) = line.strip_prefix("id: ") {
                events += 1;
                highest = id.trim().parse().unwrap_or(highest);
            }
        }
    }
}

fn main() {
    let subscribers = env_usize("BENCH_SUBSCRIBERS", 100);
    let writers = env_usize("BENCH_WRITERS", 16);
    let sizes: Vec<usize> = std::env::var("BENCH_CREATES")
        .unwrap_or_else(|_| "1000,10000".to_owned())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    for creates in sizes {
        run(subscribers, writers, creates);
    }
}

fn run(subscribers: usize, writers: usize, creates: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let s = Arc::new(
            Server::start_with(|c| {
                c.app.events = EventStreamSettings {
                    heartbeat: Duration::from_secs(15),
                    client_buffer: 1024,
                    live_backlog: 65_536,
                    max_streams: subscribers + 8,
                    client_stall: Duration::from_secs(30),
                }
            })
            .await,
        );
        let (last_tx, last_rx) = tokio::sync::watch::channel(0u64);
        let mut followers = Vec::new();
        for _ in 0..subscribers {
            let response = s
                .client
                .get(format!("{}/v1/events", s.base))
                .bearer_auth(&s.auditor_token)
                .send()
                .await
                .expect("stream");
            assert_eq!(response.status(), 200);
            followers.push(tokio::spawn(follow(response, last_rx.clone())));
        }
        let head_before = s.head().await;
        let started = Instant::now();
        let per_writer = creates / writers.max(1);
        let mut tasks = Vec::new();
        for _ in 0..writers {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_writer {
                    s.create(&s.editor, &s.shared, "airtable", json!({"token": "t"}))
                        .await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
        let appended_in = started.elapsed();
        let head_after = s.head().await;
        let appended = head_after - head_before;
        last_tx.send_replace(head_after);
        let mut delivered = 0u64;
        let mut slowest = started;
        for follower in followers {
            let (events, at) = follower.await.expect("follower");
            delivered += events;
            slowest = slowest.max(at);
        }
        let fanned_in = slowest.duration_since(started);
        println!(
            "{}",
            json!({
                "bench": "events_append_baseline",
                "events": appended,
                "writers": writers,
                "seconds": appended_in.as_secs_f64(),
                "events_per_second": appended as f64 / appended_in.as_secs_f64(),
            })
        );
        println!(
            "{}",
            json!({
                "bench": "events_sse_fanout",
                "subscribers": subscribers,
                "events_per_subscriber": appended,
                "delivered": delivered,
                "complete": delivered == appended * subscribers as u64,
                "seconds_until_slowest_had_all": fanned_in.as_secs_f64(),
                "delivered_events_per_second": delivered as f64 / fanned_in.as_secs_f64(),
                "delivered_per_appended": (delivered as f64 / fanned_in.as_secs_f64())
                    / (appended as f64 / appended_in.as_secs_f64()),
            })
        );
        match Arc::try_unwrap(s) {
            Ok(server) => server.stop().await,
            Err(_) => eprintln!("server still shared; not stopped"),
        }
    });
}
