//! The PostgreSQL read store: the `ReadStore` conformance suite (the same checks as
//! `read_store_sled.rs`), two nodes' read models apart in one database, recovery after the
//! server drops its connections, and a real ledger folded into the same tables on PostgreSQL
//! as on sled, resumed from its checkpoint and rebuilt when the checkpoint is from another log.
//!
//! Needs `CREDLEDGER_TEST_POSTGRES` (see `tests/support/postgres.rs`); fails without it in CI.

mod http_support;
#[path = "support/postgres.rs"]
mod postgres_support;
mod read_store_conformance;

use credledger::ledger::{ChainHash, EventStore, SledStore};
use credledger::projections::{
    ChangeSet, Distrust, KeyRange, LedgerModel, PostgresReadStore, ProjectionHandle,
    ReadCheckpoint, ReadModelName, ReadStore, ScanOrder, StartKind, Table,
};
use http_support::Server;
use postgres_support::TestDatabase;
use serde_json::json;

fn name(text: &str) -> ReadModelName {
    ReadModelName::new(text).expect("a valid model name")
}

async fn open(database: &TestDatabase, model: &str) -> PostgresReadStore {
    PostgresReadStore::open(&database.config(), name(model))
        .await
        .expect("open the read store")
}

/// Every entry of every table, each key prefixed with its table's tag (as sled keeps them).
fn everything<S: ReadStore>(store: &S) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    for table in Table::ALL {
        let entries = store
            .scan(
                table,
                &KeyRange::prefix(Vec::new()),
                ScanOrder::Ascending,
                usize::MAX,
            )
            .expect("scan");
        for (key, value) in entries {
            let mut full = vec![table.tag()];
            full.extend_from_slice(&key);
            all.push((full, value));
        }
    }
    all.sort();
    all
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let Some(database) = TestDatabase::create().await else { return };
            let store = open(&database, "node-a").await;
            read_store_conformance::$check(store);
            database.drop_database().await;
        }
    )*};
}

conformance_tests!(
    starts_empty,
    commit_writes_and_moves_the_checkpoint,
    scans_are_ordered_bounded_and_limited,
    clear_removes_everything,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_survive_a_reopen() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let store = open(&database, "node-a").await;
    let config = database.config();
    read_store_conformance::commits_survive_a_reopen(store, move |store| {
        drop(store);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(PostgresReadStore::open(&config, name("node-a")))
                .expect("reopen")
        })
    });
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_read_models_in_one_database_are_apart() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let a = open(&database, "node-a").await;
    let b = open(&database, "node-b").await;
    let mut changes = ChangeSet::default();
    changes.put(Table::Live, b"k".to_vec(), b"of a".to_vec());
    let at = |position| ReadCheckpoint {
        layout: 1,
        position,
        hash: ChainHash([position as u8; 32]),
    };
    a.commit(&changes, at(3)).expect("commit a");
    assert_eq!(b.get(Table::Live, b"k").expect("get"), None);
    assert!(b.is_empty().expect("is_empty"));
    assert_eq!(b.checkpoint().expect("checkpoint"), None);

    let mut changes = ChangeSet::default();
    changes.put(Table::Live, b"k".to_vec(), b"of b".to_vec());
    b.commit(&changes, at(9)).expect("commit b");
    b.clear().expect("clear b");
    assert_eq!(
        a.get(Table::Live, b"k").expect("get"),
        Some(b"of a".to_vec()),
        "clearing one node's model leaves the other's"
    );
    assert_eq!(a.checkpoint().expect("checkpoint"), Some(at(3)));
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reconnects_by_itself_after_its_connections_are_dropped() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let store = open(&database, "node-a").await;
    let mut changes = ChangeSet::default();
    changes.put(Table::Audit, b"x".to_vec(), b"1".to_vec());
    let checkpoint = ReadCheckpoint {
        layout: 1,
        position: 1,
        hash: ChainHash([1; 32]),
    };
    store.commit(&changes, checkpoint).expect("commit");
    // Use every worker's connection, then have the server end them all (as a restart does).
    for _ in 0..16 {
        store.get(Table::Audit, b"x").expect("get");
    }
    let sql = database.sql().await;
    let others = "SELECT pid FROM pg_stat_activity \
                  WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let pids = |rows: Vec<tokio_postgres::Row>| -> Vec<i32> {
        rows.iter().map(|row| row.get(0)).collect()
    };
    let before = pids(sql.query(others, &[]).await.expect("connections"));
    assert!(!before.is_empty(), "the store has connections to end");
    for pid in &before {
        // Waits (up to 5 s) until the backend has exited.
        let ended: bool = sql
            .query_one("SELECT pg_terminate_backend($1, 5000)", &[pid])
            .await
            .expect("terminate")
            .get(0);
        assert!(ended, "connection {pid} ended");
    }
    // A call on a connection the server ended may fail (as an error, never a panic); the
    // worker connects again, so within a few calls every answer is right again.
    let mut failures = 0;
    for _ in 0..64 {
        match store.get(Table::Audit, b"x") {
            Ok(value) => assert_eq!(value, Some(b"1".to_vec())),
            Err(e) => {
                failures += 1;
                assert!(e.to_string().contains("PostgreSQL"), "{e}");
            }
        }
    }
    assert!(
        failures <= credledger::projections::postgres_read_store::READ_STORE_CONNECTIONS,
        "each worker fails at most its one call on a dead connection ({failures})"
    );
    for _ in 0..8 {
        assert_eq!(
            store
                .get(Table::Audit, b"x")
                .expect("get after reconnecting"),
            Some(b"1".to_vec())
        );
    }
    // The answers came over new connections: none of the ended ones is back.
    let after = pids(sql.query(others, &[]).await.expect("connections"));
    assert!(!after.is_empty(), "the store connected again");
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "{after:?} are new connections, not {before:?}"
    );
    drop(sql);
    database.drop_database().await;
}

