//! Appends: a writer task commits batches of concurrent appends in one transaction each.
//!
//! Appends arrive over a channel. The writer takes everything waiting (up to a limit), opens a
//! transaction, locks the head row (`SELECT … FOR UPDATE`: every writer of the database, in
//! this process or another, queues there, so positions stay gapless), reads what the batch's
//! appends need (idempotency records, stored event ids, stream versions, unique-key holders)
//! in four queries, and plans each append in arrival order with the ledger's planner, the same
//! code sled's writer runs. It inserts the accepted events, writes unique keys, idempotency
//! records and the new head, notifies listeners, and commits: with `synchronous_commit = on`
//! a committed batch is durable. Only then are the callers answered and the cached head moved.
//!
//! Nothing is kept between batches: each reads the head under its lock, so a failed batch
//! (rolled back, or a COMMIT whose outcome is unknown) leaves nothing stale behind, and the
//! next batch carries on from what is committed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;
use uuid::Uuid;

use super::error::PostgresProblem;
use super::read::{from_sql, to_sql};
use super::{advance, sql};
use crate::ledger::codec;
use crate::ledger::envelope::ChainHash;
use crate::ledger::error::StoreError;
use crate::ledger::planner::{
    plan_append, Answer, BatchPlan, CommittedLog, NewEvent, PlannedEvent, StoreClock, StoredRecord,
};
use crate::ledger::store::Head;
use crate::ledger::types::{
    AppendOutcome, AppendRequest, EventId, StreamId, StreamVersion, UniqueChange, UniqueKey,
};
use crate::time::Timestamp;

/// The parameters of a one-parameter query.
type Param<'a> = [&'a (dyn ToSql + Sync); 1];

/// Most appends committed together in one transaction.
const MAX_APPENDS_PER_BATCH: usize = 1024;

/// One append waiting for its answer.
pub(crate) struct PendingAppend {
    pub(crate) request: AppendRequest,
    pub(crate) reply: oneshot::Sender<Answer>,
}

/// Runs the writer until every sender is gone.
pub(crate) async fn run(
    pool: Pool,
    clock: StoreClock,
    mut inbox: mpsc::Receiver<PendingAppend>,
    head: Arc<watch::Sender<Head>>,
) {
    while let Some(first) = inbox.recv().await {
        let mut batch = vec![first];
        gather(&mut inbox, &mut batch).await;
        let (replies, requests): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|p| (p.reply, p.request)).unzip();
        let count = replies.len();
        let answers = match commit_batch(&pool, clock, requests).await {
            Ok((answers, committed)) => {
                if let Some(new_head) = committed {
                    advance(&head, new_head);
                }
                answers
            }
            Err(e) => {
                tracing::error!(error = %e, appends = count, "ledger batch not committed");
                let e = Arc::new(e);
                (0..count)
                    .map(|_| Err(StoreError::Postgres(PostgresProblem::Batch(e.clone()))))
                    .collect()
            }
        };
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

/// Takes what is waiting into `batch`, letting the writers the last batch answered send
/// their next appends first: right after a commit only the one or two appends that raced in
/// are waiting, and taking just those would halve every other batch. Stops when a yield
/// brought nothing new, or at [`MAX_APPENDS_PER_BATCH`].
async fn gather(inbox: &mut mpsc::Receiver<PendingAppend>, batch: &mut Vec<PendingAppend>) {
    while batch.len() < MAX_APPENDS_PER_BATCH {
        match inbox.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => {
                tokio::task::yield_now().await;
                if inbox.is_empty() {
                    return;
                }
            }
        }
    }
}

/// Plans and commits one batch: every append's answer, and the new head if anything was written.
async fn commit_batch(
    pool: &Pool,
    clock: StoreClock,
    requests: Vec<AppendRequest>,
) -> Result<(Vec<Answer>, Option<Head>), StoreError> {
    let mut client = pool.get().await.map_err(PostgresProblem::from)?;
    let tx = client.transaction().await.map_err(PostgresProblem::from)?;
    let row = tx
        .query_one(sql::LOCK_HEAD, &[])
        .await
        .map_err(PostgresProblem::from)?;
    let (mut head, mut last_at) = head_from_row(&row)?;
    let committed = Prefetched::load(&tx, &requests).await?;
    let mut plan = BatchPlan::default();
    for request in requests {
        let answer = plan_append(
            &committed,
            &mut plan,
            &mut head,
            &mut last_at,
            clock,
            request,
        );
        plan.answers.push(answer);
    }
    if plan.events.is_empty() {
        tx.rollback().await.map_err(PostgresProblem::from)?;
        return Ok((plan.answers, None));
    }
    write_plan(&tx, &plan, head, last_at).await?;
    tx.commit()
        .await
        .map_err(PostgresProblem::CommitOutcomeUnknown)?;
    Ok((plan.answers, Some(head)))
}

