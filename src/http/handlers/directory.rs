//! The directory over HTTP: organizations, workspaces, users, memberships and API tokens.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::access::Action;
use crate::domain::directory::{DirectoryCommand, OrgRole, WorkspaceKind, WorkspaceRole};
use crate::domain::ids::{OrganizationId, PrincipalId, TokenId, UserId, WorkspaceId};
use crate::domain::principals::{is_administrator, Principal};
use crate::http::dto::parse_id;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, Authenticated};
use crate::http::SharedState;

/// `POST /v1/organizations`: the caller becomes its owner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// Display name.
    pub name: String,
}

/// An organization the caller belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganizationBody {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Its organization workspace.
    pub workspace: Uuid,
    /// The caller's role (`owner`, `admin`, `member`).
    pub role: Option<&'static str>,
}

fn org_role_name(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Owner => "owner",
        OrgRole::Admin => "admin",
        OrgRole::Member => "member",
    }
}

fn workspace_role_name(role: WorkspaceRole) -> &'static str {
    match role {
        WorkspaceRole::Admin => "admin",
        WorkspaceRole::Editor => "editor",
        WorkspaceRole::Viewer => "viewer",
    }
}

/// `POST /v1/organizations`.
pub async fn create_organization(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewOrganization>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let organization = OrganizationId::new();
    let workspace = WorkspaceId::new();
    state
        .app
        .directory_as(
            &caller,
            DirectoryCommand::CreateOrganization {
                organization,
                workspace,
                name: body.name.clone(),
                owner: caller.user,
            },
        )
        .await?;
    let body = OrganizationBody {
        id: organization.as_uuid(),
        name: body.name.trim().to_owned(),
        workspace: workspace.as_uuid(),
        role: Some("owner"),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/organizations`: those the caller belongs to.
pub async fn list_organizations(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let model = state.app.model().model().read().await;
    let items: Vec<OrganizationBody> = model
        .directory
        .organizations
        .values()
        .filter_map(|o| {
            let role = o.members.get(&user)?;
            Some(OrganizationBody {
                id: o.id.as_uuid(),
                name: o.name.clone(),
                workspace: o.workspace.as_uuid(),
                role: Some(org_role_name(*role)),
            })
        })
        .collect();
    Ok(Json(items).into_response())
}

/// `POST /v1/workspaces`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// The organization it divides.
    pub organization: Uuid,
    /// Display name, unique in the organization.
    pub name: String,
}

/// A workspace the caller can see.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceBody {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `personal`, `shared` or `organization`.
    pub kind: &'static str,
    /// Owning organization (none for personal workspaces).
    pub organization: Option<Uuid>,
}

/// `POST /v1/workspaces`.
pub async fn create_workspace(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let workspace = WorkspaceId::new();
    state
        .app
        .directory_as(
            &caller,
            DirectoryCommand::CreateWorkspace {
                workspace,
                organization: OrganizationId::from_uuid(body.organization),
                name: body.name.clone(),
            },
        )
        .await?;
    let body = WorkspaceBody {
        id: workspace.as_uuid(),
        name: body.name.trim().to_owned(),
        kind: "shared",
        organization: Some(body.organization),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/workspaces`: those the caller may view.
pub async fn list_workspaces(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let model = state.app.model().model().read().await;
    let items: Vec<WorkspaceBody> = model
        .directory
        .workspaces
        .values()
        .filter(|w| model.allows(user, w.id, Action::View))
        .map(|w| WorkspaceBody {
            id: w.id.as_uuid(),
            name: w.name.clone(),
            kind: match w.kind() {
                WorkspaceKind::Personal => "personal",
                WorkspaceKind::Shared => "shared",
                WorkspaceKind::Organization => "organization",
            },
            organization: w.organization().map(|o| o.as_uuid()),
        })
        .collect();
    Ok(Json(items).into_response())
}

/// `POST /v1/users` (administrators).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Display name.
    pub name: String,
    /// E-mail address, unique.
    pub email: String,
}

/// A user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserBody {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Their personal workspace.
    pub personal_workspace: Uuid,
}

