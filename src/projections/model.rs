//! The ledger read model: directory, custom services and every authentication with its history,
//! folded from the log in position order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::history::HistoryEntry;
use super::payloads::{self, DomainEvent, StoredAuthenticationEvent};
use super::runner::Projection;
use super::ProjectionError;
use crate::crypto::SealedSecret;
use crate::domain::authentication::AuthenticationState;
use crate::domain::authentication::Lifecycle;
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

    /// Names of the live (not deleted or purged) authentications of a workspace.
    pub fn names_in(&self, workspace: WorkspaceId) -> Vec<String> {
        self.authentications
            .values()
            .filter_map(|r| r.state.current.as_ref())
            .filter(|a| a.workspace == workspace && a.lifecycle == Lifecycle::Active)
            .map(|a| a.name.clone())
            .collect()
    }

    /// Whether a live authentication in `workspace` already has this name (case-insensitively).
    pub fn name_taken(&self, workspace: WorkspaceId, name: &str) -> bool {
        let key = name_key(name);
        self.names_in(workspace).iter().any(|n| name_key(n) == key)
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
        record.state.apply(&event);
        record.updated_at = at;
        record.history.push(entry);
    }
}

impl Projection for LedgerModel {
    const NAME: &'static str = "ledger_model";
    const SNAPSHOT_VERSION: u16 = 2;

    fn apply(&mut self, envelope: &Envelope) -> Result<(), ProjectionError> {
        let position = envelope.position().0;
        if position <= self.position {
            return Ok(()); // Already folded in (snapshot overlap).
        }
        match payloads::decode(envelope)? {
            DomainEvent::Directory(event) => {
                directory::apply(&mut self.directory, &event);
                self.directory_version = envelope.body.stream_version.0;
            }
            DomainEvent::Service(event) => {
                let CustomServiceEvent::CustomServiceDefined { service, .. } = &event;
                let mut current = self.custom_services.get(service).cloned();
                crate::domain::services::apply_custom_service(&mut current, &event);
                if let Some(defined) = current {
                    self.custom_services.insert(*service, defined);
                }
            }
            DomainEvent::Token(event) => self.tokens.apply(&event),
            DomainEvent::Authentication(id, event) => {
                self.apply_authentication(id, event, envelope)
            }
            DomainEvent::Other => {}
        }
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
