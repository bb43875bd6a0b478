//! The read side on sled: every table in one tree (`table tag ‖ key`), so that a change set
//! and its checkpoint go down in one atomic `apply_batch`.
//!
//! Commits are not flushed on their own: the log is the truth and the read side is rebuilt or
//! caught up from it, so a commit lost in a crash only means a longer catch-up. sled writes a
//! batch atomically, so the checkpoint never covers writes that are missing.

use super::store::{
    prefix_successor, ChangeSet, Entry, KeyRange, ReadCheckpoint, ReadStore, ScanOrder, Table,
};
use super::ProjectionError;
use crate::ledger::ChainHash;

/// The sled tree holding the read side.
pub const READ_MODEL_TREE: &str = crate::storage::READ_MODEL;
/// The tree of the whole-model snapshots of earlier versions; dropped when found.
const LEGACY_SNAPSHOT_TREE: &str = crate::storage::legacy::PROJECTION_SNAPSHOTS;

/// Key of the checkpoint record (tag 0 is no table's).
const CHECKPOINT_KEY: &[u8] = b"\0checkpoint";
/// Format of the checkpoint record: `format u8 ‖ layout u16 ‖ position u64 ‖ hash [32]`.
const CHECKPOINT_FORMAT: u8 = 1;
const CHECKPOINT_LEN: usize = 1 + 2 + 8 + 32;

/// The read side of a sled database.
#[derive(Clone)]
pub struct SledReadStore {
    tree: sled::Tree,
}

impl SledReadStore {
    /// Opens the read side of a database (and drops an obsolete snapshot tree).
    pub fn open(db: &sled::Db) -> Result<SledReadStore, ProjectionError> {
        if db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == LEGACY_SNAPSHOT_TREE.as_bytes())
        {
            tracing::info!("dropping the whole-model snapshots of an earlier version");
            db.drop_tree(LEGACY_SNAPSHOT_TREE)?;
        }
        Ok(SledReadStore {
            tree: db.open_tree(READ_MODEL_TREE)?,
        })
    }
}

fn full_key(table: Table, key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(1 + key.len());
    full.push(table.tag());
    full.extend_from_slice(key);
    full
}

fn encode_checkpoint(checkpoint: &ReadCheckpoint) -> [u8; CHECKPOINT_LEN] {
    let mut out = [0u8; CHECKPOINT_LEN];
    out[0] = CHECKPOINT_FORMAT;
    out[1..3].copy_from_slice(&checkpoint.layout.to_be_bytes());
    out[3..11].copy_from_slice(&checkpoint.position.to_be_bytes());
    out[11..].copy_from_slice(&checkpoint.hash.0);
    out
}

fn decode_checkpoint(bytes: &[u8]) -> Option<ReadCheckpoint> {
    if bytes.len() != CHECKPOINT_LEN || bytes[0] != CHECKPOINT_FORMAT {
        return None;
    }
    Some(ReadCheckpoint {
        layout: u16::from_be_bytes(bytes[1..3].try_into().ok()?),
        position: u64::from_be_bytes(bytes[3..11].try_into().ok()?),
        hash: ChainHash(bytes[11..].try_into().ok()?),
    })
}

impl ReadStore for SledReadStore {
    fn checkpoint(&self) -> Result<Option<ReadCheckpoint>, ProjectionError> {
        match self.tree.get(CHECKPOINT_KEY)? {
            None => Ok(None),
            Some(bytes) => decode_checkpoint(&bytes)
                .map(Some)
                .ok_or(ProjectionError::CheckpointUndecodable),
        }
    }

    fn commit(
        &self,
        changes: &ChangeSet,
        checkpoint: ReadCheckpoint,
    ) -> Result<(), ProjectionError> {
        let mut batch = sled::Batch::default();
        for (table, key, value) in changes.writes() {
            let key = full_key(table, key);
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch.insert(CHECKPOINT_KEY, &encode_checkpoint(&checkpoint)[..]);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, ProjectionError> {
        Ok(self.tree.get(full_key(table, key))?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        order: ScanOrder,
        limit: usize,
    ) -> Result<Vec<Entry>, ProjectionError> {
        let prefix = full_key(table, &range.prefix);
        let low = match &range.from {
            Some(from) => full_key(table, from).max(prefix.clone()),
            None => prefix.clone(),
        };
        // Bounded on both sides, so a descending walk never crosses other tables' keys.
        let end = prefix_successor(&prefix);
        let iter = match (&range.to, end) {
            (Some(to), _) => self.tree.range(low..=full_key(table, to)),
            (None, Some(end)) => self.tree.range(low..end),
            (None, None) => self.tree.range(low..),
        };
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match order {
            ScanOrder::Ascending => Box::new(iter),
            ScanOrder::Descending => Box::new(iter.rev()),
        };
        let mut out = Vec::new();
        for entry in iter {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            if key.starts_with(&prefix) {
                out.push((key[1..].to_vec(), value.to_vec()));
            }
        }
        Ok(out)
    }

    fn is_empty(&self) -> Result<bool, ProjectionError> {
        Ok(self.tree.is_empty())
    }

    fn clear(&self) -> Result<(), ProjectionError> {
        self.tree.clear()?;
        self.tree.flush()?;
        Ok(())
    }
}

/// A read store in a temporary directory, for tests of what projections write.
#[cfg(test)]
pub(crate) struct TemporaryReadStore {
    pub(crate) store: SledReadStore,
    _dir: tempfile::TempDir,
}

#[cfg(test)]
impl TemporaryReadStore {
    pub(crate) fn new() -> TemporaryReadStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new().path(dir.path()).open().expect("db");
        let store = SledReadStore::open(&db).expect("read store");
        TemporaryReadStore { store, _dir: dir }
    }

    /// Commits a change set under a checkpoint at `position` (any chain hash).
    pub(crate) fn commit_at(&self, changes: &ChangeSet, position: u64) {
        let checkpoint = ReadCheckpoint {
            layout: 1,
            position,
            hash: ChainHash::GENESIS,
        };
        self.store.commit(changes, checkpoint).expect("commit");
    }

    /// Every entry of a table under a key prefix, in key order.
    pub(crate) fn all(&self, table: Table, prefix: &[u8]) -> Vec<Entry> {
        self.store
            .scan(
                table,
                &KeyRange::prefix(prefix.to_vec()),
                ScanOrder::Ascending,
                usize::MAX,
            )
            .expect("scan")
    }
}
