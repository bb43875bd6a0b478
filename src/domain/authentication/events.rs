//! Authentication events, generic over how secret values are represented.
//!
//! `decide` emits `AuthenticationEvent<SecretText>`; the application seals every secret
//! with [`AuthenticationEvent::map_secrets`] into its opaque sealed type before storing.

use super::commands::ChangeOrigin;
use crate::domain::ids::{AuthenticationId, EnvironmentTag, FieldName, WorkspaceId};
use crate::domain::services::{AuthKind, ServiceRef};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A field value in an event: plain text, or a secret of representation `S`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldValue<S> {
    /// A non-secret value, stored as is.
    Plain(String),
    /// A secret value (plaintext before sealing, sealed afterwards).
    Secret(S),
}

impl<S> FieldValue<S> {
    /// Maps the secret representation.
    pub fn map_secret<T, E>(
        self,
        name: &FieldName,
        f: &mut impl FnMut(&FieldName, S) -> Result<T, E>,
    ) -> Result<FieldValue<T>, E> {
        Ok(match self {
            FieldValue::Plain(text) => FieldValue::Plain(text),
            FieldValue::Secret(secret) => FieldValue::Secret(f(name, secret)?),
        })
    }
}

/// What a re-authentication did to one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldOutcome<S> {
    /// The supplied value replaced the stored one.
    Overridden(FieldValue<S>),
    /// The field was omitted and its stored value kept.
    Kept,
    /// The field was explicitly cleared.
    Cleared,
}

/// Something that happened to an authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthenticationEvent<S> {
    /// The authentication was created.
    Created {
        /// Its id (the stream id).
        authentication: AuthenticationId,
        /// Trimmed, validated name.
        name: String,
        /// Owning workspace.
        workspace: WorkspaceId,
        /// The service.
        service: ServiceRef,
        /// The service's API version at creation.
        service_version: String,
        /// Auth kind.
        kind: AuthKind,
        /// Field values.
        fields: BTreeMap<FieldName, FieldValue<S>>,
        /// Granted OAuth2 scopes (sorted, unique).
        scopes: Vec<String>,
        /// Free-text extra permissions.
        extra_permissions: Vec<String>,
        /// Optional environment tag.
        environment: Option<EnvironmentTag>,
        /// Where the creation came from.
        origin: ChangeOrigin,
        /// Expiry of the credential (certificate not-after, OAuth2 expires_at), if known.
        expires_at: Option<Timestamp>,
    },
    /// The authentication was renamed.
    Renamed {
        /// Previous name.
        from: String,
        /// New name.
        to: String,
    },
    /// The authentication moved to another workspace.
    Moved {
        /// Previous workspace.
        from: WorkspaceId,
        /// New workspace.
        to: WorkspaceId,
    },
    /// New credential material was supplied with override semantics.
    Reauthenticated {
        /// Per field of the service: overridden, kept or cleared.
        fields: BTreeMap<FieldName, FieldOutcome<S>>,
        /// Expiry after the change.
        expires_at: Option<Timestamp>,
        /// Where the change came from.
        origin: ChangeOrigin,
    },
    /// OAuth2 scopes changed.
    ScopesChanged {
        /// New scopes (sorted, unique).
        scopes: Vec<String>,
        /// New extra permissions.
        extra_permissions: Vec<String>,
        /// Required scopes the new set lacks (answered with a warning).
        missing_required: Vec<String>,
    },
    /// The authentication was soft-deleted.
    Deleted,
    /// The authentication was restored to the content of an earlier version.
    Restored {
        /// The version whose content was restored.
        restored_from_version: u64,
        /// Name restored.
        name: String,
        /// Field values restored.
        fields: BTreeMap<FieldName, FieldValue<S>>,
        /// Scopes restored.
        scopes: Vec<String>,
        /// Extra permissions restored.
        extra_permissions: Vec<String>,
        /// Expiry after the restore.
        expires_at: Option<Timestamp>,
    },
    /// The authentication was purged; nothing more can happen to it.
    Purged,
    /// An OAuth2 grant was recorded: the scopes asked for and those the provider granted
    /// (they may differ); the granted ones become the authentication's scopes.
    GrantRecorded {
        /// Scopes requested in the authorization.
        requested_scopes: Vec<String>,
        /// Scopes the provider granted.
        granted_scopes: Vec<String>,
        /// Extra permissions consented to.
        extra_permissions: Vec<String>,
        /// Required scopes of the service that were not granted.
        missing_required: Vec<String>,
    },
    /// The provider refused the refresh token (`invalid_grant`): a person must authorize again.
    ReauthorizationRequired {
        /// What the provider said, without any token.
        reason: String,
    },
    /// The new material of a create or re-authentication was checked against the service's
    /// verification endpoint (or could not be); appended with the change it checked.
    VerificationRecorded {
        /// What the check found.
        outcome: VerificationOutcome,
        /// The check failed and the caller asked to save the change anyway.
        saved_unverified: bool,
    },
    /// A token refresh failed for a reason other than `invalid_grant` (the provider answered
    /// an error, could not be reached, timed out, or the outbound policy refused the call).
    /// Recorded once per failure streak: the first failure after a recorded refresh or grant.
    RefreshFailed {
        /// What went wrong, with the host at most: never a token, a URL path or a body.
        reason: String,
    },
    /// The client certificate's `not_after` is within `days_before` days (30, 7 or 1): the
    /// most urgent threshold reached, once per threshold and `not_after`.
    CertificateExpiring {
        /// End of the certificate's validity.
        not_after: Timestamp,
        /// The threshold reached: 30, 7 or 1.
        days_before: u8,
    },
    /// The client certificate's `not_after` has passed (once per `not_after`).
    CertificateExpired {
        /// End of the certificate's validity.
        not_after: Timestamp,
    },
}

