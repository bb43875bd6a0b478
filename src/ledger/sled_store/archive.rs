//! Full event blocks, moved out of sled into one append-only file.
//!
//! sled 0.34 keeps a page-table entry and segment bookkeeping in memory for every tree node
//! (a leaf holds at most 16 keys), for as long as the node exists. A full event block never
//! changes again, so it needs none of what sled offers; kept in sled, it costs memory that
//! grows with the log (measured: about 46 bytes of RSS per key, 14 MB at 5 M events). So full
//! blocks wait in `event_blocks` only briefly, then move here:
//!
//! - the file `archived_event_blocks` in the data directory holds blocks back to back, in
//!   block order, from block 0;
//! - the tree `archive_index` maps every group of [`BLOCKS_PER_GROUP`] blocks (key: group
//!   number) to the `start u64 ‖ len u32` of each of its blocks, and its key `state` records
//!   how many blocks are archived and how many bytes of the file they take.
//!
//! A move writes the blocks' bytes at the recorded end of the file and syncs them first; the
//! same sled transaction that writes the writer's batch then removes the blocks from
//! `event_blocks` and records them in the index. A crash in between leaves bytes past the
//! recorded end, which the next open cuts off: the index never points at bytes that are not
//! on disk, and a block is always in exactly one place. Blocks only ever move forward (open
//! block → `event_blocks` → archive), so a reader that looks in that order finds every block
//! even while it moves.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::blocks::block_key;
use crate::ledger::error::{
    malformed, AppendProblem, Inconsistency, StoreError, StoredPart, TransactionKind,
};

use crate::storage::log::ARCHIVE_FILE;

/// Blocks per key of `archive_index` (3 KiB of entries).
const BLOCKS_PER_GROUP: u64 = 256;
/// The key of the archive's state; group keys are 8 bytes, so it never collides.
const STATE_KEY: &[u8] = b"state";
const ENTRY_LEN: usize = 8 + 4;

/// Full blocks left in `event_blocks` after a move: the newest ones, which recent reads want.
const KEEP_IN_TREE: u64 = 32;
/// A move starts once this many full blocks wait in `event_blocks`: one file write and sync
/// per `MOVE_AT - KEEP_IN_TREE` blocks (512 events).
const MOVE_AT: u64 = 64;
/// Most blocks moved by one batch, so that a directory written before the archive existed
/// (every full block in `event_blocks`) moves over many batches instead of stalling one.
const MOST_PER_MOVE: u64 = 512;

/// How much of the log is archived.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ArchiveState {
    /// Blocks `0..blocks` are in the file.
    pub(crate) blocks: u64,
    /// Bytes of the file they use; anything after is left over from a cut-short move.
    pub(crate) bytes: u64,
}

impl ArchiveState {
    fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.blocks.to_be_bytes());
        out[8..].copy_from_slice(&self.bytes.to_be_bytes());
        out
    }

    fn decode(value: &[u8]) -> Result<ArchiveState, StoreError> {
        let blocks = value.get(..8).and_then(|b| b.try_into().ok());
        let bytes = value.get(8..16).and_then(|b| b.try_into().ok());
        match (blocks, bytes, value.len()) {
            (Some(blocks), Some(bytes), 16) => Ok(ArchiveState {
                blocks: u64::from_be_bytes(blocks),
                bytes: u64::from_be_bytes(bytes),
            }),
            _ => Err(malformed(StoredPart::ArchiveState)),
        }
    }
}

/// The archive file and its index.
pub(crate) struct Archive {
    path: PathBuf,
    /// Opened when the directory is, if the file exists; created by the first move.
    file: OnceLock<File>,
    index: sled::Tree,
}

