//! Looking back: an authentication as it was at a version or a time (the API's
//! `GET /v1/authentications/{id}?version=|as_of=`), who could use it at a time
//! (`GET …/usable-by?as_of=`), and a whole workspace as of a date
//! (`GET /v1/workspaces/{id}/authentications?as_of=`). Each calls the same app operation.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::create::field_and_reason;
use super::pages::{
    failed_page, lifecycle_label, render, session_and_view, session_of, to_sign_in,
    workspace_label, FieldRow,
};
use super::session::Session;
use super::time_input::{input_value, parse_time_input};
use super::workspace_choice::{workspace_choices, WorkspaceChoice};
use crate::app::{AppError, RestoreTarget};
use crate::domain::ids::WorkspaceId;
use crate::domain::principals::Principal;
use crate::http::dto::parse_id;
use crate::http::error::ApiError;
use crate::http::SharedState;
use crate::projections::AuthenticationView;
use crate::time::Timestamp;

/// The query of the as-of view: a version (from the timeline) or a time (typed).
#[derive(Deserialize)]
pub struct AsOfParams {
    version: Option<String>,
    at: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/as_of.html")]
struct AsOfPage {
    csrf: String,
    id: String,
    current_name: String,
    current_version: u64,
    /// The authentication then, when the point asked about is valid.
    then: Option<Then>,
    /// Its fields then (none until then is known).
    fields: Vec<FieldRow>,
    at: String,
    at_error: Option<String>,
    version_error: Option<String>,
}

/// The authentication as it was.
struct Then {
    name: String,
    version: u64,
    workspace: String,
    service: String,
    kind: String,
    lifecycle: String,
    updated: String,
    /// Whether "Restore this version" is offered: an earlier version, and not purged now.
    restorable: bool,
}

/// Why a look-back read failed: the request's fault (shown beside the input the problem
/// names) or the server's (a page that says only that).
enum Refused {
    Field(ApiError),
    Server,
}

fn refusal(error: AppError) -> Refused {
    let problem = ApiError::from(error);
    if problem.status.is_server_error() {
        return Refused::Server;
    }
    Refused::Field(problem)
}

/// `GET /ui/authentications/{id}/as-of?version=N` or `?at=…`: read-only, with "Restore this
/// version" when it is an earlier one.
pub async fn authentication(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(params): Query<AsOfParams>,
) -> Response {
    let (session, now) = match session_and_view(&state, &headers, &raw).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let mut page = AsOfPage {
        csrf: session.csrf.clone(),
        id: now.id.to_string(),
        current_name: now.name.clone(),
        current_version: now.version,
        then: None,
        fields: Vec::new(),
        at: params.at.clone().unwrap_or_default(),
        at_error: None,
        version_error: None,
    };
    let version = params.version.as_deref().filter(|v| !v.trim().is_empty());
    let at = params.at.as_deref().filter(|t| !t.trim().is_empty());
    let target = match (version, at) {
        (Some(_), Some(_)) => Err(ApiError::malformed(
            "version",
            "give either version or as_of, not both",
        )),
        (Some(v), None) => v
            .trim()
            .parse::<u64>()
            .map(RestoreTarget::Version)
            .map_err(|_| ApiError::malformed("version", format!("{v:?} is not a version"))),
        (None, Some(t)) => parse_time_input("as_of", t).map(RestoreTarget::Time),
        (None, None) => Ok(RestoreTarget::Version(now.version)),
    };
    let found = match target {
        Ok(target) => state.app.get_as_of(session.user, now.id, target).await,
        Err(problem) => {
            place(&mut page, &problem);
            return render(problem.status, &page);
        }
    };
    match found {
        Ok(then) => {
            page.fields = then.fields.iter().map(FieldRow::of).collect();
            page.then = Some(Then::of(&then, &now));
            render(StatusCode::OK, &page)
        }
        Err(e) => match refusal(e) {
            Refused::Field(problem) => {
                // Visible now (checked above): a "not found" here is a point before it existed.
                let reason = if matches!(problem.kind, "not-found") {
                    "It did not exist at that point.".to_owned()
                } else {
                    field_and_reason(&problem).1
                };
                match version {
                    Some(_) => page.version_error = Some(reason),
                    None => page.at_error = Some(reason),
                }
                render(problem.status, &page)
            }
            Refused::Server => failed_page(),
        },
    }
}

fn place(page: &mut AsOfPage, problem: &ApiError) {
    let (field, reason) = field_and_reason(problem);
    match field {
        Some("version") => page.version_error = Some(reason),
        _ => page.at_error = Some(reason),
    }
}

impl Then {
    fn of(then: &AuthenticationView, now: &AuthenticationView) -> Then {
        Then {
            name: then.name.clone(),
            version: then.version,
            workspace: workspace_label(then),
            service: then.service.clone(),
            kind: format!("{:?}", then.kind),
            lifecycle: lifecycle_label(then),
            updated: then.updated_at.map(|t| t.to_string()).unwrap_or_default(),
            restorable: then.version < now.version && now.lifecycle != "purged",
        }
    }
}

/// The query of "who could use it".
#[derive(Deserialize)]
pub struct UsableParams {
    at: Option<String>,
}

/// One user who could use it.
struct UsableRow {
    name: String,
    because: String,
}

#[derive(Template)]
#[template(path = "dashboard/usable_by.html")]
struct UsablePage {
    csrf: String,
    id: String,
    name: String,
    at: String,
    at_error: Option<String>,
    /// The answer, once asked: version, workspace and state then, and the users.
    answer: Option<UsableAnswer>,
}

struct UsableAnswer {
    at: String,
    version: u64,
    workspace: String,
    lifecycle: String,
    users: Vec<UsableRow>,
}

/// `GET /ui/authentications/{id}/usable-by?at=…` (default now).
pub async fn usable_by(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(params): Query<UsableParams>,
) -> Response {
    let (session, now) = match session_and_view(&state, &headers, &raw).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let raw_at = params.at.unwrap_or_default();
    let mut page = UsablePage {
        csrf: session.csrf.clone(),
        id: now.id.to_string(),
        name: now.name.clone(),
        at: raw_at.clone(),
        at_error: None,
        answer: None,
    };
    let at = if raw_at.trim().is_empty() {
        Ok(Timestamp::now())
    } else {
        parse_time_input("as_of", &raw_at)
    };
    let answer = match at {
        Ok(at) => {
            state
                .app
                .usable_by_as_of_for(&Principal::User(session.user), now.id, at)
                .await
        }
        Err(problem) => {
            page.at_error = Some(field_and_reason(&problem).1);
            return render(problem.status, &page);
        }
    };
    match answer {
        Ok(usable) => {
            let workspaces = state.app.workspaces_visible_to(session.user).await;
            let workspace = workspaces
                .iter()
                .find(|w| w.id == usable.workspace)
                .map_or_else(|| usable.workspace.to_string(), |w| w.name.clone());
            page.at = input_value(usable.as_of);
            page.answer = Some(UsableAnswer {
                at: usable.as_of.to_string(),
                version: usable.version,
                workspace,
                lifecycle: usable.lifecycle.to_owned(),
                users: usable
                    .users
                    .into_iter()
                    .map(|u| UsableRow {
                        name: u.name,
                        because: u.because,
                    })
                    .collect(),
            });
            render(StatusCode::OK, &page)
        }
        Err(e) => match refusal(e) {
            Refused::Field(problem) => {
                page.at_error = Some(if matches!(problem.kind, "not-found") {
                    "It did not exist at that time.".to_owned()
                } else {
                    field_and_reason(&problem).1
                });
                render(problem.status, &page)
            }
            Refused::Server => failed_page(),
        },
    }
}

/// The query of a workspace as of a date.
#[derive(Deserialize)]
pub struct WorkspaceParams {
    workspace: Option<String>,
    at: Option<String>,
    include_deleted: Option<String>,
}

/// One authentication as it was in the workspace.
struct WorkspaceRow {
    id: String,
    name: String,
    service: String,
    kind: String,
    version: u64,
    lifecycle: String,
}

#[derive(Template)]
#[template(path = "dashboard/workspace_as_of.html")]
struct WorkspacePage {
    csrf: String,
    workspaces: Vec<WorkspaceChoice>,
    at: String,
    include_deleted: bool,
    workspace_error: Option<String>,
    at_error: Option<String>,
    /// The answer, once asked (the time as the API writes it, and the rows).
    answer: Option<(String, Vec<WorkspaceRow>)>,
}

/// `GET /ui/workspaces/as-of?workspace=…&at=…`: the form, and once filled in, the
/// authentications that were in the workspace then, each as it was.
pub async fn workspace(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<WorkspaceParams>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let chosen = params.workspace.clone().unwrap_or_default();
    let mut page = WorkspacePage {
        csrf: session.csrf.clone(),
        workspaces: workspace_choices(&state, session.user, Some(&chosen)).await,
        at: params.at.clone().unwrap_or_default(),
        include_deleted: params.include_deleted.is_some(),
        workspace_error: None,
        at_error: None,
        answer: None,
    };
    if params.workspace.is_none() && params.at.is_none() {
        return render(StatusCode::OK, &page);
    }
    match workspace_answer(&state, &session, &params, page.include_deleted).await {
        Ok((at, views)) => {
            let rows = views
                .iter()
                .map(|v| WorkspaceRow {
                    id: v.id.to_string(),
                    name: v.name.clone(),
                    service: v.service.clone(),
                    kind: format!("{:?}", v.kind),
                    version: v.version,
                    lifecycle: lifecycle_label(v),
                })
                .collect();
            page.answer = Some((at.to_string(), rows));
            render(StatusCode::OK, &page)
        }
        Err(Refused::Field(problem)) => {
            let (field, reason) = field_and_reason(&problem);
            match field {
                Some("as_of") => page.at_error = Some(reason),
                _ => page.workspace_error = Some(reason),
            }
            render(problem.status, &page)
        }
        Err(Refused::Server) => failed_page(),
    }
}

/// The workspace's authentications at the time asked, or why not.
async fn workspace_answer(
    state: &SharedState,
    session: &Session,
    params: &WorkspaceParams,
    include_deleted: bool,
) -> Result<(Timestamp, Vec<AuthenticationView>), Refused> {
    let workspace = parse_id::<WorkspaceId>("workspace", params.workspace.as_deref().unwrap_or(""))
        .map_err(Refused::Field)?;
    let at =
        parse_time_input("as_of", params.at.as_deref().unwrap_or("")).map_err(Refused::Field)?;
    let views = state
        .app
        .workspace_as_of_for(
            &Principal::User(session.user),
            workspace,
            at,
            include_deleted,
        )
        .await
        // A workspace the caller may not see is the API's 404 naming `workspace`, said
        // beside the select.
        .map_err(refusal)?;
    Ok((at, views))
}
