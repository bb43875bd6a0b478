//! `/v1/authentications`: create, get (now or as of), rename/move, re-authenticate,
//! delete, restore, purge, history. OAuth2 scopes change only by re-consent (`/v1/oauth`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::app::{Caller, ChangeOptions, CommandOutcome, RestoreTarget};
use crate::domain::authentication::{AuthenticationCommand, CreateAuthentication, FieldChange};
use crate::domain::ids::{AuthenticationId, EnvironmentTag, WorkspaceId};
use crate::domain::secret::SecretText;
use crate::http::dto::{
    parse_field, parse_id, parse_service, parse_time, CommandBody, CreateBody, PatchBody,
    ReauthenticateBody, RestoreBody, VerificationBody, WarningBody,
};
use crate::http::error::ApiError;
use crate::http::extract::{if_match, with_etag, ApiJson, ApiQuery, Authenticated};
use crate::http::openapi::{
    AuthenticationNotFound, AuthenticationSchema, BadRequest, HistoryEntrySchema,
    IdempotencyKeyHeader, IdempotencyKeyReused, IfMatchHeader, PayloadTooLarge, ProblemSchema,
    Purged, RoleForbids, Unauthorized, UnsupportedMediaType, VersionMismatch,
};
use crate::http::SharedState;

/// Query of `GET /v1/authentications/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Show it as it was at this time: RFC 3339, or Unix seconds. Not with `version`.
    as_of: Option<String>,
    /// Show it as it was at this version. Not with `as_of`.
    #[param(minimum = 1)]
    version: Option<u64>,
}

