//! A real server on a loopback port over a temp data dir, a bootstrapped administrator, and the
//! personas of `tests/support/personas.rs` (one user per role, each with an API token), driven
//! with reqwest through `tests/support/request.rs`.

#![allow(dead_code)] // Each test file uses a different part of the harness.

#[path = "../support/personas.rs"]
pub mod personas;
#[path = "../support/request.rs"]
pub mod request;

use std::path::PathBuf;

use credledger::app::VerificationSettings;
use credledger::http::{start, RunningServer, ServeConfig};
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

pub use personas::Persona;
pub use request::{send, Answer, Body};

/// A user of the server: id, personal workspace, API token.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub personal: String,
    pub token: String,
}

/// A server with the personas' directory: the organization (owner = bootstrap admin), its
/// shared workspace, users in every role, and a runner and an auditor token.
pub struct Server {
    pub server: Option<RunningServer>,
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    _dirs: (TempDir, TempDir),
    pub org: String,
    pub org_workspace: String,
    pub shared: String,
    pub owner: Person,
    pub admin: Person,
    pub member: Person,
    pub ws_admin: Person,
    pub editor: Person,
    pub viewer: Person,
    pub outsider: Person,
    pub runner_token: String,
    pub auditor_token: String,
}

/// Runs the `credledger` binary (warnings only on its log); answers the exit code and
/// stdout + stderr.
pub fn run_cli(args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("CREDLEDGER_KEY_FILE")
        .output()
        .expect("run credledger");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// The configuration of a test server on 127.0.0.1:0. Verification of credentials is off:
/// the prebuilt services' endpoints are on the internet, which tests do not reach
/// (`tests/http_verification.rs` turns it on against a local service).
pub fn test_config(data_dir: PathBuf, key_file: PathBuf) -> ServeConfig {
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"), data_dir, key_file);
    config.app.verification = VerificationSettings::off();
    config
}

impl Server {
    /// Starts a server on 127.0.0.1:0 and sets up the personas' directory through the API.
    pub async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// Like [`Server::start`], with a chance to adjust the configuration first.
    pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> Server {
        let data = TempDir::new().expect("data dir");
        let keys = TempDir::new().expect("key dir");
        let data_dir = data.path().join("ledger");
        let key_file = keys.path().join("master.key");
        let mut config = test_config(data_dir.clone(), key_file.clone());
        adjust(&mut config);
        let server = start(config).await.expect("server starts");
        let boot = server.bootstrap.as_ref().expect("first start bootstraps");
        let base = format!("http://{}", server.addr);
        // Never follow redirects: tests look at them, and must not leave the machine.
        // No connection reuse either: a server may close a connection after refusing an
        // oversized body, and a reused one would then fail the next, unrelated request.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let admin_token = boot.admin_token.token.expose().to_owned();
        let org = boot.organization.to_string();
        let org_workspace = boot.organization_workspace.to_string();
        let bootstrap_admin = boot.admin.to_string();
        let call = |method, path: &str, body: Body| {
            let client = client.clone();
            let url = format!("{base}{path}");
            let token = admin_token.clone();
            async move { send(&client, method, &url, Some(&token), body, &[]).await }
        };
        let post = |path: &'static str, body: Value| async move {
            let answer = call(Method::POST, path, Body::Json(body)).await.expect(201);
            answer.body
        };
        let text = |value: &Value, name: &str| {
            value[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in {value}"))
                .to_owned()
        };
        let mut people = Vec::new();
        for persona in Persona::ALL {
            // The owner is the bootstrapped administrator, with the bootstrap's token.
            if persona == Persona::Owner {
                let users = call(Method::GET, "/v1/users", Body::None).await;
                people.push(Person {
                    id: bootstrap_admin.clone(),
                    personal: text(&users.body[0], "personal_workspace"),
                    token: admin_token.clone(),
                });
                continue;
            }
            let name = persona.name();
            let user = post("/v1/users", json!({"name": name, "email": persona.email()})).await;
            let id = text(&user, "id");
            let token = post(
                "/v1/tokens",
                json!({"kind": "user", "user": id, "label": format!("{name} test token")}),
            )
            .await;
            people.push(Person {
                id,
                personal: text(&user, "personal_workspace"),
                token: text(&token, "token"),
            });
        }
        let person = |who: Persona| &people[who.index()];
        for (who, role) in Persona::org_members() {
            let role = personas::org_role_name(role);
            post(
                "/v1/memberships",
                json!({"organization": org, "user": person(who).id, "role": role}),
            )
            .await;
        }
        let shared = post(
            "/v1/workspaces",
            json!({"organization": org, "name": personas::SHARED_WORKSPACE}),
        )
        .await;
        let shared = text(&shared, "id");
        for (who, role) in Persona::shared_members() {
            let role = personas::workspace_role_name(role);
            post(
                "/v1/memberships",
                json!({"workspace": shared, "user": person(who).id, "role": role}),
            )
            .await;
        }
        let runner = post(
            "/v1/tokens",
            json!({"kind": "runner", "name": "workflow-runner-1", "label": "runner"}),
        )
        .await;
        let auditor = post(
            "/v1/tokens",
            json!({"kind": "auditor", "name": "auditor-1", "label": "auditor"}),
        )
        .await;
        let Ok([owner, admin, member, ws_admin, editor, viewer, outsider]) =
            <[Person; 7]>::try_from(people)
        else {
            panic!("one user per persona");
        };
        Server {
            base,
            client,
            data_dir,
            key_file,
            _dirs: (data, keys),
            org,
            org_workspace,
            shared,
            owner,
            admin,
            member,
            ws_admin,
            editor,
            viewer,
            outsider,
            runner_token: text(&runner, "token"),
            auditor_token: text(&auditor, "token"),
            server: Some(server),
        }
    }

    /// The user of a persona.
    pub fn person(&self, who: Persona) -> &Person {
        match who {
            Persona::Owner => &self.owner,
            Persona::Admin => &self.admin,
            Persona::Member => &self.member,
            Persona::WsAdmin => &self.ws_admin,
            Persona::Editor => &self.editor,
            Persona::Viewer => &self.viewer,
            Persona::Outsider => &self.outsider,
        }
    }

    /// A request to a path of the server: a token or none, a body, extra headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        send(&self.client, method, &url, token, body, headers).await
    }

    /// A request with a bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        self.request(method, path, Some(token), body.into(), &[])
            .await
    }

    /// A request with extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.request(method, path, token, body.into(), headers)
            .await
    }

    /// A dashboard sign-in with an API token (`POST /ui/sign-in`): its status (303 signed in,
    /// 401 refused) and, when signed in, the session cookie (`name=value`).
    pub async fn dashboard_sign_in(&self, token: &str) -> (u16, Option<String>) {
        let answer = self
            .client
            .post(format!("{}/ui/sign-in", self.base))
            .form(&[("token", token)])
            .send()
            .await
            .expect("sign-in");
        let cookie = answer
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned());
        (answer.status().as_u16(), cookie)
    }

    /// The session cookie (`name=value`) of a dashboard sign-in that must succeed.
    pub async fn dashboard_session(&self, token: &str) -> String {
        let (status, cookie) = self.dashboard_sign_in(token).await;
        assert_eq!(status, 303, "signed in");
        cookie.expect("a session cookie")
    }

    /// `GET path` as the owner, which must answer 200.
    pub async fn owner_get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &self.owner.token, None)
            .await
            .expect(200)
    }

    /// Creates an authentication and returns its id.
    pub async fn create(
        &self,
        who: &Person,
        workspace: &str,
        service: &str,
        fields: Value,
    ) -> String {
        let answer = self
            .call(
                Method::POST,
                "/v1/authentications",
                &who.token,
                Some(json!({
                    "name": format!("{service} {}", uuid::Uuid::now_v7()),
                    "workspace": workspace,
                    "service": service,
                    "fields": fields,
                })),
            )
            .await
            .expect(201);
        answer.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates an authentication in the owner's personal workspace, as the owner; returns its
    /// id.
    pub async fn create_personal(&self, service: &str, fields: Value) -> String {
        self.create(&self.owner, &self.owner.personal, service, fields)
            .await
    }

    /// The ledger's head position (through /metrics).
    pub async fn head(&self) -> u64 {
        let text = self
            .request(Method::GET, "/metrics", None, Body::None, &[])
            .await
            .text;
        text.lines()
            .find_map(|l| l.strip_prefix("credledger_ledger_head_position "))
            .and_then(|v| v.trim().parse().ok())
            .expect("head gauge")
    }

    /// Stops the server gracefully and removes its directories.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// Stops the server gracefully and starts it again on the same data directory and key
    /// (on a new port): what a restart leaves must hold.
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    /// Like [`Server::restart`], with a chance to adjust the configuration first.
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut ServeConfig)) {
        self.shutdown().await;
        let mut config = test_config(self.data_dir.clone(), self.key_file.clone());
        adjust(&mut config);
        let server = start(config).await.expect("server restarts");
        assert!(server.bootstrap.is_none(), "a restart does not bootstrap");
        self.base = format!("http://{}", server.addr);
        self.server = Some(server);
    }

    /// Stops the server gracefully, keeping its data directory for inspection.
    pub async fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("graceful shutdown");
        }
    }
}
