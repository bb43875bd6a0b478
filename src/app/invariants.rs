//! Invariants across streams, enforced by the ledger when events are appended: an active
//! authentication's name is unique (case-insensitively) in its workspace. Each authentication
//! stream claims the unique key of its live name; the read model is never trusted for this.

use std::collections::BTreeMap;

use crate::domain::authentication::{AuthenticationState, Lifecycle};
use crate::domain::ids::WorkspaceId;
use crate::domain::naming::name_key;
use crate::ledger::{AppendRequest, EventStore, UniqueKey};
use crate::projections::payloads;

use super::{App, AppError};

/// Prefix of every authentication name key; the open-time repair rewrites only these.
pub(crate) const NAME_KEY_PREFIX: &[u8] = b"authentication-name\0";

/// The unique key of a name (already a [`name_key`]) in a workspace.
pub(crate) fn name_unique_key(workspace: WorkspaceId, key: &str) -> UniqueKey {
    let mut bytes = NAME_KEY_PREFIX.to_vec();
    bytes.extend_from_slice(workspace.as_uuid().as_bytes());
    bytes.extend_from_slice(key.as_bytes());
    UniqueKey::new(bytes)
}

/// The name an authentication holds in its workspace: only active ones hold one.
fn live_name<S>(state: &AuthenticationState<S>) -> Option<UniqueKey> {
    let auth = state.current.as_ref()?;
    (auth.lifecycle == Lifecycle::Active)
        .then(|| name_unique_key(auth.workspace, &name_key(&auth.name)))
}

/// Adds to an append the name key changes between the state decided on and the state the
/// append leaves: release the old name and claim the new one when they differ (create, rename,
/// move, delete, restore); nothing when the live name stays (a purge of a deleted one, too).
pub(crate) fn with_name_claims<S, T>(
    request: AppendRequest,
    before: &AuthenticationState<S>,
    after: &AuthenticationState<T>,
) -> AppendRequest {
    let (old, new) = (live_name(before), live_name(after));
    if old == new {
        return request;
    }
    let request = match old {
        Some(old) => request.release(old),
        None => request,
    };
    match new {
        Some(new) => request.claim(new),
        None => request,
    }
}

impl App {
    /// Open-time repair: ledgers written before names were claimed in the ledger (or rebuilt
    /// by an import or recover) get the name keys the caught-up read model derives from the
    /// log. Runs before anything is served.
    pub(super) async fn reconcile_name_keys(&self) -> Result<(), AppError> {
        let wanted: BTreeMap<UniqueKey, _> = {
            let model = self.model().model().read().await;
            model
                .names
                .iter()
                .flat_map(|(workspace, names)| {
                    names.iter().map(|(key, id)| {
                        (
                            name_unique_key(*workspace, key),
                            payloads::authentication_stream(*id),
                        )
                    })
                })
                .collect()
        };
        let count = wanted.len();
        let changed = self
            .store()
            .repair_unique_keys(NAME_KEY_PREFIX, wanted)
            .await?;
        if changed > 0 {
            tracing::warn!(
                changed,
                names = count,
                "repaired the ledger's authentication name claims to match the log"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::authentication::Authentication;

    fn state(name: &str, workspace: WorkspaceId, lifecycle: Lifecycle) -> AuthenticationState<()> {
        let auth = Authentication::<()> {
            id: crate::domain::ids::AuthenticationId::new(),
            name: name.to_owned(),
            workspace,
            service: crate::domain::services::ServiceRef::Custom(
                crate::domain::ids::ServiceId::new(),
            ),
            service_version: "1".to_owned(),
            kind: crate::domain::services::AuthKind::Token,
            fields: Default::default(),
            scopes: Vec::new(),
            extra_permissions: Vec::new(),
            environment: None,
            created_from: crate::domain::authentication::ChangeOrigin::Api,
            expires_at: None,
            lifecycle,
            needs_reauthorization: false,
            refresh_failing: false,
            certificate_notice: None,
        };
        AuthenticationState {
            version: 1,
            current: Some(auth),
        }
    }

    #[test]
    fn claims_follow_the_live_name() {
        let ws = WorkspaceId::new();
        let other = WorkspaceId::new();
        let stream = crate::ledger::StreamId::new("s").expect("valid");
        let base =
            || AppendRequest::new(stream.clone(), crate::ledger::ExpectedVersion::Any, vec![]);
        let none = AuthenticationState::<()>::default();
        let active = state("Prod DB", ws, Lifecycle::Active);
        let key = name_unique_key(ws, "prod db");
        use crate::ledger::UniqueChange::{Claim, Release};
        // Create claims; delete releases; purge of a deleted one changes nothing.
        assert_eq!(
            with_name_claims(base(), &none, &active).unique,
            vec![Claim(key.clone())]
        );
        let deleted = state("Prod DB", ws, Lifecycle::Deleted);
        assert_eq!(
            with_name_claims(base(), &active, &deleted).unique,
            vec![Release(key.clone())]
        );
        let purged = state("Prod DB", ws, Lifecycle::Purged);
        assert!(with_name_claims(base(), &deleted, &purged)
            .unique
            .is_empty());
        // A case-only rename keeps the key; a move changes it.
        let recased = state("PROD db", ws, Lifecycle::Active);
        assert!(with_name_claims(base(), &active, &recased)
            .unique
            .is_empty());
        let moved = state("Prod DB", other, Lifecycle::Active);
        assert_eq!(
            with_name_claims(base(), &active, &moved).unique,
            vec![Release(key), Claim(name_unique_key(other, "prod db"))]
        );
    }
}
