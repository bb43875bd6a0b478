//! Custom services from the dashboard: "custom service only" in a workspace the user picks,
//! or "service and authentication together", offered only in the user's Personal workspace
//! (the rule of `app/services.rs`). The operations are those of `POST /v1/services`
//! (`App::define_service`, `App::create_with_new_service_options`), origin `Dashboard`.
//!
//! Together takes two steps: the definition first, then the form of the fields it defines
//! (the definition rides along in hidden inputs and is decided only once, with the create).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::create::field_and_reason;
use super::pages::{failed_page, form_session, form_value, render, session_of, to_sign_in};
use super::workspace_choice::{workspace_choices, WorkspaceChoice};
use crate::app::{Caller, ChangeOptions};
use crate::domain::authentication::CreateAuthentication;
use crate::domain::ids::{AuthenticationId, FieldName, ServiceId, WorkspaceId};
use crate::domain::secret::SecretText;
use crate::domain::services::{AuthKind, FieldFormat, FieldSpec, ServiceRef, ServiceSpec};
use crate::http::error::ApiError;
use crate::http::SharedState;

/// The kinds a definition typed into a form can take (OAuth ones need endpoints and a client
/// registration: the API defines those).
const FORM_KINDS: [(&str, AuthKind); 3] = [
    ("Token", AuthKind::Token),
    ("Basic", AuthKind::Basic),
    ("Generic", AuthKind::Generic),
];

/// A field of the authentication created together with the service.
struct FieldInput {
    name: String,
    secret: bool,
    required: bool,
    /// Typed on many lines (a PEM): a text area.
    multiline: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/custom_service.html")]
struct CustomServicePage {
    csrf: String,
    /// The definition as typed.
    service_name: String,
    api_version: String,
    kind: String,
    kinds: Vec<&'static str>,
    fields_text: String,
    workspaces: Vec<WorkspaceChoice>,
    /// The user's Personal workspace, named for the "together" choice.
    personal_name: String,
    /// Step two of "together": the authentication's name and fields.
    together: bool,
    name: String,
    fields: Vec<FieldInput>,
    save_unverified: bool,
    /// A service just defined (`custom:<id>`).
    defined: Option<String>,
    error: Option<String>,
}

/// `?defined=` after a definition.
#[derive(Deserialize)]
pub struct Defined {
    defined: Option<String>,
}

async fn blank(
    state: &SharedState,
    csrf: String,
    user: crate::domain::ids::UserId,
) -> CustomServicePage {
    let personal = state.app.user(user).await.map(|u| u.personal_workspace);
    let visible = state.app.workspaces_visible_to(user).await;
    let personal_name = visible
        .iter()
        .find(|w| Some(w.id) == personal)
        .map(|w| w.name.clone())
        .unwrap_or_default();
    CustomServicePage {
        csrf,
        service_name: String::new(),
        api_version: "v1".into(),
        kind: "Token".into(),
        kinds: FORM_KINDS.iter().map(|(k, _)| *k).collect(),
        fields_text: String::new(),
        workspaces: workspace_choices(state, user, None).await,
        personal_name,
        together: false,
        name: String::new(),
        fields: Vec::new(),
        save_unverified: false,
        defined: None,
        error: None,
    }
}

/// `GET /ui/services/new`.
pub async fn form(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(defined): Query<Defined>,
) -> Response {
    let Some((_, session)) = session_of(&state, &headers).await else {
        return to_sign_in();
    };
    let mut page = blank(&state, session.csrf.clone(), session.user).await;
    // Only a service id goes back into the page.
    page.defined = defined
        .defined
        .and_then(|d| d.strip_prefix("custom:")?.parse::<ServiceId>().ok())
        .map(|id| ServiceRef::Custom(id).to_string());
    render(StatusCode::OK, &page)
}

/// The definition typed into the form: extra fields one per line, `name [secret] [required]`.
fn spec_of(page: &CustomServicePage) -> Result<ServiceSpec, String> {
    let auth_kind = FORM_KINDS
        .iter()
        .find(|(k, _)| *k == page.kind)
        .map(|(_, kind)| *kind)
        .ok_or("Choose a kind.")?;
    let mut fields = Vec::new();
    for line in page
        .fields_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let mut words = line.split_whitespace();
        let raw = words.next().unwrap_or_default();
        let name = FieldName::parse(raw).map_err(|e| format!("Field {raw:?}: {e}"))?;
        let (mut secret, mut required) = (false, false);
        for word in words {
            match word {
                "secret" => secret = true,
                "required" => required = true,
                other => {
                    return Err(format!(
                        "Field {raw:?}: {other:?} is neither `secret` nor `required`"
                    ))
                }
            }
        }
        fields.push(FieldSpec {
            name,
            secret,
            required,
            format: FieldFormat::Text,
            description: String::new(),
        });
    }
    Ok(ServiceSpec {
        name: page.service_name.clone(),
        api_version: page.api_version.clone(),
        auth_kind,
        fields,
        oauth: None,
        scopes: Vec::new(),
        required_scopes: Vec::new(),
        verification: None,
    })
}

