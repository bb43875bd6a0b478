//! The ledger read model, folded from the log in position order.
//!
//! What lives in memory is bounded by live things: the directory, API tokens, custom services
//! and the current state of every authentication. What grows with the log (history entries,
//! the audit index, which authentications were ever in a workspace) is written to the
//! [`ReadStore`] as each batch is applied, and read from there.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::audit::{self, Indexed, Outcome};
use super::history::{HistoryDetail, HistoryEntry};
use super::history_blocks::{self, PendingHistory};
use super::live_records::LiveRecords;
use super::payloads::{self, DomainEvent, StoredAuthenticationEvent};
use super::runner::Projection;
use super::store::{ChangeSet, KeyRange, ReadStore, ScanOrder, Table};
use super::{decode, encode, ProjectionError};
use crate::crypto::SealedSecret;
use crate::domain::access_log::AccessEvent;
use crate::domain::authentication::Lifecycle;
use crate::domain::authentication::{AuthenticationEvent, AuthenticationState};
use crate::domain::directory::{self, Directory};
use crate::domain::ids::{AuthenticationId, ServiceId, WebhookId, WorkspaceId};
use crate::domain::naming::name_key;
use crate::domain::principals::Tokens;
use crate::domain::services::{
    CustomService, ServiceCatalog, ServiceRef, ServiceRegistry, ServiceSpec,
};
use crate::domain::sign_in_links::SignInLinks;
use crate::domain::webhooks::{apply_webhook, Webhook};
use crate::ledger::Envelope;
use crate::time::Timestamp;

/// Keys of the live table: a few fixed keys, and a one-byte tag followed by an id for each
/// authentication and custom service. A fixed key must not start with a tag, or the scan of
/// that tag's records finds it (and the stored model no longer loads).
mod live_key {
    pub const DIRECTORY: &[u8] = b"directory";
    pub const TOKENS: &[u8] = b"tokens";
    pub const SIGN_IN_LINKS: &[u8] = b"links:sign-in";
    pub const AUTHENTICATION: u8 = b'a';
    pub const SERVICE: u8 = b's';
    pub const WEBHOOK: u8 = b'w';
    #[cfg(test)]
    pub const FIXED: [&[u8]; 3] = [DIRECTORY, TOKENS, SIGN_IN_LINKS];
    #[cfg(test)]
    pub const TAGS: [u8; 3] = [AUTHENTICATION, SERVICE, WEBHOOK];
}

fn id_key(tag: u8, id: uuid::Uuid) -> Vec<u8> {
    let mut key = Vec::with_capacity(17);
    key.push(tag);
    key.extend_from_slice(id.as_bytes());
    key
}

fn workspace_member_key(workspace: WorkspaceId, id: AuthenticationId) -> Vec<u8> {
    let mut key = Vec::with_capacity(32);
    key.extend_from_slice(workspace.as_uuid().as_bytes());
    key.extend_from_slice(id.as_uuid().as_bytes());
    key
}

/// One history entry as stored, with the workspace the authentication was in after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHistory {
    /// The entry as readers see it.
    pub entry: HistoryEntry,
    /// Where the authentication was after this event.
    pub workspace: Option<WorkspaceId>,
}

/// One authentication as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRecord {
    /// Current state (secrets sealed).
    pub state: AuthenticationState<SealedSecret>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The event id of each version that sealed a current secret field (what opening it
    /// binds to), so that opening a current secret needs no history read.
    pub sealed_by: Vec<(u64, uuid::Uuid)>,
}

impl AuthRecord {
    /// Whether the authentication was purged (its record then leaves memory).
    pub fn is_purged(&self) -> bool {
        self.state
            .current
            .as_ref()
            .is_some_and(|a| a.lifecycle == Lifecycle::Purged)
    }

