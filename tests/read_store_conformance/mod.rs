//! The `ReadStore` conformance suite: every read-side backend runs these against a fresh,
//! empty store. Each check is a plain function generic over the store, so a new backend only
//! needs a test file that builds its store and calls them all (see `tests/read_store_sled.rs`).

use credledger::ledger::ChainHash;
use credledger::projections::{ChangeSet, KeyRange, ReadCheckpoint, ReadStore, ScanOrder, Table};

fn checkpoint(position: u64) -> ReadCheckpoint {
    ReadCheckpoint {
        layout: 7,
        position,
        hash: ChainHash([position as u8; 32]),
    }
}

fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

/// An empty store has no checkpoint and nothing in it.
pub fn starts_empty<S: ReadStore>(store: S) {
    assert_eq!(store.checkpoint().expect("checkpoint"), None);
    assert!(store.is_empty().expect("is_empty"));
    for table in Table::ALL {
        assert_eq!(store.get(table, b"anything").expect("get"), None);
    }
}

/// A commit writes its puts and deletes and moves the checkpoint; the last write to a key wins.
pub fn commit_writes_and_moves_the_checkpoint<S: ReadStore>(store: S) {
    let mut changes = ChangeSet::default();
    changes.put(Table::Live, b"a".to_vec(), b"1".to_vec());
    changes.put(Table::Live, b"b".to_vec(), b"2".to_vec());
    changes.put(Table::History, b"a".to_vec(), b"h".to_vec());
    store.commit(&changes, checkpoint(3)).expect("commit");
    assert_eq!(store.checkpoint().expect("checkpoint"), Some(checkpoint(3)));
    assert!(!store.is_empty().expect("is_empty"));
    assert_eq!(
        store.get(Table::Live, b"a").expect("get"),
        Some(b"1".to_vec())
    );
    assert_eq!(
        store.get(Table::History, b"a").expect("get"),
        Some(b"h".to_vec())
    );
    assert_eq!(
        store.get(Table::Audit, b"a").expect("get"),
        None,
        "tables are apart"
    );

    let mut changes = ChangeSet::default();
    changes.put(Table::Live, b"a".to_vec(), b"first".to_vec());
    changes.put(Table::Live, b"a".to_vec(), b"second".to_vec());
    changes.delete(Table::Live, b"b".to_vec());
    store.commit(&changes, checkpoint(5)).expect("commit");
    assert_eq!(
        store.get(Table::Live, b"a").expect("get"),
        Some(b"second".to_vec())
    );
    assert_eq!(store.get(Table::Live, b"b").expect("get"), None);
    assert_eq!(store.checkpoint().expect("checkpoint"), Some(checkpoint(5)));

    // An empty change set still moves the checkpoint (a batch of events that change nothing).
    store
        .commit(&ChangeSet::default(), checkpoint(6))
        .expect("commit");
    assert_eq!(store.checkpoint().expect("checkpoint"), Some(checkpoint(6)));
}

