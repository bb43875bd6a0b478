//! OAuth2 end to end against an authorization server that was not written here: panva's
//! `oidc-provider` (a certified OpenID Provider) from the npm registry, configured by
//! `tests/independent_provider/provider.mjs` and run with node by this test.
//!
//! For each token endpoint authentication method (`client_secret_basic`, `client_secret_post`,
//! a public client with `none`): `POST /v1/oauth/authorize` → the provider's own login and
//! consent pages, driven over HTTP like a browser (cookies kept, every redirect looked at) →
//! `GET /v1/oauth/callback` with the redirect's `state`, `code` and `iss` → 201; resolve the
//! access token and check at the provider (introspection) that it is live; let it expire,
//! resolve again → credledger refreshes; again → the rotated refresh token works (the provider
//! revokes the whole grant when a rotated-out one is replayed). Then what the provider refuses
//! and how credledger answers: no `offline_access` without `prompt=consent` (so no refresh
//! token), an unknown code, a consent the user cancels, a wrong or missing `iss`, a client
//! that authenticates with a method it is not registered for.
//!
//! Needs Node.js 20+ and npm; the provider's packages are installed with `npm ci` from the
//! committed lock when they are missing.

mod http_support;
mod oauth_provider;
mod oauth_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_support::{Answer, Server};
use oauth_support::CALLBACK;
use reqwest::header::LOCATION;
use reqwest::{Method, Url};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

// The callback registered at the provider is oauth_support's CALLBACK. Nothing listens there:
// the test takes the provider's redirect to it and calls the server's callback itself, as the
// dashboard would.

/// `expires_in` of the provider's access tokens: short, so the test sees refreshes. The
/// provider counts from a whole-second `iat`, so a token may live up to a second less than
/// this; 3 s leaves the introspection right after a resolve enough time.
const ACCESS_TOKEN_TTL: u64 = 3;
/// The clients `provider.mjs` registers (ids and secrets are fixtures of that file).
const BASIC_ID: &str = "credledger-basic";
const BASIC_SECRET: &str = "basic-secret:with+reserved/chars=";
const POST_ID: &str = "credledger-post";
const POST_SECRET: &str = "post-secret with spaces&ampersand";
const PUBLIC_ID: &str = "credledger-public";
const RESOURCE_SERVER: (&str, &str) = ("test-resource-server", "resource-server-secret");
/// The provider's single resource server (its access tokens' audience).
const RESOURCE: &str = "urn:credledger:test-api";

/// How long any one wait on node or npm may take before the test fails instead of hanging.
const PROVIDER_START_LIMIT: Duration = Duration::from_secs(20);
const NPM_CI_LIMIT: Duration = Duration::from_secs(240);
const HTTP_LIMIT: Duration = Duration::from_secs(10);

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/independent_provider")
}

// ---------------------------------------------------------------------------------------
// Installing and running the provider
// ---------------------------------------------------------------------------------------

/// The version of a package in the lock, and the installed one (if any).
fn lock_and_installed_version(dir: &Path, package: &str) -> (String, Option<String>) {
    let lock: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("package-lock.json")).expect("read package-lock.json"),
    )
    .expect("package-lock.json is JSON");
    let locked = lock["packages"][format!("node_modules/{package}")]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("{package} is not in package-lock.json"))
        .to_owned();
    let installed =
        std::fs::read_to_string(dir.join("node_modules").join(package).join("package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
    (locked, installed)
}

/// Runs a command to completion within `limit`, its output in a temp file; answers
/// (success, output).
fn run_with_limit(
    command: &mut std::process::Command,
    limit: Duration,
    what: &str,
) -> (bool, String) {
    let log = tempfile::NamedTempFile::new().expect("temp file");
    let out = log.reopen().expect("reopen");
    let err = log.reopen().expect("reopen");
    let mut child = match command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{what}: the program is not installed. tests/oauth_independent.rs runs panva's \
             oidc-provider (tests/independent_provider) with Node.js 20+ and npm; install both \
             (Debian: apt-get install nodejs npm)"
        ),
        Err(e) => panic!("{what}: could not start: {e}"),
    };
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(log.path()).unwrap_or_default();
    match status {
        Some(status) => (status.success(), output),
        None => panic!("{what}: still running after {limit:?}, stopped; output:\n{output}"),
    }
}

