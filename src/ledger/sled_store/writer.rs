//! The single writer: group commit of many appends into one sled transaction and one flush.
//!
//! Appends arrive over a channel. The writer takes everything waiting (up to a limit), checks
//! each append against the stream heads and stored event ids, assigns gapless positions and
//! chain hashes, writes the batch in one multi-tree transaction, waits for one `flush_async`,
//! and only then answers every caller in the batch and moves the durable head forward.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::{mpsc, oneshot, watch};

use super::blocks::{self, NewEvent};
use super::claims::{self, StoredRecord, UniqueOverlay};
use super::keys;
use super::Trees;
use crate::ledger::envelope::{Envelope, EnvelopeBody};
use crate::ledger::error::{
    AppendProblem, Inconsistency, PositionIndex, StoreError, TransactionKind, WriterStop,
};
use crate::ledger::store::Head;
use crate::ledger::types::{
    AppendOutcome, AppendRequest, EventId, ExpectedVersion, Position, StreamId, StreamVersion,
    UniqueChange, MAX_EVENT_TYPE_LEN, MAX_IDEMPOTENT_ANSWER_LEN, MAX_UNIQUE_KEY_LEN,
};
use crate::time::Timestamp;

/// Most appends committed together in one batch.
const MAX_APPENDS_PER_BATCH: usize = 1024;
/// Most events accepted in one append.
pub(crate) const MAX_EVENTS_PER_APPEND: usize = 10_000;

/// What one append is answered.
type Answer = Result<AppendOutcome, StoreError>;

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
}

/// Where an already-planned event lives, for idempotency checks inside a batch.
#[derive(Clone)]
struct PlannedEvent {
    position: u64,
    stream: StreamId,
    version: StreamVersion,
    event_type: String,
}

/// The writes and answers of one batch, before they are committed.
#[derive(Default)]
struct BatchPlan {
    events: Vec<NewEvent>,
    stream_heads: HashMap<StreamId, StreamVersion>,
    event_ids: HashMap<EventId, PlannedEvent>,
    unique: UniqueOverlay,
    idempotency: HashMap<[u8; 32], StoredRecord>,
    answers: Vec<Answer>,
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
    for request in requests {
        let answer = plan_append(state, &mut plan, &mut head, &mut last_at, request);
        plan.answers.push(answer);
    }
    if !plan.events.is_empty() {
        write_plan(&state.trees, &plan, head, last_at)?;
        state.head = head;
        state.last_recorded_at = last_at;
    }
    Ok(plan.answers)
}

fn plan_append(
    state: &WriterState,
    plan: &mut BatchPlan,
    head: &mut Head,
    last_at: &mut Timestamp,
    request: AppendRequest,
) -> Result<AppendOutcome, StoreError> {
    validate(&request)?;
    if let Some(claim) = &request.idempotency {
        let stored = match plan.idempotency.get(&claim.key) {
            Some(planned) => Some(planned.clone()),
            None => claims::stored_record(&state.trees.idempotency, &claim.key)?,
        };
        if let Some(record) = stored {
            return record.answer(&claim.request_hash);
        }
    }
    if let Some(original) = find_original(state, plan, &request)? {
        return Ok(original);
    }
    let current = match plan.stream_heads.get(&request.stream) {
        Some(v) => *v,
        None => stored_stream_head(&state.trees, &request.stream)?,
    };
    let version_ok = match request.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current.0 == 0,
        ExpectedVersion::Exact(v) => current == v,
    };
    if !version_ok {
        return Err(StoreError::WrongExpectedVersion {
            stream: request.stream,
            expected: request.expected,
            actual: current,
        });
    }
    // Checked before any event is planned, so a refused claim leaves the plan untouched.
    let unique = claims::plan_unique(
        &state.trees.unique_keys,
        &plan.unique,
        &request.stream,
        &request.unique,
    )?;
    let first_position = Position(head.position + 1);
    let mut version = current;
    for event in request.events {
        let position = head.position + 1;
        version = StreamVersion(version.0 + 1);
        // The store clock never goes backwards, even if the wall clock does.
        let now = Timestamp::now().max(*last_at);
        let body = EnvelopeBody {
            position: Position(position),
            stream_id: request.stream.clone(),
            stream_version: version,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            recorded_at: now,
            actor: event.meta.actor,
            origin: event.meta.origin,
            correlation_id: event.meta.correlation_id,
            causation_id: event.meta.causation_id,
            payload: event.payload,
            prev_hash: head.hash,
        };
        let envelope = Envelope::chained(body)?;
        let bytes = envelope.encode()?;
        plan.events.push(NewEvent {
            position,
            bytes,
            stream: request.stream.clone(),
            version,
            event_id: event.event_id,
            recorded_at: now,
        });
        plan.event_ids.insert(
            event.event_id,
            PlannedEvent {
                position,
                stream: request.stream.clone(),
                version,
                event_type: event.event_type,
            },
        );
        *head = Head {
            position,
            hash: envelope.hash,
        };
        *last_at = now;
    }
    plan.stream_heads.insert(request.stream, version);
    plan.unique.extend(unique);
    if let Some(claim) = request.idempotency {
        let record = StoredRecord {
            request_hash: claim.request_hash,
            first_position: first_position.0,
            last_position: head.position,
            stream_version: version.0,
            answer: claim.answer,
            created_at: last_at.0,
        };
        plan.idempotency.insert(claim.key, record);
    }
    Ok(AppendOutcome {
        first_position,
        last_position: Position(head.position),
        stream_version: version,
        replayed_answer: None,
    })
}