/// A ledger with some history: authentications created, renamed, resolved, deleted.
async fn a_ledger_with_history() -> Server {
    let mut server = Server::start().await;
    for i in 0..6 {
        let id = server
            .create_personal("airtable", json!({"token": format!("token-{i}")}))
            .await;
        server
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/authentications/{id}"),
                &server.owner.token,
                Some(json!({"name": format!("Renamed {i}")})),
            )
            .await
            .expect(200);
        server
            .call(
                reqwest::Method::POST,
                "/v1/resolve",
                &server.owner.token,
                Some(json!({
                    "authentication": id,
                    "workspace": server.owner.personal,
                    "template": "$.auth.token",
                })),
            )
            .await
            .expect(200);
    }
    server.shutdown().await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_folds_into_the_same_tables_on_postgresql_as_on_sled() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let server = a_ledger_with_history().await;
    let events = SledStore::open(&server.data_dir).expect("open the ledger");
    let sled_side = ProjectionHandle::<LedgerModel, _>::start(
        &events,
        credledger::projections::SledReadStore::open(events.db()).expect("sled read side"),
    )
    .await
    .expect("sled projection");
    sled_side.settle().await.expect("settle");

    let pg_side =
        ProjectionHandle::<LedgerModel, _>::start(&events, open(&database, "node-a").await)
            .await
            .expect("PostgreSQL projection");
    assert!(matches!(pg_side.start_kind(), StartKind::Fresh));
    pg_side.settle().await.expect("settle");
    let head = events.head().position;
    assert!(head > 20, "the ledger has history ({head} events)");
    assert_eq!(pg_side.applied(), head);
    let folded = everything(pg_side.store());
    assert!(!folded.is_empty());
    assert_eq!(
        folded,
        everything(sled_side.store()),
        "the same tables, byte for byte"
    );
    let checkpoint = pg_side.store().checkpoint().expect("checkpoint");
    assert_eq!(
        checkpoint,
        sled_side.store().checkpoint().expect("checkpoint")
    );
    pg_side.stop().await.expect("stop");

    // Opened again, it resumes from its checkpoint and holds the same.
    let again = ProjectionHandle::<LedgerModel, _>::start(&events, open(&database, "node-a").await)
        .await
        .expect("resume");
    assert!(
        matches!(again.start_kind(), StartKind::Resumed { from } if *from == head),
        "{:?}",
        again.start_kind()
    );
    assert_eq!(everything(again.store()), folded);

    // A checkpoint from another log is not believed: the model is rebuilt from this one.
    let mut forged = checkpoint.expect("a checkpoint");
    forged.hash = ChainHash([0xAB; 32]);
    again
        .store()
        .commit(&ChangeSet::default(), forged)
        .expect("forge the checkpoint");
    again.stop().await.expect("stop");
    let rebuilt =
        ProjectionHandle::<LedgerModel, _>::start(&events, open(&database, "node-a").await)
            .await
            .expect("rebuild");
    assert!(
        matches!(
            rebuilt.start_kind(),
            StartKind::Rebuilt {
                reason: Distrust::OtherChain { .. }
            }
        ),
        "{:?}",
        rebuilt.start_kind()
    );
    assert_eq!(everything(rebuilt.store()), folded);
    rebuilt.stop().await.expect("stop");
    sled_side.stop().await.expect("stop");
    drop(events);
    server.stop().await;
    database.drop_database().await;
}