/// Makes sure the provider's packages are installed as the lock says (`npm ci` otherwise),
/// once per test process.
fn ensure_provider_installed() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if *installed {
        return;
    }
    let dir = provider_dir();
    let (node_ok, node) = run_with_limit(
        std::process::Command::new("node").arg("--version"),
        Duration::from_secs(20),
        "node --version",
    );
    assert!(node_ok, "node --version failed: {node}");
    let major: u32 = node
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 20,
        "oidc-provider needs Node.js 20 or later; this is {node}"
    );
    let (locked, present) = lock_and_installed_version(&dir, "oidc-provider");
    if present.as_deref() != Some(locked.as_str()) {
        let (ok, output) = run_with_limit(
            std::process::Command::new("npm")
                .args([
                    "ci",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--prefix",
                ])
                .arg(&dir),
            NPM_CI_LIMIT,
            "npm ci --prefix tests/independent_provider",
        );
        assert!(
            ok,
            "npm ci --prefix tests/independent_provider failed:\n{output}"
        );
        let (_, now) = lock_and_installed_version(&dir, "oidc-provider");
        assert_eq!(
            now.as_deref(),
            Some(locked.as_str()),
            "npm ci did not install oidc-provider {locked}"
        );
    }
    *installed = true;
}

/// A running `node provider.mjs`; killed when dropped (also when a test panics).
struct Provider {
    child: Child,
    issuer: String,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        // SIGKILL now; tokio reaps the process. Should even this not run, the provider
        // stops by itself when its stdin (this process's end of the pipe) closes.
        let _ = self.child.start_kill();
    }
}

