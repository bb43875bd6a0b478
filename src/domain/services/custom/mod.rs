//! Custom services: user-defined service definitions, one small aggregate each.
//!
//! A custom service is defined once (`service.custom_defined`), may be changed
//! (`service.custom_changed`, a whole new definition) and retired (`service.custom_retired`).
//! Its version is the number of events in its stream. Who may see it and where it may back
//! authentications is decided in [`usable`].

#[cfg(test)]
mod tests;
mod usable;

pub use usable::{check_use, ServiceUse, ServiceUseError};

use super::oauth_client::{check_registration, ClientRegistration, OpaqueSealed};
use super::{AuthKind, RegistrationError, ServiceSpec, ServiceSpecError};
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
    /// Its current definition.
    pub spec: ServiceSpec,
    /// Who defined it.
    pub defined_by: UserId,
    /// Its version: the number of events in its stream (1 once defined).
    pub version: u64,
    /// Whether it was retired: it backs no new authentications and cannot be changed.
    pub retired: bool,
    /// The OAuth2 client its authentications are granted through, when registered (its
    /// secret sealed).
    pub oauth_client: Option<ClientRegistration<OpaqueSealed>>,
}

impl CustomService {
    /// Whether `user` may see this service: exactly when they may view the authentications
    /// of its workspace (the rule of [`decide_access`], not a second one).
    pub fn visible_to(&self, directory: &Directory, user: UserId) -> bool {
        decide_access(directory, user, self.workspace, Action::View).is_allowed()
    }
}

/// Which URLs a definition may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRule {
    /// `https://` only.
    HttpsOnly,
    /// `http://` too: an operator's development setup with a local provider.
    AllowHttpForDevelopment,
}

impl UrlRule {
    fn validate(self, spec: &ServiceSpec) -> Result<(), ServiceSpecError> {
        match self {
            UrlRule::HttpsOnly => spec.validate(),
            UrlRule::AllowHttpForDevelopment => spec.validate_allowing_http(),
        }
    }
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
    /// Replace the definition of a live service (same auth kind).
    Change {
        /// The new definition.
        spec: ServiceSpec,
        /// The acting user.
        actor: UserId,
    },
    /// Retire a service: no new authentications; existing ones keep working.
    Retire {
        /// The acting user.
        actor: UserId,
    },
    /// Register (or replace) the OAuth2 client of an OAuth2 service. The secret arrives
    /// sealed: the application checked it is not blank before sealing.
    RegisterOAuthClient {
        /// The registration.
        registration: ClientRegistration<OpaqueSealed>,
        /// The acting user.
        actor: UserId,
    },
}

/// Events of a custom service. New variants go at the end: payloads are bincode-encoded
/// with the variant's index, so old bytes decode unchanged.
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
    /// A custom service's definition was replaced.
    CustomServiceChanged {
        /// Its id.
        service: ServiceId,
        /// The new definition.
        spec: ServiceSpec,
        /// Who changed it.
        changed_by: UserId,
    },
    /// A custom service was retired.
    CustomServiceRetired {
        /// Its id.
        service: ServiceId,
        /// Who retired it.
        retired_by: UserId,
    },
    /// The OAuth2 client of a custom service was registered (or replaced).
    OAuthClientRegistered {
        /// Its id.
        service: ServiceId,
        /// The registration, its secret sealed.
        registration: ClientRegistration<OpaqueSealed>,
        /// Who registered it.
        registered_by: UserId,
    },
}

impl CustomServiceEvent {
    /// Every custom service event type string.
    pub const TYPES: [&'static str; 4] = [
        "service.custom_defined",
        "service.custom_changed",
        "service.custom_retired",
        "service.oauth_client_registered",
    ];

    /// Stable type string stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::CustomServiceDefined { .. } => "service.custom_defined",
            Self::CustomServiceChanged { .. } => "service.custom_changed",
            Self::CustomServiceRetired { .. } => "service.custom_retired",
            Self::OAuthClientRegistered { .. } => "service.oauth_client_registered",
        }
    }
    /// Schema version of this event's payload.
    pub fn schema_version(&self) -> u16 {
        match self {
            Self::CustomServiceDefined { .. }
            | Self::CustomServiceChanged { .. }
            | Self::CustomServiceRetired { .. }
            | Self::OAuthClientRegistered { .. } => 1,
        }
    }
    /// The service the event is about.
    pub fn service(&self) -> ServiceId {
        match self {
            Self::CustomServiceDefined { service, .. }
            | Self::CustomServiceChanged { service, .. }
            | Self::CustomServiceRetired { service, .. }
            | Self::OAuthClientRegistered { service, .. } => *service,
        }
    }
}

