//! Read models fed by the ledger: the stored payload format, the ledger model (live state in
//! memory; history, audit index and workspace membership on disk), views and listing, the
//! narrow storage interface of the read side and its sled implementation, and the runner that
//! keeps the model up to date with checkpointed, incremental commits.

pub mod audit;
pub mod audit_record;
pub mod history;
pub mod history_blocks;
pub mod live_records;
pub mod model;
pub mod payloads;
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
pub use runner::{Projection, ProjectionHandle, StartKind};
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
    Codec(String),
    /// The stored read side cannot be believed (it is rebuilt from the log).
    #[error("untrusted read side: {0}")]
    Untrusted(String),
    /// The projection stopped following the log.
    #[error("projection stopped: {0}")]
    Stopped(String),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::StoreError),
}

/// Encodes a read-model record with the ledger's frozen codec.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ProjectionError> {
    crate::ledger::codec::encode(value).map_err(|e| ProjectionError::Codec(e.to_string()))
}

/// Decodes a read-model record written by [`encode`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProjectionError> {
    crate::ledger::codec::decode(bytes).map_err(|e| ProjectionError::Codec(e.to_string()))
}
