//! Webhook subscriptions over HTTP: subscribe (the signing secret in that answer only), list
//! and read one's own with where deliveries stand, the delivery log, remove, enable again.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::webhooks::{AttemptOutcome, DeliveryAttempt, MAX_ATTEMPTS_PAGE};
use crate::app::{NewWebhook, WebhookView};
use crate::domain::ids::{WebhookId, WorkspaceId};
use crate::domain::webhooks::WebhookStatus;
use crate::http::dto::parse_id;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, Authenticated};
use crate::http::openapi::{
    BadRequest, IdempotencyKeyHeader, NotAUser, PayloadTooLarge, ProblemSchema, Unauthorized,
    UnsupportedMediaType,
};
use crate::http::SharedState;
use crate::time::Timestamp;

// No `Debug`: the URL may hold the receiver's credential.
/// `POST /v1/webhooks`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// Where deliveries are posted: `https`, a public address (http and local addresses only
    /// when the server runs with the development flag). Kept sealed; answers show only its
    /// scheme, host and port.
    pub url: String,
    /// Only these event types (default: every type the owner may see).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Only events touching this workspace.
    #[serde(default)]
    pub workspace: Option<Uuid>,
    /// Free text, at most 200 characters.
    #[serde(default)]
    pub description: String,
}

// No `Debug`: the answer that subscribes holds the signing secret.
/// A subscription.
#[derive(Serialize, ToSchema)]
pub struct WebhookBody {
    /// Its id.
    pub id: Uuid,
    /// The receiver's scheme, host and port (the rest of the URL is never shown).
    pub receiver: String,
    /// Only these event types (empty: every type).
    pub event_types: Vec<String>,
    /// Only events touching this workspace.
    #[schema(required = true)]
    pub workspace: Option<Uuid>,
    /// Free text.
    pub description: String,
    /// `active`, or `disabled` (the receiver failed for the whole retry period).
    pub status: &'static str,
    /// Why it was disabled.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    /// Every event up to this log position was delivered or was not for this subscription.
    pub delivered_through: u64,
    /// Since when the next event fails to be delivered.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub failing_since: Option<Timestamp>,
    /// Failed attempts at the next event.
    pub failed_attempts: u32,
    /// The subscription's version.
    pub version: u64,
    /// The signing secret (`whsec_…`, Standard Webhooks): only in the answer that subscribes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub secret: Option<String>,
}

impl WebhookBody {
    fn of(view: &WebhookView, secret: Option<String>) -> WebhookBody {
        let webhook = &view.webhook;
        let progress = view.progress.unwrap_or_default();
        let (status, disabled_reason) = match &webhook.status {
            WebhookStatus::Active => ("active", None),
            WebhookStatus::Disabled { reason, .. } => ("disabled", Some(reason.clone())),
        };
        WebhookBody {
            id: webhook.id.as_uuid(),
            receiver: webhook.receiver.clone(),
            event_types: webhook.event_types.clone(),
            workspace: webhook.workspace.map(|w| w.as_uuid()),
            description: webhook.description.clone(),
            status,
            disabled_reason,
            delivered_through: progress
                .delivered_through
                .max(webhook.subscribed_at.saturating_sub(1)),
            failing_since: progress.failing_since,
            failed_attempts: progress.failed_attempts,
            version: webhook.version,
            secret,
        }
    }
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptBody {
    /// Its number among the subscription's attempts.
    pub attempt: u64,
    /// The event's log position.
    pub position: u64,
    /// The event's id: the `webhook-id` header.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// When it started.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// How long it took (ms).
    pub duration_ms: u64,
    /// `delivered` or `failed`.
    pub outcome: &'static str,
    /// The receiver's status, if it answered.
    #[schema(required = true)]
    pub status: Option<u16>,
    /// Why it failed (never the answer's body).
    #[schema(required = true)]
    pub reason: Option<String>,
    /// When the next attempt is due.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_attempt_at: Option<Timestamp>,
}

impl From<DeliveryAttempt> for DeliveryAttemptBody {
    fn from(a: DeliveryAttempt) -> DeliveryAttemptBody {
        let (outcome, status, reason) = match a.outcome {
            AttemptOutcome::Delivered { status } => ("delivered", Some(status), None),
            AttemptOutcome::Failed { status, reason } => ("failed", status, Some(reason)),
        };
        DeliveryAttemptBody {
            attempt: a.attempt,
            position: a.position,
            event_id: a.event_id,
            event_type: a.event_type,
            at: a.at,
            duration_ms: a.duration_ms,
            outcome,
            status,
            reason,
            next_attempt_at: a.next_attempt_at,
        }
    }
}

/// A page of the delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptsPage {
    /// The attempts.
    pub items: Vec<DeliveryAttemptBody>,
    /// Pass as `before` for the next (older) page; absent on the last.
    #[schema(required = true)]
    pub next_before: Option<u64>,
}

/// Query of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptParams {
    /// Attempts numbered below this (from `next_before`).
    #[param(minimum = 1)]
    before: Option<u64>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    field: &str,
    n: T,
    least: T,
    most: T,
) -> Result<T, ApiError> {
    if n < least || n > most {
        return Err(ApiError::malformed(
            field,
            format!("must be from {least} to {most}"),
        ));
    }
    Ok(n)
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    parse_id::<WebhookId>("id", raw)
}

