//! Pure access decisions: may this user do this action in this workspace?

use crate::domain::directory::{Directory, OrgRole, WorkspaceKind, WorkspaceRole, WorkspaceScope};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use crate::domain::principals::Principal;
use serde::{Deserialize, Serialize};

/// Something a user wants to do with the authentications of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    /// See authentications (metadata only, never secrets).
    View,
    /// Resolve authentication fields inside a workflow.
    Use,
    /// Create, rename, re-authenticate, change scopes or delete.
    Edit,
    /// Move an authentication out of this workspace.
    MoveFrom,
    /// Move an authentication into this workspace.
    MoveTo,
    /// Define a custom service here.
    CreateService,
    /// Restore an authentication to an earlier version.
    Restore,
    /// Permanently purge an authentication.
    Purge,
}

impl Action {
    /// Every action, for exhaustive tests and documentation.
    pub const ALL: [Action; 8] = [
        Action::View,
        Action::Use,
        Action::Edit,
        Action::MoveFrom,
        Action::MoveTo,
        Action::CreateService,
        Action::Restore,
        Action::Purge,
    ];

    /// Whether the action only reads or uses (as opposed to changing).
    pub fn is_read(self) -> bool {
        matches!(self, Action::View | Action::Use)
    }
}

/// Why access was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// The workspace does not exist.
    #[error("workspace {0} does not exist")]
    UnknownWorkspace(WorkspaceId),
    /// The user is deactivated: they may do nothing.
    #[error("user is deactivated")]
    Deactivated,
    /// The personal workspace belongs to someone else.
    #[error("workspace {workspace} is another user's personal workspace")]
    NotOwner {
        /// The workspace.
        workspace: WorkspaceId,
    },
    /// The user is not a member of the organization owning the workspace.
    #[error("user is not a member of organization {organization}")]
    NotOrganizationMember {
        /// The organization.
        organization: OrganizationId,
    },
    /// The user is neither a workspace member nor an organization Owner/Admin.
    #[error("user is not a member of workspace {workspace}")]
    NotWorkspaceMember {
        /// The workspace.
        workspace: WorkspaceId,
    },
    /// The user's organization role does not allow the action.
    #[error("organization role {role:?} may not {action:?} here")]
    OrgRoleTooLow {
        /// The user's role.
        role: OrgRole,
        /// The refused action.
        action: Action,
    },
    /// The user's workspace role does not allow the action.
    #[error("workspace role {role:?} may not {action:?} here")]
    WorkspaceRoleTooLow {
        /// The user's role.
        role: WorkspaceRole,
        /// The refused action.
        action: Action,
    },
}

/// The outcome of an access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The action is allowed.
    Allowed,
    /// The action is refused, with the reason.
    Denied(DenyReason),
}

impl Access {
    /// Whether the action is allowed.
    pub fn is_allowed(self) -> bool {
        matches!(self, Access::Allowed)
    }
    /// Converts to a `Result` for `?` chaining.
    pub fn into_result(self) -> Result<(), DenyReason> {
        match self {
            Access::Allowed => Ok(()),
            Access::Denied(reason) => Err(reason),
        }
    }
}

