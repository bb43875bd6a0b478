//! Field, kind and scope validation. Errors name the field and never echo values.

use super::certificate::{check_certificate, CertificateError, CertificateInfo, KeyMatch};
use super::events::FieldValue;
use super::warnings::{Warning, CERTIFICATE_EXPIRY_WARNING_DAYS};
use crate::domain::ids::FieldName;
use crate::domain::secret::SecretText;
use crate::domain::services::{AuthKind, FieldFormat, FieldSpec, ServiceSpec};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Why a field value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A required field is missing.
    #[error("fields.{field}: is required")]
    Missing {
        /// The field.
        field: FieldName,
    },
    /// The service has no such field.
    #[error("fields.{field}: is not a field of this service")]
    Unknown {
        /// The field.
        field: FieldName,
    },
    /// A supplied value is blank.
    #[error("fields.{field}: must not be blank")]
    Blank {
        /// The field.
        field: FieldName,
    },
    /// A supplied value has the wrong shape.
    #[error("fields.{field}: {reason}")]
    Invalid {
        /// The field.
        field: FieldName,
        /// What is wrong (never the value itself).
        reason: &'static str,
    },
    /// A required field cannot be cleared.
    #[error("fields.{field}: is required and cannot be cleared")]
    CannotClearRequired {
        /// The field.
        field: FieldName,
    },
    /// Certificate and key must change together so that they can be matched.
    #[error("fields.certificate: certificate and private_key must be supplied together")]
    CertificatePairRequired,
    /// The certificate or key was refused.
    #[error("fields.{0}")]
    Certificate(CertificateError),
}

/// Why scopes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Only OAuth2 authentications have scopes.
    #[error("scopes: {kind:?} authentications have no scopes")]
    NotSupported {
        /// The kind.
        kind: AuthKind,
    },
    /// A scope is not offered by the service.
    #[error("scopes: {scope:?} is not offered by this service")]
    Unknown {
        /// The scope.
        scope: String,
    },
    /// An extra permission is blank, too long or has control characters.
    #[error("extra_permissions[{index}]: {reason}")]
    BadExtraPermission {
        /// Position in the list.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl FieldError {
    /// The field the refusal is about: `fields.<name>`.
    pub fn field(&self) -> Option<String> {
        match self {
            FieldError::Missing { field }
            | FieldError::Unknown { field }
            | FieldError::Blank { field }
            | FieldError::Invalid { field, .. }
            | FieldError::CannotClearRequired { field } => Some(format!("fields.{field}")),
            FieldError::CertificatePairRequired => Some("fields.certificate".to_owned()),
            FieldError::Certificate(inner) => inner.field().map(|f| format!("fields.{f}")),
        }
    }
}

impl ScopeError {
    /// The field the refusal is about: `scopes` or `extra_permissions[<index>]`.
    pub fn field(&self) -> Option<String> {
        match self {
            ScopeError::NotSupported { .. } | ScopeError::Unknown { .. } => {
                Some("scopes".to_owned())
            }
            ScopeError::BadExtraPermission { index, .. } => {
                Some(format!("extra_permissions[{index}]"))
            }
        }
    }
}

