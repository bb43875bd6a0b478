//! Access refusals in words a person reads: the action, the workspace by its name and why,
//! instead of the API's `may not MoveTo in <uuid>`.

use crate::app::AppError;
use crate::domain::access::{Action, DenyReason};
use crate::domain::authentication::AuthenticationError;
use crate::domain::ids::WorkspaceId;
use crate::domain::services::CustomServiceError;

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

/// An access refusal of a create (of an authentication or a custom service) in words, with
/// the workspace named by `name_of`; `None` for any other refusal.
pub(super) fn create_refusal(
    error: &AppError,
    name_of: impl Fn(WorkspaceId) -> Option<String>,
) -> Option<String> {
    let (action, workspace, reason) = match error {
        AppError::Authentication(AuthenticationError::AccessDenied {
            action,
            workspace,
            reason,
        }) => (*action, *workspace, reason),
        AppError::CustomService(CustomServiceError::AccessDenied { workspace, reason }) => {
            (Action::CreateService, *workspace, reason)
        }
        _ => return None,
    };
    let named = name_of(workspace).unwrap_or_else(|| "that workspace".to_owned());
    Some(access_refusal(action, &named, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::WorkspaceRole;

    #[test]
    fn a_refused_create_names_the_workspace_and_the_role() {
        let workspace = WorkspaceId::new();
        let error = AppError::CustomService(CustomServiceError::AccessDenied {
            workspace,
            reason: DenyReason::WorkspaceRoleTooLow {
                role: WorkspaceRole::Viewer,
                action: Action::CreateService,
            },
        });
        let words = create_refusal(&error, |_| Some("Sales".into()));
        assert_eq!(
            words.as_deref(),
            Some("You may not define custom services in Sales: your role there (Viewer) does not allow it.")
        );
        assert_eq!(create_refusal(&AppError::NotFound, |_| None), None);
    }
}
