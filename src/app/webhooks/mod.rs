//! Webhook subscriptions for a caller: subscribe a URL (checked against the outbound policy,
//! sealed under the subscription's own data key), list and read one's own, remove, and
//! enable again after the system disabled one. The deliveries themselves run in
//! [`delivery`]; where they stand and what each attempt got is in [`log`].
//!
//! Only the owner sees or changes a subscription: anyone else gets the answer of one that
//! does not exist. The signing secret is derived from the data key
//! ([`crate::crypto::WebhookSecret`]), so an idempotent replay of a subscribe answers with
//! the same secret without any stored answer holding it.

mod delivery;
pub mod log;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::crypto::{SecretString, WebhookSecret};
use crate::domain::ids::{UserId, WebhookId, WorkspaceId};
use crate::domain::services::OpaqueSealed;
use crate::domain::webhooks::{
    decide_webhook, Webhook, WebhookActor, WebhookCommand, WebhookError, WebhookEvent,
    MAX_URL_BYTES,
};
use crate::ledger::{codec, StoreError};
use crate::oauth::endpoint::EndpointPolicy;
use crate::projections::payloads;

pub use delivery::run_webhook_deliveries;
pub use log::{AttemptOutcome, DeliveryAttempt, DeliveryLog, DeliveryProgress};

use super::{App, AppError, Caller};

/// What the sealed receiver URL is bound to besides its subscription.
const URL_FIELD: &str = "webhook.url";
/// Attempts one page of the delivery log shows at most.
pub const MAX_ATTEMPTS_PAGE: usize = 200;

/// How deliveries run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Which receivers may be called (https, public addresses; the development flag lifts it).
    pub policy: EndpointPolicy,
    /// The wait before the first retry; each further wait doubles it.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_retry_interval: Duration,
    /// How long an event is retried before the subscription is disabled.
    pub retry_for: Duration,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            policy: EndpointPolicy::strict(),
            first_retry: Duration::from_secs(5),
            max_retry_interval: Duration::from_secs(3600),
            retry_for: Duration::from_secs(24 * 3600),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// The wait after the `failed`-th failed attempt (1: the first): doubling from
    /// [`WebhookSettings::first_retry`], at most [`WebhookSettings::max_retry_interval`].
    pub fn retry_after(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(30);
        self.first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_retry_interval)
    }
}

/// What a subscribe asks for. No `Debug`: the URL may hold the receiver's credential.
#[derive(Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// The receiver URL.
    pub url: String,
    /// Only these event types (empty: every type); checked by the caller's edge.
    pub event_types: Vec<String>,
    /// Only events touching this workspace.
    pub workspace: Option<WorkspaceId>,
    /// Free text.
    pub description: String,
}

/// A new subscription and its signing secret.
#[derive(Debug)]
pub struct SubscribedWebhook {
    /// The subscription, with where its deliveries stand.
    pub view: WebhookView,
    /// Its signing secret (`whsec_…`): for the receiver, shown in this answer only.
    pub secret: SecretString,
    /// Whether this is the answer of an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// A subscription with where its deliveries stand.
#[derive(Debug, Clone)]
pub struct WebhookView {
    /// The subscription.
    pub webhook: Webhook,
    /// Its progress (`None`: no delivery has run yet).
    pub progress: Option<DeliveryProgress>,
}

/// What a subscribe stores as its idempotency answer: the id, from which the answer (and the
/// secret) is rebuilt.
#[derive(Serialize, Deserialize)]
struct SubscribeAnswer {
    webhook: uuid::Uuid,
}

impl App {
    /// Webhook delivery attempts since start: (delivered, failed).
    pub fn webhook_attempt_counts(&self) -> (u64, u64) {
        self.webhook_log.counts()
    }