/// `POST /v1/users`.
pub async fn create_user(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let user = UserId::new();
    let personal = WorkspaceId::new();
    state
        .app
        .directory_as(
            &caller,
            DirectoryCommand::CreateUser {
                user,
                personal_workspace: personal,
                name: body.name,
                email: body.email,
            },
        )
        .await?;
    let model = state.app.model().model().read().await;
    let created = model
        .directory
        .users
        .get(&user)
        .ok_or_else(ApiError::internal)?;
    let body = UserBody {
        id: user.as_uuid(),
        name: created.name.clone(),
        email: created.email.clone(),
        personal_workspace: personal.as_uuid(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/users`: everyone for administrators, oneself otherwise.
pub async fn list_users(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let model = state.app.model().model().read().await;
    let admin = is_administrator(&model.directory, user);
    let items: Vec<UserBody> = model
        .directory
        .users
        .values()
        .filter(|u| admin || u.id == user)
        .map(|u| UserBody {
            id: u.id.as_uuid(),
            name: u.name.clone(),
            email: u.email.clone(),
            personal_workspace: u.personal_workspace.as_uuid(),
        })
        .collect();
    Ok(Json(items).into_response())
}

/// `POST /v1/memberships`: adds a member (or changes the role of an existing one) of exactly
/// one organization or shared workspace.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMembership {
    /// The organization (roles `owner`, `admin`, `member`).
    #[serde(default)]
    pub organization: Option<Uuid>,
    /// The shared workspace (roles `admin`, `editor`, `viewer`).
    #[serde(default)]
    pub workspace: Option<Uuid>,
    /// The user.
    pub user: Uuid,
    /// The role.
    pub role: String,
}

/// A membership.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MembershipBody {
    /// Organization, for organization memberships.
    pub organization: Option<Uuid>,
    /// Workspace, for workspace memberships.
    pub workspace: Option<Uuid>,
    /// The user.
    pub user: Uuid,
    /// The role.
    pub role: &'static str,
}

/// `POST /v1/memberships`.
pub async fn create_membership(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewMembership>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let user = UserId::from_uuid(body.user);
    let (command, answer) = match (body.organization, body.workspace) {
        (Some(org), None) => {
            let organization = OrganizationId::from_uuid(org);
            let role = match body.role.as_str() {
                "owner" => OrgRole::Owner,
                "admin" => OrgRole::Admin,
                "member" => OrgRole::Member,
                other => {
                    return Err(ApiError::validation(format!(
                        "role: {other:?} is not an organization role (owner, admin, member)"
                    )))
                }
            };
            let existing = state
                .app
                .model()
                .model()
                .read()
                .await
                .directory
                .org_role(organization, user);
            let command = match existing {
                Some(_) => DirectoryCommand::ChangeOrgRole {
                    organization,
                    user,
                    role,
                },
                None => DirectoryCommand::AddUserToOrganization {
                    organization,
                    user,
                    role,
                },
            };
            let answer = MembershipBody {
                organization: Some(org),
                workspace: None,
                user: body.user,
                role: org_role_name(role),
            };
            (command, answer)
        }
        (None, Some(ws)) => {
            let workspace = WorkspaceId::from_uuid(ws);
            let role = match body.role.as_str() {
                "admin" => WorkspaceRole::Admin,
                "editor" => WorkspaceRole::Editor,
                "viewer" => WorkspaceRole::Viewer,
                other => {
                    return Err(ApiError::validation(format!(
                        "role: {other:?} is not a workspace role (admin, editor, viewer)"
                    )))
                }
            };
            let existing = state
                .app
                .model()
                .model()
                .read()
                .await
                .directory
                .workspace_role(workspace, user);
            let command = match existing {
                Some(_) => DirectoryCommand::ChangeWorkspaceRole {
                    workspace,
                    user,
                    role,
                },
                None => DirectoryCommand::AddWorkspaceMember {
                    workspace,
                    user,
                    role,
                },
            };
            let answer = MembershipBody {
                organization: None,
                workspace: Some(ws),
                user: body.user,
                role: workspace_role_name(role),
            };
            (command, answer)
        }
        _ => {
            return Err(ApiError::validation(
                "organization: give exactly one of organization or workspace",
            ))
        }
    };
    state.app.directory_as(&caller, command).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Query of `GET /v1/memberships`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipQuery {
    organization: Option<String>,
    workspace: Option<String>,
}

/// `GET /v1/memberships?organization=…|workspace=…`: members, for those who may see them.
pub async fn list_memberships(
    State(state): State<SharedState>,
    who: Authenticated,
    ApiQuery(query): ApiQuery<MembershipQuery>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let model = state.app.model().model().read().await;
    let items: Vec<MembershipBody> = match (query.organization, query.workspace) {
        (Some(org), None) => {
            let org = parse_id::<OrganizationId>("organization", &org)?;
            let organization = model
                .directory
                .organizations
                .get(&org)
                .filter(|o| o.members.contains_key(&user))
                .ok_or_else(|| ApiError::not_found("organization: not found"))?;
            organization
                .members
                .iter()
                .map(|(u, r)| MembershipBody {
                    organization: Some(org.as_uuid()),
                    workspace: None,
                    user: u.as_uuid(),
                    role: org_role_name(*r),
                })
                .collect()
        }
        (None, Some(ws)) => {
            let ws = parse_id::<WorkspaceId>("workspace", &ws)?;
            let workspace = model
                .directory
                .workspace(ws)
                .filter(|_| model.allows(user, ws, Action::View))
                .ok_or_else(|| ApiError::not_found("workspace: not found"))?;
            workspace
                .members
                .iter()
                .map(|(u, r)| MembershipBody {
                    organization: None,
                    workspace: Some(ws.as_uuid()),
                    user: u.as_uuid(),
                    role: workspace_role_name(*r),
                })
                .collect()
        }
        _ => {
            return Err(ApiError::bad_request(
                "organization: give exactly one of organization or workspace",
            ))
        }
    };
    Ok(Json(items).into_response())
}

/// `POST /v1/tokens`: for a user (oneself, or anyone for administrators), or a new workflow
/// runner or auditor (administrators).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `user` (give `user`), `runner` or `auditor` (give `name`).
    pub kind: String,
    /// The user, for `user` tokens (default: the caller).
    #[serde(default)]
    pub user: Option<Uuid>,
    /// Name of a new runner or auditor.
    #[serde(default)]
    pub name: Option<String>,
    /// What the token is for.
    pub label: String,
}

/// An issued token; `token` is shown only in the answer that issues it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenBody {
    /// Token id (for revoking).
    pub id: Uuid,
    /// `user`, `runner` or `auditor`.
    pub kind: &'static str,
    /// The principal reference, e.g. `user:<id>`.
    pub principal: String,
    /// Label.
    pub label: String,
    /// The token text; only when issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

fn kind_of(principal: &Principal) -> &'static str {
    match principal {
        Principal::User(_) => "user",
        Principal::Runner { .. } => "runner",
        Principal::Auditor { .. } => "auditor",
    }
}

/// `POST /v1/tokens`.
pub async fn create_token(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let named = |kind: &str| {
        body.name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::validation(format!("name: is required for {kind} tokens")))
    };
    let principal = match body.kind.as_str() {
        "user" => Principal::User(body.user.map_or(caller.user, UserId::from_uuid)),
        "runner" => Principal::Runner {
            id: PrincipalId::new(),
            name: named("runner")?,
        },
        "auditor" => Principal::Auditor {
            id: PrincipalId::new(),
            name: named("auditor")?,
        },
        other => {
            return Err(ApiError::validation(format!(
                "kind: {other:?} is not a principal kind (user, runner, auditor)"
            )))
        }
    };
    let issued = state
        .app
        .issue_token(Some(&caller), principal.clone(), &body.label)
        .await?;
    let answer = TokenBody {
        id: issued.id.as_uuid(),
        kind: kind_of(&principal),
        principal: principal.reference(),
        label: body.label.trim().to_owned(),
        token: Some(issued.token.expose().to_owned()),
        revoked: false,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /v1/tokens`: the caller's tokens (every token for administrators), never their text.
pub async fn list_tokens(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let model = state.app.model().model().read().await;
    let admin = is_administrator(&model.directory, user);
    let items: Vec<TokenBody> = model
        .tokens
        .by_id
        .values()
        .filter(|t| admin || t.principal == Principal::User(user))
        .map(|t| TokenBody {
            id: t.id.as_uuid(),
            kind: kind_of(&t.principal),
            principal: t.principal.reference(),
            label: t.label.clone(),
            token: None,
            revoked: t.revoked,
        })
        .collect();
    Ok(Json(items).into_response())
}

/// `DELETE /v1/tokens/{id}`.
pub async fn revoke_token(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let id = parse_id::<TokenId>("id", &raw)?;
    state.app.revoke_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
