//! Who calls the API: principals (users, workflow runners, auditors), their API tokens, and
//! who may run directory commands. Tokens are event-sourced; only a hash of each is recorded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::directory::{
    Directory, DirectoryCommand, OrgRole, WorkspaceKind, WorkspaceRole,
};
use crate::domain::ids::{PrincipalId, TokenId, UserId, WorkspaceId};
use crate::domain::token_scope::{check_expiry, ExpiryProblem, TokenScopes};
use crate::time::Timestamp;

/// A caller of the API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Principal {
    /// A person.
    User(UserId),
    /// A workflow runner: resolves references for the workflows it runs.
    Runner {
        /// Its id.
        id: PrincipalId,
        /// Display name.
        name: String,
    },
    /// An auditor: reads history and audit, never secrets.
    Auditor {
        /// Its id.
        id: PrincipalId,
        /// Display name.
        name: String,
    },
}

impl Principal {
    /// `kind:id` text for event actors.
    pub fn reference(&self) -> String {
        match self {
            Principal::User(id) => format!("user:{id}"),
            Principal::Runner { id, .. } => format!("runner:{id}"),
            Principal::Auditor { id, .. } => format!("auditor:{id}"),
        }
    }
}

/// Token events (stream `tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenEvent {
    /// A token was issued; only its SHA-256 hash is kept. Schema version 2 (version 1 had
    /// neither expiry nor scopes: it decodes as unrestricted and never expiring).
    Issued {
        /// Token id.
        token: TokenId,
        /// Whose token it is.
        principal: Principal,
        /// What it is for.
        label: String,
        /// SHA-256 of the token text.
        token_hash: [u8; 32],
        /// When it stops working, if ever.
        expires_at: Option<Timestamp>,
        /// What it may be used for, on top of its principal's rights.
        scopes: TokenScopes,
    },
    /// A token was revoked.
    Revoked {
        /// Token id.
        token: TokenId,
    },
    /// A one-time dashboard sign-in link was issued for a user; only the SHA-256 of its
    /// secret is kept (`domain/sign_in_links.rs`).
    SignInLinkIssued {
        /// The link's id (links are one-time tokens and share their ids).
        link: TokenId,
        /// Who signs in with it.
        user: UserId,
        /// SHA-256 of the link's secret.
        secret_hash: [u8; 32],
        /// When it stops opening a session.
        expires_at: Timestamp,
    },
    /// A sign-in link opened a session; it never opens another.
    SignInLinkUsed {
        /// The link's id.
        link: TokenId,
    },
}

impl TokenEvent {
    /// Every token event type string.
    pub const TYPES: [&'static str; 4] = [
        "token.issued",
        "token.revoked",
        "token.sign_in_link_issued",
        "token.sign_in_link_used",
    ];

    /// Stable type string.
    pub fn event_type(&self) -> &'static str {
        match self {
            TokenEvent::Issued { .. } => Self::TYPES[0],
            TokenEvent::Revoked { .. } => Self::TYPES[1],
            TokenEvent::SignInLinkIssued { .. } => Self::TYPES[2],
            TokenEvent::SignInLinkUsed { .. } => Self::TYPES[3],
        }
    }

    /// Payload schema version.
    pub fn schema_version(&self) -> u16 {
        match self {
            // Version 2 is the enum with expiries, scopes and sign-in links; `token.revoked`
            // has the same bytes in both and stays at 1. Sign-in links never existed at 1.
            TokenEvent::Issued { .. }
            | TokenEvent::SignInLinkIssued { .. }
            | TokenEvent::SignInLinkUsed { .. } => 2,
            TokenEvent::Revoked { .. } => 1,
        }
    }

    /// The token the event is about.
    pub fn token(&self) -> TokenId {
        match self {
            TokenEvent::Issued { token, .. } | TokenEvent::Revoked { token } => *token,
            TokenEvent::SignInLinkIssued { link, .. } | TokenEvent::SignInLinkUsed { link } => {
                *link
            }
        }
    }
}

/// One token as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Token id.
    pub id: TokenId,
    /// Whose token it is.
    pub principal: Principal,
    /// What it is for.
    pub label: String,
    /// SHA-256 of the token text.
    pub token_hash: [u8; 32],
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was issued (the store time of its event).
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// What it may be used for.
    pub scopes: TokenScopes,
}

/// Every token, by id and by hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Tokens by id.
    pub by_id: BTreeMap<TokenId, TokenRecord>,
    /// Token ids by hash (hex).
    pub by_hash: BTreeMap<String, TokenId>,
}

impl Tokens {
    /// Folds a token event recorded at `at`.
    pub fn apply(&mut self, event: &TokenEvent, at: Timestamp) {
        match event {
            TokenEvent::Issued {
                token,
                principal,
                label,
                token_hash,
                expires_at,
                scopes,
            } => {
                self.by_hash.insert(hex_of(token_hash), *token);
                self.by_id.insert(
                    *token,
                    TokenRecord {
                        id: *token,
                        principal: principal.clone(),
                        label: label.clone(),
                        token_hash: *token_hash,
                        revoked: false,
                        created_at: at,
                        expires_at: *expires_at,
                        scopes: scopes.clone(),
                    },
                );
            }
            TokenEvent::Revoked { token } => {
                if let Some(record) = self.by_id.get_mut(token) {
                    record.revoked = true;
                }
            }
            // Sign-in links are kept apart (`SignInLinks`), for as long as they live.
            TokenEvent::SignInLinkIssued { .. } | TokenEvent::SignInLinkUsed { .. } => {}
        }
    }