fn validate(request: &AppendRequest) -> Result<(), AppendProblem> {
    let count = request.events.len();
    if count == 0 {
        return Err(AppendProblem::NoEvents);
    }
    if count > MAX_EVENTS_PER_APPEND {
        return Err(AppendProblem::TooManyEvents {
            count,
            limit: MAX_EVENTS_PER_APPEND,
        });
    }
    if let ExpectedVersion::Exact(StreamVersion(0)) = request.expected {
        return Err(AppendProblem::ExactVersionZero);
    }
    for change in &request.unique {
        let (UniqueChange::Claim(key) | UniqueChange::Release(key)) = change;
        let len = key.as_bytes().len();
        if len == 0 || len > MAX_UNIQUE_KEY_LEN {
            return Err(AppendProblem::UniqueKeyLength {
                len,
                limit: MAX_UNIQUE_KEY_LEN,
            });
        }
    }
    if let Some(claim) = &request.idempotency {
        if claim.answer.len() > MAX_IDEMPOTENT_ANSWER_LEN {
            return Err(AppendProblem::AnswerTooLarge {
                len: claim.answer.len(),
                limit: MAX_IDEMPOTENT_ANSWER_LEN,
            });
        }
    }
    validate_events(&request.events)
}

fn validate_events(events: &[crate::ledger::types::NewEvent]) -> Result<(), AppendProblem> {
    let mut seen = HashSet::new();
    for event in events {
        let t = &event.event_type;
        if t.is_empty() || t.len() > MAX_EVENT_TYPE_LEN || !t.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(AppendProblem::EventType {
                event_type: t.clone(),
                limit: MAX_EVENT_TYPE_LEN,
            });
        }
        if !seen.insert(event.event_id) {
            return Err(AppendProblem::EventIdRepeated {
                event_id: event.event_id,
            });
        }
    }
    Ok(())
}

/// If the request's event ids are already stored as exactly this append, the original outcome.
fn find_original(
    state: &WriterState,
    plan: &BatchPlan,
    request: &AppendRequest,
) -> Result<Option<AppendOutcome>, StoreError> {
    let mut found = Vec::with_capacity(request.events.len());
    for event in &request.events {
        let known = match plan.event_ids.get(&event.event_id) {
            Some(planned) => Some(planned.clone()),
            None => stored_event(&state.trees, event.event_id)?,
        };
        found.push(known);
    }
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    let first_known = found
        .iter()
        .flatten()
        .next()
        .expect("at least one id is known")
        .position;
    let reused = || StoreError::EventIdReused {
        event_id: request.events[0].event_id,
        position: Position(first_known),
    };
    let Some(first) = found[0].as_ref() else {
        return Err(reused());
    };
    let same_append = found
        .iter()
        .zip(&request.events)
        .enumerate()
        .all(|(i, (known, event))| {
            known.as_ref().is_some_and(|k| {
                k.stream == request.stream
                    && k.position == first.position + i as u64
                    && k.event_type == event.event_type
            })
        });
    if !same_append {
        return Err(reused());
    }
    let last = found
        .last()
        .and_then(Option::as_ref)
        .expect("every id is known");
    Ok(Some(AppendOutcome {
        first_position: Position(first.position),
        last_position: Position(last.position),
        stream_version: last.version,
        replayed_answer: None,
    }))
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
