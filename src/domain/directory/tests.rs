//! Given/when/then tests for every directory rule and refusal.

use super::fixtures::{fixture, user_created};
use super::*;
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use crate::domain::naming::NameError;
use crate::domain::scenario::{Aggregate, Scenario};
use std::convert::Infallible;

impl Aggregate for Directory {
    type Command = DirectoryCommand;
    type Event = DirectoryEvent;
    type Error = DirectoryError;
    type Warning = Infallible;
    type World = ();
    fn apply_event(&mut self, event: &DirectoryEvent) {
        apply(self, event);
    }
    fn handle(
        &self,
        _: &(),
        command: DirectoryCommand,
    ) -> Result<(Vec<DirectoryEvent>, Vec<Infallible>), DirectoryError> {
        decide(self, command).map(|events| (events, Vec::new()))
    }
}

type S = Scenario<Directory>;

#[test]
fn create_user_creates_personal_workspace() {
    let user = UserId::new();
    let ws = WorkspaceId::new();
    let state = S::given(vec![])
        .when(DirectoryCommand::CreateUser {
            user,
            personal_workspace: ws,
            name: " Ada ".into(),
            email: "ada@example.com".into(),
        })
        .then_expect_events(vec![DirectoryEvent::UserCreated {
            user,
            personal_workspace: ws,
            name: "Ada".into(),
            email: "ada@example.com".into(),
        }])
        .then_state();
    let personal = state.workspace(ws).expect("personal workspace exists");
    assert_eq!(personal.kind(), WorkspaceKind::Personal);
    assert_eq!(personal.scope, WorkspaceScope::Personal { owner: user });
}

#[test]
fn create_user_refusals() {
    let user = UserId::new();
    let existing = user_created(user, "Ada");
    let DirectoryEvent::UserCreated {
        personal_workspace, ..
    } = existing.clone()
    else {
        unreachable!()
    };
    let cmd = |user, ws, name: &str, email: &str| DirectoryCommand::CreateUser {
        user,
        personal_workspace: ws,
        name: name.into(),
        email: email.into(),
    };
    S::given(vec![existing.clone()])
        .when(cmd(user, WorkspaceId::new(), "B", "b@example.com"))
        .then_expect_error(DirectoryError::UserExists(user));
    S::given(vec![existing.clone()])
        .when(cmd(UserId::new(), personal_workspace, "B", "b@example.com"))
        .then_expect_error(DirectoryError::WorkspaceExists(personal_workspace));
    S::given(vec![existing.clone()])
        .when(cmd(
            UserId::new(),
            WorkspaceId::new(),
            "B",
            "ADA@example.com",
        ))
        .then_expect_error(DirectoryError::EmailTaken {
            email: EmailAddress::parse("ADA@example.com").expect("plausible"),
        });
    S::given(vec![])
        .when(cmd(UserId::new(), WorkspaceId::new(), "B", "not-an-email"))
        .then_expect_error(DirectoryError::InvalidEmail {
            email: "not-an-email".into(),
            reason: EmailProblem::NoAt,
        });
    S::given(vec![])
        .when(cmd(
            UserId::new(),
            WorkspaceId::new(),
            "  ",
            "b@example.com",
        ))
        .then_expect_error(DirectoryError::InvalidName {
            field: "user name",
            reason: NameError::Empty,
        });
}

#[test]
fn create_organization_creates_org_workspace_and_owner() {
    let owner = UserId::new();
    let org = OrganizationId::new();
    let ws = WorkspaceId::new();
    let state = S::given(vec![user_created(owner, "Ada")])
        .when(DirectoryCommand::CreateOrganization {
            organization: org,
            workspace: ws,
            name: "Acme".into(),
            owner,
        })
        .then_expect_events(vec![DirectoryEvent::OrganizationCreated {
            organization: org,
            workspace: ws,
            name: "Acme".into(),
            owner,
        }])
        .then_state();
    assert_eq!(state.org_role(org, owner), Some(OrgRole::Owner));
    assert_eq!(
        state.workspace(ws).map(|w| w.kind()),
        Some(WorkspaceKind::Organization)
    );
    let org_workspaces = state
        .workspaces
        .values()
        .filter(|w| w.kind() == WorkspaceKind::Organization && w.organization() == Some(org))
        .count();
    assert_eq!(org_workspaces, 1);
}

#[test]
fn create_organization_refusals() {
    let f = fixture();
    let cmd = |organization, workspace, name: &str, owner| DirectoryCommand::CreateOrganization {
        organization,
        workspace,
        name: name.into(),
        owner,
    };
    S::given(f.events.clone())
        .when(cmd(f.org, WorkspaceId::new(), "X", f.owner))
        .then_expect_error(DirectoryError::OrganizationExists(f.org));
    S::given(f.events.clone())
        .when(cmd(OrganizationId::new(), f.shared, "X", f.owner))
        .then_expect_error(DirectoryError::WorkspaceExists(f.shared));
    let ghost = UserId::new();
    S::given(f.events.clone())
        .when(cmd(OrganizationId::new(), WorkspaceId::new(), "X", ghost))
        .then_expect_error(DirectoryError::UnknownUser(ghost));
    S::given(f.events.clone())
        .when(cmd(
            OrganizationId::new(),
            WorkspaceId::new(),
            &"x".repeat(81),
            f.owner,
        ))
        .then_expect_error(DirectoryError::InvalidName {
            field: "organization name",
            reason: NameError::TooLong { len: 81, max: 80 },
        });
}