/// Why a custom service command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomServiceError {
    /// The id is already used.
    #[error("service: {0} is already defined")]
    AlreadyDefined(ServiceId),
    /// No such service, or the caller may not see it (the two answer alike on purpose).
    #[error("service: not found")]
    NotFound,
    /// The caller may not create (or change, or retire) services in the workspace.
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
    /// A retired service cannot be changed.
    #[error("service: is retired; a retired service cannot be changed")]
    Retired,
    /// The service is already retired.
    #[error("service: is already retired")]
    AlreadyRetired,
    /// The new definition equals the current one.
    #[error("body: the definition is unchanged")]
    SpecUnchanged,
    /// A change may not switch the auth kind: existing authentications hold that kind's fields.
    #[error(
        "auth_kind: cannot change (the service is {from:?}); define a new service for another kind"
    )]
    KindChanged {
        /// The service's kind.
        from: AuthKind,
        /// The requested kind.
        to: AuthKind,
    },
    /// Only OAuth2 services have OAuth2 clients.
    #[error("service: is a {kind:?} service; only OAuth2 services have an OAuth2 client")]
    NotOAuth2 {
        /// The service's kind.
        kind: AuthKind,
    },
    /// The client registration breaks a rule.
    #[error("{0}")]
    Registration(#[from] RegistrationError),
    /// The caller's expected version (`If-Match`) is stale.
    #[error("if-match: expected version {expected}, but the service is at version {actual}")]
    VersionMismatch {
        /// What the caller expected.
        expected: u64,
        /// The current version.
        actual: u64,
    },
}

impl CustomServiceError {
    /// The request field the refusal is about, as its text begins (`service`, `auth_kind`, …).
    pub fn field(&self) -> Option<String> {
        use CustomServiceError as E;
        let field = match self {
            E::Spec(inner) => return inner.field(),
            // The registration names its field as data (`authorize_params.<name>`).
            E::Registration(inner) => return Some(inner.field.clone()),
            E::AlreadyDefined(_)
            | E::NotFound
            | E::Retired
            | E::AlreadyRetired
            | E::NotOAuth2 { .. } => "service",
            E::AccessDenied { .. } | E::TogetherOnlyInPersonal { .. } => "workspace",
            E::SpecUnchanged => "body",
            E::KindChanged { .. } => "auth_kind",
            E::VersionMismatch { .. } => "if-match",
        };
        Some(field.to_owned())
    }
}

/// Decides a custom service command.
pub fn decide_custom_service(
    state: Option<&CustomService>,
    directory: &Directory,
    command: CustomServiceCommand,
    urls: UrlRule,
) -> Result<Vec<CustomServiceEvent>, CustomServiceError> {
    match command {
        CustomServiceCommand::Define {
            service,
            workspace,
            spec,
            mode,
            actor,
        } => define(
            state,
            directory,
            Definition {
                service,
                workspace,
                spec,
                mode,
            },
            actor,
            urls,
        ),
        CustomServiceCommand::Change { spec, actor } => change(state, directory, spec, actor, urls),
        CustomServiceCommand::Retire { actor } => retire(state, directory, actor),
        CustomServiceCommand::RegisterOAuthClient {
            registration,
            actor,
        } => register_oauth_client(state, directory, registration, actor),
    }
}

fn register_oauth_client(
    state: Option<&CustomService>,
    directory: &Directory,
    registration: ClientRegistration<OpaqueSealed>,
    actor: UserId,
) -> Result<Vec<CustomServiceEvent>, CustomServiceError> {
    let current = managed(state, directory, actor)?;
    if current.retired {
        return Err(CustomServiceError::Retired);
    }
    if current.spec.auth_kind != AuthKind::OAuth2 {
        return Err(CustomServiceError::NotOAuth2 {
            kind: current.spec.auth_kind,
        });
    }
    check_registration(&registration, |_| false)?;
    Ok(vec![CustomServiceEvent::OAuthClientRegistered {
        service: current.id,
        registration,
        registered_by: actor,
    }])
}

/// What a definition names: the new service, where, what, and how.
struct Definition {
    service: ServiceId,
    workspace: WorkspaceId,
    spec: ServiceSpec,
    mode: DefineMode,
}

fn define(
    state: Option<&CustomService>,
    directory: &Directory,
    definition: Definition,
    actor: UserId,
    urls: UrlRule,
) -> Result<Vec<CustomServiceEvent>, CustomServiceError> {
    let Definition {
        service,
        workspace,
        spec,
        mode,
    } = definition;
    if state.is_some() {
        return Err(CustomServiceError::AlreadyDefined(service));
    }
    may_manage(directory, actor, workspace)?;
    if mode == DefineMode::WithAuthentication {
        let personal = directory
            .workspace(workspace)
            .is_some_and(|w| w.scope == WorkspaceScope::Personal { owner: actor });
        if !personal {
            return Err(CustomServiceError::TogetherOnlyInPersonal { workspace });
        }
    }
    urls.validate(&spec)?;
    Ok(vec![CustomServiceEvent::CustomServiceDefined {
        service,
        workspace,
        spec,
        defined_by: actor,
    }])
}

