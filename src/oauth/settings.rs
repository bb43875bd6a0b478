//! OAuth2 settings: the platform's client registrations per service, the callback URL, the
//! allow-list of return targets, and refresh timing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::endpoint::EndpointPolicy;
use crate::crypto::SecretString;

/// The platform's OAuth2 client at one provider.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// Client id.
    pub client_id: String,
    /// Client secret (Debug prints `[REDACTED]`).
    pub client_secret: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    client_id: String,
    client_secret: String,
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
    /// Refresh access tokens this long before they expire.
    pub refresh_margin: Duration,
    /// How often the background task looks for tokens to refresh.
    pub refresh_interval: Duration,
}

/// A malformed settings file.
#[derive(Debug, thiserror::Error)]
#[error("oauth clients file: {0}")]
pub struct SettingsError(String);

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

    /// Reads client registrations: `{"slack": {"client_id": "…", "client_secret": "…"}}`.
    pub fn with_clients_json(mut self, json: &str) -> Result<OAuthSettings, SettingsError> {
        let raw: BTreeMap<String, ClientFile> = serde_json::from_str(json)
            .map_err(|e| SettingsError(crate::domain::secret::elide_values(&e.to_string())))?;
        for (service, client) in raw {
            self.clients.insert(
                service,
                OAuthClient {
                    client_id: client.client_id,
                    client_secret: SecretString::new(client.client_secret),
                },
            );
        }
        Ok(self)
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

    #[test]
    fn client_files_are_strict_and_secrets_redacted() {
        let s = OAuthSettings::new("http://x")
            .with_clients_json(r#"{"slack": {"client_id": "id", "client_secret": "s3cr3t"}}"#)
            .expect("valid");
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(OAuthSettings::new("http://x")
            .with_clients_json(r#"{"slack": {"client_id": "id"}}"#)
            .is_err());
    }
}
