//! Backup, import, point-in-time recovery and signed checkpoints through the `credledger`
//! binary, on real sled directories.

#[path = "support/export.rs"]
mod export_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use credledger::ledger::{EventStore, ExpectedVersion, Position, SledStore, StreamRange};
use export_support::{write_export, ExportContents};
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

/// `credledger recover` of a ledger as it was at `as_of`, into `to`.
fn recover(data: &Path, as_of: &str, to: &Path) -> (i32, String) {
    run(&[
        "recover",
        "--data-dir",
        s(data),
        "--as-of",
        as_of,
        "--to",
        s(to),
    ])
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Every stored (position, envelope bytes).
fn raw_events(path: &Path) -> Vec<(u64, Vec<u8>)> {
    credledger::ledger::RawLog::open(path)
        .expect("open raw log")
        .events()
        .expect("events")
}

fn head_hash(text: &str) -> String {
    text.split("head hash ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no head hash in {text}"))
        .to_owned()
}

/// Two scratch directories: one for ledgers and export files, one for the signing key.
struct ScratchDirs {
    dir: TempDir,
    keys: TempDir,
}

impl ScratchDirs {
    fn new() -> ScratchDirs {
        ScratchDirs {
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
    /// `credledger checkpoint create` on a ledger, signed with the key.
    fn checkpoint(&self, data: &Path) -> (i32, String) {
        run(&[
            "checkpoint",
            "create",
            "--data-dir",
            s(data),
            "--signing-key",
            s(&self.key()),
        ])
    }
    /// `credledger verify` of a ledger and its checkpoints, with the key.
    fn verify(&self, data: &Path) -> (i32, String) {
        run(&[
            "verify",
            "--data-dir",
            s(data),
            "--signing-key",
            s(&self.key()),
        ])
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn export_import_verify_round_trip_keeps_events_byte_identical() {
    let w = ScratchDirs::new();
    let (src, file, dst) = (w.path("src"), w.path("ledger.export"), w.path("dst"));
    populate(&src, 300).await;
    let (code, text) = w.checkpoint(&src);
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
    let (code, verified) = w.verify(&dst);
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
            credledger::time::Timestamp(0),
            credledger::time::Timestamp(i64::MAX),
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
    let w = ScratchDirs::new();
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
    let w = ScratchDirs::new();
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

/// The events of a closed data directory, keyed by position, decoded.
fn envelopes(path: &Path) -> Vec<(u64, Vec<u8>, credledger::ledger::Envelope)> {
    raw_events(path)
        .into_iter()
        .map(|(position, bytes)| {
            let envelope = credledger::ledger::Envelope::decode(&bytes).expect("decode");
            assert_eq!(envelope.body.position.0, position);
            (position, bytes, envelope)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn import_refuses_a_well_formed_export_whose_events_break_the_chain() {
    let w = ScratchDirs::new();
    let src = w.path("src");
    populate(&src, 10).await;
    let stored = envelopes(&src);
    assert_eq!(stored.len(), 10);
    let source_head = stored[9].2.hash.to_hex();
    let events: Vec<(u64, Vec<u8>)> = stored.iter().map(|(p, b, _)| (*p, b.clone())).collect();

    // Position 5 (payload "event 4") with one payload byte flipped: still decodes, its
    // previous hash and every later event are untouched, only its own hash no longer matches.
    let mut flipped = events.clone();
    {
        let bytes = &mut flipped[4].1;
        let needle = b"event 4";
        let hits: Vec<usize> = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| w == needle)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "the payload appears once in the stored envelope"
        );
        bytes[hits[0] + needle.len() - 1] ^= 0x01; // "event 4" -> "event 5"
        let altered = credledger::ledger::Envelope::decode(bytes).expect("still decodes");
        assert_eq!(altered.body.payload, b"event 5");
        assert_eq!(altered.hash, stored[4].2.hash);
        assert!(!altered.hash_is_valid().expect("hash"));
    }
    // Position 2 left out: 1, 3, 4, ... 10.
    let skipped: Vec<(u64, Vec<u8>)> = events.iter().filter(|(p, _)| *p != 2).cloned().collect();

    // (label, the stored events to write, what the refusal must say)
    type Case<'a> = (&'a str, Vec<(u64, Vec<u8>)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        (
            "flipped-payload",
            flipped,
            &[
                "chain broken at position 5",
                "hash does not match the envelope's contents",
            ],
        ),
        (
            "skipped-position",
            skipped,
            &[
                "chain broken at position 2",
                "event missing (next stored position is 3)",
            ],
        ),
    ];
    for (name, events, expected) in cases {
        let file = w.path(&format!("{name}.export"));
        write_export(
            &file,
            ExportContents {
                events: &events,
                head_position: 10,
                head_hash: &source_head,
                ..ExportContents::default()
            },
        );
        let target = w.path(&format!("target-{name}"));
        let (code, text) = run(&["import", "--from", s(&file), "--data-dir", s(&target)]);
        assert_eq!(code, 2, "{name}: {text}");
        for needle in expected {
            assert!(text.contains(needle), "{name}: wanted {needle:?} in {text}");
        }
        // The file itself is sound: the refusal is the chain check's, not the digest's.
        assert!(!text.contains("the file was altered"), "{name}: {text}");
        assert!(!text.contains("truncated"), "{name}: {text}");
        assert!(!target.exists(), "{name}: a target was left behind");
        assert!(
            !w.path(&format!("target-{name}.partial")).exists(),
            "{name}: a partial target was left behind"
        );
    }

    // Control: the same writer with the events untouched gives a file that imports.
    let file = w.path("intact.export");
    write_export(
        &file,
        ExportContents {
            events: &events,
            head_position: 10,
            head_hash: &source_head,
            ..ExportContents::default()
        },
    );
    let target = w.path("target-intact");
    let (code, text) = run(&["import", "--from", s(&file), "--data-dir", s(&target)]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("imported 10 events"), "{text}");
    assert_eq!(head_hash(&text), source_head);
    assert_eq!(raw_events(&target), raw_events(&src));
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_as_of_copies_exactly_the_events_up_to_that_time() {
    let w = ScratchDirs::new();
    let (src, dst) = (w.path("src"), w.path("dst"));
    populate(&src, 40).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let as_of = now_rfc3339();
    tokio::time::sleep(Duration::from_millis(20)).await;
    populate(&src, 25).await;
    let (code, text) = recover(&src, &as_of, &dst);
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

    let (code, text) = recover(&src, "yesterday", &w.path("x"));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("not an RFC 3339 time"), "{text}");
    let (code, text) = recover(&src, &as_of, &dst);
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
async fn recover_as_of_the_exact_recorded_time_of_an_event_includes_it() {
    const N: usize = 17;
    let w = ScratchDirs::new();
    let src = w.path("src");
    // Event N is appended alone between short pauses, so no neighbour shares its microsecond.
    populate(&src, N as u64 - 1).await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    populate(&src, 1).await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    populate(&src, 13).await;
    let stored = envelopes(&src);
    assert_eq!(stored.len(), 30);
    let at = |n: usize| stored[n - 1].2.body.recorded_at;
    assert!(
        at(N - 1) < at(N) && at(N) < at(N + 1),
        "event {N} has its own time"
    );
    let source = raw_events(&src);

    // Exactly at event N: N events, event N included, the source's hash at N.
    let as_of = at(N).to_string();
    assert_eq!(
        as_of,
        credledger::ledger::checkpoint::rfc3339(at(N)),
        "microsecond RFC 3339"
    );
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&as_of)
            .expect("rfc3339")
            .timestamp_micros(),
        at(N).0,
        "the printed time is exact"
    );
    let dst = w.path("dst");
    let (code, text) = recover(&src, &as_of, &dst);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("recovered {N} events")), "{text}");
    let expected_hash = stored[N - 1].2.hash.to_hex();
    assert_eq!(head_hash(&text), expected_hash);
    assert!(text.contains(&format!("at position {N})")), "{text}");
    assert_eq!(raw_events(&dst), source[..N].to_vec());
    let (code, verified) = run(&["verify", "--data-dir", s(&dst)]);
    assert_eq!(code, 0, "{verified}");
    assert!(
        verified.contains(&format!("OK: {N} events verified")),
        "{verified}"
    );
    assert_eq!(head_hash(&verified), expected_hash);

    // One microsecond earlier: event N is not included.
    let before = credledger::time::Timestamp(at(N).0 - 1).to_string();
    let dst = w.path("dst-before");
    let (code, text) = recover(&src, &before, &dst);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("recovered {} events", N - 1)),
        "{text}"
    );
    assert_eq!(head_hash(&text), stored[N - 2].2.hash.to_hex());
    assert_eq!(raw_events(&dst), source[..N - 1].to_vec());
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_detects_truncation_and_rewrite_against_an_exported_checkpoint() {
    let w = ScratchDirs::new();
    let (src, cp) = (w.path("src"), w.path("checkpoint.json"));
    populate(&src, 20).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let early = now_rfc3339();
    tokio::time::sleep(Duration::from_millis(20)).await;
    populate(&src, 10).await;
    let (code, text) = w.checkpoint(&src);
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
    let (code, text) = recover(&src, &early, &short);
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
    let w = ScratchDirs::new();
    let (src, cp) = (w.path("src"), w.path("checkpoint.json"));
    populate(&src, 12).await;
    let (code, text) = w.checkpoint(&src);
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
    let (code, text) = w.verify(&src);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("the signature does not verify"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_checks_the_signature_of_every_stored_checkpoint() {
    let w = ScratchDirs::new();
    let src = w.path("src");
    let create = |expected: &'static str| {
        let (code, text) = w.checkpoint(&src);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains(expected), "{text}");
    };
    populate(&src, 10).await;
    create("checkpoint signed: position 10");
    populate(&src, 5).await;
    create("checkpoint signed: position 15");
    let (code, text) = w.verify(&src);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("OK: 2 checkpoints verified (latest at position 15)"),
        "{text}"
    );