    /// The live (not revoked) token with this hash.
    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<&TokenRecord> {
        let id = self.by_hash.get(&hex_of(hash))?;
        self.by_id.get(id).filter(|t| !t.revoked)
    }

    /// The live (not revoked) tokens of a user.
    pub fn live_of_user(&self, user: UserId) -> impl Iterator<Item = TokenId> + '_ {
        self.by_id
            .values()
            .filter(move |t| !t.revoked && t.principal == Principal::User(user))
            .map(|t| t.id)
    }
}

fn hex_of(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Token commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCommand {
    /// Issue a token (the caller generated it and hashed it).
    Issue {
        /// New token id.
        token: TokenId,
        /// For whom.
        principal: Principal,
        /// What it is for.
        label: String,
        /// SHA-256 of the token text.
        token_hash: [u8; 32],
        /// When it stops working (after `now`, at most a year later), if ever.
        expires_at: Option<Timestamp>,
        /// What it may be used for.
        scopes: TokenScopes,
        /// The time of issue, which the expiry is checked against.
        now: Timestamp,
    },
    /// Revoke a token.
    Revoke {
        /// Which.
        token: TokenId,
    },
}

/// Why a token or directory command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// Only organization owners and admins may do this.
    #[error("principal: only an organization owner or admin may {0}")]
    AdminOnly(AdminAction),
    /// The caller lacks the role in this organization or workspace.
    #[error("principal: needs {0}")]
    MissingRole(NeededRole),
    /// The user does not exist.
    #[error("user: {0} does not exist")]
    UnknownUser(UserId),
    /// The label is empty or too long.
    #[error("label: must be 1 to 120 printable characters")]
    BadLabel,
    /// The expiry is in the past or too far away.
    #[error("expires_at: {0}")]
    BadExpiry(ExpiryProblem),
    /// The user is deactivated: no token is issued for them.
    #[error("user: {0} is deactivated")]
    UserDeactivated(UserId),
    /// No such token.
    #[error("token: does not exist")]
    UnknownToken,
    /// Already revoked.
    #[error("token: is already revoked")]
    AlreadyRevoked,
    /// A token id is reused.
    #[error("token: id {0} is already used")]
    TokenExists(TokenId),
    /// Workflow runners resolve and do nothing else.
    #[error("principal: workflow runners only resolve")]
    RunnersOnlyResolve,
    /// Audit is read by auditors and organization owners or admins only.
    #[error("principal: only auditors and organization owners or admins read audit")]
    AuditReadersOnly,
    /// A sign-in link that is unknown, used or expired: one answer for all three.
    #[error("link: is not valid (unknown, already used or expired)")]
    SignInLinkNotValid,
    /// Only users act on the directory and on tokens.
    #[error(
        "principal: only users may do this; workflow runners resolve, auditors read histories"
    )]
    UsersOnly,
}

impl PrincipalError {
    /// The request field the refusal is about, as its text begins (`principal`, `token`, …).
    pub fn field(&self) -> Option<String> {
        use PrincipalError as E;
        let field = match self {
            E::AdminOnly(_)
            | E::MissingRole(_)
            | E::RunnersOnlyResolve
            | E::AuditReadersOnly
            | E::UsersOnly => "principal",
            E::UnknownUser(_) | E::UserDeactivated(_) => "user",
            E::BadLabel => "label",
            E::BadExpiry(_) => "expires_at",
            E::UnknownToken | E::AlreadyRevoked | E::TokenExists(_) => "token",
            E::SignInLinkNotValid => "link",
        };
        Some(field.to_owned())
    }
}

/// What only an administrator (an owner or admin of some organization) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminAction {
    /// Sign a checkpoint of the log.
    #[error("sign checkpoints")]
    SignCheckpoints,
    /// Read the latest checkpoint (auditors may too).
    #[error("read checkpoints")]
    ReadCheckpoints,
    /// Issue a token for a user the caller does not manage.
    #[error("issue tokens for other users")]
    IssueTokensForOtherUsers,
    /// Issue a token for a workflow runner or an auditor.
    #[error("issue runner or auditor tokens")]
    IssueRunnerOrAuditorTokens,
    /// Create a user.
    #[error("create users")]
    CreateUsers,
    /// Create an organization (its owner becomes an administrator).
    #[error("create organizations")]
    CreateOrganizations,
}

