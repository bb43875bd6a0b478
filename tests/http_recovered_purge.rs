//! A ledger recovered as of a time before a purge still shows the authentication as it was
//! then (active, fields set), but its data key was destroyed later and recovery copies the keys
//! as they are: the view says `secrets_destroyed`, and resolve and re-authenticate answer a
//! clear `410 secrets-destroyed`, never a 500. Real binary for `recover`, real HTTP.

mod http_support;

use credledger::http::ServeConfig;
use http_support::{run_cli, Server};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_recovered_before_a_purge_says_the_secrets_are_destroyed() {
    let mut s = Server::start().await;
    let id = s
        .create_personal("airtable", json!({"token": "recovered-canary-5521"}))
        .await;
    let path = format!("/v1/authentications/{id}");
    let before = s.owner_get(&path).await;
    assert_eq!(before.body["secrets_destroyed"], false);
    // A point in time while it was active, then delete and purge.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let as_of = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    s.call(Method::DELETE, &path, &s.owner.token, None)
        .await
        .expect(200);
    s.call(Method::POST, &format!("{path}/purge"), &s.owner.token, None)
        .await
        .expect(200);
    let purged = s.owner_get(&path).await;
    assert_eq!(purged.body["secrets_destroyed"], true);
    s.shutdown().await;

    let work = tempfile::TempDir::new().expect("temp");
    let recovered = work.path().join("recovered");
    let (code, text) = run_cli(&[
        "recover",
        "--data-dir",
        s.data_dir.to_str().expect("utf-8"),
        "--as-of",
        &as_of,
        "--to",
        recovered.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{text}");
    let server = credledger::http::start(ServeConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        recovered.clone(),
        s.key_file.clone(),
    ))
    .await
    .expect("serve the recovered ledger");
    s.base = format!("http://{}", server.addr);
    s.server = Some(server);

    let view = s.owner_get(&path).await;
    assert_eq!(view.body["lifecycle"], "active", "as it was at that time");
    assert_eq!(view.body["secrets_destroyed"], true, "{}", view.text);
    let listed = s.owner_get("/v1/authentications").await;
    let item = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(item["secrets_destroyed"], true);

    let resolved = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.owner.token,
            Some(json!({"authentication": id, "workspace": s.owner.personal, "template": "$.auth.token"})),
        )
        .await;
    assert_eq!(resolved.status.as_u16(), 410, "{}", resolved.text);
    assert_eq!(
        resolved.body["type"]
            .as_str()
            .map(|t| t.ends_with("secrets-destroyed")),
        Some(true),
        "{}",
        resolved.text
    );
    assert!(!resolved.text.contains("recovered-canary-5521"));
    let reauthenticated = s
        .call(
            Method::POST,
            &format!("{path}/reauthenticate"),
            &s.owner.token,
            Some(json!({"fields": {"token": "a-new-one"}})),
        )
        .await;
    assert_eq!(
        reauthenticated.status.as_u16(),
        410,
        "{}",
        reauthenticated.text
    );
    s.stop().await;
}
