//! Settings changes are verified: a create or a re-authentication of a service that defines a
//! verification endpoint calls it with the new material (new values plus kept ones) before
//! anything is appended, through the outbound endpoint policy. A failed check refuses the
//! change unless the caller asks to save it unverified; the outcome is recorded as
//! `authentication.verification_recorded` in the same append as the change.
//!
//! How material is presented (see docs/oauth.md, "Verification"):
//!
//! | kind | presented as |
//! |---|---|
//! | Token | `Authorization: Bearer <token>` |
//! | OAuth2 | `Authorization: Bearer <access_token>` |
//! | Basic | HTTP Basic with `username` and `password` |
//! | Generic | only the URL's `{field}` placeholders (non-secret fields); no placeholder: not verifiable |
//! | Certificate | not verifiable (no mTLS identity is presented) |
//! | OAuth1 | not verifiable (credledger does not sign requests) |
//!
//! Only the secret that is sent is opened; nothing of the service's answer but its status is
//! read, kept or shown.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};

use crate::crypto::SealedSecret;
use crate::domain::authentication::{
    AuthenticationCommand, AuthenticationState, StoredField, VerificationOutcome,
};
use crate::domain::ids::{AuthenticationId, FieldName};
use crate::domain::secret::SecretText;
use crate::domain::services::{
    fill_url, placeholders, AuthKind, ServiceSpec, VerificationEndpoint,
};
use crate::oauth::endpoint::{EndpointError, EndpointPolicy};

use super::{App, AppError, Caller};

/// How long one verification call may take once its host is resolved and checked. Shorter
/// than the HTTP layer's request timeout, so a slow service is answered as "timed out".
pub const VERIFICATION_TIMEOUT: Duration = Duration::from_secs(8);

/// The reason recorded when the operator turned verification off.
pub const TURNED_OFF: &str = "turned off by the operator";

/// The reason answered (never recorded) for a service without a verification endpoint.
pub const NO_ENDPOINT: &str = "the service defines no verification endpoint";

/// Whether creates and re-authentications are checked at the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VerificationMode {
    /// Call the service's verification endpoint; a failed check refuses the change unless the
    /// caller asks to save it unverified.
    #[default]
    Required,
    /// Call nothing and record `not_verifiable` ("turned off by the operator"): for
    /// deployments that cannot reach the services.
    Off,
}

/// The operator's verification settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationSettings {
    /// Required (the default) or off.
    pub mode: VerificationMode,
    /// Which endpoints may be called (strict by default; the development policy allows local
    /// test services).
    pub policy: EndpointPolicy,
    /// Longest a call may take after its host was resolved ([`VERIFICATION_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        VerificationSettings {
            mode: VerificationMode::Required,
            policy: EndpointPolicy::strict(),
            timeout: VERIFICATION_TIMEOUT,
        }
    }
}

impl VerificationSettings {
    /// Verification turned off (air-gapped deployments, tests without the services).
    pub fn off() -> Self {
        VerificationSettings {
            mode: VerificationMode::Off,
            ..VerificationSettings::default()
        }
    }
}

/// What the caller asks of a change beyond its commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeOptions {
    /// Save the change even if the service refuses the new material (recorded in the event).
    pub save_unverified: bool,
}

/// What verification said about an accepted change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationReport {
    /// The outcome.
    pub outcome: VerificationOutcome,
    /// The check failed and the change was saved because the caller asked.
    pub saved_unverified: bool,
}

/// A change refused because the service did not accept the new material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificationError {
    /// The service answered a non-2xx status.
    #[error("verification: the service at {host} answered {status}; send save_unverified: true to save anyway")]
    Refused {
        /// The host called.
        host: String,
        /// Its HTTP status.
        status: u16,
    },
    /// No answer came (unreachable, timed out, refused by the outbound policy).
    #[error("verification: the service at {host} could not be checked ({reason}); send save_unverified: true to save anyway")]
    NotChecked {
        /// The host that would have been called.
        host: String,
        /// Why not.
        reason: String,
    },
}

/// A secret value while a change is probed: stored (sealed) or just supplied (plaintext).
#[derive(Debug, Clone)]
pub(super) enum Probe {
    /// Kept from the stored state.
    Stored(SealedSecret),
    /// Supplied by this change.
    New(SecretText),
}

