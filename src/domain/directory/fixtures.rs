//! A ready-made directory for tests: one organization, one shared workspace, every role.

use super::{apply, Directory, DirectoryEvent, OrgRole, WorkspaceRole};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};

/// Ids of everything in the fixture directory.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub(crate) directory: Directory,
    pub(crate) events: Vec<DirectoryEvent>,
    pub(crate) org: OrganizationId,
    pub(crate) org_workspace: WorkspaceId,
    pub(crate) shared: WorkspaceId,
    pub(crate) owner: UserId,
    pub(crate) admin: UserId,
    pub(crate) member: UserId,
    pub(crate) ws_admin: UserId,
    pub(crate) ws_editor: UserId,
    pub(crate) ws_viewer: UserId,
    pub(crate) outsider: UserId,
}

impl Fixture {
    /// Personal workspace of a fixture user.
    pub(crate) fn personal(&self, user: UserId) -> WorkspaceId {
        self.directory.users[&user].personal_workspace
    }
}

pub(crate) fn user_created(user: UserId, name: &str) -> DirectoryEvent {
    DirectoryEvent::UserCreated {
        user,
        personal_workspace: WorkspaceId::from_uuid(uuid::Uuid::from_u128(
            user.as_uuid().as_u128() ^ 0xFFFF_0000,
        )),
        name: name.into(),
        email: format!("{}@example.com", name.to_lowercase()),
    }
}

pub(crate) fn fixture() -> Fixture {
    // Fixed ids so that separately built fixtures agree.
    let id = |n: u128| uuid::Uuid::from_u128(n);
    let org = OrganizationId::from_uuid(id(1));
    let org_workspace = WorkspaceId::from_uuid(id(2));
    let shared = WorkspaceId::from_uuid(id(3));
    let [owner, admin, member, ws_admin, ws_editor, ws_viewer, outsider] =
        std::array::from_fn(|i| UserId::from_uuid(id(100 + i as u128)));
    let mut events = vec![
        user_created(owner, "Owner"),
        user_created(admin, "Admin"),
        user_created(member, "Member"),
        user_created(ws_admin, "WsAdmin"),
        user_created(ws_editor, "WsEditor"),
        user_created(ws_viewer, "WsViewer"),
        user_created(outsider, "Outsider"),
        DirectoryEvent::OrganizationCreated {
            organization: org,
            workspace: org_workspace,
            name: "Acme".into(),
            owner,
        },
        DirectoryEvent::WorkspaceCreated {
            workspace: shared,
            organization: org,
            name: "Team".into(),
        },
    ];
    for (user, role) in [
        (admin, OrgRole::Admin),
        (member, OrgRole::Member),
        (ws_admin, OrgRole::Member),
        (ws_editor, OrgRole::Member),
        (ws_viewer, OrgRole::Member),
    ] {
        events.push(DirectoryEvent::UserJoinedOrganization {
            organization: org,
            user,
            role,
        });
    }
    for (user, role) in [
        (ws_admin, WorkspaceRole::Admin),
        (ws_editor, WorkspaceRole::Editor),
        (ws_viewer, WorkspaceRole::Viewer),
    ] {
        events.push(DirectoryEvent::WorkspaceMemberAdded {
            workspace: shared,
            user,
            role,
        });
    }
    let mut directory = Directory::default();
    for event in &events {
        apply(&mut directory, event);
    }
    Fixture {
        directory,
        events,
        org,
        org_workspace,
        shared,
        owner,
        admin,
        member,
        ws_admin,
        ws_editor,
        ws_viewer,
        outsider,
    }
}
