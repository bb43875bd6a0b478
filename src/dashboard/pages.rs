//! The dashboard's pages: each reads the session, calls one `app` operation and renders it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::listing::Filters;
use super::session::{Session, COOKIE};
use crate::app::AppError;
use crate::domain::ids::AuthenticationId;
use crate::domain::principals::Principal;
use crate::domain::token_scope::TokenRefusal;
use crate::domain::token_scope::TokenUse;
use crate::http::SharedState;
use crate::ledger::{Origin, SignedInWith};
use crate::projections::{AuthenticationView, FieldView};
use crate::time::Timestamp;

/// Listing page size.
const PAGE_SIZE: usize = 50;

/// The signed-in session of a request, with its id. A session of a user deactivated since
/// it opened is closed here: offboarding ends dashboard sessions too.
pub(super) async fn session_of(
    state: &SharedState,
    headers: &HeaderMap,
) -> Option<(String, Session)> {
    let (id, session) = live_session(state, headers)?;
    if state
        .app
        .user(session.user)
        .await
        .is_some_and(|u| u.deactivated)
    {
        state.dashboard.close(&id);
        return None;
    }
    Some((id, session))
}

fn live_session(state: &SharedState, headers: &HeaderMap) -> Option<(String, Session)> {
    let cookies = headers.get_all(header::COOKIE);
    let id = cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())?;
    let session = state.dashboard.touch(&id)?;
    Some((id, session))
}

/// Renders a page; a template that fails to render is a 500 with nothing of the page.
pub(super) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/expired_form.html")]
struct ExpiredFormPage;

/// A form whose CSRF token is not the session's (or missing): a page that says nothing was
/// changed, with the ways on (no navigation: its session may be gone).
pub(super) fn expired_form() -> Response {
    render(StatusCode::FORBIDDEN, &ExpiredFormPage)
}

/// The value of field `name` of a posted form.
pub(super) fn form_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The session of a posted form whose CSRF token is the session's, or the answer to give
/// instead (the sign-in page, or "this form has expired"; boxed, as it is the rare case).
pub(super) async fn form_session(
    state: &SharedState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<Session, Box<Response>> {
    let Some((_, session)) = session_of(state, headers).await else {
        return Err(Box::new(to_sign_in()));
    };
    if !form_value(pairs, "csrf").is_some_and(|sent| session.csrf_matches(sent)) {
        return Err(Box::new(expired_form()));
    }
    Ok(session)
}

pub(super) fn to_sign_in() -> Response {
    Redirect::to("/ui/sign-in").into_response()
}

/// `/ui`: the authentications when signed in, else the sign-in form.
pub async fn home(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    match session_of(&state, &headers).await {
        Some(_) => Redirect::to("/ui/authentications").into_response(),
        None => to_sign_in(),
    }
}

#[derive(Template)]
#[template(path = "dashboard/sign_in.html")]
struct SignInPage {
    /// The message beside the token field, after a refused attempt.
    token_error: Option<&'static str>,
}

/// `GET /ui/sign-in`.
pub async fn sign_in_form() -> Response {
    render(StatusCode::OK, &SignInPage { token_error: None })
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    /// Missing reads as empty, which is refused beside the field like a wrong token.
    #[serde(default)]
    token: String,
}

/// `POST /ui/sign-in`: an API token of a user opens a session; the token itself is not kept.
pub async fn sign_in(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let refused = |message| {
        render(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                token_error: Some(message),
            },
        )
    };
    let token = form.token.trim();
    if token.is_empty() {
        return refused("Enter an API token.");
    }
    let user = match state
        .app
        .authenticate_from(token, TokenUse::DashboardSignIn, Origin::Dashboard)
        .await
    {
        Ok(Some(Principal::User(user))) => user,
        Ok(Some(Principal::Runner { .. } | Principal::Auditor { .. })) => {
            return refused(
                "This token is a workflow runner's or an auditor's: sign in with a user's token.",
            )
        }
        Ok(None) => return refused("This token is not valid (unknown or revoked)."),
        Err(AppError::Token(TokenRefusal::Expired { .. })) => {
            return refused("This token has expired.")
        }
        Err(AppError::Token(TokenRefusal::OutOfScope { .. })) => return refused(
            "This token's scopes do not allow the dashboard: it needs the read and write scopes.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not check a sign-in token");
            return (StatusCode::INTERNAL_SERVER_ERROR, "could not sign in").into_response();
        }
    };
    signed_in(&state, &headers, user, SignedInWith::ApiToken)
}

