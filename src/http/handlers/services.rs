//! `/v1/services`: the prebuilt catalog and custom services. A custom service is visible to
//! whoever may view the authentications of its workspace; it is defined, changed (`PATCH`, a
//! whole new definition, with `If-Match`) and retired, each as an event of its own stream.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::app::App;
use crate::domain::authentication::CreateAuthentication;
use crate::domain::ids::{
    AuthenticationId, EnvironmentTag, ServiceId, ServiceKey, UserId, WorkspaceId,
};
use crate::domain::secret::SecretText;
use crate::domain::services::{
    ClientAuthMethod, ClientRegistration, CustomService, CustomServiceError, CustomServiceEvent,
    ServiceRef, ServiceSpec,
};
use crate::http::dto::{parse_field, VerificationBody, WarningBody};
use crate::http::error::ApiError;
use crate::http::extract::{if_match, with_etag, ApiJson, Authenticated};
use crate::http::openapi::{
    BadRequest, CustomServiceNotFound, IdempotencyKeyHeader, IdempotencyKeyReused, IfMatchHeader,
    MayNotCreateServices, NotAUser, PayloadTooLarge, ProblemSchema, Unauthorized,
    UnsupportedMediaType, VersionMismatch,
};
use crate::http::SharedState;

/// A service: a catalog entry, or a custom service with its version and whether it is retired.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceBody {
    /// `airtable`, … or `custom:<uuid>`.
    pub service: String,
    /// Whether it is a custom service.
    pub custom: bool,
    /// The workspace a custom service was defined in (`null` for the catalog).
    #[schema(required = true)]
    pub workspace: Option<Uuid>,
    /// A custom service's version: the number of events of its stream (1 when defined; also
    /// its `ETag`). `null` for the catalog.
    #[schema(required = true, minimum = 1)]
    pub version: Option<u64>,
    /// Whether a custom service was retired: it backs no new authentications, existing ones
    /// keep working. Always `false` for the catalog.
    pub retired: bool,
    /// The definition (a custom service's current one).
    #[schema(value_type = crate::http::openapi::ServiceSpecSchema)]
    pub spec: ServiceSpec,
    /// A custom OAuth2 service's client registration, without its secret (`null` when none
    /// is registered, and for the catalog, whose clients are the server's own).
    #[schema(required = true)]
    pub oauth_client: Option<OAuthClientBody>,
    /// Every field an authentication of this service takes, the kind's (e.g. OAuth1's
    /// `consumer_key`, `consumer_secret`, `token`, `token_secret`) then the service's own:
    /// name, whether it is secret, whether it is required, its format.
    #[schema(value_type = Vec<crate::http::openapi::FieldSpecSchema>)]
    pub fields: Vec<crate::domain::services::FieldSpec>,
}

impl ServiceBody {
    /// A catalog entry as the API shows it.
    pub(crate) fn prebuilt(key: &ServiceKey, spec: &ServiceSpec) -> ServiceBody {
        ServiceBody {
            service: key.to_string(),
            custom: false,
            workspace: None,
            version: None,
            retired: false,
            oauth_client: None,
            fields: spec.all_fields(),
            spec: spec.clone(),
        }
    }

    /// A custom service as the API shows it.
    pub(crate) fn custom(service: &CustomService) -> ServiceBody {
        ServiceBody {
            service: ServiceRef::Custom(service.id).to_string(),
            custom: true,
            workspace: Some(service.workspace.as_uuid()),
            version: Some(service.version),
            retired: service.retired,
            oauth_client: service.oauth_client.as_ref().map(|r| OAuthClientBody {
                client_id: r.client_id.clone(),
                token_endpoint_auth_method: r.auth_method,
                authorize_params: r.authorize_params.clone(),
                issuer: r.issuer.clone(),
                client_secret_set: r.client_secret.is_some(),
            }),
            fields: service.spec.all_fields(),
            spec: service.spec.clone(),
        }
    }
}

