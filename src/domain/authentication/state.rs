//! Authentication state, folded from events; generic over the secret representation.

use super::commands::ChangeOrigin;
use super::events::{AuthenticationEvent, FieldOutcome, FieldValue};
use super::notices::CertificateNotice;
use crate::domain::ids::{AuthenticationId, EnvironmentTag, FieldName, WorkspaceId};
use crate::domain::services::{AuthKind, ServiceRef};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A stored field value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredField<S> {
    /// A non-secret value.
    Plain {
        /// The value.
        value: String,
        /// Stream version of the event that last set it.
        changed_at_version: u64,
    },
    /// A secret value, in representation `S` (sealed, in the application).
    Secret {
        /// The secret.
        value: S,
        /// Stream version of the event that last set it.
        changed_at_version: u64,
    },
}

impl<S> StoredField<S> {
    /// Stream version of the event that last set the value.
    pub fn changed_at_version(&self) -> u64 {
        match self {
            StoredField::Plain {
                changed_at_version, ..
            }
            | StoredField::Secret {
                changed_at_version, ..
            } => *changed_at_version,
        }
    }
    /// Whether the value is secret.
    pub fn is_secret(&self) -> bool {
        matches!(self, StoredField::Secret { .. })
    }
}

/// Where an authentication is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lifecycle {
    /// Usable.
    Active,
    /// Soft-deleted; can be restored or purged.
    Deleted,
    /// Purged; terminal.
    Purged,
}

impl Lifecycle {
    /// `active`, `deleted` or `purged`, as read APIs show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Deleted => "deleted",
            Lifecycle::Purged => "purged",
        }
    }
}

/// An authentication as of some version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication<S> {
    /// Its id.
    pub id: AuthenticationId,
    /// Name.
    pub name: String,
    /// Owning workspace.
    pub workspace: WorkspaceId,
    /// The service.
    pub service: ServiceRef,
    /// Service API version at creation.
    pub service_version: String,
    /// Auth kind.
    pub kind: AuthKind,
    /// Set fields (a field absent here is not set).
    pub fields: BTreeMap<FieldName, StoredField<S>>,
    /// Granted OAuth2 scopes.
    pub scopes: Vec<String>,
    /// Extra permissions.
    pub extra_permissions: Vec<String>,
    /// Environment tag.
    pub environment: Option<EnvironmentTag>,
    /// Where it was created from.
    pub created_from: ChangeOrigin,
    /// Credential expiry, if known.
    pub expires_at: Option<Timestamp>,
    /// Lifecycle.
    pub lifecycle: Lifecycle,
    /// The provider refused the refresh token; a person must authorize again.
    pub needs_reauthorization: bool,
    /// A refresh failure was recorded and no refresh, grant or re-authentication since: the
    /// next failures of the streak are not recorded again.
    pub refresh_failing: bool,
    /// The last certificate notice sent (for the `not_after` it names).
    pub certificate_notice: Option<CertificateNotice>,
}

/// The state of one authentication stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticationState<S> {
    /// Number of events applied (the stream version).
    pub version: u64,
    /// The authentication, once created.
    pub current: Option<Authentication<S>>,
}

impl<S> Default for AuthenticationState<S> {
    fn default() -> Self {
        Self {
            version: 0,
            current: None,
        }
    }
}

fn stored<S: Clone>(value: &FieldValue<S>, version: u64) -> StoredField<S> {
    match value {
        FieldValue::Plain(text) => StoredField::Plain {
            value: text.clone(),
            changed_at_version: version,
        },
        FieldValue::Secret(secret) => StoredField::Secret {
            value: secret.clone(),
            changed_at_version: version,
        },
    }
}

fn stored_map<S: Clone>(
    fields: &BTreeMap<FieldName, FieldValue<S>>,
    version: u64,
) -> BTreeMap<FieldName, StoredField<S>> {
    fields
        .iter()
        .map(|(name, value)| (name.clone(), stored(value, version)))
        .collect()
}

impl<S> AuthenticationState<S> {
    /// The same state with every secret value mapped to another representation (the
    /// application probes a change on the sealed state without sealing anything).
    pub fn map_secrets<T>(&self, mut f: impl FnMut(&S) -> T) -> AuthenticationState<T> {
        let current = self.current.as_ref().map(|a| Authentication {
            id: a.id,
            name: a.name.clone(),
            workspace: a.workspace,
            service: a.service.clone(),
            service_version: a.service_version.clone(),
            kind: a.kind,
            fields: a
                .fields
                .iter()
                .map(|(name, field)| {
                    let mapped = match field {
                        StoredField::Plain {
                            value,
                            changed_at_version,
                        } => StoredField::Plain {
                            value: value.clone(),
                            changed_at_version: *changed_at_version,
                        },
                        StoredField::Secret {
                            value,
                            changed_at_version,
                        } => StoredField::Secret {
                            value: f(value),
                            changed_at_version: *changed_at_version,
                        },
                    };
                    (name.clone(), mapped)
                })
                .collect(),
            scopes: a.scopes.clone(),
            extra_permissions: a.extra_permissions.clone(),
            environment: a.environment.clone(),
            created_from: a.created_from.clone(),
            expires_at: a.expires_at,
            lifecycle: a.lifecycle,
            needs_reauthorization: a.needs_reauthorization,
            refresh_failing: a.refresh_failing,
            certificate_notice: a.certificate_notice,
        });
        AuthenticationState {
            version: self.version,
            current,
        }
    }
}

