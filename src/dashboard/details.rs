//! "Edit details": rename an authentication and move it to another workspace the person may
//! edit, in one change (the API's `PATCH`: `Rename` and `Move` land together or not at all),
//! with the version the page showed as the expected one and the origin `Dashboard`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::create::field_and_reason;
use super::pages::{
    expired_form, failed_page, form_value, render, session_of, to_sign_in, visible_view,
};
use crate::app::Caller;
use crate::domain::authentication::AuthenticationCommand;
use crate::domain::ids::{UserId, WorkspaceId};
use crate::http::error::ApiError;
use crate::http::SharedState;
use crate::ledger::{Origin, SignedInWith};
use crate::projections::AuthenticationView;

/// A workspace the person may pick.
struct WorkspaceChoice {
    id: String,
    name: String,
    selected: bool,
}

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
    let workspaces = state
        .app
        .workspaces_visible_to(user)
        .await
        .into_iter()
        .map(|w| WorkspaceChoice {
            selected: w.id == view.workspace,
            id: w.id.to_string(),
            name: w.name,
        })
        .collect();
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
    let Some((_, session)) = session_of(&state, &headers) else {
        return to_sign_in();
    };
    match visible_view(&state, &session, &raw).await {
        Ok(view) => render(
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
    let Some((_, session)) = session_of(&state, &headers) else {
        return to_sign_in();
    };
    let value = |name: &str| form_value(&pairs, name);
    if !value("csrf").is_some_and(|sent| session.csrf_matches(sent)) {
        return expired_form();
    }
    let view = match visible_view(&state, &session, &raw).await {
        Ok(view) => view,
        Err(answer) => return answer,
    };
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
    let caller = Caller {
        user: session.user,
        via: SignedInWith::ApiToken,
        origin: Origin::Dashboard,
        idempotency: None,
    };
    let expected = value("version").and_then(|v| v.parse::<u64>().ok());
    match state
        .app
        .execute_all(&caller, view.id, commands, expected)
        .await
    {
        Ok(_) => Redirect::to(&format!("/ui/authentications/{}", view.id)).into_response(),
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
