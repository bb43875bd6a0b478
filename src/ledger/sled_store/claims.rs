//! Append conditions beside the stream version: unique keys that one stream holds at a time,
//! and idempotency records stored in the same transaction as the events they answer for.
//!
//! The writer checks both against the stored trees plus what earlier appends of the same batch
//! planned (an overlay, like `stream_heads`), so two appends in one batch cannot both win.

use std::collections::BTreeMap;

use crate::ledger::codec;
use crate::ledger::error::{AppendProblem, Inconsistency, StoreError};
use crate::ledger::planner::StoredRecord;
#[cfg(test)]
use crate::ledger::planner::{self, UniqueOverlay};
#[cfg(test)]
use crate::ledger::types::UniqueChange;
use crate::ledger::types::{StreamId, UniqueKey};
use crate::time::Timestamp;

/// The stored, unexpired record of an idempotency key.
pub(crate) fn stored_record(
    tree: &sled::Tree,
    key: &[u8; 32],
) -> Result<Option<StoredRecord>, StoreError> {
    let Some(bytes) = tree.get(key)? else {
        return Ok(None);
    };
    let record: StoredRecord = codec::decode(&bytes)?;
    Ok((!record.expired(Timestamp::now())).then_some(record))
}

/// Removes records past the retention; returns how many.
pub(crate) fn sweep(tree: &sled::Tree) -> Result<usize, StoreError> {
    let now = Timestamp::now();
    let mut removed = 0;
    for entry in tree.iter() {
        let (key, value) = entry?;
        // An undecodable record answers nothing; it goes too.
        let expired = codec::decode::<StoredRecord>(&value).map_or(true, |r| r.expired(now));
        // Only if unchanged: the writer may just have reused the expired key.
        if expired
            && tree
                .compare_and_swap(&key, Some(&value), None::<&[u8]>)?
                .is_ok()
        {
            removed += 1;
        }
    }
    if removed > 0 {
        tree.flush()?;
    }
    Ok(removed)
}

pub(crate) fn stored_holder(
    tree: &sled::Tree,
    key: &UniqueKey,
) -> Result<Option<StreamId>, StoreError> {
    let Some(bytes) = tree.get(key.as_bytes())? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Inconsistency::UniqueKeyOwner { key: key.clone() })?;
    StreamId::new(text).map(Some)
}

/// The owner changes one append makes against `tree` and the batch's overlay (see
/// [`planner::plan_unique`]).
#[cfg(test)]
fn plan_unique(
    tree: &sled::Tree,
    overlay: &UniqueOverlay,
    stream: &StreamId,
    changes: &[UniqueChange],
) -> Result<UniqueOverlay, StoreError> {
    planner::plan_unique(overlay, stream, changes, |key| stored_holder(tree, key))
}

