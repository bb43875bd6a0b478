//! The sled backend: the conformance suite, persistence across reopen, and tamper evidence
//! through `credledger verify`.

mod conformance;
mod support;

use std::path::Path;
use std::process::Command;

use credledger::ledger::{EventStore, ExpectedVersion, Position, SledStore, StreamRange};
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

conformance_tests!(
    positions_are_ordered_and_gapless,
    expected_versions_are_enforced,
    racing_writers_win_each_version_once,
    reappend_is_idempotent,
    invalid_appends_are_refused,
    reads_by_stream_version_time_and_position,
    subscription_catches_up_then_follows_live,
    times_map_to_positions_and_batches_drain,
    unique_key_claims_conflict_across_streams,
    unique_keys_release_then_reclaim,
    racing_claims_have_one_winner,
    idempotency_records_replay_the_first_outcome,
    racing_idempotent_appends_write_once,
    unique_keys_can_be_repaired,
);

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

/// Opens the raw sled database and hands the events tree to `tamper`.
fn tamper_with_events(path: &Path, tamper: impl FnOnce(&sled::Tree)) {
    let db = credledger::ledger::open_db(path).expect("open raw sled");
    let events = db.open_tree("events").expect("events tree");
    tamper(&events);
    db.flush().expect("flush");
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
        let key = 7u64.to_be_bytes();
        let mut bytes = events.get(key).expect("get").expect("position 7").to_vec();
        let at = bytes.len() - 40; // inside the body, before the stored hash
        bytes[at] ^= 0x01;
        events.insert(key, bytes).expect("insert");
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
        events.remove(5u64.to_be_bytes()).expect("remove");
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
        let a = events.get(3u64.to_be_bytes()).expect("get").expect("3");
        let b = events.get(4u64.to_be_bytes()).expect("get").expect("4");
        events.insert(3u64.to_be_bytes(), b).expect("insert");
        events.insert(4u64.to_be_bytes(), a).expect("insert");
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
        events.remove(12u64.to_be_bytes()).expect("remove");
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
