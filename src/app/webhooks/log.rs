//! Where each subscription's deliveries stand, and what each attempt got: two small trees
//! beside the log, never events (an attempt is not a change of the ledger, and a log entry
//! per retry would grow the ledger with a receiver's outage).
//!
//! - progress: subscription id -> [`DeliveryProgress`] (delivered through which position,
//!   failing since when), written after each delivered event and each failed attempt, so a
//!   restart resumes after the last delivered event and keeps counting the retry period.
//! - attempts: subscription id ‖ attempt number (big-endian) -> [`DeliveryAttempt`], the last
//!   [`ATTEMPTS_KEPT`] of each subscription.
//!
//! Both lose a subscription's entries when it is removed.

use serde::{Deserialize, Serialize};

use crate::domain::ids::WebhookId;
use crate::ledger::codec;
use crate::time::Timestamp;

use super::super::AppError;

/// Attempts kept per subscription (older ones are dropped as new ones are written).
pub const ATTEMPTS_KEPT: u64 = 1000;

/// Where a subscription's deliveries stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryProgress {
    /// Every event up to this position was delivered or is not for this subscription.
    pub delivered_through: u64,
    /// When the attempts at the next event began failing (`None`: not failing).
    pub failing_since: Option<Timestamp>,
    /// Failed attempts at the next event.
    pub failed_attempts: u32,
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// It answered something else, or no answer came.
    Failed {
        /// Its status, if it answered.
        status: Option<u16>,
        /// Why it failed, in words (never the URL beyond its host, never the answer's body).
        reason: String,
    },
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// Its number among the subscription's attempts (from 1).
    pub attempt: u64,
    /// The event's position.
    pub position: u64,
    /// The event's id (the `webhook-id` header).
    pub event_id: uuid::Uuid,
    /// The event's type.
    pub event_type: String,
    /// When the attempt started.
    pub at: Timestamp,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What it got.
    pub outcome: AttemptOutcome,
    /// When the next attempt is due, if this one failed and the retry period is not over.
    pub next_attempt_at: Option<Timestamp>,
}

/// The two trees, and counts of attempts since start (metrics).
#[derive(Debug)]
pub struct DeliveryLog {
    progress: sled::Tree,
    attempts: sled::Tree,
    delivered: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

fn attempt_key(id: WebhookId, attempt: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(id.as_uuid().as_bytes());
    key[16..].copy_from_slice(&attempt.to_be_bytes());
    key
}

fn malformed(e: codec::CodecError) -> AppError {
    AppError::Store(crate::ledger::StoreError::from(e))
}

impl DeliveryLog {
    /// Opens the trees of a data directory.
    pub fn open(db: &sled::Db) -> Result<DeliveryLog, sled::Error> {
        Ok(DeliveryLog {
            progress: db.open_tree(crate::storage::WEBHOOK_PROGRESS)?,
            attempts: db.open_tree(crate::storage::WEBHOOK_ATTEMPTS)?,
            delivered: Default::default(),
            failed: Default::default(),
        })
    }

    /// Attempts delivered and failed since start.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.delivered.load(Relaxed), self.failed.load(Relaxed))
    }

    /// Where a subscription's deliveries stand, if they ever started.
    pub fn progress(&self, id: WebhookId) -> Result<Option<DeliveryProgress>, AppError> {
        self.progress
            .get(id.as_uuid().as_bytes())?
            .map(|bytes| codec::decode(&bytes).map_err(malformed))
            .transpose()
    }

    /// Stores where a subscription's deliveries stand, durably (a restart resumes from here).
    pub async fn set_progress(
        &self,
        id: WebhookId,
        progress: DeliveryProgress,
    ) -> Result<(), AppError> {
        let bytes = codec::encode(&progress).map_err(malformed)?;
        self.progress.insert(id.as_uuid().as_bytes(), bytes)?;
        self.progress.flush_async().await?;
        Ok(())
    }

    /// Every subscription with stored progress (for the clean-up of removed ones).
    pub fn known(&self) -> Result<Vec<WebhookId>, AppError> {
        let mut ids = Vec::new();
        for key in self.progress.iter().keys() {
            if let Ok(id) = uuid::Uuid::from_slice(&key?) {
                ids.push(WebhookId::from_uuid(id));
            }
        }
        Ok(ids)
    }

    /// The number of the last attempt written (0: none).
    pub fn last_attempt(&self, id: WebhookId) -> Result<u64, AppError> {
        let last = self
            .attempts
            .scan_prefix(id.as_uuid().as_bytes())
            .keys()
            .next_back()
            .transpose()?;
        Ok(last.map_or(0, |key| {
            let mut number = [0u8; 8];
            number.copy_from_slice(&key[16..24]);
            u64::from_be_bytes(number)
        }))
    }

    /// Writes one attempt and drops the one that falls out of the kept window.
    pub fn record(&self, id: WebhookId, attempt: &DeliveryAttempt) -> Result<(), AppError> {
        let count = match attempt.outcome {
            AttemptOutcome::Delivered { .. } => &self.delivered,
            AttemptOutcome::Failed { .. } => &self.failed,
        };
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = codec::encode(attempt).map_err(malformed)?;
        self.attempts
            .insert(attempt_key(id, attempt.attempt), bytes)?;
        if attempt.attempt > ATTEMPTS_KEPT {
            self.attempts
                .remove(attempt_key(id, attempt.attempt - ATTEMPTS_KEPT))?;
        }
        Ok(())
    }

    /// Up to `limit` attempts with numbers below `before` (`None`: the newest), newest first.
    pub fn attempts(
        &self,
        id: WebhookId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, AppError> {
        let start = attempt_key(id, 0);
        let end = attempt_key(id, before.unwrap_or(u64::MAX));
        let mut found = Vec::with_capacity(limit.min(256));
        for entry in self.attempts.range(start..end).values().rev().take(limit) {
            found.push(codec::decode(&entry?).map_err(malformed)?);
        }
        Ok(found)
    }

    /// Forgets a removed subscription.
    pub fn forget(&self, id: WebhookId) -> Result<(), AppError> {
        let mut batch = sled::Batch::default();
        for key in self.attempts.scan_prefix(id.as_uuid().as_bytes()).keys() {
            batch.remove(key?);
        }
        self.attempts.apply_batch(batch)?;
        self.progress.remove(id.as_uuid().as_bytes())?;
        Ok(())
    }
}