/// The role a directory command needs and the caller lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NeededRole {
    /// Owner or admin of the organization (its members, roles and workspaces).
    #[error("the owner or admin role in the organization")]
    OrganizationManager,
    /// Admin of the shared workspace, or owner or admin of its organization (its members).
    #[error("the admin role in the workspace or its organization")]
    WorkspaceAdmin,
    /// Owner or admin of an organization the user belongs to, and someone else than the user
    /// (deactivating and reactivating them).
    #[error("the owner or admin role in an organization of the user (not the user themselves)")]
    UserManager,
}

/// Whether a user is an owner or admin of some organization (an administrator).
pub fn is_administrator(directory: &Directory, user: UserId) -> bool {
    administered_organizations(directory, user).next().is_some()
}

/// Which audit records a principal may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    /// Every record (auditors).
    Everything,
    /// The records touching these workspaces (an administrator's organizations' shared ones).
    Workspaces(Vec<WorkspaceId>),
}

/// Auditors read every audit record; organization owners and admins the records touching the
/// shared workspaces of their organizations; nobody else reads audit.
pub fn audit_scope(
    directory: &Directory,
    principal: &Principal,
) -> Result<AuditScope, PrincipalError> {
    match principal {
        Principal::Auditor { .. } => Ok(AuditScope::Everything),
        Principal::User(user) => {
            let administered: Vec<_> = administered_organizations(directory, *user).collect();
            if administered.is_empty() {
                return Err(PrincipalError::AuditReadersOnly);
            }
            Ok(AuditScope::Workspaces(
                directory
                    .workspaces
                    .values()
                    .filter(|w| {
                        w.kind() != WorkspaceKind::Personal
                            && w.organization().is_some_and(|o| administered.contains(&o))
                    })
                    .map(|w| w.id)
                    .collect(),
            ))
        }
        Principal::Runner { .. } => Err(PrincipalError::AuditReadersOnly),
    }
}

/// What a caller wants to do with the log's signed checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointUse {
    /// Sign the head now.
    Sign,
    /// Read the latest one.
    Read,
}

/// Administrators sign and read checkpoints; auditors read them too.
pub fn authorize_checkpoints(
    directory: &Directory,
    principal: &Principal,
    wanted: CheckpointUse,
) -> Result<(), PrincipalError> {
    match principal {
        Principal::Auditor { .. } if wanted == CheckpointUse::Read => Ok(()),
        Principal::User(user) if is_administrator(directory, *user) => Ok(()),
        Principal::User(_) => Err(PrincipalError::AdminOnly(match wanted {
            CheckpointUse::Sign => AdminAction::SignCheckpoints,
            CheckpointUse::Read => AdminAction::ReadCheckpoints,
        })),
        Principal::Runner { .. } | Principal::Auditor { .. } => Err(PrincipalError::UsersOnly),
    }
}

/// The users a user may list: everyone for an administrator, else only themselves.
pub fn users_visible_to(
    directory: &Directory,
    user: UserId,
) -> Vec<&crate::domain::directory::User> {
    let admin = is_administrator(directory, user);
    directory
        .users
        .values()
        .filter(|u| admin || u.id == user)
        .collect()
}

/// The tokens a user may list: every token for an administrator, else the user's own.
pub fn tokens_visible_to<'a>(
    directory: &Directory,
    tokens: &'a Tokens,
    user: UserId,
) -> Vec<&'a TokenRecord> {
    let admin = is_administrator(directory, user);
    tokens
        .by_id
        .values()
        .filter(|t| admin || t.principal == Principal::User(user))
        .collect()
}

/// The organizations in which `user` is an owner or admin.
pub fn administered_organizations(
    directory: &Directory,
    user: UserId,
) -> impl Iterator<Item = crate::domain::ids::OrganizationId> + '_ {
    directory
        .organizations
        .values()
        .filter(move |o| org_admin(directory, o.id, user))
        .map(|o| o.id)
}

/// Whether `actor` may act for `user` (issue or revoke their tokens): an owner or admin of an
/// organization the user belongs to, or any administrator for a user in no organization yet.
/// Being an administrator of one organization gives no power over another's members.
pub fn manages_user(directory: &Directory, actor: UserId, user: UserId) -> bool {
    let mut memberships = directory
        .organizations
        .values()
        .filter(|o| o.members.contains_key(&user))
        .peekable();
    if memberships.peek().is_none() {
        return is_administrator(directory, actor);
    }
    memberships.any(|o| org_admin(directory, o.id, actor))
}

/// An active owner or admin of the organization (a deactivated one manages nothing).
fn org_admin(directory: &Directory, org: crate::domain::ids::OrganizationId, user: UserId) -> bool {
    directory.is_active(user)
        && directory
            .org_role(org, user)
            .is_some_and(OrgRole::is_manager)
}

