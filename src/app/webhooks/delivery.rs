//! Deliveries: one lane per active subscription, each following the log from where its
//! deliveries stand and posting, in log order, every event its owner may see (the same rule
//! as the event stream, [`event_visible`], with the directory as it is at delivery) that
//! passes its filter. An event is retried until the receiver answers 2xx, with waits doubling
//! from [`WebhookSettings::first_retry`] up to [`WebhookSettings::max_retry_interval`]; the
//! next event waits for it (in order, at least once). After
//! [`WebhookSettings::retry_for`] of failures the system disables the subscription; enabling
//! it resumes with that event.
//!
//! Progress is stored after every delivered event and failed attempt, so a crash repeats at
//! most the event in flight (receivers deduplicate by `webhook-id`). Lanes wake on the event
//! feed; memory is one lane per active subscription, never a queue of events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::crypto::WebhookSecret;
use crate::domain::ids::WebhookId;
use crate::domain::principals::Principal;
use crate::domain::visibility::event_visible;
use crate::domain::webhooks::{Webhook, WebhookStatus};
use crate::ledger::{EventStore, Position};
use crate::projections::{payloads, PublicEvent};
use crate::time::Timestamp;

use super::super::event_feed::{EventFilter, StreamedEvent};
use super::super::{App, AppError};
use super::log::{AttemptOutcome, DeliveryAttempt, DeliveryProgress};

/// How often the lanes are matched against the active subscriptions, besides every event.
const RESCAN_EVERY: Duration = Duration::from_secs(5);
/// How long an idle lane waits for the feed before looking at the log again.
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// Events read from the log at a time.
const CHUNK: u64 = 128;

/// The lanes of the active subscriptions; dropping it (the task is stopped) stops them all.
struct Lanes(HashMap<WebhookId, JoinHandle<()>>);

impl Drop for Lanes {
    fn drop(&mut self) {
        for lane in self.0.values() {
            lane.abort();
        }
    }
}

/// Runs the deliveries of every active subscription until the task is stopped.
pub async fn run_webhook_deliveries(app: Arc<App>) {
    if let Err(e) = app.forget_removed_webhooks().await {
        tracing::warn!(error = %e, "could not clean up removed webhook subscriptions");
    }
    let mut lanes = Lanes(HashMap::new());
    let mut live = app.events.live.subscribe();
    let mut tick = tokio::time::interval(RESCAN_EVERY);
    loop {
        lanes.0.retain(|_, lane| !lane.is_finished());
        let active: Vec<WebhookId> = {
            let model = app.model().model().read().await;
            model
                .webhooks
                .values()
                .filter(|w| w.status == WebhookStatus::Active)
                .map(|w| w.id)
                .collect()
        };
        for id in active {
            lanes.0.entry(id).or_insert_with(|| {
                let lane = Lane {
                    app: app.clone(),
                    id,
                    live: app.events.live.subscribe(),
                    attempts: 0,
                };
                tokio::spawn(lane.run())
            });
        }
        tokio::select! {
            received = live.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = received {
                    return;
                }
            }
            _ = tick.tick() => {}
        }
    }
}

impl App {
    /// Forgets the subscriptions that have a delivery log but are no longer in the ledger
    /// (removed while the server stopped between the removal and its clean-up).
    async fn forget_removed_webhooks(&self) -> Result<(), AppError> {
        let known = self.webhook_log.known()?;
        let removed: Vec<WebhookId> = {
            let model = self.model().model().read().await;
            known
                .into_iter()
                .filter(|id| !model.webhooks.contains_key(id))
                .collect()
        };
        for id in removed {
            self.forget_webhook(id)?;
        }
        Ok(())
    }
}

/// How one event's delivery ended.
enum Delivery {
    /// The receiver took it.
    Delivered,
    /// The subscription changed (removed, disabled) while it was being retried.
    Stopped,
}

/// One subscription's deliveries.
struct Lane {
    app: Arc<App>,
    id: WebhookId,
    /// The feed, to wake on new events.
    live: broadcast::Receiver<Arc<StreamedEvent>>,
    /// The number of the last attempt written.
    attempts: u64,
}

