//! A ledger moves sled → PostgreSQL → sled and back with byte-identical event records,
//! auxiliary entries (the wrapped data keys) and signed checkpoints, and the same head hash;
//! the chain verifies on both backends, and the sled ledger it comes back as serves its
//! secrets again. An import into a database that holds a log is refused.
//!
//! The sled ends go through the real `credledger export`, `import` and `verify` commands; the
//! PostgreSQL end through the library's `export_postgres` / `import_into_postgres`. Each
//! refusal of an import (a broken chain, a skipped position, a table a backup does not carry,
//! a checkpoint the log does not match, a trailer naming another head) is made into an empty
//! database, and a row altered in the database afterwards is found by `verify_chain`.
//! Needs `CREDLEDGER_TEST_POSTGRES` (see `tests/support/postgres.rs`); fails without it in CI.

#[path = "support/export.rs"]
mod export_support;
mod http_support;
#[path = "support/postgres.rs"]
mod postgres_support;

use std::collections::BTreeMap;
use std::path::Path;

use credledger::app::backup::AUX_TREES;
use credledger::ledger::backup::{
    export_postgres, import_into_postgres, BackupError, ExportReader, Record,
};
use credledger::ledger::sled_store::ImportError;
use credledger::ledger::{EventStore, Head};
use export_support::{write_export, ExportContents};
use http_support::{run_cli, Server};
use postgres_support::TestDatabase;
use reqwest::Method;
use serde_json::json;

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Every record of an export file and the head its trailer names.
fn records(path: &Path) -> (Vec<Record>, (u64, String)) {
    let file = std::fs::File::open(path).expect("open the export");
    let mut reader = ExportReader::new(std::io::BufReader::new(file)).expect("an export file");
    let mut all = Vec::new();
    while let Some(record) = reader.next_record().expect("a record") {
        all.push(record);
    }
    let trailer = reader.trailer().expect("a trailer");
    (all, (trailer.head_position, trailer.head_hash.clone()))
}

fn counts(records: &[Record]) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for record in records {
        match record {
            Record::Event { .. } => counts.0 += 1,
            Record::Aux { .. } => counts.1 += 1,
            Record::Checkpoint(_) => counts.2 += 1,
        }
    }
    counts
}

