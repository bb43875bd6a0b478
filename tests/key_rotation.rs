//! Master key rotation end to end: a real server creates secrets, `credledger keys rotate`
//! re-wraps their keys, and a restarted server still resolves them with unchanged
//! fingerprints; interrupted rotations open and finish; nothing leaks.

mod http_support;
mod leak_check;

use std::path::{Path, PathBuf};
use std::process::Command;

use credledger::app::{pending_key_path, retired_key_path, AppConfig, Rotation};
use credledger::crypto::MasterKey;
use credledger::domain::keys::KeysEvent;
use credledger::ledger::{EventStore, SledStore, StreamRange};
use credledger::projections::payloads;
use http_support::Server;
use reqwest::Method;
use serde_json::{json, Value};

const CANARY: &str = "CANARY-rot-5d1e2a";

/// Runs the binary; returns (exit code, stdout, stderr).
fn cli(args: &[&str], data_dir: &Path, key_file: &Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--key-file")
        .arg(key_file)
        .env("RUST_LOG", "trace")
        .output()
        .expect("run credledger");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn verify(data_dir: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_credledger"))
        .args(["verify", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run credledger verify");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "verify failed: {text}");
    assert!(text.starts_with("OK:"), "{text}");
}

/// The key id in a key file (the file is loaded through the library, so its checks apply).
fn key_id(path: &Path) -> String {
    MasterKey::load(path).expect("load key").key_id().to_owned()
}

/// The key hex of a key file, to look for it where it must not be.
fn key_hex(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read key file");
    text.lines()
        .find_map(|l| l.strip_prefix("key="))
        .expect("key line")
        .to_owned()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

async fn resolve(s: &Server, id: &str, template: Value) -> http_support::Answer {
    s.call(
        Method::POST,
        "/v1/resolve",
        &s.owner.token,
        Some(json!({"authentication": id, "workspace": s.owner.personal, "template": template})),
    )
    .await
}

async fn history(s: &Server, id: &str) -> String {
    s.owner_get(&format!("/v1/authentications/{id}/history"))
        .await
        .text
}

async fn fingerprint(s: &Server, id: &str, field: &str) -> String {
    let view = s.owner_get(&format!("/v1/authentications/{id}")).await;
    view.body["fields"][field]["fingerprint"]
        .as_str()
        .unwrap_or_else(|| panic!("no fingerprint in {}", view.text))
        .to_owned()
}

/// The `keys.rotated` events of a stopped ledger.
async fn rotation_events(data_dir: &Path) -> Vec<KeysEvent> {
    let store = SledStore::open(data_dir).expect("open log");
    let envelopes = store
        .read_stream(&payloads::keys_stream(), StreamRange::all())
        .await
        .expect("read keys stream");
    store.close().await.expect("close");
    envelopes
        .iter()
        .map(|e| {
            assert_eq!(e.body.event_type, "keys.rotated");
            payloads::decode_keys(e)
                .expect("decode")
                .expect("a key event")
        })
        .collect()
}

fn assert_no_leak(texts: &[&str], keys: &[String]) {
    for text in texts {
        assert!(!text.contains(CANARY), "canary leaked: {text}");
        for key in keys {
            assert!(!text.contains(key.as_str()), "key material leaked: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_over_the_cli_keeps_secrets_fingerprints_and_history() {
    leak_check::captured_logs();
    let mut s = Server::start().await;
    let token = format!("{CANARY}-token");
    let password = format!("{CANARY}-password");
    let airtable = s.create_personal("airtable", json!({"token": token})).await;
    let jira = s
        .create_personal(
            "jira",
            json!({"username": "ann", "password": password, "site": "acme.atlassian.net"}),
        )
        .await;
    let doomed = s
        .create_personal("airtable", json!({"token": format!("{CANARY}-doomed")}))
        .await;
    let doomed_path = format!("/v1/authentications/{doomed}");
    s.call(Method::DELETE, &doomed_path, &s.owner.token, None)
        .await
        .expect(200);
    s.call(
        Method::POST,
        &format!("{doomed_path}/purge"),
        &s.owner.token,
        None,
    )
    .await
    .expect(200);
    let fp_token = fingerprint(&s, &airtable, "token").await;
    let history_before = history(&s, &jira).await;
    s.shutdown().await;

    // Keep a copy of the old key file elsewhere, as an operator's stale copy would be.
    let elsewhere = tempfile::tempdir().expect("dir");
    let stale_copy = elsewhere.path().join("old.key");
    std::fs::copy(&s.key_file, &stale_copy).expect("copy key");
    let old_id = key_id(&s.key_file);
    let mut keys_seen = vec![key_hex(&s.key_file)];

    let (code, out, err) = cli(&["keys", "rotate"], &s.data_dir, &s.key_file);
    assert_eq!(code, 0, "rotate failed: {out}{err}");
    let new_id = key_id(&s.key_file);
    assert_ne!(new_id, old_id);
    keys_seen.push(key_hex(&s.key_file));
    assert!(out.contains("rotated the master key"), "{out}");
    assert!(out.contains(&old_id) && out.contains(&new_id), "{out}");
    assert!(
        out.contains("2 re-wrapped under the new key (1 purged"),
        "{out}"
    );
    let retired = retired_key_path(&s.key_file, &old_id);
    assert!(
        out.contains(&retired.display().to_string()),
        "names the retired file: {out}"
    );
    assert_eq!(key_id(&retired), old_id);
    assert_eq!(mode(&retired), 0o600);
    assert_eq!(mode(&s.key_file), 0o600);
    assert!(!pending_key_path(&s.key_file).exists());
    assert_no_leak(&[&out, &err], &keys_seen);

    let events = rotation_events(&s.data_dir).await;
    assert_eq!(events.len(), 1);
    let KeysEvent::MasterKeyRotated {
        old_master_key,
        new_master_key,
        data_keys_rewrapped,
        data_keys_destroyed,
        resumed,
        ..
    } = &events[0];
    assert_eq!(
        (
            old_master_key.key_id.as_str(),
            new_master_key.key_id.as_str()
        ),
        (old_id.as_str(), new_id.as_str())
    );
    assert_eq!((*data_keys_rewrapped, *data_keys_destroyed), (2, 1));
    assert!(!resumed);
    verify(&s.data_dir);

    // The stale old key alone no longer opens the data directory, and says why.
    let (code, out, err) = cli(&["keys", "rotate"], &s.data_dir, &stale_copy);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("wrong master key"), "{err}");
    assert!(err.contains(&new_id) && err.contains(&old_id), "{err}");
    let refused = credledger::app::App::open(&AppConfig::new(&s.data_dir, &stale_copy)).await;
    assert!(refused.is_err());

    // Restarted: old secrets resolve, history and fingerprints are unchanged.
    s.restart().await;
    let resolved = resolve(&s, &airtable, json!("$.auth.token"))
        .await
        .expect(200);
    assert_eq!(resolved.body["resolved"], json!(token));
    let resolved = resolve(&s, &jira, json!("$.auth.password"))
        .await
        .expect(200);
    assert_eq!(resolved.body["resolved"], json!(password));
    assert_eq!(history(&s, &jira).await, history_before);
    assert_eq!(fingerprint(&s, &airtable, "token").await, fp_token);
    let purged = resolve(&s, &doomed, json!("$.auth.token")).await;
    assert!(purged.status.is_client_error(), "{}", purged.text);
    // A new authentication works, and the same value gives the same fingerprint ("same as X").
    let fresh = s.create_personal("airtable", json!({"token": token})).await;
    assert_eq!(fingerprint(&s, &fresh, "token").await, fp_token);
    let resolved = resolve(&s, &fresh, json!("$.auth.token")).await.expect(200);
    assert_eq!(resolved.body["resolved"], json!(token));
    s.shutdown().await;

    // A second rotation.
    let (code, out, err) = cli(&["keys", "rotate"], &s.data_dir, &s.key_file);
    assert_eq!(code, 0, "second rotate failed: {out}{err}");
    assert!(out.contains("3 re-wrapped under the new key"), "{out}");
    let third_id = key_id(&s.key_file);
    keys_seen.push(key_hex(&s.key_file));
    assert_no_leak(&[&out, &err], &keys_seen);
    assert_eq!(key_id(&retired_key_path(&s.key_file, &new_id)), new_id);
    assert_eq!(rotation_events(&s.data_dir).await.len(), 2);
    verify(&s.data_dir);
    s.restart().await;
    for (id, value) in [(&airtable, &token), (&fresh, &token)] {
        let resolved = resolve(&s, id, json!("$.auth.token")).await.expect(200);
        assert_eq!(resolved.body["resolved"], json!(value));
    }
    assert_eq!(fingerprint(&s, &fresh, "token").await, fp_token);
    s.shutdown().await;
    assert_ne!(third_id, new_id);

    // Nothing secret anywhere: data files, server logs.
    let mut secrets = vec![token.clone(), password.clone(), format!("{CANARY}-doomed")];
    secrets.extend(keys_seen.iter().cloned());
    leak_check::assert_no_secret_in_files(&s.data_dir, &secrets);
    let logs = leak_check::logged_text();
    // Positive controls: this test's server logs reached the buffer (the key generated at the
    // first start names this test's key file; the purge request names its authentication).
    assert!(
        logs.contains("generated a new master key file")
            && logs.contains(&s.key_file.display().to_string()),
        "the key generation of this test was not captured: {logs}"
    );
    assert!(
        logs.contains(&format!("{doomed_path}/purge")),
        "the purge request was not captured: {logs}"
    );
    assert_no_leak(&[&logs], &keys_seen);
    s.stop().await;
}

async fn create_some(s: &Server, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let value = format!("{CANARY}-{i}");
        let id = s.create_personal("airtable", json!({"token": value})).await;
        out.push((id, value));
    }
    out
}

async fn assert_all_resolve(s: &Server, auths: &[(String, String)]) {
    for (id, value) in auths {
        let resolved = resolve(s, id, json!("$.auth.token")).await.expect(200);
        assert_eq!(&resolved.body["resolved"], &json!(value));
    }
}

fn config_of(s: &Server) -> AppConfig {
    AppConfig::new(&s.data_dir, &s.key_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_interrupted_while_rewrapping_is_finished_by_the_next_open() {
    let mut s = Server::start().await;
    let auths = create_some(&s, 5).await;
    let fp = fingerprint(&s, &auths[0].0, "token").await;
    s.shutdown().await;
    let old_id = key_id(&s.key_file);

    // "Crash" after two of the six records (five data keys, the fingerprint key) moved.
    let mut rotation = Rotation::begin(&config_of(&s)).await.expect("begin");
    let new_id = rotation.new_key_id().to_owned();
    assert_eq!(rotation.rewrap(Some(2)).expect("partial"), 2);
    rotation.abandon().await.expect("stop");
    let pending = pending_key_path(&s.key_file);
    assert_eq!(key_id(&pending), new_id, "the new key is on disk");
    assert_eq!(mode(&pending), 0o600);
    assert_eq!(key_id(&s.key_file), old_id, "the key file is untouched");
    assert!(rotation_events(&s.data_dir).await.is_empty());

    // The server's open finishes it.
    s.restart().await;
    assert_all_resolve(&s, &auths).await;
    assert_eq!(fingerprint(&s, &auths[0].0, "token").await, fp);
    s.shutdown().await;
    assert_eq!(key_id(&s.key_file), new_id);
    assert!(!pending.exists());
    assert_eq!(key_id(&retired_key_path(&s.key_file, &old_id)), old_id);
    let events = rotation_events(&s.data_dir).await;
    assert_eq!(events.len(), 1);
    let KeysEvent::MasterKeyRotated {
        data_keys_rewrapped,
        resumed,
        ..
    } = &events[0];
    assert_eq!((*data_keys_rewrapped, *resumed), (5, true));
    verify(&s.data_dir);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_interrupted_before_installing_is_finished_by_rerunning_the_cli() {
    let mut s = Server::start().await;
    let auths = create_some(&s, 3).await;
    s.shutdown().await;
    let old_id = key_id(&s.key_file);

    // "Crash" after the event was recorded, before the key files were swapped.
    let mut rotation = Rotation::begin(&config_of(&s)).await.expect("begin");
    let new_id = rotation.new_key_id().to_owned();
    rotation.rewrap(None).expect("rewrap");
    assert!(rotation.record().await.expect("record").is_some());
    rotation.abandon().await.expect("stop");
    assert_eq!(key_id(&s.key_file), old_id);

    let (code, out, err) = cli(&["keys", "rotate"], &s.data_dir, &s.key_file);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("finished an interrupted master key rotation"),
        "{out}"
    );
    assert!(out.contains("already in the log"), "{out}");
    assert_eq!(
        key_id(&s.key_file),
        new_id,
        "no third key: the rotation was finished"
    );
    assert_eq!(rotation_events(&s.data_dir).await.len(), 1, "recorded once");
    assert_eq!(key_id(&retired_key_path(&s.key_file, &old_id)), old_id);
    verify(&s.data_dir);
    s.restart().await;
    assert_all_resolve(&s, &auths).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_needs_a_stopped_server_and_an_existing_ledger() {
    let s = Server::start().await;
    // The running server holds sled's lock.
    let (code, out, err) = cli(&["keys", "rotate"], &s.data_dir, &s.key_file);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("in use by another process"), "{err}");
    assert!(!pending_key_path(&s.key_file).exists());
    // No ledger: nothing to rotate, and no key file is created.
    let empty = tempfile::tempdir().expect("dir");
    let keys = tempfile::tempdir().expect("dir");
    let data: PathBuf = empty.path().join("none");
    std::fs::create_dir(&data).expect("mkdir");
    let key_file = keys.path().join("k.key");
    let (code, _, err) = cli(&["keys", "rotate"], &data, &key_file);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to rotate"), "{err}");
    assert!(!key_file.exists());
    s.stop().await;
}
