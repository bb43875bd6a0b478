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
pub use settings::{ClientAuthMethod, OAuthClient, OAuthSettings, RegistrationError};

use crate::app::{App, AppError};

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
    /// The request is malformed or breaks a rule (`field: reason`).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The authentication does not exist or is not visible.
    #[error("authentication: not found")]
    NotFound,
    /// The service does not use OAuth2.
    #[error("service: does not use OAuth2")]
    NotOAuth2,
    /// No client is registered for the service on this server.
    #[error("service: no OAuth2 client is configured for {0} on this server")]
    NoClient(String),
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
    Transport(String),
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
            HttpClientError::Reqwest(e) if e.is_timeout() => "timed out".into(),
            HttpClientError::Reqwest(_) => "request failed".into(),
            _ => "request failed".into(),
        }),
        RequestTokenError::Parse(_, _) => {
            OAuthError::Transport("the answer was not a token response".into())
        }
        RequestTokenError::Other(reason) => OAuthError::Transport(
            // oauth2 reports unexpected statuses (e.g. a redirect it must not follow) here.
            reason.chars().take(80).collect(),
        ),
    }
}
