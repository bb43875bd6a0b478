//! Append-only lists on disk in two sizes of block: the read side's audit lists and history.
//!
//! sled 0.34 keeps memory for every key it stores, for as long as the key exists, so a list
//! must not take a key per entry; and a block rewritten on every append costs its whole size
//! in writes each time, so it must not be large. A list therefore keeps its entries in *big*
//! blocks, and the entries after the last big one in *small* blocks at its tail:
//!
//! - an append extends the last small block and starts new ones, each of `small` entries;
//! - once the tail holds `big` entries, they become one big block and the small keys go.
//!
//! So the layout of a list depends only on its entries, never on how they were batched:
//! `n / big` big blocks, then the rest in blocks of `small`. Each key holds its block's first
//! entry, so a reader finds the block holding an entry with one reverse seek, whatever its size.

use super::store::{ChangeSet, KeyRange, ReadStore, ScanOrder, Table};
use super::ProjectionError;

/// How a list's entries are stored: its keys and the bytes of a block.
pub(super) trait BlockCodec {
    /// One entry of the list.
    type Entry: Clone;

    /// The key of a block that starts with `first` (the list's prefix ‖ `first`'s order).
    fn key(&self, first: &Self::Entry) -> Vec<u8>;

    /// The stored bytes of a block.
    fn encode(&self, block: &[Self::Entry]) -> Result<Vec<u8>, ProjectionError>;

    /// The entries of a stored block.
    fn decode(&self, key: &[u8], value: &[u8]) -> Result<Vec<Self::Entry>, ProjectionError>;
}

/// Entries per block: `small` at the tail, `big` (a multiple of `small`) before it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) small: usize,
    pub(super) big: usize,
}

impl Shape {
    /// Most small blocks at a tail: below `big` entries in all.
    fn max_tail_blocks(self) -> usize {
        self.big / self.small
    }
}

