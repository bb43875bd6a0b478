//! Audit and time travel: `GET /v1/audit` (JSON pages, NDJSON and CSV exports streamed),
//! a workspace's authentications as of a time, and who could use an authentication then.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::{App, AuditQuery, UsableAsOf};
use crate::domain::ids::{AuthenticationId, WorkspaceId};
use crate::domain::principals::{AuditScope, Principal};
use crate::http::dto::{parse_id, parse_time};
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, Authenticated};
use crate::http::openapi::{
    AuthenticationSchema, BadRequest, FieldDiffSchema, ProblemSchema, RunnerRefused, TimeSchema,
    Unauthorized,
};
use crate::http::SharedState;
use crate::projections::{AuditFilter, AuditOrder, AuditRecord, AuthenticationView, Outcome};

/// Default and largest page of `GET /v1/audit`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Records fetched per step of an export.
const EXPORT_CHUNK: usize = 500;

/// Query of `GET /v1/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only records by this principal: `user:<uuid>`, `runner:<uuid>`, `auditor:<uuid>`, `system`.
    pub(crate) actor: Option<String>,
    /// Only records about this authentication (its changes and access records).
    #[param(format = Uuid)]
    pub(crate) authentication: Option<String>,
    /// Only records touching this workspace.
    #[param(format = Uuid)]
    pub(crate) workspace: Option<String>,
    /// Only this event type, e.g. `authentication.reauthenticated` or `access.resolved`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub(crate) event_type: Option<String>,
    /// `succeeded` or `refused`.
    pub(crate) outcome: Option<String>,
    /// Recorded at or after this time (RFC 3339 or Unix seconds).
    pub(crate) from: Option<String>,
    /// Recorded before this time (RFC 3339 or Unix seconds).
    pub(crate) to: Option<String>,
    /// `newest` (default) or `oldest` first.
    pub(crate) order: Option<String>,
    /// Page size: default 100, at most 1000. Exports ignore it and stream every match.
    #[param(minimum = 1)]
    pub(crate) limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// `json` (default), `ndjson` or `csv`; or ask with `Accept: application/x-ndjson` / `text/csv`.
    pub(crate) format: Option<String>,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditRecord)]
pub struct AuditRecordSchema {
    /// Log position; also what cursors point at.
    pub position: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// When the ledger recorded it.
    pub recorded_at: TimeSchema,
    /// Stable event type.
    pub event_type: String,
    /// `succeeded` or `refused`.
    pub outcome: String,
    /// The principal, e.g. `user:<uuid>`, `runner:<uuid>`, `system`.
    pub actor: String,
    /// How it authenticated: `api_token`, `cli` or `system`.
    pub auth_method: String,
    /// `dashboard`, `api`, `workflow_step`, `system` or `cli`.
    pub origin: String,
    /// The workflow step, for records made from one.
    #[schema(required = true)]
    pub workflow: Option<WorkflowSchema>,
    /// What it is about, as `kind:id` (`authentication:<uuid>`, `workspace:<uuid>`, `token:<uuid>`, …).
    pub resource: String,
    /// The authentication concerned.
    #[schema(required = true)]
    pub authentication: Option<Uuid>,
    /// The workspace concerned.
    #[schema(required = true)]
    pub workspace: Option<Uuid>,
    /// Per-field changes with fingerprints (settings changes).
    pub fields: Vec<FieldDiffSchema>,
    /// Fields resolved or asked for (access records).
    pub accessed_fields: Vec<String>,
    /// Event details (names, roles, scopes, reasons; any JSON value, `null` when none); never secrets.
    pub detail: serde_json::Value,
    /// Ties together the events of one request.
    pub correlation_id: Uuid,
}

/// A workflow step.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditWorkflow)]
pub struct WorkflowSchema {
    /// Workflow id.
    pub workflow_id: String,
    /// Step id.
    pub step_id: String,
}

/// One page of `GET /v1/audit`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPageSchema {
    /// The records, in the asked order.
    pub items: Vec<AuditRecordSchema>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
