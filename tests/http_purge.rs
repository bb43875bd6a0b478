//! Purge (crypto-shredding) over HTTP: the history stays readable and the log verifies, but
//! the secrets are gone for good: resolve and restore fail, and no file holds the value.

mod http_support;
mod leak_check;

use std::process::Command;

use credledger::http::ServeConfig;
use http_support::Server;
use reqwest::Method;
use serde_json::json;

const CANARY: &str = "CANARY-purge-9b7c41";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_keeps_history_and_chain_but_destroys_the_secrets() {
    leak_check::captured_logs();
    let mut s = Server::start().await;
    let first = format!("{CANARY}-v1");
    let second = format!("{CANARY}-v2");
    let id = s
        .create(
            &s.owner,
            &s.owner.personal,
            "airtable",
            json!({"token": first}),
        )
        .await;
    let path = format!("/v1/authentications/{id}");
    s.call(
        Method::POST,
        &format!("{path}/reauthenticate"),
        &s.owner.token,
        Some(json!({"fields": {"token": second}})),
    )
    .await
    .expect(200);
    let resolve =
        json!({"authentication": id, "workspace": s.owner.personal, "template": "$.auth.token"});
    let before = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(resolve.clone()),
        )
        .await
        .expect(200);
    assert_eq!(before.body["resolved"], json!(second));
    let history_before = s
        .call(
            Method::GET,
            &format!("{path}/history"),
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    s.call(Method::DELETE, &path, &s.owner.token, None)
        .await
        .expect(200);
    s.call(Method::POST, &format!("{path}/purge"), &s.owner.token, None)
        .await
        .expect(200);

    // History: still readable, every earlier entry unchanged (fingerprints included), plus the
    // purge; for the owner and for an auditor.
    let history = s
        .call(
            Method::GET,
            &format!("{path}/history"),
            &s.owner.token,
            None,
        )
        .await
        .expect(200);
    let entries = history.body.as_array().expect("history entries");
    let earlier = history_before.body.as_array().expect("entries");
    assert_eq!(&entries[..earlier.len()], &earlier[..]);
    assert_eq!(
        entries.last().expect("last")["event_type"],
        "authentication.purged"
    );
    s.call(
        Method::GET,
        &format!("{path}/history"),
        &s.auditor_token,
        None,
    )
    .await
    .expect(200);

    // Resolve fails without the value; restoring a version with secrets is refused.
    let after = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(resolve.clone()),
        )
        .await;
    assert!(after.status.is_client_error(), "{}", after.text);
    let restore = s
        .call(
            Method::POST,
            &format!("{path}/restore"),
            &s.owner.token,
            Some(json!({"version": 1})),
        )
        .await;
    assert!(restore.status.is_client_error(), "{}", restore.text);
    assert!(restore.text.contains("purged"), "{}", restore.text);
    for text in [&history.text, &after.text, &restore.text] {
        assert!(!text.contains(CANARY), "secret in an answer: {text}");
    }
    s.shutdown().await;

    // The chain verifies, and no file of the data directory holds either value.
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["verify", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .expect("run verify");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("OK:"), "{text}");
    leak_check::assert_no_secret_in_files(&s.data_dir, &[first.clone(), second.clone()]);

    // After a restart the key is still gone.
    let server = credledger::http::start(ServeConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        s.data_dir.clone(),
        s.key_file.clone(),
    ))
    .await
    .expect("restart");
    s.base = format!("http://{}", server.addr);
    s.server = Some(server);
    let again = s
        .call(Method::POST, "/v1/resolve", &s.owner.token, Some(resolve))
        .await;
    assert!(again.status.is_client_error(), "{}", again.text);
    s.call(
        Method::GET,
        &format!("{path}/history"),
        &s.owner.token,
        None,
    )
    .await
    .expect(200);
    let logs = leak_check::logged_text();
    assert!(!logs.contains(CANARY), "secret in the logs");
    s.stop().await;
}
