//! Moves a log of layout 1 (a sled key per event in `events`, `stream_index`, `event_ids` and
//! `time_index`) into the block layout of [`super::blocks`], once, when it is first opened.
//!
//! The envelopes are copied byte for byte, so chain hashes, signed checkpoints and exports are
//! unchanged. The layout marker is written only after every block is flushed, and the old
//! trees are dropped only after that: a migration cut short starts over at the next open.

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::blocks::{self, Geometry, LogWrites, NewEvent};
use super::{keys, Trees};
use crate::ledger::error::{malformed, Inconsistency, StoreError, StoredPart, TransactionKind};

/// Events moved per transaction.
const MIGRATION_BATCH: usize = 4096;
/// How often (in events) progress is logged.
const PROGRESS_EVERY: u64 = 100_000;

/// The block geometry the directory records, or `None` if it records no layout (a new
/// directory, or one of layout 1 still to be moved). Layouts 2 and 3 are read as they are.
pub(crate) fn recorded_geometry(meta: &sled::Tree) -> Result<Option<Geometry>, StoreError> {
    let Some(v) = meta.get(keys::META_LAYOUT)? else {
        return Ok(None);
    };
    let layout = match v.as_ref() {
        [layout] => *layout,
        _ => 0,
    };
    Geometry::of_layout(layout)
        .map(Some)
        .ok_or(StoreError::UnsupportedFormat {
            found: layout,
            known: keys::LAYOUT_LONG_CHUNKS,
        })
}

/// Brings a directory that records no layout to layout 3 (moving a layout-1 log into blocks
/// first); `trees` must be open with layout 3's geometry.
pub(crate) fn to_blocks(db: &sled::Db, trees: &Trees) -> Result<(), StoreError> {
    let names = db.tree_names();
    let has = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
    if has(keys::LEGACY_EVENTS) {
        let legacy = db.open_tree(keys::LEGACY_EVENTS)?;
        if !legacy.is_empty() {
            copy_into_blocks(trees, &legacy)?;
        }
    }
    trees
        .meta
        .insert(keys::META_LAYOUT, &[keys::LAYOUT_LONG_CHUNKS])?;
    trees.meta.flush()?;
    for name in std::iter::once(keys::LEGACY_EVENTS).chain(keys::LEGACY_INDEXES) {
        if has(name) {
            db.drop_tree(name)?;
        }
    }
    db.flush()?;
    Ok(())
}

fn copy_into_blocks(trees: &Trees, legacy: &sled::Tree) -> Result<(), StoreError> {
    let total = legacy.len();
    tracing::info!(
        events = total,
        "moving the log into blocks (once, for this version)"
    );
    // Left over from a migration that was cut short.
    trees.event_blocks.clear()?;
    for tree in [
        &trees.stream_chunks,
        &trees.event_id_blocks,
        &trees.block_times,
    ] {
        tree.clear()?;
    }
    let mut batch = Vec::with_capacity(MIGRATION_BATCH);
    let mut moved = 0u64;
    for entry in legacy.iter() {
        let (key, bytes) = entry?;
        let position = keys::read_u64(&key).ok_or_else(|| malformed(StoredPart::LegacyEventKey))?;
        let body = blocks::decode_envelope(position, &bytes)?.body;
        if body.position.0 != position {
            return Err(Inconsistency::WrongPosition {
                position,
                claimed: body.position.0,
            }
            .into());
        }
        batch.push(NewEvent::recorded(&bytes, body));
        if batch.len() == MIGRATION_BATCH {
            commit(trees, &blocks::plan_writes(trees, &batch)?)?;
            moved += batch.len() as u64;
            batch.clear();
            if moved % PROGRESS_EVERY < MIGRATION_BATCH as u64 {
                tracing::info!(moved, total, "moving the log into blocks");
            }
        }
    }
    if !batch.is_empty() {
        commit(trees, &blocks::plan_writes(trees, &batch)?)?;
    }
    trees.event_blocks.full.flush()?;
    Ok(())
}

/// Writes planned blocks in one transaction (for bulk paths that write nothing else with them).
pub(crate) fn commit(trees: &Trees, writes: &LogWrites) -> Result<(), StoreError> {
    let result: Result<(), TransactionError<()>> = (
        &trees.event_blocks.full,
        &trees.event_blocks.open,
        &trees.block_times,
        &trees.stream_chunks,
        &trees.event_id_blocks,
        trees.archive_index(),
    )
        .transaction(|(full, open, times, chunks, ids, archive_index)| {
            writes.apply(&blocks::LogTx {
                event_blocks: full,
                open_event_block: open,
                block_times: times,
                stream_chunks: chunks,
                event_id_blocks: ids,
                archive_index,
            })?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
    match result {
        Ok(()) => Ok(()),
        Err(TransactionError::Storage(e)) => Err(StoreError::Storage(e)),
        Err(TransactionError::Abort(())) => {
            Err(Inconsistency::TransactionAborted(TransactionKind::Block).into())
        }
    }
}
