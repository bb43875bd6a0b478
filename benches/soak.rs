//! Sustained mixed load over HTTP against the real release binary, sliced in time, so that
//! anything that degrades with the log's growth (throughput, latency, memory, disk) shows up.
//!
//! Starts `credledger serve` (the binary cargo built, `CARGO_BIN_EXE_credledger`) on a fresh
//! temporary data directory and key file on 127.0.0.1, creates `SOAK_AUTHS` authentications
//! and a workflow-runner token, then runs `SOAK_CLIENTS` concurrent keep-alive clients for
//! `SOAK_SECONDS`, each in a loop of (by default) 90 % audited resolves (`POST /v1/resolve`
//! as the runner), 4 % creates, 3 % re-authentications and 3 % renames of its own
//! authentications. With `SOAK_LIVE=steady` (the default) each create replaces the client's
//! oldest authentication, which is deleted and purged (two more requests, counted as
//! `retire`), so the live directory stays at `SOAK_AUTHS` as a long-running platform's does
//! and what the run measures is the growth of the log; `SOAK_LIVE=growing` keeps every
//! created authentication, so the live set grows by a few hundred a second. Every `SOAK_SLICE_SECONDS` it prints one JSON line: requests, requests/s,
//! p50/p99 latency, non-2xx answers by status, the server's RSS, the data directory's bytes
//! and the log's head position (from `GET /metrics`).
//!
//! Then it stops the server with SIGTERM, copies the data directory, restarts the server on
//! the original and times spawn-to-`/readyz`-200, runs `credledger rebuild-read-models` on the
//! copy (or says it is unavailable), runs `credledger verify`, and prints the summary with
//! the ratios of the issue: last/first slice requests/s (goal >= 0.8), last/first slice p99
//! (goal <= 1.5), total non-2xx (goal 0), RSS growth after the first slice (goal <= 100 MB).
//!
//! JSON lines on stdout, a human summary on stderr. All traffic goes to 127.0.0.1; every loop
//! is bounded by time and by count.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::{
    client, copy_dir, dir_bytes, env_flag, env_mix, env_u64, fail, free_bytes, head_position, mb,
    micros, percentiles_us, r3, ratio, rebuild_read_models, verify, CpuTimes, FirstStart, Server,
};

const OPS: [&str; 5] = ["resolve", "create", "reauthenticate", "rename", "retire"];
/// Index of the delete and purge requests that retire a replaced authentication.
const RETIRE: usize = 4;

/// What the clients measured since the last slice boundary.
#[derive(Default)]
struct Collected {
    /// Latency of every answered request (any status), microseconds.
    latencies: Vec<u32>,
    /// Latency of the resolves alone.
    resolve_latencies: Vec<u32>,
    /// Requests by operation (`OPS` order).
    by_op: [u64; 5],
    /// Non-2xx answers by status; 0 counts requests that got no answer (transport errors).
    non_2xx: BTreeMap<u16, u64>,
    /// The first non-2xx answer or error, for the human summary.
    first_problem: Option<String>,
}

struct Shared {
    base: String,
    boot: FirstStart,
    runner_token: String,
    collected: Mutex<Collected>,
}

impl Shared {
    fn record(&self, op: usize, latency: Duration, status: u16, problem: Option<String>) {
        let mut c = self.collected.lock().expect("collector lock");
        c.latencies.push(micros(latency));
        if op == 0 {
            c.resolve_latencies.push(micros(latency));
        }
        c.by_op[op] += 1;
        if !(200..300).contains(&status) {
            *c.non_2xx.entry(status).or_default() += 1;
            if c.first_problem.is_none() {
                c.first_problem = problem;
            }
        }
    }

    fn take(&self) -> Collected {
        std::mem::take(&mut *self.collected.lock().expect("collector lock"))
    }
}

/// One request: status (0 when there was no answer) and, for a non-2xx, what came back.
async fn send(request: reqwest::RequestBuilder) -> (u16, Option<String>, Option<Value>) {
    match request.send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            // Read the whole body so the connection goes back to the pool.
            let body = answer.bytes().await.unwrap_or_default();
            if (200..300).contains(&status) {
                (status, None, serde_json::from_slice(&body).ok())
            } else {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                (status, Some(format!("{status} {text}")), None)
            }
        }
        Err(e) => (0, Some(format!("no answer: {e}")), None),
    }
}

