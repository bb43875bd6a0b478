//! Catch-up subscriptions that then follow the head.
//!
//! A subscription reads stored events up to the cached head, then waits for the head to move:
//! after this store's own commits, on a notification from another store's append transaction
//! (LISTEN/NOTIFY), or on the periodic poll that backs the notifications up (`follow.rs`).
//! Positions are gapless and only committed ones are read, so every one is delivered exactly
//! once, in order.

use std::collections::VecDeque;

use deadpool_postgres::Pool;
use tokio::sync::watch;

use super::error::PostgresProblem;
use super::read;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{StoreError, WriterStop};
use crate::ledger::store::{Head, Subscription};
use crate::ledger::types::Position;

/// Events read at a time while catching up.
const CHUNK: u64 = 512;

/// A live feed from a position of a [`super::PostgresStore`].
pub struct PostgresSubscription {
    pool: Pool,
    next: u64,
    head: watch::Receiver<Head>,
    buffer: VecDeque<Envelope>,
}

impl PostgresSubscription {
    pub(crate) fn new(pool: Pool, from: Position, head: watch::Receiver<Head>) -> Self {
        PostgresSubscription {
            pool,
            next: from.0.max(1),
            head,
            buffer: VecDeque::new(),
        }
    }

    /// The position the next delivered event will have.
    pub fn next_position(&self) -> Position {
        Position(self.next - self.buffer.len() as u64)
    }
}

impl Subscription for PostgresSubscription {
    fn try_next(&mut self) -> Option<Envelope> {
        self.buffer.pop_front()
    }

    async fn next(&mut self) -> Result<Envelope, StoreError> {
        loop {
            if let Some(envelope) = self.buffer.pop_front() {
                return Ok(envelope);
            }
            let head = self.head.borrow_and_update().position;
            if self.next <= head {
                let to = head.min(self.next + CHUNK - 1);
                let client = self.pool.get().await.map_err(PostgresProblem::from)?;
                let chunk = read::range(&**client, self.next, to).await?;
                self.next = to + 1;
                self.buffer.extend(chunk);
                continue;
            }
            self.head.changed().await.map_err(|_| WriterStop::Closed)?;
        }
    }
}
