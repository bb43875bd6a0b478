//! "Create new authentication" for a prebuilt service whose kind takes its material in a form
//! (every kind but OAuth2, whose grant comes from the provider's consent page). The command
//! is the API's (`App::execute_with_options` with `Create`), with the origin `Dashboard`
//! because it came through these pages; a refusal is shown beside the field it names.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::pages::{expired_form, failed_page, form_value, render, session_of, to_sign_in};
use crate::app::{Caller, ChangeOptions};
use crate::domain::authentication::{AuthenticationCommand, CreateAuthentication};
use crate::domain::ids::{AuthenticationId, FieldName, ServiceKey, WorkspaceId};
use crate::domain::secret::SecretText;
use crate::domain::services::{AuthKind, ServiceRef, ServiceSpec};
use crate::http::error::ApiError;
use crate::http::SharedState;
use crate::ledger::{Origin, SignedInWith};

/// A service in the catalog list.
struct ServiceChoice {
    key: String,
    name: String,
    kind: String,
}

/// A field of the chosen service's form.
struct FieldInput {
    name: String,
    secret: bool,
    required: bool,
    description: String,
    /// What the person typed, to show again after a refusal (plain fields only).
    value: String,
    error: Option<String>,
}

/// A workspace the person may pick.
struct WorkspaceChoice {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "dashboard/create.html")]
struct CreatePage {
    csrf: String,
    services: Vec<ServiceChoice>,
    service: Option<ServiceChoice>,
    workspaces: Vec<WorkspaceChoice>,
    name: String,
    name_error: Option<String>,
    workspace_error: Option<String>,
    fields: Vec<FieldInput>,
    save_unverified: bool,
    /// A refusal that names no field of the form.
    error: Option<String>,
}

/// `?service=` of the form.
#[derive(Deserialize)]
pub struct Chosen {
    service: Option<String>,
}

fn kind_label(kind: AuthKind) -> String {
    format!("{kind:?}")
}

/// The prebuilt services whose material a form can take.
fn form_services(state: &SharedState) -> Vec<ServiceChoice> {
    let mut services: Vec<ServiceChoice> = state
        .app
        .catalog()
        .iter()
        .filter(|(_, spec)| spec.auth_kind != AuthKind::OAuth2)
        .map(|(key, spec)| ServiceChoice {
            key: key.to_string(),
            name: spec.name.clone(),
            kind: kind_label(spec.auth_kind),
        })
        .collect();
    services.sort_by_key(|s| s.name.to_lowercase());
    services
}

fn chosen_spec(state: &SharedState, raw: &str) -> Option<(ServiceKey, ServiceSpec)> {
    let key = ServiceKey::parse(raw).ok()?;
    let spec = state
        .app
        .catalog()
        .get(&key)
        .filter(|s| s.auth_kind != AuthKind::OAuth2)?
        .clone();
    Some((key, spec))
}

async fn blank_page(
    state: &SharedState,
    csrf: String,
    user: crate::domain::ids::UserId,
    chosen: Option<(ServiceKey, ServiceSpec)>,
) -> CreatePage {
    let workspaces = state
        .app
        .workspaces_visible_to(user)
        .await
        .into_iter()
        .map(|w| WorkspaceChoice {
            id: w.id.to_string(),
            name: w.name,
            selected: false,
        })
        .collect();
    let (service, fields) = match chosen {
        Some((key, spec)) => (
            Some(ServiceChoice {
                key: key.to_string(),
                name: spec.name.clone(),
                kind: kind_label(spec.auth_kind),
            }),
            spec.all_fields()
                .iter()
                .map(|f| FieldInput {
                    name: f.name.to_string(),
                    secret: f.secret,
                    required: f.required,
                    description: f.description.clone(),
                    value: String::new(),
                    error: None,
                })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    CreatePage {
        csrf,
        services: form_services(state),
        service,
        workspaces,
        name: String::new(),
        name_error: None,
        workspace_error: None,
        fields,
        save_unverified: false,
        error: None,
    }
}

/// `GET /ui/authentications/new`: pick a service, then fill in its fields.
pub async fn form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(chosen): Query<Chosen>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers) else {
        return to_sign_in();
    };
    let spec = chosen
        .service
        .as_deref()
        .and_then(|s| chosen_spec(&state, s));
    let page = blank_page(&state, session.csrf.clone(), session.user, spec).await;
    render(StatusCode::OK, &page)
}

