//! The harness of the bad-input suites (`tests/bad_input_*.rs`, one per endpoint family): a
//! server with two authentications to act on, requests, and named case tables of
//! `(case name, request, status, problem type, field)` that [`refuse_all`] sends and checks.
//! Every case must be an exact 4xx `application/problem+json` of its problem type, naming the
//! offending field where there is one, and write no event (the ledger head from `/metrics`
//! does not move). Included with `mod bad_input_support;` after `mod http_support;`.

#![allow(dead_code)] // Each suite uses a different part of the harness.

use std::fmt::Display;

use reqwest::Method;
use serde_json::{json, Value};

use super::http_support::request::{JSON, PROBLEM};
use super::http_support::{Answer, Body, Server};

/// The server's body limit.
pub const LIMIT: usize = 64 * 1024;

/// The base of every problem type (an `https://` URL); a problem type is named by its last
/// segment.
pub const PROBLEM_TYPES: &str = "https://credledger.dev/problems/";
pub const BAD_REQUEST: &str = "bad-request";
pub const FORBIDDEN: &str = "forbidden";
pub const NOT_FOUND: &str = "not-found";
pub const METHOD_NOT_ALLOWED: &str = "method-not-allowed";
pub const CONFLICT: &str = "conflict";
pub const DUPLICATE_NAME: &str = "duplicate-name";
pub const VERSION_MISMATCH: &str = "version-mismatch";
pub const PAYLOAD_TOO_LARGE: &str = "payload-too-large";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported-media-type";
pub const VALIDATION: &str = "validation";

/// A request of a case, sent as the owner (org owner, bootstrap administrator).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>, body: Body) -> Request {
        Request {
            method,
            path: path.into(),
            body,
            headers: Vec::new(),
        }
    }

    /// A `GET` without a body.
    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path, Body::None)
    }

    /// A `DELETE` without a body.
    pub fn delete(path: impl Into<String>) -> Request {
        Request::new(Method::DELETE, path, Body::None)
    }

    /// A `POST` of a JSON body.
    pub fn post(path: impl Into<String>, body: Value) -> Request {
        Request::new(Method::POST, path, Body::Json(body))
    }

    /// A `PATCH` of a JSON body.
    pub fn patch(path: impl Into<String>, body: Value) -> Request {
        Request::new(Method::PATCH, path, Body::Json(body))
    }

    /// The same request with raw bytes as its body, of a content type (or none).
    pub fn raw(self, content_type: Option<&'static str>, bytes: Vec<u8>) -> Request {
        Request {
            body: Body::Raw(content_type, bytes),
            ..self
        }
    }

    /// The same request with one more header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }

    /// Sends the request as the owner.
    pub async fn send(&self, s: &Server) -> Answer {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        s.request(
            self.method.clone(),
            &self.path,
            Some(&s.owner.token),
            self.body.clone(),
            &headers,
        )
        .await
    }
}

/// One named case: the request, the status and problem type it must get, and the `field` of
/// the problem (`None`: not checked).
pub type Case<N> = (N, Request, u16, &'static str, Option<&'static str>);

/// Sends each case and checks, with the case's name in every message: the exact status, a
/// problem+json body agreeing with it, of the case's problem type, the field, and that no
/// event was written (but the access record of a refused attempt). Answers how many cases ran.
pub async fn refuse_all<N: Display>(s: &Server, cases: impl IntoIterator<Item = Case<N>>) -> usize {
    let mut count = 0;
    for (name, request, status, problem, field) in cases {
        let head = s.head().await;
        let answer = request.send(s).await;
        let label = format!("{name} ({} {})", request.method, request.path);
        assert_eq!(answer.status.as_u16(), status, "{label}: {}", answer.text);
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some(PROBLEM),
            "{label}: {}",
            answer.text
        );
        assert_eq!(answer.body["status"], status, "{label}");
        assert_eq!(
            answer.body["type"],
            format!("{PROBLEM_TYPES}{problem}"),
            "{label}: {}",
            answer.text
        );
        if let Some(field) = field {
            assert_eq!(answer.body["field"], field, "{label}: {}", answer.text);
        }
        // A 403 on a credential is a refused attempt: its access record (and nothing else)
        // is written. Every other refusal writes nothing.
        let recorded = u64::from(status == 403);
        let after = s.head().await;
        assert!(
            after == head || after == head + recorded,
            "{label}: no event may be written (head {head} -> {after})"
        );
        count += 1;
    }
    count
}

/// An endpoint with a JSON body: its name, method and path, a valid body (to which an unknown
/// field is added), and a body with a wrong type with the field it names.
pub struct JsonEndpoint {
    pub name: &'static str,
    pub method: Method,
    pub path: String,
    pub valid: Value,
    pub wrong_type: Value,
    pub wrong_field: &'static str,
}

