//! Read-model benchmarks: resolve calls per second in-process on one core, and read-model
//! rebuild from the log, each next to a baseline measured in the same run.
//!
//! - resolve: `App::resolve` of a two-field template on one current-thread runtime (one core),
//!   64 callers at once, each resolution writing its flushed access record (audit), next to
//!   the baseline of opening the same sealed values with AES-256-GCM directly.
//! - rebuild: `LedgerModel::replay` over every event, next to only reading the events back.
//!
//! `BENCH_AUTHS` (default 1000) authentications, `BENCH_CHANGES` (default 50) changes each,
//! `BENCH_RESOLVES` (default 50 000) resolve calls. Prints JSON lines on stdout.

#[path = "../tests/app_support/mod.rs"]
mod app_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use app_support::{caller, create, field, AppUnderTest};
use credledger::app::{Accessor, ResolveRequest};
use credledger::crypto::{open, seal, DataKey, SealContext, SecretBytes};
use credledger::domain::authentication::{AuthenticationCommand, ChangeOrigin, FieldChange};
use credledger::domain::secret::SecretText;
use credledger::ledger::{Actor, EventStore, Position, SignedInWith};
use credledger::projections::LedgerModel;
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn line(value: serde_json::Value) {
    println!("{value}");
}

fn main() {
    let auths = env_usize("BENCH_AUTHS", 1000);
    let changes = env_usize("BENCH_CHANGES", 50);
    let resolves = env_usize("BENCH_RESOLVES", 50_000);
    // One core for the resolve figure: a current-thread runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let world = Arc::new(AppUnderTest::new().await);
        eprintln!("populating {auths} authentications x {changes} changes ...");
        let started = Instant::now();
        let mut ids = Vec::with_capacity(auths);
        let mut tasks = Vec::new();
        for i in 0..auths {
            let (id, cmd) = create(
                &format!("Jira {i}"),
                world.shared,
                "jira",
                &[("username", "ann"), ("password", "pw-0"), ("site", "acme.atlassian.net")],
                &[],
            );
            ids.push(id);
            let world = world.clone();
            tasks.push(tokio::spawn(async move {
                let owner = caller(world.owner);
                world.app.execute(&owner, id, cmd, None).await.expect("create");
                for c in 1..changes {
                    let command = if c % 2 == 0 {
                        AuthenticationCommand::Rename {
                            name: format!("Jira {i} r{c}"),
                        }
                    } else {
                        let mut fields = BTreeMap::new();
                        fields.insert(
                            field("password"),
                            FieldChange::Set(SecretText::new(format!("pw-{c}"))),
                        );
                        AuthenticationCommand::Reauthenticate {
                            fields,
                            origin: ChangeOrigin::Api,
                        }
                    };
                    world.app.execute(&owner, id, command, None).await.expect("change");
                }
            }));
        }
        for task in tasks {
            task.await.expect("populate task");
        }
        let events = world.app.store().head().position;
        eprintln!("populated {events} events in {:.1} s", started.elapsed().as_secs_f64());

        // Resolve on one core, 64 callers at once: each resolution appends a flushed access
        // record, and concurrent callers share flushes (group commit).
        let template = json!({"user": "$.auth.username", "authorization": "Basic {$.auth.password}"});
        let started = Instant::now();
        let runner = Accessor {
            actor: Actor {
                principal: "runner:bench".into(),
                via: SignedInWith::ApiToken,
            },
            workflow: None,
        };
        let ids = Arc::new(ids);
        let mut callers = Vec::new();
        for caller in 0..64 {
            let (world, ids, runner, template) =
                (world.clone(), ids.clone(), runner.clone(), template.clone());
            callers.push(tokio::spawn(async move {
                for n in (caller..resolves).step_by(64) {
                    let request = ResolveRequest {
                        authentication: ids[n % ids.len()],
                        workspace: world.shared,
                        user: world.viewer.id,
                        template: template.clone(),
                    };
                    let resolved = world.app.resolve(&runner, request).await.expect("resolve");
                    std::hint::black_box(resolved.into_value());
                }
            }));
        }
        for caller in callers {
            caller.await.expect("resolve task");
        }
        let resolve_secs = started.elapsed().as_secs_f64();

        // Baseline: AES-256-GCM open of a sealed value of the same size, same count.
        let key = DataKey::generate().expect("data key");
        let context = SealContext {
            owner: uuid::Uuid::now_v7(),
            field: "password",
            event_id: uuid::Uuid::now_v7(),
        };
        let sealed = seal(&key, &context, &SecretBytes::from_slice(b"pw-49")).expect("seal");
        let started = Instant::now();
        for _ in 0..resolves {
            std::hint::black_box(open(&key, &context, &sealed).expect("open"));
        }
        let open_secs = started.elapsed().as_secs_f64();
        let resolve_rate = resolves as f64 / resolve_secs;
        let open_rate = resolves as f64 / open_secs;
        line(json!({
            "bench": "resolve", "cores": 1, "calls": resolves, "authentications": auths,
            "fields_per_call": 2, "concurrent_callers": 64, "audited": true, "secs": resolve_secs, "calls_per_sec": resolve_rate,
            "baseline": "aes_256_gcm_open_one_value", "baseline_per_sec": open_rate,
            "ratio": resolve_rate / open_rate,
        }));

        // Rebuild from the log vs only reading it.
        let started = Instant::now();
        let all = world
            .app
            .store()
            .read_all(Position::FIRST, usize::MAX)
            .await
            .expect("read all");
        let read_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let rebuilt = LedgerModel::replay(&all).expect("replay");
        let fold_secs = started.elapsed().as_secs_f64();
        assert_eq!(rebuilt, *world.app.model().model().read().await, "rebuild equals live model");
        let read_rate = all.len() as f64 / read_secs;
        let rebuild_rate = all.len() as f64 / (read_secs + fold_secs);
        line(json!({
            "bench": "rebuild", "events": all.len(), "authentications": auths,
            "read_secs": read_secs, "fold_secs": fold_secs,
            "events_per_sec": rebuild_rate,
            "baseline": "read_all_only", "baseline_per_sec": read_rate,
            "ratio": rebuild_rate / read_rate,
        }));
        eprintln!(
            "resolve: {resolve_rate:.0} calls/s on one core (AES-GCM open alone: {open_rate:.0}/s, ratio {:.3})\n\
             rebuild: {rebuild_rate:.0} events/s over {} events (read_all alone: {read_rate:.0}/s, ratio {:.3})",
            resolve_rate / open_rate,
            all.len(),
            rebuild_rate / read_rate
        );
    });
}
