//! Conformance: unique keys claimed with appends, and idempotency records stored with them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use credledger::ledger::{
    EventStore, ExpectedVersion, IdempotencyClaim, Position, StoreError, StreamRange,
    StreamVersion, UniqueKey,
};

use crate::support::{event, request, stream};

fn key(text: &str) -> UniqueKey {
    UniqueKey::new(text.as_bytes().to_vec())
}

async fn version<S: EventStore>(store: &S, name: &str) -> u64 {
    store
        .stream_version(&stream(name))
        .await
        .expect("version")
        .0
}

/// A key one stream holds cannot be claimed by another; the refused append writes nothing,
/// not even its other claims.
pub async fn unique_key_claims_conflict_across_streams<S: EventStore>(store: S) {
    store
        .append(
            request("a", ExpectedVersion::NoStream, vec![event("x.named", b"a")]).claim(key("k")),
        )
        .await
        .expect("first claim");
    let refused = store
        .append(
            request("b", ExpectedVersion::NoStream, vec![event("x.named", b"b")])
                .claim(key("free"))
                .claim(key("k")),
        )
        .await;
    match refused {
        Err(StoreError::UniqueKeyTaken { key: taken, holder }) => {
            assert_eq!(taken, key("k"));
            assert_eq!(holder, stream("a"));
        }
        other => panic!("expected UniqueKeyTaken, got {other:?}"),
    }
    assert_eq!(
        store.head().position,
        1,
        "the refused append wrote no event"
    );
    assert_eq!(version(&store, "b").await, 0);
    // Its other claim was not kept either.
    store
        .append(
            request("c", ExpectedVersion::NoStream, vec![event("x.named", b"c")])
                .claim(key("free")),
        )
        .await
        .expect("the key of the refused append is still free");
    // The holder may claim its own key again.
    store
        .append(request("a", ExpectedVersion::Any, vec![event("x.touched", b"")]).claim(key("k")))
        .await
        .expect("same stream re-claims its key");
}

/// A release frees a key for others, but only when the releasing stream holds it; releases
/// apply before claims, so one append can give up a key and take another (a rename).
pub async fn unique_keys_release_then_reclaim<S: EventStore>(store: S) {
    store
        .append(
            request("a", ExpectedVersion::NoStream, vec![event("x.named", b"")]).claim(key("old")),
        )
        .await
        .expect("claim");
    // Someone else's release does nothing.
    store
        .append(
            request("b", ExpectedVersion::NoStream, vec![event("x.other", b"")])
                .release(key("old")),
        )
        .await
        .expect("a release of a key not held is no error");
    assert!(matches!(
        store
            .append(
                request("b", ExpectedVersion::Any, vec![event("x.named", b"")]).claim(key("old"))
            )
            .await,
        Err(StoreError::UniqueKeyTaken { .. })
    ));
    // Rename within one append: claim listed first, the release still applies first.
    store
        .append(
            request("a", ExpectedVersion::Any, vec![event("x.renamed", b"")])
                .claim(key("new"))
                .release(key("old")),
        )
        .await
        .expect("rename");
    store
        .append(request("b", ExpectedVersion::Any, vec![event("x.named", b"")]).claim(key("old")))
        .await
        .expect("the released key is free");
    assert!(matches!(
        store
            .append(request("b", ExpectedVersion::Any, vec![event("x.named", b"")]).claim(key("new")))
            .await,
        Err(StoreError::UniqueKeyTaken { holder, .. }) if holder == stream("a")
    ));
    // Re-appending stored event ids returns the original outcome, claims and all.
    let named = vec![event("x.named", b"d")];
    let first = store
        .append(request("d", ExpectedVersion::NoStream, named.clone()).claim(key("d")))
        .await
        .expect("claim d");
    let again = store
        .append(request("d", ExpectedVersion::NoStream, named).claim(key("d")))
        .await
        .expect("idempotent re-append");
    assert_eq!(again, first);
    // Over-long keys are refused like other malformed appends.
    assert!(matches!(
        store
            .append(
                request("e", ExpectedVersion::Any, vec![event("x.named", b"")])
                    .claim(UniqueKey::new(vec![b'k'; 1025]))
            )
            .await,
        Err(StoreError::InvalidAppend(_))
    ));
}

/// Dozens of appends on their own streams race for one key: exactly one wins, and only the
/// winner's events are in the log.
pub async fn racing_claims_have_one_winner<S: EventStore>(store: S) {
    const RACERS: usize = 48;
    let winners = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = store.clone();
        let winners = winners.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("racer-{i}");
            match store
                .append(
                    request(
                        &name,
                        ExpectedVersion::NoStream,
                        vec![event("x.named", b"")],
                    )
                    .claim(key("prize")),
                )
                .await
            {
                Ok(_) => {
                    winners.fetch_add(1, Ordering::SeqCst);
                }
                Err(StoreError::UniqueKeyTaken { .. }) => {}
                Err(other) => panic!("unexpected {other}"),
            }
        }));
    }
    for task in tasks {
        task.await.expect("racer");
    }
    assert_eq!(winners.load(Ordering::SeqCst), 1);
    assert_eq!(store.head().position, 1, "only the winner wrote");
}

