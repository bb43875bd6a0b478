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

/// A number, bool, array or object where a string belongs: serde would name the value.
const CANARY_INT: i64 = 7_319_856_312_789_620;
const CANARY_FLOAT: f64 = 73_198_563.127_896;
const CANARY_WORD: &str = "CANARY-typed-1b9e";
/// PEM labels are upper-case words.
const CANARY_LABEL: &str = "CANARY TYPED KEY";

fn wrong_types() -> Vec<serde_json::Value> {
    vec![
        json!(CANARY_INT),
        json!(-CANARY_INT),
        json!(CANARY_FLOAT),
        json!(true),
        json!(false),
        json!([CANARY_WORD, CANARY_INT]),
        // Keys are field names and stay in the path (`fields.token`); values never do.
        json!({"nested": [CANARY_WORD, CANARY_INT]}),
    ]
}

/// Whether a problem text names any of the canary values.
fn leaks(text: &str) -> Option<String> {
    let int = CANARY_INT.to_string();
    let float = CANARY_FLOAT.to_string();
    let found = [
        int.as_str(),
        &int[..12],
        float.as_str(),
        "73198563",
        CANARY_WORD,
        CANARY_LABEL,
        "`true`",
        "`false`",
    ]
    .into_iter()
    .find(|needle| text.contains(needle))
    .map(str::to_owned);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_of_the_wrong_type_is_not_echoed_anywhere() {
    let s = Server::start().await;
    let created = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.owner.token,
            Some(json!({"name": "Typed", "workspace": s.shared, "service": "airtable", "fields": {"token": "t-1"}})),
        )
        .await
        .expect(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let spec = |value: serde_json::Value| {
        json!({"workspace": s.owner.personal, "spec": {"name": "Typed", "api_version": "1",
            "auth_kind": "Generic", "fields": [{"name": "token", "secret": true, "required": true,
                "format": "Text", "description": "key"}], "scopes": [], "required_scopes": []},
            "authentication": {"name": "Typed", "fields": {"token": value}}})
    };
    let mut checked = 0;
    for value in wrong_types() {
        let requests = [
            (
                "/v1/authentications".to_owned(),
                json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": {"token": value}}),
            ),
            (
                "/v1/authentications".to_owned(),
                json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": value}),
            ),
            (
                format!("/v1/authentications/{id}/reauthenticate"),
                json!({"fields": {"token": value}}),
            ),
            (
                format!("/v1/authentications/{id}/reauthenticate"),
                json!({"fields": value}),
            ),
            ("/v1/services".to_owned(), spec(value.clone())),
            (
                "/v1/services".to_owned(),
                json!({"workspace": s.owner.personal, "spec": {"name": "T", "api_version": "1",
                    "auth_kind": value, "fields": [], "scopes": [], "required_scopes": []}}),
            ),
            (
                "/v1/resolve".to_owned(),
                json!({"authentication": id, "workspace": s.shared, "template": "$.auth.token", "user": value}),
            ),
        ];
        for (path, body) in requests {
            let answer = s
                .call(Method::POST, &path, &s.owner.token, Some(body.clone()))
                .await;
            assert!(
                answer.status.is_client_error(),
                "{path} {body}: {}",
                answer.text
            );
            assert_eq!(leaks(&answer.text), None, "{path} {body}: {}", answer.text);
            checked += 1;
        }
    }
    // An enum value is a string: serde names it as an unknown variant.
    let answer = s
        .call(
            Method::POST,
            "/v1/services",
            &s.owner.token,
            Some(
                json!({"workspace": s.owner.personal, "spec": {"name": "T", "api_version": "1",
                "auth_kind": CANARY_WORD, "fields": [], "scopes": [], "required_scopes": []}}),
            ),
        )
        .await
        .expect(422);
    assert_eq!(leaks(&answer.text), None, "{}", answer.text);
    assert_eq!(checked, 49);
    // Positive control: the check does see a value in a text that carries one.
    assert!(leaks(&format!("integer `{CANARY_INT}`")).is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_pem_label_is_not_echoed() {
    let s = Server::start().await;
    let certificate = include_str!("../src/domain/authentication/testdata/rsa_cert.pem");
    let key = format!("-----BEGIN {CANARY_LABEL}-----\nAAAA\n-----END {CANARY_LABEL}-----\n");
    let answer = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.owner.token,
            Some(
                json!({"name": "Cert", "workspace": s.shared, "service": "mtls-api",
                "fields": {"certificate": certificate, "private_key": key}}),
            ),
        )
        .await
        .expect(422);
    assert_eq!(
        answer.body["field"], "fields.private_key",
        "{}",
        answer.text
    );
    assert!(
        answer.text.contains("PEM label"),
        "the refusal is about the label: {}",
        answer.text
    );
    assert_eq!(leaks(&answer.text), None, "{}", answer.text);
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
        // A secret of the wrong JSON type, and a private key whose PEM label is refused.
        (
            "POST",
            "/v1/authentications".to_owned(),
            json!({"name": "n", "workspace": s.shared, "service": "airtable", "fields": {"token": CANARY_INT}}),
        ),
        (
            "POST",
            "/v1/authentications".to_owned(),
            json!({"name": "n", "workspace": s.shared, "service": "mtls-api",
                "fields": {"certificate": include_str!("../src/domain/authentication/testdata/rsa_cert.pem"),
                "private_key": format!("-----BEGIN {CANARY_LABEL}-----\nAAAA\n-----END {CANARY_LABEL}-----\n")}}),
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
        for value in [REFUSED, &CANARY_INT.to_string(), CANARY_LABEL] {
            assert!(
                !holds(value),
                "{} holds a refused request's value",
                file.display()
            );
        }
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
