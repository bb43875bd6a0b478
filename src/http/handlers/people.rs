//! The directory's lifecycle over HTTP: renaming organizations and workspaces, removing
//! memberships, deactivating (offboarding) and reactivating users, and a departed user's
//! personal authentications (listed for, and transferred by, their administrators).
//!
//! Directory answers carry the directory's version as their `ETag`; an `If-Match` with it
//! makes a change land only on the directory it was decided on.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::directory::DirectoryCommand;
use crate::domain::ids::{AuthenticationId, OrganizationId, UserId, WorkspaceId};
use crate::http::dto::parse_id;
use crate::http::error::ApiError;
use crate::http::extract::{if_match, with_etag, ApiJson, ApiQuery, Authenticated};
use crate::http::handlers::directory::{OrganizationBody, UserBody, WorkspaceBody};
use crate::http::handlers::listing::{list_query, ListParams};
use crate::http::openapi::{
    BadRequest, DirectoryIfMatch, IdempotencyKeyHeader, IdempotencyKeyInFlight, NotAUser,
    PayloadTooLarge, ProblemSchema, Unauthorized, UnsupportedMediaType, UserNotFound,
};
use crate::http::SharedState;

/// `PATCH /v1/organizations/{id}` and `PATCH /v1/workspaces/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The new display name.
    pub name: String,
}

/// Runs a directory command for the caller against the request's `If-Match`; the directory's
/// version it produced (the answer's `ETag`).
async fn run(
    state: &SharedState,
    who: &Authenticated,
    headers: &HeaderMap,
    command: DirectoryCommand,
) -> Result<u64, ApiError> {
    let caller = who.caller(headers)?;
    let expected = if_match(headers)?;
    let outcome = state
        .app
        .directory_command_at(&caller, command, expected)
        .await?;
    Ok(outcome.version)
}

