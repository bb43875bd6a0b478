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
    /// Deactivated (offboarded): no sign-in, no rights, no resolution for them.
    pub deactivated: bool,
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
    /// Whether the user exists and is not deactivated.
    pub fn is_active(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|u| !u.deactivated)
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
    use DirectoryEvent as E;
    match event {
        E::OrganizationCreated {
            organization,
            workspace,
            name,
            owner,
        } => directory.organization_created(*organization, *workspace, name, *owner),
        E::UserCreated {
            user,
            personal_workspace,
            name,
            email,
        } => directory.user_created(*user, *personal_workspace, name, email),
        E::UserJoinedOrganization {
            organization,
            user,
            role,
        }
        | E::OrgRoleChanged {
            organization,
            user,
            to: role,
            ..
        } => directory.set_org_role(*organization, *user, *role),
        E::WorkspaceCreated {
            workspace,
            organization,
            name,
        } => directory.add_workspace(
            *workspace,
            name.clone(),
            WorkspaceScope::Shared {
                organization: *organization,
            },
        ),
        E::WorkspaceMemberAdded {
            workspace,
            user,
            role,
        }
        | E::WorkspaceRoleChanged {
            workspace,
            user,
            to: role,
            ..
        } => directory.set_workspace_role(*workspace, *user, Some(*role)),
        E::WorkspaceMemberRemoved { workspace, user } => {
            directory.set_workspace_role(*workspace, *user, None);
        }
        E::UserLeftOrganization { organization, user } => {
            directory.leave_organization(*organization, *user);
        }
        E::WorkspaceRenamed { workspace, to, .. } => {
            if let Some(ws) = directory.workspaces.get_mut(workspace) {
                ws.name.clone_from(to);
            }
        }
        E::OrganizationRenamed {
            organization, to, ..
        } => directory.rename_organization(*organization, to),
        E::UserDeactivated { user } => directory.set_deactivated(*user, true),
        E::UserReactivated { user } => directory.set_deactivated(*user, false),
    }
}

impl Directory {
    fn organization_created(
        &mut self,
        organization: OrganizationId,
        workspace: WorkspaceId,
        name: &str,
        owner: UserId,
    ) {
        let members = BTreeMap::from([(owner, OrgRole::Owner)]);
        self.organizations.insert(
            organization,
            Organization {
                id: organization,
                name: name.to_owned(),
                workspace,
                members,
            },
        );
        let scope = WorkspaceScope::Organization { organization };
        self.add_workspace(workspace, name.to_owned(), scope);
    }

    fn user_created(&mut self, user: UserId, workspace: WorkspaceId, name: &str, email: &str) {
        self.users.insert(
            user,
            User {
                id: user,
                name: name.to_owned(),
                email: email.to_owned(),
                personal_workspace: workspace,
                deactivated: false,
            },
        );
        let scope = WorkspaceScope::Personal { owner: user };
        self.add_workspace(workspace, format!("{name} (personal)"), scope);
    }

    fn add_workspace(&mut self, id: WorkspaceId, name: String, scope: WorkspaceScope) {
        let members = BTreeMap::new();
        let workspace = Workspace {
            id,
            name,
            scope,
            members,
        };
        self.workspaces.insert(id, workspace);
    }

    fn set_org_role(&mut self, organization: OrganizationId, user: UserId, role: OrgRole) {
        if let Some(org) = self.organizations.get_mut(&organization) {
            org.members.insert(user, role);
        }
    }

    /// Gives `user` this role in the workspace, or (`None`) removes them from it.
    fn set_workspace_role(&mut self, id: WorkspaceId, user: UserId, role: Option<WorkspaceRole>) {
        if let Some(ws) = self.workspaces.get_mut(&id) {
            match role {
                Some(role) => ws.members.insert(user, role),
                None => ws.members.remove(&user),
            };
        }
    }

    /// The organization and its organization workspace take the new name.
    fn rename_organization(&mut self, organization: OrganizationId, name: &str) {
        if let Some(org) = self.organizations.get_mut(&organization) {
            name.clone_into(&mut org.name);
            if let Some(ws) = self.workspaces.get_mut(&org.workspace) {
                name.clone_into(&mut ws.name);
            }
        }
    }

    fn set_deactivated(&mut self, user: UserId, deactivated: bool) {
        if let Some(u) = self.users.get_mut(&user) {
            u.deactivated = deactivated;
        }
    }

    /// The user leaves the organization and every shared workspace of it.
    fn leave_organization(&mut self, organization: OrganizationId, user: UserId) {
        if let Some(org) = self.organizations.get_mut(&organization) {
            org.members.remove(&user);
        }
        let shared = WorkspaceScope::Shared { organization };
        for ws in self.workspaces.values_mut() {
            if ws.scope == shared {
                ws.members.remove(&user);
            }
        }
    }
}
