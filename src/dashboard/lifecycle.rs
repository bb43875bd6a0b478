//! Delete, restore and purge from an authentication's page: the API's commands, with the
//! version the page showed as the expected one and the origin `Dashboard`. A purge asks for
//! the authentication's name to be typed, since it cannot be undone; a delete asks for a
//! ticked "Yes, delete it" (no script needed).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::pages::{
    authentication_page, expired_form, failed_page, render, session_of, to_sign_in,
};
use super::session::Session;
use crate::app::{AppError, RestoreTarget};
use crate::domain::authentication::AuthenticationCommand;
use crate::domain::ids::AuthenticationId;
use crate::http::error::ApiError;
use crate::http::SharedState;

/// The form of each action. Every field is read as text, so a form missing one or carrying
/// a malformed one gets a page that says so, not the extractor's plain-text refusal.
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    /// The version the page showed (the expected one).
    #[serde(default)]
    version: String,
    /// Restore: the version to bring back.
    #[serde(default)]
    to_version: String,
    /// Purge: the name, typed.
    #[serde(default)]
    confirm: String,
    /// Delete: the "Yes, delete it" box, ticked (`yes`).
    #[serde(default)]
    sure: String,
}

/// What the page asks for.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Soft delete.
    Delete,
    /// Bring back an earlier version.
    Restore,
    /// Destroy the secrets for good.
    Purge,
}

/// `POST /ui/authentications/{id}/delete`.
pub async fn delete(
    state: State<SharedState>,
    headers: HeaderMap,
    raw: Path<String>,
    form: Form<ActionForm>,
) -> Response {
    act(state, headers, raw, form, Action::Delete).await
}

/// `POST /ui/authentications/{id}/restore`.
pub async fn restore(
    state: State<SharedState>,
    headers: HeaderMap,
    raw: Path<String>,
    form: Form<ActionForm>,
) -> Response {
    act(state, headers, raw, form, Action::Restore).await
}

/// `POST /ui/authentications/{id}/purge`.
pub async fn purge(
    state: State<SharedState>,
    headers: HeaderMap,
    raw: Path<String>,
    form: Form<ActionForm>,
) -> Response {
    act(state, headers, raw, form, Action::Purge).await
}

async fn act(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<ActionForm>,
    action: Action,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    if !session.csrf_matches(&form.csrf) {
        return expired_form();
    }
    let mut page = match authentication_page(&state, &session, &raw).await {
        Ok(page) => page,
        Err(answer) => return answer,
    };
    if matches!(action, Action::Delete) && form.sure != "yes" {
        page.delete_error = Some("Tick “Yes, delete it” to delete this authentication.".into());
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    if matches!(action, Action::Purge) && form.confirm.trim() != page.name {
        page.confirm_error = Some("Type the authentication's name exactly to purge it.".into());
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let Ok(id) = raw.parse::<AuthenticationId>() else {
        return Redirect::to("/ui/authentications").into_response();
    };
    let versions = (
        form.version.trim().parse::<u64>(),
        match form.to_version.trim() {
            "" => Ok(None),
            text => text.parse::<u64>().map(Some),
        },
    );
    let (Ok(version), Ok(to_version)) = versions else {
        page.error =
            Some("This form's version is not a number: reload the page and try again.".into());
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    match run(&state, &session, id, version, to_version, action).await {
        Ok(()) => Redirect::to(&format!("/ui/authentications/{id}")).into_response(),
        Err(e) => {
            let problem = ApiError::from(e);
            if problem.status.is_server_error() {
                return failed_page();
            }
            page.error = Some(problem.detail.clone());
            render(problem.status, &page)
        }
    }
}

async fn run(
    state: &SharedState,
    session: &Session,
    id: AuthenticationId,
    version: u64,
    to_version: Option<u64>,
    action: Action,
) -> Result<(), AppError> {
    let caller = session.caller();
    let expected = Some(version);
    match action {
        Action::Delete => state
            .app
            .execute(&caller, id, AuthenticationCommand::Delete, expected)
            .await
            .map(|_| ()),
        Action::Purge => state
            .app
            .execute(&caller, id, AuthenticationCommand::Purge, expected)
            .await
            .map(|_| ()),
        Action::Restore => {
            // The page offers the version before the current one (before a delete: the last
            // live one); the app refuses a version that is not an earlier usable state.
            let to = to_version.unwrap_or_else(|| version.saturating_sub(1));
            state
                .app
                .restore(&caller, id, RestoreTarget::Version(to), expected)
                .await
                .map(|_| ())
        }
    }
}