impl Lane {
    async fn run(mut self) {
        if let Err(e) = self.deliver_all().await {
            // The supervisor starts the lane again within RESCAN_EVERY.
            tracing::warn!(webhook = %self.id, error = %e, "webhook deliveries paused");
        }
    }

    async fn current(&self) -> Option<Webhook> {
        let model = self.app.model().model().read().await;
        model.webhooks.get(&self.id).cloned()
    }

    async fn deliver_all(&mut self) -> Result<(), AppError> {
        self.attempts = self.app.webhook_log.last_attempt(self.id)?;
        loop {
            let Some(webhook) = self.current().await else {
                return self.app.forget_webhook(self.id);
            };
            if webhook.status != WebhookStatus::Active {
                return Ok(());
            }
            let progress = self.app.webhook_log.progress(self.id)?.unwrap_or_default();
            let after = progress
                .delivered_through
                .max(webhook.subscribed_at.saturating_sub(1));
            let applied = self.app.model().applied();
            if after >= applied {
                self.wait_for_news().await;
                continue;
            }
            let envelopes = self
                .app
                .store()
                .read_all(Position(after + 1), CHUNK.min(applied - after) as usize)
                .await?;
            let described = {
                let settled = self.app.model().settled().await?;
                envelopes
                    .iter()
                    .map(|e| PublicEvent::describe(e, &settled.model, settled.store))
                    .map(|described| described.map(StreamedEvent::new))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let wanted = self.wanted(&webhook, &described).await;
            let mut through = after;
            let mut progress = DeliveryProgress {
                delivered_through: after,
                ..progress
            };
            for (event, wanted) in described.iter().zip(wanted) {
                if wanted {
                    match self.deliver(&webhook, event, progress).await? {
                        Delivery::Delivered => {}
                        Delivery::Stopped => break,
                    }
                    progress = DeliveryProgress {
                        delivered_through: event.position,
                        failing_since: None,
                        failed_attempts: 0,
                    };
                }
                through = event.position;
                progress.delivered_through = through;
            }
            if through > after {
                self.app.webhook_log.set_progress(self.id, progress).await?;
            }
        }
    }

    /// Which of `events` the subscription carries: its filter, and what its owner may see now.
    async fn wanted(&self, webhook: &Webhook, events: &[Arc<StreamedEvent>]) -> Vec<bool> {
        let filter = EventFilter {
            types: webhook.event_types.clone(),
            workspace: webhook.workspace,
            authentication: None,
        };
        let owner = Principal::User(webhook.owner);
        let model = self.app.model().model().read().await;
        let active = model.directory.is_active(webhook.owner);
        events
            .iter()
            .map(|event| {
                active
                    && filter.matches(event)
                    && event_visible(&model.directory, &owner, event.scope)
            })
            .collect()
    }

    /// Delivers one event, retrying until the receiver takes it, the retry period is over
    /// (the subscription is disabled) or the subscription changes.
    async fn deliver(
        &mut self,
        webhook: &Webhook,
        event: &StreamedEvent,
        mut progress: DeliveryProgress,
    ) -> Result<Delivery, AppError> {
        let settings = self.app.webhook_settings;
        // The same JSON as the stream's `data`.
        let body = event.json().as_bytes();
        let url = self.app.receiver_url(webhook)?;
        let secret = self.app.webhook_secret(self.id)?;
        loop {
            let at = Timestamp::now();
            let clock = Instant::now();
            let outcome = post(&self.app, &url, &secret, event, body).await;
            self.attempts += 1;
            let mut attempt = DeliveryAttempt {
                attempt: self.attempts,
                position: event.position,
                event_id: event.event_id.0,
                event_type: event.event_type.clone(),
                at,
                duration_ms: clock.elapsed().as_millis().min(u64::MAX as u128) as u64,
                outcome: outcome.clone(),
                next_attempt_at: None,
            };
            let reason = match outcome {
                AttemptOutcome::Delivered { .. } => {
                    self.app.webhook_log.record(self.id, &attempt)?;
                    self.app
                        .webhook_log
                        .set_progress(
                            self.id,
                            DeliveryProgress {
                                delivered_through: event.position,
                                failing_since: None,
                                failed_attempts: 0,
                            },
                        )
                        .await?;
                    return Ok(Delivery::Delivered);
                }
                AttemptOutcome::Failed { reason, .. } => reason,
            };
            progress.failed_attempts = progress.failed_attempts.saturating_add(1);
            let since = *progress.failing_since.get_or_insert(at);
            let failing_for = Duration::from_micros((Timestamp::now().0 - since.0).max(0) as u64);
            if failing_for >= settings.retry_for {
                self.app.webhook_log.record(self.id, &attempt)?;
                self.app.webhook_log.set_progress(self.id, progress).await?;
                tracing::warn!(webhook = %self.id, position = event.position, "a webhook receiver failed for the whole retry period; the subscription is disabled");
                match self
                    .app
                    .disable_webhook(self.id, reason, event.position)
                    .await
                {
                    // Changed meanwhile (removed, or its owner acted): the lane looks again.
                    Ok(())
                    | Err(AppError::VersionMismatch { .. })
                    | Err(AppError::Conflict(_))
                    | Err(AppError::Webhook(_)) => {}
                    Err(e) => return Err(e),
                }
                return Ok(Delivery::Stopped);
            }
            let wait = settings.retry_after(progress.failed_attempts);
            attempt.next_attempt_at = Some(Timestamp(
                Timestamp::now().0 + wait.as_micros().min(i64::MAX as u128) as i64,
            ));
            self.app.webhook_log.record(self.id, &attempt)?;
            self.app.webhook_log.set_progress(self.id, progress).await?;
            if !self.wait_unless_changed(wait).await {
                return Ok(Delivery::Stopped);
            }
        }
    }

    /// Waits for the feed to bring something, or a while.
    async fn wait_for_news(&mut self) {
        tokio::select! {
            _ = self.live.recv() => {}
            _ = tokio::time::sleep(IDLE_RECHECK) => {}
        }
    }

    /// Waits `wait`; `false` as soon as an event of this subscription's stream arrives (it
    /// was removed or changed: the lane looks at it again).
    async fn wait_unless_changed(&mut self, wait: Duration) -> bool {
        let stream = payloads::webhook_stream(self.id);
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                received = self.live.recv() => match received {
                    Ok(event) if event.stream == stream.as_str() => return false,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
            }
        }
    }
}

