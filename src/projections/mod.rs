//! Read models fed by the ledger: the stored payload format, the ledger model (live state in
//! memory; history, audit index and workspace membership on disk), views and listing, the
//! narrow storage interface of the read side and its sled implementation, and the runner that
//! keeps the model up to date with checkpointed, incremental commits.

pub mod audit;
pub mod audit_record;
pub mod history;
pub mod live_records;
pub mod model;
pub mod payloads;
pub mod runner;
pub mod sled_read_store;
pub mod store;
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
    /// The model could not be encoded or decoded for a snapshot.
    #[error("snapshot codec: {0}")]
    Snapshot(String),
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