impl Archive {
    /// Opens the archive of a data directory, cutting off what a cut-short move left.
    pub(crate) fn open(dir: &Path, index: sled::Tree) -> Result<Archive, StoreError> {
        let archive = Archive {
            path: dir.join(ARCHIVE_FILE),
            file: OnceLock::new(),
            index,
        };
        let state = archive.state()?;
        match OpenOptions::new()
            .read(true)
            .write(true)
            .open(&archive.path)
        {
            Ok(file) => {
                let len = file.metadata().map_err(|e| archive.io(e))?.len();
                if len < state.bytes {
                    return Err(Inconsistency::ArchiveShort {
                        path: archive.path.clone(),
                        len,
                        recorded: state.bytes,
                    }
                    .into());
                }
                if len > state.bytes {
                    file.set_len(state.bytes).map_err(|e| archive.io(e))?;
                    file.sync_all().map_err(|e| archive.io(e))?;
                }
                let _ = archive.file.set(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if state.blocks > 0 {
                    return Err(Inconsistency::ArchiveMissing {
                        path: archive.path.clone(),
                        blocks: state.blocks,
                    }
                    .into());
                }
            }
            Err(e) => return Err(archive.io(e)),
        }
        Ok(archive)
    }

    /// The index tree, for transactions that record moves.
    pub(crate) fn index(&self) -> &sled::Tree {
        &self.index
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::File {
            path: self.path.clone(),
            source,
        }
    }

    /// The recorded state (committed moves only).
    pub(crate) fn state(&self) -> Result<ArchiveState, StoreError> {
        match self.index.get(STATE_KEY)? {
            Some(value) => ArchiveState::decode(&value),
            None => Ok(ArchiveState::default()),
        }
    }

    /// Whether no block is archived.
    pub(crate) fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.state()?.blocks == 0)
    }

    /// The stored bytes of an archived block.
    pub(crate) fn read(&self, block: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((start, len)) = self.location(block)? else {
            return Ok(None);
        };
        let file = self.file(false)?;
        let mut bytes = vec![0u8; len as usize];
        file.read_exact_at(&mut bytes, start)
            .map_err(|e| self.io(e))?;
        Ok(Some(bytes))
    }

    /// Where an archived block is in the file (only its own entry of the group is decoded).
    fn location(&self, block: u64) -> Result<Option<(u64, u32)>, StoreError> {
        let Some(value) = self.index.get(group_key(block))? else {
            return Ok(None);
        };
        check_group(&value)?;
        let Some(entry) = value.get(slot(block)) else {
            return Ok(None);
        };
        let bad = |_| malformed(StoredPart::ArchiveIndexEntry { block });
        let start = entry[..8].try_into().map_err(bad)?;
        let len = entry[8..].try_into().map_err(bad)?;
        Ok(Some((u64::from_be_bytes(start), u32::from_be_bytes(len))))
    }

    /// The last archived block, if any.
    pub(crate) fn last_block(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.state()?.blocks.checked_sub(1))
    }

    /// Removes every archived block.
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        self.index.clear()?;
        self.index.flush()?;
        if let Some(file) = self.file.get() {
            file.set_len(0).map_err(|e| self.io(e))?;
            file.sync_all().map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// The file: opened now if another handle of this directory created it since this one
    /// was opened, or, for the first move (`create`), created with its directory entry synced.
    fn file(&self, create: bool) -> Result<&File, StoreError> {
        if let Some(file) = self.file.get() {
            return Ok(file);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        if create {
            file.sync_all().map_err(|e| self.io(e))?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| self.io(e))?;
            }
        }
        // Only the writer creates it, so nobody else sets it meanwhile.
        Ok(self.file.get_or_init(|| file))
    }

    /// Moves the oldest full blocks of `full` to the file when enough wait there: writes and
    /// syncs their bytes, and returns the sled writes that record the move (to be applied in
    /// the transaction of the batch). Blocks written by the batch itself are not yet in `full`
    /// and wait for a later one.
    pub(crate) fn plan_move(&self, full: &sled::Tree) -> Result<Option<ArchiveMove>, StoreError> {
        let state = self.state()?;
        let Some((last_key, _)) = full.last()? else {
            return Ok(None);
        };
        let last =
            super::keys::read_u64(&last_key).ok_or_else(|| malformed(StoredPart::EventBlockKey))?;
        let waiting = (last + 1).saturating_sub(state.blocks);
        if waiting < MOVE_AT {
            return Ok(None);
        }
        let count = (waiting - KEEP_IN_TREE).min(MOST_PER_MOVE);
        let mut bytes = Vec::new();
        let mut moved = Vec::with_capacity(count as usize);
        for (block, entry) in (state.blocks..)
            .zip(full.range(block_key(state.blocks)..block_key(state.blocks + count)))
        {
            let (key, value) = entry?;
            if key.as_ref() != block_key(block) {
                return Err(Inconsistency::BlockNotStored { block }.into());
            }
            let len = u32::try_from(value.len()).map_err(|_| Inconsistency::BlockTooLarge {
                block,
                len: value.len(),
            })?;
            moved.push((block, state.bytes + bytes.len() as u64, len));
            bytes.extend_from_slice(&value);
        }
        if moved.len() as u64 != count {
            return Err(Inconsistency::BlocksNotAllStored {
                from: state.blocks,
                to: state.blocks + count,
            }
            .into());
        }
        let file = self.file(true)?;
        file.write_all_at(&bytes, state.bytes)
            .map_err(|e| self.io(e))?;
        file.sync_data().map_err(|e| self.io(e))?;
        let next = ArchiveState {
            blocks: state.blocks + count,
            bytes: state.bytes + bytes.len() as u64,
        };
        Ok(Some(ArchiveMove {
            removes: moved.iter().map(|(block, ..)| block_key(*block)).collect(),
            groups: self.grouped(&moved)?,
            state: next,
        }))
    }

    /// The index values that add `moved` (consecutive blocks, in order) to their groups.
    fn grouped(&self, moved: &[(u64, u64, u32)]) -> Result<Vec<GroupWrite>, StoreError> {
        let mut groups: Vec<GroupWrite> = Vec::new();
        for &(block, start, len) in moved {
            let key = group_key(block);
            if groups.last().is_none_or(|(k, _)| *k != key) {
                let stored = match self.index.get(key)? {
                    Some(value) => value.to_vec(),
                    None => Vec::new(),
                };
                groups.push((key, stored));
            }
            if let Some((_, value)) = groups.last_mut() {
                if value.len() != slot(block).start {
                    return Err(Inconsistency::ArchiveGroupNotContiguous {
                        group: block / BLOCKS_PER_GROUP,
                        block,
                    }
                    .into());
                }
                value.extend_from_slice(&start.to_be_bytes());
                value.extend_from_slice(&len.to_be_bytes());
            }
        }
        Ok(groups)
    }

    /// Stores new bytes for an archived block (at the end of the file) and points the index at
    /// them: for [`super::RawLog`], which damages logs on purpose.
    pub(crate) fn replace(&self, block: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let not_archived = Inconsistency::BlockNotArchived { block };
        let mut value = self
            .index
            .get(group_key(block))?
            .ok_or(not_archived.clone())?
            .to_vec();
        let at = slot(block);
        if at.end > value.len() {
            return Err(not_archived.into());
        }
        let file = self.file(true)?;
        file.write_all_at(bytes, state.bytes)
            .map_err(|e| self.io(e))?;
        file.sync_data().map_err(|e| self.io(e))?;
        let len = u32::try_from(bytes.len())
            .map_err(|_| AppendProblem::BlockTooLarge { len: bytes.len() })?;
        value[at.start..at.start + 8].copy_from_slice(&state.bytes.to_be_bytes());
        value[at.start + 8..at.end].copy_from_slice(&len.to_be_bytes());
        state.bytes += bytes.len() as u64;
        self.index.insert(group_key(block), value)?;
        self.index.insert(STATE_KEY, &state.encode()[..])?;
        self.index.flush()?;
        Ok(())
    }
}