/// One attempt: the event's description, signed, posted through the outbound policy.
async fn post(
    app: &App,
    url: &str,
    secret: &WebhookSecret,
    event: &PublicEvent,
    body: &[u8],
) -> AttemptOutcome {
    let settings = app.webhook_settings;
    let failed = |status: Option<u16>, reason: String| AttemptOutcome::Failed { status, reason };
    let parsed = match settings.policy.check_url(url) {
        Ok(parsed) => parsed,
        Err(e) => return failed(None, e.to_string()),
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let client = match settings.policy.client_for(&parsed).await {
        Ok(client) => client,
        Err(e) => return failed(None, e.to_string()),
    };
    let message_id = event.event_id.0.to_string();
    let timestamp = Timestamp::now().0 / 1_000_000;
    let signature = secret.sign(&message_id, timestamp, body);
    let sent = client
        .post(parsed)
        .timeout(settings.attempt_timeout)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("credledger/", env!("CARGO_PKG_VERSION")),
        )
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(answer) if answer.status().is_success() => AttemptOutcome::Delivered {
            status: answer.status().as_u16(),
        },
        Ok(answer) => failed(
            Some(answer.status().as_u16()),
            format!("{host} answered {}", answer.status().as_u16()),
        ),
        Err(e) if e.is_timeout() => failed(
            None,
            format!(
                "{host} did not answer within {} s",
                settings.attempt_timeout.as_secs_f64()
            ),
        ),
        Err(e) if e.is_connect() => failed(None, format!("could not connect to {host}")),
        Err(e) => failed(None, format!("{host}: {}", e.without_url())),
    }
}