/// `POST /ui/services/new`: `step` is `define` (service only), `together` (on to the
/// authentication's fields) or `create` (service and authentication together).
pub async fn save(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let session = match form_session(&state, &headers, &pairs).await {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let value = |name: &str| form_value(&pairs, name).unwrap_or_default();
    let mut page = blank(&state, session.csrf.clone(), session.user).await;
    page.service_name = value("service_name").to_owned();
    page.api_version = value("api_version").to_owned();
    page.kind = value("kind").to_owned();
    page.fields_text = value("fields").to_owned();
    for w in &mut page.workspaces {
        w.selected = w.id == value("workspace");
    }
    let spec = match spec_of(&page) {
        Ok(spec) => spec,
        Err(message) => {
            page.error = Some(message);
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let caller = session.caller();
    let outcome = match value("step") {
        "define" => {
            let Ok(workspace) = value("workspace").parse::<WorkspaceId>() else {
                page.error = Some("Choose a workspace.".into());
                return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
            };
            let service = ServiceId::new();
            state
                .app
                .define_service(&caller, service, workspace, spec)
                .await
                .map(|_| format!("/ui/services/new?defined={}", ServiceRef::Custom(service)))
        }
        "together" | "create" => {
            page.together = true;
            page.name = value("name").to_owned();
            page.save_unverified = !value("save_unverified").is_empty();
            page.fields = spec
                .all_fields()
                .iter()
                .map(|f| FieldInput {
                    name: f.name.to_string(),
                    secret: f.secret,
                    required: f.required,
                    multiline: super::pages::typed_on_many_lines(f),
                    error: None,
                })
                .collect();
            if value("step") == "together" {
                return render(StatusCode::OK, &page);
            }
            let Some(personal) = state
                .app
                .user(session.user)
                .await
                .map(|u| u.personal_workspace)
            else {
                return failed_page();
            };
            create_together(&state, &mut caller.clone(), &page, &pairs, personal, spec).await
        }
        _ => return Redirect::to("/ui/services/new").into_response(),
    };
    match outcome {
        Ok(to) => Redirect::to(&to).into_response(),
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
            if let Some(words) = in_words {
                page.error = Some(words);
                return render(problem.status, &page);
            }
            let (field, reason) = field_and_reason(&problem);
            let input = field
                .and_then(|f| f.strip_prefix("fields."))
                .and_then(|name| page.fields.iter_mut().find(|i| i.name == name));
            match input {
                Some(input) => input.error = Some(reason),
                None => page.error = Some(problem.detail.clone()),
            }
            render(problem.status, &page)
        }
    }
}

/// Service and authentication together, in the caller's Personal workspace.
async fn create_together(
    state: &SharedState,
    caller: &mut Caller,
    page: &CustomServicePage,
    pairs: &[(String, String)],
    personal: WorkspaceId,
    spec: ServiceSpec,
) -> Result<String, crate::app::AppError> {
    let mut fields = std::collections::BTreeMap::new();
    for input in &page.fields {
        let typed = form_value(pairs, &format!("field.{}", input.name)).unwrap_or_default();
        if let (false, Ok(name)) = (typed.is_empty(), FieldName::parse(&input.name)) {
            fields.insert(name, SecretText::new(typed.to_owned()));
        }
    }
    let service = ServiceId::new();
    let id = AuthenticationId::new();
    let create = CreateAuthentication {
        id,
        name: page.name.clone(),
        workspace: personal,
        service: ServiceRef::Custom(service),
        fields,
        scopes: Vec::new(),
        extra_permissions: Vec::new(),
        environment: None,
        origin: caller.change_origin(None),
    };
    let options = ChangeOptions {
        save_unverified: page.save_unverified,
    };
    let (_, outcome) = state
        .app
        .create_with_new_service_options(caller, service, spec, create, options)
        .await?;
    Ok(format!("/ui/authentications/{}", outcome.id))
}