/// Queues the writes that append `added` (in order, after every stored entry) to the list
/// under `prefix`.
pub(super) fn append<C: BlockCodec>(
    store: &impl ReadStore,
    changes: &mut ChangeSet,
    table: Table,
    prefix: &[u8],
    codec: &C,
    shape: Shape,
    added: Vec<C::Entry>,
) -> Result<(), ProjectionError> {
    debug_assert!(
        shape.small > 0 && shape.big > shape.small && shape.big.is_multiple_of(shape.small)
    );
    if added.is_empty() {
        return Ok(());
    }
    let newest = store.scan(
        table,
        &KeyRange::prefix(prefix.to_vec()),
        ScanOrder::Descending,
        shape.max_tail_blocks(),
    )?;
    // The small blocks after the last big one, oldest first.
    let mut tail_keys = Vec::new();
    let mut tail_blocks = Vec::new();
    for (key, value) in newest {
        let entries = codec.decode(&key, &value)?;
        if entries.len() > shape.small {
            break;
        }
        tail_keys.push(key);
        tail_blocks.push(entries);
    }
    tail_keys.reverse();
    tail_blocks.reverse();
    // The full small blocks at the start of the tail stay as they are unless it is merged
    // (in this layout that is every one but the last; any other layout is rewritten from its
    // first block that is not full, so blocks never overlap).
    let full = tail_blocks
        .iter()
        .take_while(|block| block.len() == shape.small)
        .count();
    let mut entries: Vec<C::Entry> = tail_blocks.into_iter().flatten().collect();
    entries.extend(added);
    let merged = entries.len() / shape.big * shape.big;
    let (kept, big, small) = if merged == 0 {
        (full, &[][..], &entries[full * shape.small..])
    } else {
        let (big, small) = entries.split_at(merged);
        (0, big, small)
    };
    // A put after a delete of the same key wins, so a rewritten block may keep its key.
    for key in tail_keys.into_iter().skip(kept) {
        changes.delete(table, key);
    }
    let blocks = big.chunks(shape.big).chain(small.chunks(shape.small));
    for block in blocks {
        changes.put(table, codec.key(&block[0]), codec.encode(block)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::sled_read_store::TemporaryReadStore;

    /// A list of u64 entries under a one-byte prefix, each block as big-endian words.
    struct Words;

    impl BlockCodec for Words {
        type Entry = u64;

        fn key(&self, first: &u64) -> Vec<u8> {
            let mut key = vec![b'x'];
            key.extend_from_slice(&first.to_be_bytes());
            key
        }

        fn encode(&self, block: &[u64]) -> Result<Vec<u8>, ProjectionError> {
            Ok(block.iter().flat_map(|w| w.to_be_bytes()).collect())
        }

        fn decode(&self, _key: &[u8], value: &[u8]) -> Result<Vec<u64>, ProjectionError> {
            Ok(value
                .chunks(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
                .collect())
        }
    }

    const SHAPE: Shape = Shape { small: 4, big: 16 };

    /// Appends `added` to the list and commits it at its last entry.
    fn append_and_commit(store: &TemporaryReadStore, added: Vec<u64>) {
        let last = added.last().copied().unwrap_or_default();
        let mut changes = ChangeSet::default();
        append(
            &store.store,
            &mut changes,
            Table::Audit,
            b"x",
            &Words,
            SHAPE,
            added,
        )
        .expect("append");
        store.commit_at(&changes, last);
    }

    /// The stored blocks of the list, each checked to be keyed by its first entry.
    fn blocks(store: &TemporaryReadStore) -> Vec<Vec<u64>> {
        store
            .all(Table::Audit, b"x")
            .iter()
            .map(|(key, value)| {
                let entries = Words.decode(key, value).expect("decode");
                assert_eq!(
                    key,
                    &Words.key(&entries[0]),
                    "a block is keyed by its first entry"
                );
                entries
            })
            .collect()
    }

    /// The block sizes of a list of `n` entries appended in batches of the given sizes.
    fn sizes_after(batches: impl Iterator<Item = u64>, n: u64) -> Vec<usize> {
        let store = TemporaryReadStore::new();
        let mut next = 1;
        for size in batches {
            if next > n {
                break;
            }
            let last = (next + size - 1).min(n);
            append_and_commit(&store, (next..=last).collect());
            next = last + 1;
        }
        let blocks = blocks(&store);
        let all: Vec<u64> = blocks.iter().flatten().copied().collect();
        assert_eq!(
            all,
            (1..=n).collect::<Vec<_>>(),
            "every entry once, in order"
        );
        blocks.iter().map(Vec::len).collect()
    }

    #[test]
    fn a_tail_of_other_sizes_is_rewritten_without_overlap() {
        let store = TemporaryReadStore::new();
        // A read side written with a block per entry (as an older layout might have).
        let mut changes = ChangeSet::default();
        for entry in 1..=6u64 {
            let encoded = Words.encode(&[entry]).expect("encode");
            changes.put(Table::Audit, Words.key(&entry), encoded);
        }
        store.commit_at(&changes, 6);
        append_and_commit(&store, vec![7, 8]);
        let all: Vec<u64> = blocks(&store).into_iter().flatten().collect();
        assert_eq!(all, (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn the_layout_depends_on_the_entries_not_on_the_batches() {
        // 45 entries: two big blocks of 16, then 13 in small blocks of 4.
        let expected = vec![16, 16, 4, 4, 4, 1];
        assert_eq!(sizes_after(std::iter::repeat(1), 45), expected);
        assert_eq!(sizes_after(std::iter::repeat(45), 45), expected);
        assert_eq!(
            sizes_after([3, 7, 1, 20, 2, 9, 3].into_iter(), 45),
            expected
        );
        assert_eq!(sizes_after((1..).map(|i| i % 5 + 1), 45), expected);
        assert_eq!(sizes_after(std::iter::repeat(16), 32), vec![16, 16]);
        assert_eq!(sizes_after(std::iter::repeat(2), 3), vec![3]);
    }
}
