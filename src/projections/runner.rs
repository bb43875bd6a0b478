//! Keeps a read model up to date from a ledger subscription. Each batch of envelopes is folded
//! into the live state and written to the [`ReadStore`] with its checkpoint in one atomic
//! commit, so start-up reads the live state back and folds only the tail of the log.
//!
//! The checkpoint is never believed on its word: it must name a position the log holds and
//! the chain hash the log has there. Anything else (a read side copied from another ledger, an
//! older or newer layout, a log recovered to an earlier time) is wiped and rebuilt from the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, RwLock};
use tokio::task::JoinHandle;

use super::store::{ChangeSet, ReadCheckpoint, ReadStore};
use super::{ProjectionError, Stopped};
use crate::ledger::{ChainHash, Envelope, EventStore, Position, Subscription};

/// Most envelopes folded into one commit.
const MAX_BATCH: usize = 2048;
/// How often a rebuild or a long catch-up reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// A read model built by folding envelopes in position order.
pub trait Projection: Send + Sync + 'static {
    /// Stable name, for logs.
    const NAME: &'static str;
    /// Version of the on-disk layout; a read side of another layout is rebuilt.
    const LAYOUT: u16;

    /// The live state as written by the commits up to and including `position`.
    fn load<S: ReadStore>(store: &S, position: u64) -> Result<Self, ProjectionError>
    where
        Self: Sized;

    /// The last position folded in.
    fn position(&self) -> u64;

    /// Folds one envelope, queueing what must be written. Unknown types are ignored.
    fn apply(
        &mut self,
        envelope: &Envelope,
        changes: &mut ChangeSet,
    ) -> Result<(), ProjectionError>;

    /// Queues whatever the batch left to write (live records changed by several envelopes,
    /// index blocks that grow), reading what an earlier batch wrote from `store`.
    fn finish_batch<S: ReadStore>(
        &mut self,
        store: &S,
        changes: &mut ChangeSet,
    ) -> Result<(), ProjectionError>;
}

/// How the read side was found at start.
#[derive(Debug, Clone)]
pub enum StartKind {
    /// Nothing was stored: built from the log.
    Fresh,
    /// The checkpoint matched the log; only the tail was folded.
    Resumed {
        /// The checkpoint's position.
        from: u64,
    },
    /// What was stored did not match the log, and was rebuilt.
    Rebuilt {
        /// Why it was not believed.
        reason: Distrust,
    },
}

/// Why a stored read side was not believed and was rebuilt from the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Distrust {
    /// Written by a build with another record layout.
    #[error("it was written in layout {stored} and this build reads layout {expected}")]
    OtherLayout {
        /// The layout of the stored records.
        stored: u16,
        /// The layout this build reads.
        expected: u16,
    },
    /// A checkpoint at position 0 must carry the genesis hash.
    #[error("its empty checkpoint carries a chain hash")]
    EmptyWithHash,
    /// The checkpoint is ahead of the log (the log was replaced by an older one).
    #[error("it covers position {position} but the log ends at {head}")]
    BeyondLog {
        /// The checkpoint's position.
        position: u64,
        /// The log's last position.
        head: u64,
    },
    /// The checkpoint was taken of another log.
    #[error("its chain hash at position {position} is not this log's")]
    OtherChain {
        /// The checkpoint's position.
        position: u64,
    },
    /// The log has a gap where the checkpoint points.
    #[error("the log has no event at its position {position}")]
    NoEventAt {
        /// The checkpoint's position.
        position: u64,
    },
    /// Entries were written without a checkpoint (a crash before the first commit).
    #[error("it has entries but no checkpoint")]
    NoCheckpoint,
    /// The checkpoint could not be read.
    #[error("{0}")]
    CheckpointUnreadable(Arc<ProjectionError>),
    /// The records do not decode although layout and chain matched.
    #[error("its records do not decode: {0}")]
    RecordsUndecodable(Arc<ProjectionError>),
}

/// The live state with a read store that has caught up with it.
pub struct Settled<'a, P: Projection, S: ReadStore> {
    /// The live state, read-locked.
    pub model: tokio::sync::RwLockReadGuard<'a, P>,
    /// The read store, holding everything the live state has folded in.
    pub store: &'a S,
}

/// A running projection: the shared live state, how far it has applied, and its task.
pub struct ProjectionHandle<P: Projection, S: ReadStore> {
    model: Arc<RwLock<P>>,
    applied: watch::Receiver<u64>,
    failure: watch::Receiver<Option<Stopped>>,
    task: JoinHandle<()>,
    store: S,
    start: StartKind,
}

