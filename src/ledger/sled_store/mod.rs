//! The sled 0.34 backend of the event log.

mod archive;
mod blocks;
mod claims;
mod import;
mod keys;
mod migrate;
mod raw;
mod subscription;
mod verify;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use import::{
    BulkImporter, ImportError, ImportSummary, Occupied, DEFAULT_IMPORT_BATCH, LEDGER_TREES,
};
pub use raw::RawLog;
pub use subscription::SledSubscription;
pub use verify::{verify_with_checkpoints, CheckpointProblem, VerifyReport};

use super::chain::{ChainBreak, ChainSummary, ChainVerifier};
use super::codec::ENVELOPE_FORMAT_V1;
use super::envelope::{ChainHash, Envelope};
use super::error::{malformed, Inconsistency, StoreError, StoredPart, WriterStop};
use super::planner::StoreClock;
use super::store::{EventStore, Head, StreamRange};
use super::types::{AppendOutcome, AppendRequest, Position, StreamId, StreamVersion, UniqueKey};
use crate::time::Timestamp;
use writer::{PendingAppend, WriterState};

/// Appends queued for the writer before callers wait for room.
const INBOX_CAPACITY: usize = 8192;

/// How long [`open_db`] waits for a lock that a just-closed handle in this process still holds.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// sled's page cache. Bounded well below sled's 1 GiB default so that memory stays flat as
/// the data directory grows: hot pages (the log's tail, live records, index roots) fit.
/// sled counts pages by their encoded size; in memory they take about four times that
/// (a full 128 MiB cache held 500 MB), and it fills with pages written once and never read
/// again, so a large cache only grows the process. Since full event blocks are archived, the
/// pages that are read again fit in 32 MiB (docs/benchmarks.md, soak).
pub const PAGE_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Environment variable overriding [`PAGE_CACHE_BYTES`], in MiB (1 to 65 536).
pub const PAGE_CACHE_ENV: &str = "CREDLEDGER_STORAGE_CACHE_MB";

/// The page cache size: [`PAGE_CACHE_ENV`] if set to a number in range, else the default.
fn page_cache_bytes() -> u64 {
    std::env::var(PAGE_CACHE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|mb| (1..=65_536).contains(mb))
        .map_or(PAGE_CACHE_BYTES, |mb| mb * 1024 * 1024)
}

