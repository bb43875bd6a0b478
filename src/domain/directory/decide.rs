//! Directory decisions: validate a command against the state, emit events.

use super::email::{EmailAddress, EmailProblem};
use super::{
    Directory, DirectoryCommand, DirectoryEvent, OrgRole, WorkspaceKind, WorkspaceRole,
    WorkspaceScope, MAX_DIRECTORY_NAME_LEN,
};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use crate::domain::naming::{name_key, normalize_text, NameError};

/// Why a directory command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No organization with this id.
    #[error("organization: {0} does not exist")]
    UnknownOrganization(OrganizationId),
    /// No user with this id.
    #[error("user: {0} does not exist")]
    UnknownUser(UserId),
    /// No workspace with this id.
    #[error("workspace: {0} does not exist")]
    UnknownWorkspace(WorkspaceId),
    /// The organization id is already used.
    #[error("organization: id {0} is already used")]
    OrganizationExists(OrganizationId),
    /// The user id is already used.
    #[error("user: id {0} is already used")]
    UserExists(UserId),
    /// The workspace id is already used.
    #[error("workspace: id {0} is already used")]
    WorkspaceExists(WorkspaceId),
    /// A field's text breaks the name rules.
    #[error("{field}: {reason}")]
    InvalidName {
        /// Which field (`organization name`, `workspace name`, `user name`).
        field: &'static str,
        /// The rule that was broken.
        reason: NameError,
    },
    /// The e-mail address is not plausible.
    #[error("email: {email:?} is not a valid e-mail address ({reason})")]
    InvalidEmail {
        /// The address as given (trimmed).
        email: String,
        /// Which plausibility rule it breaks.
        reason: EmailProblem,
    },
    /// Another user already has this e-mail address (compared case-insensitively).
    #[error("email: {email:?} is already used by another user")]
    EmailTaken {
        /// The address asked for.
        email: EmailAddress,
    },
    /// The organization already has a workspace with this name.
    #[error("workspace name: {name:?} is already used in this organization")]
    WorkspaceNameTaken {
        /// The colliding name.
        name: String,
    },
    /// The user already belongs to the organization.
    #[error("user: {user} is already a member of organization {organization}")]
    AlreadyOrganizationMember {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
    },
    /// The user does not belong to the organization.
    #[error("user: {user} is not a member of organization {organization}")]
    NotOrganizationMember {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
    },
    /// The user already belongs to the workspace.
    #[error("user: {user} is already a member of workspace {workspace}")]
    AlreadyWorkspaceMember {
        /// The workspace.
        workspace: WorkspaceId,
        /// The user.
        user: UserId,
    },
    /// The user does not belong to the workspace.
    #[error("user: {user} is not a member of workspace {workspace}")]
    NotWorkspaceMember {
        /// The workspace.
        workspace: WorkspaceId,
        /// The user.
        user: UserId,
    },
    /// Membership is managed only on shared workspaces.
    #[error("workspace: {workspace} is a {kind:?} workspace; members are managed only on shared workspaces")]
    NotSharedWorkspace {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its kind.
        kind: WorkspaceKind,
    },
    /// The change would leave the organization without an Owner.
    #[error("role: organization {0} must keep at least one Owner")]
    LastOwner(OrganizationId),
    /// The requested role is the current role.
    #[error("role: the user already has this role")]
    RoleUnchanged,
    /// The new name is the current name.
    #[error("name: is already the current name")]
    NameUnchanged,
    /// The user is already deactivated (or, for a change of their memberships, is
    /// deactivated: reactivate them first).
    #[error("user: {0} is deactivated")]
    UserDeactivated(UserId),
    /// The user is not deactivated.
    #[error("user: {0} is active")]
    UserActive(UserId),
}

impl DirectoryError {
    /// The request field the refusal is about, as its text begins (`user`, `email`, …).
    pub fn field(&self) -> Option<String> {
        use DirectoryError as E;
        let field = match self {
            E::UnknownOrganization(_) | E::OrganizationExists(_) => "organization",
            E::UnknownUser(_)
            | E::UserExists(_)
            | E::AlreadyOrganizationMember { .. }
            | E::NotOrganizationMember { .. }
            | E::AlreadyWorkspaceMember { .. }
            | E::NotWorkspaceMember { .. } => "user",
            E::UnknownWorkspace(_) | E::WorkspaceExists(_) | E::NotSharedWorkspace { .. } => {
                "workspace"
            }
            E::InvalidName { field, .. } => field,
            E::InvalidEmail { .. } | E::EmailTaken { .. } => "email",
            E::WorkspaceNameTaken { .. } => "workspace name",
            E::LastOwner(_) | E::RoleUnchanged => "role",
            E::NameUnchanged => "name",
            E::UserDeactivated(_) | E::UserActive(_) => "user",
        };
        Some(field.to_owned())
    }
}

