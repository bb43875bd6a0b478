//! Bad request headers: a body that is not `application/json`, malformed and stale `If-Match`,
//! and malformed or reused `Idempotency-Key`s. See `bad_input_support` for what every case
//! gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{
    refuse_all, Request, TargetServer, BAD_REQUEST, UNSUPPORTED_MEDIA_TYPE, VALIDATION,
    VERSION_MISMATCH,
};
use http_support::request::JSON;
use http_support::Body;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_need_a_json_content_type() {
    let w = TargetServer::new().await;
    let mut cases = Vec::new();
    for endpoint in w.json_endpoints() {
        let bytes = serde_json::to_vec(&endpoint.valid).expect("json");
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/xml"),
        ] {
            cases.push((
                format!("{}: content type {content_type:?}", endpoint.name),
                endpoint.with(Body::Raw(content_type, bytes.clone())),
                415,
                UNSUPPORTED_MEDIA_TYPE,
                Some("content-type"),
            ));
        }
    }
    assert_eq!(refuse_all(&w.s, cases).await, 11 * 4);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_if_match_is_400_and_a_stale_one_412_naming_the_header() {
    let w = TargetServer::new().await;
    let a = w.auth();
    // Every conditional write, with a body that would otherwise be accepted.
    let writes = [
        ("rename", Request::patch(&a, json!({"name": "If"}))),
        (
            "reauthenticate",
            Request::post(
                format!("{a}/reauthenticate"),
                json!({"fields": {"token": "t-9"}}),
            ),
        ),
        (
            "restore",
            Request::post(format!("{a}/restore"), json!({"version": 1})),
        ),
        ("delete", Request::delete(&a)),
        (
            "purge",
            Request::new(Method::POST, format!("{a}/purge"), Body::None),
        ),
    ];
    let mut cases = Vec::new();
    for (name, write) in writes {
        for value in ["abc", "W/\"2\"", "\"2", "-1", "\"\"", "\"1\", \"2\""] {
            cases.push((
                format!("{name}: If-Match {value}"),
                write.clone().header("if-match", value),
                400,
                BAD_REQUEST,
                Some("if-match"),
            ));
        }
        cases.push((
            format!("{name}: stale If-Match"),
            write.header("if-match", "\"7\""),
            412,
            VERSION_MISMATCH,
            Some("if-match"),
        ));
    }
    assert_eq!(refuse_all(&w.s, cases).await, 5 * 7);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_idempotency_key_with_another_body_is_422() {
    let w = TargetServer::new().await;
    let s = &w.s;
    let a = w.auth();
    let personal = &s.owner.personal;
    // A key, the request that first uses it, and another body sent with it next.
    let firsts = [
        (
            "k-create",
            Request::post(
                "/v1/authentications",
                json!({"name": "Idem", "workspace": personal, "service": "airtable", "fields": {"token": "t"}}),
            ),
            json!({"name": "Idem 2", "workspace": personal, "service": "airtable", "fields": {"token": "t"}}),
        ),
        (
            "k-reauth",
            Request::post(
                format!("{a}/reauthenticate"),
                json!({"fields": {"token": "idem-1"}}),
            ),
            json!({"fields": {"token": "idem-2"}}),
        ),
        (
            "k-rename",
            Request::patch(&a, json!({"name": "Idem renamed"})),
            json!({"name": "Idem renamed again"}),
        ),
        (
            "k-user",
            Request::post(
                "/v1/users",
                json!({"name": "Idem", "email": "idem@example.com"}),
            ),
            json!({"name": "Idem", "email": "idem2@example.com"}),
        ),
        (
            "k-org",
            Request::post("/v1/organizations", json!({"name": "Idem org"})),
            json!({"name": "Idem org 2"}),
        ),
    ];
    let mut cases = Vec::new();
    for (key, first, second) in firsts {
        let first = first.header("idempotency-key", key);
        let answer = first.send(s).await;
        assert!(
            answer.status.is_success(),
            "{key} ({} {}): {}",
            first.method,
            first.path,
            answer.text
        );
        cases.push((
            format!("{key} with another body"),
            Request {
                body: Body::Json(second),
                ..first.clone()
            },
            422,
            VALIDATION,
            Some("idempotency-key"),
        ));
        // Same key, same body, but malformed JSON bytes: another request, refused.
        cases.push((
            format!("{key} with the body's bytes changed"),
            first.raw(Some(JSON), b"{".to_vec()),
            422,
            VALIDATION,
            Some("idempotency-key"),
        ));
    }
    for value in ["", " ", "clé", "a b", &"k".repeat(256)] {
        cases.push((
            format!("malformed key {value:?}"),
            Request::post("/v1/organizations", json!({"name": "Keyed"}))
                .header("idempotency-key", value),
            400,
            BAD_REQUEST,
            Some("idempotency-key"),
        ));
    }
    assert_eq!(refuse_all(s, cases).await, 15);
    w.stop().await;
}
