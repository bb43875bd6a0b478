//! "Create new authentication" for a prebuilt service: a catalog searched by name, then the
//! form of the chosen service. A kind that takes its material in a form is created with the
//! API's command (`App::execute_with_options` with `Create`); an OAuth2 service's form picks
//! scopes and extra permissions and continues at the provider (`dashboard/oauth.rs`). The
//! origin is `Dashboard` because it came through these pages; a refusal is shown beside the
//! field it names.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::pages::{failed_page, form_session, form_value, render, session_of, to_sign_in};
use super::workspace_choice::{workspace_choices, WorkspaceChoice};
use crate::app::ChangeOptions;
use crate::domain::authentication::{AuthenticationCommand, CreateAuthentication};
use crate::domain::ids::{AuthenticationId, FieldName, UserId, WorkspaceId};
use crate::domain::secret::SecretText;
use crate::domain::services::{AuthKind, ServiceRef, ServiceSpec};
use crate::http::error::ApiError;
use crate::http::SharedState;
use crate::oauth::flow::given_before_the_grant;

/// A service in the catalog list.
pub(super) struct ServiceChoice {
    /// `slack` or `custom:<uuid>`, as the API names it.
    key: String,
    /// A custom service (marked in the list).
    custom: bool,
    name: String,
    kind: String,
    /// Its fields, as the catalog lists them (`name (secret, required)`).
    fields: Vec<String>,
}

/// A scope of an OAuth2 service's list, as a checkbox.
pub(super) struct ScopeChoice {
    pub(super) name: String,
    pub(super) required: bool,
    pub(super) checked: bool,
}

