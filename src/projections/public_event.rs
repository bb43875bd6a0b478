//! An event as the event stream and webhooks show it: a public description built from its
//! audit record — type, position, time, stream, who, origin, the authentication and the
//! workspace, the stream version and the names of changed fields with fingerprints — and
//! never a value, secret or plain. Its [`EventScope`] decides who may see it.

use serde::Serialize;

use super::audit_record::{AuditRecord, WorkflowView};
use super::history::FieldChangeKind;
use super::model::LedgerModel;
use super::payloads::{self, DomainEvent};
use super::store::ReadStore;
use super::ProjectionError;
use crate::crypto::Fingerprint;
use crate::domain::authentication::{AuthenticationEvent, VerificationOutcome};
use crate::domain::ids::{AuthenticationId, UserId, WorkspaceId};
use crate::domain::principals::{Principal, TokenEvent};
use crate::domain::visibility::EventScope;
use crate::ledger::{Envelope, EventId};
use crate::time::Timestamp;

/// A changed field: its name, the kind of change and fingerprints of secret values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedField {
    /// Field name.
    pub field: String,
    /// What happened to it.
    pub change: FieldChangeKind,
    /// Whether the field is secret.
    pub secret: bool,
    /// Fingerprint of the new secret value.
    pub fingerprint: Option<Fingerprint>,
    /// Fingerprint of the secret value before the change.
    pub previous_fingerprint: Option<Fingerprint>,
}

/// One event of the log, described for the event stream and webhook deliveries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicEvent {
    /// Log position (the SSE `id`, and where a stream resumes after).
    pub position: u64,
    /// The event's id.
    pub event_id: EventId,
    /// Stable event type.
    pub event_type: String,
    /// Store time.
    pub recorded_at: Timestamp,
    /// The stream it was appended to.
    pub stream: String,
    /// The stream's version after it.
    pub version: u64,
    /// Principal reference (`user:<id>`, `runner:<id>`, `system`).
    pub actor: String,
    /// How the principal authenticated: `api_token`, `cli` or `system`.
    pub auth_method: &'static str,
    /// `dashboard`, `api`, `workflow_step`, `system` or `cli`.
    pub origin: &'static str,
    /// The workflow step, for events made from one.
    pub workflow: Option<WorkflowView>,
    /// The authentication concerned, if any.
    pub authentication: Option<AuthenticationId>,
    /// The workspace concerned, if any.
    pub workspace: Option<WorkspaceId>,
    /// Changed fields (names and fingerprints only).
    pub fields: Vec<ChangedField>,
    /// `authentication.verification_recorded`: `verified`, `failed` or `not_verifiable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Why, in words that hold no secret, token or URL path: the reason of
    /// `authentication.reauthorization_required`, `authentication.refresh_failed`, and of a
    /// verification that failed or could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `authentication.certificate_expiring` and `_expired`: the certificate's end of validity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    /// `authentication.certificate_expiring`: the threshold reached (30, 7 or 1 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_before: Option<u8>,
    /// Who may see it.
    #[serde(skip)]
    pub scope: EventScope,
}

impl PublicEvent {
    /// Describes the event of `envelope`, with the read model settled at or after it.
    pub fn describe(
        envelope: &Envelope,
        model: &LedgerModel,
        store: &impl ReadStore,
    ) -> Result<PublicEvent, ProjectionError> {
        let record = AuditRecord::describe(envelope, model, store)?;
        let scope = scope_of(envelope, &record, model)?;
        let notice = Notice::of(envelope)?;
        Ok(PublicEvent {
            position: record.position,
            event_id: record.event_id,
            event_type: record.event_type,
            recorded_at: record.recorded_at,
            stream: envelope.body.stream_id.as_str().to_owned(),
            version: envelope.body.stream_version.0,
            actor: record.actor,
            auth_method: record.auth_method,
            origin: record.origin,
            workflow: record.workflow,
            authentication: record.authentication,
            workspace: record.workspace,
            fields: record
                .fields
                .into_iter()
                .map(|f| ChangedField {
                    field: f.field,
                    change: f.change,
                    secret: f.secret,
                    fingerprint: f.fingerprint,
                    previous_fingerprint: f.previous_fingerprint,
                })
                .collect(),
            outcome: notice.outcome,
            reason: notice.reason,
            not_after: notice.not_after,
            days_before: notice.days_before,
            scope,
        })
    }
}

