//! API tokens, caller authentication, directory commands on behalf of a user, and the
//! first-start bootstrap.

use crate::crypto::{generate_api_token, hash_api_token, SecretString};
use crate::domain::directory::{membership_command, DirectoryCommand, DirectoryEvent, Membership};
use crate::domain::ids::{OrganizationId, TokenId, UserId, WorkspaceId};
use crate::domain::principals::{
    audit_scope, authorize_checkpoints, authorize_directory, decide_token, tokens_visible_to,
    users_visible_to, AuditScope, CheckpointUse, Principal, TokenCommand, TokenEvent, TokenRecord,
};
use crate::domain::visibility::{members_visible, MembersOf};
use crate::ledger::{EventStore, Origin};
use crate::projections::payloads;

use super::{App, AppError, Caller};

/// A freshly issued token: its id and its text, which is shown once and never stored.
#[derive(Debug)]
pub struct IssuedToken {
    /// Token id (for revoking).
    pub id: TokenId,
    /// The token text (`clt_…`); Debug prints `[REDACTED]`.
    pub token: SecretString,
}

/// What the first start of an empty ledger created.
#[derive(Debug)]
pub struct Bootstrap {
    /// The organization.
    pub organization: OrganizationId,
    /// Its organization workspace.
    pub organization_workspace: WorkspaceId,
    /// The administrator (organization owner).
    pub admin: UserId,
    /// The administrator's first API token.
    pub admin_token: IssuedToken,
}

/// The system itself (bootstrap, background tasks).
pub fn system_caller() -> Caller {
    Caller {
        user: UserId::from_uuid(uuid::Uuid::nil()),
        via: crate::ledger::SignedInWith::System,
        origin: Origin::System,
        idempotency: None,
    }
}

impl App {
    /// Refuses a caller who may not use checkpoints that way
    /// ([`authorize_checkpoints`]).
    pub async fn authorize_checkpoints(
        &self,
        principal: &Principal,
        wanted: CheckpointUse,
    ) -> Result<(), AppError> {
        let model = self.model().model().read().await;
        Ok(authorize_checkpoints(&model.directory, principal, wanted)?)
    }

    /// Which audit records `principal` may read ([`audit_scope`]).
    pub async fn audit_scope(&self, principal: &Principal) -> Result<AuditScope, AppError> {
        let model = self.model().model().read().await;
        Ok(audit_scope(&model.directory, principal)?)
    }

    /// The organizations `user` belongs to, with their role in each.
    pub async fn organizations_of(
        &self,
        user: UserId,
    ) -> Vec<(
        crate::domain::directory::Organization,
        crate::domain::directory::OrgRole,
    )> {
        let model = self.model().model().read().await;
        model
            .directory
            .organizations
            .values()
            .filter_map(|o| Some((o.clone(), *o.members.get(&user)?)))
            .collect()
    }

    /// The workspaces `user` may view.
    pub async fn workspaces_visible_to(
        &self,
        user: UserId,
    ) -> Vec<crate::domain::directory::Workspace> {
        let model = self.model().model().read().await;
        model
            .directory
            .workspaces
            .values()
            .filter(|w| model.allows(user, w.id, crate::domain::access::Action::View))
            .cloned()
            .collect()
    }

    /// An organization's members, for one of its members (anyone else: the same "not found"
    /// as a missing organization).
    pub async fn organization_members(
        &self,
        user: UserId,
        organization: OrganizationId,
    ) -> Result<Vec<(UserId, crate::domain::directory::OrgRole)>, AppError> {
        let model = self.model().model().read().await;
        let found = model
            .directory
            .organizations
            .get(&organization)
            .filter(|_| {
                members_visible(
                    &model.directory,
                    user,
                    MembersOf::Organization(organization),
                )
            })
            .ok_or(AppError::OrganizationNotFound)?;
        Ok(found.members.iter().map(|(u, r)| (*u, *r)).collect())
    }

