//! The PostgreSQL backend: the conformance suite (the same list as `ledger_sled.rs`), the same
//! envelopes and chain as sled from the same appends, reopen, a second store on one database,
//! and the schema and connection refusals.
//!
//! Runs against the server named by `CREDLEDGER_TEST_POSTGRES` (a libpq URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`, a role that may create databases), each test
//! in a database of its own that is dropped at its end. `.ci/postgres.sh` starts a throwaway
//! cluster and sets the variable. Without it the tests print a skip line and pass, except under
//! CI (`CI` set), where they fail.

mod conformance;
#[path = "support/postgres.rs"]
mod postgres_support;
mod support;

use std::time::Duration;

use credledger::ledger::{
    AppendRequest, EventStore, ExpectedVersion, IdempotencyClaim, Position, PostgresProblem,
    PostgresStore, RawLog, SledStore, StoreError, StreamRange, Subscription, UniqueKey,
};
use credledger::time::Timestamp;
use postgres_support::{server_url, TestDatabase};
use support::{event, request};
use tokio_postgres::Config;

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let Some(database) = TestDatabase::create().await else { return };
            let store = database.open().await;
            conformance::$name(store.clone()).await;
            store.close().await.expect("close");
            database.drop_database().await;
        }
    )*};
}

conformance::every_check!(conformance_tests);

/// One store clock for both logs, so that their envelopes can be identical: the time of its
/// first call (recent, so idempotency records are within their retention).
fn fixed_clock() -> Timestamp {
    static START: std::sync::OnceLock<Timestamp> = std::sync::OnceLock::new();
    *START.get_or_init(Timestamp::now)
}

fn idempotency(key: u8) -> Option<IdempotencyClaim> {
    Some(IdempotencyClaim {
        key: [key; 32],
        request_hash: [key; 32],
        answer: vec![key],
    })
}

/// A script of appends, refusals and replays included (the same events, ids and metadata each
/// time it is run).
fn script() -> Vec<AppendRequest> {
    let first = vec![event("x.created", b"one"), event("x.renamed", b"two")];
    vec![
        request("alpha", ExpectedVersion::NoStream, first.clone())
            .claim(UniqueKey::new(b"name:alpha".to_vec())),
        request(
            "beta",
            ExpectedVersion::NoStream,
            vec![event("x.created", b"b")],
        )
        .claim(UniqueKey::new(b"name:alpha".to_vec())),
        request(
            "beta",
            ExpectedVersion::NoStream,
            vec![event("x.created", b"b")],
        )
        .idempotent(idempotency(4)),
        request(
            "gamma",
            ExpectedVersion::Any,
            vec![event("x.created", b"g")],
        )
        .idempotent(idempotency(4)),
        request("alpha", ExpectedVersion::NoStream, first),
        request(
            "alpha",
            ExpectedVersion::Exact(credledger::ledger::StreamVersion(2)),
            vec![event("x.renamed", &[0xFF; 300])],
        )
        .release(UniqueKey::new(b"name:alpha".to_vec()))
        .claim(UniqueKey::new(b"name:alpha2".to_vec())),
        request(
            "beta",
            ExpectedVersion::NoStream,
            vec![event("x.created", b"")],
        ),
    ]
}

