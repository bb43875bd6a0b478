//! `/v1/oauth`: start an authorization-code flow, and its callback.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ids::{AuthenticationId, EnvironmentTag, WorkspaceId};
use crate::http::dto::{parse_field, parse_service, WarningBody};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, Authenticated};
use crate::http::SharedState;
use crate::oauth::flow::StartedIn;
use crate::oauth::{AuthorizeRequest, CallbackParams, Target};

/// `POST /v1/oauth/authorize`: either `authentication` (re-consent of an existing one) or
/// `name` + `workspace` (a new one).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// An OAuth2 service: a prebuilt key, or `custom:<id>` of a custom service with a
    /// registered client.
    pub service: String,
    /// Re-consent this authentication.
    #[serde(default)]
    pub authentication: Option<Uuid>,
    /// Name of a new authentication.
    #[serde(default)]
    pub name: Option<String>,
    /// Workspace of a new authentication.
    #[serde(default)]
    pub workspace: Option<Uuid>,
    /// Environment tag of a new authentication.
    #[serde(default)]
    pub environment: Option<String>,
    /// Plain fields the service needs first (e.g. a custom `domain`).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Scopes chosen from the service's list.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra permissions, requested from the provider as scopes too. Omitted on a
    /// re-consent: the authentication's current ones are kept.
    #[serde(default)]
    pub extra_permissions: Option<Vec<String>>,
    /// Where to send the browser after the callback (must be on the allow-list).
    #[serde(default)]
    pub return_to: Option<String>,
}

/// The provider URL to send the user to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizeAnswer {
    /// The provider's authorization URL (with state and PKCE challenge).
    pub authorization_url: String,
    /// Seconds the authorization stays valid.
    pub expires_in: u64,
    /// Scopes sent to the provider: the chosen ones, then the extra permissions.
    pub requested_scopes: Vec<String>,
    /// Said before the user leaves, e.g. required scopes that were not chosen.
    pub warnings: Vec<WarningBody>,
}

