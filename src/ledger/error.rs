//! Errors of the event log.

use super::codec::CodecError;
use super::types::{EventId, ExpectedVersion, Position, StreamId, StreamVersion, UniqueKey};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version; nothing was written.
    #[error("stream {stream} expected {expected}, but it is at version {actual}")]
    WrongExpectedVersion {
        /// The stream appended to.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version (0: no stream).
        actual: StreamVersion,
    },
    /// An event id is already stored, but not as the same append (other stream or other events).
    #[error(
        "event id {event_id} is already stored at position {position} as part of another append"
    )]
    EventIdReused {
        /// The reused id.
        event_id: EventId,
        /// Where it is stored.
        position: Position,
    },
    /// A unique key the append claims is held by another stream; nothing was written.
    #[error("unique key {key} is held by stream {holder}")]
    UniqueKeyTaken {
        /// The key claimed.
        key: UniqueKey,
        /// The stream holding it.
        holder: StreamId,
    },
    /// The idempotency key is stored with another request; nothing was written.
    #[error("the idempotency key was used for another request (answered at position {position})")]
    IdempotencyKeyReused {
        /// Last position of the append the key answers for.
        position: Position,
    },
    /// The append itself is malformed; nothing was written.
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt event at position {position}: {source}")]
    Corrupt {
        /// Where.
        position: Position,
        /// Why.
        source: CodecError,
    },
    /// The data directory is inconsistent (e.g. a gap in positions).
    #[error("inconsistent log: {0}")]
    Inconsistent(String),
    /// The data directory was written by an unknown format.
    #[error("data directory has log format {found}; this build reads format {known}")]
    UnsupportedFormat {
        /// The format found.
        found: u8,
        /// The format this build reads.
        known: u8,
    },
    /// The writer stopped (shutdown, or an earlier storage failure); nothing more can be appended.
    #[error("the ledger writer has stopped: {0}")]
    WriterStopped(String),
    /// The underlying storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// A file of the log beside sled's (the archive of full event blocks) failed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}
