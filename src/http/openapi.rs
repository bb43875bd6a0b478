//! The OpenAPI document, generated from the code.
//!
//! Every handler carries a `#[utoipa::path]` attribute, and the request and response bodies of
//! the HTTP layer derive `ToSchema`. Types of the projections and the domain stay free of
//! utoipa: this module mirrors their JSON shapes (the `*Schema` types below, used only for
//! documentation; `tests/openapi.rs` checks real answers against them). The document is kept
//! in `docs/openapi.json`; `UPDATE_OPENAPI=1 cargo test --test openapi` rewrites it.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::openapi_rules::{BearerScheme, RequestIdHeader};

pub use super::openapi_params::{
    AuthenticationNotFound, BadNameOrKeyReused, BadRequest, CustomServiceNotFound,
    DirectoryIfMatch, IdempotencyKeyHeader, IdempotencyKeyInFlight, IdempotencyKeyReused,
    IfMatchHeader, MayNotCreateServices, NotAUser, PayloadTooLarge, Purged, RoleForbids,
    RunnerRefused, Unauthorized, UnsupportedMediaType, UserNotFound, VersionMismatch,
};

use super::dto::{
    CommandBody, CreateBody, PatchBody, ReauthenticateBody, ResolveBody, RestoreBody,
    VerificationBody, WarningBody, WorkflowStepBody,
};
use super::handlers::checkpoints::CheckpointBody;
use super::handlers::directory::{
    MembershipBody, NewMembership, NewOrganization, NewUser, NewWorkspace, OrganizationBody,
    UserBody, WorkspaceBody,
};
use super::handlers::misc::ResolvedBody;
use super::handlers::services::{
    NewService, NewServiceAuthentication, NewServiceBody, OAuthClientBody, OAuthClientRequest,
    ServiceBody,
};
use super::handlers::sign_in_links::{NewSignInLink, SignInLinkBody};
use super::handlers::tokens::{NewToken, TokenBody};
use super::handlers::{
    audit, authentications, checkpoints, directory, misc, oauth, people, services, sign_in_links,
    tokens,
};

/// Name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

// ---------------------------------------------------------------------------------------------
// Mirrors of the JSON shapes of other layers (documentation only).
// ---------------------------------------------------------------------------------------------

/// An error answer (`application/problem+json`, RFC 9457).
///
/// `type` is `https://credledger.dev/problems/<slug>`, one of: `bad-request`, `unauthorized`,
/// `forbidden`, `not-found`, `conflict`, `duplicate-name`, `idempotency-in-progress`,
/// `idempotent-replay-unavailable`, `purged`, `version-mismatch`, `payload-too-large`,
/// `unsupported-media-type`, `validation`, `internal`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    /// Problem type URI; the last segment is a stable slug.
    #[serde(rename = "type")]
    #[schema(format = "uri", example = "https://credledger.dev/problems/validation")]
    pub kind: String,
    /// The HTTP reason phrase of the status.
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    /// The HTTP status.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong, as `<field>: <reason>` when a field is to blame. Never a secret value.
    #[schema(example = "fields.username: is required")]
    pub detail: String,
    /// The offending field (a dotted path into the request, `query`, or a header name in lower
    /// case), when one is known. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "fields.username")]
    pub field: Option<String>,
    /// The detail without the field prefix; present exactly when `field` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "is required")]
    pub reason: Option<String>,
}

/// A point in time: RFC 3339 text in UTC with microseconds.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Time, format = DateTime, example = "2025-01-31T09:30:00.123456Z")]
pub struct TimeSchema(pub String);

/// A keyed fingerprint of a secret value (`fp:` and 16 hex digits): equal values have equal
/// fingerprints, and the value cannot be recovered from it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Fingerprint, pattern = "^fp:[0-9a-f]{16}$", example = "fp:1a2b3c4d5e6f7081")]
pub struct FingerprintSchema(pub String);