/// Deletes and purges an authentication that a create replaced, so that the live set stays the
/// same size: the directory of a long-running platform churns rather than grows without end.
async fn retire(http: &reqwest::Client, shared: &Shared, id: &str) {
    let base = &shared.base;
    for request in [
        http.delete(format!("{base}/v1/authentications/{id}")),
        http.post(format!("{base}/v1/authentications/{id}/purge")),
    ] {
        let started = Instant::now();
        let (status, problem, _) = send(request.bearer_auth(&shared.boot.admin_token)).await;
        shared.record(RETIRE, started.elapsed(), status, problem);
    }
}

async fn create_auth(
    http: &reqwest::Client,
    shared: &Shared,
    name: &str,
) -> (u16, Option<String>, Option<String>) {
    let (status, problem, body) = send(
        http.post(format!("{}/v1/authentications", shared.base))
            .bearer_auth(&shared.boot.admin_token)
            .json(&json!({"name": name, "workspace": shared.boot.org_workspace,
                "service": "airtable", "fields": {"token": format!("soak-{}", name.replace(' ', "-"))}})),
    )
    .await;
    let id = body.and_then(|b| b["id"].as_str().map(str::to_owned));
    (status, problem, id)
}

/// One client: a loop of mixed requests on its own authentications until the deadline (or
/// `max_requests`).
#[allow(clippy::too_many_arguments)]
async fn client_loop(
    shared: Arc<Shared>,
    index: usize,
    mut owned: Vec<String>,
    mix: Vec<u64>,
    steady: bool,
    deadline: Instant,
    max_requests: u64,
) {
    let http = client(2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(index as u64 + 1);
    let mut n = 0u64;
    while Instant::now() < deadline && n < max_requests {
        n += 1;
        let roll = rng.gen_range(0..100u64);
        let op = if roll < mix[0] {
            0
        } else if roll < mix[0] + mix[1] {
            1
        } else if roll < mix[0] + mix[1] + mix[2] {
            2
        } else {
            3
        };
        let id = owned[rng.gen_range(0..owned.len())].clone();
        let started = Instant::now();
        let (status, problem) = match op {
            0 => {
                let (s, p, _) = send(
                    http.post(format!("{}/v1/resolve", shared.base))
                        .bearer_auth(&shared.runner_token)
                        .json(&json!({"authentication": id,
                            "workspace": shared.boot.org_workspace,
                            "user": shared.boot.admin_user,
                            "template": {"h": "Bearer {$.auth.token}"}})),
                )
                .await;
                (s, p)
            }
            1 => {
                let (s, p, created) =
                    create_auth(&http, &shared, &format!("soak c{index} n{n}")).await;
                if let Some(created) = created {
                    owned.push(created);
                    if steady && owned.len() > 1 {
                        shared.record(op, started.elapsed(), s, p);
                        let oldest = owned.remove(0);
                        retire(&http, &shared, &oldest).await;
                        continue;
                    }
                }
                (s, p)
            }
            2 => {
                let (s, p, _) = send(
                    http.post(format!(
                        "{}/v1/authentications/{id}/reauthenticate",
                        shared.base
                    ))
                    .bearer_auth(&shared.boot.admin_token)
                    .json(&json!({"fields": {"token": format!("soak-{index}-{n}")}})),
                )
                .await;
                (s, p)
            }
            _ => {
                let (s, p, _) = send(
                    http.patch(format!("{}/v1/authentications/{id}", shared.base))
                        .bearer_auth(&shared.boot.admin_token)
                        .json(&json!({"name": format!("soak c{index} r{n}")})),
                )
                .await;
                (s, p)
            }
        };
        shared.record(op, started.elapsed(), status, problem);
    }
}

fn main() {
    let seconds = env_u64("SOAK_SECONDS", 600, 10, 7_200);
    let slice = env_u64("SOAK_SLICE_SECONDS", 30, 5, 600);
    if seconds < 2 * slice {
        fail("SOAK_SECONDS must be at least 2 x SOAK_SLICE_SECONDS (the first slice is the warm-up baseline)");
    }
    let clients = env_u64("SOAK_CLIENTS", 32, 1, 512) as usize;
    let auths = env_u64("SOAK_AUTHS", 256, 1, 100_000) as usize;
    let mix = env_mix("SOAK_MIX", &[90, 4, 3, 3]);
    let ready_timeout = Duration::from_secs(env_u64("SOAK_READY_TIMEOUT", 300, 5, 3_600));
    let rebuild_timeout = Duration::from_secs(env_u64("SOAK_REBUILD_TIMEOUT", 900, 5, 7_200));
    let keep = env_flag("SOAK_KEEP");
    let steady = match std::env::var("SOAK_LIVE").as_deref() {
        Err(_) | Ok("steady") => true,
        Ok("growing") => false,
        Ok(other) => fail(&format!(
            "SOAK_LIVE must be steady or growing, not {other:?}"
        )),
    };
    let slices = seconds / slice;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(Settings {
        slices,
        slice: Duration::from_secs(slice),
        clients,
        auths,
        mix,
        steady,
        ready_timeout,
        rebuild_timeout,
        keep,
    }));
}

