//! Throughput of logical backup and recovery on a large ledger: export, import, verify and
//! recover-as-of, each next to a raw sled baseline measured in the same run (iterating the
//! events tree; copying it into a new database in batches of 4096 with a flush each).
//!
//! Prints one JSON line per measurement to stdout and a short summary to stderr.
//! `BENCH_EVENTS` sets the ledger size (default 1 000 000 events of 200-byte payloads).
//!
//! Run with `cargo bench --bench ledger_backup`.

use std::io::{BufReader, BufWriter};
use std::time::{Duration, Instant};

use credledger::app::backup as data_backup;
use credledger::ledger::{
    open_db, AppendRequest, EventId, EventMeta, EventStore, ExpectedVersion, NewEvent, SledStore,
    StreamId,
};
use credledger::time::Timestamp;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::json;
use tempfile::TempDir;

/// Events unless `BENCH_EVENTS` says otherwise.
const DEFAULT_EVENTS: usize = 1_000_000;
/// Size of every event payload.
const PAYLOAD_BYTES: usize = 200;
/// Events per append while building the ledger (the writer's per-append maximum is 10 000).
const EVENTS_PER_APPEND: usize = 5_000;
/// Streams the events are spread over.
const STREAMS: usize = 1000;
/// Events per batch of the raw copy baseline (the importer's batch size).
const RAW_BATCH: usize = 4096;

fn main() {
    let events = match std::env::var("BENCH_EVENTS") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse::<usize>()
            .expect("BENCH_EVENTS must be a whole number of events"),
        Err(_) => DEFAULT_EVENTS,
    };
    assert!(events >= 2, "BENCH_EVENTS must be at least 2");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    runtime.block_on(run(events));
}

fn rate(events: u64, elapsed: Duration) -> (f64, f64) {
    let secs = elapsed.as_secs_f64();
    (secs, events as f64 / secs.max(1e-9))
}

fn emit(
    bench: &str,
    events: u64,
    elapsed: Duration,
    extra: serde_json::Value,
    baseline: Option<(&str, f64)>,
) -> f64 {
    let (secs, per_sec) = rate(events, elapsed);
    let mut line =
        json!({"bench": bench, "events": events, "secs": secs, "events_per_sec": per_sec});
    if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
        line.extend(extra.clone());
        if let Some((name, base)) = baseline {
            line.insert("baseline".into(), name.into());
            line.insert("baseline_events_per_sec".into(), base.into());
            line.insert("ratio".into(), (per_sec / base).into());
        }
    }
    println!("{line}");
    per_sec
}

/// Appends `events` events in big appends; returns the time halfway through the log.
async fn build(store: &SledStore, events: usize) -> Timestamp {
    let mut rng = StdRng::seed_from_u64(0x00C0_FFEE_BACC_0000);
    let streams: Vec<StreamId> = (0..STREAMS)
        .map(|i| StreamId::new(format!("bench-stream-{i:04}")).expect("valid stream id"))
        .collect();
    let mut written = 0;
    let mut middle = None;
    let mut i = 0;
    while written < events {
        if middle.is_none() && written >= events / 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            middle = Some(Timestamp::now());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let n = EVENTS_PER_APPEND.min(events - written);
        let batch = (0..n)
            .map(|_| {
                let mut payload = vec![0u8; PAYLOAD_BYTES];
                rng.fill_bytes(&mut payload);
                NewEvent {
                    event_id: EventId::new(),
                    event_type: "bench.credential_rotated".into(),
                    schema_version: 1,
                    payload,
                    meta: EventMeta::system(),
                }
            })
            .collect();
        store
            .append(AppendRequest::new(
                streams[i % STREAMS].clone(),
                ExpectedVersion::Any,
                batch,
            ))
            .await
            .expect("append failed");
        written += n;
        i += 1;
        if written % 100_000 < EVENTS_PER_APPEND {
            eprintln!("    ... {written} events appended");
        }
    }
    middle.expect("a middle time")
}

