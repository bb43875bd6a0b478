//! What grows with the log: memory, start-up and query cost of the real binary at ledger sizes
//! ten times apart, each next to a baseline measured in the same run.
//!
//! One ledger is built through the real command path (in-process `credledger::app::App`, like
//! benches/audit.rs) and grown in stages: `SCALE_AUTHS` (default 10 000) authentications,
//! among them `SCALE_PROBES` (default 16) "probe" authentications that get exactly
//! `SCALE_PROBE_CHANGES` (default 100) changes right away and nothing after, then audited
//! resolves, re-authentications and renames (`SCALE_MIX`, default 90,5,5 %) of the other
//! authentications from `SCALE_CALLERS` (default 64) concurrent callers, until
//! `SCALE_BASE_EVENTS` (default 100 000), `SCALE_SMALL_EVENTS` (default 1 000 000) and
//! `SCALE_LARGE_EVENTS` (default 10 000 000) events. Each stage's growth stops at its target,
//! after `SCALE_BUILD_SECONDS` (default 900), or when this process passes `SCALE_MAX_RSS_MB`
//! (default 8000), and reports the size it reached.
//!
//! At each stage the app is closed and the release binary (`CARGO_BIN_EXE_credledger serve`)
//! is started on the directory (127.0.0.1): spawn-to-`/readyz`-200 time, RSS once ready and
//! again after `SCALE_SETTLE_SECONDS` (default 5) idle (the goal's figure), then
//! `SCALE_PAGE_RUNS` (default 200) rounds of: `GET /healthz` (the trivial baseline), an audit
//! page by authentication (`GET /v1/audit?authentication=…&limit=100`) and a history
//! (`GET /v1/authentications/{id}/history`), each of a probe (the same records at every size:
//! "the same page") and of a busy authentication (its page fills up as the log grows), RSS
//! after those reads, SIGTERM; then `credledger rebuild-read-models` in place on the
//! directory (or "unavailable"). The same binary on an empty ledger gives the RSS and start
//! baselines. The summary prints the issue's ratios: settled RSS large/small (goal <= 1.25),
//! the live read model's heap bytes per live authentication (goal <= 1 KiB; measured in this
//! process, next to the whole server's RSS over the empty ledger's), restart time (goal <= 5 s) next to the
//! rebuild time, audit and history page cost large/base (goal <= 2).
//!
//! JSON lines on stdout; progress and a human summary on stderr. Every loop is bounded by
//! count and time.

#[path = "../tests/app_support/mod.rs"]
mod app_support;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app_support::{caller, create, field, open_app, Person};
use credledger::app::{Accessor, App, ResolveRequest};
use credledger::domain::authentication::{AuthenticationCommand, ChangeOrigin, FieldChange};
use credledger::domain::directory::{DirectoryCommand, OrgRole, WorkspaceRole};
use credledger::domain::ids::{AuthenticationId, OrganizationId, PrincipalId, UserId, WorkspaceId};
use credledger::domain::principals::Principal;
use credledger::domain::secret::SecretText;
use credledger::ledger::{Actor, EventStore, SignedInWith};
use serde_json::{json, Value};
use support::{
    client, dir_bytes, env_flag, env_mix, env_u64, fail, head_position, mb, micros, percentiles_us,
    r3, ratio, rebuild_read_models, rss_bytes, CpuTimes, Server,
};

