//! Bulk import: writes already-recorded envelopes verbatim into an empty log, verifying the
//! chain as they stream in, in large batches (one multi-tree transaction and one flush each).
//!
//! Afterwards the log is exactly what the normal writer would have left: every index tree and
//! `meta` are filled, so [`super::SledStore::open`] and later appends continue the chain.

use std::collections::{HashMap, HashSet};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::blocks::{self, NewEvent};
use super::keys;
use super::Trees;
use crate::ledger::chain::ChainBreak;
use crate::ledger::codec::ENVELOPE_FORMAT_V1;
use crate::ledger::error::{Inconsistency, StoreError, TransactionKind};
use crate::ledger::import_checks::ImportChecks;
use crate::ledger::store::Head;
use crate::ledger::types::{EventId, Position, StreamId, StreamVersion};
use crate::time::Timestamp;

/// Events written per transaction (and per flush) unless told otherwise.
pub const DEFAULT_IMPORT_BATCH: usize = 4096;

/// Trees of the ledger itself, which auxiliary copies may not touch.
pub const LEDGER_TREES: &[&str] = &[
    keys::EVENT_BLOCKS,
    keys::OPEN_EVENT_BLOCK,
    keys::ARCHIVE_INDEX,
    keys::STREAM_CHUNKS,
    keys::STREAM_HEADS,
    keys::EVENT_ID_BLOCKS,
    keys::BLOCK_TIMES,
    keys::LEGACY_EVENTS,
    keys::LEGACY_INDEXES[0],
    keys::LEGACY_INDEXES[1],
    keys::LEGACY_INDEXES[2],
    keys::UNIQUE_KEYS,
    keys::IDEMPOTENCY,
    keys::META,
    crate::ledger::checkpoint::CHECKPOINTS_TREE,
];

/// Why a bulk import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The target already holds data.
    #[error("the target is not empty: {0}")]
    NotEmpty(Occupied),
    /// The imported events do not form a valid chain.
    #[error(transparent)]
    Chain(#[from] ChainBreak),
    /// An event id appears twice in the imported log.
    #[error("event id {event_id} at position {position} is already used at position {first}")]
    DuplicateEventId {
        /// The repeated id.
        event_id: EventId,
        /// Where it appears again.
        position: Position,
        /// Where it first appeared.
        first: u64,
    },
    /// Recorded times go backwards.
    #[error("position {position} was recorded before the event preceding it")]
    TimeGoesBack {
        /// The offending position.
        position: Position,
    },
    /// An auxiliary copy named one of the ledger's own trees.
    #[error("tree {tree:?} belongs to the ledger and cannot be copied as an auxiliary tree")]
    ReservedTree {
        /// The tree's name.
        tree: String,
    },
    /// The copy carries a tree that is not part of a backup (derived state is rebuilt).
    #[error("tree {tree:?} is not part of a ledger backup (read models are rebuilt from the log, never copied)")]
    UnexpectedTree {
        /// The tree's name.
        tree: String,
    },
    /// Storage or encoding failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the target of an import already holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Occupied {
    /// A tree that must start empty holds entries.
    #[error("its {tree} tree holds entries")]
    Tree {
        /// The tree's name.
        tree: String,
    },
    /// The archive of full event blocks holds blocks.
    #[error("its archive of event blocks holds blocks")]
    Archive,
    /// The log's metadata holds more than its format and layout.
    #[error("its log metadata is set (key {key:?})")]
    Metadata {
        /// The first such key (lossy UTF-8).
        key: String,
    },
}

impl Occupied {
    /// A tree that holds entries.
    pub fn tree(name: &str) -> Occupied {
        Occupied::Tree {
            tree: name.to_owned(),
        }
    }
}

impl From<sled::Error> for ImportError {
    fn from(e: sled::Error) -> Self {
        ImportError::Store(StoreError::Storage(e))
    }
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    /// Events written.
    pub events: u64,
    /// The head of the imported log.
    pub head: Head,
}

/// Streams envelopes into an empty log; see the module documentation.
pub struct BulkImporter {
    db: sled::Db,
    trees: Trees,
    checks: ImportChecks,
    batch: Vec<NewEvent>,
    batch_ids: HashMap<EventId, u64>,
    batch_size: usize,
    cutoff: Option<Timestamp>,
    aux: HashMap<String, sled::Tree>,
    aux_seen: HashSet<String>,
}

impl BulkImporter {
    /// Prepares an import into `db`, refusing a database whose log trees hold anything.
    /// `db` was opened from `dir`, where the log keeps its archive file too.
    pub fn new(db: sled::Db, dir: &std::path::Path) -> Result<BulkImporter, ImportError> {
        let trees = Trees::open(&db, dir)?;
        for (name, tree) in [
            (keys::EVENT_BLOCKS, &trees.event_blocks.full),
            (keys::OPEN_EVENT_BLOCK, &trees.event_blocks.open),
            (keys::STREAM_CHUNKS, &trees.stream_chunks),
            (keys::STREAM_HEADS, &trees.stream_heads),
            (keys::EVENT_ID_BLOCKS, &trees.event_id_blocks),
            (keys::BLOCK_TIMES, &trees.block_times),
            (keys::UNIQUE_KEYS, &trees.unique_keys),
            (keys::IDEMPOTENCY, &trees.idempotency),
        ] {
            if !tree.is_empty() {
                return Err(ImportError::NotEmpty(Occupied::tree(name)));
            }
        }
        if !trees.event_blocks.archive.is_empty()? {
            return Err(ImportError::NotEmpty(Occupied::Archive));
        }
        for entry in trees.meta.iter() {
            let (key, _) = entry?;
            if key.as_ref() != keys::META_FORMAT && key.as_ref() != keys::META_LAYOUT {
                return Err(ImportError::NotEmpty(Occupied::Metadata {
                    key: String::from_utf8_lossy(&key).into_owned(),
                }));
            }
        }
        trees
            .meta
            .insert(keys::META_FORMAT, &[ENVELOPE_FORMAT_V1])?;
        Ok(BulkImporter {
            db,
            trees,
            checks: ImportChecks::new(&[]),
            batch: Vec::with_capacity(DEFAULT_IMPORT_BATCH),
            batch_ids: HashMap::new(),
            batch_size: DEFAULT_IMPORT_BATCH,
            cutoff: None,
            aux: HashMap::new(),
            aux_seen: HashSet::new(),
        })
    }