async fn run(events: usize) {
    let started = Instant::now();
    let dir = TempDir::new().expect("cannot create a temporary directory");
    let source = dir.path().join("source");
    eprintln!("ledger_backup: building a ledger of {events} events ({PAYLOAD_BYTES}-byte payloads, {EVENTS_PER_APPEND} per append)...");
    let store = SledStore::open(&source).expect("cannot open the ledger");
    let built = Instant::now();
    let middle = build(&store, events).await;
    let build_time = built.elapsed();
    store.close().await.expect("close");
    drop(store);
    emit(
        "build_appends",
        events as u64,
        build_time,
        json!({"events_per_append": EVENTS_PER_APPEND}),
        None,
    );
    let mut summary = Vec::new();

    // Baseline 1: iterate the tree of event blocks.
    eprintln!("  raw sled iteration of the event blocks...");
    let (raw_iter, bytes) = {
        let db = open_db(&source).expect("open");
        let tree = db.open_tree("event_blocks").expect("tree");
        let t = Instant::now();
        let mut bytes = 0usize;
        for entry in tree.iter() {
            let (k, v) = entry.expect("entry");
            bytes += k.len() + v.len();
        }
        (t.elapsed(), bytes)
    };
    let raw_iter_rate = emit(
        "raw_sled_iter_events",
        events as u64,
        raw_iter,
        json!({"bytes": bytes}),
        None,
    );

    // Baseline 2: copy the event blocks into a new database in batches, one flush per batch.
    eprintln!("  raw sled copy of the event blocks (batches of {RAW_BATCH}, flush each)...");
    let raw_copy = {
        let src = open_db(&source).expect("open");
        let tree = src.open_tree("event_blocks").expect("tree");
        let dst = open_db(&dir.path().join("raw-copy")).expect("open");
        let out = dst.open_tree("event_blocks").expect("tree");
        let t = Instant::now();
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for entry in tree.iter() {
            let (k, v) = entry.expect("entry");
            batch.insert(k, v);
            n += 1;
            if n % RAW_BATCH == 0 {
                out.apply_batch(std::mem::take(&mut batch)).expect("batch");
                dst.flush().expect("flush");
            }
        }
        out.apply_batch(batch).expect("batch");
        dst.flush().expect("flush");
        t.elapsed()
    };
    let raw_copy_rate = emit(
        "raw_sled_copy_events",
        events as u64,
        raw_copy,
        json!({"batch": RAW_BATCH}),
        None,
    );

    eprintln!("  verify...");
    let t = Instant::now();
    let verified = SledStore::verify_path(&source)
        .expect("verify")
        .expect("intact");
    let verify_rate = emit(
        "verify",
        verified.events,
        t.elapsed(),
        json!({}),
        Some(("raw_sled_iter_events", raw_iter_rate)),
    );

    eprintln!("  export...");
    let file = dir.path().join("ledger.export");
    let t = Instant::now();
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&file).expect("create"));
    let exported = data_backup::export_data_dir(&source, out, &mut |_| {})
        .await
        .expect("export");
    let export_time = t.elapsed();
    let file_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let export_rate = emit(
        "export",
        exported.events,
        export_time,
        json!({"file_bytes": file_bytes}),
        Some(("raw_sled_iter_events", raw_iter_rate)),
    );

    eprintln!("  import...");
    let t = Instant::now();
    let input = BufReader::with_capacity(1 << 20, std::fs::File::open(&file).expect("open"));
    let imported =
        data_backup::import_data_dir(input, &dir.path().join("imported"), None, &mut |_| {})
            .expect("import");
    let import_time = t.elapsed();
    assert_eq!(
        imported.head, exported.head,
        "the import ends at the export's head"
    );
    let import_rate = emit(
        "import",
        imported.events,
        import_time,
        json!({}),
        Some(("raw_sled_copy_events", raw_copy_rate)),
    );

    eprintln!("  recover as of the middle of the log...");
    let t = Instant::now();
    let recovered =
        data_backup::recover_data_dir(&source, middle, &dir.path().join("recovered"), &mut |_| {})
            .expect("recover");
    let recover_time = t.elapsed();
    let recover_rate = emit(
        "recover_as_of_half",
        recovered.events,
        recover_time,
        json!({}),
        Some(("raw_sled_copy_events", raw_copy_rate)),
    );

    for (name, value, base, base_name) in [
        ("verify", verify_rate, raw_iter_rate, "raw iter"),
        ("export", export_rate, raw_iter_rate, "raw iter"),
        ("import", import_rate, raw_copy_rate, "raw copy"),
        (
            "recover-as-of (half)",
            recover_rate,
            raw_copy_rate,
            "raw copy",
        ),
    ] {
        summary.push(format!(
            "{name:<22} {value:>10.0} events/s | {base_name} {base:>10.0} events/s | ratio {:.3}",
            value / base
        ));
    }
    eprintln!(
        "\nledger_backup summary ({events} events, {PAYLOAD_BYTES}-byte payloads, export file {:.1} MB, recover copied {} events in {:.2} s, total {:.1} s):",
        file_bytes as f64 / 1e6,
        recovered.events,
        recover_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "  build (appends of {EVENTS_PER_APPEND}) {:>10.0} events/s",
        events as f64 / build_time.as_secs_f64()
    );
    for line in &summary {
        eprintln!("  {line}");
    }
}
