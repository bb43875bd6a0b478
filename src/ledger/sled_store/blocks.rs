//! The log's storage layout: events and their indexes packed into blocks.
//!
//! sled 0.34 keeps an in-memory page-table entry for every tree node, and a leaf holds at most
//! sixteen keys, so its memory grows with the number of *keys*, not bytes (a key per event
//! costs tens of bytes of RAM forever; a key per event spread over many streams, over a hundred).
//! The log therefore stores one key per block of events instead of one per event, and moves
//! full event blocks out of sled altogether ([`super::archive`]):
//!
//! | where             | key                          | value                                   |
//! |-------------------|------------------------------|-----------------------------------------|
//! | archive file      | (blocks back to back; `archive_index` maps every 256 to their places) | |
//! | `event_blocks`    | block number (position−1)/16 | `offset u8 ‖ len u32 ‖ envelope`, ...   |
//! | `open_event_block`| the same, for the last block while it is not full (at most one key) |  |
//! | `block_times`     | recorded_at of every 16th block's first event ‖ its position | nothing |
//! | `stream_chunks`   | stream prefix ‖ chunk (version−1)/128 | positions (u64), in version order |
//! | `event_id_blocks` | the block's first event id   | `event id ‖ position`, sorted, ≤ 128    |
//!
//! Those are the sizes of layout 3 ([`Geometry::LAYOUT_3`]), what new directories get. A
//! directory of layout 2 ([`Geometry::LAYOUT_2`]: 32 versions per chunk, a time every 8th
//! block) keeps its sizes and is read and extended as it is; the sizes are chosen once, when
//! the directory is created. Where full blocks are kept does not depend on the layout: a
//! directory written before the archive existed moves its full blocks there over its next
//! batches.
//!
//! The open (last) block of each is rewritten as events arrive, so the number of keys is about
//! the number of events divided by the block size. sled copies a whole leaf (up to 16 values)
//! on every write to it, so the last event block, rewritten by every batch, lives alone in
//! `open_event_block` and moves to `event_blocks` once, when it is full; from there, a few
//! dozen blocks at a time, to the archive. Recorded times never decrease along the log, so
//! one time per few blocks is enough to find any time. Every block is planned by
//! [`plan_writes`] from the committed state and written in the writer's one transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::archive::{Archive, ArchiveMove};
use super::keys;
use super::Trees;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{
    malformed as corrupt, AppendProblem, Inconsistency, PositionIndex, StoreError, StoredPart,
};
use crate::ledger::types::{EventId, Position, StreamId, StreamVersion};
use crate::time::Timestamp;

/// How a directory's log is cut into blocks. Fixed when the directory is created and
/// recorded as its layout number, so a directory is always read with the sizes it was written
/// with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// Events per block of `event_blocks` (an offset must fit in a byte).
    events_per_block: u64,
    /// Stream versions per chunk of `stream_chunks`.
    versions_per_chunk: u64,
    /// `block_times` holds the first time of every `time_stride`-th event block, so finding a
    /// time decodes at most `events_per_block * time_stride` envelopes.
    time_stride: u64,
}

impl Geometry {
    /// Layout 2: 16 events per block, 32 versions per chunk, a time per 128 events (logs
    /// written before also kept a time for every block; the lookup serves both).
    pub(crate) const LAYOUT_2: Geometry = Geometry {
        events_per_block: 16,
        versions_per_chunk: 32,
        time_stride: 8,
    };
    /// Layout 3, what new directories get: 16 events per block, 128 versions per chunk, a
    /// time per 256 events. sled keeps tens of bytes of memory per key for as long as the key
    /// exists, so chunks and times take a quarter and a half of layout 2's keys. Event blocks
    /// stay at 16: a sled leaf holds up to 17 values, and a node over 128 KiB (a quarter of a
    /// segment) goes to a blob file that sled's cache counts as a few bytes, so blocks of 64
    /// access records (18 KB) made leaves of 300 KB and a cache that never shrank (measured:
    /// +250 MB of RSS in a 10-minute soak, 3 135 blob files).
    pub(crate) const LAYOUT_3: Geometry = Geometry {
        events_per_block: 16,
        versions_per_chunk: 128,
        time_stride: 16,
    };

