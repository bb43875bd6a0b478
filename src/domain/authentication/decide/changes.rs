//! Re-authentication: new credential material with override semantics (supplied fields
//! replace, omitted ones are kept, explicitly cleared ones go).

use super::{Existing, Result};
use crate::domain::access::Action;
use crate::domain::authentication::certificate::CertificateInfo;
use crate::domain::authentication::commands::{ChangeOrigin, FieldChange};
use crate::domain::authentication::events::{AuthenticationEvent, FieldOutcome, FieldValue};
use crate::domain::authentication::state::Authentication;
use crate::domain::authentication::validate::{
    certificate_warnings, check_pair, check_value, to_value, FieldError,
};
use crate::domain::authentication::{AuthenticationError, Decision};
use crate::domain::ids::FieldName;
use crate::domain::secret::SecretText;
use crate::domain::services::{AuthKind, FieldSpec, ServiceSpec};
use crate::time::Timestamp;
use std::collections::BTreeMap;

type Changes = BTreeMap<FieldName, FieldChange>;

/// A person re-enters settings. An OAuth2 grant is only good for the endpoints it was made
/// at, so a field those endpoints are built from changes only with a new grant.
pub(super) fn by_person<S>(
    on: &Existing<'_, S>,
    fields: Changes,
    origin: ChangeOrigin,
) -> Result<Decision> {
    on.require(Action::Edit)?;
    if on.service.auth_kind == AuthKind::OAuth2 {
        let endpoint_fields = on.service.endpoint_fields();
        if let Some(field) = fields.keys().find(|f| endpoint_fields.contains(f)) {
            return Err(AuthenticationError::NewGrantRequired {
                field: field.clone(),
            });
        }
    }
    reauthenticate(on.auth, on.service, fields, origin, on.ctx.now)
}

/// The tokens of a new OAuth2 grant (and the endpoint fields it was made with).
pub(super) fn by_grant<S>(
    on: &Existing<'_, S>,
    fields: Changes,
    origin: ChangeOrigin,
) -> Result<Decision> {
    on.require(Action::Edit)?;
    on.require_oauth2()?;
    reauthenticate(on.auth, on.service, fields, origin, on.ctx.now)
}

/// The one `Reauthenticated` event for `changes`, after checking every changed field.
pub(super) fn reauthenticate<S>(
    auth: &Authentication<S>,
    service: &ServiceSpec,
    changes: Changes,
    origin: ChangeOrigin,
    now: Timestamp,
) -> Result<Decision> {
    if changes.is_empty() {
        return Err(AuthenticationError::NothingToChange);
    }
    let specs = service.all_fields();
    if let Some(field) = changes
        .keys()
        .find(|k| !specs.iter().any(|s| &s.name == *k))
    {
        return Err(FieldError::Unknown {
            field: field.clone(),
        }
        .into());
    }
    let mut warnings = Vec::new();
    let mut expires_at = auth.expires_at;
    if let Some(info) = changed_certificate(service, &changes)? {
        expires_at = Some(info.not_after);
        warnings.extend(certificate_warnings(&info, now));
    }
    let fields = outcomes(auth, service, &specs, changes, &mut expires_at)?;
    Ok(Decision {
        events: vec![AuthenticationEvent::Reauthenticated {
            fields,
            expires_at,
            origin,
        }],
        warnings,
    })
}

/// A certificate authentication whose certificate or key changes gets both anew, checked
/// as a pair; `None` when neither changes (or the kind has no certificate).
fn changed_certificate(
    service: &ServiceSpec,
    changes: &Changes,
) -> Result<Option<CertificateInfo>> {
    if service.auth_kind != AuthKind::Certificate {
        return Ok(None);
    }
    let touched = |n: &str| changes.keys().any(|k| k.as_str() == n);
    if !(touched("certificate") || touched("private_key")) {
        return Ok(None);
    }
    let pair: BTreeMap<FieldName, SecretText> = changes
        .iter()
        .filter_map(|(name, change)| match change {
            FieldChange::Set(value) => Some((name.clone(), value.clone())),
            FieldChange::Clear => None,
        })
        .collect();
    if !(pair.keys().any(|k| k.as_str() == "certificate")
        && pair.keys().any(|k| k.as_str() == "private_key"))
    {
        let cleared_required = changes
            .iter()
            .find(|(_, c)| matches!(c, FieldChange::Clear))
            .map(|(k, _)| k.clone());
        return Err(match cleared_required {
            Some(field) if field.as_str() == "certificate" || field.as_str() == "private_key" => {
                FieldError::CannotClearRequired { field }
            }
            _ => FieldError::CertificatePairRequired,
        }
        .into());
    }
    Ok(Some(check_pair(&pair)?))
}

/// What happens to every field of the service; an OAuth2 `expires_at` moves the expiry.
fn outcomes<S>(
    auth: &Authentication<S>,
    service: &ServiceSpec,
    specs: &[FieldSpec],
    mut changes: Changes,
    expires_at: &mut Option<Timestamp>,
) -> Result<BTreeMap<FieldName, FieldOutcome<SecretText>>> {
    let mut outcomes = BTreeMap::new();
    for spec in specs {
        let outcome = match changes.remove(&spec.name) {
            Some(FieldChange::Set(value)) => {
                check_value(service.auth_kind, spec, &value)?;
                FieldOutcome::Overridden(to_value(spec, value))
            }
            Some(FieldChange::Clear) if spec.required => {
                return Err(FieldError::CannotClearRequired {
                    field: spec.name.clone(),
                }
                .into())
            }
            Some(FieldChange::Clear) => FieldOutcome::Cleared,
            None if auth.fields.contains_key(&spec.name) => FieldOutcome::Kept,
            None => continue,
        };
        if spec.name.as_str() == "expires_at" && service.auth_kind == AuthKind::OAuth2 {
            *expires_at = match &outcome {
                FieldOutcome::Overridden(FieldValue::Plain(text)) => Timestamp::parse(text),
                FieldOutcome::Cleared => None,
                _ => *expires_at,
            };
        }
        outcomes.insert(spec.name.clone(), outcome);
    }
    Ok(outcomes)
}