    /// A workspace's members, for a user who may view it (anyone else: the same "not found"
    /// as a missing workspace).
    pub async fn workspace_members(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<Vec<(UserId, crate::domain::directory::WorkspaceRole)>, AppError> {
        let model = self.model().model().read().await;
        let found = model
            .directory
            .workspace(workspace)
            .filter(|_| members_visible(&model.directory, user, MembersOf::Workspace(workspace)))
            .ok_or(AppError::WorkspaceNotFound)?;
        Ok(found.members.iter().map(|(u, r)| (*u, *r)).collect())
    }

    /// A user as the directory holds them now.
    pub async fn user(&self, user: UserId) -> Option<crate::domain::directory::User> {
        let model = self.model().model().read().await;
        model.directory.users.get(&user).cloned()
    }

    /// The users `user` may list ([`users_visible_to`]).
    pub async fn users_visible_to(&self, user: UserId) -> Vec<crate::domain::directory::User> {
        let model = self.model().model().read().await;
        users_visible_to(&model.directory, user)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The tokens `user` may list ([`tokens_visible_to`]), without their secrets (none is
    /// kept: a record holds the token's hash).
    pub async fn tokens_visible_to(&self, user: UserId) -> Vec<TokenRecord> {
        let model = self.model().model().read().await;
        tokens_visible_to(&model.directory, &model.tokens, user)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The principal a token belongs to, if the token is live.
    pub async fn authenticate(&self, token_text: &str) -> Option<Principal> {
        let hash = hash_api_token(token_text);
        let model = self.model().model().read().await;
        model.tokens.by_hash(&hash).map(|t| t.principal.clone())
    }

    /// Issues a token for a principal; `caller` `None` is the system (bootstrap).
    pub async fn issue_token(
        &self,
        caller: Option<&Caller>,
        principal: Principal,
        label: &str,
    ) -> Result<IssuedToken, AppError> {
        // The first answer held the token text, which is never stored: say so honestly.
        if let Some(caller) = caller {
            if self.earlier_outcome(caller).await?.is_some() {
                return Err(AppError::AnswerShownOnce);
            }
        }
        let (token, token_hash) = generate_api_token()?;
        let id = TokenId::new();
        // The version is read with the state decided on, so a token change the decision did not
        // see fails the append.
        let (version, events) = {
            let model = self.model().model().read().await;
            let command = TokenCommand::Issue {
                token: id,
                principal,
                label: label.to_owned(),
                token_hash,
            };
            let events = decide_token(
                &model.tokens,
                &model.directory,
                caller.map(|c| c.user),
                command,
            )?;
            (model.tokens_version, events)
        };
        if self.append_token_events(caller, version, &events).await? {
            return Err(AppError::AnswerShownOnce);
        }
        Ok(IssuedToken { id, token })
    }

    /// Revokes a token (its owner, or an administrator).
    pub async fn revoke_token(&self, caller: &Caller, token: TokenId) -> Result<(), AppError> {
        if self.earlier_outcome(caller).await?.is_some() {
            return Ok(());
        }
        let (version, events) = {
            let model = self.model().model().read().await;
            let events = decide_token(
                &model.tokens,
                &model.directory,
                Some(caller.user),
                TokenCommand::Revoke { token },
            )?;
            (model.tokens_version, events)
        };
        self.append_token_events(Some(caller), version, &events)
            .await
            .map(|_| ())
    }

    /// Appends token events; `true` when an earlier attempt with the caller's key had
    /// already written them.
    async fn append_token_events(
        &self,
        caller: Option<&Caller>,
        version: u64,
        events: &[TokenEvent],
    ) -> Result<bool, AppError> {
        let system = system_caller();
        let caller = caller.unwrap_or(&system);
        let outcome = self
            .append_plain(
                payloads::tokens_stream(),
                version,
                caller,
                events,
                |e| (e.event_type(), e.schema_version()),
                Vec::new(),
            )
            .await?;
        self.model().wait_for(outcome.last_position.0).await?;
        Ok(outcome.replayed_answer.is_some())
    }

    /// Runs a directory command on behalf of a user, after checking they may
    /// ([`authorize_directory`]).
    pub async fn directory_command(
        &self,
        caller: &Caller,
        command: DirectoryCommand,
    ) -> Result<Vec<DirectoryEvent>, AppError> {
        {
            let model = self.model().model().read().await;
            authorize_directory(&model.directory, caller.user, &command)?;
        }
        self.run_directory_command(caller, command).await
    }

    /// Grants `user` a role where `membership` says: adds them, or changes their role when
    /// they already hold one there ([`membership_command`]), as `caller`.
    pub async fn set_membership(
        &self,
        caller: &Caller,
        user: UserId,
        membership: Membership,
    ) -> Result<Vec<DirectoryEvent>, AppError> {
        let command = {
            let model = self.model().model().read().await;
            membership_command(&model.directory, user, membership)
        };
        self.directory_command(caller, command).await
    }

    /// On an empty ledger: creates an administrator, an organization they own, and their
    /// first API token. Does nothing (returns `None`) once the ledger has events.
    pub async fn bootstrap_if_empty(&self) -> Result<Option<Bootstrap>, AppError> {
        if self.store().head().position > 0 {
            return Ok(None);
        }
        let admin = UserId::new();
        let organization = OrganizationId::new();
        let organization_workspace = WorkspaceId::new();
        self.directory_command_as_system(DirectoryCommand::CreateUser {
            user: admin,
            personal_workspace: WorkspaceId::new(),
            name: "Administrator".into(),
            email: "admin@localhost.localdomain".into(),
        })
        .await?;
        self.directory_command_as_system(DirectoryCommand::CreateOrganization {
            organization,
            workspace: organization_workspace,
            name: "Default organization".into(),
            owner: admin,
        })
        .await?;
        let admin_token = self
            .issue_token(
                None,
                Principal::User(admin),
                "bootstrap administrator token",
            )
            .await?;
        Ok(Some(Bootstrap {
            organization,
            organization_workspace,
            admin,
            admin_token,
        }))
    }
}