/// Checks one supplied value against its field spec.
pub(crate) fn check_value(
    kind: AuthKind,
    spec: &FieldSpec,
    value: &SecretText,
) -> Result<(), FieldError> {
    let field = spec.name.clone();
    let text = value.expose();
    if value.is_blank() {
        return Err(FieldError::Blank { field });
    }
    let invalid = |reason| {
        Err(FieldError::Invalid {
            field: spec.name.clone(),
            reason,
        })
    };
    match spec.format {
        FieldFormat::Pem => {
            if !text.contains("-----BEGIN ") {
                return invalid("must be PEM text (-----BEGIN ...)");
            }
        }
        _ if text.chars().any(char::is_control) => {
            return invalid("must be a single line without control characters");
        }
        FieldFormat::Text => {}
        FieldFormat::Hostname => {
            if !is_hostname(text.trim()) {
                return invalid(
                    "must be a host name such as example.com (no scheme, port or path)",
                );
            }
        }
        FieldFormat::Url => {
            let t = text.trim();
            if !t.starts_with("https://") || t.len() <= 8 || t.contains(char::is_whitespace) {
                return invalid("must be an https:// URL");
            }
        }
        FieldFormat::Timestamp => {
            if Timestamp::parse(text).is_none() {
                return invalid("must be an RFC 3339 time or unix seconds");
            }
        }
    }
    match (kind, spec.name.as_str()) {
        (AuthKind::Token | AuthKind::OAuth2 | AuthKind::OAuth1, _)
            if spec.secret && text.trim().contains(char::is_whitespace) =>
        {
            invalid("must not contain whitespace")
        }
        (AuthKind::Basic, "username") if text.contains(':') => {
            invalid("must not contain ':' (HTTP Basic separator)")
        }
        _ => Ok(()),
    }
}

fn is_hostname(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').count() >= 2
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Classifies a checked value: secrets stay `SecretText`, plain values become trimmed text.
pub(crate) fn to_value(spec: &FieldSpec, value: SecretText) -> FieldValue<SecretText> {
    if spec.secret {
        FieldValue::Secret(value)
    } else {
        FieldValue::Plain(value.expose().trim().to_owned())
    }
}

/// A complete, checked set of field values.
#[derive(Debug)]
pub(crate) struct CheckedFields {
    pub(crate) values: BTreeMap<FieldName, FieldValue<SecretText>>,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) certificate: Option<CertificateInfo>,
}

/// Checks a complete set of values (create, restore) against the service.
pub(crate) fn check_all(
    service: &ServiceSpec,
    mut input: BTreeMap<FieldName, SecretText>,
) -> Result<CheckedFields, FieldError> {
    let specs = service.all_fields();
    if let Some(field) = input.keys().find(|k| !specs.iter().any(|s| &s.name == *k)) {
        return Err(FieldError::Unknown {
            field: field.clone(),
        });
    }
    let mut certificate = None;
    if service.auth_kind == AuthKind::Certificate {
        certificate = Some(check_pair(&input)?);
    }
    let mut values = BTreeMap::new();
    for spec in &specs {
        match input.remove(&spec.name) {
            Some(value) => {
                check_value(service.auth_kind, spec, &value)?;
                values.insert(spec.name.clone(), to_value(spec, value));
            }
            None if spec.required => {
                return Err(FieldError::Missing {
                    field: spec.name.clone(),
                })
            }
            None => {}
        }
    }
    let expires_at = match certificate {
        Some(info) => Some(info.not_after),
        None => plain_expiry(&values),
    };
    Ok(CheckedFields {
        values,
        expires_at,
        certificate,
    })
}

/// The `expires_at` field of an OAuth2 authentication, if set.
pub(crate) fn plain_expiry(
    values: &BTreeMap<FieldName, FieldValue<SecretText>>,
) -> Option<Timestamp> {
    values.iter().find_map(|(name, value)| match value {
        FieldValue::Plain(text) if name.as_str() == "expires_at" => Timestamp::parse(text),
        _ => None,
    })
}

/// Checks certificate and private key together (both must be present).
pub(crate) fn check_pair(
    input: &BTreeMap<FieldName, SecretText>,
) -> Result<CertificateInfo, FieldError> {
    let get = |name: &str| {
        input
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    };
    let (cert, key) = match (get("certificate"), get("private_key")) {
        (Some(c), Some(k)) => (c, k),
        (None, _) => {
            return Err(FieldError::Missing {
                field: FieldName::parse("certificate").expect("valid field name"),
            })
        }
        (_, None) => {
            return Err(FieldError::Missing {
                field: FieldName::parse("private_key").expect("valid field name"),
            })
        }
    };
    check_certificate(cert.expose(), key.expose()).map_err(FieldError::Certificate)
}

