//! The read side is derived state and is never believed on its word, through HTTP over real
//! sockets and the `credledger` binary, on real sled directories:
//! - a read side planted from another ledger is rebuilt: that ledger's admin token is refused
//!   and this ledger's secrets and history come back;
//! - an older copy of this ledger's own read side is caught up from its checkpoint;
//! - a restart resumes from the checkpoint; `rebuild-read-models` gives the same answers;
//! - an export carrying a tree that is not part of a backup is refused by `import`, and an
//!   export whose wrapped data key was altered is refused by `import --key-file`.

mod http_support;

use http_support::{run_cli, Server};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;

/// The sled tree holding the read side (every key, checkpoint included).
const READ_TREE: &str = credledger::projections::READ_MODEL_TREE;

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Every raw entry of the read-side tree of a (closed) data directory.
fn read_tree(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = credledger::ledger::open_db(path).expect("open raw sled");
    let tree = db.open_tree(READ_TREE).expect("tree");
    tree.iter()
        .map(|e| e.expect("entry"))
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Replaces the read-side tree of a (closed) data directory, byte for byte.
fn plant(path: &Path, entries: &[(Vec<u8>, Vec<u8>)]) {
    let db = credledger::ledger::open_db(path).expect("open raw sled");
    let tree = db.open_tree(READ_TREE).expect("tree");
    tree.clear().expect("clear");
    for (k, v) in entries {
        tree.insert(k.as_slice(), v.as_slice()).expect("insert");
    }
    db.flush().expect("flush");
}

async fn resolve(s: &Server, id: &str) -> http_support::Answer {
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.owner.token,
        Some(json!({
            "authentication": id,
            "workspace": s.owner.personal,
            "template": "$.auth.token",
        })),
    )
    .await
}

async fn rename(s: &Server, id: &str, name: &str) {
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{id}"),
        &s.owner.token,
        Some(json!({ "name": name })),
    )
    .await
    .expect(200);
}

