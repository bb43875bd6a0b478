//! Request and response bodies of the HTTP API (the wire shapes; domain types stay inside).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use crate::app::VerificationReport;
use crate::domain::authentication::{VerificationOutcome, Warning};
use crate::domain::ids::{FieldName, ServiceId, ServiceKey, StepId, WorkflowId};
use crate::domain::services::ServiceRef;
use crate::projections::AuthenticationView;
use crate::time::Timestamp;

/// Parses a path or body id, naming the field on failure.
pub fn parse_id<T: FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::malformed(field, format!("{raw:?} is not a valid id (a UUID)")))
}

/// `slack` (prebuilt) or `custom:<uuid>`.
pub fn parse_service(raw: &str) -> Result<ServiceRef, ApiError> {
    if let Some(id) = raw.strip_prefix("custom:") {
        return Ok(ServiceRef::Custom(parse_id::<ServiceId>("service", id)?));
    }
    ServiceKey::parse(raw)
        .map(ServiceRef::Prebuilt)
        .map_err(|e| {
            let text = e.to_string();
            let reason = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
            ApiError::invalid("service", reason)
        })
}

/// Parses a field name of a request.
pub fn parse_field(raw: &str) -> Result<FieldName, ApiError> {
    FieldName::parse(raw).map_err(|e| ApiError::invalid(format!("fields.{raw}"), e))
}

/// An RFC 3339 time or Unix seconds, as a store time.
pub fn parse_time(field: &str, raw: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(raw).ok_or_else(|| {
        ApiError::malformed(
            field,
            format!("{raw:?} is not an RFC 3339 time or Unix seconds"),
        )
    })
}

/// The workflow step a change or a resolution comes from.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStepBody {
    /// Workflow id (1–128 of `A-Z a-z 0-9 - _ . : /`).
    #[schema(pattern = "^[A-Za-z0-9._:/-]{1,128}$")]
    pub workflow_id: String,
    /// Step id inside the workflow (same rules).
    #[schema(pattern = "^[A-Za-z0-9._:/-]{1,128}$")]
    pub step_id: String,
}

impl WorkflowStepBody {
    /// As the workflow step of an access record.
    pub fn step_ref(&self) -> Result<crate::domain::access_log::WorkflowStepRef, ApiError> {
        Ok(crate::domain::access_log::WorkflowStepRef {
            workflow: WorkflowId::parse(&self.workflow_id)
                .map_err(|e| ApiError::invalid("workflow.workflow_id", e))?,
            step: StepId::parse(&self.step_id)
                .map_err(|e| ApiError::invalid("workflow.step_id", e))?,
        })
    }
}

/// `POST /v1/authentications`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// 1–120 printable characters, unique (case-insensitively) in the workspace.
    pub name: String,
    /// The owning workspace.
    pub workspace: Uuid,
    /// `airtable`, `slack`, … or `custom:<uuid>`.
    pub service: String,
    /// Field values; secret ones are sealed and never shown again.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// OAuth2 scopes chosen from the service's list.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Free-text extra permissions.
    #[serde(default)]
    pub extra_permissions: Vec<String>,
    /// Environment tag, e.g. `sandbox` or `production` (1–32 of `a-z 0-9 - _`).
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    pub environment: Option<String>,
    /// Set when a workflow step creates it.
    #[serde(default)]
    pub workflow: Option<WorkflowStepBody>,
    /// Save it even if the service's verification endpoint refuses the material or cannot be
    /// reached (recorded in the history). Default `false`: such a create is refused with 422.
    #[serde(default)]
    pub save_unverified: bool,
}

/// `PATCH /v1/authentications/{id}`: basic details.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Workspace to move to.
    #[serde(default)]
    pub workspace: Option<Uuid>,
}

/// `POST /v1/authentications/{id}/reauthenticate`: supplied fields override, omitted secret
/// fields are kept, `null` clears.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthenticateBody {
    /// Field -> new value, or `null` to clear.
    pub fields: BTreeMap<String, Option<String>>,
    /// Set when a workflow step re-authenticates.
    #[serde(default)]
    pub workflow: Option<WorkflowStepBody>,
    /// Save the new settings even if the service's verification endpoint refuses them or
    /// cannot be reached (recorded in the history). Default `false`: refused with 422.
    #[serde(default)]
    pub save_unverified: bool,
}

