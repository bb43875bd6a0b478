//! Direct access to the stored envelopes, past the writer and every check: for forensics, and
//! for tests that damage a log on purpose to show that `verify` names the damage.
//!
//! Nothing here keeps the log's indexes or head in step; a log changed through it is, by
//! design, one that `verify` should refuse.

use std::path::Path;

use super::blocks;
use super::{open_db, Trees};
use crate::ledger::error::StoreError;

/// The stored events of a data directory that no running store has open.
pub struct RawLog {
    db: sled::Db,
    trees: Trees,
}

impl RawLog {
    /// Opens the log in `path` (moving an earlier layout into blocks first).
    pub fn open(path: impl AsRef<Path>) -> Result<RawLog, StoreError> {
        let db = open_db(path.as_ref())?;
        let trees = Trees::open(&db, path.as_ref())?;
        Ok(RawLog { db, trees })
    }

    /// Every stored event as `(position, encoded envelope)`, in order.
    pub fn events(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.trees.raw_events().collect()
    }

    /// The stored bytes at one position.
    pub fn event(&self, position: u64) -> Result<Option<Vec<u8>>, StoreError> {
        blocks::raw_event(&self.trees.event_blocks, position)
    }

    /// Stores `bytes` at `position` (replacing what is there), or removes the position.
    pub fn set_event(&self, position: u64, bytes: Option<&[u8]>) -> Result<(), StoreError> {
        let geometry = self.trees.geometry();
        let block = geometry.block_of(position);
        let key = blocks::block_key(block);
        let stored = self.trees.event_blocks.get(block)?;
        let mut entries: Vec<(u64, Vec<u8>)> = match &stored {
            Some((value, _)) => blocks::decode_event_block(geometry, &key, value)?
                .into_iter()
                .map(|(p, b)| (p, b.to_vec()))
                .collect(),
            None => Vec::new(),
        };
        entries.retain(|(p, _)| *p != position);
        if let Some(bytes) = bytes {
            entries.push((position, bytes.to_vec()));
            entries.sort_by_key(|(p, _)| *p);
        }
        // A block stays where it was kept, however many entries it now has.
        let tree = match stored {
            Some((_, blocks::Kept::Archived)) => {
                return self
                    .trees
                    .event_blocks
                    .archive
                    .replace(block, &bytes_of(geometry, &entries)?);
            }
            Some((_, blocks::Kept::Full)) => &self.trees.event_blocks.full,
            Some((_, blocks::Kept::Open)) | None => &self.trees.event_blocks.open,
        };
        if entries.is_empty() {
            tree.remove(key)?;
        } else {
            tree.insert(key, bytes_of(geometry, &entries)?)?;
        }
        Ok(())
    }

    /// Writes everything changed to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn bytes_of(geometry: blocks::Geometry, entries: &[(u64, Vec<u8>)]) -> Result<Vec<u8>, StoreError> {
    let mut block = Vec::new();
    for (p, b) in entries {
        blocks::push_event_entry(geometry, &mut block, *p, b)?;
    }
    Ok(block)
}
