//! Dashboard page render times: a real server (`credledger::http::start`, in this process)
//! on a loopback socket, a signed-in dashboard session, and the first page of the
//! Authentications list (`GET /ui/authentications`, 50 rows, rendered from the live read
//! model) at two ledger sizes ten times apart: `DASH_SMALL` (default 1 000) authentications,
//! the baseline, then the same server grown to `DASH_LARGE` (default 10 000). At each size,
//! `DASH_RUNS` (default 300) sequential requests of: the list's first page, a search by name
//! (`?q=`) whose answer has one row, and the JSON API's first page
//! (`GET /v1/authentications?limit=50`) for comparison. Prints p50/p99 per case and size and
//! the large/small ratios as JSON lines on stdout; progress on stderr. Run with
//! `cargo bench --locked --bench dashboard_render` (a release build).

#[path = "../tests/http_support/mod.rs"]
mod http_support;
mod support;

use std::sync::Arc;
use std::time::Instant;

use http_support::Server;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{env_u64, micros, percentiles_us, r3, ratio};

/// Concurrent creators while populating.
const CREATORS: usize = 64;

/// The cases measured at each size: (name, path, whether it is a dashboard page).
fn cases() -> [(&'static str, &'static str, bool); 3] {
    [
        ("ui_list_first_page", "/ui/authentications", true),
        ("ui_search_one_row", "/ui/authentications?q=Jira+7", true),
        ("api_list_first_page", "/v1/authentications?limit=50", false),
    ]
}

/// Creates authentications `from..to` in the organization workspace through the API.
async fn populate(s: &Arc<Server>, from: usize, to: usize) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..CREATORS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in (from + task..to).step_by(CREATORS) {
                s.call(
                    Method::POST,
                    "/v1/authentications",
                    &s.owner.token,
                    Some(json!({
                        "name": format!("Jira {i}"),
                        "workspace": s.org_workspace,
                        "service": "jira",
                        "fields": {"username": "ann", "password": format!("pw-{i}"), "site": "acme.atlassian.net"},
                    })),
                )
                .await
                .expect(201);
            }
        }));
    }
    for task in tasks {
        task.await.expect("creator");
    }
    eprintln!(
        "created {} authentications in {:.1} s",
        to - from,
        started.elapsed().as_secs_f64()
    );
}

/// Signs in to the dashboard with the owner's token; answers the session cookie.
async fn sign_in(s: &Server, client: &reqwest::Client) -> String {
    let body = format!("token={}", s.owner.token);
    let answer = client
        .post(format!("{}/ui/sign-in", s.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("sign in");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/ui/authentications")
    );
    let cookie = answer
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("session cookie");
    cookie.split(';').next().unwrap_or_default().to_owned()
}

/// `runs` sequential GETs of `path`: (p50, p99) in milliseconds, after checking the answer
/// is the page asked for.
async fn measure(
    s: &Server,
    client: &reqwest::Client,
    cookie: &str,
    path: &str,
    dashboard: bool,
    runs: usize,
) -> (f64, f64) {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs + 10 {
        let request = client.get(format!("{}{path}", s.base));
        let request = if dashboard {
            request.header(COOKIE, cookie)
        } else {
            request.bearer_auth(&s.owner.token)
        };
        let started = Instant::now();
        let answer = request.send().await.expect("GET");
        let status = answer.status();
        let body = answer.bytes().await.expect("body");
        let took = started.elapsed();
        assert_eq!(status, StatusCode::OK, "{path}");
        if run == 0 && dashboard {
            let html = String::from_utf8_lossy(&body);
            assert!(html.contains("Jira "), "{path}: a page of authentications");
        }
        // The first requests warm connections and caches.
        if run >= 10 {
            samples.push(micros(took));
        }
    }
    percentiles_us(&mut samples).unwrap_or((f64::NAN, f64::NAN))
}

async fn measure_all(s: &Server, client: &reqwest::Client, size: usize, runs: usize) -> Vec<Value> {
    let cookie = sign_in(s, client).await;
    let mut out = Vec::new();
    for (name, path, dashboard) in cases() {
        let (p50, p99) = measure(s, client, &cookie, path, dashboard, runs).await;
        let figure = json!({
            "bench": "dashboard_render", "case": name, "authentications": size,
            "runs": runs, "p50_ms": r3(p50), "p99_ms": r3(p99),
        });
        println!("{figure}");
        out.push(figure);
    }
    out
}

fn main() {
    let small = usize::try_from(env_u64("DASH_SMALL", 1_000, 100, 100_000)).unwrap_or(1_000);
    let large = usize::try_from(env_u64("DASH_LARGE", 10_000, 200, 1_000_000)).unwrap_or(10_000);
    let runs = usize::try_from(env_u64("DASH_RUNS", 300, 20, 100_000)).unwrap_or(300);
    if large <= small {
        support::fail("DASH_LARGE must be larger than DASH_SMALL");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let s = Arc::new(Server::start().await);
        // One connection, reused: the figure is the server's, not the handshake's.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        populate(&s, 0, small).await;
        let baseline = measure_all(&s, &client, small, runs).await;
        populate(&s, small, large).await;
        let grown = measure_all(&s, &client, large, runs).await;
        for (before, after) in baseline.iter().zip(&grown) {
            let p = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            let summary = json!({
                "bench": "dashboard_render", "case": before["case"],
                "sizes": [small, large],
                "p50_ratio": ratio(p(after, "p50_ms"), p(before, "p50_ms")),
                "p99_ratio": ratio(p(after, "p99_ms"), p(before, "p99_ms")),
            });
            println!("{summary}");
            eprintln!(
                "{}: p50 {} -> {} ms, p99 {} -> {} ms ({small} -> {large} authentications)",
                before["case"],
                before["p50_ms"],
                after["p50_ms"],
                before["p99_ms"],
                after["p99_ms"]
            );
        }
        if let Ok(server) = Arc::try_unwrap(s) {
            server.stop().await;
        }
    });
}
