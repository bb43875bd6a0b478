//! Idempotency across crashes, through the real binary: many clients send writes with unique
//! `Idempotency-Key`s while the server is SIGKILLed mid-flight, round after round; every
//! request whose answer was lost is retried with the same key and body on the restarted server.
//! Every write that landed must answer its retry with the original id and version, and no
//! command may have run twice (one authentication per create, one version step per change).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Writes of each kind; renames and re-authentications each get their own authentication.
const PER_KIND: usize = 30;
const CLIENTS: usize = 12;
/// Rounds that end in a SIGKILL, at most (at least 3; fewer than the most once lost answers
/// have been replayed twice).
const MAX_KILL_ROUNDS: usize = 8;
/// Tries of one write that lost a race (409 `conflict`) before its answer counts as final.
const MAX_ATTEMPTS: usize = 200;
/// Webhook subscribes and removals, each.
const WEBHOOK_OPS: usize = 8;

/// One write: what to send, and the answer it finally got.
#[derive(Clone)]
struct Op {
    key: String,
    method: Method,
    path: String,
    body: Value,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Create,
    Rename,
    Reauthenticate,
    Workspace,
    RenameWorkspace,
    Subscribe,
    Unsubscribe,
}

#[derive(Clone, Debug)]
struct Got {
    status: StatusCode,
    body: Value,
    replayed: bool,
}

/// A running `credledger serve`, its base URL and (on the first start) what it bootstrapped.
struct Served {
    child: Child,
    base: String,
    boot: HashMap<String, String>,
}