/// A verification done before the append, and what it was done on.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    /// The authentication's version the change was decided on.
    pub(super) version: u64,
    /// The service definition the material was checked against.
    pub(super) spec: ServiceSpec,
    /// What to record and answer.
    pub(super) report: VerificationReport,
    /// Whether the report goes into the log (not for a service without an endpoint).
    pub(super) record: bool,
}

/// Whether a batch of commands is checked: creates and re-authentications by a person. Token
/// refreshes (the system) and every other command are not.
pub(super) fn verifies(caller: &Caller, commands: &[AuthenticationCommand]) -> bool {
    caller.via != crate::ledger::SignedInWith::System
        && commands.iter().any(|c| {
            matches!(
                c,
                AuthenticationCommand::Create(_) | AuthenticationCommand::Reauthenticate { .. }
            )
        })
}

/// How the material of a kind goes to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presentation {
    /// `Authorization: Bearer <field>`.
    Bearer(&'static str),
    /// HTTP Basic with `username` and `password`.
    Basic,
    /// Only the URL's placeholders.
    UrlOnly,
}

/// What verifying against a service means, before any material is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    /// The service defines no endpoint: nothing is called or recorded.
    Nothing,
    /// Nothing is called; this outcome is recorded.
    Record(VerificationOutcome),
    /// The endpoint is called.
    Call(VerificationEndpoint, PresentationPlan),
}

/// The presentation chosen for a service (opaque outside this module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PresentationPlan(Presentation);

fn not_verifiable(reason: &str) -> VerificationOutcome {
    VerificationOutcome::NotVerifiable {
        reason: reason.to_owned(),
    }
}

/// The plan for a service under a mode.
pub(super) fn plan(spec: &ServiceSpec, mode: VerificationMode) -> Plan {
    let Some(endpoint) = &spec.verification else {
        return Plan::Nothing;
    };
    if mode == VerificationMode::Off {
        return Plan::Record(not_verifiable(TURNED_OFF));
    }
    let presentation = match spec.auth_kind {
        AuthKind::Token => Presentation::Bearer("token"),
        AuthKind::OAuth2 => Presentation::Bearer("access_token"),
        AuthKind::Basic => Presentation::Basic,
        AuthKind::Generic if placeholders(&endpoint.url).is_empty() => {
            return Plan::Record(not_verifiable(
                "generic service auth: the verification URL names no field, so the call would carry no credential",
            ))
        }
        AuthKind::Generic => Presentation::UrlOnly,
        AuthKind::Certificate => {
            return Plan::Record(not_verifiable(
                "client certificates are not presented to verification endpoints",
            ))
        }
        AuthKind::OAuth1 => {
            return Plan::Record(not_verifiable(
                "OAuth1 requests would have to be signed, which credledger does not do",
            ))
        }
    };
    Plan::Call(endpoint.clone(), PresentationPlan(presentation))
}

/// A placeholder value may only be a host, port or path segment: no character that could
/// move the call to another host or path (`/`, `@`, `?`, `#`, `%`, spaces...).
fn fits_in_url(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | ':'))
}

/// The material the call needs: plain field values, and the secrets it sends.
struct Material {
    plain: BTreeMap<FieldName, String>,
    secrets: BTreeMap<&'static str, SecretText>,
}

/// Why a URL could not be built from the material.
enum UrlProblem {
    /// A placeholder's field is not set: nothing can be checked.
    Missing {
        /// The field the placeholder names.
        field: String,
    },
    /// A placeholder's value cannot go into a URL.
    Unfit {
        /// The field the placeholder names.
        field: String,
    },
}

fn fill(template: &str, plain: &BTreeMap<FieldName, String>) -> Result<String, UrlProblem> {
    for placeholder in placeholders(template) {
        let value = FieldName::parse(placeholder)
            .ok()
            .and_then(|name| plain.get(&name))
            .ok_or_else(|| UrlProblem::Missing {
                field: placeholder.to_owned(),
            })?;
        if !fits_in_url(value) {
            return Err(UrlProblem::Unfit {
                field: placeholder.to_owned(),
            });
        }
    }
    // Every placeholder is a set field whose value fits: the template fills.
    fill_url(template, plain).ok_or_else(|| UrlProblem::Missing {
        field: template_host(template),
    })
}

