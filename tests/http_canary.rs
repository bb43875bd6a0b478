//! Canary over HTTP: a secret sent in a create never appears in any later response (other
//! than resolve for an allowed principal), in error bodies, in the server's log output at
//! TRACE level, or in the raw bytes of the data directory after a graceful shutdown.

mod http_support;
mod leak_check;

use http_support::Server;
use leak_check::{captured_logs, files_under, logged_text};
use reqwest::Method;
use serde_json::json;

const CANARY: &str = "CANARY-http-6c1d0e9b";
const CANARY_2: &str = "CANARY-http2-f0a4b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_sent_once_is_never_shown_again_except_to_resolve() {
    captured_logs();
    let s = Server::start().await;
    let mut seen = String::new();
    let created = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.editor.token),
            Some(json!({"name": "Canary", "workspace": s.shared, "service": "airtable", "fields": {"token": CANARY}})),
            &[("idempotency-key", "canary-create")],
        )
        .await
        .expect(201);
    seen.push_str(&created.text);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/authentications/{id}");
    // A replay of the same create, a re-authentication, and refused requests carrying secrets.
    for answer in [
        s.call_with(
            Method::POST,
            "/v1/authentications",
            Some(&s.editor.token),
            Some(json!({"name": "Canary", "workspace": s.shared, "service": "airtable", "fields": {"token": CANARY}})),
            &[("idempotency-key", "canary-create")],
        )
        .await,
        s.call(Method::POST, &format!("{path}/reauthenticate"), &s.editor.token, Some(json!({"fields": {"token": CANARY_2}}))).await,
        s.call(Method::POST, &format!("{path}/reauthenticate"), &s.viewer.token, Some(json!({"fields": {"token": CANARY}}))).await,
        s.call(Method::POST, &format!("{path}/reauthenticate"), &s.editor.token, Some(json!({"fields": {"nope": CANARY}}))).await,
        s.call(Method::POST, &format!("{path}/reauthenticate"), &s.editor.token, Some(json!({"fields": CANARY}))).await,
        s.call(Method::POST, "/v1/authentications", &s.editor.token, Some(json!({"name": CANARY, "workspace": CANARY, "service": "airtable", "fields": {"token": CANARY}}))).await,
        s.call(Method::POST, "/v1/authentications", &s.editor.token, Some(json!({"name": "X", "workspace": s.shared, "service": "airtable", "fields": {"token": [CANARY]}}))).await,
        s.call(Method::POST, "/v1/authentications", &s.editor.token, Some(json!({"name": "Y", "workspace": s.shared, "service": "mtls-api", "fields": {"certificate": CANARY, "private_key": CANARY_2}}))).await,
    ] {
        assert!(answer.status.as_u16() < 500, "{}", answer.text);
        seen.push_str(&answer.text);
    }
    // Every read, for every principal.
    for token in [
        &s.owner.token,
        &s.admin.token,
        &s.member.token,
        &s.editor.token,
        &s.viewer.token,
        &s.outsider.token,
        &s.runner_token,
        &s.auditor_token,
    ] {
        for read in [
            path.clone(),
            format!("{path}/history"),
            format!("{path}?version=1"),
            "/v1/authentications".to_owned(),
            "/v1/services".to_owned(),
            "/v1/tokens".to_owned(),
        ] {
            seen.push_str(&s.call(Method::GET, &read, token, None).await.text);
        }
    }
    for canary in [CANARY, CANARY_2] {
        assert!(!seen.contains(canary), "a response leaked {canary}");
    }
    assert!(
        seen.contains("Canary"),
        "the reads did see the authentication"
    );

    // Resolve gives the value to an allowed principal (a runner for the viewer) only.
    let request = json!({"authentication": id, "workspace": s.shared, "user": s.viewer.id, "template": "$.auth.token"});
    let resolved = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.runner_token,
            Some(request.clone()),
        )
        .await
        .expect(200);
    assert_eq!(resolved.body["resolved"], CANARY_2);
    assert_eq!(
        resolved.header("cache-control").as_deref(),
        Some("no-store")
    );
    let refused = s
        .call(Method::POST, "/v1/resolve", &s.auditor_token, Some(request))
        .await
        .expect(403);
    assert!(!refused.text.contains(CANARY_2));
    let outsider = s
        .call(
            Method::POST,
            "/v1/resolve",
            &s.outsider.token,
            Some(json!({"authentication": id, "workspace": s.shared, "template": "$.auth.token"})),
        )
        .await
        .expect(404);
    assert!(!outsider.text.contains(CANARY_2));

    let mut s = s;
    s.shutdown().await;
    let data_dir = s.data_dir.clone();
    let summary = credledger::ledger::SledStore::verify_path(&data_dir)
        .expect("read the log")
        .expect("the chain verifies after a graceful shutdown");
    assert!(summary.events > 10);
    for file in files_under(&data_dir) {
        let bytes = std::fs::read(&file).expect("read");
        for canary in [CANARY, CANARY_2] {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{} holds {canary}",
                file.display()
            );
        }
    }
    let logged = logged_text();
    assert!(logged.contains("request"), "TRACE logging was captured");
    for canary in [CANARY, CANARY_2] {
        assert!(!logged.contains(canary), "the log leaked {canary}");
    }
    assert!(!logged.contains("clt_"), "the log leaked an API token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_in_a_mistyped_value_is_not_echoed_in_the_problem() {
    let s = Server::start().await;
    // A secret pasted where an object belongs, containing an escaped quote and ", ".
    for fields in [
        json!("x\", canary-mistyped-1"),
        json!("canary-mistyped-1\\\", tail"),
    ] {
        let answer = s
            .call(
                Method::POST,
                "/v1/authentications",
                &s.owner.token,
                Some(
                    json!({"name": "n", "workspace": s.shared, "service": "airtable",
                    "fields": fields}),
                ),
            )
            .await
            .expect(422);
        assert_eq!(answer.body["field"], "fields", "{}", answer.text);
        assert!(
            !answer.text.contains("canary-mistyped"),
            "the value came back: {}",
            answer.text
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_with_an_idempotency_key_leave_nothing_in_the_data_directory() {
    const REFUSED: &str = "CANARY-refused-3f9a1c";
    const MARKER: &str = "PLAIN-MARKER-77b2e0";
    let mut s = Server::start().await;
    let created = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.owner.token,
            Some(json!({"name": MARKER, "workspace": s.shared, "service": "airtable", "fields": {"token": "t"}})),
        )
        .await
        .expect(201);
    let path = format!(
        "/v1/authentications/{}",
        created.body["id"].as_str().expect("id")
    );
    // The secret where it does not belong: a mistyped value, a field name, an unknown property.
    let refused = [
        (
            "POST",
            "/v1/authentications".to_owned(),
            json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": {"token": [REFUSED]}}),
        ),
        (
            "POST",
            "/v1/authentications".to_owned(),
            json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": {REFUSED: "x"}}),
        ),
        (
            "POST",
            "/v1/authentications".to_owned(),
            json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": {"token": "t"}, REFUSED: 1}),
        ),
        (
            "POST",
            format!("{path}/reauthenticate"),
            json!({"fields": {REFUSED: "x"}}),
        ),
        (
            "POST",
            format!("{path}/reauthenticate"),
            json!({"fields": {"token": {"v": REFUSED}}}),
        ),
        ("PATCH", path.clone(), json!({"name": [REFUSED]})),
        (
            "POST",
            "/v1/tokens".to_owned(),
            json!({"kind": REFUSED, "label": REFUSED}),
        ),
    ];
    for (n, (method, path, body)) in refused.into_iter().enumerate() {
        let key = format!("refused-{n}");
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        for _ in 0..2 {
            let answer = s
                .call_with(
                    method.clone(),
                    &path,
                    Some(&s.owner.token),
                    Some(body.clone()),
                    &[("idempotency-key", &key)],
                )
                .await;
            assert!(answer.status.is_client_error(), "{path}: {}", answer.text);
            // A refusal is not replayed: the retry ran the checks again.
            assert_eq!(answer.header("idempotent-replayed"), None);
        }
    }
    s.shutdown().await;
    let mut marker_seen = false;
    for file in files_under(&s.data_dir) {
        let bytes = std::fs::read(&file).expect("read");
        let holds = |text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
        assert!(
            !holds(REFUSED),
            "{} holds a refused request's value",
            file.display()
        );
        marker_seen |= holds(MARKER);
    }
    assert!(marker_seen, "the scan finds what the ledger does store");

    // Answers an earlier version stored beside the ledger are dropped when the server starts.
    let legacy = |dir: &std::path::Path| {
        let db = credledger::ledger::open_db(dir).expect("open the data directory");
        let names = db.tree_names();
        (db, names.iter().any(|n| n.as_ref() == b"idempotency"))
    };
    {
        let (db, _) = legacy(&s.data_dir);
        let tree = db.open_tree("idempotency").expect("legacy tree");
        tree.insert(b"key", &b"an old stored answer"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    assert!(
        legacy(&s.data_dir).1,
        "the legacy tree is there before the start"
    );
    s.restart().await;
    s.shutdown().await;
    assert!(!legacy(&s.data_dir).1, "the legacy answers are gone");
}
