//! Scopes and OAuth2 grants: what the provider granted, refreshed or refused.

use super::changes::reauthenticate;
use super::{one, scope_warnings, Existing, Result};
use crate::domain::access::Action;
use crate::domain::authentication::commands::{ChangeOrigin, FieldChange};
use crate::domain::authentication::events::AuthenticationEvent;
use crate::domain::authentication::validate::check_scopes;
use crate::domain::authentication::{AuthenticationError, Decision};
use crate::domain::ids::FieldName;
use crate::domain::services::{AuthKind, ServiceSpec};
use std::collections::BTreeMap;

/// Scopes of a kind other than OAuth2 (OAuth2 scopes are what the provider granted: they
/// change only through re-consent).
pub(super) fn change_scopes<S>(
    on: &Existing<'_, S>,
    scopes: Vec<String>,
    extra_permissions: Vec<String>,
) -> Result<Decision> {
    on.require(Action::Edit)?;
    if on.service.auth_kind == AuthKind::OAuth2 {
        return Err(AuthenticationError::ReconsentRequired);
    }
    let checked = check_scopes(on.service, scopes, extra_permissions)?;
    let auth = on.auth;
    if checked.scopes == auth.scopes && checked.extra_permissions == auth.extra_permissions {
        return Err(AuthenticationError::ScopesUnchanged);
    }
    let mut decision = one(AuthenticationEvent::ScopesChanged {
        scopes: checked.scopes,
        extra_permissions: checked.extra_permissions,
        missing_required: checked.missing_required.clone(),
    });
    decision.warnings = scope_warnings(checked.missing_required);
    Ok(decision)
}

/// The provider decides what it grants: record it as given, warn about the gaps.
pub(super) fn record_grant<S>(
    on: &Existing<'_, S>,
    requested_scopes: Vec<String>,
    granted_scopes: Vec<String>,
    extra_permissions: Vec<String>,
) -> Result<Decision> {
    on.require(Action::Edit)?;
    on.require_oauth2()?;
    let missing_required = missing_required(on.service, &granted_scopes);
    let mut decision = one(AuthenticationEvent::GrantRecorded {
        requested_scopes,
        granted_scopes,
        extra_permissions,
        missing_required: missing_required.clone(),
    });
    decision.warnings = scope_warnings(missing_required);
    Ok(decision)
}

/// A system command: the provider, not a person, vouches for the new tokens. Scopes the
/// provider granted anew (in any order) are recorded as a grant after the new tokens.
pub(super) fn record_refresh<S>(
    on: &Existing<'_, S>,
    fields: BTreeMap<FieldName, FieldChange>,
    granted_scopes: Option<Vec<String>>,
) -> Result<Decision> {
    on.require_oauth2()?;
    let auth = on.auth;
    let mut decision = reauthenticate(auth, on.service, fields, ChangeOrigin::System, on.ctx.now)?;
    let changed = granted_scopes.filter(|granted| {
        let mut now = auth.scopes.clone();
        let mut then = granted.clone();
        now.sort();
        then.sort();
        now != then
    });
    if let Some(granted_scopes) = changed {
        decision.events.push(AuthenticationEvent::GrantRecorded {
            requested_scopes: auth.scopes.clone(),
            missing_required: missing_required(on.service, &granted_scopes),
            granted_scopes,
            extra_permissions: auth.extra_permissions.clone(),
        });
    }
    Ok(decision)
}

/// A system command: the refresh task reports what the provider answered.
pub(super) fn require_reauthorization<S>(on: &Existing<'_, S>, reason: String) -> Result<Decision> {
    on.require_oauth2()?;
    if on.auth.needs_reauthorization {
        return Err(AuthenticationError::AlreadyNeedsReauthorization);
    }
    Ok(one(AuthenticationEvent::ReauthorizationRequired { reason }))
}

/// The service's required scopes that were not granted.
fn missing_required(service: &ServiceSpec, granted: &[String]) -> Vec<String> {
    service
        .required_scopes
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect()
}
