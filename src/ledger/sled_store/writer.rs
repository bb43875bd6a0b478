//! The single writer: group commit of many appends into one sled transaction and one flush.
//!
//! Appends arrive over a channel. The writer takes everything waiting (up to a limit), checks
//! each append against the stream heads and stored event ids, assigns gapless positions and
//! chain hashes, writes the batch in one multi-tree transaction, waits for one `flush_async`,
//! and only then answers every caller in the batch and moves the durable head forward.

use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::{mpsc, oneshot, watch};

use super::blocks;
use super::claims;
use super::keys;
use super::Trees;
use crate::ledger::error::{Inconsistency, PositionIndex, StoreError, TransactionKind, WriterStop};
use crate::ledger::planner::{
    plan_append, Answer, BatchPlan, CommittedLog, PlannedEvent, StoreClock, StoredRecord,
};
use crate::ledger::store::Head;
use crate::ledger::types::{
    AppendOutcome, AppendRequest, EventId, StreamId, StreamVersion, UniqueKey,
};
use crate::time::Timestamp;

/// Most appends committed together in one batch.
const MAX_APPENDS_PER_BATCH: usize = 1024;

/// One append waiting for its answer.
pub(crate) struct PendingAppend {
    pub(crate) request: AppendRequest,
    pub(crate) reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

/// What the writer keeps between batches: the head of the log it has written.
pub(crate) struct WriterState {
    pub(crate) trees: Trees,
    pub(crate) head: Head,
    pub(crate) last_recorded_at: Timestamp,
    pub(crate) clock: StoreClock,
}

/// The committed trees, as the planner looks them up.
struct SledCommitted<'a>(&'a Trees);

impl CommittedLog for SledCommitted<'_> {
    fn idempotency_record(&self, key: &[u8; 32]) -> Result<Option<StoredRecord>, StoreError> {
        claims::stored_record(&self.0.idempotency, key)
    }

    fn stored_event(&self, id: EventId) -> Result<Option<PlannedEvent>, StoreError> {
        stored_event(self.0, id)
    }

    fn stream_head(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        stored_stream_head(self.0, stream)
    }

    fn unique_holder(&self, key: &UniqueKey) -> Result<Option<StreamId>, StoreError> {
        claims::stored_holder(&self.0.unique_keys, key)
    }
}

/// Runs the writer until every sender is gone; a storage failure stops it for good.
pub(crate) async fn run(
    mut state: WriterState,
    db: sled::Db,
    mut inbox: mpsc::Receiver<PendingAppend>,
    durable: watch::Sender<Head>,
) {
    let mut stopped: Option<WriterStop> = None;
    while let Some(first) = inbox.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_APPENDS_PER_BATCH {
            match inbox.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if let Some(why) = &stopped {
            for pending in batch {
                let _ = pending.reply.send(Err(why.clone().into()));
            }
            continue;
        }
        let (replies, requests): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|p| (p.reply, p.request)).unzip();
        let committed = tokio::task::spawn_blocking(move || {
            let result = commit_batch(&mut state, requests);
            (state, result)
        })
        .await;
        let answers = match committed {
            Ok((returned, result)) => {
                state = returned;
                match make_durable(result, &db, &durable, state.head).await {
                    Ok(answers) => answers,
                    Err(why) => {
                        stopped = Some(why.clone());
                        fail_all(replies.len(), &why)
                    }
                }
            }
            Err(join_error) => {
                // The state moved into the panicked task is gone: nothing more can be written.
                let why = stopping(WriterStop::TaskFailed(Arc::new(join_error)));
                let failed = fail_all(replies.len(), &why);
                answer_all(replies, failed);
                return;
            }
        };
        answer_all(replies, answers);
    }
}

/// After a committed batch, flushes and moves the durable head; why the writer stops when the
/// commit or the flush failed.
async fn make_durable(
    committed: Result<Vec<Answer>, StoreError>,
    db: &sled::Db,
    durable: &watch::Sender<Head>,
    head: Head,
) -> Result<Vec<Answer>, WriterStop> {
    let answers = committed.map_err(|e| stopping(WriterStop::CommitFailed(Arc::new(e))))?;
    db.flush_async()
        .await
        .map_err(|e| stopping(WriterStop::FlushFailed(e)))?;
    durable.send_replace(head);
    Ok(answers)
}

/// Logs why the writer stops.
fn stopping(why: WriterStop) -> WriterStop {
    tracing::error!(reason = %why, "ledger writer stopping");
    why
}