    /// Subscribes a URL of the caller's to the events they may see.
    pub async fn subscribe_webhook(
        &self,
        caller: &Caller,
        id: WebhookId,
        new: NewWebhook,
    ) -> Result<SubscribedWebhook, AppError> {
        if let Some(earlier) = self.earlier_outcome(caller).await? {
            let answer: SubscribeAnswer =
                codec::decode(earlier.replayed_answer.as_deref().unwrap_or_default())
                    .map_err(StoreError::from)?;
            let id = WebhookId::from_uuid(answer.webhook);
            return Ok(SubscribedWebhook {
                view: self.webhook(caller.user, id).await?,
                secret: self.webhook_secret(id)?.to_text(),
                replayed: true,
            });
        }
        let receiver = self.checked_receiver(&new.url)?;
        let command = |url: OpaqueSealed| WebhookCommand::Subscribe {
            webhook: id,
            receiver: receiver.clone(),
            url,
            event_types: new.event_types.clone(),
            workspace: new.workspace,
            description: new.description.clone(),
        };
        let _one_at_a_time = self.webhook_gate.lock().await;
        // Decided once before sealing, so a refused request creates no data key.
        self.decide_webhook_for(caller.user, id, command(unsealed()))
            .await?;
        let sealed = self.seal_url(id, &new.url)?;
        // Noted before the append, so a subscription that never got further (a crash) is
        // found by the clean-up of removed ones.
        self.webhook_log
            .set_progress(id, DeliveryProgress::default())
            .await?;
        let events = self
            .decide_webhook_for(caller.user, id, command(sealed))
            .await?;
        let answer = codec::encode(&SubscribeAnswer {
            webhook: id.as_uuid(),
        })
        .map_err(StoreError::from)?;
        self.append_webhook(caller, id, 0, &events, answer).await?;
        Ok(SubscribedWebhook {
            view: self.webhook(caller.user, id).await?,
            secret: self.webhook_secret(id)?.to_text(),
            replayed: false,
        })
    }

    /// The caller's subscriptions, oldest first.
    pub async fn webhooks_of(&self, user: UserId) -> Result<Vec<WebhookView>, AppError> {
        let mine: Vec<Webhook> = {
            let model = self.model().model().read().await;
            model
                .webhooks
                .values()
                .filter(|w| w.owner == user)
                .cloned()
                .collect()
        };
        mine.into_iter()
            .map(|webhook| {
                Ok(WebhookView {
                    progress: self.webhook_log.progress(webhook.id)?,
                    webhook,
                })
            })
            .collect()
    }

    /// One of the caller's subscriptions.
    pub async fn webhook(&self, user: UserId, id: WebhookId) -> Result<WebhookView, AppError> {
        let webhook = self.owned_webhook(user, id).await?;
        Ok(WebhookView {
            progress: self.webhook_log.progress(id)?,
            webhook,
        })
    }