impl JsonEndpoint {
    /// A request to the endpoint with this body.
    pub fn with(&self, body: Body) -> Request {
        Request::new(self.method.clone(), self.path.clone(), body)
    }
}

/// A server with what the cases act on: an active Airtable (Token) authentication at version
/// 2 (created, re-authenticated; each with its verification record, off in tests, so at
/// version 4 of its history), and a Slack (OAuth2) one.
pub struct TargetServer {
    pub s: Server,
    pub token_auth: String,
    pub slack_auth: String,
}

impl TargetServer {
    pub async fn new() -> TargetServer {
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
            .create_personal("slack", json!({"access_token": "xoxb-1"}))
            .await;
        TargetServer {
            s,
            token_auth,
            slack_auth,
        }
    }

    /// The path of the Airtable authentication.
    pub fn auth(&self) -> String {
        format!("/v1/authentications/{}", self.token_auth)
    }

    /// A valid custom service spec.
    pub fn spec() -> Value {
        json!({"name": "Internal API", "api_version": "1", "auth_kind": "Generic",
            "fields": [{"name": "api_key", "secret": true, "required": true,
                "format": "Text", "description": "key"}],
            "scopes": [], "required_scopes": []})
    }

    /// Every endpoint with a JSON body.
    pub fn json_endpoints(&self) -> Vec<JsonEndpoint> {
        let s = &self.s;
        let auth = self.auth();
        let personal = s.owner.personal.clone();
        let endpoint = |name, method, path: String, valid, wrong_type, wrong_field| JsonEndpoint {
            name,
            method,
            path,
            valid,
            wrong_type,
            wrong_field,
        };
        vec![
            endpoint(
                "create",
                Method::POST,
                "/v1/authentications".to_owned(),
                json!({"name": "New one", "workspace": personal, "service": "airtable", "fields": {"token": "t"}}),
                json!({"name": "New one", "workspace": personal, "service": "airtable", "fields": {"token": 7}}),
                "fields.token",
            ),
            endpoint(
                "rename",
                Method::PATCH,
                auth.clone(),
                json!({"name": "Renamed"}),
                json!({"name": ["Renamed"]}),
                "name",
            ),
            endpoint(
                "reauthenticate",
                Method::POST,
                format!("{auth}/reauthenticate"),
                json!({"fields": {"token": "t-3"}}),
                json!({"fields": {"token": true}}),
                "fields.token",
            ),
            endpoint(
                "restore",
                Method::POST,
                format!("{auth}/restore"),
                json!({"version": 1}),
                json!({"version": "1"}),
                "version",
            ),
            endpoint(
                "services",
                Method::POST,
                "/v1/services".to_owned(),
                json!({"workspace": personal, "spec": TargetServer::spec()}),
                json!({"workspace": 42, "spec": TargetServer::spec()}),
                "workspace",
            ),
            endpoint(
                "organizations",
                Method::POST,
                "/v1/organizations".to_owned(),
                json!({"name": "Second org"}),
                json!({"name": {"en": "Second org"}}),
                "name",
            ),
            endpoint(
                "workspaces",
                Method::POST,
                "/v1/workspaces".to_owned(),
                json!({"organization": s.org, "name": "Support"}),
                json!({"organization": "not-a-uuid", "name": "Support"}),
                "organization",
            ),
            endpoint(
                "users",
                Method::POST,
                "/v1/users".to_owned(),
                json!({"name": "Zed", "email": "zed@example.com"}),
                json!({"name": "Zed", "email": null}),
                "email",
            ),
            endpoint(
                "memberships",
                Method::POST,
                "/v1/memberships".to_owned(),
                json!({"workspace": s.shared, "user": s.member.id, "role": "viewer"}),
                json!({"workspace": s.shared, "user": s.member.id, "role": 3}),
                "role",
            ),
            endpoint(
                "tokens",
                Method::POST,
                "/v1/tokens".to_owned(),
                json!({"kind": "user", "label": "ci"}),
                json!({"kind": "user", "label": "ci", "user": 12}),
                "user",
            ),
            endpoint(
                "resolve",
                Method::POST,
                "/v1/resolve".to_owned(),
                json!({"authentication": self.token_auth, "workspace": personal, "template": "$.auth.token"}),
                json!({"authentication": "nope", "workspace": personal, "template": "$.auth.token"}),
                "authentication",
            ),
        ]
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.s.stop().await;
    }
}

/// Raw bytes as a JSON body.
pub fn json_bytes(bytes: &[u8]) -> Body {
    Body::Raw(Some(JSON), bytes.to_vec())
}
