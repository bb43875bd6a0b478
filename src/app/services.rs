//! Custom services: "service only" (anywhere the caller may create services) and "service and
//! authentication together" (only in the caller's Personal workspace).

use crate::domain::authentication::{
    decide, AuthenticationCommand, AuthenticationState, CreateAuthentication,
};
use crate::domain::ids::{ServiceId, WorkspaceId};
use crate::domain::services::{
    decide_custom_service, CustomServiceCommand, CustomServiceEvent, DefineMode, ServiceRef,
    ServiceSpec,
};
use crate::projections::payloads;

use super::commands::with_context;
use super::{App, AppError, Caller, CommandOutcome};

impl App {
    /// Defines a custom service in a workspace ("service only").
    pub async fn define_service(
        &self,
        caller: &Caller,
        service: ServiceId,
        workspace: WorkspaceId,
        spec: ServiceSpec,
    ) -> Result<Vec<CustomServiceEvent>, AppError> {
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
        self.append_service(caller, service, &events).await?;
        Ok(events)
    }

    /// Defines a custom service and creates an authentication for it, in the caller's Personal
    /// workspace only. Both decisions are made before anything is written.
    pub async fn create_with_new_service(
        &self,
        caller: &Caller,
        service: ServiceId,
        spec: ServiceSpec,
        create: CreateAuthentication,
    ) -> Result<CommandOutcome, AppError> {
        let create = CreateAuthentication {
            service: ServiceRef::Custom(service),
            ..create
        };
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
            // Dry-run the authentication against a registry that already has the new service.
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
        self.append_service(caller, service, &events).await?;
        let id = create.id;
        self.execute(caller, id, AuthenticationCommand::Create(create), None)
            .await
    }

    async fn append_service(
        &self,
        caller: &Caller,
        service: ServiceId,
        events: &[CustomServiceEvent],
    ) -> Result<(), AppError> {
        // A custom service stream holds exactly one event: it is new, or the domain refused.
        let position = self
            .append_plain(payloads::service_stream(service), 0, caller, events, |e| {
                (e.event_type(), e.schema_version())
            })
            .await?;
        self.model().wait_for(position).await?;
        Ok(())
    }
}
