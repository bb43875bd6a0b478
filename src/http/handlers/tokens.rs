//! API tokens over HTTP: issue (shown once), list (never the text), revoke.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::TokenLimits;
use crate::domain::ids::{PrincipalId, TokenId, UserId};
use crate::domain::principals::{Principal, TokenRecord};
use crate::domain::token_scope::{TokenScope, TokenScopes};
use crate::http::dto::parse_id;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Authenticated};
use crate::http::openapi::{
    BadRequest, IdempotencyKeyHeader, IdempotencyKeyReused, NotAUser, PayloadTooLarge,
    ProblemSchema, Unauthorized, UnsupportedMediaType, UserNotFound,
};
use crate::http::SharedState;
use crate::time::Timestamp;

/// `POST /v1/tokens`: for a user (oneself, or anyone for administrators), or a new workflow
/// runner or auditor (administrators).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `user` (give `user`), `runner` or `auditor` (give `name`).
    pub kind: String,
    /// The user, for `user` tokens (default: the caller).
    #[serde(default)]
    pub user: Option<Uuid>,
    /// Name of a new runner or auditor.
    #[serde(default)]
    pub name: Option<String>,
    /// What the token is for.
    pub label: String,
    /// When the token stops working (RFC 3339): in the future, at most 366 days away.
    /// Without it the token never expires.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// What the token may be used for, on top of its principal's rights: one or more of
    /// `resolve`, `read`, `write`, `admin`. Without it the token may do everything its
    /// principal may.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// An issued token; `token` is shown only in the answer that issues it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenBody {
    /// Token id (for revoking).
    pub id: Uuid,
    /// `user`, `runner` or `auditor`.
    pub kind: &'static str,
    /// The principal reference, e.g. `user:<id>`.
    pub principal: String,
    /// Label.
    pub label: String,
    /// The token text; only when issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was issued.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub expires_at: Option<Timestamp>,
    /// When it was last used, if ever: exact while the server runs, up to 60 seconds early
    /// after a restart. Never set in the answer that issues it.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_used_at: Option<Timestamp>,
    /// What it may be used for (`resolve`, `read`, `write`, `admin`).
    pub scopes: Vec<&'static str>,
}

impl TokenBody {
    fn of(record: &TokenRecord, last_used_at: Option<Timestamp>, token: Option<String>) -> Self {
        TokenBody {
            id: record.id.as_uuid(),
            kind: kind_of(&record.principal),
            principal: record.principal.reference(),
            label: record.label.clone(),
            token,
            revoked: record.revoked,
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at,
            scopes: record.scopes.iter().map(TokenScope::as_str).collect(),
        }
    }
}

/// The scopes a request names (`None`: every scope).
fn scopes_of(names: Option<&[String]>) -> Result<TokenScopes, ApiError> {
    let Some(names) = names else {
        return Ok(TokenScopes::unrestricted());
    };
    let mut scopes = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let scope = TokenScope::parse(name).ok_or_else(|| {
            ApiError::invalid(
                format!("scopes[{index}]"),
                format!("{name:?} is not a scope (resolve, read, write, admin)"),
            )
        })?;
        scopes.push(scope);
    }
    TokenScopes::of(scopes)
        .ok_or_else(|| ApiError::invalid("scopes", "names at least one scope (or leave it out)"))
}

/// A principal's kind as the API writes it.
pub(crate) fn kind_of(principal: &Principal) -> &'static str {
    match principal {
        Principal::User(_) => "user",
        Principal::Runner { .. } => "runner",
        Principal::Auditor { .. } => "auditor",
    }
}

/// `POST /v1/tokens`.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    operation_id = "createToken",
    tag = "directory",
    summary = "Issue an API token",
    description = "Issues a token for a user (oneself; administrators for anyone), or for a new workflow runner or auditor (administrators). The token text is in this answer only: it is stored as a hash and never shown again, so a repeated `Idempotency-Key` cannot replay it.",
    params(IdempotencyKeyHeader),
    request_body(content = NewToken, content_type = "application/json"),
    responses(
        (status = 201, description = "Issued; `token` holds the token text, shown only here.", body = TokenBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this), or is not an administrator (tokens for other users, runners and auditors).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, response = UserNotFound),
        (status = 409, description = "A request with the same `Idempotency-Key` is still being processed, or this request was already processed with the same `Idempotency-Key` (`idempotent-replay-unavailable`: its answer held the token).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "An unknown `kind`, no `name` for a runner or auditor, a bad label, an `expires_at` not in the future or more than 366 days away, an unknown or empty `scopes`, a deactivated user, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_token(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let named = |kind: &str| {
        body.name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::invalid("name", format!("is required for {kind} tokens")))
    };
    // Each kind takes its own fields only: a stray one is a mistake worth naming.
    match body.kind.as_str() {
        "user" if body.name.is_some() => {
            return Err(ApiError::invalid(
                "name",
                "is only for runner and auditor tokens",
            ))
        }
        "runner" | "auditor" if body.user.is_some() => {
            return Err(ApiError::invalid("user", "is only for user tokens"))
        }
        _ => {}
    }
    let principal = match body.kind.as_str() {
        "user" => Principal::User(body.user.map_or(caller.user, UserId::from_uuid)),
        "runner" => Principal::Runner {
            id: PrincipalId::new(),
            name: named("runner")?,
        },
        "auditor" => Principal::Auditor {
            id: PrincipalId::new(),
            name: named("auditor")?,
        },
        other => {
            return Err(ApiError::invalid(
                "kind",
                format!("{other:?} is not a principal kind (user, runner, auditor)"),
            ))
        }
    };
    let limits = TokenLimits {
        expires_at: body.expires_at,
        scopes: scopes_of(body.scopes.as_deref())?,
    };
    let issued = state
        .app
        .issue_token(Some(&caller), principal, &body.label, limits)
        .await?;
    let answer = TokenBody::of(&issued.record, None, Some(issued.token.expose().to_owned()));
    // The token text is shown once: a retry with the same idempotency key answers
    // `idempotent-replay-unavailable` (the app never stores the text).
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /v1/tokens`: the caller's tokens (every token for administrators), never their text.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    operation_id = "listTokens",
    tag = "directory",
    summary = "List API tokens",
    description = "The caller's tokens (every token for administrators), never their text.",
    responses(
        (status = 200, description = "The tokens, without `token`.", body = Vec<TokenBody>),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
    ),
    security(("bearer" = []))
)]
pub async fn list_tokens(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let items: Vec<TokenBody> = state
        .app
        .tokens_visible_to(user)
        .await
        .iter()
        .map(|t| TokenBody::of(&t.record, t.last_used_at, None))
        .collect();
    Ok(Json(items).into_response())
}

/// `DELETE /v1/tokens/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    operation_id = "revokeToken",
    tag = "directory",
    summary = "Revoke an API token",
    description = "Revokes a token: it stops working at once. Its owner or an administrator may revoke it.",
    params(("id" = uuid::Uuid, Path, description = "The token's id."), IdempotencyKeyHeader),
    responses(
        (status = 204, description = "Revoked.", headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this). A token the caller may not revoke answers 404, like an unknown one.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "The token does not exist.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The token is already revoked, or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, response = IdempotencyKeyReused),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_token(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let id = parse_id::<TokenId>("id", &raw)?;
    state.app.revoke_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
