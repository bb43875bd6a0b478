//! One audit record as auditors read it: who, what, when, outcome, origin and, for settings
//! changes, per-field diffs with fingerprints. Built from an envelope and the read model;
//! never carries a secret value (authentication payloads are described through their
//! history entry, which holds fingerprints only).

use serde::Serialize;
use serde_json::{json, Value};

use super::audit::Outcome;
use super::history::FieldDiff;
use super::model::LedgerModel;
use super::payloads::{self, DomainEvent};
use super::store::ReadStore;
use super::ProjectionError;
use crate::domain::access_log::{AccessEvent, WorkflowStepRef};
use crate::domain::ids::{AuthenticationId, WorkspaceId};
use crate::domain::principals::TokenEvent;
use crate::ledger::{Envelope, EventId, Origin, SignedInWith};
use crate::time::Timestamp;

/// The workflow step a record was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowView {
    /// Workflow id.
    pub workflow_id: String,
    /// Step id.
    pub step_id: String,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// Log position (also the cursor).
    pub position: u64,
    /// The event's id.
    pub event_id: EventId,
    /// Store time.
    pub recorded_at: Timestamp,
    /// Stable event type.
    pub event_type: String,
    /// `succeeded` or `refused`.
    pub outcome: &'static str,
    /// Principal reference (`user:<id>`, `runner:<id>`, `system`).
    pub actor: String,
    /// How the principal authenticated: `api_token`, `cli` or `system`.
    pub auth_method: &'static str,
    /// `dashboard`, `api`, `workflow_step`, `system` or `cli`.
    pub origin: &'static str,
    /// The workflow step, for records made from one.
    pub workflow: Option<WorkflowView>,
    /// What the record is about, as `kind:id`.
    pub resource: String,
    /// The authentication concerned, if any.
    pub authentication: Option<AuthenticationId>,
    /// The workspace concerned, if any.
    pub workspace: Option<WorkspaceId>,
    /// Per-field changes (settings changes): overridden, kept, cleared, set; fingerprints only.
    pub fields: Vec<FieldDiff>,
    /// The fields whose values were resolved or asked for (access records).
    pub accessed_fields: Vec<String>,
    /// Event-specific details (names, roles, scopes, reasons); never secrets.
    pub detail: Value,
    /// Ties together the events of one request.
    pub correlation_id: uuid::Uuid,
}

fn auth_method(via: SignedInWith) -> &'static str {
    match via {
        SignedInWith::ApiToken => "api_token",
        SignedInWith::Cli => "cli",
        SignedInWith::System => "system",
        SignedInWith::SignInLink => "sign_in_link",
    }
}

fn origin(origin: &Origin) -> (&'static str, Option<WorkflowView>) {
    match origin {
        Origin::Dashboard => ("dashboard", None),
        Origin::Api => ("api", None),
        Origin::WorkflowStep {
            workflow_id,
            step_id,
        } => (
            "workflow_step",
            Some(WorkflowView {
                workflow_id: workflow_id.clone(),
                step_id: step_id.clone(),
            }),
        ),
        Origin::System => ("system", None),
        Origin::Cli => ("cli", None),
    }
}

fn workflow_view(step: &WorkflowStepRef) -> WorkflowView {
    WorkflowView {
        workflow_id: step.workflow.as_str().to_owned(),
        step_id: step.step.as_str().to_owned(),
    }
}