fn fail_all(count: usize, why: &WriterStop) -> Vec<Answer> {
    (0..count).map(|_| Err(why.clone().into())).collect()
}

fn answer_all(replies: Vec<oneshot::Sender<Answer>>, answers: Vec<Answer>) {
    for (reply, answer) in replies.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

/// Plans every append of the batch, writes the accepted ones in one transaction, and advances
/// the state only if the transaction committed.
fn commit_batch(
    state: &mut WriterState,
    requests: Vec<AppendRequest>,
) -> Result<Vec<Answer>, StoreError> {
    let mut plan = BatchPlan::default();
    let mut head = state.head;
    let mut last_at = state.last_recorded_at;
    let committed = SledCommitted(&state.trees);
    for request in requests {
        let answer = plan_append(
            &committed,
            &mut plan,
            &mut head,
            &mut last_at,
            state.clock,
            request,
        );
        plan.answers.push(answer);
    }
    if !plan.events.is_empty() {
        write_plan(&state.trees, &plan, head, last_at)?;
        state.head = head;
        state.last_recorded_at = last_at;
    }
    Ok(plan.answers)
}

fn stored_event(trees: &Trees, id: EventId) -> Result<Option<PlannedEvent>, StoreError> {
    let Some(position) = blocks::find_event_id(&trees.event_id_blocks, id)? else {
        return Ok(None);
    };
    let envelope = super::read_envelope(&trees.event_blocks, position)?.ok_or(
        Inconsistency::IndexedPositionMissing {
            index: PositionIndex::EventId(id),
            position,
        },
    )?;
    Ok(Some(PlannedEvent {
        position,
        stream: envelope.body.stream_id,
        version: envelope.body.stream_version,
        event_type: envelope.body.event_type,
    }))
}

fn stored_stream_head(trees: &Trees, stream: &StreamId) -> Result<StreamVersion, StoreError> {
    Ok(trees
        .stream_heads
        .get(stream.as_str().as_bytes())?
        .and_then(|v| keys::read_u64(&v))
        .map_or(StreamVersion(0), StreamVersion))
}

fn write_plan(
    trees: &Trees,
    plan: &BatchPlan,
    head: Head,
    last_at: Timestamp,
) -> Result<(), StoreError> {
    let records = plan
        .idempotency
        .iter()
        .map(|(key, record)| Ok((*key, crate::ledger::codec::encode(record)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let log = blocks::plan_writes(trees, &plan.events)?;
    // Ten trees: past sled's tuples (at most nine), so a slice, taken apart in this order.
    let written = [
        &trees.event_blocks.full,
        &trees.event_blocks.open,
        &trees.stream_chunks,
        &trees.stream_heads,
        &trees.event_id_blocks,
        &trees.block_times,
        &trees.unique_keys,
        &trees.idempotency,
        &trees.meta,
        trees.archive_index(),
    ];
    let result: Result<(), TransactionError<()>> = written[..].transaction(|tx| {
        let [full_blocks, open_block, stream_chunks, stream_heads, event_id_blocks, block_times, unique_keys, idempotency, meta, archive_index] =
            tx.as_slice()
        else {
            return Err(ConflictableTransactionError::Abort(()));
        };
        log.apply(&blocks::LogTx {
            event_blocks: full_blocks,
            open_event_block: open_block,
            block_times,
            stream_chunks,
            event_id_blocks,
            archive_index,
        })?;
        for (stream, version) in &plan.stream_heads {
            stream_heads.insert(stream.as_str().as_bytes(), &version.0.to_be_bytes()[..])?;
        }
        for (key, owner) in &plan.unique {
            match owner {
                Some(stream) => {
                    unique_keys.insert(key.as_bytes(), stream.as_str().as_bytes())?;
                }
                None => {
                    unique_keys.remove(key.as_bytes())?;
                }
            }
        }
        for (key, record) in &records {
            idempotency.insert(&key[..], record.as_slice())?;
        }
        meta.insert(keys::META_HEAD_POSITION, &head.position.to_be_bytes()[..])?;
        meta.insert(keys::META_HEAD_HASH, &head.hash.0[..])?;
        meta.insert(keys::META_LAST_RECORDED_AT, &last_at.0.to_be_bytes()[..])?;
        Ok::<(), ConflictableTransactionError<()>>(())
    });
    match result {
        Ok(()) => Ok(()),
        Err(TransactionError::Storage(e)) => Err(StoreError::Storage(e)),
        Err(TransactionError::Abort(())) => {
            Err(Inconsistency::TransactionAborted(TransactionKind::Ledger).into())
        }
    }
}
