//! Read models fed by the ledger: the stored payload format, the ledger model (live state in
//! memory; history, audit index and workspace membership on disk), views and listing, the
//! narrow storage interface of the read side and its sled implementation, and the runner that
//! keeps the model up to date with checkpointed, incremental commits.

pub mod audit;
pub mod audit_record;
pub mod history;
pub mod history_blocks;
pub mod listing_index;
pub mod live_records;
pub mod model;
pub mod payloads;
pub mod postgres_read_store;
pub mod public_event;
pub mod runner;
pub mod sled_read_store;
pub mod store;
mod tail_blocks;
pub mod views;

pub use audit::{AuditFilter, AuditOrder, Outcome};
pub use audit_record::{AuditRecord, WorkflowView};
pub use history::{FieldChangeKind, FieldDiff, HistoryDetail, HistoryEntry};
pub use live_records::LiveRecords;
pub use model::{AuthRecord, LedgerModel, StoredHistory};
pub use postgres_read_store::{PostgresReadStore, ReadModelName, ReadModelNameProblem};
pub use public_event::{ChangedField, PublicEvent};
pub use runner::{Distrust, Projection, ProjectionHandle, StartKind};
pub use sled_read_store::{SledReadStore, READ_MODEL_TREE};
pub use store::{ChangeSet, Entry, KeyRange, ReadCheckpoint, ReadStore, ScanOrder, Table};
pub use views::{AuthenticationView, BadCursor, FieldView, ListQuery, Page, MAX_PAGE};

/// Why a projection could not be built or queried.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// An event payload did not decode.
    #[error("cannot decode {event_type} v{schema_version} at position {position}: {reason}")]
    Payload {
        /// Stable type string.
        event_type: String,
        /// Schema version.
        schema_version: u16,
        /// Where.
        position: u64,
        /// Why.
        reason: String,
    },
    /// A read-model record could not be encoded or decoded.
    #[error("read-model codec: {0}")]
    Codec(#[from] crate::ledger::codec::CodecError),
    /// A stored read-side record is not in the shape this code writes.
    #[error("read-model codec: {0}")]
    Malformed(Malformed),
    /// An audit record could not be written as a CSV line.
    #[error("read-model codec: csv: {0}")]
    Csv(#[from] csv::Error),
    /// The stored read side cannot be believed (it is rebuilt from the log).
    #[error("untrusted read side: the read-side checkpoint does not decode")]
    CheckpointUndecodable,
    /// The commit of a folded batch did not run to its end (its task panicked or was cancelled).
    #[error("commit task failed: {0}")]
    CommitTask(#[source] tokio::task::JoinError),
    /// The projection stopped following the log.
    #[error("projection stopped: {0}")]
    Stopped(Stopped),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::StoreError),
    /// The read side's PostgreSQL database failed.
    #[error("read side on PostgreSQL: {0}")]
    Postgres(#[from] crate::ledger::PostgresProblem),
    /// A worker thread of the read store could not be started.
    #[error("cannot start a read-store thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The read store's workers are gone (it is shutting down).
    #[error("the read store has stopped")]
    ReadStoreStopped,
}

/// Which stored read-side record is not in the shape this code writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// A key that should end in an id holds something else.
    #[error("a read-side key does not hold an id")]
    KeyWithoutId,
    /// A history block's entries do not parse.
    #[error("malformed history block")]
    HistoryBlock,
    /// An audit index key is too short to hold its position.
    #[error("malformed audit index key")]
    AuditIndexKey,
    /// An audit index block's deltas do not parse.
    #[error("malformed audit index block")]
    AuditIndexBlock,
    /// Audit postings to encode are not strictly increasing.
    #[error("audit postings out of log order")]
    AuditPostingsOutOfOrder,
}

/// Why a projection no longer follows the log; what waiters for a position are told.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Stopped {
    /// Following the log failed (shared by every waiter, hence the `Arc`).
    #[error("{projection} failed{}: {error}", from_position.map(|p| format!(" from position {p}")).unwrap_or_default())]
    Failed {
        /// The projection's name.
        projection: &'static str,
        /// The first position of the batch being folded, when one was.
        from_position: Option<u64>,
        /// What failed.
        error: std::sync::Arc<ProjectionError>,
    },
    /// The task following the log ended.
    #[error("projection {projection} ended")]
    Ended {
        /// The projection's name.
        projection: &'static str,
    },
}

/// Encodes a read-model record with the ledger's frozen codec.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ProjectionError> {
    Ok(crate::ledger::codec::encode(value)?)
}

/// Decodes a read-model record written by [`encode`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProjectionError> {
    Ok(crate::ledger::codec::decode(bytes)?)
}
