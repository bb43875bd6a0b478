//! Deciding appends against the committed log, for every backend alike.
//!
//! A writer (sled's single writer, PostgreSQL's batch transaction) takes a batch of appends and
//! plans each in arrival order against what is committed ([`CommittedLog`]) plus what earlier
//! appends of the same batch planned ([`BatchPlan`]): validation, idempotent re-appends,
//! idempotency records, expected versions, unique keys, then positions, versions, store times
//! and chain hashes. Sharing this code is what makes both backends give the same answers and
//! build the same envelopes and the same chain from the same appends.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::envelope::{Envelope, EnvelopeBody};
use super::error::{AppendProblem, StoreError};
use super::store::Head;
use super::types::{
    AppendOutcome, AppendRequest, EventId, ExpectedVersion, Position, StreamId, StreamVersion,
    UniqueChange, UniqueKey, IDEMPOTENCY_RETENTION, MAX_EVENT_TYPE_LEN, MAX_IDEMPOTENT_ANSWER_LEN,
    MAX_UNIQUE_KEY_LEN,
};
use crate::time::Timestamp;

/// Most events accepted in one append.
pub(crate) const MAX_EVENTS_PER_APPEND: usize = 10_000;

/// The store clock: what `recorded_at` is made from (never going back along the log). Every
/// store uses [`Timestamp::now`]; tests that need two logs to be identical pass a fixed one.
pub type StoreClock = fn() -> Timestamp;

/// What one append is answered.
pub(crate) type Answer = Result<AppendOutcome, StoreError>;

/// Owners of unique keys as planned by the batch so far: `None` is a key released in it.
pub(crate) type UniqueOverlay = HashMap<UniqueKey, Option<StreamId>>;

/// What a writer looks up in the committed log while it plans a batch.
pub(crate) trait CommittedLog {
    /// The stored, unexpired idempotency record of a key.
    fn idempotency_record(&self, key: &[u8; 32]) -> Result<Option<StoredRecord>, StoreError>;
    /// Where a stored event id is.
    fn stored_event(&self, id: EventId) -> Result<Option<PlannedEvent>, StoreError>;
    /// A stream's committed version (0: no stream).
    fn stream_head(&self, stream: &StreamId) -> Result<StreamVersion, StoreError>;
    /// The stream holding a unique key.
    fn unique_holder(&self, key: &UniqueKey) -> Result<Option<StreamId>, StoreError>;
}

/// One event about to be written, with what its indexes need.
pub(crate) struct NewEvent {
    pub(crate) position: u64,
    pub(crate) bytes: Vec<u8>,
    pub(crate) stream: StreamId,
    pub(crate) version: StreamVersion,
    pub(crate) event_id: EventId,
    pub(crate) recorded_at: Timestamp,
}

/// Where a stored or already-planned event lives, for idempotency checks.
#[derive(Clone)]
pub(crate) struct PlannedEvent {
    pub(crate) position: u64,
    pub(crate) stream: StreamId,
    pub(crate) version: StreamVersion,
    pub(crate) event_type: String,
}

/// The writes and answers of one batch, before they are committed.
#[derive(Default)]
pub(crate) struct BatchPlan {
    pub(crate) events: Vec<NewEvent>,
    pub(crate) stream_heads: HashMap<StreamId, StreamVersion>,
    pub(crate) event_ids: HashMap<EventId, PlannedEvent>,
    pub(crate) unique: UniqueOverlay,
    pub(crate) idempotency: HashMap<[u8; 32], StoredRecord>,
    pub(crate) answers: Vec<Answer>,
}

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

    /// Whether the record is past its retention at `now`.
    pub(crate) fn expired(&self, now: Timestamp) -> bool {
        self.created_at < now.0.saturating_sub(retention_micros())
    }

    /// The first time at which the record is past its retention.
    pub(crate) fn expires_at(&self) -> i64 {
        self.created_at.saturating_add(retention_micros())
    }
}

