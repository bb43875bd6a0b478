//! Resolution, services, health, metrics.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::app::ResolveRequest;
use crate::domain::access::Action;
use crate::domain::authentication::CreateAuthentication;
use crate::domain::ids::{AuthenticationId, EnvironmentTag, ServiceId, UserId, WorkspaceId};
use crate::domain::principals::Principal;
use crate::domain::secret::SecretText;
use crate::domain::services::{CustomServiceEvent, ServiceRef, ServiceSpec};
use crate::http::dto::{parse_field, ResolveBody, WarningBody};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Authenticated};
use crate::http::openapi::{
    BadRequest, IdempotencyKeyHeader, PayloadTooLarge, ProblemSchema, Unauthorized,
    UnsupportedMediaType,
};
use crate::http::SharedState;
use crate::ledger::EventStore;

/// The answer of `POST /v1/resolve`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResolvedBody {
    /// The template with every reference replaced by its value.
    pub resolved: serde_json::Value,
    /// The fields that were resolved.
    pub fields: Vec<String>,
}

/// `POST /v1/resolve`: users for themselves, workflow runners for the workflow's user.
#[utoipa::path(
    post,
    path = "/v1/resolve",
    operation_id = "resolve",
    tag = "resolve",
    summary = "Fill a template with credential values",
    description = "Replaces every `$.auth.<field>` reference in a JSON template (a whole string `$.auth.token`, or `{$.auth.token}` inside a string) with the value of that field of an authentication, for a workflow running in a workspace as a user. Users resolve for themselves; workflow runners for the workflow's user (`user` is then required); auditors never receive secrets. The authentication must be active, usable by the user, and reachable from the workflow's workspace (the same workspace, or the organization workspace of its organization). Every resolution is recorded in audit (`access.resolved`: who, which fields, which workflow step) before the values are returned, and every attempt refused for lack of rights is recorded too (`access.refused`); if the record cannot be written the request fails and nothing is returned. Not idempotent-guarded.",
    request_body(content = ResolveBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The filled template and the fields used. Contains secrets: never cache or log it.", body = ResolvedBody, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "An auditor, a user resolving for another user, or the authentication is not usable here: deleted, the user may not use it, or a workflow in that workspace may not use it.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 410, description = "Its secrets were destroyed (`secrets-destroyed`): a purge recorded after the point this ledger was recovered to destroyed the data key.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such authentication, or the user may not see it.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A runner gave no `user`, a malformed reference, a field the service does not have, a field that is not set, or bad workflow ids.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn resolve(
    State(state): State<SharedState>,
    who: Authenticated,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Response, ApiError> {
    let workflow = body.workflow.as_ref().map(|w| w.step_ref()).transpose()?;
    let accessor = who.accessor(workflow);
    let id = AuthenticationId::from_uuid(body.authentication);
    let refuse = |user: Option<UserId>, reason: &'static str| {
        let (app, accessor) = (state.app.clone(), accessor.clone());
        async move {
            app.record_refusal(&accessor, id, user, "resolve", Vec::new(), reason)
                .await?;
            Err::<UserId, ApiError>(ApiError::forbidden(reason))
        }
    };
    let user = match (&who.0, body.user) {
        (Principal::User(me), None) => *me,
        (Principal::User(me), Some(u)) if UserId::from_uuid(u) == *me => *me,
        (Principal::User(me), Some(_)) => {
            refuse(
                Some(*me),
                "user: users resolve only for themselves; workflow runners resolve for others",
            )
            .await?
        }
        (Principal::Runner { .. }, Some(u)) => UserId::from_uuid(u),
        (Principal::Runner { .. }, None) => {
            return Err(ApiError::validation(
                "user: is required for workflow runners",
            ))
        }
        (Principal::Auditor { .. }, _) => {
            refuse(None, "principal: auditors never receive secrets").await?
        }
    };
    let request = ResolveRequest {
        authentication: id,
        workspace: WorkspaceId::from_uuid(body.workspace),
        user,
        template: body.template,
    };
    let grant = state.app.grant_state(id).await;
    let needs_reauthorization = grant.as_ref().is_some_and(|g| g.needs_reauthorization);
    let expired = grant.as_ref().is_some_and(|g| {
        g.expires_at
            .is_some_and(|at| at.0 <= crate::ledger::RecordedAt::now().0)
    });
    if needs_reauthorization || expired {
        // Only an allowed caller learns about the grant or causes a refresh: access is decided
        // (and a refusal recorded) first. The common path decides it once, in `resolve`.
        state.app.authorize_resolve(&accessor, &request).await?;
        if needs_reauthorization {
            // The provider refused the refresh token: the stored access token is not to be used.
            return Err(crate::oauth::OAuthError::NeedsReauthorization.into());
        }
        state
            .oauth
            .refresh_if_due(id, std::time::Duration::ZERO)
            .await?;
    }
    // Values leave only after their access record is flushed.
    let resolved = state.app.resolve(&accessor, request).await?;
    let fields = resolved.fields().to_vec();
    let mut response = Json(ResolvedBody {
        resolved: resolved.into_value(),
        fields,
    })
    .into_response();
    // Resolved values are secrets: never cache them anywhere.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// A service in the listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceBody {
    /// `airtable`, … or `custom:<uuid>`.
    pub service: String,
    /// Whether it is a custom service.
    pub custom: bool,
    /// The workspace a custom service was defined in.
    #[schema(required = true)]
    pub workspace: Option<Uuid>,
    /// The definition.
    #[schema(value_type = crate::http::openapi::ServiceSpecSchema)]
    pub spec: ServiceSpec,
    /// Every field an authentication of this service takes, the kind's (e.g. OAuth1's
    /// `consumer_key`, `consumer_secret`, `token`, `token_secret`) then the service's own:
    /// name, whether it is secret, whether it is required, its format.
    #[schema(value_type = Vec<crate::http::openapi::FieldSpecSchema>)]
    pub fields: Vec<crate::domain::services::FieldSpec>,
}

