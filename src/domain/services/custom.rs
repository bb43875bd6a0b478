//! Custom services: user-defined service definitions, one small aggregate each.

use super::{ServiceSpec, ServiceSpecError};
use crate::domain::access::{decide_access, Action, DenyReason};
use crate::domain::directory::{Directory, WorkspaceScope};
use crate::domain::ids::{ServiceId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};

/// A defined custom service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomService {
    /// Its id.
    pub id: ServiceId,
    /// The workspace it was defined in.
    pub workspace: WorkspaceId,
    /// Its definition.
    pub spec: ServiceSpec,
    /// Who defined it.
    pub defined_by: UserId,
}

/// Whether a service is defined alone or together with a first authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DefineMode {
    /// Only the service; allowed wherever the caller may create services.
    ServiceOnly,
    /// The service and an authentication together; only in the caller's personal workspace.
    WithAuthentication,
}

/// Commands for a custom service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomServiceCommand {
    /// Define a new custom service.
    Define {
        /// Id chosen by the caller.
        service: ServiceId,
        /// Workspace the service is defined in.
        workspace: WorkspaceId,
        /// The definition.
        spec: ServiceSpec,
        /// Alone or with an authentication.
        mode: DefineMode,
        /// The acting user.
        actor: UserId,
    },
}

/// Events of a custom service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CustomServiceEvent {
    /// A custom service was defined.
    CustomServiceDefined {
        /// Its id.
        service: ServiceId,
        /// Its workspace.
        workspace: WorkspaceId,
        /// Its definition.
        spec: ServiceSpec,
        /// Who defined it.
        defined_by: UserId,
    },
}

impl CustomServiceEvent {
    /// Every custom service event type string.
    pub const TYPES: [&'static str; 1] = ["service.custom_defined"];

    /// Stable type string stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::CustomServiceDefined { .. } => "service.custom_defined",
        }
    }
    /// Schema version of this event's payload.
    pub fn schema_version(&self) -> u16 {
        1
    }
}

/// Why a custom service command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomServiceError {
    /// The id is already used.
    #[error("service: {0} is already defined")]
    AlreadyDefined(ServiceId),
    /// The caller may not create services in the workspace.
    #[error("workspace: may not create services in {workspace}: {reason}")]
    AccessDenied {
        /// The workspace.
        workspace: WorkspaceId,
        /// Why.
        reason: DenyReason,
    },
    /// A service and an authentication together are only allowed in the personal workspace.
    #[error("workspace: a service and an authentication can be created together only in your personal workspace; create the service alone in {workspace}, then add authentications")]
    TogetherOnlyInPersonal {
        /// The refused workspace.
        workspace: WorkspaceId,
    },
    /// The definition is invalid.
    #[error("{0}")]
    Spec(#[from] ServiceSpecError),
}

/// Decides a custom service command.
pub fn decide_custom_service(
    state: Option<&CustomService>,
    directory: &Directory,
    command: CustomServiceCommand,
) -> Result<Vec<CustomServiceEvent>, CustomServiceError> {
    let CustomServiceCommand::Define {
        service,
        workspace,
        spec,
        mode,
        actor,
    } = command;
    if state.is_some() {
        return Err(CustomServiceError::AlreadyDefined(service));
    }
    decide_access(directory, actor, workspace, Action::CreateService)
        .into_result()
        .map_err(|reason| CustomServiceError::AccessDenied { workspace, reason })?;
    if mode == DefineMode::WithAuthentication {
        let personal = directory
            .workspace(workspace)
            .is_some_and(|w| w.scope == WorkspaceScope::Personal { owner: actor });
        if !personal {
            return Err(CustomServiceError::TogetherOnlyInPersonal { workspace });
        }
    }
    spec.validate()?;
    Ok(vec![CustomServiceEvent::CustomServiceDefined {
        service,
        workspace,
        spec,
        defined_by: actor,
    }])
}