struct Settings {
    slices: u64,
    slice: Duration,
    clients: usize,
    auths: usize,
    mix: Vec<u64>,
    /// Whether creates replace the oldest authentication (a live set of constant size).
    steady: bool,
    ready_timeout: Duration,
    rebuild_timeout: Duration,
    keep: bool,
}

/// One slice's figures, kept for the summary.
struct SliceFigures {
    rps: f64,
    p99_ms: f64,
    rss: Option<u64>,
}

async fn run(s: Settings) {
    let root = tempfile::Builder::new()
        .prefix("credledger-soak-")
        .tempdir()
        .expect("temp dir");
    let data_dir = root.path().join("data");
    let key_dir = root.path().join("keys");
    std::fs::create_dir_all(&key_dir).expect("key dir");
    let key_file = key_dir.join("master.key");
    let probe = client(4);

    // --- first start -----------------------------------------------------------------------
    let mut server = Server::spawn(&data_dir, &key_file, &root.path().join("serve-1.log"));
    let first_ready = server.wait_ready(&probe, s.ready_timeout).await;
    let boot = server.first_start();
    let runner = send(
        probe
            .post(format!("{}/v1/tokens", server.base))
            .bearer_auth(&boot.admin_token)
            .json(&json!({"kind": "runner", "name": "soak-runner", "label": "soak bench runner"})),
    )
    .await;
    let runner_token = match runner {
        (201, _, Some(body)) => body["token"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| fail("no token text in the runner token answer")),
        (status, problem, _) => fail(&format!(
            "creating the runner token answered {status}: {problem:?}"
        )),
    };
    let shared = Arc::new(Shared {
        base: server.base.clone(),
        boot,
        runner_token,
        collected: Mutex::new(Collected::default()),
    });
    let mut owned: Vec<Vec<String>> = vec![Vec::new(); s.clients];
    for i in 0..s.auths.max(s.clients) {
        match create_auth(&probe, &shared, &format!("soak seed {i}")).await {
            (201, _, Some(id)) => owned[i % s.clients].push(id),
            (status, problem, _) => fail(&format!(
                "creating seed authentication {i} answered {status}: {problem:?}"
            )),
        }
    }
    let seeded = head_position(&probe, &server.base).await.unwrap_or(0);
    eprintln!(
        "soak: server pid {} ready in {:.2} s; {} authentications, {} events; {} clients x {} slices of {} s, mix resolve/create/reauthenticate/rename = {:?} %, live set {}",
        server.pid,
        first_ready.as_secs_f64(),
        s.auths.max(s.clients),
        seeded,
        s.clients,
        s.slices,
        s.slice.as_secs(),
        s.mix,
        if s.steady { "steady (creates replace)" } else { "growing" }
    );

    // --- load ------------------------------------------------------------------------------
    let started = Instant::now();
    let deadline = started + s.slice * u32::try_from(s.slices).unwrap_or(u32::MAX);
    // A count bound besides the time bound: far above what 2 cores can answer.
    let max_requests = 200_000 * s.slice.as_secs() * s.slices / s.clients as u64 + 1;
    let mut tasks = Vec::with_capacity(s.clients);
    for (index, mine) in owned.into_iter().enumerate() {
        tasks.push(tokio::spawn(client_loop(
            shared.clone(),
            index,
            mine,
            s.mix.clone(),
            s.steady,
            deadline,
            max_requests,
        )));
    }
    let mut figures: Vec<SliceFigures> = Vec::new();
    let mut total_requests = 0u64;
    let mut total_non_2xx: BTreeMap<u16, u64> = BTreeMap::new();
    let mut first_problem: Option<String> = None;
    let mut previous = started;
    let mut cpu_before = CpuTimes::now();
    let mut steal_total = (0.0, 0u64);
    for index in 0..s.slices {
        let boundary = started + s.slice * u32::try_from(index + 1).unwrap_or(u32::MAX);
        tokio::time::sleep_until(boundary.into()).await;
        let mut c = shared.take();
        let now = Instant::now();
        let span = now.duration_since(previous).as_secs_f64();
        previous = now;
        let cpu_now = CpuTimes::now();
        let steal = cpu_now
            .zip(cpu_before)
            .and_then(|(now, before)| now.steal_percent_since(before));
        cpu_before = cpu_now;
        if let Some(steal) = steal {
            steal_total = (steal_total.0 + steal, steal_total.1 + 1);
        }
        let requests = c.latencies.len() as u64;
        let rps = requests as f64 / span;
        let (p50, p99) = percentiles_us(&mut c.latencies).unwrap_or((f64::NAN, f64::NAN));
        let resolve = percentiles_us(&mut c.resolve_latencies);
        let rss = server.rss();
        let disk = dir_bytes(&data_dir);
        let head = head_position(&probe, &server.base).await;
        let non_2xx: u64 = c.non_2xx.values().sum();
        total_requests += requests;
        for (status, n) in &c.non_2xx {
            *total_non_2xx.entry(*status).or_default() += n;
        }
        if first_problem.is_none() {
            first_problem = c.first_problem.take();
        }
        println!(
            "{}",
            json!({"bench": "soak", "slice": index, "elapsed_s": r3(now.duration_since(started).as_secs_f64()),
                "requests": requests, "requests_per_s": r3(rps),
                "p50_ms": r3(p50), "p99_ms": r3(p99),
                "resolve_p50_ms": resolve.map(|r| r3(r.0)), "resolve_p99_ms": resolve.map(|r| r3(r.1)),
                "by_op": OPS.iter().zip(c.by_op).map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "non_2xx": non_2xx,
                "non_2xx_by_status": c.non_2xx.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "server_rss_bytes": rss, "data_dir_bytes": disk, "log_events": head,
                "cpu_steal_percent": steal})
        );
        eprintln!(
            "soak: slice {index:>3}  {rps:>8.0} req/s  p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  non-2xx {non_2xx}  RSS {} MB  disk {} MB  events {}  steal {}%",
            rss.map_or(f64::NAN, mb),
            mb(disk),
            head.map_or_else(|| "?".into(), |h| h.to_string()),
            steal.map_or_else(|| "?".into(), |s| format!("{s:.1}"))
        );
        figures.push(SliceFigures {
            rps,
            p99_ms: p99,
            rss,
        });
    }
    for task in tasks {
        // Each client stops at the deadline; its last request is bounded by the client timeout.
        if tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .is_err()
        {
            eprintln!("soak: a client did not stop within 60 s of the deadline");
        }
    }
    // Requests that were in flight at the last boundary: not in any slice, but their non-2xx
    // answers count in the total.
    let tail = shared.take();
    for (status, n) in &tail.non_2xx {
        *total_non_2xx.entry(*status).or_default() += n;
    }
    if first_problem.is_none() {
        first_problem = tail.first_problem;
    }
    let events_end = head_position(&probe, &server.base).await;

    // --- stop, copy, restart ---------------------------------------------------------------
    let (stop_time, clean_stop, killed) = server.stop(Duration::from_secs(60));
    let disk_end = dir_bytes(&data_dir);
    let copy_dir_path = root.path().join("rebuild-copy");
    let copied = match free_bytes(root.path()) {
        Some(free) if free > disk_end + disk_end / 5 + (1 << 30) => {
            copy_dir(&data_dir, &copy_dir_path).map_err(|e| format!("copy failed: {e}"))
        }
        Some(free) => Err(format!(
            "not enough free disk for a copy ({} MB free, {} MB needed)",
            mb(free),
            mb(disk_end)
        )),
        None => Err("cannot read the free disk space".into()),
    };
    let mut restarted = Server::spawn(&data_dir, &key_file, &root.path().join("serve-2.log"));
    let restart = restarted.wait_ready(&probe, s.ready_timeout).await;
    let restart_rss = restarted.rss();
    let restart_events = head_position(&probe, &restarted.base).await;
    let (_, clean_stop_2, _) = restarted.stop(Duration::from_secs(60));
    let rebuild = match &copied {
        Ok(()) => {
            let outcome = rebuild_read_models(
                &copy_dir_path,
                &key_file,
                &root.path().join("rebuild.log"),
                s.rebuild_timeout,
            );
            let _ = std::fs::remove_dir_all(&copy_dir_path);
            outcome.to_json()
        }
        Err(reason) => json!({"available": Value::Null, "skipped": reason}),
    };
    let (verified, verify_secs) = verify(
        &data_dir,
        &root.path().join("verify.log"),
        Duration::from_secs(600),
    );
    println!(
        "{}",
        json!({"bench": "soak", "phase": "restart", "log_events": events_end,
            "data_dir_bytes": disk_end,
            "stop_secs": r3(stop_time.as_secs_f64()), "stop_clean": clean_stop, "stop_killed": killed,
            "first_start_ready_secs": r3(first_ready.as_secs_f64()),
            "restart_ready_secs": r3(restart.as_secs_f64()),
            "restart_rss_bytes": restart_rss, "restart_log_events": restart_events,
            "restart_stop_clean": clean_stop_2,
            "rebuild_read_models": rebuild,
            "verify_passed": verified, "verify_secs": r3(verify_secs)})
    );

    // --- summary ---------------------------------------------------------------------------
    let (first, last) = match (figures.first(), figures.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => fail("no slices measured"),
    };
    let non_2xx_total: u64 = total_non_2xx.values().sum();
    let rps_ratio = ratio(last.rps, first.rps);
    let p99_ratio = ratio(last.p99_ms, first.p99_ms);
    let rss_growth = match (first.rss, last.rss) {
        (Some(a), Some(b)) => Some(b as i64 - a as i64),
        _ => None,
    };
    let rss_max_growth = first.rss.and_then(|a| {
        figures
            .iter()
            .filter_map(|f| f.rss)
            .max()
            .map(|m| m as i64 - a as i64)
    });
    let meets = |v: &Value, ok: fn(f64) -> bool| v.as_f64().map(ok);
    println!(
        "{}",
        json!({"bench": "soak", "summary": true, "slices": figures.len(),
            "slice_seconds": s.slice.as_secs(), "clients": s.clients, "mix_percent": s.mix,
            "live_set": if s.steady { "steady" } else { "growing" },
            "requests": total_requests, "log_events": events_end,
            "rps_last_over_first": rps_ratio, "rps_goal_min": 0.8,
            "rps_goal_met": meets(&rps_ratio, |r| r >= 0.8),
            "p99_last_over_first": p99_ratio, "p99_goal_max": 1.5,
            "p99_goal_met": meets(&p99_ratio, |r| r <= 1.5),
            "non_2xx_total": non_2xx_total,
            "non_2xx_by_status": total_non_2xx.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "non_2xx_goal_met": non_2xx_total == 0,
            "rss_growth_after_warmup_bytes": rss_growth,
            "rss_max_growth_after_warmup_bytes": rss_max_growth,
            "rss_growth_goal_max_bytes": 100_000_000,
            "rss_growth_goal_met": rss_growth.map(|g| g <= 100_000_000),
            "restart_ready_secs": r3(restart.as_secs_f64()),
            "rebuild_read_models_secs": rebuild["secs"],
            "cpu_steal_percent_mean": (steal_total.1 > 0).then(|| r3(steal_total.0 / steal_total.1 as f64))})
    );
    let show = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "n/a".into(), |x| format!("{x:.3}"))
    };
    eprintln!("soak: summary over {} slices of {} s, {} clients, {} requests, {} events in the log at the end",
        figures.len(), s.slice.as_secs(), s.clients, total_requests,
        events_end.map_or_else(|| "?".into(), |e| e.to_string()));
    eprintln!(
        "  requests/s last/first  {} (goal >= 0.8)  [{:.0} -> {:.0}]",
        show(&rps_ratio),
        first.rps,
        last.rps
    );
    eprintln!(
        "  p99 last/first         {} (goal <= 1.5)  [{:.2} ms -> {:.2} ms]",
        show(&p99_ratio),
        first.p99_ms,
        last.p99_ms
    );
    eprintln!("  non-2xx total          {non_2xx_total} (goal 0) {total_non_2xx:?}");
    if let Some(problem) = &first_problem {
        eprintln!("    first: {problem}");
    }
    eprintln!(
        "  RSS growth after slice 0  {:.1} MB (goal <= 100 MB; max growth {:.1} MB)",
        rss_growth.map_or(f64::NAN, |g| g as f64 / 1e6),
        rss_max_growth.map_or(f64::NAN, |g| g as f64 / 1e6)
    );
    eprintln!(
        "  restart to /readyz     {:.2} s (first start {:.2} s); rebuild-read-models: {}",
        restart.as_secs_f64(),
        first_ready.as_secs_f64(),
        rebuild["secs"].as_f64().map_or_else(
            || rebuild["reason"]
                .as_str()
                .or(rebuild["skipped"].as_str())
                .unwrap_or("failed (see the JSON line)")
                .to_owned(),
            |x| format!("{x:.2} s")
        )
    );
    eprintln!(
        "  stop: {:.2} s, clean {clean_stop}; verify {} in {verify_secs:.1} s",
        stop_time.as_secs_f64(),
        if verified { "passed" } else { "FAILED" }
    );
    if s.keep {
        let kept = root.keep();
        eprintln!("soak: kept {}", kept.display());
    }
}
