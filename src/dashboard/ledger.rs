//! The Services page (the catalog and the custom services the user may see, as
//! `GET /v1/services` lists them) and the ledger integrity page (the durable head and the
//! latest signed checkpoint, as `GET /v1/checkpoints/latest` reads it, for those allowed).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{failed_page, render, session_of, to_sign_in};
use crate::app::AppError;
use crate::domain::principals::Principal;
use crate::http::handlers::checkpoints::CheckpointBody;
use crate::http::handlers::services::services_visible_to;
use crate::http::SharedState;

/// One service of the page.
struct ServiceRow {
    reference: String,
    name: String,
    kind: String,
    api_version: String,
    custom: bool,
    retired: bool,
    /// Each field: name, secret, required.
    fields: Vec<(String, bool, bool)>,
    scopes: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "dashboard/services.html")]
struct ServicesPage {
    csrf: String,
    services: Vec<ServiceRow>,
}

/// `GET /ui/services`.
pub async fn services(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let services = services_visible_to(&state.app, session.user)
        .await
        .into_iter()
        .map(|s| ServiceRow {
            scopes: s
                .spec
                .scopes
                .iter()
                .map(|scope| (scope.clone(), s.spec.required_scopes.contains(scope)))
                .collect(),
            fields: s
                .fields
                .iter()
                .map(|f| (f.name.to_string(), f.secret, f.required))
                .collect(),
            reference: s.service,
            name: s.spec.name,
            kind: format!("{:?}", s.spec.auth_kind),
            api_version: s.spec.api_version,
            custom: s.custom,
            retired: s.retired,
        })
        .collect();
    render(
        StatusCode::OK,
        &ServicesPage {
            csrf: session.csrf.clone(),
            services,
        },
    )
}

#[derive(Template)]
#[template(path = "dashboard/integrity.html")]
struct IntegrityPage {
    csrf: String,
    head_position: u64,
    head_hash: String,
    checkpoint: Option<CheckpointBody>,
    /// Whether the checkpoint's signature verifies under its own key.
    signature_ok: bool,
    /// Events appended since the checkpoint.
    since: u64,
    /// The refusal, for whoever may not read checkpoints.
    refused: Option<String>,
}

/// `GET /ui/integrity`.
pub async fn integrity(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let head = state.app.ledger_head();
    let mut page = IntegrityPage {
        csrf: session.csrf.clone(),
        head_position: head.position,
        head_hash: head.hash.to_hex(),
        checkpoint: None,
        signature_ok: false,
        since: 0,
        refused: None,
    };
    match state
        .app
        .latest_checkpoint(&Principal::User(session.user))
        .await
    {
        Ok(latest) => {
            if let Some(checkpoint) = latest {
                page.signature_ok = checkpoint.verify_signature().is_ok();
                page.since = head.position.saturating_sub(checkpoint.position);
                page.checkpoint = Some(CheckpointBody::from(&checkpoint));
            }
            render(StatusCode::OK, &page)
        }
        Err(AppError::Principal(refusal)) => {
            page.refused = Some(refusal.to_string());
            render(StatusCode::FORBIDDEN, &page)
        }
        Err(e) => {
            tracing::error!(error = %e, "the integrity page failed");
            failed_page()
        }
    }
}
