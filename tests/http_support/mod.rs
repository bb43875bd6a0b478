//! A real server on a loopback port over a temp data dir, a bootstrapped administrator, and a
//! directory with one user per role, driven with reqwest.

#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::path::PathBuf;

use credledger::app::VerificationSettings;
use credledger::http::{start, RunningServer, ServeConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A user of the test world: id, personal workspace, API token.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub personal: String,
    pub token: String,
}

/// A server with a directory: organization (owner = bootstrap admin), a shared workspace,
/// and users in every role.
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

/// An answer: status, headers, JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// Panics with the body unless the status is as expected.
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer: {}",
            self.text
        );
        self
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Sends one request.
pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

impl Server {
    /// Starts a server on 127.0.0.1:0 and sets up the directory through the API.
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
        let call = |method, path: &str, token: &str, body: Value| {
            let client = client.clone();
            let url = format!("{base}{path}");
            let token = token.to_owned();
            async move { send(&client, method, &url, Some(&token), Some(&body), &[]).await }
        };
        let users = call(Method::GET, "/v1/users", &admin_token, Value::Null).await;
        let owner_personal = users.body[0]["personal_workspace"]
            .as_str()
            .expect("admin user")
            .to_owned();
        let owner = Person {
            id: bootstrap_admin,
            personal: owner_personal,
            token: admin_token.clone(),
        };
        let mut people = Vec::new();
        for name in ["Admin", "Member", "WsAdmin", "Editor", "Viewer", "Outsider"] {
            let user = call(
                Method::POST,
                "/v1/users",
                &admin_token,
                json!({"name": name, "email": format!("{}@example.com", name.to_lowercase())}),
            )
            .await
            .expect(201);
            let id = user.body["id"].as_str().expect("id").to_owned();
            let token = call(
                Method::POST,
                "/v1/tokens",
                &admin_token,
                json!({"kind": "user", "user": id, "label": format!("{name} test token")}),
            )
            .await
            .expect(201);
            people.push(Person {
                id,
                personal: user.body["personal_workspace"]
                    .as_str()
                    .expect("ws")
                    .to_owned(),
                token: token.body["token"].as_str().expect("token text").to_owned(),
            });
        }
        let [admin, member, ws_admin, editor, viewer, outsider] =
            <[Person; 6]>::try_from(people).expect("six people");
        for (person, role) in [
            (&admin, "admin"),
            (&member, "member"),
            (&ws_admin, "member"),
            (&editor, "member"),
            (&viewer, "member"),
        ] {
            call(
                Method::POST,
                "/v1/memberships",
                &admin_token,
                json!({"organization": org, "user": person.id, "role": role}),
            )
            .await
            .expect(201);
        }
        let shared = call(
            Method::POST,
            "/v1/workspaces",
            &admin_token,
            json!({"organization": org, "name": "Sales"}),
        )
        .await
        .expect(201);
        let shared = shared.body["id"].as_str().expect("id").to_owned();
        for (person, role) in [
            (&ws_admin, "admin"),
            (&editor, "editor"),
            (&viewer, "viewer"),
        ] {
            call(
                Method::POST,
                "/v1/memberships",
                &admin_token,
                json!({"workspace": shared, "user": person.id, "role": role}),
            )
            .await
            .expect(201);
        }
        let runner = call(
            Method::POST,
            "/v1/tokens",
            &admin_token,
            json!({"kind": "runner", "name": "workflow-runner-1", "label": "runner"}),
        )
        .await
        .expect(201);
        let auditor = call(
            Method::POST,
            "/v1/tokens",
            &admin_token,
            json!({"kind": "auditor", "name": "auditor-1", "label": "auditor"}),
        )
        .await
        .expect(201);
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
            runner_token: runner.body["token"]
                .as_str()
                .expect("runner token")
                .to_owned(),
            auditor_token: auditor.body["token"]
                .as_str()
                .expect("auditor token")
                .to_owned(),
            server: Some(server),
        }
    }

    /// A request with a bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        send(
            &self.client,
            method,
            &format!("{}{path}", self.base),
            Some(token),
            body.as_ref(),
            &[],
        )
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
        send(
            &self.client,
            method,
            &format!("{}{path}", self.base),
            token,
            body.as_ref(),
            headers,
        )
        .await
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

    /// The ledger's head position (through /metrics).
    pub async fn head(&self) -> u64 {
        let text = send(
            &self.client,
            Method::GET,
            &format!("{}/metrics", self.base),
            None,
            None,
            &[],
        )
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
        self.shutdown().await;
        let config = test_config(self.data_dir.clone(), self.key_file.clone());
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
