//! "Edit details": rename an authentication and move it to another workspace the person may
//! edit, in one change (the API's `PATCH`: `Rename` and `Move` land together or not at all),
//! with the version the page showed as the expected one and the origin `Dashboard`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::create::field_and_reason;
use super::pages::{failed_page, form_session_and_view, form_value, render, session_and_view};
use super::refusals::access_refusal;
use super::workspace_choice::{workspace_choices, WorkspaceChoice};
use crate::app::AppError;
use crate::domain::access::Action;
use crate::domain::authentication::{AuthenticationCommand, AuthenticationError};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::http::error::ApiError;
use crate::http::SharedState;
use crate::projections::AuthenticationView;

#[derive(Template)]
#[template(path = "dashboard/details.html")]
struct DetailsPage {
    csrf: String,
    id: String,
    current_name: String,
    name: String,
    version: u64,
    workspaces: Vec<WorkspaceChoice>,
    name_error: Option<String>,
    workspace_error: Option<String>,
    error: Option<String>,
}

async fn page_of(
    state: &SharedState,
    csrf: String,
    user: UserId,
    view: &AuthenticationView,
) -> DetailsPage {
    let current = view.workspace.to_string();
    let workspaces = workspace_choices(state, user, Some(&current)).await;
    DetailsPage {
        csrf,
        id: view.id.to_string(),
        current_name: view.name.clone(),
        name: view.name.clone(),
        version: view.version,
        workspaces,
        name_error: None,
        workspace_error: None,
        error: None,
    }
}

/// `GET /ui/authentications/{id}/details`.
pub async fn form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    match session_and_view(&state, &headers, &raw).await {
        Ok((session, view)) => render(
            StatusCode::OK,
            &page_of(&state, session.csrf.clone(), session.user, &view).await,
        ),
        Err(answer) => answer,
    }
}

/// `POST /ui/authentications/{id}/details`: renames and/or moves what changed.
pub async fn save(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (session, view) = match form_session_and_view(&state, &headers, &pairs, &raw).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let value = |name: &str| form_value(&pairs, name);
    let mut page = page_of(&state, session.csrf.clone(), session.user, &view).await;
    let name = value("name").unwrap_or_default().to_owned();
    let workspace = value("workspace").and_then(|w| w.parse::<WorkspaceId>().ok());
    page.name = name.clone();
    let mut commands = Vec::new();
    if name != view.name {
        commands.push(AuthenticationCommand::Rename { name });
    }
    match workspace {
        Some(to) if to != view.workspace => {
            for choice in &mut page.workspaces {
                choice.selected = choice.id == to.to_string();
            }
            commands.push(AuthenticationCommand::Move { to });
        }
        Some(_) => {}
        None => {
            page.workspace_error = Some("Choose a workspace.".into());
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    }
    if commands.is_empty() {
        page.error = Some("Nothing changed: give a new name, another workspace, or both.".into());
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let caller = session.caller();
    let expected = value("version").and_then(|v| v.parse::<u64>().ok());
    match state
        .app
        .execute_all(&caller, view.id, commands, expected)
        .await
    {
        Ok(_) => Redirect::to(&format!("/ui/authentications/{}", view.id)).into_response(),
        Err(AppError::Authentication(AuthenticationError::AccessDenied {
            action,
            workspace,
            reason,
        })) => {
            let id = workspace.to_string();
            let named = page
                .workspaces
                .iter()
                .find(|w| w.id == id)
                .map_or("that workspace", |w| w.name.as_str());
            let refusal = Some(access_refusal(action, named, &reason));
            // A refused move is about the workspace chosen; a refused rename, about it all.
            if matches!(action, Action::MoveTo | Action::MoveFrom) {
                page.workspace_error = refusal;
            } else {
                page.error = refusal;
            }
            render(StatusCode::FORBIDDEN, &page)
        }
        Err(e) => {
            let problem = ApiError::from(e);
            if problem.status.is_server_error() {
                return failed_page();
            }
            let (field, reason) = field_and_reason(&problem);
            match field {
                Some("name") => page.name_error = Some(reason),
                Some("workspace") => page.workspace_error = Some(reason),
                _ => page.error = Some(problem.detail.clone()),
            }
            render(problem.status, &page)
        }
    }
}