    // Alter the signature of the older (first) stored checkpoint only.
    {
        let db = credledger::ledger::open_db(&src).expect("open raw sled");
        let tree = db.open_tree("checkpoints").expect("tree");
        assert_eq!(tree.len(), 2);
        let (key, value) = tree.first().expect("read").expect("two checkpoints");
        assert_eq!(key.as_ref(), 10u64.to_be_bytes());
        let mut checkpoint = credledger::ledger::Checkpoint::decode(&value).expect("decode");
        assert_eq!(checkpoint.position, 10);
        checkpoint.signature[5] ^= 1;
        tree.insert(key, checkpoint.encode().expect("encode"))
            .expect("insert");
        db.flush().expect("flush");
    }
    let (code, text) = w.verify(&src);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("OK: 15 events verified"), "{text}");
    assert!(
        text.contains("FAILED: checkpoint at position 10: the signature does not verify"),
        "{text}"
    );
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAILED")).collect();
    assert_eq!(failures.len(), 1, "only the older checkpoint fails: {text}");
    assert!(
        !text.contains("position 15"),
        "the newer checkpoint is fine: {text}"
    );
    assert!(!text.contains("checkpoints verified"), "{text}");

    let report = credledger::ledger::sled_store::verify_with_checkpoints(
        &credledger::ledger::open_db(&src).expect("open the log"),
        &src,
        &[],
        None,
    )
    .expect("verify");
    assert!(!report.is_ok());
    assert_eq!(report.checkpoints_checked, 2);
    assert_eq!(report.latest_good_checkpoint, Some(15));
    assert_eq!(
        report.problems,
        vec![
            credledger::ledger::sled_store::CheckpointProblem::BadSignature {
                source: "stored in the data directory".to_owned(),
                position: 10,
            }
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_keys_must_be_private_and_outside_the_data_dir() {
    let w = ScratchDirs::new();
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
    let (code, text) = w.checkpoint(&src);
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
        let (code, text) = w.checkpoint(&src);
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

#[test]
fn verify_refuses_a_directory_without_a_log_and_writes_nothing_into_it() {
    let dir = TempDir::new().expect("temp dir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let (code, text) = run(&["verify", "--data-dir", s(&empty)]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("holds no database"), "{text}");
    assert_eq!(
        std::fs::read_dir(&empty).expect("list").count(),
        0,
        "verify created files in the directory it checked"
    );
    let (code, text) = run(&["verify", "--data-dir", s(&dir.path().join("missing"))]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no data directory"), "{text}");
}

/// Full blocks archived (one per 16 events, moved once 64 wait): export, import and recover
/// read them from the archive file and the targets archive theirs.
#[tokio::test(flavor = "multi_thread")]
async fn an_archived_log_round_trips_through_export_import_and_recover() {
    let w = ScratchDirs::new();
    let (src, file, dst, back) = (
        w.path("src"),
        w.path("ledger.export"),
        w.path("dst"),
        w.path("back"),
    );
    populate(&src, 2000).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let as_of = now_rfc3339();
    tokio::time::sleep(Duration::from_millis(20)).await;
    populate(&src, 100).await;
    let archive_len = |dir: &Path| {
        std::fs::metadata(dir.join("archived_event_blocks"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    assert!(archive_len(&src) > 0, "the source archived blocks");

    let (code, exported) = run(&["export", "--data-dir", s(&src), "--out", s(&file)]);
    assert_eq!(code, 0, "{exported}");
    let (code, imported) = run(&["import", "--from", s(&file), "--data-dir", s(&dst)]);
    assert_eq!(code, 0, "{imported}");
    assert!(imported.contains("imported 2100 events"), "{imported}");
    assert_eq!(head_hash(&exported), head_hash(&imported));
    assert_eq!(raw_events(&src), raw_events(&dst));
    assert!(archive_len(&dst) > 0, "the import archived blocks");

    let (code, text) = recover(&src, &as_of, &back);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("recovered 2000 events"), "{text}");
    assert_eq!(raw_events(&back), raw_events(&src)[..2000].to_vec());
    assert!(archive_len(&back) > 0, "the recovered copy archived blocks");
    for dir in [&dst, &back] {
        let (code, verified) = run(&["verify", "--data-dir", s(dir)]);
        assert_eq!(code, 0, "{verified}");
    }
}
