//! An authentication's history: every event with who, when, where from and what changed per
//! field (overridden, kept or cleared, with fingerprints; never a secret), each with a link to
//! the authentication as of that version and a form to restore it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{failed_page, not_found_page, render, session_of, to_sign_in};
use crate::app::AppError;
use crate::domain::ids::AuthenticationId;
use crate::http::SharedState;
use crate::projections::{FieldChangeKind, HistoryEntry};

/// One field's change in an entry.
struct Change {
    field: String,
    what: &'static str,
    /// `fp:… → fp:…` for a secret, the value for a plain field.
    detail: String,
}

/// One entry of the timeline.
struct Entry {
    version: u64,
    when: String,
    who: String,
    origin: String,
    event: String,
    changes: Vec<Change>,
}

impl Entry {
    fn of(entry: &HistoryEntry) -> Entry {
        let changes = entry
            .fields
            .iter()
            .map(|diff| {
                let what = match diff.change {
                    FieldChangeKind::Set => "set",
                    FieldChangeKind::Overridden => "overridden",
                    FieldChangeKind::Kept => "kept",
                    FieldChangeKind::Cleared => "cleared",
                };
                let detail = if diff.secret {
                    let show = |f: &Option<crate::crypto::Fingerprint>| {
                        f.as_ref()
                            .map(|f| f.to_string())
                            .unwrap_or_else(|| "—".into())
                    };
                    match (&diff.previous_fingerprint, &diff.fingerprint) {
                        (Some(_), _) => format!(
                            "{} → {}",
                            show(&diff.previous_fingerprint),
                            show(&diff.fingerprint)
                        ),
                        (None, _) => show(&diff.fingerprint),
                    }
                } else {
                    diff.value.clone().unwrap_or_default()
                };
                Change {
                    field: diff.field.clone(),
                    what,
                    detail,
                }
            })
            .collect();
        Entry {
            version: entry.version,
            when: entry.recorded_at.to_string(),
            who: entry.actor.clone(),
            origin: format!("{:?}", entry.origin),
            event: entry.event_type.clone(),
            changes,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/history.html")]
struct HistoryPage {
    csrf: String,
    id: String,
    current: u64,
    entries: Vec<Entry>,
}

/// `GET /ui/authentications/{id}/history`: the newest entry first.
pub async fn history(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let Ok(id) = raw.parse::<AuthenticationId>() else {
        return not_found_page(&session);
    };
    let entries = match state.app.history(session.user, id).await {
        Ok(entries) => entries,
        Err(AppError::NotFound) => return not_found_page(&session),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard page failed");
            return failed_page();
        }
    };
    let current = entries.iter().map(|e| e.version).max().unwrap_or(0);
    let page = HistoryPage {
        csrf: session.csrf.clone(),
        id: id.to_string(),
        current,
        entries: entries.iter().rev().map(Entry::of).collect(),
    };
    render(StatusCode::OK, &page)
}
