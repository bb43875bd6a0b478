//! OAuth2 grants: authorization-code flow with PKCE, token refresh, and the outbound HTTP policy.

pub mod endpoint;
pub mod flow;
pub mod refresh;
mod request;
pub mod settings;

use std::sync::Arc;

use oauth2::basic::BasicErrorResponseType;
use oauth2::{HttpClientError, RequestTokenError, StandardErrorResponse};

pub use flow::{AuthorizeRequest, CallbackParams, Completed, Started, Target};
pub use refresh::Refreshed;
pub use request::missing_required;
pub use settings::{ClientAuthMethod, OAuthClient, OAuthSettings, RegistrationError};

use crate::app::{App, AppError};
use crate::domain::ids::{FieldName, ServiceKey};
use crate::domain::services::ServiceRef;

/// How long before its recorded expiry a resolve treats an access token as expired: providers
/// round issue times down (oidc-provider to whole seconds), so a token can die a moment before
/// the `expires_at` computed from `expires_in`. Held to half a token's lifetime like the margin.
pub const EXPIRY_SKEW: std::time::Duration = std::time::Duration::from_secs(5);

/// The OAuth2 side of the service: settings, started authorizations, refresh state.
pub struct OAuth {
    app: Arc<App>,
    settings: OAuthSettings,
    pending: flow::PendingStore,
    refresh: refresh::RefreshState,
}

impl OAuth {
    /// OAuth2 over an open ledger.
    pub fn new(app: Arc<App>, settings: OAuthSettings) -> OAuth {
        OAuth {
            app,
            settings,
            pending: flow::PendingStore::default(),
            refresh: refresh::RefreshState::default(),
        }
    }
}

