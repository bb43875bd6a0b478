//! The sled backend: the conformance suite, persistence across reopen, and tamper evidence
//! through `credledger verify`.

mod conformance;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use credledger::ledger::{EventStore, ExpectedVersion, Position, SledStore, StreamRange};
use credledger::time::Timestamp;
use support::{event, request};
use tempfile::TempDir;

fn fresh() -> (SledStore, TempDir) {
    let dir = TempDir::new().expect("temp dir");
    let store = SledStore::open(dir.path().join("data")).expect("open store");
    (store, dir)
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (store, _dir) = fresh();
            conformance::$name(store).await;
        }
    )*};
}

conformance::every_check!(conformance_tests);

/// Writes `count` events over three streams and closes the store.
async fn populate(path: &Path, count: u64) {
    let store = SledStore::open(path).expect("open");
    for i in 0..count {
        store
            .append(request(
                &format!("stream-{}", i % 3),
                ExpectedVersion::Any,
                vec![event(
                    "test.recorded",
                    format!("event number {i}").as_bytes(),
                )],
            ))
            .await
            .expect("append");
    }
    store.close().await.expect("close");
}

fn run_verify(path: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["verify", "--data-dir"])
        .arg(path)
        .output()
        .expect("run credledger verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// Opens the stored events past every check and hands them to `tamper`.
fn tamper_with_events(path: &Path, tamper: impl FnOnce(&credledger::ledger::RawLog)) {
    let log = credledger::ledger::RawLog::open(path).expect("open raw log");
    tamper(&log);
    log.flush().expect("flush");
}

#[tokio::test(flavor = "multi_thread")]
async fn events_survive_reopen_and_appends_continue_the_chain() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    populate(&path, 10).await;
    let store = SledStore::open(&path).expect("reopen");
    let head = store.head();
    assert_eq!(head.position, 10);
    let next = store
        .append(request(
            "stream-0",
            ExpectedVersion::Any,
            vec![event("test.recorded", b"after")],
        ))
        .await
        .expect("append after reopen");
    assert_eq!(next.first_position, Position(11));
    let stream = store
        .read_stream(&support::stream("stream-0"), StreamRange::all())
        .await
        .expect("read");
    assert_eq!(stream.len(), 5);
    assert_eq!(stream[4].body.prev_hash, head.hash);
    store.close().await.expect("close");
    drop(store);
    let (code, text) = run_verify(&path);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("OK: 11 events verified"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_ok_with_count_and_head_hash() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    populate(&path, 25).await;
    let store = SledStore::open(&path).expect("reopen");
    let head_hex = store.head().hash.to_hex();
    store.close().await.expect("close");
    drop(store);
    let (code, text) = run_verify(&path);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("OK: 25 events verified"), "{text}");
    assert!(text.contains(&head_hex), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_a_flipped_byte() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    populate(&path, 12).await;
    tamper_with_events(&path, |events| {
        let mut bytes = events.event(7).expect("get").expect("position 7");
        let at = bytes.len() - 40; // inside the body, before the stored hash
        bytes[at] ^= 0x01;
        events.set_event(7, Some(&bytes)).expect("insert");
    });
    let (code, text) = run_verify(&path);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAILED: chain broken at position 7"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_a_deleted_event() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    populate(&path, 12).await;
    tamper_with_events(&path, |events| {
        events.set_event(5, None).expect("remove");
    });
    let (code, text) = run_verify(&path);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("chain broken at position 5: event missing"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_swapped_events() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    populate(&path, 12).await;
    tamper_with_events(&path, |events| {
        let a = events.event(3).expect("get").expect("3");
        let b = events.event(4).expect("get").expect("4");
        events.set_event(3, Some(&b)).expect("insert");
        events.set_event(4, Some(&a)).expect("insert");
    });
    let (code, text) = run_verify(&path);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("chain broken at position 3"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_a_truncated_tail() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    populate(&path, 12).await;
    tamper_with_events(&path, |events| {
        events.set_event(12, None).expect("remove");
    });
    let (code, text) = run_verify(&path);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("chain broken at position 12"), "{text}");
    // The store refuses to open a log whose head disagrees with its events.
    let err = SledStore::open(&path)
        .err()
        .expect("inconsistent log refused");
    assert!(err.to_string().contains("credledger verify"), "{err}");
}

#[test]
fn verify_of_a_missing_directory_is_a_clear_error() {
    let dir = TempDir::new().expect("temp dir");
    let (code, text) = run_verify(&dir.path().join("nothing-here"));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no data directory"), "{text}");
}

/// Appends `count` events in appends of one to five events over seven streams, concurrently
/// from four tasks, so that blocks fill across batches and streams cross many chunks.
async fn populate_mixed(store: &SledStore, count: usize) {
    let mut tasks = Vec::new();
    for task in 0..4usize {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = 0;
            let mut i = task;
            while written < count / 4 {
                let size = 1 + i % 5;
                let events = (0..size)
                    .map(|n| event("test.recorded", format!("{task}-{i}-{n}").as_bytes()))
                    .collect();
                store
                    .append(request(
                        &format!("stream-{}", i % 7),
                        ExpectedVersion::Any,
                        events,
                    ))
                    .await
                    .expect("append");
                written += size;
                i += 4;
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
}

/// Every way of reading the log agrees with a brute-force walk of `read_all`.
async fn assert_reads_agree(store: &SledStore) {
    let head = store.head().position;
    let all = store.read_all(Position(1), usize::MAX).await.expect("all");
    assert_eq!(all.len() as u64, head);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.body.position.0, i as u64 + 1);
    }
    for s in 0..7 {
        let name = format!("stream-{s}");
        let expected: Vec<_> = all
            .iter()
            .filter(|e| e.body.stream_id.as_str() == name)
            .map(|e| e.body.position)
            .collect();
        let stream = store
            .read_stream(&support::stream(&name), StreamRange::all())
            .await
            .expect("stream");
        let got: Vec<_> = stream.iter().map(|e| e.body.position).collect();
        assert_eq!(got, expected, "{name}");
        for (v, e) in stream.iter().enumerate() {
            assert_eq!(e.body.stream_version.0, v as u64 + 1);
        }
        let version = store
            .stream_version(&support::stream(&name))
            .await
            .expect("version");
        assert_eq!(version.0, expected.len() as u64);
    }
    // Every event's time, and a microsecond before it: the time index keeps one entry per
    // eight blocks, so most answers come from the blocks between two entries.
    for e in &all {
        for at in [e.body.recorded_at, Timestamp(e.body.recorded_at.0 - 1)] {
            let first = store.first_position_at_or_after(at).await.expect("first");
            let brute = all
                .iter()
                .find(|e| e.body.recorded_at >= at)
                .map(|e| e.body.position)
                .expect("found");
            assert_eq!(first, brute, "first position at {at:?}");
        }
    }
    for probe in [0, 1, head / 3, head / 2, head - 1, head - 1] {
        let at = all[probe as usize].body.recorded_at;
        let to = all[(probe as usize + 40).min(all.len() - 1)]
            .body
            .recorded_at;
        let range = store.read_time_range(at, to, 25).await.expect("range");
        let brute: Vec<_> = all
            .iter()
            .filter(|e| e.body.recorded_at >= at && e.body.recorded_at <= to)
            .take(25)
            .map(|e| e.body.position)
            .collect();
        assert_eq!(
            range.iter().map(|e| e.body.position).collect::<Vec<_>>(),
            brute
        );
    }
    let after_end = store
        .first_position_at_or_after(Timestamp(i64::MAX))
        .await
        .expect("after end");
    assert_eq!(after_end.0, head + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_blocks_read_back_by_position_stream_and_time_before_and_after_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    let store = SledStore::open(&path).expect("open");
    populate_mixed(&store, 3000).await;
    assert_reads_agree(&store).await;
    // A re-append of stored event ids is still recognised after its block filled up.
    let first = store.read_all(Position(1), 1).await.expect("first")[0].clone();
    let mut again = event("test.recorded", b"ignored");
    again.event_id = first.body.event_id;
    let err = store
        .append(request("stream-x", ExpectedVersion::Any, vec![again]))
        .await
        .expect_err("reused id");
    assert!(err.to_string().contains("event id"), "{err}");
    store.close().await.expect("close");
    drop(store);
    let store = SledStore::open(&path).expect("reopen");
    assert_reads_agree(&store).await;
    let head = store.head().position;
    store.close().await.expect("close");
    drop(store);
    let (code, text) = run_verify(&path);
    assert_eq!(code, 0, "{text}");
    // Only the last, unfilled block is kept apart; every full one moved to `event_blocks`,
    // and all but the newest few of those on to the archive file.
    let db = credledger::ledger::open_db(&path).expect("db");
    let open = db.open_tree("open_event_block").expect("tree");
    let full = db.open_tree("event_blocks").expect("tree");
    assert!(open.len() <= 1, "{} open blocks", open.len());
    let (archived, bytes) = archived_blocks(&db);
    assert_eq!(full.len() as u64 + archived, head / 16);
    assert!(full.len() < 64, "{} full blocks left in sled", full.len());
    assert!(archived >= 100, "{archived} blocks archived");
    let file = std::fs::metadata(path.join("archived_event_blocks")).expect("archive file");
    assert_eq!(file.len(), bytes);
    // New directories are layout 3: 128 versions per stream chunk.
    let layout = db
        .open_tree("meta")
        .expect("meta")
        .get("layout")
        .expect("layout");
    assert_eq!(layout.as_deref(), Some(&[3u8][..]));
    assert_stream_chunks_of(&db, 128, 128);
}

/// `(blocks, bytes)` of the archive file, as recorded in `archive_index`.
fn archived_blocks(db: &sled::Db) -> (u64, u64) {
    let index = db.open_tree("archive_index").expect("tree");
    match index.get("state").expect("state") {
        Some(v) => {
            assert_eq!(v.len(), 16, "archive state");
            let blocks = u64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
            let bytes = u64::from_be_bytes(v[8..].try_into().expect("8 bytes"));
            (blocks, bytes)
        }
        None => (0, 0),
    }
}

/// Where the archive holds `block`: its `(start, len)` in the file.
fn archived_location(db: &sled::Db, block: u64) -> (u64, u32) {
    let index = db.open_tree("archive_index").expect("tree");
    let group = index
        .get((block / 256).to_be_bytes())
        .expect("index")
        .expect("group");
    let at = (block % 256) as usize * 12;
    let start = u64::from_be_bytes(group[at..at + 8].try_into().expect("start"));
    let len = u32::from_be_bytes(group[at + 8..at + 12].try_into().expect("len"));
    (start, len)
}

/// A log of `count` mixed events, closed, in `dir/data`.
async fn archived_log(dir: &Path, count: usize) -> std::path::PathBuf {
    let path = dir.join("data");
    let store = SledStore::open(&path).expect("open");
    populate_mixed(&store, count).await;
    store.close().await.expect("close");
    drop(store);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bytes_a_cut_short_archive_move_left_are_cut_off_at_open() {
    let dir = TempDir::new().expect("temp dir");
    let path = archived_log(dir.path(), 2000).await;
    let file = path.join("archived_event_blocks");
    let recorded = std::fs::metadata(&file).expect("archive").len();
    assert!(recorded > 0);
    // What a move writes before its transaction commits, if the process dies in between.
    let mut leftover = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .expect("open");
    std::io::Write::write_all(&mut leftover, &[0xAB; 5000]).expect("write");
    drop(leftover);

    let store = SledStore::open(&path).expect("reopen");
    assert_eq!(std::fs::metadata(&file).expect("archive").len(), recorded);
    assert_reads_agree(&store).await;
    populate_mixed(&store, 1200).await;
    assert_reads_agree(&store).await;
    store.close().await.expect("close");
    drop(store);
    let (code, text) = run_verify(&path);
    assert_eq!(code, 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_or_missing_archive_is_named_never_read_as_a_shorter_log() {
    let dir = TempDir::new().expect("temp dir");
    let path = archived_log(dir.path(), 2000).await;
    let file = path.join("archived_event_blocks");
    let (start, len) = {
        let db = credledger::ledger::open_db(&path).expect("db");
        archived_location(&db, 10)
    };
    assert!(len > 40);
    // A flipped byte inside block 10's first envelope (position 161).
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[start as usize + 30] ^= 0x01;
    std::fs::write(&file, &bytes).expect("write");
    let (code, text) = run_verify(&path);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("at position 161"),
        "names the position: {text}"
    );

    // A truncated archive: refused on open and by verify, naming the file.
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&file, &bytes).expect("write");
    let err = SledStore::open(&path).err().expect("refused");
    assert!(err.to_string().contains("archived_event_blocks"), "{err}");
    let (code, text) = run_verify(&path);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("archived_event_blocks"), "{text}");

    // A missing one likewise.
    std::fs::remove_file(&file).expect("remove");
    let err = SledStore::open(&path).err().expect("refused");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_names_a_changed_or_deleted_archived_event() {
    let dir = TempDir::new().expect("temp dir");
    let path = archived_log(dir.path(), 2000).await;
    tamper_with_events(&path, |events| {
        let mut bytes = events.event(300).expect("get").expect("position 300");
        let at = bytes.len() - 40;
        bytes[at] ^= 0x01;
        events.set_event(300, Some(&bytes)).expect("change");
    });
    let (code, text) = run_verify(&path);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("chain broken at position 300"), "{text}");
    tamper_with_events(&path, |events| {
        events.set_event(200, None).expect("delete");
    });
    let (code, text) = run_verify(&path);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("chain broken at position 200: event missing"),
        "{text}"
    );
}

/// A stream's key prefix in the frozen layouts: its length (u16) and its bytes.
fn frozen_stream_prefix(stream: &[u8]) -> Vec<u8> {
    let mut key = (stream.len() as u16).to_be_bytes().to_vec();
    key.extend_from_slice(stream);
    key
}

/// A time key in the frozen layouts: the time with its sign bit flipped, then the position.
fn frozen_time_key(e: &credledger::ledger::Envelope, position: u64) -> Vec<u8> {
    let mut time = ((e.body.recorded_at.0 as u64) ^ (1 << 63))
        .to_be_bytes()
        .to_vec();
    time.extend_from_slice(&position.to_be_bytes());
    time
}

/// The head in `meta` of a frozen layout, and its layout marker if it has one.
fn write_frozen_meta(meta: &sled::Tree, last: &credledger::ledger::Envelope, layout: Option<u8>) {
    meta.insert("format_version", &[1u8]).expect("format");
    if let Some(layout) = layout {
        meta.insert("layout", &[layout]).expect("layout");
    }
    meta.insert("head_position", &last.body.position.0.to_be_bytes())
        .expect("head");
    meta.insert("head_hash", &last.hash.0).expect("hash");
    meta.insert("last_recorded_at", &last.body.recorded_at.0.to_be_bytes())
        .expect("time");
}

/// A log of `count` mixed events written by the current code, as `(position, bytes)`.
async fn events_of_a_fresh_log(dir: &Path, count: usize) -> Vec<(u64, Vec<u8>)> {
    let source = dir.join("source");
    let store = SledStore::open(&source).expect("open");
    populate_mixed(&store, count).await;
    store.close().await.expect("close");
    drop(store);
    credledger::ledger::RawLog::open(&source)
        .expect("raw")
        .events()
        .expect("events")
}

/// Asserts that `stream-0`'s positions are kept in chunks of `per_chunk` versions, and that it
/// has more than `at_least` versions (so several chunks).
fn assert_stream_chunks_of(db: &sled::Db, per_chunk: usize, at_least: usize) {
    let chunks = db.open_tree("stream_chunks").expect("tree");
    let prefix = frozen_stream_prefix(b"stream-0");
    let versions: usize = chunks
        .scan_prefix(&prefix)
        .map(|kv| kv.expect("chunk").1.len() / 8)
        .sum();
    assert!(versions > at_least, "stream-0 has {versions} versions");
    assert_eq!(
        chunks.scan_prefix(&prefix).count(),
        versions.div_ceil(per_chunk),
        "chunks of {per_chunk} versions"
    );
}

/// The frozen layout 2: blocks of 16 events (full ones in `event_blocks`, the last partial one
/// in `open_event_block`), chunks of 32 stream versions, id blocks of up to 128 sorted ids, a
/// time for every 8th block, and `layout` 2 in `meta`.
fn write_layout_two(path: &Path, events: &[(u64, Vec<u8>)]) {
    let db = credledger::ledger::open_db(path).expect("open layout 2");
    let tree = |name: &str| db.open_tree(name).expect("tree");
    let (full, open, chunks, ids, times, heads, meta) = (
        tree("event_blocks"),
        tree("open_event_block"),
        tree("stream_chunks"),
        tree("event_id_blocks"),
        tree("block_times"),
        tree("stream_heads"),
        tree("meta"),
    );
    let mut blocks: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut stream_chunks: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut id_entries = Vec::new();
    let mut last = None;
    for (position, bytes) in events {
        let e = credledger::ledger::Envelope::decode(bytes).expect("decode");
        let block = (position - 1) / 16;
        let entry = blocks.entry(block).or_default();
        entry.push(((position - 1) % 16) as u8);
        entry.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        entry.extend_from_slice(bytes);
        if (position - 1) % (16 * 8) == 0 {
            times
                .insert(frozen_time_key(&e, *position), &[])
                .expect("time");
        }
        let stream = e.body.stream_id.as_str().as_bytes();
        let mut key = frozen_stream_prefix(stream);
        key.extend_from_slice(&((e.body.stream_version.0 - 1) / 32).to_be_bytes());
        stream_chunks
            .entry(key)
            .or_default()
            .extend_from_slice(&position.to_be_bytes());
        heads
            .insert(stream, &e.body.stream_version.0.to_be_bytes())
            .expect("head");
        let mut id = e.body.event_id.0.as_bytes().to_vec();
        id.extend_from_slice(&position.to_be_bytes());
        id_entries.push(id);
        last = Some(e);
    }
    let last_block = *blocks.keys().next_back().expect("blocks");
    for (block, value) in &blocks {
        let filled = (block + 1) * 16 <= events.len() as u64;
        let into = if *block == last_block && !filled {
            &open
        } else {
            &full
        };
        into.insert(block.to_be_bytes(), value.as_slice())
            .expect("block");
    }
    for (key, value) in stream_chunks {
        chunks.insert(key, value).expect("chunk");
    }
    id_entries.sort();
    for block in id_entries.chunks(128) {
        ids.insert(&block[0][..16], block.concat()).expect("ids");
    }
    write_frozen_meta(&meta, &last.expect("events"), Some(2));
    db.flush().expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_log_of_block_layout_2_is_read_and_extended_as_it_is() {
    let dir = TempDir::new().expect("temp dir");
    let events = events_of_a_fresh_log(dir.path(), 1500).await;
    let narrow = dir.path().join("layout-2");
    write_layout_two(&narrow, &events);

    let store = SledStore::open(&narrow).expect("open layout 2");
    assert_eq!(store.head().position, events.len() as u64);
    assert_reads_agree(&store).await;
    populate_mixed(&store, 300).await;
    assert_reads_agree(&store).await;
    let head = store.head().position;
    store.close().await.expect("close");
    drop(store);
    let store = SledStore::open(&narrow).expect("reopen");
    assert_reads_agree(&store).await;
    store.close().await.expect("close");
    drop(store);
    let (code, text) = run_verify(&narrow);
    assert_eq!(code, 0, "{text}");
    let db = credledger::ledger::open_db(&narrow).expect("db");
    let meta = db.open_tree("meta").expect("meta");
    assert_eq!(
        meta.get("layout").expect("layout").as_deref(),
        Some(&[2u8][..]),
        "a directory keeps the layout it was written in"
    );
    let full = db.open_tree("event_blocks").expect("tree");
    let (archived, _) = archived_blocks(&db);
    assert_eq!(
        full.len() as u64 + archived,
        head / 16,
        "appends keep blocks of 16"
    );
    assert!(
        archived > 0,
        "the full blocks written before the archive moved to it"
    );
    assert!(full.len() < 64, "{} full blocks left in sled", full.len());
    assert_stream_chunks_of(&db, 32, 64);
}

/// The frozen layout 1: a sled key per event in `events`, `stream_index`, `event_ids` and
/// `time_index`, and the head in `meta`.
fn write_layout_one(path: &Path, events: &[(u64, Vec<u8>)]) {
    let db = credledger::ledger::open_db(path).expect("open legacy");
    let tree = |name: &str| db.open_tree(name).expect("tree");
    let (log, streams, ids, times, heads, meta) = (
        tree("events"),
        tree("stream_index"),
        tree("event_ids"),
        tree("time_index"),
        tree("stream_heads"),
        tree("meta"),
    );
    let mut last = None;
    for (position, bytes) in events {
        let e = credledger::ledger::Envelope::decode(bytes).expect("decode");
        let stream = e.body.stream_id.as_str().as_bytes();
        let mut key = frozen_stream_prefix(stream);
        key.extend_from_slice(&e.body.stream_version.0.to_be_bytes());
        log.insert(position.to_be_bytes(), bytes.as_slice())
            .expect("event");
        streams
            .insert(key, &position.to_be_bytes())
            .expect("stream");
        ids.insert(e.body.event_id.0.as_bytes(), &position.to_be_bytes())
            .expect("id");
        times
            .insert(frozen_time_key(&e, *position), &[])
            .expect("time");
        heads
            .insert(stream, &e.body.stream_version.0.to_be_bytes())
            .expect("head");
        last = Some(e);
    }
    write_frozen_meta(&meta, &last.expect("events"), None);
    db.flush().expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_log_of_the_key_per_event_layout_is_moved_into_blocks_when_opened() {
    let dir = TempDir::new().expect("temp dir");
    let events = events_of_a_fresh_log(dir.path(), 400).await;
    let legacy = dir.path().join("legacy");
    write_layout_one(&legacy, &events);

    let store = SledStore::open(&legacy).expect("open and migrate");
    assert_eq!(store.head().position, events.len() as u64);
    assert_reads_agree(&store).await;
    let next = store
        .append(request(
            "stream-0",
            ExpectedVersion::Any,
            vec![event("test.recorded", b"after the move")],
        ))
        .await
        .expect("append after the move");
    assert_eq!(next.first_position.0, events.len() as u64 + 1);
    store.close().await.expect("close");
    drop(store);
    let moved = credledger::ledger::RawLog::open(&legacy)
        .expect("raw")
        .events()
        .expect("events");
    assert_eq!(
        moved[..events.len()],
        events[..],
        "envelopes are copied byte for byte"
    );
    let db = credledger::ledger::open_db(&legacy).expect("db");
    for old in ["events", "stream_index", "event_ids", "time_index"] {
        assert!(
            !db.tree_names().iter().any(|n| n.as_ref() == old.as_bytes()),
            "{old} is dropped"
        );
    }
    let layout = db
        .open_tree("meta")
        .expect("meta")
        .get("layout")
        .expect("layout");
    assert_eq!(layout.as_deref(), Some(&[3u8][..]), "moved into layout 3");
    drop(db);
    let (code, text) = run_verify(&legacy);
    assert_eq!(code, 0, "{text}");
}
