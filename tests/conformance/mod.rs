//! The `EventStore` conformance suite: every backend runs these against a fresh, empty store.
//!
//! Each check is a plain async function generic over the store, so a new backend only needs a
//! test file that builds its store and calls them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use credledger::ledger::{
    ChainHash, Envelope, EventStore, ExpectedVersion, Position, StoreError, StreamId, StreamRange,
    StreamVersion, Subscription,
};
use credledger::time::Timestamp;
use tokio::sync::Mutex;

use crate::support::{event, request, stream};

mod claims;
pub use claims::*;

/// Calls `$backend!` with the name of every check of the suite, so that each backend's test
/// file runs all of them from this one list: `conformance::every_check!(conformance_tests);`.
macro_rules! every_check {
    ($backend:ident) => {
        $backend!(
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
    };
}
pub(crate) use every_check;

fn exact(v: u64) -> ExpectedVersion {
    if v == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(StreamVersion(v))
    }
}

async fn all_events<S: EventStore>(store: &S) -> Vec<Envelope> {
    store
        .read_all(Position::FIRST, usize::MAX)
        .await
        .expect("read_all")
}

/// Positions are assigned 1, 2, 3… in append order across streams, and the chain links them.
pub async fn positions_are_ordered_and_gapless<S: EventStore>(store: S) {
    let mut expected_payloads = Vec::new();
    for i in 0..30u32 {
        let name = format!("s-{}", i % 4);
        let payload = format!("payload-{i}").into_bytes();
        let outcome = store
            .append(request(
                &name,
                ExpectedVersion::Any,
                vec![event("test.happened", &payload)],
            ))
            .await
            .expect("append");
        assert_eq!(outcome.first_position, Position(u64::from(i) + 1));
        assert_eq!(outcome.last_position, outcome.first_position);
        assert_eq!(outcome.stream_version, StreamVersion(u64::from(i / 4) + 1));
        expected_payloads.push(payload);
    }
    let multi = store
        .append(request(
            "s-multi",
            ExpectedVersion::NoStream,
            vec![
                event("a.one", b"1"),
                event("a.two", b"2"),
                event("a.three", b"3"),
            ],
        ))
        .await
        .expect("multi-event append");
    assert_eq!(
        (multi.first_position, multi.last_position),
        (Position(31), Position(33))
    );
    assert_eq!(multi.stream_version, StreamVersion(3));

    let events = all_events(&store).await;
    assert_eq!(events.len(), 33);
    let mut prev = ChainHash::GENESIS;
    let mut last_time = Timestamp(i64::MIN);
    for (i, envelope) in events.iter().enumerate() {
        assert_eq!(
            envelope.body.position,
            Position(i as u64 + 1),
            "gapless positions"
        );
        assert_eq!(
            envelope.body.prev_hash,
            prev,
            "chain links position {}",
            i + 1
        );
        assert!(
            envelope.hash_is_valid().expect("hash"),
            "hash of position {}",
            i + 1
        );
        assert!(
            envelope.body.recorded_at >= last_time,
            "recorded_at never decreases"
        );
        prev = envelope.hash;
        last_time = envelope.body.recorded_at;
    }
    for (envelope, payload) in events.iter().zip(&expected_payloads) {
        assert_eq!(&envelope.body.payload, payload);
    }
    let head = store.head();
    assert_eq!((head.position, head.hash), (33, prev));
}

