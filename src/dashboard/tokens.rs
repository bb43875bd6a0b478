//! The API tokens page: the signed-in user's tokens as `GET /v1/tokens` lists them (an
//! administrator's list holds every token), issuing one for oneself (`POST /v1/tokens` with kind
//! `user`; its text is on the answering page only, once, never kept) and revoking one
//! (`DELETE /v1/tokens/{id}`). Origin `dashboard`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::create::field_and_reason;
use super::directory::Names;
use super::pages::form_session;
use super::pages::{failed_page, form_value, render, session_of, to_sign_in};
use super::session::Session;
use crate::app::AppError;
use crate::domain::ids::TokenId;
use crate::domain::principals::Principal;
use crate::http::error::ApiError;
use crate::http::handlers::tokens::kind_of;
use crate::http::SharedState;

/// One token, never its text (none is kept).
struct TokenRow {
    id: String,
    label: String,
    kind: &'static str,
    whose: String,
    yours: bool,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "dashboard/tokens.html")]
struct TokensPage {
    csrf: String,
    tokens: Vec<TokenRow>,
    /// The text of the token just issued: on this answer only.
    issued: Option<String>,
    label: String,
    label_error: Option<String>,
    error: Option<String>,
}

async fn page_of(state: &SharedState, session: &Session) -> TokensPage {
    let names = Names::for_user(state, session.user).await;
    let mut tokens: Vec<TokenRow> = state
        .app
        .tokens_visible_to(session.user)
        .await
        .into_iter()
        .map(|listed| listed.record)
        .map(|t| TokenRow {
            id: t.id.to_string(),
            kind: kind_of(&t.principal),
            whose: match t.principal {
                Principal::User(user) => names.of(user),
                ref other => other.reference(),
            },
            yours: t.principal == Principal::User(session.user),
            revoked: t.revoked,
            label: t.label,
        })
        .collect();
    tokens.sort_by(|a, b| (!a.yours, a.revoked, &a.label).cmp(&(!b.yours, b.revoked, &b.label)));
    TokensPage {
        csrf: session.csrf.clone(),
        tokens,
        issued: None,
        label: String::new(),
        label_error: None,
        error: None,
    }
}

/// The refusal of an action on the page, or the server-failure page.
fn refused(mut page: TokensPage, error: AppError) -> Response {
    let problem = ApiError::from(error);
    if problem.status.is_server_error() {
        return failed_page();
    }
    let (field, reason) = field_and_reason(&problem);
    match field {
        Some("label") => page.label_error = Some(reason),
        _ => page.error = Some(problem.detail.clone()),
    }
    render(problem.status, &page)
}

/// `GET /ui/tokens`.
pub async fn tokens(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    render(StatusCode::OK, &page_of(&state, &session).await)
}

/// `POST /ui/tokens`: issues a token for the signed-in user and shows its text, once.
pub async fn issue(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let session = match form_session(&state, &headers, &pairs).await {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let label = form_value(&pairs, "label").unwrap_or_default().to_owned();
    let issued = state
        .app
        .issue_token(
            Some(&session.caller()),
            Principal::User(session.user),
            &label,
            Default::default(),
        )
        .await;
    let mut page = page_of(&state, &session).await;
    match issued {
        Ok(token) => {
            page.issued = Some(token.token.expose().to_owned());
            render(StatusCode::CREATED, &page)
        }
        Err(e) => {
            page.label = label;
            refused(page, e)
        }
    }
}

/// `POST /ui/tokens/{id}/revoke`.
pub async fn revoke(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let session = match form_session(&state, &headers, &pairs).await {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let Ok(id) = raw.parse::<TokenId>() else {
        let mut page = page_of(&state, &session).await;
        page.error = Some("There is no such token.".into());
        return render(StatusCode::NOT_FOUND, &page);
    };
    match state.app.revoke_token(&session.caller(), id).await {
        Ok(()) => Redirect::to("/ui/tokens").into_response(),
        Err(e) => refused(page_of(&state, &session).await, e),
    }
}
