//! History entries on disk, packed per authentication into blocks (see [`tail_blocks`] for
//! their sizes): key `authentication ‖ first version`, value
//! `(version u64 ‖ length u32 ‖ encoded entry)…` in version order.
//!
//! sled 0.34 keeps memory for every key it has ever stored (about 30–50 bytes each, for as long
//! as the key exists), so a key per change would make memory grow with the log. A big block per
//! 32 changes keeps that cost a thirty-second; each batch rewrites only the small last block of
//! each authentication it changed, as the audit lists do.

use std::collections::BTreeMap;

use super::store::{ChangeSet, KeyRange, ReadStore, ScanOrder, Table};
use super::tail_blocks::{self, BlockCodec, Shape};
use super::ProjectionError;
use crate::domain::ids::AuthenticationId;

/// Entries per block: four per small block at the tail (about 700 bytes rewritten per
/// change), 32 per big block (written once); see [`tail_blocks`].
pub(super) const BLOCK_SHAPE: Shape = Shape { small: 4, big: 32 };

const ENTRY_HEADER: usize = 8 + 4;

/// One entry: its version and its encoded bytes.
pub type EncodedEntry = (u64, Vec<u8>);

fn block_key(id: AuthenticationId, first_version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(24);
    key.extend_from_slice(id.as_uuid().as_bytes());
    key.extend_from_slice(&first_version.to_be_bytes());
    key
}

fn malformed() -> ProjectionError {
    ProjectionError::Malformed(super::Malformed::HistoryBlock)
}

fn encode_block(entries: &[EncodedEntry]) -> Result<Vec<u8>, ProjectionError> {
    let mut bytes = Vec::new();
    for (version, entry) in entries {
        let len = u32::try_from(entry.len()).map_err(|_| malformed())?;
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(entry);
    }
    Ok(bytes)
}

/// The entries of a stored block; versions must increase.
fn decode_block(mut bytes: &[u8]) -> Result<Vec<EncodedEntry>, ProjectionError> {
    let mut entries: Vec<EncodedEntry> = Vec::new();
    while !bytes.is_empty() {
        let header = bytes.get(..ENTRY_HEADER).ok_or_else(malformed)?;
        let (version, len) = header.split_at(8);
        let version = u64::from_be_bytes(version.try_into().map_err(|_| malformed())?);
        let len = u32::from_be_bytes(len.try_into().map_err(|_| malformed())?) as usize;
        let end = ENTRY_HEADER.checked_add(len).ok_or_else(malformed)?;
        let entry = bytes.get(ENTRY_HEADER..end).ok_or_else(malformed)?;
        if entries.last().is_some_and(|(last, _)| *last >= version) {
            return Err(malformed());
        }
        entries.push((version, entry.to_vec()));
        bytes = &bytes[end..];
    }
    Ok(entries)
}

/// The blocks of one authentication's history.
struct AuthenticationBlocks(AuthenticationId);

impl BlockCodec for AuthenticationBlocks {
    type Entry = EncodedEntry;

    fn key(&self, first: &EncodedEntry) -> Vec<u8> {
        block_key(self.0, first.0)
    }

    fn encode(&self, block: &[EncodedEntry]) -> Result<Vec<u8>, ProjectionError> {
        encode_block(block)
    }

    fn decode(&self, _key: &[u8], value: &[u8]) -> Result<Vec<EncodedEntry>, ProjectionError> {
        decode_block(value)
    }
}

/// The history entries of the batch being applied, per authentication; appended to each
/// authentication's blocks when the batch ends. Bounded by the batch size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingHistory(BTreeMap<AuthenticationId, Vec<EncodedEntry>>);

impl PendingHistory {
    /// Notes one entry (versions of an authentication arrive in order).
    pub fn add(&mut self, id: AuthenticationId, version: u64, entry: Vec<u8>) {
        self.0.entry(id).or_default().push((version, entry));
    }

    /// Queues the writes that append the batch to every authentication's history, and
    /// empties the batch.
    pub fn write(
        &mut self,
        store: &impl ReadStore,
        changes: &mut ChangeSet,
    ) -> Result<(), ProjectionError> {
        for (id, added) in std::mem::take(&mut self.0) {
            let prefix = id.as_uuid().as_bytes().to_vec();
            let codec = AuthenticationBlocks(id);
            tail_blocks::append(
                store,
                changes,
                Table::History,
                &prefix,
                &codec,
                BLOCK_SHAPE,
                added,
            )?;
        }
        Ok(())
    }
}