#[test]
fn join_organization_and_refusals() {
    let f = fixture();
    S::given(f.events.clone())
        .when(DirectoryCommand::AddUserToOrganization {
            organization: f.org,
            user: f.outsider,
            role: OrgRole::Member,
        })
        .then_expect_events(vec![DirectoryEvent::UserJoinedOrganization {
            organization: f.org,
            user: f.outsider,
            role: OrgRole::Member,
        }]);
    S::given(f.events.clone())
        .when(DirectoryCommand::AddUserToOrganization {
            organization: f.org,
            user: f.member,
            role: OrgRole::Admin,
        })
        .then_expect_error(DirectoryError::AlreadyOrganizationMember {
            organization: f.org,
            user: f.member,
        });
    let unknown = OrganizationId::new();
    S::given(f.events.clone())
        .when(DirectoryCommand::AddUserToOrganization {
            organization: unknown,
            user: f.member,
            role: OrgRole::Admin,
        })
        .then_expect_error(DirectoryError::UnknownOrganization(unknown));
    let ghost = UserId::new();
    S::given(f.events.clone())
        .when(DirectoryCommand::AddUserToOrganization {
            organization: f.org,
            user: ghost,
            role: OrgRole::Member,
        })
        .then_expect_error(DirectoryError::UnknownUser(ghost));
}

#[test]
fn org_role_changes_and_last_owner_rule() {
    let f = fixture();
    S::given(f.events.clone())
        .when(DirectoryCommand::ChangeOrgRole {
            organization: f.org,
            user: f.member,
            role: OrgRole::Admin,
        })
        .then_expect_events(vec![DirectoryEvent::OrgRoleChanged {
            organization: f.org,
            user: f.member,
            from: OrgRole::Member,
            to: OrgRole::Admin,
        }]);
    S::given(f.events.clone())
        .when(DirectoryCommand::ChangeOrgRole {
            organization: f.org,
            user: f.owner,
            role: OrgRole::Admin,
        })
        .then_expect_error(DirectoryError::LastOwner(f.org));
    S::given(f.events.clone())
        .when(DirectoryCommand::ChangeOrgRole {
            organization: f.org,
            user: f.member,
            role: OrgRole::Member,
        })
        .then_expect_error(DirectoryError::RoleUnchanged);
    S::given(f.events.clone())
        .when(DirectoryCommand::ChangeOrgRole {
            organization: f.org,
            user: f.outsider,
            role: OrgRole::Admin,
        })
        .then_expect_error(DirectoryError::NotOrganizationMember {
            organization: f.org,
            user: f.outsider,
        });
}

#[test]
fn second_owner_may_step_down() {
    let f = fixture();
    let mut events = f.events.clone();
    events.push(DirectoryEvent::OrgRoleChanged {
        organization: f.org,
        user: f.admin,
        from: OrgRole::Admin,
        to: OrgRole::Owner,
    });
    S::given(events)
        .when(DirectoryCommand::RemoveUserFromOrganization {
            organization: f.org,
            user: f.owner,
        })
        .then_expect_events(vec![DirectoryEvent::UserLeftOrganization {
            organization: f.org,
            user: f.owner,
        }]);
}

#[test]
fn workspace_creation_and_name_rules() {
    let f = fixture();
    let ws = WorkspaceId::new();
    S::given(f.events.clone())
        .when(DirectoryCommand::CreateWorkspace {
            workspace: ws,
            organization: f.org,
            name: " Sales ".into(),
        })
        .then_expect_events(vec![DirectoryEvent::WorkspaceCreated {
            workspace: ws,
            organization: f.org,
            name: "Sales".into(),
        }]);
    S::given(f.events.clone())
        .when(DirectoryCommand::CreateWorkspace {
            workspace: ws,
            organization: f.org,
            name: "team".into(),
        })
        .then_expect_error(DirectoryError::WorkspaceNameTaken {
            name: "team".into(),
        });
    S::given(f.events.clone())
        .when(DirectoryCommand::CreateWorkspace {
            workspace: ws,
            organization: f.org,
            name: "a\tb".into(),
        })
        .then_expect_error(DirectoryError::InvalidName {
            field: "workspace name",
            reason: NameError::ControlCharacter { index: 1 },
        });
    let unknown = OrganizationId::new();
    S::given(f.events.clone())
        .when(DirectoryCommand::CreateWorkspace {
            workspace: ws,
            organization: unknown,
            name: "Sales".into(),
        })
        .then_expect_error(DirectoryError::UnknownOrganization(unknown));
}

