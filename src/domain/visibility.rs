//! Who may see which parts of the directory and of the past. Hidden things answer like missing
//! ones, so each rule says only "visible or not"; the caller turns "not" into its not-found.

use crate::domain::access::{decide_access, Action};
use crate::domain::directory::Directory;
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use crate::domain::principals::Principal;

/// Whose member list is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembersOf {
    /// An organization's members and their roles: only its members see them.
    Organization(OrganizationId),
    /// A workspace's members and their roles: whoever may view its authentications.
    Workspace(WorkspaceId),
}

/// Whether `user` may list the members of `of`. A missing organization or workspace is not
/// visible either.
pub fn members_visible(directory: &Directory, user: UserId, of: MembersOf) -> bool {
    match of {
        MembersOf::Organization(organization) => directory
            .organizations
            .get(&organization)
            .is_some_and(|o| o.members.contains_key(&user)),
        MembersOf::Workspace(workspace) => {
            directory.workspace(workspace).is_some()
                && decide_access(directory, user, workspace, Action::View).is_allowed()
        }
    }
}

/// Why a principal may not look at the past of a workspace or an authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookBackRefusal {
    /// Runners only resolve; they never read the past.
    RunnersOnlyResolve,
    /// The workspace (or the authentication's workspace now) is hidden from the caller, or
    /// does not exist: answered as not found.
    Hidden,
}

/// Whether `principal` may ask what `workspace` held at a past time, or who could use an
/// authentication that lives in `workspace` now (`None`: it does not exist now). Auditors see
/// every past; a user sees the past of what they may view now; runners none.
pub fn may_look_back(
    directory: &Directory,
    principal: &Principal,
    workspace: Option<WorkspaceId>,
) -> Result<(), LookBackRefusal> {
    match principal {
        Principal::Auditor { .. } => Ok(()),
        Principal::Runner { .. } => Err(LookBackRefusal::RunnersOnlyResolve),
        Principal::User(user) => match workspace {
            Some(workspace)
                if members_visible(directory, *user, MembersOf::Workspace(workspace)) =>
            {
                Ok(())
            }
            _ => Err(LookBackRefusal::Hidden),
        },
    }
}

/// What an event of the log is about, for deciding who may see it on the event stream and in
/// webhook deliveries: the workspace it touches (an authentication's, a directory change's,
/// a custom service's home), the user whose API token or webhook subscription it concerns, or
/// the ledger's administration (key rotations, what names no workspace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventScope {
    /// Seen by whoever may view the authentications of the workspace now.
    Workspace(WorkspaceId),
    /// An API token or a webhook subscription of a user (`None`: a token of a runner or an
    /// auditor): that user and the administrators who manage them.
    Token(Option<UserId>),
    /// Administrators only.
    Administration,
}