fn change(
    state: Option<&CustomService>,
    directory: &Directory,
    spec: ServiceSpec,
    actor: UserId,
    urls: UrlRule,
) -> Result<Vec<CustomServiceEvent>, CustomServiceError> {
    let current = managed(state, directory, actor)?;
    if current.retired {
        return Err(CustomServiceError::Retired);
    }
    if spec.auth_kind != current.spec.auth_kind {
        return Err(CustomServiceError::KindChanged {
            from: current.spec.auth_kind,
            to: spec.auth_kind,
        });
    }
    urls.validate(&spec)?;
    if spec == current.spec {
        return Err(CustomServiceError::SpecUnchanged);
    }
    Ok(vec![CustomServiceEvent::CustomServiceChanged {
        service: current.id,
        spec,
        changed_by: actor,
    }])
}

fn retire(
    state: Option<&CustomService>,
    directory: &Directory,
    actor: UserId,
) -> Result<Vec<CustomServiceEvent>, CustomServiceError> {
    let current = managed(state, directory, actor)?;
    if current.retired {
        return Err(CustomServiceError::AlreadyRetired);
    }
    Ok(vec![CustomServiceEvent::CustomServiceRetired {
        service: current.id,
        retired_by: actor,
    }])
}

/// Who may define, change or retire services in a workspace: whoever may create services
/// there ([`Action::CreateService`]).
fn may_manage(
    directory: &Directory,
    actor: UserId,
    workspace: WorkspaceId,
) -> Result<(), CustomServiceError> {
    decide_access(directory, actor, workspace, Action::CreateService)
        .into_result()
        .map_err(|reason| CustomServiceError::AccessDenied { workspace, reason })
}

/// The existing service `actor` may see and manage; a hidden one is not found.
fn managed<'a>(
    state: Option<&'a CustomService>,
    directory: &Directory,
    actor: UserId,
) -> Result<&'a CustomService, CustomServiceError> {
    let current = state
        .filter(|s| s.visible_to(directory, actor))
        .ok_or(CustomServiceError::NotFound)?;
    may_manage(directory, actor, current.workspace)?;
    Ok(current)
}

/// Folds an event into the custom service state.
pub fn apply_custom_service(state: &mut Option<CustomService>, event: &CustomServiceEvent) {
    match event {
        CustomServiceEvent::CustomServiceDefined {
            service,
            workspace,
            spec,
            defined_by,
        } => {
            *state = Some(CustomService {
                id: *service,
                workspace: *workspace,
                spec: spec.clone(),
                defined_by: *defined_by,
                version: 1,
                retired: false,
                oauth_client: None,
            });
        }
        CustomServiceEvent::OAuthClientRegistered { registration, .. } => {
            if let Some(current) = state {
                current.oauth_client = Some(registration.clone());
                current.version += 1;
            }
        }
        CustomServiceEvent::CustomServiceChanged { spec, .. } => {
            if let Some(current) = state {
                current.spec = spec.clone();
                current.version += 1;
            }
        }
        CustomServiceEvent::CustomServiceRetired { .. } => {
            if let Some(current) = state {
                current.retired = true;
                current.version += 1;
            }
        }
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn every_error_names_its_field() {
        let workspace = WorkspaceId::new();
        let table = [
            (
                CustomServiceError::AlreadyDefined(ServiceId::new()),
                "service",
            ),
            (CustomServiceError::NotFound, "service"),
            (
                CustomServiceError::AccessDenied {
                    workspace,
                    reason: DenyReason::UnknownWorkspace(workspace),
                },
                "workspace",
            ),
            (
                CustomServiceError::TogetherOnlyInPersonal { workspace },
                "workspace",
            ),
            (
                CustomServiceError::Spec(ServiceSpecError::BadUrl {
                    field: "oauth.token_url",
                    reason: "must start with https://".into(),
                }),
                "oauth.token_url",
            ),
            (CustomServiceError::Retired, "service"),
            (CustomServiceError::AlreadyRetired, "service"),
            (CustomServiceError::SpecUnchanged, "body"),
            (
                CustomServiceError::KindChanged {
                    from: AuthKind::Token,
                    to: AuthKind::Basic,
                },
                "auth_kind",
            ),
            (
                CustomServiceError::NotOAuth2 {
                    kind: AuthKind::Token,
                },
                "service",
            ),
            (
                CustomServiceError::Registration(RegistrationError {
                    field: "authorize_params.prompt".into(),
                    reason: "is set by the flow itself and cannot be overridden".into(),
                }),
                "authorize_params.prompt",
            ),
            (
                CustomServiceError::VersionMismatch {
                    expected: 1,
                    actual: 2,
                },
                "if-match",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }
}
