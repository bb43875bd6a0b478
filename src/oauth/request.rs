//! What an authorization asks of the provider, checked before anyone is sent there: the
//! scopes requested (chosen ones, then extra permissions as scope tokens), the plain fields a
//! request may set, the missing-scopes warning, and a provider's error code as we repeat it.

use std::collections::BTreeMap;

use super::{OAuthError, RequestProblem};
use crate::domain::authentication::Warning;
use crate::domain::ids::FieldName;
use crate::domain::services::{FieldSpec, ServiceSpec};

/// Scopes sent to the provider: the chosen ones, then extra permissions not already chosen.
pub(super) fn requested(scopes: &[String], extra_permissions: &[String]) -> Vec<String> {
    let mut all = scopes.to_vec();
    for extra in extra_permissions {
        if !all.contains(extra) {
            all.push(extra.clone());
        }
    }
    all
}

/// The missing-required-scopes warning for a scope set, if any scope is missing (what the
/// API's authorize answers and the dashboard's confirm step say).
pub fn missing_required(required: &[String], scopes: &[String]) -> Vec<Warning> {
    let missing: Vec<String> = required
        .iter()
        .filter(|s| !scopes.contains(s))
        .cloned()
        .collect();
    if missing.is_empty() {
        Vec::new()
    } else {
        vec![Warning::MissingRequiredScopes { missing }]
    }
}

/// Extra permissions are sent as scope tokens (RFC 6749 §3.3: printable, no space, `"` or `\`).
pub(super) fn check_scope_tokens(extra: &[String]) -> Result<(), OAuthError> {
    for token in extra {
        let valid = !token.is_empty()
            && token.len() <= 256
            && token
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
        if !valid {
            return Err(RequestProblem::NotAScopeToken.into());
        }
    }
    Ok(())
}

/// Whether an authorization request may give this field of an OAuth2 service: its own plain
/// fields (e.g. a custom domain) only; tokens and expiry come from the provider. The API
/// checks requests with it and the dashboard's form shows only these fields.
pub fn given_before_the_grant(field: &FieldSpec) -> bool {
    !field.secret
        && !matches!(
            field.name.as_str(),
            "access_token" | "refresh_token" | "expires_at"
        )
}

/// Only the fields [`given_before_the_grant`] come from the request.
pub(super) fn check_plain_fields(
    spec: &ServiceSpec,
    fields: &BTreeMap<FieldName, String>,
) -> Result<(), OAuthError> {
    for name in fields.keys() {
        let allowed = spec.field(name).is_some_and(|f| given_before_the_grant(&f));
        if !allowed {
            return Err(RequestProblem::FieldNotGivable(name.clone()).into());
        }
    }
    Ok(())
}

pub(super) fn named(fields: &BTreeMap<FieldName, String>) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
        .collect()
}

/// A provider's error code, reduced to the characters RFC 6749 allows in one.
pub(super) fn error_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}