impl<S: Clone> AuthenticationState<S> {
    /// Folds events into a state.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a AuthenticationEvent<S>>) -> Self
    where
        S: 'a,
    {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Applies one event; the stream version advances by one.
    pub fn apply(&mut self, event: &AuthenticationEvent<S>) {
        self.version += 1;
        if let Some(created) = Authentication::created_by(event, self.version) {
            self.current = Some(created);
        } else if let Some(auth) = self.current.as_mut() {
            auth.apply_change(event, self.version);
        }
    }
}

impl<S: Clone> Authentication<S> {
    /// The authentication a `Created` event (at `version`) brings into being.
    fn created_by(event: &AuthenticationEvent<S>, version: u64) -> Option<Self> {
        let AuthenticationEvent::Created {
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
        } = event
        else {
            return None;
        };
        Some(Authentication {
            id: *authentication,
            name: name.clone(),
            workspace: *workspace,
            service: service.clone(),
            service_version: service_version.clone(),
            kind: *kind,
            fields: stored_map(fields, version),
            scopes: scopes.clone(),
            extra_permissions: extra_permissions.clone(),
            environment: environment.clone(),
            created_from: origin.clone(),
            expires_at: *expires_at,
            lifecycle: Lifecycle::Active,
            needs_reauthorization: false,
            refresh_failing: false,
            certificate_notice: None,
        })
    }

    /// Folds an event other than `Created` (made at `version`) into the authentication.
    fn apply_change(&mut self, event: &AuthenticationEvent<S>, version: u64) {
        use AuthenticationEvent as E;
        match event {
            E::Created { .. } => {}
            E::Renamed { to, .. } => self.name = to.clone(),
            E::Moved { to, .. } => self.workspace = *to,
            E::Reauthenticated {
                fields, expires_at, ..
            } => self.reauthenticated(fields, *expires_at, version),
            E::ScopesChanged {
                scopes,
                extra_permissions,
                ..
            } => {
                self.scopes = scopes.clone();
                self.extra_permissions = extra_permissions.clone();
            }
            E::Deleted => self.lifecycle = Lifecycle::Deleted,
            E::Restored {
                name,
                fields,
                scopes,
                extra_permissions,
                expires_at,
                ..
            } => {
                self.name = name.clone();
                self.fields = stored_map(fields, version);
                self.scopes = scopes.clone();
                self.extra_permissions = extra_permissions.clone();
                self.expires_at = *expires_at;
                self.lifecycle = Lifecycle::Active;
            }
            E::GrantRecorded {
                granted_scopes,
                extra_permissions,
                ..
            } => {
                self.scopes = granted_scopes.clone();
                self.extra_permissions = extra_permissions.clone();
                self.needs_reauthorization = false;
                self.refresh_failing = false;
            }
            E::ReauthorizationRequired { .. } => self.needs_reauthorization = true,
            E::RefreshFailed { .. } => self.refresh_failing = true,
            E::CertificateExpiring { .. } | E::CertificateExpired { .. } => {
                self.certificate_notice = CertificateNotice::recorded_by(event);
            }
            // A record about the change it came with; the content is that change's.
            E::VerificationRecorded { .. } => {}
            E::Purged => {
                self.fields.clear();
                self.lifecycle = Lifecycle::Purged;
            }
        }
    }

    fn reauthenticated(
        &mut self,
        fields: &BTreeMap<FieldName, FieldOutcome<S>>,
        expires_at: Option<Timestamp>,
        version: u64,
    ) {
        // New token material means a person (or a refresh) just proved access, which also
        // ends a refresh failure streak; a new expiry alone does not.
        if fields.iter().any(|(name, o)| {
            matches!(o, FieldOutcome::Overridden(_))
                && matches!(name.as_str(), "access_token" | "refresh_token")
        }) {
            self.needs_reauthorization = false;
            self.refresh_failing = false;
        }
        for (name, outcome) in fields {
            match outcome {
                FieldOutcome::Overridden(value) => {
                    self.fields.insert(name.clone(), stored(value, version));
                }
                FieldOutcome::Kept => {}
                FieldOutcome::Cleared => {
                    self.fields.remove(name);
                }
            }
        }
        self.expires_at = expires_at;
    }
}
