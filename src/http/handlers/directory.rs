//! The directory over HTTP: organizations, workspaces, users and memberships.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::directory::{
    DirectoryCommand, DirectoryEvent, Membership, OrgRole, Organization, Workspace, WorkspaceKind,
    WorkspaceRole,
};
use crate::domain::ids::{OrganizationId, UserId, WorkspaceId};
use crate::http::dto::parse_id;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, Authenticated};
use crate::http::openapi::{
    BadNameOrKeyReused, BadRequest, IdempotencyKeyHeader, IdempotencyKeyInFlight, NotAUser,
    PayloadTooLarge, ProblemSchema, Unauthorized, UnsupportedMediaType, UserNotFound,
};
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
    #[schema(required = true)]
    pub role: Option<&'static str>,
}

/// A role's name as the API writes it.
pub(crate) fn org_role_name(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Owner => "owner",
        OrgRole::Admin => "admin",
        OrgRole::Member => "member",
    }
}

/// A role's name as the API writes it.
pub(crate) fn workspace_role_name(role: WorkspaceRole) -> &'static str {
    match role {
        WorkspaceRole::Admin => "admin",
        WorkspaceRole::Editor => "editor",
        WorkspaceRole::Viewer => "viewer",
    }
}

/// A workspace kind's name as the API writes it.
pub(crate) fn workspace_kind_name(kind: WorkspaceKind) -> &'static str {
    match kind {
        WorkspaceKind::Personal => "personal",
        WorkspaceKind::Shared => "shared",
        WorkspaceKind::Organization => "organization",
    }
}

/// `POST /v1/organizations`.
#[utoipa::path(
    post,
    path = "/v1/organizations",
    operation_id = "createOrganization",
    tag = "directory",
    summary = "Create an organization",
    description = "Creates an organization and its organization workspace; the caller becomes its owner.",
    params(IdempotencyKeyHeader),
    request_body(content = NewOrganization, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = OrganizationBody, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 409, response = IdempotencyKeyInFlight),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = BadNameOrKeyReused),
    ),
    security(("bearer" = []))
)]
pub async fn create_organization(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewOrganization>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let organization = OrganizationId::new();
    let workspace = WorkspaceId::new();
    let events = state
        .app
        .directory_command(
            &caller,
            DirectoryCommand::CreateOrganization {
                organization,
                workspace,
                name: body.name.clone(),
                owner: caller.user,
            },
        )
        .await?;
    // A replay answers with the ids the first attempt created.
    let (organization, workspace) = events
        .iter()
        .find_map(|e| match e {
            DirectoryEvent::OrganizationCreated {
                organization,
                workspace,
                ..
            } => Some((*organization, *workspace)),
            _ => None,
        })
        .unwrap_or((organization, workspace));
    let body = OrganizationBody {
        id: organization.as_uuid(),
        name: body.name.trim().to_owned(),
        workspace: workspace.as_uuid(),
        role: Some("owner"),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

impl OrganizationBody {
    /// An organization as the caller with `role` in it sees it.
    pub(crate) fn of(o: Organization, role: OrgRole) -> OrganizationBody {
        OrganizationBody {
            id: o.id.as_uuid(),
            name: o.name,
            workspace: o.workspace.as_uuid(),
            role: Some(org_role_name(role)),
        }
    }
}

/// `GET /v1/organizations`: those the caller belongs to.
#[utoipa::path(
    get,
    path = "/v1/organizations",
    operation_id = "listOrganizations",
    tag = "directory",
    summary = "List organizations",
    description = "The organizations the caller belongs to, with the caller's role.",
    responses(
        (status = 200, description = "The organizations.", body = Vec<OrganizationBody>),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
    ),
    security(("bearer" = []))
)]
pub async fn list_organizations(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let items: Vec<OrganizationBody> = state
        .app
        .organizations_of(user)
        .await
        .into_iter()
        .map(|(o, role)| OrganizationBody::of(o, role))
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
    #[schema(required = true)]
    pub organization: Option<Uuid>,
}

impl From<&Workspace> for WorkspaceBody {
    fn from(w: &Workspace) -> WorkspaceBody {
        WorkspaceBody {
            id: w.id.as_uuid(),
            name: w.name.clone(),
            kind: workspace_kind_name(w.kind()),
            organization: w.organization().map(|o| o.as_uuid()),
        }
    }
}

