//! The server's background work, started and stopped in one place: the OAuth2 token
//! refresher, the hourly sweep of expired idempotency records, the periodic checkpoint
//! signer, the sweep of certificate notices, the feed of the event stream and the webhook
//! deliveries. (The ledger's writer and the read side's followers are part of the store and the
//! read model: opening them starts them, closing them stops them.)

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::app::checkpoints::sign_periodically;
use crate::app::App;
use crate::crypto::SigningKey;
use crate::oauth::OAuth;

/// How often expired idempotency records are dropped. They are honoured for 24 h and ignored
/// on read once expired, so the sweep only bounds the tree's size.
const IDEMPOTENCY_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The running background tasks of a server.
pub struct BackgroundTasks {
    refresher: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    checkpointer: Option<JoinHandle<()>>,
    notices: Option<JoinHandle<()>>,
    event_feed: JoinHandle<()>,
    webhooks: JoinHandle<()>,
    app: Arc<App>,
}

impl BackgroundTasks {
    /// Starts every background task; `checkpoint_every` zero signs no checkpoints.
    pub fn start(
        app: Arc<App>,
        oauth: Arc<OAuth>,
        signer: Arc<SigningKey>,
        checkpoint_every: Duration,
    ) -> BackgroundTasks {
        let checkpointer = (!checkpoint_every.is_zero()).then(|| {
            tokio::spawn(sign_periodically(
                app.store().clone(),
                signer,
                checkpoint_every,
            ))
        });
        let every = app.notices_sweep_every();
        let notices = (!every.is_zero()).then(|| tokio::spawn(sweep_notices(app.clone(), every)));
        BackgroundTasks {
            refresher: tokio::spawn(oauth.run_refresher()),
            sweeper: tokio::spawn(sweep_idempotency(app.clone())),
            checkpointer,
            notices,
            event_feed: tokio::spawn(crate::app::follow_events(app.clone())),
            webhooks: tokio::spawn(crate::app::run_webhook_deliveries(app.clone())),
            app,
        }
    }

    /// Stops them all (none holds state that a stop could lose: each step is a durable
    /// write or nothing) and waits until they have ended.
    pub async fn stop(self) {
        // Open event streams end, so a graceful shutdown does not wait for them.
        self.app.close_event_streams();
        let tasks = [
            Some(self.refresher),
            Some(self.sweeper),
            self.checkpointer,
            self.notices,
            Some(self.event_feed),
            Some(self.webhooks),
        ];
        for task in tasks.into_iter().flatten() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Drops expired idempotency records now and every [`IDEMPOTENCY_SWEEP_EVERY`], off the
/// runtime's worker threads.
async fn sweep_idempotency(app: Arc<App>) {
    let mut tick = tokio::time::interval(IDEMPOTENCY_SWEEP_EVERY);
    loop {
        tick.tick().await;
        let app = app.clone();
        let swept = tokio::task::spawn_blocking(move || app.store().sweep_idempotency()).await;
        if let Ok(Err(e)) = swept {
            tracing::warn!(error = %e, "could not sweep expired idempotency records");
        }
    }
}

/// Appends the certificate notices that are due now (at start) and every `every`. A missed
/// tick is not made up in a burst: the next sweep finds every notice still due.
async fn sweep_notices(app: Arc<App>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let appended = app.sweep_certificate_notices().await;
        if appended > 0 {
            tracing::info!(appended, "recorded certificate notices");
        }
    }
}