    /// Up to `limit` delivery attempts of one of the caller's subscriptions, newest first,
    /// numbered below `before`.
    pub async fn webhook_attempts(
        &self,
        user: UserId,
        id: WebhookId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, AppError> {
        self.owned_webhook(user, id).await?;
        self.webhook_log
            .attempts(id, before, limit.clamp(1, MAX_ATTEMPTS_PAGE))
    }

    /// Removes one of the caller's subscriptions; its data key (and so its secret and sealed
    /// URL) is destroyed.
    pub async fn unsubscribe_webhook(
        &self,
        caller: &Caller,
        id: WebhookId,
    ) -> Result<(), AppError> {
        if self.earlier_outcome(caller).await?.is_none() {
            let _one_at_a_time = self.webhook_gate.lock().await;
            let (events, version) = self
                .decide_owned(caller.user, id, WebhookCommand::Unsubscribe)
                .await?;
            self.append_webhook(caller, id, version, &events, Vec::new())
                .await?;
        }
        self.forget_webhook(id)
    }

    /// Resumes one of the caller's subscriptions that the system disabled: deliveries go on
    /// with the event that was not delivered.
    pub async fn enable_webhook(
        &self,
        caller: &Caller,
        id: WebhookId,
    ) -> Result<WebhookView, AppError> {
        if self.earlier_outcome(caller).await?.is_none() {
            let _one_at_a_time = self.webhook_gate.lock().await;
            let (events, version) = self
                .decide_owned(caller.user, id, WebhookCommand::Enable)
                .await?;
            self.append_webhook(caller, id, version, &events, Vec::new())
                .await?;
            if let Some(mut progress) = self.webhook_log.progress(id)? {
                // A fresh retry period for the event that was not delivered.
                progress.failing_since = None;
                progress.failed_attempts = 0;
                self.webhook_log.set_progress(id, progress).await?;
            }
        }
        self.webhook(caller.user, id).await
    }

    /// The system stops a subscription whose receiver failed for the whole retry period.
    pub(crate) async fn disable_webhook(
        &self,
        id: WebhookId,
        reason: String,
        undelivered: u64,
    ) -> Result<(), AppError> {
        let system = super::system_caller();
        let _one_at_a_time = self.webhook_gate.lock().await;
        let (events, version) = {
            let model = self.model().model().read().await;
            let current = model.webhooks.get(&id);
            let version = current.map_or(0, |w| w.version);
            let command = WebhookCommand::Disable {
                reason,
                undelivered,
            };
            (
                decide_webhook(current, &model.directory, WebhookActor::System, 0, command)?,
                version,
            )
        };
        self.append_webhook(&system, id, version, &events, Vec::new())
            .await?;
        Ok(())
    }

    /// The signing secret of a subscription whose data key exists.
    fn webhook_secret(&self, id: WebhookId) -> Result<WebhookSecret, AppError> {
        let key = self
            .keys
            .get(id.as_uuid())?
            .ok_or(AppError::Webhook(WebhookError::NotFound))?;
        Ok(WebhookSecret::derive(&key, id.as_uuid()))
    }

    /// The receiver URL of a subscription, opened for a delivery.
    fn receiver_url(&self, webhook: &Webhook) -> Result<String, AppError> {
        let plain = self.open_opaque(webhook.id.as_uuid(), URL_FIELD, &webhook.url)?;
        String::from_utf8(plain.expose().to_vec()).map_err(|_| {
            AppError::Crypto(crate::crypto::CryptoError::OpenFailed {
                field: URL_FIELD.to_owned(),
            })
        })
    }

    /// Checks a receiver URL against the outbound policy (no name is resolved yet: that is
    /// done, and checked again, for every delivery) and returns its origin.
    fn checked_receiver(&self, url: &str) -> Result<String, AppError> {
        let refused = |reason: String| AppError::Webhook(WebhookError::Url { reason });
        if url.len() > MAX_URL_BYTES {
            return Err(refused(format!("at most {MAX_URL_BYTES} bytes")));
        }
        let parsed = self
            .webhook_settings
            .policy
            .check_url(url.trim())
            .map_err(|e| refused(e.to_string()))?;
        Ok(parsed.origin().ascii_serialization())
    }

    fn seal_url(&self, id: WebhookId, url: &str) -> Result<OpaqueSealed, AppError> {
        self.seal_opaque(id.as_uuid(), URL_FIELD, url.trim().as_bytes())
    }

    async fn owned_webhook(&self, user: UserId, id: WebhookId) -> Result<Webhook, AppError> {
        let model = self.model().model().read().await;
        match model.webhooks.get(&id) {
            Some(webhook) if webhook.owner == user => Ok(webhook.clone()),
            _ => Err(WebhookError::NotFound.into()),
        }
    }

    async fn decide_webhook_for(
        &self,
        user: UserId,
        id: WebhookId,
        command: WebhookCommand,
    ) -> Result<Vec<WebhookEvent>, AppError> {
        let model = self.model().model().read().await;
        let held = model.webhooks.values().filter(|w| w.owner == user).count();
        Ok(decide_webhook(
            model.webhooks.get(&id),
            &model.directory,
            WebhookActor::User(user),
            held,
            command,
        )?)
    }

    async fn decide_owned(
        &self,
        user: UserId,
        id: WebhookId,
        command: WebhookCommand,
    ) -> Result<(Vec<WebhookEvent>, u64), AppError> {
        let model = self.model().model().read().await;
        let current = model.webhooks.get(&id);
        let events = decide_webhook(
            current,
            &model.directory,
            WebhookActor::User(user),
            0,
            command,
        )?;
        Ok((events, current.map_or(0, |w| w.version)))
    }

    async fn append_webhook(
        &self,
        caller: &Caller,
        id: WebhookId,
        version: u64,
        events: &[WebhookEvent],
        answer: Vec<u8>,
    ) -> Result<(), AppError> {
        self.append_plain_applied(
            payloads::webhook_stream(id),
            version,
            caller,
            events,
            |e| (e.event_type(), e.schema_version()),
            answer,
        )
        .await?;
        Ok(())
    }

    /// Drops what a removed subscription left beside the log: its data key (so its secret and
    /// URL are gone for good) and its delivery log. Repeating it is harmless.
    fn forget_webhook(&self, id: WebhookId) -> Result<(), AppError> {
        if matches!(
            self.keys.status(id.as_uuid())?,
            crate::crypto::DataKeyStatus::Active { .. }
        ) {
            self.keys.destroy(id.as_uuid())?;
        }
        self.webhook_log.forget(id)
    }
}

/// A placeholder for the sealed URL: enough to decide whether a subscribe would be accepted.
fn unsealed() -> OpaqueSealed {
    OpaqueSealed {
        binding: uuid::Uuid::nil(),
        bytes: Vec::new(),
    }
}
