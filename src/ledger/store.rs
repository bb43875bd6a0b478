//! The `EventStore` trait every backend implements (sled now; others must pass the same
//! conformance suite in `tests/`).

use std::future::Future;

use super::envelope::{ChainHash, Envelope};
use super::error::StoreError;
use super::types::{AppendOutcome, AppendRequest, Position, StreamId, StreamVersion, UniqueKey};
use crate::time::Timestamp;

/// How much of one stream to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamRange {
    /// Stop after this version (inclusive).
    pub up_to_version: Option<StreamVersion>,
    /// Stop after events recorded at or before this time (inclusive).
    pub up_to_time: Option<Timestamp>,
}

impl StreamRange {
    /// The whole stream.
    pub fn all() -> StreamRange {
        StreamRange::default()
    }

    /// The stream up to and including a version.
    pub fn up_to_version(version: StreamVersion) -> StreamRange {
        StreamRange {
            up_to_version: Some(version),
            up_to_time: None,
        }
    }

    /// The stream as it was at a time.
    pub fn up_to_time(time: Timestamp) -> StreamRange {
        StreamRange {
            up_to_version: None,
            up_to_time: Some(time),
        }
    }
}

/// The durable end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Last durable position (0 when the log is empty).
    pub position: u64,
    /// Chain hash at that position ([`ChainHash::GENESIS`] when empty).
    pub hash: ChainHash,
}

/// A live feed of envelopes: first everything from a position, then each new durable append.
pub trait Subscription: Send {
    /// The next envelope in position order; waits for a new append when caught up.
    fn next(&mut self) -> impl Future<Output = Result<Envelope, StoreError>> + Send;

    /// An envelope the subscription already holds, without waiting or reading storage (to
    /// fold several envelopes into one batch); `None` when it would have to wait.
    fn try_next(&mut self) -> Option<Envelope> {
        None
    }
}

/// An append-only, ordered, hash-chained event log.
///
/// Every read only ever shows durable (acknowledged) positions.
pub trait EventStore: Clone + Send + Sync + 'static {
    /// The subscription type of this backend.
    type Sub: Subscription;

    /// Appends events to one stream if it is at the expected version; answers after the write is
    /// durable. Re-appending already stored event ids returns the original outcome.
    fn append(
        &self,
        request: AppendRequest,
    ) -> impl Future<Output = Result<AppendOutcome, StoreError>> + Send;

    /// The stored outcome of an idempotency key: `Some` (with `replayed_answer`) when it was
    /// stored with the same request hash, [`StoreError::IdempotencyKeyReused`] when with
    /// another, `None` when unknown or past its retention. Shows only durable records.
    fn idempotent_outcome(
        &self,
        key: &[u8; 32],
        request_hash: &[u8; 32],
    ) -> impl Future<Output = Result<Option<AppendOutcome>, StoreError>> + Send;

    /// Open-time repair: makes the unique keys that start with `prefix` exactly `wanted`
    /// (key -> holding stream), for logs written before a key existed or rebuilt by an import.
    /// Returns how many entries changed. Call it before appends are served: it does not go
    /// through the append path's checks.
    fn repair_unique_keys(
        &self,
        prefix: &[u8],
        wanted: std::collections::BTreeMap<UniqueKey, StreamId>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Events of one stream in version order, optionally cut at a version or time.
    fn read_stream(
        &self,
        stream: &StreamId,
        range: StreamRange,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// Up to `limit` events from `from` (inclusive) in position order.
    fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// Up to `limit` events recorded in `[from, to]`, in position order, found via the time index.
    fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Envelope>, StoreError>> + Send;

    /// The current version of a stream (0 when it does not exist).
    fn stream_version(
        &self,
        stream: &StreamId,
    ) -> impl Future<Output = Result<StreamVersion, StoreError>> + Send;

    /// The first position recorded at or after `time` (the position after the head when
    /// none is). Store times never decrease, so a time range is a position range.
    fn first_position_at_or_after(
        &self,
        time: Timestamp,
    ) -> impl Future<Output = Result<Position, StoreError>> + Send;

    /// The durable head of the log.
    fn head(&self) -> Head;

    /// A catch-up subscription from `from` (inclusive) that then follows live appends.
    fn subscribe(&self, from: Position) -> Self::Sub;
}
