//! The ledger read model: directory, custom services and every authentication with its history,
//! folded from the log in position order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::audit::{AuditIndex, Indexed, Outcome};
use super::history::HistoryEntry;
use super::payloads::{self, DomainEvent, StoredAuthenticationEvent};
use super::runner::Projection;
use super::ProjectionError;
use crate::crypto::SealedSecret;
use crate::domain::access_log::AccessEvent;
use crate::domain::authentication::Lifecycle;
use crate::domain::authentication::{AuthenticationEvent, AuthenticationState};
use crate::domain::directory::{self, Directory};
use crate::domain::ids::{AuthenticationId, ServiceId, WorkspaceId};
use crate::domain::naming::name_key;
use crate::domain::principals::Tokens;
use crate::domain::services::{
    CustomService, CustomServiceEvent, ServiceCatalog, ServiceRef, ServiceRegistry, ServiceSpec,
};
use crate::ledger::{codec, Envelope, RecordedAt};

/// One authentication as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRecord {
    /// Current state (secrets sealed).
    pub state: AuthenticationState<SealedSecret>,
    /// When it was created.
    pub created_at: RecordedAt,
    /// When it last changed.
    pub updated_at: RecordedAt,
    /// Every change, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// The whole read model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerModel {
    /// Organizations, users, workspaces, memberships.
    pub directory: Directory,
    /// Version of the directory stream (for optimistic appends).
    pub directory_version: u64,
    /// Custom services by id.
    pub custom_services: BTreeMap<ServiceId, CustomService>,
    /// Authentications by id.
    pub authentications: BTreeMap<AuthenticationId, AuthRecord>,
    /// API tokens (hashes only).
    pub tokens: Tokens,
    /// Version of the tokens stream (for optimistic appends), read with the tokens it covers.
    pub tokens_version: u64,
    /// Live authentications by workspace and name key (names are unique per workspace).
    pub names: BTreeMap<WorkspaceId, BTreeMap<String, AuthenticationId>>,
    /// Every event as an audit record, indexed by actor, type, authentication, workspace.
    pub audit: AuditIndex,
    /// Last position folded in.
    pub position: u64,
}

impl LedgerModel {
    /// Folds a whole sequence of envelopes (a full replay).
    pub fn replay<'a>(
        envelopes: impl IntoIterator<Item = &'a Envelope>,
    ) -> Result<LedgerModel, ProjectionError> {
        let mut model = LedgerModel::default();
        for envelope in envelopes {
            model.apply(envelope)?;
        }
        Ok(model)
    }

    /// The prebuilt catalog plus the custom services defined so far.
    pub fn registry(&self, catalog: &ServiceCatalog) -> ServiceRegistry {
        ServiceRegistry {
            catalog: catalog.clone(),
            custom: self.custom_services.clone(),
        }
    }

    /// The spec of a service (prebuilt or custom), without building a registry.
    pub fn service_spec<'a>(
        &'a self,
        catalog: &'a ServiceCatalog,
        service: &ServiceRef,
    ) -> Option<&'a ServiceSpec> {
        match service {
            ServiceRef::Prebuilt(key) => catalog.get(key),
            ServiceRef::Custom(id) => self.custom_services.get(id).map(|c| &c.spec),
        }
    }

    /// Whether a live authentication of `workspace` has this name key.
    pub fn name_taken(&self, workspace: WorkspaceId, key: &str) -> bool {
        self.names
            .get(&workspace)
            .is_some_and(|names| names.contains_key(key))
    }

    /// The workspace an authentication is in now (also when deleted).
    pub fn workspace_of(&self, id: AuthenticationId) -> Option<WorkspaceId> {
        Some(
            self.authentications
                .get(&id)?
                .state
                .current
                .as_ref()?
                .workspace,
        )
    }

    /// When an authentication was created and when it reached `version` (for as-of views).
    pub fn times_at(&self, id: AuthenticationId, version: u64) -> Option<(RecordedAt, RecordedAt)> {
        let record = self.authentications.get(&id)?;
        let updated = record
            .history
            .get(version.saturating_sub(1) as usize)
            .map_or(record.updated_at, |h| h.recorded_at);
        Some((record.created_at, updated))
    }

    /// The record of an authentication.
    pub fn authentication(&self, id: AuthenticationId) -> Option<&AuthRecord> {
        self.authentications.get(&id)
    }

    fn apply_authentication(
        &mut self,
        id: AuthenticationId,
        event: StoredAuthenticationEvent,
        envelope: &Envelope,
    ) {
        let at = envelope.body.recorded_at;
        let record = self
            .authentications
            .entry(id)
            .or_insert_with(|| AuthRecord {
                state: AuthenticationState::default(),
                created_at: at,
                updated_at: at,
                history: Vec::new(),
            });
        let entry = HistoryEntry::describe(&record.state, &event, envelope);
        if let Some((workspace, key)) = live_name(&record.state) {
            if let Some(names) = self.names.get_mut(&workspace) {
                names.remove(&key);
            }
        }
        record.state.apply(&event);
        if let Some((workspace, key)) = live_name(&record.state) {
            self.names.entry(workspace).or_default().insert(key, id);
        }
        record.updated_at = at;
        record.history.push(entry);
    }
}

