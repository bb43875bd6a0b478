//! What a service looks like: auth kind, fields, OAuth endpoints, scopes, verification.

use crate::domain::ids::FieldName;
use crate::domain::naming::{normalize_text, NameError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How a service authenticates callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AuthKind {
    /// A bearer/API token.
    Token,
    /// HTTP Basic: username + password.
    Basic,
    /// An OAuth 2 grant.
    OAuth2,
    /// An OAuth 1.0a grant (discouraged).
    OAuth1,
    /// A client certificate and its private key (mTLS).
    Certificate,
    /// Named token fields defined by the service.
    Generic,
}

/// How a field's text is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldFormat {
    /// Any single-line printable text.
    Text,
    /// A DNS host name such as `acme.my.salesforce.com`.
    Hostname,
    /// An `https://` URL.
    Url,
    /// A timestamp: RFC 3339 or unix seconds.
    Timestamp,
    /// PEM-armoured text (multi-line).
    Pem,
}

/// One field of an authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Field name, referenced by workflows as `$.auth.<name>`.
    pub name: FieldName,
    /// Whether the value is secret (sealed, never shown again).
    pub secret: bool,
    /// Whether a value must be present.
    pub required: bool,
    /// How the value is checked.
    pub format: FieldFormat,
    /// Human description.
    pub description: String,
}

/// OAuth endpoints of a service; URLs may contain `{field}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthEndpoints {
    /// Where the user is sent to grant access.
    pub authorize_url: String,
    /// Where codes (or OAuth1 verifiers) are exchanged for tokens.
    pub token_url: String,
    /// OAuth1 only: where request tokens are obtained.
    pub request_token_url: Option<String>,
}

/// An endpoint that checks whether credentials work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationEndpoint {
    /// HTTP method, `GET` or `POST`.
    pub method: String,
    /// URL; may contain `{field}` placeholders.
    pub url: String,
}

/// Everything the domain needs to know about a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Display name.
    pub name: String,
    /// API version the service definition targets.
    pub api_version: String,
    /// Authentication kind.
    pub auth_kind: AuthKind,
    /// Service-specific fields, in addition to the kind's own fields.
    pub fields: Vec<FieldSpec>,
    /// OAuth endpoints (OAuth1/OAuth2 only).
    pub oauth: Option<OAuthEndpoints>,
    /// Scopes a user may choose from (OAuth2 only).
    pub scopes: Vec<String>,
    /// Scopes the service needs to work (subset of `scopes`).
    pub required_scopes: Vec<String>,
    /// Optional endpoint to verify credentials.
    pub verification: Option<VerificationEndpoint>,
}

/// Field names a generic service may not use: they belong to OAuth or complex schemes.
pub const RESERVED_GENERIC_FIELDS: [&str; 10] = [
    "access_token",
    "refresh_token",
    "client_secret",
    "consumer_key",
    "consumer_secret",
    "token_secret",
    "oauth_token",
    "private_key",
    "certificate",
    "id_token",
];

/// Why a service definition is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceSpecError {
    /// The display name breaks the name rules.
    #[error("service name: {0}")]
    Name(NameError),
    /// The API version is blank.
    #[error("api_version: must not be blank")]
    ApiVersionBlank,
    /// OAuth kinds need endpoints.
    #[error("oauth: {kind:?} services must define OAuth endpoints")]
    OAuthEndpointsMissing {
        /// The kind.
        kind: AuthKind,
    },
    /// Non-OAuth kinds must not define endpoints (generic auth is refused for OAuth schemes).
    #[error("oauth: {kind:?} services must not define OAuth endpoints")]
    OAuthEndpointsNotAllowed {
        /// The kind.
        kind: AuthKind,
    },
    /// OAuth1 needs a request token URL.
    #[error("oauth.request_token_url: required for OAuth1 services")]
    RequestTokenUrlMissing,
    /// A URL is not https or has an unknown placeholder.
    #[error("{field}: {reason}")]
    BadUrl {
        /// Which URL (`oauth.token_url`, ...).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Only OAuth2 services have scopes.
    #[error("scopes: only OAuth2 services have scopes")]
    ScopesNotAllowed,
    /// A scope is blank, repeated or contains whitespace.
    #[error("scopes: {scope:?} is blank, repeated or contains whitespace")]
    BadScope {
        /// The scope.
        scope: String,
    },
    /// A required scope is not among the available scopes.
    #[error("required_scopes: {scope:?} is not among the available scopes")]
    RequiredScopeUnknown {
        /// The scope.
        scope: String,
    },
    /// Two fields share a name, or a field reuses a name of the kind's own fields.
    #[error("fields.{field}: defined twice (or already defined by the auth kind)")]
    DuplicateField {
        /// The field.
        field: FieldName,
    },
    /// A generic service needs at least one field.
    #[error("fields: a generic service needs at least one named token field")]
    GenericWithoutFields,
    /// A generic service used an OAuth/complex field name.
    #[error("fields.{field}: generic service auth is for named tokens; {field} belongs to OAuth or certificate schemes")]
    GenericReservedField {
        /// The field.
        field: FieldName,
    },
    /// The verification method is not GET or POST.
    #[error("verification.method: {method:?} is not GET or POST ({reason})")]
    BadVerificationMethod {
        /// The method as given.
        method: String,
        /// How it misses.
        reason: MethodProblem,
    },
}

