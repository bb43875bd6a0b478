//! Signed checkpoints over HTTP (roles, periodic signing), and a whole data directory carried
//! through export and import: a secret stored before resolves on a server over the import.

mod http_support;

use std::process::Command;
use std::time::Duration;

use credledger::http::{start, ServeConfig};
use credledger::ledger::checkpoint::{Checkpoint, CheckpointDocument};
use http_support::{send, Body, Server};
use reqwest::Method;
use serde_json::json;

fn checkpoint_of(body: &serde_json::Value) -> Checkpoint {
    let doc: CheckpointDocument =
        serde_json::from_value(body.clone()).expect("a checkpoint document");
    Checkpoint::from_document(&doc).expect("well-formed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_over_http_need_the_right_role() {
    let s = Server::start_with(|c| c.checkpoint_every = Duration::ZERO).await;
    s.call(Method::GET, "/v1/checkpoints/latest", &s.owner.token, None)
        .await
        .expect(404);
    for token in [
        &s.editor.token,
        &s.member.token,
        &s.auditor_token,
        &s.runner_token,
    ] {
        let refused = s
            .call(Method::POST, "/v1/checkpoints", token, None)
            .await
            .expect(403);
        assert_eq!(
            refused.header("content-type").as_deref(),
            Some("application/problem+json")
        );
    }
    let head = s.head().await;
    let created = s
        .call(Method::POST, "/v1/checkpoints", &s.admin.token, None)
        .await
        .expect(201);
    let checkpoint = checkpoint_of(&created.body);
    assert_eq!(checkpoint.position, head);
    checkpoint.verify_signature().expect("signed");
    for token in [&s.owner.token, &s.admin.token, &s.auditor_token] {
        let latest = s
            .call(Method::GET, "/v1/checkpoints/latest", token, None)
            .await
            .expect(200);
        assert_eq!(latest.body, created.body);
    }
    for token in [&s.editor.token, &s.viewer.token, &s.runner_token] {
        s.call(Method::GET, "/v1/checkpoints/latest", token, None)
            .await
            .expect(403);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_signs_checkpoints_periodically_when_the_head_moves() {
    let s = Server::start_with(|c| c.checkpoint_every = Duration::from_millis(200)).await;
    let head = s.head().await;
    let mut found = None;
    for _ in 0..100 {
        let answer = s
            .call(
                Method::GET,
                "/v1/checkpoints/latest",
                &s.auditor_token,
                None,
            )
            .await;
        if answer.status.as_u16() == 200 && answer.body["position"].as_u64() == Some(head) {
            found = Some(answer.body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = found.expect("a periodic checkpoint of the head");
    checkpoint_of(&body).verify_signature().expect("signed");
    s.stop().await;
}

fn run(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run credledger");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_data_dir_resolves_secrets_with_the_same_key_file() {
    let mut s = Server::start_with(|c| c.checkpoint_every = Duration::ZERO).await;
    let id = s
        .create_personal(
            "jira",
            json!({"username": "ann", "password": "pw-exported", "site": "acme.atlassian.net"}),
        )
        .await;
    s.call(Method::POST, "/v1/checkpoints", &s.owner.token, None)
        .await
        .expect(201);
    s.shutdown().await;

    let copies = tempfile::TempDir::new().expect("temp");
    let file = copies.path().join("ledger.export");
    let imported = copies.path().join("imported");
    let (code, text) = run(&[
        "export".as_ref(),
        "--data-dir".as_ref(),
        s.data_dir.as_os_str(),
        "--out".as_ref(),
        file.as_os_str(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 checkpoints"), "{text}");
    let (code, text) = run(&[
        "import".as_ref(),
        "--from".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        imported.as_os_str(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("master key: "), "{text}");
    assert!(!text.contains("pw-exported"));
    let exported_bytes = std::fs::read(&file).expect("read export");
    assert!(
        !exported_bytes
            .windows(b"pw-exported".len())
            .any(|w| w == b"pw-exported"),
        "the export holds the secret in clear"
    );

    let server = start(ServeConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        imported.clone(),
        s.key_file.clone(),
    ))
    .await
    .expect("a server starts on the imported directory");
    assert!(server.bootstrap.is_none(), "the imported ledger is not new");
    let base = format!("http://{}", server.addr);
    let resolved = send(
        &s.client,
        Method::POST,
        &format!("{base}/v1/resolve"),
        Some(&s.owner.token),
        Body::Json(json!({
            "authentication": id,
            "workspace": s.owner.personal,
            "template": {"auth": "{$.auth.username}:{$.auth.password}"},
        })),
        &[],
    )
    .await
    .expect(200);
    assert_eq!(resolved.body["resolved"]["auth"], "ann:pw-exported");
    let latest = send(
        &s.client,
        Method::GET,
        &format!("{base}/v1/checkpoints/latest"),
        Some(&s.auditor_token),
        Body::None,
        &[],
    )
    .await
    .expect(200);
    checkpoint_of(&latest.body)
        .verify_signature()
        .expect("the imported checkpoint is still signed");
    server.shutdown().await.expect("shutdown");

    // A different master key is refused on the imported directory.
    let other_key = copies.path().join("other.key");
    let refused = start(ServeConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        imported,
        other_key,
    ))
    .await;
    assert!(refused.is_err(), "a foreign master key opened the import");
}
