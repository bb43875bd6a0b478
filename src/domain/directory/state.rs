//! Directory state, folded from directory events.

use super::{DirectoryEvent, OrgRole, WorkspaceKind, WorkspaceRole};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An organization and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Its id.
    pub id: OrganizationId,
    /// Display name.
    pub name: String,
    /// Its organization workspace.
    pub workspace: WorkspaceId,
    /// Members and their roles.
    pub members: BTreeMap<UserId, OrgRole>,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Their personal workspace.
    pub personal_workspace: WorkspaceId,
}

/// Who a workspace belongs to; determines its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkspaceScope {
    /// A user's personal workspace.
    Personal {
        /// The owner.
        owner: UserId,
    },
    /// A shared workspace inside an organization.
    Shared {
        /// The organization.
        organization: OrganizationId,
    },
    /// The organization workspace of an organization.
    Organization {
        /// The organization.
        organization: OrganizationId,
    },
}

/// A workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Its id.
    pub id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// Owner (user or organization).
    pub scope: WorkspaceScope,
    /// Members of a shared workspace and their roles (empty for other kinds).
    pub members: BTreeMap<UserId, WorkspaceRole>,
}

impl Workspace {
    /// The kind of this workspace.
    pub fn kind(&self) -> WorkspaceKind {
        match self.scope {
            WorkspaceScope::Personal { .. } => WorkspaceKind::Personal,
            WorkspaceScope::Shared { .. } => WorkspaceKind::Shared,
            WorkspaceScope::Organization { .. } => WorkspaceKind::Organization,
        }
    }
    /// The organization owning this workspace, if any.
    pub fn organization(&self) -> Option<OrganizationId> {
        match self.scope {
            WorkspaceScope::Personal { .. } => None,
            WorkspaceScope::Shared { organization }
            | WorkspaceScope::Organization { organization } => Some(organization),
        }
    }
}

/// The whole directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Organizations by id.
    pub organizations: BTreeMap<OrganizationId, Organization>,
    /// Users by id.
    pub users: BTreeMap<UserId, User>,
    /// Workspaces by id.
    pub workspaces: BTreeMap<WorkspaceId, Workspace>,
}

impl Directory {
    /// Folds events into a directory.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a DirectoryEvent>) -> Self {
        let mut directory = Self::default();
        for event in events {
            apply(&mut directory, event);
        }
        directory
    }
    /// A workspace by id.
    pub fn workspace(&self, id: WorkspaceId) -> Option<&Workspace> {
        self.workspaces.get(&id)
    }
    /// A user's role in an organization, if a member.
    pub fn org_role(&self, organization: OrganizationId, user: UserId) -> Option<OrgRole> {
        self.organizations
            .get(&organization)
            .and_then(|o| o.members.get(&user).copied())
    }
    /// A user's role in a workspace, if a member.
    pub fn workspace_role(&self, workspace: WorkspaceId, user: UserId) -> Option<WorkspaceRole> {
        self.workspaces
            .get(&workspace)
            .and_then(|w| w.members.get(&user).copied())
    }
}

/// Applies one event to the directory. Events are facts: unknown references are ignored.
pub fn apply(directory: &mut Directory, event: &DirectoryEvent) {
    match event {
        DirectoryEvent::OrganizationCreated {
            organization,
            workspace,
            name,
            owner,
        } => {
            directory.organizations.insert(
                *organization,
                Organization {
                    id: *organization,
                    name: name.clone(),
                    workspace: *workspace,
                    members: BTreeMap::from([(*owner, OrgRole::Owner)]),
                },
            );
            directory.workspaces.insert(
                *workspace,
                Workspace {
                    id: *workspace,
                    name: name.clone(),
                    scope: WorkspaceScope::Organization {
                        organization: *organization,
                    },
                    members: BTreeMap::new(),
                },
            );
        }
        DirectoryEvent::UserCreated {
            user,
            personal_workspace,
            name,
            email,
        } => {
            directory.users.insert(
                *user,
                User {
                    id: *user,
                    name: name.clone(),
                    email: email.clone(),
                    personal_workspace: *personal_workspace,
                },
            );
            directory.workspaces.insert(
                *personal_workspace,
                Workspace {
                    id: *personal_workspace,
                    name: format!("{name} (personal)"),
                    scope: WorkspaceScope::Personal { owner: *user },
                    members: BTreeMap::new(),
                },
            );
        }
        DirectoryEvent::UserJoinedOrganization {
            organization,
            user,
            role,
        } => {
            if let Some(org) = directory.organizations.get_mut(organization) {
                org.members.insert(*user, *role);
            }
        }
        DirectoryEvent::OrgRoleChanged {
            organization,
            user,
            to,
            ..
        } => {
            if let Some(org) = directory.organizations.get_mut(organization) {
                org.members.insert(*user, *to);
            }
        }
        DirectoryEvent::WorkspaceCreated {
            workspace,
            organization,
            name,
        } => {
            directory.workspaces.insert(
                *workspace,
                Workspace {
                    id: *workspace,
                    name: name.clone(),
                    scope: WorkspaceScope::Shared {
                        organization: *organization,
                    },
                    members: BTreeMap::new(),
                },
            );
        }
        DirectoryEvent::WorkspaceMemberAdded {
            workspace,
            user,
            role,
        } => {
            if let Some(ws) = directory.workspaces.get_mut(workspace) {
                ws.members.insert(*user, *role);
            }
        }
        DirectoryEvent::WorkspaceRoleChanged {
            workspace,
            user,
            to,
            ..
        } => {
            if let Some(ws) = directory.workspaces.get_mut(workspace) {
                ws.members.insert(*user, *to);
            }
        }
        DirectoryEvent::WorkspaceMemberRemoved { workspace, user } => {
            if let Some(ws) = directory.workspaces.get_mut(workspace) {
                ws.members.remove(user);
            }
        }
        DirectoryEvent::UserLeftOrganization { organization, user } => {
            if let Some(org) = directory.organizations.get_mut(organization) {
                org.members.remove(user);
            }
            for ws in directory.workspaces.values_mut() {
                if ws.scope
                    == (WorkspaceScope::Shared {
                        organization: *organization,
                    })
                {
                    ws.members.remove(user);
                }
            }
        }
    }
}