/// Decides whether `user` may perform `action` on authentications in `workspace`.
///
/// Personal: only the owner, every action. Organization workspace: every member may
/// View/Use; Owner/Admin may do everything. Shared workspace: Viewer may View/Use;
/// Editor/Admin everything; organization Owner/Admin everything even without membership.
pub fn decide_access(
    directory: &Directory,
    user: UserId,
    workspace: WorkspaceId,
    action: Action,
) -> Access {
    let Some(ws) = directory.workspace(workspace) else {
        return Access::Denied(DenyReason::UnknownWorkspace(workspace));
    };
    if !directory.is_active(user) {
        return Access::Denied(DenyReason::Deactivated);
    }
    match ws.scope {
        WorkspaceScope::Personal { owner } => {
            if owner == user || offboards(directory, user, owner, action) {
                Access::Allowed
            } else {
                Access::Denied(DenyReason::NotOwner { workspace })
            }
        }
        WorkspaceScope::Organization { organization } => {
            match directory.org_role(organization, user) {
                None => Access::Denied(DenyReason::NotOrganizationMember { organization }),
                Some(role) if role.is_manager() || action.is_read() => Access::Allowed,
                Some(role) => Access::Denied(DenyReason::OrgRoleTooLow { role, action }),
            }
        }
        WorkspaceScope::Shared { organization } => {
            let Some(org_role) = directory.org_role(organization, user) else {
                return Access::Denied(DenyReason::NotOrganizationMember { organization });
            };
            if org_role.is_manager() {
                return Access::Allowed;
            }
            match directory.workspace_role(workspace, user) {
                None => Access::Denied(DenyReason::NotWorkspaceMember { workspace }),
                Some(WorkspaceRole::Admin | WorkspaceRole::Editor) => Access::Allowed,
                Some(WorkspaceRole::Viewer) if action.is_read() => Access::Allowed,
                Some(role) => Access::Denied(DenyReason::WorkspaceRoleTooLow { role, action }),
            }
        }
    }
}

/// Offboarding: the owners and admins of a deactivated user's organizations may see the
/// authentications of their personal workspace, move them out (a transfer) and edit or delete
/// them; never use, restore or purge them.
fn offboards(directory: &Directory, user: UserId, owner: UserId, action: Action) -> bool {
    matches!(action, Action::View | Action::Edit | Action::MoveFrom)
        && crate::domain::principals::may_offboard(directory, user, owner).is_some()
}

/// Whether what lives in `home` (an authentication, or a custom service) can be used from
/// `from` (the workspace a workflow runs in, or where an authentication of the service is):
/// the same workspace, or the organization workspace of `from`'s organization. Everyone who
/// may view the authentications of `from` may then view those of `home` too (members of a
/// shared workspace are members of its organization), which is why the same rule decides
/// resolution and which custom services may back an authentication.
pub fn reachable(directory: &Directory, home: WorkspaceId, from: WorkspaceId) -> bool {
    if home == from {
        return true;
    }
    match (directory.workspace(home), directory.workspace(from)) {
        (Some(h), Some(f)) => {
            h.kind() == WorkspaceKind::Organization
                && h.organization().is_some()
                && h.organization() == f.organization()
        }
        _ => false,
    }
}

/// Why a visible authentication may not be used by a resolve. The text is recorded in the
/// audit trail as the refusal's reason, so it stays as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// It is deleted (restorable, but not usable).
    #[error("it is deleted")]
    Deleted,
    /// The user's role does not allow using it.
    #[error("this user may not use it")]
    UserMayNot,
    /// The workflow's workspace may not use it (not the user's, or out of the
    /// authentication's reach).
    #[error("a workflow in this workspace cannot use it")]
    WorkspaceMayNot,
}

/// Whether `user` may resolve an authentication that lives in `home` (and that the user may
/// see) for a workflow step running in `from`: it must be live, the user's role must allow
/// `Use` where it lives and where the workflow runs, and `home` must be reachable from `from`.
pub fn decide_resolve(
    directory: &Directory,
    user: UserId,
    home: WorkspaceId,
    is_live: bool,
    from: WorkspaceId,
) -> Result<(), Unusable> {
    let may_use = |workspace| decide_access(directory, user, workspace, Action::Use).is_allowed();
    if !is_live {
        return Err(Unusable::Deleted);
    }
    if !may_use(home) {
        return Err(Unusable::UserMayNot);
    }
    if !may_use(from) || !reachable(directory, home, from) {
        return Err(Unusable::WorkspaceMayNot);
    }
    Ok(())
}

