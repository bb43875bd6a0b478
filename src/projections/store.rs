//! Where read models live: a narrow key-value interface with ordered tables and one atomic
//! commit per applied batch, so that a second backend (PostgreSQL: one table keyed by
//! `(table, key)` and a checkpoint row, written in one transaction) can implement it as well.
//!
//! A projection never trusts what it finds here: the checkpoint names the log position and the
//! chain hash there, and [`super::runner`] checks both against the log before believing it.

use crate::ledger::ChainHash;

use super::ProjectionError;

/// The ordered tables of the read side. Keys sort bytewise within a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Live state: one record per authentication, service, and the directory and tokens.
    Live,
    /// Per-authentication history entries, by authentication and version.
    History,
    /// Audit index: per filter dimension, the positions of the matching records.
    Audit,
    /// Which authentications were ever in a workspace (candidates for as-of listings).
    WorkspaceMembers,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 4] = [
        Table::Live,
        Table::History,
        Table::Audit,
        Table::WorkspaceMembers,
    ];

    /// A one-byte tag, stable on disk.
    pub fn tag(self) -> u8 {
        match self {
            Table::Live => b'L',
            Table::History => b'H',
            Table::Audit => b'A',
            Table::WorkspaceMembers => b'W',
        }
    }
}

/// How far a read model has folded the log, and the chain hash there (to tell this log from
/// another one, or from a rewritten one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCheckpoint {
    /// The layout version of the projection that wrote it.
    pub layout: u16,
    /// Last folded position (0: nothing folded).
    pub position: u64,
    /// Chain hash of the event at `position` ([`ChainHash::GENESIS`] at 0).
    pub hash: ChainHash,
}

/// The writes of one applied batch: puts (`Some`) and deletes (`None`), in order.
#[derive(Debug, Default)]
pub struct ChangeSet {
    writes: Vec<(Table, Vec<u8>, Option<Vec<u8>>)>,
}

impl ChangeSet {
    /// Sets `key` of `table` to `value`.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push((table, key, Some(value)));
    }

    /// Removes `key` from `table`.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.writes.push((table, key, None));
    }

    /// How many writes are queued.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The queued writes, in order (a later write to the same key wins).
    pub fn writes(&self) -> impl Iterator<Item = (Table, &[u8], Option<&[u8]>)> {
        self.writes
            .iter()
            .map(|(t, k, v)| (*t, k.as_slice(), v.as_deref()))
    }
}

/// Which way a scan walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// Smallest key first.
    Ascending,
    /// Largest key first.
    Descending,
}

/// A key range inside one table: keys that start with `prefix`, optionally bounded (both
/// bounds inclusive, given as full keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Every key returned starts with these bytes.
    pub prefix: Vec<u8>,
    /// Smallest key returned (inclusive).
    pub from: Option<Vec<u8>>,
    /// Largest key returned (inclusive).
    pub to: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key with this prefix.
    pub fn prefix(prefix: Vec<u8>) -> KeyRange {
        KeyRange {
            prefix,
            from: None,
            to: None,
        }
    }
}

/// The smallest key greater than every key starting with `prefix` (none if it is all 0xFF):
/// the exclusive end of a prefix scan, for every backend.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// One key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The storage a read model needs. Every method is a short blocking call; an implementation
/// must make [`ReadStore::commit`] atomic (all of a change set and its checkpoint, or nothing).
pub trait ReadStore: Clone + Send + Sync + 'static {
    /// The checkpoint of the last commit, if any.
    fn checkpoint(&self) -> Result<Option<ReadCheckpoint>, ProjectionError>;

    /// Writes a change set and moves the checkpoint, atomically.
    fn commit(
        &self,
        changes: &ChangeSet,
        checkpoint: ReadCheckpoint,
    ) -> Result<(), ProjectionError>;

    /// One value.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, ProjectionError>;

    /// Up to `limit` entries of a key range, in the given order.
    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        order: ScanOrder,
        limit: usize,
    ) -> Result<Vec<Entry>, ProjectionError>;

    /// Whether anything at all is stored (a checkpoint or any table entry).
    fn is_empty(&self) -> Result<bool, ProjectionError>;

    /// Removes everything, checkpoint included (before a rebuild), durably.
    fn clear(&self) -> Result<(), ProjectionError>;
}
