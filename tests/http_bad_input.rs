//! Bad input over HTTP: malformed JSON, wrong types, unknown fields, oversize bodies, bad ids,
//! bad query values, wrong content types, bad and stale `If-Match`, rule violations, duplicate
//! names, reused `Idempotency-Key`s, unknown routes, and a seeded random-JSON loop. Every case
//! is an exact 4xx `application/problem+json` naming the offending field where there is one,
//! and writes no event (the ledger head from `/metrics` does not move). No bad input gets a 5xx.

mod http_support;

use http_support::request::{JSON, PROBLEM};
use http_support::{Answer, Body, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// The server's body limit.
const LIMIT: usize = 64 * 1024;

/// Sends a request as the owner (org owner, bootstrap administrator) unless `token` is given.
async fn send(
    s: &Server,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Body,
    headers: &[(&str, &str)],
) -> Answer {
    let token = token.unwrap_or(&s.owner.token);
    s.request(method, path, Some(token), body, headers).await
}

/// One bad request and what it must get.
struct Bad<'a> {
    label: String,
    method: Method,
    path: String,
    body: Body,
    headers: Vec<(&'a str, &'a str)>,
    status: u16,
    /// The `field` of the problem; `None`: not checked.
    field: Option<&'a str>,
}

fn bad<'a>(
    label: impl Into<String>,
    method: Method,
    path: impl Into<String>,
    body: Body,
    status: u16,
    field: Option<&'a str>,
) -> Bad<'a> {
    Bad {
        label: label.into(),
        method,
        path: path.into(),
        body,
        headers: Vec::new(),
        status,
        field,
    }
}

impl<'a> Bad<'a> {
    fn with(mut self, name: &'a str, value: &'a str) -> Bad<'a> {
        self.headers.push((name, value));
        self
    }
}

/// Sends each case and checks: the exact status, a problem+json body agreeing with it, the
/// field, and that no event was written (but the access record of a refused attempt).
async fn refuse_all(s: &Server, cases: Vec<Bad<'_>>) -> usize {
    let count = cases.len();
    for case in cases {
        let head = s.head().await;
        let answer = send(
            s,
            None,
            case.method.clone(),
            &case.path,
            case.body,
            &case.headers,
        )
        .await;
        let label = format!("{} ({} {})", case.label, case.method, case.path);
        assert_eq!(
            answer.status.as_u16(),
            case.status,
            "{label}: {}",
            answer.text
        );
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some(PROBLEM),
            "{label}: {}",
            answer.text
        );
        assert_eq!(answer.body["status"], case.status, "{label}");
        assert!(
            answer.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://")),
            "{label}: {}",
            answer.text
        );
        if let Some(field) = case.field {
            assert_eq!(answer.body["field"], field, "{label}: {}", answer.text);
        }
        // A 403 on a credential is a refused attempt: its access record (and nothing else)
        // is written. Every other refusal writes nothing.
        let recorded = u64::from(case.status == 403);
        let after = s.head().await;
        assert!(
            after == head || after == head + recorded,
            "{label}: no event may be written (head {head} -> {after})"
        );
    }
    count
}

/// The world the cases act on: an active Airtable (Token) authentication at version 2, a Slack
/// (OAuth2) one, and their paths.
struct World {
    s: Server,
    token_auth: String,
    slack_auth: String,
}

impl World {
    async fn new() -> World {
        let s = Server::start().await;
        let created = s
            .call(
                Method::POST,
                "/v1/authentications",
                &s.owner.token,
                Some(
                    json!({"name": "Airtable main", "workspace": s.owner.personal,
                    "service": "airtable", "fields": {"token": "t-1"}}),
                ),
            )
            .await
            .expect(201);
        let token_auth = created.body["id"].as_str().expect("id").to_owned();
        s.call(
            Method::POST,
            &format!("/v1/authentications/{token_auth}/reauthenticate"),
            &s.owner.token,
            Some(json!({"fields": {"token": "t-2"}})),
        )
        .await
        .expect(200);
        let slack_auth = s
            .create(
                &s.owner,
                &s.owner.personal,
                "slack",
                json!({"access_token": "xoxb-1"}),
            )
            .await;
        World {
            s,
            token_auth,
            slack_auth,
        }
    }

    fn auth(&self) -> String {
        format!("/v1/authentications/{}", self.token_auth)
    }

    fn spec() -> Value {
        json!({"name": "Internal API", "api_version": "1", "auth_kind": "Generic",
            "fields": [{"name": "api_key", "secret": true, "required": true,
                "format": "Text", "description": "key"}],
            "scopes": [], "required_scopes": []})
    }

