//! Audit: access records written on the request path (a use of values, a refused attempt),
//! and audit queries over every record of the log.

use crate::domain::access_log::{AccessEvent, WorkflowStepRef};
use crate::domain::authentication::{AuthenticationCommand, AuthenticationError};
use crate::domain::ids::{AuthenticationId, UserId};
use crate::domain::principals::{Principal, PrincipalError};
use crate::ledger::{
    Actor, AppendRequest, EventId, EventMeta, EventStore, ExpectedVersion, NewEvent, Origin,
    Position,
};
use crate::projections::payloads;
use crate::projections::{audit, AuditFilter, AuditOrder, AuditRecord};

use super::{App, AppError, Caller};

/// Who is reaching for an authentication, for the access record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accessor {
    /// The principal and how it authenticated.
    pub actor: Actor,
    /// The workflow step, when the caller named one.
    pub workflow: Option<WorkflowStepRef>,
}

impl Accessor {
    /// The metadata of the access record.
    pub(super) fn meta(&self) -> EventMeta {
        EventMeta {
            actor: self.actor.clone(),
            origin: match &self.workflow {
                Some(step) => Origin::WorkflowStep {
                    workflow_id: step.workflow.as_str().to_owned(),
                    step_id: step.step.as_str().to_owned(),
                },
                None => Origin::Api,
            },
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
        }
    }
}

/// An audit query: filters, order, cursor and page size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Which records.
    pub filter: AuditFilter,
    /// Newest or oldest first.
    pub order: AuditOrder,
    /// Continue after this position (the previous page's cursor).
    pub after: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// One page of audit records.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The records, in the asked order.
    pub records: Vec<AuditRecord>,
    /// The cursor of the next page, if there is one.
    pub next: Option<u64>,
}

/// The action name of a command, for refusal records.
pub fn action_name(command: &AuthenticationCommand) -> &'static str {
    match command {
        AuthenticationCommand::Create(_) => "create",
        AuthenticationCommand::Rename { .. } => "rename",
        AuthenticationCommand::Move { .. } => "move",
        AuthenticationCommand::Reauthenticate { .. }
        | AuthenticationCommand::ReauthenticateByGrant { .. } => "reauthenticate",
        AuthenticationCommand::ChangeScopes { .. } => "change_scopes",
        AuthenticationCommand::Delete => "delete",
        AuthenticationCommand::Restore { .. } => "restore",
        AuthenticationCommand::Purge => "purge",
        AuthenticationCommand::RecordGrant { .. } => "record_grant",
        AuthenticationCommand::RecordRefresh { .. } => "record_refresh",
        AuthenticationCommand::RequireReauthorization { .. } => "require_reauthorization",
        AuthenticationCommand::RecordRefreshFailure { .. } => "record_refresh_failure",
        AuthenticationCommand::RecordCertificateNotice => "record_certificate_notice",
    }
}

impl App {
    /// Appends one access record and waits until audit queries see it. Only a flushed record
    /// lets the request go on: callers return values after this succeeds, never before.
    pub async fn record_access(
        &self,
        meta: EventMeta,
        event: AccessEvent,
    ) -> Result<Position, AppError> {
        let stream = payloads::access_stream(event.authentication());
        let kind = (event.event_type(), event.schema_version());
        self.append_record(stream, kind, &event, meta).await
    }

    /// Appends one record (of a use or a refusal: records never conflict) of type and schema
    /// version `kind`, and waits until audit queries see it.
    pub(super) async fn append_record<E: serde::Serialize>(
        &self,
        stream: crate::ledger::StreamId,
        kind: (&str, u16),
        event: &E,
        meta: EventMeta,
    ) -> Result<Position, AppError> {
        let outcome = self
            .store()
            .append(AppendRequest::new(
                stream,
                ExpectedVersion::Any,
                vec![NewEvent {
                    event_id: EventId::new(),
                    event_type: kind.0.to_owned(),
                    schema_version: kind.1,
                    payload: payloads::encode_payload(event)?,
                    meta,
                }],
            ))
            .await?;
        self.model().wait_for(outcome.last_position.0).await?;
        Ok(outcome.last_position)
    }