/// Folds an event into the custom service state.
pub fn apply_custom_service(state: &mut Option<CustomService>, event: &CustomServiceEvent) {
    let CustomServiceEvent::CustomServiceDefined {
        service,
        workspace,
        spec,
        defined_by,
    } = event;
    *state = Some(CustomService {
        id: *service,
        workspace: *workspace,
        spec: spec.clone(),
        defined_by: *defined_by,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::fixtures::{fixture, Fixture};
    use crate::domain::ids::FieldName;
    use crate::domain::scenario::{Aggregate, Scenario};
    use crate::domain::services::{AuthKind, FieldFormat, FieldSpec};
    use std::convert::Infallible;

    impl Aggregate for Option<CustomService> {
        type Command = CustomServiceCommand;
        type Event = CustomServiceEvent;
        type Error = CustomServiceError;
        type Warning = Infallible;
        type World = Directory;
        fn apply_event(&mut self, event: &CustomServiceEvent) {
            apply_custom_service(self, event);
        }
        fn handle(
            &self,
            world: &Directory,
            command: CustomServiceCommand,
        ) -> Result<(Vec<CustomServiceEvent>, Vec<Infallible>), CustomServiceError> {
            decide_custom_service(self.as_ref(), world, command).map(|e| (e, Vec::new()))
        }
    }

    type S = Scenario<Option<CustomService>>;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            name: "Internal API".into(),
            api_version: "1".into(),
            auth_kind: AuthKind::Generic,
            fields: vec![FieldSpec {
                name: FieldName::parse("api_key").expect("ok"),
                secret: true,
                required: true,
                format: FieldFormat::Text,
                description: "key".into(),
            }],
            oauth: None,
            scopes: vec![],
            required_scopes: vec![],
            verification: None,
        }
    }

    fn define(
        f: &Fixture,
        ws: WorkspaceId,
        mode: DefineMode,
        actor: UserId,
    ) -> CustomServiceCommand {
        let _ = f;
        CustomServiceCommand::Define {
            service: ServiceId::from_uuid(uuid::Uuid::nil()),
            workspace: ws,
            spec: spec(),
            mode,
            actor,
        }
    }

    fn defined(ws: WorkspaceId, actor: UserId) -> CustomServiceEvent {
        CustomServiceEvent::CustomServiceDefined {
            service: ServiceId::from_uuid(uuid::Uuid::nil()),
            workspace: ws,
            spec: spec(),
            defined_by: actor,
        }
    }

    #[test]
    fn service_only_is_allowed_wherever_caller_may_create_services() {
        let f = fixture();
        for (ws, actor) in [
            (f.shared, f.ws_editor),
            (f.org_workspace, f.admin),
            (f.personal(f.member), f.member),
        ] {
            S::given_in(f.directory.clone(), vec![])
                .when(define(&f, ws, DefineMode::ServiceOnly, actor))
                .then_expect_events(vec![defined(ws, actor)]);
        }
    }

    #[test]
    fn service_only_refused_without_create_service_access() {
        let f = fixture();
        S::given_in(f.directory.clone(), vec![])
            .when(define(
                &f,
                f.org_workspace,
                DefineMode::ServiceOnly,
                f.member,
            ))
            .then_expect_error(CustomServiceError::AccessDenied {
                workspace: f.org_workspace,
                reason: DenyReason::OrgRoleTooLow {
                    role: crate::domain::directory::OrgRole::Member,
                    action: Action::CreateService,
                },
            });
    }

    #[test]
    fn service_and_auth_together_only_in_own_personal_workspace() {
        let f = fixture();
        let own = f.personal(f.owner);
        S::given_in(f.directory.clone(), vec![])
            .when(define(&f, own, DefineMode::WithAuthentication, f.owner))
            .then_expect_events(vec![defined(own, f.owner)]);
        for ws in [f.shared, f.org_workspace] {
            S::given_in(f.directory.clone(), vec![])
                .when(define(&f, ws, DefineMode::WithAuthentication, f.owner))
                .then_expect_error(CustomServiceError::TogetherOnlyInPersonal { workspace: ws });
        }
    }

    #[test]
    fn redefinition_and_invalid_specs_are_refused() {
        let f = fixture();
        let own = f.personal(f.owner);
        S::given_in(f.directory.clone(), vec![defined(own, f.owner)])
            .when(define(&f, own, DefineMode::ServiceOnly, f.owner))
            .then_expect_error(CustomServiceError::AlreadyDefined(ServiceId::from_uuid(
                uuid::Uuid::nil(),
            )));
        let mut bad = spec();
        bad.oauth = Some(crate::domain::services::OAuthEndpoints {
            authorize_url: "https://x/a".into(),
            token_url: "https://x/t".into(),
            request_token_url: None,
        });
        S::given_in(f.directory.clone(), vec![])
            .when(CustomServiceCommand::Define {
                service: ServiceId::new(),
                workspace: own,
                spec: bad,
                mode: DefineMode::ServiceOnly,
                actor: f.owner,
            })
            .then_expect_error(CustomServiceError::Spec(
                ServiceSpecError::OAuthEndpointsNotAllowed {
                    kind: AuthKind::Generic,
                },
            ));
        let mut reserved = spec();
        reserved.fields[0].name = FieldName::parse("access_token").expect("ok");
        assert_eq!(
            reserved.validate(),
            Err(ServiceSpecError::GenericReservedField {
                field: FieldName::parse("access_token").expect("ok")
            })
        );
        let mut empty = spec();
        empty.fields.clear();
        assert_eq!(
            empty.validate(),
            Err(ServiceSpecError::GenericWithoutFields)
        );
    }
}
