//! API tokens, caller authentication, directory commands on behalf of a user, and the
//! first-start bootstrap.

use crate::crypto::{generate_api_token, hash_api_token, SecretString};
use crate::domain::directory::{membership_command, DirectoryCommand, DirectoryEvent, Membership};
use crate::domain::ids::{OrganizationId, TokenId, UserId, WorkspaceId};
use crate::domain::principals::{
    audit_scope, authorize_checkpoints, authorize_directory, decide_token, may_offboard,
    tokens_revoked_by, tokens_visible_to, users_visible_to, AuditScope, CheckpointUse, Principal,
    TokenCommand, TokenEvent, TokenRecord,
};
use crate::domain::token_scope::{check_token_use, TokenScopes, TokenUse, TokenUseEvent};
use crate::domain::visibility::{members_visible, MembersOf};
use crate::ledger::{EventStore, Origin};
use crate::projections::payloads;
use crate::time::Timestamp;

use super::{App, AppError, Caller, DirectoryOutcome};

/// A freshly issued token: its id and its text, which is shown once and never stored.
#[derive(Debug)]
pub struct IssuedToken {
    /// Token id (for revoking).
    pub id: TokenId,
    /// The token text (`clt_…`); Debug prints `[REDACTED]`.
    pub token: SecretString,
    /// The token as recorded (hash, principal, label, time of issue, expiry, scopes).
    pub record: TokenRecord,
}

/// What a new token may do beyond its principal's rights: until when, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLimits {
    /// When it stops working (in the future, at most 366 days away), if ever.
    pub expires_at: Option<Timestamp>,
    /// What it may be used for.
    pub scopes: TokenScopes,
}

impl Default for TokenLimits {
    /// Never expiring, every scope.
    fn default() -> Self {
        TokenLimits {
            expires_at: None,
            scopes: TokenScopes::unrestricted(),
        }
    }
}

/// A token as `GET /v1/tokens` lists it.
#[derive(Debug, Clone)]
pub struct ListedToken {
    /// The record (hash, principal, label, times, scopes).
    pub record: TokenRecord,
    /// When it was last used, to within [`super::LAST_USED_PRECISION_SECONDS`] across restarts.
    pub last_used_at: Option<Timestamp>,
}

