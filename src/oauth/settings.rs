//! OAuth2 settings: the platform's client registrations per service, the callback URL, the
//! allow-list of return targets, and refresh timing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::endpoint::EndpointPolicy;
use crate::crypto::SecretString;

pub use crate::domain::services::{
    check_registration, ClientAuthMethod, ClientRegistration, RegistrationError,
    RESERVED_AUTHORIZE_PARAMS,
};

/// The platform's OAuth2 client at one provider, with its secret in the clear in memory
/// (Debug prints `[REDACTED]`).
pub type OAuthClient = ClientRegistration<SecretString>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: ClientAuthMethod,
    #[serde(default)]
    authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    issuer: Option<String>,
}

/// Everything the OAuth2 flows need besides the ledger.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Client registrations by service key (`slack`, `github`, …).
    pub clients: BTreeMap<String, OAuthClient>,
    /// This server's callback URL, registered at every provider.
    pub redirect_url: String,
    /// Where the callback may send the browser afterwards (URL prefixes).
    pub return_allow_list: Vec<String>,
    /// Which token endpoints may be called.
    pub policy: EndpointPolicy,
    /// How long an authorization may take between start and callback.
    pub state_ttl: Duration,
    /// Refresh access tokens this long before they expire (at most half a token's
    /// lifetime, see [`OAuthSettings::margin_for`]).
    pub refresh_margin: Duration,
    /// How often the background task looks for tokens to refresh.
    pub refresh_interval: Duration,
}

/// A malformed clients file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Not the expected JSON.
    #[error("oauth clients file: {reason} at line {line} column {column}")]
    Parse {
        /// Line of the file (1-based).
        line: usize,
        /// Column of the line (1-based).
        column: usize,
        /// serde_json's reason with every value elided: the file holds client secrets.
        reason: String,
    },
    /// A registration breaks a rule.
    #[error("oauth clients file: {service}.{error}")]
    Registration {
        /// The service key of the registration.
        service: String,
        /// The field and reason.
        error: RegistrationError,
    },
}

/// The share of a token's lifetime the refresh margin may take: with a longer margin a token
/// would be due as soon as it is issued, and be refreshed on every tick.
pub const MAX_MARGIN_SHARE: f64 = 0.5;

impl OAuthSettings {
    /// Settings with no client registered yet.
    pub fn new(redirect_url: impl Into<String>) -> OAuthSettings {
        OAuthSettings {
            clients: BTreeMap::new(),
            redirect_url: redirect_url.into(),
            return_allow_list: Vec::new(),
            policy: EndpointPolicy::strict(),
            state_ttl: Duration::from_secs(600),
            refresh_margin: Duration::from_secs(300),
            refresh_interval: Duration::from_secs(30),
        }
    }

    /// Reads client registrations:
    /// `{"slack": {"client_id": "…", "client_secret": "…", "token_endpoint_auth_method":
    /// "client_secret_post", "authorize_params": {"prompt": "consent"}, "issuer": "…"}}`.
    pub fn with_clients_json(mut self, json: &str) -> Result<OAuthSettings, SettingsError> {
        let raw: BTreeMap<String, ClientFile> =
            serde_json::from_str(json).map_err(|e| SettingsError::Parse {
                line: e.line(),
                column: e.column(),
                reason: elided_reason(&e),
            })?;
        for (service, client) in raw {
            let registration = OAuthClient {
                client_id: client.client_id,
                client_secret: client.client_secret.map(SecretString::new),
                auth_method: client.token_endpoint_auth_method,
                authorize_params: client.authorize_params,
                issuer: client.issuer,
            };
            check_registration(&registration, |s| s.expose().trim().is_empty()).map_err(
                |error| SettingsError::Registration {
                    service: service.clone(),
                    error,
                },
            )?;
            self.clients.insert(service, registration);
        }
        Ok(self)
    }

    /// The refresh margin for a token of this lifetime: the configured margin, at most
    /// [`MAX_MARGIN_SHARE`] of the lifetime.
    pub fn margin_for(&self, lifetime: Option<Duration>) -> Duration {
        match lifetime {
            Some(lifetime) => self.refresh_margin.min(lifetime.mul_f64(MAX_MARGIN_SHARE)),
            None => self.refresh_margin,
        }
    }

    /// Whether a return target is on the allow-list (a prefix that ends at a path boundary).
    pub fn return_allowed(&self, target: &str) -> bool {
        self.return_allow_list.iter().any(|prefix| {
            target == prefix
                || (target.starts_with(prefix.as_str())
                    && (prefix.ends_with('/')
                        || target[prefix.len()..].starts_with(['/', '?', '#'])))
        })
    }
}