/// A field of the chosen service's form.
pub(super) struct FieldInput {
    pub(super) name: String,
    secret: bool,
    required: bool,
    /// Typed on many lines (a PEM): a text area.
    multiline: bool,
    description: String,
    /// What the person typed, to show again after a refusal (plain fields only).
    pub(super) value: String,
    pub(super) error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/create.html")]
pub(super) struct CreatePage {
    pub(super) csrf: String,
    /// The catalog search (`?q=`).
    search: String,
    services: Vec<ServiceChoice>,
    service: Option<ServiceChoice>,
    /// An OAuth2 service: its scopes as checkboxes (the others take their fields).
    pub(super) oauth: bool,
    pub(super) scopes: Vec<ScopeChoice>,
    /// The "Extra permissions" box, as typed.
    pub(super) extra_permissions: String,
    /// The confirm step: required scopes left unticked (the API's warning).
    pub(super) scope_warning: Option<String>,
    pub(super) workspaces: Vec<WorkspaceChoice>,
    pub(super) name: String,
    pub(super) name_error: Option<String>,
    pub(super) workspace_error: Option<String>,
    pub(super) fields: Vec<FieldInput>,
    save_unverified: bool,
    /// A refusal that names no field of the form.
    pub(super) error: Option<String>,
}

/// `?service=` and `?q=` of the form.
#[derive(Deserialize)]
pub struct Chosen {
    service: Option<String>,
    #[serde(default)]
    q: String,
}

fn kind_label(kind: AuthKind) -> String {
    format!("{kind:?}")
}

impl ServiceChoice {
    fn of(service: &ServiceRef, spec: &ServiceSpec) -> ServiceChoice {
        ServiceChoice {
            key: service.to_string(),
            custom: matches!(service, ServiceRef::Custom(_)),
            name: spec.name.clone(),
            kind: kind_label(spec.auth_kind),
            fields: spec
                .all_fields()
                .iter()
                .map(|f| match (f.secret, f.required) {
                    (true, true) => format!("{} (secret, required)", f.name),
                    (true, false) => format!("{} (secret)", f.name),
                    (false, true) => format!("{} (required)", f.name),
                    (false, false) => f.name.to_string(),
                })
                .collect(),
        }
    }
}

/// The services `user` may create with whose name, key or kind contains `search` (all for
/// an empty one): the prebuilt catalog and the custom services they may see that still back
/// new authentications.
async fn catalog_services(state: &SharedState, user: UserId, search: &str) -> Vec<ServiceChoice> {
    let wanted = search.trim().to_lowercase();
    let prebuilt = state
        .app
        .catalog()
        .iter()
        .map(|(key, spec)| ServiceChoice::of(&ServiceRef::Prebuilt(key.clone()), spec));
    let custom = state
        .app
        .visible_custom_services(user)
        .await
        .into_iter()
        .filter(|s| !s.retired)
        .map(|s| ServiceChoice::of(&ServiceRef::Custom(s.id), &s.spec));
    let mut services: Vec<ServiceChoice> = prebuilt
        .chain(custom)
        .filter(|s| {
            wanted.is_empty()
                || [&s.name, &s.key, &s.kind]
                    .iter()
                    .any(|t| t.to_lowercase().contains(&wanted))
        })
        .collect();
    services.sort_by_key(|s| (s.name.to_lowercase(), s.key.clone()));
    services
}

/// The service `raw` names (`slack` or `custom:<uuid>`) and its definition, when `user` may
/// see it; a hidden custom service is not offered, exactly like a missing one.
pub(super) async fn chosen_spec(
    state: &SharedState,
    user: UserId,
    raw: &str,
) -> Option<(ServiceRef, ServiceSpec)> {
    let service = crate::http::dto::parse_service(raw).ok()?;
    let spec = state.app.service_spec_for(user, &service).await?;
    Some((service, spec))
}

/// Fields a service's form takes: all of a typed-in kind's; of an OAuth2 service only those
/// the API's authorize takes (`oauth::flow::given_before_the_grant`), as the provider gives
/// the rest.
fn form_fields(spec: &ServiceSpec) -> Vec<crate::domain::services::FieldSpec> {
    spec.all_fields()
        .into_iter()
        .filter(|f| spec.auth_kind != AuthKind::OAuth2 || given_before_the_grant(f))
        .collect()
}

pub(super) async fn blank_page(
    state: &SharedState,
    csrf: String,
    user: UserId,
    chosen: Option<(ServiceRef, ServiceSpec)>,
) -> CreatePage {
    let workspaces = workspace_choices(state, user, None).await;
    let (service, fields, oauth, scopes) = match chosen {
        Some((chosen_ref, spec)) => (
            Some(ServiceChoice::of(&chosen_ref, &spec)),
            form_fields(&spec)
                .iter()
                .map(|f| FieldInput {
                    name: f.name.to_string(),
                    secret: f.secret,
                    required: f.required,
                    multiline: super::pages::typed_on_many_lines(f),
                    description: f.description.clone(),
                    value: String::new(),
                    error: None,
                })
                .collect(),
            spec.auth_kind == AuthKind::OAuth2,
            spec.scopes
                .iter()
                .map(|scope| ScopeChoice {
                    name: scope.clone(),
                    required: spec.required_scopes.contains(scope),
                    // The required ones start ticked: leaving one out is the exception.
                    checked: spec.required_scopes.contains(scope),
                })
                .collect(),
        ),
        None => (None, Vec::new(), false, Vec::new()),
    };
    CreatePage {
        csrf,
        search: String::new(),
        services: Vec::new(),
        service,
        oauth,
        scopes,
        extra_permissions: String::new(),
        scope_warning: None,
        workspaces,
        name: String::new(),
        name_error: None,
        workspace_error: None,
        fields,
        save_unverified: false,
        error: None,
    }
}

impl CreatePage {
    /// Takes the posted name and workspace into the page; answers the workspace as sent.
    pub(super) fn take_name_and_workspace(&mut self, pairs: &[(String, String)]) -> String {
        self.name = form_value(pairs, "name").unwrap_or_default().to_owned();
        let workspace = form_value(pairs, "workspace")
            .unwrap_or_default()
            .to_owned();
        for choice in &mut self.workspaces {
            choice.selected = choice.id == workspace;
        }
        workspace
    }
}

/// `GET /ui/authentications/new`: pick a service, then fill in its fields.
pub async fn form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(chosen): Query<Chosen>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let spec = match chosen.service.as_deref() {
        Some(raw) => chosen_spec(&state, session.user, raw).await,
        None => None,
    };
    let mut page = blank_page(&state, session.csrf.clone(), session.user, spec).await;
    if page.service.is_none() {
        page.search = chosen.q.trim().to_owned();
        page.services = catalog_services(&state, session.user, &page.search).await;
    }
    render(StatusCode::OK, &page)
}

/// `POST /ui/authentications/new`: creates it, or shows the form again with the refusal
/// beside its field. Secret values are never sent back into the page.
pub async fn create(
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
    let Some((service, spec)) = chosen.filter(|(_, spec)| spec.auth_kind != AuthKind::OAuth2)
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
    page.save_unverified = value("save_unverified").is_some();
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
    let mut caller = session.caller();
    let id = AuthenticationId::new();
    let command = AuthenticationCommand::Create(CreateAuthentication {
        id,
        name: page.name.clone(),
        workspace,
        service,
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
            let in_words = super::refusals::create_refusal(&e, |w| {
                let id = w.to_string();
                page.workspaces
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.name.clone())
            });
            let problem = ApiError::from(e);
            if problem.status.is_server_error() {
                return failed_page();
            }
            match in_words {
                Some(words) => page.workspace_error = Some(words),
                None => place_refusal(&mut page, &problem),
            }
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
pub(super) fn place_refusal(page: &mut CreatePage, problem: &ApiError) {
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
