//! The platform's OAuth2 client at a provider: how it authenticates at the token endpoint,
//! the extra parameters its authorization requests carry, and the issuer its callbacks must
//! name. The rules here hold for registrations from the server's clients file and for those
//! of custom services recorded in the ledger alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How the client authenticates at a token endpoint (RFC 7591 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1, the default).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the body, no secret; PKCE carries the proof.
    None,
}

impl ClientAuthMethod {
    /// Its RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::None => "none",
        }
    }

    /// Whether the method sends a client secret.
    pub fn needs_secret(self) -> bool {
        self != ClientAuthMethod::None
    }
}

/// Authorization-request parameters the flow sets itself; a registration may not override them.
pub const RESERVED_AUTHORIZE_PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// The most extra authorization parameters a registration may carry.
pub const MAX_AUTHORIZE_PARAMS: usize = 16;

/// A client registration; `S` is the secret's form (plaintext on the way in, sealed when
/// stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRegistration<S> {
    /// Client id.
    pub client_id: String,
    /// Client secret; `None` for a public client.
    pub client_secret: Option<S>,
    /// How the client authenticates at the token endpoint.
    pub auth_method: ClientAuthMethod,
    /// Extra parameters of the authorization request (`prompt=consent`,
    /// `access_type=offline`, `audience`, `resource`, …).
    pub authorize_params: BTreeMap<String, String>,
    /// The provider's issuer identifier: when set, every callback must carry a matching
    /// `iss` (RFC 9207); set it for providers whose metadata says
    /// `authorization_response_iss_parameter_supported`.
    pub issuer: Option<String>,
}

impl<S> ClientRegistration<S> {
    /// The same registration with the secret converted (sealed or opened).
    pub fn map_secret<T, E>(
        self,
        f: impl FnOnce(S) -> Result<T, E>,
    ) -> Result<ClientRegistration<T>, E> {
        Ok(ClientRegistration {
            client_id: self.client_id,
            client_secret: self.client_secret.map(f).transpose()?,
            auth_method: self.auth_method,
            authorize_params: self.authorize_params,
            issuer: self.issuer,
        })
    }
}

/// Why a client registration is refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}: {reason}")]
pub struct RegistrationError {
    /// The field at fault (`client_secret`, `authorize_params.prompt`, …).
    pub field: String,
    /// Why.
    pub reason: String,
}

fn refuse(field: impl Into<String>, reason: impl Into<String>) -> RegistrationError {
    RegistrationError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks a registration: a secret exactly when the method needs one (and not blank,
/// `is_blank` tells), extra parameters that do not override the flow's own, an issuer that is
/// an http(s) URL.
pub fn check_registration<S>(
    registration: &ClientRegistration<S>,
    is_blank: impl Fn(&S) -> bool,
) -> Result<(), RegistrationError> {
    let printable = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
    if !printable(&registration.client_id) || registration.client_id.len() > 512 {
        return Err(refuse(
            "client_id",
            "must be 1 to 512 printable characters without spaces",
        ));
    }
    let method = registration.auth_method;
    match &registration.client_secret {
        Some(_) if !method.needs_secret() => {
            return Err(refuse(
                "client_secret",
                "must not be set for token_endpoint_auth_method none (a public client)",
            ))
        }
        None if method.needs_secret() => {
            return Err(refuse(
                "client_secret",
                format!("is required for {}", method.as_str()),
            ))
        }
        Some(secret) if is_blank(secret) => {
            return Err(refuse("client_secret", "must not be empty"))
        }
        _ => {}
    }
    if registration.authorize_params.len() > MAX_AUTHORIZE_PARAMS {
        return Err(refuse(
            "authorize_params",
            format!("at most {MAX_AUTHORIZE_PARAMS} parameters"),
        ));
    }
    for (name, value) in &registration.authorize_params {
        if !printable(name) || name.len() > 64 {
            return Err(refuse(
                "authorize_params",
                "parameter names are 1 to 64 printable characters without spaces",
            ));
        }
        if RESERVED_AUTHORIZE_PARAMS.contains(&name.as_str()) {
            return Err(refuse(
                format!("authorize_params.{name}"),
                "is set by the flow itself and cannot be overridden",
            ));
        }
        if value.chars().count() > 512 || value.chars().any(char::is_control) {
            return Err(refuse(
                format!("authorize_params.{name}"),
                "values are at most 512 characters, without control characters",
            ));
        }
    }
    if let Some(issuer) = &registration.issuer {
        let scheme_ok = issuer.starts_with("https://") || issuer.starts_with("http://");
        let rest = issuer.split_once("://").map_or("", |(_, r)| r);
        if !scheme_ok || rest.is_empty() || issuer.len() > 512 || !printable(issuer) {
            return Err(refuse("issuer", "is not a valid URL"));
        }
    }
    Ok(())
}

/// A sealed value the domain keeps but never opens (the application seals and opens it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpaqueSealed {
    /// What the sealing bound the value to besides its owner: opening checks it.
    pub binding: uuid::Uuid,
    /// The sealed bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for OpaqueSealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueSealed([sealed])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(secret: Option<&str>, method: ClientAuthMethod) -> ClientRegistration<String> {
        ClientRegistration {
            client_id: "id".into(),
            client_secret: secret.map(str::to_owned),
            auth_method: method,
            authorize_params: BTreeMap::new(),
            issuer: None,
        }
    }

    fn check(r: &ClientRegistration<String>) -> Result<(), RegistrationError> {
        check_registration(r, |s| s.trim().is_empty())
    }

    #[test]
    fn a_secret_exactly_when_the_method_sends_one() {
        use ClientAuthMethod as M;
        assert!(check(&registration(Some("s"), M::ClientSecretBasic)).is_ok());
        assert!(check(&registration(Some("s"), M::ClientSecretPost)).is_ok());
        assert!(check(&registration(None, M::None)).is_ok());
        assert_eq!(
            check(&registration(None, M::ClientSecretPost)),
            Err(refuse(
                "client_secret",
                "is required for client_secret_post"
            ))
        );
        assert_eq!(
            check(&registration(Some("s"), M::None)).map_err(|e| e.field),
            Err("client_secret".into())
        );
        assert_eq!(
            check(&registration(Some("  "), M::ClientSecretBasic)),
            Err(refuse("client_secret", "must not be empty"))
        );
    }

    #[test]
    fn extra_parameters_never_replace_the_flows_own() {
        for reserved in RESERVED_AUTHORIZE_PARAMS {
            let mut r = registration(Some("s"), ClientAuthMethod::ClientSecretBasic);
            r.authorize_params.insert(reserved.into(), "x".into());
            assert_eq!(
                check(&r).map_err(|e| e.field),
                Err(format!("authorize_params.{reserved}"))
            );
        }
        let mut r = registration(Some("s"), ClientAuthMethod::ClientSecretBasic);
        r.authorize_params.insert("prompt".into(), "consent".into());
        r.issuer = Some("https://issuer.example".into());
        assert!(check(&r).is_ok());
        r.issuer = Some("issuer.example".into());
        assert_eq!(check(&r).map_err(|e| e.field), Err("issuer".into()));
    }
}
