//! Errors of the event log.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

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
    InvalidAppend(AppendProblem),
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
    Inconsistent(Inconsistency),
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
    WriterStopped(WriterStop),
    /// A blocking read of stored events did not run to its end (its task panicked or was
    /// cancelled).
    #[error("a ledger reader task failed: {0}")]
    ReaderTask(#[source] tokio::task::JoinError),
    /// The underlying storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// A file of the log beside sled's (the archive of full event blocks) failed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Encoding failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The PostgreSQL backend failed (connection, schema, query).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] super::postgres::PostgresProblem),
}

impl From<AppendProblem> for StoreError {
    fn from(problem: AppendProblem) -> Self {
        StoreError::InvalidAppend(problem)
    }
}

impl From<Inconsistency> for StoreError {
    fn from(found: Inconsistency) -> Self {
        StoreError::Inconsistent(found)
    }
}

impl From<WriterStop> for StoreError {
    fn from(why: WriterStop) -> Self {
        StoreError::WriterStopped(why)
    }
}

/// The error naming a stored key or value that is not in the shape this code writes.
pub(crate) fn malformed(part: StoredPart) -> StoreError {
    StoreError::Inconsistent(Inconsistency::Malformed(part))
}

/// What is wrong with an append (or a repair of unique keys); nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendProblem {
    /// A stream id is empty or too long.
    #[error("stream id must be 1 to {limit} bytes, got {len}")]
    StreamIdLength {
        /// Its length in bytes.
        len: usize,
        /// The longest accepted.
        limit: usize,
    },
    /// A stream id holds a control character.
    #[error("stream id must not contain control characters")]
    StreamIdControlCharacter,
    /// The append holds no event.
    #[error("an append needs at least one event")]
    NoEvents,
    /// The append holds more events than one append may.
    #[error("an append may hold at most {limit} events, got {count}")]
    TooManyEvents {
        /// Events in the append.
        count: usize,
        /// The most accepted.
        limit: usize,
    },
    /// `ExpectedVersion::Exact(0)`, which is spelled `NoStream`.
    #[error("expected version 0 is spelled ExpectedVersion::NoStream")]
    ExactVersionZero,
    /// A unique key is empty or too long.
    #[error("a unique key must be 1 to {limit} bytes, got {len}")]
    UniqueKeyLength {
        /// Its length in bytes.
        len: usize,
        /// The longest accepted.
        limit: usize,
    },
    /// The idempotency answer is too long.
    #[error("an idempotency answer may hold at most {limit} bytes, got {len}")]
    AnswerTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The longest accepted.
        limit: usize,
    },
    /// An event type is empty, too long, or not printable ASCII.
    #[error("event type must be 1 to {limit} printable ASCII characters, got {event_type:?}")]
    EventType {
        /// The refused type string.
        event_type: String,
        /// The longest accepted, in bytes.
        limit: usize,
    },
    /// One event id appears twice in the append.
    #[error("event id {event_id} appears twice in one append")]
    EventIdRepeated {
        /// The repeated id.
        event_id: EventId,
    },
    /// A repair of unique keys names a key outside the prefix it repairs.
    #[error("unique key {key} is outside the repaired prefix")]
    KeyOutsideRepairedPrefix {
        /// The stray key.
        key: UniqueKey,
    },
    /// An encoded event does not fit an event block's 32-bit length.
    #[error("an event is larger than 4 GiB ({len} bytes)")]
    EventTooLarge {
        /// Its encoded length.
        len: usize,
    },
    /// A block written past the writer does not fit the archive index's 32-bit length.
    #[error("a block is larger than 4 GiB ({len} bytes)")]
    BlockTooLarge {
        /// Its length.
        len: usize,
    },
}