#[test]
fn workspace_membership_rules() {
    let f = fixture();
    S::given(f.events.clone())
        .when(DirectoryCommand::AddWorkspaceMember {
            workspace: f.shared,
            user: f.member,
            role: WorkspaceRole::Viewer,
        })
        .then_expect_events(vec![DirectoryEvent::WorkspaceMemberAdded {
            workspace: f.shared,
            user: f.member,
            role: WorkspaceRole::Viewer,
        }]);
    S::given(f.events.clone())
        .when(DirectoryCommand::AddWorkspaceMember {
            workspace: f.shared,
            user: f.outsider,
            role: WorkspaceRole::Viewer,
        })
        .then_expect_error(DirectoryError::NotOrganizationMember {
            organization: f.org,
            user: f.outsider,
        });
    S::given(f.events.clone())
        .when(DirectoryCommand::AddWorkspaceMember {
            workspace: f.shared,
            user: f.ws_viewer,
            role: WorkspaceRole::Editor,
        })
        .then_expect_error(DirectoryError::AlreadyWorkspaceMember {
            workspace: f.shared,
            user: f.ws_viewer,
        });
    S::given(f.events.clone())
        .when(DirectoryCommand::AddWorkspaceMember {
            workspace: f.org_workspace,
            user: f.member,
            role: WorkspaceRole::Viewer,
        })
        .then_expect_error(DirectoryError::NotSharedWorkspace {
            workspace: f.org_workspace,
            kind: WorkspaceKind::Organization,
        });
    let unknown = WorkspaceId::new();
    S::given(f.events.clone())
        .when(DirectoryCommand::RemoveWorkspaceMember {
            workspace: unknown,
            user: f.member,
        })
        .then_expect_error(DirectoryError::UnknownWorkspace(unknown));
}

#[test]
fn workspace_role_change_and_removal() {
    let f = fixture();
    S::given(f.events.clone())
        .when(DirectoryCommand::ChangeWorkspaceRole {
            workspace: f.shared,
            user: f.ws_viewer,
            role: WorkspaceRole::Editor,
        })
        .then_expect_events(vec![DirectoryEvent::WorkspaceRoleChanged {
            workspace: f.shared,
            user: f.ws_viewer,
            from: WorkspaceRole::Viewer,
            to: WorkspaceRole::Editor,
        }]);
    S::given(f.events.clone())
        .when(DirectoryCommand::ChangeWorkspaceRole {
            workspace: f.shared,
            user: f.member,
            role: WorkspaceRole::Editor,
        })
        .then_expect_error(DirectoryError::NotWorkspaceMember {
            workspace: f.shared,
            user: f.member,
        });
    S::given(f.events.clone())
        .when(DirectoryCommand::ChangeWorkspaceRole {
            workspace: f.shared,
            user: f.ws_viewer,
            role: WorkspaceRole::Viewer,
        })
        .then_expect_error(DirectoryError::RoleUnchanged);
    let state = S::given(f.events.clone())
        .when(DirectoryCommand::RemoveWorkspaceMember {
            workspace: f.shared,
            user: f.ws_editor,
        })
        .then_expect_events(vec![DirectoryEvent::WorkspaceMemberRemoved {
            workspace: f.shared,
            user: f.ws_editor,
        }])
        .then_state();
    assert_eq!(state.workspace_role(f.shared, f.ws_editor), None);
    S::given(f.events.clone())
        .when(DirectoryCommand::RemoveWorkspaceMember {
            workspace: f.shared,
            user: f.member,
        })
        .then_expect_error(DirectoryError::NotWorkspaceMember {
            workspace: f.shared,
            user: f.member,
        });
}

#[test]
fn leaving_organization_drops_workspace_memberships() {
    let f = fixture();
    let state = S::given(f.events.clone())
        .when(DirectoryCommand::RemoveUserFromOrganization {
            organization: f.org,
            user: f.ws_editor,
        })
        .then_expect_events(vec![DirectoryEvent::UserLeftOrganization {
            organization: f.org,
            user: f.ws_editor,
        }])
        .then_state();
    assert_eq!(state.org_role(f.org, f.ws_editor), None);
    assert_eq!(state.workspace_role(f.shared, f.ws_editor), None);
    S::given(f.events.clone())
        .when(DirectoryCommand::RemoveUserFromOrganization {
            organization: f.org,
            user: f.owner,
        })
        .then_expect_error(DirectoryError::LastOwner(f.org));
    S::given(f.events)
        .when(DirectoryCommand::RemoveUserFromOrganization {
            organization: f.org,
            user: f.outsider,
        })
        .then_expect_error(DirectoryError::NotOrganizationMember {
            organization: f.org,
            user: f.outsider,
        });
}

#[test]
fn event_type_strings_are_stable_and_unique() {
    let f = fixture();
    for event in &f.events {
        assert!(DirectoryEvent::TYPES.contains(&event.event_type()));
        assert_eq!(event.schema_version(), 1);
    }
    let mut types = DirectoryEvent::TYPES.to_vec();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), DirectoryEvent::TYPES.len());
}