/// NoStream, Exact and Any are enforced, and a mismatch names expected and actual versions.
pub async fn expected_versions_are_enforced<S: EventStore>(store: S) {
    store
        .append(request(
            "acct",
            ExpectedVersion::NoStream,
            vec![event("x.created", b"")],
        ))
        .await
        .expect("create");
    match store
        .append(request(
            "acct",
            ExpectedVersion::NoStream,
            vec![event("x.created", b"")],
        ))
        .await
    {
        Err(StoreError::WrongExpectedVersion {
            expected, actual, ..
        }) => {
            assert_eq!(expected, ExpectedVersion::NoStream);
            assert_eq!(actual, StreamVersion(1));
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    let err = store
        .append(request("acct", exact(5), vec![event("x.renamed", b"")]))
        .await
        .expect_err("stale version");
    let message = err.to_string();
    assert!(
        message.contains("version 5") && message.contains("version 1"),
        "{message}"
    );
    match store
        .append(request("missing", exact(1), vec![event("x.renamed", b"")]))
        .await
    {
        Err(StoreError::WrongExpectedVersion { actual, .. }) => {
            assert_eq!(actual, StreamVersion(0))
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    store
        .append(request("acct", exact(1), vec![event("x.renamed", b"")]))
        .await
        .expect("exact version");
    let outcome = store
        .append(request(
            "acct",
            ExpectedVersion::Any,
            vec![event("x.renamed", b"")],
        ))
        .await
        .expect("any version");
    assert_eq!(outcome.stream_version, StreamVersion(3));
    assert_eq!(
        store
            .stream_version(&stream("acct"))
            .await
            .expect("version"),
        StreamVersion(3)
    );
    assert_eq!(
        store
            .stream_version(&stream("missing"))
            .await
            .expect("version"),
        StreamVersion(0)
    );
    // Failed appends wrote nothing.
    assert_eq!(store.head().position, 3);
}

/// 64 tasks race to extend one stream; exactly one wins each version.
pub async fn racing_writers_win_each_version_once<S: EventStore>(store: S) {
    const VERSIONS: u64 = 40;
    let winners: Arc<Mutex<BTreeMap<u64, usize>>> = Arc::default();
    let mut tasks = Vec::new();
    for task in 0..64usize {
        let store = store.clone();
        let winners = winners.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let seen = store
                    .stream_version(&stream("race"))
                    .await
                    .expect("version")
                    .0;
                if seen >= VERSIONS {
                    return;
                }
                let payload = format!("task {task} at {seen}");
                match store
                    .append(request(
                        "race",
                        exact(seen),
                        vec![event("race.won", payload.as_bytes())],
                    ))
                    .await
                {
                    Ok(outcome) => {
                        assert_eq!(outcome.stream_version, StreamVersion(seen + 1));
                        *winners.lock().await.entry(seen).or_default() += 1;
                    }
                    Err(StoreError::WrongExpectedVersion { .. }) => {}
                    Err(other) => panic!("unexpected error {other}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("racer");
    }
    let winners = winners.lock().await;
    assert_eq!(winners.len() as u64, VERSIONS, "every version was won");
    assert!(
        winners.values().all(|&n| n == 1),
        "exactly one winner per version: {winners:?}"
    );
    let events = store
        .read_stream(&stream("race"), StreamRange::all())
        .await
        .expect("read");
    let versions: Vec<u64> = events.iter().map(|e| e.body.stream_version.0).collect();
    assert_eq!(versions, (1..=VERSIONS).collect::<Vec<_>>());
    assert_eq!(store.head().position, VERSIONS);
}

/// Re-appending stored event ids returns the first outcome and writes nothing.
pub async fn reappend_is_idempotent<S: EventStore>(store: S) {
    let events = vec![event("pay.made", b"one"), event("pay.made", b"two")];
    let first = store
        .append(request("pay", ExpectedVersion::NoStream, events.clone()))
        .await
        .expect("first");
    store
        .append(request(
            "pay",
            ExpectedVersion::Any,
            vec![event("pay.made", b"three")],
        ))
        .await
        .expect("next");
    // Same ids again, even with an expected version that is now stale: same answer, no write.
    let again = store
        .append(request("pay", ExpectedVersion::NoStream, events.clone()))
        .await
        .expect("re-append");
    assert_eq!(again, first);
    assert_eq!(store.head().position, 3);

    // The same ids on another stream, or only some of them, are refused.
    match store
        .append(request("other", ExpectedVersion::Any, events.clone()))
        .await
    {
        Err(StoreError::EventIdReused { position, .. }) => assert_eq!(position, Position(1)),
        other => panic!("expected EventIdReused, got {other:?}"),
    }
    let partial = vec![events[0].clone(), event("pay.made", b"new")];
    assert!(matches!(
        store
            .append(request("pay", ExpectedVersion::Any, partial))
            .await,
        Err(StoreError::EventIdReused { .. })
    ));
    assert_eq!(store.head().position, 3);

    // Two identical appends racing in (possibly) one batch: one write, one answer.
    let racing = vec![event("pay.made", b"four")];
    let (a, b) = tokio::join!(
        store.append(request("pay", ExpectedVersion::Any, racing.clone())),
        store.append(request("pay", ExpectedVersion::Any, racing.clone()))
    );
    assert_eq!(a.expect("a"), b.expect("b"));
    assert_eq!(store.head().position, 4);
}

/// Malformed appends are refused with InvalidAppend and write nothing.
pub async fn invalid_appends_are_refused<S: EventStore>(store: S) {
    let cases = vec![
        request("s", ExpectedVersion::Any, vec![]),
        request("s", ExpectedVersion::Any, vec![event("", b"")]),
        request("s", ExpectedVersion::Any, vec![event("has space", b"")]),
        request(
            "s",
            ExpectedVersion::Exact(StreamVersion(0)),
            vec![event("ok", b"")],
        ),
    ];
    for case in cases {
        assert!(
            matches!(
                store.append(case.clone()).await,
                Err(StoreError::InvalidAppend(_))
            ),
            "{case:?} must be refused"
        );
    }
    let dup = event("ok", b"");
    assert!(matches!(
        store
            .append(request("s", ExpectedVersion::Any, vec![dup.clone(), dup]))
            .await,
        Err(StoreError::InvalidAppend(_))
    ));
    assert!(StreamId::new("").is_err());
    assert!(StreamId::new("x".repeat(257)).is_err());
    assert_eq!(store.head().position, 0);
    assert!(all_events(&store).await.is_empty());
}

/// Streams read whole, up to a version, up to a time; the log from a position; a time range.
pub async fn reads_by_stream_version_time_and_position<S: EventStore>(store: S) {
    for i in 1..=10u8 {
        let name = if i % 2 == 0 { "even" } else { "odd" };
        store
            .append(request(
                name,
                ExpectedVersion::Any,
                vec![event("n.added", &[i])],
            ))
            .await
            .expect("append");
        // Let the store clock move so time cuts fall between events.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let even = store
        .read_stream(&stream("even"), StreamRange::all())
        .await
        .expect("read");
    assert_eq!(
        even.iter().map(|e| e.body.payload[0]).collect::<Vec<_>>(),
        vec![2, 4, 6, 8, 10]
    );
    assert_eq!(
        even.iter()
            .map(|e| e.body.stream_version.0)
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let upto = store
        .read_stream(
            &stream("even"),
            StreamRange::up_to_version(StreamVersion(2)),
        )
        .await
        .expect("read");
    assert_eq!(
        upto.iter().map(|e| e.body.payload[0]).collect::<Vec<_>>(),
        vec![2, 4]
    );

    let cut = even[2].body.recorded_at; // the event with payload 6
    let as_of = store
        .read_stream(&stream("even"), StreamRange::up_to_time(cut))
        .await
        .expect("read");
    assert_eq!(
        as_of.iter().map(|e| e.body.payload[0]).collect::<Vec<_>>(),
        vec![2, 4, 6]
    );
    let before_all = store
        .read_stream(
            &stream("even"),
            StreamRange::up_to_time(Timestamp(even[0].body.recorded_at.0 - 1)),
        )
        .await
        .expect("read");
    assert!(before_all.is_empty());
    assert!(store
        .read_stream(&stream("nobody"), StreamRange::all())
        .await
        .expect("read")
        .is_empty());

    let tail = store.read_all(Position(7), 100).await.expect("read_all");
    assert_eq!(
        tail.iter().map(|e| e.body.position.0).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    let page = store.read_all(Position(3), 2).await.expect("read_all");
    assert_eq!(
        page.iter().map(|e| e.body.position.0).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert!(store
        .read_all(Position(11), 10)
        .await
        .expect("read_all")
        .is_empty());

    let all = all_events(&store).await;
    let (from, to) = (all[3].body.recorded_at, all[6].body.recorded_at);
    let window = store
        .read_time_range(from, to, 100)
        .await
        .expect("time range");
    assert_eq!(
        window.iter().map(|e| e.body.position.0).collect::<Vec<_>>(),
        vec![4, 5, 6, 7]
    );
    let limited = store
        .read_time_range(from, to, 2)
        .await
        .expect("time range");
    assert_eq!(limited.len(), 2);
    assert!(store
        .read_time_range(to, from, 100)
        .await
        .expect("empty")
        .is_empty());
}

/// A time maps to the first position recorded at or after it (store times never decrease), and
/// a subscription hands over what it already read without waiting.
pub async fn times_map_to_positions_and_batches_drain<S: EventStore>(store: S) {
    for i in 0..12u32 {
        store
            .append(request(
                &format!("t-{}", i % 3),
                ExpectedVersion::Any,
                vec![event("e.timed", &i.to_be_bytes())],
            ))
            .await
            .expect("append");
    }
    let all = all_events(&store).await;
    for envelope in &all {
        let first = store
            .first_position_at_or_after(envelope.body.recorded_at)
            .await
            .expect("position");
        let expected = all
            .iter()
            .find(|e| e.body.recorded_at >= envelope.body.recorded_at)
            .map(|e| e.body.position)
            .expect("itself at least");
        assert_eq!(
            first, expected,
            "first position at {:?}",
            envelope.body.recorded_at
        );
    }
    let before_all = Timestamp(all[0].body.recorded_at.0 - 1);
    assert_eq!(
        store
            .first_position_at_or_after(before_all)
            .await
            .expect("position"),
        Position::FIRST
    );
    let after_all = Timestamp(all[11].body.recorded_at.0 + 1);
    assert_eq!(
        store
            .first_position_at_or_after(after_all)
            .await
            .expect("position"),
        Position(13),
        "past the last event: the position after the head"
    );

    let mut subscription = store.subscribe(Position::FIRST);
    let first = subscription.next().await.expect("first");
    assert_eq!(first.body.position, Position::FIRST);
    let mut drained = vec![first.body.position.0];
    while let Some(envelope) = subscription.try_next() {
        drained.push(envelope.body.position.0);
    }
    // What try_next hands over is in order and gapless; the rest comes from next().
    assert!(
        drained.len() > 1,
        "a subscription behind a 12-event log hands over more than one without waiting: {drained:?}"
    );
    assert!(drained.windows(2).all(|w| w[1] == w[0] + 1), "{drained:?}");
    for expected in (drained.len() as u64 + 1)..=12 {
        assert_eq!(
            subscription.next().await.expect("next").body.position.0,
            expected
        );
    }
}

/// A subscription first catches up, then follows concurrent appends: no gap, no duplicate.
pub async fn subscription_catches_up_then_follows_live<S: EventStore>(store: S) {
    const BEFORE: u64 = 120;
    const LIVE_TASKS: u64 = 8;
    const LIVE_PER_TASK: u64 = 60;
    for i in 0..BEFORE {
        store
            .append(request(
                &format!("pre-{}", i % 3),
                ExpectedVersion::Any,
                vec![event("e.x", b"")],
            ))
            .await
            .expect("append");
    }
    let total = BEFORE + LIVE_TASKS * LIVE_PER_TASK;
    let mut from_start = store.subscribe(Position::FIRST);
    let mut from_middle = store.subscribe(Position(100));
    let mut writers = Vec::new();
    for t in 0..LIVE_TASKS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for _ in 0..LIVE_PER_TASK {
                store
                    .append(request(
                        &format!("live-{t}"),
                        ExpectedVersion::Any,
                        vec![event("e.y", b"")],
                    ))
                    .await
                    .expect("live append");
            }
        }));
    }
    let mut seen = HashSet::new();
    for expected in 1..=total {
        let envelope = tokio::time::timeout(std::time::Duration::from_secs(30), from_start.next())
            .await
            .expect("subscription keeps up")
            .expect("next");
        assert_eq!(
            envelope.body.position,
            Position(expected),
            "in order, no gap"
        );
        assert!(seen.insert(envelope.body.event_id), "no duplicate");
        assert!(
            envelope.body.position.0 <= store.head().position,
            "only durable positions"
        );
    }
    for expected in 100..=total {
        let envelope = from_middle.next().await.expect("next");
        assert_eq!(envelope.body.position, Position(expected));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    // Caught up: the next call waits for a new append and then delivers exactly it.
    let waiting = tokio::spawn(async move { from_start.next().await });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!waiting.is_finished(), "nothing new to deliver yet");
    store
        .append(request(
            "late",
            ExpectedVersion::Any,
            vec![event("e.z", b"late")],
        ))
        .await
        .expect("late append");
    let late = waiting.await.expect("join").expect("late event");
    assert_eq!(late.body.position, Position(total + 1));
    assert_eq!(late.body.payload, b"late");
}