/// `POST /v1/workspaces`.
#[utoipa::path(
    post,
    path = "/v1/workspaces",
    operation_id = "createWorkspace",
    tag = "directory",
    summary = "Create a shared workspace",
    description = "Creates a shared workspace in an organization. Needs the owner or admin role in the organization.",
    params(IdempotencyKeyHeader),
    request_body(content = NewWorkspace, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = WorkspaceBody, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this), or lacks the owner or admin role in the organization (also when it does not exist).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The name is already used in the organization, or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = BadNameOrKeyReused),
    ),
    security(("bearer" = []))
)]
pub async fn create_workspace(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewWorkspace>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let workspace = WorkspaceId::new();
    let events = state
        .app
        .directory_command(
            &caller,
            DirectoryCommand::CreateWorkspace {
                workspace,
                organization: OrganizationId::from_uuid(body.organization),
                name: body.name.clone(),
            },
        )
        .await?;
    let workspace = events
        .iter()
        .find_map(|e| match e {
            DirectoryEvent::WorkspaceCreated { workspace, .. } => Some(*workspace),
            _ => None,
        })
        .unwrap_or(workspace);
    let body = WorkspaceBody {
        id: workspace.as_uuid(),
        name: body.name.trim().to_owned(),
        kind: "shared",
        organization: Some(body.organization),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/workspaces`: those the caller may view.
#[utoipa::path(
    get,
    path = "/v1/workspaces",
    operation_id = "listWorkspaces",
    tag = "directory",
    summary = "List workspaces",
    description = "The workspaces the caller may view: their personal workspace, and the shared and organization workspaces they reach through memberships.",
    responses(
        (status = 200, description = "The workspaces.", body = Vec<WorkspaceBody>),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
    ),
    security(("bearer" = []))
)]
pub async fn list_workspaces(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let items: Vec<WorkspaceBody> = state
        .app
        .workspaces_visible_to(user)
        .await
        .into_iter()
        .map(|w| WorkspaceBody::from(&w))
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
    /// Deactivated (offboarded): no sign-in, no rights, nothing resolved for them.
    pub deactivated: bool,
}

impl UserBody {
    /// The answer for a user as the directory holds them.
    pub fn of(user: &crate::domain::directory::User) -> UserBody {
        UserBody {
            id: user.id.as_uuid(),
            name: user.name.clone(),
            email: user.email.clone(),
            personal_workspace: user.personal_workspace.as_uuid(),
            deactivated: user.deactivated,
        }
    }
}

/// `POST /v1/users`.
#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "createUser",
    tag = "directory",
    summary = "Create a user",
    description = "Creates a user and their personal workspace. Administrators only (owners and admins of an organization). Give the user a token with `POST /v1/tokens`.",
    params(IdempotencyKeyHeader),
    request_body(content = NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = UserBody, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this), or is not an administrator.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail address is used by another user, or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The name or e-mail address is invalid, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_user(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let user = UserId::new();
    let personal = WorkspaceId::new();
    let events = state
        .app
        .directory_command(
            &caller,
            DirectoryCommand::CreateUser {
                user,
                personal_workspace: personal,
                name: body.name,
                email: body.email,
            },
        )
        .await?;
    let (user, personal) = events
        .iter()
        .find_map(|e| match e {
            DirectoryEvent::UserCreated {
                user,
                personal_workspace,
                ..
            } => Some((*user, *personal_workspace)),
            _ => None,
        })
        .unwrap_or((user, personal));
    let created = state.app.user(user).await.ok_or_else(ApiError::internal)?;
    let body = UserBody {
        personal_workspace: personal.as_uuid(),
        ..UserBody::of(&created)
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/users`: everyone for administrators, oneself otherwise.
#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "listUsers",
    tag = "directory",
    summary = "List users",
    description = "Every user for administrators; only the caller otherwise.",
    responses(
        (status = 200, description = "The users.", body = Vec<UserBody>),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
    ),
    security(("bearer" = []))
)]
pub async fn list_users(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let items: Vec<UserBody> = state
        .app
        .users_visible_to(user)
        .await
        .iter()
        .map(UserBody::of)
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
    #[schema(required = true)]
    pub organization: Option<Uuid>,
    /// Workspace, for workspace memberships.
    #[schema(required = true)]
    pub workspace: Option<Uuid>,
    /// The user.
    pub user: Uuid,
    /// The role.
    pub role: &'static str,
}