/// [`IDEMPOTENCY_RETENTION`] in microseconds.
pub(crate) fn retention_micros() -> i64 {
    i64::try_from(IDEMPOTENCY_RETENTION.as_micros()).unwrap_or(i64::MAX)
}

/// Plans one append of a batch: its answer, and (when accepted) its events, stream head,
/// unique keys and idempotency record added to `plan`, with `head` and `last_at` moved on.
/// A refused append leaves `plan`, `head` and `last_at` as they were.
pub(crate) fn plan_append(
    committed: &impl CommittedLog,
    plan: &mut BatchPlan,
    head: &mut Head,
    last_at: &mut Timestamp,
    clock: StoreClock,
    request: AppendRequest,
) -> Result<AppendOutcome, StoreError> {
    validate(&request)?;
    if let Some(claim) = &request.idempotency {
        let stored = match plan.idempotency.get(&claim.key) {
            Some(planned) => Some(planned.clone()),
            None => committed.idempotency_record(&claim.key)?,
        };
        if let Some(record) = stored {
            return record.answer(&claim.request_hash);
        }
    }
    if let Some(original) = find_original(committed, plan, &request)? {
        return Ok(original);
    }
    let current = match plan.stream_heads.get(&request.stream) {
        Some(v) => *v,
        None => committed.stream_head(&request.stream)?,
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
    let unique = plan_unique(&plan.unique, &request.stream, &request.unique, |key| {
        committed.unique_holder(key)
    })?;
    let first_position = Position(head.position + 1);
    let mut version = current;
    for event in request.events {
        let position = head.position + 1;
        version = StreamVersion(version.0 + 1);
        // The store clock never goes backwards, even if the wall clock does.
        let now = clock().max(*last_at);
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

/// The owner changes one append makes, or why it may not: releases first (only of keys this
/// stream holds), then claims (refused when another stream holds the key). Nothing is changed
/// in the overlay; the caller merges the result once the whole append is accepted. `stored`
/// answers the committed holder of a key the batch has not planned.
pub(crate) fn plan_unique(
    overlay: &UniqueOverlay,
    stream: &StreamId,
    changes: &[UniqueChange],
    stored: impl Fn(&UniqueKey) -> Result<Option<StreamId>, StoreError>,
) -> Result<UniqueOverlay, StoreError> {
    let mut local = UniqueOverlay::new();
    let holder = |local: &UniqueOverlay, key: &UniqueKey| -> Result<Option<StreamId>, StoreError> {
        match local.get(key).or_else(|| overlay.get(key)) {
            Some(planned) => Ok(planned.clone()),
            None => stored(key),
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

/// Checks an append's shape: events, expected version, key and answer sizes.
pub(crate) fn validate(request: &AppendRequest) -> Result<(), AppendProblem> {
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

fn validate_events(events: &[super::types::NewEvent]) -> Result<(), AppendProblem> {
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
    committed: &impl CommittedLog,
    plan: &BatchPlan,
    request: &AppendRequest,
) -> Result<Option<AppendOutcome>, StoreError> {
    let mut found = Vec::with_capacity(request.events.len());
    for event in &request.events {
        let known = match plan.event_ids.get(&event.event_id) {
            Some(planned) => Some(planned.clone()),
            None => committed.stored_event(event.event_id)?,
        };
        found.push(known);
    }
    let Some(first_known) = found.iter().flatten().next().map(|known| known.position) else {
        return Ok(None);
    };
    let reused = || StoreError::EventIdReused {
        event_id: request.events[0].event_id,
        position: Position(first_known),
    };
    let (Some(first), Some(last)) = (
        found.first().and_then(Option::as_ref),
        found.last().and_then(Option::as_ref),
    ) else {
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
    Ok(Some(AppendOutcome {
        first_position: Position(first.position),
        last_position: Position(last.position),
        stream_version: last.version,
        replayed_answer: None,
    }))
}
