//! Directory events (payloads frozen per type string and schema version).

use super::{Directory, OrgRole, WorkspaceRole};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// A shared workspace was renamed.
    WorkspaceRenamed {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name before.
        from: String,
        /// Its name now.
        to: String,
    },
    /// An organization (and its organization workspace) was renamed.
    OrganizationRenamed {
        /// The organization.
        organization: OrganizationId,
        /// Its name before.
        from: String,
        /// Its name now.
        to: String,
    },
    /// A user was deactivated (offboarded).
    UserDeactivated {
        /// The user.
        user: UserId,
    },
    /// A deactivated user was reactivated.
    UserReactivated {
        /// The user.
        user: UserId,
    },
}

impl DirectoryEvent {
    /// Stable type string stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        let index = match self {
            Self::OrganizationCreated { .. } => 0,
            Self::UserCreated { .. } => 1,
            Self::UserJoinedOrganization { .. } => 2,
            Self::OrgRoleChanged { .. } => 3,
            Self::WorkspaceCreated { .. } => 4,
            Self::WorkspaceMemberAdded { .. } => 5,
            Self::WorkspaceRoleChanged { .. } => 6,
            Self::WorkspaceMemberRemoved { .. } => 7,
            Self::UserLeftOrganization { .. } => 8,
            Self::WorkspaceRenamed { .. } => 9,
            Self::OrganizationRenamed { .. } => 10,
            Self::UserDeactivated { .. } => 11,
            Self::UserReactivated { .. } => 12,
        };
        Self::TYPES[index]
    }

    /// Schema version of this event's payload.
    pub fn schema_version(&self) -> u16 {
        1
    }

    /// Every directory event type string, for catalogs and golden tests.
    pub const TYPES: [&'static str; 13] = [
        "directory.organization_created",
        "directory.user_created",
        "directory.user_joined_organization",
        "directory.org_role_changed",
        "directory.workspace_created",
        "directory.workspace_member_added",
        "directory.workspace_role_changed",
        "directory.workspace_member_removed",
        "directory.user_left_organization",
        "directory.workspace_renamed",
        "directory.organization_renamed",
        "directory.user_deactivated",
        "directory.user_reactivated",
    ];

    /// What the event is about: the organization, user or workspace it changes.
    pub fn subject(&self) -> DirectorySubject {
        match self {
            Self::OrganizationCreated { organization, .. }
            | Self::UserJoinedOrganization { organization, .. }
            | Self::OrgRoleChanged { organization, .. }
            | Self::UserLeftOrganization { organization, .. }
            | Self::OrganizationRenamed { organization, .. } => {
                DirectorySubject::Organization(*organization)
            }
            Self::UserCreated { user, .. }
            | Self::UserDeactivated { user }
            | Self::UserReactivated { user } => DirectorySubject::User(*user),
            Self::WorkspaceCreated { workspace, .. }
            | Self::WorkspaceRenamed { workspace, .. }
            | Self::WorkspaceMemberAdded { workspace, .. }
            | Self::WorkspaceRoleChanged { workspace, .. }
            | Self::WorkspaceMemberRemoved { workspace, .. } => {
                DirectorySubject::Workspace(*workspace)
            }
        }
    }

    /// The workspace the event touches: its own workspace, the new user's personal one, or
    /// (for a membership of an organization) the organization's workspace in `directory`.
    pub fn workspace(&self, directory: &Directory) -> Option<WorkspaceId> {
        match self {
            Self::OrganizationCreated { workspace, .. }
            | Self::WorkspaceCreated { workspace, .. }
            | Self::WorkspaceMemberAdded { workspace, .. }
            | Self::WorkspaceRoleChanged { workspace, .. }
            | Self::WorkspaceMemberRemoved { workspace, .. }
            | Self::WorkspaceRenamed { workspace, .. } => Some(*workspace),
            Self::UserCreated {
                personal_workspace, ..
            } => Some(*personal_workspace),
            Self::UserDeactivated { user } | Self::UserReactivated { user } => {
                directory.users.get(user).map(|u| u.personal_workspace)
            }
            Self::UserJoinedOrganization { organization, .. }
            | Self::OrgRoleChanged { organization, .. }
            | Self::UserLeftOrganization { organization, .. }
            | Self::OrganizationRenamed { organization, .. } => directory
                .organizations
                .get(organization)
                .map(|o| o.workspace),
        }
    }
}

/// What a directory event is about; shown as `kind:id` (`organization:…`, `user:…`,
/// `workspace:…`), as audit records name their resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectorySubject {
    /// An organization (created, or one whose membership changed).
    Organization(OrganizationId),
    /// A user (created).
    User(UserId),
    /// A workspace (created, or one whose membership changed).
    Workspace(WorkspaceId),
}

impl fmt::Display for DirectorySubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Organization(id) => write!(f, "organization:{id}"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::Workspace(id) => write!(f, "workspace:{id}"),
        }
    }
}
