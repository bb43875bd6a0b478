//! What backups need from the PostgreSQL backend: a walk of the whole chain, the auxiliary
//! tables and checkpoints kept beside the log, and a verbatim import of already-recorded
//! envelopes into an empty log.
//!
//! The checks of an import (chain, time order, allowed tables, checkpoints) are
//! `ledger::import_checks`, shared with sled, and are made by `ledger::backup`; this file only
//! reads and writes rows (and looks up event ids already stored).

use std::collections::HashMap;

use tokio_postgres::IsolationLevel;

use super::append::{EventRows, HeadMove};
use super::error::PostgresProblem;
use super::read::{from_sql, to_sql};
use super::{advance, sql, PostgresStore};
use crate::ledger::chain::{ChainBreak, ChainSummary, ChainVerifier};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{Inconsistency, StoreError};
use crate::ledger::planner::NewEvent;
use crate::ledger::store::{EventStore, Head};
use crate::ledger::types::EventId;
use crate::time::Timestamp;

/// Envelopes read per query by a walk of the whole log.
const PAGE: i64 = 2048;

const AUX_OF_TREE: &str = "SELECT key, value FROM aux_entries WHERE tree = $1 ORDER BY key";
const ANY_AUX: &str = "SELECT tree FROM aux_entries LIMIT 1";
const INSERT_AUX: &str = "INSERT INTO aux_entries (tree, key, value) \
     SELECT $1, * FROM unnest($2::bytea[], $3::bytea[])";
const CHECKPOINT_RECORDS: &str = "SELECT record FROM checkpoints ORDER BY position";
const ANY_CHECKPOINT: &str = "SELECT position FROM checkpoints LIMIT 1";
const UPSERT_CHECKPOINT: &str = "INSERT INTO checkpoints (position, record) VALUES ($1, $2) \
     ON CONFLICT (position) DO UPDATE SET record = excluded.record";
/// A page of the log from a position on (a gap shows as a missing position, not a short page).
const PAGE_FROM: &str =
    "SELECT position, envelope FROM events WHERE position >= $1 ORDER BY position LIMIT $2";