/// What checking new credential material against a service's verification endpoint found.
/// Never holds a credential or anything the service answered beyond its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerificationOutcome {
    /// The endpoint answered 2xx to the new material.
    Verified {
        /// The host that was called.
        host: String,
        /// The HTTP status it answered.
        status: u16,
    },
    /// The endpoint refused the material, or could not be called.
    Failed {
        /// The host that was (or would have been) called.
        host: String,
        /// The HTTP status it answered; `None` when no answer came (unreachable, timed out,
        /// refused by the outbound policy).
        status: Option<u16>,
        /// A short reason, e.g. `the service answered 401` or `timed out`.
        reason: String,
    },
    /// Nothing was called: the kind cannot be presented, or the operator turned checks off.
    NotVerifiable {
        /// Why not.
        reason: String,
    },
}

impl VerificationOutcome {
    /// `verified`, `failed` or `not_verifiable`, as answers and history show it.
    pub fn as_str(&self) -> &'static str {
        match self {
            VerificationOutcome::Verified { .. } => "verified",
            VerificationOutcome::Failed { .. } => "failed",
            VerificationOutcome::NotVerifiable { .. } => "not_verifiable",
        }
    }
}

/// Every authentication event type string.
pub const AUTHENTICATION_EVENT_TYPES: [&str; 14] = [
    "authentication.created",
    "authentication.renamed",
    "authentication.moved",
    "authentication.reauthenticated",
    "authentication.scopes_changed",
    "authentication.deleted",
    "authentication.restored",
    "authentication.purged",
    "authentication.grant_recorded",
    "authentication.reauthorization_required",
    "authentication.verification_recorded",
    "authentication.refresh_failed",
    "authentication.certificate_expiring",
    "authentication.certificate_expired",
];