/// Why an OAuth2 operation failed. Never carries a token, code or verifier.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The request is malformed or breaks a rule.
    #[error(transparent)]
    Invalid(#[from] RequestProblem),
    /// The authentication does not exist or is not visible.
    #[error("authentication: not found")]
    NotFound,
    /// The service does not use OAuth2.
    #[error("service: does not use OAuth2")]
    NotOAuth2,
    /// No client is registered for the service on this server.
    #[error("service: no OAuth2 client is configured for {0} on this server")]
    NoClient(ServiceRef),
    /// The state is unknown, used, or belongs to someone else.
    #[error("state: is not valid (unknown, already used, or not yours)")]
    InvalidState,
    /// The state is older than the allowed time.
    #[error("state: has expired; start the authorization again")]
    StateExpired,
    /// The callback's `iss` is missing or not the issuer of the service's registration.
    #[error("iss: is not the issuer this authorization was started at")]
    IssuerMismatch,
    /// The provider's redirect reported an error (the user refused, …); the state is used up.
    #[error("error: the provider refused the authorization ({code})")]
    Refused {
        /// The provider's error code, e.g. `access_denied`.
        code: String,
    },
    /// The token endpoint may not be called.
    #[error("token_url: {0}")]
    Endpoint(#[from] endpoint::EndpointError),
    /// The provider refused (an OAuth2 error code such as `invalid_grant`).
    #[error("provider: refused the token request ({code})")]
    Provider {
        /// The OAuth2 error code.
        code: String,
    },
    /// The token endpoint could not be reached or answered something unusable.
    #[error("provider: the token endpoint could not be used ({0})")]
    Transport(TransportProblem),
    /// There is no refresh token to use.
    #[error("refresh_token: is not set; authorize again")]
    NoRefreshToken,
    /// The provider refused the refresh token earlier; a person must authorize again.
    #[error("authentication: needs re-authorization (POST /v1/oauth/authorize)")]
    NeedsReauthorization,
    /// The ledger refused or failed.
    #[error(transparent)]
    App(#[from] AppError),
    /// A lock was poisoned (a bug).
    #[error("internal error")]
    Internal,
}

impl OAuthError {
    /// The request field the error is about, as its text begins (`state`, `token_url`, …, or
    /// the wrapped problem's or ledger error's field).
    pub fn field(&self) -> Option<String> {
        use OAuthError as E;
        let field = match self {
            E::Invalid(problem) => return Some(problem.field()),
            E::App(inner) => return inner.field(),
            E::Internal => return None,
            E::NotFound | E::NeedsReauthorization => "authentication",
            E::NotOAuth2 | E::NoClient(_) => "service",
            E::InvalidState | E::StateExpired => "state",
            E::IssuerMismatch => "iss",
            E::Refused { .. } => "error",
            // The endpoint's own text (`token endpoint <host>: …`) follows the field.
            E::Endpoint(_) => "token_url",
            E::Provider { .. } | E::Transport(_) => "provider",
            E::NoRefreshToken => "refresh_token",
        };
        Some(field.to_owned())
    }
}

/// What is wrong with an OAuth2 request, by the field it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestProblem {
    /// A service endpoint's `{field}` placeholder has no value among the given fields.
    #[error("fields: the service's endpoint {template:?} needs a field that is not set")]
    EndpointNeedsField {
        /// The endpoint template (service configuration, never a secret).
        template: String,
    },
    /// No prebuilt service has this key.
    #[error("service: {0} is not a known service")]
    UnknownService(ServiceKey),
    /// The custom service does not exist or is hidden from the caller (one answer for both).
    #[error("service: not found")]
    ServiceNotFound,
    /// A URL of the registration or of this server's settings does not parse.
    #[error("{0}: is not a valid URL")]
    NotAUrl(UrlSetting),
    /// A requested scope is not among the service's.
    #[error("scopes: {scope:?} is not offered by this service")]
    ScopeNotOffered {
        /// The scope token asked for.
        scope: String,
    },
    /// An extra permission is not a single scope token.
    #[error("extra_permissions: each is one scope token: 1 to 256 printable characters, no spaces, quotes or backslashes")]
    NotAScopeToken,
    /// `return_to` is not on this server's allow-list.
    #[error("return_to: is not on this server's allow-list")]
    ReturnToNotAllowed,
    /// Re-authorizing an authentication with another service than its own.
    #[error("service: is not the authentication's service")]
    NotTheAuthenticationsService,
    /// A field that comes from the provider (or a secret) was given in the request.
    #[error("fields.{0}: cannot be given here; only the service's plain settings can")]
    FieldNotGivable(FieldName),
    /// The provider's redirect carried neither `code` nor `error`.
    #[error("code: the provider's redirect carried neither code nor error")]
    NoCodeNorError,
}

impl RequestProblem {
    /// The request field the problem is about.
    pub fn field(&self) -> String {
        match self {
            RequestProblem::EndpointNeedsField { .. } => "fields".into(),
            RequestProblem::UnknownService(_)
            | RequestProblem::ServiceNotFound
            | RequestProblem::NotTheAuthenticationsService => "service".into(),
            RequestProblem::NotAUrl(setting) => setting.as_str().into(),
            RequestProblem::ScopeNotOffered { .. } => "scopes".into(),
            RequestProblem::NotAScopeToken => "extra_permissions".into(),
            RequestProblem::ReturnToNotAllowed => "return_to".into(),
            RequestProblem::FieldNotGivable(name) => format!("fields.{name}"),
            RequestProblem::NoCodeNorError => "code".into(),
        }
    }
}

/// The URLs an OAuth2 client is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSetting {
    /// The provider's authorization endpoint.
    AuthorizeUrl,
    /// The provider's token endpoint.
    TokenUrl,
    /// This server's callback.
    RedirectUrl,
}

impl UrlSetting {
    /// The setting's name, as fields and settings spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlSetting::AuthorizeUrl => "authorize_url",
            UrlSetting::TokenUrl => "token_url",
            UrlSetting::RedirectUrl => "redirect_url",
        }
    }
}

impl std::fmt::Display for UrlSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the token endpoint could not be used. Never carries the answer's body (it may hold
/// tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransportProblem {
    /// No answer in time.
    #[error("timed out")]
    TimedOut,
    /// The request could not be sent or no answer came.
    #[error("request failed")]
    RequestFailed,
    /// The answer is not a token response.
    #[error("the answer was not a token response")]
    NotATokenResponse,
    /// The answer had an empty body.
    #[error("the answer was empty")]
    EmptyAnswer,
    /// The answer is not JSON.
    #[error("the answer was not JSON")]
    NotJson,
    /// Anything else oauth2 refused in the answer (an unexpected status, a redirect it must not
    /// follow).
    #[error("the answer was unexpected")]
    Unexpected,
}

