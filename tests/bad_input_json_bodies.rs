//! Bad JSON bodies on every endpoint with one: malformed JSON, wrong types, unknown fields,
//! bodies that are not objects, and bodies over the 64 KiB limit (with a `Content-Length`, and
//! streamed chunked over a raw connection). See `bad_input_support` for what every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{
    refuse_all, Request, TargetServer, BAD_REQUEST, LIMIT, PAYLOAD_TOO_LARGE, VALIDATION,
};
use http_support::request::{JSON, PROBLEM};
use http_support::{Body, Server};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bodies that are not JSON, named; `valid` is a valid body of the endpoint.
fn malformed_bodies(valid: &Value) -> Vec<(&'static str, Vec<u8>)> {
    let mut trailing = serde_json::to_vec(valid).expect("json");
    trailing.extend_from_slice(b" {");
    vec![
        ("truncated", b"{\"".to_vec()),
        ("a stray comma", b"{,}".to_vec()),
        ("an unquoted key", b"{name: 1}".to_vec()),
        ("a valid body, then garbage", trailing),
        ("empty body", Vec::new()),
        ("not UTF-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b'}']),
        ("single quotes", b"{'name': 'x'}".to_vec()),
        // Whatever comes before the break, the break is what is answered.
        ("unknown key, then truncated", b"{\"colour\": ".to_vec()),
        ("an empty object, then garbage", b"{} {".to_vec()),
    ]
}

/// JSON bodies that are not objects, named.
fn not_objects() -> [(&'static str, Value); 4] {
    [
        ("a string", json!("x")),
        ("a number", json!(1)),
        ("null", Value::Null),
        ("an array", json!([])),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_wrong_types_and_unknown_fields_on_every_json_endpoint() {
    let w = TargetServer::new().await;
    let mut cases = Vec::new();
    for endpoint in w.json_endpoints() {
        let name = endpoint.name;
        for (what, bytes) in malformed_bodies(&endpoint.valid) {
            cases.push((
                format!("{name}: {what}"),
                endpoint.with(Body::Raw(Some(JSON), bytes)),
                400,
                BAD_REQUEST,
                Some("body"),
            ));
        }
        cases.push((
            format!("{name}: wrong type"),
            endpoint.with(Body::Json(endpoint.wrong_type.clone())),
            422,
            VALIDATION,
            Some(endpoint.wrong_field),
        ));
        let mut unknown = endpoint.valid.clone();
        unknown["colour"] = json!("red");
        cases.push((
            format!("{name}: unknown field"),
            endpoint.with(Body::Json(unknown)),
            422,
            VALIDATION,
            Some("colour"),
        ));
        for (what, top) in not_objects() {
            cases.push((
                format!("{name}: the body is {what}"),
                endpoint.with(Body::Json(top)),
                422,
                VALIDATION,
                None,
            ));
        }
    }
    assert_eq!(refuse_all(&w.s, cases).await, 11 * (9 + 2 + 4));
    w.stop().await;
}

/// A valid create body of exactly `size` bytes.
fn create_body_of(s: &Server, size: usize) -> Vec<u8> {
    let frame = json!({"name": "Big", "workspace": s.owner.personal, "service": "airtable",
        "fields": {"token": ""}});
    let frame = serde_json::to_vec(&frame).expect("json");
    let padding = size.checked_sub(frame.len()).expect("size above the frame");
    let text = String::from_utf8(frame).expect("utf-8");
    text.replace(
        "\"token\":\"\"",
        &format!("\"token\":\"{}\"", "a".repeat(padding)),
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_64_kib_with_a_content_length_are_413_problems() {
    let w = TargetServer::new().await;
    let over = create_body_of(&w.s, LIMIT + 1);
    // Refused before the body is read.
    #[rustfmt::skip]
    let cases = [
        ("create", "/v1/authentications".to_owned()),
        ("reauthenticate", format!("{}/reauthenticate", w.auth())),
        ("users", "/v1/users".to_owned()),
        ("resolve", "/v1/resolve".to_owned()),
    ]
    .map(|(name, path)| {
        (
            format!("{name}: oversize with Content-Length"),
            Request::new(Method::POST, path, Body::None).raw(Some(JSON), over.clone()),
            413,
            PAYLOAD_TOO_LARGE,
            Some("body"),
        )
    });
    assert_eq!(refuse_all(&w.s, cases).await, 4);
    w.stop().await;
}

/// Sends a body with `Transfer-Encoding: chunked` (no `Content-Length`) over a raw connection;
/// returns the status, the content type and the rest of the answer.
async fn send_chunked(
    s: &Server,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
        s.owner.token
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // The server may answer and close before reading everything: write errors are expected.
    let mut writing = stream.write_all(head.as_bytes()).await;
    for chunk in body.chunks(8 * 1024) {
        if writing.is_err() {
            break;
        }
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(chunk);
        frame.extend_from_slice(b"\r\n");
        writing = stream.write_all(&frame).await;
    }
    if writing.is_ok() {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let content_type = answer
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_over_64_kib_are_413_without_an_event() {
    let w = TargetServer::new().await;
    let s = &w.s;
    // At the limit: accepted (the long token is fine).
    let at_limit = create_body_of(s, LIMIT);
    assert_eq!(at_limit.len(), LIMIT);
    let (status, _, answer) = send_chunked(s, "/v1/authentications", &at_limit, &[]).await;
    assert_eq!(status, 201, "{answer}");
    // One byte over, streamed without a length: a 413 problem.
    for (label, headers) in [
        ("chunked", vec![]),
        ("chunked, idempotent", vec![("idempotency-key", "big-one")]),
    ] {
        for size in [LIMIT + 1, 4 * LIMIT, 2 * 1024 * 1024] {
            let head = s.head().await;
            let body = create_body_of(s, size);
            let (status, content_type, answer) =
                send_chunked(s, "/v1/authentications", &body, &headers).await;
            assert_eq!(status, 413, "{label} {size}: {answer}");
            assert_eq!(content_type, PROBLEM, "{label} {size}: {answer}");
            assert!(answer.contains("\"status\":413"), "{label}: {answer}");
            assert_eq!(s.head().await, head, "{label} {size}: no event");
        }
    }
    w.stop().await;
}
