//! The ledger as it was: the directory, a workspace's authentications, and who could use an
//! authentication, at a point in time. Folded from the log up to that time, so the answers
//! are exactly what the service would have said then.

use serde::Serialize;

use crate::domain::access::{decide_access, Action};
use crate::domain::authentication::Lifecycle;
use crate::domain::directory::{self, Directory, DirectoryEvent, WorkspaceScope};
use crate::domain::ids::{AuthenticationId, UserId, WorkspaceId};
use crate::domain::principals::{Principal, PrincipalError};
use crate::domain::visibility::{may_look_back, LookBackRefusal};
use crate::ledger::{EventStore, StreamRange};
use crate::projections::payloads::{self, DomainEvent};
use crate::projections::AuthenticationView;
use crate::time::Timestamp;

use super::{App, AppError, RestoreTarget};

/// A user who could use an authentication, and the role that allowed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsableBy {
    /// The user.
    pub user: UserId,
    /// Their name then.
    pub name: String,
    /// Why: `personal workspace owner`, `workspace editor`, `organization admin`, …
    pub because: String,
}

/// Who could use an authentication at a time, and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsableAsOf {
    /// The authentication.
    pub authentication: AuthenticationId,
    /// The time asked about.
    pub as_of: Timestamp,
    /// Its version then.
    pub version: u64,
    /// Its workspace then.
    pub workspace: WorkspaceId,
    /// `active`, `deleted` or `purged` then (only active ones are usable).
    pub lifecycle: &'static str,
    /// The users who could use it, by user id.
    pub users: Vec<UsableBy>,
}

/// Why `user` may use authentications of `workspace` (called only when they may).
fn because(directory: &Directory, workspace: WorkspaceId, user: UserId) -> String {
    let Some(ws) = directory.workspace(workspace) else {
        return "unknown workspace".to_owned();
    };
    if let WorkspaceScope::Personal { .. } = ws.scope {
        return "personal workspace owner".to_owned();
    }
    if let Some(role) = directory.workspace_role(workspace, user) {
        return format!("workspace {}", format!("{role:?}").to_lowercase());
    }
    match ws
        .organization()
        .and_then(|org| directory.org_role(org, user))
    {
        Some(role) => format!("organization {}", format!("{role:?}").to_lowercase()),
        None => "member".to_owned(),
    }
}

impl App {
    /// The directory as it was at `at`.
    pub async fn directory_as_of(&self, at: Timestamp) -> Result<Directory, AppError> {
        let envelopes = self
            .store()
            .read_stream(&payloads::directory_stream(), StreamRange::up_to_time(at))
            .await?;
        let mut events: Vec<DirectoryEvent> = Vec::with_capacity(envelopes.len());
        for envelope in &envelopes {
            if let DomainEvent::Directory(event) = payloads::decode(envelope)? {
                events.push(event);
            }
        }
        let mut state = Directory::default();
        for event in &events {
            directory::apply(&mut state, event);
        }
        Ok(state)
    }

    /// [`App::workspace_as_of`] for a caller: auditors see any workspace, a user one they may
    /// view now (else the same "not found" as a missing one), and runners are refused.
    pub async fn workspace_as_of_for(
        &self,
        principal: &Principal,
        workspace: WorkspaceId,
        at: Timestamp,
        include_deleted: bool,
    ) -> Result<Vec<AuthenticationView>, AppError> {
        {
            let model = self.model().model().read().await;
            may_look_back(&model.directory, principal, Some(workspace))
                .map_err(|refusal| look_back_refused(refusal, AppError::WorkspaceNotFound))?;
        }
        self.workspace_as_of(workspace, at, include_deleted).await
    }

    /// [`App::usable_by_as_of`] for a caller: auditors ask about any authentication, a user
    /// about one they may see now (else "not found"), and runners are refused.
    pub async fn usable_by_as_of_for(
        &self,
        principal: &Principal,
        id: AuthenticationId,
        at: Timestamp,
    ) -> Result<UsableAsOf, AppError> {
        {
            let model = self.model().model().read().await;
            let now = model.current(id).map(|auth| auth.workspace);
            may_look_back(&model.directory, principal, now)
                .map_err(|refusal| look_back_refused(refusal, AppError::NotFound))?;
        }
        self.usable_by_as_of(id, at).await
    }

    /// The authentications that were live in `workspace` at `at` (deleted ones too when
    /// asked), as they were then, sorted by name.
    pub async fn workspace_as_of(
        &self,
        workspace: WorkspaceId,
        at: Timestamp,
        include_deleted: bool,
    ) -> Result<Vec<AuthenticationView>, AppError> {
        // Candidates: every authentication that was ever created in or moved into it before
        // `at`; each is then folded up to `at` to see where it really was.
        let candidates =
            crate::projections::model::ever_in_workspace(self.model().settle().await?, workspace)?;
        let mut views = Vec::new();
        for id in candidates {
            // A candidate created after `at` has no state then.
            let state = match self.state_as_of(id, RestoreTarget::Time(at)).await {
                Ok((state, _)) => state,
                Err(AppError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            let Some(auth) = state.current.as_ref() else {
                continue;
            };
            let shown = match auth.lifecycle {
                Lifecycle::Active => true,
                Lifecycle::Deleted => include_deleted,
                Lifecycle::Purged => false,
            };
            if auth.workspace == workspace && shown {
                let settled = self.model().settled().await?;
                let times = settled.model.times_at(settled.store, id, state.version)?;
                let mut view = AuthenticationView::of(auth, state.version, times)
                    .named_in(&settled.model.directory);
                drop(settled);
                self.mark_destroyed(&mut view)?;
                views.push(view);
            }
        }
        views.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        Ok(views)
    }

    /// Who could use an authentication at `at`, from the directory and the authentication as
    /// they both were then.
    pub async fn usable_by_as_of(
        &self,
        id: AuthenticationId,
        at: Timestamp,
    ) -> Result<UsableAsOf, AppError> {
        let (state, _) = self.state_as_of(id, RestoreTarget::Time(at)).await?;
        let auth = state.current.as_ref().ok_or(AppError::NotFound)?;
        let directory = self.directory_as_of(at).await?;
        let users = if auth.lifecycle == Lifecycle::Active {
            directory
                .users
                .values()
                .filter(|u| {
                    decide_access(&directory, u.id, auth.workspace, Action::Use).is_allowed()
                })
                .map(|u| UsableBy {
                    user: u.id,
                    name: u.name.clone(),
                    because: because(&directory, auth.workspace, u.id),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(UsableAsOf {
            authentication: id,
            as_of: at,
            version: state.version,
            workspace: auth.workspace,
            lifecycle: auth.lifecycle.as_str(),
            users,
        })
    }
}

/// A refusal to look back as the application answers it: hidden things as `not_found`.
fn look_back_refused(refusal: LookBackRefusal, not_found: AppError) -> AppError {
    match refusal {
        LookBackRefusal::RunnersOnlyResolve => PrincipalError::RunnersOnlyResolve.into(),
        LookBackRefusal::Hidden => not_found,
    }
}