impl ServiceSpecError {
    /// The definition's field the refusal is about (`oauth.token_url`, `fields.<name>`, …).
    pub fn field(&self) -> Option<String> {
        use ServiceSpecError as E;
        let field = match self {
            E::DuplicateField { field } | E::GenericReservedField { field } => {
                return Some(format!("fields.{field}"))
            }
            E::BadUrl { field, .. } => field,
            E::Name(_) => "service name",
            E::ApiVersionBlank => "api_version",
            E::OAuthEndpointsMissing { .. } | E::OAuthEndpointsNotAllowed { .. } => "oauth",
            E::RequestTokenUrlMissing => "oauth.request_token_url",
            E::ScopesNotAllowed | E::BadScope { .. } => "scopes",
            E::RequiredScopeUnknown { .. } => "required_scopes",
            E::GenericWithoutFields => "fields",
            E::BadVerificationMethod { .. } => "verification.method",
        };
        Some(field.to_owned())
    }
}

/// Why a verification method is refused: only `GET` and `POST`, in upper case, are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MethodProblem {
    /// Nothing (or only white space) was given.
    #[error("it is blank")]
    Blank,
    /// `get` or `post` in another case.
    #[error("methods are written in upper case")]
    NotUpperCase,
    /// Any other method: a credential check calls nothing else.
    #[error("credentials are checked with GET or POST only")]
    Unsupported,
}

impl MethodProblem {
    /// What is wrong with `method`, or `None` for `GET` and `POST`.
    pub fn of(method: &str) -> Option<MethodProblem> {
        match method {
            "GET" | "POST" => None,
            m if m.trim().is_empty() => Some(MethodProblem::Blank),
            m if m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("POST") => {
                Some(MethodProblem::NotUpperCase)
            }
            _ => Some(MethodProblem::Unsupported),
        }
    }
}

fn field(name: &str, secret: bool, required: bool, format: FieldFormat, d: &str) -> FieldSpec {
    FieldSpec {
        name: FieldName::parse(name).expect("built-in field names are valid"),
        secret,
        required,
        format,
        description: d.to_owned(),
    }
}

/// The fields every service of a kind has.
pub fn base_fields(kind: AuthKind) -> Vec<FieldSpec> {
    use FieldFormat::{Pem, Text, Timestamp};
    match kind {
        AuthKind::Token => vec![field("token", true, true, Text, "API token")],
        AuthKind::Basic => vec![
            field("username", false, true, Text, "User name"),
            field("password", true, true, Text, "Password"),
        ],
        AuthKind::OAuth2 => vec![
            field("access_token", true, true, Text, "OAuth2 access token"),
            field("refresh_token", true, false, Text, "OAuth2 refresh token"),
            field("expires_at", false, false, Timestamp, "Access token expiry"),
        ],
        AuthKind::OAuth1 => vec![
            field("consumer_key", false, true, Text, "OAuth1 consumer key"),
            field(
                "consumer_secret",
                true,
                true,
                Text,
                "OAuth1 consumer secret",
            ),
            field("token", true, true, Text, "OAuth1 access token"),
            field("token_secret", true, true, Text, "OAuth1 token secret"),
        ],
        AuthKind::Certificate => vec![
            field("certificate", false, true, Pem, "PEM client certificate"),
            field(
                "private_key",
                true,
                true,
                Pem,
                "PEM private key (PKCS#8, PKCS#1 or SEC1)",
            ),
        ],
        AuthKind::Generic => Vec::new(),
    }
}

