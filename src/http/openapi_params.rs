//! Shared parameters and responses of the OpenAPI document: the `Idempotency-Key` and
//! `If-Match` headers of writes and the problem answers every operation may give. Re-exported
//! by [`super::openapi`], where the handlers name them.

use utoipa::{IntoParams, ToResponse};

use super::openapi::ProblemSchema;

/// The `Idempotency-Key` request header of write endpoints.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 printable ASCII characters, no space; a new one per operation (no example:
    /// a key reused with another body is a 422). Repeating a request with the same key,
    /// token, method and path within 24 hours replays the first successful answer (with
    /// `idempotent-replayed: true`) without doing anything again, also when the server
    /// crashed before answering; a refusal is not stored, so its retry runs again.
    #[param(rename = "Idempotency-Key", nullable = false)]
    pub idempotency_key: Option<String>,
}

/// The `If-Match` request header of commands on an authentication or a custom service.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// The version the caller last saw, as its `ETag` (`"3"`; a bare `3` is accepted too).
    /// When given and the authentication (or custom service) is at another version, the
    /// answer is a 412.
    #[param(rename = "If-Match", nullable = false, example = "\"3\"")]
    pub if_match: Option<String>,
}

/// A malformed request: JSON syntax, an id that is not a UUID, a bad query parameter, or a
/// bad `If-Match` / `Idempotency-Key` header.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub ProblemSchema);

/// No bearer token, or the token is not valid (unknown or revoked). The answer carries
/// `WWW-Authenticate: Bearer realm="credledger"`.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"credledger\"`"))
)]
pub struct Unauthorized(pub ProblemSchema);

/// The body is larger than the limit (64 KiB by default), whether `Content-Length` announced
/// it or it was found while reading: a `payload-too-large` problem naming `body`.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub ProblemSchema);

/// The body is not sent as `Content-Type: application/json`.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub ProblemSchema);