type Decided = Result<Vec<DirectoryEvent>, DirectoryError>;

/// Decides which events a directory command produces.
pub fn decide(directory: &Directory, command: DirectoryCommand) -> Decided {
    use DirectoryCommand as C;
    let d = directory;
    match command {
        C::CreateOrganization {
            organization,
            workspace,
            name,
            owner,
        } => create_organization(d, organization, workspace, &name, owner),
        C::CreateUser {
            user,
            personal_workspace,
            name,
            email,
        } => create_user(d, user, personal_workspace, &name, &email),
        C::AddUserToOrganization {
            organization,
            user,
            role,
        } => add_user_to_organization(d, organization, user, role),
        C::ChangeOrgRole {
            organization,
            user,
            role,
        } => change_org_role(d, organization, user, role),
        C::CreateWorkspace {
            workspace,
            organization,
            name,
        } => create_workspace(d, workspace, organization, &name),
        C::AddWorkspaceMember {
            workspace,
            user,
            role,
        } => add_workspace_member(d, workspace, user, role),
        C::ChangeWorkspaceRole {
            workspace,
            user,
            role,
        } => change_workspace_role(d, workspace, user, role),
        C::RemoveWorkspaceMember { workspace, user } => remove_workspace_member(d, workspace, user),
        C::RemoveUserFromOrganization { organization, user } => {
            remove_user_from_organization(d, organization, user)
        }
        C::RenameWorkspace { workspace, name } => rename_workspace(d, workspace, &name),
        C::RenameOrganization { organization, name } => rename_organization(d, organization, &name),
        C::DeactivateUser { user } => deactivate_user(d, user),
        C::ReactivateUser { user } => reactivate_user(d, user),
    }
}

fn create_organization(
    directory: &Directory,
    organization: OrganizationId,
    workspace: WorkspaceId,
    name: &str,
    owner: UserId,
) -> Decided {
    if directory.organizations.contains_key(&organization) {
        return Err(DirectoryError::OrganizationExists(organization));
    }
    ensure_free_workspace(directory, workspace)?;
    ensure_user(directory, owner)?;
    let name = valid_name("organization name", name)?;
    Ok(vec![DirectoryEvent::OrganizationCreated {
        organization,
        workspace,
        name,
        owner,
    }])
}

fn create_user(
    directory: &Directory,
    user: UserId,
    personal_workspace: WorkspaceId,
    name: &str,
    email: &str,
) -> Decided {
    if directory.users.contains_key(&user) {
        return Err(DirectoryError::UserExists(user));
    }
    ensure_free_workspace(directory, personal_workspace)?;
    let name = valid_name("user name", name)?;
    let email = valid_email(email)?;
    let key = email.key();
    if directory
        .users
        .values()
        .any(|u| u.email.to_lowercase() == key)
    {
        return Err(DirectoryError::EmailTaken { email });
    }
    Ok(vec![DirectoryEvent::UserCreated {
        user,
        personal_workspace,
        name,
        email: email.into_string(),
    }])
}

fn add_user_to_organization(
    directory: &Directory,
    organization: OrganizationId,
    user: UserId,
    role: OrgRole,
) -> Decided {
    let org = directory
        .organizations
        .get(&organization)
        .ok_or(DirectoryError::UnknownOrganization(organization))?;
    ensure_active_user(directory, user)?;
    if org.members.contains_key(&user) {
        return Err(DirectoryError::AlreadyOrganizationMember { organization, user });
    }
    Ok(vec![DirectoryEvent::UserJoinedOrganization {
        organization,
        user,
        role,
    }])
}

fn change_org_role(
    directory: &Directory,
    organization: OrganizationId,
    user: UserId,
    role: OrgRole,
) -> Decided {
    let from = current_org_role(directory, organization, user)?;
    if from == role {
        return Err(DirectoryError::RoleUnchanged);
    }
    ensure_not_last_owner(directory, organization, user, from)?;
    Ok(vec![DirectoryEvent::OrgRoleChanged {
        organization,
        user,
        from,
        to: role,
    }])
}

fn create_workspace(
    directory: &Directory,
    workspace: WorkspaceId,
    organization: OrganizationId,
    name: &str,
) -> Decided {
    if !directory.organizations.contains_key(&organization) {
        return Err(DirectoryError::UnknownOrganization(organization));
    }
    ensure_free_workspace(directory, workspace)?;
    let name = valid_name("workspace name", name)?;
    let key = name_key(&name);
    let taken = directory
        .workspaces
        .values()
        .any(|w| w.organization() == Some(organization) && name_key(&w.name) == key);
    if taken {
        return Err(DirectoryError::WorkspaceNameTaken { name });
    }
    Ok(vec![DirectoryEvent::WorkspaceCreated {
        workspace,
        organization,
        name,
    }])
}