/// `POST /v1/webhooks`.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "createWebhook",
    tag = "events",
    summary = "Subscribe a URL to events",
    description = "Subscribes a receiver URL to the events the caller may see (the rule of `GET /v1/events`, applied with the directory as it is at each delivery), optionally only some types or one workspace. Each delivery is a POST of the event's JSON, signed in the Standard Webhooks layout (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the secret in this answer; retried with doubling waits for at least 24 h, in log order, at least once. A repeated `Idempotency-Key` answers with the same subscription and secret. See docs/events.md.",
    params(IdempotencyKeyHeader),
    request_body(content = NewWebhookBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Subscribed; `secret` is shown only here.", body = WebhookBody, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, description = "The workspace does not exist or the caller may not see it.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "A request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The URL is refused by the outbound policy (not https, a private or local address, user credentials, too long), too many event types, a long description, the caller holds 20 subscriptions, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_webhook(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewWebhookBody>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let event_types = body
        .event_types
        .iter()
        .map(|t| super::audit::checked_event_type("event_types", t.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let new = NewWebhook {
        url: body.url,
        event_types,
        workspace: body.workspace.map(WorkspaceId::from_uuid),
        description: body.description.trim().to_owned(),
    };
    let subscribed = state
        .app
        .subscribe_webhook(&caller, WebhookId::new(), new)
        .await?;
    let answer = WebhookBody::of(
        &subscribed.view,
        Some(subscribed.secret.expose().to_owned()),
    );
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /v1/webhooks`.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "events",
    summary = "List one's webhook subscriptions",
    description = "The caller's subscriptions with where their deliveries stand, never their URL beyond its origin and never their secret.",
    responses(
        (status = 200, description = "The subscriptions, oldest first.", body = Vec<WebhookBody>),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
    ),
    security(("bearer" = []))
)]
pub async fn list_webhooks(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let items: Vec<WebhookBody> = state
        .app
        .webhooks_of(user)
        .await?
        .iter()
        .map(|view| WebhookBody::of(view, None))
        .collect();
    Ok(Json(items).into_response())
}

/// `GET /v1/webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    operation_id = "getWebhook",
    tag = "events",
    summary = "Read one webhook subscription",
    description = "One of the caller's subscriptions. Anyone else's answers 404, like one that does not exist.",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id.")),
    responses(
        (status = 200, description = "The subscription.", body = WebhookBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, description = "No such subscription of the caller's.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_webhook(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let view = state.app.webhook(user, webhook_id(&raw)?).await?;
    Ok(Json(WebhookBody::of(&view, None)).into_response())
}

/// `GET /v1/webhooks/{id}/deliveries`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "events",
    summary = "The delivery log of a webhook subscription",
    description = "Every delivery attempt (the last 1000 are kept), newest first: the event, when, how long, the receiver's status or why no answer came, and when the next attempt is due.",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id."), AttemptParams),
    responses(
        (status = 200, description = "A page of attempts.", body = DeliveryAttemptsPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, description = "No such subscription of the caller's.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(params): ApiQuery<AttemptParams>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let id = webhook_id(&raw)?;
    let before = params
        .before
        .map(|n| in_range("before", n, 1, u64::MAX))
        .transpose()?;
    let limit = params
        .limit
        .map(|n| in_range("limit", n, 1, MAX_ATTEMPTS_PAGE))
        .transpose()?
        .unwrap_or(50);
    let attempts = state.app.webhook_attempts(user, id, before, limit).await?;
    let next_before = match attempts.last() {
        Some(last) if attempts.len() == limit && last.attempt > 1 => Some(last.attempt),
        _ => None,
    };
    Ok(Json(DeliveryAttemptsPage {
        items: attempts
            .into_iter()
            .map(DeliveryAttemptBody::from)
            .collect(),
        next_before,
    })
    .into_response())
}

/// `DELETE /v1/webhooks/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    operation_id = "deleteWebhook",
    tag = "events",
    summary = "Remove a webhook subscription",
    description = "Removes one of the caller's subscriptions: nothing more is delivered, and its secret and URL are destroyed (their data key is).",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id."), IdempotencyKeyHeader),
    responses(
        (status = 204, description = "Removed.", headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, description = "No such subscription of the caller's.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "A request with the same `Idempotency-Key` is still being processed, or a concurrent change.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "The `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_webhook(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    state
        .app
        .unsubscribe_webhook(&caller, webhook_id(&raw)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/webhooks/{id}/enable`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/enable",
    operation_id = "enableWebhook",
    tag = "events",
    summary = "Resume a disabled webhook subscription",
    description = "Resumes a subscription the system disabled after its receiver failed for the whole retry period: deliveries go on with the event that was not delivered, with a fresh retry period.",
    params(("id" = uuid::Uuid, Path, description = "The subscription's id."), IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Active again.", body = WebhookBody, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, description = "No such subscription of the caller's.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "It is already active, a concurrent change, or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "The `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn enable_webhook(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let id = webhook_id(&raw)?;
    let view = state.app.enable_webhook(&caller, id).await?;
    Ok(Json(WebhookBody::of(&view, None)).into_response())
}
