//! Backup, import, point-in-time recovery and signed checkpoints through the `credledger`
//! binary, on real sled directories.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use credledger::ledger::{EventStore, ExpectedVersion, Position, SledStore, StreamRange};
use support::{event, request};
use tempfile::TempDir;

/// Appends `count` events over three streams and closes the store.
async fn populate(path: &Path, count: u64) {
    let store = SledStore::open(path).expect("open");
    for i in 0..count {
        store
            .append(request(
                &format!("stream-{}", i % 3),
                ExpectedVersion::Any,
                vec![event("test.recorded", format!("event {i}").as_bytes())],
            ))
            .await
            .expect("append");
    }
    store.close().await.expect("close");
}

/// Runs the binary; answers the exit code and stdout + stderr.
fn run(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run credledger");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Every (key, value) of the events tree.
fn raw_events(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = credledger::ledger::open_db(path).expect("open raw sled");
    let events = db.open_tree("events").expect("events");
    events
        .iter()
        .map(|e| e.expect("entry"))
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

fn head_hash(text: &str) -> String {
    text.split("head hash ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no head hash in {text}"))
        .to_owned()
}

struct World {
    dir: TempDir,
    keys: TempDir,
}

impl World {
    fn new() -> World {
        World {
            dir: TempDir::new().expect("temp"),
            keys: TempDir::new().expect("temp"),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn key(&self) -> PathBuf {
        self.keys.path().join("signing.key")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn export_import_verify_round_trip_keeps_events_byte_identical() {
    let w = World::new();
    let (src, file, dst) = (w.path("src"), w.path("ledger.export"), w.path("dst"));
    populate(&src, 300).await;
    let (code, text) = run(&[
        "checkpoint",
        "create",
        "--data-dir",
        s(&src),
        "--signing-key",
        s(&w.key()),
    ]);
    assert_eq!(code, 0, "{text}");
    let (code, exported) = run(&["export", "--data-dir", s(&src), "--out", s(&file)]);
    assert_eq!(code, 0, "{exported}");
    assert!(exported.contains("exported 300 events"), "{exported}");
    assert!(exported.contains("1 checkpoints"), "{exported}");
    let (code, again) = run(&["export", "--data-dir", s(&src), "--out", s(&file)]);
    assert_eq!(
        code, 2,
        "an existing export file is not overwritten: {again}"
    );
    let (code, imported) = run(&["import", "--from", s(&file), "--data-dir", s(&dst)]);
    assert_eq!(code, 0, "{imported}");
    assert!(imported.contains("imported 300 events"), "{imported}");
    assert_eq!(head_hash(&exported), head_hash(&imported));
    let (code, verified) = run(&[
        "verify",
        "--data-dir",
        s(&dst),
        "--signing-key",
        s(&w.key()),
    ]);
    assert_eq!(code, 0, "{verified}");
    assert!(verified.contains("OK: 300 events verified"), "{verified}");
    assert!(
        verified.contains("OK: 1 checkpoints verified"),
        "{verified}"
    );
    assert_eq!(head_hash(&verified), head_hash(&exported));
    assert_eq!(raw_events(&src), raw_events(&dst));
    assert!(!w.path("dst.partial").exists());

    // The imported log opens and appends continue the chain and every stream.
    let store = SledStore::open(&dst).expect("open imported");
    let head = store.head();
    assert_eq!(head.position, 300);
    let next = store
        .append(request(
            "stream-1",
            ExpectedVersion::Exact(credledger::ledger::StreamVersion(100)),
            vec![event("test.recorded", b"after import")],
        ))
        .await
        .expect("append after import");
    assert_eq!(next.first_position, Position(301));
    let stream = store
        .read_stream(&support::stream("stream-1"), StreamRange::all())
        .await
        .expect("read");
    assert_eq!(stream.len(), 101);
    assert_eq!(stream[100].body.prev_hash, head.hash);
    let by_time = store
        .read_time_range(
            credledger::ledger::RecordedAt(0),
            credledger::ledger::RecordedAt(i64::MAX),
            1000,
        )
        .await
        .expect("time range");
    assert_eq!(by_time.len(), 301);
    store.close().await.expect("close");
    drop(store);
    let (code, text) = run(&["verify", "--data-dir", s(&dst)]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("OK: 301 events verified"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn import_refuses_a_non_empty_target() {
    let w = World::new();
    let (src, file) = (w.path("src"), w.path("ledger.export"));
    populate(&src, 5).await;
    let (code, text) = run(&["export", "--data-dir", s(&src), "--out", s(&file)]);
    assert_eq!(code, 0, "{text}");
    let occupied = w.path("occupied");
    std::fs::create_dir_all(&occupied).expect("mkdir");
    std::fs::write(occupied.join("notes.txt"), "keep me").expect("write");
    let (code, text) = run(&["import", "--from", s(&file), "--data-dir", s(&occupied)]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not empty"), "{text}");
    assert!(occupied.join("notes.txt").exists());
    let (code, text) = run(&["import", "--from", s(&file), "--data-dir", s(&src)]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not empty"), "{text}");
    let (code, text) = run(&[
        "import",
        "--from",
        s(&w.path("missing.export")),
        "--data-dir",
        s(&w.path("x")),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("missing.export"), "{text}");
    // An empty directory is a fine target.
    let empty = w.path("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (code, text) = run(&["import", "--from", s(&file), "--data-dir", s(&empty)]);
    assert_eq!(code, 0, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_or_altered_export_is_refused_and_leaves_nothing() {
    let w = World::new();
    let (src, file) = (w.path("src"), w.path("ledger.export"));
    populate(&src, 200).await;
    let (code, text) = run(&["export", "--data-dir", s(&src), "--out", s(&file)]);
    assert_eq!(code, 0, "{text}");
    let bytes = std::fs::read(&file).expect("read export");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut-tail", bytes[..bytes.len() - 30].to_vec(), "truncated"),
        ("cut-half", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        (
            "cut-before-trailer",
            bytes[..bytes.len() - trailer_len(&bytes)].to_vec(),
            "without its trailer",
        ),
        ("flipped", flip(&bytes, bytes.len() / 2), "export file"),
        (
            "flipped-payload",
            flip(&bytes, bytes.len() - trailer_len(&bytes) - 3),
            "the file was altered",
        ),
        (
            "not-an-export",
            b"hello, world".to_vec(),
            "not a credledger export",
        ),
    ];
    for (name, content, expected) in cases {
        let bad = w.path(&format!("{name}.export"));
        std::fs::write(&bad, content).expect("write");
        let target = w.path(&format!("target-{name}"));
        let (code, text) = run(&["import", "--from", s(&bad), "--data-dir", s(&target)]);
        assert_eq!(code, 2, "{name}: {text}");
        assert!(text.contains(expected), "{name}: {text}");
        assert!(!target.exists(), "{name}: a target was left behind");
        assert!(
            !w.path(&format!("target-{name}.partial")).exists(),
            "{name}"
        );
    }
}

/// Length of the trailer record at the end of an export.
fn trailer_len(bytes: &[u8]) -> usize {
    let at = bytes
        .windows(2)
        .rposition(|w| w == [b'Z', 0])
        .expect("trailer record");
    bytes.len() - at
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x40;
    out
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_as_of_copies_exactly_the_events_up_to_that_time() {
    let w = World::new();
    let (src, dst) = (w.path("src"), w.path("dst"));
    populate(&src, 40).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let as_of = now_rfc3339();
    tokio::time::sleep(Duration::from_millis(20)).await;
    populate(&src, 25).await;
    let (code, text) = run(&[
        "recover",
        "--data-dir",
        s(&src),
        "--as-of",
        &as_of,
        "--to",
        s(&dst),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("recovered 40 events"), "{text}");
    let source = raw_events(&src);
    let copied = raw_events(&dst);
    assert_eq!(source.len(), 65);
    assert_eq!(copied, source[..40].to_vec());
    let (code, verified) = run(&["verify", "--data-dir", s(&dst)]);
    assert_eq!(code, 0, "{verified}");
    assert!(verified.contains("OK: 40 events verified"), "{verified}");
    assert_eq!(head_hash(&verified), head_hash(&text));

    let (code, text) = run(&[
        "recover",
        "--data-dir",
        s(&src),
        "--as-of",
        "yesterday",
        "--to",
        s(&w.path("x")),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("not an RFC 3339 time"), "{text}");
    let (code, text) = run(&[
        "recover",
        "--data-dir",
        s(&src),
        "--as-of",
        &as_of,
        "--to",
        s(&dst),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not empty"), "{text}");
    let (code, text) = run(&[
        "recover",
        "--data-dir",
        s(&w.path("nothing")),
        "--as-of",
        &as_of,
        "--to",
        s(&w.path("y")),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no data directory"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_detects_truncation_and_rewrite_against_an_exported_checkpoint() {
    let w = World::new();
    let (src, cp) = (w.path("src"), w.path("checkpoint.json"));
    populate(&src, 20).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let early = now_rfc3339();
    tokio::time::sleep(Duration::from_millis(20)).await;
    populate(&src, 10).await;
    let (code, text) = run(&[
        "checkpoint",
        "create",
        "--data-dir",
        s(&src),
        "--signing-key",
        s(&w.key()),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("checkpoint signed: position 30"), "{text}");
    let (code, text) = run(&[
        "checkpoint",
        "export",
        "--data-dir",
        s(&src),
        "--out",
        s(&cp),
    ]);
    assert_eq!(code, 0, "{text}");
    populate(&src, 5).await;
    let (code, text) = run(&["verify", "--data-dir", s(&src), "--checkpoint", s(&cp)]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("OK: 2 checkpoints verified (latest at position 30)"),
        "{text}"
    );

    // A copy of the log's first 20 events: intact as a chain, but shorter than the checkpoint.
    let short = w.path("short");
    let (code, text) = run(&[
        "recover",
        "--data-dir",
        s(&src),
        "--as-of",
        &early,
        "--to",
        s(&short),
    ]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&["verify", "--data-dir", s(&short)]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&["verify", "--data-dir", s(&short), "--checkpoint", s(&cp)]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAILED: log truncated: checkpoint at position 30 but head is 20"),
        "{text}"
    );

    // A log rewritten from scratch: its own chain is fine, the checkpoint's hash is not there.
    let forged = w.path("forged");
    populate(&forged, 35).await;
    let (code, text) = run(&["verify", "--data-dir", s(&forged), "--checkpoint", s(&cp)]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("hash mismatch at position 30"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_checkpoints_and_untrusted_keys_are_detected() {
    let w = World::new();
    let (src, cp) = (w.path("src"), w.path("checkpoint.json"));
    populate(&src, 12).await;
    let (code, text) = run(&[
        "checkpoint",
        "create",
        "--data-dir",
        s(&src),
        "--signing-key",
        s(&w.key()),
    ]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&[
        "checkpoint",
        "export",
        "--data-dir",
        s(&src),
        "--out",
        s(&cp),
    ]);
    assert_eq!(code, 0, "{text}");

    // An exported checkpoint whose signature was altered.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cp).expect("read")).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = b64
        .decode(doc["signature"].as_str().expect("sig"))
        .expect("b64");
    sig[5] ^= 1;
    doc["signature"] = b64.encode(&sig).into();
    let bad = w.path("bad.json");
    std::fs::write(&bad, doc.to_string()).expect("write");
    let (code, text) = run(&["verify", "--data-dir", s(&src), "--checkpoint", s(&bad)]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("checkpoint at position 12: the signature does not verify"),
        "{text}"
    );

    // A key other than the pinned one.
    let other = "11".repeat(32);
    let (code, text) = run(&["verify", "--data-dir", s(&src), "--public-key", &other]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not the trusted key"), "{text}");
    let (code, text) = run(&["verify", "--data-dir", s(&src), "--public-key", "zz"]);
    assert_eq!(code, 2, "{text}");

    // The stored checkpoint altered inside the data directory.
    {
        let db = credledger::ledger::open_db(&src).expect("open raw sled");
        let tree = db.open_tree("checkpoints").expect("tree");
        let (key, value) = tree.last().expect("read").expect("one checkpoint");
        let mut value = value.to_vec();
        let last = value.len() - 1;
        value[last] ^= 1;
        tree.insert(key, value).expect("insert");
        db.flush().expect("flush");
    }
    let (code, text) = run(&[
        "verify",
        "--data-dir",
        s(&src),
        "--signing-key",
        s(&w.key()),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("the signature does not verify"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_keys_must_be_private_and_outside_the_data_dir() {
    let w = World::new();
    let src = w.path("src");
    populate(&src, 3).await;
    let inside = src.join("signing.key");
    let (code, text) = run(&[
        "checkpoint",
        "create",
        "--data-dir",
        s(&src),
        "--signing-key",
        s(&inside),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(!inside.exists());
    let (code, text) = run(&[
        "checkpoint",
        "create",
        "--data-dir",
        s(&src),
        "--signing-key",
        s(&w.key()),
    ]);
    assert_eq!(code, 0, "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.key())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(w.key(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (code, text) = run(&[
            "checkpoint",
            "create",
            "--data-dir",
            s(&src),
            "--signing-key",
            s(&w.key()),
        ]);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("chmod 600"), "{text}");
    }
    let (code, text) = run(&[
        "checkpoint",
        "export",
        "--data-dir",
        s(&w.path("nothing")),
        "--out",
        "-",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no data directory"), "{text}");
}