/// Makes the keys under `prefix` exactly `wanted`; returns how many entries changed.
pub(crate) fn repair(
    tree: &sled::Tree,
    prefix: &[u8],
    wanted: &BTreeMap<UniqueKey, StreamId>,
) -> Result<usize, StoreError> {
    if let Some(stray) = wanted.keys().find(|k| !k.as_bytes().starts_with(prefix)) {
        return Err(AppendProblem::KeyOutsideRepairedPrefix { key: stray.clone() }.into());
    }
    let mut batch = sled::Batch::default();
    let mut changed = 0;
    let mut present = std::collections::HashSet::new();
    for entry in tree.scan_prefix(prefix) {
        let (key, owner) = entry?;
        let unique = UniqueKey::new(key.to_vec());
        match wanted.get(&unique) {
            Some(stream) if stream.as_str().as_bytes() == owner.as_ref() => {}
            Some(stream) => {
                batch.insert(key.as_ref(), stream.as_str().as_bytes());
                changed += 1;
            }
            None => {
                batch.remove(key.as_ref());
                changed += 1;
            }
        }
        present.insert(unique);
    }
    for (key, stream) in wanted {
        if !present.contains(key) {
            batch.insert(key.as_bytes(), stream.as_str().as_bytes());
            changed += 1;
        }
    }
    if changed > 0 {
        tree.apply_batch(batch)?;
        tree.flush()?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::planner::retention_micros;
    use crate::ledger::types::Position;

    fn tree() -> sled::Tree {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("temporary db");
        db.open_tree("unique").expect("tree")
    }

    fn key(text: &str) -> UniqueKey {
        UniqueKey::new(text.as_bytes().to_vec())
    }

    fn stream(name: &str) -> StreamId {
        StreamId::new(name).expect("valid")
    }

    #[test]
    fn a_claim_fails_only_when_another_stream_holds_the_key() {
        let tree = tree();
        tree.insert("k", "a").expect("insert");
        let overlay = UniqueOverlay::new();
        let taken = plan_unique(
            &tree,
            &overlay,
            &stream("b"),
            &[UniqueChange::Claim(key("k"))],
        );
        assert!(
            matches!(&taken, Err(StoreError::UniqueKeyTaken { holder, .. }) if holder == &stream("a")),
            "{taken:?}"
        );
        let own = plan_unique(
            &tree,
            &overlay,
            &stream("a"),
            &[UniqueChange::Claim(key("k"))],
        )
        .expect("own key");
        assert!(own.is_empty(), "re-claiming an own key changes nothing");
    }

    #[test]
    fn releases_apply_before_claims_and_only_for_the_holder() {
        let tree = tree();
        tree.insert("old", "a").expect("insert");
        let overlay = UniqueOverlay::new();
        // Another stream's release does nothing, so its claim still fails.
        let refused = plan_unique(
            &tree,
            &overlay,
            &stream("b"),
            &[
                UniqueChange::Claim(key("old")),
                UniqueChange::Release(key("old")),
            ],
        );
        assert!(matches!(refused, Err(StoreError::UniqueKeyTaken { .. })));
        // The holder's release, even listed after the claim, frees the key first.
        let moved = plan_unique(
            &tree,
            &overlay,
            &stream("a"),
            &[
                UniqueChange::Claim(key("new")),
                UniqueChange::Release(key("old")),
            ],
        )
        .expect("rename");
        assert_eq!(moved.get(&key("old")), Some(&None));
        assert_eq!(moved.get(&key("new")), Some(&Some(stream("a"))));
    }

    #[test]
    fn the_batch_overlay_wins_over_the_stored_tree() {
        let tree = tree();
        tree.insert("k", "a").expect("insert");
        let mut overlay = UniqueOverlay::new();
        overlay.insert(key("k"), None);
        let claimed = plan_unique(
            &tree,
            &overlay,
            &stream("b"),
            &[UniqueChange::Claim(key("k"))],
        )
        .expect("released earlier in the batch");
        assert_eq!(claimed.get(&key("k")), Some(&Some(stream("b"))));
        overlay.extend(claimed);
        let second = plan_unique(
            &tree,
            &overlay,
            &stream("c"),
            &[UniqueChange::Claim(key("k"))],
        );
        assert!(
            matches!(second, Err(StoreError::UniqueKeyTaken { holder, .. }) if holder == stream("b"))
        );
    }

    #[test]
    fn repair_rewrites_only_its_prefix() {
        let tree = tree();
        tree.insert("p:stale", "a").expect("insert");
        tree.insert("p:moved", "a").expect("insert");
        tree.insert("other", "z").expect("insert");
        let wanted = BTreeMap::from([
            (key("p:moved"), stream("b")),
            (key("p:missing"), stream("c")),
        ]);
        assert_eq!(repair(&tree, b"p:", &wanted).expect("repair"), 3);
        assert_eq!(repair(&tree, b"p:", &wanted).expect("again"), 0);
        let all: Vec<(Vec<u8>, Vec<u8>)> = tree
            .iter()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("entry"))
            .collect();
        assert_eq!(
            all,
            vec![
                (b"other".to_vec(), b"z".to_vec()),
                (b"p:missing".to_vec(), b"c".to_vec()),
                (b"p:moved".to_vec(), b"b".to_vec()),
            ]
        );
        let stray = BTreeMap::from([(key("q:x"), stream("a"))]);
        assert!(matches!(
            repair(&tree, b"p:", &stray),
            Err(StoreError::InvalidAppend(AppendProblem::KeyOutsideRepairedPrefix { key }))
                if key.as_bytes() == b"q:x"
        ));
    }

    #[test]
    fn a_record_replays_only_the_same_request() {
        let record = StoredRecord {
            request_hash: [1; 32],
            first_position: 4,
            last_position: 5,
            stream_version: 2,
            answer: b"answer".to_vec(),
            created_at: Timestamp::now().0,
        };
        let same = record.answer(&[1; 32]).expect("same request");
        assert_eq!(same.replayed_answer.as_deref(), Some(&b"answer"[..]));
        assert_eq!(same.last_position, Position(5));
        assert!(matches!(
            record.answer(&[2; 32]),
            Err(StoreError::IdempotencyKeyReused {
                position: Position(5)
            })
        ));
        let old = StoredRecord {
            created_at: Timestamp::now().0 - retention_micros() - 1,
            ..record
        };
        assert!(old.expired(Timestamp::now()));
    }
}
