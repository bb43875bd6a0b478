//! Key layouts of the sled trees. Integers are big-endian so that key order is numeric order.

use crate::ledger::types::StreamId;
use crate::time::Timestamp;

// The trees' names live with every other tree's, in `crate::storage`.
pub(crate) use crate::storage::log::{
    ARCHIVE_INDEX, BLOCK_TIMES, EVENT_BLOCKS, EVENT_ID_BLOCKS, IDEMPOTENCY, LEGACY_EVENTS,
    LEGACY_INDEXES, META, OPEN_EVENT_BLOCK, STREAM_CHUNKS, STREAM_HEADS, UNIQUE_KEYS,
};

/// Meta key: the log's format version (one byte).
pub(crate) const META_FORMAT: &[u8] = b"format_version";
/// Meta key: last written position.
pub(crate) const META_HEAD_POSITION: &[u8] = b"head_position";
/// Meta key: chain hash at the last written position.
pub(crate) const META_HEAD_HASH: &[u8] = b"head_hash";
/// Meta key: the storage layout of the log (absent: layout 1, a key per event).
pub(crate) const META_LAYOUT: &[u8] = b"layout";
/// Layout 2: events and indexes in blocks (`blocks::Geometry::LAYOUT_2`).
pub(crate) const LAYOUT_BLOCKS: u8 = 2;
/// Layout 3, what this version writes: longer stream chunks, sparser times (`blocks::Geometry::LAYOUT_3`).
pub(crate) const LAYOUT_LONG_CHUNKS: u8 = 3;
/// Meta key: recorded_at of the last written event.
pub(crate) const META_LAST_RECORDED_AT: &[u8] = b"last_recorded_at";

/// Reads a big-endian u64 key or value.
pub(crate) fn read_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Length-prefixed stream id, so no stream's keys are a prefix of another's.
pub(crate) fn stream_prefix(stream: &StreamId) -> Vec<u8> {
    let bytes = stream.as_str().as_bytes();
    let len = u16::try_from(bytes.len()).expect("stream ids are at most 256 bytes");
    let mut key = Vec::with_capacity(2 + bytes.len() + 8);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(bytes);
    key
}

/// Key in `block_times`: the time with its sign bit flipped (so negatives sort first), then the position.
pub(crate) fn time_key(at: Timestamp, position: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&((at.0 as u64) ^ (1 << 63)).to_be_bytes());
    key[8..].copy_from_slice(&position.to_be_bytes());
    key
}

/// The position part of a `block_times` key.
pub(crate) fn position_of_time_key(key: &[u8]) -> Option<u64> {
    read_u64(key.get(8..16)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_by_time_then_position() {
        let a = time_key(Timestamp(-5), 9);
        let b = time_key(Timestamp(0), 1);
        let c = time_key(Timestamp(7), 1);
        let d = time_key(Timestamp(7), 2);
        assert!(a < b && b < c && c < d);
        assert_eq!(position_of_time_key(&d), Some(2));
    }

    #[test]
    fn stream_prefixes_do_not_overlap() {
        let ab = StreamId::new("ab").expect("valid");
        let a = StreamId::new("a").expect("valid");
        let mut key = stream_prefix(&ab);
        key.extend_from_slice(&1u64.to_be_bytes());
        assert!(!key.starts_with(&stream_prefix(&a)));
    }
}