/// A custom service's OAuth2 client as shown: everything but the secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthClientBody {
    /// The client id at the provider.
    pub client_id: String,
    /// How the client authenticates at the token endpoint.
    #[schema(value_type = String, example = "client_secret_basic")]
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// Extra parameters of every authorization request.
    pub authorize_params: BTreeMap<String, String>,
    /// The issuer the callback's `iss` must name, if any.
    #[schema(required = true)]
    pub issuer: Option<String>,
    /// Whether a client secret is registered (it is never shown).
    pub client_secret_set: bool,
}

/// `PUT /v1/services/{id}/oauth-client`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientRequest {
    /// The client id at the provider.
    pub client_id: String,
    /// The client secret: required for `client_secret_basic` and `client_secret_post`,
    /// absent for `none`. Sealed when stored, never shown again.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post` or `none` (a public client;
    /// PKCE is always used).
    #[serde(default)]
    #[schema(value_type = String, example = "client_secret_post")]
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// Extra parameters of every authorization request, e.g. `{"prompt": "consent"}`; the
    /// flow's own (`scope`, `state`, `redirect_uri`, …) cannot be set.
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// The provider's issuer identifier: when set, callbacks must carry a matching `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
}

/// `PUT /v1/services/{id}/oauth-client`.
#[utoipa::path(
    put,
    path = "/v1/services/{id}/oauth-client",
    operation_id = "registerServiceOAuthClient",
    tag = "services",
    summary = "Register the OAuth2 client of a custom service",
    description = "Registers (or replaces) the OAuth2 client a custom OAuth2 service's authentications are granted through: bring your own OAuth app. Appends `service.oauth_client_registered` with the client secret sealed like any authentication secret; the version goes up by one. Allowed to whoever may change the service. The secret is never shown again: reads say only `client_secret_set`.",
    params(("id" = String, Path, description = "`custom:<uuid>`."), IfMatchHeader, IdempotencyKeyHeader),
    request_body(content = OAuthClientRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Registered: the service with its new version.", body = ServiceBody, headers(
            ("ETag" = String, description = "The version after the registration."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user, or may not change the service.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, response = CustomServiceNotFound),
        (status = 409, description = "The service is retired, a concurrent change won the race, or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, response = VersionMismatch),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Not an OAuth2 service, or the registration breaks a rule (the `field` names it: `client_secret` missing or set against the method, an `authorize_params` entry the flow sets itself, an `issuer` that is not a URL), or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn register_oauth_client(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<OAuthClientRequest>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let if_version = if_match(&headers)?;
    let id = path_custom_service(&raw)?;
    let registration = ClientRegistration {
        client_id: body.client_id,
        client_secret: body.client_secret.map(SecretText::new),
        auth_method: body.token_endpoint_auth_method,
        authorize_params: body.authorize_params,
        issuer: body.issuer,
    };
    let service = state
        .app
        .register_oauth_client(&caller, id, registration, if_version)
        .await?;
    Ok(custom_answer(&service))
}

/// A custom service with its `ETag`.
fn custom_answer(service: &CustomService) -> Response {
    with_etag(
        Json(ServiceBody::custom(service)).into_response(),
        service.version,
    )
}

/// The answer for a service that is missing or hidden (the same for both).
fn service_not_found() -> ApiError {
    crate::app::AppError::from(CustomServiceError::NotFound).into()
}

/// The service a path names: `custom:<uuid>` or a catalog key. Anything else names no
/// service, and answers like a missing one (the text is never echoed).
fn path_service(raw: &str) -> Result<ServiceRef, ApiError> {
    crate::http::dto::parse_service(raw).map_err(|_| service_not_found())
}

/// The custom service a path names; a catalog key names none (the catalog never changes).
fn path_custom_service(raw: &str) -> Result<ServiceId, ApiError> {
    match path_service(raw)? {
        ServiceRef::Custom(id) => Ok(id),
        ServiceRef::Prebuilt(_) => Err(service_not_found()),
    }
}

/// `GET /v1/services`: the prebuilt catalog and the custom services the caller can see.
#[utoipa::path(
    get,
    path = "/v1/services",
    operation_id = "listServices",
    tag = "services",
    summary = "List services",
    description = "The prebuilt catalog (`airtable`, `slack`, …) and the custom services the caller may see: those of the workspaces whose authentications the caller may view. Retired custom services are listed (with `retired: true`).",
    responses(
        (status = 200, description = "The services.", body = Vec<ServiceBody>),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
    ),
    security(("bearer" = []))
)]
pub async fn list_services(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    Ok(Json(services_visible_to(&state.app, user).await).into_response())
}