    /// The user changing authentication `id`: only users change authentications, and a
    /// runner's or an auditor's attempt is refused and recorded against it.
    pub async fn changing_user(
        &self,
        by: &Accessor,
        principal: &Principal,
        id: AuthenticationId,
        action: &str,
    ) -> Result<UserId, AppError> {
        match principal {
            Principal::User(user) => Ok(*user),
            Principal::Runner { .. } | Principal::Auditor { .. } => {
                let reason = "principal: only users change authentications";
                self.record_refusal(by, id, None, action, Vec::new(), reason)
                    .await?;
                Err(PrincipalError::UsersOnly.into())
            }
        }
    }

    /// Records a refused attempt by an accessor (e.g. a resolve refused at the HTTP edge).
    pub async fn record_refusal(
        &self,
        by: &Accessor,
        authentication: AuthenticationId,
        user: Option<UserId>,
        action: &str,
        fields: Vec<String>,
        reason: &str,
    ) -> Result<(), AppError> {
        if !self.authentication_exists(authentication).await {
            return Ok(()); // Nothing to attempt on: not a credential of this ledger.
        }
        self.record_access(
            by.meta(),
            AccessEvent::Refused {
                authentication,
                user,
                action: action.to_owned(),
                fields,
                workflow: by.workflow.clone(),
                reason: reason.to_owned(),
            },
        )
        .await?;
        Ok(())
    }

    /// Whether an authentication exists (in any lifecycle state).
    async fn authentication_exists(&self, id: AuthenticationId) -> bool {
        self.model()
            .model()
            .read()
            .await
            .authentication(id)
            .is_some_and(|r| r.state.current.is_some())
    }

    /// If `result` is a refusal for lack of rights on an existing authentication, records it;
    /// then hands the result back unchanged (or the recording failure).
    pub(super) async fn audit_command_result<T>(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        action: &str,
        result: Result<T, AppError>,
    ) -> Result<T, AppError> {
        let reason = match &result {
            Err(AppError::Authentication(AuthenticationError::AccessDenied { reason, .. })) => {
                reason.to_string()
            }
            Err(AppError::NotFound) => "not visible to this user".to_owned(),
            _ => return result,
        };
        if caller.via == crate::ledger::SignedInWith::System {
            return result;
        }
        let by = Accessor {
            actor: caller.meta().actor,
            workflow: None,
        };
        self.record_refusal(&by, id, Some(caller.user), action, Vec::new(), &reason)
            .await?;
        result
    }

    /// A page of audit records matching the query.
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, AppError> {
        // A time range is a position range: store times never decrease. Only what the read
        // side has written is indexed: positions past it are left for the next page.
        let head = self.model().applied();
        let low = match query.filter.from {
            Some(from) => self.store().first_position_at_or_after(from).await?.0,
            None => 1,
        };
        let high = match query.filter.to {
            Some(to) => self
                .store()
                .first_position_at_or_after(to)
                .await?
                .0
                .saturating_sub(1),
            None => head,
        };
        let model = self.model().model().read().await;
        let store = self.model().store();
        let (positions, more) = audit::select(
            store,
            &query.filter,
            query.order,
            (low, high.min(head)),
            query.after,
            query.limit,
        )?;
        let mut records = Vec::with_capacity(positions.len());
        for position in &positions {
            let envelope = self
                .store()
                .read_all(Position(*position), 1)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    AppError::Store(crate::ledger::StoreError::Inconsistent(
                        crate::ledger::Inconsistency::IndexedPositionMissing {
                            index: crate::ledger::PositionIndex::Audit,
                            position: *position,
                        },
                    ))
                })?;
            records.push(AuditRecord::describe(&envelope, &model, store)?);
        }
        Ok(AuditPage {
            next: if more {
                positions.last().copied()
            } else {
                None
            },
            records,
        })
    }
}