impl<S> AuthenticationEvent<S> {
    /// Stable type string stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        let index = match self {
            Self::Created { .. } => 0,
            Self::Renamed { .. } => 1,
            Self::Moved { .. } => 2,
            Self::Reauthenticated { .. } => 3,
            Self::ScopesChanged { .. } => 4,
            Self::Deleted => 5,
            Self::Restored { .. } => 6,
            Self::Purged => 7,
            Self::GrantRecorded { .. } => 8,
            Self::ReauthorizationRequired { .. } => 9,
            Self::VerificationRecorded { .. } => 10,
            Self::RefreshFailed { .. } => 11,
            Self::CertificateExpiring { .. } => 12,
            Self::CertificateExpired { .. } => 13,
        };
        AUTHENTICATION_EVENT_TYPES[index]
    }

    /// Schema version of this event's payload.
    pub fn schema_version(&self) -> u16 {
        1
    }

    /// Converts every secret (e.g. plaintext -> sealed), passing the field name so the
    /// sealing can bind it. Non-secret values and all other data are kept unchanged.
    pub fn map_secrets<T, E>(
        self,
        mut f: impl FnMut(&FieldName, S) -> Result<T, E>,
    ) -> Result<AuthenticationEvent<T>, E> {
        Ok(match self {
            Self::Created {
                authentication,
                name,
                workspace,
                service,
                service_version,
                kind,
                fields,
                scopes,
                extra_permissions,
                environment,
                origin,
                expires_at,
            } => AuthenticationEvent::Created {
                authentication,
                name,
                workspace,
                service,
                service_version,
                kind,
                fields: map_values(fields, &mut f)?,
                scopes,
                extra_permissions,
                environment,
                origin,
                expires_at,
            },
            Self::Renamed { from, to } => AuthenticationEvent::Renamed { from, to },
            Self::Moved { from, to } => AuthenticationEvent::Moved { from, to },
            Self::Reauthenticated {
                fields,
                expires_at,
                origin,
            } => {
                let mut mapped = BTreeMap::new();
                for (name, outcome) in fields {
                    let outcome = match outcome {
                        FieldOutcome::Overridden(value) => {
                            FieldOutcome::Overridden(value.map_secret(&name, &mut f)?)
                        }
                        FieldOutcome::Kept => FieldOutcome::Kept,
                        FieldOutcome::Cleared => FieldOutcome::Cleared,
                    };
                    mapped.insert(name, outcome);
                }
                AuthenticationEvent::Reauthenticated {
                    fields: mapped,
                    expires_at,
                    origin,
                }
            }
            Self::ScopesChanged {
                scopes,
                extra_permissions,
                missing_required,
            } => AuthenticationEvent::ScopesChanged {
                scopes,
                extra_permissions,
                missing_required,
            },
            Self::Deleted => AuthenticationEvent::Deleted,
            Self::Restored {
                restored_from_version,
                name,
                fields,
                scopes,
                extra_permissions,
                expires_at,
            } => AuthenticationEvent::Restored {
                restored_from_version,
                name,
                fields: map_values(fields, &mut f)?,
                scopes,
                extra_permissions,
                expires_at,
            },
            Self::Purged => AuthenticationEvent::Purged,
            Self::GrantRecorded {
                requested_scopes,
                granted_scopes,
                extra_permissions,
                missing_required,
            } => AuthenticationEvent::GrantRecorded {
                requested_scopes,
                granted_scopes,
                extra_permissions,
                missing_required,
            },
            Self::ReauthorizationRequired { reason } => {
                AuthenticationEvent::ReauthorizationRequired { reason }
            }
            Self::VerificationRecorded {
                outcome,
                saved_unverified,
            } => AuthenticationEvent::VerificationRecorded {
                outcome,
                saved_unverified,
            },
            Self::RefreshFailed { reason } => AuthenticationEvent::RefreshFailed { reason },
            Self::CertificateExpiring {
                not_after,
                days_before,
            } => AuthenticationEvent::CertificateExpiring {
                not_after,
                days_before,
            },
            Self::CertificateExpired { not_after } => {
                AuthenticationEvent::CertificateExpired { not_after }
            }
        })
    }
}

fn map_values<S, T, E>(
    fields: BTreeMap<FieldName, FieldValue<S>>,
    f: &mut impl FnMut(&FieldName, S) -> Result<T, E>,
) -> Result<BTreeMap<FieldName, FieldValue<T>>, E> {
    let mut mapped = BTreeMap::new();
    for (name, value) in fields {
        let value = value.map_secret(&name, f)?;
        mapped.insert(name, value);
    }
    Ok(mapped)
}