/// What in the data directory disagrees with what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Inconsistency {
    /// A stored key or value is not in the shape this code writes.
    #[error("malformed {0}")]
    Malformed(StoredPart),
    /// A unique key's stored holder is not a stream id.
    #[error("unique key {key} has a bad owner")]
    UniqueKeyOwner {
        /// The key.
        key: UniqueKey,
    },
    /// Events are stored, but the log's format byte is not.
    #[error("events are stored but the log has no format marker")]
    NoFormatMarker,
    /// The head recorded in `meta` is not the last stored event.
    #[error(
        "recorded head is position {recorded} but the last stored event is at {last_stored}; run `credledger verify`"
    )]
    HeadMismatch {
        /// The recorded head position.
        recorded: u64,
        /// The last stored position.
        last_stored: u64,
    },
    /// A position at or below the head is not stored.
    #[error("position {position} is missing")]
    PositionMissing {
        /// The missing position.
        position: u64,
    },
    /// An index names a position that is not stored.
    #[error("{index} points at missing position {position}")]
    IndexedPositionMissing {
        /// The index.
        index: PositionIndex,
        /// The position it names.
        position: u64,
    },
    /// An envelope claims another position than the one it is stored under.
    #[error("the envelope stored at position {position} claims position {claimed}")]
    WrongPosition {
        /// Where it is stored.
        position: u64,
        /// The position inside the envelope.
        claimed: u64,
    },
    /// The stored block that a new event continues is missing.
    #[error("the block before position {position} is missing")]
    BlockBeforeMissing {
        /// The new event's position.
        position: u64,
    },
    /// A new event does not follow the last event of its stored block.
    #[error("position {position} does not follow the stored block")]
    BlockNotFollowed {
        /// The new event's position.
        position: u64,
    },
    /// The stored chunk of stream positions that a new event continues is missing.
    #[error("the chunk before version {version} of stream {stream} is missing")]
    ChunkBeforeMissing {
        /// The stream.
        stream: StreamId,
        /// The new event's stream version.
        version: u64,
    },
    /// A new event's version does not follow its stream's stored chunk.
    #[error("version {version} of stream {stream} does not follow its stored chunk")]
    ChunkNotFollowed {
        /// The stream.
        stream: StreamId,
        /// The new event's stream version.
        version: u64,
    },
    /// An event id would be stored twice in the event id index.
    #[error("event id {event_id} would be stored twice")]
    EventIdTwice {
        /// The id.
        event_id: EventId,
    },
    /// The archive file is shorter than its index records.
    #[error(
        "{} holds {len} bytes but {recorded} are recorded: the file was truncated or replaced",
        path.display()
    )]
    ArchiveShort {
        /// The archive file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The length its index records.
        recorded: u64,
    },
    /// The archive file is missing though its index records blocks.
    #[error("{} is missing but {blocks} blocks are recorded in it", path.display())]
    ArchiveMissing {
        /// The archive file.
        path: PathBuf,
        /// Blocks its index records.
        blocks: u64,
    },
    /// A full event block is in neither the archive nor `event_blocks`.
    #[error("event block {block} is neither archived nor in event_blocks")]
    BlockNotStored {
        /// The block number.
        block: u64,
    },
    /// Fewer full event blocks are stored than the archive is to receive.
    #[error("event blocks {from}..{to} are not all stored")]
    BlocksNotAllStored {
        /// The first block of the move.
        from: u64,
        /// The block after its last.
        to: u64,
    },
    /// A stored event block does not fit the archive index's 32-bit length.
    #[error("event block {block} is over 4 GiB ({len} bytes)")]
    BlockTooLarge {
        /// The block number.
        block: u64,
        /// Its length.
        len: usize,
    },
    /// A group of the archive index does not end right before the block to add.
    #[error("archive index group {group} does not end before block {block}")]
    ArchiveGroupNotContiguous {
        /// The group number.
        group: u64,
        /// The block to add.
        block: u64,
    },
    /// A block to replace in the archive is not archived.
    #[error("block {block} is not archived")]
    BlockNotArchived {
        /// The block number.
        block: u64,
    },
    /// The archive state counts a block that its index does not locate.
    #[error("archived block {block} is not in the archive index")]
    ArchivedBlockUnindexed {
        /// The block number.
        block: u64,
    },
    /// A multi-tree transaction aborted (only a tree layout the code does not expect does that).
    #[error("{0} transaction aborted")]
    TransactionAborted(TransactionKind),
}