/// `POST /ui/authentications/new`: creates it, or shows the form again with the refusal
/// beside its field. Secret values are never sent back into the page.
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers) else {
        return to_sign_in();
    };
    let value = |name: &str| form_value(&pairs, name);
    if !value("csrf").is_some_and(|sent| session.csrf_matches(sent)) {
        return expired_form();
    }
    let Some((key, spec)) = value("service").and_then(|s| chosen_spec(&state, s)) else {
        return Redirect::to("/ui/authentications/new").into_response();
    };
    let mut page = blank_page(
        &state,
        session.csrf.clone(),
        session.user,
        Some((key.clone(), spec.clone())),
    )
    .await;
    page.name = value("name").unwrap_or_default().to_owned();
    page.save_unverified = value("save_unverified").is_some();
    let workspace_text = value("workspace").unwrap_or_default();
    for choice in &mut page.workspaces {
        choice.selected = choice.id == workspace_text;
    }
    let Ok(workspace) = workspace_text.parse::<WorkspaceId>() else {
        page.workspace_error = Some("Choose a workspace.".into());
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let mut fields = std::collections::BTreeMap::new();
    for input in &mut page.fields {
        let typed = value(&format!("field.{}", input.name)).unwrap_or_default();
        if !input.secret {
            input.value = typed.to_owned();
        }
        if typed.is_empty() {
            continue; // An empty input is "not given"; a required one is refused by the rules.
        }
        if let Ok(name) = FieldName::parse(&input.name) {
            fields.insert(name, SecretText::new(typed.to_owned()));
        }
    }
    let mut caller = Caller {
        user: session.user,
        via: SignedInWith::ApiToken,
        origin: Origin::Dashboard,
        idempotency: None,
    };
    let id = AuthenticationId::new();
    let command = AuthenticationCommand::Create(CreateAuthentication {
        id,
        name: page.name.clone(),
        workspace,
        service: ServiceRef::Prebuilt(key),
        fields,
        scopes: Vec::new(),
        extra_permissions: Vec::new(),
        environment: None,
        origin: caller.change_origin(None),
    });
    let options = ChangeOptions {
        save_unverified: page.save_unverified,
    };
    match state
        .app
        .execute_with_options(&caller, id, vec![command], None, options)
        .await
    {
        Ok(_) => Redirect::to(&format!("/ui/authentications/{id}")).into_response(),
        Err(e) => {
            let problem = ApiError::from(e);
            if problem.status.is_server_error() {
                return failed_page();
            }
            place_refusal(&mut page, &problem);
            render(problem.status, &page)
        }
    }
}

/// The field a refusal names (the API's problem `field`) and its reason without the field.
pub(super) fn field_and_reason(problem: &ApiError) -> (Option<&str>, String) {
    let field = problem.field.as_deref();
    let reason = field
        .and_then(|f| problem.detail.strip_prefix(f))
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(&problem.detail)
        .to_owned();
    (field, reason)
}

/// Puts a refusal beside the input its field names, or at the top of the form.
fn place_refusal(page: &mut CreatePage, problem: &ApiError) {
    let (field, reason) = field_and_reason(problem);
    match field {
        Some("name") => page.name_error = Some(reason),
        Some("workspace") => page.workspace_error = Some(reason),
        Some(field) => {
            let input = field
                .strip_prefix("fields.")
                .and_then(|name| page.fields.iter_mut().find(|f| f.name == name));
            match input {
                Some(input) => input.error = Some(reason),
                None => page.error = Some(problem.detail.clone()),
            }
        }
        None => page.error = Some(problem.detail.clone()),
    }
}