/// serde_json's message without its trailing " at line L column C" (said apart) and with every
/// value elided.
fn elided_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let without_position = text
        .rfind(" at line ")
        .map_or(text.as_str(), |at| &text[..at]);
    crate::domain::secret::elide_values(without_position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_targets_must_match_an_allowed_prefix_at_a_boundary() {
        let mut s = OAuthSettings::new("https://ledger.example/v1/oauth/callback");
        s.return_allow_list = vec!["https://app.example/settings".into()];
        assert!(s.return_allowed("https://app.example/settings"));
        assert!(s.return_allowed("https://app.example/settings/auth?x=1"));
        assert!(!s.return_allowed("https://app.example/settings.evil.example/"));
        assert!(!s.return_allowed("https://evil.example/https://app.example/settings"));
        assert!(!s.return_allowed("https://app.example/settingsX"));
    }

    fn load(json: &str) -> Result<OAuthSettings, SettingsError> {
        OAuthSettings::new("http://x").with_clients_json(json)
    }

    fn refusal(json: &str) -> String {
        load(json).expect_err("refused").to_string()
    }

    #[test]
    fn a_malformed_file_is_named_by_line_and_column_and_never_shows_a_value() {
        let refused = load("{\"slack\": {\"client_id\": \"id\",\n \"client_secret\": 12345678}}")
            .expect_err("a number is not a secret");
        let SettingsError::Parse {
            line,
            column,
            reason,
        } = &refused
        else {
            panic!("expected a parse error, got {refused}");
        };
        assert_eq!((*line, *column > 0), (2, true));
        assert!(reason.contains("invalid type: integer"), "{reason}");
        assert!(!refused.to_string().contains("12345678"), "{refused}");
    }

    #[test]
    fn client_files_are_strict_and_secrets_redacted() {
        let s =
            load(r#"{"slack": {"client_id": "id", "client_secret": "s3cr3t"}}"#).expect("valid");
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert_eq!(
            s.clients["slack"].auth_method,
            ClientAuthMethod::ClientSecretBasic
        );
        assert!(refusal(r#"{"slack": {"client_id": "id"}}"#)
            .contains("slack.client_secret: is required for client_secret_basic"));
        assert!(refusal(r#"{"slack": {"client_id": "id", "secret": "x"}}"#).contains("unknown"));
    }

    #[test]
    fn public_clients_have_no_secret_and_secrets_are_never_empty() {
        let s = load(
            r#"{"p": {"client_id": "id", "token_endpoint_auth_method": "none"},
                "q": {"client_id": "id", "client_secret": "s", "token_endpoint_auth_method": "client_secret_post"}}"#,
        )
        .expect("valid");
        assert_eq!(s.clients["p"].auth_method, ClientAuthMethod::None);
        assert!(s.clients["p"].client_secret.is_none());
        assert_eq!(
            s.clients["q"].auth_method,
            ClientAuthMethod::ClientSecretPost
        );
        let with_secret = refusal(
            r#"{"p": {"client_id": "id", "client_secret": "s", "token_endpoint_auth_method": "none"}}"#,
        );
        assert!(
            with_secret.contains("p.client_secret: must not be set"),
            "{with_secret}"
        );
        let empty = refusal(r#"{"p": {"client_id": "id", "client_secret": " "}}"#);
        assert!(
            empty.contains("p.client_secret: must not be empty"),
            "{empty}"
        );
        let unknown = refusal(
            r#"{"p": {"client_id": "id", "client_secret": "s", "token_endpoint_auth_method": "private_key_jwt"}}"#,
        );
        assert!(unknown.contains("unknown variant"), "{unknown}");
    }

    #[test]
    fn extra_authorize_params_may_not_replace_the_flows_own() {
        let s = load(
            r#"{"g": {"client_id": "id", "client_secret": "s",
                 "authorize_params": {"access_type": "offline", "prompt": "consent"}}}"#,
        )
        .expect("valid");
        assert_eq!(s.clients["g"].authorize_params["access_type"], "offline");
        for reserved in RESERVED_AUTHORIZE_PARAMS {
            let json = format!(
                r#"{{"g": {{"client_id": "id", "client_secret": "s", "authorize_params": {{"{reserved}": "x"}}}}}}"#
            );
            assert!(
                refusal(&json).contains(&format!(
                    "g.authorize_params.{reserved}: is set by the flow"
                )),
                "{reserved}"
            );
        }
        assert!(refusal(
            r#"{"g": {"client_id": "id", "client_secret": "s", "issuer": "not a url"}}"#
        )
        .contains("g.issuer: is not a valid URL"));
    }

    #[test]
    fn the_refresh_margin_is_at_most_half_a_tokens_lifetime() {
        let mut s = OAuthSettings::new("http://x");
        s.refresh_margin = Duration::from_secs(300);
        assert_eq!(s.margin_for(None), Duration::from_secs(300));
        assert_eq!(
            s.margin_for(Some(Duration::from_secs(3600))),
            Duration::from_secs(300)
        );
        assert_eq!(
            s.margin_for(Some(Duration::from_secs(120))),
            Duration::from_secs(60)
        );
    }
}
