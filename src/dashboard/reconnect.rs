//! "Reconnect at the provider" from an OAuth2 authentication's Settings: a new consent for
//! the same authentication (the API's `POST /v1/oauth/authorize` with `authentication`,
//! `Target::Existing`), with the scopes ticked and the extra permissions typed. It is how an
//! authentication that needs re-authorization is mended. The provider sends the browser back
//! through `/ui/oauth/callback` (`dashboard/oauth.rs`) to the authentication's page.
//!
//! Required scopes left unticked get the API's missing-scopes warning on a confirm step
//! before anyone leaves for the provider, as on Create.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::oauth::leave_for_provider;
use super::pages::{failed_page, form_session_and_view, form_value, render};
use super::settings::page_of;
use crate::http::SharedState;
use crate::oauth::{missing_required, AuthorizeRequest, Target};

/// `POST /ui/authentications/{id}/reconnect`: the confirm step when required scopes are
/// unticked, else the flow is started and the browser sent to the provider.
pub async fn reconnect(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (session, view) = match form_session_and_view(&state, &headers, &pairs, &raw).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let settings = format!("/ui/authentications/{}/settings", view.id);
    let Ok(service) = crate::http::dto::parse_service(&view.service) else {
        return failed_page();
    };
    let mut page = page_of(&state, session.csrf.clone(), session.user, &view).await;
    let Some(reconnect) = page.reconnect.as_mut() else {
        // Not an OAuth2 authentication: its settings take the fields.
        return Redirect::to(&settings).into_response();
    };
    let ticked: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let required: Vec<String> = reconnect
        .scopes
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name.clone())
        .collect();
    for scope in &mut reconnect.scopes {
        scope.checked = ticked.contains(&scope.name);
    }
    reconnect.extra_permissions = form_value(&pairs, "extra_permissions")
        .unwrap_or_default()
        .to_owned();
    if form_value(&pairs, "confirmed").is_none() {
        if let Some(warning) = missing_required(&required, &ticked).first() {
            reconnect.scope_warning = Some(warning.to_string());
            return render(StatusCode::OK, &page);
        }
    }
    let request = AuthorizeRequest {
        service,
        target: Target::Existing {
            id: view.id,
            fields: BTreeMap::new(),
        },
        scopes: ticked,
        extra_permissions: Some(
            reconnect
                .extra_permissions
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        ),
        return_to: None,
    };
    match leave_for_provider(&state, &session, request).await {
        Ok(leave) => leave,
        Err(problem) => {
            if problem.status.is_server_error() {
                return failed_page();
            }
            reconnect.error = Some(problem.detail.clone());
            render(problem.status, &page)
        }
    }
}