    /// The geometry of a block layout number, if it is one.
    pub(crate) fn of_layout(layout: u8) -> Option<Geometry> {
        match layout {
            keys::LAYOUT_BLOCKS => Some(Geometry::LAYOUT_2),
            keys::LAYOUT_LONG_CHUNKS => Some(Geometry::LAYOUT_3),
            _ => None,
        }
    }

    /// Events per block.
    pub(crate) fn events_per_block(self) -> u64 {
        self.events_per_block
    }

    /// The block holding a position (positions start at 1).
    pub(crate) fn block_of(self, position: u64) -> u64 {
        position.saturating_sub(1) / self.events_per_block
    }

    fn offset_of(self, position: u64) -> u8 {
        // Below events_per_block (at most 256), so it fits.
        (position.saturating_sub(1) % self.events_per_block) as u8
    }

    /// The chunk holding a stream version (versions start at 1).
    pub(crate) fn chunk_of(self, version: StreamVersion) -> u64 {
        version.0.saturating_sub(1) / self.versions_per_chunk
    }

    /// Where a version sits in its chunk.
    fn slot_of(self, version: StreamVersion) -> u64 {
        version.0.saturating_sub(1) % self.versions_per_chunk
    }
}

/// Most entries in one block of `event_id_blocks` (3 KiB: rewritten as ids arrive, and few
/// enough keys that sled's per-node memory stays small).
pub(crate) const IDS_PER_BLOCK: usize = 128;

const ID_ENTRY_LEN: usize = 16 + 8;

/// One entry of an event id block: the id's bytes and its position.
type IdEntry = ([u8; 16], u64);
const EVENT_ENTRY_HEADER: usize = 1 + 4;

/// Key of a block in `event_blocks`.
pub(crate) fn block_key(block: u64) -> [u8; 8] {
    block.to_be_bytes()
}

/// The event blocks: the archived ones, the full ones still in sled, and the last one while
/// it fills.
#[derive(Clone)]
pub(crate) struct EventBlocks {
    pub(crate) full: sled::Tree,
    pub(crate) open: sled::Tree,
    pub(crate) archive: Arc<Archive>,
    /// The sizes this directory was written with.
    pub(crate) geometry: Geometry,
}

/// Where a stored event block is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    Archived,
    Full,
    Open,
}

impl EventBlocks {
    /// A stored block and where it is kept. Looks where blocks come from before where they go
    /// (open, full, archive), so a block that moves meanwhile is still found.
    pub(crate) fn get(&self, block: u64) -> Result<Option<(sled::IVec, Kept)>, StoreError> {
        let key = block_key(block);
        if let Some(value) = self.open.get(key)? {
            return Ok(Some((value, Kept::Open)));
        }
        if let Some(value) = self.full.get(key)? {
            return Ok(Some((value, Kept::Full)));
        }
        Ok(self
            .archive
            .read(block)?
            .map(|bytes| (sled::IVec::from(bytes), Kept::Archived)))
    }

    /// The first stored block at or after `block`, if any (only a damaged log skips blocks).
    fn next_stored(&self, block: u64) -> Result<Option<u64>, StoreError> {
        let first_in = |tree: &sled::Tree| -> Result<Option<u64>, StoreError> {
            match tree.range(block_key(block)..).next() {
                Some(entry) => Ok(keys::read_u64(&entry?.0)),
                None => Ok(None),
            }
        };
        // The archive holds blocks 0.. without a gap.
        let archived = (block < self.archive.state()?.blocks).then_some(block);
        Ok([archived, first_in(&self.full)?, first_in(&self.open)?]
            .into_iter()
            .flatten()
            .min())
    }

    /// Whether no event is stored.
    pub(crate) fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.full.is_empty() && self.open.is_empty() && self.archive.is_empty()?)
    }

    /// Removes every block.
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        self.full.clear()?;
        self.open.clear()?;
        self.archive.clear()
    }
}

