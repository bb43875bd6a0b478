//! Audit query latency on a large ledger, next to a baseline measured in the same run.
//!
//! Builds a ledger of `BENCH_EVENTS` (default 1 000 000) events through the real command
//! path: `BENCH_AUTHS` (default 2 000) authentications, then renames, re-authentications and
//! audited resolutions (each an `access.resolved` record) from 64 concurrent callers. Then
//! times `App::audit` pages of 100 records:
//! - filtered by one authentication (newest first),
//! - by a one-hour time range (the ledger is built in minutes, so the hour holds every
//!   event: the cost is the binary search of the window plus the page),
//! - by a one-second time range, and by one actor within the hour,
//! - walking every record of one authentication page by page,
//!
//! each next to the baseline of reading the same number of envelopes straight from the log
//! (`read_all` of 100 consecutive positions). Also the read-model rebuild at open (snapshot
//! load + tail). Prints JSON lines on stdout.

#[path = "../tests/app_support/mod.rs"]
mod app_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use app_support::{caller, create, field, AppUnderTest};
use credledger::app::{Accessor, AuditQuery, ResolveRequest};
use credledger::domain::authentication::{AuthenticationCommand, ChangeOrigin, FieldChange};
use credledger::domain::secret::SecretText;
use credledger::ledger::{Actor, EventStore, Position, SignedInWith};
use credledger::projections::{AuditFilter, AuditOrder};
use credledger::time::Timestamp;
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Median and 99th percentile of some durations, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