type TokenError = RequestTokenError<
    HttpClientError<reqwest::Error>,
    StandardErrorResponse<BasicErrorResponseType>,
>;

/// Maps an oauth2 request error without keeping any response body (it may hold tokens).
pub(crate) fn provider_error(e: TokenError) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(response) => OAuthError::Provider {
            code: response.error().to_string(),
        },
        RequestTokenError::Request(inner) => OAuthError::Transport(match inner {
            HttpClientError::Reqwest(e) if e.is_timeout() => TransportProblem::TimedOut,
            _ => TransportProblem::RequestFailed,
        }),
        RequestTokenError::Parse(_, _) => {
            OAuthError::Transport(TransportProblem::NotATokenResponse)
        }
        // oauth2 5 says these only in text (endpoint.rs: check_response_status/_body).
        RequestTokenError::Other(reason) => OAuthError::Transport(if reason.contains("empty") {
            TransportProblem::EmptyAnswer
        } else if reason.contains("Content-Type") {
            TransportProblem::NotJson
        } else {
            TransportProblem::Unexpected
        }),
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn every_error_names_its_field() {
        let slack = ServiceKey::parse("slack").expect("a valid key");
        let table = [
            (
                OAuthError::Invalid(RequestProblem::ScopeNotOffered {
                    scope: "admin".into(),
                }),
                "scopes",
            ),
            (OAuthError::NotFound, "authentication"),
            (OAuthError::NotOAuth2, "service"),
            (
                OAuthError::NoClient(ServiceRef::Prebuilt(slack.clone())),
                "service",
            ),
            (OAuthError::InvalidState, "state"),
            (OAuthError::StateExpired, "state"),
            (OAuthError::IssuerMismatch, "iss"),
            (
                OAuthError::Refused {
                    code: "access_denied".into(),
                },
                "error",
            ),
            (
                OAuthError::Endpoint(endpoint::EndpointError::InvalidUrl {
                    reason: "relative URL without a base".into(),
                }),
                "token_url",
            ),
            (
                OAuthError::Endpoint(endpoint::EndpointError::MissingHost),
                "token_url",
            ),
            (
                OAuthError::Provider {
                    code: "invalid_grant".into(),
                },
                "provider",
            ),
            (
                OAuthError::Transport(TransportProblem::TimedOut),
                "provider",
            ),
            (OAuthError::NoRefreshToken, "refresh_token"),
            (OAuthError::NeedsReauthorization, "authentication"),
            (
                OAuthError::App(AppError::IdempotencyKeyReused),
                "idempotency-key",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
        assert_eq!(OAuthError::Internal.field(), None);
    }

    #[test]
    fn every_request_problem_names_its_field() {
        let table = [
            (
                RequestProblem::EndpointNeedsField {
                    template: "https://{domain}/token".into(),
                },
                "fields",
            ),
            (
                RequestProblem::UnknownService(ServiceKey::parse("nope").expect("a valid key")),
                "service",
            ),
            (RequestProblem::ServiceNotFound, "service"),
            (
                RequestProblem::NotAUrl(UrlSetting::AuthorizeUrl),
                "authorize_url",
            ),
            (RequestProblem::NotAUrl(UrlSetting::TokenUrl), "token_url"),
            (
                RequestProblem::NotAUrl(UrlSetting::RedirectUrl),
                "redirect_url",
            ),
            (
                RequestProblem::ScopeNotOffered {
                    scope: "a: b".into(),
                },
                "scopes",
            ),
            (RequestProblem::NotAScopeToken, "extra_permissions"),
            (RequestProblem::ReturnToNotAllowed, "return_to"),
            (RequestProblem::NotTheAuthenticationsService, "service"),
            (
                RequestProblem::FieldNotGivable(
                    FieldName::parse("access_token").expect("a valid field name"),
                ),
                "fields.access_token",
            ),
            (RequestProblem::NoCodeNorError, "code"),
        ];
        for (problem, field) in table {
            assert_eq!(problem.field(), field, "{problem:?}");
            assert!(problem.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