async fn import_file(
    path: &Path,
    store: &credledger::ledger::PostgresStore,
) -> Result<Head, BackupError> {
    let file = std::fs::File::open(path).expect("open the export");
    let mut reader = ExportReader::new(std::io::BufReader::new(file)).expect("an export file");
    import_into_postgres(&mut reader, store, AUX_TREES, &mut |_| {})
        .await
        .map(|summary| summary.head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_moves_from_sled_to_postgresql_and_back_unchanged() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let mut server = Server::start().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = server
            .create_personal("airtable", json!({"token": format!("canary-token-{i}")}))
            .await;
        ids.push(id);
    }
    server
        .call(Method::POST, "/v1/checkpoints", &server.admin.token, None)
        .await
        .expect(201);
    server.shutdown().await;
    let files = tempfile::TempDir::new().expect("temp");

    // sled → file A.
    let from_sled = files.path().join("from-sled.export");
    let (code, text) = run_cli(&[
        "export",
        "--data-dir",
        p(&server.data_dir),
        "--out",
        p(&from_sled),
    ]);
    assert_eq!(code, 0, "{text}");
    let (original, original_head) = records(&from_sled);
    let (events, aux, checkpoints) = counts(&original);
    assert!(
        events > 10 && aux >= 4 && checkpoints == 1,
        "{events} {aux} {checkpoints}"
    );

    // file A → PostgreSQL; the chain verifies there and the head is the same.
    let store = database.open().await;
    let head = import_file(&from_sled, &store)
        .await
        .expect("import into PostgreSQL");
    assert_eq!((head.position, head.hash.to_hex()), original_head);
    assert_eq!(store.head(), head, "the store's head moved with the import");
    let mut visited = 0;
    let verified = store
        .verify_chain(&mut |_, _| visited += 1)
        .await
        .expect("read the log")
        .expect("the chain is intact on PostgreSQL");
    assert_eq!(
        (verified.events, verified.head_hash),
        (head.position, head.hash)
    );
    assert_eq!(visited, head.position);

    // A second import into the same database is refused, and changes nothing.
    match import_file(&from_sled, &store).await {
        Err(BackupError::Import(ImportError::NotEmpty(_))) => {}
        other => panic!("a second import must be refused as not empty: {other:?}"),
    }
    assert_eq!(store.head(), head);

    // PostgreSQL → file B: the same records. The header's metadata (the master key's
    // fingerprint) travels with it, as the server's own export writes it.
    let metadata: BTreeMap<String, String> = ExportReader::new(std::io::BufReader::new(
        std::fs::File::open(&from_sled).expect("open the export"),
    ))
    .expect("an export file")
    .header()
    .metadata
    .clone();
    assert!(metadata.contains_key(credledger::app::backup::FINGERPRINT_METADATA));
    let from_postgres = files.path().join("from-postgres.export");
    let out = std::fs::File::create(&from_postgres).expect("create");
    let summary = export_postgres(&store, AUX_TREES, metadata, out, &mut |_| {})
        .await
        .expect("export from PostgreSQL");
    assert_eq!(summary.head, head);
    let (exported, exported_head) = records(&from_postgres);
    assert_eq!(exported_head, original_head);
    assert!(
        exported == original,
        "byte-identical records from PostgreSQL"
    );
    store.close().await.expect("close");

    // file B → a new sled directory: verify passes, its export is the same again.
    let back = files.path().join("back-on-sled");
    let (code, text) = run_cli(&[
        "import",
        "--from",
        p(&from_postgres),
        "--data-dir",
        p(&back),
        "--key-file",
        p(&server.key_file),
    ]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run_cli(&["verify", "--data-dir", p(&back)]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("OK: {} events verified", head.position)),
        "{text}"
    );
    assert!(text.contains("OK: 1 checkpoints verified"), "{text}");
    let again = files.path().join("again.export");
    let (code, text) = run_cli(&["export", "--data-dir", p(&back), "--out", p(&again)]);
    assert_eq!(code, 0, "{text}");
    let (round_trip, round_trip_head) = records(&again);
    assert_eq!(round_trip_head, original_head);
    assert!(
        round_trip == original,
        "byte-identical records after the round trip"
    );

    // The ledger that came back serves its secrets: the data keys travelled intact.
    server.data_dir = back;
    server.restart().await;
    let resolved = server
        .call(
            Method::POST,
            "/v1/resolve",
            &server.owner.token,
            Some(json!({
                "authentication": ids[2],
                "workspace": server.owner.personal,
                "template": "$.auth.token",
            })),
        )
        .await
        .expect(200);
    assert_eq!(
        resolved.body["resolved"], "canary-token-2",
        "{}",
        resolved.body
    );
    server.stop().await;
    database.drop_database().await;
}

