//! Access refusals in words a person reads: the action, the workspace by its name and why,
//! instead of the API's `may not MoveTo in <uuid>`.

use crate::domain::access::{Action, DenyReason};

/// What `action` is, as the end of "You may not …".
fn doing(action: Action) -> &'static str {
    match action {
        Action::View => "see authentications in",
        Action::Use => "use authentications in",
        Action::Edit => "change authentications in",
        Action::MoveFrom => "move authentications out of",
        Action::MoveTo => "move authentications into",
        Action::CreateService => "define custom services in",
        Action::Restore => "restore authentications in",
        Action::Purge => "purge authentications in",
    }
}

/// Why, as a person reads it.
fn because(reason: &DenyReason) -> String {
    match reason {
        DenyReason::UnknownWorkspace(_) => "it does not exist".into(),
        DenyReason::Deactivated => "your account is deactivated".into(),
        DenyReason::NotOwner { .. } => "it is another person's personal workspace".into(),
        DenyReason::NotOrganizationMember { .. } => {
            "you are not a member of its organization".into()
        }
        DenyReason::NotWorkspaceMember { .. } => "you are not a member of it".into(),
        DenyReason::OrgRoleTooLow { role, .. } => {
            format!("your organization role ({role:?}) does not allow it")
        }
        DenyReason::WorkspaceRoleTooLow { role, .. } => {
            format!("your role there ({role:?}) does not allow it")
        }
    }
}

/// "You may not move authentications into Sales: your role there (Viewer) does not allow it."
pub(super) fn access_refusal(action: Action, workspace: &str, reason: &DenyReason) -> String {
    format!(
        "You may not {} {workspace}: {}.",
        doing(action),
        because(reason)
    )
}