impl Provider {
    async fn start() -> Provider {
        tokio::task::spawn_blocking(ensure_provider_installed)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .args(["--port", "0", "--redirect-uri", CALLBACK])
            .args(["--access-token-ttl", &ACCESS_TOKEN_TTL.to_string()])
            .current_dir(provider_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node provider.mjs (is Node.js installed?)");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (listening_tx, listening_rx) = tokio::sync::oneshot::channel::<String>();
        {
            let events = events.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut listening = Some(listening_tx);
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(url) = line.strip_prefix("LISTENING ") {
                        if let Some(tx) = listening.take() {
                            let _ = tx.send(url.trim().to_owned());
                        }
                    } else if let Some(event) = line.strip_prefix("EVENT ") {
                        let event = serde_json::from_str(event).expect("an EVENT line is JSON");
                        events
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(event);
                    }
                }
            });
        }
        {
            let stderr = stderr.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stderr_pipe.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    stderr
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
        }
        let issuer = match tokio::time::timeout(PROVIDER_START_LIMIT, listening_rx).await {
            Ok(Ok(url)) => url,
            failed => {
                let _ = child.start_kill();
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "node provider.mjs did not say LISTENING ({}); stderr:\n{}",
                    if failed.is_err() {
                        "timed out"
                    } else {
                        "it exited"
                    },
                    stderr.lock().unwrap_or_else(PoisonError::into_inner)
                );
            }
        };
        assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_LIMIT)
            .build()
            .expect("client");
        let provider = Provider {
            child,
            issuer,
            events,
            stderr,
            http,
        };
        let metadata: Value = provider
            .http
            .get(format!(
                "{}/.well-known/openid-configuration",
                provider.issuer
            ))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery JSON");
        assert_eq!(metadata["issuer"], provider.issuer.as_str());
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            true
        );
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            json!(["S256"])
        );
        provider
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The token-endpoint events so far of one client (`grant.success`, `grant.error`, …).
    fn events_of(&self, client: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| e["client"] == client)
            .cloned()
            .collect()
    }

    /// Waits (bounded) until a client has `count` events matching `event` and `grant_type`;
    /// the provider's stdout arrives a moment after its HTTP answer.
    async fn wait_for_events(&self, client: &str, event: &str, grant_type: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self
                .events_of(client)
                .iter()
                .filter(|e| e["event"] == event && e["grant_type"] == grant_type)
                .count();
            if seen >= count {
                assert_eq!(
                    seen,
                    count,
                    "{client}: more {event} {grant_type} than expected: {:?}",
                    self.events_of(client)
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{client}: {count} × {event} {grant_type} expected, {seen} seen: {:?}\nstderr:\n{}",
                self.events_of(client),
                self.stderr.lock().unwrap_or_else(PoisonError::into_inner)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// RFC 7662 introspection as the provider's resource server.
    async fn introspect(&self, token: &str) -> Value {
        self.http
            .post(self.endpoint("/token/introspection"))
            .basic_auth(RESOURCE_SERVER.0, Some(RESOURCE_SERVER.1))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspection")
            .json()
            .await
            .expect("introspection JSON")
    }
}

// ---------------------------------------------------------------------------------------
// A browser: cookies, redirects one at a time, the provider's login and consent forms
// ---------------------------------------------------------------------------------------

/// What the user does on the consent page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Consent {
    Approve,
    Cancel,
}

/// Drives the provider's pages from the authorization URL to the redirect back to the
/// callback, and answers that redirect's URL. Every request goes to the provider's own
/// origin (never elsewhere); each 302/303 is looked at and followed by hand.
async fn through_login_and_consent(
    provider: &Provider,
    authorization_url: &str,
    consent: Consent,
) -> Url {
    // A browser of its own: reqwest's cookie store keeps the provider's path-scoped cookies.
    let http = &reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(HTTP_LIMIT)
        .build()
        .expect("browser client");
    let origin = Url::parse(&provider.issuer).expect("issuer").origin();
    let mut next = Url::parse(authorization_url).expect("authorization URL");
    let mut form: Option<Vec<(&str, &str)>> = None;
    let mut pages = Vec::new();
    for _ in 0..12 {
        assert_eq!(next.origin(), origin, "the flow left the provider: {next}");
        let request = match form.take() {
            Some(fields) => http.post(next.clone()).form(&fields),
            None => http.get(next.clone()),
        };
        let response = request.send().await.expect("the provider answers");
        let status = response.status().as_u16();
        pages.push(format!("{status} {}", next.path()));
        if matches!(status, 302 | 303) {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .expect("a redirect has a Location")
                .to_owned();
            let target = next.join(&location).expect("Location is a URL");
            if target.as_str().starts_with(CALLBACK) {
                return target;
            }
            next = target;
            continue;
        }
        let html = response.text().await.expect("page");
        assert_eq!(status, 200, "unexpected page after {pages:?}: {html}");
        let attribute = |before: &str| {
            let start = html.find(before).map(|i| i + before.len())?;
            let end = html[start..].find('"')? + start;
            Some(html[start..end].replace("&amp;", "&"))
        };
        let action = attribute("<form autocomplete=\"off\" action=\"").expect("a form");
        if html.contains("name=\"prompt\" value=\"login\"") {
            next = next.join(&action).expect("form action");
            // The development login accepts any account and any password.
            form = Some(vec![
                ("prompt", "login"),
                ("login", "alice"),
                ("password", "any"),
            ]);
        } else if html.contains("name=\"prompt\" value=\"consent\"") {
            if consent == Consent::Cancel {
                let cancel = attribute("<a href=\"").expect("a cancel link");
                next = next.join(&cancel).expect("cancel link");
            } else {
                next = next.join(&action).expect("form action");
                form = Some(vec![("prompt", "consent")]);
            }
        } else {
            panic!("neither a login nor a consent page after {pages:?}: {html}");
        }
    }
    panic!("no redirect back to the callback after {pages:?}");
}

// ---------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------

/// Services of the test catalog, one per registration.
const BASIC: &str = "indep-basic";
const POST: &str = "indep-post";
const PUBLIC: &str = "indep-public";
/// The basic client without `prompt=consent` in its authorization requests.
const NO_CONSENT_PROMPT: &str = "indep-no-prompt";
/// The basic client, configured here to send its secret in the form body instead.
const BASIC_AS_POST: &str = "indep-basic-as-post";
/// The (confidential) post client, configured here as a public one: no secret sent.
const POST_AS_PUBLIC: &str = "indep-post-as-public";
/// The basic client with a secret that is not its own.
const WRONG_SECRET: &str = "indep-wrong-secret";

async fn server_for(provider: &Provider) -> Server {
    let service = json!({
        "name": "Independent provider", "api_version": "v1", "auth_kind": "OAuth2", "fields": [],
        "oauth": {"authorize_url": provider.endpoint("/auth"), "token_url": provider.endpoint("/token"), "request_token_url": null},
        "scopes": ["openid", "offline_access", "read", "write"], "required_scopes": ["read"], "verification": null
    });
    let mut catalog = serde_json::Map::new();
    for key in [
        BASIC,
        POST,
        PUBLIC,
        NO_CONSENT_PROMPT,
        BASIC_AS_POST,
        POST_AS_PUBLIC,
        WRONG_SECRET,
    ] {
        let mut spec = service.clone();
        spec["name"] = json!(format!("Independent provider ({key})"));
        catalog.insert(key.to_owned(), spec);
    }
    let consent = json!({"prompt": "consent"});
    let issuer = provider.issuer.as_str();
    let clients = json!({
        BASIC: {"client_id": BASIC_ID, "client_secret": BASIC_SECRET,
                "token_endpoint_auth_method": "client_secret_basic", "authorize_params": consent, "issuer": issuer},
        POST: {"client_id": POST_ID, "client_secret": POST_SECRET,
               "token_endpoint_auth_method": "client_secret_post", "authorize_params": consent, "issuer": issuer},
        PUBLIC: {"client_id": PUBLIC_ID, "token_endpoint_auth_method": "none",
                 "authorize_params": consent, "issuer": issuer},
        NO_CONSENT_PROMPT: {"client_id": BASIC_ID, "client_secret": BASIC_SECRET, "issuer": issuer},
        BASIC_AS_POST: {"client_id": BASIC_ID, "client_secret": BASIC_SECRET,
                        "token_endpoint_auth_method": "client_secret_post", "issuer": issuer},
        POST_AS_PUBLIC: {"client_id": POST_ID, "token_endpoint_auth_method": "none", "issuer": issuer},
        WRONG_SECRET: {"client_id": BASIC_ID, "client_secret": "not-the-secret", "issuer": issuer},
    });
    // Refreshes happen on resolve, once a token has expired; not in the background.
    oauth_support::server_for(&Value::Object(catalog), &clients, |settings| {
        settings.refresh_margin = Duration::ZERO;
    })
    .await
}

/// `POST /v1/oauth/authorize` for a new authentication; answers the authorization URL.
async fn start_authorization(s: &Server, service: &str, scopes: &[&str]) -> String {
    let started = s
        .call(
            Method::POST,
            "/v1/oauth/authorize",
            &s.owner.token,
            Some(
                json!({"service": service, "name": format!("{service} {}", uuid::Uuid::now_v7()),
                        "workspace": s.org_workspace, "scopes": scopes}),
            ),
        )
        .await
        .expect(200);
    started.body["authorization_url"]
        .as_str()
        .expect("authorization_url")
        .to_owned()
}

/// `GET /v1/oauth/callback` with the query of the provider's redirect, as the same caller.
async fn callback(s: &Server, redirect: &Url) -> Answer {
    let query = redirect.query().expect("the redirect has a query");
    s.call(
        Method::GET,
        &format!("/v1/oauth/callback?{query}"),
        &s.owner.token,
        None,
    )
    .await
}

/// `POST /v1/resolve` of the access token.
async fn resolve(s: &Server, id: &str) -> Answer {
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.owner.token,
        Some(json!({"authentication": id, "workspace": s.org_workspace, "template": "$.auth.access_token"})),
    )
    .await
}