/// A sled ledger with history and a checkpoint, exported: its file and records.
async fn an_exported_ledger(files: &Path) -> (std::path::PathBuf, Vec<Record>, Server) {
    let mut server = Server::start().await;
    for i in 0..3 {
        server
            .create_personal("airtable", json!({"token": format!("canary-token-{i}")}))
            .await;
    }
    server
        .call(Method::POST, "/v1/checkpoints", &server.admin.token, None)
        .await
        .expect(201);
    server.shutdown().await;
    let file = files.join("ledger.export");
    let (code, text) = run_cli(&[
        "export",
        "--data-dir",
        p(&server.data_dir),
        "--out",
        p(&file),
    ]);
    assert_eq!(code, 0, "{text}");
    let (all, _) = records(&file);
    (file, all, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_postgresql_refuses_what_sled_refuses_and_writes_nothing_of_it() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let files = tempfile::TempDir::new().expect("temp");
    let (_, all, server) = an_exported_ledger(files.path()).await;
    let events: Vec<(u64, Vec<u8>)> = all
        .iter()
        .filter_map(|r| match r {
            Record::Event { position, bytes } => Some((*position, bytes.clone())),
            _ => None,
        })
        .collect();
    let aux: Vec<(&str, Vec<u8>, Vec<u8>)> = all
        .iter()
        .filter_map(|r| match r {
            Record::Aux { tree, key, value } => {
                assert_eq!(tree, AUX_TREES[0]);
                Some((AUX_TREES[0], key.clone(), value.clone()))
            }
            _ => None,
        })
        .collect();
    let checkpoint: Vec<Vec<u8>> = all
        .iter()
        .filter_map(|r| match r {
            Record::Checkpoint(bytes) => Some(bytes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(checkpoint.len(), 1);
    let hash_at = |position: u64| {
        credledger::ledger::Envelope::decode(&events[position as usize - 1].1)
            .expect("decode")
            .hash
            .to_hex()
    };
    let head = events.len() as u64;
    let head_hash = hash_at(head);

    // Position 3 with one byte of its payload area flipped: its hash no longer matches.
    let mut flipped = events.clone();
    let last = flipped[2].1.len() - 40;
    flipped[2].1[last] ^= 0x01;
    let skipped: Vec<(u64, Vec<u8>)> = events.iter().filter(|(p, _)| *p != 2).cloned().collect();
    let short: Vec<(u64, Vec<u8>)> = events[..4].to_vec();
    let short_hash = hash_at(4);

    let not_a_backup_table = [("read_model", b"k".to_vec(), b"v".to_vec())];
    let a_ledger_table = [("unique_keys", b"k".to_vec(), b"v".to_vec())];
    // (label, contents, what the refusal says)
    let cases: Vec<(&str, ExportContents, &str)> = vec![
        (
            "a payload altered",
            ExportContents {
                events: &flipped,
                head_position: head,
                head_hash: &head_hash,
                ..ExportContents::default()
            },
            "chain broken at position 3",
        ),
        (
            "a position skipped",
            ExportContents {
                events: &skipped,
                head_position: head,
                head_hash: &head_hash,
                ..ExportContents::default()
            },
            "chain broken at position 2",
        ),
        (
            "a table a backup does not carry",
            ExportContents {
                events: &events,
                aux: &not_a_backup_table,
                head_position: head,
                head_hash: &head_hash,
                ..ExportContents::default()
            },
            "is not part of a ledger backup",
        ),
        (
            "one of the ledger's own tables",
            ExportContents {
                events: &events,
                aux: &a_ledger_table,
                head_position: head,
                head_hash: &head_hash,
                ..ExportContents::default()
            },
            "belongs to the ledger",
        ),
        (
            "a checkpoint past the log's end",
            ExportContents {
                events: &short,
                aux: &aux,
                checkpoints: &checkpoint,
                head_position: 4,
                head_hash: &short_hash,
                ..ExportContents::default()
            },
            "checkpoint",
        ),
        (
            "a trailer naming another head",
            ExportContents {
                events: &short,
                head_position: 4,
                head_hash: &head_hash,
                ..ExportContents::default()
            },
            "trailer",
        ),
    ];
    for (label, contents, says) in cases {
        let chain_refusal = contents.events.len() != short.len();
        let file = files.path().join("case.export");
        write_export(&file, contents);
        let store = database.open().await;
        let refused = import_file(&file, &store)
            .await
            .expect_err(&format!("{label}: the import must be refused"));
        assert!(
            refused.to_string().to_lowercase().contains(says),
            "{label}: wanted {says:?} in {refused}"
        );
        if chain_refusal {
            // Refused before the first batch was written: the database is as it was.
            assert_eq!(store.head().position, 0, "{label}: nothing was written");
        }
        store.close().await.expect("close");
        // Each case starts from an empty database.
        let sql = database.sql().await;
        sql.batch_execute(
            "TRUNCATE events, aux_entries, checkpoints; \
             UPDATE ledger_head SET position = 0, hash = decode(repeat('00', 32), 'hex'), \
             last_recorded_at = -9223372036854775808",
        )
        .await
        .expect("empty the database");
    }

    // The same file untouched imports; a row altered afterwards is found by verify_chain.
    let file = files.path().join("intact.export");
    write_export(
        &file,
        ExportContents {
            events: &events,
            aux: &aux,
            checkpoints: &checkpoint,
            head_position: head,
            head_hash: &head_hash,
            ..ExportContents::default()
        },
    );
    let store = database.open().await;
    import_file(&file, &store)
        .await
        .expect("the intact file imports");
    let sql = database.sql().await;
    sql.execute(
        "UPDATE events SET envelope = $1 WHERE position = 3",
        &[&flipped[2].1],
    )
    .await
    .expect("alter a row");
    let broken = store
        .verify_chain(&mut |_, _| {})
        .await
        .expect("read the log")
        .expect_err("an altered row breaks the chain");
    assert_eq!(broken.position.0, 3, "{broken}");
    store.close().await.expect("close");
    server.stop().await;
    database.drop_database().await;
}
