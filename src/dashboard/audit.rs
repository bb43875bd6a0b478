//! The audit trail on screen: the filters of `GET /v1/audit`, pages by cursor, and the
//! NDJSON and CSV downloads, which are the API's own export (the same bytes). The filters are
//! checked by the API's parser and the records read with the API's scope rule, so a person
//! sees here exactly what their token reads there, and a refusal names the same field.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::create::field_and_reason;
use super::directory::Names;
use super::pages::{failed_page, form_value, render, session_of, to_sign_in};
use super::session::Session;
use super::time_input::parse_time_input;
use crate::app::AuditQuery;
use crate::domain::ids::UserId;
use crate::domain::principals::Principal;
use crate::http::error::ApiError;
use crate::http::handlers::audit::{
    event_types, export, query_of, readable_workspaces, AuditParams, Format,
};
use crate::http::SharedState;
use crate::projections::AuditRecord;

/// Records per page on screen.
const PAGE_SIZE: usize = 50;

/// The filters, by their API names, in the order of the form.
const FILTERS: [&str; 8] = [
    "actor",
    "authentication",
    "workspace",
    "type",
    "outcome",
    "from",
    "to",
    "order",
];

/// One filter input: what was typed, and the refusal beside it.
struct Filter {
    value: String,
    error: Option<String>,
}

/// One record of the table.
struct Row {
    when: String,
    event: String,
    outcome: &'static str,
    actor: String,
    origin: &'static str,
    resource: String,
    changes: String,
}

impl Row {
    fn of(record: &AuditRecord, names: &Names) -> Row {
        let mut changes: Vec<String> = record
            .fields
            .iter()
            .map(|f| format!("{} {:?}", f.field, f.change).to_lowercase())
            .collect();
        changes.extend(record.accessed_fields.iter().map(|f| format!("read {f}")));
        Row {
            when: record.recorded_at.to_string(),
            event: record.event_type.clone(),
            outcome: record.outcome,
            actor: record
                .actor
                .strip_prefix("user:")
                .and_then(|id| id.parse::<UserId>().ok())
                .map_or_else(|| record.actor.clone(), |user| names.of(user)),
            origin: record.origin,
            resource: record.resource.clone(),
            changes: changes.join(", "),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
struct AuditPage {
    csrf: String,
    filters: Vec<(&'static str, Filter)>,
    event_types: Vec<&'static str>,
    rows: Vec<Row>,
    /// The filters as a query string (for the downloads and the next page).
    filter_query: String,
    next: Option<String>,
    /// A refusal that names no input.
    error: Option<String>,
}

impl AuditPage {
    fn filter(&self, name: &str) -> &str {
        self.filters
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, f)| f.value.as_str())
    }

    fn filter_error(&self, name: &str) -> Option<&str> {
        self.filters
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, f)| f.error.as_deref())
    }
}

#[derive(Template)]
#[template(path = "dashboard/refused.html")]
struct RefusedPage {
    csrf: String,
    title: &'static str,
    message: String,
}

/// The API's query of the filters filled in (empty inputs are no filter; the browser's
/// date-times are read as UTC).
fn params_of(pairs: &[(String, String)], cursor: bool) -> Result<AuditParams, ApiError> {
    let value = |name: &str| {
        form_value(pairs, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let time = |name: &str| {
        value(name)
            .map(|raw| parse_time_input(name, &raw).map(|t| t.to_string()))
            .transpose()
    };
    Ok(AuditParams {
        actor: value("actor"),
        authentication: value("authentication"),
        workspace: value("workspace"),
        event_type: value("type"),
        outcome: value("outcome"),
        from: time("from")?,
        to: time("to")?,
        order: value("order"),
        limit: Some(PAGE_SIZE),
        cursor: if cursor { value("cursor") } else { None },
        format: None,
    })
}

/// What the signed-in user asked for and may read, or the answer to give instead.
async fn scoped_query(
    state: &SharedState,
    session: &Session,
    pairs: &[(String, String)],
    page: &mut AuditPage,
    cursor: bool,
) -> Result<AuditQuery, Response> {
    let scope = match readable_workspaces(&state.app, &Principal::User(session.user)).await {
        Ok(scope) => scope,
        Err(problem) if problem.status == StatusCode::FORBIDDEN => {
            return Err(render(
                StatusCode::FORBIDDEN,
                &RefusedPage {
                    csrf: page.csrf.clone(),
                    title: "Audit",
                    message: "Only auditors and the owners and administrators of an organization read audit records.".into(),
                },
            ))
        }
        Err(_) => return Err(failed_page()),
    };
    let query = params_of(pairs, cursor).and_then(|params| query_of(&params));
    match query {
        Ok(mut query) => {
            query.filter.within = scope;
            Ok(query)
        }
        Err(problem) => {
            let (field, reason) = field_and_reason(&problem);
            match page
                .filters
                .iter_mut()
                .find(|(name, _)| Some(*name) == field)
            {
                Some((_, filter)) => filter.error = Some(reason),
                None => page.error = Some(problem.detail.clone()),
            }
            Err(render(problem.status, page))
        }
    }
}

fn page_of(csrf: String, pairs: &[(String, String)]) -> AuditPage {
    let filters: Vec<(&'static str, Filter)> = FILTERS
        .iter()
        .map(|name| {
            let value = form_value(pairs, name)
                .unwrap_or_default()
                .trim()
                .to_owned();
            (*name, Filter { value, error: None })
        })
        .collect();
    let mut encoded = url::form_urlencoded::Serializer::new(String::new());
    for (name, filter) in &filters {
        if !filter.value.is_empty() {
            encoded.append_pair(name, &filter.value);
        }
    }
    AuditPage {
        csrf,
        filters,
        event_types: event_types().collect(),
        rows: Vec::new(),
        filter_query: encoded.finish(),
        next: None,
        error: None,
    }
}

/// `GET /ui/audit?…filters…&cursor=…`: one page of records, newest first by default.
pub async fn audit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let mut page = page_of(session.csrf.clone(), &pairs);
    let query = match scoped_query(&state, &session, &pairs, &mut page, true).await {
        Ok(query) => query,
        Err(answer) => return answer,
    };
    match state.app.audit(&query).await {
        Ok(found) => {
            let names = Names::for_user(&state, session.user).await;
            page.rows = found.records.iter().map(|r| Row::of(r, &names)).collect();
            page.next = found.next.map(|p| p.to_string());
            render(StatusCode::OK, &page)
        }
        Err(e) => {
            tracing::error!(error = %e, "the audit page failed");
            failed_page()
        }
    }
}

/// `GET /ui/audit/export?format=ndjson|csv&…filters…`: every matching record, as a file.
pub async fn download(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let mut page = page_of(session.csrf.clone(), &pairs);
    let (format, file_name) = match form_value(&pairs, "format") {
        Some("ndjson") => (Format::Ndjson, "credledger-audit.ndjson"),
        Some("csv") => (Format::Csv, "credledger-audit.csv"),
        _ => {
            page.error = Some("format: choose ndjson or csv".into());
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let query = match scoped_query(&state, &session, &pairs, &mut page, false).await {
        Ok(query) => query,
        Err(answer) => return answer,
    };
    let mut file = export(state.app.clone(), query, format);
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
    {
        file.headers_mut()
            .insert(header::CONTENT_DISPOSITION, disposition);
    }
    file
}