/// The catalog, then the custom services `user` may see (the dashboard's Services page too).
pub(crate) async fn services_visible_to(app: &App, user: UserId) -> Vec<ServiceBody> {
    let mut items: Vec<ServiceBody> = app
        .catalog()
        .iter()
        .map(|(key, spec)| ServiceBody::prebuilt(key, spec))
        .collect();
    items.extend(
        app.visible_custom_services(user)
            .await
            .iter()
            .map(ServiceBody::custom),
    );
    items
}

/// `GET /v1/services/{id}`.
#[utoipa::path(
    get,
    path = "/v1/services/{id}",
    operation_id = "getService",
    tag = "services",
    summary = "Read a service",
    description = "A catalog entry (`slack`) or a custom service (`custom:<uuid>`) with its version, workspace, whether it is retired, and its current definition. A custom service is visible exactly to those who may view the authentications of its workspace; any other answers 404 with the same body as a service that does not exist.",
    params(("id" = String, Path, description = "`custom:<uuid>` or a catalog key such as `slack`.")),
    responses(
        (status = 200, description = "The service.", body = ServiceBody, headers(
            ("ETag" = String, description = "A custom service's version, e.g. `\"2\"`; send it back as `If-Match`. Absent for catalog entries.")
        )),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotAUser),
        (status = 404, description = "No such service, or a custom service the caller may not see (the two answer alike on purpose).", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_service(
    State(state): State<SharedState>,
    who: Authenticated,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    match path_service(&raw)? {
        ServiceRef::Custom(id) => Ok(custom_answer(&state.app.custom_service(user, id).await?)),
        ServiceRef::Prebuilt(key) => {
            let spec = state
                .app
                .catalog()
                .get(&key)
                .ok_or_else(service_not_found)?;
            Ok(Json(ServiceBody::prebuilt(&key, spec)).into_response())
        }
    }
}

/// `PATCH /v1/services/{id}`: a new definition.
#[utoipa::path(
    patch,
    path = "/v1/services/{id}",
    operation_id = "changeService",
    tag = "services",
    summary = "Change a custom service",
    description = "Replaces the definition of a custom service: the body is the whole new definition (the `spec` of `POST /v1/services`), appended as `service.custom_changed`; the version goes up by one. Allowed to whoever may create services in its workspace. The auth kind cannot change. The new definition applies to new authentications and to re-authentications; stored values of existing authentications are not checked again, so a field the change makes required is required only of new authentications, and a field it removes can no longer be resolved or re-entered (its stored value stays in the history). A retired service cannot be changed.",
    params(("id" = String, Path, description = "`custom:<uuid>`."), IfMatchHeader, IdempotencyKeyHeader),
    request_body(content = crate::http::openapi::ServiceSpecSchema, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed: the service with its new version.", body = ServiceBody, headers(
            ("ETag" = String, description = "The version after the change, e.g. `\"2\"`; send it back as `If-Match`."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = MayNotCreateServices),
        (status = 404, response = CustomServiceNotFound),
        (status = 409, description = "The service is retired, a concurrent change won the race (retry with the new version), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, response = VersionMismatch),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The definition is invalid (the `field` names the offending part, e.g. `oauth.token_url`), changes the auth kind (`auth_kind`), is unchanged (`body`), or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn change_service(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(spec): ApiJson<ServiceSpec>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let if_version = if_match(&headers)?;
    let id = path_custom_service(&raw)?;
    let service = state
        .app
        .change_service(&caller, id, spec, if_version)
        .await?;
    Ok(custom_answer(&service))
}

/// `POST /v1/services/{id}/retire`.
#[utoipa::path(
    post,
    path = "/v1/services/{id}/retire",
    operation_id = "retireService",
    tag = "services",
    summary = "Retire a custom service",
    description = "Appends `service.custom_retired`: the service backs no new authentications (creating one is refused naming `service`) and cannot be changed again; existing authentications keep working: they resolve, are re-authenticated against its last definition, renamed, moved where it reaches, deleted and restored. Allowed to whoever may create services in its workspace. No body.",
    params(("id" = String, Path, description = "`custom:<uuid>`."), IfMatchHeader, IdempotencyKeyHeader),
    responses(
        (status = 200, description = "Retired: the service with its new version.", body = ServiceBody, headers(
            ("ETag" = String, description = "The version after the retirement, e.g. `\"3\"`."),
            ("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`.")
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = MayNotCreateServices),
        (status = 404, response = CustomServiceNotFound),
        (status = 409, description = "The service is already retired, a concurrent change won the race, or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, response = VersionMismatch),
        (status = 422, response = IdempotencyKeyReused),
    ),
    security(("bearer" = []))
)]
pub async fn retire_service(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let caller = who.caller(&headers)?;
    let if_version = if_match(&headers)?;
    let id = path_custom_service(&raw)?;
    let service = state.app.retire_service(&caller, id, if_version).await?;
    Ok(custom_answer(&service))
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
    /// Save it even if the service's verification endpoint refuses the material or cannot be
    /// reached. Default `false`: refused with 422, and the service is not defined either.
    #[serde(default)]
    pub save_unverified: bool,
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
    /// What verifying the authentication's material found; `null` without an authentication.
    #[schema(required = true)]
    pub verification: Option<VerificationBody>,
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
        (status = 201, description = "Defined: the service reference (`custom:<uuid>`), and the authentication's id, warnings and verification outcome when one was created.", body = NewServiceBody, headers(("idempotent-replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same `Idempotency-Key`."))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not a user (runners and auditors may not do this), or may not create services (or authentications) in the workspace.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The authentication's name is taken (`duplicate-name`), or a request with the same `Idempotency-Key` is still being processed.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The definition is invalid (the `field` names the offending part, e.g. `oauth.token_url`), a service with an authentication outside the Personal workspace, a bad field value, the service's verification endpoint refused the authentication's material or could not be reached (`verification-failed`, `field: verification`; nothing is defined; send `save_unverified: true` to save anyway), or the `Idempotency-Key` was used before with a different request.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_service(
    State(state): State<SharedState>,
    who: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewService>,
) -> Result<Response, ApiError> {
    let mut caller = who.caller(&headers)?;
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
                .map(CustomServiceEvent::service)
                .next()
                .unwrap_or(service);
            NewServiceBody {
                service: ServiceRef::Custom(defined).to_string(),
                authentication: None,
                warnings: Vec::new(),
                verification: None,
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
                    .map_err(|e| {
                        ApiError::validation(format!("authentication.{e}"))
                            .naming(Some(format!("authentication.{}", e.kind())))
                    })?,
                origin: caller.change_origin(None),
            };
            let options = crate::app::ChangeOptions {
                save_unverified: auth.save_unverified,
            };
            let (service, outcome) = state
                .app
                .create_with_new_service_options(&caller, service, body.spec, create, options)
                .await?;
            NewServiceBody {
                service: ServiceRef::Custom(service).to_string(),
                authentication: Some(outcome.id.as_uuid()),
                warnings: outcome.warnings.iter().map(WarningBody::from).collect(),
                verification: outcome.verification.as_ref().map(VerificationBody::from),
            }
        }
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
