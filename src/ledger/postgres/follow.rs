//! Keeps the cached head up to date with appends made through other stores (other processes):
//! LISTEN on the channel every append transaction notifies, and a poll of the head row every
//! [`POLL_INTERVAL`] as a safety net (a notification lost with a dropped connection, or a
//! listener still reconnecting).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{watch, Notify};
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::append::head_from_row;
use super::{advance, sql};
use crate::ledger::envelope::ChainHash;
use crate::ledger::store::Head;

/// How often the head row is read even without a notification.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Follows the head until aborted.
pub(crate) async fn run(config: Config, pool: Pool, head: Arc<watch::Sender<Head>>) {
    let poke = Arc::new(Notify::new());
    let mut listener: Option<tokio::task::JoinHandle<()>> = None;
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            _ = poke.notified() => {}
        }
        if listener.as_ref().is_none_or(|l| l.is_finished()) {
            listener = listen(&config, head.clone(), poke.clone()).await;
        }
        match pool.get().await {
            Ok(client) => match client.query_one(sql::HEAD, &[]).await {
                Ok(row) => match head_from_row(&row) {
                    Ok((committed, _)) => advance(&head, committed),
                    Err(e) => tracing::warn!(error = %e, "reading the ledger head failed"),
                },
                Err(e) => tracing::warn!(error = %e, "reading the ledger head failed"),
            },
            Err(e) => tracing::warn!(error = %e, "no connection to read the ledger head"),
        }
    }
}

/// Opens the listening connection; its task moves the head on each notification it can
/// parse and pokes the poller otherwise. `None` when it cannot connect (retried at the next
/// poll).
async fn listen(
    config: &Config,
    head: Arc<watch::Sender<Head>>,
    poke: Arc<Notify>,
) -> Option<tokio::task::JoinHandle<()>> {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the ledger's notification connection");
            return None;
        }
    };
    let task = tokio::spawn(async move {
        // LISTEN runs on the client while this task drives the connection it needs.
        let mut subscribe = std::pin::pin!(client.batch_execute(sql::LISTEN));
        let mut listening = false;
        loop {
            tokio::select! {
                done = &mut subscribe, if !listening => match done {
                    Ok(()) => {
                        listening = true;
                        // Whatever was committed before LISTEN took effect: read it now.
                        poke.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN for ledger heads failed");
                        return;
                    }
                },
                message = std::future::poll_fn(|cx| connection.poll_message(cx)) => match message {
                    Some(Ok(AsyncMessage::Notification(n))) if n.channel() == sql::HEAD_CHANNEL => {
                        match parse_notice(n.payload()) {
                            Some(notified) => advance(&head, notified),
                            None => poke.notify_one(),
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "the ledger's notification connection failed");
                        return;
                    }
                    None => return,
                },
            }
        }
    });
    Some(task)
}

/// `position hash-hex`, as the append transaction notifies it.
fn parse_notice(payload: &str) -> Option<Head> {
    let (position, hash) = payload.split_once(' ')?;
    let position = position.parse().ok()?;
    let bytes = hex::decode(hash).ok()?;
    Some(Head {
        position,
        hash: ChainHash(bytes.try_into().ok()?),
    })
}
