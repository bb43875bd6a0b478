//! Directory decisions: validate a command against the state, emit events.

use super::{
    Directory, DirectoryCommand, DirectoryEvent, OrgRole, WorkspaceKind, WorkspaceScope,
    MAX_DIRECTORY_NAME_LEN,
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
    #[error("email: {0:?} is not a valid e-mail address")]
    InvalidEmail(String),
    /// Another user already has this e-mail address.
    #[error("email: {0:?} is already used by another user")]
    EmailTaken(String),
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
}

/// Decides which events a directory command produces.
pub fn decide(
    directory: &Directory,
    command: DirectoryCommand,
) -> Result<Vec<DirectoryEvent>, DirectoryError> {
    match command {
        DirectoryCommand::CreateOrganization {
            organization,
            workspace,
            name,
            owner,
        } => {
            if directory.organizations.contains_key(&organization) {
                return Err(DirectoryError::OrganizationExists(organization));
            }
            ensure_free_workspace(directory, workspace)?;
            ensure_user(directory, owner)?;
            let name = valid_name("organization name", &name)?;
            Ok(vec![DirectoryEvent::OrganizationCreated {
                organization,
                workspace,
                name,
                owner,
            }])
        }
        DirectoryCommand::CreateUser {
            user,
            personal_workspace,
            name,
            email,
        } => {
            if directory.users.contains_key(&user) {
                return Err(DirectoryError::UserExists(user));
            }
            ensure_free_workspace(directory, personal_workspace)?;
            let name = valid_name("user name", &name)?;
            let email = valid_email(&email)?;
            let key = email.to_lowercase();
            if directory
                .users
                .values()
                .any(|u| u.email.to_lowercase() == key)
            {
                return Err(DirectoryError::EmailTaken(email));
            }
            Ok(vec![DirectoryEvent::UserCreated {
                user,
                personal_workspace,
                name,
                email,
            }])
        }
        DirectoryCommand::AddUserToOrganization {
            organization,
            user,
            role,
        } => {
            let org = directory
                .organizations
                .get(&organization)
                .ok_or(DirectoryError::UnknownOrganization(organization))?;
            ensure_user(directory, user)?;
            if org.members.contains_key(&user) {
                return Err(DirectoryError::AlreadyOrganizationMember { organization, user });
            }
            Ok(vec![DirectoryEvent::UserJoinedOrganization {
                organization,
                user,
                role,
            }])
        }
        DirectoryCommand::ChangeOrgRole {
            organization,
            user,
            role,
        } => {
            let from = current_org_role(directory, organization, user)?;
            if from == role {
                return Err(DirectoryError::RoleUnchanged);
            }
            if from == OrgRole::Owner && owner_count(directory, organization) <= 1 {
                return Err(DirectoryError::LastOwner(organization));
            }
            Ok(vec![DirectoryEvent::OrgRoleChanged {
                organization,
                user,
                from,
                to: role,
            }])
        }
        DirectoryCommand::CreateWorkspace {
            workspace,
            organization,
            name,
        } => {
            if !directory.organizations.contains_key(&organization) {
                return Err(DirectoryError::UnknownOrganization(organization));
            }
            ensure_free_workspace(directory, workspace)?;
            let name = valid_name("workspace name", &name)?;
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
        DirectoryCommand::AddWorkspaceMember {
            workspace,
            user,
            role,
        } => {
            let organization = shared_workspace(directory, workspace)?;
            ensure_user(directory, user)?;
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
        DirectoryCommand::ChangeWorkspaceRole {
            workspace,
            user,
            role,
        } => {
            shared_workspace(directory, workspace)?;
            let from = directory
                .workspace_role(workspace, user)
                .ok_or(DirectoryError::NotWorkspaceMember { workspace, user })?;
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
        DirectoryCommand::RemoveWorkspaceMember { workspace, user } => {
            shared_workspace(directory, workspace)?;
            if directory.workspace_role(workspace, user).is_none() {
                return Err(DirectoryError::NotWorkspaceMember { workspace, user });
            }
            Ok(vec![DirectoryEvent::WorkspaceMemberRemoved {
                workspace,
                user,
            }])
        }
        DirectoryCommand::RemoveUserFromOrganization { organization, user } => {
            let role = current_org_role(directory, organization, user)?;
            if role == OrgRole::Owner && owner_count(directory, organization) <= 1 {
                return Err(DirectoryError::LastOwner(organization));
            }
            Ok(vec![DirectoryEvent::UserLeftOrganization {
                organization,
                user,
            }])
        }
    }
}

fn valid_name(field: &'static str, raw: &str) -> Result<String, DirectoryError> {
    normalize_text(raw, MAX_DIRECTORY_NAME_LEN)
        .map_err(|reason| DirectoryError::InvalidName { field, reason })
}

fn valid_email(raw: &str) -> Result<String, DirectoryError> {
    let email = raw.trim();
    let plausible = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && email.len() <= 254
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if plausible {
        Ok(email.to_owned())
    } else {
        Err(DirectoryError::InvalidEmail(email.to_owned()))
    }
}

fn ensure_user(directory: &Directory, user: UserId) -> Result<(), DirectoryError> {
    if directory.users.contains_key(&user) {
        Ok(())
    } else {
        Err(DirectoryError::UnknownUser(user))
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

fn owner_count(directory: &Directory, organization: OrganizationId) -> usize {
    directory.organizations.get(&organization).map_or(0, |o| {
        o.members.values().filter(|r| **r == OrgRole::Owner).count()
    })
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