/// `POST /v1/oauth/authorize`.
#[utoipa::path(
    post,
    path = "/v1/oauth/authorize",
    operation_id = "oauthAuthorize",
    tag = "oauth",
    summary = "Start an OAuth2 authorization (new authentication or re-consent)",
    description = "Returns the provider's authorization URL with a PKCE (S256) challenge and a state that is stored server-side, single-use, bound to the caller and expiring. Give `name` and `workspace` for a new authentication, or `authentication` to re-consent an existing one (the only way to change an OAuth2 authentication's scopes). `return_to` must be on the server's allow-list.",
    request_body(content = AuthorizeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The provider URL to send the user to.", body = AuthorizeAnswer),
        (status = 400, response = crate::http::openapi::BadRequest),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 403, description = "The caller may not create or edit authentications there.", body = crate::http::openapi::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such authentication, or the caller may not see it.", body = crate::http::openapi::ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = crate::http::openapi::PayloadTooLarge),
        (status = 415, response = crate::http::openapi::UnsupportedMediaType),
        (status = 422, description = "Not an OAuth2 service, no client configured, a scope the service does not offer, a return target off the allow-list, or a token endpoint that may not be called.", body = crate::http::openapi::ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn authorize(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AuthorizeBody>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let service = parse_service(&body.service)?;
    let fields = body
        .fields
        .iter()
        .map(|(k, v)| Ok((parse_field(k)?, v.clone())))
        .collect::<Result<_, ApiError>>()?;
    let target = match (body.authentication, body.name, body.workspace) {
        (Some(_), None, None) if body.environment.is_some() => {
            return Err(ApiError::invalid(
                "environment",
                "is only for a new authentication",
            ))
        }
        (Some(id), None, None) => Target::Existing {
            id: AuthenticationId::from_uuid(id),
            fields,
        },
        (None, Some(name), Some(workspace)) => Target::New {
            name,
            workspace: WorkspaceId::from_uuid(workspace),
            environment: body
                .environment
                .as_deref()
                .map(EnvironmentTag::parse)
                .transpose()
                .map_err(|e| ApiError::validation(e.to_string()).naming(Some(e.kind().into())))?,
            fields,
        },
        _ => {
            return Err(ApiError::invalid(
                "authentication",
                "give an authentication to re-consent, or a name and a workspace",
            ))
        }
    };
    let started = state
        .oauth
        .start(
            &caller,
            AuthorizeRequest {
                service,
                target,
                scopes: body.scopes,
                extra_permissions: body.extra_permissions,
                return_to: body.return_to,
            },
            StartedIn::Api,
        )
        .await?;
    let mut response = Json(AuthorizeAnswer {
        authorization_url: started.authorization_url,
        expires_in: started.expires_in.as_secs(),
        requested_scopes: started.requested_scopes,
        warnings: started.warnings.iter().map(WarningBody::from).collect(),
    })
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Query of `GET /v1/oauth/callback`.
#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// The grant recorded by a callback.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallbackAnswer {
    /// The authentication created or re-authenticated.
    pub authentication: Uuid,
    /// Its version now.
    pub version: u64,
    /// Scopes requested.
    pub requested_scopes: Vec<String>,
    /// Scopes the provider granted.
    pub granted_scopes: Vec<String>,
    /// Warnings (e.g. required scopes not granted).
    pub warnings: Vec<WarningBody>,
}

/// `GET /v1/oauth/callback?state=…&code=…`, called (with the caller's token) by whoever
/// received the provider's redirect.
#[utoipa::path(
    get,
    path = "/v1/oauth/callback",
    operation_id = "oauthCallback",
    tag = "oauth",
    summary = "Complete an OAuth2 authorization",
    description = "Takes the state out first, whatever the redirect carries (an error callback uses it up too), checks it (known, unused, the caller's, not expired, and `iss` when the registration names an issuer) before any call to the provider, exchanges the code with the PKCE verifier, and records the grant: a new authentication, or a re-authentication of the existing one, plus the requested and granted scopes. With a `return_to` the answer is a 303 to it. A browser sent back without a bearer token from a flow started in the dashboard is sent on (303) to `/ui/oauth/callback` with the same query, where the dashboard session completes it.",
    params(
        ("state" = Option<String>, Query, description = "The state from the provider's redirect."),
        ("code" = Option<String>, Query, description = "The authorization code."),
        ("error" = Option<String>, Query, description = "The provider's error code, when the user refused (the state is used up all the same)."),
        ("iss" = Option<String>, Query, description = "The provider's issuer identifier (RFC 9207); required when the service's client registration names an issuer."),
    ),
    responses(
        (status = 201, description = "The grant was recorded.", body = CallbackAnswer),
        (status = 303, description = "The grant was recorded; go back to the allowed return target. Or, for a flow started in the dashboard and no bearer token: continue at `/ui/oauth/callback`.", headers(("Location" = String, description = "The return target with `authentication=<id>`, or `/ui/oauth/callback?<the same query>`"))),
        (status = 400, description = "Missing, unknown, used, foreign or expired state, or an `iss` that is not the registration's issuer.", body = crate::http::openapi::ProblemSchema, content_type = "application/problem+json"),
        (status = 401, response = crate::http::openapi::Unauthorized),
        (status = 409, description = "A concurrent change won.", body = crate::http::openapi::ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "The provider refused the authorization, or the grant breaks a rule.", body = crate::http::openapi::ProblemSchema, content_type = "application/problem+json"),
        (status = 502, description = "The provider's token endpoint refused or could not be used (redirects are never followed).", body = crate::http::openapi::ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn callback(
    State(state): State<SharedState>,
    who: Result<Authenticated, ApiError>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let who = match who {
        Ok(who) => who,
        // The provider sent a browser back from a dashboard flow: the dashboard's session,
        // not a bearer token, completes it.
        Err(_)
            if query
                .state
                .as_deref()
                .is_some_and(|s| state.oauth.started_from_dashboard(s)) =>
        {
            let location = format!("/ui/oauth/callback?{}", uri.query().unwrap_or_default());
            return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response());
        }
        Err(refused) => return Err(refused),
    };
    let caller = who.caller(&headers)?;
    if query.state.is_none() {
        return Err(ApiError::malformed("state", "is required"));
    }
    let params = CallbackParams {
        state: query.state,
        code: query.code,
        error: query.error,
        iss: query.iss,
    };
    let completed = state.oauth.callback(&caller, params).await?;
    let answer = CallbackAnswer {
        authentication: completed.authentication.as_uuid(),
        version: completed.outcome.version,
        requested_scopes: completed.requested_scopes,
        granted_scopes: completed.granted_scopes,
        warnings: completed
            .outcome
            .warnings
            .iter()
            .map(WarningBody::from)
            .collect(),
    };
    if let Some(target) = completed.return_to {
        // Checked against the allow-list when the flow started.
        let separator = if target.contains('?') { '&' } else { '?' };
        let location = format!(
            "{target}{separator}authentication={}",
            answer.authentication
        );
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response());
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