/// `GET /v1/services`: the prebuilt catalog and the custom services the caller can see.
#[utoipa::path(
    get,
    path = "/v1/services",
    operation_id = "listServices",
    tag = "services",
    summary = "List services",
    description = "The prebuilt catalog (`airtable`, `slack`, …) and the custom services of the workspaces the caller may view.",
    responses(
        (status = 200, description = "The services.", body = Vec<ServiceBody>),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this).", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_services(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let model = state.app.model().model().read().await;
    let mut items: Vec<ServiceBody> = state
        .app
        .catalog()
        .iter()
        .map(|(key, spec)| ServiceBody {
            service: key.to_string(),
            custom: false,
            workspace: None,
            fields: spec.all_fields(),
            spec: spec.clone(),
        })
        .collect();
    items.extend(
        model
            .custom_services
            .values()
            .filter(|c| model.allows(user, c.workspace, Action::View))
            .map(|c| ServiceBody {
                service: ServiceRef::Custom(c.id).to_string(),
                custom: true,
                workspace: Some(c.workspace.as_uuid()),
                fields: c.spec.all_fields(),
                spec: c.spec.clone(),
            }),
    );
    Ok(Json(items).into_response())
}

/// `POST /v1/services`: a custom service; with `authentication`, the service and an
/// authentication together (Personal workspace only).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// Where the service is defined.
    pub workspace: Uuid,
    /// The definition.
    #[schema(value_type = crate::http::openapi::ServiceSpecSchema)]
    pub spec: ServiceSpec,
    /// Create an authentication for it at the same time.
    #[serde(default)]
    pub authentication: Option<NewServiceAuthentication>,
}

/// The authentication created together with a custom service.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceAuthentication {
    /// Name.
    pub name: String,
    /// Field values.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// Scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Environment tag.
    #[serde(default)]
    pub environment: Option<String>,
}

/// The answer of `POST /v1/services`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewServiceBody {
    /// `custom:<uuid>`.
    pub service: String,
    /// The authentication created with it, if any.
    #[schema(required = true)]
    pub authentication: Option<Uuid>,
    /// Warnings about the authentication.
    pub warnings: Vec<WarningBody>,
}

