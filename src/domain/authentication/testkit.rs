//! Test world for authentication scenarios.

use super::*;
use crate::domain::access::{Action, DenyReason};
use crate::domain::directory::fixtures::{fixture, Fixture};
use crate::domain::directory::WorkspaceRole;
use crate::domain::ids::{AuthenticationId, FieldName, ServiceKey, UserId, WorkspaceId};
use crate::domain::naming::name_key;
use crate::domain::scenario::{Aggregate, Outcome, Scenario};
use crate::domain::secret::SecretText;
use crate::domain::services::{ServiceCatalog, ServiceRef, ServiceRegistry};
use crate::time::Timestamp;
use std::collections::BTreeMap;

pub(crate) type Event = AuthenticationEvent<SecretText>;
pub(crate) type State = AuthenticationState<SecretText>;
pub(crate) type S = Scenario<State>;

/// Everything a decision needs, owned.
pub(crate) struct World {
    pub(crate) f: Fixture,
    pub(crate) services: ServiceRegistry,
    pub(crate) names: BTreeMap<WorkspaceId, Vec<String>>,
    pub(crate) actor: UserId,
    pub(crate) now: Timestamp,
}

impl World {
    pub(crate) fn new() -> Self {
        let f = fixture();
        let actor = f.ws_editor;
        Self {
            f,
            services: ServiceRegistry::new(ServiceCatalog::builtin().expect("catalog")),
            names: BTreeMap::new(),
            actor,
            now: Timestamp::parse("2025-01-01T00:00:00Z").expect("valid"),
        }
    }
    pub(crate) fn as_(mut self, actor: UserId) -> Self {
        self.actor = actor;
        self
    }
    pub(crate) fn with_names(mut self, ws: WorkspaceId, names: &[&str]) -> Self {
        self.names
            .insert(ws, names.iter().map(|n| (*n).to_owned()).collect());
        self
    }
    pub(crate) fn at(mut self, now: &str) -> Self {
        self.now = Timestamp::parse(now).expect("valid time");
        self
    }
}

impl Aggregate for State {
    type Command = AuthenticationCommand;
    type Event = Event;
    type Error = AuthenticationError;
    type Warning = Warning;
    type World = World;
    fn apply_event(&mut self, event: &Event) {
        self.apply(event);
    }
    fn handle(
        &self,
        world: &World,
        command: AuthenticationCommand,
    ) -> Result<(Vec<Event>, Vec<Warning>), AuthenticationError> {
        let name_taken = |ws: WorkspaceId, key: &str| {
            world
                .names
                .get(&ws)
                .is_some_and(|names| names.iter().any(|n| name_key(n) == key))
        };
        let ctx = DecisionContext {
            actor: world.actor,
            directory: &world.f.directory,
            services: &world.services,
            name_taken: &name_taken,
            now: world.now,
        };
        decide(self, command, &ctx).map(|d| (d.events, d.warnings))
    }
}

pub(crate) fn name(n: &str) -> FieldName {
    FieldName::parse(n).expect("valid field name")
}

pub(crate) fn fields(pairs: &[(&str, &str)]) -> BTreeMap<FieldName, SecretText> {
    pairs
        .iter()
        .map(|(k, v)| (name(k), SecretText::new(*v)))
        .collect()
}

pub(crate) fn prebuilt(key: &str) -> ServiceRef {
    ServiceRef::Prebuilt(ServiceKey::parse(key).expect("valid key"))
}

pub(crate) fn id() -> AuthenticationId {
    AuthenticationId::from_uuid(uuid::Uuid::from_u128(42))
}

pub(crate) fn create(
    ws: WorkspaceId,
    service: &str,
    pairs: &[(&str, &str)],
    scopes: &[&str],
) -> AuthenticationCommand {
    AuthenticationCommand::Create(CreateAuthentication {
        id: id(),
        name: "My auth".into(),
        workspace: ws,
        service: prebuilt(service),
        fields: fields(pairs),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        extra_permissions: Vec::new(),
        environment: None,
        origin: ChangeOrigin::Dashboard,
    })
}

/// A re-authentication through the API with these changes.
pub(crate) fn reauth(changes: Vec<(&str, FieldChange)>) -> AuthenticationCommand {
    AuthenticationCommand::Reauthenticate {
        fields: changes.into_iter().map(|(k, v)| (name(k), v)).collect(),
        origin: ChangeOrigin::Api,
    }
}

/// A field change that sets this value.
pub(crate) fn set(v: &str) -> FieldChange {
    FieldChange::Set(SecretText::new(v))
}

/// A create command with its contents changed by `change` (any other command as it is).
pub(crate) fn changed(
    mut command: AuthenticationCommand,
    change: impl FnOnce(&mut CreateAuthentication),
) -> AuthenticationCommand {
    if let AuthenticationCommand::Create(c) = &mut command {
        change(c);
    }
    command
}

/// Runs a create in a fresh world (as the workspace's editor) and returns its events.
pub(crate) fn created(world: World, command: AuthenticationCommand) -> Vec<Event> {
    S::given_in(world, vec![]).when(command).events().to_vec()
}

/// When `world`'s actor creates "My auth" of `service` in the shared workspace, from nothing.
pub(crate) fn when_creating(
    world: World,
    service: &str,
    pairs: &[(&str, &str)],
    scopes: &[&str],
) -> Outcome<State> {
    let ws = world.f.shared;
    S::given_in(world, vec![]).when(create(ws, service, pairs, scopes))
}

/// The events of "My auth" of `service`, created in the shared workspace by its editor.
pub(crate) fn created_in_shared(
    service: &str,
    pairs: &[(&str, &str)],
    scopes: &[&str],
) -> Vec<Event> {
    when_creating(World::new(), service, pairs, scopes)
        .events()
        .to_vec()
}

/// A token authentication named "My auth" in the shared workspace.
pub(crate) fn token_auth() -> Vec<Event> {
    created_in_shared("airtable", &[("token", "tok-1")], &[])
}

/// A Slack authentication with all required scopes in the shared workspace.
pub(crate) fn slack_auth() -> Vec<Event> {
    created_in_shared(
        "slack",
        &[("access_token", "xoxb-1"), ("refresh_token", "r-1")],
        &["channels:read", "chat:write"],
    )
}

/// The refusal the shared workspace's viewer gets for `action` on an authentication there.
pub(crate) fn viewer_denied(action: Action) -> AuthenticationError {
    AuthenticationError::AccessDenied {
        action,
        workspace: fixture().shared,
        reason: DenyReason::WorkspaceRoleTooLow {
            role: WorkspaceRole::Viewer,
            action,
        },
    }
}