/// Why a principal may not resolve for the user it names. The texts are recorded in the audit
/// trail as the refusal's reason and name the request's field, so they stay as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OnBehalfRefusal {
    /// A user named someone else.
    #[error("user: users resolve only for themselves; workflow runners resolve for others")]
    OnlyForThemselves,
    /// A runner named nobody: a bad request, not a lack of rights.
    #[error("user: is required for workflow runners")]
    RunnerNamedNobody,
    /// Auditors read history and audit, never secrets.
    #[error("principal: auditors never receive secrets")]
    AuditorsNeverReceiveSecrets,
    /// The named user is deactivated (offboarded): nothing is resolved for them.
    #[error("user: is deactivated; nothing is resolved for them")]
    UserDeactivated,
}

impl OnBehalfRefusal {
    /// The request field the refusal is about: `user`, or `principal` for an auditor.
    pub fn field(self) -> Option<String> {
        let field = match self {
            OnBehalfRefusal::OnlyForThemselves
            | OnBehalfRefusal::RunnerNamedNobody
            | OnBehalfRefusal::UserDeactivated => "user",
            OnBehalfRefusal::AuditorsNeverReceiveSecrets => "principal",
        };
        Some(field.to_owned())
    }

    /// Whether the caller lacks the right (recorded in audit), rather than sent a bad request.
    pub fn is_lack_of_rights(self) -> bool {
        !matches!(self, OnBehalfRefusal::RunnerNamedNobody)
    }
}

