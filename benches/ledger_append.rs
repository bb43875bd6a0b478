//! Throughput of the sled-backed ledger: durable appends (1 and 64 writer tasks), read-back and
//! verification, with a raw sled `insert` + flush baseline measured in the same run.
//!
//! Prints one JSON line per measurement to stdout and a short summary to stderr.
//! `BENCH_EVENTS` sets the number of events per measurement (default 100000).
//!
//! Run with `cargo bench --bench ledger_append`.

use std::time::{Duration, Instant};

use credledger::ledger::{
    Actor, AppendRequest, ChainHash, Envelope, EnvelopeBody, EventId, EventMeta, EventStore,
    ExpectedVersion, NewEvent, Origin, Position, SledStore, StreamId, StreamVersion,
};
use credledger::time::Timestamp;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use tempfile::TempDir;

/// Events per measurement unless `BENCH_EVENTS` says otherwise.
const DEFAULT_EVENTS: usize = 100_000;
/// Size of every event payload.
const PAYLOAD_BYTES: usize = 200;
/// Events are spread over this many streams.
const STREAMS: usize = 1000;
/// Writer tasks of the concurrent measurements.
const CONCURRENT_WRITERS: usize = 64;
/// `read_all` chunk size of the read-back measurement.
const READ_CHUNK: usize = 1000;
/// Seed of the payload bytes.
const SEED: u64 = 0x00C0_FFEE_1ED6_E500;
/// Event type of every appended event.
const EVENT_TYPE: &str = "bench.credential_rotated";
/// Name of the raw baseline in the JSON output.
const BASELINE: &str = "raw_sled_insert_flush";

/// What every measurement shares.
struct Setup {
    events: usize,
    /// Encoded size of one stored envelope with a `PAYLOAD_BYTES` payload; the raw baseline
    /// writes values of this size.
    envelope_bytes: usize,
    streams: Vec<StreamId>,
}

/// One timed run.
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

fn main() {
    let events = match std::env::var("BENCH_EVENTS") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse::<usize>()
            .expect("BENCH_EVENTS must be a whole number of events"),
        Err(_) => DEFAULT_EVENTS,
    };
    assert!(events > 0, "BENCH_EVENTS must be at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    runtime.block_on(run(events));
}

async fn run(events: usize) {
    let started = Instant::now();
    let streams: Vec<StreamId> = (0..STREAMS)
        .map(|i| StreamId::new(format!("bench-stream-{i:04}")).expect("valid stream id"))
        .collect();
    let setup = Setup {
        events,
        envelope_bytes: sample_envelope_bytes(events, &streams[STREAMS - 1]),
        streams,
    };
    eprintln!(
        "ledger_append: {} events, {PAYLOAD_BYTES}-byte payloads ({}-byte envelopes), {STREAMS} streams",
        setup.events, setup.envelope_bytes
    );
    let mut summary = Vec::new();

    for writers in [1, CONCURRENT_WRITERS] {
        eprintln!("  raw sled insert+flush, {writers} task(s)...");
        let raw = bench_raw_sled(&setup, writers).await;
        emit(&Line {
            tasks: Some(writers),
            value_bytes: Some(setup.envelope_bytes),
            ..Line::new(BASELINE, &setup, &raw)
        });

        eprintln!("  ledger append, {writers} writer task(s)...");
        let (ledger, store, dir) = bench_ledger_append(&setup, writers).await;
        let ratio = ledger.events_per_sec / raw.events_per_sec;
        emit(&Line {
            writers: Some(writers),
            payload_bytes: Some(PAYLOAD_BYTES),
            envelope_bytes: Some(setup.envelope_bytes),
            streams: Some(STREAMS),
            baseline: Some(BASELINE),
            baseline_events_per_sec: Some(raw.events_per_sec),
            ratio: Some(ratio),
            ..Line::new("append", &setup, &ledger)
        });
        summary.push(format!(
            "append, {writers:>2} writer(s): {:>9.0} events/s in {:>7.2} s | raw sled {:>9.0} events/s | ledger/raw {ratio:.3}",
            ledger.events_per_sec, ledger.secs, raw.events_per_sec
        ));

        if writers == CONCURRENT_WRITERS {
            // Read-back and verify walk the log the concurrent writers just wrote.
            eprintln!("  read_all in chunks of {READ_CHUNK}...");
            let read = bench_read_all(&store, setup.events).await;
            emit(&Line {
                chunk: Some(READ_CHUNK),
                payload_bytes: Some(PAYLOAD_BYTES),
                envelope_bytes: Some(setup.envelope_bytes),
                log_written_by_writers: Some(writers),
                ..Line::new("read_all", &setup, &read)
            });
            summary.push(format!(
                "read_all, chunks of {READ_CHUNK}: {:>9.0} events/s in {:>7.2} s",
                read.events_per_sec, read.secs
            ));

            eprintln!("  verify...");
            let verify = bench_verify(&store, setup.events).await;
            emit(&Line {
                payload_bytes: Some(PAYLOAD_BYTES),
                envelope_bytes: Some(setup.envelope_bytes),
                log_written_by_writers: Some(writers),
                ..Line::new("verify", &setup, &verify)
            });
            summary.push(format!(
                "verify:                 {:>9.0} events/s in {:>7.2} s",
                verify.events_per_sec, verify.secs
            ));
        }
        store.close().await.expect("cannot close the ledger");
        drop(dir);
    }

    eprintln!(
        "\nledger_append summary ({} events, {PAYLOAD_BYTES}-byte payloads, {STREAMS} streams, total {:.1} s):",
        setup.events,
        started.elapsed().as_secs_f64()
    );
    for line in &summary {
        eprintln!("  {line}");
    }
}