/// The answer of a command; for a replay, the authentication as the first attempt left it.
pub(crate) async fn answer(
    state: &SharedState,
    caller: &Caller,
    outcome: CommandOutcome,
    status: StatusCode,
) -> Response {
    let id = outcome.id;
    let mut view = state.app.get(caller.user, id).await.ok();
    if outcome.replayed && view.as_ref().is_some_and(|v| v.version != outcome.version) {
        view = state
            .app
            .get_as_of(caller.user, id, RestoreTarget::Version(outcome.version))
            .await
            .ok();
    }
    let body = CommandBody {
        id: id.as_uuid(),
        version: outcome.version,
        warnings: outcome.warnings.iter().map(WarningBody::from).collect(),
        authentication: view,
        verification: outcome.verification.as_ref().map(VerificationBody::from),
    };
    let mut response = with_etag((status, Json(body)).into_response(), outcome.version);
    if status == StatusCode::CREATED {
        if let Ok(value) = format!("/v1/authentications/{id}").parse() {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    response
}

fn secret_fields(
    fields: BTreeMap<String, String>,
) -> Result<BTreeMap<crate::domain::ids::FieldName, SecretText>, ApiError> {
    fields
        .into_iter()
        .map(|(k, v)| Ok((parse_field(&k)?, SecretText::new(v))))
        .collect()
}

/// `POST /v1/authentications`.
#[utoipa::path(
    post,
    path = "/v1/authentications",
    operation_id = "createAuthentication",
    tag = "authentications",
    summary = "Create an authentication",
    description = "Stores a credential for a service in a workspace. When the service defines a verification endpoint, the material is checked there first and the outcome is recorded as `authentication.verification_recorded` with the creation. Secret field values are sealed and never shown again: answers show them only as fingerprints. The caller must be a user allowed to create authentications in the workspace (editors and up in shared workspaces, the owner in a personal one). `X-Credledger-Origin: dashboard` marks the change as made in the dashboard.",
    params(IdempotencyKeyHeader),
    request_body(content = CreateBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created: the new id, its version (1, or 2 when a verification was recorded with it), warnings (e.g. missing required scopes), the authentication and what verifying its material found.", body = CommandBody, headers(
            ("ETag" = String, description = "The version after the command, e.g. `\"4\"`; send it back as `If-Match`."),
            ("Location" = String, description = "`/v1/authentications/{id}` of the new authentication."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user, or may not create authentications in the workspace (also when the workspace does not exist).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The name is already used in the workspace (`duplicate-name`), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The request breaks a rule (`validation`): unknown or mistyped property, unknown service, a missing or malformed field value, an unknown field, a scope the service does not offer, a bad name or environment tag; the service's verification endpoint refused the material or could not be reached (`verification-failed`, `field: verification`, the reason names the status the service answered; nothing is saved; send `save_unverified: true` to save anyway); or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let mut caller = who.caller(&headers)?;
    let step = body.workflow.as_ref().map(|w| w.step_ref()).transpose()?;
    let origin = caller.change_origin(step);
    let environment = body
        .environment
        .as_deref()
        .map(EnvironmentTag::parse)
        .transpose()
        .map_err(|e| ApiError::validation(e.to_string()).naming(Some(e.kind().into())))?;
    let id = AuthenticationId::new();
    let command = AuthenticationCommand::Create(CreateAuthentication {
        id,
        name: body.name,
        workspace: WorkspaceId::from_uuid(body.workspace),
        service: parse_service(&body.service)?,
        fields: secret_fields(body.fields)?,
        scopes: body.scopes,
        extra_permissions: body.extra_permissions,
        environment,
        origin,
    });
    let options = ChangeOptions {
        save_unverified: body.save_unverified,
    };
    let outcome = state
        .app
        .execute_with_options(&caller, id, vec![command], None, options)
        .await?;
    Ok(answer(&state, &caller, outcome, StatusCode::CREATED).await)
}

/// `GET /v1/authentications/{id}` (optionally `?version=` or `?as_of=`).
#[utoipa::path(
    get,
    path = "/v1/authentications/{id}",
    operation_id = "getAuthentication",
    tag = "authentications",
    summary = "Read an authentication, now or as it was",
    description = "The authentication as it is now, or as it was at a version (`version`) or at a time (`as_of`). Secrets appear only as fingerprints. Access is decided on the current state.",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id."), GetParams),
    responses(
        (status = 200, description = "The authentication.", body = AuthenticationSchema, headers(
            ("ETag" = String, description = "The version shown, e.g. `\"3\"`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such authentication, the caller may not see it, or it did not exist yet at that version or time.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
    ApiQuery(params): ApiQuery<GetParams>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    let view = match (params.version, params.as_of) {
        (Some(_), Some(_)) => {
            return Err(ApiError::malformed(
                "version",
                "give either version or as_of, not both",
            ))
        }
        (Some(0), None) => return Err(ApiError::malformed("version", "must be at least 1")),
        (Some(v), None) => {
            state
                .app
                .get_as_of(user, id, RestoreTarget::Version(v))
                .await?
        }
        (None, Some(t)) => {
            let at = parse_time("as_of", &t)?;
            state
                .app
                .get_as_of(user, id, RestoreTarget::Time(at))
                .await?
        }
        (None, None) => state.app.get(user, id).await?,
    };
    let version = view.version;
    Ok(with_etag(Json(view).into_response(), version))
}

/// `PATCH /v1/authentications/{id}`: rename and/or move.
#[utoipa::path(
    patch,
    path = "/v1/authentications/{id}",
    operation_id = "updateAuthentication",
    tag = "authentications",
    summary = "Rename and/or move an authentication",
    description = "Renames it (`name`), moves it to another workspace (`workspace`), or both (rename first; each is its own event, so the version goes up by one per change). Moving needs the right to move out of the source workspace and into the destination.",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id."), IfMatchHeader, IdempotencyKeyHeader),
    request_body(content = PatchBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed: the new version, warnings of the move (e.g. generic auth now visible to a whole organization) and the authentication.", body = CommandBody, headers(
            ("ETag" = String, description = "The version after the command, e.g. `\"4\"`; send it back as `If-Match`."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not change anything), or the user's role in the workspace does not allow it. For a move: the destination workspace does not exist or the user may not move into it.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, response = AuthenticationNotFound),
        (status = 409, description = "It is deleted (restore it first), the new name is used in the destination workspace (`duplicate-name`), a concurrent change won the race (retry with the new version), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 410, response = Purged),
        (status = 412, response = VersionMismatch),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Neither `name` nor `workspace` given, the name breaks the rules or is unchanged, the workspace is the current one, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn patch(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, ApiError> {
    let (caller, id) = command_caller(&state, &who, &headers, &raw, "rename_or_move").await?;
    if body.name.is_none() && body.workspace.is_none() {
        return Err(ApiError::invalid(
            "body",
            "give a new name, a workspace, or both",
        ));
    }
    // Rename and move land together or not at all.
    let mut commands = Vec::new();
    if let Some(name) = body.name {
        commands.push(AuthenticationCommand::Rename { name });
    }
    if let Some(to) = body.workspace {
        commands.push(AuthenticationCommand::Move {
            to: WorkspaceId::from_uuid(to),
        });
    }
    let outcome = state
        .app
        .execute_all(&caller, id, commands, if_match(&headers)?)
        .await?;
    Ok(answer(&state, &caller, outcome, StatusCode::OK).await)
}

/// `POST /v1/authentications/{id}/reauthenticate`.
#[utoipa::path(
    post,
    path = "/v1/authentications/{id}/reauthenticate",
    operation_id = "reauthenticateAuthentication",
    tag = "authentications",
    summary = "Re-enter the settings of an authentication",
    description = "Supplied fields override the stored values, omitted secret fields are kept, and `null` clears an optional field. The history records which fields were overridden, kept or cleared. When the service defines a verification endpoint, the settings after the change (new and kept values) are checked there first; the outcome is recorded as `authentication.verification_recorded` in the same change.",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id."), IfMatchHeader, IdempotencyKeyHeader),
    request_body(content = ReauthenticateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Re-authenticated: the new version, warnings (e.g. a certificate that expires soon) and the authentication.", body = CommandBody, headers(
            ("ETag" = String, description = "The version after the command, e.g. `\"4\"`; send it back as `If-Match`."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = RoleForbids),
        (status = 404, response = AuthenticationNotFound),
        (status = 409, description = "It is deleted (restore it first), a concurrent change won the race (retry with the new version), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 410, description = "The authentication was purged (`purged`), or its secrets were destroyed by a purge recorded after the point this ledger was recovered to (`secrets-destroyed`).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, response = VersionMismatch),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "No field given, an unknown field, a malformed value, a required field cleared, the service's verification endpoint refused the new settings (with the kept ones) or could not be reached (`verification-failed`, `field: verification`, the reason names the status the service answered; nothing is saved; send `save_unverified: true` to save anyway), or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reauthenticate(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ReauthenticateBody>,
) -> Result<Response, ApiError> {
    let (mut caller, id) = command_caller(&state, &who, &headers, &raw, "reauthenticate").await?;
    let step = body.workflow.as_ref().map(|w| w.step_ref()).transpose()?;
    let origin = caller.change_origin(step);
    let fields = body
        .fields
        .into_iter()
        .map(|(name, value)| {
            let change = match value {
                Some(v) => FieldChange::Set(SecretText::new(v)),
                None => FieldChange::Clear,
            };
            Ok((parse_field(&name)?, change))
        })
        .collect::<Result<_, ApiError>>()?;
    let command = AuthenticationCommand::Reauthenticate { fields, origin };
    let options = ChangeOptions {
        save_unverified: body.save_unverified,
    };
    let outcome = state
        .app
        .execute_with_options(&caller, id, vec![command], if_match(&headers)?, options)
        .await?;
    Ok(answer(&state, &caller, outcome, StatusCode::OK).await)
}

/// `DELETE /v1/authentications/{id}` (soft delete).
#[utoipa::path(
    delete,
    path = "/v1/authentications/{id}",
    operation_id = "deleteAuthentication",
    tag = "authentications",
    summary = "Delete an authentication (soft)",
    description = "Soft-deletes it: it stays visible (with `lifecycle: deleted`, listed only with `include_deleted=true`) and can be restored or purged, but not used or changed.",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id."), IfMatchHeader, IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Deleted: the new version and the authentication.", body = CommandBody, headers(
            ("ETag" = String, description = "The version after the command, e.g. `\"4\"`; send it back as `If-Match`."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = RoleForbids),
        (status = 404, response = AuthenticationNotFound),
        (status = 409, description = "It is already deleted, a concurrent change won the race (retry with the new version), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 410, response = Purged),
        (status = 412, response = VersionMismatch),
        (status = 422, response = IdempotencyKeyReused),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    simple(state, who, headers, raw, AuthenticationCommand::Delete).await
}

/// `POST /v1/authentications/{id}/purge`.
#[utoipa::path(
    post,
    path = "/v1/authentications/{id}/purge",
    operation_id = "purgeAuthentication",
    tag = "authentications",
    summary = "Purge an authentication for good",
    description = "Destroys the authentication's data key (crypto-shredding): its secrets never open again, from any version. The history stays. Cannot be undone. Only a deleted authentication may be purged: delete it first (an active one answers 409).",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id."), IfMatchHeader, IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Purged: the new version and the authentication (`lifecycle: purged`).", body = CommandBody, headers(
            ("ETag" = String, description = "The version after the command, e.g. `\"4\"`; send it back as `If-Match`."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = RoleForbids),
        (status = 404, response = AuthenticationNotFound),
        (status = 409, description = "It is active (`conflict`: delete it first), a concurrent change won the race (retry with the new version), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 410, response = Purged),
        (status = 412, response = VersionMismatch),
        (status = 422, response = IdempotencyKeyReused),
    ),
    security(("bearer" = []))
)]
pub async fn purge(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    simple(state, who, headers, raw, AuthenticationCommand::Purge).await
}

async fn simple(
    state: SharedState,
    who: Authenticated,
    headers: HeaderMap,
    raw: String,
    command: AuthenticationCommand,
) -> Result<Response, ApiError> {
    let action = crate::app::action_name(&command);
    let (caller, id) = command_caller(&state, &who, &headers, &raw, action).await?;
    let outcome = state
        .app
        .execute(&caller, id, command, if_match(&headers)?)
        .await?;
    Ok(answer(&state, &caller, outcome, StatusCode::OK).await)
}

/// `POST /v1/authentications/{id}/restore`.
#[utoipa::path(
    post,
    path = "/v1/authentications/{id}/restore",
    operation_id = "restoreAuthentication",
    tag = "authentications",
    summary = "Restore an earlier version of an authentication",
    description = "Brings back the name, fields (secrets from their sealed values: nothing is re-entered), scopes and extra permissions of an earlier version (`version`) or of the version current at a time (`as_of`), as a new version. Works on active and deleted authentications; needs the restore right in the workspace.",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id."), IfMatchHeader, IdempotencyKeyHeader),
    request_body(content = RestoreBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Restored: the new version and the authentication.", body = CommandBody, headers(
            ("ETag" = String, description = "The version after the command, e.g. `\"4\"`; send it back as `If-Match`."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = RoleForbids),
        (status = 404, description = "No such authentication, or the caller may not see it (the two are indistinguishable on purpose). Also when the authentication did not exist yet at `as_of` or at `version`.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The restored name is now used by another authentication (`duplicate-name`), a concurrent change won the race (retry with the new version), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 410, response = Purged),
        (status = 412, response = VersionMismatch),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Not exactly one of `version` and `as_of`, the target is not an earlier usable state, its secrets are gone, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn restore(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<Response, ApiError> {
    let (caller, id) = command_caller(&state, &who, &headers, &raw, "restore").await?;
    let target = match (body.version, body.as_of) {
        (Some(v), None) => RestoreTarget::Version(v),
        (None, Some(t)) => RestoreTarget::Time(parse_time("as_of", &t)?),
        _ => {
            return Err(ApiError::invalid(
                "version",
                "give exactly one of version or as_of",
            ))
        }
    };
    let outcome = state
        .app
        .restore(&caller, id, target, if_match(&headers)?)
        .await?;
    Ok(answer(&state, &caller, outcome, StatusCode::OK).await)
}

/// `GET /v1/authentications/{id}/history`.
#[utoipa::path(
    get,
    path = "/v1/authentications/{id}/history",
    operation_id = "getAuthenticationHistory",
    tag = "authentications",
    summary = "The history of an authentication",
    description = "Every change, oldest first: who, when, from where, what kind of change, and per-field diffs (secrets only as fingerprints).",
    params(("id" = uuid::Uuid, Path, description = "The authentication's id.")),
    responses(
        (status = 200, description = "The changes, oldest first.", body = Vec<HistoryEntrySchema>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "A workflow runner (runners only resolve). Auditors read every history; users what they may see.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such authentication, or the caller may not see it.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    // Auditors read every history (fingerprints, never values); users what they may see.
    let history = match &who.0 {
        crate::domain::principals::Principal::Auditor { .. } => {
            state.app.history_for_auditor(id).await?
        }
        _ => state.app.history(who.user()?, id).await?,
    };
    Ok(Json(history).into_response())
}

/// The caller of a command on an existing authentication. Runners and auditors never change
/// anything; their refused attempt is recorded in audit before the 403.
async fn command_caller(
    state: &SharedState,
    who: &Authenticated,
    headers: &HeaderMap,
    raw: &str,
    action: &str,
) -> Result<(Caller, AuthenticationId), ApiError> {
    crate::http::extract::origin_of(headers)?;
    let id = parse_id::<AuthenticationId>("id", raw)?;
    state
        .app
        .changing_user(&who.accessor(None), &who.0, id, action)
        .await?;
    Ok((who.caller(headers)?, id))
}
