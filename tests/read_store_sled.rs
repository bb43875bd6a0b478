//! The sled read store passes the `ReadStore` conformance suite.

mod read_store_conformance;

use credledger::projections::SledReadStore;
use tempfile::TempDir;

/// A fresh store in its own temp dir (kept alive with the store).
fn fresh() -> (SledReadStore, TempDir, sled::Db) {
    let dir = TempDir::new().expect("temp");
    let db = credledger::ledger::open_db(dir.path()).expect("db");
    (SledReadStore::open(&db).expect("read store"), dir, db)
}

#[test]
fn starts_empty() {
    let (store, _dir, _db) = fresh();
    read_store_conformance::starts_empty(store);
}

#[test]
fn commit_writes_and_moves_the_checkpoint() {
    let (store, _dir, _db) = fresh();
    read_store_conformance::commit_writes_and_moves_the_checkpoint(store);
}

#[test]
fn scans_are_ordered_bounded_and_limited() {
    let (store, _dir, _db) = fresh();
    read_store_conformance::scans_are_ordered_bounded_and_limited(store);
}

#[test]
fn clear_removes_everything() {
    let (store, _dir, _db) = fresh();
    read_store_conformance::clear_removes_everything(store);
}

#[test]
fn commits_survive_a_reopen() {
    let (store, dir, db) = fresh();
    let path = dir.path().to_path_buf();
    read_store_conformance::commits_survive_a_reopen(store, move |store| {
        drop(store);
        db.flush().expect("flush");
        drop(db);
        let db = credledger::ledger::open_db(&path).expect("reopen");
        SledReadStore::open(&db).expect("read store")
    });
}