/// Runs appends on a store; its answers, as text.
async fn run<S: EventStore>(store: &S, requests: Vec<AppendRequest>) -> Vec<String> {
    let mut answers = Vec::new();
    for request in requests {
        answers.push(format!("{:?}", store.append(request).await));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sled_log_and_a_postgres_log_from_the_same_appends_are_identical() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::TempDir::new().expect("temp dir");
    let path = dir.path().join("data");
    let sled = SledStore::open_with_clock(&path, fixed_clock).expect("sled");
    let postgres = PostgresStore::open_with_clock(database.config(), fixed_clock)
        .await
        .expect("postgres");

    let appends = script();
    let sled_answers = run(&sled, appends.clone()).await;
    let postgres_answers = run(&postgres, appends).await;
    assert_eq!(sled_answers, postgres_answers, "the same answers");
    for refusal_or_replay in [
        "UniqueKeyTaken",
        "replayed_answer: Some",
        "WrongExpectedVersion",
    ] {
        assert!(
            sled_answers.iter().any(|a| a.contains(refusal_or_replay)),
            "{sled_answers:#?}"
        );
    }

    let from_sled = sled.read_all(Position::FIRST, 100).await.expect("read");
    let from_postgres = postgres.read_all(Position::FIRST, 100).await.expect("read");
    assert_eq!(from_sled.len(), 4, "{sled_answers:#?}");
    assert_eq!(from_sled, from_postgres, "the same envelopes");
    assert_eq!(sled.head(), postgres.head(), "the same head and head hash");

    // Byte for byte what each backend stores.
    sled.close().await.expect("close sled");
    drop(sled);
    let raw = RawLog::open(&path).expect("raw sled log");
    let stored = database
        .sql()
        .await
        .query(
            "SELECT position, envelope FROM events ORDER BY position",
            &[],
        )
        .await
        .expect("stored envelopes");
    assert_eq!(stored.len(), from_postgres.len());
    for row in &stored {
        let position: i64 = row.get(0);
        let bytes: Vec<u8> = row.get(1);
        let in_sled = raw
            .event(position as u64)
            .expect("raw read")
            .expect("stored in sled");
        assert_eq!(bytes, in_sled, "stored bytes at position {position}");
        assert_eq!(
            bytes,
            from_postgres[position as usize - 1]
                .encode()
                .expect("encode"),
            "the ledger's codec"
        );
    }
    postgres.close().await.expect("close");
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_survives_reopen_and_appends_continue_the_chain() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let store = database.open().await;
    for i in 0..10u32 {
        store
            .append(request(
                &format!("stream-{}", i % 3),
                ExpectedVersion::Any,
                vec![event("test.recorded", &i.to_be_bytes())],
            ))
            .await
            .expect("append");
    }
    let head = store.head();
    store.close().await.expect("close");
    assert!(matches!(
        store
            .append(request("x", ExpectedVersion::Any, vec![event("e.x", b"")]))
            .await,
        Err(StoreError::WriterStopped(_))
    ));
    drop(store);

    let store = database.open().await;
    assert_eq!(store.head(), head);
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
    let migrations = database
        .sql()
        .await
        .query_one(
            "SELECT count(*), count(DISTINCT version), max(version)::bigint FROM schema_migrations",
            &[],
        )
        .await
        .expect("count");
    let (applied, distinct, newest): (i64, i64, i64) =
        (migrations.get(0), migrations.get(1), migrations.get(2));
    assert_eq!(
        (applied, distinct),
        (newest, newest),
        "each migration was applied once, none skipped"
    );
    store.close().await.expect("close");
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_store_on_one_database_follows_and_extends_the_same_log() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let a = database.open().await;
    let b = database.open().await;
    let mut follower = b.subscribe(Position::FIRST);
    for i in 0..5u8 {
        a.append(request(
            "shared",
            ExpectedVersion::Any,
            vec![event("e.a", &[i])],
        ))
        .await
        .expect("append through a");
    }
    for expected in 1..=5 {
        let envelope = tokio::time::timeout(Duration::from_secs(10), follower.next())
            .await
            .expect("b hears of a's appends")
            .expect("next");
        assert_eq!(envelope.body.position, Position(expected));
    }
    assert_eq!(b.head(), a.head());
    // Both write, racing: one log, gapless, one chain.
    let (from_a, from_b) = tokio::join!(
        async {
            for _ in 0..20 {
                a.append(request("a", ExpectedVersion::Any, vec![event("e.a", b"")]))
                    .await
                    .expect("a");
            }
        },
        async {
            for _ in 0..20 {
                b.append(request("b", ExpectedVersion::Any, vec![event("e.b", b"")]))
                    .await
                    .expect("b");
            }
        }
    );
    let ((), ()) = (from_a, from_b);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.head().position < 45 || b.head().position < 45 {
        assert!(tokio::time::Instant::now() < deadline, "heads converge");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.head(), b.head());
    let all = a.read_all(Position::FIRST, 100).await.expect("read");
    assert_eq!(all.len(), 45);
    for pair in all.windows(2) {
        assert_eq!(pair[1].body.position.0, pair[0].body.position.0 + 1);
        assert_eq!(pair[1].body.prev_hash, pair[0].hash);
        assert!(pair[1].hash_is_valid().expect("hash"));
    }
    a.close().await.expect("close");
    b.close().await.expect("close");
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_newer_than_this_build_is_refused() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    database.open().await.close().await.expect("close");
    database
        .sql()
        .await
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')",
            &[],
        )
        .await
        .expect("record a future version");
    let refused = PostgresStore::open(database.config()).await.err();
    match &refused {
        Some(StoreError::Postgres(PostgresProblem::SchemaNewer { found, known })) => {
            assert_eq!((*found, *known), (999, PostgresStore::schema_version()));
        }
        other => panic!("expected SchemaNewer, got {other:?}"),
    }
    let message = refused.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("version 999") && message.contains("newer credledger"),
        "{message}"
    );
    database.drop_database().await;
}

#[tokio::test]
async fn a_missing_database_is_named() {
    let Some(server) = server_url() else { return };
    let mut config: Config = server.parse().expect("test server URL");
    config.dbname("credledger_test_never_created");
    match PostgresStore::open(config).await.err() {
        Some(e @ StoreError::Postgres(PostgresProblem::DatabaseMissing { .. })) => {
            let message = e.to_string();
            assert!(
                message.contains("\"credledger_test_never_created\" does not exist"),
                "{message}"
            );
        }
        other => panic!("expected DatabaseMissing, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    // Port 1 on the loopback: nothing listens there.
    let refused = PostgresStore::connect("postgres://ledger:s3cret@127.0.0.1:1/ledger")
        .await
        .err();
    match &refused {
        Some(StoreError::Postgres(PostgresProblem::Unreachable { target, .. })) => {
            assert_eq!(target, "127.0.0.1 port 1");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    let message = refused.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("cannot connect to PostgreSQL at 127.0.0.1 port 1"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
    assert!(message.contains("refused"), "the cause is shown: {message}");
    assert!(matches!(
        PostgresStore::connect("postgres://[::1").await.err(),
        Some(StoreError::Postgres(PostgresProblem::BadConnectionString(
            _
        )))
    ));
}