struct AuditPageBody {
    items: Vec<AuditRecord>,
    next_cursor: Option<String>,
}

/// How audit records are answered: one JSON page, or an export of every match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One page.
    Json,
    /// Every match, one JSON record a line.
    Ndjson,
    /// Every match, CSV with a header line.
    Csv,
}

fn format_of(params: &AuditParams, headers: &HeaderMap) -> Result<Format, ApiError> {
    match params.format.as_deref() {
        Some("json") => return Ok(Format::Json),
        Some("ndjson") => return Ok(Format::Ndjson),
        Some("csv") => return Ok(Format::Csv),
        Some(other) => {
            return Err(ApiError::malformed(
                "format",
                format!("{other:?} is not json, ndjson or csv"),
            ))
        }
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(if accept.contains("application/x-ndjson") {
        Format::Ndjson
    } else if accept.contains("text/csv") {
        Format::Csv
    } else {
        Format::Json
    })
}

/// Principals as audit records name them. A filter in another form could never match, so it
/// is refused rather than answered with an empty page.
fn checked_actor(raw: &str) -> Result<String, ApiError> {
    let known = match raw.split_once(':') {
        None => matches!(raw, "system" | "cli"),
        Some((kind, id)) => {
            matches!(kind, "user" | "runner" | "auditor") && Uuid::parse_str(id).is_ok()
        }
    };
    if known {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::malformed(
            "actor",
            "must be user:<uuid>, runner:<uuid>, auditor:<uuid>, system or cli",
        ))
    }
}

/// Every event type the ledger writes.
pub(crate) fn event_types() -> impl Iterator<Item = &'static str> {
    use crate::domain::{access_log, authentication, directory, keys, principals, services};
    authentication::AUTHENTICATION_EVENT_TYPES
        .into_iter()
        .chain(access_log::AccessEvent::TYPES)
        .chain(directory::DirectoryEvent::TYPES)
        .chain(principals::TokenEvent::TYPES)
        .chain(crate::domain::token_scope::TokenUseEvent::TYPES)
        .chain(services::CustomServiceEvent::TYPES)
        .chain(keys::KeysEvent::TYPES)
        .chain(crate::domain::webhooks::WebhookEvent::TYPES)
}

/// An event type of this ledger, or a refusal naming `field`.
pub(crate) fn checked_event_type(field: &str, raw: &str) -> Result<String, ApiError> {
    if event_types().any(|t| t == raw) {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::malformed(
            field,
            "is not an event type of this ledger (see docs/event-catalog.md, e.g. authentication.created or access.resolved)",
        ))
    }
}

/// The query `params` ask for, or the problem naming the first bad one.
pub(crate) fn query_of(params: &AuditParams) -> Result<AuditQuery, ApiError> {
    let filter = AuditFilter {
        actor: params.actor.as_deref().map(checked_actor).transpose()?,
        authentication: params
            .authentication
            .as_deref()
            .map(|raw| parse_id::<AuthenticationId>("authentication", raw))
            .transpose()?,
        workspace: params
            .workspace
            .as_deref()
            .map(|raw| parse_id::<WorkspaceId>("workspace", raw))
            .transpose()?,
        event_type: params
            .event_type
            .as_deref()
            .map(|raw| checked_event_type("type", raw))
            .transpose()?,
        outcome: match params.outcome.as_deref() {
            None => None,
            Some("succeeded") => Some(Outcome::Succeeded),
            Some("refused") => Some(Outcome::Refused),
            Some(other) => {
                return Err(ApiError::malformed(
                    "outcome",
                    format!("{other:?} is not succeeded or refused"),
                ))
            }
        },
        from: params
            .from
            .as_deref()
            .map(|raw| parse_time("from", raw))
            .transpose()?,
        to: params
            .to
            .as_deref()
            .map(|raw| parse_time("to", raw))
            .transpose()?,
        within: None,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from > to {
            return Err(ApiError::malformed("to", "is before from"));
        }
    }
    let order = match params.order.as_deref() {
        None | Some("newest") => AuditOrder::NewestFirst,
        Some("oldest") => AuditOrder::OldestFirst,
        Some(other) => {
            return Err(ApiError::malformed(
                "order",
                format!("{other:?} is not newest or oldest"),
            ))
        }
    };
    let after = params
        .cursor
        .as_deref()
        .map(|raw| {
            raw.parse::<u64>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| ApiError::malformed("cursor", "is not a cursor this API gave out"))
        })
        .transpose()?;
    let limit = match params.limit {
        Some(0) => return Err(ApiError::malformed("limit", "must be at least 1")),
        Some(n) if n > MAX_LIMIT => {
            return Err(ApiError::malformed(
                "limit",
                format!("must be at most {MAX_LIMIT}"),
            ))
        }
        Some(n) => n,
        None => DEFAULT_LIMIT,
    };
    Ok(AuditQuery {
        filter,
        order,
        after,
        limit,
    })
}

