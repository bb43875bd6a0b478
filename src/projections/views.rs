//! What read APIs show of an authentication, and the listing query. Never a secret value.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::listing_index::{ListEntry, ListingKey};
use super::model::{AuthRecord, LedgerModel};
use crate::crypto::{Fingerprint, SealedSecret};
use crate::domain::access::{decide_access, Action};
use crate::domain::authentication::{Authentication, Lifecycle, StoredField};
use crate::domain::directory::Directory;
use crate::domain::ids::{AuthenticationId, UserId, WorkspaceId};
use crate::domain::naming::name_key;
use crate::domain::services::{AuthKind, ServiceRef};
use crate::time::Timestamp;

/// Largest page a listing returns.
pub const MAX_PAGE: usize = 500;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: usize = 50;

/// A field as read APIs show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldView {
    /// A non-secret value, shown as is.
    Plain {
        /// The value.
        value: String,
        /// Version that last set it.
        changed_at_version: u64,
    },
    /// A secret: only that it is set, when it changed, and its fingerprint.
    Secret {
        /// Always true: unset fields are absent.
        set: bool,
        /// Keyed fingerprint.
        fingerprint: Fingerprint,
        /// Version that last set it.
        changed_at_version: u64,
    },
}

/// An authentication as read APIs show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthenticationView {
    /// Id.
    pub id: AuthenticationId,
    /// Name.
    pub name: String,
    /// Workspace.
    pub workspace: WorkspaceId,
    /// The workspace's display name (beside the id, so a listing reads without a lookup).
    pub workspace_name: Option<String>,
    /// Service reference as text (`slack`, `custom:<id>`).
    pub service: String,
    /// Service API version.
    pub service_version: String,
    /// Auth kind.
    pub kind: AuthKind,
    /// Environment tag.
    pub environment: Option<String>,
    /// OAuth scopes.
    pub scopes: Vec<String>,
    /// Extra permissions.
    pub extra_permissions: Vec<String>,
    /// `active`, `deleted` or `purged`.
    pub lifecycle: &'static str,
    /// The provider refused the refresh token: a person must authorize again.
    pub needs_reauthorization: bool,
    /// Its data key was destroyed (purged, or purged later than the point a recovered ledger
    /// stops at): no secret of any version opens again. Set by the application layer, which
    /// holds the keys.
    pub secrets_destroyed: bool,
    /// Stream version.
    pub version: u64,
    /// Fields that are set.
    pub fields: BTreeMap<String, FieldView>,
    /// Expiry of the credential (certificate not-after, OAuth token expiry), if known.
    pub expires_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Option<Timestamp>,
    /// Last change time.
    pub updated_at: Option<Timestamp>,
}

impl AuthenticationView {
    /// The view of an authentication at some version.
    pub fn of(
        auth: &Authentication<SealedSecret>,
        version: u64,
        times: Option<(Timestamp, Timestamp)>,
    ) -> AuthenticationView {
        let fields = auth
            .fields
            .iter()
            .map(|(name, field)| {
                let view = match field {
                    StoredField::Plain {
                        value,
                        changed_at_version,
                    } => FieldView::Plain {
                        value: value.clone(),
                        changed_at_version: *changed_at_version,
                    },
                    StoredField::Secret {
                        value,
                        changed_at_version,
                    } => FieldView::Secret {
                        set: true,
                        fingerprint: value.fingerprint.clone(),
                        changed_at_version: *changed_at_version,
                    },
                };
                (name.as_str().to_owned(), view)
            })
            .collect();
        AuthenticationView {
            id: auth.id,
            name: auth.name.clone(),
            workspace: auth.workspace,
            workspace_name: None,
            service: auth.service.to_string(),
            service_version: auth.service_version.clone(),
            kind: auth.kind,
            environment: auth.environment.as_ref().map(|e| e.as_str().to_owned()),
            scopes: auth.scopes.clone(),
            extra_permissions: auth.extra_permissions.clone(),
            lifecycle: auth.lifecycle.as_str(),
            needs_reauthorization: auth.needs_reauthorization,
            secrets_destroyed: false,
            version,
            fields,
            expires_at: auth.expires_at,
            created_at: times.map(|t| t.0),
            updated_at: times.map(|t| t.1),
        }
    }

    fn of_record(record: &AuthRecord, directory: &Directory) -> Option<AuthenticationView> {
        let auth = record.state.current.as_ref()?;
        Some(
            AuthenticationView::of(
                auth,
                record.state.version,
                Some((record.created_at, record.updated_at)),
            )
            .named_in(directory),
        )
    }

    /// The view with its workspace's current name filled in.
    pub fn named_in(mut self, directory: &Directory) -> AuthenticationView {
        self.workspace_name = directory.workspace(self.workspace).map(|w| w.name.clone());
        self
    }
}

