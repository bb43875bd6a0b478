//! Catch-up subscriptions that then follow the durable head.
//!
//! A subscription reads stored events up to the durable head, then waits for the writer to
//! move the head forward after its next flush. It never sees a position that is not durable,
//! and since positions are gapless it delivers every one exactly once, in order.

use std::collections::VecDeque;

use tokio::sync::watch;

use crate::ledger::envelope::Envelope;
use crate::ledger::error::{StoreError, WriterStop};
use crate::ledger::store::{Head, Subscription};
use crate::ledger::types::Position;

/// Events read from storage at a time while catching up.
const CHUNK: u64 = 512;

/// A live feed from a position of a [`super::SledStore`].
pub struct SledSubscription {
    events: super::blocks::EventBlocks,
    next: u64,
    durable: watch::Receiver<Head>,
    buffer: VecDeque<Envelope>,
}

impl SledSubscription {
    pub(crate) fn new(
        events: super::blocks::EventBlocks,
        from: Position,
        durable: watch::Receiver<Head>,
    ) -> Self {
        SledSubscription {
            events,
            next: from.0.max(1),
            durable,
            buffer: VecDeque::new(),
        }
    }

    /// The position the next delivered event will have.
    pub fn next_position(&self) -> Position {
        Position(self.next - self.buffer.len() as u64)
    }
}

impl Subscription for SledSubscription {
    fn try_next(&mut self) -> Option<Envelope> {
        self.buffer.pop_front()
    }

    async fn next(&mut self) -> Result<Envelope, StoreError> {
        loop {
            if let Some(envelope) = self.buffer.pop_front() {
                return Ok(envelope);
            }
            let head = self.durable.borrow_and_update().position;
            if self.next <= head {
                let to = head.min(self.next + CHUNK - 1);
                let events = self.events.clone();
                let from = self.next;
                let chunk =
                    tokio::task::spawn_blocking(move || super::read_range(&events, from, to))
                        .await
                        .map_err(StoreError::ReaderTask)??;
                self.next = to + 1;
                self.buffer.extend(chunk);
                continue;
            }
            self.durable
                .changed()
                .await
                .map_err(|_| WriterStop::Closed)?;
        }
    }
}
