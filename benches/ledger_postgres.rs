//! Durable appends from 64 writers on the PostgreSQL backend, next to what most teams build (a
//! plain events table with `UNIQUE (stream_id, version)`, written by 64 clients one event per
//! transaction) and next to the sled backend, all measured in the same run, at two sizes ten
//! times apart.
//!
//! Every measurement is durable: the PostgreSQL server runs with `fsync` and
//! `synchronous_commit` on (the backend sets `synchronous_commit=on` on its connections; the
//! baseline's connections do the same), and sled flushes before an append is answered.
//!
//! The baseline is given every advantage: each of its clients owns its streams, so it knows the
//! next version without reading and never conflicts, and each event is one autocommitted
//! `INSERT` (one round trip). The backend does what it does in production: expected-version
//! checks, the hash chain, gapless positions, indexes by stream, event id and time.
//!
//! Needs a server: `CREDLEDGER_TEST_POSTGRES` (a libpq URL of a role that may create databases;
//! `source .ci/postgres.sh` starts a throwaway one). Each run creates a database of its own and
//! drops it at the end. `BENCH_EVENTS` sets the larger size (default 20000; the smaller is a
//! tenth of it).
//!
//! Run with `source .ci/postgres.sh && cargo bench --locked --bench ledger_postgres`.

mod support;

use std::time::{Duration, Instant};

use credledger::ledger::{
    AppendRequest, EventId, EventMeta, EventStore, ExpectedVersion, NewEvent, PostgresStore,
    SledStore, StreamId,
};
use serde::Serialize;
use support::fail;
use tempfile::TempDir;
use tokio_postgres::{Config, NoTls};

/// Events in the larger measurement unless `BENCH_EVENTS` says otherwise.
const DEFAULT_EVENTS: usize = 20_000;
/// Writer tasks (and baseline clients).
const WRITERS: usize = 64;
/// Size of every event payload.
const PAYLOAD_BYTES: usize = 200;
/// Events are spread over this many streams.
const STREAMS: usize = 1024;
/// Event type of every appended event.
const EVENT_TYPE: &str = "bench.credential_rotated";
/// The variable naming the server.
const SERVER_ENV: &str = "CREDLEDGER_TEST_POSTGRES";

/// The plain table most teams build, and its one-event-per-transaction insert.
const PLAIN_TABLE: &str = "CREATE TABLE plain_events (
    id          BIGSERIAL PRIMARY KEY,
    stream_id   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    event_id    UUID NOT NULL,
    event_type  TEXT NOT NULL,
    payload     BYTEA NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
)";
const PLAIN_INSERT: &str =
    "INSERT INTO plain_events (stream_id, version, event_id, event_type, payload) \
     VALUES ($1, $2, $3, $4, $5)";

struct Timing {
    secs: f64,
    events_per_sec: f64,
}

impl Timing {
    fn new(events: usize, elapsed: Duration) -> Timing {
        let secs = elapsed.as_secs_f64();
        Timing {
            secs,
            events_per_sec: events as f64 / secs,
        }
    }
}

#[derive(Serialize)]
struct Line {
    bench: &'static str,
    events: usize,
    writers: usize,
    payload_bytes: usize,
    streams: usize,
    secs: f64,
    events_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_to_plain_table: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_to_sled: Option<f64>,
}

