//! Resolution, health, metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::app::ResolveRequest;
use crate::domain::ids::{AuthenticationId, UserId, WorkspaceId};
use crate::http::dto::ResolveBody;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Authenticated};
use crate::http::openapi::{
    BadRequest, PayloadTooLarge, ProblemSchema, Unauthorized, UnsupportedMediaType,
};
use crate::http::SharedState;
use crate::ledger::EventStore;

/// The answer of `POST /v1/resolve`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResolvedBody {
    /// The template with every reference replaced by its value.
    pub resolved: serde_json::Value,
    /// The fields that were resolved.
    pub fields: Vec<String>,
}

/// `POST /v1/resolve`: users for themselves, workflow runners for the workflow's user.
#[utoipa::path(
    post,
    path = "/v1/resolve",
    operation_id = "resolve",
    tag = "resolve",
    summary = "Fill a template with credential values",
    description = "Replaces every `$.auth.<field>` reference in a JSON template (a whole string `$.auth.token`, or `{$.auth.token}` inside a string) with the value of that field of an authentication, for a workflow running in a workspace as a user. Users resolve for themselves; workflow runners for the workflow's user (`user` is then required); auditors never receive secrets. The authentication must be active, usable by the user, and reachable from the workflow's workspace (the same workspace, or the organization workspace of its organization). Every resolution is recorded in audit (`access.resolved`: who, which fields, which workflow step) before the values are returned, and every attempt refused for lack of rights is recorded too (`access.refused`); if the record cannot be written the request fails and nothing is returned. Not idempotent-guarded.",
    request_body(content = ResolveBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The filled template and the fields used. Contains secrets: never cache or log it.", body = ResolvedBody, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "An auditor, a user resolving for another user, or the authentication is not usable here: deleted, the user may not use it, or a workflow in that workspace may not use it.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 410, description = "Its secrets were destroyed (`secrets-destroyed`): a purge recorded after the point this ledger was recovered to destroyed the data key.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such authentication, or the user may not see it.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A runner gave no `user`, a malformed reference, a field the service does not have, a field that is not set, or bad workflow ids.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    State(state): State<SharedState>,
    who: Authenticated,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Response, ApiError> {
    let workflow = body.workflow.as_ref().map(|w| w.step_ref()).transpose()?;
    let accessor = who.accessor(workflow);
    let id = AuthenticationId::from_uuid(body.authentication);
    let named = body.user.map(UserId::from_uuid);
    let user = state
        .app
        .resolving_user(&accessor, &who.0, named, id)
        .await?;
    let request = ResolveRequest {
        authentication: id,
        workspace: WorkspaceId::from_uuid(body.workspace),
        user,
        template: body.template,
    };
    state.oauth.prepare_resolve(&accessor, &request).await?;
    // Values leave only after their access record is flushed.
    let resolved = state.app.resolve(&accessor, request).await?;
    let fields = resolved.fields().to_vec();
    let mut response = Json(ResolvedBody {
        resolved: resolved.into_value(),
        fields,
    })
    .into_response();
    // Resolved values are secrets: never cache them anywhere.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Liveness",
    description = "Answers `ok` while the process is up. No token needed.",
    responses(
        (status = 200, description = "The process is up.", body = String, content_type = "text/plain", example = "ok\n"),
    )
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the read model has caught up with the durable log.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Ready when the read model has applied every durable event of the log. No token needed.",
    responses(
        (status = 200, description = "Ready.", body = String, content_type = "text/plain", example = "ready\n"),
        (status = 503, description = "The read model is catching up.", body = String, content_type = "text/plain", example = "catching up: read model at 10 of 12\n"),
    )
)]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let head = state.app.store().head().position;
    let applied = state.app.model().applied();
    if applied >= head {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("catching up: read model at {applied} of {head}\n"),
        )
            .into_response();
        response
            .extensions_mut()
            .insert(crate::http::error::DocumentedPlainAnswer);
        response
    }
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Requests by route, method and status; latencies; the ledger head position and the read model's lag. No token needed.",
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain; version=0.0.4"),
    )
)]
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let text = state.metrics.render(crate::http::metrics::LedgerGauges {
        head: state.app.store().head().position,
        applied: state.app.model().applied(),
        event_streams_open: state.app.event_streams_open(),
        event_streams_overflowed: state.app.event_streams_overflowed(),
        webhook_attempts: state.app.webhook_attempt_counts(),
        token_refusals_unrecorded: state.app.unrecorded_token_refusals(),
    });
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
