//! Keeps a read model up to date from a ledger subscription, with checkpointed snapshots so
//! that start-up replays only the tail of the log.

use std::sync::Arc;

use tokio::sync::{watch, RwLock};
use tokio::task::JoinHandle;

use super::snapshots::SnapshotStore;
use super::ProjectionError;
use crate::ledger::{Envelope, EventStore, Position, Subscription};

/// A read model built by folding envelopes in position order.
pub trait Projection: Send + Sync + 'static {
    /// Stable name; the key of its snapshot.
    const NAME: &'static str;
    /// Version of the snapshot encoding; a snapshot of another version is ignored and rebuilt.
    const SNAPSHOT_VERSION: u16;

    /// Folds one envelope into the model. Envelopes of unknown types are ignored.
    fn apply(&mut self, envelope: &Envelope) -> Result<(), ProjectionError>;

    /// Encodes the whole model for a snapshot.
    fn encode_snapshot(&self) -> Result<Vec<u8>, ProjectionError>;

    /// Decodes a snapshot written by [`Projection::encode_snapshot`].
    fn decode_snapshot(bytes: &[u8]) -> Result<Self, ProjectionError>
    where
        Self: Sized;
}

/// How often a projection writes a snapshot.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    /// Write a snapshot after this many applied events (0: never while running).
    pub every_events: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            every_events: 10_000,
        }
    }
}

/// A running projection: the shared model, how far it has applied, and its task.
pub struct ProjectionHandle<P: Projection> {
    model: Arc<RwLock<P>>,
    applied: watch::Receiver<u64>,
    failure: watch::Receiver<Option<String>>,
    task: JoinHandle<()>,
    snapshots: SnapshotStore,
}

impl<P: Projection> ProjectionHandle<P> {
    /// Starts from the latest usable snapshot (or `initial`) and follows the log.
    pub async fn start<S: EventStore>(
        store: &S,
        snapshots: SnapshotStore,
        initial: P,
        policy: SnapshotPolicy,
    ) -> Result<ProjectionHandle<P>, ProjectionError> {
        let (model, checkpoint) = match snapshots.load::<P>()? {
            Some((model, position)) => (model, position),
            None => (initial, 0),
        };
        let model = Arc::new(RwLock::new(model));
        let (applied_tx, applied) = watch::channel(checkpoint);
        let (failure_tx, failure) = watch::channel(None);
        let subscription = store.subscribe(Position(checkpoint + 1));
        let task = tokio::spawn(follow(
            subscription,
            model.clone(),
            applied_tx,
            failure_tx,
            snapshots.clone(),
            policy,
            checkpoint,
        ));
        Ok(ProjectionHandle {
            model,
            applied,
            failure,
            task,
            snapshots,
        })
    }

    /// The model, for queries.
    pub fn model(&self) -> &Arc<RwLock<P>> {
        &self.model
    }

    /// The last position folded into the model.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until the model has applied `position` (read-your-writes after an append).
    pub async fn wait_for(&self, position: u64) -> Result<(), ProjectionError> {
        let mut applied = self.applied.clone();
        let mut failure = self.failure.clone();
        loop {
            if *applied.borrow_and_update() >= position {
                return Ok(());
            }
            if let Some(reason) = failure.borrow_and_update().clone() {
                return Err(ProjectionError::Stopped(reason));
            }
            tokio::select! {
                changed = applied.changed() => {
                    if changed.is_err() {
                        return Err(ProjectionError::Stopped(format!("projection {} ended", P::NAME)));
                    }
                }
                _ = failure.changed() => {}
            }
        }
    }

    /// Writes a snapshot of the model as applied so far.
    pub async fn snapshot_now(&self) -> Result<u64, ProjectionError> {
        let model = self.model.read().await;
        let position = self.applied();
        self.snapshots.save(&*model, position)?;
        Ok(position)
    }

    /// Stops following the log (after writing a final snapshot).
    pub async fn stop(self) -> Result<(), ProjectionError> {
        self.task.abort();
        let _ = self.task.await;
        let model = self.model.read().await;
        self.snapshots.save(&*model, *self.applied.borrow())
    }
}

async fn follow<P: Projection, Sub: Subscription>(
    mut subscription: Sub,
    model: Arc<RwLock<P>>,
    applied: watch::Sender<u64>,
    failure: watch::Sender<Option<String>>,
    snapshots: SnapshotStore,
    policy: SnapshotPolicy,
    mut since_snapshot_from: u64,
) {
    loop {
        let envelope = match subscription.next().await {
            Ok(envelope) => envelope,
            Err(e) => {
                failure.send_replace(Some(e.to_string()));
                return;
            }
        };
        let position = envelope.position().0;
        let mut guard = model.write().await;
        if let Err(e) = guard.apply(&envelope) {
            tracing::error!(projection = P::NAME, position, error = %e, "projection stopped");
            failure.send_replace(Some(format!("position {position}: {e}")));
            return;
        }
        // Readers may go on while the snapshot is encoded and flushed.
        let guard = guard.downgrade();
        applied.send_replace(position);
        if policy.every_events > 0 && position - since_snapshot_from >= policy.every_events {
            if let Err(e) = snapshots.save(&*guard, position) {
                tracing::warn!(projection = P::NAME, error = %e, "snapshot failed; will retry later");
            } else {
                since_snapshot_from = position;
            }
        }
    }
}
