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

/// The `If-Match` header of directory changes.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct DirectoryIfMatch {
    /// The directory version the caller last saw (the `ETag` of a directory answer, e.g.
    /// `GET /v1/memberships`). When given and the directory is at another version, the answer
    /// is a 412: of racing changes made against one version, one lands.
    #[param(rename = "If-Match", nullable = false, example = "\"12\"")]
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

/// The caller is not a user (runners and auditors may not do this).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotAUser(pub ProblemSchema);

/// A workflow runner.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct RunnerRefused(pub ProblemSchema);

/// The caller is not a user (runners and auditors may not change anything), or the user's
/// role in the workspace does not allow it.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct RoleForbids(pub ProblemSchema);

/// The caller is not a user, or may not create services in the service's workspace.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct MayNotCreateServices(pub ProblemSchema);

/// No such authentication, or the caller may not see it (the two are indistinguishable on
/// purpose).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct AuthenticationNotFound(pub ProblemSchema);

/// No such custom service, or the caller may not see it (the two answer alike on purpose).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct CustomServiceNotFound(pub ProblemSchema);

/// The user does not exist.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UserNotFound(pub ProblemSchema);

/// A request with the same `Idempotency-Key` is still being processed.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct IdempotencyKeyInFlight(pub ProblemSchema);

/// The authentication was purged (`purged`).
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Purged(pub ProblemSchema);

/// `If-Match` names another version than the current one (`version-mismatch`); read it again
/// and retry.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct VersionMismatch(pub ProblemSchema);

/// The `Idempotency-Key` was used before with a different request.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct IdempotencyKeyReused(pub ProblemSchema);

/// The name breaks the rules, or the `Idempotency-Key` was used before with a different
/// request.
#[derive(Debug, ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadNameOrKeyReused(pub ProblemSchema);
