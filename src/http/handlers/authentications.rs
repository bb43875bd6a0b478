//! `/v1/authentications`: create, list, get (now or as of), rename/move, re-authenticate,
//! scopes, delete, restore, purge, history.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::app::{Caller, CommandOutcome, RestoreTarget};
use crate::domain::authentication::{
    AuthenticationCommand, CreateAuthentication, FieldChange, Origin,
};
use crate::domain::ids::{AuthenticationId, EnvironmentTag, WorkspaceId};
use crate::domain::secret::SecretText;
use crate::http::dto::{
    parse_field, parse_id, parse_service, parse_time, CommandBody, CreateBody, PatchBody,
    ReauthenticateBody, RestoreBody, ScopesBody, WarningBody,
};
use crate::http::error::ApiError;
use crate::http::extract::{etag, if_match, ApiJson, ApiQuery, Authenticated};
use crate::http::SharedState;
use crate::projections::ListQuery;

/// Query of `GET /v1/authentications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    q: Option<String>,
    workspace: Option<String>,
    service: Option<String>,
    service_version: Option<String>,
    tag: Option<String>,
    #[serde(default)]
    include_deleted: bool,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// Query of `GET /v1/authentications/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    as_of: Option<String>,
    version: Option<u64>,
}

async fn answer(
    state: &SharedState,
    caller: &Caller,
    id: AuthenticationId,
    outcome: CommandOutcome,
    status: StatusCode,
) -> Response {
    let view = state.app.get(caller.user, id).await.ok();
    let body = CommandBody {
        id: id.as_uuid(),
        version: outcome.version,
        warnings: outcome.warnings.iter().map(WarningBody::from).collect(),
        authentication: view,
    };
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = etag(outcome.version).parse() {
        response.headers_mut().insert(header::ETAG, value);
    }
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
pub async fn create(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let origin = match &body.workflow {
        Some(step) => step.origin()?,
        None if caller.origin == crate::ledger::Origin::Dashboard => Origin::Dashboard,
        None => Origin::Api,
    };
    let environment = body
        .environment
        .as_deref()
        .map(EnvironmentTag::parse)
        .transpose()
        .map_err(|e| ApiError::validation(format!("environment: {e}")))?;
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
    let outcome = state.app.execute(&caller, id, command, None).await?;
    Ok(answer(&state, &caller, id, outcome, StatusCode::CREATED).await)
}

/// `GET /v1/authentications`.
pub async fn list(
    State(state): State<SharedState>,
    who: Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let query = ListQuery {
        q: params.q,
        workspace: params
            .workspace
            .as_deref()
            .map(|w| parse_id::<WorkspaceId>("workspace", w))
            .transpose()?,
        service: params.service.as_deref().map(parse_service).transpose()?,
        service_version: params.service_version,
        tag: params.tag,
        include_deleted: params.include_deleted,
        cursor: params.cursor,
        limit: params.limit,
    };
    Ok(Json(state.app.list(user, &query).await?).into_response())
}

/// `GET /v1/authentications/{id}` (optionally `?version=` or `?as_of=`).
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
            return Err(ApiError::bad_request(
                "version: give either version or as_of, not both",
            ))
        }
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
    let mut response = Json(view).into_response();
    if let Ok(value) = etag(version).parse() {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// `PATCH /v1/authentications/{id}`: rename and/or move.
pub async fn patch(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    let mut expected = if_match(&headers)?;
    if body.name.is_none() && body.workspace.is_none() {
        return Err(ApiError::validation(
            "body: give a new name, a workspace, or both",
        ));
    }
    let mut last = None;
    if let Some(name) = body.name {
        let outcome = state
            .app
            .execute(
                &caller,
                id,
                AuthenticationCommand::Rename { name },
                expected,
            )
            .await?;
        expected = Some(outcome.version);
        last = Some(outcome);
    }
    if let Some(to) = body.workspace {
        let command = AuthenticationCommand::Move {
            to: WorkspaceId::from_uuid(to),
        };
        let mut outcome = state.app.execute(&caller, id, command, expected).await?;
        if let Some(previous) = last.take() {
            outcome.warnings.splice(0..0, previous.warnings);
        }
        last = Some(outcome);
    }
    let outcome = last.ok_or_else(ApiError::internal)?;
    Ok(answer(&state, &caller, id, outcome, StatusCode::OK).await)
}

/// `POST /v1/authentications/{id}/reauthenticate`.
pub async fn reauthenticate(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ReauthenticateBody>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    let origin = match &body.workflow {
        Some(step) => step.origin()?,
        None => Origin::Api,
    };
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
    let outcome = state
        .app
        .execute(&caller, id, command, if_match(&headers)?)
        .await?;
    Ok(answer(&state, &caller, id, outcome, StatusCode::OK).await)
}

/// `PUT /v1/authentications/{id}/scopes`.
pub async fn scopes(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<ScopesBody>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    let command = AuthenticationCommand::ChangeScopes {
        scopes: body.scopes,
        extra_permissions: body.extra_permissions,
    };
    let outcome = state
        .app
        .execute(&caller, id, command, if_match(&headers)?)
        .await?;
    Ok(answer(&state, &caller, id, outcome, StatusCode::OK).await)
}

/// `DELETE /v1/authentications/{id}` (soft delete).
pub async fn delete(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    simple(state, who, headers, raw, AuthenticationCommand::Delete).await
}

/// `POST /v1/authentications/{id}/purge`.
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
    let caller = who.caller(&headers)?;
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    let outcome = state
        .app
        .execute(&caller, id, command, if_match(&headers)?)
        .await?;
    Ok(answer(&state, &caller, id, outcome, StatusCode::OK).await)
}

/// `POST /v1/authentications/{id}/restore`.
pub async fn restore(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    let target = match (body.version, body.as_of) {
        (Some(v), None) => RestoreTarget::Version(v),
        (None, Some(t)) => RestoreTarget::Time(parse_time("as_of", &t)?),
        _ => {
            return Err(ApiError::validation(
                "version: give exactly one of version or as_of",
            ))
        }
    };
    let outcome = state
        .app
        .restore(&caller, id, target, if_match(&headers)?)
        .await?;
    Ok(answer(&state, &caller, id, outcome, StatusCode::OK).await)
}

/// `GET /v1/authentications/{id}/history`.
pub async fn history(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let id = parse_id::<AuthenticationId>("id", &raw)?;
    Ok(Json(state.app.history(user, id).await?).into_response())
}
