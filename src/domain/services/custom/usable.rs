//! Where a custom service may back an authentication.
//!
//! A custom service is seen by whoever may view the authentications of its workspace
//! ([`CustomService::visible_to`]). It may back an authentication in workspace `W` only when
//! the caller sees it and every member who can see the authentication in `W` can see the
//! service too: its workspace is `W`, or is reachable from `W` under the rule authentications
//! follow for resolution ([`reachable`]: the organization workspace of `W`'s organization).
//! So a personal service backs authentications only in that personal workspace, a shared
//! workspace's service only in that workspace, and an organization workspace's service in
//! every workspace of that organization (not in personal workspaces).

use super::CustomService;
use crate::domain::access::reachable;
use crate::domain::directory::Directory;
use crate::domain::ids::{UserId, WorkspaceId};

/// What the service is to do for the authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceUse {
    /// Back a new authentication: the service must not be retired.
    NewAuthentication,
    /// Keep backing an authentication that moves to another workspace (retired or not).
    Move,
}

/// Why a custom service may not back an authentication in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceUseError {
    /// The caller may not see the service: it refuses like an unknown one.
    Hidden,
    /// The service is retired: it backs no new authentications.
    Retired,
    /// Some who may see the authentication there could not see the service.
    NotReachable,
}

/// Decides whether `service` may back an authentication of `actor` in `workspace`.
pub fn check_use(
    service: &CustomService,
    directory: &Directory,
    actor: UserId,
    workspace: WorkspaceId,
    purpose: ServiceUse,
) -> Result<(), ServiceUseError> {
    if !service.visible_to(directory, actor) {
        return Err(ServiceUseError::Hidden);
    }
    if service.retired && purpose == ServiceUse::NewAuthentication {
        return Err(ServiceUseError::Retired);
    }
    if !reachable(directory, service.workspace, workspace) {
        return Err(ServiceUseError::NotReachable);
    }
    Ok(())
}
