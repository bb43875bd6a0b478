//! A ready-made credential ledger for integration tests: a real data directory in a temp dir,
//! a master key file outside it, and the personas of `tests/support/personas.rs` (one user per
//! role) in its directory.

#![allow(dead_code)] // Each test file uses a different part of the harness.

#[path = "../support/personas.rs"]
pub mod personas;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use credledger::app::{App, AppConfig, Caller};
use credledger::domain::authentication::{
    AuthenticationCommand, ChangeOrigin, CreateAuthentication, FieldChange,
};
use credledger::domain::directory::DirectoryCommand;
use credledger::domain::ids::{
    AuthenticationId, EnvironmentTag, FieldName, OrganizationId, ServiceKey, UserId, WorkspaceId,
};
use credledger::domain::secret::SecretText;
use credledger::domain::services::ServiceRef;
use credledger::ledger::SignedInWith;
use tempfile::TempDir;

pub use personas::Persona;

/// One user of the app with their personal workspace.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    /// The user.
    pub id: UserId,
    /// Their personal workspace.
    pub personal: WorkspaceId,
}

/// An app on a fresh ledger whose directory holds the personas: the organization, its
/// workspace and shared workspace, and one user per persona.
pub struct AppUnderTest {
    pub app: App,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    _data: TempDir,
    _keys: TempDir,
    pub org: OrganizationId,
    pub org_workspace: WorkspaceId,
    pub shared: WorkspaceId,
    pub owner: Person,
    pub admin: Person,
    pub member: Person,
    pub ws_admin: Person,
    pub editor: Person,
    pub viewer: Person,
    pub outsider: Person,
}

/// A caller acting through the API.
pub fn caller(person: Person) -> Caller {
    Caller::api_user(person.id)
}

/// A workflow runner, for access records of resolutions made in tests.
#[allow(dead_code)]
pub fn runner() -> credledger::app::Accessor {
    credledger::app::Accessor {
        actor: credledger::ledger::Actor {
            principal: "runner:test".into(),
            via: SignedInWith::ApiToken,
        },
        workflow: None,
    }
}

/// A field name.
pub fn field(name: &str) -> FieldName {
    FieldName::parse(name).expect("valid field name")
}

/// Plaintext fields from pairs.
pub fn fields(pairs: &[(&str, &str)]) -> BTreeMap<FieldName, SecretText> {
    pairs
        .iter()
        .map(|(k, v)| (field(k), SecretText::new(*v)))
        .collect()
}

/// A re-authentication from an origin: each field set to `Some` value, or cleared (`None`).
pub fn reauthenticate(
    changes: &[(&str, Option<&str>)],
    origin: ChangeOrigin,
) -> AuthenticationCommand {
    AuthenticationCommand::Reauthenticate {
        fields: changes
            .iter()
            .map(|(name, value)| {
                let change = match value {
                    Some(value) => FieldChange::Set(SecretText::new(*value)),
                    None => FieldChange::Clear,
                };
                (field(name), change)
            })
            .collect(),
        origin,
    }
}

/// A re-authentication through the API setting fields to new values.
pub fn reauth(pairs: &[(&str, &str)]) -> AuthenticationCommand {
    let changes: Vec<(&str, Option<&str>)> = pairs.iter().map(|(k, v)| (*k, Some(*v))).collect();
    reauthenticate(&changes, ChangeOrigin::Api)
}

/// A create command for a prebuilt service.
pub fn create(
    name: &str,
    workspace: WorkspaceId,
    service: &str,
    values: &[(&str, &str)],
    scopes: &[&str],
) -> (AuthenticationId, AuthenticationCommand) {
    let id = AuthenticationId::new();
    let command = AuthenticationCommand::Create(CreateAuthentication {
        id,
        name: name.into(),
        workspace,
        service: ServiceRef::Prebuilt(ServiceKey::parse(service).expect("service key")),
        fields: fields(values),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        extra_permissions: Vec::new(),
        environment: Some(EnvironmentTag::parse("production").expect("tag")),
        origin: ChangeOrigin::Api,
    });
    (id, command)
}

/// A create command for the plainest authentication: Airtable (Token), token `t`.
pub fn airtable(name: &str, workspace: WorkspaceId) -> (AuthenticationId, AuthenticationCommand) {
    create(name, workspace, "airtable", &[("token", "t")], &[])
}