/// How a service authenticates callers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuthKind)]
pub enum AuthKindSchema {
    /// A bearer/API token (field `token`).
    Token,
    /// HTTP Basic (`username`, `password`).
    Basic,
    /// An OAuth 2 grant (`access_token`, `refresh_token`, `expires_at`).
    OAuth2,
    /// An OAuth 1.0a grant (discouraged).
    OAuth1,
    /// A client certificate and its private key (`certificate`, `private_key`).
    Certificate,
    /// Named token fields defined by the service.
    Generic,
}

/// Where an authentication is in its life.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Lifecycle)]
pub enum LifecycleSchema {
    /// Usable.
    Active,
    /// Soft-deleted: only restore and purge are possible.
    Deleted,
    /// Purged: its secrets are destroyed for good.
    Purged,
}

/// A field as read APIs show it: plain values as they are, secrets only as a fingerprint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = FieldView)]
pub enum FieldViewSchema {
    /// A non-secret value, shown as is.
    Plain {
        /// The value.
        value: String,
        /// Version that last set it.
        changed_at_version: u64,
    },
    /// A secret: only that it is set, and its fingerprint.
    Secret {
        /// Always true: unset fields are absent.
        set: bool,
        /// Keyed fingerprint of the value.
        fingerprint: FingerprintSchema,
        /// Version that last set it.
        changed_at_version: u64,
    },
}

/// An authentication as read APIs show it. Never a secret value.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Authentication)]
pub struct AuthenticationSchema {
    /// Id.
    pub id: Uuid,
    /// Name, unique (case-insensitively) in its workspace.
    pub name: String,
    /// The workspace it lives in.
    pub workspace: Uuid,
    /// The workspace's display name.
    #[schema(required = true)]
    pub workspace_name: Option<String>,
    /// Service reference: a catalog key such as `slack`, or `custom:<uuid>`.
    #[schema(example = "slack")]
    pub service: String,
    /// The service API version it was created for.
    pub service_version: String,
    /// How the service authenticates.
    pub kind: AuthKindSchema,
    /// Environment tag, e.g. `sandbox` or `production`.
    #[schema(required = true)]
    pub environment: Option<String>,
    /// OAuth 2 scopes.
    pub scopes: Vec<String>,
    /// Free-text extra permissions.
    pub extra_permissions: Vec<String>,
    /// Lifecycle.
    pub lifecycle: LifecycleSchema,
    /// The provider refused the refresh token: a person must authorize again.
    pub needs_reauthorization: bool,
    /// Its data key was destroyed (purged; in a ledger recovered to before the purge, too):
    /// the fields still show as set, but no secret of any version opens again, and resolve
    /// and re-authenticate answer `410 secrets-destroyed`.
    pub secrets_destroyed: bool,
    /// Stream version (also the `ETag`).
    pub version: u64,
    /// The fields that are set, by name.
    pub fields: BTreeMap<String, FieldViewSchema>,
    /// Expiry of the credential (certificate not-after, OAuth token expiry), if known.
    #[schema(required = true)]
    pub expires_at: Option<TimeSchema>,
    /// When it was created.
    #[schema(required = true)]
    pub created_at: Option<TimeSchema>,
    /// When it last changed (for a past version: when that version was recorded).
    #[schema(required = true)]
    pub updated_at: Option<TimeSchema>,
}

/// One page of `GET /v1/authentications`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuthenticationPage)]
pub struct PageSchema {
    /// The authentications, sorted by name (case-insensitive), then id.
    pub items: Vec<AuthenticationSchema>,
    /// How many authentications match the filters, over all pages.
    pub total: usize,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Where a change came from.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Origin)]
pub enum OriginSchema {
    /// The dashboard (`X-Credledger-Origin: dashboard`).
    Dashboard,
    /// A direct API call.
    Api,
    /// A workflow step.
    WorkflowStep {
        /// The workflow's id.
        workflow_id: String,
        /// The step's id inside the workflow.
        step_id: String,
    },
    /// The service itself.
    System,
    /// The local command line.
    Cli,
}