impl ServiceSpec {
    /// Fields the provider's OAuth endpoints are built from (a custom `domain`, say): a
    /// grant is only good for the endpoints it was made at, so changing one needs a new grant.
    pub fn endpoint_fields(&self) -> Vec<FieldName> {
        let Some(oauth) = &self.oauth else {
            return Vec::new();
        };
        let mut names: Vec<FieldName> = [&oauth.authorize_url, &oauth.token_url]
            .into_iter()
            .chain(oauth.request_token_url.as_ref())
            .flat_map(|url| placeholders(url))
            .filter_map(|p| FieldName::parse(p).ok())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// All fields of an authentication for this service: the kind's, then the service's.
    pub fn all_fields(&self) -> Vec<FieldSpec> {
        let mut fields = base_fields(self.auth_kind);
        fields.extend(self.fields.iter().cloned());
        fields
    }

    /// The spec of one field, if the service has it.
    pub fn field(&self, name: &FieldName) -> Option<FieldSpec> {
        self.all_fields().into_iter().find(|f| &f.name == name)
    }

    /// Checks the definition; the catalog and custom services both go through this.
    pub fn validate(&self) -> Result<(), ServiceSpecError> {
        self.validate_urls_as(false)
    }

    /// Like [`ServiceSpec::validate`], but also accepts `http://` endpoints: only for an
    /// operator's development setup (a local provider).
    pub fn validate_allowing_http(&self) -> Result<(), ServiceSpecError> {
        self.validate_urls_as(true)
    }

    fn validate_urls_as(&self, allow_http: bool) -> Result<(), ServiceSpecError> {
        normalize_text(&self.name, 80).map_err(ServiceSpecError::Name)?;
        if self.api_version.trim().is_empty() {
            return Err(ServiceSpecError::ApiVersionBlank);
        }
        self.validate_fields()?;
        self.validate_oauth(allow_http)?;
        self.validate_scopes()?;
        if let Some(v) = &self.verification {
            if let Some(reason) = MethodProblem::of(&v.method) {
                return Err(ServiceSpecError::BadVerificationMethod {
                    method: v.method.clone(),
                    reason,
                });
            }
            self.check_url("verification.url", &v.url, allow_http)?;
        }
        Ok(())
    }

    fn validate_fields(&self) -> Result<(), ServiceSpecError> {
        let mut seen = BTreeSet::new();
        for f in self.all_fields() {
            if !seen.insert(f.name.clone()) {
                return Err(ServiceSpecError::DuplicateField { field: f.name });
            }
        }
        if self.auth_kind == AuthKind::Generic {
            if self.fields.is_empty() {
                return Err(ServiceSpecError::GenericWithoutFields);
            }
            if let Some(f) = self
                .fields
                .iter()
                .find(|f| RESERVED_GENERIC_FIELDS.contains(&f.name.as_str()))
            {
                return Err(ServiceSpecError::GenericReservedField {
                    field: f.name.clone(),
                });
            }
        }
        Ok(())
    }

    fn validate_oauth(&self, allow_http: bool) -> Result<(), ServiceSpecError> {
        let is_oauth = matches!(self.auth_kind, AuthKind::OAuth1 | AuthKind::OAuth2);
        match (&self.oauth, is_oauth) {
            (None, true) => Err(ServiceSpecError::OAuthEndpointsMissing {
                kind: self.auth_kind,
            }),
            (Some(_), false) => Err(ServiceSpecError::OAuthEndpointsNotAllowed {
                kind: self.auth_kind,
            }),
            (None, false) => Ok(()),
            (Some(ep), true) => {
                self.check_url("oauth.authorize_url", &ep.authorize_url, allow_http)?;
                self.check_url("oauth.token_url", &ep.token_url, allow_http)?;
                match (&ep.request_token_url, self.auth_kind) {
                    (Some(url), _) => self.check_url("oauth.request_token_url", url, allow_http),
                    (None, AuthKind::OAuth1) => Err(ServiceSpecError::RequestTokenUrlMissing),
                    (None, _) => Ok(()),
                }
            }
        }
    }

    fn validate_scopes(&self) -> Result<(), ServiceSpecError> {
        if self.auth_kind != AuthKind::OAuth2
            && !(self.scopes.is_empty() && self.required_scopes.is_empty())
        {
            return Err(ServiceSpecError::ScopesNotAllowed);
        }
        let mut seen = BTreeSet::new();
        for scope in &self.scopes {
            if scope.is_empty() || scope.chars().any(char::is_whitespace) || !seen.insert(scope) {
                return Err(ServiceSpecError::BadScope {
                    scope: scope.clone(),
                });
            }
        }
        if let Some(scope) = self.required_scopes.iter().find(|s| !seen.contains(s)) {
            return Err(ServiceSpecError::RequiredScopeUnknown {
                scope: scope.clone(),
            });
        }
        Ok(())
    }

    /// Checks a URL template: `https://`, and placeholders naming non-secret fields.
    fn check_url(
        &self,
        field: &'static str,
        url: &str,
        allow_http: bool,
    ) -> Result<(), ServiceSpecError> {
        let bad = |reason: String| ServiceSpecError::BadUrl { field, reason };
        // The reasons never repeat the URL: a definition's values stay out of errors.
        if !(url.starts_with("https://") || (allow_http && url.starts_with("http://"))) {
            return Err(bad("must start with https://".into()));
        }
        let authority = url.split_once("://").map_or("", |(_, rest)| {
            rest.split(['/', '?', '#']).next().unwrap_or("")
        });
        if authority.contains('@') {
            return Err(bad(
                "must not carry a user name or password (they would be shown to every viewer)"
                    .into(),
            ));
        }
        for placeholder in placeholders(url) {
            let known = FieldName::parse(placeholder)
                .ok()
                .and_then(|name| self.field(&name))
                .is_some_and(|f| !f.secret);
            if !known {
                return Err(bad(format!(
                    "placeholder {{{placeholder}}} does not name a non-secret field"
                )));
            }
        }
        Ok(())
    }
}

/// The `{name}` placeholders of a URL template.
pub fn placeholders(url: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = url;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                found.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => {
                found.push(after);
                break;
            }
        }
    }
    found
}