/// `POST /v1/authentications/{id}/restore`: exactly one of `version` or `as_of`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// Restore the state at this version.
    #[serde(default, deserialize_with = "whole_number")]
    pub version: Option<u64>,
    /// Restore the state at this time (RFC 3339, or Unix seconds as text).
    #[serde(default)]
    pub as_of: Option<String>,
}

/// `POST /v1/resolve`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// The authentication referred to.
    pub authentication: Uuid,
    /// The workspace the workflow runs in.
    pub workspace: Uuid,
    /// The user the workflow runs as (runners must give it; users may only give themselves).
    #[serde(default)]
    pub user: Option<Uuid>,
    /// JSON with `$.auth.<field>` references.
    pub template: serde_json::Value,
    /// The workflow step asking.
    #[serde(default)]
    pub workflow: Option<WorkflowStepBody>,
}

/// A warning about an accepted command.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WarningBody {
    /// Stable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl From<&Warning> for WarningBody {
    fn from(w: &Warning) -> WarningBody {
        let code = match w {
            Warning::OAuth1Discouraged => "oauth1_discouraged",
            Warning::GenericAuthVisibleToOrganization { .. } => {
                "generic_auth_visible_to_organization"
            }
            Warning::MissingRequiredScopes { .. } => "missing_required_scopes",
            Warning::CertificateExpired { .. } => "certificate_expired",
            Warning::CertificateExpiresSoon { .. } => "certificate_expires_soon",
            Warning::CertificateKeyNotVerified => "certificate_key_not_verified",
        };
        WarningBody {
            code,
            message: w.to_string(),
        }
    }
}

/// What checking new credential material at the service's verification endpoint found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct VerificationBody {
    /// `verified` (the endpoint answered 2xx), `failed` (saved only because
    /// `save_unverified` was sent) or `not_verifiable` (nothing was called).
    #[schema(pattern = "^(verified|failed|not_verifiable)$")]
    pub outcome: &'static str,
    /// The host that was called.
    #[schema(required = true)]
    pub host: Option<String>,
    /// The HTTP status the endpoint answered (never its body).
    #[schema(required = true)]
    pub status: Option<u16>,
    /// Why it failed or could not be checked.
    #[schema(required = true)]
    pub reason: Option<String>,
    /// The check failed and the change was saved because the caller asked.
    pub saved_unverified: bool,
}

impl From<&VerificationReport> for VerificationBody {
    fn from(report: &VerificationReport) -> VerificationBody {
        let (host, status, reason) = match &report.outcome {
            VerificationOutcome::Verified { host, status } => {
                (Some(host.clone()), Some(*status), None)
            }
            VerificationOutcome::Failed {
                host,
                status,
                reason,
            } => (Some(host.clone()), *status, Some(reason.clone())),
            VerificationOutcome::NotVerifiable { reason } => (None, None, Some(reason.clone())),
        };
        VerificationBody {
            outcome: report.outcome.as_str(),
            host,
            status,
            reason,
            saved_unverified: report.saved_unverified,
        }
    }
}

/// The answer to an accepted command on an authentication.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandBody {
    /// The authentication's id.
    pub id: Uuid,
    /// Its version after the command (also the `ETag`).
    pub version: u64,
    /// Warnings about the accepted command.
    pub warnings: Vec<WarningBody>,
    /// The authentication as it is now, when the caller may still see it.
    #[schema(value_type = Option<crate::http::openapi::AuthenticationSchema>, required = true)]
    pub authentication: Option<AuthenticationView>,
    /// For a create or re-authentication: what verifying the new material found; `null` for
    /// other commands.
    #[schema(required = true)]
    pub verification: Option<VerificationBody>,
}

/// A version: JSON has one number type, so `3.0` is the whole number 3 (as JSON Schema's
/// `integer` says); `3.5` or `-1` is not a version.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(
            "expected a whole number of at least 0",
        )),
    }
}