async fn resolve_token(s: &Server, id: &str) -> String {
    resolve(s, id).await.expect(200).body["resolved"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Lets the access token just issued expire (credledger counts from its answer's
/// `expires_in`, which the provider rounds down to whole seconds).
async fn outlive_access_token() {
    tokio::time::sleep(Duration::from_millis(ACCESS_TOKEN_TTL * 1000 + 300)).await;
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Authorize, callback, resolve, two refreshes on resolve (the second with the rotated
/// refresh token), for one registration.
async fn full_flow(service: &str, client_id: &str) {
    let provider = Provider::start().await;
    let s = server_for(&provider).await;
    let url =
        start_authorization(&s, service, &["read", "write", "offline_access", "openid"]).await;
    let parsed = Url::parse(&url).expect("url");
    assert_eq!(
        query_value(&parsed, "client_id").as_deref(),
        Some(client_id)
    );
    assert_eq!(
        query_value(&parsed, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_value(&parsed, "prompt").as_deref(),
        Some("consent"),
        "authorize_params sent: {url}"
    );

    let redirect = through_login_and_consent(&provider, &url, Consent::Approve).await;
    // RFC 9207: the provider names itself in the redirect.
    assert_eq!(
        query_value(&redirect, "iss").as_deref(),
        Some(provider.issuer.as_str())
    );
    assert!(query_value(&redirect, "code").is_some(), "{redirect}");
    let done = callback(&s, &redirect).await.expect(201).body;
    provider
        .wait_for_events(client_id, "grant.success", "authorization_code", 1)
        .await;
    assert_eq!(
        done["requested_scopes"],
        json!(["read", "write", "offline_access", "openid"])
    );
    // The token answer's `scope` is the access token's (its resource server's scopes), not
    // the grant's: `openid` and `offline_access` were granted (an id_token and a refresh
    // token came back) but are not in it.
    assert_eq!(done["granted_scopes"], json!(["read", "write"]));
    let id = done["authentication"].as_str().expect("id").to_owned();
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert_eq!(
        view.body["fields"]["refresh_token"]["type"], "secret",
        "a refresh token was stored"
    );
    // The authentication's scopes are what the answer's `scope` said; the id_token of the
    // answer is not kept.
    assert_eq!(
        view.body["scopes"],
        json!(["read", "write"]),
        "{}",
        view.text
    );
    assert!(
        view.body["fields"].get("id_token").is_none(),
        "{}",
        view.text
    );

    let first = resolve_token(&s, &id).await;
    let live = provider.introspect(&first).await;
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(live["client_id"], client_id);
    assert_eq!(live["aud"], RESOURCE);
    assert_eq!(live["scope"], "read write");

    // Expired: the resolve refreshes (refresh_token grant, rotating the refresh token).
    outlive_access_token().await;
    let second = resolve_token(&s, &id).await;
    provider
        .wait_for_events(client_id, "grant.success", "refresh_token", 1)
        .await;
    assert_ne!(second, first);
    assert_eq!(provider.introspect(&second).await["active"], true);
    assert_eq!(
        provider.introspect(&first).await["active"],
        false,
        "the first one expired"
    );

    // Again: only the rotated refresh token works now. Had the first one been sent again,
    // the provider would have refused it and revoked the whole grant.
    outlive_access_token().await;
    let third = resolve_token(&s, &id).await;
    provider
        .wait_for_events(client_id, "grant.success", "refresh_token", 2)
        .await;
    assert_ne!(third, second);
    let live = provider.introspect(&third).await;
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(live["scope"], "read write");
    let refused: Vec<Value> = provider
        .events_of(client_id)
        .into_iter()
        .filter(|e| e["event"] != "grant.success")
        .collect();
    assert!(
        refused.is_empty(),
        "the provider refused or revoked something: {refused:?}"
    );
    let history = s
        .owner_get(&format!("/v1/authentications/{id}/history"))
        .await;
    let refreshes = history
        .body
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["event_type"] == "authentication.reauthenticated" && h["origin"] == "System")
        .count();
    assert_eq!(refreshes, 2, "two refreshes recorded: {}", history.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_basic_authorizes_resolves_and_refreshes_with_rotation() {
    full_flow(BASIC, BASIC_ID).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_post_authorizes_resolves_and_refreshes_with_rotation() {
    full_flow(POST, POST_ID).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_authorizes_resolves_and_refreshes_with_rotation() {
    full_flow(PUBLIC, PUBLIC_ID).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_prompt_consent_offline_access_is_dropped_and_no_refresh_token_is_issued() {
    let provider = Provider::start().await;
    let s = server_for(&provider).await;
    let url = start_authorization(&s, NO_CONSENT_PROMPT, &["read", "offline_access"]).await;
    assert_eq!(query_value(&Url::parse(&url).expect("url"), "prompt"), None);
    let redirect = through_login_and_consent(&provider, &url, Consent::Approve).await;
    let done = callback(&s, &redirect).await.expect(201).body;
    assert_eq!(done["requested_scopes"], json!(["read", "offline_access"]));
    // OpenID Connect Core §11: offline_access is ignored unless the request has
    // prompt=consent; the provider grants `read` only and issues no refresh token.
    assert_eq!(done["granted_scopes"], json!(["read"]));
    let id = done["authentication"].as_str().expect("id").to_owned();
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    assert!(
        view.body["fields"].get("refresh_token").is_none(),
        "{}",
        view.text
    );
    let token = resolve_token(&s, &id).await;
    assert_eq!(provider.introspect(&token).await["active"], true);
    // Once it expires there is nothing to refresh with: a person has to authorize again.
    outlive_access_token().await;
    let expired = resolve(&s, &id).await.expect(422);
    assert!(
        expired.text.contains("refresh_token: is not set"),
        "{}",
        expired.text
    );
    assert!(
        !provider
            .events_of(BASIC_ID)
            .iter()
            .any(|e| e["grant_type"] == "refresh_token"),
        "no refresh was attempted"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_provider_refuses_and_what_credledger_answers() {
    let provider = Provider::start().await;
    let s = server_for(&provider).await;

    // An unknown code (with a good state): the provider's invalid_grant becomes a 502.
    let url = start_authorization(&s, BASIC, &["read"]).await;
    let mut redirect = through_login_and_consent(&provider, &url, Consent::Approve).await;
    let state = query_value(&redirect, "state").expect("state");
    redirect
        .query_pairs_mut()
        .clear()
        .append_pair("code", "not-a-code-this-provider-issued")
        .append_pair("state", &state)
        .append_pair("iss", &provider.issuer);
    let unknown = callback(&s, &redirect).await.expect(502);
    assert_eq!(
        unknown.body["detail"], "provider: refused the token request (invalid_grant)",
        "{}",
        unknown.text
    );
    provider
        .wait_for_events(BASIC_ID, "grant.error", "authorization_code", 1)
        .await;

    // The user cancels on the consent page: the provider redirects with error=access_denied
    // (and its iss); no token call.
    let url = start_authorization(&s, BASIC, &["read"]).await;
    let denied = through_login_and_consent(&provider, &url, Consent::Cancel).await;
    assert_eq!(
        query_value(&denied, "error").as_deref(),
        Some("access_denied"),
        "{denied}"
    );
    assert_eq!(
        query_value(&denied, "iss").as_deref(),
        Some(provider.issuer.as_str())
    );
    assert!(query_value(&denied, "code").is_none());
    let refused = callback(&s, &denied).await.expect(422);
    assert!(refused.text.contains("access_denied"), "{}", refused.text);
    assert_eq!(refused.body["field"], "error", "{}", refused.text);

    // A redirect whose iss is not this provider's (a mix-up, RFC 9207), or that has none:
    // refused before any token call, though the code is good.
    for iss in [Some("http://127.0.0.1:1"), None] {
        let url = start_authorization(&s, BASIC, &["read"]).await;
        let mut redirect = through_login_and_consent(&provider, &url, Consent::Approve).await;
        let (code, state) = (
            query_value(&redirect, "code").expect("code"),
            query_value(&redirect, "state").expect("state"),
        );
        {
            let mut pairs = redirect.query_pairs_mut();
            pairs
                .clear()
                .append_pair("code", &code)
                .append_pair("state", &state);
            if let Some(iss) = iss {
                pairs.append_pair("iss", iss);
            }
        }
        let mixed_up = callback(&s, &redirect).await.expect(400);
        assert_eq!(mixed_up.body["field"], "iss", "{}", mixed_up.text);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let token_calls = provider
        .events_of(BASIC_ID)
        .iter()
        .filter(|e| e["grant_type"] == "authorization_code")
        .count();
    assert_eq!(
        token_calls, 1,
        "only the unknown code reached the token endpoint"
    );

    // oidc-provider takes client_secret_basic and client_secret_post as one: a client
    // registered for Basic may send its secret in the form body, and is accepted.
    let url = start_authorization(&s, BASIC_AS_POST, &["read"]).await;
    let redirect = through_login_and_consent(&provider, &url, Consent::Approve).await;
    callback(&s, &redirect).await.expect(201);

    // A confidential client that sends no secret (configured here as public), or a wrong
    // secret: invalid_client (a 401 from the provider), a 502 here.
    for service in [POST_AS_PUBLIC, WRONG_SECRET] {
        let url = start_authorization(&s, service, &["read"]).await;
        let redirect = through_login_and_consent(&provider, &url, Consent::Approve).await;
        let wrong = callback(&s, &redirect).await.expect(502);
        assert_eq!(
            wrong.body["detail"], "provider: refused the token request (invalid_client)",
            "{service}: {}",
            wrong.text
        );
    }
    s.stop().await;
}