/// Fills `{field}` placeholders of a URL template from non-secret field values.
pub fn fill_url(
    template: &str,
    values: &std::collections::BTreeMap<FieldName, String>,
) -> Option<String> {
    let mut url = template.to_owned();
    for placeholder in placeholders(template) {
        let name = FieldName::parse(placeholder).ok()?;
        let value = values.get(&name)?;
        url = url.replace(&format!("{{{placeholder}}}"), value);
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth2() -> ServiceSpec {
        ServiceSpec {
            name: "X".into(),
            api_version: "1".into(),
            auth_kind: AuthKind::OAuth2,
            fields: vec![],
            oauth: Some(OAuthEndpoints {
                authorize_url: "https://x.test/a".into(),
                token_url: "https://x.test/t".into(),
                request_token_url: None,
            }),
            scopes: vec!["read".into(), "write".into()],
            required_scopes: vec!["read".into()],
            verification: None,
        }
    }

    #[test]
    fn valid_oauth2_spec_passes() {
        assert_eq!(oauth2().validate(), Ok(()));
    }

    #[test]
    fn spec_refusals_name_the_field() {
        let mut s = oauth2();
        s.required_scopes = vec!["admin".into()];
        assert_eq!(
            s.validate(),
            Err(ServiceSpecError::RequiredScopeUnknown {
                scope: "admin".into()
            })
        );
        let mut s = oauth2();
        s.scopes.push("read".into());
        assert_eq!(
            s.validate(),
            Err(ServiceSpecError::BadScope {
                scope: "read".into()
            })
        );
        let mut s = oauth2();
        s.oauth = None;
        assert_eq!(
            s.validate(),
            Err(ServiceSpecError::OAuthEndpointsMissing {
                kind: AuthKind::OAuth2
            })
        );
        let mut s = oauth2();
        s.auth_kind = AuthKind::OAuth1;
        assert_eq!(s.validate(), Err(ServiceSpecError::RequestTokenUrlMissing));
        let mut s = oauth2();
        if let Some(ep) = s.oauth.as_mut() {
            ep.token_url = "https://{tenant}/t".into();
        }
        let err = s.validate().expect_err("unknown placeholder");
        assert!(err.to_string().starts_with("oauth.token_url:"), "{err}");
        let mut s = oauth2();
        if let Some(ep) = s.oauth.as_mut() {
            ep.authorize_url = "http://x.test/a".into();
        }
        assert!(matches!(
            s.validate(),
            Err(ServiceSpecError::BadUrl {
                field: "oauth.authorize_url",
                ..
            })
        ));
        // Neither refusal repeats the URL, and credentials in it are refused.
        for url in [
            "http://canary-host.test/a",
            "https://user:canary-pass@x.test/t",
        ] {
            let mut s = oauth2();
            if let Some(ep) = s.oauth.as_mut() {
                ep.token_url = url.into();
            }
            let err = s.validate().expect_err("refused");
            assert!(
                matches!(
                    err,
                    ServiceSpecError::BadUrl {
                        field: "oauth.token_url",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(!err.to_string().contains("canary"), "{err}");
        }
        let mut s = oauth2();
        if let Some(ep) = s.oauth.as_mut() {
            ep.token_url = "https://x.test/t?next=a@b".into();
        }
        assert_eq!(s.validate(), Ok(()), "an @ after the host is not userinfo");
        let mut s = oauth2();
        s.auth_kind = AuthKind::Token;
        s.oauth = None;
        assert_eq!(s.validate(), Err(ServiceSpecError::ScopesNotAllowed));
        let mut s = oauth2();
        s.fields = base_fields(AuthKind::OAuth2)[..1].to_vec();
        assert!(matches!(
            s.validate(),
            Err(ServiceSpecError::DuplicateField { .. })
        ));
        let mut s = oauth2();
        s.api_version = " ".into();
        assert_eq!(s.validate(), Err(ServiceSpecError::ApiVersionBlank));
        let mut s = oauth2();
        s.verification = Some(VerificationEndpoint {
            method: "DELETE".into(),
            url: "https://x.test/me".into(),
        });
        assert_eq!(
            s.validate(),
            Err(ServiceSpecError::BadVerificationMethod {
                method: "DELETE".into(),
                reason: MethodProblem::Unsupported,
            })
        );
        let refusal = |method: &str| {
            let mut s = oauth2();
            s.verification = Some(VerificationEndpoint {
                method: method.into(),
                url: "https://x.test/me".into(),
            });
            s.validate().map_err(|e| e.to_string())
        };
        assert_eq!(
            refusal("get"),
            Err(
                "verification.method: \"get\" is not GET or POST (methods are written in upper case)"
                    .into()
            )
        );
        assert_eq!(
            refusal(" "),
            Err("verification.method: \" \" is not GET or POST (it is blank)".into())
        );
        assert_eq!(refusal("POST"), Ok(()));
    }

    #[test]
    fn every_spec_error_names_its_field() {
        let name = |text: &str| FieldName::parse(text).expect("a valid field name");
        let table = [
            (ServiceSpecError::Name(NameError::Empty), "service name"),
            (ServiceSpecError::ApiVersionBlank, "api_version"),
            (
                ServiceSpecError::OAuthEndpointsMissing {
                    kind: AuthKind::OAuth2,
                },
                "oauth",
            ),
            (
                ServiceSpecError::OAuthEndpointsNotAllowed {
                    kind: AuthKind::Token,
                },
                "oauth",
            ),
            (
                ServiceSpecError::RequestTokenUrlMissing,
                "oauth.request_token_url",
            ),
            (
                ServiceSpecError::BadUrl {
                    field: "oauth.token_url",
                    reason: "must start with https://".into(),
                },
                "oauth.token_url",
            ),
            (
                ServiceSpecError::BadUrl {
                    field: "verification.url",
                    reason: "names an unknown field: {x}".into(),
                },
                "verification.url",
            ),
            (ServiceSpecError::ScopesNotAllowed, "scopes"),
            (
                ServiceSpecError::BadScope {
                    scope: "a b".into(),
                },
                "scopes",
            ),
            (
                ServiceSpecError::RequiredScopeUnknown {
                    scope: "admin".into(),
                },
                "required_scopes",
            ),
            (
                ServiceSpecError::DuplicateField {
                    field: name("token"),
                },
                "fields.token",
            ),
            (ServiceSpecError::GenericWithoutFields, "fields"),
            (
                ServiceSpecError::GenericReservedField {
                    field: name("access_token"),
                },
                "fields.access_token",
            ),
            (
                ServiceSpecError::BadVerificationMethod {
                    method: "get".into(),
                    reason: MethodProblem::NotUpperCase,
                },
                "verification.method",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