fn main() {
    let target = env_usize("BENCH_EVENTS", 1_000_000) as u64;
    let auths = env_usize("BENCH_AUTHS", 2_000);
    let runs = env_usize("BENCH_RUNS", 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let world = Arc::new(AppUnderTest::new().await);
        let started = Instant::now();
        let mut ids = Vec::with_capacity(auths);
        for i in 0..auths {
            let (id, cmd) = create(
                &format!("Jira {i}"),
                world.shared,
                "jira",
                &[
                    ("username", "ann"),
                    ("password", "pw-0"),
                    ("site", "acme.atlassian.net"),
                ],
                &[],
            );
            world
                .app
                .execute(&caller(world.owner), id, cmd, None)
                .await
                .expect("create");
            ids.push(id);
        }
        let ids = Arc::new(ids);
        let runner = Accessor {
            actor: Actor {
                principal: "runner:bench".into(),
                via: SignedInWith::ApiToken,
            },
            workflow: None,
        };
        eprintln!("populating to {target} events from 64 callers ...");
        let mut tasks = Vec::new();
        for task in 0..64usize {
            let (world, ids, runner) = (world.clone(), ids.clone(), runner.clone());
            tasks.push(tokio::spawn(async move {
                // Each task owns the authentications congruent to it modulo 64, so no two
                // tasks change one authentication and names never collide.
                let owned: Vec<_> = ids.iter().copied().skip(task).step_by(64).collect();
                let mut n = 0usize;
                while world.app.store().head().position < target {
                    let (i, id) = (n % owned.len(), owned[n % owned.len()]);
                    n += 1;
                    match n % 10 {
                        0..=5 => {
                            world
                                .app
                                .execute(
                                    &caller(world.editor),
                                    id,
                                    AuthenticationCommand::Rename {
                                        name: format!("Jira {task}-{i} r{n}"),
                                    },
                                    None,
                                )
                                .await
                                .expect("rename");
                        }
                        6 => {
                            let mut changes = std::collections::BTreeMap::new();
                            changes.insert(
                                field("password"),
                                FieldChange::Set(SecretText::new(format!("pw-{n}"))),
                            );
                            world
                                .app
                                .execute(
                                    &caller(world.editor),
                                    id,
                                    AuthenticationCommand::Reauthenticate {
                                        fields: changes,
                                        origin: ChangeOrigin::Api,
                                    },
                                    None,
                                )
                                .await
                                .expect("re-authenticate");
                        }
                        _ => {
                            let request = ResolveRequest {
                                authentication: id,
                                workspace: world.shared,
                                user: world.viewer.id,
                                template: json!("Basic {$.auth.username}:{$.auth.password}"),
                            };
                            world.app.resolve(&runner, request).await.expect("resolve");
                        }
                    }
                    if task == 0 && n.is_multiple_of(1_000) {
                        eprintln!("  ... {} events", world.app.store().head().position);
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("populate task");
        }
        let head = world.app.store().head().position;
        let built = started.elapsed().as_secs_f64();
        eprintln!("populated {head} events in {built:.1} s");
        world
            .app
            .model()
            .wait_for(head)
            .await
            .expect("model caught up");
        println!(
            "{}",
            json!({"bench": "audit_populate", "events": head, "authentications": auths,
                "secs": built, "events_per_sec": head as f64 / built})
        );

        // Baseline: read 100 consecutive envelopes straight from the log.
        let mut baseline = Vec::with_capacity(runs);
        for r in 0..runs {
            let from = 1 + (r as u64 * 4_999) % head.saturating_sub(100).max(1);
            let t = Instant::now();
            let page = world
                .app
                .store()
                .read_all(Position(from), 100)
                .await
                .expect("read");
            baseline.push(t.elapsed());
            assert_eq!(page.len(), 100);
        }
        let (base_p50, base_p99) = percentiles(baseline);

        let first = world
            .app
            .store()
            .read_all(Position(1), 1)
            .await
            .expect("first")[0]
            .body
            .recorded_at;
        let last = world
            .app
            .store()
            .read_all(Position(head), 1)
            .await
            .expect("last")[0]
            .body
            .recorded_at;
        let middle = Timestamp((first.0 + last.0) / 2);
        let hour = 3_600_000_000i64;
        let cases: Vec<(&str, AuditFilter)> = vec![
            (
                "one_authentication",
                AuditFilter {
                    authentication: Some(ids[auths / 2]),
                    ..AuditFilter::default()
                },
            ),
            (
                "one_hour_range",
                AuditFilter {
                    from: Some(Timestamp(middle.0 - hour / 2)),
                    to: Some(Timestamp(middle.0 + hour / 2)),
                    ..AuditFilter::default()
                },
            ),
            (
                "one_second_range",
                AuditFilter {
                    from: Some(Timestamp(middle.0 - 500_000)),
                    to: Some(Timestamp(middle.0 + 500_000)),
                    ..AuditFilter::default()
                },
            ),
            (
                "one_actor_in_one_hour",
                AuditFilter {
                    actor: Some(format!("user:{}", world.editor.id)),
                    from: Some(Timestamp(middle.0 - hour / 2)),
                    to: Some(Timestamp(middle.0 + hour / 2)),
                    ..AuditFilter::default()
                },
            ),
        ];
        for (name, filter) in cases {
            let query = AuditQuery {
                filter,
                order: AuditOrder::NewestFirst,
                after: None,
                limit: 100,
            };
            let mut samples = Vec::with_capacity(runs);
            let mut returned = 0;
            for _ in 0..runs {
                let t = Instant::now();
                let page = world.app.audit(&query).await.expect("audit");
                samples.push(t.elapsed());
                returned = page.records.len();
            }
            let (p50, p99) = percentiles(samples);
            println!(
                "{}",
                json!({"bench": "audit_query", "case": name, "events": head, "page": 100,
                    "returned": returned, "p50_ms": p50, "p99_ms": p99,
                    "baseline": "read_all_100_envelopes", "baseline_p50_ms": base_p50,
                    "baseline_p99_ms": base_p99, "ratio_p50": p50 / base_p50})
            );
        }

        // Every record of one authentication, page by page.
        let mut query = AuditQuery {
            filter: AuditFilter {
                authentication: Some(ids[auths / 3]),
                ..AuditFilter::default()
            },
            order: AuditOrder::OldestFirst,
            after: None,
            limit: 100,
        };
        let t = Instant::now();
        let mut records = 0;
        loop {
            let page = world.app.audit(&query).await.expect("audit");
            records += page.records.len();
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let walk = t.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({"bench": "audit_walk_one_authentication", "events": head,
                "records": records, "secs": walk, "records_per_sec": records as f64 / walk})
        );
    });
}