/// The workspaces whose records the caller reads (`None`: every record), or 403
/// (`domain::principals::audit_scope`).
pub(crate) async fn readable_workspaces(
    app: &App,
    principal: &Principal,
) -> Result<Option<Vec<WorkspaceId>>, ApiError> {
    Ok(match app.audit_scope(principal).await? {
        AuditScope::Everything => None,
        AuditScope::Workspaces(workspaces) => Some(workspaces),
    })
}

/// The next page of an export, encoded: the bytes and the cursor after them. Any failure,
/// reading or encoding, cuts the export (the caller says so to the client).
async fn export_chunk(
    app: &crate::app::App,
    query: &AuditQuery,
    format: Format,
) -> Result<(String, Option<u64>), String> {
    let page = app.audit(query).await.map_err(|e| e.to_string())?;
    let mut chunk = String::new();
    for record in &page.records {
        match format {
            Format::Csv => chunk.push_str(&record.csv_row().map_err(|e| e.to_string())?),
            _ => {
                chunk.push_str(&serde_json::to_string(record).map_err(|e| e.to_string())?);
                chunk.push('\n');
            }
        }
    }
    Ok((chunk, page.next))
}

/// `GET /v1/audit`.
#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "audit",
    tag = "audit",
    summary = "Query audit records",
    description = "Every event of the ledger is an audit record: changes to authentications (with per-field overridden/kept/cleared and fingerprints), the directory, tokens and services, every resolution of `$.auth.*` values (`access.resolved`) and every attempt refused for lack of rights (`access.refused`). Filters combine (all must match); pages are cursor-based, newest first by default. `format=ndjson` / `format=csv` (or the `Accept` header) stream every matching record as an export instead of one page. Never contains a secret value. Auditors read every record; organization owners/admins the records touching the shared and organization workspaces of the organizations they administer (including membership and role changes of those organizations); everyone else gets 403.",
    params(AuditParams),
    responses(
        (status = 200, description = "One page (JSON), or every match as NDJSON (`application/x-ndjson`) or CSV (`text/csv`).", body = AuditPageSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not an auditor or an organization owner/admin.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn audit(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let scope = readable_workspaces(&state.app, &who.0).await?;
    let format = format_of(&params, &headers)?;
    let mut query = query_of(&params)?;
    query.filter.within = scope;
    if format == Format::Json {
        let page = state.app.audit(&query).await?;
        return Ok(Json(AuditPageBody {
            items: page.records,
            next_cursor: page.next.map(|p| p.to_string()),
        })
        .into_response());
    }
    Ok(export(state.app.clone(), query, format))
}

/// Every record `query` matches, streamed as NDJSON or CSV (`format` `Json` answers NDJSON).
/// The dashboard's downloads are this same answer.
pub(crate) fn export(app: Arc<App>, mut query: AuditQuery, format: Format) -> Response {
    // Exports: pages are fetched and written one at a time into a small channel, so memory
    // stays bounded whatever the size of the ledger; a slow client slows the producer.
    query.limit = EXPORT_CHUNK;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        if format == Format::Csv
            && tx
                .send(Ok(Bytes::from_static(AuditRecord::CSV_HEADER.as_bytes())))
                .await
                .is_err()
        {
            return;
        }
        loop {
            let (chunk, next) = match export_chunk(&app, &query, format).await {
                Ok(done) => done,
                Err(error) => {
                    tracing::error!(%error, "audit export stopped");
                    // The client sees a cut stream, never a silently short export.
                    let _ = tx
                        .send(Err(std::io::Error::other("audit export failed")))
                        .await;
                    return;
                }
            };
            if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return; // The client went away.
            }
            match next {
                Some(next) => query.after = Some(next),
                None => return,
            }
        }
    });
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        _ => "application/x-ndjson",
    };
    let mut response = Body::from_stream(ReceiverStream::new(rx)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Query of the as-of reads.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AsOfParams {
    /// The time (RFC 3339 or Unix seconds).
    as_of: String,
    /// Include authentications that were deleted at that time (default `false`).
    #[serde(default)]
    include_deleted: bool,
}

/// `GET /v1/workspaces/{id}/authentications?as_of=`.
#[utoipa::path(
    get,
    path = "/v1/workspaces/{id}/authentications",
    operation_id = "workspaceAsOf",
    tag = "audit",
    summary = "A workspace's authentications as of a time",
    description = "The authentications that were in the workspace at `as_of`, each as it was then (name, fields with fingerprints, version), folded from the log. Auditors, and users who may see the workspace now.",
    params(("id" = uuid::Uuid, Path, description = "The workspace's id."), AsOfParams),
    responses(
        (status = 200, description = "The authentications then, by name.", body = Vec<AuthenticationSchema>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = RunnerRefused),
        (status = 404, description = "No such workspace, or the caller may not see it.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn workspace_as_of(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> Result<Json<Vec<AuthenticationView>>, ApiError> {
    let workspace = parse_id::<WorkspaceId>("id", &raw)?;
    let at = parse_time("as_of", &params.as_of)?;
    Ok(Json(
        state
            .app
            .workspace_as_of_for(&who.0, workspace, at, params.include_deleted)
            .await?,
    ))
}

/// Query of `GET /v1/authentications/{id}/usable-by`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsableByParams {
    /// The time (RFC 3339 or Unix seconds); default now.
    as_of: Option<String>,
}

/// Who could use an authentication at a time.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UsableAsOf)]
pub struct UsableAsOfSchema {
    /// The authentication.
    pub authentication: Uuid,
    /// The time asked about.
    pub as_of: TimeSchema,
    /// Its version then.
    pub version: u64,
    /// Its workspace then.
    pub workspace: Uuid,
    /// `active`, `deleted` or `purged` then; only active ones are usable.
    pub lifecycle: String,
    /// The users who could use it.
    pub users: Vec<UsableBySchema>,
}

/// A user who could use an authentication.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UsableBy)]
pub struct UsableBySchema {
    /// The user.
    pub user: Uuid,
    /// Their name then.
    pub name: String,
    /// The role that allowed it: `personal workspace owner`, `workspace editor`, `organization admin`, …
    pub because: String,
}

/// `GET /v1/authentications/{id}/usable-by?as_of=`.
#[utoipa::path(
    get,
    path = "/v1/authentications/{id}/usable-by",
    operation_id = "usableBy",
    tag = "audit",
    summary = "Who could use an authentication at a time",
    description = "From the directory and the authentication as they both were at `as_of` (default now): its workspace and lifecycle then, and every user whose role allowed using it, with that role. Auditors, and users who may see the authentication now.",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id."), UsableByParams),
    responses(
        (status = 200, description = "Who could use it.", body = UsableAsOfSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = RunnerRefused),
        (status = 404, description = "No such authentication, the caller may not see it, or it did not exist at that time.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn usable_by(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(params): ApiQuery<UsableByParams>,
) -> Result<Json<UsableAsOf>, ApiError> {
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    let at = match &params.as_of {
        Some(raw) => parse_time("as_of", raw)?,
        None => crate::time::Timestamp::now(),
    };
    Ok(Json(state.app.usable_by_as_of_for(&who.0, id, at).await?))
}