/// Whether `principal` may see an event about `scope`: auditors every event, runners none
/// (they only resolve), a user the events of workspaces they may view, of their own tokens
/// (and, for an administrator, of the users they manage) and, for administrators, the
/// administration's. The same rule as reading the workspace now: a user never sees another's
/// personal workspace's events.
pub fn event_visible(directory: &Directory, principal: &Principal, scope: EventScope) -> bool {
    let user = match principal {
        Principal::Auditor { .. } => return true,
        Principal::Runner { .. } => return false,
        Principal::User(user) => *user,
    };
    match scope {
        EventScope::Workspace(workspace) => {
            decide_access(directory, user, workspace, Action::View).is_allowed()
        }
        EventScope::Token(Some(owner)) => {
            owner == user || crate::domain::principals::manages_user(directory, user, owner)
        }
        EventScope::Token(None) | EventScope::Administration => {
            crate::domain::principals::is_administrator(directory, user)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::fixtures::fixture;
    use crate::domain::ids::PrincipalId;

    /// An auditor and a workflow runner, for the tables below.
    fn auditor_and_runner() -> (Principal, Principal) {
        let auditor = Principal::Auditor {
            id: PrincipalId::new(),
            name: "Audit".into(),
        };
        let runner = Principal::Runner {
            id: PrincipalId::new(),
            name: "CI".into(),
        };
        (auditor, runner)
    }

    #[test]
    fn who_sees_which_member_list() {
        let f = fixture();
        let org = MembersOf::Organization(f.org);
        let shared = MembersOf::Workspace(f.shared);
        let org_workspace = MembersOf::Workspace(f.org_workspace);
        // (case, user, list, visible)
        let table = [
            (
                "org member sees the organization's members",
                f.member,
                org,
                true,
            ),
            (
                "workspace viewer sees the organization's members",
                f.ws_viewer,
                org,
                true,
            ),
            (
                "outsider does not see the organization's members",
                f.outsider,
                org,
                false,
            ),
            (
                "nobody sees a missing organization's members",
                f.owner,
                MembersOf::Organization(OrganizationId::new()),
                false,
            ),
            (
                "workspace viewer sees the shared workspace's members",
                f.ws_viewer,
                shared,
                true,
            ),
            (
                "org owner sees them without membership",
                f.owner,
                shared,
                true,
            ),
            (
                "org member outside the shared workspace does not",
                f.member,
                shared,
                false,
            ),
            (
                "org member sees the org workspace's members",
                f.member,
                org_workspace,
                true,
            ),
            (
                "outsider does not see the org workspace's",
                f.outsider,
                org_workspace,
                false,
            ),
            (
                "an owner sees their personal workspace's",
                f.member,
                MembersOf::Workspace(f.personal(f.member)),
                true,
            ),
            (
                "nobody else sees a personal workspace's",
                f.owner,
                MembersOf::Workspace(f.personal(f.member)),
                false,
            ),
            (
                "nobody sees a missing workspace's",
                f.owner,
                MembersOf::Workspace(WorkspaceId::new()),
                false,
            ),
        ];
        for (case, user, of, visible) in table {
            assert_eq!(members_visible(&f.directory, user, of), visible, "{case}");
        }
    }

    #[test]
    fn who_may_look_back_at_what() {
        let f = fixture();
        let (auditor, runner) = auditor_and_runner();
        let user = Principal::User;
        let hidden = Err(LookBackRefusal::Hidden);
        // (case, principal, workspace now, expected)
        let table = [
            (
                "auditor, any workspace",
                auditor.clone(),
                Some(f.shared),
                Ok(()),
            ),
            ("auditor, even a gone authentication", auditor, None, Ok(())),
            (
                "runner, its own kind of workspace",
                runner.clone(),
                Some(f.org_workspace),
                Err(LookBackRefusal::RunnersOnlyResolve),
            ),
            (
                "runner, nothing",
                runner,
                None,
                Err(LookBackRefusal::RunnersOnlyResolve),
            ),
            (
                "viewer, the shared workspace",
                user(f.ws_viewer),
                Some(f.shared),
                Ok(()),
            ),
            (
                "member, the org workspace",
                user(f.member),
                Some(f.org_workspace),
                Ok(()),
            ),
            (
                "member, a shared workspace it is not in",
                user(f.member),
                Some(f.shared),
                hidden,
            ),
            (
                "owner, someone else's personal workspace",
                user(f.owner),
                Some(f.personal(f.member)),
                hidden,
            ),
            (
                "user, a missing workspace",
                user(f.owner),
                Some(WorkspaceId::new()),
                hidden,
            ),
            (
                "user, a missing authentication",
                user(f.owner),
                None,
                hidden,
            ),
        ];
        for (case, principal, workspace, expected) in table {
            assert_eq!(
                may_look_back(&f.directory, &principal, workspace),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn who_sees_which_event_on_the_stream() {
        let f = fixture();
        let (auditor, runner) = auditor_and_runner();
        let user = Principal::User;
        let personal = EventScope::Workspace(f.personal(f.member));
        // (case, principal, scope, visible)
        let table = [
            (
                "auditor, someone's personal workspace",
                auditor.clone(),
                personal,
                true,
            ),
            (
                "auditor, administration",
                auditor,
                EventScope::Administration,
                true,
            ),
            (
                "runner, the org workspace",
                runner.clone(),
                EventScope::Workspace(f.org_workspace),
                false,
            ),
            (
                "runner, its own token",
                runner,
                EventScope::Token(None),
                false,
            ),
            (
                "owner of a personal workspace",
                user(f.member),
                personal,
                true,
            ),
            (
                "org owner, another's personal workspace",
                user(f.owner),
                personal,
                false,
            ),
            (
                "viewer, the shared workspace",
                user(f.ws_viewer),
                EventScope::Workspace(f.shared),
                true,
            ),
            (
                "member, a shared workspace it is not in",
                user(f.member),
                EventScope::Workspace(f.shared),
                false,
            ),
            (
                "member, the org workspace",
                user(f.member),
                EventScope::Workspace(f.org_workspace),
                true,
            ),
            (
                "outsider, the org workspace",
                user(f.outsider),
                EventScope::Workspace(f.org_workspace),
                false,
            ),
            (
                "a missing workspace",
                user(f.owner),
                EventScope::Workspace(WorkspaceId::new()),
                false,
            ),
            (
                "a user, their own token",
                user(f.member),
                EventScope::Token(Some(f.member)),
                true,
            ),
            (
                "a user, another's token",
                user(f.ws_viewer),
                EventScope::Token(Some(f.member)),
                false,
            ),
            (
                "an admin, a member's token",
                user(f.admin),
                EventScope::Token(Some(f.member)),
                true,
            ),
            (
                "an admin, a runner's token",
                user(f.admin),
                EventScope::Token(None),
                true,
            ),
            (
                "a member, a runner's token",
                user(f.member),
                EventScope::Token(None),
                false,
            ),
            (
                "an admin, administration",
                user(f.admin),
                EventScope::Administration,
                true,
            ),
            (
                "a member, administration",
                user(f.member),
                EventScope::Administration,
                false,
            ),
        ];
        for (case, principal, scope, visible) in table {
            assert_eq!(
                event_visible(&f.directory, &principal, scope),
                visible,
                "{case}"
            );
        }
    }
}
