//! The event log: envelopes, codec, the `EventStore` trait, the sled backend with its single
//! group-committing writer, the PostgreSQL backend, the hash chain and subscriptions.
//!
//! The ledger stores opaque typed payloads; it knows nothing about authentications.

pub mod backup;
pub mod chain;
pub mod checkpoint;
pub mod codec;
pub mod envelope;
pub mod error;
mod import_checks;
pub(crate) mod planner;
pub mod postgres;
pub mod sled_store;
pub mod store;
pub mod types;

pub use chain::{BreakReason, ChainBreak, ChainSummary, ChainVerifier};
pub use checkpoint::{Checkpoint, CheckpointSigning, CheckpointStore};
pub use envelope::{ChainHash, Envelope, EnvelopeBody};
pub use error::{
    AppendProblem, Inconsistency, PositionIndex, StoreError, StoredPart, TransactionKind,
    WriterStop,
};
pub use planner::StoreClock;
pub use postgres::{prepare_schema, PostgresProblem, PostgresStore, PostgresSubscription};
pub use sled_store::{open_db, BulkImporter, RawLog, SledStore, SledSubscription};
pub use store::{EventStore, Head, StreamRange, Subscription};
pub use types::{
    Actor, AppendOutcome, AppendRequest, EventId, EventMeta, ExpectedVersion, IdempotencyClaim,
    NewEvent, Origin, Position, SignedInWith, StreamId, StreamVersion, UniqueChange, UniqueKey,
};