/// Filters and paging of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    /// Only this workspace.
    pub workspace: Option<WorkspaceId>,
    /// Only this service (`slack`, `custom:<id>`).
    pub service: Option<ServiceRef>,
    /// Only this service API version.
    pub service_version: Option<String>,
    /// Only this environment tag.
    pub environment: Option<String>,
    /// Only this auth kind.
    pub kind: Option<AuthKind>,
    /// Only this lifecycle (`Active` or `Deleted`; purged ones are never listed). When given,
    /// it decides instead of `include_deleted`.
    pub lifecycle: Option<Lifecycle>,
    /// Only those that do (`true`) or do not (`false`) need a new OAuth2 authorization.
    pub needs_reauthorization: Option<bool>,
    /// Only those whose credential (certificate, OAuth2 token) expires before this time.
    pub expires_before: Option<Timestamp>,
    /// Include deleted authentications.
    pub include_deleted: bool,
    /// Continue after this cursor (from a previous page).
    pub cursor: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// The authentications, sorted by name (case-insensitive), then id.
    pub items: Vec<AuthenticationView>,
    /// How many authentications match the filters, over all pages.
    pub total: usize,
    /// Cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// A malformed cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor: not a cursor returned by this listing")]
pub struct BadCursor;

fn encode_cursor(key: &ListingKey) -> String {
    hex::encode(format!("{}\u{0}{}", key.0, key.1))
}

fn decode_cursor(cursor: &str) -> Result<ListingKey, BadCursor> {
    let bytes = hex::decode(cursor).map_err(|_| BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
    let (name, id) = text.split_once('\u{0}').ok_or(BadCursor)?;
    Ok((name.to_owned(), id.parse().map_err(|_| BadCursor)?))
}

impl LedgerModel {
    /// Whether `user` may take `action` in `workspace`.
    pub fn allows(&self, user: UserId, workspace: WorkspaceId, action: Action) -> bool {
        decide_access(&self.directory, user, workspace, action).is_allowed()
    }

    /// The current view of an authentication `user` may see; `None` if it does not exist or
    /// the user may not see it (the two are indistinguishable on purpose).
    pub fn view_for(&self, user: UserId, id: AuthenticationId) -> Option<AuthenticationView> {
        let record = self.authentications.get(id)?;
        let auth = record.state.current.as_ref()?;
        if !self.allows(user, auth.workspace, Action::View) {
            return None;
        }
        AuthenticationView::of_record(&record, &self.directory)
    }

    /// The authentications `user` may see that match the query, one page at a time: a walk
    /// of the listing index in order, decoding only the records of the page.
    pub fn list(&self, user: UserId, query: &ListQuery) -> Result<Page, BadCursor> {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let needle = query.q.as_deref().map(name_key);
        // Access is decided once per workspace, not once per authentication.
        let mut visible: HashMap<WorkspaceId, bool> = HashMap::new();
        let mut total = 0;
        // One more than the page, to know whether there is a next one.
        let mut page: Vec<&ListingKey> = Vec::with_capacity(limit + 1);
        for (key, entry) in self.authentications.listing().iter() {
            if !query.matches(entry, &key.0, needle.as_deref()) {
                continue;
            }
            let allowed = *visible
                .entry(entry.workspace)
                .or_insert_with(|| self.allows(user, entry.workspace, Action::View));
            if !allowed {
                continue;
            }
            total += 1;
            if page.len() <= limit && after.as_ref().is_none_or(|a| key > a) {
                page.push(key);
            }
        }
        let next_cursor = (page.len() > limit).then(|| encode_cursor(page[limit - 1]));
        let items = page
            .into_iter()
            .take(limit)
            .filter_map(|(_, id)| self.authentications.get(*id))
            .filter_map(|record| AuthenticationView::of_record(&record, &self.directory))
            .collect();
        Ok(Page {
            items,
            total,
            next_cursor,
        })
    }
}

impl ListQuery {
    /// Whether an indexed authentication (named `name_key`) passes the filters (access is
    /// decided by the caller).
    fn matches(&self, entry: &ListEntry, name_key: &str, needle: Option<&str>) -> bool {
        let lifecycle = match (self.lifecycle, entry.lifecycle) {
            (_, Lifecycle::Purged) => false,
            (Some(wanted), actual) => wanted == actual,
            (None, Lifecycle::Active) => true,
            (None, Lifecycle::Deleted) => self.include_deleted,
        };
        lifecycle
            && self.workspace.is_none_or(|w| w == entry.workspace)
            && self.service.as_ref().is_none_or(|s| *s == entry.service)
            && self
                .service_version
                .as_ref()
                .is_none_or(|v| *v == entry.service_version)
            && self
                .environment
                .as_ref()
                .is_none_or(|t| entry.environment.as_ref().is_some_and(|e| e.as_str() == t))
            && self.kind.is_none_or(|k| k == entry.kind)
            && self
                .needs_reauthorization
                .is_none_or(|n| n == entry.needs_reauthorization)
            && self
                .expires_before
                .is_none_or(|t| entry.expires_at.is_some_and(|e| e < t))
            && needle.is_none_or(|n| name_key.contains(n))
    }
}