/// The `(position, envelope bytes)` entries of a stored event block, in order.
pub(crate) fn decode_event_block<'a>(
    geometry: Geometry,
    key: &[u8],
    value: &'a [u8],
) -> Result<Vec<(u64, &'a [u8])>, StoreError> {
    let block = keys::read_u64(key).ok_or_else(|| corrupt(StoredPart::EventBlockKey))?;
    let base = block
        .checked_mul(geometry.events_per_block)
        .ok_or_else(|| corrupt(StoredPart::EventBlockKey))?;
    let damaged = || corrupt(StoredPart::EventBlock { block });
    let mut entries = Vec::new();
    let mut rest = value;
    let mut last_offset: Option<u8> = None;
    while !rest.is_empty() {
        if rest.len() < EVENT_ENTRY_HEADER {
            return Err(damaged());
        }
        let offset = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let end = EVENT_ENTRY_HEADER
            .checked_add(len)
            .filter(|&end| end <= rest.len())
            .ok_or_else(damaged)?;
        if u64::from(offset) >= geometry.events_per_block
            || last_offset.is_some_and(|l| offset <= l)
        {
            return Err(damaged());
        }
        entries.push((base + u64::from(offset) + 1, &rest[EVENT_ENTRY_HEADER..end]));
        last_offset = Some(offset);
        rest = &rest[end..];
    }
    Ok(entries)
}

/// Appends one entry to an encoded event block.
pub(crate) fn push_event_entry(
    geometry: Geometry,
    block: &mut Vec<u8>,
    position: u64,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| AppendProblem::EventTooLarge { len: bytes.len() })?;
    block.push(geometry.offset_of(position));
    block.extend_from_slice(&len.to_be_bytes());
    block.extend_from_slice(bytes);
    Ok(())
}

/// The stored bytes of one event.
pub(crate) fn raw_event(
    events: &EventBlocks,
    position: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    if position == 0 {
        return Ok(None);
    }
    let block = events.geometry.block_of(position);
    let key = block_key(block);
    let Some((value, _)) = events.get(block)? else {
        return Ok(None);
    };
    Ok(decode_event_block(events.geometry, &key, &value)?
        .into_iter()
        .find(|(p, _)| *p == position)
        .map(|(_, bytes)| bytes.to_vec()))
}

/// Reads and decodes one stored envelope.
pub(crate) fn read_envelope(
    events: &EventBlocks,
    position: u64,
) -> Result<Option<Envelope>, StoreError> {
    match raw_event(events, position)? {
        None => Ok(None),
        Some(bytes) => decode_envelope(position, &bytes).map(Some),
    }
}

/// The envelopes at `positions` (ascending), reading each block once; a missing one is an
/// inconsistency (an index pointed at it).
pub(crate) fn read_positions(
    events: &EventBlocks,
    positions: &[u64],
) -> Result<Vec<Envelope>, StoreError> {
    let mut out = Vec::with_capacity(positions.len());
    let mut rest = positions;
    while let Some(&first) = rest.first() {
        let block = events.geometry.block_of(first);
        let in_block = rest
            .iter()
            .take_while(|&&p| events.geometry.block_of(p) == block)
            .count();
        let stored = events.get(block)?;
        let entries = match &stored {
            Some((value, _)) => decode_event_block(events.geometry, &block_key(block), value)?,
            None => Vec::new(),
        };
        for &position in &rest[..in_block] {
            let bytes = entries
                .iter()
                .find(|(p, _)| *p == position)
                .map(|(_, bytes)| *bytes)
                .ok_or(Inconsistency::IndexedPositionMissing {
                    index: PositionIndex::Stream,
                    position,
                })?;
            out.push(decode_envelope(position, bytes)?);
        }
        rest = &rest[in_block..];
    }
    Ok(out)
}

pub(crate) fn decode_envelope(position: u64, bytes: &[u8]) -> Result<Envelope, StoreError> {
    Envelope::decode(bytes).map_err(|source| StoreError::Corrupt {
        position: Position(position),
        source,
    })
}

/// The stored `(position, bytes)` of every event in `[from, to]`, in order, block by block.
/// Missing positions are simply absent (callers that need gaplessness check it).
///
/// Each block is looked up on its own ([`EventBlocks::get`]), so one that the writer moves
/// while this reads is still found; after a block that is not stored, the next stored one is
/// sought, so a damaged log's gap shows as missing positions, not as its end.
pub(crate) struct RawEvents {
    events: EventBlocks,
    /// The next block to read, or `None` once past `to` or past the last stored block.
    next: Option<u64>,
    last: u64,
    from: u64,
    to: u64,
    pending: std::collections::VecDeque<(u64, Vec<u8>)>,
}

