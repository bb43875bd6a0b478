//! An OAuth2 service from "Create new authentication": the form's scopes and extra
//! permissions start the API's flow (`OAuth::start`, origin `Dashboard`), and the provider
//! sends the browser back to `/v1/oauth/callback`, which hands a dashboard flow on to
//! `/ui/oauth/callback`: the dashboard session completes it (`OAuth::callback`) and the
//! browser lands on the new authentication's page. Refusals are pages, never JSON.
//!
//! Required scopes left unticked get the API's missing-scopes warning on a confirm step
//! before anyone leaves for the provider.

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::create::{blank_page, chosen_spec, place_refusal};
use super::pages::{failed_page, form_session, form_value, render, session_of, to_sign_in};
use super::session::Session;
use crate::domain::ids::{FieldName, WorkspaceId};
use crate::domain::services::AuthKind;
use crate::http::error::ApiError;
use crate::http::SharedState;
use crate::oauth::flow::StartedIn;
use crate::oauth::{missing_required, AuthorizeRequest, CallbackParams, Target};

#[derive(Template)]
#[template(path = "dashboard/oauth_leave.html")]
struct LeavePage {
    /// Where the browser goes next (the provider, or this server again).
    to: String,
    /// What the page says while it goes.
    message: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/oauth_refused.html")]
struct RefusedPage {
    csrf: String,
    reason: String,
}

/// `POST /ui/authentications/new/oauth`: the confirm step when required scopes are
/// unticked, else the flow is started and the browser sent to the provider.
pub async fn start(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let session = match form_session(&state, &headers, &pairs).await {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let value = |name: &str| form_value(&pairs, name);
    let chosen = match value("service") {
        Some(raw) => chosen_spec(&state, session.user, raw).await,
        None => None,
    };
    let Some((service, spec)) = chosen.filter(|(_, spec)| spec.auth_kind == AuthKind::OAuth2)
    else {
        return Redirect::to("/ui/authentications/new").into_response();
    };
    let mut page = blank_page(
        &state,
        session.csrf.clone(),
        session.user,
        Some((service.clone(), spec.clone())),
    )
    .await;
    let workspace_text = page.take_name_and_workspace(&pairs);
    page.extra_permissions = value("extra_permissions").unwrap_or_default().to_owned();
    let ticked: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    for scope in &mut page.scopes {
        scope.checked = ticked.contains(&scope.name);
    }
    let mut fields = std::collections::BTreeMap::new();
    for input in &mut page.fields {
        let typed = value(&format!("field.{}", input.name)).unwrap_or_default();
        input.value = typed.to_owned();
        if let (false, Ok(name)) = (typed.is_empty(), FieldName::parse(&input.name)) {
            fields.insert(name, typed.to_owned());
        }
    }
    let Ok(workspace) = workspace_text.parse::<WorkspaceId>() else {
        page.workspace_error = Some("Choose a workspace.".into());
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let warnings = missing_required(&spec.required_scopes, &ticked);
    if value("confirmed").is_none() {
        if let Some(warning) = warnings.first() {
            page.scope_warning = Some(warning.to_string());
            return render(StatusCode::OK, &page);
        }
    }
    let extra: Vec<String> = page
        .extra_permissions
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let request = AuthorizeRequest {
        service,
        target: Target::New {
            name: page.name.clone(),
            workspace,
            environment: None,
            fields,
        },
        scopes: ticked,
        extra_permissions: Some(extra),
        return_to: None,
    };
    match leave_for_provider(&state, &session, request).await {
        Ok(leave) => leave,
        Err(problem) => {
            if problem.status.is_server_error() {
                return failed_page();
            }
            place_refusal(&mut page, &problem);
            render(problem.status, &page)
        }
    }
}

/// Starts a dashboard flow (`OAuth::start`, `StartedIn::Dashboard`) and answers the page
/// that moves the browser on to the provider, or the refusal as the API words it. A page
/// that moves on, not a redirect: a form's `form-action 'self'` would refuse a redirect to
/// the provider.
pub(super) async fn leave_for_provider(
    state: &SharedState,
    session: &Session,
    request: AuthorizeRequest,
) -> Result<Response, ApiError> {
    let started = state
        .oauth
        .start(&session.caller(), request, StartedIn::Dashboard)
        .await?;
    Ok(render(
        StatusCode::OK,
        &LeavePage {
            to: started.authorization_url,
            message: "Continuing to the provider's consent page…",
        },
    ))
}

/// The query of `/ui/oauth/callback`: the provider's, plus `resumed` once this page has
/// reloaded itself.
#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
    resumed: Option<String>,
}

/// `GET /ui/oauth/callback`: completes a dashboard flow with the session that started it.
pub async fn callback(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        if query.resumed.is_some() {
            return to_sign_in();
        }
        // Coming from the provider's site, the browser leaves out the SameSite=Strict
        // cookie; loading the page again from this site sends it.
        return render(
            StatusCode::OK,
            &LeavePage {
                to: format!("/ui/oauth/callback?{}&resumed=1", raw.unwrap_or_default()),
                message: "Finishing the connection…",
            },
        );
    };
    let params = CallbackParams {
        state: query.state,
        code: query.code,
        error: query.error,
        iss: query.iss,
    };
    match state.oauth.callback(&session.caller(), params).await {
        Ok(done) => Redirect::to(&format!(
            "/ui/authentications/{}?notice=connected",
            done.authentication
        ))
        .into_response(),
        Err(e) => {
            let problem = ApiError::from(e);
            if problem.status.is_server_error() && problem.status != StatusCode::BAD_GATEWAY {
                return failed_page();
            }
            render(
                problem.status,
                &RefusedPage {
                    csrf: session.csrf.clone(),
                    reason: problem.detail,
                },
            )
        }
    }
}
