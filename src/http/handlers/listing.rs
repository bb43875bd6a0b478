//! `GET /v1/authentications`: the listing, its filters, its total and its pages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::domain::authentication::Lifecycle;
use crate::domain::ids::{EnvironmentTag, WorkspaceId};
use crate::domain::services::AuthKind;
use crate::http::dto::{parse_id, parse_service, parse_time};
use crate::http::error::ApiError;
use crate::http::extract::{ApiQuery, Authenticated};
use crate::http::openapi::{BadRequest, PageSchema, ProblemSchema, Unauthorized};
use crate::http::SharedState;
use crate::projections::{ListQuery, MAX_PAGE};

/// Query of `GET /v1/authentications`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Case-insensitive substring of the name.
    q: Option<String>,
    /// Only this workspace (a UUID).
    #[param(format = Uuid)]
    workspace: Option<String>,
    /// Only this service: a catalog key such as `slack`, or `custom:<uuid>`.
    service: Option<String>,
    /// Only this service API version.
    service_version: Option<String>,
    /// Only this environment tag (`tag` is accepted as another name for it).
    #[serde(alias = "tag")]
    #[param(pattern = "^[a-z0-9_-]{1,32}$")]
    environment: Option<String>,
    /// Only this auth kind.
    #[param(value_type = Option<crate::http::openapi::AuthKindSchema>)]
    kind: Option<AuthKind>,
    /// Only `active` or only `deleted` ones (purged ones are never listed); when given, it
    /// decides instead of `include_deleted`.
    #[param(inline)]
    lifecycle: Option<ListLifecycle>,
    /// Only those that do (`true`) or do not (`false`) need a new OAuth2 authorization.
    needs_reauthorization: Option<bool>,
    /// Only those whose credential (certificate, OAuth2 access token) expires before this time
    /// (RFC 3339 or Unix seconds).
    expires_before: Option<String>,
    /// Include deleted authentications (default `false`).
    #[serde(default)]
    include_deleted: bool,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size: default 50, at most 500.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// The lifecycles a listing can filter on.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListLifecycle {
    /// Usable.
    Active,
    /// Soft-deleted.
    Deleted,
}

/// `GET /v1/authentications`.
#[utoipa::path(
    get,
    path = "/v1/authentications",
    operation_id = "listAuthentications",
    tag = "authentications",
    summary = "List authentications",
    description = "The authentications the caller may see, filtered, sorted by name (case-insensitive) then id, one page at a time. Purged authentications are never listed; deleted ones only with `include_deleted=true`.",
    params(ListParams),
    responses(
        (status = 200, description = "One page.", body = PageSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners resolve, auditors cannot list).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "`service` is not a service reference.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<SharedState>,
    who: Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let query = list_query(params)?;
    Ok(Json(state.app.list(user, &query).await?).into_response())
}

/// The listing query of the parameters (each bad value a 400 naming its parameter): shared by
/// every listing of authentications.
pub(crate) fn list_query(params: ListParams) -> Result<ListQuery, ApiError> {
    let limit = match params.limit {
        Some(0) => return Err(ApiError::malformed("limit", "must be at least 1")),
        Some(n) if n > MAX_PAGE => {
            return Err(ApiError::malformed(
                "limit",
                format!("must be at most {MAX_PAGE}"),
            ))
        }
        other => other,
    };
    Ok(ListQuery {
        q: params.q,
        workspace: params
            .workspace
            .as_deref()
            .map(|w| parse_id::<WorkspaceId>("workspace", w))
            .transpose()?,
        // A bad filter is a bad request, not a refused command.
        service: params
            .service
            .as_deref()
            .map(parse_service)
            .transpose()
            .map_err(|e| ApiError {
                status: StatusCode::BAD_REQUEST,
                kind: "bad-request",
                ..e
            })?,
        service_version: params.service_version,
        // A tag no authentication can have could never match: refused like a bad value.
        environment: params
            .environment
            .as_deref()
            .map(|raw| {
                EnvironmentTag::parse(raw)
                    .map(|t| t.as_str().to_owned())
                    .map_err(|e| ApiError::bad_request(e.to_string()).naming(Some(e.kind().into())))
            })
            .transpose()?,
        kind: params.kind,
        lifecycle: params.lifecycle.map(|l| match l {
            ListLifecycle::Active => Lifecycle::Active,
            ListLifecycle::Deleted => Lifecycle::Deleted,
        }),
        needs_reauthorization: params.needs_reauthorization,
        expires_before: params
            .expires_before
            .as_deref()
            .map(|raw| parse_time("expires_before", raw))
            .transpose()?,
        include_deleted: params.include_deleted,
        cursor: params.cursor,
        limit,
    })
}