/// Decides a token command for an acting user (`None`: the system, at bootstrap).
pub fn decide_token(
    tokens: &Tokens,
    directory: &Directory,
    actor: Option<UserId>,
    command: TokenCommand,
) -> Result<Vec<TokenEvent>, PrincipalError> {
    match command {
        TokenCommand::Issue {
            token,
            principal,
            label,
            token_hash,
            expires_at,
            scopes,
            now,
        } => {
            let label = valid_label(&label)?;
            if let Some(at) = expires_at {
                check_expiry(now, at).map_err(PrincipalError::BadExpiry)?;
            }
            if tokens.by_id.contains_key(&token) {
                return Err(PrincipalError::TokenExists(token));
            }
            may_issue_for(directory, actor, &principal)?;
            Ok(vec![TokenEvent::Issued {
                token,
                principal,
                label,
                token_hash,
                expires_at,
                scopes,
            }])
        }
        TokenCommand::Revoke { token } => revoke_token(tokens, directory, actor, token),
    }
}

/// A label is 1 to 120 characters, none of them a control character, once trimmed.
fn valid_label(raw: &str) -> Result<String, PrincipalError> {
    let label = raw.trim();
    if label.is_empty() || label.chars().count() > 120 || label.chars().any(char::is_control) {
        return Err(PrincipalError::BadLabel);
    }
    Ok(label.to_owned())
}

/// Users get tokens from themselves or from whoever manages them; runners and auditors from
/// administrators. The system (no actor) issues any.
pub(crate) fn may_issue_for(
    directory: &Directory,
    actor: Option<UserId>,
    principal: &Principal,
) -> Result<(), PrincipalError> {
    match principal {
        Principal::User(user) => {
            match directory.users.get(user) {
                None => return Err(PrincipalError::UnknownUser(*user)),
                Some(u) if u.deactivated => return Err(PrincipalError::UserDeactivated(*user)),
                Some(_) => {}
            }
            let allowed = match actor {
                None => true,
                Some(a) => a == *user || manages_user(directory, a, *user),
            };
            if !allowed {
                return Err(PrincipalError::AdminOnly(
                    AdminAction::IssueTokensForOtherUsers,
                ));
            }
        }
        Principal::Runner { name, .. } | Principal::Auditor { name, .. } => {
            if !actor.is_none_or(|a| is_administrator(directory, a)) {
                return Err(PrincipalError::AdminOnly(
                    AdminAction::IssueRunnerOrAuditorTokens,
                ));
            }
            if name.trim().is_empty() {
                return Err(PrincipalError::BadLabel);
            }
        }
    }
    Ok(())
}

/// Someone else's token looks like no token at all to a caller who may not revoke it.
fn revoke_token(
    tokens: &Tokens,
    directory: &Directory,
    actor: Option<UserId>,
    token: TokenId,
) -> Result<Vec<TokenEvent>, PrincipalError> {
    let record = tokens
        .by_id
        .get(&token)
        .ok_or(PrincipalError::UnknownToken)?;
    let allowed = match (&record.principal, actor) {
        (_, None) => true,
        (Principal::User(u), Some(a)) => *u == a || manages_user(directory, a, *u),
        (_, Some(a)) => is_administrator(directory, a),
    };
    if !allowed {
        return Err(PrincipalError::UnknownToken);
    }
    if record.revoked {
        return Err(PrincipalError::AlreadyRevoked);
    }
    Ok(vec![TokenEvent::Revoked { token }])
}

/// Offboarding: the personal workspace of `user`, when they are deactivated and `actor` is
/// an active owner or admin of an organization they belong to (who may then list, transfer
/// and delete what is in it); `None` otherwise.
pub fn may_offboard(directory: &Directory, actor: UserId, user: UserId) -> Option<WorkspaceId> {
    let departed = directory.users.get(&user).filter(|u| u.deactivated)?;
    let manages = directory
        .organizations
        .values()
        .any(|o| o.members.contains_key(&user) && org_admin(directory, o.id, actor));
    manages.then_some(departed.personal_workspace)
}

/// The token revocations a directory command brings with it, against the tokens as they are
/// once it has landed: deactivating a user (offboarding) revokes every live token of theirs,
/// one `token.revoked` each. No other command touches tokens: a user removed from an
/// organization keeps their tokens (with the rights they have left), and reactivation gives
/// none back (they are issued anew).
pub fn tokens_revoked_by(command: &DirectoryCommand, tokens: &Tokens) -> Vec<TokenEvent> {
    match command {
        DirectoryCommand::DeactivateUser { user } => tokens
            .live_of_user(*user)
            .map(|token| TokenEvent::Revoked { token })
            .collect(),
        DirectoryCommand::CreateOrganization { .. }
        | DirectoryCommand::CreateUser { .. }
        | DirectoryCommand::AddUserToOrganization { .. }
        | DirectoryCommand::ChangeOrgRole { .. }
        | DirectoryCommand::CreateWorkspace { .. }
        | DirectoryCommand::AddWorkspaceMember { .. }
        | DirectoryCommand::ChangeWorkspaceRole { .. }
        | DirectoryCommand::RemoveWorkspaceMember { .. }
        | DirectoryCommand::RemoveUserFromOrganization { .. }
        | DirectoryCommand::RenameWorkspace { .. }
        | DirectoryCommand::RenameOrganization { .. }
        | DirectoryCommand::ReactivateUser { .. } => Vec::new(),
    }
}