impl RawEvents {
    pub(crate) fn new(events: &EventBlocks, from: u64, to: u64) -> RawEvents {
        let from = from.max(1);
        let g = events.geometry;
        RawEvents {
            events: events.clone(),
            next: (from <= to).then(|| g.block_of(from)),
            last: g.block_of(to),
            from,
            to,
            pending: std::collections::VecDeque::new(),
        }
    }

    /// Queues the wanted entries of the next stored block; `false` once there is none.
    fn read_next_block(&mut self) -> Result<bool, StoreError> {
        let Some(block) = self.next else {
            return Ok(false);
        };
        let found = match self.events.get(block)? {
            Some(stored) => Some((block, stored)),
            None => match self.events.next_stored(block)? {
                Some(later) if later <= self.last => {
                    self.events.get(later)?.map(|stored| (later, stored))
                }
                _ => None,
            },
        };
        let Some((block, stored)) = found else {
            self.next = None;
            return Ok(false);
        };
        self.next = (block < self.last).then_some(block + 1);
        let (from, to) = (self.from, self.to);
        self.pending.extend(
            decode_event_block(self.events.geometry, &block_key(block), &stored.0)?
                .into_iter()
                .filter(|(p, _)| (from..=to).contains(p))
                .map(|(p, b)| (p, b.to_vec())),
        );
        Ok(true)
    }
}

impl Iterator for RawEvents {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Some(Ok(entry));
            }
            match self.read_next_block() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.next = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// The last stored position (0 for an empty log).
pub(crate) fn last_position(events: &EventBlocks) -> Result<u64, StoreError> {
    let last_of = |key: &[u8], value: &[u8]| -> Result<u64, StoreError> {
        Ok(decode_event_block(events.geometry, key, value)?
            .last()
            .map_or(0, |(p, _)| *p))
    };
    if let Some((key, value)) = events.open.last()?.or(events.full.last()?) {
        return last_of(&key, &value);
    }
    match events.archive.last_block()? {
        Some(block) => match events.archive.read(block)? {
            Some(bytes) => last_of(&block_key(block), &bytes),
            None => Err(Inconsistency::ArchivedBlockUnindexed { block }.into()),
        },
        None => Ok(0),
    }
}

/// The first position recorded at or after `time`, or `head + 1` if there is none.
pub(crate) fn first_position_at_or_after(
    trees: &Trees,
    time: Timestamp,
    head: u64,
) -> Result<u64, StoreError> {
    // The last indexed block that starts strictly before `time` begins the only run of blocks
    // (up to the next indexed one, at most the rest of its stride) that can hold both earlier
    // events and the first one at or after `time`; later indexed blocks start at or after it.
    let start = match trees
        .block_times
        .range(..keys::time_key(time, 0))
        .next_back()
    {
        Some(entry) => {
            let (key, _) = entry?;
            keys::position_of_time_key(&key).ok_or_else(|| corrupt(StoredPart::BlockTimeKey))?
        }
        None => 1,
    };
    let g = trees.event_blocks.geometry;
    let end = (g.block_of(start) / g.time_stride + 1) * g.time_stride * g.events_per_block;
    for entry in RawEvents::new(&trees.event_blocks, start, end.min(head)) {
        let (position, bytes) = entry?;
        if decode_envelope(position, &bytes)?.body.recorded_at >= time {
            return Ok(position);
        }
    }
    Ok((end + 1).min(head + 1))
}

/// Key of one chunk in `stream_chunks`.
pub(crate) fn chunk_key(stream: &StreamId, chunk: u64) -> Vec<u8> {
    let mut key = keys::stream_prefix(stream);
    key.extend_from_slice(&chunk.to_be_bytes());
    key
}

/// A chunk's key and positions: (first version in it, positions).
pub(crate) fn decode_chunk(
    geometry: Geometry,
    key: &[u8],
    value: &[u8],
) -> Result<(u64, Vec<u64>), StoreError> {
    let chunk = key
        .len()
        .checked_sub(8)
        .and_then(|at| keys::read_u64(&key[at..]))
        .ok_or_else(|| corrupt(StoredPart::StreamChunkKey))?;
    if !value.len().is_multiple_of(8) || value.len() as u64 > geometry.versions_per_chunk * 8 {
        return Err(corrupt(StoredPart::StreamChunk));
    }
    let positions = value
        .chunks_exact(8)
        .filter_map(keys::read_u64)
        .collect::<Vec<_>>();
    Ok((chunk * geometry.versions_per_chunk + 1, positions))
}