fn add_workspace_member(
    directory: &Directory,
    workspace: WorkspaceId,
    user: UserId,
    role: WorkspaceRole,
) -> Decided {
    let organization = shared_workspace(directory, workspace)?;
    ensure_active_user(directory, user)?;
    if directory.org_role(organization, user).is_none() {
        return Err(DirectoryError::NotOrganizationMember { organization, user });
    }
    if directory.workspace_role(workspace, user).is_some() {
        return Err(DirectoryError::AlreadyWorkspaceMember { workspace, user });
    }
    Ok(vec![DirectoryEvent::WorkspaceMemberAdded {
        workspace,
        user,
        role,
    }])
}

fn change_workspace_role(
    directory: &Directory,
    workspace: WorkspaceId,
    user: UserId,
    role: WorkspaceRole,
) -> Decided {
    let from = current_workspace_role(directory, workspace, user)?;
    if from == role {
        return Err(DirectoryError::RoleUnchanged);
    }
    Ok(vec![DirectoryEvent::WorkspaceRoleChanged {
        workspace,
        user,
        from,
        to: role,
    }])
}

fn remove_workspace_member(directory: &Directory, workspace: WorkspaceId, user: UserId) -> Decided {
    current_workspace_role(directory, workspace, user)?;
    Ok(vec![DirectoryEvent::WorkspaceMemberRemoved {
        workspace,
        user,
    }])
}

fn remove_user_from_organization(
    directory: &Directory,
    organization: OrganizationId,
    user: UserId,
) -> Decided {
    let role = current_org_role(directory, organization, user)?;
    ensure_not_last_owner(directory, organization, user, role)?;
    Ok(vec![DirectoryEvent::UserLeftOrganization {
        organization,
        user,
    }])
}

fn valid_name(field: &'static str, raw: &str) -> Result<String, DirectoryError> {
    normalize_text(raw, MAX_DIRECTORY_NAME_LEN)
        .map_err(|reason| DirectoryError::InvalidName { field, reason })
}

fn valid_email(raw: &str) -> Result<EmailAddress, DirectoryError> {
    EmailAddress::parse(raw).map_err(|reason| DirectoryError::InvalidEmail {
        email: raw.trim().to_owned(),
        reason,
    })
}

fn ensure_user(directory: &Directory, user: UserId) -> Result<(), DirectoryError> {
    if directory.users.contains_key(&user) {
        Ok(())
    } else {
        Err(DirectoryError::UnknownUser(user))
    }
}

/// Nobody gains a membership while deactivated.
fn ensure_active_user(directory: &Directory, user: UserId) -> Result<(), DirectoryError> {
    ensure_user(directory, user)?;
    if directory.is_active(user) {
        Ok(())
    } else {
        Err(DirectoryError::UserDeactivated(user))
    }
}

fn ensure_free_workspace(directory: &Directory, id: WorkspaceId) -> Result<(), DirectoryError> {
    if directory.workspaces.contains_key(&id) {
        Err(DirectoryError::WorkspaceExists(id))
    } else {
        Ok(())
    }
}

fn current_org_role(
    directory: &Directory,
    organization: OrganizationId,
    user: UserId,
) -> Result<OrgRole, DirectoryError> {
    let org = directory
        .organizations
        .get(&organization)
        .ok_or(DirectoryError::UnknownOrganization(organization))?;
    org.members
        .get(&user)
        .copied()
        .ok_or(DirectoryError::NotOrganizationMember { organization, user })
}

/// Whether the organization has an active Owner other than `user`.
fn has_other_active_owner(
    directory: &Directory,
    organization: OrganizationId,
    user: UserId,
) -> bool {
    directory.organizations.get(&organization).is_some_and(|o| {
        o.members
            .iter()
            .any(|(u, r)| *u != user && *r == OrgRole::Owner && directory.is_active(*u))
    })
}

/// Demoting, removing or deactivating `user` (who holds `role`) must leave the organization
/// an active Owner.
fn ensure_not_last_owner(
    directory: &Directory,
    organization: OrganizationId,
    user: UserId,
    role: OrgRole,
) -> Result<(), DirectoryError> {
    if role == OrgRole::Owner && !has_other_active_owner(directory, organization, user) {
        Err(DirectoryError::LastOwner(organization))
    } else {
        Ok(())
    }
}

fn rename_workspace(directory: &Directory, workspace: WorkspaceId, name: &str) -> Decided {
    let organization = shared_workspace(directory, workspace)?;
    let name = valid_name("workspace name", name)?;
    let from = directory
        .workspace(workspace)
        .map(|w| w.name.clone())
        .unwrap_or_default();
    if from == name {
        return Err(DirectoryError::NameUnchanged);
    }
    let key = name_key(&name);
    // A new spelling of its own name (case, spaces) is no collision.
    let taken = directory.workspaces.values().any(|w| {
        w.id != workspace && w.organization() == Some(organization) && name_key(&w.name) == key
    });
    if taken {
        return Err(DirectoryError::WorkspaceNameTaken { name });
    }
    Ok(vec![DirectoryEvent::WorkspaceRenamed {
        workspace,
        from,
        to: name,
    }])
}

