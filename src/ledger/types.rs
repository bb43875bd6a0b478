//! The vocabulary of the event log: positions, versions, stream and event ids, actors, origins.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{AppendProblem, StoreError};

/// Longest accepted stream id, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 256;
/// Longest accepted event type string, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 128;
/// Longest accepted unique key, in bytes.
pub const MAX_UNIQUE_KEY_LEN: usize = 1024;
/// Longest accepted idempotency answer, in bytes.
pub const MAX_IDEMPOTENT_ANSWER_LEN: usize = 16 * 1024;
/// How long an idempotency record is honoured (and kept, until a sweep removes it).
pub const IDEMPOTENCY_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// A global, gapless position in the log; the first event is at position 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position(pub u64);

impl Position {
    /// The position of the first event in any log.
    pub const FIRST: Position = Position(1);

    /// The position right after this one.
    pub fn next(self) -> Position {
        Position(self.0 + 1)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The version of a stream: the number of events in it. The first event of a stream has version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamVersion(pub u64);

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The name of a stream (one aggregate instance), e.g. `authentication-0192…`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamId(String);

impl StreamId {
    /// Validates and wraps a stream id: 1..=256 bytes, no control characters.
    pub fn new(id: impl Into<String>) -> Result<StreamId, StoreError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_STREAM_ID_LEN {
            return Err(AppendProblem::StreamIdLength {
                len: id.len(),
                limit: MAX_STREAM_ID_LEN,
            }
            .into());
        }
        if id.chars().any(char::is_control) {
            return Err(AppendProblem::StreamIdControlCharacter.into());
        }
        Ok(StreamId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client-chosen event id (UUIDv7); re-appending a stored id is answered idempotently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A fresh time-ordered id.
    pub fn new() -> EventId {
        EventId(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        EventId::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the appender believes the stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version is.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version.
    Exact(StreamVersion),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// How a principal proved who it is when it caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignedInWith {
    /// A bearer API token.
    ApiToken,
    /// The local command line, with access to the data directory.
    Cli,
    /// The service itself (background tasks, bootstrap).
    System,
    /// A one-time dashboard sign-in link.
    SignInLink,
}

/// Who caused an event: a principal reference (e.g. `user:…`) and how it authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The principal, as `kind:id` text; the ledger does not interpret it.
    pub principal: String,
    /// How the principal authenticated.
    pub via: SignedInWith,
}

impl Actor {
    /// The service itself.
    pub fn system() -> Actor {
        Actor {
            principal: "system".into(),
            via: SignedInWith::System,
        }
    }
}

/// Where a change came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The dashboard (a person in the UI).
    Dashboard,
    /// A direct API call.
    Api,
    /// A workflow step, named by workflow and step ids.
    WorkflowStep {
        /// The workflow's id.
        workflow_id: String,
        /// The step's id inside the workflow.
        step_id: String,
    },
    /// The service itself.
    System,
    /// The local command line.
    Cli,
}

/// Who, where from, and why: the metadata recorded with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// Who caused it.
    pub actor: Actor,
    /// Where it came from.
    pub origin: Origin,
    /// Ties together all events caused by one request.
    pub correlation_id: Uuid,
    /// The event (or command) that directly caused this one, if any.
    pub causation_id: Option<Uuid>,
}

impl EventMeta {
    /// Metadata for an event the system causes on its own.
    pub fn system() -> EventMeta {
        EventMeta {
            actor: Actor::system(),
            origin: Origin::System,
            correlation_id: Uuid::now_v7(),
            causation_id: None,
        }
    }
}

/// An event to append: its id, stable type string, schema version and opaque payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Client-chosen id, the key of idempotent re-appends.
    pub event_id: EventId,
    /// Stable type string such as `authentication.created`.
    pub event_type: String,
    /// Version of the payload's schema for this event type.
    pub schema_version: u16,
    /// The encoded payload; the ledger does not interpret it.
    pub payload: Vec<u8>,
    /// Who, where from, and why.
    pub meta: EventMeta,
}

/// An opaque key at most one stream holds at a time (e.g. a name within its scope). The ledger
/// only compares bytes; 1 to [`MAX_UNIQUE_KEY_LEN`] bytes (checked when appended).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UniqueKey(Vec<u8>);

impl UniqueKey {
    /// Wraps key bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> UniqueKey {
        UniqueKey(bytes.into())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for UniqueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UniqueKey(\"{}\")", self.0.escape_ascii())
    }
}

impl fmt::Display for UniqueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

/// A change to the unique keys, made atomically with an append; the owner is the append's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueChange {
    /// Take the key; fails with [`StoreError::UniqueKeyTaken`] if another stream holds it.
    Claim(UniqueKey),
    /// Give the key up; does nothing unless this stream holds it.
    Release(UniqueKey),
}

/// An idempotency record to store with an append: a retry with the same key and request hash
/// gets this append's outcome and `answer` back instead of appending again.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The caller's key (a digest; the ledger does not interpret it).
    pub key: [u8; 32],
    /// A digest of the request, so the same key with another request is refused.
    pub request_hash: [u8; 32],
    /// What the caller needs to rebuild its answer; at most [`MAX_IDEMPOTENT_ANSWER_LEN`] bytes.
    /// Never a secret.
    pub answer: Vec<u8>,
}

impl fmt::Debug for IdempotencyClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyClaim")
            .field("answer_len", &self.answer.len())
            .finish_non_exhaustive()
    }
}

/// One append: events for one stream, guarded by an expected version, optionally claiming or
/// releasing unique keys and storing an idempotency record, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// The stream appended to.
    pub stream: StreamId,
    /// The version the stream must have for the append to succeed.
    pub expected: ExpectedVersion,
    /// The events, in order; at least one.
    pub events: Vec<NewEvent>,
    /// Unique keys taken or given up by this append (releases apply before claims).
    pub unique: Vec<UniqueChange>,
    /// The idempotency record written with the events.
    pub idempotency: Option<IdempotencyClaim>,
}

impl AppendRequest {
    /// An append without unique keys or idempotency record.
    pub fn new(stream: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        AppendRequest {
            stream,
            expected,
            events,
            unique: Vec::new(),
            idempotency: None,
        }
    }

    /// Also claims a unique key for this stream.
    pub fn claim(mut self, key: UniqueKey) -> Self {
        self.unique.push(UniqueChange::Claim(key));
        self
    }

    /// Also releases a unique key this stream holds.
    pub fn release(mut self, key: UniqueKey) -> Self {
        self.unique.push(UniqueChange::Release(key));
        self
    }

    /// Also stores an idempotency record (or answers from the stored one).
    pub fn idempotent(mut self, claim: Option<IdempotencyClaim>) -> Self {
        self.idempotency = claim;
        self
    }
}

/// What an acknowledged (durable) append produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Position of the first event appended.
    pub first_position: Position,
    /// Position of the last event appended.
    pub last_position: Position,
    /// The stream's version after the append.
    pub stream_version: StreamVersion,
    /// Set when nothing was appended because the idempotency key was already stored with the
    /// same request: the answer stored then (the positions and version are the original ones).
    pub replayed_answer: Option<Vec<u8>>,
}
