//! The directory: organizations, users, workspaces and memberships, event-sourced.

mod commands;
mod decide;
mod email;
mod events;
#[cfg(test)]
pub(crate) mod fixtures;
mod membership;
mod state;
#[cfg(test)]
mod tests;

pub use commands::DirectoryCommand;
pub use decide::{decide, DirectoryError};
pub use email::{EmailAddress, EmailProblem, MAX_EMAIL_LEN};
pub use events::{DirectoryEvent, DirectorySubject};
pub use membership::{membership_command, Membership};
pub use state::{apply, Directory, Organization, User, Workspace, WorkspaceScope};

use serde::{Deserialize, Serialize};

/// Maximum length of organization, workspace and user names, in characters.
pub const MAX_DIRECTORY_NAME_LEN: usize = 80;

/// The three kinds of workspace an authentication can live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkspaceKind {
    /// One per user; only its owner sees it.
    Personal,
    /// A sub-division of an organization with its own members.
    Shared,
    /// One per organization; every member of the organization sees it.
    Organization,
}

/// A user's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OrgRole {
    /// Full control of the organization.
    Owner,
    /// Administers the organization and its workspaces.
    Admin,
    /// Ordinary member.
    Member,
}

impl OrgRole {
    /// Owners and admins manage everything in the organization.
    pub fn is_manager(self) -> bool {
        matches!(self, OrgRole::Owner | OrgRole::Admin)
    }
}

/// A user's role in a shared workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkspaceRole {
    /// Administers the workspace.
    Admin,
    /// May edit authentications.
    Editor,
    /// May view and use authentications.
    Viewer,
}
