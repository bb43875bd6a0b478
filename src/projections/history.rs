//! Per-authentication history: who changed what, when and from where, with per-field diffs.
//! Secret fields appear only as fingerprints.

use serde::{Deserialize, Serialize};

use super::payloads::StoredAuthenticationEvent;
use crate::crypto::{Fingerprint, SealedSecret};
use crate::domain::authentication::{
    AuthenticationEvent, AuthenticationState, FieldOutcome, FieldValue, StoredField,
    VerificationOutcome,
};
use crate::domain::ids::{FieldName, WorkspaceId};
use crate::ledger::{Envelope, EventId, Origin};
use crate::time::Timestamp;

/// What happened to one field in one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldChangeKind {
    /// Given a value (create or restore).
    Set,
    /// Replaced by a supplied value.
    Overridden,
    /// Omitted, so the stored value was kept.
    Kept,
    /// Explicitly cleared.
    Cleared,
}

/// The diff of one field: never a secret value, only its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// Field name.
    pub field: String,
    /// What happened.
    pub change: FieldChangeKind,
    /// Whether the field is secret.
    pub secret: bool,
    /// New plain value (non-secret fields only).
    pub value: Option<String>,
    /// Fingerprint of the new secret value.
    pub fingerprint: Option<Fingerprint>,
    /// Fingerprint of the secret value before the change.
    pub previous_fingerprint: Option<Fingerprint>,
}

/// What kind of change an event made, beyond field diffs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryDetail {
    /// Created with a name in a workspace.
    Created {
        /// Name.
        name: String,
        /// Workspace.
        workspace: WorkspaceId,
        /// Service reference, as text.
        service: String,
    },
    /// Renamed.
    Renamed {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// Moved between workspaces.
    Moved {
        /// Source.
        from: WorkspaceId,
        /// Destination.
        to: WorkspaceId,
    },
    /// Settings re-entered.
    Reauthenticated,
    /// Scopes changed.
    ScopesChanged {
        /// New scopes.
        scopes: Vec<String>,
        /// New extra permissions.
        extra_permissions: Vec<String>,
        /// Required scopes now missing.
        missing_required: Vec<String>,
    },
    /// Soft-deleted.
    Deleted,
    /// Restored to an earlier version.
    Restored {
        /// The version restored.
        from_version: u64,
    },
    /// Purged for good.
    Purged,
    /// An OAuth2 grant: scopes requested and granted.
    GrantRecorded {
        /// Requested scopes.
        requested_scopes: Vec<String>,
        /// Granted scopes.
        granted_scopes: Vec<String>,
        /// Required scopes not granted.
        missing_required: Vec<String>,
    },
    /// The provider refused the refresh token.
    ReauthorizationRequired {
        /// What the provider said.
        reason: String,
    },
    /// The new material of the change before it was checked at the service.
    VerificationRecorded {
        /// `verified`, `failed` or `not_verifiable`.
        outcome: String,
        /// The host called, if one was.
        host: Option<String>,
        /// The HTTP status the service answered, if it answered.
        status: Option<u16>,
        /// Why it failed or could not be checked.
        reason: Option<String>,
        /// The check failed and the caller asked to save anyway.
        saved_unverified: bool,
    },
    /// A token refresh failed (the first failure of a streak).
    RefreshFailed {
        /// What went wrong (the host at most, never a token or URL path).
        reason: String,
    },
    /// The client certificate expires within `days_before` days.
    CertificateExpiring {
        /// End of validity.
        not_after: crate::time::Timestamp,
        /// 30, 7 or 1.
        days_before: u8,
    },
    /// The client certificate has expired.
    CertificateExpired {
        /// End of validity.
        not_after: crate::time::Timestamp,
    },
}

/// One change in an authentication's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Stream version after the change.
    pub version: u64,
    /// Global log position.
    pub position: u64,
    /// The event's id.
    pub event_id: EventId,
    /// Stable event type string.
    pub event_type: String,
    /// Store time.
    pub recorded_at: Timestamp,
    /// Principal that made the change.
    pub actor: String,
    /// Where it came from.
    pub origin: Origin,
    /// The kind of change.
    pub detail: HistoryDetail,
    /// Per-field diffs.
    pub fields: Vec<FieldDiff>,
}

impl HistoryEntry {
    /// Describes `event` applied on top of `before`.
    pub fn describe(
        before: &AuthenticationState<SealedSecret>,
        event: &StoredAuthenticationEvent,
        envelope: &Envelope,
    ) -> HistoryEntry {
        HistoryEntry {
            version: envelope.body.stream_version.0,
            position: envelope.body.position.0,
            event_id: envelope.body.event_id,
            event_type: envelope.body.event_type.clone(),
            recorded_at: envelope.body.recorded_at,
            actor: envelope.body.actor.principal.clone(),
            origin: envelope.body.origin.clone(),
            detail: HistoryDetail::of(event),
            fields: field_diffs(before, event),
        }
    }
}