    /// The event id of `version`, if that version sealed a current secret field.
    pub fn sealing_event(&self, version: u64) -> Option<uuid::Uuid> {
        self.sealed_by
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, id)| *id)
    }

    /// Notes the event just applied and keeps only the versions current secrets refer to.
    fn note_sealing(&mut self, version: u64, event_id: uuid::Uuid) {
        let wanted: Vec<u64> = self
            .state
            .current
            .iter()
            .flat_map(|auth| auth.fields.values())
            .filter(|field| field.is_secret())
            .map(|field| field.changed_at_version())
            .collect();
        self.sealed_by.push((version, event_id));
        self.sealed_by.retain(|(v, _)| wanted.contains(v));
    }
}

/// The live part of the read model (in memory); history and audit are in its [`ReadStore`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerModel {
    /// Organizations, users, workspaces, memberships.
    pub directory: Directory,
    /// Version of the directory stream (for optimistic appends).
    pub directory_version: u64,
    /// Custom services by id.
    pub custom_services: BTreeMap<ServiceId, CustomService>,
    /// Authentications by id.
    pub authentications: LiveRecords,
    /// API tokens (hashes only).
    pub tokens: Tokens,
    /// Version of the tokens stream (for optimistic appends), read with the tokens it covers.
    pub tokens_version: u64,
    /// Dashboard sign-in links that may still be used (events of the tokens stream, kept
    /// under their own key so the tokens' stored bytes stay as they were).
    pub sign_in_links: SignInLinks,
    /// Webhook subscriptions by id (removed ones are gone).
    pub webhooks: BTreeMap<WebhookId, Webhook>,
    /// Live authentications by workspace and name key (names are unique per workspace).
    pub names: BTreeMap<WorkspaceId, BTreeMap<String, AuthenticationId>>,
    /// Last position folded in.
    pub position: u64,
    /// What the batch being applied changed in the live state (written at its end).
    dirty: Dirty,
    /// The batch's audit postings (written at its end).
    postings: audit::Postings,
    /// The batch's history entries (written at its end).
    history: PendingHistory,
}

/// Live records changed since the last batch was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Dirty {
    directory: bool,
    tokens: bool,
    services: BTreeSet<ServiceId>,
    authentications: BTreeSet<AuthenticationId>,
    webhooks: BTreeSet<WebhookId>,
}

