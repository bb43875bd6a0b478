//! The personas of every test world: one user per role in one organization ("Acme") with one
//! shared workspace ("Sales"), and each user's personal workspace. Both harnesses set up this
//! same cast: `app_support` with the app's directory commands, `http_support` through the HTTP
//! API (where the owner is the bootstrapped administrator and every persona gets a token).
//! Included by path (`#[path = "../support/personas.rs"]`) by those two harnesses.

#![allow(dead_code)] // Each harness uses the part it sets up with.

use credledger::domain::directory::{OrgRole, WorkspaceRole};

/// The name of the organization (on the app; over HTTP the bootstrap names it).
pub const ORGANIZATION: &str = "Acme";
/// The name of the shared workspace.
pub const SHARED_WORKSPACE: &str = "Sales";

/// One user of the test world, by the roles they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Persona {
    /// Owns the organization.
    Owner,
    /// Administers the organization.
    Admin,
    /// A member of the organization, in no shared workspace.
    Member,
    /// A member of the organization who administers the shared workspace.
    WsAdmin,
    /// A member of the organization who edits in the shared workspace.
    Editor,
    /// A member of the organization who views in the shared workspace.
    Viewer,
    /// In no organization at all.
    Outsider,
}

impl Persona {
    /// Every persona, in the order the harnesses create them.
    pub const ALL: [Persona; 7] = [
        Persona::Owner,
        Persona::Admin,
        Persona::Member,
        Persona::WsAdmin,
        Persona::Editor,
        Persona::Viewer,
        Persona::Outsider,
    ];

    /// The place of the persona in [`Persona::ALL`] (the order of the declaration), so a list
    /// made in that order is indexed by persona.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The user's name.
    pub fn name(self) -> &'static str {
        match self {
            Persona::Owner => "Owner",
            Persona::Admin => "Admin",
            Persona::Member => "Member",
            Persona::WsAdmin => "WsAdmin",
            Persona::Editor => "Editor",
            Persona::Viewer => "Viewer",
            Persona::Outsider => "Outsider",
        }
    }

    /// The user's e-mail address.
    pub fn email(self) -> String {
        format!("{}@example.com", self.name().to_lowercase())
    }

    /// The role in the organization; the owner's comes with creating it.
    pub fn org_role(self) -> Option<OrgRole> {
        match self {
            Persona::Owner => Some(OrgRole::Owner),
            Persona::Admin => Some(OrgRole::Admin),
            Persona::Member | Persona::WsAdmin | Persona::Editor | Persona::Viewer => {
                Some(OrgRole::Member)
            }
            Persona::Outsider => None,
        }
    }

    /// The role in the shared workspace.
    pub fn shared_role(self) -> Option<WorkspaceRole> {
        match self {
            Persona::WsAdmin => Some(WorkspaceRole::Admin),
            Persona::Editor => Some(WorkspaceRole::Editor),
            Persona::Viewer => Some(WorkspaceRole::Viewer),
            Persona::Owner | Persona::Admin | Persona::Member | Persona::Outsider => None,
        }
    }

    /// The personas the organization's creator adds to it, with their roles.
    pub fn org_members() -> impl Iterator<Item = (Persona, OrgRole)> {
        Persona::ALL
            .into_iter()
            .filter(|p| *p != Persona::Owner)
            .filter_map(|p| p.org_role().map(|role| (p, role)))
    }

    /// The personas added to the shared workspace, with their roles.
    pub fn shared_members() -> impl Iterator<Item = (Persona, WorkspaceRole)> {
        Persona::ALL
            .into_iter()
            .filter_map(|p| p.shared_role().map(|role| (p, role)))
    }
}

/// An organization role as the API writes it.
pub fn org_role_name(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Owner => "owner",
        OrgRole::Admin => "admin",
        OrgRole::Member => "member",
    }
}

/// A workspace role as the API writes it.
pub fn workspace_role_name(role: WorkspaceRole) -> &'static str {
    match role {
        WorkspaceRole::Admin => "admin",
        WorkspaceRole::Editor => "editor",
        WorkspaceRole::Viewer => "viewer",
    }
}