fn main() {
    // At least an event per writer at the smaller size.
    let events = support::env_u64(
        "BENCH_EVENTS",
        DEFAULT_EVENTS as u64,
        10 * WRITERS as u64,
        100_000_000,
    ) as usize;
    let server = match std::env::var(SERVER_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => fail(&format!(
            "{SERVER_ENV} is not set: `source .ci/postgres.sh` starts a throwaway server and sets it"
        )),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot build the tokio runtime: {e}")));
    runtime.block_on(run(&server, events));
}

async fn run(server: &str, largest: usize) {
    let started = Instant::now();
    let mut summary = Vec::new();
    for events in [largest / 10, largest] {
        eprintln!(
            "ledger_postgres: {events} events, {WRITERS} writers, {PAYLOAD_BYTES}-byte payloads"
        );
        let database = Database::create(server).await;

        eprintln!("  plain events table, {WRITERS} clients, one event per transaction...");
        let plain = bench_plain_table(&database.config, events).await;
        eprintln!("  PostgreSQL backend, {WRITERS} writer tasks...");
        let backend = bench_postgres_backend(&database.config, events).await;
        eprintln!("  sled backend, {WRITERS} writer tasks...");
        let sled = bench_sled_backend(events).await;
        database.drop().await;

        let to_plain = backend.events_per_sec / plain.events_per_sec;
        let to_sled = backend.events_per_sec / sled.events_per_sec;
        for (bench, timing, ratios) in [
            ("plain_events_table", &plain, None),
            ("postgres_backend", &backend, Some((to_plain, to_sled))),
            ("sled_backend", &sled, None),
        ] {
            let line = Line {
                bench,
                events,
                writers: WRITERS,
                payload_bytes: PAYLOAD_BYTES,
                streams: STREAMS,
                secs: timing.secs,
                events_per_sec: timing.events_per_sec,
                ratio_to_plain_table: ratios.map(|r| r.0),
                ratio_to_sled: ratios.map(|r| r.1),
            };
            println!(
                "{}",
                serde_json::to_string(&line).unwrap_or_else(|e| fail(&e.to_string()))
            );
        }
        summary.push(format!(
            "{events:>7} events: PostgreSQL backend {:>8.0} events/s | plain table {:>7.0} events/s | sled {:>8.0} events/s | backend/plain {to_plain:.2}x | backend/sled {to_sled:.2}x",
            backend.events_per_sec, plain.events_per_sec, sled.events_per_sec
        ));
    }
    eprintln!(
        "\nledger_postgres summary ({WRITERS} writers, {PAYLOAD_BYTES}-byte payloads, {STREAMS} streams, total {:.1} s):",
        started.elapsed().as_secs_f64()
    );
    for line in &summary {
        eprintln!("  {line}");
    }
}

/// A database of its own for one size, dropped afterwards.
struct Database {
    server: String,
    name: String,
    config: Config,
}

impl Database {
    async fn create(server: &str) -> Database {
        let name = format!("credledger_bench_{}", uuid::Uuid::new_v4().simple());
        admin(server, &format!("CREATE DATABASE {name}")).await;
        let mut config: Config = server
            .parse()
            .unwrap_or_else(|e| fail(&format!("{SERVER_ENV} is not a libpq URL: {e}")));
        config.dbname(&name);
        Database {
            server: server.to_owned(),
            name,
            config,
        }
    }

    async fn drop(self) {
        admin(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }
}

async fn admin(server: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(server, NoTls)
        .await
        .unwrap_or_else(|e| fail(&format!("cannot connect to {SERVER_ENV}: {e}")));
    tokio::spawn(connection);
    client
        .batch_execute(statement)
        .await
        .unwrap_or_else(|e| fail(&format!("{statement}: {e}")));
}

fn payload(i: usize) -> Vec<u8> {
    (0..PAYLOAD_BYTES).map(|b| (i * 31 + b * 7) as u8).collect()
}

fn stream_name(i: usize) -> String {
    format!("bench-stream-{:04}", i % STREAMS)
}

/// The events of writer `w`: every `WRITERS`-th one, so that writer `w` alone owns the streams
/// congruent to `w` (STREAMS is a multiple of WRITERS).
fn share(events: usize, writer: usize) -> impl Iterator<Item = usize> {
    (writer..events).step_by(WRITERS)
}

fn requests_for(events: usize, writer: usize) -> Vec<AppendRequest> {
    share(events, writer)
        .map(|i| {
            AppendRequest::new(
                StreamId::new(stream_name(i)).unwrap_or_else(|e| fail(&e.to_string())),
                ExpectedVersion::Any,
                vec![NewEvent {
                    event_id: EventId::new(),
                    event_type: EVENT_TYPE.into(),
                    schema_version: 1,
                    payload: payload(i),
                    meta: EventMeta::system(),
                }],
            )
        })
        .collect()
}

async fn run_writers<S: EventStore + Clone + Send + Sync + 'static>(
    store: &S,
    events: usize,
) -> Timing {
    let parts: Vec<Vec<AppendRequest>> = (0..WRITERS).map(|w| requests_for(events, w)).collect();
    let start = Instant::now();
    let tasks: Vec<_> = parts
        .into_iter()
        .map(|part| {
            let store = store.clone();
            tokio::spawn(async move {
                for request in part {
                    store
                        .append(request)
                        .await
                        .unwrap_or_else(|e| fail(&format!("append failed: {e}")));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap_or_else(|e| fail(&format!("writer task failed: {e}")));
    }
    let timing = Timing::new(events, start.elapsed());
    if store.head().position != events as u64 {
        fail("the durable head does not count every appended event");
    }
    timing
}

async fn bench_postgres_backend(config: &Config, events: usize) -> Timing {
    let store = PostgresStore::open(config.clone())
        .await
        .unwrap_or_else(|e| fail(&format!("cannot open the PostgreSQL backend: {e}")));
    let timing = run_writers(&store, events).await;
    store
        .close()
        .await
        .unwrap_or_else(|e| fail(&format!("close: {e}")));
    timing
}

async fn bench_sled_backend(events: usize) -> Timing {
    let dir = TempDir::new().unwrap_or_else(|e| fail(&format!("temporary directory: {e}")));
    let store = SledStore::open(dir.path())
        .unwrap_or_else(|e| fail(&format!("cannot open the sled backend: {e}")));
    let timing = run_writers(&store, events).await;
    store
        .close()
        .await
        .unwrap_or_else(|e| fail(&format!("close: {e}")));
    timing
}

async fn bench_plain_table(config: &Config, events: usize) -> Timing {
    let mut config = config.clone();
    config.options("-c synchronous_commit=on");
    let (setup, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| fail(&format!("connect: {e}")));
    tokio::spawn(connection);
    setup
        .batch_execute(PLAIN_TABLE)
        .await
        .unwrap_or_else(|e| fail(&format!("create the plain table: {e}")));
    let mut clients = Vec::with_capacity(WRITERS);
    for _ in 0..WRITERS {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .unwrap_or_else(|e| fail(&format!("connect: {e}")));
        tokio::spawn(connection);
        let insert = client
            .prepare(PLAIN_INSERT)
            .await
            .unwrap_or_else(|e| fail(&format!("prepare: {e}")));
        clients.push((client, insert));
    }
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(writer, (client, insert))| {
            tokio::spawn(async move {
                let mut versions = std::collections::HashMap::<String, i64>::new();
                for i in share(events, writer) {
                    let stream = stream_name(i);
                    let version = versions.entry(stream.clone()).or_insert(0);
                    *version += 1;
                    client
                        .execute(
                            &insert,
                            &[
                                &stream,
                                &*version,
                                &uuid::Uuid::now_v7(),
                                &EVENT_TYPE,
                                &payload(i),
                            ],
                        )
                        .await
                        .unwrap_or_else(|e| fail(&format!("insert: {e}")));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap_or_else(|e| fail(&format!("client task failed: {e}")));
    }
    let timing = Timing::new(events, start.elapsed());
    let stored: i64 = setup
        .query_one("SELECT count(*) FROM plain_events", &[])
        .await
        .unwrap_or_else(|e| fail(&format!("count: {e}")))
        .get(0);
    if stored != events as i64 {
        fail("the plain table does not hold every inserted event");
    }
    timing
}