    /// Accepts only events recorded at or before `at`: [`BulkImporter::push`] answers `false`
    /// for the first later one and writes nothing for it.
    pub fn with_cutoff(mut self, at: Timestamp) -> BulkImporter {
        self.cutoff = Some(at);
        self
    }

    /// The auxiliary trees [`BulkImporter::put_aux`] accepts (none by default).
    pub fn with_aux_trees(mut self, trees: &[&str]) -> BulkImporter {
        self.checks = ImportChecks::new(trees);
        self
    }

    /// Checks the encoded envelope stored under `position` against the chain and queues it.
    ///
    /// Answers `false` (and writes nothing) when the event lies past the cutoff; the import
    /// must then be finished.
    pub fn push(&mut self, position: u64, bytes: &[u8]) -> Result<bool, ImportError> {
        let envelope = self.checks.check_chain(position, bytes)?;
        if self
            .cutoff
            .is_some_and(|cut| envelope.body.recorded_at > cut)
        {
            return Ok(false);
        }
        self.checks.admit(&envelope)?;
        let body = envelope.body;
        let first = match self.batch_ids.get(&body.event_id) {
            Some(p) => Some(*p),
            None => blocks::find_event_id(&self.trees.event_id_blocks, body.event_id)?,
        };
        if let Some(first) = first {
            return Err(ImportError::DuplicateEventId {
                event_id: body.event_id,
                position: body.position,
                first,
            });
        }
        self.batch_ids.insert(body.event_id, position);
        // The verifier checked that the envelope claims the position it is stored under.
        self.batch.push(NewEvent::recorded(bytes, body));
        if self.batch.len() >= self.batch_size {
            self.commit()?;
        }
        Ok(true)
    }

    /// Copies one key/value pair of an auxiliary tree (which must be empty in the target).
    pub fn put_aux(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), ImportError> {
        self.checks.check_aux(tree)?;
        if !self.aux_seen.contains(tree) {
            let opened = self.db.open_tree(tree)?;
            if !opened.is_empty() {
                return Err(ImportError::NotEmpty(Occupied::tree(tree)));
            }
            self.aux.insert(tree.to_owned(), opened);
            self.aux_seen.insert(tree.to_owned());
        }
        if let Some(opened) = self.aux.get(tree) {
            opened.insert(key, value)?;
        }
        Ok(())
    }

    /// Writes what is still queued, flushes, and reports the imported log's head.
    pub fn finish(mut self) -> Result<ImportSummary, ImportError> {
        self.commit()?;
        super::archive::archive_waiting(
            &self.trees.event_blocks.archive,
            &self.trees.event_blocks.full,
        )?;
        self.db.flush()?;
        Ok(ImportSummary {
            events: self.checks.head().position,
            head: self.checks.head(),
        })
    }

    /// Writes the queued events in one transaction with every index and `meta`, then flushes.
    fn commit(&mut self) -> Result<(), ImportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut heads: HashMap<&StreamId, StreamVersion> = HashMap::new();
        for pending in &self.batch {
            heads.insert(&pending.stream, pending.version);
        }
        let head = self.checks.head();
        let last_at = self.checks.last_recorded_at();
        let log = blocks::plan_writes(&self.trees, &self.batch)?;
        let trees = &self.trees;
        let result: Result<(), TransactionError<()>> = (
            &trees.event_blocks.full,
            &trees.event_blocks.open,
            &trees.block_times,
            &trees.stream_chunks,
            &trees.event_id_blocks,
            trees.archive_index(),
            &trees.stream_heads,
            &trees.meta,
        )
            .transaction(
                |(
                    full,
                    open,
                    block_times,
                    stream_chunks,
                    event_id_blocks,
                    archive_index,
                    stream_heads,
                    meta,
                )| {
                    log.apply(&blocks::LogTx {
                        event_blocks: full,
                        open_event_block: open,
                        block_times,
                        stream_chunks,
                        event_id_blocks,
                        archive_index,
                    })?;
                    for (stream, version) in &heads {
                        stream_heads
                            .insert(stream.as_str().as_bytes(), &version.0.to_be_bytes()[..])?;
                    }
                    meta.insert(keys::META_HEAD_POSITION, &head.position.to_be_bytes()[..])?;
                    meta.insert(keys::META_HEAD_HASH, &head.hash.0[..])?;
                    meta.insert(keys::META_LAST_RECORDED_AT, &last_at.0.to_be_bytes()[..])?;
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(())) => {
                let aborted = Inconsistency::TransactionAborted(TransactionKind::Import);
                return Err(StoreError::from(aborted).into());
            }
        }
        self.db.flush()?;
        self.batch.clear();
        self.batch_ids.clear();
        Ok(())
    }
}
