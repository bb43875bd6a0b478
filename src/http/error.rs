//! Errors as `application/problem+json` (RFC 9457), mapped once from every layer's errors.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::{AppError, OnBehalfRefusal, ResolveError};
use crate::crypto::CryptoError;
use crate::domain::authentication::AuthenticationError;
use crate::domain::directory::DirectoryError;
use crate::domain::naming::NameError;
use crate::domain::principals::PrincipalError;
use crate::domain::services::CustomServiceError;
use crate::domain::token_scope::TokenRefusal;

/// Base of the problem type URIs.
const TYPE_BASE: &str = "https://credledger.dev/problems/";

/// An error answer: status, a stable type slug, and a detail naming the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable slug, e.g. `validation`, `not-found`.
    pub kind: &'static str,
    /// Human-readable detail; never a secret value.
    pub detail: String,
    /// The offending field, when one is known.
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Problem<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl ApiError {
    /// An error with a status, slug and detail that names no field (see [`ApiError::about`]
    /// and [`ApiError::naming`] for those that do).
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            field: None,
        }
    }

    /// An error about one field of the request: the detail is `field: reason`, and the
    /// problem names the field.
    pub fn about(
        status: StatusCode,
        kind: &'static str,
        field: impl Into<String>,
        reason: impl std::fmt::Display,
    ) -> ApiError {
        let field = field.into();
        ApiError {
            status,
            kind,
            detail: format!("{field}: {reason}"),
            field: Some(field),
        }
    }

    /// 400: a malformed `field` of the request.
    pub fn malformed(field: impl Into<String>, reason: impl std::fmt::Display) -> ApiError {
        ApiError::about(StatusCode::BAD_REQUEST, "bad-request", field, reason)
    }

    /// 401: the bearer token is unknown, revoked, or of a deactivated user (one answer for
    /// all, so a token's existence is never told).
    pub fn token_not_valid() -> ApiError {
        ApiError::about(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authorization",
            "the token is not valid",
        )
    }

    /// 422: the rules refuse `field`.
    pub fn invalid(field: impl Into<String>, reason: impl std::fmt::Display) -> ApiError {
        ApiError::about(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            field,
            reason,
        )
    }

    /// The same error, naming `field` (when the layer's error knows one).
    pub fn naming(self, field: Option<String>) -> ApiError {
        ApiError { field, ..self }
    }

    /// 400 for a malformed request part.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 422 for a well-formed request the rules refuse.
    pub fn validation(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail)
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 500 without details (they go to the log).
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log for the request id",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        // The detail of an error about a field is `field: reason`.
        let reason = self.field.as_ref().map(|field| {
            self.detail
                .strip_prefix(field.as_str())
                .and_then(|rest| rest.strip_prefix(": "))
                .unwrap_or(&self.detail)
        });
        let problem = Problem {
            r#type: format!("{TYPE_BASE}{}", self.kind),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            field: self.field.as_deref(),
            reason,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"credledger\""),
            );
        }
        response
    }
}

/// Marks an error answer whose documented body is not a problem (`/readyz`'s 503 text), so
/// [`problems_only`] leaves it as the handler wrote it.
#[derive(Debug, Clone, Copy)]
pub struct DocumentedPlainAnswer;