/// `POST /v1/memberships`.
#[utoipa::path(
    post,
    path = "/v1/memberships",
    operation_id = "createMembership",
    tag = "directory",
    summary = "Add a member or change a role",
    description = "Adds a user to exactly one organization (roles `owner`, `admin`, `member`) or shared workspace (roles `admin`, `editor`, `viewer`), or changes the role of an existing member. Needs the owner or admin role in the organization, or (for a workspace) the admin role in the workspace. The answer's `ETag` is the directory's new version; an `If-Match` with the version last seen makes the change land only on that directory.",
    params(crate::http::openapi::DirectoryIfMatch, IdempotencyKeyHeader),
    request_body(content = NewMembership, content_type = "application/json"),
    responses(
        (status = 201, description = "Added, or the role changed.", body = MembershipBody, headers(("ETag" = String, description = "The directory's version after the change."), ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this), or lacks the admin role needed (also when the organization or workspace does not exist).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, response = UserNotFound),
        (status = 409, response = IdempotencyKeyInFlight),
        (status = 412, description = "`If-Match` names another directory version.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Not exactly one of `organization` and `workspace`, a role that does not exist there, a workspace that is not shared, a user outside the workspace's organization, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_membership(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewMembership>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let user = UserId::from_uuid(body.user);
    let (membership, answer) = match (body.organization, body.workspace) {
        (Some(org), None) => {
            let organization = OrganizationId::from_uuid(org);
            let role = match body.role.as_str() {
                "owner" => OrgRole::Owner,
                "admin" => OrgRole::Admin,
                "member" => OrgRole::Member,
                other => {
                    return Err(ApiError::invalid(
                        "role",
                        format!("{other:?} is not an organization role (owner, admin, member)"),
                    ))
                }
            };
            let membership = Membership::Organization { organization, role };
            let answer = MembershipBody {
                organization: Some(org),
                workspace: None,
                user: body.user,
                role: org_role_name(role),
            };
            (membership, answer)
        }
        (None, Some(ws)) => {
            let workspace = WorkspaceId::from_uuid(ws);
            let role = match body.role.as_str() {
                "admin" => WorkspaceRole::Admin,
                "editor" => WorkspaceRole::Editor,
                "viewer" => WorkspaceRole::Viewer,
                other => {
                    return Err(ApiError::invalid(
                        "role",
                        format!("{other:?} is not a workspace role (admin, editor, viewer)"),
                    ))
                }
            };
            let membership = Membership::Workspace { workspace, role };
            let answer = MembershipBody {
                organization: None,
                workspace: Some(ws),
                user: body.user,
                role: workspace_role_name(role),
            };
            (membership, answer)
        }
        _ => {
            return Err(ApiError::invalid(
                "organization",
                "give exactly one of organization or workspace",
            ))
        }
    };
    let expected = crate::http::extract::if_match(&headers)?;
    let outcome = state
        .app
        .set_membership(&caller, user, membership, expected)
        .await?;
    let version = outcome.version;
    Ok(crate::http::extract::with_etag(
        (StatusCode::CREATED, Json(answer)).into_response(),
        version,
    ))
}

/// Query of `GET /v1/memberships`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MembershipQuery {
    /// The organization whose members to list (a UUID). Exactly one of `organization` and
    /// `workspace`.
    #[param(format = Uuid)]
    organization: Option<String>,
    /// The workspace whose members to list (a UUID).
    #[param(format = Uuid)]
    workspace: Option<String>,
}

/// `GET /v1/memberships?organization=…|workspace=…`: members, for those who may see them.
#[utoipa::path(
    get,
    path = "/v1/memberships",
    operation_id = "listMemberships",
    tag = "directory",
    summary = "List members",
    description = "The members of one organization (the caller must belong to it) or one workspace (the caller must be able to view it), with their roles.",
    params(MembershipQuery),
    responses(
        (status = 200, description = "The memberships.", body = Vec<MembershipBody>, headers(("ETag" = String, description = "The directory's version, e.g. `\"12\"` (for the `If-Match` of a directory change)."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, description = "The organization or workspace does not exist, or the caller may not see it.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_memberships(
    State(state): State<SharedState>,
    who: Authenticated,
    ApiQuery(query): ApiQuery<MembershipQuery>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    // The version the members were read at: the one an `If-Match` of a change based on
    // them names.
    let (items, version): (Vec<MembershipBody>, u64) = match (query.organization, query.workspace) {
        (Some(org), None) => {
            let org = parse_id::<OrganizationId>("organization", &org)?;
            let (members, version) = state.app.organization_members_versioned(user, org).await?;
            let items = members
                .into_iter()
                .map(|(u, r)| MembershipBody {
                    organization: Some(org.as_uuid()),
                    workspace: None,
                    user: u.as_uuid(),
                    role: org_role_name(r),
                })
                .collect();
            (items, version)
        }
        (None, Some(ws)) => {
            let ws = parse_id::<WorkspaceId>("workspace", &ws)?;
            let (members, version) = state.app.workspace_members_versioned(user, ws).await?;
            let items = members
                .into_iter()
                .map(|(u, r)| MembershipBody {
                    organization: None,
                    workspace: Some(ws.as_uuid()),
                    user: u.as_uuid(),
                    role: workspace_role_name(r),
                })
                .collect();
            (items, version)
        }
        _ => {
            return Err(ApiError::malformed(
                "organization",
                "give exactly one of organization or workspace",
            ))
        }
    };
    Ok(crate::http::extract::with_etag(
        Json(items).into_response(),
        version,
    ))
}