/// Opens (or reopens) an app on a data dir and key file.
/// Verification of credentials is off: the prebuilt services' endpoints are on the internet.
pub async fn open_app(data_dir: &Path, key_file: &Path) -> App {
    let mut config = AppConfig::new(data_dir, key_file);
    config.verification = credledger::app::VerificationSettings::off();
    App::open(&config).await.expect("open the ledger")
}

impl AppUnderTest {
    /// A fresh ledger with the personas' directory set up.
    pub async fn new() -> AppUnderTest {
        let data = TempDir::new().expect("data dir");
        let keys = TempDir::new().expect("key dir");
        let data_dir = data.path().join("ledger");
        let key_file = keys.path().join("master.key");
        let app = open_app(&data_dir, &key_file).await;
        // One user per persona, in `Persona::ALL` order.
        let people: Vec<Person> = Persona::ALL
            .iter()
            .map(|_| Person {
                id: UserId::new(),
                personal: WorkspaceId::new(),
            })
            .collect();
        let person = |who: Persona| people[who.index()];
        let org = OrganizationId::new();
        let org_workspace = WorkspaceId::new();
        let shared = WorkspaceId::new();
        let users = Persona::ALL.map(|persona| DirectoryCommand::CreateUser {
            user: person(persona).id,
            personal_workspace: person(persona).personal,
            name: persona.name().into(),
            email: persona.email(),
        });
        let organization = DirectoryCommand::CreateOrganization {
            organization: org,
            workspace: org_workspace,
            name: personas::ORGANIZATION.into(),
            owner: person(Persona::Owner).id,
        };
        let org_members =
            Persona::org_members().map(|(who, role)| DirectoryCommand::AddUserToOrganization {
                organization: org,
                user: person(who).id,
                role,
            });
        let workspace = DirectoryCommand::CreateWorkspace {
            workspace: shared,
            organization: org,
            name: personas::SHARED_WORKSPACE.into(),
        };
        let shared_members =
            Persona::shared_members().map(|(who, role)| DirectoryCommand::AddWorkspaceMember {
                workspace: shared,
                user: person(who).id,
                role,
            });
        let commands: Vec<DirectoryCommand> = users
            .into_iter()
            .chain([organization])
            .chain(org_members)
            .chain([workspace])
            .chain(shared_members)
            .collect();
        for command in commands {
            app.directory_command_as_system(command)
                .await
                .expect("directory set-up");
        }
        AppUnderTest {
            app,
            data_dir,
            key_file,
            _data: data,
            _keys: keys,
            org,
            org_workspace,
            shared,
            owner: person(Persona::Owner),
            admin: person(Persona::Admin),
            member: person(Persona::Member),
            ws_admin: person(Persona::WsAdmin),
            editor: person(Persona::Editor),
            viewer: person(Persona::Viewer),
            outsider: person(Persona::Outsider),
        }
    }

    /// Runs a create command from [`create`] as `by`, which must succeed; answers the id.
    pub async fn created(
        &self,
        by: &Caller,
        (id, command): (AuthenticationId, AuthenticationCommand),
    ) -> AuthenticationId {
        self.app
            .execute(by, id, command, None)
            .await
            .expect("create");
        id
    }

    /// The user of a persona.
    pub fn person(&self, who: Persona) -> Person {
        match who {
            Persona::Owner => self.owner,
            Persona::Admin => self.admin,
            Persona::Member => self.member,
            Persona::WsAdmin => self.ws_admin,
            Persona::Editor => self.editor,
            Persona::Viewer => self.viewer,
            Persona::Outsider => self.outsider,
        }
    }

    /// Closes the app and opens it again on the same directory (snapshot + tail).
    pub async fn restart(self) -> AppUnderTest {
        self.restart_after(|_| {}).await
    }

    /// Like [`AppUnderTest::restart`], changing the closed data directory in between.
    pub async fn restart_after(self, change: impl FnOnce(&Path)) -> AppUnderTest {
        let AppUnderTest { app, .. } = self;
        app.close().await.expect("close");
        change(&self.data_dir);
        let app = open_app(&self.data_dir, &self.key_file).await;
        AppUnderTest { app, ..self }
    }
}