impl PostgresStore {
    /// Walks the whole log in position order through the chain verifier, calling `visit` with
    /// each verified position and hash; compares the end with the recorded head.
    pub async fn verify_chain(
        &self,
        visit: &mut (dyn FnMut(u64, &crate::ledger::ChainHash) + Send),
    ) -> Result<Result<ChainSummary, ChainBreak>, StoreError> {
        let mut client = self.client().await?;
        // One snapshot for the head and every page: appends by other stores during the walk
        // are neither seen past the head nor half seen.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(PostgresProblem::from)?;
        let (head, _) = super::append::head_from_row(
            &tx.query_one(sql::HEAD, &[])
                .await
                .map_err(PostgresProblem::from)?,
        )?;
        let mut verifier = ChainVerifier::new();
        let mut next: i64 = 1;
        loop {
            let rows = tx
                .query(PAGE_FROM, &[&next, &PAGE])
                .await
                .map_err(PostgresProblem::from)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let position =
                    from_sql(row.try_get(0).map_err(PostgresProblem::from)?, "position")?;
                let bytes: &[u8] = row.try_get(1).map_err(PostgresProblem::from)?;
                match verifier.check(position, bytes) {
                    Ok(envelope) => visit(position, &envelope.hash),
                    Err(broken) => return Ok(Err(broken)),
                }
                next = to_sql(position + 1, "position")?;
            }
        }
        Ok(verifier.finish(head.position, head.hash))
    }

    /// Every entry of one auxiliary table, in key order.
    pub(crate) async fn aux_entries(
        &self,
        tree: &str,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(AUX_OF_TREE, &[&tree])
            .await
            .map_err(PostgresProblem::from)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(PostgresProblem::from)?,
                    row.try_get(1).map_err(PostgresProblem::from)?,
                ))
            })
            .collect()
    }

    /// Writes entries into an auxiliary table (keys must be new).
    pub(crate) async fn insert_aux(
        &self,
        tree: &str,
        entries: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let keys: Vec<&[u8]> = entries.iter().map(|(k, _)| k.as_slice()).collect();
        let values: Vec<&[u8]> = entries.iter().map(|(_, v)| v.as_slice()).collect();
        let client = self.client().await?;
        client
            .execute(INSERT_AUX, &[&tree, &keys, &values])
            .await
            .map_err(PostgresProblem::from)?;
        Ok(())
    }

    /// The encoded checkpoint records, by position.
    pub(crate) async fn checkpoint_records(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(CHECKPOINT_RECORDS, &[])
            .await
            .map_err(PostgresProblem::from)?;
        rows.iter()
            .map(|row| Ok(row.try_get(0).map_err(PostgresProblem::from)?))
            .collect()
    }

    /// Stores an encoded checkpoint record of the head at `position`.
    pub(crate) async fn record_checkpoint(
        &self,
        position: u64,
        record: &[u8],
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                UPSERT_CHECKPOINT,
                &[&to_sql(position, "position")?, &record],
            )
            .await
            .map_err(PostgresProblem::from)?;
        Ok(())
    }

    /// What an import target already holds besides nothing: `Some(table)` names the first
    /// non-empty one of the log, the auxiliary tables and the checkpoints.
    pub(crate) async fn occupied_table(&self) -> Result<Option<&'static str>, StoreError> {
        if self.head().position > 0 {
            return Ok(Some("events"));
        }
        let client = self.client().await?;
        for (table, query) in [("aux_entries", ANY_AUX), ("checkpoints", ANY_CHECKPOINT)] {
            let found = client
                .query_opt(query, &[])
                .await
                .map_err(PostgresProblem::from)?;
            if found.is_some() {
                return Ok(Some(table));
            }
        }
        Ok(None)
    }

    /// Which of these event ids are stored already, and where.
    pub(crate) async fn positions_of(
        &self,
        ids: &[EventId],
    ) -> Result<HashMap<EventId, u64>, StoreError> {
        let client = self.client().await?;
        let uuids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
        let rows = client
            .query(sql::EVENTS_BY_ID, &[&uuids])
            .await
            .map_err(PostgresProblem::from)?;
        rows.iter()
            .map(|row| {
                let id: uuid::Uuid = row.try_get(0).map_err(PostgresProblem::from)?;
                let position =
                    from_sql(row.try_get(1).map_err(PostgresProblem::from)?, "position")?;
                Ok((EventId(id), position))
            })
            .collect()
    }

    /// Appends already-recorded events (each with its type) verbatim after the head, in one
    /// transaction under the head lock, and moves the head to the last one, recorded at
    /// `last_at`. The caller has checked the chain; the first must continue the stored head.
    pub(crate) async fn import_recorded(
        &self,
        events: &[NewEvent],
        types: &[String],
        last_at: Timestamp,
    ) -> Result<Head, StoreError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(self.head());
        };
        let mut rows = EventRows::with_capacity(events.len());
        for (event, event_type) in events.iter().zip(types) {
            rows.push(event, event_type)?;
        }
        let head = Head {
            position: last.position,
            hash: Envelope::decode(&last.bytes)?.hash,
        };
        let moved = HeadMove::new(head, last_at)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(PostgresProblem::from)?;
        let locked = tx
            .query_one(sql::LOCK_HEAD, &[])
            .await
            .map_err(PostgresProblem::from)?;
        let (stored, _) = super::append::head_from_row(&locked)?;
        if first.position != stored.position + 1 {
            // Another store appended meanwhile: the import's target is no longer empty.
            return Err(Inconsistency::HeadMismatch {
                recorded: first.position - 1,
                last_stored: stored.position,
            }
            .into());
        }
        tx.execute(sql::INSERT_EVENTS, &rows.params())
            .await
            .map_err(PostgresProblem::from)?;
        tx.execute(sql::UPDATE_HEAD, &moved.update())
            .await
            .map_err(PostgresProblem::from)?;
        tx.execute(sql::NOTIFY_HEAD, &moved.notify())
            .await
            .map_err(PostgresProblem::from)?;
        tx.commit()
            .await
            .map_err(PostgresProblem::CommitOutcomeUnknown)?;
        advance(&self.inner.head, head);
        Ok(head)
    }
}
