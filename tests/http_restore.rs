//! Restore brings back an earlier version's name, fields, scopes and expiry, and keeps the
//! authentication where it is now: moving is a change of its own, which needs edit rights on
//! both workspaces, and a restore must not move an authentication past that rule. Real HTTP
//! over a real socket.

mod http_support;

use http_support::Server;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_keeps_the_current_workspace_and_brings_back_the_name_and_secrets() {
    let s = Server::start().await;
    let created = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.owner.token,
            Some(json!({
                "name": "Before the move",
                "workspace": s.owner.personal,
                "service": "airtable",
                "fields": {"token": "first-secret"},
            })),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/authentications/{id}");
    let v1 = created.body["authentication"]["fields"]["token"]["fingerprint"].clone();
    s.call(
        Method::PATCH,
        &path,
        &s.owner.token,
        Some(json!({"name": "After the move", "workspace": s.shared})),
    )
    .await
    .expect(200);
    s.call(
        Method::POST,
        &format!("{path}/reauthenticate"),
        &s.owner.token,
        Some(json!({"fields": {"token": "second-secret"}})),
    )
    .await
    .expect(200);

    let restored = s
        .call(
            Method::POST,
            &format!("{path}/restore"),
            &s.owner.token,
            Some(json!({"version": 1})),
        )
        .await
        .expect(200);
    let view = &restored.body["authentication"];
    assert_eq!(view["name"], "Before the move", "the name comes back");
    assert_eq!(
        view["fields"]["token"]["fingerprint"], v1,
        "the secret comes back"
    );
    assert_eq!(
        view["workspace"],
        s.shared.as_str(),
        "the workspace stays where the authentication is now"
    );
    // Members of the workspace it is in now still use it; the restored secret resolves there.
    let resolved = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.editor.token,
            Some(json!({"authentication": id, "workspace": s.shared, "template": "$.auth.token"})),
        )
        .await
        .expect(200);
    assert_eq!(resolved.body["resolved"], "first-secret");
    // The history names the restore and the version it came from; the move stays recorded.
    let history = s.owner_get(&format!("{path}/history")).await;
    let kinds: Vec<String> = history
        .body
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        kinds.ends_with(&["authentication.restored".to_owned()]),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|k| k == "authentication.moved"),
        "{kinds:?}"
    );
    s.stop().await;
}