/// The position of a stored event id.
pub(crate) fn find_event_id(ids: &sled::Tree, id: EventId) -> Result<Option<u64>, StoreError> {
    let key = id.0.as_bytes();
    let Some(entry) = ids.range(..=&key[..]).next_back() else {
        return Ok(None);
    };
    let (_, value) = entry?;
    let entries = decode_id_block(&value)?;
    Ok(entries
        .binary_search_by(|(k, _)| k.as_slice().cmp(&key[..]))
        .ok()
        .map(|i| entries[i].1))
}

fn decode_id_block(value: &[u8]) -> Result<Vec<IdEntry>, StoreError> {
    if value.is_empty() || !value.len().is_multiple_of(ID_ENTRY_LEN) {
        return Err(corrupt(StoredPart::EventIdBlock));
    }
    value
        .chunks_exact(ID_ENTRY_LEN)
        .map(|e| {
            let id: [u8; 16] = e[..16]
                .try_into()
                .map_err(|_| corrupt(StoredPart::EventIdBlock))?;
            let pos = keys::read_u64(&e[16..]).ok_or_else(|| corrupt(StoredPart::EventIdBlock))?;
            Ok((id, pos))
        })
        .collect()
}

fn encode_id_block(entries: &[IdEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ID_ENTRY_LEN);
    for (id, pos) in entries {
        out.extend_from_slice(id);
        out.extend_from_slice(&pos.to_be_bytes());
    }
    out
}

/// One event about to be written, with what its indexes need (planned by either backend).
pub(crate) use crate::ledger::planner::NewEvent;

impl NewEvent {
    /// An already recorded envelope (its bytes and decoded body), to be written again.
    pub(crate) fn recorded(bytes: &[u8], body: crate::ledger::envelope::EnvelopeBody) -> NewEvent {
        NewEvent {
            position: body.position.0,
            bytes: bytes.to_vec(),
            stream: body.stream_id,
            version: body.stream_version,
            event_id: body.event_id,
            recorded_at: body.recorded_at,
        }
    }
}

/// The block writes that add a run of events to the log.
#[derive(Default)]
pub(crate) struct LogWrites {
    /// Blocks written (full ones to `event_blocks`, the last partial one to the open tree).
    event_blocks: Vec<([u8; 8], Kept, Vec<u8>)>,
    /// Blocks removed from the tree they were kept in (the open block, as it fills).
    moved: Vec<([u8; 8], Kept)>,
    block_times: Vec<[u8; 16]>,
    stream_chunks: Vec<(Vec<u8>, Vec<u8>)>,
    id_removes: Vec<Vec<u8>>,
    id_puts: Vec<(Vec<u8>, Vec<u8>)>,
    /// Full blocks of earlier batches moving to the archive (their bytes are already there).
    archive_move: Option<ArchiveMove>,
}

/// Plans the writes that add `events` (consecutive positions right after the stored head,
/// each stream's versions consecutive after its stored head) to the committed log, and moves
/// full blocks of earlier batches to the archive when enough wait (writing the archive file:
/// see [`Archive::plan_move`]).
pub(crate) fn plan_writes(trees: &Trees, events: &[NewEvent]) -> Result<LogWrites, StoreError> {
    let mut writes = LogWrites::default();
    plan_event_blocks(trees, events, &mut writes)?;
    plan_stream_chunks(trees, events, &mut writes)?;
    plan_id_blocks(trees, events, &mut writes)?;
    writes.archive_move = trees
        .event_blocks
        .archive
        .plan_move(&trees.event_blocks.full)?;
    Ok(writes)
}

