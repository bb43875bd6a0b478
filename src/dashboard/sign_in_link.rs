//! `/ui/sign-in/link/{secret}`: a one-time sign-in link an administrator issued
//! (`POST /v1/sign-in-links`). Opening it shows a button; only the button's POST uses the
//! link up, so a mail scanner or a link preview that fetches the address spends nothing.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{render, signed_in};
use crate::app::AppError;
use crate::domain::principals::PrincipalError;
use crate::http::SharedState;
use crate::ledger::SignedInWith;

#[derive(Template)]
#[template(path = "dashboard/sign_in_link.html")]
struct SignInLinkPage {
    /// The form's own address (it carries the secret).
    action: String,
    /// Why the link did not sign anyone in.
    refused: bool,
}

/// `GET /ui/sign-in/link/{secret}`: the button that uses the link.
pub async fn form(Path(secret): Path<String>) -> Response {
    render(
        StatusCode::OK,
        &SignInLinkPage {
            action: action_of(&secret),
            refused: false,
        },
    )
}

/// `POST /ui/sign-in/link/{secret}`: uses the link up and opens a session; an unknown, used
/// or expired link gets one page that says so.
pub async fn sign_in(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Response {
    match state.app.use_sign_in_link(&secret).await {
        Ok(user) => signed_in(&state, &headers, user, SignedInWith::SignInLink),
        Err(AppError::Principal(PrincipalError::SignInLinkNotValid)) => render(
            StatusCode::GONE,
            &SignInLinkPage {
                action: action_of(&secret),
                refused: true,
            },
        ),
        Err(e) => {
            tracing::error!(error = %e, "a sign-in link could not be used");
            super::pages::failed_page()
        }
    }
}

/// The form's action: only the characters a secret is made of go back into the page.
fn action_of(secret: &str) -> String {
    let safe: String = secret
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    format!("{}{safe}", crate::http::SIGN_IN_LINK_PATH)
}
