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
    let id = s.create_personal("airtable", json!({"token": first})).await;
    // A second authentication that is not purged: its data key must survive the purge.
    let kept = format!("{CANARY}-kept");
    let kept_id = s.create_personal("airtable", json!({"token": kept})).await;
    let kept_resolve = json!({"authentication": kept_id, "workspace": s.owner.personal, "template": "$.auth.token"});
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
    let history_before = s.owner_get(&format!("{path}/history")).await;
    s.call(Method::DELETE, &path, &s.owner.token, None)
        .await
        .expect(200);
    s.call(Method::POST, &format!("{path}/purge"), &s.owner.token, None)
        .await
        .expect(200);

    // History: still readable, every earlier entry unchanged (fingerprints included), plus the
    // purge; for the owner and for an auditor.
    let history = s.owner_get(&format!("{path}/history")).await;
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

    // Resolve fails without the value; restoring a version with secrets is refused. (Both are
    // refused on the purged lifecycle, before any data-key lookup: that the data key itself is
    // gone is checked below, with the server stopped and before any restart.)
    let after = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(resolve.clone()),
        )
        .await
        .expect(403);
    assert_eq!(
        after.body["detail"],
        json!("authentication: it is deleted"),
        "{}",
        after.text
    );
    let restore = s
        .call(
            Method::POST,
            &format!("{path}/restore"),
            &s.owner.token,
            Some(json!({"version": 1})),
        )
        .await
        .expect(410);
    assert!(restore.text.contains("purged"), "{}", restore.text);
    assert_eq!(
        restore.body["detail"],
        json!("authentication: was purged"),
        "{}",
        restore.text
    );
    // The other authentication still resolves.
    let other = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(kept_resolve.clone()),
        )
        .await
        .expect(200);
    assert_eq!(other.body["resolved"], json!(kept));
    for text in [&history.text, &after.text, &restore.text] {
        assert!(!text.contains(CANARY), "secret in an answer: {text}");
    }
    s.shutdown().await;

    // The purge itself destroyed the data key: `keys rotate` opens the stopped ledger without
    // the App (so nothing finishes an interrupted purge on the way) and counts the data keys:
    // the purged one is a tombstone, only the other authentication's key is re-wrapped.
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["keys", "rotate", "--data-dir"])
        .arg(&s.data_dir)
        .arg("--key-file")
        .arg(&s.key_file)
        .output()
        .expect("run keys rotate");
    let rotated = String::from_utf8_lossy(&output.stdout).into_owned();
    let rotate_err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{rotated}{rotate_err}");
    assert!(rotated.contains("rotated the master key"), "{rotated}");
    let summary = rotated
        .lines()
        .find(|l| l.trim_start().starts_with("data keys "))
        .unwrap_or_else(|| panic!("no data key summary in {rotated}"));
    assert_eq!(
        summary.split_whitespace().collect::<Vec<_>>().join(" "),
        "data keys 1 re-wrapped under the new key (1 purged, nothing to re-wrap)",
        "{rotated}"
    );
    for text in [&rotated, &rotate_err] {
        assert!(
            !text.contains(CANARY),
            "secret in the rotate output: {text}"
        );
    }

    // The chain verifies, and no file of the data directory holds either value.
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["verify", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .expect("run verify");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("OK:"), "{text}");
    leak_check::assert_no_secret_in_files(
        &s.data_dir,
        &[first.clone(), second.clone(), kept.clone()],
    );

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
    let again = again.expect(403);
    assert_eq!(
        again.body["detail"],
        json!("authentication: it is deleted"),
        "{}",
        again.text
    );
    let other = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(kept_resolve),
        )
        .await
        .expect(200);
    assert_eq!(other.body["resolved"], json!(kept));
    s.owner_get(&format!("{path}/history")).await;
    let logs = leak_check::logged_text();
    // Positive controls: this test's logs did reach the buffer (the key generated at the first
    // start, naming this test's key file, and the purge request).
    assert!(
        logs.contains("generated a new master key file")
            && logs.contains(&s.key_file.display().to_string()),
        "the key generation of this test was not captured: {logs}"
    );
    assert!(
        logs.contains(&format!("{path}/purge")),
        "the purge request was not captured: {logs}"
    );
    assert!(!logs.contains(CANARY), "secret in the logs");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_authentication_is_not_purged_and_keeps_its_secrets() {
    let s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": "t-active"}))
        .await;
    let path = format!("/v1/authentications/{id}");
    let before = s.head().await;
    let refused = s
        .call(Method::POST, &format!("{path}/purge"), &s.owner.token, None)
        .await
        .expect(409);
    assert_eq!(refused.body["field"], "authentication", "{}", refused.text);
    assert!(
        refused.text.contains("delete it before purging"),
        "{}",
        refused.text
    );
    // Nothing is written, and the secret still resolves.
    assert_eq!(s.head().await, before, "a refused purge writes nothing");
    let resolved = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(json!({"authentication": id, "workspace": s.owner.personal, "template": "$.auth.token"})),
        )
        .await
        .expect(200);
    assert_eq!(resolved.body["resolved"], "t-active");
    // Deleted first, the purge goes through.
    s.call(Method::DELETE, &path, &s.owner.token, None)
        .await
        .expect(200);
    let purged = s
        .call(Method::POST, &format!("{path}/purge"), &s.owner.token, None)
        .await
        .expect(200);
    assert_eq!(purged.body["authentication"]["lifecycle"], "purged");
    s.stop().await;
}