/// The host part of a URL template, for records when no URL could be built (placeholders
/// left as they are; they name fields, never values).
fn template_host(template: &str) -> String {
    template
        .split_once("://")
        .map_or(template, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A short reason for a refusal of the outbound policy or a failed preparation (the host is
/// recorded beside it, so it is not repeated).
fn endpoint_reason(err: &EndpointError) -> String {
    match err {
        EndpointError::InvalidUrl { .. } | EndpointError::MissingHost => {
            "the verification URL is not a valid URL".to_owned()
        }
        EndpointError::SchemeNotAllowed { scheme, .. } => {
            format!(
                "refused by the outbound policy: scheme {scheme} is not allowed, https is required"
            )
        }
        EndpointError::UserInfo { .. } => {
            "refused by the outbound policy: the URL carries user credentials".to_owned()
        }
        EndpointError::LocalHostName { .. } => {
            "refused by the outbound policy: local host names are not allowed".to_owned()
        }
        EndpointError::RefusedAddress { addr, class, .. } => {
            format!("refused by the outbound policy: address {addr} is {class}")
        }
        EndpointError::MissingPort { .. } => "the verification URL has no port".to_owned(),
        EndpointError::Resolve { .. } | EndpointError::NoAddress { .. } => {
            "unreachable: the host name does not resolve".to_owned()
        }
        EndpointError::Client { .. } => "the HTTP client could not be built".to_owned(),
    }
}

fn failed(host: &str, status: Option<u16>, reason: impl Into<String>) -> VerificationOutcome {
    VerificationOutcome::Failed {
        host: host.to_owned(),
        status,
        reason: reason.into(),
    }
}

/// Calls the endpoint with the material; never reads the answer's body.
async fn call(
    settings: &VerificationSettings,
    endpoint: &VerificationEndpoint,
    presentation: Presentation,
    material: &Material,
) -> VerificationOutcome {
    let url = match fill(&endpoint.url, &material.plain) {
        Ok(url) => url,
        Err(UrlProblem::Missing { field }) => {
            return not_verifiable(&format!(
                "the verification URL needs the field {field}, which is not set"
            ))
        }
        Err(UrlProblem::Unfit { field }) => {
            return failed(
                &template_host(&endpoint.url),
                None,
                format!("the value of {field} cannot be put into the verification URL"),
            )
        }
    };
    let parsed = match settings.policy.check_url(&url) {
        Ok(parsed) => parsed,
        Err(e) => {
            // Named like a called host (no port) when the URL parses at all.
            let host = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| template_host(&url));
            return failed(&host, None, endpoint_reason(&e));
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let client = match settings.policy.client_for(&parsed).await {
        Ok(client) => client,
        Err(e) => return failed(&host, None, endpoint_reason(&e)),
    };
    let method = if endpoint.method == "POST" {
        reqwest::Method::POST
    } else {
        reqwest::Method::GET
    };
    let is_post = method == reqwest::Method::POST;
    let mut request = client
        .request(method, parsed)
        .timeout(settings.timeout)
        .header(ACCEPT, HeaderValue::from_static("application/json"));
    if is_post {
        request = request.body(Vec::<u8>::new());
    }
    match presentation {
        Presentation::Bearer(field) => {
            let Some(token) = material.secrets.get(field) else {
                return not_verifiable(&format!("the field {field} is not set"));
            };
            let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) else {
                return failed(
                    &host,
                    None,
                    format!("the value of {field} cannot be sent in an HTTP header"),
                );
            };
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        Presentation::Basic => {
            let username = FieldName::parse("username")
                .ok()
                .and_then(|name| material.plain.get(&name));
            let (Some(username), Some(password)) = (username, material.secrets.get("password"))
            else {
                return not_verifiable("the fields username and password are not both set");
            };
            // reqwest marks the Basic header sensitive.
            request = request.basic_auth(username, Some(password.expose()));
        }
        Presentation::UrlOnly => {}
    }
    match request.send().await {
        // The body is dropped unread: nothing the service says beyond its status is kept.
        Ok(answer) if answer.status().is_success() => VerificationOutcome::Verified {
            host,
            status: answer.status().as_u16(),
        },
        Ok(answer) => {
            let status = answer.status().as_u16();
            failed(
                &host,
                Some(status),
                format!("the service answered {status}"),
            )
        }
        Err(e) if e.is_timeout() => failed(&host, None, "timed out"),
        Err(_) => failed(&host, None, "unreachable"),
    }
}

impl App {
    /// Verifies the material a probed change leaves (`probe`, decided on the stored state)
    /// for `spec`. A failed check refuses the change unless `options.save_unverified`.
    pub(super) async fn verify_probe(
        &self,
        id: AuthenticationId,
        version: u64,
        probe: &AuthenticationState<Probe>,
        spec: ServiceSpec,
        options: ChangeOptions,
    ) -> Result<Checked, AppError> {
        let checked = |outcome: VerificationOutcome, record: bool| Checked {
            version,
            spec: spec.clone(),
            report: VerificationReport {
                saved_unverified: matches!(outcome, VerificationOutcome::Failed { .. }),
                outcome,
            },
            record,
        };
        let (endpoint, presentation) = match plan(&spec, self.verification.mode) {
            Plan::Nothing => return Ok(checked(not_verifiable(NO_ENDPOINT), false)),
            Plan::Record(outcome) => return Ok(checked(outcome, true)),
            Plan::Call(endpoint, PresentationPlan(presentation)) => (endpoint, presentation),
        };
        let material = self.material(id, probe, presentation).await?;
        let outcome = call(&self.verification, &endpoint, presentation, &material).await;
        drop(material);
        if let VerificationOutcome::Failed {
            host,
            status,
            reason,
        } = &outcome
        {
            tracing::info!(
                authentication = %id,
                host = %host,
                status = ?status,
                reason = %reason,
                saved_unverified = options.save_unverified,
                "verification of new credential material failed"
            );
            if !options.save_unverified {
                return Err(match status {
                    Some(status) => VerificationError::Refused {
                        host: host.clone(),
                        status: *status,
                    },
                    None => VerificationError::NotChecked {
                        host: host.clone(),
                        reason: reason.clone(),
                    },
                }
                .into());
            }
        }
        Ok(checked(outcome, true))
    }

    /// The plain values of a probed state and the secrets its presentation sends: new ones
    /// as supplied, kept ones opened (only these, only for the call).
    async fn material(
        &self,
        id: AuthenticationId,
        probe: &AuthenticationState<Probe>,
        presentation: Presentation,
    ) -> Result<Material, AppError> {
        let mut material = Material {
            plain: BTreeMap::new(),
            secrets: BTreeMap::new(),
        };
        let Some(auth) = &probe.current else {
            return Ok(material);
        };
        let wanted: &[&'static str] = match presentation {
            Presentation::Bearer(field) => &[field][..],
            Presentation::Basic => &["password"],
            Presentation::UrlOnly => &[],
        };
        for (name, field) in &auth.fields {
            match field {
                StoredField::Plain { value, .. } => {
                    material.plain.insert(name.clone(), value.clone());
                }
                StoredField::Secret {
                    value,
                    changed_at_version,
                } => {
                    let Some(slot) = wanted.iter().find(|w| **w == name.as_str()) else {
                        continue;
                    };
                    let text = match value {
                        Probe::New(text) => text.clone(),
                        Probe::Stored(sealed) => {
                            let key = self.keys.get(id.as_uuid())?.ok_or_else(|| {
                                AppError::Crypto(crate::crypto::CryptoError::OpenFailed {
                                    field: name.as_str().to_owned(),
                                })
                            })?;
                            self.unseal(id, name, *changed_at_version, &key, sealed)
                                .await?
                        }
                    };
                    material.secrets.insert(slot, text);
                }
            }
        }
        Ok(material)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::services::{base_fields, FieldFormat, FieldSpec};

    fn spec(kind: AuthKind, url: Option<&str>) -> ServiceSpec {
        ServiceSpec {
            name: "X".into(),
            api_version: "1".into(),
            auth_kind: kind,
            fields: Vec::new(),
            oauth: None,
            scopes: Vec::new(),
            required_scopes: Vec::new(),
            verification: url.map(|url| VerificationEndpoint {
                method: "GET".into(),
                url: url.into(),
            }),
        }
    }

    #[test]
    fn each_kind_has_its_presentation_or_a_reason() {
        let url = Some("https://api.example.com/me");
        let cases = [
            (AuthKind::Token, Some(Presentation::Bearer("token"))),
            (AuthKind::OAuth2, Some(Presentation::Bearer("access_token"))),
            (AuthKind::Basic, Some(Presentation::Basic)),
            (AuthKind::Generic, None),
            (AuthKind::Certificate, None),
            (AuthKind::OAuth1, None),
        ];
        for (kind, expected) in cases {
            match (plan(&spec(kind, url), VerificationMode::Required), expected) {
                (Plan::Call(_, PresentationPlan(p)), Some(e)) => assert_eq!(p, e, "{kind:?}"),
                (Plan::Record(VerificationOutcome::NotVerifiable { reason }), None) => {
                    assert!(!reason.is_empty(), "{kind:?}")
                }
                (other, _) => panic!("{kind:?}: {other:?}"),
            }
        }
        let generic = spec(AuthKind::Generic, Some("https://{host}/check"));
        assert!(matches!(
            plan(&generic, VerificationMode::Required),
            Plan::Call(_, PresentationPlan(Presentation::UrlOnly))
        ));
    }

    #[test]
    fn no_endpoint_is_nothing_and_off_is_recorded_as_not_verifiable() {
        for mode in [VerificationMode::Required, VerificationMode::Off] {
            assert_eq!(plan(&spec(AuthKind::Token, None), mode), Plan::Nothing);
        }
        assert_eq!(
            plan(
                &spec(AuthKind::Token, Some("https://api.example.com/me")),
                VerificationMode::Off
            ),
            Plan::Record(not_verifiable(TURNED_OFF))
        );
        assert_eq!(
            VerificationSettings::default().mode,
            VerificationMode::Required
        );
        assert_eq!(
            VerificationSettings::default().policy,
            EndpointPolicy::strict()
        );
    }

    #[test]
    fn placeholders_take_only_values_that_stay_in_their_place() {
        let name = |n: &str| FieldName::parse(n).unwrap();
        let mut plain = BTreeMap::new();
        plain.insert(name("site"), "acme.atlassian.net".to_owned());
        assert_eq!(
            fill("https://{site}/rest/api/3/myself", &plain)
                .ok()
                .as_deref(),
            Some("https://acme.atlassian.net/rest/api/3/myself")
        );
        for evil in [
            "evil.example/x",
            "evil.example?",
            "evil.example#",
            "user@evil.example",
            "a b",
            "%2F",
            "",
        ] {
            plain.insert(name("site"), evil.to_owned());
            assert!(
                matches!(
                    fill("https://{site}/me", &plain),
                    Err(UrlProblem::Unfit { .. })
                ),
                "{evil:?}"
            );
        }
        assert!(matches!(
            fill("https://{domain}/me", &plain),
            Err(UrlProblem::Missing { field: f }) if f == "domain"
        ));
        assert_eq!(template_host("https://{site}/rest?x=1"), "{site}");
        assert_eq!(template_host("http://127.0.0.1:9/me"), "127.0.0.1:9");
    }

    #[test]
    fn errors_name_the_field_and_the_status_and_nothing_else() {
        let refused = VerificationError::Refused {
            host: "api.example.com".into(),
            status: 401,
        };
        let text = refused.to_string();
        assert!(text.starts_with("verification: "), "{text}");
        assert!(
            text.contains("401") && text.contains("save_unverified: true"),
            "{text}"
        );
        let unreachable = VerificationError::NotChecked {
            host: "api.example.com".into(),
            reason: "timed out".into(),
        };
        assert!(unreachable.to_string().contains("timed out"));
    }

    #[test]
    fn the_base_fields_match_the_presented_names() {
        let names = |kind| -> Vec<String> {
            base_fields(kind)
                .into_iter()
                .map(|f: FieldSpec| f.name.as_str().to_owned())
                .collect()
        };
        assert!(names(AuthKind::Token).contains(&"token".to_owned()));
        assert!(names(AuthKind::OAuth2).contains(&"access_token".to_owned()));
        let basic = base_fields(AuthKind::Basic);
        assert!(basic
            .iter()
            .any(|f| f.name.as_str() == "username" && !f.secret && f.format == FieldFormat::Text));
        assert!(basic
            .iter()
            .any(|f| f.name.as_str() == "password" && f.secret));
    }
}