/// The workspace a directory event is about; organization-level events (members, roles)
/// count as touching the organization's workspace.
pub(super) fn directory_workspace(
    directory: &Directory,
    event: &directory::DirectoryEvent,
) -> Option<WorkspaceId> {
    use directory::DirectoryEvent as E;
    match event {
        E::OrganizationCreated { workspace, .. }
        | E::WorkspaceCreated { workspace, .. }
        | E::WorkspaceMemberAdded { workspace, .. }
        | E::WorkspaceRoleChanged { workspace, .. }
        | E::WorkspaceMemberRemoved { workspace, .. } => Some(*workspace),
        E::UserCreated {
            personal_workspace, ..
        } => Some(*personal_workspace),
        E::UserJoinedOrganization { organization, .. }
        | E::OrgRoleChanged { organization, .. }
        | E::UserLeftOrganization { organization, .. } => directory
            .organizations
            .get(organization)
            .map(|o| o.workspace),
    }
}

/// The workspace and name key of a live authentication.
fn live_name(state: &AuthenticationState<SealedSecret>) -> Option<(WorkspaceId, String)> {
    let auth = state.current.as_ref()?;
    (auth.lifecycle == Lifecycle::Active).then(|| (auth.workspace, name_key(&auth.name)))
}

impl Projection for LedgerModel {
    const NAME: &'static str = "ledger_model";
    const SNAPSHOT_VERSION: u16 = 6;

    fn apply(&mut self, envelope: &Envelope) -> Result<(), ProjectionError> {
        let position = envelope.position().0;
        if position <= self.position {
            return Ok(()); // Already folded in (snapshot overlap).
        }
        let mut authentication = None;
        let mut workspaces = Vec::new();
        let mut outcome = Outcome::Succeeded;
        match payloads::decode(envelope)? {
            DomainEvent::Directory(event) => {
                workspaces.extend(directory_workspace(&self.directory, &event));
                directory::apply(&mut self.directory, &event);
                self.directory_version = envelope.body.stream_version.0;
            }
            DomainEvent::Service(event) => {
                let CustomServiceEvent::CustomServiceDefined { service, .. } = &event;
                let mut current = self.custom_services.get(service).cloned();
                crate::domain::services::apply_custom_service(&mut current, &event);
                if let Some(defined) = current {
                    workspaces.push(defined.workspace);
                    self.custom_services.insert(*service, defined);
                }
            }
            DomainEvent::Token(event) => {
                self.tokens.apply(&event);
                self.tokens_version = envelope.body.stream_version.0;
            }
            DomainEvent::Authentication(id, event) => {
                authentication = Some(id);
                if let AuthenticationEvent::Moved { from, .. } = &event {
                    workspaces.push(*from);
                }
                self.apply_authentication(id, event, envelope);
                workspaces.extend(self.workspace_of(id));
            }
            DomainEvent::Access(event) => {
                let id = event.authentication();
                authentication = Some(id);
                workspaces.extend(self.workspace_of(id));
                match &event {
                    AccessEvent::Resolved { workspace, .. } => workspaces.push(*workspace),
                    AccessEvent::Refused { .. } => outcome = Outcome::Refused,
                }
            }
            // Key management changes no read model; audit indexes it like every event.
            DomainEvent::Keys(_) | DomainEvent::Other => {}
        }
        workspaces.dedup();
        self.audit.note(Indexed {
            position,
            recorded_at: envelope.body.recorded_at,
            actor: &envelope.body.actor.principal,
            event_type: &envelope.body.event_type,
            authentication,
            workspaces: &workspaces,
            outcome,
        });
        self.position = position;
        Ok(())
    }

    fn encode_snapshot(&self) -> Result<Vec<u8>, ProjectionError> {
        codec::encode(self).map_err(|e| ProjectionError::Snapshot(e.to_string()))
    }

    fn decode_snapshot(bytes: &[u8]) -> Result<Self, ProjectionError> {
        codec::decode(bytes).map_err(|e| ProjectionError::Snapshot(e.to_string()))
    }
}
