//! Settings of an authentication: a re-authentication where each field is kept, replaced or
//! cleared. Saved secrets are not displayed (only whether they are set and a fingerprint);
//! the command is the API's `Reauthenticate`, with the origin `Dashboard` and the version the
//! page was built from as the expected one, so a change made meanwhile is not overwritten.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::create::ScopeChoice;
use super::pages::{failed_page, form_session_and_view, form_value, render, session_and_view};
use crate::app::ChangeOptions;
use crate::domain::authentication::{AuthenticationCommand, FieldChange};
use crate::domain::ids::{FieldName, UserId};
use crate::domain::secret::SecretText;
use crate::domain::services::{AuthKind, FieldSpec, ServiceSpec};
use crate::http::error::ApiError;
use crate::http::SharedState;
use crate::projections::{AuthenticationView, FieldView};

/// One field of the settings form.
struct SettingInput {
    name: String,
    secret: bool,
    required: bool,
    /// Typed on many lines (a PEM): a text area.
    multiline: bool,
    /// "set · fp:…" for a set secret, the value of a plain field, "not set" otherwise.
    now: String,
    is_set: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/settings.html")]
pub(super) struct SettingsPage {
    csrf: String,
    id: String,
    name: String,
    version: u64,
    fields: Vec<SettingInput>,
    save_unverified: bool,
    error: Option<String>,
    needs_reauthorization: bool,
    /// An OAuth2 authentication: a new consent at the provider (`dashboard/reconnect.rs`).
    pub(super) reconnect: Option<Reconnect>,
}

/// The "Reconnect at the provider" form of an OAuth2 authentication's settings.
pub(super) struct Reconnect {
    pub(super) scopes: Vec<ScopeChoice>,
    /// The "Extra permissions" box.
    pub(super) extra_permissions: String,
    /// The confirm step: required scopes left unticked (the API's warning).
    pub(super) scope_warning: Option<String>,
    /// A refusal of the flow's start.
    pub(super) error: Option<String>,
}

/// The definition of the service behind `view`, as `user` may see it.
async fn service_spec(
    state: &SharedState,
    user: UserId,
    view: &AuthenticationView,
) -> Option<ServiceSpec> {
    let service = crate::http::dto::parse_service(&view.service).ok()?;
    state.app.service_spec_for(user, &service).await
}

/// The fields the service defines, in order.
fn service_fields(spec: Option<&ServiceSpec>) -> Vec<FieldSpec> {
    spec.map(|s| s.all_fields()).unwrap_or_default()
}

/// An OAuth2 authentication's "Reconnect at the provider": its service's scopes, the granted
/// ones ticked, and its extra permissions.
fn reconnect_of(spec: Option<&ServiceSpec>, view: &AuthenticationView) -> Option<Reconnect> {
    let spec = spec.filter(|s| s.auth_kind == AuthKind::OAuth2)?;
    let offered: Vec<ScopeChoice> = spec
        .scopes
        .iter()
        .map(|scope| ScopeChoice {
            name: scope.clone(),
            required: spec.required_scopes.contains(scope),
            checked: view.scopes.contains(scope),
        })
        .collect();
    // Extra permissions: the granted and asked-for scopes the service's list does not offer,
    // each once, in order.
    let mut extra: Vec<&str> = Vec::new();
    for scope in view.scopes.iter().chain(&view.extra_permissions) {
        if !spec.scopes.contains(scope) && !extra.contains(&scope.as_str()) {
            extra.push(scope);
        }
    }
    Some(Reconnect {
        scopes: offered,
        extra_permissions: extra.join(" "),
        scope_warning: None,
        error: None,
    })
}

pub(super) async fn page_of(
    state: &SharedState,
    csrf: String,
    user: UserId,
    view: &AuthenticationView,
) -> SettingsPage {
    let spec = service_spec(state, user, view).await;
    let mut fields: Vec<SettingInput> = service_fields(spec.as_ref())
        .into_iter()
        .map(|spec| {
            let held = view.fields.get(spec.name.as_str());
            SettingInput {
                name: spec.name.to_string(),
                secret: spec.secret,
                required: spec.required,
                multiline: super::pages::typed_on_many_lines(&spec),
                now: describe(held),
                is_set: held.is_some(),
                error: None,
            }
        })
        .collect();
    for (name, held) in &view.fields {
        if !fields.iter().any(|f| &f.name == name) {
            fields.push(SettingInput {
                name: name.clone(),
                secret: matches!(held, FieldView::Secret { .. }),
                required: false,
                multiline: false,
                now: describe(Some(held)),
                is_set: true,
                error: None,
            });
        }
    }
    SettingsPage {
        csrf,
        id: view.id.to_string(),
        name: view.name.clone(),
        version: view.version,
        fields,
        save_unverified: false,
        error: None,
        needs_reauthorization: view.needs_reauthorization,
        reconnect: reconnect_of(spec.as_ref(), view),
    }
}

fn describe(held: Option<&FieldView>) -> String {
    match held {
        Some(FieldView::Secret { fingerprint, .. }) => format!("set · {fingerprint}"),
        Some(FieldView::Plain { value, .. }) => value.clone(),
        None => "not set".to_owned(),
    }
}

/// `GET /ui/authentications/{id}/settings`.
pub async fn form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    match session_and_view(&state, &headers, &raw).await {
        Ok((session, view)) => render(
            StatusCode::OK,
            &page_of(&state, session.csrf.clone(), session.user, &view).await,
        ),
        Err(answer) => answer,
    }
}

/// `POST /ui/authentications/{id}/settings`: per field `keep`, `replace` (with the new value)
/// or `clear`.
pub async fn save(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (session, view) = match form_session_and_view(&state, &headers, &pairs, &raw).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let value = |name: &str| form_value(&pairs, name);
    let mut page = page_of(&state, session.csrf.clone(), session.user, &view).await;
    page.save_unverified = value("save_unverified").is_some();
    let expected = value("version").and_then(|v| v.parse::<u64>().ok());
    let mut changes = BTreeMap::new();
    for input in &page.fields {
        let Ok(name) = FieldName::parse(&input.name) else {
            continue;
        };
        match value(&format!("do.{}", input.name)) {
            Some("replace") => {
                let typed = value(&format!("field.{}", input.name)).unwrap_or_default();
                changes.insert(name, FieldChange::Set(SecretText::new(typed.to_owned())));
            }
            Some("clear") => {
                changes.insert(name, FieldChange::Clear);
            }
            _ => {}
        }
    }
    let mut caller = session.caller();
    let command = AuthenticationCommand::Reauthenticate {
        fields: changes,
        origin: caller.change_origin(None),
    };
    let options = ChangeOptions {
        save_unverified: page.save_unverified,
    };
    match state
        .app
        .execute_with_options(&caller, view.id, vec![command], expected, options)
        .await
    {
        Ok(_) => Redirect::to(&format!("/ui/authentications/{}", view.id)).into_response(),
        Err(e) => {
            let problem = ApiError::from(e);
            if problem.status.is_server_error() {
                return failed_page();
            }
            let (field, reason) = super::create::field_and_reason(&problem);
            let input = field
                .and_then(|f| f.strip_prefix("fields."))
                .and_then(|name| page.fields.iter_mut().find(|f| f.name == name));
            match input {
                Some(input) => input.error = Some(reason),
                None => page.error = Some(problem.detail.clone()),
            }
            render(problem.status, &page)
        }
    }
}
