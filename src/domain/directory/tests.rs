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

/// Given the fixture directory, `command` is refused with exactly `error`.
#[track_caller]
fn refused(command: DirectoryCommand, error: DirectoryError) {
    S::given(fixture().events)
        .when(command)
        .then_expect_error(error);
}

/// Given the fixture directory, `command` yields exactly `events`; the directory after them.
#[track_caller]
fn accepted(command: DirectoryCommand, events: Vec<DirectoryEvent>) -> Directory {
    S::given(fixture().events)
        .when(command)
        .then_expect_events(events)
        .then_state()
}

fn add_to_org(organization: OrganizationId, user: UserId, role: OrgRole) -> DirectoryCommand {
    DirectoryCommand::AddUserToOrganization {
        organization,
        user,
        role,
    }
}

fn change_org_role(organization: OrganizationId, user: UserId, role: OrgRole) -> DirectoryCommand {
    DirectoryCommand::ChangeOrgRole {
        organization,
        user,
        role,
    }
}

fn leave_org(organization: OrganizationId, user: UserId) -> DirectoryCommand {
    DirectoryCommand::RemoveUserFromOrganization { organization, user }
}

fn create_workspace(
    workspace: WorkspaceId,
    organization: OrganizationId,
    name: &str,
) -> DirectoryCommand {
    DirectoryCommand::CreateWorkspace {
        workspace,
        organization,
        name: name.into(),
    }
}

fn add_member(workspace: WorkspaceId, user: UserId, role: WorkspaceRole) -> DirectoryCommand {
    DirectoryCommand::AddWorkspaceMember {
        workspace,
        user,
        role,
    }
}

fn change_member_role(
    workspace: WorkspaceId,
    user: UserId,
    role: WorkspaceRole,
) -> DirectoryCommand {
    DirectoryCommand::ChangeWorkspaceRole {
        workspace,
        user,
        role,
    }
}

fn remove_member(workspace: WorkspaceId, user: UserId) -> DirectoryCommand {
    DirectoryCommand::RemoveWorkspaceMember { workspace, user }
}

fn not_org_member(organization: OrganizationId, user: UserId) -> DirectoryError {
    DirectoryError::NotOrganizationMember { organization, user }
}

fn not_ws_member(workspace: WorkspaceId, user: UserId) -> DirectoryError {
    DirectoryError::NotWorkspaceMember { workspace, user }
}

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
    refused(
        cmd(f.org, WorkspaceId::new(), "X", f.owner),
        DirectoryError::OrganizationExists(f.org),
    );
    refused(
        cmd(OrganizationId::new(), f.shared, "X", f.owner),
        DirectoryError::WorkspaceExists(f.shared),
    );
    let ghost = UserId::new();
    refused(
        cmd(OrganizationId::new(), WorkspaceId::new(), "X", ghost),
        DirectoryError::UnknownUser(ghost),
    );
    refused(
        cmd(
            OrganizationId::new(),
            WorkspaceId::new(),
            &"x".repeat(81),
            f.owner,
        ),
        DirectoryError::InvalidName {
            field: "organization name",
            reason: NameError::TooLong { len: 81, max: 80 },
        },
    );
}

#[test]
fn join_organization_and_refusals() {
    let f = fixture();
    accepted(
        add_to_org(f.org, f.outsider, OrgRole::Member),
        vec![DirectoryEvent::UserJoinedOrganization {
            organization: f.org,
            user: f.outsider,
            role: OrgRole::Member,
        }],
    );
    refused(
        add_to_org(f.org, f.member, OrgRole::Admin),
        DirectoryError::AlreadyOrganizationMember {
            organization: f.org,
            user: f.member,
        },
    );
    let unknown = OrganizationId::new();
    refused(
        add_to_org(unknown, f.member, OrgRole::Admin),
        DirectoryError::UnknownOrganization(unknown),
    );
    let ghost = UserId::new();
    refused(
        add_to_org(f.org, ghost, OrgRole::Member),
        DirectoryError::UnknownUser(ghost),
    );
}