fn plan_event_blocks(
    trees: &Trees,
    events: &[NewEvent],
    writes: &mut LogWrites,
) -> Result<(), StoreError> {
    // The block being filled: its number, bytes, where it was stored (if it was), last position.
    let mut open: Option<(u64, Vec<u8>, Option<Kept>, u64)> = None;
    let g = trees.event_blocks.geometry;
    for event in events {
        let block = g.block_of(event.position);
        if open.as_ref().is_none_or(|(b, ..)| *b != block) {
            if let Some(done) = open.take() {
                finish_block(g, writes, done);
            }
            if g.offset_of(event.position) == 0 {
                if block.is_multiple_of(g.time_stride) {
                    writes
                        .block_times
                        .push(keys::time_key(event.recorded_at, event.position));
                }
                open = Some((block, Vec::new(), None, 0));
            } else {
                let (stored, kept) =
                    trees
                        .event_blocks
                        .get(block)?
                        .ok_or(Inconsistency::BlockBeforeMissing {
                            position: event.position,
                        })?;
                let last = decode_event_block(g, &block_key(block), &stored)?
                    .last()
                    .map_or(0, |(p, _)| *p);
                if last + 1 != event.position || kept == Kept::Archived {
                    return Err(Inconsistency::BlockNotFollowed {
                        position: event.position,
                    }
                    .into());
                }
                open = Some((block, stored.to_vec(), Some(kept), last));
            }
        }
        if let Some((_, bytes, _, last)) = open.as_mut() {
            push_event_entry(g, bytes, event.position, &event.bytes)?;
            *last = event.position;
        }
    }
    if let Some(done) = open {
        finish_block(g, writes, done);
    }
    Ok(())
}

/// Queues a block in the tree its fill calls for, and its removal from the other one.
fn finish_block(
    g: Geometry,
    writes: &mut LogWrites,
    (block, bytes, stored, last): (u64, Vec<u8>, Option<Kept>, u64),
) {
    let key = block_key(block);
    let kept = if u64::from(g.offset_of(last)) + 1 == g.events_per_block {
        Kept::Full
    } else {
        Kept::Open
    };
    if let Some(was) = stored.filter(|s| *s != kept) {
        writes.moved.push((key, was));
    }
    writes.event_blocks.push((key, kept, bytes));
}

fn plan_stream_chunks(
    trees: &Trees,
    events: &[NewEvent],
    writes: &mut LogWrites,
) -> Result<(), StoreError> {
    let mut chunks: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let g = trees.event_blocks.geometry;
    for event in events {
        let key = chunk_key(&event.stream, g.chunk_of(event.version));
        let chunk = match chunks.entry(key) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let stored = if g.slot_of(event.version) == 0 {
                    Vec::new()
                } else {
                    trees
                        .stream_chunks
                        .get(e.key())?
                        .map(|v| v.to_vec())
                        .ok_or_else(|| Inconsistency::ChunkBeforeMissing {
                            stream: event.stream.clone(),
                            version: event.version.0,
                        })?
                };
                e.insert(stored)
            }
        };
        if (chunk.len() / 8) as u64 != g.slot_of(event.version) {
            return Err(Inconsistency::ChunkNotFollowed {
                stream: event.stream.clone(),
                version: event.version.0,
            }
            .into());
        }
        chunk.extend_from_slice(&event.position.to_be_bytes());
    }
    writes.stream_chunks = chunks.into_iter().collect();
    Ok(())
}

fn plan_id_blocks(
    trees: &Trees,
    events: &[NewEvent],
    writes: &mut LogWrites,
) -> Result<(), StoreError> {
    // Group the new ids by the stored block that covers them (the last one starting at or
    // before the id; the first block for ids before every block; none for an empty tree).
    let first_block = trees.event_id_blocks.first()?.map(|(k, _)| k.to_vec());
    let mut groups: HashMap<Option<Vec<u8>>, Vec<IdEntry>> = HashMap::new();
    for event in events {
        let id = *event.event_id.0.as_bytes();
        let target = match trees.event_id_blocks.range(..=&id[..]).next_back() {
            Some(entry) => Some(entry?.0.to_vec()),
            None => first_block.clone(),
        };
        groups.entry(target).or_default().push((id, event.position));
    }
    for (target, mut added) in groups {
        if let Some(key) = &target {
            let stored = trees
                .event_id_blocks
                .get(key)?
                .ok_or_else(|| corrupt(StoredPart::EventIdBlock))?;
            added.extend(decode_id_block(&stored)?);
            writes.id_removes.push(key.clone());
        }
        added.sort_unstable_by_key(|entry| entry.0);
        if let Some(twice) = added.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Inconsistency::EventIdTwice {
                event_id: EventId(uuid::Uuid::from_bytes(twice[0].0)),
            }
            .into());
        }
        for block in added.chunks(IDS_PER_BLOCK) {
            writes
                .id_puts
                .push((block[0].0.to_vec(), encode_id_block(block)));
        }
    }
    Ok(())
}

