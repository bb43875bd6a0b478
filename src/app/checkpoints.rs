//! Checkpoints of the log's head, put together: the signing key (`crypto`) signs the record
//! (`ledger::checkpoint`), and while a server runs a background task signs the head
//! periodically.

use std::sync::Arc;
use std::time::Duration;

use super::{App, AppError};
use crate::crypto::SigningKey;
use crate::domain::principals::{CheckpointUse, Principal};
use crate::ledger::checkpoint::{
    create_checkpoint, Checkpoint, CheckpointSigning, CheckpointStore,
};
use crate::ledger::{EventStore, Head, SledStore};

impl CheckpointSigning for SigningKey {
    fn public_key(&self) -> Vec<u8> {
        SigningKey::public_key(self)
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        SigningKey::sign(self, message)
    }
}

impl App {
    /// The stored checkpoint with the highest position (`None` before the first), for a
    /// caller who may read checkpoints ([`App::authorize_checkpoints`]).
    pub async fn latest_checkpoint(
        &self,
        principal: &Principal,
    ) -> Result<Option<Checkpoint>, AppError> {
        self.authorize_checkpoints(principal, CheckpointUse::Read)
            .await?;
        Ok(CheckpointStore::open(self.store().db())?.latest()?)
    }

    /// The durable head of the log: its last position and chain hash.
    pub fn ledger_head(&self) -> Head {
        self.store().head()
    }
}

/// Every `every`, signs the head if it moved past the latest stored checkpoint; runs until
/// dropped (the server's background tasks start it, see `crate::background`).
pub async fn sign_periodically(store: SledStore, signer: Arc<SigningKey>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let latest = CheckpointStore::open(store.db())
            .and_then(|c| c.latest())
            .map(|c| c.map_or(0, |c| c.position));
        match latest {
            Ok(at) if store.head().position > at => {
                match create_checkpoint(&store, signer.as_ref()).await {
                    Ok(c) => {
                        tracing::info!(position = c.position, head_hash = %c.head_hash, "checkpoint signed")
                    }
                    Err(e) => tracing::warn!(error = %e, "could not write a checkpoint"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the latest checkpoint"),
        }
    }
}