/// Who may run a directory command: administrators create users; any user may create an
/// organization they own; organization owners/admins manage their organization; workspace
/// admins manage their workspace's members.
pub fn authorize_directory(
    directory: &Directory,
    actor: UserId,
    command: &DirectoryCommand,
) -> Result<(), PrincipalError> {
    let workspace_org = |ws| directory.workspace(ws).and_then(|w| w.organization());
    match command {
        DirectoryCommand::CreateUser { .. } => is_administrator(directory, actor)
            .then_some(())
            .ok_or(PrincipalError::AdminOnly(AdminAction::CreateUsers)),
        // Creating an organization makes its owner an administrator: only administrators may.
        DirectoryCommand::CreateOrganization { .. } => is_administrator(directory, actor)
            .then_some(())
            .ok_or(PrincipalError::AdminOnly(AdminAction::CreateOrganizations)),
        DirectoryCommand::AddUserToOrganization { organization, .. }
        | DirectoryCommand::ChangeOrgRole { organization, .. }
        | DirectoryCommand::RemoveUserFromOrganization { organization, .. }
        | DirectoryCommand::CreateWorkspace { organization, .. }
        | DirectoryCommand::RenameOrganization { organization, .. } => {
            org_admin(directory, *organization, actor)
                .then_some(())
                .ok_or(PrincipalError::MissingRole(NeededRole::OrganizationManager))
        }
        DirectoryCommand::AddWorkspaceMember { workspace, .. }
        | DirectoryCommand::ChangeWorkspaceRole { workspace, .. }
        | DirectoryCommand::RemoveWorkspaceMember { workspace, .. }
        | DirectoryCommand::RenameWorkspace { workspace, .. } => {
            let via_org = workspace_org(*workspace).is_some_and(|o| org_admin(directory, o, actor));
            let ws_admin = directory.is_active(actor)
                && directory.workspace_role(*workspace, actor) == Some(WorkspaceRole::Admin);
            (via_org || ws_admin)
                .then_some(())
                .ok_or(PrincipalError::MissingRole(NeededRole::WorkspaceAdmin))
        }
        // Offboarding is done by someone else: nobody deactivates (or reactivates) themselves.
        DirectoryCommand::DeactivateUser { user } | DirectoryCommand::ReactivateUser { user } => {
            (*user != actor && directory.is_active(actor) && manages_user(directory, actor, *user))
                .then_some(())
                .ok_or(PrincipalError::MissingRole(NeededRole::UserManager))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::fixtures::fixture;

    fn issue(principal: Principal) -> TokenCommand {
        TokenCommand::Issue {
            token: TokenId::new(),
            principal,
            label: "ci".into(),
            token_hash: [7; 32],
            expires_at: None,
            scopes: TokenScopes::unrestricted(),
            now: Timestamp(0),
        }
    }

    /// The tokens after `actor` issued each of `commands` (every one accepted).
    fn issued(directory: &Directory, actor: Option<UserId>, commands: Vec<TokenCommand>) -> Tokens {
        let mut tokens = Tokens::default();
        for command in commands {
            for event in decide_token(&tokens, directory, actor, command).expect("issue") {
                tokens.apply(&event, Timestamp(0));
            }
        }
        tokens
    }

    fn auditor() -> Principal {
        Principal::Auditor {
            id: PrincipalId::new(),
            name: "audit".into(),
        }
    }

    fn runner() -> Principal {
        Principal::Runner {
            id: PrincipalId::new(),
            name: "runner-1".into(),
        }
    }

    #[test]
    fn only_a_deactivation_revokes_tokens_and_only_the_users_live_ones() {
        use crate::domain::directory::WorkspaceRole;
        let f = fixture();
        let mut tokens = issued(
            &f.directory,
            Some(f.owner),
            vec![
                issue(Principal::User(f.member)),
                issue(Principal::User(f.member)),
                issue(Principal::User(f.member)),
                issue(Principal::User(f.owner)),
                issue(runner()),
            ],
        );
        let members: Vec<TokenId> = tokens.live_of_user(f.member).collect();
        tokens.apply(&TokenEvent::Revoked { token: members[2] }, Timestamp(0));
        let revoked = |live: &[TokenId]| -> Vec<TokenEvent> {
            live.iter()
                .map(|&token| TokenEvent::Revoked { token })
                .collect()
        };
        let (org, shared, member) = (f.org, f.shared, f.member);
        let name = || "Renamed".to_owned();
        let cases: Vec<(DirectoryCommand, Vec<TokenEvent>)> = vec![
            (
                DirectoryCommand::DeactivateUser { user: member },
                revoked(&members[..2]),
            ),
            (
                DirectoryCommand::DeactivateUser { user: f.outsider },
                vec![],
            ),
            (DirectoryCommand::ReactivateUser { user: member }, vec![]),
            (
                DirectoryCommand::RemoveUserFromOrganization {
                    organization: org,
                    user: member,
                },
                vec![],
            ),
            (
                DirectoryCommand::RemoveWorkspaceMember {
                    workspace: shared,
                    user: member,
                },
                vec![],
            ),
            (
                DirectoryCommand::ChangeOrgRole {
                    organization: org,
                    user: member,
                    role: OrgRole::Admin,
                },
                vec![],
            ),
            (
                DirectoryCommand::ChangeWorkspaceRole {
                    workspace: shared,
                    user: member,
                    role: WorkspaceRole::Viewer,
                },
                vec![],
            ),
            (
                DirectoryCommand::AddWorkspaceMember {
                    workspace: shared,
                    user: member,
                    role: WorkspaceRole::Editor,
                },
                vec![],
            ),
            (
                DirectoryCommand::AddUserToOrganization {
                    organization: org,
                    user: member,
                    role: OrgRole::Member,
                },
                vec![],
            ),
            (
                DirectoryCommand::RenameOrganization {
                    organization: org,
                    name: name(),
                },
                vec![],
            ),
            (
                DirectoryCommand::RenameWorkspace {
                    workspace: shared,
                    name: name(),
                },
                vec![],
            ),
            (
                DirectoryCommand::CreateWorkspace {
                    workspace: WorkspaceId::new(),
                    organization: org,
                    name: name(),
                },
                vec![],
            ),
            (
                DirectoryCommand::CreateOrganization {
                    organization: crate::domain::ids::OrganizationId::new(),
                    workspace: WorkspaceId::new(),
                    name: name(),
                    owner: member,
                },
                vec![],
            ),
            (
                DirectoryCommand::CreateUser {
                    user: UserId::new(),
                    personal_workspace: WorkspaceId::new(),
                    name: name(),
                    email: "new@example.com".into(),
                },
                vec![],
            ),
        ];
        for (command, expected) in cases {
            assert_eq!(
                tokens_revoked_by(&command, &tokens),
                expected,
                "{command:?}"
            );
        }
    }

    #[test]
    fn users_issue_their_own_tokens_and_admins_issue_any() {
        let f = fixture();
        let tokens = Tokens::default();
        let d = &f.directory;
        assert!(decide_token(&tokens, d, Some(f.member), issue(Principal::User(f.member))).is_ok());
        assert_eq!(
            decide_token(&tokens, d, Some(f.member), issue(Principal::User(f.owner))),
            Err(PrincipalError::AdminOnly(
                AdminAction::IssueTokensForOtherUsers
            ))
        );
        assert!(decide_token(&tokens, d, Some(f.admin), issue(Principal::User(f.member))).is_ok());
        assert_eq!(
            decide_token(&tokens, d, Some(f.ws_admin), issue(runner())),
            Err(PrincipalError::AdminOnly(
                AdminAction::IssueRunnerOrAuditorTokens
            ))
        );
        assert!(decide_token(&tokens, d, Some(f.owner), issue(runner())).is_ok());
        assert!(
            decide_token(&tokens, d, None, issue(runner())).is_ok(),
            "the system bootstraps"
        );
        let unknown = UserId::new();
        assert_eq!(
            decide_token(&tokens, d, Some(f.owner), issue(Principal::User(unknown))),
            Err(PrincipalError::UnknownUser(unknown))
        );
    }

    #[test]
    fn administrators_sign_checkpoints_and_auditors_read_them() {
        let f = fixture();
        let d = &f.directory;
        let auditor = auditor();
        let (sign, read) = (CheckpointUse::Sign, CheckpointUse::Read);
        let cases = [
            (Principal::User(f.owner), sign, Ok(())),
            (Principal::User(f.admin), read, Ok(())),
            (
                Principal::User(f.ws_admin),
                sign,
                Err(PrincipalError::AdminOnly(AdminAction::SignCheckpoints)),
            ),
            (
                Principal::User(f.member),
                read,
                Err(PrincipalError::AdminOnly(AdminAction::ReadCheckpoints)),
            ),
            (auditor.clone(), read, Ok(())),
            (auditor, sign, Err(PrincipalError::UsersOnly)),
            (runner(), read, Err(PrincipalError::UsersOnly)),
        ];
        for (principal, wanted, expected) in cases {
            assert_eq!(
                authorize_checkpoints(d, &principal, wanted),
                expected,
                "{principal:?} {wanted:?}"
            );
        }
    }

    #[test]
    fn auditors_read_all_audit_and_administrators_their_organizations_shared_workspaces() {
        let f = fixture();
        let d = &f.directory;
        let auditor = auditor();
        assert_eq!(audit_scope(d, &auditor), Ok(AuditScope::Everything));
        for admin in [f.owner, f.admin] {
            let Ok(AuditScope::Workspaces(mut seen)) = audit_scope(d, &Principal::User(admin))
            else {
                panic!("an administrator reads audit");
            };
            seen.sort();
            let mut expected = vec![f.org_workspace, f.shared];
            expected.sort();
            assert_eq!(seen, expected, "no personal workspace");
        }
        for user in [f.member, f.ws_admin, f.ws_viewer, f.outsider] {
            assert_eq!(
                audit_scope(d, &Principal::User(user)),
                Err(PrincipalError::AuditReadersOnly)
            );
        }
        assert_eq!(
            audit_scope(d, &runner()),
            Err(PrincipalError::AuditReadersOnly)
        );
    }

    #[test]
    fn administrators_list_every_token_and_others_their_own() {
        let f = fixture();
        let principals = [
            Principal::User(f.member),
            Principal::User(f.owner),
            runner(),
        ];
        let tokens = issued(&f.directory, None, principals.map(issue).to_vec());
        assert_eq!(tokens_visible_to(&f.directory, &tokens, f.admin).len(), 3);
        let own = tokens_visible_to(&f.directory, &tokens, f.member);
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].principal, Principal::User(f.member));
        assert!(tokens_visible_to(&f.directory, &tokens, f.ws_viewer).is_empty());
    }

    #[test]
    fn administrators_list_every_user_and_others_themselves() {
        let f = fixture();
        let d = &f.directory;
        assert_eq!(users_visible_to(d, f.owner).len(), d.users.len());
        assert_eq!(users_visible_to(d, f.admin).len(), d.users.len());
        for user in [f.member, f.ws_admin, f.outsider] {
            let seen = users_visible_to(d, user);
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].id, user);
        }
    }

    #[test]
    fn labels_are_checked() {
        let f = fixture();
        for label in ["", "   ", "a\u{7}b", &"x".repeat(121)] {
            let command = TokenCommand::Issue {
                token: TokenId::new(),
                principal: Principal::User(f.member),
                label: label.into(),
                token_hash: [1; 32],
                expires_at: None,
                scopes: TokenScopes::unrestricted(),
                now: Timestamp(0),
            };
            assert_eq!(
                decide_token(&Tokens::default(), &f.directory, Some(f.member), command),
                Err(PrincipalError::BadLabel)
            );
        }
    }

    #[test]
    fn revoking_needs_ownership_or_admin_and_happens_once() {
        let f = fixture();
        let id = TokenId::new();
        let mine = TokenCommand::Issue {
            token: id,
            principal: Principal::User(f.member),
            label: "mine".into(),
            token_hash: [9; 32],
            expires_at: None,
            scopes: TokenScopes::unrestricted(),
            now: Timestamp(0),
        };
        let mut tokens = issued(&f.directory, Some(f.member), vec![mine]);
        assert_eq!(tokens.by_hash(&[9; 32]).map(|t| t.id), Some(id));
        let revoke = TokenCommand::Revoke { token: id };
        // Someone else's token looks like no token at all.
        assert_eq!(
            decide_token(&tokens, &f.directory, Some(f.ws_editor), revoke.clone()),
            Err(PrincipalError::UnknownToken)
        );
        let events =
            decide_token(&tokens, &f.directory, Some(f.member), revoke.clone()).expect("own");
        events.iter().for_each(|e| tokens.apply(e, Timestamp(0)));
        assert!(
            tokens.by_hash(&[9; 32]).is_none(),
            "revoked tokens no longer authenticate"
        );
        assert_eq!(
            decide_token(&tokens, &f.directory, Some(f.admin), revoke),
            Err(PrincipalError::AlreadyRevoked)
        );
    }

    #[test]
    fn directory_commands_need_the_right_role() {
        let f = fixture();
        let d = &f.directory;
        let create_user = DirectoryCommand::CreateUser {
            user: UserId::new(),
            personal_workspace: crate::domain::ids::WorkspaceId::new(),
            name: "New".into(),
            email: "new@example.com".into(),
        };
        assert!(authorize_directory(d, f.admin, &create_user).is_ok());
        assert!(authorize_directory(d, f.member, &create_user).is_err());
        let own_org = DirectoryCommand::CreateOrganization {
            organization: crate::domain::ids::OrganizationId::new(),
            workspace: crate::domain::ids::WorkspaceId::new(),
            name: "Mine".into(),
            owner: f.outsider,
        };
        // Nobody makes themselves an administrator by founding an organization.
        assert!(authorize_directory(d, f.outsider, &own_org).is_err());
        assert!(authorize_directory(d, f.member, &own_org).is_err());
        assert!(authorize_directory(d, f.admin, &own_org).is_ok());
        let new_ws = DirectoryCommand::CreateWorkspace {
            workspace: crate::domain::ids::WorkspaceId::new(),
            organization: f.org,
            name: "Ops".into(),
        };
        assert!(authorize_directory(d, f.owner, &new_ws).is_ok());
        assert!(authorize_directory(d, f.ws_admin, &new_ws).is_err());
        let add_member = DirectoryCommand::AddWorkspaceMember {
            workspace: f.shared,
            user: f.member,
            role: WorkspaceRole::Viewer,
        };
        assert!(authorize_directory(d, f.ws_admin, &add_member).is_ok());
        assert!(authorize_directory(d, f.admin, &add_member).is_ok());
        assert!(authorize_directory(d, f.ws_editor, &add_member).is_err());
        assert!(authorize_directory(d, f.outsider, &add_member).is_err());
    }

    #[test]
    fn lifecycle_commands_need_the_same_roles_as_the_other_directory_commands() {
        let f = fixture();
        let d = &f.directory;
        let rename_ws = DirectoryCommand::RenameWorkspace {
            workspace: f.shared,
            name: "Platform".into(),
        };
        let rename_org = DirectoryCommand::RenameOrganization {
            organization: f.org,
            name: "Acme Holding".into(),
        };
        let deactivate = DirectoryCommand::DeactivateUser { user: f.member };
        let reactivate = DirectoryCommand::ReactivateUser { user: f.member };
        let remove = DirectoryCommand::RemoveUserFromOrganization {
            organization: f.org,
            user: f.member,
        };
        let org_manager = Err(PrincipalError::MissingRole(NeededRole::OrganizationManager));
        let ws_admin = Err(PrincipalError::MissingRole(NeededRole::WorkspaceAdmin));
        let user_manager = Err(PrincipalError::MissingRole(NeededRole::UserManager));
        // (actor, command, expected)
        let table = [
            (f.owner, &rename_ws, Ok(())),
            (f.ws_admin, &rename_ws, Ok(())),
            (f.ws_editor, &rename_ws, ws_admin.clone()),
            (f.outsider, &rename_ws, ws_admin),
            (f.admin, &rename_org, Ok(())),
            (f.ws_admin, &rename_org, org_manager.clone()),
            (f.member, &rename_org, org_manager.clone()),
            (f.owner, &deactivate, Ok(())),
            (f.admin, &reactivate, Ok(())),
            (f.ws_admin, &deactivate, user_manager.clone()),
            (f.outsider, &deactivate, user_manager.clone()),
            (f.member, &deactivate, user_manager.clone()),
            (f.admin, &remove, Ok(())),
            (f.ws_admin, &remove, org_manager),
        ];
        for (actor, command, expected) in table {
            assert_eq!(
                authorize_directory(d, actor, command),
                expected,
                "{actor:?} {command:?}"
            );
        }
        // A deactivated administrator manages nothing.
        let mut departed = d.clone();
        crate::domain::directory::apply(
            &mut departed,
            &crate::domain::directory::DirectoryEvent::UserDeactivated { user: f.admin },
        );
        assert_eq!(
            authorize_directory(&departed, f.admin, &rename_org),
            Err(PrincipalError::MissingRole(NeededRole::OrganizationManager))
        );
        assert_eq!(
            authorize_directory(
                &departed,
                f.owner,
                &DirectoryCommand::ReactivateUser { user: f.admin }
            ),
            Ok(())
        );
        assert!(!is_administrator(&departed, f.admin));
    }

    #[test]
    fn administrators_of_one_organization_have_no_power_over_another() {
        let f = fixture();
        let mut d = f.directory.clone();
        crate::domain::directory::apply(
            &mut d,
            &crate::domain::directory::DirectoryEvent::OrganizationCreated {
                organization: crate::domain::ids::OrganizationId::new(),
                workspace: crate::domain::ids::WorkspaceId::new(),
                name: "Other".into(),
                owner: f.outsider,
            },
        );
        let tokens = Tokens::default();
        assert!(manages_user(&d, f.admin, f.member));
        assert!(
            !manages_user(&d, f.admin, f.outsider),
            "the other org's owner"
        );
        assert!(
            !manages_user(&d, f.outsider, f.member),
            "a member of the first org"
        );
        assert_eq!(
            decide_token(
                &tokens,
                &d,
                Some(f.outsider),
                issue(Principal::User(f.owner))
            ),
            Err(PrincipalError::AdminOnly(
                AdminAction::IssueTokensForOtherUsers
            ))
        );
        assert!(decide_token(&tokens, &d, Some(f.owner), issue(Principal::User(f.member))).is_ok());
    }

    #[test]
    fn refusals_name_the_action_and_the_role_in_the_same_words_as_before() {
        assert_eq!(
            PrincipalError::AdminOnly(AdminAction::IssueRunnerOrAuditorTokens).to_string(),
            "principal: only an organization owner or admin may issue runner or auditor tokens"
        );
        assert_eq!(
            PrincipalError::MissingRole(NeededRole::WorkspaceAdmin).to_string(),
            "principal: needs the admin role in the workspace or its organization"
        );
        assert_eq!(
            PrincipalError::MissingRole(NeededRole::OrganizationManager).to_string(),
            "principal: needs the owner or admin role in the organization"
        );
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn every_error_names_its_field() {
        let table = [
            (
                PrincipalError::AdminOnly(AdminAction::SignCheckpoints),
                "principal",
            ),
            (
                PrincipalError::MissingRole(NeededRole::WorkspaceAdmin),
                "principal",
            ),
            (PrincipalError::UnknownUser(UserId::new()), "user"),
            (PrincipalError::BadLabel, "label"),
            (PrincipalError::UnknownToken, "token"),
            (PrincipalError::AlreadyRevoked, "token"),
            (PrincipalError::TokenExists(TokenId::new()), "token"),
            (PrincipalError::RunnersOnlyResolve, "principal"),
            (PrincipalError::AuditReadersOnly, "principal"),
            (PrincipalError::UsersOnly, "principal"),
            (PrincipalError::SignInLinkNotValid, "link"),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
