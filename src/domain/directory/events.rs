//! Directory events (payloads frozen per type string and schema version).

use super::{OrgRole, WorkspaceRole};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

/// Something that happened to the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryEvent {
    /// An organization and its organization workspace were created; `owner` is its Owner.
    OrganizationCreated {
        /// The organization.
        organization: OrganizationId,
        /// Its organization workspace.
        workspace: WorkspaceId,
        /// Display name.
        name: String,
        /// First Owner.
        owner: UserId,
    },
    /// A user and their personal workspace were created.
    UserCreated {
        /// The user.
        user: UserId,
        /// Their personal workspace.
        personal_workspace: WorkspaceId,
        /// Display name.
        name: String,
        /// E-mail address.
        email: String,
    },
    /// A user joined an organization.
    UserJoinedOrganization {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
        /// Their role.
        role: OrgRole,
    },
    /// A member's organization role changed.
    OrgRoleChanged {
        /// The organization.
        organization: OrganizationId,
        /// The member.
        user: UserId,
        /// Previous role.
        from: OrgRole,
        /// New role.
        to: OrgRole,
    },
    /// A shared workspace was created.
    WorkspaceCreated {
        /// The workspace.
        workspace: WorkspaceId,
        /// The owning organization.
        organization: OrganizationId,
        /// Display name.
        name: String,
    },
    /// A user was added to a shared workspace.
    WorkspaceMemberAdded {
        /// The workspace.
        workspace: WorkspaceId,
        /// The user.
        user: UserId,
        /// Their role.
        role: WorkspaceRole,
    },
    /// A workspace member's role changed.
    WorkspaceRoleChanged {
        /// The workspace.
        workspace: WorkspaceId,
        /// The member.
        user: UserId,
        /// Previous role.
        from: WorkspaceRole,
        /// New role.
        to: WorkspaceRole,
    },
    /// A member was removed from a shared workspace.
    WorkspaceMemberRemoved {
        /// The workspace.
        workspace: WorkspaceId,
        /// The former member.
        user: UserId,
    },
    /// A user left an organization (and every workspace of it).
    UserLeftOrganization {
        /// The organization.
        organization: OrganizationId,
        /// The former member.
        user: UserId,
    },
}

impl DirectoryEvent {
    /// Stable type string stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::OrganizationCreated { .. } => "directory.organization_created",
            Self::UserCreated { .. } => "directory.user_created",
            Self::UserJoinedOrganization { .. } => "directory.user_joined_organization",
            Self::OrgRoleChanged { .. } => "directory.org_role_changed",
            Self::WorkspaceCreated { .. } => "directory.workspace_created",
            Self::WorkspaceMemberAdded { .. } => "directory.workspace_member_added",
            Self::WorkspaceRoleChanged { .. } => "directory.workspace_role_changed",
            Self::WorkspaceMemberRemoved { .. } => "directory.workspace_member_removed",
            Self::UserLeftOrganization { .. } => "directory.user_left_organization",
        }
    }

    /// Schema version of this event's payload.
    pub fn schema_version(&self) -> u16 {
        1
    }

    /// Every directory event type string, for catalogs and golden tests.
    pub const TYPES: [&'static str; 9] = [
        "directory.organization_created",
        "directory.user_created",
        "directory.user_joined_organization",
        "directory.org_role_changed",
        "directory.workspace_created",
        "directory.workspace_member_added",
        "directory.workspace_role_changed",
        "directory.workspace_member_removed",
        "directory.user_left_organization",
    ];
}