struct Settings {
    auths: usize,
    probes: usize,
    probe_changes: usize,
    callers: usize,
    mix: Vec<u64>,
    stages: Vec<(&'static str, u64)>,
    budget: Duration,
    runs: usize,
    ready_timeout: Duration,
    settle: Duration,
    rebuild_timeout: Duration,
    max_rss: u64,
    keep: bool,
}

/// Counts the bytes the process holds on the heap, so the live read model's own size can be
/// measured (RSS also holds sled's page cache and allocator slack).
struct CountingAllocator;

static HEAP_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        HEAP_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        HEAP_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Heap bytes of the live read model: a deep copy of it allocates what it holds.
async fn live_model_heap_bytes(app: &App) -> u64 {
    let model = app.model().model().read().await;
    let before = HEAP_BYTES.load(Ordering::Relaxed);
    let copy = model.clone();
    let bytes = HEAP_BYTES.load(Ordering::Relaxed).saturating_sub(before);
    drop(copy);
    bytes
}

fn main() {
    let small = env_u64("SCALE_SMALL_EVENTS", 1_000_000, 1_000, 1_000_000_000);
    let large = env_u64("SCALE_LARGE_EVENTS", 10_000_000, 1_000, 1_000_000_000);
    // The page comparison size: 100 000 by default, or the small size when that is smaller.
    let base = env_u64(
        "SCALE_BASE_EVENTS",
        100_000.min(small),
        1_000,
        1_000_000_000,
    );
    if !(base <= small && small < large) {
        fail("need SCALE_BASE_EVENTS <= SCALE_SMALL_EVENTS < SCALE_LARGE_EVENTS");
    }
    let mut stages = vec![("base", base), ("small", small), ("large", large)];
    if base == small {
        // One measurement serves both.
        stages.remove(0);
    }
    let auths = env_u64("SCALE_AUTHS", 10_000, 100, 1_000_000) as usize;
    let probes = env_u64("SCALE_PROBES", 16, 1, 1_000) as usize;
    if probes * 2 > auths {
        fail("SCALE_PROBES must be at most half of SCALE_AUTHS");
    }
    let settings = Settings {
        auths,
        probes,
        probe_changes: env_u64("SCALE_PROBE_CHANGES", 100, 1, 10_000) as usize,
        callers: env_u64("SCALE_CALLERS", 64, 1, 1_024) as usize,
        mix: env_mix("SCALE_MIX", &[90, 5, 5]),
        stages,
        budget: Duration::from_secs(env_u64("SCALE_BUILD_SECONDS", 900, 1, 86_400)),
        runs: env_u64("SCALE_PAGE_RUNS", 200, 10, 100_000) as usize,
        ready_timeout: Duration::from_secs(env_u64("SCALE_READY_TIMEOUT", 1_800, 5, 7_200)),
        settle: Duration::from_secs(env_u64("SCALE_SETTLE_SECONDS", 5, 0, 600)),
        rebuild_timeout: Duration::from_secs(env_u64("SCALE_REBUILD_TIMEOUT", 1_800, 5, 86_400)),
        max_rss: env_u64("SCALE_MAX_RSS_MB", 8_000, 100, 1_000_000) * 1_000_000,
        keep: env_flag("SCALE_KEEP"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}

/// The directory the ledger is built with.
#[derive(Clone, Copy)]
struct People {
    owner: Person,
    editor: Person,
    viewer: Person,
    shared: WorkspaceId,
}

async fn set_up_directory(app: &App) -> People {
    let mut people = Vec::new();
    for name in ["Owner", "Editor", "Viewer"] {
        let person = Person {
            id: UserId::new(),
            personal: WorkspaceId::new(),
        };
        app.directory_command_as_system(DirectoryCommand::CreateUser {
            user: person.id,
            personal_workspace: person.personal,
            name: name.into(),
            email: format!("{}@example.com", name.to_lowercase()),
        })
        .await
        .expect("create user");
        people.push(person);
    }
    let (owner, editor, viewer) = (people[0], people[1], people[2]);
    let org = OrganizationId::new();
    let shared = WorkspaceId::new();
    let commands = vec![
        DirectoryCommand::CreateOrganization {
            organization: org,
            workspace: WorkspaceId::new(),
            name: "Acme".into(),
            owner: owner.id,
        },
        DirectoryCommand::AddUserToOrganization {
            organization: org,
            user: editor.id,
            role: OrgRole::Member,
        },
        DirectoryCommand::AddUserToOrganization {
            organization: org,
            user: viewer.id,
            role: OrgRole::Member,
        },
        DirectoryCommand::CreateWorkspace {
            workspace: shared,
            organization: org,
            name: "Sales".into(),
        },
        DirectoryCommand::AddWorkspaceMember {
            workspace: shared,
            user: editor.id,
            role: WorkspaceRole::Editor,
        },
        DirectoryCommand::AddWorkspaceMember {
            workspace: shared,
            user: viewer.id,
            role: WorkspaceRole::Viewer,
        },
    ];
    for command in commands {
        app.directory_command_as_system(command)
            .await
            .expect("directory set-up");
    }
    People {
        owner,
        editor,
        viewer,
        shared,
    }
}

/// Failed commands during a build (they are counted, not fatal).
#[derive(Default)]
struct Failures {
    count: u64,
    first: Option<String>,
}

fn note_failure(failures: &Mutex<Failures>, what: &str, error: impl std::fmt::Display) {
    let mut f = failures.lock().expect("failures lock");
    f.count += 1;
    if f.first.is_none() {
        f.first = Some(format!("{what}: {error}"));
    }
}

fn rename(name: String) -> AuthenticationCommand {
    AuthenticationCommand::Rename { name }
}

fn reauthenticate(password: String) -> AuthenticationCommand {
    let mut fields = BTreeMap::new();
    fields.insert(
        field("password"),
        FieldChange::Set(SecretText::new(password)),
    );
    AuthenticationCommand::Reauthenticate {
        fields,
        origin: ChangeOrigin::Api,
    }
}

/// Creates every authentication (from `callers` tasks) and gives each probe its changes.
async fn create_authentications(
    app: &Arc<App>,
    people: People,
    s: &Settings,
    failures: &Arc<Mutex<Failures>>,
) -> Vec<AuthenticationId> {
    let mut tasks = Vec::new();
    for task in 0..s.callers {
        let (app, failures) = (app.clone(), failures.clone());
        let (auths, callers) = (s.auths, s.callers);
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in (task..auths).step_by(callers) {
                let (id, command) = create(
                    &format!("Jira {i}"),
                    people.shared,
                    "jira",
                    &[
                        ("username", "ann"),
                        ("password", "pw-0"),
                        ("site", "acme.atlassian.net"),
                    ],
                    &[],
                );
                match app.execute(&caller(people.owner), id, command, None).await {
                    Ok(_) => made.push((i, id)),
                    Err(e) => note_failure(&failures, "create", e),
                }
            }
            made
        }));
    }
    let mut ids = Vec::with_capacity(s.auths);
    for task in tasks {
        ids.extend(task.await.expect("create task"));
    }
    ids.sort_by_key(|(i, _)| *i);
    let ids: Vec<AuthenticationId> = ids.into_iter().map(|(_, id)| id).collect();
    if ids.len() < s.probes * 2 {
        fail("too few authentications were created (see the failures)");
    }
    // The probes: the first `probes` authentications, `probe_changes` changes each, then never
    // touched again, so their audit page and history are the same records at every size.
    let mut tasks = Vec::new();
    for (p, id) in ids.iter().copied().take(s.probes).enumerate() {
        let (app, failures, changes) = (app.clone(), failures.clone(), s.probe_changes);
        tasks.push(tokio::spawn(async move {
            for c in 0..changes {
                let command = if c % 2 == 0 {
                    rename(format!("Probe {p} r{c}"))
                } else {
                    reauthenticate(format!("probe-pw-{c}"))
                };
                if let Err(e) = app.execute(&caller(people.editor), id, command, None).await {
                    note_failure(&failures, "probe change", e);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("probe task");
    }
    ids
}

/// How one stage's growth went.
struct Growth {
    from: u64,
    events: u64,
    secs: f64,
    budget_hit: bool,
    memory_hit: bool,
}

/// Grows the ledger to `target` events (or until the budget runs out) with audited resolves,
/// re-authentications and renames of the non-probe authentications from `callers` tasks.
async fn grow(
    app: &Arc<App>,
    people: People,
    busy: &Arc<Vec<AuthenticationId>>,
    s: &Settings,
    target: u64,
    failures: &Arc<Mutex<Failures>>,
    round: usize,
) -> Growth {
    let started = Instant::now();
    let deadline = started + s.budget;
    let from = app.store().head().position;
    let runner = Accessor {
        actor: Actor {
            principal: "runner:scale-bench".into(),
            via: SignedInWith::ApiToken,
        },
        workflow: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let out_of_memory = Arc::new(AtomicBool::new(false));
    let progress = {
        let (app, stop, out_of_memory) = (app.clone(), stop.clone(), out_of_memory.clone());
        let max_rss = s.max_rss;
        tokio::spawn(async move {
            let mut last = (Instant::now(), from);
            let mut tick = 0u64;
            // Bounded by the build's deadline (plus a margin for the last commands).
            while !stop.load(Ordering::Relaxed)
                && Instant::now() < deadline + Duration::from_secs(120)
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
                tick += 1;
                // The in-process app holds the read model: stop growing before it takes the
                // machine's memory (the binary started next needs as much again).
                if rss_bytes(std::process::id()).is_some_and(|r| r > max_rss) {
                    out_of_memory.store(true, Ordering::Relaxed);
                }
                if !tick.is_multiple_of(5) {
                    continue;
                }
                let head = app.store().head().position;
                let now = Instant::now();
                let recent = head.saturating_sub(last.1) as f64
                    / now.duration_since(last.0).as_secs_f64().max(1e-9);
                let overall =
                    head.saturating_sub(from) as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprintln!(
                    "scale: ... {head} of {target} events ({recent:.0}/s now, {overall:.0}/s this stage, {:.0} s)",
                    started.elapsed().as_secs_f64()
                );
                last = (now, head);
            }
        })
    };
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..s.callers.min(busy.len()) {
        let (app, busy, failures, runner, sent, out_of_memory) = (
            app.clone(),
            busy.clone(),
            failures.clone(),
            runner.clone(),
            sent.clone(),
            out_of_memory.clone(),
        );
        let (callers, mix) = (s.callers.min(busy.len()), s.mix.clone());
        // A count bound besides the time bound: the remaining events, with a margin.
        let cap = target.saturating_sub(from) * 2 + 1_000;
        tasks.push(tokio::spawn(async move {
            // Each task owns the authentications congruent to it, so no two tasks change
            // one authentication, and names never collide (`round` separates the stages).
            let owned: Vec<_> = busy.iter().copied().skip(task).step_by(callers).collect();
            let mut n = 0usize;
            while app.store().head().position < target
                && Instant::now() < deadline
                && !out_of_memory.load(Ordering::Relaxed)
                && sent.fetch_add(1, Ordering::Relaxed) < cap
            {
                let (i, id) = (n % owned.len(), owned[n % owned.len()]);
                n += 1;
                let roll = (n * 37 + task * 11) as u64 % 100;
                if roll < mix[0] {
                    let request = ResolveRequest {
                        authentication: id,
                        workspace: people.shared,
                        user: people.viewer.id,
                        template: json!("Basic {$.auth.username}:{$.auth.password}"),
                    };
                    if let Err(e) = app.resolve(&runner, request).await {
                        note_failure(&failures, "resolve", e);
                    }
                } else if roll < mix[0] + mix[1] {
                    let command = reauthenticate(format!("pw-{round}-{n}"));
                    if let Err(e) = app.execute(&caller(people.editor), id, command, None).await {
                        note_failure(&failures, "re-authenticate", e);
                    }
                } else {
                    let command = rename(format!("Jira {task}-{i} s{round} r{n}"));
                    if let Err(e) = app.execute(&caller(people.editor), id, command, None).await {
                        note_failure(&failures, "rename", e);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("grow task");
    }
    stop.store(true, Ordering::Relaxed);
    progress.abort();
    let _ = progress.await;
    let events = app.store().head().position;
    Growth {
        from,
        events,
        secs: started.elapsed().as_secs_f64(),
        budget_hit: events < target && !out_of_memory.load(Ordering::Relaxed),
        memory_hit: events < target && out_of_memory.load(Ordering::Relaxed),
    }
}

/// p50/p99 of one kind of request, with what the last answer held.
struct Case {
    name: &'static str,
    samples: Vec<u32>,
    non_200: u64,
    first_problem: Option<String>,
    returned: Option<usize>,
}

impl Case {
    fn new(name: &'static str) -> Case {
        Case {
            name,
            samples: Vec::new(),
            non_200: 0,
            first_problem: None,
            returned: None,
        }
    }

    async fn sample(&mut self, http: &reqwest::Client, url: &str, token: Option<&str>, keep: bool) {
        let mut request = http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let started = Instant::now();
        let answer = request.send().await;
        let (status, body) = match answer {
            Ok(a) => {
                let status = a.status().as_u16();
                (status, a.bytes().await.unwrap_or_default())
            }
            Err(e) => {
                self.non_200 += 1;
                self.first_problem.get_or_insert(format!("no answer: {e}"));
                return;
            }
        };
        let elapsed = started.elapsed();
        if status != 200 {
            self.non_200 += 1;
            self.first_problem.get_or_insert(format!(
                "{status} {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
            return;
        }
        if keep {
            self.samples.push(micros(elapsed));
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                self.returned = v["items"]
                    .as_array()
                    .or(v.as_array())
                    .map(Vec::len)
                    .or(self.returned);
            }
        }
    }
}

/// What the binary showed on one directory.
struct Observed {
    ready_secs: f64,
    rss_ready: Option<u64>,
    /// RSS after `SCALE_SETTLE_SECONDS` idle once ready: what start-up left, once the
    /// allocator has returned the start-up's garbage (several MB at the instant of ready).
    rss_settled: Option<u64>,
    rss_after_reads: Option<u64>,
    log_events: Option<u64>,
    /// p50, p99 by case name.
    cases: BTreeMap<&'static str, (f64, f64)>,
    stop_clean: bool,
}

/// Starts the binary on a directory, times it to ready, runs the fixed read workload, stops it.
#[allow(clippy::too_many_arguments)]
async fn observe(
    stage: &str,
    data_dir: &Path,
    key_file: &Path,
    log_dir: &Path,
    token: Option<&str>,
    probes: &[AuthenticationId],
    busy: &[AuthenticationId],
    s: &Settings,
) -> Observed {
    let http = client(1);
    let mut server = Server::spawn(
        data_dir,
        key_file,
        &log_dir.join(format!("serve-{stage}.log")),
    );
    let ready = server.wait_ready(&http, s.ready_timeout).await;
    let rss_ready = server.rss();
    tokio::time::sleep(s.settle).await;
    let rss_settled = server.rss();
    let log_events = head_position(&http, &server.base).await;
    let base = server.base.clone();
    let mut cases = vec![Case::new("healthz")];
    if token.is_some() {
        cases.extend([
            Case::new("audit_page_probe"),
            Case::new("history_probe"),
            Case::new("audit_page_busy"),
            Case::new("history_busy"),
        ]);
    }
    // 20 warm-up rounds, then `runs` measured rounds; the cases are interleaved so that the
    // baseline and the pages see the same machine at the same time.
    let cpu_before = CpuTimes::now();
    for round in 0..(20 + s.runs) {
        let keep = round >= 20;
        let probe = probes.get(round % probes.len().max(1));
        let hot = busy.get((round * 7919) % busy.len().max(1));
        for case in cases.iter_mut() {
            let url = match (case.name, probe, hot) {
                ("healthz", _, _) => format!("{base}/healthz"),
                ("audit_page_probe", Some(p), _) => {
                    format!("{base}/v1/audit?authentication={p}&limit=100")
                }
                ("history_probe", Some(p), _) => format!("{base}/v1/authentications/{p}/history"),
                ("audit_page_busy", _, Some(b)) => {
                    format!("{base}/v1/audit?authentication={b}&limit=100")
                }
                ("history_busy", _, Some(b)) => format!("{base}/v1/authentications/{b}/history"),
                _ => continue,
            };
            let token = if case.name == "healthz" { None } else { token };
            case.sample(&http, &url, token, keep).await;
        }
    }
    let steal = CpuTimes::now()
        .zip(cpu_before)
        .and_then(|(now, before)| now.steal_percent_since(before));
    let rss_after_reads = server.rss();
    let (_, stop_clean, _) = server.stop(Duration::from_secs(120));
    let mut out = BTreeMap::new();
    let baseline = cases
        .first_mut()
        .and_then(|c| percentiles_us(&mut c.samples))
        .unwrap_or((f64::NAN, f64::NAN));
    for case in cases.iter_mut() {
        let figures = percentiles_us(&mut case.samples);
        if let Some(f) = figures {
            out.insert(case.name, f);
        }
        println!(
            "{}",
            json!({"bench": "scale", "stage": stage, "log_events": log_events,
                "case": case.name, "samples": case.samples.len(), "cpu_steal_percent": steal,
                "p50_ms": figures.map(|f| r3(f.0)), "p99_ms": figures.map(|f| r3(f.1)),
                "returned": case.returned, "non_200": case.non_200,
                "first_problem": case.first_problem,
                "baseline": "GET /healthz", "baseline_p50_ms": r3(baseline.0),
                "baseline_p99_ms": r3(baseline.1),
                "ratio_p50": figures.map_or(Value::Null, |f| ratio(f.0, baseline.0)),
                "ratio_p99": figures.map_or(Value::Null, |f| ratio(f.1, baseline.1))})
        );
    }
    Observed {
        ready_secs: ready.as_secs_f64(),
        rss_ready,
        rss_settled,
        rss_after_reads,
        log_events,
        cases: out,
        stop_clean,
    }
}

/// Rebuilds the read side in place: the result is the read side it replaces (the next stage
/// goes on from it), and no copy of a ledger of many gigabytes is needed.
fn rebuild_in_place(data_dir: &Path, key_file: &Path, work: &Path, s: &Settings) -> Value {
    rebuild_read_models(
        data_dir,
        key_file,
        &work.join("rebuild.log"),
        s.rebuild_timeout,
    )
    .to_json()
}

fn per_auth(rss: Option<u64>, empty: Option<u64>, auths: usize) -> Value {
    match (rss, empty) {
        (Some(r), Some(e)) => json!(r3((r as f64 - e as f64) / auths as f64)),
        _ => Value::Null,
    }
}

async fn run(s: Settings) {
    let root = tempfile::Builder::new()
        .prefix("credledger-scale-")
        .tempdir()
        .expect("temp dir");
    let data_dir: PathBuf = root.path().join("data");
    let key_dir = root.path().join("keys");
    std::fs::create_dir_all(&key_dir).expect("key dir");
    let key_file = key_dir.join("master.key");

    // --- baseline: the same binary on an empty ledger ----------------------------------------
    let empty_dir = root.path().join("empty");
    let empty_keys = root.path().join("empty-keys");
    std::fs::create_dir_all(&empty_keys).expect("empty key dir");
    let empty = observe(
        "empty",
        &empty_dir.join("data"),
        &empty_keys.join("master.key"),
        root.path(),
        None,
        &[],
        &[],
        &s,
    )
    .await;
    let _ = std::fs::remove_dir_all(&empty_dir);
    println!(
        "{}",
        json!({"bench": "scale", "stage": "empty", "log_events": empty.log_events,
            "ready_secs": r3(empty.ready_secs), "rss_ready_bytes": empty.rss_ready,
            "rss_settled_bytes": empty.rss_settled,
            "rss_after_reads_bytes": empty.rss_after_reads})
    );
    eprintln!(
        "scale: empty ledger: ready in {:.2} s, RSS {} MB ready / {} MB settled",
        empty.ready_secs,
        empty.rss_ready.map_or(f64::NAN, mb),
        empty.rss_settled.map_or(f64::NAN, mb)
    );

    // --- the ledger: directory, authentications, probes -------------------------------------
    let app = Arc::new(open_app(&data_dir, &key_file).await);
    let people = set_up_directory(&app).await;
    let auditor = app
        .issue_token(
            None,
            Principal::Auditor {
                id: PrincipalId::new(),
                name: "scale-bench-auditor".into(),
            },
            "scale bench auditor",
            Default::default(),
        )
        .await
        .expect("auditor token");
    let auditor_token = auditor.token.expose().to_owned();
    let failures = Arc::new(Mutex::new(Failures::default()));
    let building = Instant::now();
    eprintln!(
        "scale: creating {} authentications ({} probes x {} changes) from {} callers ...",
        s.auths, s.probes, s.probe_changes, s.callers
    );
    let ids = create_authentications(&app, people, &s, &failures).await;
    let probes: Vec<AuthenticationId> = ids[..s.probes].to_vec();
    let busy: Arc<Vec<AuthenticationId>> = Arc::new(ids[s.probes..].to_vec());
    // A spread of busy authentications to read (one per 64th of the list).
    let busy_sample: Vec<AuthenticationId> = busy
        .iter()
        .copied()
        .step_by((busy.len() / 64).max(1))
        .collect();
    let setup_events = app.store().head().position;
    let setup_secs = building.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "scale", "phase": "setup", "authentications": ids.len(),
            "probes": s.probes, "probe_changes": s.probe_changes, "callers": s.callers,
            "events": setup_events, "secs": r3(setup_secs),
            "events_per_s": r3(setup_events as f64 / setup_secs.max(1e-9))})
    );
    eprintln!(
        "scale: {} authentications, {setup_events} events in {setup_secs:.1} s",
        ids.len()
    );

    let mut app = Some(app);
    // Per stage: events, what the binary showed, the rebuild, the live model's heap bytes.
    let mut reports: BTreeMap<&'static str, (u64, Observed, Value, u64)> = BTreeMap::new();
    for (round, (stage, target)) in s.stages.iter().copied().enumerate() {
        let live = match app.take() {
            Some(a) => a,
            None => Arc::new(open_app(&data_dir, &key_file).await),
        };
        eprintln!(
            "scale: stage {stage}: growing to {target} events (at most {} s) ...",
            s.budget.as_secs()
        );
        let cpu_before = CpuTimes::now();
        let growth = grow(&live, people, &busy, &s, target, &failures, round).await;
        let steal = CpuTimes::now()
            .zip(cpu_before)
            .and_then(|(now, before)| now.steal_percent_since(before));
        let (failed, first_failure) = {
            let f = failures.lock().expect("failures lock");
            (f.count, f.first.clone())
        };
        println!(
            "{}",
            json!({"bench": "scale", "stage": stage, "phase": "build", "target_events": target,
                "events_at_start": growth.from, "events": growth.events,
                "grown_events": growth.events - growth.from, "secs": r3(growth.secs),
                "events_per_s": if growth.secs >= 0.5 {
                    json!(r3((growth.events - growth.from) as f64 / growth.secs))
                } else {
                    Value::Null
                },
                "budget_secs": s.budget.as_secs(), "stopped_by_budget": growth.budget_hit,
                "cpu_steal_percent": steal,
                "stopped_by_memory": growth.memory_hit, "max_rss_bytes": s.max_rss,
                "authentications": ids.len(), "failed_commands_so_far": failed,
                "first_failure": first_failure})
        );
        eprintln!(
            "scale: stage {stage}: {} events{}; closing the app",
            growth.events,
            if growth.budget_hit {
                " (stopped by SCALE_BUILD_SECONDS)"
            } else if growth.memory_hit {
                " (stopped by SCALE_MAX_RSS_MB)"
            } else {
                ""
            }
        );
        let Ok(live) = Arc::try_unwrap(live) else {
            fail("the app is still shared after the build");
        };
        let model_heap = live_model_heap_bytes(&live).await;
        println!(
            "{}",
            json!({"bench": "scale", "stage": stage, "phase": "live_model", "events": growth.events,
                "live_authentications": ids.len(), "heap_bytes": model_heap,
                "heap_bytes_per_live_authentication": r3(model_heap as f64 / ids.len() as f64),
                "goal_max_bytes": 1024})
        );
        eprintln!(
            "scale: stage {stage}: live read model holds {} KB on the heap ({:.0} bytes per live authentication)",
            model_heap / 1024,
            model_heap as f64 / ids.len() as f64
        );
        live.close().await.expect("close the app");
        // What the server's clean stop does after closing, so the restart below replays
        // nothing of the build (timed: it is the stop's cost).
        let snapshot_started = Instant::now();
        credledger::ledger::SledStore::write_recovery_snapshot(&data_dir)
            .expect("recovery snapshot");
        let stop_snapshot_secs = snapshot_started.elapsed().as_secs_f64();
        eprintln!(
            "scale: stage {stage}: clean-stop recovery snapshot took {stop_snapshot_secs:.2} s"
        );
        let disk = dir_bytes(&data_dir);
        let observed = observe(
            stage,
            &data_dir,
            &key_file,
            root.path(),
            Some(&auditor_token),
            &probes,
            &busy_sample,
            &s,
        )
        .await;
        let rebuild = rebuild_in_place(&data_dir, &key_file, root.path(), &s);
        println!(
            "{}",
            json!({"bench": "scale", "stage": stage, "phase": "restart", "events": growth.events,
                "log_events": observed.log_events, "data_dir_bytes": disk,
                "ready_secs": r3(observed.ready_secs),
                "empty_ledger_ready_secs": r3(empty.ready_secs),
                "rss_ready_bytes": observed.rss_ready,
                "rss_settled_bytes": observed.rss_settled,
                "settle_secs": s.settle.as_secs(),
                "rss_after_reads_bytes": observed.rss_after_reads,
                "empty_ledger_rss_bytes": empty.rss_ready,
                "empty_ledger_rss_settled_bytes": empty.rss_settled,
                "process_bytes_over_empty_per_live_authentication": per_auth(observed.rss_settled, empty.rss_settled, ids.len()),
                "stop_clean": observed.stop_clean,
                "stop_recovery_snapshot_secs": r3(stop_snapshot_secs),
                "rebuild_read_models": rebuild})
        );
        eprintln!(
            "scale: stage {stage}: {} events, {} MB on disk, ready in {:.2} s (empty {:.2} s), RSS {} MB ready / {} MB settled / {} MB after reads (empty {} MB settled), rebuild {}",
            growth.events,
            mb(disk),
            observed.ready_secs,
            empty.ready_secs,
            observed.rss_ready.map_or(f64::NAN, mb),
            observed.rss_settled.map_or(f64::NAN, mb),
            observed.rss_after_reads.map_or(f64::NAN, mb),
            empty.rss_settled.map_or(f64::NAN, mb),
            rebuild["secs"].as_f64().map_or_else(
                || rebuild["reason"].as_str().or(rebuild["skipped"].as_str()).unwrap_or("failed").to_owned(),
                |x| format!("{x:.2} s")
            )
        );
        reports.insert(stage, (growth.events, observed, rebuild, model_heap));
    }

    // --- summary -----------------------------------------------------------------------------
    let get = |name: &str| reports.get(name).or_else(|| reports.get("small"));
    let (Some(base), Some(small), Some(large)) = (get("base"), get("small"), get("large")) else {
        fail("a stage is missing");
    };
    // The goal is judged on settled RSS: at the instant of ready the allocator still holds
    // start-up garbage, a few MB that vary from start to start.
    let as_f64 = |r: Option<u64>| r.map_or(f64::NAN, |r| r as f64);
    let rss_ratio = ratio(as_f64(large.1.rss_settled), as_f64(small.1.rss_settled));
    let rss_ready_ratio = ratio(as_f64(large.1.rss_ready), as_f64(small.1.rss_ready));
    let rss_after_ratio = ratio(
        large.1.rss_after_reads.map_or(f64::NAN, |r| r as f64),
        small.1.rss_after_reads.map_or(f64::NAN, |r| r as f64),
    );
    let size_ratio = large.0 as f64 / small.0.max(1) as f64;
    // Each stage stops at the first batch past its target, so compare with the targets: the
    // large stage is big enough when it reached its own target and that is at least 5x small's.
    let target = |name: &str| {
        s.stages
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, t)| *t)
    };
    let large_size_ok = large.0 >= target("large") && target("large") >= 5 * target("small");
    // The read model's own memory: the live model's heap bytes, measured in the build process
    // (the goal); next to it, the whole server's settled RSS over the empty ledger's, which
    // also holds sled's per-node memory for the log and its page cache.
    let heap_per_auth =
        |stage: &(u64, Observed, Value, u64)| json!(r3(stage.3 as f64 / ids.len() as f64));
    let per_auth_large = heap_per_auth(large);
    let process_per_auth_large = per_auth(large.1.rss_settled, empty.rss_settled, ids.len());
    let page = |case: &str, q: usize| {
        let pick = |o: &Observed| o.cases.get(case).map(|f| if q == 50 { f.0 } else { f.1 });
        match (pick(&large.1), pick(&base.1)) {
            (Some(l), Some(b)) => ratio(l, b),
            _ => Value::Null,
        }
    };
    // The page cost relative to the same run's /healthz, large over base: the ratio with the
    // machine's noise (shared cores) divided out.
    let normalized = |case: &str| {
        let rel = |o: &Observed| match (o.cases.get(case), o.cases.get("healthz")) {
            (Some(c), Some(h)) if h.0 > 0.0 => Some(c.0 / h.0),
            _ => None,
        };
        match (rel(&large.1), rel(&base.1)) {
            (Some(l), Some(b)) => ratio(l, b),
            _ => Value::Null,
        }
    };
    let at_most = |v: &Value, goal: f64| v.as_f64().map(|x| x <= goal);
    let restart = large.1.ready_secs;
    let summary = json!({"bench": "scale", "summary": true,
        "events": {"base": base.0, "small": small.0, "large": large.0},
        "large_over_small_events": r3(size_ratio), "large_size_ok": large_size_ok,
        "live_authentications": ids.len(),
        "rss_settled_large_over_small": rss_ratio, "rss_goal_max": 1.25,
        "rss_goal_met": at_most(&rss_ratio, 1.25),
        "rss_ready_large_over_small": rss_ready_ratio,
        "settle_secs": s.settle.as_secs(),
        "rss_after_reads_large_over_small": rss_after_ratio,
        "read_model_heap_bytes_per_live_authentication_large": per_auth_large,
        "read_model_heap_bytes_per_live_authentication_small": heap_per_auth(small),
        "process_bytes_over_empty_per_live_authentication_large": process_per_auth_large,
        "process_bytes_over_empty_per_live_authentication_small": per_auth(small.1.rss_settled, empty.rss_settled, ids.len()),
        "per_authentication_goal_max_bytes": 1024,
        "per_authentication_goal_met": at_most(&per_auth_large, 1024.0),
        "restart_ready_secs": {"base": r3(base.1.ready_secs), "small": r3(small.1.ready_secs),
            "large": r3(restart), "empty_ledger": r3(empty.ready_secs)},
        "restart_goal_max_secs": 5, "restart_goal_met": restart <= 5.0,
        "rebuild_read_models_secs": {"base": base.2["secs"], "small": small.2["secs"], "large": large.2["secs"]},
        "audit_page_probe_large_over_base_p50": page("audit_page_probe", 50),
        "audit_page_probe_large_over_base_p99": page("audit_page_probe", 99),
        "audit_page_probe_large_over_base_p50_over_healthz": normalized("audit_page_probe"),
        "history_probe_large_over_base_p50": page("history_probe", 50),
        "history_probe_large_over_base_p99": page("history_probe", 99),
        "history_probe_large_over_base_p50_over_healthz": normalized("history_probe"),
        "audit_page_busy_large_over_base_p50": page("audit_page_busy", 50),
        "history_busy_large_over_base_p50": page("history_busy", 50),
        "page_goal_max": 2,
        "audit_page_goal_met": at_most(&page("audit_page_probe", 50), 2.0),
        "history_goal_met": at_most(&page("history_probe", 50), 2.0),
        "failed_commands": failures.lock().expect("failures lock").count});
    println!("{summary}");
    let show = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "n/a".into(), |x| format!("{x:.3}"))
    };
    eprintln!(
        "scale: summary: base {} / small {} / large {} events ({:.2}x small{}), {} live authentications",
        base.0,
        small.0,
        large.0,
        size_ratio,
        if large_size_ok { "" } else { ": the large stage stopped before its target or is not 5x small" },
        ids.len()
    );
    eprintln!(
        "  RSS large/small settled         {} (goal <= 1.25; {} s idle after ready); at ready {}; after reads {}",
        show(&rss_ratio),
        s.settle.as_secs(),
        show(&rss_ready_ratio),
        show(&rss_after_ratio)
    );
    eprintln!(
        "  read-model heap / live auth     {} bytes (goal <= 1024); whole server over empty ledger {} bytes",
        show(&per_auth_large),
        show(&process_per_auth_large)
    );
    eprintln!(
        "  restart to /readyz (large)      {restart:.2} s (goal <= 5 s; empty ledger {:.2} s); rebuild-read-models: {}",
        empty.ready_secs,
        large.2["secs"].as_f64().map_or_else(|| "unavailable or skipped".into(), |x| format!("{x:.2} s"))
    );
    eprintln!(
        "  audit page (probe) large/base   p50 {} p99 {} (goal <= 2; over /healthz {})",
        show(&page("audit_page_probe", 50)),
        show(&page("audit_page_probe", 99)),
        show(&normalized("audit_page_probe"))
    );
    eprintln!(
        "  history (probe) large/base      p50 {} p99 {} (goal <= 2; over /healthz {})",
        show(&page("history_probe", 50)),
        show(&page("history_probe", 99)),
        show(&normalized("history_probe"))
    );
    if s.keep {
        let kept = root.keep();
        eprintln!("scale: kept {}", kept.display());
    }
}
