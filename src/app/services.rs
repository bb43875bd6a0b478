//! Custom services: "service only" (anywhere the caller may create services), "service and
//! authentication together" (only in the caller's Personal workspace), reading the ones a user
//! may see, and changing and retiring them (appended with the service's version as the
//! expected version, so of two racing changes one wins and the other is refused).

use crate::domain::authentication::{
    decide, AuthenticationCommand, AuthenticationState, CreateAuthentication,
};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AuthenticationId, ServiceId, UserId, WorkspaceId};
use crate::domain::services::{
    apply_custom_service, decide_custom_service, CustomService, CustomServiceCommand,
    CustomServiceError, CustomServiceEvent, DefineMode, ServiceRef, ServiceSpec, UrlRule,
};
use crate::ledger::{codec, AppendOutcome, EventStore, StoreError, StreamRange, StreamVersion};
use crate::projections::payloads::{self, DomainEvent};

use super::commands::with_context;
use super::verification::{self, ChangeOptions, Probe, VerificationMode};
use super::{App, AppError, Caller, CommandOutcome};

/// What the service step of "service and authentication together" stores: the ids it chose,
/// so a retry after a crash finishes the same authentication instead of deciding anew.
#[derive(Serialize, Deserialize)]
struct ServiceStep {
    service: uuid::Uuid,
    authentication: uuid::Uuid,
}