/// Which stored key or value is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoredPart {
    /// The archive's state value.
    #[error("archive state")]
    ArchiveState,
    /// A block's entry in a group of the archive index.
    #[error("archive index entry of block {block}")]
    ArchiveIndexEntry {
        /// The block number.
        block: u64,
    },
    /// A group value of the archive index.
    #[error("archive index group")]
    ArchiveIndexGroup,
    /// A key of `event_blocks`.
    #[error("event block key")]
    EventBlockKey,
    /// An event block's entries.
    #[error("event block {block}")]
    EventBlock {
        /// The block number.
        block: u64,
    },
    /// A block of `event_id_blocks`.
    #[error("event id block")]
    EventIdBlock,
    /// A key of `block_times`.
    #[error("block time key")]
    BlockTimeKey,
    /// A key of `stream_chunks`.
    #[error("stream chunk key")]
    StreamChunkKey,
    /// A value of `stream_chunks`.
    #[error("stream chunk")]
    StreamChunk,
    /// A key of the layout-1 `events` tree.
    #[error("key in events tree")]
    LegacyEventKey,
    /// The head position in `meta`.
    #[error("head position")]
    HeadPosition,
    /// The head hash in `meta`.
    #[error("head hash")]
    HeadHash,
    /// The last recorded time in `meta`.
    #[error("last recorded time")]
    LastRecordedAt,
}

/// An index that maps to positions of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionIndex {
    /// A stream's chunk of positions (`stream_chunks`).
    Stream,
    /// The event id index, at this id.
    EventId(EventId),
    /// The read side's audit index.
    Audit,
}

impl fmt::Display for PositionIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PositionIndex::Stream => f.write_str("stream index"),
            PositionIndex::EventId(id) => write!(f, "event id {id}"),
            PositionIndex::Audit => f.write_str("audit index"),
        }
    }
}

/// Which multi-tree transaction aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionKind {
    /// The writer's batch.
    Ledger,
    /// Planned blocks written by a bulk path (migration).
    Block,
    /// A move of full blocks into the archive.
    Archive,
    /// A batch of a bulk import.
    Import,
}

impl fmt::Display for TransactionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransactionKind::Ledger => "ledger",
            TransactionKind::Block => "block",
            TransactionKind::Archive => "archive",
            TransactionKind::Import => "import",
        })
    }
}

/// Why the writer no longer appends; every waiting caller is told the same (hence `Clone`, with
/// the errors that are not behind an `Arc`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriterStop {
    /// The ledger was closed: its writer is gone.
    #[error("the ledger is closed")]
    Closed,
    /// The writer dropped an append without answering it.
    #[error("the ledger writer ended before answering")]
    EndedBeforeAnswering,
    /// The lock around the writer's task handle was poisoned by a panic.
    #[error("writer handle lock poisoned")]
    HandleLockPoisoned,
    /// A committed batch could not be flushed; nothing after it is written.
    #[error("flush failed: {0}")]
    FlushFailed(#[source] sled::Error),
    /// A batch could not be committed; nothing after it is written.
    #[error("commit failed: {0}")]
    CommitFailed(#[source] Arc<StoreError>),
    /// The writer's blocking task panicked or was cancelled, taking its state with it.
    #[error("writer task failed: {0}")]
    TaskFailed(#[source] Arc<tokio::task::JoinError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_are_data_and_keep_their_texts() {
        let head = StoreError::from(Inconsistency::HeadMismatch {
            recorded: 12,
            last_stored: 11,
        });
        assert_eq!(
            head.to_string(),
            "inconsistent log: recorded head is position 12 but the last stored event is at 11; run `credledger verify`"
        );
        let many = StoreError::from(AppendProblem::TooManyEvents {
            count: 10_001,
            limit: 10_000,
        });
        assert_eq!(
            many.to_string(),
            "invalid append: an append may hold at most 10000 events, got 10001"
        );
        let missing = Inconsistency::IndexedPositionMissing {
            index: PositionIndex::Stream,
            position: 7,
        };
        assert_eq!(
            missing.to_string(),
            "stream index points at missing position 7"
        );
        assert_eq!(
            malformed(StoredPart::EventBlock { block: 3 }).to_string(),
            "inconsistent log: malformed event block 3"
        );
        let stopped = StoreError::from(WriterStop::FlushFailed(sled::Error::Unsupported(
            "test".into(),
        )));
        assert!(stopped
            .to_string()
            .starts_with("the ledger writer has stopped: flush failed: "));
        let StoreError::WriterStopped(why) = &stopped else {
            panic!("{stopped:?}");
        };
        assert!(
            std::error::Error::source(why).is_some(),
            "the sled error is the source"
        );
    }
}