#[test]
fn org_role_changes_and_last_owner_rule() {
    let f = fixture();
    accepted(
        change_org_role(f.org, f.member, OrgRole::Admin),
        vec![DirectoryEvent::OrgRoleChanged {
            organization: f.org,
            user: f.member,
            from: OrgRole::Member,
            to: OrgRole::Admin,
        }],
    );
    refused(
        change_org_role(f.org, f.owner, OrgRole::Admin),
        DirectoryError::LastOwner(f.org),
    );
    refused(
        change_org_role(f.org, f.member, OrgRole::Member),
        DirectoryError::RoleUnchanged,
    );
    refused(
        change_org_role(f.org, f.outsider, OrgRole::Admin),
        not_org_member(f.org, f.outsider),
    );
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
        .when(leave_org(f.org, f.owner))
        .then_expect_events(vec![DirectoryEvent::UserLeftOrganization {
            organization: f.org,
            user: f.owner,
        }]);
}

#[test]
fn workspace_creation_and_name_rules() {
    let f = fixture();
    let ws = WorkspaceId::new();
    accepted(
        create_workspace(ws, f.org, " Sales "),
        vec![DirectoryEvent::WorkspaceCreated {
            workspace: ws,
            organization: f.org,
            name: "Sales".into(),
        }],
    );
    refused(
        create_workspace(ws, f.org, "team"),
        DirectoryError::WorkspaceNameTaken {
            name: "team".into(),
        },
    );
    refused(
        create_workspace(ws, f.org, "a\tb"),
        DirectoryError::InvalidName {
            field: "workspace name",
            reason: NameError::ControlCharacter { index: 1 },
        },
    );
    let unknown = OrganizationId::new();
    refused(
        create_workspace(ws, unknown, "Sales"),
        DirectoryError::UnknownOrganization(unknown),
    );
}

#[test]
fn workspace_membership_rules() {
    let f = fixture();
    accepted(
        add_member(f.shared, f.member, WorkspaceRole::Viewer),
        vec![DirectoryEvent::WorkspaceMemberAdded {
            workspace: f.shared,
            user: f.member,
            role: WorkspaceRole::Viewer,
        }],
    );
    refused(
        add_member(f.shared, f.outsider, WorkspaceRole::Viewer),
        not_org_member(f.org, f.outsider),
    );
    refused(
        add_member(f.shared, f.ws_viewer, WorkspaceRole::Editor),
        DirectoryError::AlreadyWorkspaceMember {
            workspace: f.shared,
            user: f.ws_viewer,
        },
    );
    refused(
        add_member(f.org_workspace, f.member, WorkspaceRole::Viewer),
        DirectoryError::NotSharedWorkspace {
            workspace: f.org_workspace,
            kind: WorkspaceKind::Organization,
        },
    );
    let unknown = WorkspaceId::new();
    refused(
        remove_member(unknown, f.member),
        DirectoryError::UnknownWorkspace(unknown),
    );
}

#[test]
fn workspace_role_change_and_removal() {
    let f = fixture();
    accepted(
        change_member_role(f.shared, f.ws_viewer, WorkspaceRole::Editor),
        vec![DirectoryEvent::WorkspaceRoleChanged {
            workspace: f.shared,
            user: f.ws_viewer,
            from: WorkspaceRole::Viewer,
            to: WorkspaceRole::Editor,
        }],
    );
    refused(
        change_member_role(f.shared, f.member, WorkspaceRole::Editor),
        not_ws_member(f.shared, f.member),
    );
    refused(
        change_member_role(f.shared, f.ws_viewer, WorkspaceRole::Viewer),
        DirectoryError::RoleUnchanged,
    );
    let state = accepted(
        remove_member(f.shared, f.ws_editor),
        vec![DirectoryEvent::WorkspaceMemberRemoved {
            workspace: f.shared,
            user: f.ws_editor,
        }],
    );
    assert_eq!(state.workspace_role(f.shared, f.ws_editor), None);
    refused(
        remove_member(f.shared, f.member),
        not_ws_member(f.shared, f.member),
    );
}