/// Opens a session for `user`, signed in `via`, and sends the browser to the list with its
/// cookie.
pub(super) fn signed_in(
    state: &SharedState,
    headers: &HeaderMap,
    user: crate::domain::ids::UserId,
    via: SignedInWith,
) -> Response {
    let id = match state.dashboard.open(user, via) {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "could not open a dashboard session");
            return (StatusCode::INTERNAL_SERVER_ERROR, "could not sign in").into_response();
        }
    };
    let cookie = Cookie::build((COOKIE, id))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(served_over_https(headers))
        .build();
    with_cookie(Redirect::to("/ui/authentications").into_response(), &cookie)
}

/// Behind a TLS-terminating proxy, which says so: the cookie is then sent over https only.
fn served_over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn with_cookie(mut response: Response, cookie: &Cookie<'_>) -> Response {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A form of a signed-in page.
#[derive(Deserialize)]
pub struct CsrfForm {
    /// Missing reads as empty, which matches no session: the "form expired" page.
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/sign-out`: closes the session (the form's CSRF token must match it).
pub async fn sign_out(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some((id, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    if !session.csrf_matches(&form.csrf) {
        return expired_form();
    }
    state.dashboard.close(&id);
    let gone = Cookie::build((COOKIE, ""))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    with_cookie(to_sign_in(), &gone)
}

/// One row of the list.
struct Row {
    id: String,
    name: String,
    workspace: String,
    service: String,
    kind: String,
    deleted: bool,
    needs_reauthorization: bool,
    expires: Option<String>,
}

impl Row {
    fn of(view: &AuthenticationView) -> Row {
        Row {
            id: view.id.to_string(),
            name: view.name.clone(),
            workspace: workspace_label(view),
            service: view.service.clone(),
            kind: format!("{:?}", view.kind),
            deleted: view.lifecycle == "deleted",
            needs_reauthorization: view.needs_reauthorization,
            expires: view.expires_at.map(|t| t.to_string()),
        }
    }
}

pub(super) fn workspace_label(view: &AuthenticationView) -> String {
    view.workspace_name
        .clone()
        .unwrap_or_else(|| view.workspace.to_string())
}

/// A workspace of the list's filter, by name.
struct WorkspaceOption {
    id: String,
    name: String,
}

/// The kinds a list can be filtered on, as the API names them.
const KINDS: [&str; 6] = [
    "Token",
    "Basic",
    "OAuth2",
    "OAuth1",
    "Certificate",
    "Generic",
];

#[derive(Template)]
#[template(path = "dashboard/authentications.html")]
struct AuthenticationsPage {
    csrf: String,
    filters: Filters,
    workspaces: Vec<WorkspaceOption>,
    kinds: [&'static str; 6],
    rows: Vec<Row>,
    total: usize,
    next: Option<String>,
    error: Option<String>,
}

impl AuthenticationsPage {
    fn filter(&self, name: &str) -> &str {
        self.filters.value(name)
    }

    fn filter_error(&self, name: &str) -> Option<&str> {
        self.filters.error(name)
    }

    /// Whether any filter other than the name search is filled in.
    fn filtered(&self) -> bool {
        self.filters
            .inputs
            .iter()
            .any(|f| f.name != "q" && !f.value.is_empty())
    }
}

/// `GET /ui/authentications?q=…&service=…&…`: the signed-in user's authentications, searched
/// by name and filtered as `GET /v1/authentications` filters them.
pub async fn authentications(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let workspaces = state
        .app
        .workspaces_visible_to(session.user)
        .await
        .into_iter()
        .map(|w| WorkspaceOption {
            id: w.id.to_string(),
            name: w.name,
        })
        .collect();
    let mut filters = Filters::of(&pairs);
    let query = filters.query(form_value(&pairs, "cursor"), PAGE_SIZE, Timestamp::now());
    let mut page = AuthenticationsPage {
        csrf: session.csrf.clone(),
        filters,
        workspaces,
        kinds: KINDS,
        rows: Vec::new(),
        total: 0,
        next: None,
        error: None,
    };
    let query = match query {
        Ok(query) => query,
        Err(problem) => {
            if page.filters.inputs.iter().all(|f| f.error.is_none()) {
                page.error = Some(problem.detail.clone());
            }
            return render(problem.status, &page);
        }
    };
    match state.app.list(session.user, &query).await {
        Ok(found) => {
            page.rows = found.items.iter().map(Row::of).collect();
            page.total = found.total;
            page.next = found.next_cursor;
            render(StatusCode::OK, &page)
        }
        Err(AppError::Cursor(_)) => {
            page.error =
                Some("That page link is no longer valid; start again from the first page.".into());
            render(StatusCode::BAD_REQUEST, &page)
        }
        Err(e) => failed(e),
    }
}

/// One field as the page shows it: a plain value, or only that a secret is set.
pub(super) struct FieldRow {
    pub(super) name: String,
    pub(super) value: Option<String>,
    pub(super) fingerprint: Option<String>,
    pub(super) changed_at_version: u64,
}

#[derive(Template)]
#[template(path = "dashboard/authentication.html")]
pub(super) struct AuthenticationPage {
    csrf: String,
    id: String,
    /// Its name (the purge confirmation asks for it).
    pub(super) name: String,
    workspace: String,
    workspace_id: String,
    service: String,
    kind: String,
    lifecycle: String,
    deleted: bool,
    purged: bool,
    /// The version shown: the expected one of its actions.
    pub(super) version: u64,
    scopes: String,
    needs_reauthorization: bool,
    fields: Vec<FieldRow>,
    /// A refused action, at the top.
    pub(super) error: Option<String>,
    /// A purge whose confirmation did not match.
    pub(super) confirm_error: Option<String>,
    /// A delete whose "Yes, delete it" was not ticked.
    pub(super) delete_error: Option<String>,
    /// Said once after an action elsewhere (e.g. an OAuth2 connection) brought the browser here.
    pub(super) notice: Option<&'static str>,
    /// "Use it in a workflow step": the resolve request for it, ready to paste.
    resolve_command: String,
}

/// `?notice=` of an authentication's page: what just happened, from a fixed list.
#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/not_found.html")]
struct NotFoundPage {
    csrf: String,
}

/// `GET /ui/authentications/{id}`: one authentication; secrets only as "set" and a fingerprint.
pub async fn authentication(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(notice): Query<NoticeQuery>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    match authentication_page(&state, &session, &raw).await {
        Ok(mut page) => {
            page.resolve_command = resolve_command(&headers, &page);
            page.notice = match notice.notice.as_deref() {
                Some("connected") => Some(
                    "Connected through the provider: the grant is saved (its tokens are sealed and never shown).",
                ),
                _ => None,
            };
            render(StatusCode::OK, &page)
        }
        Err(answer) => answer,
    }
}

/// The "not found" page: the same for a missing, hidden or malformed authentication.
pub(super) fn not_found_page(session: &Session) -> Response {
    render(
        StatusCode::NOT_FOUND,
        &NotFoundPage {
            csrf: session.csrf.clone(),
        },
    )
}

/// Authentication `raw` as `session`'s user may see it now, or the answer to give instead.
pub(super) async fn visible_view(
    state: &SharedState,
    session: &Session,
    raw: &str,
) -> Result<AuthenticationView, Response> {
    let id = raw
        .parse::<AuthenticationId>()
        .map_err(|_| not_found_page(session))?;
    match state.app.get(session.user, id).await {
        Ok(view) => Ok(view),
        Err(AppError::NotFound) => Err(not_found_page(session)),
        Err(e) => Err(failed(e)),
    }
}

/// The signed-in session and authentication `raw` as its user may see it, or the answer to
/// give instead (sign in, or the one "not found" page): how every page of one authentication
/// starts.
pub(super) async fn session_and_view(
    state: &SharedState,
    headers: &HeaderMap,
    raw: &str,
) -> Result<(Session, AuthenticationView), Response> {
    let Some((_, session)) = session_of(state, headers).await else {
        return Err(to_sign_in());
    };
    let view = visible_view(state, &session, raw).await?;
    Ok((session, view))
}

/// [`session_and_view`] for a form's post: the session must also match the form's CSRF token.
pub(super) async fn form_session_and_view(
    state: &SharedState,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    raw: &str,
) -> Result<(Session, AuthenticationView), Response> {
    let session = form_session(state, headers, pairs).await.map_err(|a| *a)?;
    let view = visible_view(state, &session, raw).await?;
    Ok((session, view))
}

/// The page of authentication `raw` for `session`'s user, or the answer to give instead
/// (the same "not found" page for a missing, hidden or malformed one).
pub(super) async fn authentication_page(
    state: &SharedState,
    session: &Session,
    raw: &str,
) -> Result<AuthenticationPage, Response> {
    let view = visible_view(state, session, raw).await?;
    let fields = view.fields.iter().map(FieldRow::of).collect();
    Ok(AuthenticationPage {
        csrf: session.csrf.clone(),
        id: view.id.to_string(),
        name: view.name.clone(),
        workspace: workspace_label(&view),
        workspace_id: view.workspace.to_string(),
        service: view.service.clone(),
        kind: format!("{:?}", view.kind),
        lifecycle: lifecycle_label(&view),
        deleted: view.lifecycle == "deleted",
        purged: view.lifecycle == "purged",
        version: view.version,
        scopes: view.scopes.join(" "),
        needs_reauthorization: view.needs_reauthorization,
        fields,
        error: None,
        confirm_error: None,
        delete_error: None,
        notice: None,
        resolve_command: String::new(),
    })
}

/// The resolve request a workflow runner sends for this authentication (`POST /v1/resolve`),
/// with its id, its workspace and its first field filled in, at the address this page was
/// reached at. The token stays a `$TOKEN` placeholder.
fn resolve_command(headers: &HeaderMap, page: &AuthenticationPage) -> String {
    // The command is pasted into a shell: a Host that is not a plain name or address with a
    // port is not copied into it.
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("127.0.0.1:8080");
    let scheme = if served_over_https(headers) {
        "https"
    } else {
        "http"
    };
    let field = page.fields.first().map_or("token", |f| f.name.as_str());
    let body = serde_json::json!({
        "authentication": page.id,
        "workspace": page.workspace_id,
        "template": format!("$.auth.{field}"),
    });
    format!(
        "curl -s -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\\n  -d '{body}' \\\n  {scheme}://{host}/v1/resolve"
    )
}

impl FieldRow {
    pub(super) fn of((name, field): (&String, &FieldView)) -> FieldRow {
        match field {
            FieldView::Plain {
                value,
                changed_at_version,
            } => FieldRow {
                name: name.clone(),
                value: Some(value.clone()),
                fingerprint: None,
                changed_at_version: *changed_at_version,
            },
            FieldView::Secret {
                fingerprint,
                changed_at_version,
                ..
            } => FieldRow {
                name: name.clone(),
                value: None,
                fingerprint: Some(fingerprint.to_string()),
                changed_at_version: *changed_at_version,
            },
        }
    }
}

pub(super) fn lifecycle_label(view: &AuthenticationView) -> String {
    match view.lifecycle {
        "active" => "Active",
        "deleted" => "Deleted (can be restored)",
        "purged" => "Purged (secrets destroyed)",
        other => other,
    }
    .to_owned()
}

/// Whether a field is typed on many lines (PEM): a `<textarea>`, as a one-line input would
/// drop the line breaks.
pub(super) fn typed_on_many_lines(spec: &crate::domain::services::FieldSpec) -> bool {
    matches!(spec.format, crate::domain::services::FieldFormat::Pem)
}

/// A failure of the server, not of the request: logged, and a page that says only that.
fn failed(error: AppError) -> Response {
    tracing::error!(error = %error, "a dashboard page failed");
    failed_page()
}

/// The page of a server failure; what failed is in the log, never on the page.
pub(super) fn failed_page() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html("<!doctype html><title>Error</title><p>Something went wrong on the server; the log has the details."),
    )
        .into_response()
}