/// One JSON output line; fields print in this order, absent ones are left out.
#[derive(Serialize)]
struct Line {
    bench: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    writers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<usize>,
    events: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    envelope_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    streams: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chunk: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_written_by_writers: Option<usize>,
    secs: f64,
    events_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_events_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
}

impl Line {
    fn new(bench: &'static str, setup: &Setup, timing: &Timing) -> Line {
        Line {
            bench,
            writers: None,
            tasks: None,
            events: setup.events,
            payload_bytes: None,
            envelope_bytes: None,
            value_bytes: None,
            streams: None,
            chunk: None,
            log_written_by_writers: None,
            secs: timing.secs,
            events_per_sec: timing.events_per_sec,
            baseline: None,
            baseline_events_per_sec: None,
            ratio: None,
        }
    }
}

/// Prints one measurement as one JSON line.
fn emit(line: &Line) {
    println!(
        "{}",
        serde_json::to_string(line).expect("a measurement serializes")
    );
}

/// `count` payloads of `PAYLOAD_BYTES` random-looking bytes, the same on every run.
fn payloads(count: usize, seed: u64, len: usize) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            bytes
        })
        .collect()
}

/// Deals items round-robin into `parts` lists.
fn split<T>(items: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..parts)
        .map(|_| Vec::with_capacity(items.len() / parts + 1))
        .collect();
    for (i, item) in items.into_iter().enumerate() {
        out[i % parts].push(item);
    }
    out
}

/// Stored size of an envelope like the ones the bench appends (late position, longest stream id).
fn sample_envelope_bytes(events: usize, stream: &StreamId) -> usize {
    let meta = EventMeta::system();
    let body = EnvelopeBody {
        position: Position(events as u64),
        stream_id: stream.clone(),
        stream_version: StreamVersion(events.div_ceil(STREAMS) as u64),
        event_id: EventId::new(),
        event_type: EVENT_TYPE.into(),
        schema_version: 1,
        recorded_at: Timestamp::now(),
        actor: Actor::system(),
        origin: Origin::System,
        correlation_id: meta.correlation_id,
        causation_id: meta.causation_id,
        payload: vec![0xA5; PAYLOAD_BYTES],
        prev_hash: ChainHash([0x5A; 32]),
    };
    Envelope::chained(body)
        .expect("sample envelope seals")
        .encode()
        .expect("sample envelope encodes")
        .len()
}

