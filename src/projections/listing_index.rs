//! The listing's index: every listable authentication in listing order (case-folded name,
//! then id), with the few fields a listing filters on.
//!
//! A listing used to decode every live record and sort the matches, so its first page cost
//! grew with the live set many times over (a decode is a few microseconds). Walking this
//! index in order decodes only the records of the page; counting the matches over all pages
//! (`Page::total`) still looks at every entry, but an entry is a handful of plain fields.
//! It is derived from the live records as they are inserted, never stored, so it cannot
//! disagree with them.

use std::collections::{BTreeMap, HashMap};

use super::model::AuthRecord;
use crate::domain::authentication::Lifecycle;
use crate::domain::ids::{AuthenticationId, EnvironmentTag, WorkspaceId};
use crate::domain::naming::name_key;
use crate::domain::services::{AuthKind, ServiceRef};
use crate::time::Timestamp;

/// Where an authentication sorts in a listing: (case-folded name, id).
pub type ListingKey = (String, AuthenticationId);

/// What a listing filters on, of one authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Owning workspace (what access is decided on).
    pub workspace: WorkspaceId,
    /// Active or deleted (purged ones are not in the index).
    pub lifecycle: Lifecycle,
    /// The service.
    pub service: ServiceRef,
    /// Service API version.
    pub service_version: String,
    /// Environment tag.
    pub environment: Option<EnvironmentTag>,
    /// Auth kind.
    pub kind: AuthKind,
    /// Needs a new OAuth2 authorization.
    pub needs_reauthorization: bool,
    /// Credential expiry, if known.
    pub expires_at: Option<Timestamp>,
}

/// Listable authentications in listing order.
#[derive(Debug, Clone, Default)]
pub struct ListingIndex {
    ordered: BTreeMap<ListingKey, ListEntry>,
    /// Each indexed authentication's name key, to find its entry when it changes.
    name_of: HashMap<AuthenticationId, String>,
}

impl ListingIndex {
    /// Indexes the record's current state, replacing what was indexed for it; a record not
    /// yet created or purged leaves the index.
    pub fn put(&mut self, id: AuthenticationId, record: &AuthRecord) {
        self.remove(id);
        let Some(auth) = record.state.current.as_ref() else {
            return;
        };
        if auth.lifecycle == Lifecycle::Purged {
            return;
        }
        let name = name_key(&auth.name);
        self.name_of.insert(id, name.clone());
        self.ordered.insert(
            (name, id),
            ListEntry {
                workspace: auth.workspace,
                lifecycle: auth.lifecycle,
                service: auth.service.clone(),
                service_version: auth.service_version.clone(),
                environment: auth.environment.clone(),
                kind: auth.kind,
                needs_reauthorization: auth.needs_reauthorization,
                expires_at: auth.expires_at,
            },
        );
    }

    /// Takes an authentication out of the index.
    pub fn remove(&mut self, id: AuthenticationId) {
        if let Some(name) = self.name_of.remove(&id) {
            self.ordered.remove(&(name, id));
        }
    }

    /// Every entry in listing order.
    pub fn iter(&self) -> impl Iterator<Item = (&ListingKey, &ListEntry)> + '_ {
        self.ordered.iter()
    }

    /// How many authentications are indexed.
    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }
}