/// Ends the server whatever happens to the test, so no process outlives it.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, key_file: &Path) -> Served {
    let child = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--key-file")
        .arg(key_file)
        // The creates are airtable authentications, whose endpoint is on the internet.
        .args(["--credential-verification", "off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start credledger serve");
    let mut served = Served {
        child,
        base: String::new(),
        boot: HashMap::new(),
    };
    let stdout = served.child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    // Drains stdout for the child's whole life, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server reports where it listens");
        let trimmed = line.trim();
        for label in ["organization", "org workspace", "admin token"] {
            if let Some(rest) = trimmed.strip_prefix(label) {
                let value = rest.split_whitespace().next().expect("value").to_owned();
                served.boot.entry(label.to_owned()).or_insert(value);
            }
        }
        if let Some(rest) = trimmed.strip_prefix("credledger: serving http://") {
            let addr = rest.split_whitespace().next().expect("address");
            assert!(addr.starts_with("127.0.0.1:"), "loopback only: {addr}");
            served.base = format!("http://{addr}");
            return served;
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Sends one request; `None` when no answer arrived (the server died).
async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    op: &Op,
    key: bool,
) -> Option<Got> {
    let mut request = client
        .request(op.method.clone(), format!("{base}{}", op.path))
        .bearer_auth(token)
        .json(&op.body);
    if key {
        request = request.header("idempotency-key", &op.key);
    }
    let response = request.send().await.ok()?;
    let status = response.status();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let text = response.text().await.ok()?;
    Some(Got {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        replayed,
    })
}

/// Sends every op without a final answer from `CLIENTS` tasks; returns once all were tried.
async fn run_clients(
    base: &str,
    token: &str,
    ops: &Arc<Vec<Op>>,
    answers: &Arc<Mutex<BTreeMap<usize, Got>>>,
    attempts: &Arc<Mutex<Vec<usize>>>,
) {
    let pending: Vec<usize> = {
        let answers = answers.lock().expect("answers");
        (0..ops.len())
            .filter(|i| !answers.contains_key(i))
            .collect()
    };
    let queue = Arc::new(Mutex::new(pending));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (queue, ops, answers, attempts) = (
            queue.clone(),
            ops.clone(),
            answers.clone(),
            attempts.clone(),
        );
        let (base, token) = (base.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = client();
            loop {
                let Some(i) = queue.lock().expect("queue").pop() else {
                    return;
                };
                attempts.lock().expect("attempts")[i] += 1;
                let Some(got) = send(&client, &base, &token, &ops[i], true).await else {
                    continue;
                };
                // A lost race on the directory stream stores nothing: retry, with the same key.
                let lost_race = got.status == StatusCode::CONFLICT
                    && got.body["type"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("/conflict"));
                if lost_race && attempts.lock().expect("attempts")[i] < MAX_ATTEMPTS {
                    queue.lock().expect("queue").insert(0, i);
                    continue;
                }
                answers.lock().expect("answers").insert(i, got);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
}

async fn get(client: &reqwest::Client, base: &str, token: &str, path: &str) -> Value {
    let response = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("read");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_that_landed_before_a_kill_answer_their_retry_with_the_original_outcome() {
    let dirs = (TempDir::new().expect("data"), TempDir::new().expect("keys"));
    let data = dirs.0.path().join("ledger");
    let key_file = dirs.1.path().join("master.key");
    let mut server = serve(&data, &key_file);
    let token = server.boot["admin token"].clone();
    let organization = server.boot["organization"].clone();
    let workspace = server.boot["org workspace"].clone();
    let http = client();

    // Set-up, without keys: one authentication per rename and per re-authentication.
    let mut targets = Vec::new();
    for i in 0..2 * PER_KIND {
        let setup = Op {
            key: String::new(),
            method: Method::POST,
            path: "/v1/authentications".into(),
            body: json!({"name": format!("target-{i}"), "workspace": workspace, "service": "airtable", "fields": {"token": "t"}}),
            kind: Kind::Create,
        };
        let got = send(&http, &server.base, &token, &setup, false)
            .await
            .expect("set-up answer");
        assert_eq!(got.status, StatusCode::CREATED, "{:?}", got.body);
        targets.push(got.body["id"].as_str().expect("id").to_owned());
    }
    // And one shared workspace per workspace rename.
    let mut workspace_targets = Vec::new();
    for i in 0..PER_KIND {
        let setup = Op {
            key: String::new(),
            method: Method::POST,
            path: "/v1/workspaces".into(),
            body: json!({"organization": organization, "name": format!("rename-target-{i}")}),
            kind: Kind::Workspace,
        };
        let got = send(&http, &server.base, &token, &setup, false)
            .await
            .expect("set-up answer");
        assert_eq!(got.status, StatusCode::CREATED, "{:?}", got.body);
        workspace_targets.push(got.body["id"].as_str().expect("id").to_owned());
    }
    let mut ops = Vec::new();
    for n in 0..PER_KIND {
        ops.push(Op {
            key: format!("rename-workspace-{n}"),
            method: Method::PATCH,
            path: format!("/v1/workspaces/{}", workspace_targets[n]),
            body: json!({"name": format!("renamed-ws-{n}")}),
            kind: Kind::RenameWorkspace,
        });
        ops.push(Op {
            key: format!("create-{n}"),
            method: Method::POST,
            path: "/v1/authentications".into(),
            body: json!({"name": format!("crash-{n}"), "workspace": workspace, "service": "airtable", "fields": {"token": format!("c-{n}")}}),
            kind: Kind::Create,
        });
        ops.push(Op {
            key: format!("rename-{n}"),
            method: Method::PATCH,
            path: format!("/v1/authentications/{}", targets[n]),
            body: json!({"name": format!("renamed-{n}")}),
            kind: Kind::Rename,
        });
        ops.push(Op {
            key: format!("reauth-{n}"),
            method: Method::POST,
            path: format!(
                "/v1/authentications/{}/reauthenticate",
                targets[PER_KIND + n]
            ),
            body: json!({"fields": {"token": format!("r-{n}")}}),
            kind: Kind::Reauthenticate,
        });
        ops.push(Op {
            key: format!("workspace-{n}"),
            method: Method::POST,
            path: "/v1/workspaces".into(),
            body: json!({"organization": organization, "name": format!("ws-{n}")}),
            kind: Kind::Workspace,
        });
    }
    // Webhook subscriptions (a user holds at most 20): some made, some removed. The receiver
    // is never reached (no network); only the subscriptions themselves are checked.
    let mut webhook_targets = Vec::new();
    for i in 0..WEBHOOK_OPS {
        let setup = Op {
            key: String::new(),
            method: Method::POST,
            path: "/v1/webhooks".into(),
            body: json!({"url": format!("https://hooks.example.com/target-{i}")}),
            kind: Kind::Subscribe,
        };
        let got = send(&http, &server.base, &token, &setup, false)
            .await
            .expect("set-up answer");
        assert_eq!(got.status, StatusCode::CREATED, "{:?}", got.body);
        webhook_targets.push(got.body["id"].as_str().expect("id").to_owned());
    }
    for (n, target) in webhook_targets.iter().enumerate() {
        ops.push(Op {
            key: format!("subscribe-{n}"),
            method: Method::POST,
            path: "/v1/webhooks".into(),
            body: json!({"url": format!("https://hooks.example.com/crash-{n}"), "description": format!("subscribe-{n}")}),
            kind: Kind::Subscribe,
        });
        ops.push(Op {
            key: format!("unsubscribe-{n}"),
            method: Method::DELETE,
            path: format!("/v1/webhooks/{target}"),
            body: Value::Null,
            kind: Kind::Unsubscribe,
        });
    }
    let ops = Arc::new(ops);
    let answers: Arc<Mutex<BTreeMap<usize, Got>>> = Arc::default();
    let attempts = Arc::new(Mutex::new(vec![0usize; ops.len()]));

    let replays = |answers: &BTreeMap<usize, Got>| answers.values().filter(|g| g.replayed).count();
    let mut kills = 0;
    for _ in 0..MAX_KILL_ROUNDS {
        if answers.lock().expect("answers").len() == ops.len() {
            break;
        }
        let before = answers.lock().expect("answers").len();
        let clients = {
            let (base, token, ops, answers, attempts) = (
                server.base.clone(),
                token.clone(),
                ops.clone(),
                answers.clone(),
                attempts.clone(),
            );
            tokio::spawn(async move { run_clients(&base, &token, &ops, &answers, &attempts).await })
        };
        // Kill once a few answers of this round came back, so writes are in flight.
        for _ in 0..400 {
            let now = answers.lock().expect("answers").len();
            if now >= before + 6 || now == ops.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        kills += 1;
        clients.await.expect("clients");
        server = serve(&data, &key_file);
        if kills >= 3 && replays(&answers.lock().expect("answers")) >= 2 {
            break;
        }
    }
    // A last round without a kill answers everything left.
    run_clients(&server.base, &token, &ops, &answers, &attempts).await;
    let answers = answers.lock().expect("answers").clone();
    let attempts = attempts.lock().expect("attempts").clone();
    assert_eq!(answers.len(), ops.len(), "every write was answered");
    eprintln!(
        "{kills} kills, {} writes tried more than once, {} answered by a replay",
        attempts.iter().filter(|&&n| n > 1).count(),
        replays(&answers)
    );
    assert!(
        replays(&answers) >= 1,
        "some write landed without its answer and was replayed (rounds too short otherwise)"
    );

    // Every write succeeded once, and its answer is the ledger's state.
    let listing = get(
        &http,
        &server.base,
        &token,
        &format!("/v1/authentications?workspace={workspace}&limit=500"),
    )
    .await;
    let items = listing["items"].as_array().expect("items").clone();
    let by_id: HashMap<String, Value> = items
        .iter()
        .map(|a| (a["id"].as_str().expect("id").to_owned(), a.clone()))
        .collect();
    let workspaces = get(&http, &server.base, &token, "/v1/workspaces").await;
    let webhooks = get(&http, &server.base, &token, "/v1/webhooks").await;
    let webhooks = webhooks.as_array().expect("webhooks");
    for (i, op) in ops.iter().enumerate() {
        let got = &answers[&i];
        assert!(
            got.status.is_success(),
            "{} ({} attempts): {} {:?}",
            op.key,
            attempts[i],
            got.status,
            got.body
        );
        match op.kind {
            Kind::Create => {
                let name = op.body["name"].as_str().expect("name");
                let same: Vec<&Value> = items.iter().filter(|a| a["name"] == name).collect();
                assert_eq!(same.len(), 1, "{}: one authentication per create", op.key);
                assert_eq!(same[0]["id"], got.body["id"], "{}: the original id", op.key);
                // Created, and the record that verification is off.
                assert_eq!(
                    (got.body["version"].as_u64(), same[0]["version"].as_u64()),
                    (Some(2), Some(2))
                );
            }
            Kind::Rename | Kind::Reauthenticate => {
                let id = got.body["id"].as_str().expect("id");
                assert!(
                    op.path.contains(id),
                    "{}: answered for its authentication",
                    op.key
                );
                let now = &by_id[id];
                // Created at version 2 (with its verification record); a rename makes 3, a
                // re-authentication (with its record) 4; a command run twice would be more.
                let once = if op.kind == Kind::Rename { 3 } else { 4 };
                assert_eq!(
                    now["version"].as_u64(),
                    Some(once),
                    "{}: ran exactly once",
                    op.key
                );
                assert_eq!(
                    got.body["version"].as_u64(),
                    Some(once),
                    "{}: the original version",
                    op.key
                );
                if op.kind == Kind::Rename {
                    assert_eq!(now["name"], op.body["name"]);
                }
            }
            Kind::Workspace => {
                let same: Vec<&Value> = workspaces
                    .as_array()
                    .expect("workspaces")
                    .iter()
                    .filter(|w| w["name"] == op.body["name"])
                    .collect();
                assert_eq!(same.len(), 1, "{}: one workspace per create", op.key);
                assert_eq!(same[0]["id"], got.body["id"], "{}: the original id", op.key);
            }
            Kind::RenameWorkspace => {
                // Renamed once: a second run would have been refused (the name unchanged).
                assert!(op.path.ends_with(got.body["id"].as_str().expect("id")));
                assert_eq!(got.body["name"], op.body["name"], "{}", op.key);
                let named: Vec<&Value> = workspaces
                    .as_array()
                    .expect("workspaces")
                    .iter()
                    .filter(|w| w["id"] == got.body["id"])
                    .collect();
                assert_eq!(named[0]["name"], op.body["name"], "{}", op.key);
            }
            Kind::Subscribe => {
                let same: Vec<&Value> = webhooks
                    .iter()
                    .filter(|w| w["description"] == op.body["description"])
                    .collect();
                assert_eq!(same.len(), 1, "{}: one subscription per subscribe", op.key);
                assert_eq!(same[0]["id"], got.body["id"], "{}: the original id", op.key);
            }
            Kind::Unsubscribe => {
                assert_eq!(got.status, StatusCode::NO_CONTENT, "{}", op.key);
                assert!(
                    webhooks
                        .iter()
                        .all(|w| !op.path.ends_with(w["id"].as_str().unwrap_or("-"))),
                    "{}: removed",
                    op.key
                );
            }
        }
        // Another retry now replays the same answer.
        let again = send(&http, &server.base, &token, op, true)
            .await
            .expect("answer");
        assert!(again.replayed, "{}: a retry is a replay", op.key);
        assert_eq!(again.status, got.status);
        assert_eq!(
            (
                &again.body["id"],
                &again.body["version"],
                &again.body["secret"]
            ),
            (&got.body["id"], &got.body["version"], &got.body["secret"])
        );
    }
    drop(server);
}