/// Durable single-event appends with `ExpectedVersion::Any` from `writers` tasks; returns the
/// timing and the still open store (with its directory) for the read measurements.
async fn bench_ledger_append(setup: &Setup, writers: usize) -> (Timing, SledStore, TempDir) {
    let dir = TempDir::new().expect("cannot create a temporary directory");
    let store = SledStore::open(dir.path()).expect("cannot open the ledger");
    let requests: Vec<AppendRequest> = payloads(setup.events, SEED, PAYLOAD_BYTES)
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            AppendRequest::new(
                setup.streams[i % STREAMS].clone(),
                ExpectedVersion::Any,
                vec![NewEvent {
                    event_id: EventId::new(),
                    event_type: EVENT_TYPE.into(),
                    schema_version: 1,
                    payload,
                    meta: EventMeta::system(),
                }],
            )
        })
        .collect();
    let parts = split(requests, writers);

    let start = Instant::now();
    let tasks: Vec<_> = parts
        .into_iter()
        .map(|part| {
            let store = store.clone();
            tokio::spawn(async move {
                for request in part {
                    store.append(request).await.expect("append failed");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task panicked");
    }
    let timing = Timing::new(setup.events, start.elapsed());

    assert_eq!(
        store.head().position,
        setup.events as u64,
        "the durable head must count every appended event"
    );
    (timing, store, dir)
}

/// Raw sled: one `insert` of an envelope-sized value then a `flush` per write, from `tasks`
/// tasks, on the same default sled configuration the ledger opens.
async fn bench_raw_sled(setup: &Setup, tasks: usize) -> Timing {
    let dir = TempDir::new().expect("cannot create a temporary directory");
    let db = sled::Config::new()
        .path(dir.path())
        .open()
        .expect("cannot open sled");
    let tree = db.open_tree("bench").expect("cannot open the bench tree");
    let writes: Vec<(u64, Vec<u8>)> = payloads(setup.events, SEED, setup.envelope_bytes)
        .into_iter()
        .enumerate()
        .map(|(i, value)| (i as u64 + 1, value))
        .collect();
    let parts = split(writes, tasks);

    let start = Instant::now();
    let handles: Vec<_> = parts
        .into_iter()
        .map(|part| {
            let db = db.clone();
            let tree = tree.clone();
            tokio::spawn(async move {
                for (key, value) in part {
                    tree.insert(key.to_be_bytes(), value)
                        .expect("sled insert failed");
                    // `flush()` on the blocking pool, not `flush_async()`: concurrent
                    // `flush_async` calls deadlock sled 0.34 (spacejam/sled#1308).
                    let db = db.clone();
                    tokio::task::spawn_blocking(move || db.flush())
                        .await
                        .expect("flush task panicked")
                        .expect("sled flush failed");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("raw writer task panicked");
    }
    let timing = Timing::new(setup.events, start.elapsed());

    assert_eq!(tree.len(), setup.events, "every raw write must be stored");
    drop(tree);
    drop(db);
    drop(dir);
    timing
}

/// Reads the whole log back with `read_all` in chunks of `READ_CHUNK`.
async fn bench_read_all(store: &SledStore, events: usize) -> Timing {
    let start = Instant::now();
    let mut next = Position::FIRST;
    let mut payload_bytes = 0usize;
    loop {
        let chunk = store
            .read_all(next, READ_CHUNK)
            .await
            .expect("read_all failed");
        let Some(last) = chunk.last() else { break };
        assert_eq!(
            chunk[0].position(),
            next,
            "read_all must continue where the last chunk ended"
        );
        next = last.position().next();
        payload_bytes += chunk.iter().map(|e| e.body.payload.len()).sum::<usize>();
    }
    let timing = Timing::new(events, start.elapsed());
    assert_eq!(
        next.0 - 1,
        events as u64,
        "read_all must return every event"
    );
    assert_eq!(payload_bytes, events * PAYLOAD_BYTES);
    timing
}

/// Times `SledStore::verify` over the whole log.
async fn bench_verify(store: &SledStore, events: usize) -> Timing {
    let store = store.clone();
    let start = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || store.verify())
        .await
        .expect("verify task panicked")
        .expect("verify could not read the log");
    let timing = Timing::new(events, start.elapsed());
    let summary = outcome.expect("the chain must be intact");
    assert_eq!(
        summary.events, events as u64,
        "verify must check every event"
    );
    timing
}