/// Scans stay inside their table and prefix, honour bounds, order and limit.
pub fn scans_are_ordered_bounded_and_limited<S: ReadStore>(store: S) {
    let mut changes = ChangeSet::default();
    for prefix in [b"p".as_slice(), b"pq", b"q"] {
        for i in [3u8, 1, 2, 0xFF] {
            let mut key = prefix.to_vec();
            key.push(i);
            changes.put(Table::Audit, key, vec![i]);
        }
    }
    changes.put(Table::History, b"p\x01".to_vec(), Vec::new());
    changes.put(Table::WorkspaceMembers, b"\xFF\xFF".to_vec(), Vec::new());
    store.commit(&changes, checkpoint(1)).expect("commit");

    let p = KeyRange::prefix(b"p".to_vec());
    let up = store
        .scan(Table::Audit, &p, ScanOrder::Ascending, usize::MAX)
        .expect("scan");
    let expected: Vec<Vec<u8>> = vec![
        b"p\x01".to_vec(),
        b"p\x02".to_vec(),
        b"p\x03".to_vec(),
        b"pq\x01".to_vec(),
        b"pq\x02".to_vec(),
        b"pq\x03".to_vec(),
        b"pq\xFF".to_vec(),
        b"p\xFF".to_vec(),
    ];
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(
        keys(&up),
        sorted,
        "bytewise order, prefix only, one table only"
    );
    assert_eq!(up[0].1, vec![1], "values come with their keys");
    let down = store
        .scan(Table::Audit, &p, ScanOrder::Descending, usize::MAX)
        .expect("scan");
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(keys(&down), reversed);
    let two = store
        .scan(Table::Audit, &p, ScanOrder::Descending, 2)
        .expect("scan");
    assert_eq!(keys(&two), reversed[..2].to_vec(), "limit");

    let bounded = KeyRange {
        prefix: b"pq".to_vec(),
        from: Some(b"pq\x02".to_vec()),
        to: Some(b"pq\x03".to_vec()),
    };
    assert_eq!(
        keys(
            &store
                .scan(Table::Audit, &bounded, ScanOrder::Ascending, 10)
                .expect("scan")
        ),
        vec![b"pq\x02".to_vec(), b"pq\x03".to_vec()],
        "inclusive bounds"
    );
    assert_eq!(
        keys(
            &store
                .scan(Table::Audit, &bounded, ScanOrder::Descending, 1)
                .expect("scan")
        ),
        vec![b"pq\x03".to_vec()]
    );
    let seek_down = KeyRange {
        prefix: b"q".to_vec(),
        from: None,
        to: Some(b"q\x02".to_vec()),
    };
    assert_eq!(
        keys(
            &store
                .scan(Table::Audit, &seek_down, ScanOrder::Descending, 1)
                .expect("scan")
        ),
        vec![b"q\x02".to_vec()],
        "a descending seek finds the largest key at or below the bound"
    );
    let all_ff = KeyRange::prefix(b"\xFF".to_vec());
    assert_eq!(
        keys(
            &store
                .scan(Table::WorkspaceMembers, &all_ff, ScanOrder::Descending, 10)
                .expect("scan")
        ),
        vec![b"\xFF\xFF".to_vec()],
        "a prefix of 0xFF bytes has no successor and still stays in its table"
    );
    let everything = KeyRange::prefix(Vec::new());
    assert_eq!(
        store
            .scan(
                Table::History,
                &everything,
                ScanOrder::Ascending,
                usize::MAX
            )
            .expect("scan")
            .len(),
        1
    );
}

/// `clear` removes every entry and the checkpoint.
pub fn clear_removes_everything<S: ReadStore>(store: S) {
    let mut changes = ChangeSet::default();
    for table in Table::ALL {
        changes.put(table, b"k".to_vec(), b"v".to_vec());
    }
    store.commit(&changes, checkpoint(9)).expect("commit");
    store.clear().expect("clear");
    starts_empty(store);
}

/// Every table and the checkpoint survive reopening the store (`reopen` builds a new handle
/// on the same storage, after the old one is dropped).
pub fn commits_survive_a_reopen<S: ReadStore>(store: S, reopen: impl FnOnce(S) -> S) {
    let mut changes = ChangeSet::default();
    for (i, table) in Table::ALL.into_iter().enumerate() {
        changes.put(table, vec![i as u8], vec![i as u8; 100]);
    }
    store.commit(&changes, checkpoint(42)).expect("commit");
    let store = reopen(store);
    assert_eq!(
        store.checkpoint().expect("checkpoint"),
        Some(checkpoint(42))
    );
    for (i, table) in Table::ALL.into_iter().enumerate() {
        assert_eq!(
            store.get(table, &[i as u8]).expect("get"),
            Some(vec![i as u8; 100])
        );
    }
}
