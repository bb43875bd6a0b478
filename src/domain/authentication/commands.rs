//! Authentication commands. Secrets arrive as plaintext [`SecretText`].

use crate::domain::ids::{
    AuthenticationId, EnvironmentTag, FieldName, StepId, WorkflowId, WorkspaceId,
};
use crate::domain::secret::SecretText;
use crate::domain::services::ServiceRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a change came from (recorded in the event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeOrigin {
    /// The dashboard.
    Dashboard,
    /// The public API.
    Api,
    /// A workflow step.
    WorkflowStep {
        /// The workflow.
        workflow: WorkflowId,
        /// The step.
        step: StepId,
    },
    /// The service itself (e.g. an OAuth2 token refresh).
    System,
}

/// A change to one field in a re-authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldChange {
    /// Override the stored value.
    Set(SecretText),
    /// Explicitly clear the stored value (refused for required fields).
    Clear,
}

/// Everything needed to create an authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateAuthentication {
    /// Id chosen by the caller (the stream id).
    pub id: AuthenticationId,
    /// Name (trimmed and validated).
    pub name: String,
    /// Owning workspace.
    pub workspace: WorkspaceId,
    /// The service.
    pub service: ServiceRef,
    /// Field values, all plaintext until classified by the service's field specs.
    pub fields: BTreeMap<FieldName, SecretText>,
    /// OAuth2 scopes chosen from the service's list.
    pub scopes: Vec<String>,
    /// OAuth2 free-text extra permissions.
    pub extra_permissions: Vec<String>,
    /// Optional environment tag.
    pub environment: Option<EnvironmentTag>,
    /// Where the creation came from.
    pub origin: ChangeOrigin,
}

/// The content of an earlier version, unsealed by the application, for a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSnapshot {
    /// Name at that version.
    pub name: String,
    /// Field values at that version.
    pub fields: BTreeMap<FieldName, SecretText>,
    /// Scopes at that version.
    pub scopes: Vec<String>,
    /// Extra permissions at that version.
    pub extra_permissions: Vec<String>,
}

/// A request to change an authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticationCommand {
    /// Create it.
    Create(CreateAuthentication),
    /// Rename it.
    Rename {
        /// New name.
        name: String,
    },
    /// Move it to another workspace.
    Move {
        /// Destination workspace.
        to: WorkspaceId,
    },
    /// Supply new credential material with override semantics.
    Reauthenticate {
        /// Supplied fields; omitted fields are kept.
        fields: BTreeMap<FieldName, FieldChange>,
        /// Where the change came from.
        origin: ChangeOrigin,
    },
    /// Change OAuth2 scopes.
    ChangeScopes {
        /// New scopes.
        scopes: Vec<String>,
        /// New extra permissions.
        extra_permissions: Vec<String>,
    },
    /// Soft-delete it.
    Delete,
    /// Restore the content of an earlier version.
    Restore {
        /// The earlier version.
        to_version: u64,
        /// Its content.
        snapshot: RestoreSnapshot,
    },
    /// Purge it permanently.
    Purge,
    /// Record an OAuth2 grant (after the authorization-code flow or a re-consent).
    RecordGrant {
        /// Scopes requested.
        requested_scopes: Vec<String>,
        /// Scopes granted by the provider.
        granted_scopes: Vec<String>,
        /// Extra permissions consented to.
        extra_permissions: Vec<String>,
    },
    /// Record the tokens of a new OAuth2 grant on an existing authentication (the callback of
    /// a re-consent): like a re-authentication, and the only change that may move a grant to
    /// other endpoints (a new custom domain).
    ReauthenticateByGrant {
        /// The new tokens and plain settings.
        fields: BTreeMap<FieldName, FieldChange>,
        /// Where the change came from.
        origin: ChangeOrigin,
    },
    /// Record refreshed OAuth2 tokens (system command: the refresh task, no acting user).
    RecordRefresh {
        /// The new values (access token, a rotated refresh token, expiry) or clears (an
        /// expiry the provider no longer states).
        fields: BTreeMap<FieldName, FieldChange>,
        /// The `scope` of the provider's answer, when it stated one: a provider may narrow
        /// a grant on refresh, and what it says is what the token carries.
        granted_scopes: Option<Vec<String>>,
    },
    /// Mark that the provider refused the refresh token (system command).
    RequireReauthorization {
        /// What the provider said, without any token.
        reason: String,
    },
    /// Record that a refresh failed for another reason than `invalid_grant` (system
    /// command); refused when the failure streak is already recorded.
    RecordRefreshFailure {
        /// What went wrong, without any token, URL path or answer body.
        reason: String,
    },
    /// Record the certificate notice due at the decision's time (system command, the
    /// notices sweep); refused when none is due.
    RecordCertificateNotice,
}