/// What a consumer acts on in a lifecycle notice or a verification record, beyond the
/// event's type; empty for every other event.
#[derive(Default)]
struct Notice {
    outcome: Option<&'static str>,
    reason: Option<String>,
    not_after: Option<Timestamp>,
    days_before: Option<u8>,
}

/// The event types whose payload [`Notice::of`] reads (every other payload is left undecoded).
const NOTICE_TYPES: [&str; 5] = [
    "authentication.verification_recorded",
    "authentication.reauthorization_required",
    "authentication.refresh_failed",
    "authentication.certificate_expiring",
    "authentication.certificate_expired",
];

impl Notice {
    fn of(envelope: &Envelope) -> Result<Notice, ProjectionError> {
        use AuthenticationEvent as E;
        if !NOTICE_TYPES.contains(&envelope.body.event_type.as_str()) {
            return Ok(Notice::default());
        }
        let DomainEvent::Authentication(_, event) = payloads::decode(envelope)? else {
            return Ok(Notice::default());
        };
        Ok(match event {
            E::VerificationRecorded { outcome, .. } => Notice {
                outcome: Some(outcome.as_str()),
                reason: match outcome {
                    VerificationOutcome::Verified { .. } => None,
                    VerificationOutcome::Failed { reason, .. }
                    | VerificationOutcome::NotVerifiable { reason } => Some(reason),
                },
                ..Notice::default()
            },
            E::ReauthorizationRequired { reason } | E::RefreshFailed { reason } => Notice {
                reason: Some(reason),
                ..Notice::default()
            },
            E::CertificateExpiring {
                not_after,
                days_before,
            } => Notice {
                not_after: Some(not_after),
                days_before: Some(days_before),
                ..Notice::default()
            },
            E::CertificateExpired { not_after } => Notice {
                not_after: Some(not_after),
                ..Notice::default()
            },
            _ => Notice::default(),
        })
    }
}

/// The scope of an event: for a token's events (`token.*`, and `token_use.*` such as a
/// refused use) the user the token or sign-in link belongs to (`None`: a runner's or an
/// auditor's token, administrators only); else its workspace when it has one, else the
/// administration.
fn scope_of(
    envelope: &Envelope,
    record: &AuditRecord,
    model: &LedgerModel,
) -> Result<EventScope, ProjectionError> {
    let event_type = envelope.body.event_type.as_str();
    if event_type.starts_with("webhook.") {
        // A subscription is its owner's, like their tokens. Removed, the model forgets it:
        // its owner is then whoever removed it (only the owner may).
        if let DomainEvent::Webhook(id, event) = payloads::decode(envelope)? {
            let owner = match event {
                crate::domain::webhooks::WebhookEvent::Subscribed { owner, .. } => Some(owner),
                _ => model
                    .webhooks
                    .get(&id)
                    .map(|w| w.owner)
                    .or_else(|| signed_in_user(envelope)),
            };
            return Ok(EventScope::Token(owner));
        }
    }
    if event_type.starts_with("token.") || event_type.starts_with("token_use.") {
        let owner_of = |token| match model.tokens.by_id.get(&token).map(|t| &t.principal) {
            Some(Principal::User(user)) => Some(*user),
            _ => None,
        };
        match payloads::decode(envelope)? {
            DomainEvent::Token(TokenEvent::Issued { principal, .. }) => {
                return Ok(EventScope::Token(match principal {
                    Principal::User(user) => Some(user),
                    _ => None,
                }))
            }
            DomainEvent::Token(TokenEvent::SignInLinkIssued { user, .. }) => {
                return Ok(EventScope::Token(Some(user)))
            }
            // A link is used up by the sign-in it opens: its actor is the link's user (the
            // model forgets used links).
            DomainEvent::Token(TokenEvent::SignInLinkUsed { .. }) => {
                return Ok(EventScope::Token(signed_in_user(envelope)))
            }
            DomainEvent::Token(event @ TokenEvent::Revoked { .. }) => {
                return Ok(EventScope::Token(owner_of(event.token())))
            }
            DomainEvent::TokenUse(event) => return Ok(EventScope::Token(owner_of(event.token()))),
            _ => {}
        }
    }
    Ok(match record.workspace {
        Some(workspace) => EventScope::Workspace(workspace),
        None => EventScope::Administration,
    })
}

/// The user an event's actor names (`user:<id>`), if a user.
fn signed_in_user(envelope: &Envelope) -> Option<UserId> {
    envelope
        .body
        .actor
        .principal
        .strip_prefix("user:")
        .and_then(|id| id.parse().ok())
}
