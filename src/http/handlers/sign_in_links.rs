//! `/v1/sign-in-links`: one-time dashboard sign-in links, issued for a user.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::ids::UserId;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Authenticated};
use crate::http::openapi::{
    BadRequest, IdempotencyKeyHeader, PayloadTooLarge, ProblemSchema, TimeSchema, Unauthorized,
    UnsupportedMediaType, UserNotFound,
};
use crate::http::SharedState;
use crate::time::Timestamp;

/// The dashboard path a link's secret is appended to.
pub const SIGN_IN_LINK_PATH: &str = "/ui/sign-in/link/";

/// `POST /v1/sign-in-links`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSignInLink {
    /// Who signs in with it (default: the caller).
    #[serde(default)]
    pub user: Option<Uuid>,
}

/// An issued link; `path` holds its secret and is shown only in this answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInLinkBody {
    /// The link's id.
    pub id: Uuid,
    /// The user it signs in.
    pub user: Uuid,
    /// The dashboard path to open (`/ui/sign-in/link/<secret>`), on this server's address.
    pub path: String,
    /// When it stops working (15 minutes after it was issued).
    #[schema(value_type = TimeSchema)]
    pub expires_at: Timestamp,
}

/// `POST /v1/sign-in-links`.
#[utoipa::path(
    post,
    path = "/v1/sign-in-links",
    operation_id = "createSignInLink",
    tag = "directory",
    summary = "Issue a one-time dashboard sign-in link",
    description = "Issues a link that opens one dashboard session for `user`, once, within 15 minutes. Whoever may issue that user an API token may issue it (the user themselves, or an owner or admin of their organization). Only a hash of its secret is stored; the secret is in this answer only, so a repeated `Idempotency-Key` cannot replay it.",
    params(IdempotencyKeyHeader),
    request_body(content = NewSignInLink, content_type = "application/json"),
    responses(
        (status = 201, description = "Issued; `path` holds the secret, shown only here.", body = SignInLinkBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user, or may not issue tokens for that user.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, response = UserNotFound),
        (status = 409, description = "A request with the same `Idempotency-Key` is still being processed, or was already processed (`idempotent-replay-unavailable`: its answer held the secret).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_sign_in_link(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewSignInLink>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let user = body.user.map_or(caller.user, UserId::from_uuid);
    let issued = state.app.issue_sign_in_link(&caller, user).await?;
    let answer = SignInLinkBody {
        id: issued.id.as_uuid(),
        user: user.as_uuid(),
        path: format!("{SIGN_IN_LINK_PATH}{}", issued.secret.expose()),
        expires_at: issued.expires_at,
    };
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
