//! Access checks that run before a command is decided, so that a flow which asks someone else
//! first (a person at an OAuth2 provider) is refused by the same rule, with the same answer,
//! that the command itself would meet. The command still decides again when it lands.

use crate::crypto::SealedSecret;
use crate::domain::access::{decide_access, Action};
use crate::domain::authentication::{Authentication, AuthenticationError};
use crate::domain::directory::Directory;
use crate::domain::ids::{AuthenticationId, UserId, WorkspaceId};

use super::{App, AppError, Caller};

impl App {
    /// Refuses `action` in `workspace` unless the caller's role allows it (the domain's
    /// `AccessDenied`, as the command would answer).
    pub async fn require_access_in(
        &self,
        caller: &Caller,
        workspace: WorkspaceId,
        action: Action,
    ) -> Result<(), AppError> {
        let model = self.model().model().read().await;
        require(&model.directory, caller.user, workspace, action)
    }

    /// The authentication, when the caller may see it and take `action` on it: a hidden one
    /// answers like a missing one (`NotFound`); a visible one whose workspace role does not
    /// allow `action` answers `AccessDenied`.
    pub async fn authentication_for(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        action: Action,
    ) -> Result<Authentication<SealedSecret>, AppError> {
        let model = self.model().model().read().await;
        let auth = model
            .current(id)
            .filter(|a| model.allows(caller.user, a.workspace, Action::View))
            .ok_or(AppError::NotFound)?;
        require(&model.directory, caller.user, auth.workspace, action)?;
        Ok(auth)
    }
}

/// The access rule as an application error.
pub(super) fn require(
    directory: &Directory,
    user: UserId,
    workspace: WorkspaceId,
    action: Action,
) -> Result<(), AppError> {
    decide_access(directory, user, workspace, action)
        .into_result()
        .map_err(|reason| AuthenticationError::AccessDenied {
            action,
            workspace,
            reason,
        })?;
    Ok(())
}