/// The head and last recorded time of a `ledger_head` row.
pub(crate) fn head_from_row(row: &tokio_postgres::Row) -> Result<(Head, Timestamp), StoreError> {
    let position = from_sql(row.try_get(0).map_err(PostgresProblem::from)?, "position")?;
    let hash: &[u8] = row.try_get(1).map_err(PostgresProblem::from)?;
    let hash = ChainHash(
        hash.try_into()
            .map_err(|_| PostgresProblem::Malformed { column: "hash" })?,
    );
    let last_at = Timestamp(row.try_get(2).map_err(PostgresProblem::from)?);
    Ok((Head { position, hash }, last_at))
}

/// What the batch's appends need from the committed log, read once under the head lock.
#[derive(Default)]
struct Prefetched {
    records: HashMap<[u8; 32], StoredRecord>,
    events: HashMap<EventId, PlannedEvent>,
    streams: HashMap<StreamId, StreamVersion>,
    holders: HashMap<UniqueKey, StreamId>,
}

impl Prefetched {
    async fn load(tx: &Transaction<'_>, requests: &[AppendRequest]) -> Result<Self, StoreError> {
        let mut keys = HashSet::new();
        let mut ids = HashSet::new();
        let mut streams = HashSet::new();
        let mut unique = HashSet::new();
        for request in requests {
            if let Some(claim) = &request.idempotency {
                keys.insert(claim.key.to_vec());
            }
            ids.extend(request.events.iter().map(|e| e.event_id.0));
            streams.insert(request.stream.as_str().to_owned());
            for change in &request.unique {
                let (UniqueChange::Claim(key) | UniqueChange::Release(key)) = change;
                unique.insert(key.as_bytes().to_vec());
            }
        }
        let keys: Vec<Vec<u8>> = keys.into_iter().collect();
        let ids: Vec<Uuid> = ids.into_iter().collect();
        let streams: Vec<String> = streams.into_iter().collect();
        let unique: Vec<Vec<u8>> = unique.into_iter().collect();
        let (keys, ids, streams, unique): (Param, Param, Param, Param) =
            ([&keys], [&ids], [&streams], [&unique]);
        // Four queries, pipelined on the one connection.
        let (records, events, heads, holders) = tokio::try_join!(
            tx.query(sql::IDEMPOTENCY_OF, &keys),
            tx.query(sql::EVENTS_BY_ID, &ids),
            tx.query(sql::STREAM_HEADS, &streams),
            tx.query(sql::UNIQUE_HOLDERS, &unique),
        )
        .map_err(PostgresProblem::from)?;
        let mut out = Prefetched::default();
        let now = Timestamp::now();
        for row in &records {
            let key: &[u8] = row.try_get(0).map_err(PostgresProblem::from)?;
            let key: [u8; 32] = key
                .try_into()
                .map_err(|_| PostgresProblem::Malformed { column: "key" })?;
            let record = decode_record(row.try_get(1).map_err(PostgresProblem::from)?)?;
            if !record.expired(now) {
                out.records.insert(key, record);
            }
        }
        for row in &events {
            let id: Uuid = row.try_get(0).map_err(PostgresProblem::from)?;
            let stream: &str = row.try_get(2).map_err(PostgresProblem::from)?;
            out.events.insert(
                EventId(id),
                PlannedEvent {
                    position: from_sql(row.try_get(1).map_err(PostgresProblem::from)?, "position")?,
                    stream: StreamId::new(stream)?,
                    version: StreamVersion(from_sql(
                        row.try_get(3).map_err(PostgresProblem::from)?,
                        "stream_version",
                    )?),
                    event_type: row.try_get(4).map_err(PostgresProblem::from)?,
                },
            );
        }
        for row in &heads {
            let stream: &str = row.try_get(0).map_err(PostgresProblem::from)?;
            let version: Option<i64> = row.try_get(1).map_err(PostgresProblem::from)?;
            if let Some(version) = version {
                out.streams.insert(
                    StreamId::new(stream)?,
                    StreamVersion(from_sql(version, "stream_version")?),
                );
            }
        }
        for row in &holders {
            let key: &[u8] = row.try_get(0).map_err(PostgresProblem::from)?;
            let stream: &str = row.try_get(1).map_err(PostgresProblem::from)?;
            out.holders
                .insert(UniqueKey::new(key.to_vec()), StreamId::new(stream)?);
        }
        Ok(out)
    }
}

impl CommittedLog for Prefetched {
    fn idempotency_record(&self, key: &[u8; 32]) -> Result<Option<StoredRecord>, StoreError> {
        Ok(self.records.get(key).cloned())
    }

    fn stored_event(&self, id: EventId) -> Result<Option<PlannedEvent>, StoreError> {
        Ok(self.events.get(&id).cloned())
    }

    fn stream_head(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        Ok(self
            .streams
            .get(stream)
            .copied()
            .unwrap_or(StreamVersion(0)))
    }

    fn unique_holder(&self, key: &UniqueKey) -> Result<Option<StreamId>, StoreError> {
        Ok(self.holders.get(key).cloned())
    }
}

/// A stored idempotency record's `outcome` bytes.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<StoredRecord, StoreError> {
    Ok(codec::decode(bytes)?)
}

