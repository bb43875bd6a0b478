//! A ready-made credential ledger for integration tests: a real data directory in a temp dir,
//! a master key file outside it, and a directory with one user per role.

#![allow(dead_code)] // Each test file uses a different part of the world.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use credledger::app::{App, AppConfig, Caller};
use credledger::domain::authentication::{AuthenticationCommand, CreateAuthentication, Origin};
use credledger::domain::directory::{DirectoryCommand, OrgRole, WorkspaceRole};
use credledger::domain::ids::{
    AuthenticationId, EnvironmentTag, FieldName, OrganizationId, ServiceKey, UserId, WorkspaceId,
};
use credledger::domain::secret::SecretText;
use credledger::domain::services::ServiceRef;
use credledger::ledger::AuthMethod;
use tempfile::TempDir;

/// One user of the world with their personal workspace.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    /// The user.
    pub id: UserId,
    /// Their personal workspace.
    pub personal: WorkspaceId,
}

/// The test world.
pub struct World {
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
            via: AuthMethod::ApiToken,
        },
        workflow: None,
    }
}

/// The system, for directory set-up.
pub fn system() -> Caller {
    Caller {
        user: UserId::from_uuid(uuid::Uuid::nil()),
        via: AuthMethod::System,
        origin: credledger::ledger::Origin::System,
        idempotency: None,
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
        origin: Origin::Api,
    });
    (id, command)
}

/// Opens (or reopens) an app on a data dir and key file.
/// Verification of credentials is off: the prebuilt services' endpoints are on the internet.
pub async fn open_app(data_dir: &Path, key_file: &Path) -> App {
    let mut config = AppConfig::new(data_dir, key_file);
    config.verification = credledger::app::VerificationSettings::off();
    App::open(&config).await.expect("open the ledger")
}

impl World {
    /// A fresh ledger with the directory set up.
    pub async fn new() -> World {
        let data = TempDir::new().expect("data dir");
        let keys = TempDir::new().expect("key dir");
        let data_dir = data.path().join("ledger");
        let key_file = keys.path().join("master.key");
        let app = open_app(&data_dir, &key_file).await;
        let sys = system();
        let mut people = Vec::new();
        for name in ["Owner", "Admin", "Member", "Editor", "Viewer", "Outsider"] {
            let person = Person {
                id: UserId::new(),
                personal: WorkspaceId::new(),
            };
            app.directory(
                &sys,
                DirectoryCommand::CreateUser {
                    user: person.id,
                    personal_workspace: person.personal,
                    name: name.into(),
                    email: format!("{}@example.com", name.to_lowercase()),
                },
            )
            .await
            .expect("create user");
            people.push(person);
        }
        let [owner, admin, member, editor, viewer, outsider] =
            <[Person; 6]>::try_from(people).expect("six people");
        let org = OrganizationId::new();
        let org_workspace = WorkspaceId::new();
        let shared = WorkspaceId::new();
        let commands = vec![
            DirectoryCommand::CreateOrganization {
                organization: org,
                workspace: org_workspace,
                name: "Acme".into(),
                owner: owner.id,
            },
            DirectoryCommand::AddUserToOrganization {
                organization: org,
                user: admin.id,
                role: OrgRole::Admin,
            },
            DirectoryCommand::AddUserToOrganization {
                organization: org,
                user: member.id,
                role: OrgRole::Member,
            },
            DirectoryCommand::AddUserToOrganization {
                organization: org,
                user: editor.id,
                role: OrgRole::Member,
            },
            DirectoryCommand::AddUserToOrganization {
                organization: org,
                user: viewer.id,
                role: OrgRole::Member,
            },
            DirectoryCommand::CreateWorkspace {
                workspace: shared,
                organization: org,
                name: "Sales".into(),
            },
            DirectoryCommand::AddWorkspaceMember {
                workspace: shared,
                user: editor.id,
                role: WorkspaceRole::Editor,
            },
            DirectoryCommand::AddWorkspaceMember {
                workspace: shared,
                user: viewer.id,
                role: WorkspaceRole::Viewer,
            },
        ];
        for command in commands {
            app.directory(&sys, command)
                .await
                .expect("directory set-up");
        }
        World {
            app,
            data_dir,
            key_file,
            _data: data,
            _keys: keys,
            org,
            org_workspace,
            shared,
            owner,
            admin,
            member,
            editor,
            viewer,
            outsider,
        }
    }

    /// Closes the app and opens it again on the same directory (snapshot + tail).
    pub async fn restart(self) -> World {
        self.restart_after(|_| {}).await
    }

    /// Like [`World::restart`], changing the closed data directory in between.
    pub async fn restart_after(self, change: impl FnOnce(&Path)) -> World {
        let World { app, .. } = self;
        app.close().await.expect("close");
        change(&self.data_dir);
        let app = open_app(&self.data_dir, &self.key_file).await;
        World { app, ..self }
    }
}