/// Warnings about a checked certificate.
pub(crate) fn certificate_warnings(info: &CertificateInfo, now: Timestamp) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if info.not_after <= now {
        warnings.push(Warning::CertificateExpired {
            not_after: info.not_after,
        });
    } else if info.not_after <= now.plus_days(CERTIFICATE_EXPIRY_WARNING_DAYS) {
        warnings.push(Warning::CertificateExpiresSoon {
            not_after: info.not_after,
        });
    }
    if info.key_match == KeyMatch::NotVerifiable {
        warnings.push(Warning::CertificateKeyNotVerified);
    }
    warnings
}

/// Checked scopes: sorted unique scopes, trimmed extra permissions, missing required scopes.
pub(crate) struct CheckedScopes {
    pub(crate) scopes: Vec<String>,
    pub(crate) extra_permissions: Vec<String>,
    pub(crate) missing_required: Vec<String>,
}

/// Checks scopes and extra permissions against the service.
pub(crate) fn check_scopes(
    service: &ServiceSpec,
    scopes: Vec<String>,
    extra_permissions: Vec<String>,
) -> Result<CheckedScopes, ScopeError> {
    if service.auth_kind != AuthKind::OAuth2 {
        if scopes.is_empty() && extra_permissions.is_empty() {
            return Ok(CheckedScopes {
                scopes,
                extra_permissions,
                missing_required: Vec::new(),
            });
        }
        return Err(ScopeError::NotSupported {
            kind: service.auth_kind,
        });
    }
    let mut set = BTreeSet::new();
    for scope in scopes {
        let scope = scope.trim().to_owned();
        if !service.scopes.contains(&scope) {
            return Err(ScopeError::Unknown { scope });
        }
        set.insert(scope);
    }
    let mut extras = Vec::new();
    for (index, raw) in extra_permissions.iter().enumerate() {
        let text = raw.trim();
        let reason = if text.is_empty() {
            Some("must not be blank")
        } else if text.chars().count() > 200 {
            Some("must be at most 200 characters")
        } else if text.chars().any(char::is_control) {
            Some("must not contain control characters")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ScopeError::BadExtraPermission { index, reason });
        }
        if !extras.iter().any(|e| e == text) {
            extras.push(text.to_owned());
        }
    }
    let missing_required = service
        .required_scopes
        .iter()
        .filter(|s| !set.contains(*s))
        .cloned()
        .collect();
    Ok(CheckedScopes {
        scopes: set.into_iter().collect(),
        extra_permissions: extras,
        missing_required,
    })
}

#[cfg(test)]
mod field_tests {
    use super::*;

    fn name(text: &str) -> FieldName {
        FieldName::parse(text).expect("a valid field name")
    }

    #[test]
    fn every_field_error_names_its_field() {
        let table = [
            (
                FieldError::Missing {
                    field: name("token"),
                },
                "fields.token",
            ),
            (
                FieldError::Unknown {
                    field: name("nope"),
                },
                "fields.nope",
            ),
            (
                FieldError::Blank {
                    field: name("password"),
                },
                "fields.password",
            ),
            (
                FieldError::Invalid {
                    field: name("domain"),
                    reason: "must be a host name: no scheme",
                },
                "fields.domain",
            ),
            (
                FieldError::CannotClearRequired {
                    field: name("username"),
                },
                "fields.username",
            ),
            (FieldError::CertificatePairRequired, "fields.certificate"),
            (
                FieldError::Certificate(CertificateError::NoCertificateBlock),
                "fields.certificate",
            ),
            (
                FieldError::Certificate(CertificateError::KeyMismatch),
                "fields.private_key",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }

    #[test]
    fn every_scope_error_names_its_field() {
        let table = [
            (
                ScopeError::NotSupported {
                    kind: AuthKind::Token,
                },
                "scopes",
            ),
            (
                ScopeError::Unknown {
                    scope: "a: b".into(),
                },
                "scopes",
            ),
            (
                ScopeError::BadExtraPermission {
                    index: 3,
                    reason: "must not be blank",
                },
                "extra_permissions[3]",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