/// What an event did, beyond field diffs.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HistoryDetail)]
pub enum HistoryDetailSchema {
    /// Created with a name in a workspace.
    Created {
        /// Name.
        name: String,
        /// Workspace.
        workspace: Uuid,
        /// Service reference.
        service: String,
    },
    /// Renamed.
    Renamed {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// Moved between workspaces.
    Moved {
        /// Source workspace.
        from: Uuid,
        /// Destination workspace.
        to: Uuid,
    },
    /// Settings re-entered.
    Reauthenticated,
    /// Scopes changed.
    ScopesChanged {
        /// New scopes.
        scopes: Vec<String>,
        /// New extra permissions.
        extra_permissions: Vec<String>,
        /// Required scopes now missing.
        missing_required: Vec<String>,
    },
    /// Soft-deleted.
    Deleted,
    /// Restored to an earlier version.
    Restored {
        /// The version restored.
        from_version: u64,
    },
    /// Purged for good.
    Purged,
    /// What checking the new material of the change before it at the service found.
    VerificationRecorded {
        /// `verified`, `failed` (saved only because the caller sent `save_unverified`) or
        /// `not_verifiable`.
        #[schema(pattern = "^(verified|failed|not_verifiable)$")]
        outcome: String,
        /// The host called, if one was.
        #[schema(required = true)]
        host: Option<String>,
        /// The HTTP status the service answered, if it answered.
        #[schema(required = true)]
        status: Option<u16>,
        /// Why it failed or could not be checked.
        #[schema(required = true)]
        reason: Option<String>,
        /// The check failed and the caller asked to save anyway.
        saved_unverified: bool,
    },
    /// An OAuth2 grant: scopes requested and granted.
    GrantRecorded {
        /// Requested scopes.
        requested_scopes: Vec<String>,
        /// Granted scopes.
        granted_scopes: Vec<String>,
        /// Required scopes not granted.
        missing_required: Vec<String>,
    },
    /// The provider refused the refresh token: a person must authorize again.
    ReauthorizationRequired {
        /// What the provider said, without any token.
        reason: String,
    },
    /// A token refresh failed (the first failure since the last refresh or grant).
    RefreshFailed {
        /// What went wrong: the host at most, never a token or URL path.
        reason: String,
    },
    /// The client certificate expires within `days_before` days.
    CertificateExpiring {
        /// End of validity.
        not_after: TimeSchema,
        /// 30, 7 or 1.
        days_before: u8,
    },
    /// The client certificate has expired.
    CertificateExpired {
        /// End of validity.
        not_after: TimeSchema,
    },
}

/// What happened to one field in one event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldChangeKind)]
pub enum FieldChangeKindSchema {
    /// Given a value (create or restore).
    Set,
    /// Replaced by a supplied value.
    Overridden,
    /// Omitted on re-authentication, so the stored value was kept.
    Kept,
    /// Explicitly cleared.
    Cleared,
}

/// The diff of one field: never a secret value, only its fingerprint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldDiff)]
pub struct FieldDiffSchema {
    /// Field name.
    pub field: String,
    /// What happened.
    pub change: FieldChangeKindSchema,
    /// Whether the field is secret.
    pub secret: bool,
    /// New plain value (non-secret fields only).
    #[schema(required = true)]
    pub value: Option<String>,
    /// Fingerprint of the new secret value.
    #[schema(required = true)]
    pub fingerprint: Option<FingerprintSchema>,
    /// Fingerprint of the secret value before the change.
    #[schema(required = true)]
    pub previous_fingerprint: Option<FingerprintSchema>,
}

/// One change in an authentication's history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HistoryEntry)]
pub struct HistoryEntrySchema {
    /// Stream version after the change.
    pub version: u64,
    /// Global log position.
    pub position: u64,
    /// The event's id.
    pub event_id: Uuid,
    /// Stable event type, e.g. `authentication.created`.
    pub event_type: String,
    /// When the ledger recorded it.
    pub recorded_at: TimeSchema,
    /// The principal that made the change, e.g. `user:<uuid>`.
    pub actor: String,
    /// Where it came from.
    pub origin: OriginSchema,
    /// The kind of change.
    pub detail: HistoryDetailSchema,
    /// Per-field diffs.
    pub fields: Vec<FieldDiffSchema>,
}

/// How a field's text is checked.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldFormat)]
pub enum FieldFormatSchema {
    /// Any single-line printable text.
    Text,
    /// A DNS host name such as `acme.my.salesforce.com`.
    Hostname,
    /// An `https://` URL.
    Url,
    /// RFC 3339 or unix seconds.
    Timestamp,
    /// PEM-armoured text (multi-line).
    Pem,
}

/// One field of a service.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldSpec)]
pub struct FieldSpecSchema {
    /// Field name (lowercase ASCII, digits, `-`, `_`; at most 64), referenced by workflows as
    /// `$.auth.<name>`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$", example = "domain")]
    pub name: String,
    /// Whether the value is secret (sealed, never shown again).
    pub secret: bool,
    /// Whether a value must be present.
    pub required: bool,
    /// How the value is checked.
    pub format: FieldFormatSchema,
    /// Human description.
    pub description: String,
}

/// OAuth endpoints of a service; URLs may contain `{field}` placeholders naming non-secret
/// fields.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OAuthEndpoints)]
pub struct OAuthEndpointsSchema {
    /// Where the user is sent to grant access (`https://`).
    pub authorize_url: String,
    /// Where codes (or OAuth1 verifiers) are exchanged for tokens (`https://`).
    pub token_url: String,
    /// OAuth1 only: where request tokens are obtained.
    pub request_token_url: Option<String>,
}

/// An endpoint that checks whether credentials work.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = VerificationEndpoint)]
pub struct VerificationEndpointSchema {
    /// `GET` or `POST`.
    #[schema(example = "GET")]
    pub method: String,
    /// URL (`https://`); may contain `{field}` placeholders.
    pub url: String,
}

/// The definition of a service. In requests, `oauth`, `verification` may be omitted (they
/// default to `null`); every other property is required.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ServiceSpec)]
pub struct ServiceSpecSchema {
    /// Display name.
    pub name: String,
    /// API version the definition targets (not blank).
    pub api_version: String,
    /// Authentication kind.
    pub auth_kind: AuthKindSchema,
    /// Service-specific fields, in addition to the kind's own fields.
    pub fields: Vec<FieldSpecSchema>,
    /// OAuth endpoints (OAuth1/OAuth2 only).
    pub oauth: Option<OAuthEndpointsSchema>,
    /// Scopes a user may choose from (OAuth2 only).
    pub scopes: Vec<String>,
    /// Scopes the service needs to work (a subset of `scopes`).
    pub required_scopes: Vec<String>,
    /// Optional endpoint to verify credentials.
    pub verification: Option<VerificationEndpointSchema>,
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "credledger",
        description = "An event-sourced ledger of the credentials an integration platform keeps.\n\n\
            Every `/v1` endpoint needs `Authorization: Bearer <token>`. Errors are \
            `application/problem+json` with `field` and `reason` when a field is to blame. \
            Writes accept `Idempotency-Key`; commands on an authentication or a custom \
            service answer with an `ETag` and accept `If-Match`. Bodies are limited to 64 KiB and requests to 15 s \
            (a `408` `timeout` problem otherwise; an oversized body is a `413` `payload-too-large` problem). See `docs/api.md` for the guide."
    ),
    paths(
        authentications::create,
        super::handlers::listing::list,
        authentications::get,
        authentications::patch,
        authentications::delete,
        authentications::reauthenticate,
        authentications::restore,
        authentications::purge,
        authentications::history,
        misc::resolve,
        audit::audit,
        audit::workspace_as_of,
        audit::usable_by,
        oauth::authorize,
        oauth::callback,
        services::list_services,
        services::create_service,
        services::get_service,
        services::change_service,
        services::retire_service,
        services::register_oauth_client,
        directory::create_organization,
        directory::list_organizations,
        directory::create_workspace,
        directory::list_workspaces,
        directory::create_user,
        directory::list_users,
        directory::create_membership,
        directory::list_memberships,
        people::rename_organization,
        people::rename_workspace,
        people::remove_membership,
        people::deactivate_user,
        people::reactivate_user,
        people::personal_authentications,
        people::transfer_personal_authentication,
        tokens::create_token,
        tokens::list_tokens,
        tokens::revoke_token,
        sign_in_links::create_sign_in_link,
        checkpoints::create,
        checkpoints::latest,
        super::handlers::events::stream,
        super::handlers::webhooks::create_webhook,
        super::handlers::webhooks::list_webhooks,
        super::handlers::webhooks::get_webhook,
        super::handlers::webhooks::list_deliveries,
        super::handlers::webhooks::delete_webhook,
        super::handlers::webhooks::enable_webhook,
        misc::healthz,
        misc::readyz,
        misc::metrics,
        serve,
    ),
    components(
        schemas(
            ProblemSchema,
            TimeSchema,
            NewSignInLink,
            SignInLinkBody,
            audit::AuditRecordSchema,
            audit::WorkflowSchema,
            audit::AuditPageSchema,
            super::handlers::events::PublicEventSchema,
            super::handlers::events::ChangedFieldSchema,
            super::handlers::webhooks::NewWebhookBody,
            super::handlers::webhooks::WebhookBody,
            super::handlers::webhooks::DeliveryAttemptBody,
            super::handlers::webhooks::DeliveryAttemptsPage,
            audit::UsableAsOfSchema,
            audit::UsableBySchema,
            FingerprintSchema,
            AuthKindSchema,
            LifecycleSchema,
            FieldViewSchema,
            AuthenticationSchema,
            PageSchema,
            OriginSchema,
            HistoryDetailSchema,
            FieldChangeKindSchema,
            FieldDiffSchema,
            HistoryEntrySchema,
            FieldFormatSchema,
            FieldSpecSchema,
            OAuthEndpointsSchema,
            VerificationEndpointSchema,
            ServiceSpecSchema,
            WorkflowStepBody,
            CreateBody,
            PatchBody,
            ReauthenticateBody,
            RestoreBody,
            ResolveBody,
            WarningBody,
            CommandBody,
            VerificationBody,
            ResolvedBody,
            ServiceBody,
            OAuthClientBody,
            OAuthClientRequest,
            NewService,
            NewServiceAuthentication,
            NewServiceBody,
            NewOrganization,
            OrganizationBody,
            NewWorkspace,
            WorkspaceBody,
            NewUser,
            UserBody,
            NewMembership,
            MembershipBody,
            people::Rename,
            people::Transfer,
            NewToken,
            TokenBody,
            CheckpointBody,
        ),
        responses(
            BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, AuthenticationNotFound, BadNameOrKeyReused, CustomServiceNotFound, IdempotencyKeyInFlight, IdempotencyKeyReused, MayNotCreateServices, NotAUser, Purged, RoleForbids, RunnerRefused, UserNotFound, VersionMismatch
        )
    ),
    modifiers(&BearerScheme, &RequestIdHeader),
    tags(
        (name = "authentications", description = "Stored credentials: create, read, change, delete, restore, purge, history."),
        (name = "resolve", description = "Filling workflow templates with credential values."),
        (name = "services", description = "The prebuilt catalog and custom services."),
        (name = "directory", description = "Organizations, workspaces, users, memberships and API tokens."),
        (name = "audit", description = "Audit records (changes, resolutions, refusals), exports, and the ledger as of a time."),
        (name = "events", description = "The event stream (server-sent events) and webhook subscriptions."),
        (name = "ledger", description = "Signed checkpoints of the ledger's head, for detecting a truncated or rewritten log."),
        (name = "operations", description = "Health, readiness, metrics and this document. No token needed."),
    )
)]
pub struct ApiDoc;

/// The document: what the derive macros generate, with the rules of `openapi_rules`.
pub fn document_value() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    super::openapi_rules::refine(&mut doc);
    super::openapi_events::notice_fields(&mut doc);
    doc
}

/// The document as JSON text (pretty-printed, as kept in `docs/openapi.json`).
pub fn document() -> String {
    serde_json::to_string_pretty(&document_value()).unwrap_or_default()
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    summary = "This OpenAPI document",
    description = "The OpenAPI 3.1 description of the API, as kept in `docs/openapi.json`. No token needed.",
    responses(
        (status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json"),
    )
)]
pub async fn serve() -> Response {
    Json(document_value()).into_response()
}