/// For whom `principal` resolves when the request names `named`: a user only for themselves
/// (naming nobody means themselves), a runner for the active user it names, an auditor never.
pub fn resolving_user(
    directory: &Directory,
    principal: &Principal,
    named: Option<UserId>,
) -> Result<UserId, OnBehalfRefusal> {
    match (principal, named) {
        (Principal::Runner { .. }, Some(user))
            if directory.users.contains_key(&user) && !directory.is_active(user) =>
        {
            Err(OnBehalfRefusal::UserDeactivated)
        }
        (Principal::User(me), None) => Ok(*me),
        (Principal::User(me), Some(user)) if user == *me => Ok(*me),
        (Principal::User(_), Some(_)) => Err(OnBehalfRefusal::OnlyForThemselves),
        (Principal::Runner { .. }, Some(user)) => Ok(user),
        (Principal::Runner { .. }, None) => Err(OnBehalfRefusal::RunnerNamedNobody),
        (Principal::Auditor { .. }, _) => Err(OnBehalfRefusal::AuditorsNeverReceiveSecrets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::fixtures::fixture;

    /// Expected outcome per action, in `Action::ALL` order.
    const ALL: [bool; 8] = [true; 8];
    const NONE: [bool; 8] = [false; 8];
    const READ: [bool; 8] = [true, true, false, false, false, false, false, false];

    #[test]
    fn every_role_by_workspace_kind_by_action() {
        let f = fixture();
        let own = |u| f.personal(u);
        // (who, workspace, expected per action)
        let table = [
            // Personal workspace: only its owner.
            ("owner in own personal", f.owner, own(f.owner), ALL),
            ("member in own personal", f.member, own(f.member), ALL),
            ("outsider in own personal", f.outsider, own(f.outsider), ALL),
            (
                "org owner in other user's personal",
                f.owner,
                own(f.member),
                NONE,
            ),
            (
                "org admin in other user's personal",
                f.admin,
                own(f.member),
                NONE,
            ),
            (
                "member in other user's personal",
                f.member,
                own(f.ws_editor),
                NONE,
            ),
            // Organization workspace.
            ("org owner in org workspace", f.owner, f.org_workspace, ALL),
            ("org admin in org workspace", f.admin, f.org_workspace, ALL),
            (
                "org member in org workspace",
                f.member,
                f.org_workspace,
                READ,
            ),
            (
                "ws admin (org member) in org workspace",
                f.ws_admin,
                f.org_workspace,
                READ,
            ),
            (
                "not a member in org workspace",
                f.outsider,
                f.org_workspace,
                NONE,
            ),
            // Shared workspace.
            (
                "org owner (no ws membership) in shared",
                f.owner,
                f.shared,
                ALL,
            ),
            (
                "org admin (no ws membership) in shared",
                f.admin,
                f.shared,
                ALL,
            ),
            ("ws admin in shared", f.ws_admin, f.shared, ALL),
            ("ws editor in shared", f.ws_editor, f.shared, ALL),
            ("ws viewer in shared", f.ws_viewer, f.shared, READ),
            (
                "org member without ws membership in shared",
                f.member,
                f.shared,
                NONE,
            ),
            ("not a member in shared", f.outsider, f.shared, NONE),
        ];
        for (label, user, workspace, expected) in table {
            for (action, allowed) in Action::ALL.into_iter().zip(expected) {
                let access = decide_access(&f.directory, user, workspace, action);
                assert_eq!(
                    access.is_allowed(),
                    allowed,
                    "{label}: {action:?} gave {access:?}"
                );
            }
        }
    }

    #[test]
    fn denials_carry_reasons() {
        let f = fixture();
        let d = |u, w, a| decide_access(&f.directory, u, w, a);
        assert_eq!(
            d(f.owner, f.personal(f.member), Action::View),
            Access::Denied(DenyReason::NotOwner {
                workspace: f.personal(f.member)
            })
        );
        assert_eq!(
            d(f.member, f.org_workspace, Action::Edit),
            Access::Denied(DenyReason::OrgRoleTooLow {
                role: OrgRole::Member,
                action: Action::Edit
            })
        );
        assert_eq!(
            d(f.outsider, f.shared, Action::View),
            Access::Denied(DenyReason::NotOrganizationMember {
                organization: f.org
            })
        );
        assert_eq!(
            d(f.member, f.shared, Action::View),
            Access::Denied(DenyReason::NotWorkspaceMember {
                workspace: f.shared
            })
        );
        assert_eq!(
            d(f.ws_viewer, f.shared, Action::Purge),
            Access::Denied(DenyReason::WorkspaceRoleTooLow {
                role: WorkspaceRole::Viewer,
                action: Action::Purge
            })
        );
        let ghost = WorkspaceId::new();
        assert_eq!(
            d(f.owner, ghost, Action::View),
            Access::Denied(DenyReason::UnknownWorkspace(ghost))
        );
        assert_eq!(
            d(f.member, f.org_workspace, Action::Edit).into_result(),
            Err(DenyReason::OrgRoleTooLow {
                role: OrgRole::Member,
                action: Action::Edit
            })
        );
    }

    #[test]
    fn reachable_from_the_same_workspace_or_the_organization_workspace_only() {
        let f = fixture();
        let r = |home, from| reachable(&f.directory, home, from);
        let own = f.personal(f.member);
        assert!(r(own, own));
        assert!(r(f.shared, f.shared));
        assert!(r(f.org_workspace, f.shared));
        assert!(r(f.org_workspace, f.org_workspace));
        assert!(!r(f.shared, f.org_workspace));
        assert!(!r(own, f.shared));
        assert!(!r(f.org_workspace, own));
        assert!(!r(own, f.personal(f.owner)));
        assert!(!r(WorkspaceId::new(), f.shared));
    }

    #[test]
    fn who_may_resolve_what_from_where() {
        let f = fixture();
        let own = |u| f.personal(u);
        let ok = Ok(());
        let deleted = Err(Unusable::Deleted);
        let user_may_not = Err(Unusable::UserMayNot);
        let workspace_may_not = Err(Unusable::WorkspaceMayNot);
        // (case, user, home, live, from, expected)
        let table = [
            (
                "own personal, from it",
                f.member,
                own(f.member),
                true,
                own(f.member),
                ok,
            ),
            (
                "own personal, deleted",
                f.member,
                own(f.member),
                false,
                own(f.member),
                deleted,
            ),
            (
                "viewer, shared, from shared",
                f.ws_viewer,
                f.shared,
                true,
                f.shared,
                ok,
            ),
            (
                "viewer, org workspace, from shared",
                f.ws_viewer,
                f.org_workspace,
                true,
                f.shared,
                ok,
            ),
            (
                "member, org workspace, from itself",
                f.member,
                f.org_workspace,
                true,
                f.org_workspace,
                ok,
            ),
            (
                "member, org workspace, from a shared one it is not in",
                f.member,
                f.org_workspace,
                true,
                f.shared,
                workspace_may_not,
            ),
            (
                "editor, own personal, from shared",
                f.ws_editor,
                own(f.ws_editor),
                true,
                f.shared,
                workspace_may_not,
            ),
            (
                "org owner, shared, from org workspace",
                f.owner,
                f.shared,
                true,
                f.org_workspace,
                workspace_may_not,
            ),
            (
                "org owner, org workspace, from own personal",
                f.owner,
                f.org_workspace,
                true,
                own(f.owner),
                workspace_may_not,
            ),
            (
                "outsider, shared",
                f.outsider,
                f.shared,
                true,
                f.shared,
                user_may_not,
            ),
            (
                "deleted comes first",
                f.outsider,
                f.shared,
                false,
                f.shared,
                deleted,
            ),
        ];
        for (case, user, home, live, from, expected) in table {
            assert_eq!(
                decide_resolve(&f.directory, user, home, live, from),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn users_resolve_for_themselves_runners_for_whom_they_name_auditors_never() {
        let f = fixture();
        let mut directory = f.directory.clone();
        let (me, other, departed) = (f.member, f.owner, f.outsider);
        crate::domain::directory::apply(
            &mut directory,
            &crate::domain::directory::DirectoryEvent::UserDeactivated { user: departed },
        );
        let runner = Principal::Runner {
            id: crate::domain::ids::PrincipalId::new(),
            name: "CI".into(),
        };
        let auditor = Principal::Auditor {
            id: crate::domain::ids::PrincipalId::new(),
            name: "Audit".into(),
        };
        // (case, principal, named, expected, recorded as a lack of rights)
        let table = [
            (
                "user naming nobody",
                Principal::User(me),
                None,
                Ok(me),
                false,
            ),
            (
                "user naming themselves",
                Principal::User(me),
                Some(me),
                Ok(me),
                false,
            ),
            (
                "user naming another",
                Principal::User(me),
                Some(other),
                Err(OnBehalfRefusal::OnlyForThemselves),
                true,
            ),
            (
                "runner naming a user",
                runner.clone(),
                Some(other),
                Ok(other),
                false,
            ),
            (
                "runner naming a deactivated user",
                runner.clone(),
                Some(departed),
                Err(OnBehalfRefusal::UserDeactivated),
                true,
            ),
            (
                "runner naming nobody",
                runner,
                None,
                Err(OnBehalfRefusal::RunnerNamedNobody),
                false,
            ),
            (
                "auditor naming a user",
                auditor.clone(),
                Some(me),
                Err(OnBehalfRefusal::AuditorsNeverReceiveSecrets),
                true,
            ),
            (
                "auditor naming nobody",
                auditor,
                None,
                Err(OnBehalfRefusal::AuditorsNeverReceiveSecrets),
                true,
            ),
        ];
        for (case, principal, named, expected, lack_of_rights) in table {
            let decided = resolving_user(&directory, &principal, named);
            assert_eq!(decided, expected, "{case}");
            assert_eq!(
                decided.err().is_some_and(|r| r.is_lack_of_rights()),
                lack_of_rights,
                "{case}"
            );
        }
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn every_on_behalf_refusal_names_its_field() {
        let table = [
            (OnBehalfRefusal::OnlyForThemselves, "user"),
            (OnBehalfRefusal::RunnerNamedNobody, "user"),
            (OnBehalfRefusal::AuditorsNeverReceiveSecrets, "principal"),
        ];
        for (refusal, field) in table {
            assert_eq!(refusal.field().as_deref(), Some(field), "{refusal:?}");
            assert!(refusal.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
