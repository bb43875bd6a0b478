//! `GET /v1/events`: the event stream as server-sent events. Each SSE event's `id` is the
//! log position, its `event` the event type and its `data` the public description (JSON);
//! a client that falls behind gets a last `overflow` event naming where to resume.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::{EventFilter, ResumeSource, StreamItem};
use crate::domain::ids::{AuthenticationId, WorkspaceId};
use crate::http::dto::parse_id;
use crate::http::error::ApiError;
use crate::http::extract::{bearer_token, ApiQuery, Authenticated};
use crate::http::openapi::{
    BadRequest, FieldChangeKindSchema, FingerprintSchema, ProblemSchema, TimeSchema, Unauthorized,
};
use crate::http::SharedState;

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Resume after this position (`0`: the whole log). Without it (and without a
    /// `Last-Event-ID` header) the stream starts at the end of the log.
    #[param(minimum = 0)]
    from: Option<String>,
    /// Only these event types, comma-separated (e.g. `authentication.created,access.resolved`).
    types: Option<String>,
    /// Only events touching this workspace.
    #[param(format = Uuid)]
    workspace: Option<String>,
    /// Only events about this authentication.
    #[param(format = Uuid)]
    authentication: Option<String>,
}

/// A changed field of an event: its name and fingerprints, never a value.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventField)]
pub struct ChangedFieldSchema {
    /// Field name.
    pub field: String,
    /// What happened to it.
    pub change: FieldChangeKindSchema,
    /// Whether the field is secret.
    pub secret: bool,
    /// Fingerprint of the new secret value.
    #[schema(required = true)]
    pub fingerprint: Option<FingerprintSchema>,
    /// Fingerprint of the secret value before the change.
    #[schema(required = true)]
    pub previous_fingerprint: Option<FingerprintSchema>,
}

/// The `data` of one SSE event (and the body of a webhook delivery).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct PublicEventSchema {
    /// Log position; the SSE `id`, and what `Last-Event-ID` / `from` resume after.
    pub position: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// Stable event type (see docs/event-catalog.md).
    pub event_type: String,
    /// When the ledger recorded it.
    pub recorded_at: TimeSchema,
    /// The stream it belongs to, e.g. `authentication-<uuid>`.
    pub stream: String,
    /// The stream's version after it.
    pub version: u64,
    /// The principal, e.g. `user:<uuid>`, `runner:<uuid>`, `system`.
    pub actor: String,
    /// How it authenticated: `api_token`, `cli` or `system`.
    pub auth_method: String,
    /// `dashboard`, `api`, `workflow_step`, `system` or `cli`.
    pub origin: String,
    /// The workflow step, for events made from one.
    #[schema(required = true)]
    pub workflow: Option<super::audit::WorkflowSchema>,
    /// The authentication concerned.
    #[schema(required = true)]
    pub authentication: Option<Uuid>,
    /// The workspace concerned.
    #[schema(required = true)]
    pub workspace: Option<Uuid>,
    /// Changed fields, names and fingerprints only.
    pub fields: Vec<ChangedFieldSchema>,
}

/// A position as the stream gave it out.
fn position(field: &str, raw: &str) -> Result<u64, ApiError> {
    raw.trim()
        .parse::<u64>()
        .map_err(|_| ApiError::malformed(field, "is not a position this stream gave out"))
}

fn filter_of(params: &EventParams) -> Result<EventFilter, ApiError> {
    let types = match params.types.as_deref() {
        None => Vec::new(),
        Some(raw) => raw
            .split(',')
            .map(|t| super::audit::checked_event_type("types", t.trim()))
            .collect::<Result<_, _>>()?,
    };
    Ok(EventFilter {
        types,
        workspace: params
            .workspace
            .as_deref()
            .map(|raw| parse_id::<WorkspaceId>("workspace", raw))
            .transpose()?,
        authentication: params
            .authentication
            .as_deref()
            .map(|raw| parse_id::<AuthenticationId>("authentication", raw))
            .transpose()?,
    })
}

/// Where to resume: a reconnecting client's `Last-Event-ID` wins over `from`.
fn resume_of(
    params: &EventParams,
    headers: &HeaderMap,
) -> Result<Option<(u64, ResumeSource)>, ApiError> {
    if let Some(value) = headers.get("last-event-id") {
        let text = value
            .to_str()
            .map_err(|_| ApiError::malformed("last-event-id", "is not text"))?;
        return Ok(Some((
            position("last-event-id", text)?,
            ResumeSource::LastEventId,
        )));
    }
    params
        .from
        .as_deref()
        .map(|raw| Ok((position("from", raw)?, ResumeSource::From)))
        .transpose()
}

fn sse_event(item: StreamItem) -> Result<Event, Infallible> {
    Ok(match item {
        // Serialized once by the feed, not once per subscriber.
        StreamItem::Event(event) => Event::default()
            .id(event.position.to_string())
            .event(event.event_type.as_str())
            .data(event.json()),
        StreamItem::Overflow { resume_after } => Event::default()
            .id(resume_after.to_string())
            .event("overflow")
            .data(serde_json::json!({ "resume_after": resume_after }).to_string()),
    })
}

/// `GET /v1/events`.
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "streamEvents",
    tag = "events",
    summary = "Follow the ledger's events (server-sent events)",
    description = "A `text/event-stream` of the events the caller may see (the same rule as reading the workspace now: a user never sees another's personal workspace, auditors see everything, runners are refused), oldest first. Each SSE event has `id` = the log position, `event` = the event type and `data` = the event described publicly (no value, secret or plain; fingerprints of changed secret fields). Resume after a position with `from` or the `Last-Event-ID` header: nothing is skipped or repeated. Idle streams get a comment line as a heartbeat (every 15 s by default). A client that reads too slowly gets a last event `overflow` whose `id` and `data.resume_after` name the position to resume after, and the stream ends. See docs/events.md.",
    params(EventParams),
    responses(
        (status = 200, description = "The stream; each `data` is an Event.", body = PublicEventSchema, content_type = "text/event-stream"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Workflow runners resolve and follow no events.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "As many event streams are open as the server allows, or the event feed has stopped (`field`: `events`); retry later.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn stream(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = filter_of(&params)?;
    let after = resume_of(&params, &headers)?;
    // The stream lives only as long as the token it was opened with (revoked or expired, it
    // ends); the extractor has just accepted it, so it is found unless revoked since.
    let token = bearer_token(&headers).unwrap_or_default();
    let credential = state
        .app
        .live_token_id(token)
        .await
        .ok_or_else(ApiError::token_not_valid)?;
    let opened = state
        .app
        .open_event_stream(who.0, credential, filter, after)?;
    let heartbeat = state.app.event_stream_settings().heartbeat;
    let events = ReceiverStream::new(opened.items).map(sse_event);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")))
}