/// What a reader sees of one authentication: the view, its history and its audit trail.
async fn observed(s: &Server, id: &str) -> Value {
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await.body;
    let history = s
        .owner_get(&format!("/v1/authentications/{id}/history"))
        .await
        .body;
    let audit = s
        .call(
            Method::GET,
            &format!("/v1/audit?authentication={id}&order=oldest&limit=500"),
            &s.auditor_token,
            None,
        )
        .await
        .expect(200)
        .body;
    assert!(
        audit["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty()),
        "an authentication has audit records: {audit}"
    );
    json!({ "view": view, "history": history, "audit": audit["items"] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_side_planted_from_another_ledger_is_rebuilt_not_believed() {
    let mut ours = Server::start().await;
    let mut theirs = Server::start().await;
    let id = ours
        .create_personal("airtable", json!({"token": "ours-canary-7731"}))
        .await;
    theirs
        .create_personal("airtable", json!({"token": "theirs-canary-1209"}))
        .await;
    let before = observed(&ours, &id).await;
    ours.shutdown().await;
    theirs.shutdown().await;
    let foreign = read_tree(&theirs.data_dir);
    assert!(!foreign.is_empty(), "the other ledger has a read side");
    plant(&ours.data_dir, &foreign);
    assert_eq!(read_tree(&ours.data_dir), foreign, "planted byte for byte");

    ours.restart().await;
    let stranger = ours
        .call(
            Method::GET,
            "/v1/authentications",
            &theirs.owner.token,
            None,
        )
        .await;
    assert_eq!(
        stranger.status.as_u16(),
        401,
        "the other ledger's admin token must not open this one: {}",
        stranger.text
    );
    assert_eq!(observed(&ours, &id).await, before, "rebuilt from our log");
    let resolved = resolve(&ours, &id).await.expect(200);
    assert_eq!(resolved.body["resolved"], json!("ours-canary-7731"));
    ours.stop().await;
    theirs.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_copy_of_the_read_side_is_caught_up_from_its_checkpoint() {
    let mut s = Server::start().await;
    let id = s.create_personal("airtable", json!({"token": "t-1"})).await;
    s.shutdown().await;
    let older = read_tree(&s.data_dir);
    s.restart().await;
    rename(&s, &id, "Renamed after the copy").await;
    resolve(&s, &id).await.expect(200);
    let current = observed(&s, &id).await;
    assert_eq!(current["view"]["name"], json!("Renamed after the copy"));
    s.shutdown().await;
    plant(&s.data_dir, &older);

    s.restart().await;
    assert_eq!(
        observed(&s, &id).await,
        current,
        "the tail was folded at start"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_and_rebuild_answer_the_same() {
    let mut s = Server::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = s
            .create_personal("airtable", json!({"token": format!("t-{i}")}))
            .await;
        rename(&s, &id, &format!("Name {i}")).await;
        resolve(&s, &id).await.expect(200);
        ids.push(id);
    }
    let mut before = Vec::new();
    for id in &ids {
        before.push(observed(&s, id).await);
    }
    let listing = s.owner_get("/v1/authentications").await.body;
    s.shutdown().await;

    s.restart().await;
    for (id, seen) in ids.iter().zip(&before) {
        assert_eq!(&observed(&s, id).await, seen, "after a restart");
    }
    s.shutdown().await;

    let (code, text) = run_cli(&[
        "rebuild-read-models",
        "--data-dir",
        p(&s.data_dir),
        "--key-file",
        p(&s.key_file),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("rebuilt the read models from"), "{text}");
    s.restart().await;
    for (id, seen) in ids.iter().zip(&before) {
        assert_eq!(&observed(&s, id).await, seen, "after a rebuild");
    }
    let relisted = s.owner_get("/v1/authentications").await.body;
    assert_eq!(relisted, listing);
    s.stop().await;

    let (code, text) = run_cli(&[
        "rebuild-read-models",
        "--data-dir",
        "/nonexistent/credledger-data",
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no data directory"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_extra_trees_and_damaged_data_keys() {
    let mut s = Server::start().await;
    s.create_personal("airtable", json!({"token": "t"})).await;
    s.shutdown().await;
    let work = tempfile::TempDir::new().expect("temp");

    // An export that also carries the read side (written with the library's export writer).
    let with_read_side = work.path().join("with-read-side.export");
    {
        let db = credledger::ledger::open_db(&s.data_dir).expect("open");
        let store = credledger::ledger::SledStore::with_db(db, &s.data_dir).expect("store");
        let out = std::fs::File::create(&with_read_side).expect("create");
        credledger::ledger::backup::export_store(
            &store,
            &["data_keys", READ_TREE],
            Default::default(),
            out,
            &mut |_| {},
        )
        .await
        .expect("export");
        store.close().await.expect("close");
    }
    let target = work.path().join("imported");
    let (code, text) = run_cli(&[
        "import",
        "--from",
        p(&with_read_side),
        "--data-dir",
        p(&target),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("not part of a ledger backup"), "{text}");
    assert!(!target.exists(), "nothing left behind");

    // A wrapped data key altered before the export: refused when the key file is given.
    let damaged = work.path().join("damaged");
    let (code, text) = run_cli(&[
        "recover",
        "--data-dir",
        p(&s.data_dir),
        "--as-of",
        "2999-01-01T00:00:00Z",
        "--to",
        p(&damaged),
    ]);
    assert_eq!(code, 0, "{text}");
    {
        let db = credledger::ledger::open_db(&damaged).expect("open");
        let keys = db.open_tree("data_keys").expect("tree");
        let (k, v) = keys
            .iter()
            .map(|e| e.expect("entry"))
            .find(|(k, _)| k.as_ref() != credledger::crypto::FINGERPRINT_KEY_OWNER.as_bytes())
            .expect("an authentication's data key");
        let mut altered = v.to_vec();
        let last = altered.len() - 1;
        altered[last] ^= 0x40;
        keys.insert(k, altered).expect("alter");
        db.flush().expect("flush");
    }
    let export = work.path().join("damaged.export");
    let (code, text) = run_cli(&["export", "--data-dir", p(&damaged), "--out", p(&export)]);
    assert_eq!(code, 0, "{text}");
    let checked = work.path().join("checked");
    let (code, text) = run_cli(&[
        "import",
        "--from",
        p(&export),
        "--data-dir",
        p(&checked),
        "--key-file",
        p(&s.key_file),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("data keys"), "{text}");
    assert!(!checked.exists(), "nothing left behind");
    // The undamaged ledger imports and every key opens.
    let good = work.path().join("good.export");
    let (code, text) = run_cli(&["export", "--data-dir", p(&s.data_dir), "--out", p(&good)]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run_cli(&[
        "import",
        "--from",
        p(&good),
        "--data-dir",
        p(&work.path().join("good")),
        "--key-file",
        p(&s.key_file),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("every data key opens"), "{text}");
    s.stop().await;
}

/// Resolving reads a secret's version from the live state and its history entry from disk;
/// a resolve racing the re-authentications that change it must never miss the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resolves_racing_reauthentications_always_find_the_secret() {
    let s = std::sync::Arc::new(Server::start().await);
    let id = s.create_personal("airtable", json!({"token": "v-0"})).await;
    let writer = {
        let s = s.clone();
        let id = id.clone();
        tokio::spawn(async move {
            for i in 1..=40 {
                s.call(
                    Method::POST,
                    &format!("/v1/authentications/{id}/reauthenticate"),
                    &s.owner.token,
                    Some(json!({"fields": {"token": format!("v-{i}")}})),
                )
                .await
                .expect(200);
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        let id = id.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..40 {
                let answer = resolve(&s, &id).await.expect(200);
                let value = answer.body["resolved"].as_str().expect("value").to_owned();
                seen.push(
                    value
                        .trim_start_matches("v-")
                        .parse::<u32>()
                        .expect("a set value"),
                );
            }
            seen
        }));
    }
    writer.await.expect("writer");
    for reader in readers {
        let seen = reader.await.expect("reader");
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "one reader never sees an older secret after a newer one: {seen:?}"
        );
    }
    let last = resolve(&s, &id).await.expect(200);
    assert_eq!(last.body["resolved"], "v-40");
}

/// The log sequence number of sled's newest page-table snapshot in a data directory.
fn newest_snapshot(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("data dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok())
        .max()
        .unwrap_or(0)
}

/// sled writes its recovery snapshot only while opening; a clean stop has it written then,
/// so the next start replays nothing of the run that just ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_leaves_a_recovery_snapshot_covering_the_run() {
    let mut s = Server::start().await;
    let at_start = newest_snapshot(&s.data_dir);
    for i in 0..20 {
        s.create_personal("airtable", json!({"token": format!("t-{i}")}))
            .await;
    }
    assert_eq!(
        newest_snapshot(&s.data_dir),
        at_start,
        "none written while serving"
    );
    s.shutdown().await;
    let after_stop = newest_snapshot(&s.data_dir);
    assert!(
        after_stop > at_start,
        "a snapshot past the run's writes: {after_stop:#x} vs {at_start:#x}"
    );
    s.restart().await;
    assert_eq!(
        s.owner_get("/v1/authentications").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    s.stop().await;
}
