//! Append conditions beside the stream version: unique keys that one stream holds at a time,
//! and idempotency records stored in the same transaction as the events they answer for.
//!
//! The writer checks both against the stored trees plus what earlier appends of the same batch
//! planned (an overlay, like `stream_heads`), so two appends in one batch cannot both win.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::ledger::codec;
use crate::ledger::error::{AppendProblem, Inconsistency, StoreError};
use crate::ledger::types::{
    AppendOutcome, Position, StreamId, StreamVersion, UniqueChange, UniqueKey,
    IDEMPOTENCY_RETENTION,
};
use crate::time::Timestamp;

/// Owners of unique keys as planned by the batch so far: `None` is a key released in it.
pub(crate) type UniqueOverlay = HashMap<UniqueKey, Option<StreamId>>;

/// An idempotency record as stored: the request it answers and the outcome it gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRecord {
    pub(crate) request_hash: [u8; 32],
    pub(crate) first_position: u64,
    pub(crate) last_position: u64,
    pub(crate) stream_version: u64,
    pub(crate) answer: Vec<u8>,
    pub(crate) created_at: i64,
}

impl StoredRecord {
    /// The original outcome for the same request; a refusal for another one.
    pub(crate) fn answer(&self, request_hash: &[u8; 32]) -> Result<AppendOutcome, StoreError> {
        if &self.request_hash != request_hash {
            return Err(StoreError::IdempotencyKeyReused {
                position: Position(self.last_position),
            });
        }
        Ok(AppendOutcome {
            first_position: Position(self.first_position),
            last_position: Position(self.last_position),
            stream_version: StreamVersion(self.stream_version),
            replayed_answer: Some(self.answer.clone()),
        })
    }

    fn expired(&self, now: Timestamp) -> bool {
        self.created_at < now.0.saturating_sub(retention_micros())
    }
}

fn retention_micros() -> i64 {
    i64::try_from(IDEMPOTENCY_RETENTION.as_micros()).unwrap_or(i64::MAX)
}

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

fn stored_holder(tree: &sled::Tree, key: &UniqueKey) -> Result<Option<StreamId>, StoreError> {
    let Some(bytes) = tree.get(key.as_bytes())? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Inconsistency::UniqueKeyOwner { key: key.clone() })?;
    StreamId::new(text).map(Some)
}

/// The owner changes one append makes, or why it may not: releases first (only of keys this
/// stream holds), then claims (refused when another stream holds the key). Nothing is changed
/// in the overlay; the caller merges the result once the whole append is accepted.
pub(crate) fn plan_unique(
    tree: &sled::Tree,
    overlay: &UniqueOverlay,
    stream: &StreamId,
    changes: &[UniqueChange],
) -> Result<UniqueOverlay, StoreError> {
    let mut local = UniqueOverlay::new();
    let holder = |local: &UniqueOverlay, key: &UniqueKey| -> Result<Option<StreamId>, StoreError> {
        match local.get(key).or_else(|| overlay.get(key)) {
            Some(planned) => Ok(planned.clone()),
            None => stored_holder(tree, key),
        }
    };
    for change in changes {
        if let UniqueChange::Release(key) = change {
            if holder(&local, key)?.as_ref() == Some(stream) {
                local.insert(key.clone(), None);
            }
        }
    }
    for change in changes {
        if let UniqueChange::Claim(key) = change {
            match holder(&local, key)? {
                Some(held) if &held != stream => {
                    return Err(StoreError::UniqueKeyTaken {
                        key: key.clone(),
                        holder: held,
                    })
                }
                Some(_) => {}
                None => {
                    local.insert(key.clone(), Some(stream.clone()));
                }
            }
        }
    }
    Ok(local)
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
