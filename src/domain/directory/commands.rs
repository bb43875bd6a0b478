//! Directory commands (ids are chosen by the caller so that decide stays pure).

use super::{OrgRole, WorkspaceRole};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};

/// A request to change the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryCommand {
    /// Create an organization, its organization workspace, with `owner` as Owner.
    CreateOrganization {
        /// Id of the new organization.
        organization: OrganizationId,
        /// Id of its organization workspace.
        workspace: WorkspaceId,
        /// Display name.
        name: String,
        /// Existing user who becomes its first Owner.
        owner: UserId,
    },
    /// Create a user and their personal workspace.
    CreateUser {
        /// Id of the new user.
        user: UserId,
        /// Id of their personal workspace.
        personal_workspace: WorkspaceId,
        /// Display name.
        name: String,
        /// E-mail address (unique, case-insensitive).
        email: String,
    },
    /// Add an existing user to an organization.
    AddUserToOrganization {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
        /// Their role.
        role: OrgRole,
    },
    /// Change a member's organization role.
    ChangeOrgRole {
        /// The organization.
        organization: OrganizationId,
        /// The member.
        user: UserId,
        /// The new role.
        role: OrgRole,
    },
    /// Create a shared workspace inside an organization.
    CreateWorkspace {
        /// Id of the new workspace.
        workspace: WorkspaceId,
        /// The owning organization.
        organization: OrganizationId,
        /// Display name (unique in the organization, case-insensitive).
        name: String,
    },
    /// Add an organization member to a shared workspace.
    AddWorkspaceMember {
        /// The shared workspace.
        workspace: WorkspaceId,
        /// The user (must belong to the organization).
        user: UserId,
        /// Their role.
        role: WorkspaceRole,
    },
    /// Change a workspace member's role.
    ChangeWorkspaceRole {
        /// The shared workspace.
        workspace: WorkspaceId,
        /// The member.
        user: UserId,
        /// The new role.
        role: WorkspaceRole,
    },
    /// Remove a member from a shared workspace.
    RemoveWorkspaceMember {
        /// The shared workspace.
        workspace: WorkspaceId,
        /// The member.
        user: UserId,
    },
    /// Remove a user from an organization (and from all its workspaces).
    RemoveUserFromOrganization {
        /// The organization.
        organization: OrganizationId,
        /// The member.
        user: UserId,
    },
    /// Rename a shared workspace (unique in its organization, case-insensitive).
    RenameWorkspace {
        /// The shared workspace.
        workspace: WorkspaceId,
        /// The new display name.
        name: String,
    },
    /// Rename an organization (and its organization workspace with it).
    RenameOrganization {
        /// The organization.
        organization: OrganizationId,
        /// The new display name.
        name: String,
    },
    /// Deactivate a user (offboarding): they no longer sign in, resolve or use anything.
    DeactivateUser {
        /// The user.
        user: UserId,
    },
    /// Reactivate a deactivated user: they may sign in again (with new tokens).
    ReactivateUser {
        /// The user.
        user: UserId,
    },
}
