//! Custom services: "service only" (anywhere the caller may create services) and "service and
//! authentication together" (only in the caller's Personal workspace).

use crate::domain::authentication::{
    decide, AuthenticationCommand, AuthenticationState, CreateAuthentication,
};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AuthenticationId, ServiceId, WorkspaceId};
use crate::domain::services::{
    decide_custom_service, CustomServiceCommand, CustomServiceEvent, DefineMode, ServiceRef,
    ServiceSpec,
};
use crate::ledger::{codec, AppendOutcome, StoreError};
use crate::projections::payloads::{self, DomainEvent};

use super::commands::with_context;
use super::{App, AppError, Caller, CommandOutcome};

/// What the service step of "service and authentication together" stores: the ids it chose,
/// so a retry after a crash finishes the same authentication instead of deciding anew.
#[derive(Serialize, Deserialize)]
struct ServiceStep {
    service: uuid::Uuid,
    authentication: uuid::Uuid,
}

impl App {
    /// Defines a custom service in a workspace ("service only").
    pub async fn define_service(
        &self,
        caller: &Caller,
        service: ServiceId,
        workspace: WorkspaceId,
        spec: ServiceSpec,
    ) -> Result<Vec<CustomServiceEvent>, AppError> {
        if let Some(earlier) = self.earlier_outcome(caller).await? {
            return self.service_events_of(&earlier).await;
        }
        let events = {
            let model = self.model().model().read().await;
            let command = CustomServiceCommand::Define {
                service,
                workspace,
                spec,
                mode: DefineMode::ServiceOnly,
                actor: caller.user,
            };
            decide_custom_service(
                model.custom_services.get(&service),
                &model.directory,
                command,
            )?
        };
        let outcome = self
            .append_service(caller, service, &events, Vec::new())
            .await?;
        if outcome.replayed_answer.is_some() {
            return self.service_events_of(&outcome).await;
        }
        Ok(events)
    }

    /// Defines a custom service and creates an authentication for it, in the caller's Personal
    /// workspace only. Both decisions are made before anything is written. Two appends: the
    /// service step stores its ids under a key derived from the caller's, so a retry after a
    /// crash between them creates the same authentication; returns the service actually used.
    pub async fn create_with_new_service(
        &self,
        caller: &Caller,
        service: ServiceId,
        spec: ServiceSpec,
        create: CreateAuthentication,
    ) -> Result<(ServiceId, CommandOutcome), AppError> {
        let step_caller = Caller {
            idempotency: caller.idempotency.map(|k| k.step("custom-service")),
            ..caller.clone()
        };
        let create = CreateAuthentication {
            service: ServiceRef::Custom(service),
            ..create
        };
        let create = match self.earlier_outcome(&step_caller).await? {
            Some(earlier) => resumed(&earlier, create)?,
            None => {
                let events = {
                    let model = self.model().model().read().await;
                    let command = CustomServiceCommand::Define {
                        service,
                        workspace: create.workspace,
                        spec,
                        mode: DefineMode::WithAuthentication,
                        actor: caller.user,
                    };
                    let events = decide_custom_service(
                        model.custom_services.get(&service),
                        &model.directory,
                        command,
                    )?;
                    // Dry-run the authentication against a registry that already has the new
                    // service.
                    let mut registry = model.registry(self.catalog());
                    events.iter().for_each(|e| registry.apply(e));
                    with_context(&model, &registry, caller, |ctx| {
                        decide(
                            &AuthenticationState::<()>::default(),
                            AuthenticationCommand::Create(create.clone()),
                            ctx,
                        )
                    })?;
                    events
                };
                let answer = codec::encode(&ServiceStep {
                    service: service.as_uuid(),
                    authentication: create.id.as_uuid(),
                })
                .map_err(StoreError::from)?;
                let outcome = self
                    .append_service(&step_caller, service, &events, answer)
                    .await?;
                if outcome.replayed_answer.is_some() {
                    resumed(&outcome, create)?
                } else {
                    create
                }
            }
        };
        let service = match create.service {
            ServiceRef::Custom(service) => service,
            ServiceRef::Prebuilt(_) => service,
        };
        let id = create.id;
        let outcome = self
            .execute(caller, id, AuthenticationCommand::Create(create), None)
            .await?;
        Ok((service, outcome))
    }

    /// The custom service events an earlier append wrote.
    async fn service_events_of(
        &self,
        outcome: &AppendOutcome,
    ) -> Result<Vec<CustomServiceEvent>, AppError> {
        Ok(self
            .events_of(outcome)
            .await?
            .into_iter()
            .filter_map(|e| match e {
                DomainEvent::Service(event) => Some(event),
                _ => None,
            })
            .collect())
    }

    async fn append_service(
        &self,
        caller: &Caller,
        service: ServiceId,
        events: &[CustomServiceEvent],
        answer: Vec<u8>,
    ) -> Result<AppendOutcome, AppError> {
        // A custom service stream holds exactly one event: it is new, or the domain refused.
        let outcome = self
            .append_plain(
                payloads::service_stream(service),
                0,
                caller,
                events,
                |e| (e.event_type(), e.schema_version()),
                answer,
            )
            .await?;
        self.model().wait_for(outcome.last_position.0).await?;
        Ok(outcome)
    }
}

/// The creation an earlier service step chose ids for.
fn resumed(
    earlier: &AppendOutcome,
    create: CreateAuthentication,
) -> Result<CreateAuthentication, AppError> {
    let answer = earlier.replayed_answer.as_deref().unwrap_or_default();
    let step: ServiceStep = codec::decode(answer).map_err(StoreError::from)?;
    Ok(CreateAuthentication {
        id: AuthenticationId::from_uuid(step.authentication),
        service: ServiceRef::Custom(ServiceId::from_uuid(step.service)),
        ..create
    })
}