/// What a change or retirement stores as its idempotency answer: the service and the version
/// it left, so a retry answers with the service as that write left it.
#[derive(Serialize, Deserialize)]
struct ServiceAnswer {
    service: uuid::Uuid,
    version: u64,
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
                self.url_rule(),
            )?
        };
        let outcome = self
            .append_service(caller, service, 0, &events, Vec::new())
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
        self.create_with_new_service_options(
            caller,
            service,
            spec,
            create,
            ChangeOptions::default(),
        )
        .await
    }

    /// Like [`App::create_with_new_service`], with the caller's options. The authentication's
    /// material is verified (when the new service defines an endpoint) before the service is
    /// written, so a refused check leaves nothing behind.
    pub async fn create_with_new_service_options(
        &self,
        caller: &Caller,
        service: ServiceId,
        spec: ServiceSpec,
        create: CreateAuthentication,
        options: ChangeOptions,
    ) -> Result<(ServiceId, CommandOutcome), AppError> {
        let step_caller = Caller {
            idempotency: caller.idempotency.map(|k| k.step("custom-service")),
            ..caller.clone()
        };
        let create = CreateAuthentication {
            service: ServiceRef::Custom(service),
            ..create
        };
        let (create, checked) = match self.earlier_outcome(&step_caller).await? {
            // The service is written: the create verifies on its own, like any other.
            Some(earlier) => (resumed(&earlier, create)?, None),
            None => {
                let (events, probe, defined) = {
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
                        self.url_rule(),
                    )?;
                    // Dry-run the authentication against a registry that already has the new
                    // service.
                    let mut registry = model.registry(self.catalog());
                    events.iter().for_each(|e| registry.apply(e));
                    let decision = with_context(&model, &registry, caller, |ctx| {
                        decide(
                            &AuthenticationState::<Probe>::default(),
                            AuthenticationCommand::Create(create.clone()),
                            ctx,
                        )
                    })?;
                    let mut probe = AuthenticationState::<Probe>::default();
                    for event in decision.events {
                        match event.map_secrets(|_, text| {
                            Ok::<_, std::convert::Infallible>(Probe::New(text))
                        }) {
                            Ok(event) => probe.apply(&event),
                            Err(never) => match never {},
                        }
                    }
                    let defined = registry
                        .resolve(&ServiceRef::Custom(service))
                        .cloned()
                        .ok_or(CustomServiceError::NotFound)?;
                    (events, probe, defined)
                };
                let verifies = verification::verifies(
                    caller,
                    &[AuthenticationCommand::Create(create.clone())],
                );
                let checked = if verifies && self.verification.mode == VerificationMode::Required {
                    Some(
                        self.verify_probe(create.id, 0, &probe, defined, options)
                            .await?,
                    )
                } else {
                    None
                };
                let answer = codec::encode(&ServiceStep {
                    service: service.as_uuid(),
                    authentication: create.id.as_uuid(),
                })
                .map_err(StoreError::from)?;
                let outcome = self
                    .append_service(&step_caller, service, 0, &events, answer)
                    .await?;
                if outcome.replayed_answer.is_some() {
                    // Another attempt wrote the service first; its create verifies anew.
                    (resumed(&outcome, create)?, None)
                } else {
                    (create, checked)
                }
            }
        };
        let service = match create.service {
            ServiceRef::Custom(service) => service,
            ServiceRef::Prebuilt(_) => service,
        };
        let id = create.id;
        let outcome = self
            .execute_checked(
                caller,
                id,
                vec![AuthenticationCommand::Create(create)],
                None,
                options,
                checked,
            )
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

    /// The custom service `user` may see; a hidden one is not found, exactly like a missing one.
    pub async fn custom_service(
        &self,
        user: UserId,
        id: ServiceId,
    ) -> Result<CustomService, AppError> {
        self.find_custom_service(id, Some(user)).await
    }

    /// The custom service, when `seen_by` (`None`: the system) may see it.
    async fn find_custom_service(
        &self,
        id: ServiceId,
        seen_by: Option<UserId>,
    ) -> Result<CustomService, AppError> {
        let model = self.model().model().read().await;
        model
            .custom_services
            .get(&id)
            .filter(|s| seen_by.is_none_or(|user| s.visible_to(&model.directory, user)))
            .cloned()
            .ok_or_else(|| CustomServiceError::NotFound.into())
    }

    /// Which URLs custom service definitions may name here.
    pub(super) fn url_rule(&self) -> UrlRule {
        if self.allow_http_services {
            UrlRule::AllowHttpForDevelopment
        } else {
            UrlRule::HttpsOnly
        }
    }

    /// A custom service, for the system (the token refresher): no visibility check.
    pub(crate) async fn custom_service_for_system(
        &self,
        id: ServiceId,
    ) -> Result<CustomService, AppError> {
        self.find_custom_service(id, None).await
    }

    /// The definition behind `service` as `user` may see it: a catalog entry or a custom
    /// service, retired ones too (their authentications keep working and keep their
    /// settings; a create with one is refused by the rules, with the reason). `None` alike
    /// for a missing and a hidden one.
    pub async fn service_spec_for(
        &self,
        user: UserId,
        service: &ServiceRef,
    ) -> Option<ServiceSpec> {
        match service {
            ServiceRef::Prebuilt(key) => self.catalog().get(key).cloned(),
            ServiceRef::Custom(id) => self.custom_service(user, *id).await.ok().map(|s| s.spec),
        }
    }

    /// Every custom service `user` may see, by id.
    pub async fn visible_custom_services(&self, user: UserId) -> Vec<CustomService> {
        let model = self.model().model().read().await;
        model
            .custom_services
            .values()
            .filter(|s| s.visible_to(&model.directory, user))
            .cloned()
            .collect()
    }

    /// Replaces the definition of a custom service (`If-Match`: `if_version`). It applies to
    /// new authentications and to re-authentications; existing values are not revalidated.
    pub async fn change_service(
        &self,
        caller: &Caller,
        id: ServiceId,
        spec: ServiceSpec,
        if_version: Option<u64>,
    ) -> Result<CustomService, AppError> {
        let command = CustomServiceCommand::Change {
            spec,
            actor: caller.user,
        };
        self.manage_service(caller, id, command, if_version).await
    }

    /// Retires a custom service: it backs no new authentications; existing ones keep working.
    pub async fn retire_service(
        &self,
        caller: &Caller,
        id: ServiceId,
        if_version: Option<u64>,
    ) -> Result<CustomService, AppError> {
        let command = CustomServiceCommand::Retire { actor: caller.user };
        self.manage_service(caller, id, command, if_version).await
    }

    /// Decides and appends a change or retirement with the service's version as the expected
    /// version; answers with the service as the write left it.
    pub(super) async fn manage_service(
        &self,
        caller: &Caller,
        id: ServiceId,
        command: CustomServiceCommand,
        if_version: Option<u64>,
    ) -> Result<CustomService, AppError> {
        if let Some(earlier) = self.earlier_outcome(caller).await? {
            return self.replayed_service(caller.user, &earlier).await;
        }
        // Exclusive until the read model has the change: no authentication is decided on the
        // definition being replaced and appended after it.
        let _gate = self.service_gate.write().await;
        let (events, version, after) = {
            let model = self.model().model().read().await;
            let state = model.custom_services.get(&id);
            // A hidden service answers like a missing one, before any version is compared.
            let visible = state.filter(|s| s.visible_to(&model.directory, caller.user));
            if let (Some(wanted), Some(current)) = (if_version, visible) {
                if wanted != current.version {
                    return Err(CustomServiceError::VersionMismatch {
                        expected: wanted,
                        actual: current.version,
                    }
                    .into());
                }
            }
            let events = decide_custom_service(state, &model.directory, command, self.url_rule())?;
            // The gate keeps anything else from changing it: this is what the write leaves.
            let mut after = state.cloned();
            events
                .iter()
                .for_each(|e| apply_custom_service(&mut after, e));
            (events, state.map_or(0, |s| s.version), after)
        };
        let answer = codec::encode(&ServiceAnswer {
            service: id.as_uuid(),
            version: version + events.len() as u64,
        })
        .map_err(StoreError::from)?;
        let outcome = self
            .append_service(caller, id, version, &events, answer)
            .await?;
        if outcome.replayed_answer.is_some() {
            return self.replayed_service(caller.user, &outcome).await;
        }
        after.ok_or_else(|| CustomServiceError::NotFound.into())
    }

    /// The service as an earlier change or retirement with the same idempotency key left it.
    async fn replayed_service(
        &self,
        user: UserId,
        earlier: &AppendOutcome,
    ) -> Result<CustomService, AppError> {
        let answer = earlier.replayed_answer.as_deref().unwrap_or_default();
        let stored: ServiceAnswer = codec::decode(answer).map_err(StoreError::from)?;
        self.service_as_of(user, ServiceId::from_uuid(stored.service), stored.version)
            .await
    }

    /// A custom service `user` may see (now), as it was at `version` of its stream.
    pub async fn service_as_of(
        &self,
        user: UserId,
        id: ServiceId,
        version: u64,
    ) -> Result<CustomService, AppError> {
        self.custom_service(user, id).await?;
        let envelopes = self
            .store()
            .read_stream(
                &payloads::service_stream(id),
                StreamRange::up_to_version(StreamVersion(version)),
            )
            .await?;
        let mut state = None;
        for envelope in &envelopes {
            if let DomainEvent::Service(event) = payloads::decode(envelope)? {
                apply_custom_service(&mut state, &event);
            }
        }
        state.ok_or_else(|| CustomServiceError::NotFound.into())
    }

    /// Appends a custom service's events at its `version` (0: a new service).
    async fn append_service(
        &self,
        caller: &Caller,
        service: ServiceId,
        version: u64,
        events: &[CustomServiceEvent],
        answer: Vec<u8>,
    ) -> Result<AppendOutcome, AppError> {
        self.append_plain_applied(
            payloads::service_stream(service),
            version,
            caller,
            events,
            |e| (e.event_type(), e.schema_version()),
            answer,
        )
        .await
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
