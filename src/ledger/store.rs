//! The `EventStore` trait every backend implements (sled now; others must pass the same
//! conformance suite in `tests/`).

use std::future::Future;

use super::envelope::{ChainHash, Envelope};
use super::error::StoreError;
use super::types::{AppendOutcome, AppendRequest, Position, RecordedAt, StreamId, StreamVersion};

/// How much of one stream to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamRange {
    /// Stop after this version (inclusive).
    pub up_to_version: Option<StreamVersion>,
    /// Stop after events recorded at or before this time (inclusive).
    pub up_to_time: Option<RecordedAt>,
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
    pub fn up_to_time(time: RecordedAt) -> StreamRange {
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
        from: RecordedAt,
        to: RecordedAt,
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
        time: RecordedAt,
    ) -> impl Future<Output = Result<Position, StoreError>> + Send;

    /// The durable head of the log.
    fn head(&self) -> Head;

    /// A catch-up subscription from `from` (inclusive) that then follows live appends.
    fn subscribe(&self, from: Position) -> Self::Sub;
}