impl HistoryDetail {
    /// What kind of change `event` made (its field diffs aside).
    pub fn of(event: &StoredAuthenticationEvent) -> HistoryDetail {
        use AuthenticationEvent as E;
        match event {
            E::Created {
                name,
                workspace,
                service,
                ..
            } => HistoryDetail::Created {
                name: name.clone(),
                workspace: *workspace,
                service: service.to_string(),
            },
            E::Renamed { from, to } => HistoryDetail::Renamed {
                from: from.clone(),
                to: to.clone(),
            },
            E::Moved { from, to } => HistoryDetail::Moved {
                from: *from,
                to: *to,
            },
            E::Reauthenticated { .. } => HistoryDetail::Reauthenticated,
            E::ScopesChanged {
                scopes,
                extra_permissions,
                missing_required,
            } => HistoryDetail::ScopesChanged {
                scopes: scopes.clone(),
                extra_permissions: extra_permissions.clone(),
                missing_required: missing_required.clone(),
            },
            E::Deleted => HistoryDetail::Deleted,
            E::Restored {
                restored_from_version,
                ..
            } => HistoryDetail::Restored {
                from_version: *restored_from_version,
            },
            E::Purged => HistoryDetail::Purged,
            E::GrantRecorded {
                requested_scopes,
                granted_scopes,
                missing_required,
                ..
            } => HistoryDetail::GrantRecorded {
                requested_scopes: requested_scopes.clone(),
                granted_scopes: granted_scopes.clone(),
                missing_required: missing_required.clone(),
            },
            E::ReauthorizationRequired { reason } => HistoryDetail::ReauthorizationRequired {
                reason: reason.clone(),
            },
            E::RefreshFailed { reason } => HistoryDetail::RefreshFailed {
                reason: reason.clone(),
            },
            E::CertificateExpiring {
                not_after,
                days_before,
            } => HistoryDetail::CertificateExpiring {
                not_after: *not_after,
                days_before: *days_before,
            },
            E::CertificateExpired { not_after } => HistoryDetail::CertificateExpired {
                not_after: *not_after,
            },
            E::VerificationRecorded {
                outcome,
                saved_unverified,
            } => verification_detail(outcome, *saved_unverified),
        }
    }
}

/// The per-field diffs of `event` applied on top of `before`: fingerprints, never secrets.
fn field_diffs(
    before: &AuthenticationState<SealedSecret>,
    event: &StoredAuthenticationEvent,
) -> Vec<FieldDiff> {
    let previous = |field: &FieldName| -> Option<Fingerprint> {
        match before.current.as_ref()?.fields.get(field)? {
            StoredField::Secret { value, .. } => Some(value.fingerprint.clone()),
            StoredField::Plain { .. } => None,
        }
    };
    match event {
        AuthenticationEvent::Created { fields, .. }
        | AuthenticationEvent::Restored { fields, .. } => fields
            .iter()
            .map(|(f, v)| diff(f, v, FieldChangeKind::Set, previous(f)))
            .collect(),
        AuthenticationEvent::Reauthenticated { fields, .. } => fields
            .iter()
            .map(|(f, outcome)| match outcome {
                FieldOutcome::Overridden(v) => diff(f, v, FieldChangeKind::Overridden, previous(f)),
                FieldOutcome::Kept => unchanged(f, FieldChangeKind::Kept, previous(f)),
                FieldOutcome::Cleared => unchanged(f, FieldChangeKind::Cleared, previous(f)),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A field kept or cleared: no new value; a secret one shows the fingerprint it had.
fn unchanged(field: &FieldName, change: FieldChangeKind, prior: Option<Fingerprint>) -> FieldDiff {
    FieldDiff {
        field: field.as_str().to_owned(),
        change,
        secret: prior.is_some(),
        value: None,
        fingerprint: None,
        previous_fingerprint: prior,
    }
}

/// The history detail of a verification record (flat, so audit rows and JSON read alike).
pub fn verification_detail(outcome: &VerificationOutcome, saved_unverified: bool) -> HistoryDetail {
    let (host, status, reason) = match outcome {
        VerificationOutcome::Verified { host, status } => (Some(host.clone()), Some(*status), None),
        VerificationOutcome::Failed {
            host,
            status,
            reason,
        } => (Some(host.clone()), *status, Some(reason.clone())),
        VerificationOutcome::NotVerifiable { reason } => (None, None, Some(reason.clone())),
    };
    HistoryDetail::VerificationRecorded {
        outcome: outcome.as_str().to_owned(),
        host,
        status,
        reason,
        saved_unverified,
    }
}

fn diff(
    field: &FieldName,
    value: &FieldValue<SealedSecret>,
    change: FieldChangeKind,
    previous_fingerprint: Option<Fingerprint>,
) -> FieldDiff {
    let (secret, value, fingerprint) = match value {
        FieldValue::Plain(text) => (false, Some(text.clone()), None),
        FieldValue::Secret(sealed) => (true, None, Some(sealed.fingerprint.clone())),
    };
    FieldDiff {
        field: field.as_str().to_owned(),
        change,
        secret,
        value,
        fingerprint,
        previous_fingerprint,
    }
}