fn claim(key_byte: u8, hash_byte: u8, answer: &[u8]) -> Option<IdempotencyClaim> {
    Some(IdempotencyClaim {
        key: [key_byte; 32],
        request_hash: [hash_byte; 32],
        answer: answer.to_vec(),
    })
}

/// An idempotency key answers a retry with the original outcome and answer, without
/// appending, whatever the retry's stream or events; another request with it is refused.
pub async fn idempotency_records_replay_the_first_outcome<S: EventStore>(store: S) {
    let first = store
        .append(
            request(
                "p",
                ExpectedVersion::NoStream,
                vec![event("x.made", b"1"), event("x.made", b"2")],
            )
            .idempotent(claim(1, 7, b"made p")),
        )
        .await
        .expect("first");
    assert_eq!(first.replayed_answer, None);
    // A retry decides again (new event ids, even a new stream), and gets the first outcome.
    let retry = store
        .append(
            request(
                "q",
                ExpectedVersion::NoStream,
                vec![event("x.made", b"again")],
            )
            .idempotent(claim(1, 7, b"other answer")),
        )
        .await
        .expect("retry");
    assert_eq!(retry.replayed_answer.as_deref(), Some(&b"made p"[..]));
    assert_eq!(
        (
            retry.first_position,
            retry.last_position,
            retry.stream_version
        ),
        (Position(1), Position(2), StreamVersion(2))
    );
    assert_eq!(store.head().position, 2, "the retry wrote nothing");
    assert_eq!(version(&store, "q").await, 0);
    assert!(matches!(
        store
            .append(
                request("q", ExpectedVersion::Any, vec![event("x.made", b"")])
                    .idempotent(claim(1, 8, b""))
            )
            .await,
        Err(StoreError::IdempotencyKeyReused {
            position: Position(2)
        })
    ));
    // The record can be read without appending.
    let read = store
        .idempotent_outcome(&[1; 32], &[7; 32])
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(read, retry);
    assert!(matches!(
        store.idempotent_outcome(&[1; 32], &[8; 32]).await,
        Err(StoreError::IdempotencyKeyReused { .. })
    ));
    assert_eq!(
        store
            .idempotent_outcome(&[2; 32], &[7; 32])
            .await
            .expect("read"),
        None
    );
    // A refused append stores no record: the key stays free.
    store
        .append(request("r", ExpectedVersion::NoStream, vec![event("x.made", b"")]).claim(key("r")))
        .await
        .expect("claim r");
    assert!(store
        .append(
            request("s", ExpectedVersion::NoStream, vec![event("x.made", b"")])
                .claim(key("r"))
                .idempotent(claim(3, 1, b"")),
        )
        .await
        .is_err());
    assert_eq!(
        store
            .idempotent_outcome(&[3; 32], &[1; 32])
            .await
            .expect("read"),
        None
    );
}

/// Many appends with one idempotency key at once (some in one batch): one append, every
/// caller the same outcome.
pub async fn racing_idempotent_appends_write_once<S: EventStore>(store: S) {
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(
                    request(
                        &format!("t-{i}"),
                        ExpectedVersion::NoStream,
                        vec![event("x.made", b"")],
                    )
                    .idempotent(claim(9, 9, b"once")),
                )
                .await
                .expect("append or replay")
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    assert_eq!(store.head().position, 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.replayed_answer.is_none())
            .count(),
        1
    );
    assert!(outcomes.iter().all(|o| o.last_position == Position(1)));
    let events = store.read_all(Position::FIRST, 10).await.expect("read");
    let winner = &events[0].body.stream_id;
    assert_eq!(
        store
            .read_stream(winner, StreamRange::all())
            .await
            .expect("read")
            .len(),
        1
    );
}

/// The open-time repair makes one prefix's keys match what the caller derived, leaving other
/// keys alone; afterwards claims follow the repaired owners.
pub async fn unique_keys_can_be_repaired<S: EventStore>(store: S) {
    for (name, k) in [("a", "p:a"), ("b", "p:b"), ("z", "other")] {
        store
            .append(
                request(name, ExpectedVersion::NoStream, vec![event("x.named", b"")]).claim(key(k)),
            )
            .await
            .expect("claim");
    }
    let wanted = BTreeMap::from([(key("p:a"), stream("b")), (key("p:c"), stream("c"))]);
    let changed = store
        .repair_unique_keys(b"p:", wanted.clone())
        .await
        .expect("repair");
    assert_eq!(changed, 3, "p:a moved, p:b dropped, p:c added");
    assert_eq!(
        store
            .repair_unique_keys(b"p:", wanted)
            .await
            .expect("again"),
        0
    );
    let claim_by = |holder: &'static str, k: &'static str| {
        let store = store.clone();
        async move {
            store
                .append(
                    request(holder, ExpectedVersion::Any, vec![event("x.named", b"")])
                        .claim(key(k)),
                )
                .await
        }
    };
    assert!(
        matches!(claim_by("a", "p:a").await, Err(StoreError::UniqueKeyTaken { holder, .. }) if holder == stream("b"))
    );
    claim_by("a", "p:b").await.expect("dropped key is free");
    assert!(matches!(
        claim_by("a", "other").await,
        Err(StoreError::UniqueKeyTaken { .. })
    ));
}