    /// Every endpoint with a JSON body: a label, method, path, a valid body (to which an unknown
    /// field is added), and a body with a wrong type with the field it names.
    fn json_endpoints(&self) -> Vec<(&'static str, Method, String, Value, Value, &'static str)> {
        let s = &self.s;
        let auth = self.auth();
        let personal = s.owner.personal.clone();
        vec![
            (
                "create",
                Method::POST,
                "/v1/authentications".to_owned(),
                json!({"name": "New one", "workspace": personal, "service": "airtable", "fields": {"token": "t"}}),
                json!({"name": "New one", "workspace": personal, "service": "airtable", "fields": {"token": 7}}),
                "fields.token",
            ),
            (
                "rename",
                Method::PATCH,
                auth.clone(),
                json!({"name": "Renamed"}),
                json!({"name": ["Renamed"]}),
                "name",
            ),
            (
                "reauthenticate",
                Method::POST,
                format!("{auth}/reauthenticate"),
                json!({"fields": {"token": "t-3"}}),
                json!({"fields": {"token": true}}),
                "fields.token",
            ),
            (
                "restore",
                Method::POST,
                format!("{auth}/restore"),
                json!({"version": 1}),
                json!({"version": "1"}),
                "version",
            ),
            (
                "services",
                Method::POST,
                "/v1/services".to_owned(),
                json!({"workspace": personal, "spec": World::spec()}),
                json!({"workspace": 42, "spec": World::spec()}),
                "workspace",
            ),
            (
                "organizations",
                Method::POST,
                "/v1/organizations".to_owned(),
                json!({"name": "Second org"}),
                json!({"name": {"en": "Second org"}}),
                "name",
            ),
            (
                "workspaces",
                Method::POST,
                "/v1/workspaces".to_owned(),
                json!({"organization": s.org, "name": "Support"}),
                json!({"organization": "not-a-uuid", "name": "Support"}),
                "organization",
            ),
            (
                "users",
                Method::POST,
                "/v1/users".to_owned(),
                json!({"name": "Zed", "email": "zed@example.com"}),
                json!({"name": "Zed", "email": null}),
                "email",
            ),
            (
                "memberships",
                Method::POST,
                "/v1/memberships".to_owned(),
                json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"}),
                json!({"workspace": s.shared, "user": s.member.id, "role": 3}),
                "role",
            ),
            (
                "tokens",
                Method::POST,
                "/v1/tokens".to_owned(),
                json!({"kind": "user", "label": "ci"}),
                json!({"kind": "user", "label": "ci", "user": 12}),
                "user",
            ),
            (
                "resolve",
                Method::POST,
                "/v1/resolve".to_owned(),
                json!({"authentication": self.token_auth, "workspace": personal, "template": "$.auth.token"}),
                json!({"authentication": "nope", "workspace": personal, "template": "$.auth.token"}),
                "authentication",
            ),
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_wrong_types_and_unknown_fields_on_every_json_endpoint() {
    let w = World::new().await;
    let mut cases = Vec::new();
    for (label, method, path, valid, wrong, field) in w.json_endpoints() {
        let mut trailing = serde_json::to_vec(&valid).expect("json");
        trailing.extend_from_slice(b" {");
        for (what, bytes) in [
            ("truncated", b"{\"".to_vec()),
            ("a stray comma", b"{,}".to_vec()),
            ("an unquoted key", b"{name: 1}".to_vec()),
            ("a valid body, then garbage", trailing),
            ("empty body", Vec::new()),
            ("not UTF-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b'}']),
            ("single quotes", b"{'name': 'x'}".to_vec()),
        ] {
            cases.push(bad(
                format!("{label}: {what}"),
                method.clone(),
                path.clone(),
                Body::Raw(Some(JSON), bytes),
                400,
                Some("body"),
            ));
        }
        cases.push(bad(
            format!("{label}: wrong type"),
            method.clone(),
            path.clone(),
            Body::Json(wrong),
            422,
            Some(field),
        ));
        let mut unknown = valid.clone();
        unknown["colour"] = json!("red");
        cases.push(bad(
            format!("{label}: unknown field"),
            method.clone(),
            path.clone(),
            Body::Json(unknown),
            422,
            Some("colour"),
        ));
        for (what, top) in [
            ("a string", json!("x")),
            ("a number", json!(1)),
            ("null", Value::Null),
            ("an array", json!([])),
        ] {
            cases.push(bad(
                format!("{label}: the body is {what}"),
                method.clone(),
                path.clone(),
                Body::Json(top),
                422,
                None,
            ));
        }
    }
    assert_eq!(refuse_all(&w.s, cases).await, 11 * 13);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_whatever_comes_before_the_break() {
    let w = World::new().await;
    let mut cases = Vec::new();
    for (label, method, path, _, _, _) in w.json_endpoints() {
        for (what, bytes) in [
            ("unknown key, then truncated", b"{\"colour\": ".to_vec()),
            ("an empty object, then garbage", b"{} {".to_vec()),
        ] {
            cases.push(bad(
                format!("{label}: {what}"),
                method.clone(),
                path.clone(),
                Body::Raw(Some(JSON), bytes),
                400,
                Some("body"),
            ));
        }
    }
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_need_a_json_content_type() {
    let w = World::new().await;
    let mut cases = Vec::new();
    for (label, method, path, valid, _, _) in w.json_endpoints() {
        let bytes = serde_json::to_vec(&valid).expect("json");
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/xml"),
        ] {
            cases.push(bad(
                format!("{label}: content type {content_type:?}"),
                method.clone(),
                path.clone(),
                Body::Raw(content_type, bytes.clone()),
                415,
                Some("content-type"),
            ));
        }
    }
    assert_eq!(refuse_all(&w.s, cases).await, 11 * 4);
    w.s.stop().await;
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
async fn bodies_over_64_kib_are_413_without_an_event() {
    let w = World::new().await;
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
    // With a Content-Length: refused before the body is read.
    for (path, method) in [
        ("/v1/authentications".to_owned(), Method::POST),
        (format!("{}/reauthenticate", w.auth()), Method::POST),
        ("/v1/users".to_owned(), Method::POST),
        ("/v1/resolve".to_owned(), Method::POST),
    ] {
        let head = s.head().await;
        let body = Body::Raw(Some(JSON), create_body_of(s, LIMIT + 1));
        let answer = send(s, None, method, &path, body, &[]).await;
        assert_eq!(answer.status.as_u16(), 413, "{path}: {}", answer.text);
        assert_eq!(s.head().await, head, "{path}: no event");
    }
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_64_kib_with_a_content_length_are_413_problems() {
    let w = World::new().await;
    let body = Body::Raw(Some(JSON), create_body_of(&w.s, LIMIT + 1));
    let cases = vec![bad(
        "oversize with Content-Length",
        Method::POST,
        "/v1/authentications",
        body,
        413,
        Some("body"),
    )];
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_in_paths_are_400_and_unknown_ids_404() {
    let w = World::new().await;
    let patch = || Body::Json(json!({"name": "x"}));
    let routes = |id: &str| {
        let a = format!("/v1/authentications/{id}");
        vec![
            (Method::GET, a.clone(), Body::None),
            (Method::GET, format!("{a}/history"), Body::None),
            (Method::PATCH, a.clone(), patch()),
            (Method::DELETE, a.clone(), Body::None),
            (
                Method::POST,
                format!("{a}/reauthenticate"),
                Body::Json(json!({"fields": {"token": "x"}})),
            ),
            (
                Method::POST,
                format!("{a}/restore"),
                Body::Json(json!({"version": 1})),
            ),
            (Method::POST, format!("{a}/purge"), Body::None),
            (Method::DELETE, format!("/v1/tokens/{id}"), Body::None),
        ]
    };
    let mut cases = Vec::new();
    for id in [
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-00000000000g",
        "0192d2c1-7c4e-7cc0-8f5e-3f1f2b9a1c2d-extra",
        "%20",
        "%E2%9C%93",
    ] {
        for (method, path, body) in routes(id) {
            cases.push(bad(
                format!("bad id {id:?}"),
                method,
                path,
                body,
                400,
                Some("id"),
            ));
        }
    }
    let unknown = Uuid::now_v7().to_string();
    for (method, path, body) in routes(&unknown) {
        let field = if path.starts_with("/v1/tokens") {
            "token"
        } else {
            "authentication"
        };
        cases.push(bad("unknown id", method, path, body, 404, Some(field)));
    }
    assert_eq!(refuse_all(&w.s, cases).await, 8 * 7);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_path_id_is_a_400() {
    let w = World::new().await;
    for path in [
        "/v1/authentications/%FF",
        "/v1/authentications/%C3%28/history",
    ] {
        let head = w.s.head().await;
        let answer = send(&w.s, None, Method::GET, path, Body::None, &[]).await;
        assert_eq!(answer.status.as_u16(), 400, "{path}: {}", answer.text);
        assert_eq!(w.s.head().await, head);
    }
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_path_id_is_a_400_problem() {
    let w = World::new().await;
    let cases = vec![
        bad(
            "%FF",
            Method::GET,
            "/v1/authentications/%FF",
            Body::None,
            400,
            Some("id"),
        ),
        bad(
            "%FF",
            Method::DELETE,
            "/v1/tokens/%FF",
            Body::None,
            400,
            Some("id"),
        ),
    ];
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_values_are_400() {
    let w = World::new().await;
    let a = w.auth();
    let list = "/v1/authentications";
    let get = |q: &str| bad(q, Method::GET, format!("{list}?{q}"), Body::None, 400, None);
    let mut cases = vec![
        get("limit=abc"),
        get("limit=-1"),
        get("limit=1.5"),
        get("limit=99999999999999999999999"),
        get("include_deleted=maybe"),
        get("colour=red"),
        get("limit=10&limit=20"),
        bad(
            "bad workspace",
            Method::GET,
            format!("{list}?workspace=nope"),
            Body::None,
            400,
            Some("workspace"),
        ),
        bad(
            "bad cursor",
            Method::GET,
            format!("{list}?cursor=zz"),
            Body::None,
            400,
            Some("cursor"),
        ),
        bad(
            "forged cursor",
            Method::GET,
            format!("{list}?cursor=6869"),
            Body::None,
            400,
            Some("cursor"),
        ),
        bad(
            "version=abc",
            Method::GET,
            format!("{a}?version=abc"),
            Body::None,
            400,
            None,
        ),
        bad(
            "version=-1",
            Method::GET,
            format!("{a}?version=-1"),
            Body::None,
            400,
            None,
        ),
        bad(
            "unknown parameter",
            Method::GET,
            format!("{a}?colour=red"),
            Body::None,
            400,
            None,
        ),
        bad(
            "version and as_of",
            Method::GET,
            format!("{a}?version=1&as_of=2030-01-01T00:00:00Z"),
            Body::None,
            400,
            Some("version"),
        ),
        bad(
            "bad as_of",
            Method::GET,
            format!("{a}?as_of=yesterday"),
            Body::None,
            400,
            Some("as_of"),
        ),
        bad(
            "memberships: neither",
            Method::GET,
            "/v1/memberships",
            Body::None,
            400,
            Some("organization"),
        ),
        bad(
            "memberships: bad organization",
            Method::GET,
            "/v1/memberships?organization=nope",
            Body::None,
            400,
            Some("organization"),
        ),
        bad(
            "memberships: bad workspace",
            Method::GET,
            "/v1/memberships?workspace=nope",
            Body::None,
            400,
            Some("workspace"),
        ),
        bad(
            "memberships: unknown parameter",
            Method::GET,
            "/v1/memberships?user=me",
            Body::None,
            400,
            None,
        ),
    ];
    // Restore takes no query string: the body decides.
    cases.push(bad(
        "wrong type in the body, query ignored",
        Method::POST,
        format!("{a}/restore?version=1"),
        Body::Json(json!({"version": "one"})),
        422,
        Some("version"),
    ));
    assert_eq!(refuse_all(&w.s, cases).await, 20);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_values_name_the_parameter() {
    let w = World::new().await;
    let a = w.auth();
    let list = "/v1/authentications";
    let case = |path: String, field| bad(path.clone(), Method::GET, path, Body::None, 400, field);
    let cases = vec![
        case(format!("{list}?limit=abc"), Some("limit")),
        case(
            format!("{list}?include_deleted=maybe"),
            Some("include_deleted"),
        ),
        case(format!("{list}?colour=red"), Some("colour")),
        case(format!("{list}?service=Not%20A%20Key"), Some("service")),
        case(format!("{a}?version=abc"), Some("version")),
    ];
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_if_match_is_400_and_a_stale_one_412() {
    let w = World::new().await;
    let a = w.auth();
    // Every conditional write, with a body that would otherwise be accepted.
    let writes = vec![
        (Method::PATCH, a.clone(), Body::Json(json!({"name": "If"}))),
        (
            Method::POST,
            format!("{a}/reauthenticate"),
            Body::Json(json!({"fields": {"token": "t-9"}})),
        ),
        (
            Method::POST,
            format!("{a}/restore"),
            Body::Json(json!({"version": 1})),
        ),
        (Method::DELETE, a.clone(), Body::None),
        (Method::POST, format!("{a}/purge"), Body::None),
    ];
    let mut cases = Vec::new();
    for (method, path, body) in &writes {
        for value in ["abc", "W/\"2\"", "\"2", "-1", "\"\"", "\"1\", \"2\""] {
            cases.push(
                bad(
                    format!("If-Match {value}"),
                    method.clone(),
                    path.clone(),
                    body.clone(),
                    400,
                    Some("if-match"),
                )
                .with("if-match", value),
            );
        }
        cases.push(
            bad(
                "stale If-Match",
                method.clone(),
                path.clone(),
                body.clone(),
                412,
                None,
            )
            .with("if-match", "\"7\""),
        );
    }
    assert_eq!(refuse_all(&w.s, cases).await, 5 * 7);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_names_the_header() {
    let w = World::new().await;
    let cases = vec![bad(
        "stale",
        Method::PATCH,
        w.auth(),
        Body::Json(json!({"name": "If"})),
        412,
        Some("if-match"),
    )
    .with("if-match", "\"7\"")];
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_rules_are_precise_422s() {
    let w = World::new().await;
    let s = &w.s;
    let a = w.auth();
    let personal = s.owner.personal.clone();
    let create = |label: &str, patch: Value, status, field| {
        let mut body = json!({"name": "Fresh", "workspace": personal, "service": "airtable",
            "fields": {"token": "t"}});
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        bad(
            label,
            Method::POST,
            "/v1/authentications",
            Body::Json(body),
            status,
            field,
        )
    };
    let long = "n".repeat(121);
    let unknown_custom = format!("custom:{}", Uuid::now_v7());
    let cases = vec![
        create("name of 121", json!({"name": long}), 422, Some("name")),
        create(
            "name of 121 (multi-byte)",
            json!({"name": "é".repeat(121)}),
            422,
            Some("name"),
        ),
        create("blank name", json!({"name": "   "}), 422, Some("name")),
        create("empty name", json!({"name": ""}), 422, Some("name")),
        create(
            "bell in name",
            json!({"name": "a\u{7}b"}),
            422,
            Some("name"),
        ),
        create(
            "newline in name",
            json!({"name": "a\nb"}),
            422,
            Some("name"),
        ),
        create("NUL in name", json!({"name": "a\u{0}b"}), 422, Some("name")),
        create(
            "zero-width space in name",
            json!({"name": "a\u{200B}b"}),
            422,
            Some("name"),
        ),
        create(
            "blank token",
            json!({"fields": {"token": "  "}}),
            422,
            Some("fields.token"),
        ),
        create(
            "missing token",
            json!({"fields": {}}),
            422,
            Some("fields.token"),
        ),
        create(
            "control character in token",
            json!({"fields": {"token": "a\u{1b}b"}}),
            422,
            Some("fields.token"),
        ),
        create(
            "field of another service",
            json!({"fields": {"token": "t", "password": "p"}}),
            422,
            Some("fields.password"),
        ),
        create(
            "unknown service",
            json!({"service": "no-such-service"}),
            422,
            Some("service"),
        ),
        create(
            "malformed service key",
            json!({"service": "Not A Key"}),
            422,
            Some("service"),
        ),
        create(
            "empty service",
            json!({"service": ""}),
            422,
            Some("service"),
        ),
        create(
            "unknown custom service id",
            json!({"service": unknown_custom}),
            422,
            Some("service"),
        ),
        create(
            "malformed custom service id",
            json!({"service": "custom:not-a-uuid"}),
            400,
            Some("service"),
        ),
        create(
            "workspace that does not exist",
            json!({"workspace": Uuid::now_v7()}),
            403,
            Some("workspace"),
        ),
        create(
            "bad environment",
            json!({"environment": "Prod 1"}),
            422,
            Some("environment"),
        ),
        create(
            "bad workflow id",
            json!({"workflow": {"workflow_id": "a b", "step_id": "s"}}),
            422,
            Some("workflow.workflow_id"),
        ),
        create(
            "blank step id",
            json!({"workflow": {"workflow_id": "wf", "step_id": " "}}),
            422,
            Some("workflow.step_id"),
        ),
        create(
            "scopes on a token service",
            json!({"scopes": ["read"]}),
            422,
            Some("scopes"),
        ),
        create(
            "unknown scope",
            json!({"service": "slack", "fields": {"access_token": "x"}, "scopes": ["admin:all"]}),
            422,
            Some("scopes"),
        ),
        create(
            "bad expires_at",
            json!({"service": "slack", "fields": {"access_token": "x", "expires_at": "soon"}}),
            422,
            Some("fields.expires_at"),
        ),
        bad(
            "rename to 121",
            Method::PATCH,
            a.clone(),
            Body::Json(json!({"name": "r".repeat(121)})),
            422,
            Some("name"),
        ),
        bad(
            "rename to blank",
            Method::PATCH,
            a.clone(),
            Body::Json(json!({"name": "\t"})),
            422,
            Some("name"),
        ),
        bad(
            "rename with a control character",
            Method::PATCH,
            a.clone(),
            Body::Json(json!({"name": "x\u{7f}"})),
            422,
            Some("name"),
        ),
        bad(
            "rename unchanged",
            Method::PATCH,
            a.clone(),
            Body::Json(json!({"name": "Airtable main"})),
            422,
            Some("name"),
        ),
        bad(
            "patch without changes",
            Method::PATCH,
            a.clone(),
            Body::Json(json!({})),
            422,
            Some("body"),
        ),
        bad(
            "move to the same workspace",
            Method::PATCH,
            a.clone(),
            Body::Json(json!({"workspace": personal})),
            422,
            Some("workspace"),
        ),
        bad(
            "reauthenticate nothing",
            Method::POST,
            format!("{a}/reauthenticate"),
            Body::Json(json!({"fields": {}})),
            422,
            Some("fields"),
        ),
        bad(
            "reauthenticate blank",
            Method::POST,
            format!("{a}/reauthenticate"),
            Body::Json(json!({"fields": {"token": ""}})),
            422,
            Some("fields.token"),
        ),
        bad(
            "clear a required field",
            Method::POST,
            format!("{a}/reauthenticate"),
            Body::Json(json!({"fields": {"token": null}})),
            422,
            Some("fields.token"),
        ),
        bad(
            "reauthenticate a malformed field name",
            Method::POST,
            format!("{a}/reauthenticate"),
            Body::Json(json!({"fields": {"Token": "x"}})),
            422,
            Some("fields.Token"),
        ),
        bad(
            "restore with version and as_of",
            Method::POST,
            format!("{a}/restore"),
            Body::Json(json!({"version": 1, "as_of": "2030-01-01T00:00:00Z"})),
            422,
            Some("version"),
        ),
        bad(
            "restore with neither",
            Method::POST,
            format!("{a}/restore"),
            Body::Json(json!({})),
            422,
            Some("version"),
        ),
        bad(
            "restore with a bad as_of",
            Method::POST,
            format!("{a}/restore"),
            Body::Json(json!({"as_of": "last tuesday"})),
            400,
            Some("as_of"),
        ),
        bad(
            "restore a negative version",
            Method::POST,
            format!("{a}/restore"),
            Body::Json(json!({"version": -1})),
            422,
            Some("version"),
        ),
        bad(
            "restore the current version",
            Method::POST,
            format!("{a}/restore"),
            // Created and re-authenticated, each with its verification record (off in tests).
            Body::Json(json!({"version": 4})),
            422,
            None,
        ),
    ];
    assert_eq!(refuse_all(s, cases).await, 39);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_targets_outside_the_history_are_422_naming_the_field() {
    let w = World::new().await;
    let a = w.auth();
    let restore = |label: &str, body: Value, field| {
        bad(
            label,
            Method::POST,
            format!("{a}/restore"),
            Body::Json(body),
            422,
            Some(field),
        )
    };
    let cases = vec![
        restore("version 0", json!({"version": 0}), "version"),
        restore("version 99", json!({"version": 99}), "version"),
        restore(
            "before creation",
            json!({"as_of": "2000-01-01T00:00:00Z"}),
            "as_of",
        ),
    ];
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_version_that_does_not_exist_is_404() {
    let w = World::new().await;
    let cases = vec![bad(
        "version 99",
        Method::GET,
        format!("{}?version=99", w.auth()),
        Body::None,
        404,
        None,
    )];
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_with_bad_references_are_422() {
    let w = World::new().await;
    let s = &w.s;
    let resolve = |label: &str, template: Value, status, field| {
        bad(
            label,
            Method::POST,
            "/v1/resolve",
            Body::Json(
                json!({"authentication": w.token_auth, "workspace": s.owner.personal,
                "template": template}),
            ),
            status,
            field,
        )
    };
    let mut cases = vec![
        resolve(
            "unclosed reference",
            json!("Bearer {$.auth.token"),
            422,
            Some("template"),
        ),
        resolve(
            "unclosed nested reference",
            json!({"headers": {"Authorization": ["{$.auth."]}}),
            422,
            Some("template"),
        ),
        resolve(
            "space in a reference",
            json!("{$.auth.to ken}"),
            422,
            Some("template"),
        ),
        resolve("empty reference", json!("{$.auth.}"), 422, Some("template")),
        resolve(
            "field of no such name",
            json!("$.auth.password"),
            422,
            Some("template"),
        ),
    ];
    cases.push(bad(
        "a user resolving for someone else",
        Method::POST,
        "/v1/resolve",
        Body::Json(
            json!({"authentication": w.token_auth, "workspace": s.owner.personal,
            "user": s.member.id, "template": "$.auth.token"}),
        ),
        403,
        Some("user"),
    ));
    cases.push(bad(
        "no template",
        Method::POST,
        "/v1/resolve",
        Body::Json(json!({"authentication": w.token_auth, "workspace": s.owner.personal})),
        422,
        None,
    ));
    cases.push(bad(
        "bad workflow step",
        Method::POST,
        "/v1/resolve",
        Body::Json(
            json!({"authentication": w.token_auth, "workspace": s.owner.personal,
            "template": "$.auth.token", "workflow": {"workflow_id": "w f", "step_id": "s"}}),
        ),
        422,
        Some("workflow.workflow_id"),
    ));
    assert_eq!(refuse_all(s, cases).await, 8);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_names_are_409() {
    let w = World::new().await;
    let s = &w.s;
    let personal = s.owner.personal.clone();
    s.call(
        Method::POST,
        "/v1/authentications",
        &s.owner.token,
        Some(json!({"name": "Jira", "workspace": personal, "service": "airtable", "fields": {"token": "t"}})),
    )
    .await
    .expect(201);
    let create = |name: &str| {
        bad(
            format!("create {name:?}"),
            Method::POST,
            "/v1/authentications",
            Body::Json(
                json!({"name": name, "workspace": personal, "service": "airtable",
                "fields": {"token": "t"}}),
            ),
            409,
            Some("name"),
        )
    };
    let cases = vec![
        create("Jira"),
        create("JIRA"),
        create("  jira  "),
        create("Airtable MAIN"),
        bad(
            "rename onto another",
            Method::PATCH,
            w.auth(),
            Body::Json(json!({"name": "jira"})),
            409,
            Some("name"),
        ),
        bad(
            "e-mail already used",
            Method::POST,
            "/v1/users",
            Body::Json(json!({"name": "Copy", "email": "Member@Example.com"})),
            409,
            Some("email"),
        ),
        bad(
            "workspace name already used",
            Method::POST,
            "/v1/workspaces",
            Body::Json(json!({"organization": s.org, "name": "sales"})),
            409,
            None,
        ),
    ];
    assert_eq!(refuse_all(s, cases).await, 7);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_rules_are_precise_4xx() {
    let w = World::new().await;
    let s = &w.s;
    let post = |label: &str, path: &str, body: Value, status, field| {
        bad(label, Method::POST, path, Body::Json(body), status, field)
    };
    let ghost = Uuid::now_v7();
    let cases = vec![
        post(
            "blank organization name",
            "/v1/organizations",
            json!({"name": " "}),
            422,
            None,
        ),
        post(
            "long organization name",
            "/v1/organizations",
            json!({"name": "o".repeat(121)}),
            422,
            None,
        ),
        post(
            "blank workspace name",
            "/v1/workspaces",
            json!({"organization": s.org, "name": ""}),
            422,
            None,
        ),
        post(
            "control character in a user name",
            "/v1/users",
            json!({"name": "a\nb", "email": "ab@example.com"}),
            422,
            None,
        ),
        post(
            "bad e-mail",
            "/v1/users",
            json!({"name": "A", "email": "not-an-address"}),
            422,
            Some("email"),
        ),
        post(
            "membership in both",
            "/v1/memberships",
            json!({"organization": s.org, "workspace": s.shared, "user": s.member.id, "role": "member"}),
            422,
            Some("organization"),
        ),
        post(
            "membership in neither",
            "/v1/memberships",
            json!({"user": s.member.id, "role": "member"}),
            422,
            Some("organization"),
        ),
        post(
            "organization role that does not exist",
            "/v1/memberships",
            json!({"organization": s.org, "user": s.member.id, "role": "boss"}),
            422,
            Some("role"),
        ),
        post(
            "workspace role that does not exist",
            "/v1/memberships",
            json!({"workspace": s.shared, "user": s.member.id, "role": "owner"}),
            422,
            Some("role"),
        ),
        post(
            "the role the user already has",
            "/v1/memberships",
            json!({"organization": s.org, "user": s.member.id, "role": "member"}),
            422,
            Some("role"),
        ),
        post(
            "members of the organization workspace",
            "/v1/memberships",
            json!({"workspace": s.org_workspace, "user": s.member.id, "role": "viewer"}),
            422,
            Some("workspace"),
        ),
        post(
            "a user who does not exist",
            "/v1/memberships",
            json!({"organization": s.org, "user": ghost, "role": "member"}),
            404,
            Some("user"),
        ),
        post(
            "token kind that does not exist",
            "/v1/tokens",
            json!({"kind": "robot", "label": "x"}),
            422,
            Some("kind"),
        ),
        post(
            "runner without a name",
            "/v1/tokens",
            json!({"kind": "runner", "label": "x"}),
            422,
            Some("name"),
        ),
        post(
            "auditor with a blank name",
            "/v1/tokens",
            json!({"kind": "auditor", "name": "  ", "label": "x"}),
            422,
            Some("name"),
        ),
        post(
            "blank label",
            "/v1/tokens",
            json!({"kind": "user", "label": " "}),
            422,
            Some("label"),
        ),
        post(
            "label of 121",
            "/v1/tokens",
            json!({"kind": "user", "label": "l".repeat(121)}),
            422,
            Some("label"),
        ),
        post(
            "token for a user who does not exist",
            "/v1/tokens",
            json!({"kind": "user", "user": ghost, "label": "x"}),
            404,
            None,
        ),
        post(
            "service only, in an unknown workspace",
            "/v1/services",
            json!({"workspace": ghost, "spec": World::spec()}),
            403,
            Some("workspace"),
        ),
        post(
            "generic service without fields",
            "/v1/services",
            json!({"workspace": s.owner.personal, "spec": {"name": "S", "api_version": "1",
                "auth_kind": "Generic", "fields": [], "scopes": [], "required_scopes": []}}),
            422,
            Some("fields"),
        ),
        post(
            "service with an http URL",
            "/v1/services",
            json!({"workspace": s.owner.personal, "spec": {"name": "S", "api_version": "1",
                "auth_kind": "OAuth2", "fields": [], "scopes": [], "required_scopes": [],
                "oauth": {"authorize_url": "http://a.example/x", "token_url": "https://a.example/t"}}}),
            422,
            Some("oauth.authorize_url"),
        ),
        post(
            "service with an unknown auth kind",
            "/v1/services",
            json!({"workspace": s.owner.personal, "spec": {"name": "S", "api_version": "1",
                "auth_kind": "Magic", "fields": [], "scopes": [], "required_scopes": []}}),
            422,
            Some("spec.auth_kind"),
        ),
        post(
            "service and authentication outside the personal workspace",
            "/v1/services",
            json!({"workspace": s.shared, "spec": World::spec(),
                "authentication": {"name": "A", "fields": {"api_key": "k"}}}),
            422,
            Some("workspace"),
        ),
        post(
            "service and authentication with a blank name",
            "/v1/services",
            json!({"workspace": s.owner.personal, "spec": World::spec(),
                "authentication": {"name": " ", "fields": {"api_key": "k"}}}),
            422,
            Some("name"),
        ),
    ];
    assert_eq!(refuse_all(s, cases).await, 24);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_problems_name_the_request_field() {
    let w = World::new().await;
    let s = &w.s;
    let cases = vec![
        bad(
            "organization",
            Method::POST,
            "/v1/organizations",
            Body::Json(json!({"name": " "})),
            422,
            Some("name"),
        ),
        bad(
            "workspace",
            Method::POST,
            "/v1/workspaces",
            Body::Json(json!({"organization": s.org, "name": ""})),
            422,
            Some("name"),
        ),
        bad(
            "user",
            Method::POST,
            "/v1/users",
            Body::Json(json!({"name": "a\nb", "email": "ab@example.com"})),
            422,
            Some("name"),
        ),
        bad(
            "duplicate workspace",
            Method::POST,
            "/v1/workspaces",
            Body::Json(json!({"organization": s.org, "name": "SALES"})),
            409,
            Some("name"),
        ),
        bad(
            "token for an unknown user",
            Method::POST,
            "/v1/tokens",
            Body::Json(json!({"kind": "user", "user": Uuid::now_v7(), "label": "x"})),
            404,
            Some("user"),
        ),
    ];
    refuse_all(s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_required_fields_are_named() {
    let w = World::new().await;
    let s = &w.s;
    let cases = vec![
        bad(
            "create without service",
            Method::POST,
            "/v1/authentications",
            Body::Json(json!({"name": "x", "workspace": s.owner.personal})),
            422,
            Some("service"),
        ),
        bad(
            "reauthenticate without fields",
            Method::POST,
            format!("{}/reauthenticate", w.auth()),
            Body::Json(json!({})),
            422,
            Some("fields"),
        ),
        bad(
            "resolve without template",
            Method::POST,
            "/v1/resolve",
            Body::Json(json!({"authentication": w.token_auth, "workspace": s.owner.personal})),
            422,
            Some("template"),
        ),
        bad(
            "user without email",
            Method::POST,
            "/v1/users",
            Body::Json(json!({"name": "x"})),
            422,
            Some("email"),
        ),
    ];
    refuse_all(s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_service_specs_reject_unknown_keys_and_bad_field_names() {
    let w = World::new().await;
    let s = &w.s;
    let with = |path: &[&str], value: Value| {
        let mut spec = World::spec();
        let mut at = &mut spec;
        for (n, key) in path.iter().enumerate() {
            if n + 1 == path.len() {
                at[*key] = value.clone();
            } else if let Ok(index) = key.parse::<usize>() {
                at = &mut at[index];
            } else {
                at = &mut at[*key];
            }
        }
        Body::Json(json!({"workspace": s.owner.personal, "spec": spec}))
    };
    let field_name = |name: Value| {
        let mut spec = World::spec();
        spec["fields"][0]["name"] = name;
        Body::Json(json!({"workspace": s.owner.personal, "spec": spec}))
    };
    let cases = vec![
        bad(
            "unknown key in the spec",
            Method::POST,
            "/v1/services",
            with(&["required_scope"], json!(["x"])),
            422,
            Some("spec.required_scope"),
        ),
        bad(
            "unknown key in a field",
            Method::POST,
            "/v1/services",
            with(&["fields", "0", "sekret"], json!(true)),
            422,
            Some("spec.fields[0].sekret"),
        ),
        bad(
            "field name with spaces",
            Method::POST,
            "/v1/services",
            field_name(json!("Bad Name!")),
            422,
            None,
        ),
        bad(
            "empty field name",
            Method::POST,
            "/v1/services",
            field_name(json!("")),
            422,
            None,
        ),
    ];
    refuse_all(s, cases).await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_idempotency_key_with_another_body_is_422() {
    let w = World::new().await;
    let s = &w.s;
    let a = w.auth();
    let firsts = [
        (
            Method::POST,
            "/v1/authentications".to_owned(),
            json!({"name": "Idem", "workspace": s.owner.personal, "service": "airtable", "fields": {"token": "t"}}),
            json!({"name": "Idem 2", "workspace": s.owner.personal, "service": "airtable", "fields": {"token": "t"}}),
        ),
        (
            Method::POST,
            format!("{a}/reauthenticate"),
            json!({"fields": {"token": "idem-1"}}),
            json!({"fields": {"token": "idem-2"}}),
        ),
        (
            Method::PATCH,
            a.clone(),
            json!({"name": "Idem renamed"}),
            json!({"name": "Idem renamed again"}),
        ),
        (
            Method::POST,
            "/v1/users".to_owned(),
            json!({"name": "Idem", "email": "idem@example.com"}),
            json!({"name": "Idem", "email": "idem2@example.com"}),
        ),
        (
            Method::POST,
            "/v1/organizations".to_owned(),
            json!({"name": "Idem org"}),
            json!({"name": "Idem org 2"}),
        ),
    ];
    let mut cases = Vec::new();
    for (n, (method, path, first, second)) in firsts.into_iter().enumerate() {
        let key: &'static str = ["k-create", "k-reauth", "k-rename", "k-user", "k-org"][n];
        let answer = send(
            s,
            None,
            method.clone(),
            &path,
            Body::Json(first.clone()),
            &[("idempotency-key", key)],
        )
        .await;
        assert!(answer.status.is_success(), "{path}: {}", answer.text);
        cases.push(
            bad(
                format!("{key} with another body"),
                method.clone(),
                path.clone(),
                Body::Json(second),
                422,
                Some("idempotency-key"),
            )
            .with("idempotency-key", key),
        );
        // Same key, same body, but malformed JSON bytes: another request, refused.
        cases.push(
            bad(
                format!("{key} with the body's bytes changed"),
                method,
                path,
                Body::Raw(Some(JSON), b"{".to_vec()),
                422,
                Some("idempotency-key"),
            )
            .with("idempotency-key", key),
        );
    }
    let long = "k".repeat(256);
    let long: &str = &long;
    for value in ["", " ", "clé", "a b", long] {
        cases.push(
            bad(
                format!("malformed key {value:?}"),
                Method::POST,
                "/v1/organizations",
                Body::Json(json!({"name": "Keyed"})),
                400,
                Some("idempotency-key"),
            )
            .with("idempotency-key", value),
        );
    }
    assert_eq!(refuse_all(s, cases).await, 15);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_404_problems_and_wrong_methods_405() {
    let w = World::new().await;
    let a = w.auth();
    let cases = vec![
        bad(
            "nothing",
            Method::GET,
            "/v1/nothing",
            Body::None,
            404,
            Some("path"),
        ),
        bad(
            "old version",
            Method::POST,
            "/v2/authentications",
            Body::Json(json!({})),
            404,
            Some("path"),
        ),
        bad("root", Method::GET, "/", Body::None, 404, Some("path")),
        bad(
            "sub-resource",
            Method::POST,
            format!("{a}/verify"),
            Body::None,
            404,
            Some("path"),
        ),
        bad(
            "too deep",
            Method::GET,
            format!("{a}/history/1"),
            Body::None,
            404,
            Some("path"),
        ),
        bad(
            "trailing slash",
            Method::GET,
            "/v1/authentications/",
            Body::None,
            404,
            Some("path"),
        ),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 6);
    for (method, path) in [
        (Method::GET, format!("{a}/purge")),
        (Method::PUT, a.clone()),
        (Method::DELETE, "/v1/users".to_owned()),
        (Method::PATCH, "/v1/resolve".to_owned()),
    ] {
        let head = w.s.head().await;
        let answer = send(&w.s, None, method.clone(), &path, Body::None, &[]).await;
        assert_eq!(answer.status.as_u16(), 405, "{method} {path}");
        assert_eq!(w.s.head().await, head);
    }
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_are_405_problems() {
    let w = World::new().await;
    let cases = vec![
        bad(
            "GET purge",
            Method::GET,
            format!("{}/purge", w.auth()),
            Body::None,
            405,
            None,
        ),
        bad(
            "DELETE users",
            Method::DELETE,
            "/v1/users",
            Body::None,
            405,
            None,
        ),
    ];
    refuse_all(&w.s, cases).await;
    w.s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A seeded random-JSON loop: no bad input may get a 5xx.

const WORDS: [&str; 30] = [
    "",
    "mtls-api",
    "jira",
    "trello",
    "webhook",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
    "99999999999999999",
    " ",
    "x",
    "slack",
    "airtable",
    "custom:",
    "custom:00000000-0000-0000-0000-000000000000",
    "$.auth.token",
    "{$.auth.",
    "{$.auth.token}",
    "owner",
    "admin",
    "viewer",
    "runner",
    "user",
    "2030-01-01T00:00:00Z",
    "-1",
    "0",
    "\u{0}",
    "\u{7}\n\t",
    "\u{200B}",
    "é🚀",
    "\"}{",
    "null",
];

const KEYS: [&str; 26] = [
    "name",
    "workspace",
    "service",
    "fields",
    "token",
    "scopes",
    "extra_permissions",
    "environment",
    "workflow",
    "workflow_id",
    "step_id",
    "version",
    "as_of",
    "authentication",
    "template",
    "user",
    "organization",
    "role",
    "kind",
    "label",
    "email",
    "spec",
    "auth_kind",
    "access_token",
    "colour",
    "",
];

fn random_string(rng: &mut StdRng, ids: &[String]) -> String {
    match rng.gen_range(0..6) {
        0 => WORDS[rng.gen_range(0..WORDS.len())].to_owned(),
        1 => ids[rng.gen_range(0..ids.len())].clone(),
        2 => Uuid::from_u128(rng.gen()).to_string(),
        3 => "z".repeat(rng.gen_range(100..300)),
        4 => (0..rng.gen_range(0..12))
            .map(|_| char::from_u32(rng.gen_range(0..0x800)).unwrap_or('?'))
            .collect(),
        _ => format!(
            "{}{}",
            WORDS[rng.gen_range(0..WORDS.len())],
            rng.gen::<u32>()
        ),
    }
}

fn random_value(rng: &mut StdRng, ids: &[String], depth: u32) -> Value {
    let top = if depth >= 3 { 6 } else { 8 };
    match rng.gen_range(0..top) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(rng.gen_range(-3i64..5)),
        4 => json!(rng.gen::<f64>() * 1e6),
        5 => json!(random_string(rng, ids)),
        6 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, ids, depth + 1))
                .collect(),
        ),
        _ => random_object(rng, ids, depth + 1),
    }
}

fn random_object(rng: &mut StdRng, ids: &[String], depth: u32) -> Value {
    let mut map = Map::new();
    for _ in 0..rng.gen_range(0..5) {
        let key = if rng.gen_bool(0.8) {
            KEYS[rng.gen_range(0..KEYS.len())].to_owned()
        } else {
            random_string(rng, ids)
        };
        map.insert(key, random_value(rng, ids, depth));
    }
    Value::Object(map)
}

/// A valid body with one part changed at random, or a random value altogether.
fn mutate(rng: &mut StdRng, ids: &[String], valid: &Value) -> Value {
    let mut body = valid.clone();
    match rng.gen_range(0..5) {
        0 => random_value(rng, ids, 0),
        1 => {
            if let Some(map) = body.as_object_mut() {
                let keys: Vec<String> = map.keys().cloned().collect();
                if !keys.is_empty() {
                    map.remove(&keys[rng.gen_range(0..keys.len())]);
                }
            }
            body
        }
        2 => {
            let key = KEYS[rng.gen_range(0..KEYS.len())];
            body[key] = random_value(rng, ids, 1);
            body
        }
        _ => {
            replace_inside(rng, ids, &mut body);
            body
        }
    }
}

/// Replaces a value somewhere inside (the value itself, or a descendant).
fn replace_inside(rng: &mut StdRng, ids: &[String], value: &mut Value) {
    let children = match value {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if children == 0 || !rng.gen_bool(0.6) {
        *value = random_value(rng, ids, 1);
        return;
    }
    let n = rng.gen_range(0..children);
    let child = match value {
        Value::Object(map) => map.values_mut().nth(n),
        Value::Array(items) => items.get_mut(n),
        _ => None,
    };
    if let Some(child) = child {
        replace_inside(rng, ids, child);
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn check_no_5xx(label: &str, answer: &Answer) {
    let status = answer.status.as_u16();
    assert!(status < 500, "{label}: {status} {}", answer.text);
    if status >= 400 && status != 405 {
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some(PROBLEM),
            "{label}: {status} {}",
            answer.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_random_bodies_per_write_endpoint_never_get_a_5xx() {
    const ROUNDS: usize = 200;
    let w = World::new().await;
    let s = &w.s;
    let ids = vec![
        s.owner.id.clone(),
        s.member.id.clone(),
        s.owner.personal.clone(),
        s.shared.clone(),
        s.org_workspace.clone(),
        s.org.clone(),
        w.token_auth.clone(),
        w.slack_auth.clone(),
    ];
    let mut rng = StdRng::seed_from_u64(0x00C0_FFEE);
    let mut statuses = std::collections::BTreeMap::new();
    let mut sent = 0;
    for (label, method, path, valid, _, _) in w.json_endpoints() {
        for round in 0..ROUNDS {
            let body = if round % 20 == 19 {
                // Now and then, bytes that are not JSON at all.
                let bytes: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
                Body::Raw(Some(JSON), bytes)
            } else {
                Body::Json(mutate(&mut rng, &ids, &valid))
            };
            let answer = send(s, None, method.clone(), &path, body, &[]).await;
            check_no_5xx(&format!("{label} round {round}"), &answer);
            *statuses.entry(answer.status.as_u16()).or_insert(0) += 1;
            sent += 1;
        }
    }
    // The body-less writes: random ids in the path and random If-Match values.
    for round in 0..ROUNDS {
        let id = if rng.gen_bool(0.5) {
            percent_encode(&random_string(&mut rng, &ids))
        } else {
            Uuid::from_u128(rng.gen()).to_string()
        };
        let if_match = format!("\"{}\"", rng.gen_range(0..4u8));
        for (method, path) in [
            (Method::DELETE, format!("/v1/authentications/{id}")),
            (Method::POST, format!("/v1/authentications/{id}/purge")),
            (Method::DELETE, format!("/v1/tokens/{id}")),
        ] {
            let answer = send(
                s,
                None,
                method.clone(),
                &path,
                Body::Raw(Some(JSON), b"{}".to_vec()),
                &[("if-match", &if_match)],
            )
            .await;
            check_no_5xx(&format!("{method} {path} round {round}"), &answer);
            *statuses.entry(answer.status.as_u16()).or_insert(0) += 1;
            sent += 1;
        }
    }
    assert_eq!(sent, ROUNDS * 14);
    // The loop reached past the JSON layer, into the rules.
    assert!(statuses.keys().any(|&c| c == 422), "{statuses:?}");
    assert!(statuses.keys().any(|&c| c == 400), "{statuses:?}");
    assert!(statuses.keys().any(|&c| c == 404), "{statuses:?}");
    w.s.stop().await;
}