impl LedgerModel {
    /// Folds a whole sequence of envelopes in memory, discarding what would be written to
    /// the read store (tests and benchmarks compare it with the live model).
    pub fn replay<'a>(
        envelopes: impl IntoIterator<Item = &'a Envelope>,
    ) -> Result<LedgerModel, ProjectionError> {
        let mut model = LedgerModel::default();
        for envelope in envelopes {
            model.apply(envelope, &mut ChangeSet::default())?;
        }
        model.dirty = Dirty::default();
        model.postings = audit::Postings::default();
        model.history = PendingHistory::default();
        model.authentications.drop_purged();
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
        Some(self.authentications.get(id)?.state.current?.workspace)
    }

    /// When an authentication was created and when it reached `version` (for as-of views).
    pub fn times_at(
        &self,
        store: &impl ReadStore,
        id: AuthenticationId,
        version: u64,
    ) -> Result<Option<(Timestamp, Timestamp)>, ProjectionError> {
        let Some(record) = self.authentications.get(id) else {
            return Ok(None);
        };
        let updated =
            history_at(store, id, version)?.map_or(record.updated_at, |h| h.entry.recorded_at);
        Ok(Some((record.created_at, updated)))
    }

    /// The current state of an authentication that exists (decoded).
    pub fn current(
        &self,
        id: AuthenticationId,
    ) -> Option<crate::domain::authentication::Authentication<SealedSecret>> {
        self.authentications.get(id)?.state.current
    }

    /// The record of an authentication (decoded from its compact in-memory form).
    pub fn authentication(&self, id: AuthenticationId) -> Option<AuthRecord> {
        self.authentications.get(id)
    }

    fn apply_authentication(
        &mut self,
        id: AuthenticationId,
        event: StoredAuthenticationEvent,
        envelope: &Envelope,
        changes: &mut ChangeSet,
    ) -> Result<(), ProjectionError> {
        let at = envelope.body.recorded_at;
        let mut record = self.authentications.get(id).unwrap_or_else(|| AuthRecord {
            state: AuthenticationState::default(),
            created_at: at,
            updated_at: at,
            sealed_by: Vec::new(),
        });
        let entry = HistoryEntry::describe(&record.state, &event, envelope);
        if let Some((workspace, key)) = live_name(&record.state) {
            if let Some(names) = self.names.get_mut(&workspace) {
                names.remove(&key);
                if names.is_empty() {
                    self.names.remove(&workspace);
                }
            }
        }
        record.state.apply(&event);
        record.note_sealing(envelope.body.stream_version.0, envelope.body.event_id.0);
        if let Some((workspace, key)) = live_name(&record.state) {
            self.names.entry(workspace).or_default().insert(key, id);
        }
        record.updated_at = at;
        self.authentications.insert(id, &record)?;
        let workspace = record.state.current.as_ref().map(|a| a.workspace);
        if let HistoryDetail::Created { workspace: w, .. } | HistoryDetail::Moved { to: w, .. } =
            &entry.detail
        {
            changes.put(
                Table::WorkspaceMembers,
                workspace_member_key(*w, id),
                Vec::new(),
            );
        }
        let version = entry.version;
        self.history
            .add(id, version, encode(&StoredHistory { entry, workspace })?);
        self.dirty.authentications.insert(id);
        Ok(())
    }

    /// Loads the live state written by earlier batches.
    pub fn load(store: &impl ReadStore) -> Result<LedgerModel, ProjectionError> {
        let mut model = LedgerModel::default();
        if let Some(bytes) = store.get(Table::Live, live_key::DIRECTORY)? {
            (model.directory_version, model.directory) = decode(&bytes)?;
        }
        if let Some(bytes) = store.get(Table::Live, live_key::TOKENS)? {
            (model.tokens_version, model.tokens) = decode(&bytes)?;
        }
        if let Some(bytes) = store.get(Table::Live, live_key::SIGN_IN_LINKS)? {
            model.sign_in_links = decode(&bytes)?;
        }
        let services = KeyRange::prefix(vec![live_key::SERVICE]);
        for (key, bytes) in store.scan(Table::Live, &services, ScanOrder::Ascending, usize::MAX)? {
            let id = uuid_of(&key[1..])?;
            model
                .custom_services
                .insert(ServiceId::from_uuid(id), decode(&bytes)?);
        }
        let webhooks = KeyRange::prefix(vec![live_key::WEBHOOK]);
        for (key, bytes) in store.scan(Table::Live, &webhooks, ScanOrder::Ascending, usize::MAX)? {
            let id = WebhookId::from_uuid(uuid_of(&key[1..])?);
            model.webhooks.insert(id, decode(&bytes)?);
        }
        let auths = KeyRange::prefix(vec![live_key::AUTHENTICATION]);
        for (key, bytes) in store.scan(Table::Live, &auths, ScanOrder::Ascending, usize::MAX)? {
            let id = AuthenticationId::from_uuid(uuid_of(&key[1..])?);
            let Some(record) = model.authentications.insert_encoded(id, bytes)? else {
                continue; // Purged: read from the shelf when asked for.
            };
            if let Some((workspace, name)) = live_name(&record.state) {
                model.names.entry(workspace).or_default().insert(name, id);
            }
        }
        let shelf = store.clone();
        model
            .authentications
            .shelve_in(std::sync::Arc::new(move |id| {
                shelf.get(Table::Live, &id_key(live_key::AUTHENTICATION, id.as_uuid()))
            }));
        Ok(model)
    }

    /// Writes the live records the batch changed.
    fn write_dirty(&mut self, changes: &mut ChangeSet) -> Result<(), ProjectionError> {
        let dirty = std::mem::take(&mut self.dirty);
        if dirty.directory {
            let value = encode(&(self.directory_version, &self.directory))?;
            changes.put(Table::Live, live_key::DIRECTORY.to_vec(), value);
        }
        if dirty.tokens {
            let value = encode(&(self.tokens_version, &self.tokens))?;
            changes.put(Table::Live, live_key::TOKENS.to_vec(), value);
            let links = encode(&self.sign_in_links)?;
            changes.put(Table::Live, live_key::SIGN_IN_LINKS.to_vec(), links);
        }
        for id in dirty.services {
            if let Some(service) = self.custom_services.get(&id) {
                let key = id_key(live_key::SERVICE, id.as_uuid());
                changes.put(Table::Live, key, encode(service)?);
            }
        }
        for id in dirty.webhooks {
            let key = id_key(live_key::WEBHOOK, id.as_uuid());
            match self.webhooks.get(&id) {
                Some(webhook) => changes.put(Table::Live, key, encode(webhook)?),
                None => changes.delete(Table::Live, key),
            }
        }
        for id in dirty.authentications {
            if let Some(bytes) = self.authentications.encoded(id) {
                let key = id_key(live_key::AUTHENTICATION, id.as_uuid());
                changes.put(Table::Live, key, bytes.to_vec());
            }
        }
        Ok(())
    }
}