#[test]
fn leaving_organization_drops_workspace_memberships() {
    let f = fixture();
    let state = accepted(
        leave_org(f.org, f.ws_editor),
        vec![DirectoryEvent::UserLeftOrganization {
            organization: f.org,
            user: f.ws_editor,
        }],
    );
    assert_eq!(state.org_role(f.org, f.ws_editor), None);
    assert_eq!(state.workspace_role(f.shared, f.ws_editor), None);
    refused(leave_org(f.org, f.owner), DirectoryError::LastOwner(f.org));
    refused(
        leave_org(f.org, f.outsider),
        not_org_member(f.org, f.outsider),
    );
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

#[test]
fn each_event_names_its_subject_and_the_workspace_it_touches() {
    let f = fixture();
    let ids: Vec<(DirectorySubject, Option<WorkspaceId>)> = f
        .events
        .iter()
        .map(|e| (e.subject(), e.workspace(&f.directory)))
        .collect();
    let owner_created = &ids[0];
    assert_eq!(owner_created.0, DirectorySubject::User(f.owner));
    assert_eq!(owner_created.1, Some(f.personal(f.owner)));
    assert_eq!(
        ids[7],
        (DirectorySubject::Organization(f.org), Some(f.org_workspace))
    );
    assert_eq!(
        ids[8],
        (DirectorySubject::Workspace(f.shared), Some(f.shared))
    );
    // A membership of the organization touches the organization's workspace.
    assert_eq!(
        ids[9],
        (DirectorySubject::Organization(f.org), Some(f.org_workspace))
    );
    assert_eq!(
        DirectorySubject::Organization(f.org).to_string(),
        format!("organization:{}", f.org)
    );
    assert_eq!(
        DirectorySubject::User(f.owner).to_string(),
        format!("user:{}", f.owner)
    );
    assert_eq!(
        DirectorySubject::Workspace(f.shared).to_string(),
        format!("workspace:{}", f.shared)
    );
    // Unknown to the directory: no workspace to name.
    let event = DirectoryEvent::UserLeftOrganization {
        organization: OrganizationId::new(),
        user: f.owner,
    };
    assert_eq!(event.workspace(&f.directory), None);
}

mod lifecycle {
    use super::*;

    /// The fixture's events, then `more`.
    fn with(more: Vec<DirectoryEvent>) -> Vec<DirectoryEvent> {
        [fixture().events, more].concat()
    }
    use crate::domain::access::{decide_access, Access, Action, DenyReason};

    fn deactivate(user: UserId) -> DirectoryCommand {
        DirectoryCommand::DeactivateUser { user }
    }

    #[test]
    fn a_shared_workspace_is_renamed_to_a_free_name() {
        let f = fixture();
        let rename = |name: &str| DirectoryCommand::RenameWorkspace {
            workspace: f.shared,
            name: name.into(),
        };
        let after = accepted(
            rename("  Platform  "),
            vec![DirectoryEvent::WorkspaceRenamed {
                workspace: f.shared,
                from: "Team".into(),
                to: "Platform".into(),
            }],
        );
        assert_eq!(after.workspaces[&f.shared].name, "Platform");
        // Another spelling of its own name is no collision.
        accepted(
            rename("TEAM"),
            vec![DirectoryEvent::WorkspaceRenamed {
                workspace: f.shared,
                from: "Team".into(),
                to: "TEAM".into(),
            }],
        );
        refused(rename("Team"), DirectoryError::NameUnchanged);
        refused(
            rename(""),
            DirectoryError::InvalidName {
                field: "workspace name",
                reason: NameError::Empty,
            },
        );
        refused(
            DirectoryCommand::RenameWorkspace {
                workspace: f.org_workspace,
                name: "Other".into(),
            },
            DirectoryError::NotSharedWorkspace {
                workspace: f.org_workspace,
                kind: WorkspaceKind::Organization,
            },
        );
        let second = WorkspaceId::new();
        S::given(with(vec![DirectoryEvent::WorkspaceCreated {
            workspace: second,
            organization: f.org,
            name: "Ops".into(),
        }]))
        .when(rename("ops"))
        .then_expect_error(DirectoryError::WorkspaceNameTaken { name: "ops".into() });
    }

    #[test]
    fn an_organization_is_renamed_with_its_organization_workspace() {
        let f = fixture();
        let after = accepted(
            DirectoryCommand::RenameOrganization {
                organization: f.org,
                name: "Acme Holding".into(),
            },
            vec![DirectoryEvent::OrganizationRenamed {
                organization: f.org,
                from: "Acme".into(),
                to: "Acme Holding".into(),
            }],
        );
        assert_eq!(after.organizations[&f.org].name, "Acme Holding");
        assert_eq!(after.workspaces[&f.org_workspace].name, "Acme Holding");
        refused(
            DirectoryCommand::RenameOrganization {
                organization: f.org,
                name: "Acme".into(),
            },
            DirectoryError::NameUnchanged,
        );
        let unknown = OrganizationId::new();
        refused(
            DirectoryCommand::RenameOrganization {
                organization: unknown,
                name: "X".into(),
            },
            DirectoryError::UnknownOrganization(unknown),
        );
    }

    #[test]
    fn a_deactivated_user_has_no_rights_until_reactivated() {
        let f = fixture();
        let after = accepted(
            deactivate(f.ws_editor),
            vec![DirectoryEvent::UserDeactivated { user: f.ws_editor }],
        );
        assert!(!after.is_active(f.ws_editor));
        assert_eq!(
            decide_access(&after, f.ws_editor, f.shared, Action::View),
            Access::Denied(DenyReason::Deactivated)
        );
        assert_eq!(
            decide_access(&after, f.ws_editor, f.personal(f.ws_editor), Action::Use),
            Access::Denied(DenyReason::Deactivated)
        );
        let departed = vec![DirectoryEvent::UserDeactivated { user: f.ws_editor }];
        S::given(with(departed.clone()))
            .when(deactivate(f.ws_editor))
            .then_expect_error(DirectoryError::UserDeactivated(f.ws_editor));
        // Nobody joins while deactivated.
        S::given(with(vec![DirectoryEvent::UserDeactivated {
            user: f.outsider,
        }]))
        .when(add_to_org(f.org, f.outsider, OrgRole::Member))
        .then_expect_error(DirectoryError::UserDeactivated(f.outsider));
        let back = S::given(with(departed))
            .when(DirectoryCommand::ReactivateUser { user: f.ws_editor })
            .then_expect_events(vec![DirectoryEvent::UserReactivated { user: f.ws_editor }])
            .then_state();
        assert!(decide_access(&back, f.ws_editor, f.shared, Action::Edit).is_allowed());
        refused(
            DirectoryCommand::ReactivateUser { user: f.member },
            DirectoryError::UserActive(f.member),
        );
        let unknown = UserId::new();
        refused(deactivate(unknown), DirectoryError::UnknownUser(unknown));
    }

    #[test]
    fn the_last_active_owner_is_never_deactivated_demoted_or_removed() {
        let f = fixture();
        refused(deactivate(f.owner), DirectoryError::LastOwner(f.org));
        // A second owner who is deactivated does not count.
        let second = vec![
            DirectoryEvent::OrgRoleChanged {
                organization: f.org,
                user: f.admin,
                from: OrgRole::Admin,
                to: OrgRole::Owner,
            },
            DirectoryEvent::UserDeactivated { user: f.admin },
        ];
        S::given(with(second.clone()))
            .when(change_org_role(f.org, f.owner, OrgRole::Member))
            .then_expect_error(DirectoryError::LastOwner(f.org));
        S::given(with(second[..1].to_vec()))
            .when(deactivate(f.owner))
            .then_expect_events(vec![DirectoryEvent::UserDeactivated { user: f.owner }]);
    }

    #[test]
    fn managers_of_a_departed_users_organization_may_view_edit_and_move_out_their_personal_authentications(
    ) {
        let f = fixture();
        let after = accepted(
            deactivate(f.member),
            vec![DirectoryEvent::UserDeactivated { user: f.member }],
        );
        let personal = f.personal(f.member);
        // (who, expected per action in Action::ALL order)
        let offboarding = [true, false, true, true, false, false, false, false];
        let none = [false; 8];
        for (who, expected) in [
            (f.owner, offboarding),
            (f.admin, offboarding),
            (f.ws_admin, none),
            (f.outsider, none),
        ] {
            for (action, allowed) in Action::ALL.into_iter().zip(expected) {
                assert_eq!(
                    decide_access(&after, who, personal, action).is_allowed(),
                    allowed,
                    "{who:?} {action:?}"
                );
            }
        }
        // While the user is active, their personal workspace is theirs alone.
        assert!(!decide_access(&f.directory, f.owner, personal, Action::View).is_allowed());
    }
}