/// Why a stored checkpoint cannot be used with this log, if it cannot.
async fn distrust<E: EventStore>(
    events: &E,
    checkpoint: &ReadCheckpoint,
    layout: u16,
) -> Result<Option<Distrust>, ProjectionError> {
    let position = checkpoint.position;
    if checkpoint.layout != layout {
        return Ok(Some(Distrust::OtherLayout {
            stored: checkpoint.layout,
            expected: layout,
        }));
    }
    if position == 0 {
        return Ok((checkpoint.hash != ChainHash::GENESIS).then_some(Distrust::EmptyWithHash));
    }
    let head = events.head().position;
    if position > head {
        return Ok(Some(Distrust::BeyondLog { position, head }));
    }
    let at = events
        .read_all(Position(checkpoint.position), 1)
        .await?
        .into_iter()
        .next();
    match at {
        Some(envelope) if envelope.hash == checkpoint.hash => Ok(None),
        Some(_) => Ok(Some(Distrust::OtherChain { position })),
        None => Ok(Some(Distrust::NoEventAt { position })),
    }
}

impl<P: Projection, S: ReadStore> ProjectionHandle<P, S> {
    /// Checks the stored read side against the log (rebuilding it when it does not match),
    /// folds the tail up to the current head, then follows the log.
    pub async fn start<E: EventStore>(
        events: &E,
        store: S,
    ) -> Result<ProjectionHandle<P, S>, ProjectionError> {
        let mut from = 0;
        let mut start = match store.checkpoint() {
            Ok(Some(checkpoint)) => match distrust(events, &checkpoint, P::LAYOUT).await? {
                None => {
                    from = checkpoint.position;
                    StartKind::Resumed { from }
                }
                Some(reason) => StartKind::Rebuilt { reason },
            },
            Ok(None) if store.is_empty()? => StartKind::Fresh,
            Ok(None) => StartKind::Rebuilt {
                reason: Distrust::NoCheckpoint,
            },
            Err(e) => StartKind::Rebuilt {
                reason: Distrust::CheckpointUnreadable(Arc::new(e)),
            },
        };
        if let StartKind::Rebuilt { reason } = &start {
            tracing::warn!(projection = P::NAME, %reason, "the stored read side does not match the log; rebuilding it");
            store.clear()?;
        }
        let mut model = match P::load(&store, from) {
            Ok(model) => model,
            Err(e) => {
                // Layout and chain matched but the records do not decode: rebuild.
                tracing::warn!(projection = P::NAME, error = %e, "the stored read side does not decode; rebuilding it");
                store.clear()?;
                start = StartKind::Rebuilt {
                    reason: Distrust::RecordsUndecodable(Arc::new(e)),
                };
                P::load(&store, 0)?
            }
        };
        let head = events.head();
        let mut subscription = events.subscribe(Position(model.position() + 1));
        // Catch up before anyone reads, with progress for long folds.
        let mut progress = Progress::new(P::NAME, model.position(), head.position);
        while model.position() < head.position {
            let batch = next_batch(&mut subscription).await?;
            commit_batch(&mut model, &store, &batch)?;
            progress.report(model.position());
        }
        progress.finish(model.position());
        let position = model.position();
        let model = Arc::new(RwLock::new(model));
        let (applied_tx, applied) = watch::channel(position);
        let (failure_tx, failure) = watch::channel(None);
        let task = tokio::spawn(follow(
            subscription,
            model.clone(),
            store.clone(),
            applied_tx,
            failure_tx,
        ));
        Ok(ProjectionHandle {
            model,
            applied,
            failure,
            task,
            store,
            start,
        })
    }

    /// The live state, for queries.
    pub fn model(&self) -> &Arc<RwLock<P>> {
        &self.model
    }

    /// The read store, for queries of what is on disk. What is on disk may lag the live
    /// state by the batch being written; a query that joins the two uses [`Self::settled`].
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The live state and the read store as of the same position: waits, holding the read
    /// lock, until the batch already folded in is written. The writer needs no lock to
    /// finish it, so this cannot deadlock; it waits at most one commit.
    pub async fn settled(&self) -> Result<Settled<'_, P, S>, ProjectionError> {
        let model = self.model.read().await;
        self.wait_for(model.position()).await?;
        Ok(Settled {
            model,
            store: &self.store,
        })
    }

    /// Waits until what is on disk covers everything folded in so far, for a query that
    /// read the live state earlier and now reads the disk (a secret's history entry).
    pub async fn settle(&self) -> Result<&S, ProjectionError> {
        let position = self.model.read().await.position();
        self.wait_for(position).await?;
        Ok(&self.store)
    }

    /// How the read side was found at start.
    pub fn start_kind(&self) -> &StartKind {
        &self.start
    }

    /// The last position folded in and written.
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
            if let Some(stopped) = failure.borrow_and_update().clone() {
                return Err(ProjectionError::Stopped(stopped));
            }
            tokio::select! {
                changed = applied.changed() => {
                    if changed.is_err() {
                        return Err(ProjectionError::Stopped(Stopped::Ended { projection: P::NAME }));
                    }
                }
                _ = failure.changed() => {}
            }
        }
    }

    /// Stops following the log. Everything applied is already written.
    pub async fn stop(self) -> Result<(), ProjectionError> {
        self.task.abort();
        let _ = self.task.await;
        Ok(())
    }
}