fn uuid_of(bytes: &[u8]) -> Result<uuid::Uuid, ProjectionError> {
    uuid::Uuid::from_slice(bytes)
        .map_err(|_| ProjectionError::Malformed(super::Malformed::KeyWithoutId))
}

/// The stored history entry of an authentication at a version.
pub fn history_at(
    store: &impl ReadStore,
    id: AuthenticationId,
    version: u64,
) -> Result<Option<StoredHistory>, ProjectionError> {
    history_blocks::entry_at(store, id, version)?
        .map(|bytes| decode(&bytes))
        .transpose()
}

/// Up to `limit` history entries of an authentication with versions above `after`, oldest first.
pub fn history_page(
    store: &impl ReadStore,
    id: AuthenticationId,
    after: u64,
    limit: usize,
) -> Result<Vec<HistoryEntry>, ProjectionError> {
    history_blocks::entries_after(store, id, after, limit)?
        .into_iter()
        .map(|(_, bytes)| decode::<StoredHistory>(&bytes).map(|h| h.entry))
        .collect()
}

/// Every authentication that was ever created in or moved into `workspace`.
pub fn ever_in_workspace(
    store: &impl ReadStore,
    workspace: WorkspaceId,
) -> Result<Vec<AuthenticationId>, ProjectionError> {
    let range = KeyRange::prefix(workspace.as_uuid().as_bytes().to_vec());
    store
        .scan(
            Table::WorkspaceMembers,
            &range,
            ScanOrder::Ascending,
            usize::MAX,
        )?
        .into_iter()
        .map(|(key, _)| uuid_of(&key[16..]).map(AuthenticationId::from_uuid))
        .collect()
}

/// Every purged authentication, read from the read store (purged records are not kept in
/// memory). Reads every stored record: for start-up chores, not for requests.
pub fn purged_authentications(
    store: &impl ReadStore,
) -> Result<Vec<AuthenticationId>, ProjectionError> {
    let auths = KeyRange::prefix(vec![live_key::AUTHENTICATION]);
    let mut purged = Vec::new();
    for (key, bytes) in store.scan(Table::Live, &auths, ScanOrder::Ascending, usize::MAX)? {
        if decode::<AuthRecord>(&bytes)?.is_purged() {
            purged.push(AuthenticationId::from_uuid(uuid_of(&key[1..])?));
        }
    }
    Ok(purged)
}

/// The workspace and name key of a live authentication.
fn live_name(state: &AuthenticationState<SealedSecret>) -> Option<(WorkspaceId, String)> {
    let auth = state.current.as_ref()?;
    (auth.lifecycle == Lifecycle::Active).then(|| (auth.workspace, name_key(&auth.name)))
}