fn rename_organization(directory: &Directory, organization: OrganizationId, name: &str) -> Decided {
    let org = directory
        .organizations
        .get(&organization)
        .ok_or(DirectoryError::UnknownOrganization(organization))?;
    let name = valid_name("organization name", name)?;
    if org.name == name {
        return Err(DirectoryError::NameUnchanged);
    }
    Ok(vec![DirectoryEvent::OrganizationRenamed {
        organization,
        from: org.name.clone(),
        to: name,
    }])
}

/// Offboarding: refused when it would leave an organization without an active Owner.
fn deactivate_user(directory: &Directory, user: UserId) -> Decided {
    ensure_user(directory, user)?;
    if !directory.is_active(user) {
        return Err(DirectoryError::UserDeactivated(user));
    }
    for org in directory.organizations.values() {
        if let Some(role) = org.members.get(&user) {
            ensure_not_last_owner(directory, org.id, user, *role)?;
        }
    }
    Ok(vec![DirectoryEvent::UserDeactivated { user }])
}

fn reactivate_user(directory: &Directory, user: UserId) -> Decided {
    ensure_user(directory, user)?;
    if directory.is_active(user) {
        return Err(DirectoryError::UserActive(user));
    }
    Ok(vec![DirectoryEvent::UserReactivated { user }])
}

/// The user's role in a shared workspace.
fn current_workspace_role(
    directory: &Directory,
    workspace: WorkspaceId,
    user: UserId,
) -> Result<WorkspaceRole, DirectoryError> {
    shared_workspace(directory, workspace)?;
    directory
        .workspace_role(workspace, user)
        .ok_or(DirectoryError::NotWorkspaceMember { workspace, user })
}

fn shared_workspace(
    directory: &Directory,
    workspace: WorkspaceId,
) -> Result<OrganizationId, DirectoryError> {
    let ws = directory
        .workspace(workspace)
        .ok_or(DirectoryError::UnknownWorkspace(workspace))?;
    match ws.scope {
        WorkspaceScope::Shared { organization } => Ok(organization),
        _ => Err(DirectoryError::NotSharedWorkspace {
            workspace,
            kind: ws.kind(),
        }),
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn every_error_names_its_field() {
        let organization = OrganizationId::new();
        let user = UserId::new();
        let workspace = WorkspaceId::new();
        let email = EmailAddress::parse("ada@example.com").expect("a plausible address");
        let table = [
            (
                DirectoryError::UnknownOrganization(organization),
                "organization",
            ),
            (DirectoryError::UnknownUser(user), "user"),
            (DirectoryError::UnknownWorkspace(workspace), "workspace"),
            (
                DirectoryError::OrganizationExists(organization),
                "organization",
            ),
            (DirectoryError::UserExists(user), "user"),
            (DirectoryError::WorkspaceExists(workspace), "workspace"),
            (
                DirectoryError::InvalidName {
                    field: "organization name",
                    reason: NameError::Empty,
                },
                "organization name",
            ),
            (
                DirectoryError::InvalidName {
                    field: "user name",
                    reason: NameError::TooLong { len: 200, max: 120 },
                },
                "user name",
            ),
            (
                DirectoryError::InvalidName {
                    field: "workspace name",
                    reason: NameError::ControlCharacter { index: 0 },
                },
                "workspace name",
            ),
            (
                DirectoryError::InvalidEmail {
                    email: "a: b".into(),
                    reason: EmailProblem::NoAt,
                },
                "email",
            ),
            (DirectoryError::EmailTaken { email }, "email"),
            (
                DirectoryError::WorkspaceNameTaken {
                    name: "Ops: EU".into(),
                },
                "workspace name",
            ),
            (
                DirectoryError::AlreadyOrganizationMember { organization, user },
                "user",
            ),
            (
                DirectoryError::NotOrganizationMember { organization, user },
                "user",
            ),
            (
                DirectoryError::AlreadyWorkspaceMember { workspace, user },
                "user",
            ),
            (
                DirectoryError::NotWorkspaceMember { workspace, user },
                "user",
            ),
            (
                DirectoryError::NotSharedWorkspace {
                    workspace,
                    kind: WorkspaceKind::Personal,
                },
                "workspace",
            ),
            (DirectoryError::LastOwner(organization), "role"),
            (DirectoryError::RoleUnchanged, "role"),
            (DirectoryError::NameUnchanged, "name"),
            (DirectoryError::UserDeactivated(user), "user"),
            (DirectoryError::UserActive(user), "user"),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
