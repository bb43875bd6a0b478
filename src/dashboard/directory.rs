//! The Directory page: organizations, workspaces, their members and roles, as the API's list
//! operations answer the signed-in user (members only of the organizations and workspaces they
//! may see them of).

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{render, session_of, to_sign_in};
use crate::domain::ids::UserId;
use crate::http::handlers::directory::{org_role_name, workspace_kind_name, workspace_role_name};
use crate::http::SharedState;

/// A member and their role.
struct Member {
    name: String,
    role: &'static str,
}

/// An organization the user belongs to.
struct OrganizationRow {
    name: String,
    your_role: &'static str,
    /// `None` when the user may not list its members.
    members: Option<Vec<Member>>,
}

/// A workspace the user may view.
struct WorkspaceRow {
    name: String,
    kind: &'static str,
    organization: String,
    /// Members of a shared workspace the user may list them of.
    members: Option<Vec<Member>>,
}

#[derive(Template)]
#[template(path = "dashboard/directory.html")]
struct DirectoryPage {
    csrf: String,
    organizations: Vec<OrganizationRow>,
    workspaces: Vec<WorkspaceRow>,
}

/// Display names of the users the signed-in user may list; anyone else shows as their id.
pub(super) struct Names(HashMap<UserId, String>);

impl Names {
    pub(super) async fn for_user(state: &SharedState, user: UserId) -> Names {
        Names(
            state
                .app
                .users_visible_to(user)
                .await
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect(),
        )
    }

    /// Members with their roles, by name, as the API names the roles.
    fn members<R>(
        &self,
        members: Vec<(UserId, R)>,
        role_name: fn(R) -> &'static str,
    ) -> Vec<Member> {
        members
            .into_iter()
            .map(|(member, role)| Member {
                name: self.of(member),
                role: role_name(role),
            })
            .collect()
    }

    pub(super) fn of(&self, user: UserId) -> String {
        self.0
            .get(&user)
            .cloned()
            .unwrap_or_else(|| format!("user:{user}"))
    }
}

/// `GET /ui/directory`.
pub async fn directory(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let user = session.user;
    let names = Names::for_user(&state, user).await;
    let mut organizations = Vec::new();
    let mut organization_names = HashMap::new();
    for (organization, role) in state.app.organizations_of(user).await {
        organization_names.insert(organization.id, organization.name.clone());
        let members = state
            .app
            .organization_members(user, organization.id)
            .await
            .ok()
            .map(|members| names.members(members, org_role_name));
        organizations.push(OrganizationRow {
            name: organization.name,
            your_role: org_role_name(role),
            members,
        });
    }
    let mut workspaces = Vec::new();
    for workspace in state.app.workspaces_visible_to(user).await {
        let kind = workspace_kind_name(workspace.kind());
        let members = if kind == "shared" {
            state
                .app
                .workspace_members(user, workspace.id)
                .await
                .ok()
                .map(|members| names.members(members, workspace_role_name))
        } else {
            None
        };
        let organization = workspace
            .organization()
            .map(|o| {
                organization_names
                    .get(&o)
                    .cloned()
                    .unwrap_or_else(|| o.to_string())
            })
            .unwrap_or_default();
        workspaces.push(WorkspaceRow {
            name: workspace.name,
            kind,
            organization,
            members,
        });
    }
    organizations.sort_by(|a, b| a.name.cmp(&b.name));
    workspaces.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    render(
        StatusCode::OK,
        &DirectoryPage {
            csrf: session.csrf.clone(),
            organizations,
            workspaces,
        },
    )
}
