//! What a membership request means: one request serves both adding a member and changing a
//! member's role, so which command it is depends on the directory.

use super::{Directory, DirectoryCommand, OrgRole, WorkspaceRole};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};

/// Where a membership is granted, and with which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// A role in an organization.
    Organization {
        /// The organization.
        organization: OrganizationId,
        /// The role.
        role: OrgRole,
    },
    /// A role in a shared workspace.
    Workspace {
        /// The workspace.
        workspace: WorkspaceId,
        /// The role.
        role: WorkspaceRole,
    },
}

/// Adds `user` where they hold no role yet; changes their role where they do.
pub fn membership_command(
    directory: &Directory,
    user: UserId,
    membership: Membership,
) -> DirectoryCommand {
    match membership {
        Membership::Organization { organization, role } => {
            match directory.org_role(organization, user) {
                Some(_) => DirectoryCommand::ChangeOrgRole {
                    organization,
                    user,
                    role,
                },
                None => DirectoryCommand::AddUserToOrganization {
                    organization,
                    user,
                    role,
                },
            }
        }
        Membership::Workspace { workspace, role } => {
            match directory.workspace_role(workspace, user) {
                Some(_) => DirectoryCommand::ChangeWorkspaceRole {
                    workspace,
                    user,
                    role,
                },
                None => DirectoryCommand::AddWorkspaceMember {
                    workspace,
                    user,
                    role,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::fixtures::fixture;

    #[test]
    fn a_membership_adds_a_newcomer_and_changes_a_member() {
        let f = fixture();
        let d = &f.directory;
        let in_org = |user, role| {
            membership_command(
                d,
                user,
                Membership::Organization {
                    organization: f.org,
                    role,
                },
            )
        };
        let in_shared = |user, role| {
            membership_command(
                d,
                user,
                Membership::Workspace {
                    workspace: f.shared,
                    role,
                },
            )
        };
        assert_eq!(
            in_org(f.member, OrgRole::Admin),
            DirectoryCommand::ChangeOrgRole {
                organization: f.org,
                user: f.member,
                role: OrgRole::Admin
            }
        );
        assert_eq!(
            in_org(f.outsider, OrgRole::Member),
            DirectoryCommand::AddUserToOrganization {
                organization: f.org,
                user: f.outsider,
                role: OrgRole::Member
            }
        );
        assert_eq!(
            in_shared(f.ws_viewer, WorkspaceRole::Editor),
            DirectoryCommand::ChangeWorkspaceRole {
                workspace: f.shared,
                user: f.ws_viewer,
                role: WorkspaceRole::Editor
            }
        );
        assert_eq!(
            in_shared(f.outsider, WorkspaceRole::Viewer),
            DirectoryCommand::AddWorkspaceMember {
                workspace: f.shared,
                user: f.outsider,
                role: WorkspaceRole::Viewer
            }
        );
    }
}