/// `PATCH /v1/organizations/{id}`.
#[utoipa::path(
    patch,
    path = "/v1/organizations/{id}",
    operation_id = "renameOrganization",
    tag = "directory",
    summary = "Rename an organization",
    description = "Renames an organization and its organization workspace. Needs the owner or admin role in the organization.",
    params(("id" = Uuid, Path, description = "The organization."), DirectoryIfMatch, IdempotencyKeyHeader),
    request_body(content = Rename, content_type = "application/json"),
    responses(
        (status = 200, description = "Renamed; `ETag` is the directory's new version.", body = OrganizationBody, headers(("ETag" = String, description = "The directory's version after the change, e.g. `\"12\"` (for `If-Match`)."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a user, a token without the `admin` scope, or no owner or admin role in the organization (also when it does not exist).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, response = IdempotencyKeyInFlight),
        (status = 412, description = "`If-Match` names another directory version.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "An invalid name, the current name, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn rename_organization(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Response, ApiError> {
    let organization = parse_id::<OrganizationId>("id", &raw)?;
    let command = DirectoryCommand::RenameOrganization {
        organization,
        name: body.name,
    };
    let version = run(&state, &who, &headers, command).await?;
    let user = who.user()?;
    let (org, role) = state
        .app
        .organizations_of(user)
        .await
        .into_iter()
        .find(|(o, _)| o.id == organization)
        .ok_or_else(ApiError::internal)?;
    Ok(with_etag(
        Json(OrganizationBody::of(org, role)).into_response(),
        version,
    ))
}

/// `PATCH /v1/workspaces/{id}`.
#[utoipa::path(
    patch,
    path = "/v1/workspaces/{id}",
    operation_id = "renameWorkspace",
    tag = "directory",
    summary = "Rename a shared workspace",
    description = "Renames a shared workspace (the name is unique in its organization, case-insensitive). Needs the admin role in the workspace, or the owner or admin role in its organization.",
    params(("id" = Uuid, Path, description = "The shared workspace."), DirectoryIfMatch, IdempotencyKeyHeader),
    request_body(content = Rename, content_type = "application/json"),
    responses(
        (status = 200, description = "Renamed; `ETag` is the directory's new version.", body = WorkspaceBody, headers(("ETag" = String, description = "The directory's version after the change, e.g. `\"12\"` (for `If-Match`)."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a user, a token without the `admin` scope, or no admin role for the workspace (also when it does not exist).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The name is used by another workspace of the organization, or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another directory version.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "An invalid name, the current name, a workspace that is not shared, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn rename_workspace(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Response, ApiError> {
    let workspace = parse_id::<WorkspaceId>("id", &raw)?;
    let command = DirectoryCommand::RenameWorkspace {
        workspace,
        name: body.name,
    };
    let version = run(&state, &who, &headers, command).await?;
    let renamed = state
        .app
        .workspaces_visible_to(who.user()?)
        .await
        .into_iter()
        .find(|w| w.id == workspace)
        .ok_or_else(ApiError::internal)?;
    Ok(with_etag(
        Json(WorkspaceBody::from(&renamed)).into_response(),
        version,
    ))
}

/// Query of `DELETE /v1/memberships`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveMembership {
    /// The organization to remove the user from (and from all its workspaces). Exactly one of
    /// `organization` and `workspace`.
    #[param(format = Uuid)]
    organization: Option<String>,
    /// The shared workspace to remove the user from.
    #[param(format = Uuid)]
    workspace: Option<String>,
    /// The member (required).
    #[param(format = Uuid, required = true)]
    user: Option<String>,
}

/// `DELETE /v1/memberships?organization=…|workspace=…&user=…`.
#[utoipa::path(
    delete,
    path = "/v1/memberships",
    operation_id = "removeMembership",
    tag = "directory",
    summary = "Remove a member",
    description = "Removes a user from an organization (and every workspace of it) or from one shared workspace. Needs the owner or admin role in the organization, or (for a workspace) the admin role in the workspace. The organization keeps an active owner.",
    params(RemoveMembership, DirectoryIfMatch, IdempotencyKeyHeader),
    responses(
        (status = 204, description = "Removed; `ETag` is the directory's new version.", headers(("ETag" = String, description = "The directory's version after the change, e.g. `\"12\"` (for `If-Match`)."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a user, a token without the `admin` scope, or lacking the admin role needed (also when the organization or workspace does not exist).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, response = IdempotencyKeyInFlight),
        (status = 412, description = "`If-Match` names another directory version.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Not a member, the organization's last active owner, a workspace that is not shared, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn remove_membership(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<RemoveMembership>,
) -> Result<Response, ApiError> {
    // Each given parameter's form first (the header too), then which are missing: every
    // refusal names the parameter it is about.
    if_match(&headers)?;
    let organization = query
        .organization
        .map(|raw| parse_id("organization", &raw))
        .transpose()?;
    let workspace = query
        .workspace
        .map(|raw| parse_id("workspace", &raw))
        .transpose()?;
    let user = query
        .user
        .map(|raw| parse_id::<UserId>("user", &raw))
        .transpose()?
        .ok_or_else(|| ApiError::malformed("user", "is required"))?;
    let command = match (organization, workspace) {
        (Some(organization), None) => {
            DirectoryCommand::RemoveUserFromOrganization { organization, user }
        }
        (None, Some(workspace)) => DirectoryCommand::RemoveWorkspaceMember { workspace, user },
        _ => {
            return Err(ApiError::malformed(
                "organization",
                "give exactly one of organization or workspace",
            ))
        }
    };
    let version = run(&state, &who, &headers, command).await?;
    Ok(with_etag(StatusCode::NO_CONTENT.into_response(), version))
}

/// Deactivates or reactivates `raw` and answers with the user.
async fn set_active(
    state: &SharedState,
    who: &Authenticated,
    headers: &HeaderMap,
    raw: &str,
    active: bool,
) -> Result<Response, ApiError> {
    let user = parse_id::<UserId>("id", raw)?;
    let command = if active {
        DirectoryCommand::ReactivateUser { user }
    } else {
        DirectoryCommand::DeactivateUser { user }
    };
    let version = run(state, who, headers, command).await?;
    let found = state.app.user(user).await.ok_or_else(ApiError::internal)?;
    Ok(with_etag(
        Json(UserBody::of(&found)).into_response(),
        version,
    ))
}

/// `POST /v1/users/{id}/deactivate`.
#[utoipa::path(
    post,
    path = "/v1/users/{id}/deactivate",
    operation_id = "deactivateUser",
    tag = "directory",
    summary = "Deactivate a user (offboarding)",
    description = "Deactivates a user: every API token of theirs is revoked, they can no longer sign in (API or dashboard), nothing is resolved for them, and their roles give them no rights. Their memberships stay (for the record and a reactivation). The administrators of their organizations may then list their personal authentications and transfer or delete them. Needs the owner or admin role in an organization the user belongs to; nobody deactivates themselves, and an organization keeps an active owner.",
    params(("id" = Uuid, Path, description = "The user."), DirectoryIfMatch, IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Deactivated; `ETag` is the directory's new version.", body = UserBody, headers(("ETag" = String, description = "The directory's version after the change, e.g. `\"12\"` (for `If-Match`)."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a user, a token without the `admin` scope, the caller themselves, or no owner or admin role in an organization of the user.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, response = UserNotFound),
        (status = 409, response = IdempotencyKeyInFlight),
        (status = 412, description = "`If-Match` names another directory version.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Already deactivated, the last active owner of an organization, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn deactivate_user(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    set_active(&state, &who, &headers, &raw, false).await
}

/// `POST /v1/users/{id}/reactivate`.
#[utoipa::path(
    post,
    path = "/v1/users/{id}/reactivate",
    operation_id = "reactivateUser",
    tag = "directory",
    summary = "Reactivate a user",
    description = "Reactivates a deactivated user: their roles count again and they may sign in with a new token (the revoked ones stay revoked). Needs the owner or admin role in an organization the user belongs to.",
    params(("id" = Uuid, Path, description = "The user."), DirectoryIfMatch, IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Reactivated; `ETag` is the directory's new version.", body = UserBody, headers(("ETag" = String, description = "The directory's version after the change, e.g. `\"12\"` (for `If-Match`)."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a user, a token without the `admin` scope, the caller themselves, or no owner or admin role in an organization of the user.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, response = UserNotFound),
        (status = 409, response = IdempotencyKeyInFlight),
        (status = 412, description = "`If-Match` names another directory version.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "The user is active, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reactivate_user(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    set_active(&state, &who, &headers, &raw, true).await
}

/// `GET /v1/users/{id}/personal-authentications`.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/personal-authentications",
    operation_id = "listPersonalAuthentications",
    tag = "directory",
    summary = "A deactivated user's personal authentications",
    description = "The authentications in a deactivated user's personal workspace (live ones; metadata only, never secrets), for an owner or admin of an organization the user belongs to, who may transfer (`POST …/transfer`) or delete (`DELETE /v1/authentications/{id}`) each. Anyone else, and any active user, gets the answer of an unknown user. Takes the filters and paging of `GET /v1/authentications` but `workspace` (a 400: the workspace is the user's personal one).",
    params(("id" = Uuid, Path, description = "The user."), ListParams),
    responses(
        (status = 200, description = "A page of the listing, as `GET /v1/authentications` answers.", body = crate::http::openapi::PageSchema),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, response = UserNotFound),
    ),
    security(("bearer" = []))
)]
pub async fn personal_authentications(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let user = parse_id::<UserId>("id", &raw)?;
    let query = list_query(params)?;
    if query.workspace.is_some() {
        return Err(ApiError::malformed(
            "workspace",
            "is not a parameter of this listing (it is the user's personal workspace)",
        ));
    }
    let page = state
        .app
        .personal_authentications(who.user()?, user, query)
        .await?;
    Ok(Json(page).into_response())
}

/// `POST /v1/users/{id}/personal-authentications/{authentication}/transfer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The workspace it moves to (the rules of a move decide which may take it).
    pub workspace: Uuid,
}

/// `POST /v1/users/{id}/personal-authentications/{authentication}/transfer`.
#[utoipa::path(
    post,
    path = "/v1/users/{id}/personal-authentications/{authentication}/transfer",
    operation_id = "transferPersonalAuthentication",
    tag = "directory",
    summary = "Transfer a departed user's authentication",
    description = "Moves one authentication out of a deactivated user's personal workspace into a workspace the caller may move it to (the rules of a move: the caller's role there, the service usable there, the name free). Recorded as `authentication.moved` by the caller. For an owner or admin of an organization the user belongs to, with a token holding the `admin` scope (offboarding is administration).",
    params(
        ("id" = Uuid, Path, description = "The deactivated user."),
        ("authentication" = Uuid, Path, description = "One of their personal authentications."),
        crate::http::openapi::IfMatchHeader,
        IdempotencyKeyHeader,
    ),
    request_body(content = Transfer, content_type = "application/json"),
    responses(
        (status = 200, description = "Transferred: the new version and the authentication.", body = crate::http::dto::CommandBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not a user, a token without the `admin` scope, or the caller may not move it into that workspace.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such deactivated user managed by the caller, or the authentication is not in their personal workspace.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "A name clash in the target workspace, a concurrent change, or a request with the same `Idempotency-Key` still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version of the authentication.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The service may not be used in that workspace, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn transfer_personal_authentication(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path((raw_user, raw_auth)): Path<(String, String)>,
    ApiJson(body): ApiJson<Transfer>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let user = parse_id::<UserId>("id", &raw_user)?;
    let id = parse_id::<AuthenticationId>("authentication", &raw_auth)?;
    let outcome = state
        .app
        .transfer_personal_authentication(
            &caller,
            user,
            id,
            WorkspaceId::from_uuid(body.workspace),
            if_match(&headers)?,
        )
        .await?;
    Ok(
        crate::http::handlers::authentications::answer(&state, &caller, outcome, StatusCode::OK)
            .await,
    )
}