/// The log's block trees inside one sled transaction.
pub(crate) struct LogTx<'a> {
    pub(crate) event_blocks: &'a TransactionalTree,
    pub(crate) open_event_block: &'a TransactionalTree,
    pub(crate) block_times: &'a TransactionalTree,
    pub(crate) stream_chunks: &'a TransactionalTree,
    pub(crate) event_id_blocks: &'a TransactionalTree,
    pub(crate) archive_index: &'a TransactionalTree,
}

impl LogWrites {
    /// Writes the planned blocks inside a transaction over the block trees.
    pub(crate) fn apply(&self, tx: &LogTx<'_>) -> Result<(), ConflictableTransactionError<()>> {
        let tree = |kept: &Kept| match kept {
            Kept::Full | Kept::Archived => tx.event_blocks,
            Kept::Open => tx.open_event_block,
        };
        if let Some(archived) = &self.archive_move {
            archived.apply(tx.event_blocks, tx.archive_index)?;
        }
        for (key, was) in &self.moved {
            tree(was).remove(&key[..])?;
        }
        for (key, kept, bytes) in &self.event_blocks {
            tree(kept).insert(&key[..], bytes.as_slice())?;
        }
        for key in &self.block_times {
            tx.block_times.insert(&key[..], &[][..])?;
        }
        for (key, positions) in &self.stream_chunks {
            tx.stream_chunks
                .insert(key.as_slice(), positions.as_slice())?;
        }
        // Removes first: a rewritten block may keep its key.
        for key in &self.id_removes {
            tx.event_id_blocks.remove(key.as_slice())?;
        }
        for (key, entries) in &self.id_puts {
            tx.event_id_blocks
                .insert(key.as_slice(), entries.as_slice())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_blocks_round_trip_and_refuse_damage() {
        for g in [Geometry::LAYOUT_2, Geometry::LAYOUT_3] {
            let mut block = Vec::new();
            push_event_entry(g, &mut block, 17, b"a").expect("push");
            push_event_entry(g, &mut block, 18, b"bc").expect("push");
            let key = block_key(g.block_of(17));
            let entries = decode_event_block(g, &key, &block).expect("decode");
            assert_eq!(entries, vec![(17, &b"a"[..]), (18, &b"bc"[..])]);
            assert!(decode_event_block(g, &key, &block[..block.len() - 1]).is_err());
            let mut repeated = block.clone();
            push_event_entry(g, &mut repeated, 18, b"x").expect("push");
            assert!(decode_event_block(g, &key, &repeated).is_err());
        }
    }

    #[test]
    fn positions_map_to_blocks_and_offsets() {
        let n = Geometry::LAYOUT_2;
        assert_eq!((n.block_of(1), n.offset_of(1)), (0, 0));
        assert_eq!((n.block_of(16), n.offset_of(16)), (0, 15));
        assert_eq!((n.block_of(17), n.offset_of(17)), (1, 0));
        assert_eq!(n.chunk_of(StreamVersion(32)), 0);
        assert_eq!(n.chunk_of(StreamVersion(33)), 1);
        let w = Geometry::LAYOUT_3;
        assert_eq!((w.block_of(16), w.offset_of(16)), (0, 15));
        assert_eq!(w.chunk_of(StreamVersion(128)), 0);
        assert_eq!(
            (
                w.chunk_of(StreamVersion(129)),
                w.slot_of(StreamVersion(129))
            ),
            (1, 0)
        );
    }

    #[test]
    fn id_blocks_refuse_ragged_values() {
        assert!(decode_id_block(&[0u8; ID_ENTRY_LEN + 1]).is_err());
        assert!(decode_id_block(&[]).is_err());
        let entries = vec![([1u8; 16], 5), ([2u8; 16], 9)];
        assert_eq!(
            decode_id_block(&encode_id_block(&entries)).expect("decode"),
            entries
        );
    }
}