fn webhook_detail(event: &crate::domain::webhooks::WebhookEvent) -> Value {
    use crate::domain::webhooks::WebhookEvent;
    match event {
        WebhookEvent::Subscribed {
            owner,
            receiver,
            event_types,
            workspace,
            description,
            ..
        } => json!({"owner": format!("user:{owner}"), "receiver": receiver,
            "event_types": event_types, "workspace": workspace, "description": description}),
        WebhookEvent::Disabled {
            reason,
            undelivered,
        } => json!({"reason": reason, "undelivered": undelivered}),
        WebhookEvent::Enabled | WebhookEvent::Unsubscribed => Value::Null,
    }
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl AuditRecord {
    /// Describes the event of `envelope`; `model` supplies workspaces, `store` authentication
    /// histories (so field diffs carry the fingerprint before and after).
    pub fn describe(
        envelope: &Envelope,
        model: &LedgerModel,
        store: &impl ReadStore,
    ) -> Result<Self, ProjectionError> {
        let mut record = AuditRecord::of_envelope(envelope);
        match payloads::decode(envelope)? {
            DomainEvent::Directory(event) => {
                record.resource = event.subject().to_string();
                record.workspace = event.workspace(&model.directory);
                record.detail = to_json(&event);
            }
            DomainEvent::Service(event) => {
                // Defined, changed or retired: the detail is the payload (no secrets in it).
                let service = event.service();
                record.resource = format!("service:{service}");
                record.workspace = model.custom_services.get(&service).map(|s| s.workspace);
                record.detail = to_json(&event);
            }
            DomainEvent::Token(event) => {
                record.resource = format!("token:{}", event.token());
                match &event {
                    TokenEvent::Issued {
                        principal,
                        label,
                        expires_at,
                        scopes,
                        ..
                    } => {
                        let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                        record.detail = json!({"principal": principal.reference(), "label": label,
                            "expires_at": expires_at, "scopes": scopes});
                    }
                    // Who the link signs in and until when; its secret's hash stays out.
                    TokenEvent::SignInLinkIssued {
                        user, expires_at, ..
                    } => {
                        record.detail = json!({"principal": format!("user:{user}"), "expires_at": to_json(expires_at)});
                    }
                    TokenEvent::Revoked { .. } | TokenEvent::SignInLinkUsed { .. } => {}
                }
            }
            DomainEvent::Authentication(id, _) => {
                record.resource = format!("authentication:{id}");
                record.authentication = Some(id);
                let version = envelope.body.stream_version.0;
                if let Some(stored) = super::model::history_at(store, id, version)? {
                    record.detail = to_json(&stored.entry.detail);
                    record.fields = stored.entry.fields;
                    // The workspace it was in after this event.
                    record.workspace = stored.workspace;
                }
            }
            DomainEvent::Access(event) => record.describe_access(event, model),
            DomainEvent::TokenUse(event) => {
                record.resource = format!("token:{}", event.token());
                record.outcome = Outcome::Refused.as_str();
                let crate::domain::token_scope::TokenUseEvent::Refused { wanted, reason, .. } =
                    &event;
                record.detail = json!({"action": wanted.as_str(), "reason": reason});
            }
            // What it carries and for whom; never the receiver URL (only its origin), which
            // may hold a credential of the receiver's.
            DomainEvent::Webhook(id, event) => {
                record.resource = format!("webhook:{id}");
                record.detail = webhook_detail(&event);
            }
            DomainEvent::Keys(event) => {
                record.resource = "keys:master".to_owned();
                record.detail = to_json(&event);
            }
            DomainEvent::Other => {}
        }
        Ok(record)
    }

    /// What every record takes from its envelope; the event's own facts come on top.
    fn of_envelope(envelope: &Envelope) -> Self {
        let body = &envelope.body;
        let (origin, workflow) = origin(&body.origin);
        AuditRecord {
            position: body.position.0,
            event_id: body.event_id,
            recorded_at: body.recorded_at,
            event_type: body.event_type.clone(),
            outcome: Outcome::Succeeded.as_str(),
            actor: body.actor.principal.clone(),
            auth_method: auth_method(body.actor.via),
            origin,
            workflow,
            resource: body.stream_id.as_str().to_owned(),
            authentication: None,
            workspace: None,
            fields: Vec::new(),
            accessed_fields: Vec::new(),
            detail: Value::Null,
            correlation_id: body.correlation_id,
        }
    }

    /// A resolve or a refused attempt: the fields asked for and the workflow step it was
    /// made for (which names the workflow, whatever the envelope's origin says).
    fn describe_access(&mut self, event: AccessEvent, model: &LedgerModel) {
        let id = event.authentication();
        self.resource = format!("authentication:{id}");
        self.authentication = Some(id);
        let step = match event {
            AccessEvent::Resolved {
                user,
                workspace,
                fields,
                workflow,
                ..
            } => {
                self.workspace = Some(workspace);
                self.accessed_fields = fields;
                self.detail = json!({"user": user, "workflow_workspace": workspace});
                workflow
            }
            AccessEvent::Refused {
                user,
                action,
                fields,
                workflow,
                reason,
                ..
            } => {
                self.outcome = Outcome::Refused.as_str();
                self.workspace = model.workspace_of(id);
                self.accessed_fields = fields;
                self.detail = json!({"user": user, "action": action, "reason": reason});
                workflow
            }
        };
        if let Some(step) = &step {
            self.workflow = Some(workflow_view(step));
        }
    }

    /// The CSV header matching [`AuditRecord::csv_row`].
    pub const CSV_HEADER: &'static str = "position,recorded_at,event_type,outcome,actor,auth_method,origin,workflow_id,step_id,resource,authentication,workspace,fields,accessed_fields,detail\r\n";

    /// One CSV line (RFC 4180 quoting). Fields are `name:change[:fingerprint]` joined by `;`.
    pub fn csv_row(&self) -> Result<String, super::ProjectionError> {
        let fields = self
            .fields
            .iter()
            .map(|f| {
                let change = to_json(&f.change);
                let change = change.as_str().unwrap_or_default().to_lowercase();
                match &f.fingerprint {
                    Some(fp) => format!("{}:{change}:{fp}", f.field),
                    None => format!("{}:{change}", f.field),
                }
            })
            .collect::<Vec<_>>()
            .join(";");
        let columns = [
            self.position.to_string(),
            to_json(&self.recorded_at)
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            self.event_type.clone(),
            self.outcome.to_owned(),
            self.actor.clone(),
            self.auth_method.to_owned(),
            self.origin.to_owned(),
            self.workflow
                .as_ref()
                .map_or(String::new(), |w| w.workflow_id.clone()),
            self.workflow
                .as_ref()
                .map_or(String::new(), |w| w.step_id.clone()),
            self.resource.clone(),
            self.authentication
                .map_or(String::new(), |id| id.to_string()),
            self.workspace.map_or(String::new(), |id| id.to_string()),
            fields,
            self.accessed_fields.join(";"),
            if self.detail.is_null() {
                String::new()
            } else {
                self.detail.to_string()
            },
        ];
        csv_line(&columns.map(|c| formula_guarded(&c)))
    }
}

/// A leading formula character is neutralised so a spreadsheet never evaluates a name
/// someone typed.
fn formula_guarded(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// One CSV record ending in CRLF, each cell quoted only when it needs it (RFC 4180).
fn csv_line(cells: &[String]) -> Result<String, super::ProjectionError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    writer.write_record(cells)?;
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    // Every cell is a `String` and the separators are ASCII, so the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::{csv_line, formula_guarded};

    fn cell(text: &str) -> String {
        let line = csv_line(&[formula_guarded(text)]).expect("csv");
        line.strip_suffix("\r\n").expect("CRLF").to_owned()
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(
            csv_line(&["a".into(), String::new(), "b;c".into()]).expect("csv"),
            "a,,b;c\r\n"
        );
    }
}