/// The key in `archive_index` of the group holding `block`.
fn group_key(block: u64) -> [u8; 8] {
    (block / BLOCKS_PER_GROUP).to_be_bytes()
}

/// Where `block`'s `start u64 ‖ len u32` entry sits in its group's value.
fn slot(block: u64) -> std::ops::Range<usize> {
    let at = (block % BLOCKS_PER_GROUP) as usize * ENTRY_LEN;
    at..at + ENTRY_LEN
}

/// Refuses a group value that is not a whole number of entries, or too many.
fn check_group(value: &[u8]) -> Result<(), StoreError> {
    if !value.len().is_multiple_of(ENTRY_LEN)
        || value.len() as u64 > BLOCKS_PER_GROUP * ENTRY_LEN as u64
    {
        return Err(malformed(StoredPart::ArchiveIndexGroup));
    }
    Ok(())
}

/// A group's key in `archive_index` and its new value.
type GroupWrite = ([u8; 8], Vec<u8>);

/// A planned move of blocks into the archive (their bytes are already synced to the file).
pub(crate) struct ArchiveMove {
    removes: Vec<[u8; 8]>,
    groups: Vec<GroupWrite>,
    state: ArchiveState,
}

/// Moves every full block that waits past the usual few into the archive, move by move: for
/// bulk writers (import, recover) whose last batch leaves hundreds of full blocks in sled,
/// so that what they write has the shape the writer's own batches leave.
pub(crate) fn archive_waiting(archive: &Archive, full: &sled::Tree) -> Result<(), StoreError> {
    while let Some(planned) = archive.plan_move(full)? {
        let result: Result<(), sled::transaction::TransactionError<()>> =
            sled::Transactional::transaction(&(full, archive.index()), |(full, index)| {
                planned.apply(full, index)
            });
        match result {
            Ok(()) => {}
            Err(sled::transaction::TransactionError::Storage(e)) => return Err(e.into()),
            Err(sled::transaction::TransactionError::Abort(())) => {
                return Err(Inconsistency::TransactionAborted(TransactionKind::Archive).into())
            }
        }
    }
    Ok(())
}