/// Writes the accepted appends of a batch, the head, and the notification.
async fn write_plan(
    tx: &Transaction<'_>,
    plan: &BatchPlan,
    head: Head,
    last_at: Timestamp,
) -> Result<(), StoreError> {
    let mut rows = EventRows::with_capacity(plan.events.len());
    for event in &plan.events {
        let planned = plan
            .event_ids
            .get(&event.event_id)
            .ok_or(PostgresProblem::Malformed {
                column: "event_type",
            })?;
        rows.push(event, &planned.event_type)?;
    }
    let mut claimed_keys = Vec::new();
    let mut claimed_by = Vec::new();
    let mut released = Vec::new();
    for (key, owner) in &plan.unique {
        match owner {
            Some(stream) => {
                claimed_keys.push(key.as_bytes());
                claimed_by.push(stream.as_str());
            }
            None => released.push(key.as_bytes()),
        }
    }
    let mut record_keys = Vec::new();
    let mut record_hashes = Vec::new();
    let mut record_outcomes = Vec::new();
    let mut record_expiry = Vec::new();
    for (key, record) in &plan.idempotency {
        record_keys.push(key.as_slice());
        record_hashes.push(record.request_hash.as_slice());
        record_outcomes.push(codec::encode(record)?);
        record_expiry.push(record.expires_at());
    }
    let moved = HeadMove::new(head, last_at)?;
    let events = rows.params();
    let (update, notify) = (moved.update(), moved.notify());
    let released: Param = [&released];
    let claimed: [&(dyn ToSql + Sync); 2] = [&claimed_keys, &claimed_by];
    let records: [&(dyn ToSql + Sync); 4] = [
        &record_keys,
        &record_hashes,
        &record_outcomes,
        &record_expiry,
    ];
    // Pipelined on the one connection; the server runs them in this order.
    tokio::try_join!(
        tx.execute(sql::INSERT_EVENTS, &events),
        tx.execute(sql::DELETE_UNIQUE, &released),
        tx.execute(sql::UPSERT_UNIQUE, &claimed),
        tx.execute(sql::UPSERT_IDEMPOTENCY, &records),
        tx.execute(sql::UPDATE_HEAD, &update),
        tx.execute(sql::NOTIFY_HEAD, &notify),
    )
    .map_err(PostgresProblem::from)?;
    Ok(())
}

/// The columns of [`sql::INSERT_EVENTS`] for a run of events, each with its type.
pub(super) struct EventRows<'a> {
    positions: Vec<i64>,
    streams: Vec<&'a str>,
    versions: Vec<i64>,
    ids: Vec<uuid::Uuid>,
    types: Vec<&'a str>,
    times: Vec<i64>,
    envelopes: Vec<&'a [u8]>,
}

impl<'a> EventRows<'a> {
    pub(super) fn with_capacity(events: usize) -> EventRows<'a> {
        EventRows {
            positions: Vec::with_capacity(events),
            streams: Vec::with_capacity(events),
            versions: Vec::with_capacity(events),
            ids: Vec::with_capacity(events),
            types: Vec::with_capacity(events),
            times: Vec::with_capacity(events),
            envelopes: Vec::with_capacity(events),
        }
    }

    pub(super) fn push(
        &mut self,
        event: &'a NewEvent,
        event_type: &'a str,
    ) -> Result<(), StoreError> {
        self.positions.push(to_sql(event.position, "position")?);
        self.streams.push(event.stream.as_str());
        self.versions
            .push(to_sql(event.version.0, "stream_version")?);
        self.ids.push(event.event_id.0);
        self.types.push(event_type);
        self.times.push(event.recorded_at.0);
        self.envelopes.push(event.bytes.as_slice());
        Ok(())
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.positions,
            &self.streams,
            &self.versions,
            &self.ids,
            &self.types,
            &self.times,
            &self.envelopes,
        ]
    }
}

/// The head's new row ([`sql::UPDATE_HEAD`]) and the notice other stores follow it by
/// ([`sql::NOTIFY_HEAD`], read by `follow.rs`).
pub(super) struct HeadMove {
    position: i64,
    hash: Vec<u8>,
    last_at: i64,
    notice: String,
}

impl HeadMove {
    pub(super) fn new(head: Head, last_at: Timestamp) -> Result<HeadMove, StoreError> {
        Ok(HeadMove {
            position: to_sql(head.position, "position")?,
            hash: head.hash.0.to_vec(),
            last_at: last_at.0,
            notice: format!("{} {}", head.position, head.hash.to_hex()),
        })
    }

    pub(super) fn update(&self) -> [&(dyn ToSql + Sync); 3] {
        [&self.position, &self.hash, &self.last_at]
    }

    pub(super) fn notify(&self) -> [&(dyn ToSql + Sync); 2] {
        [&sql::HEAD_CHANNEL, &self.notice]
    }
}

/// The outcome of an idempotency key, as `idempotent_outcome` answers it.
pub(crate) fn outcome_of(
    record: &StoredRecord,
    request_hash: &[u8; 32],
    head: u64,
) -> Result<Option<AppendOutcome>, StoreError> {
    if record.last_position > head || record.expired(Timestamp::now()) {
        return Ok(None);
    }
    record.answer(request_hash).map(Some)
}