/// `POST /v1/services`.
#[utoipa::path(
    post,
    path = "/v1/services",
    operation_id = "createService",
    tag = "services",
    summary = "Define a custom service",
    description = "Defines a custom service in a workspace (“service only”, where the caller may create services). With `authentication`, also creates an authentication for it at the same time; that is allowed only in the caller's Personal workspace, and both are decided before anything is written.",
    params(IdempotencyKeyHeader),
    request_body(content = NewService, content_type = "application/json"),
    responses(
        (status = 201, description = "Defined: the service reference (`custom:<uuid>`), and the authentication's id and warnings when one was created.", body = NewServiceBody, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this), or may not create services (or authentications) in the workspace.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The authentication's name is taken (`duplicate-name`), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The definition is invalid (the `field` names the offending part, e.g. `oauth.token_url`), a service with an authentication outside the Personal workspace, a bad field value, or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_service(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewService>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let service = ServiceId::new();
    let workspace = WorkspaceId::from_uuid(body.workspace);
    let answer = match body.authentication {
        None => {
            let events = state
                .app
                .define_service(&caller, service, workspace, body.spec)
                .await?;
            // A replay answers with the service the first attempt defined.
            let defined = events
                .iter()
                .map(|e| match e {
                    CustomServiceEvent::CustomServiceDefined { service, .. } => *service,
                })
                .next()
                .unwrap_or(service);
            NewServiceBody {
                service: ServiceRef::Custom(defined).to_string(),
                authentication: None,
                warnings: Vec::new(),
            }
        }
        Some(auth) => {
            let id = AuthenticationId::new();
            let create = CreateAuthentication {
                id,
                name: auth.name,
                workspace,
                service: ServiceRef::Custom(service),
                fields: auth
                    .fields
                    .into_iter()
                    .map(|(k, v)| Ok((parse_field(&k)?, SecretText::new(v))))
                    .collect::<Result<_, ApiError>>()?,
                scopes: auth.scopes,
                extra_permissions: Vec::new(),
                environment: auth
                    .environment
                    .as_deref()
                    .map(EnvironmentTag::parse)
                    .transpose()
                    .map_err(|e| ApiError::validation(format!("authentication.{e}")))?,
                origin: if caller.origin == crate::ledger::Origin::Dashboard {
                    crate::domain::authentication::Origin::Dashboard
                } else {
                    crate::domain::authentication::Origin::Api
                },
            };
            let (service, outcome) = state
                .app
                .create_with_new_service(&caller, service, body.spec, create)
                .await?;
            NewServiceBody {
                service: ServiceRef::Custom(service).to_string(),
                authentication: Some(outcome.id.as_uuid()),
                warnings: outcome.warnings.iter().map(WarningBody::from).collect(),
            }
        }
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    summary = "Liveness",
    description = "Answers `ok` while the process is up. No token needed.",
    responses(
        (status = 200, description = "The process is up.", body = String, content_type = "text/plain", example = "ok\n"),
    )
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the read model has caught up with the durable log.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Ready when the read model has applied every durable event of the log. No token needed.",
    responses(
        (status = 200, description = "Ready.", body = String, content_type = "text/plain", example = "ready\n"),
        (status = 503, description = "The read model is catching up.", body = String, content_type = "text/plain", example = "catching up: read model at 10 of 12\n"),
    )
)]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let head = state.app.store().head().position;
    let applied = state.app.model().applied();
    if applied >= head {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("catching up: read model at {applied} of {head}\n"),
        )
            .into_response();
        response
            .extensions_mut()
            .insert(crate::http::error::DocumentedPlainAnswer);
        response
    }
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Requests by route, method and status; latencies; the ledger head position and the read model's lag. No token needed.",
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain; version=0.0.4"),
    )
)]
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let head = state.app.store().head().position;
    let applied = state.app.model().applied();
    let text = state.metrics.render(head, applied);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