impl ArchiveMove {
    /// Records the move: the blocks leave `event_blocks` and enter the index.
    pub(crate) fn apply(
        &self,
        full_blocks: &TransactionalTree,
        index: &TransactionalTree,
    ) -> Result<(), ConflictableTransactionError<()>> {
        for key in &self.removes {
            full_blocks.remove(&key[..])?;
        }
        for (key, value) in &self.groups {
            index.insert(&key[..], value.as_slice())?;
        }
        index.insert(STATE_KEY, &self.state.encode()[..])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_groups_round_trip_and_refuse_ragged_values() {
        let state = ArchiveState {
            blocks: 7,
            bytes: 1 << 40,
        };
        assert_eq!(
            ArchiveState::decode(&state.encode()).expect("decode"),
            state
        );
        assert!(ArchiveState::decode(&state.encode()[..15]).is_err());
        let mut group = vec![0u8; ENTRY_LEN];
        group.extend_from_slice(&5u64.to_be_bytes());
        group.extend_from_slice(&9u32.to_be_bytes());
        assert!(check_group(&group).is_ok());
        assert_eq!(&group[slot(1)][..8], &5u64.to_be_bytes());
        assert_eq!(
            slot(BLOCKS_PER_GROUP + 1),
            slot(1),
            "the slot is within the group"
        );
        assert_eq!(group_key(BLOCKS_PER_GROUP - 1), 0u64.to_be_bytes());
        assert_eq!(group_key(BLOCKS_PER_GROUP), 1u64.to_be_bytes());
        assert!(check_group(&group[..23]).is_err());
        assert!(check_group(&vec![0u8; (BLOCKS_PER_GROUP as usize + 1) * ENTRY_LEN]).is_err());
    }
}