/// Turns any error answer that is not yet problem+json (axum's own rejections, 405, the body
/// limit's 413) into one, so every 4xx/5xx has the same shape.
pub async fn problems_only(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem
        || response
            .extensions()
            .get::<DocumentedPlainAnswer>()
            .is_some()
    {
        return response;
    }
    let (kind, field, reason) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "method",
            "is not allowed on this path",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "body", "is larger than the limit"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "request", "took longer than the server allows"),
        // The only path parameter of the API is an id.
        StatusCode::BAD_REQUEST => ("bad-request", "id", "is not a valid id (a UUID)"),
        StatusCode::NOT_FOUND => ("not-found", "path", "no such endpoint"),
        _ => ("error", "request", "could not be processed"),
    };
    let mut problem = ApiError::about(status, kind, field, reason).into_response();
    // The request id is on every answer (api.md); the answer being replaced carries it.
    for name in [header::ALLOW, super::REQUEST_ID] {
        if let Some(value) = response.headers().get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

impl From<AuthenticationError> for ApiError {
    fn from(e: AuthenticationError) -> ApiError {
        use AuthenticationError as E;
        let text = e.to_string();
        let field = e.field();
        match e {
            // Same answer as for an authentication the caller may not see.
            E::NotFound => ApiError::not_found(AppError::NotFound.to_string())
                .naming(AppError::NotFound.field()),
            E::AccessDenied { .. } => ApiError::forbidden(text).naming(field),
            E::AlreadyExists(_) | E::Deleted | E::PurgeActive => {
                ApiError::new(StatusCode::CONFLICT, "conflict", text).naming(field)
            }
            E::Purged => ApiError::new(StatusCode::GONE, "purged", text).naming(field),
            E::Name(NameError::Duplicate { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "duplicate-name", text).naming(field)
            }
            // A custom service the caller may not see answers exactly like an unknown one.
            E::UnknownService(_) | E::ServiceRetired | E::ServiceNotUsableHere => {
                ApiError::validation(text).naming(field)
            }
            E::NewGrantRequired { .. } => ApiError::validation(text).naming(field),
            E::Name(
                NameError::Empty | NameError::TooLong { .. } | NameError::ControlCharacter { .. },
            )
            | E::Field(_)
            | E::Scope(_)
            | E::NameUnchanged
            | E::SameWorkspace(_)
            | E::NothingToChange
            | E::ScopesUnchanged
            | E::ReconsentRequired
            | E::NotOAuth2
            | E::AlreadyNeedsReauthorization
            | E::RefreshFailureAlreadyRecorded
            | E::NoCertificateNoticeDue
            | E::RestoreVersionOutOfRange { .. } => ApiError::validation(text).naming(field),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let text = e.to_string();
        let field = e.field();
        match e {
            AppError::NotFound | AppError::WorkspaceNotFound | AppError::OrganizationNotFound => {
                ApiError::not_found(text).naming(field)
            }
            AppError::VersionMismatch { expected, actual } => ApiError::about(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                "if-match",
                format!(
                    "expected version {expected}, but the authentication is at version {actual}"
                ),
            ),
            AppError::DirectoryVersionMismatch { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "version-mismatch", text)
                    .naming(field)
            }
            AppError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", text).naming(field)
            }
            AppError::IdempotencyKeyReused => ApiError::validation(text).naming(field),
            AppError::AnswerShownOnce => {
                ApiError::new(StatusCode::CONFLICT, "idempotent-replay-unavailable", text)
                    .naming(field)
            }
            AppError::Authentication(inner) => inner.into(),
            AppError::Directory(inner) => match inner {
                DirectoryError::UnknownOrganization(_)
                | DirectoryError::UnknownUser(_)
                | DirectoryError::UnknownWorkspace(_) => ApiError::not_found(text).naming(field),
                DirectoryError::OrganizationExists(_)
                | DirectoryError::UserExists(_)
                | DirectoryError::WorkspaceExists(_)
                | DirectoryError::EmailTaken { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", text).naming(field)
                }
                // The request's field is `name`, whichever directory name the rule is about.
                DirectoryError::WorkspaceNameTaken { name } => ApiError::about(
                    StatusCode::CONFLICT,
                    "conflict",
                    "name",
                    format!("{name:?} is already used in this organization"),
                ),
                DirectoryError::InvalidName { reason, .. } => {
                    ApiError::invalid("name", reason.reason())
                }
                DirectoryError::InvalidEmail { .. }
                | DirectoryError::AlreadyOrganizationMember { .. }
                | DirectoryError::NotOrganizationMember { .. }
                | DirectoryError::AlreadyWorkspaceMember { .. }
                | DirectoryError::NotWorkspaceMember { .. }
                | DirectoryError::NotSharedWorkspace { .. }
                | DirectoryError::LastOwner(_)
                | DirectoryError::RoleUnchanged
                | DirectoryError::NameUnchanged
                | DirectoryError::UserDeactivated(_)
                | DirectoryError::UserActive(_) => ApiError::validation(text).naming(field),
            },
            AppError::CustomService(inner) => match inner {
                CustomServiceError::AccessDenied { .. } => ApiError::forbidden(text).naming(field),
                // The same answer for a missing service and one the caller may not see.
                CustomServiceError::NotFound => ApiError::not_found(text).naming(field),
                CustomServiceError::AlreadyDefined(_) => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", text).naming(field)
                }
                CustomServiceError::Retired | CustomServiceError::AlreadyRetired => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", text).naming(field)
                }
                CustomServiceError::VersionMismatch { .. } => {
                    ApiError::new(StatusCode::PRECONDITION_FAILED, "version-mismatch", text)
                        .naming(field)
                }
                CustomServiceError::Registration(_)
                | CustomServiceError::TogetherOnlyInPersonal { .. }
                | CustomServiceError::NotOAuth2 { .. }
                | CustomServiceError::Spec(_)
                | CustomServiceError::SpecUnchanged
                | CustomServiceError::KindChanged { .. } => {
                    ApiError::validation(text).naming(field)
                }
            },
            AppError::Principal(inner) => match inner {
                PrincipalError::AdminOnly(_)
                | PrincipalError::MissingRole(_)
                | PrincipalError::AuditReadersOnly
                | PrincipalError::RunnersOnlyResolve
                | PrincipalError::UsersOnly => ApiError::forbidden(text).naming(field),
                PrincipalError::UnknownToken
                | PrincipalError::UnknownUser(_)
                | PrincipalError::SignInLinkNotValid => ApiError::not_found(text).naming(field),
                PrincipalError::AlreadyRevoked | PrincipalError::TokenExists(_) => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", text).naming(field)
                }
                PrincipalError::BadLabel
                | PrincipalError::BadExpiry(_)
                | PrincipalError::UserDeactivated(_) => ApiError::validation(text).naming(field),
            },
            AppError::Resolve(inner) => match inner {
                ResolveError::NotUsable(_)
                | ResolveError::OnBehalf(
                    OnBehalfRefusal::OnlyForThemselves
                    | OnBehalfRefusal::AuditorsNeverReceiveSecrets
                    | OnBehalfRefusal::UserDeactivated,
                ) => ApiError::forbidden(text).naming(field),
                ResolveError::OnBehalf(OnBehalfRefusal::RunnerNamedNobody) => {
                    ApiError::validation(text).naming(field)
                }
                ResolveError::UnknownField { .. }
                | ResolveError::FieldNotSet { .. }
                | ResolveError::BadReference { .. }
                | ResolveError::NotResolvable { .. } => ApiError::validation(text).naming(field),
            },
            // An expired token is as unusable as an unknown one; a token out of its scopes is
            // known but may not do this.
            AppError::Token(TokenRefusal::Expired { .. }) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", text).naming(field)
            }
            AppError::Token(TokenRefusal::OutOfScope { .. }) => {
                ApiError::new(StatusCode::FORBIDDEN, "insufficient-scope", text).naming(field)
            }
            AppError::Cursor(_) => ApiError::bad_request(text).naming(field),
            AppError::EventStream(inner) => match inner {
                crate::app::EventStreamError::TooManyStreams { .. } => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too-many-event-streams",
                    text,
                )
                .naming(field),
                crate::app::EventStreamError::FeedStopped => {
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "event-feed-stopped", text)
                        .naming(field)
                }
                crate::app::EventStreamError::ResumeAhead { .. } => {
                    ApiError::bad_request(text).naming(field)
                }
            },
            AppError::Webhook(inner) => {
                use crate::domain::webhooks::WebhookError as W;
                match inner {
                    W::NotFound | W::WorkspaceNotFound => ApiError::not_found(text).naming(field),
                    W::AlreadyExists | W::AlreadyActive | W::AlreadyDisabled => {
                        ApiError::new(StatusCode::CONFLICT, "conflict", text).naming(field)
                    }
                    W::WrongActor => ApiError::forbidden(text).naming(field),
                    W::Url { .. } | W::TooManyEventTypes | W::DescriptionTooLong | W::TooMany => {
                        ApiError::validation(text).naming(field)
                    }
                }
            }
            AppError::RestoreTarget(_) => ApiError::validation(text).naming(field),
            // The detail names the field (`verification`) and the service's status, never its body.
            AppError::Verification(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification-failed",
                text,
            )
            .naming(field),
            AppError::Crypto(CryptoError::DataKeyDestroyed { .. }) => ApiError::about(
                StatusCode::GONE,
                "secrets-destroyed",
                "authentication",
                "its secrets were destroyed (purged); they can never be resolved or changed again",
            ),
            AppError::MasterKey(_)
            | AppError::Startup(_)
            | AppError::Crypto(_)
            | AppError::Store(_)
            | AppError::Projection(_)
            | AppError::Catalog(_)
            | AppError::Checkpoint(_)
            | AppError::Storage(_) => {
                tracing::error!(error = %text, "request failed");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::oauth::OAuthError> for ApiError {
    fn from(e: crate::oauth::OAuthError) -> ApiError {
        use crate::oauth::OAuthError as E;
        let text = e.to_string();
        let field = e.field();
        match e {
            E::Invalid(_) | E::NotOAuth2 | E::NoClient(_) | E::NoRefreshToken => {
                ApiError::validation(text).naming(field)
            }
            E::NotFound => ApiError::not_found(text).naming(field),
            E::InvalidState | E::StateExpired | E::IssuerMismatch => {
                ApiError::bad_request(text).naming(field)
            }
            E::Refused { .. } | E::Endpoint(_) => ApiError::validation(text).naming(field),
            E::NeedsReauthorization => {
                ApiError::new(StatusCode::CONFLICT, "needs-reauthorization", text).naming(field)
            }
            E::Provider { .. } | E::Transport(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "provider", text).naming(field)
            }
            E::App(inner) => inner.into(),
            E::Internal => ApiError::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_documented_plain_answer_passes_and_others_become_problems_with_their_id() {
        let mut plain = (StatusCode::SERVICE_UNAVAILABLE, "catching up\n").into_response();
        plain.extensions_mut().insert(DocumentedPlainAnswer);
        let kept = problems_only(plain).await;
        assert_eq!(kept.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(kept
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/plain")));

        let mut bare = StatusCode::METHOD_NOT_ALLOWED.into_response();
        bare.headers_mut()
            .insert(super::super::REQUEST_ID, HeaderValue::from_static("rid-1"));
        let problem = problems_only(bare).await;
        assert_eq!(
            problem
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..])
        );
        assert_eq!(
            problem
                .headers()
                .get(super::super::REQUEST_ID)
                .map(|v| v.as_bytes()),
            Some(&b"rid-1"[..])
        );
    }

    #[test]
    fn mappings_with_their_own_detail_name_their_field() {
        use crate::app::{RestoreField, RestoreRefusal};
        let cases = [
            (
                AppError::VersionMismatch {
                    expected: 1,
                    actual: 2,
                },
                StatusCode::PRECONDITION_FAILED,
                "if-match",
                "if-match: expected version 1, but the authentication is at version 2",
            ),
            (
                AppError::Directory(DirectoryError::WorkspaceNameTaken { name: "Ops".into() }),
                StatusCode::CONFLICT,
                "name",
                "name: \"Ops\" is already used in this organization",
            ),
            (
                AppError::Directory(DirectoryError::InvalidName {
                    field: "workspace name",
                    reason: NameError::Empty,
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "name",
                "name: is required and must not be blank",
            ),
            (
                AppError::Crypto(CryptoError::DataKeyDestroyed {
                    owner: uuid::Uuid::nil(),
                }),
                StatusCode::GONE,
                "authentication",
                "authentication: its secrets were destroyed (purged); they can never be resolved or changed again",
            ),
            (
                AppError::Authentication(AuthenticationError::NotFound),
                StatusCode::NOT_FOUND,
                "authentication",
                "authentication: not found",
            ),
            (
                AppError::RestoreTarget(RestoreRefusal::DidNotExist {
                    field: RestoreField::AsOf,
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "as_of",
                "as_of: the authentication did not exist at that point",
            ),
        ];
        for (error, status, field, detail) in cases {
            let answer = ApiError::from(error);
            assert_eq!(answer.status, status, "{answer:?}");
            assert_eq!(answer.field.as_deref(), Some(field), "{answer:?}");
            assert_eq!(answer.detail, detail);
        }
        let internal = ApiError::from(AppError::Storage(sled::Error::Unsupported("x".into())));
        assert_eq!(internal.field, None);
    }
}