/// One refused use of a live token, as its record says.
struct RefusedUse<'a> {
    principal: &'a Principal,
    token: TokenId,
    wanted: TokenUse,
    refusal: crate::domain::token_scope::TokenRefusal,
    origin: Origin,
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
        self.organization_members_versioned(user, organization)
            .await
            .map(|(members, _)| members)
    }

    /// [`App::organization_members`], with the directory version they were read at (the
    /// `ETag` an `If-Match` of a change based on them names).
    pub async fn organization_members_versioned(
        &self,
        user: UserId,
        organization: OrganizationId,
    ) -> Result<(Vec<(UserId, crate::domain::directory::OrgRole)>, u64), AppError> {
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
        let members = found.members.iter().map(|(u, r)| (*u, *r)).collect();
        Ok((members, model.directory_version))
    }

    /// A workspace's members, for a user who may view it (anyone else: the same "not found"
    /// as a missing workspace).
    pub async fn workspace_members(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<Vec<(UserId, crate::domain::directory::WorkspaceRole)>, AppError> {
        self.workspace_members_versioned(user, workspace)
            .await
            .map(|(members, _)| members)
    }

    /// [`App::workspace_members`], with the directory version they were read at.
    pub async fn workspace_members_versioned(
        &self,
        user: UserId,
        workspace: WorkspaceId,
    ) -> Result<(Vec<(UserId, crate::domain::directory::WorkspaceRole)>, u64), AppError> {
        let model = self.model().model().read().await;
        let found = model
            .directory
            .workspace(workspace)
            .filter(|_| members_visible(&model.directory, user, MembersOf::Workspace(workspace)))
            .ok_or(AppError::WorkspaceNotFound)?;
        let members = found.members.iter().map(|(u, r)| (*u, *r)).collect();
        Ok((members, model.directory_version))
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
    /// kept: a record holds the token's hash), each with when it was last used.
    pub async fn tokens_visible_to(&self, user: UserId) -> Vec<ListedToken> {
        let model = self.model().model().read().await;
        tokens_visible_to(&model.directory, &model.tokens, user)
            .into_iter()
            .map(|record| ListedToken {
                last_used_at: self.last_used.get(record.id),
                record: record.clone(),
            })
            .collect()
    }

    /// The principal a token belongs to, if the token is live and its user active (`None`:
    /// unknown, revoked, or of a deactivated user); refused when the token is expired or its
    /// scopes do not allow `wanted` ([`check_token_use`]). A use of the API: refusals are
    /// recorded with origin `api` ([`App::authenticate_from`]).
    pub async fn authenticate(
        &self,
        token_text: &str,
        wanted: TokenUse,
    ) -> Result<Option<Principal>, AppError> {
        self.authenticate_from(token_text, wanted, Origin::Api)
            .await
    }

    /// [`App::authenticate`] for a caller coming from `origin` (the dashboard's sign-in), which
    /// a recorded refusal names. Refusals are recorded at most once per token and use per
    /// [`crate::domain::token_scope::REFUSAL_RECORD_INTERVAL_SECONDS`]; every one is refused.
    pub async fn authenticate_from(
        &self,
        token_text: &str,
        wanted: TokenUse,
        origin: Origin,
    ) -> Result<Option<Principal>, AppError> {
        let hash = hash_api_token(token_text);
        let now = Timestamp::now();
        let (token, principal, checked) = {
            let model = self.model().model().read().await;
            let Some(record) = model.tokens.by_hash(&hash) else {
                return Ok(None);
            };
            if let Principal::User(user) = &record.principal {
                // Offboarding revokes the user's tokens; this holds even before it is done.
                if !model.directory.is_active(*user) {
                    return Ok(None);
                }
            }
            let checked = check_token_use(&record.scopes, record.expires_at, now, wanted);
            (record.id, record.principal.clone(), checked)
        };
        if let Err(refusal) = checked {
            if self.last_used.claim_refusal_record(token, wanted, now) {
                let refused = RefusedUse {
                    principal: &principal,
                    token,
                    wanted,
                    refusal,
                    origin,
                };
                if let Err(failed) = self.record_token_refusal(refused).await {
                    self.last_used.refusal_not_recorded(token, wanted, now);
                    return Err(failed);
                }
            }
            return Err(refusal.into());
        }
        self.last_used.note(token, now)?;
        Ok(Some(principal))
    }

    /// Refused uses answered without a record since start (one of the same token and use
    /// was recorded less than the interval before).
    pub fn unrecorded_token_refusals(&self) -> u64 {
        self.last_used.unrecorded_refusals()
    }

    /// The id of a live (not revoked) token, by its text: what an event stream keeps to end
    /// when its token no longer works. Records nothing.
    pub async fn live_token_id(&self, token_text: &str) -> Option<TokenId> {
        let hash = hash_api_token(token_text);
        let model = self.model().model().read().await;
        model.tokens.by_hash(&hash).map(|record| record.id)
    }

    /// Records a refused use of a live token against it (audit shows it as refused).
    async fn record_token_refusal(&self, refused: RefusedUse<'_>) -> Result<(), AppError> {
        let event = TokenUseEvent::Refused {
            token: refused.token,
            wanted: refused.wanted,
            reason: refused.refusal.to_string(),
        };
        let meta = crate::ledger::EventMeta {
            actor: crate::ledger::Actor {
                principal: refused.principal.reference(),
                via: crate::ledger::SignedInWith::ApiToken,
            },
            origin: refused.origin,
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
        };
        let kind = (event.event_type(), event.schema_version());
        self.append_record(
            payloads::token_use_stream(refused.token),
            kind,
            &event,
            meta,
        )
        .await?;
        Ok(())
    }

    /// Issues a token for a principal; `caller` `None` is the system (bootstrap).
    pub async fn issue_token(
        &self,
        caller: Option<&Caller>,
        principal: Principal,
        label: &str,
        limits: TokenLimits,
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
                expires_at: limits.expires_at,
                scopes: limits.scopes,
                now: Timestamp::now(),
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
        let record = self
            .model()
            .model()
            .read()
            .await
            .tokens
            .by_id
            .get(&id)
            .cloned()
            .ok_or(AppError::Principal(
                crate::domain::principals::PrincipalError::UnknownToken,
            ))?;
        Ok(IssuedToken { id, token, record })
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
    pub(super) async fn append_token_events(
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
        self.directory_command_at(caller, command, None)
            .await
            .map(|outcome| outcome.events)
    }

    /// Like [`App::directory_command`], against the directory version of `If-Match`; with
    /// the version the command produced.
    pub async fn directory_command_at(
        &self,
        caller: &Caller,
        command: DirectoryCommand,
        if_version: Option<u64>,
    ) -> Result<DirectoryOutcome, AppError> {
        {
            let model = self.model().model().read().await;
            authorize_directory(&model.directory, caller.user, &command)?;
        }
        let outcome = self
            .run_directory_command(caller, command.clone(), if_version)
            .await?;
        // Also on a replay: an attempt that stopped after the deactivation finishes here.
        self.revoke_tokens_for(caller, &command).await?;
        Ok(outcome)
    }

    /// Appends the token revocations a landed directory command brings with it
    /// ([`tokens_revoked_by`]: offboarding revokes the user's tokens), as `caller` (whose
    /// idempotency key belongs to the command, not to these).
    async fn revoke_tokens_for(
        &self,
        caller: &Caller,
        command: &DirectoryCommand,
    ) -> Result<(), AppError> {
        let caller = Caller {
            idempotency: None,
            ..caller.clone()
        };
        // A token issued or revoked meanwhile moves the tokens stream on: decide again.
        for _ in 0..16 {
            let (version, events) = {
                let model = self.model().model().read().await;
                let events = tokens_revoked_by(command, &model.tokens);
                (model.tokens_version, events)
            };
            if events.is_empty() {
                return Ok(());
            }
            match self
                .append_token_events(Some(&caller), version, &events)
                .await
            {
                Err(AppError::Conflict(_)) => continue,
                other => other?,
            };
        }
        Err(AppError::Conflict(
            super::ConflictReason::ConcurrentChange {
                actual: self.model().model().read().await.tokens_version,
            },
        ))
    }

    /// A deactivated user's personal authentications, for someone who manages them
    /// ([`may_offboard`]); anyone else gets the answer of an unknown user.
    pub async fn personal_authentications(
        &self,
        caller: UserId,
        user: UserId,
        query: crate::projections::ListQuery,
    ) -> Result<crate::projections::Page, AppError> {
        let workspace = self.offboarded_workspace(caller, user).await?;
        let query = crate::projections::ListQuery {
            workspace: Some(workspace),
            ..query
        };
        self.list(caller, &query).await
    }

    /// Transfers one personal authentication of a deactivated user to a workspace: a move by
    /// the administrator (the rules of Move decide the target), recorded as
    /// `authentication.moved` out of the departed user's personal workspace.
    pub async fn transfer_personal_authentication(
        &self,
        caller: &Caller,
        user: UserId,
        id: crate::domain::ids::AuthenticationId,
        to: WorkspaceId,
        if_version: Option<u64>,
    ) -> Result<super::CommandOutcome, AppError> {
        let personal = self.offboarded_workspace(caller.user, user).await?;
        let home = self
            .model()
            .model()
            .read()
            .await
            .current(id)
            .map(|a| a.workspace);
        if home != Some(personal) {
            return Err(AppError::NotFound);
        }
        let command = crate::domain::authentication::AuthenticationCommand::Move { to };
        self.execute_with_options(caller, id, vec![command], if_version, Default::default())
            .await
    }

    /// The personal workspace of a deactivated user `caller` manages.
    async fn offboarded_workspace(
        &self,
        caller: UserId,
        user: UserId,
    ) -> Result<WorkspaceId, AppError> {
        let model = self.model().model().read().await;
        may_offboard(&model.directory, caller, user)
            .ok_or(crate::domain::principals::PrincipalError::UnknownUser(user).into())
    }

    /// Grants `user` a role where `membership` says: adds them, or changes their role when
    /// they already hold one there ([`membership_command`]), as `caller`.
    /// `if_version` (from `If-Match`) must be the directory's version when given.
    pub async fn set_membership(
        &self,
        caller: &Caller,
        user: UserId,
        membership: Membership,
        if_version: Option<u64>,
    ) -> Result<DirectoryOutcome, AppError> {
        let command = {
            let model = self.model().model().read().await;
            membership_command(&model.directory, user, membership)
        };
        self.directory_command_at(caller, command, if_version).await
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
                TokenLimits::default(),
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