/// The encoded entry of an authentication at a version.
pub fn entry_at(
    store: &impl ReadStore,
    id: AuthenticationId,
    version: u64,
) -> Result<Option<Vec<u8>>, ProjectionError> {
    let range = KeyRange {
        prefix: id.as_uuid().as_bytes().to_vec(),
        from: None,
        to: Some(block_key(id, version)),
    };
    let Some((_, value)) = store
        .scan(Table::History, &range, ScanOrder::Descending, 1)?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    Ok(decode_block(&value)?
        .into_iter()
        .find(|(v, _)| *v == version)
        .map(|(_, entry)| entry))
}

/// Up to `limit` encoded entries of an authentication with versions above `after`, in order.
pub fn entries_after(
    store: &impl ReadStore,
    id: AuthenticationId,
    after: u64,
    limit: usize,
) -> Result<Vec<EncodedEntry>, ProjectionError> {
    let prefix = id.as_uuid().as_bytes().to_vec();
    let first = after.saturating_add(1);
    // The block holding `first` starts at or before it; blocks after it start later.
    let holding = store
        .scan(
            Table::History,
            &KeyRange {
                prefix: prefix.clone(),
                from: None,
                to: Some(block_key(id, first)),
            },
            ScanOrder::Descending,
            1,
        )?
        .into_iter()
        .next()
        .map(|(key, _)| key);
    let range = KeyRange {
        prefix,
        from: Some(holding.unwrap_or_else(|| block_key(id, first))),
        to: None,
    };
    let mut out = Vec::new();
    // Every block after the first holds at least one wanted entry.
    let blocks = limit.saturating_add(1);
    for (_, value) in store.scan(Table::History, &range, ScanOrder::Ascending, blocks)? {
        for entry in decode_block(&value)? {
            if out.len() == limit {
                return Ok(out);
            }
            if entry.0 >= first {
                out.push(entry);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::sled_read_store::TemporaryReadStore;

    /// A store holding `versions` entries of one authentication, written in batches of
    /// uneven sizes, and a second authentication interleaved.
    fn stored(versions: u64) -> (TemporaryReadStore, AuthenticationId) {
        let temporary = TemporaryReadStore::new();
        let id = AuthenticationId::from_uuid(uuid::Uuid::now_v7());
        let other = AuthenticationId::from_uuid(uuid::Uuid::now_v7());
        let mut pending = PendingHistory::default();
        let mut v = 1;
        let mut batch = 1;
        while v <= versions {
            for _ in 0..batch {
                if v <= versions {
                    pending.add(id, v, format!("entry {v}").into_bytes());
                    pending.add(other, v, b"other".to_vec());
                    v += 1;
                }
            }
            let mut changes = ChangeSet::default();
            pending
                .write(&temporary.store, &mut changes)
                .expect("write");
            temporary.commit_at(&changes, v);
            batch = batch % 7 + 1;
        }
        (temporary, id)
    }

    #[test]
    fn entries_read_back_by_version_and_by_page_across_blocks() {
        let (temporary, id) = stored(200);
        let store = &temporary.store;
        for v in [1, 2, 31, 32, 33, 100, 200] {
            let entry = entry_at(store, id, v).expect("read");
            assert_eq!(
                entry,
                Some(format!("entry {v}").into_bytes()),
                "version {v}"
            );
        }
        assert_eq!(entry_at(store, id, 201).expect("read"), None);
        assert_eq!(entry_at(store, id, 0).expect("read"), None);
        let all = entries_after(store, id, 0, usize::MAX).expect("page");
        assert_eq!(
            all.iter().map(|e| e.0).collect::<Vec<_>>(),
            (1..=200).collect::<Vec<_>>()
        );
        for (after, limit) in [(0, 1), (31, 1), (32, 5), (45, 40), (199, 10), (200, 10)] {
            let page = entries_after(store, id, after, limit).expect("page");
            let expected: Vec<u64> = (after + 1..=200).take(limit).collect();
            assert_eq!(page.iter().map(|e| e.0).collect::<Vec<_>>(), expected);
        }
        let blocks = temporary.all(Table::History, id.as_uuid().as_bytes());
        // Big blocks across batches, not a key per change or per batch: 6 of 32, then 8
        // entries in small blocks of 4.
        assert_eq!(blocks.len(), 6 + 2);
    }

    #[test]
    fn blocks_round_trip_and_refuse_damage() {
        let entries = vec![(1, b"one".to_vec()), (2, Vec::new()), (9, vec![7; 300])];
        let bytes = encode_block(&entries).expect("encodes");
        assert_eq!(decode_block(&bytes).expect("decodes"), entries);
        assert!(decode_block(&bytes[..bytes.len() - 1]).is_err());
        let backwards = encode_block(&[(2, Vec::new()), (1, Vec::new())]).expect("encodes");
        assert!(decode_block(&backwards).is_err());
    }
}