impl Projection for LedgerModel {
    const NAME: &'static str = "ledger_model";
    // 8: audit postings in blocks per batch. 9: custom service records carry their
    // version and whether they are retired. 10: a list's last block grows across batches.
    // 11: authentication records carry the event ids that sealed their current secrets.
    // 12: custom service records carry their OAuth2 client registration.
    // 13: history entries in blocks per authentication; audit blocks of 512.
    // 14: audit and history lists in big blocks, with small blocks at their tail.
    // 15: users carry whether they are deactivated; token records their time of issue,
    // expiry and scopes. 16: authentication records carry whether a refresh failure streak
    // is recorded and the last certificate notice sent; history has the notices' details.
    const LAYOUT: u16 = 16;

    fn load<S: ReadStore>(store: &S, position: u64) -> Result<Self, ProjectionError> {
        let mut model = LedgerModel::load(store)?;
        model.position = position;
        Ok(model)
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn apply(
        &mut self,
        envelope: &Envelope,
        changes: &mut ChangeSet,
    ) -> Result<(), ProjectionError> {
        let position = envelope.position().0;
        if position <= self.position {
            return Ok(()); // Already folded in.
        }
        let mut authentication = None;
        let mut workspaces = Vec::new();
        let mut outcome = Outcome::Succeeded;
        match payloads::decode(envelope)? {
            DomainEvent::Directory(event) => {
                workspaces.extend(event.workspace(&self.directory));
                directory::apply(&mut self.directory, &event);
                self.directory_version = envelope.body.stream_version.0;
                self.dirty.directory = true;
            }
            DomainEvent::Service(event) => {
                // Defined, changed or retired: the live record holds its current definition,
                // version and whether it is retired.
                let service = event.service();
                let mut current = self.custom_services.get(&service).cloned();
                crate::domain::services::apply_custom_service(&mut current, &event);
                if let Some(service_now) = current {
                    workspaces.push(service_now.workspace);
                    self.custom_services.insert(service, service_now);
                    self.dirty.services.insert(service);
                }
            }
            DomainEvent::Token(event) => {
                self.tokens.apply(&event, envelope.body.recorded_at);
                self.sign_in_links.apply(&event, envelope.body.recorded_at);
                self.tokens_version = envelope.body.stream_version.0;
                self.dirty.tokens = true;
            }
            DomainEvent::Authentication(id, event) => {
                authentication = Some(id);
                if let AuthenticationEvent::Moved { from, .. } = &event {
                    workspaces.push(*from);
                }
                self.apply_authentication(id, event, envelope, changes)?;
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
            DomainEvent::TokenUse(_) => outcome = Outcome::Refused,
            DomainEvent::Webhook(id, event) => {
                let mut current = self.webhooks.remove(&id);
                apply_webhook(
                    &mut current,
                    &event,
                    envelope.body.stream_version.0,
                    position,
                );
                if let Some(webhook) = current {
                    self.webhooks.insert(id, webhook);
                }
                self.dirty.webhooks.insert(id);
            }
            // Key management changes no read model; audit indexes it like every event.
            DomainEvent::Keys(_) | DomainEvent::Other => {}
        }
        workspaces.sort_unstable();
        workspaces.dedup();
        self.postings.note(Indexed {
            position,
            actor: &envelope.body.actor.principal,
            event_type: &envelope.body.event_type,
            authentication,
            workspaces: &workspaces,
            outcome,
        });
        self.position = position;
        Ok(())
    }

    fn finish_batch<S: ReadStore>(
        &mut self,
        store: &S,
        changes: &mut ChangeSet,
    ) -> Result<(), ProjectionError> {
        self.postings.write(store, changes)?;
        self.history.write(store, changes)?;
        self.write_dirty(changes)?;
        self.authentications.let_go();
        Ok(())
    }
}

#[cfg(test)]
mod live_key_tests {
    use super::live_key;

    #[test]
    fn no_fixed_live_key_starts_with_a_record_tag() {
        for key in live_key::FIXED {
            assert!(
                !live_key::TAGS.contains(&key[0]),
                "{} starts with a record tag",
                String::from_utf8_lossy(key)
            );
        }
    }
}