/// Opens a sled database, waiting briefly if its file lock is still held: sled 0.34 releases
/// the lock from a background thread after the last handle is dropped, so an immediate
/// reopen in the same process can otherwise fail.
pub fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(page_cache_bytes())
            .open()
        {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The trees of the log, opened once (see [`blocks`] for the layout).
#[derive(Clone)]
pub(crate) struct Trees {
    pub(crate) event_blocks: blocks::EventBlocks,
    pub(crate) stream_chunks: sled::Tree,
    pub(crate) stream_heads: sled::Tree,
    pub(crate) event_id_blocks: sled::Tree,
    pub(crate) block_times: sled::Tree,
    pub(crate) unique_keys: sled::Tree,
    pub(crate) idempotency: sled::Tree,
    pub(crate) meta: sled::Tree,
}

impl Trees {
    /// Opens the trees of the database in `dir` (where the archive file lives too), first
    /// moving a log of an earlier layout into the current one.
    pub(crate) fn open(db: &sled::Db, dir: &Path) -> Result<Trees, StoreError> {
        let meta = db.open_tree(keys::META)?;
        match migrate::recorded_geometry(&meta)? {
            Some(geometry) => Trees::open_current(db, dir, geometry),
            None => {
                let trees = Trees::open_current(db, dir, blocks::Geometry::LAYOUT_3)?;
                migrate::to_blocks(db, &trees)?;
                Ok(trees)
            }
        }
    }

    /// The index of the archived event blocks.
    pub(crate) fn archive_index(&self) -> &sled::Tree {
        self.event_blocks.archive.index()
    }

    /// The block sizes of this directory.
    pub(crate) fn geometry(&self) -> blocks::Geometry {
        self.event_blocks.geometry
    }

    /// Every stored event as `(position, encoded envelope)`, in order.
    pub(crate) fn raw_events(&self) -> blocks::RawEvents {
        blocks::RawEvents::new(&self.event_blocks, 1, u64::MAX)
    }

    fn open_current(
        db: &sled::Db,
        dir: &Path,
        geometry: blocks::Geometry,
    ) -> Result<Trees, StoreError> {
        let archive = archive::Archive::open(dir, db.open_tree(keys::ARCHIVE_INDEX)?)?;
        Ok(Trees {
            event_blocks: blocks::EventBlocks {
                full: db.open_tree(keys::EVENT_BLOCKS)?,
                open: db.open_tree(keys::OPEN_EVENT_BLOCK)?,
                archive: Arc::new(archive),
                geometry,
            },
            stream_chunks: db.open_tree(keys::STREAM_CHUNKS)?,
            stream_heads: db.open_tree(keys::STREAM_HEADS)?,
            event_id_blocks: db.open_tree(keys::EVENT_ID_BLOCKS)?,
            block_times: db.open_tree(keys::BLOCK_TIMES)?,
            unique_keys: db.open_tree(keys::UNIQUE_KEYS)?,
            idempotency: db.open_tree(keys::IDEMPOTENCY)?,
            meta: db.open_tree(keys::META)?,
        })
    }
}

/// The event log on sled: cheap to clone, every clone shares one writer.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    trees: Trees,
    inbox: mpsc::Sender<PendingAppend>,
    durable: watch::Receiver<Head>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl SledStore {
    /// Opens (or creates) a log in a directory. Must be called inside a tokio runtime.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        SledStore::with_db(open_db(path.as_ref())?, path.as_ref())
    }

    /// Runs the log on an already opened sled database (other trees may share it), opened
    /// from `dir` (the log keeps its archive file there too).
    pub fn with_db(db: sled::Db, dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::with_db_and_clock(db, dir, Timestamp::now)
    }

    /// Opens (or creates) a log whose `recorded_at` comes from `clock` instead of the wall
    /// clock (still never going back along the log): for tests that build identical logs.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: StoreClock,
    ) -> Result<SledStore, StoreError> {
        SledStore::with_db_and_clock(open_db(path.as_ref())?, path.as_ref(), clock)
    }

    fn with_db_and_clock(
        db: sled::Db,
        dir: &Path,
        clock: StoreClock,
    ) -> Result<SledStore, StoreError> {
        let trees = Trees::open(&db, dir)?;
        let (head, last_recorded_at) = load_head(&trees)?;
        let (durable_tx, durable_rx) = watch::channel(head);
        let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
        let state = WriterState {
            trees: trees.clone(),
            head,
            last_recorded_at,
            clock,
        };
        let handle = tokio::spawn(writer::run(state, db.clone(), inbox_rx, durable_tx));
        Ok(SledStore {
            inner: Arc::new(Inner {
                db,
                trees,
                inbox: inbox_tx,
                durable: durable_rx,
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The underlying database, for trees that live beside the log (keys, read models).
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// Stops the writer after the appends already queued, and flushes.
    ///
    /// Appends made through any clone afterwards fail with [`StoreError::WriterStopped`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let handle = self
            .inner
            .writer
            .lock()
            .map_err(|_| WriterStop::HandleLockPoisoned)?
            .take();
        if let Some(handle) = handle {
            handle.abort();
            let _ = handle.await;
        }
        self.inner.db.flush_async().await?;
        Ok(())
    }

    /// Opens and closes a closed data directory once more, so that sled writes its page-table
    /// snapshot now. sled 0.34 writes that snapshot only while opening and replays every write
    /// made since at the next open; after a clean stop this moves that replay from the next
    /// start-up to the shutdown. Call only once every handle of the directory is dropped.
    pub fn write_recovery_snapshot(path: impl AsRef<Path>) -> Result<(), StoreError> {
        let db = open_db(path.as_ref())?;
        drop(db);
        Ok(())
    }

    /// Walks the whole log: gapless positions, decodable envelopes, the hash chain, stream
    /// versions, and the recorded head. Names the first bad position.
    pub fn verify(&self) -> Result<Result<ChainSummary, ChainBreak>, StoreError> {
        verify_trees(&self.inner.trees, &mut |_, _| {})
    }

    /// Verifies the log in a directory without starting a writer, so that a log whose head
    /// metadata disagrees with its events can still be walked and the break named.
    pub fn verify_path(
        path: impl AsRef<Path>,
    ) -> Result<Result<ChainSummary, ChainBreak>, StoreError> {
        let path = path.as_ref();
        verify_trees(&Trees::open(&open_db(path)?, path)?, &mut |_, _| {})
    }

    /// Removes idempotency records past their retention; returns how many.
    pub fn sweep_idempotency(&self) -> Result<usize, StoreError> {
        claims::sweep(&self.inner.trees.idempotency)
    }

    fn durable_head(&self) -> u64 {
        self.inner.durable.borrow().position
    }
}

/// Reads the head (position, hash, last time) recorded in `meta`, checking format and consistency.
fn load_head(trees: &Trees) -> Result<(Head, Timestamp), StoreError> {
    match trees.meta.get(keys::META_FORMAT)? {
        None => {
            if !trees.event_blocks.is_empty()? {
                return Err(Inconsistency::NoFormatMarker.into());
            }
            trees
                .meta
                .insert(keys::META_FORMAT, &[ENVELOPE_FORMAT_V1])?;
            trees.meta.flush()?;
        }
        Some(v) if v.as_ref() == [ENVELOPE_FORMAT_V1] => {}
        Some(v) => {
            return Err(StoreError::UnsupportedFormat {
                found: v.first().copied().unwrap_or(0),
                known: ENVELOPE_FORMAT_V1,
            })
        }
    }
    let position = match trees.meta.get(keys::META_HEAD_POSITION)? {
        Some(v) => keys::read_u64(&v).ok_or(malformed(StoredPart::HeadPosition))?,
        None => 0,
    };
    let hash = match trees.meta.get(keys::META_HEAD_HASH)? {
        Some(v) => ChainHash(
            v.as_ref()
                .try_into()
                .map_err(|_| malformed(StoredPart::HeadHash))?,
        ),
        None => ChainHash::GENESIS,
    };
    let last_recorded_at = match trees.meta.get(keys::META_LAST_RECORDED_AT)? {
        Some(v) => {
            Timestamp(keys::read_u64(&v).ok_or(malformed(StoredPart::LastRecordedAt))? as i64)
        }
        None => Timestamp(i64::MIN),
    };
    let last_key = blocks::last_position(&trees.event_blocks)?;
    if last_key != position {
        return Err(Inconsistency::HeadMismatch {
            recorded: position,
            last_stored: last_key,
        }
        .into());
    }
    Ok((Head { position, hash }, last_recorded_at))
}

/// Walks the log; `observe` sees the position and hash of every event that checks out.
pub(crate) fn verify_trees(
    trees: &Trees,
    observe: &mut dyn FnMut(u64, &ChainHash),
) -> Result<Result<ChainSummary, ChainBreak>, StoreError> {
    let (recorded_head, recorded_hash) = {
        let position = trees
            .meta
            .get(keys::META_HEAD_POSITION)?
            .and_then(|v| keys::read_u64(&v))
            .unwrap_or(0);
        let hash = trees
            .meta
            .get(keys::META_HEAD_HASH)?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok())
            .map_or(ChainHash::GENESIS, ChainHash);
        (position, hash)
    };
    let mut verifier = ChainVerifier::new();
    for entry in trees.raw_events() {
        let (position, value) = entry?;
        match verifier.check(position, &value) {
            Ok(envelope) => observe(position, &envelope.hash),
            Err(broken) => return Ok(Err(broken)),
        }
    }
    Ok(verifier.finish(recorded_head, recorded_hash))
}

pub(crate) use blocks::read_envelope;

/// Reads `[from, to]` (inclusive) in position order, failing on a gap.
pub(crate) fn read_range(
    events: &blocks::EventBlocks,
    from: u64,
    to: u64,
) -> Result<Vec<Envelope>, StoreError> {
    if from > to {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity((to - from + 1).min(4096) as usize);
    let mut expected = from;
    for entry in blocks::RawEvents::new(events, from, to) {
        let (position, bytes) = entry?;
        if position != expected {
            return Err(Inconsistency::PositionMissing { position: expected }.into());
        }
        out.push(blocks::decode_envelope(position, &bytes)?);
        expected += 1;
    }
    if expected != to + 1 {
        return Err(Inconsistency::PositionMissing { position: expected }.into());
    }
    Ok(out)
}

impl EventStore for SledStore {
    type Sub = SledSubscription;

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .inbox
            .send(PendingAppend { request, reply })
            .await
            .map_err(|_| WriterStop::Closed)?;
        answer.await.map_err(|_| WriterStop::EndedBeforeAnswering)?
    }

    async fn idempotent_outcome(
        &self,
        key: &[u8; 32],
        request_hash: &[u8; 32],
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let head = self.durable_head();
        match claims::stored_record(&self.inner.trees.idempotency, key)? {
            Some(record) if record.last_position <= head => record.answer(request_hash).map(Some),
            _ => Ok(None),
        }
    }

    async fn repair_unique_keys(
        &self,
        prefix: &[u8],
        wanted: BTreeMap<UniqueKey, StreamId>,
    ) -> Result<usize, StoreError> {
        claims::repair(&self.inner.trees.unique_keys, prefix, &wanted)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        range: StreamRange,
    ) -> Result<Vec<Envelope>, StoreError> {
        let head = self.durable_head();
        let trees = &self.inner.trees;
        let mut out = Vec::new();
        for entry in trees.stream_chunks.scan_prefix(keys::stream_prefix(stream)) {
            let (key, value) = entry?;
            let (first_version, positions) = blocks::decode_chunk(trees.geometry(), &key, &value)?;
            // Versions are known from the chunk; only the time cut needs the envelopes.
            let wanted = positions
                .iter()
                .zip(first_version..)
                .take_while(|&(&p, v)| p <= head && range.up_to_version.is_none_or(|up| v <= up.0))
                .count();
            for envelope in blocks::read_positions(&trees.event_blocks, &positions[..wanted])? {
                if range
                    .up_to_time
                    .is_some_and(|t| envelope.body.recorded_at > t)
                {
                    return Ok(out);
                }
                out.push(envelope);
            }
            if wanted < positions.len() {
                break;
            }
        }
        Ok(out)
    }

    async fn read_all(&self, from: Position, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let head = self.durable_head();
        let from = from.0.max(1);
        if limit == 0 || from > head {
            return Ok(Vec::new());
        }
        let to = head.min(from.saturating_add(limit as u64 - 1));
        read_range(&self.inner.trees.event_blocks, from, to)
    }

    async fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let head = self.durable_head();
        let trees = &self.inner.trees;
        let mut out = Vec::new();
        if from > to {
            return Ok(out);
        }
        let mut position = blocks::first_position_at_or_after(trees, from, head)?;
        while out.len() < limit && position <= head {
            let to_read = head.min(position + trees.geometry().events_per_block() * 4 - 1);
            for envelope in read_range(&trees.event_blocks, position, to_read)? {
                if envelope.body.recorded_at > to || out.len() >= limit {
                    return Ok(out);
                }
                out.push(envelope);
            }
            position = to_read + 1;
        }
        Ok(out)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        let head = self.durable_head();
        // The newest version whose position is at or below the durable head.
        for entry in self
            .inner
            .trees
            .stream_chunks
            .scan_prefix(keys::stream_prefix(stream))
            .rev()
        {
            let (key, value) = entry?;
            let (first_version, positions) =
                blocks::decode_chunk(self.inner.trees.geometry(), &key, &value)?;
            let durable = positions.iter().take_while(|&&p| p <= head).count() as u64;
            if durable > 0 {
                return Ok(StreamVersion(first_version + durable - 1));
            }
        }
        Ok(StreamVersion(0))
    }

    async fn first_position_at_or_after(&self, time: Timestamp) -> Result<Position, StoreError> {
        let head = self.durable_head();
        Ok(Position(blocks::first_position_at_or_after(
            &self.inner.trees,
            time,
            head,
        )?))
    }

    fn head(&self) -> Head {
        *self.inner.durable.borrow()
    }

    fn subscribe(&self, from: Position) -> SledSubscription {
        SledSubscription::new(
            self.inner.trees.event_blocks.clone(),
            from,
            self.inner.durable.clone(),
        )
    }
}