/// The next envelope and whatever else the subscription already holds, up to a batch.
async fn next_batch<Sub: Subscription>(
    subscription: &mut Sub,
) -> Result<Vec<Envelope>, ProjectionError> {
    let mut batch = vec![subscription.next().await?];
    while batch.len() < MAX_BATCH {
        match subscription.try_next() {
            Some(envelope) => batch.push(envelope),
            None => break,
        }
    }
    Ok(batch)
}

/// Folds a batch into the live state; answers its writes and checkpoint.
/// The store must hold every earlier batch: batches are folded and written one at a time.
fn fold_batch<P: Projection, S: ReadStore>(
    model: &mut P,
    store: &S,
    batch: &[Envelope],
) -> Result<Option<(ChangeSet, ReadCheckpoint)>, ProjectionError> {
    let mut changes = ChangeSet::default();
    for envelope in batch {
        model.apply(envelope, &mut changes)?;
    }
    model.finish_batch(store, &mut changes)?;
    Ok(batch.last().map(|last| {
        let checkpoint = ReadCheckpoint {
            layout: P::LAYOUT,
            position: last.position().0,
            hash: last.hash,
        };
        (changes, checkpoint)
    }))
}

/// Folds a batch and writes it with its checkpoint in one commit.
fn commit_batch<P: Projection, S: ReadStore>(
    model: &mut P,
    store: &S,
    batch: &[Envelope],
) -> Result<(), ProjectionError> {
    match fold_batch(model, store, batch)? {
        Some((changes, checkpoint)) => store.commit(&changes, checkpoint),
        None => Ok(()),
    }
}

async fn follow<P: Projection, S: ReadStore, Sub: Subscription>(
    mut subscription: Sub,
    model: Arc<RwLock<P>>,
    store: S,
    applied: watch::Sender<u64>,
    failure: watch::Sender<Option<Stopped>>,
) {
    loop {
        let batch = match next_batch(&mut subscription).await {
            Ok(batch) => batch,
            Err(e) => {
                failure.send_replace(Some(Stopped::Failed {
                    projection: P::NAME,
                    from_position: None,
                    error: Arc::new(e),
                }));
                return;
            }
        };
        let first = batch.first().map_or(0, |e| e.position().0);
        let stop = |e: ProjectionError| {
            tracing::error!(projection = P::NAME, position = first, error = %e, "projection stopped");
            failure.send_replace(Some(Stopped::Failed {
                projection: P::NAME,
                from_position: Some(first),
                error: Arc::new(e),
            }));
        };
        // Readers wait only for the fold; the write happens without the lock.
        let folded = fold_batch(&mut *model.write().await, &store, &batch);
        let (changes, checkpoint) = match folded {
            Ok(Some(folded)) => folded,
            Ok(None) => continue,
            Err(e) => return stop(e),
        };
        let writer = store.clone();
        let written =
            tokio::task::spawn_blocking(move || writer.commit(&changes, checkpoint)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return stop(e),
            Err(e) => return stop(ProjectionError::CommitTask(e)),
        }
        // Published only once written, so a read after `wait_for` finds history and audit.
        applied.send_replace(checkpoint.position);
    }
}

/// Progress of a long fold on the console.
struct Progress {
    name: &'static str,
    from: u64,
    target: u64,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(name: &'static str, from: u64, target: u64) -> Progress {
        let now = Instant::now();
        Progress {
            name,
            from,
            target,
            started: now,
            last: now,
        }
    }

    fn report(&mut self, at: u64) {
        if self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last = Instant::now();
        let done = at.saturating_sub(self.from);
        let total = self.target.saturating_sub(self.from).max(1);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        tracing::info!(
            projection = self.name,
            position = at,
            target = self.target,
            percent = format!("{:.1}", done as f64 * 100.0 / total as f64),
            events_per_second = rate as u64,
            "folding the log into the read side"
        );
    }

    fn finish(&self, at: u64) {
        let folded = at.saturating_sub(self.from);
        if folded > 0 {
            tracing::info!(
                projection = self.name,
                folded,
                seconds = format!("{:.2}", self.started.elapsed().as_secs_f64()),
                "read side caught up with the log"
            );
        }
    }
}
