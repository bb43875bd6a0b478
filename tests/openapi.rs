//! The OpenAPI document: `docs/openapi.json` is the generated document, the server serves it at
//! `GET /openapi.json`, every route of the router is documented with its methods and the
//! right security, and real answers match the documented statuses, headers and schemas.
//!
//! After changing the API, refresh the kept document with
//! `UPDATE_OPENAPI=1 cargo test --test openapi`.

mod http_support;

use std::collections::BTreeSet;

use credledger::http::openapi::document;
use http_support::request::JSON;
use http_support::{Answer, Body, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// The kept document.
const DOC_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

/// Every route of `credledger::http::router` (`src/http/mod.rs`), with its methods.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/authentications"),
    ("GET", "/v1/authentications"),
    ("GET", "/v1/authentications/{id}"),
    ("PATCH", "/v1/authentications/{id}"),
    ("DELETE", "/v1/authentications/{id}"),
    ("GET", "/v1/authentications/{id}/history"),
    ("POST", "/v1/authentications/{id}/reauthenticate"),
    ("POST", "/v1/authentications/{id}/restore"),
    ("POST", "/v1/authentications/{id}/purge"),
    ("POST", "/v1/resolve"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/workspaces/{id}/authentications"),
    ("GET", "/v1/authentications/{id}/usable-by"),
    ("POST", "/v1/oauth/authorize"),
    ("GET", "/v1/oauth/callback"),
    ("GET", "/v1/services"),
    ("POST", "/v1/services"),
    ("GET", "/v1/services/{id}"),
    ("PATCH", "/v1/services/{id}"),
    ("POST", "/v1/services/{id}/retire"),
    ("PUT", "/v1/services/{id}/oauth-client"),
    ("GET", "/v1/organizations"),
    ("POST", "/v1/organizations"),
    ("GET", "/v1/workspaces"),
    ("POST", "/v1/workspaces"),
    ("GET", "/v1/users"),
    ("POST", "/v1/users"),
    ("GET", "/v1/memberships"),
    ("POST", "/v1/memberships"),
    ("GET", "/v1/tokens"),
    ("POST", "/v1/tokens"),
    ("DELETE", "/v1/tokens/{id}"),
    ("POST", "/v1/checkpoints"),
    ("GET", "/v1/checkpoints/latest"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn generated() -> Value {
    serde_json::from_str(&document()).expect("the generated document is JSON")
}

fn listed_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

/// The first place where two JSON values differ, as a JSON pointer.
fn first_difference(kept: &Value, generated: &Value, at: &str) -> Option<String> {
    match (kept, generated) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => first_difference(x, y, &here),
                    _ => Some(here),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{at}/{i}"))),
        _ => (kept != generated).then(|| at.to_owned()),
    }
}

#[test]
fn docs_openapi_json_is_the_generated_document() {
    let text = document();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(DOC_FILE, format!("{text}\n")).expect("write docs/openapi.json");
        return;
    }
    let generated = generated();
    let kept: Value = std::fs::read_to_string(DOC_FILE)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    if let Some(at) = first_difference(&kept, &generated, "") {
        let place = if kept.is_null() {
            "the file is missing or not JSON".to_owned()
        } else {
            format!("first difference at {at:?}")
        };
        panic!(
            "docs/openapi.json is not the generated OpenAPI document ({place}).\n\
             Regenerate it with: UPDATE_OPENAPI=1 cargo test --test openapi"
        );
    }
}

/// The `(METHOD, path)` pairs of the `.route(…)` calls in the source of `router()`.
fn routes_in_source(source: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (start, _) in source.match_indices(".route(") {
        let rest = &source[start + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .expect("balanced parentheses");
        let call = &rest[..end];
        let path = call
            .split('"')
            .nth(1)
            .expect("a route path literal")
            .to_owned();
        for method in METHODS {
            let needle = format!("{method}(");
            let called = call.match_indices(&needle).any(|(i, _)| {
                !call[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if called {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// The `(METHOD, path)` operations of a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[test]
fn every_route_of_the_router_is_documented_with_its_methods() {
    let in_router = routes_in_source(include_str!("../src/http/mod.rs"));
    let listed = listed_routes();
    assert_eq!(
        in_router.difference(&listed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes of router() missing from ROUTES in tests/openapi.rs"
    );
    assert_eq!(
        listed.difference(&in_router).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "ROUTES in tests/openapi.rs lists routes router() does not have"
    );
    let documented = operations(&generated());
    assert_eq!(
        listed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes without a #[utoipa::path] in ApiDoc"
    );
    assert_eq!(
        documented.difference(&listed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented operations the router does not have"
    );
}

#[test]
fn v1_operations_need_the_bearer_token_and_the_others_do_not() {
    let doc = generated();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path) in ROUTES {
        let operation = &doc["paths"][path][method.to_lowercase()];
        let security = operation.get("security").cloned().unwrap_or(Value::Null);
        if path.starts_with("/v1/") {
            assert_eq!(security, json!([{"bearer": []}]), "{method} {path}");
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} documents no 401"
            );
        } else {
            assert_eq!(security, Value::Null, "{method} {path}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real answers against the document.
// ---------------------------------------------------------------------------------------------

/// Headers that, when an answer carries them, its documented response must describe.
const DOCUMENTED_HEADERS: [&str; 6] = [
    "etag",
    "location",
    "idempotent-replayed",
    "cache-control",
    "www-authenticate",
    "x-request-id",
];

struct Checker {
    doc: Value,
    /// `METHOD path status` of every checked answer.
    seen: BTreeSet<String>,
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

impl Checker {
    fn new() -> Checker {
        Checker {
            doc: generated(),
            seen: BTreeSet::new(),
        }
    }

    fn lookup<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').expect("local reference");
                self.lookup(self.doc.pointer(pointer).expect("reference resolves"))
            }
            None => value,
        }
    }

    /// Checks an answer of `method template` against the documented response of its status.
    fn check(&mut self, method: &str, template: &str, answer: &Answer) {
        let operation = &self.doc["paths"][template][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let status = answer.status.as_u16().to_string();
        let response = self.lookup(&operation["responses"][&status]);
        assert!(
            response.is_object(),
            "{method} {template} answered {status}, which is not documented: {}",
            answer.text
        );
        for name in DOCUMENTED_HEADERS {
            if answer.headers.contains_key(name) {
                let documented = response["headers"]
                    .as_object()
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name)));
                assert!(
                    documented,
                    "{method} {template} {status}: header {name} is not documented"
                );
            }
        }
        let content_type = answer.header("content-type").unwrap_or_default();
        match response.get("content").and_then(Value::as_object) {
            None => assert!(
                answer.text.is_empty(),
                "{method} {template} {status}: documented without a body, answered {}",
                answer.text
            ),
            Some(contents) => {
                let media = contents
                    .iter()
                    .find(|(k, _)| essence(k) == essence(&content_type))
                    .map(|(_, v)| v)
                    .unwrap_or_else(|| {
                        panic!(
                            "{method} {template} {status}: content type {content_type:?} is not \
                             documented (documented: {:?})",
                            contents.keys().collect::<Vec<_>>()
                        )
                    });
                let value = if essence(&content_type).ends_with("json") {
                    answer.body.clone()
                } else {
                    Value::String(answer.text.clone())
                };
                let mut errors = Vec::new();
                self.validate(&media["schema"], &value, "$", &mut errors);
                assert!(
                    errors.is_empty(),
                    "{method} {template} {status}: the answer does not match the documented \
                     schema:\n  {}\nanswer: {}",
                    errors.join("\n  "),
                    answer.text
                );
            }
        }
        self.seen.insert(format!("{method} {template} {status}"));
    }

    /// A small JSON Schema check: `$ref`, `oneOf`, `type`, `enum`, `required`, `properties`
    /// (closed: undocumented properties are errors), `additionalProperties`, `items`,
    /// `minimum`, and the `uuid` and `date-time` formats.
    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.lookup(schema);
        if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = alternatives
                .iter()
                .filter(|alternative| {
                    let mut inner = Vec::new();
                    self.validate(alternative, value, at, &mut inner);
                    inner.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!(
                    "{at}: {value} matches {matching} of the oneOf alternatives"
                ));
            }
            return;
        }
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let actual = type_of(value);
            if !(allowed.contains(&actual) || actual == "integer" && allowed.contains(&"number")) {
                errors.push(format!("{at}: a {actual}, documented as {allowed:?}"));
                return;
            }
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
            if !choices.contains(value) {
                errors.push(format!("{at}: {value} is not one of {choices:?}"));
            }
        }
        match value {
            Value::Object(map) => {
                for required in schema["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if !map.contains_key(name) {
                        errors.push(format!("{at}: required property {name} is missing"));
                    }
                }
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties");
                for (name, item) in map {
                    let here = format!("{at}.{name}");
                    match (properties.and_then(|p| p.get(name)), additional) {
                        (Some(property), _) => self.validate(property, item, &here, errors),
                        (None, Some(extra)) if extra.is_object() => {
                            self.validate(extra, item, &here, errors)
                        }
                        (None, Some(Value::Bool(true))) => {}
                        (None, None) if properties.is_none() => {}
                        _ => errors.push(format!("{here}: the property is not documented")),
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(item_schema, item, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            Value::String(text) => match schema.get("format").and_then(Value::as_str) {
                Some("uuid") if text.parse::<uuid::Uuid>().is_err() => {
                    errors.push(format!("{at}: {text:?} is not a UUID"))
                }
                Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                    errors.push(format!("{at}: {text:?} is not an RFC 3339 date-time"))
                }
                _ => {}
            },
            Value::Number(n) => {
                if let (Some(min), Some(v)) =
                    (schema.get("minimum").and_then(Value::as_f64), n.as_f64())
                {
                    if v < min {
                        errors.push(format!("{at}: {v} is below the minimum {min}"));
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn the_schema_check_refuses_what_the_document_does_not_say() {
    let c = Checker::new();
    let authentication = json!({"$ref": "#/components/schemas/Authentication"});
    let id = uuid::Uuid::now_v7().to_string();
    let good = json!({
        "id": id, "name": "n", "workspace": id, "workspace_name": "Sales", "service": "jira", "service_version": "3",
        "kind": "Basic", "environment": null, "scopes": [], "extra_permissions": [],
        "lifecycle": "active", "needs_reauthorization": false, "secrets_destroyed": false, "version": 1,
        "fields": {
            "site": {"type": "plain", "value": "acme.atlassian.net", "changed_at_version": 1},
            "password": {"type": "secret", "set": true, "fingerprint": "fp:0011223344556677", "changed_at_version": 1},
        },
        "expires_at": null, "created_at": "2025-01-31T09:30:00.123456Z", "updated_at": "2025-01-31T09:30:00.123456Z",
    });
    let mut errors = Vec::new();
    c.validate(&authentication, &good, "$", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    for (pointer, wrong) in [
        ("/created_at", json!(1_738_315_800_123_456_i64)),
        ("/id", json!("not-a-uuid")),
        ("/kind", json!("Kerberos")),
        ("/fields/site/type", json!("hidden")),
        ("/version", json!(-1)),
    ] {
        let mut bad = good.clone();
        *bad.pointer_mut(pointer).expect("pointer") = wrong;
        let mut errors = Vec::new();
        c.validate(&authentication, &bad, "$", &mut errors);
        assert!(!errors.is_empty(), "{pointer} was not refused");
    }
    let mut extra = good.clone();
    extra["secret_value"] = json!("s3cr3t");
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("lifecycle");
    for bad in [extra, missing] {
        let mut errors = Vec::new();
        c.validate(&authentication, &bad, "$", &mut errors);
        assert!(!errors.is_empty(), "{bad} was not refused");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_document_and_answers_every_route() {
    let s = Server::start().await;
    let served = s
        .call_with(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(200);
    assert_eq!(
        essence(&served.header("content-type").unwrap_or_default()),
        "application/json"
    );
    assert!(
        served.body == generated(),
        "GET /openapi.json is not the generated document"
    );
    // Every listed route exists with its method: /v1 ones ask for a token, the others answer.
    let some_id = uuid::Uuid::now_v7().to_string();
    for (method, template) in ROUTES {
        let path = template.replace("{id}", &some_id);
        let method: Method = method.parse().expect("method");
        let answer = s.call_with(method.clone(), &path, None, None, &[]).await;
        if template.starts_with("/v1/") {
            assert_eq!(
                answer.status.as_u16(),
                401,
                "{method} {path}: {}",
                answer.text
            );
            assert_eq!(
                answer.header("content-type").as_deref(),
                Some("application/problem+json")
            );
            assert!(answer.header("www-authenticate").is_some());
        } else {
            assert_eq!(
                answer.status.as_u16(),
                200,
                "{method} {path}: {}",
                answer.text
            );
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_documented_schemas() {
    let s = Server::start().await;
    let mut c = Checker::new();
    let owner = s.owner.token.clone();
    let me = s.owner.personal.clone();

    // --- authentications: a full life, with plain and secret fields and an expiry ---
    let created = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&owner),
            Some(json!({
                "name": "Salesforce main",
                "workspace": me,
                "service": "salesforce",
                "fields": {
                    "domain": "acme.my.salesforce.com",
                    "access_token": "at-1",
                    "refresh_token": "rt-1",
                    "expires_at": "2030-01-01T00:00:00Z",
                },
                "scopes": ["api"],
                "environment": "production",
            })),
            &[("idempotency-key", "openapi-create-1")],
        )
        .await
        .expect(201);
    c.check("POST", "/v1/authentications", &created);
    let replayed = s
        .call_with(
            Method::POST,
            "/v1/authentications",
            Some(&owner),
            Some(json!({
                "name": "Salesforce main",
                "workspace": me,
                "service": "salesforce",
                "fields": {
                    "domain": "acme.my.salesforce.com",
                    "access_token": "at-1",
                    "refresh_token": "rt-1",
                    "expires_at": "2030-01-01T00:00:00Z",
                },
                "scopes": ["api"],
                "environment": "production",
            })),
            &[("idempotency-key", "openapi-create-1")],
        )
        .await
        .expect(201);
    assert_eq!(
        replayed.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    c.check("POST", "/v1/authentications", &replayed);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let one = format!("/v1/authentications/{id}");
    let item = "/v1/authentications/{id}";
    let jira = s
        .create(
            &s.owner,
            &me,
            "jira",
            json!({"username": "ann", "password": "pw-1", "site": "acme.atlassian.net"}),
        )
        .await;

    let got = s.call(Method::GET, &one, &owner, None).await.expect(200);
    c.check("GET", item, &got);
    let page = s
        .call(
            Method::GET,
            "/v1/authentications?limit=1&include_deleted=true",
            &owner,
            None,
        )
        .await
        .expect(200);
    assert!(page.body["next_cursor"].is_string());
    c.check("GET", "/v1/authentications", &page);
    let renamed = s
        .call_with(
            Method::PATCH,
            &one,
            Some(&owner),
            Some(json!({"name": "Salesforce renamed"})),
            // Created and its (not-)verification record: version 2.
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(200);
    c.check("PATCH", item, &renamed);
    let stale = s
        .call_with(
            Method::PATCH,
            &one,
            Some(&owner),
            Some(json!({"name": "Salesforce again"})),
            &[("if-match", "\"2\"")],
        )
        .await
        .expect(412);
    c.check("PATCH", item, &stale);
    let reauth = s
        .call(
            Method::POST,
            &format!("{one}/reauthenticate"),
            &owner,
            Some(json!({"fields": {"access_token": "at-2"}})),
        )
        .await
        .expect(200);
    c.check("POST", "/v1/authentications/{id}/reauthenticate", &reauth);
    let resolved = s
        .call(
            Method::POST,
            "/v1/resolve",
            &owner,
            Some(json!({
                "authentication": id,
                "workspace": me,
                "template": {"authorization": "Bearer {$.auth.access_token}", "host": "$.auth.domain"},
            })),
        )
        .await
        .expect(200);
    c.check("POST", "/v1/resolve", &resolved);
    let deleted = s.call(Method::DELETE, &one, &owner, None).await.expect(200);
    c.check("DELETE", item, &deleted);
    let restored = s
        .call(
            Method::POST,
            &format!("{one}/restore"),
            &owner,
            Some(json!({"version": 3})),
        )
        .await
        .expect(200);
    c.check("POST", "/v1/authentications/{id}/restore", &restored);
    let old = s
        .call(Method::GET, &format!("{one}?version=1"), &owner, None)
        .await
        .expect(200);
    c.check("GET", item, &old);
    let active = s
        .call(Method::POST, &format!("{one}/purge"), &owner, None)
        .await
        .expect(409);
    c.check("POST", "/v1/authentications/{id}/purge", &active);
    s.call(Method::DELETE, &one, &owner, None).await.expect(200);
    let purged = s
        .call(Method::POST, &format!("{one}/purge"), &owner, None)
        .await
        .expect(200);
    c.check("POST", "/v1/authentications/{id}/purge", &purged);
    let history = s
        .call(Method::GET, &format!("{one}/history"), &owner, None)
        .await
        .expect(200);
    assert_eq!(history.body.as_array().map(Vec::len), Some(9));
    c.check("GET", "/v1/authentications/{id}/history", &history);
    let gone = s
        .call(
            Method::POST,
            &format!("{one}/reauthenticate"),
            &owner,
            Some(json!({"fields": {"access_token": "at-3"}})),
        )
        .await
        .expect(410);
    c.check("POST", "/v1/authentications/{id}/reauthenticate", &gone);
    let jira_path = format!("/v1/authentications/{jira}");
    let jira_history = s
        .call(Method::GET, &format!("{jira_path}/history"), &owner, None)
        .await
        .expect(200);
    c.check("GET", "/v1/authentications/{id}/history", &jira_history);

    // --- problems ---
    let missing = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{}", uuid::Uuid::now_v7()),
            &owner,
            None,
        )
        .await
        .expect(404);
    c.check("GET", item, &missing);
    let bad_id = s
        .call(Method::GET, "/v1/authentications/not-a-uuid", &owner, None)
        .await
        .expect(400);
    c.check("GET", item, &bad_id);
    let anonymous = s
        .call_with(Method::GET, "/v1/authentications", None, None, &[])
        .await
        .expect(401);
    c.check("GET", "/v1/authentications", &anonymous);
    let auditor = s
        .call(Method::GET, "/v1/authentications", &s.auditor_token, None)
        .await
        .expect(403);
    c.check("GET", "/v1/authentications", &auditor);
    let invalid = s
        .call(
            Method::POST,
            "/v1/authentications",
            &owner,
            Some(json!({"name": "x", "workspace": me, "service": "jira", "environment": "no spaces"})),
        )
        .await
        .expect(422);
    assert!(invalid.body["field"].is_string());
    c.check("POST", "/v1/authentications", &invalid);
    for expected in [201, 409] {
        let twice = s
            .call(
                Method::POST,
                "/v1/authentications",
                &owner,
                Some(json!({
                    "name": "Jira twice",
                    "workspace": me,
                    "service": "jira",
                    "fields": {"username": "bo", "password": "pw", "site": "acme.atlassian.net"},
                })),
            )
            .await
            .expect(expected);
        c.check("POST", "/v1/authentications", &twice);
    }
    let raw = |content_type, bytes: &[u8]| Body::Raw(content_type, bytes.to_vec());
    let malformed = s
        .request(
            Method::POST,
            "/v1/authentications",
            Some(&owner),
            raw(Some(JSON), b"{not json"),
            &[],
        )
        .await;
    assert_eq!(malformed.status.as_u16(), 400, "{}", malformed.text);
    c.check("POST", "/v1/authentications", &malformed);
    let not_json = s
        .request(
            Method::POST,
            "/v1/authentications",
            Some(&owner),
            raw(None, b"{}"),
            &[],
        )
        .await;
    assert_eq!(not_json.status.as_u16(), 415, "{}", not_json.text);
    c.check("POST", "/v1/authentications", &not_json);
    let oversize = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
    let huge = s
        .request(
            Method::POST,
            "/v1/authentications",
            Some(&owner),
            raw(Some(JSON), oversize.as_bytes()),
            &[],
        )
        .await;
    assert_eq!(huge.status.as_u16(), 413, "{}", huge.text);
    c.check("POST", "/v1/authentications", &huge);

    // --- services ---
    let services = s
        .call(Method::GET, "/v1/services", &owner, None)
        .await
        .expect(200);
    c.check("GET", "/v1/services", &services);
    let spec = json!({
        "name": "Acme API",
        "api_version": "1",
        "auth_kind": "Generic",
        "fields": [{"name": "api_key", "secret": true, "required": true, "format": "Text", "description": "API key"}],
        "scopes": [],
        "required_scopes": [],
    });
    let service = s
        .call(
            Method::POST,
            "/v1/services",
            &owner,
            Some(json!({"workspace": me, "spec": spec})),
        )
        .await
        .expect(201);
    c.check("POST", "/v1/services", &service);
    let with_auth = s
        .call(
            Method::POST,
            "/v1/services",
            &owner,
            Some(json!({"workspace": me, "spec": spec, "authentication": {"name": "Acme", "fields": {"api_key": "k-1"}}})),
        )
        .await
        .expect(201);
    c.check("POST", "/v1/services", &with_auth);
    let custom = service.body["service"]
        .as_str()
        .expect("service")
        .to_owned();
    let one = s
        .call(Method::GET, &format!("/v1/services/{custom}"), &owner, None)
        .await
        .expect(200);
    c.check("GET", "/v1/services/{id}", &one);
    let slack = s
        .call(Method::GET, "/v1/services/slack", &owner, None)
        .await
        .expect(200);
    c.check("GET", "/v1/services/{id}", &slack);
    let missing = s
        .call(
            Method::GET,
            &format!("/v1/services/custom:{}", uuid::Uuid::now_v7()),
            &owner,
            None,
        )
        .await
        .expect(404);
    c.check("GET", "/v1/services/{id}", &missing);
    let mut changed_spec = spec.clone();
    changed_spec["api_version"] = json!("2");
    let changed = s
        .call_with(
            Method::PATCH,
            &format!("/v1/services/{custom}"),
            Some(&owner),
            Some(changed_spec.clone()),
            &[
                ("if-match", "\"1\""),
                ("idempotency-key", "openapi-service-1"),
            ],
        )
        .await
        .expect(200);
    c.check("PATCH", "/v1/services/{id}", &changed);
    let replayed = s
        .call_with(
            Method::PATCH,
            &format!("/v1/services/{custom}"),
            Some(&owner),
            Some(changed_spec.clone()),
            &[
                ("if-match", "\"1\""),
                ("idempotency-key", "openapi-service-1"),
            ],
        )
        .await
        .expect(200);
    c.check("PATCH", "/v1/services/{id}", &replayed);
    let stale = s
        .call_with(
            Method::PATCH,
            &format!("/v1/services/{custom}"),
            Some(&owner),
            Some(spec.clone()),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(412);
    c.check("PATCH", "/v1/services/{id}", &stale);
    let unchanged = s
        .call(
            Method::PATCH,
            &format!("/v1/services/{custom}"),
            &owner,
            Some(changed_spec),
        )
        .await
        .expect(422);
    c.check("PATCH", "/v1/services/{id}", &unchanged);
    let not_oauth2 = s
        .call(
            Method::PUT,
            &format!("/v1/services/{custom}/oauth-client"),
            &owner,
            Some(json!({"client_id": "app", "client_secret": "s"})),
        )
        .await
        .expect(422);
    c.check("PUT", "/v1/services/{id}/oauth-client", &not_oauth2);
    let retired = s
        .call(
            Method::POST,
            &format!("/v1/services/{custom}/retire"),
            &owner,
            None,
        )
        .await
        .expect(200);
    c.check("POST", "/v1/services/{id}/retire", &retired);
    let again = s
        .call(
            Method::POST,
            &format!("/v1/services/{custom}/retire"),
            &owner,
            None,
        )
        .await
        .expect(409);
    c.check("POST", "/v1/services/{id}/retire", &again);
    let after = s
        .call(
            Method::PATCH,
            &format!("/v1/services/{custom}"),
            &owner,
            Some(spec.clone()),
        )
        .await
        .expect(409);
    c.check("PATCH", "/v1/services/{id}", &after);
    let services = s
        .call(Method::GET, "/v1/services", &owner, None)
        .await
        .expect(200);
    c.check("GET", "/v1/services", &services);

    // --- directory ---
    for path in [
        "/v1/organizations",
        "/v1/workspaces",
        "/v1/users",
        "/v1/tokens",
    ] {
        let listed = s.call(Method::GET, path, &owner, None).await.expect(200);
        c.check("GET", path, &listed);
    }
    for query in [
        format!("organization={}", s.org),
        format!("workspace={}", s.shared),
    ] {
        let members = s
            .call(
                Method::GET,
                &format!("/v1/memberships?{query}"),
                &owner,
                None,
            )
            .await
            .expect(200);
        c.check("GET", "/v1/memberships", &members);
    }
    let org = s
        .call(
            Method::POST,
            "/v1/organizations",
            &owner,
            Some(json!({"name": "Second org"})),
        )
        .await
        .expect(201);
    c.check("POST", "/v1/organizations", &org);
    let workspace = s
        .call(
            Method::POST,
            "/v1/workspaces",
            &owner,
            Some(json!({"organization": s.org, "name": "Marketing"})),
        )
        .await
        .expect(201);
    c.check("POST", "/v1/workspaces", &workspace);
    let user = s
        .call(
            Method::POST,
            "/v1/users",
            &owner,
            Some(json!({"name": "Zed", "email": "zed@example.com"})),
        )
        .await
        .expect(201);
    c.check("POST", "/v1/users", &user);
    let taken = s
        .call(
            Method::POST,
            "/v1/users",
            &owner,
            Some(json!({"name": "Zed 2", "email": "zed@example.com"})),
        )
        .await
        .expect(409);
    c.check("POST", "/v1/users", &taken);
    let membership = s
        .call(
            Method::POST,
            "/v1/memberships",
            &owner,
            Some(json!({"organization": s.org, "user": user.body["id"], "role": "member"})),
        )
        .await
        .expect(201);
    c.check("POST", "/v1/memberships", &membership);
    let token = s
        .call(
            Method::POST,
            "/v1/tokens",
            &owner,
            Some(json!({"kind": "user", "user": user.body["id"], "label": "zed laptop"})),
        )
        .await
        .expect(201);
    c.check("POST", "/v1/tokens", &token);
    let token_path = format!("/v1/tokens/{}", token.body["id"].as_str().expect("id"));
    let revoked = s
        .call(Method::DELETE, &token_path, &owner, None)
        .await
        .expect(204);
    c.check("DELETE", "/v1/tokens/{id}", &revoked);
    let again = s
        .call(Method::DELETE, &token_path, &owner, None)
        .await
        .expect(409);
    c.check("DELETE", "/v1/tokens/{id}", &again);

    // --- audit and time travel ---
    let auth_id = created.body["id"].as_str().expect("id").to_owned();
    let page = s
        .call(
            Method::GET,
            &format!("/v1/audit?authentication={auth_id}&limit=2&order=oldest"),
            &owner,
            None,
        )
        .await
        .expect(200);
    c.check("GET", "/v1/audit", &page);
    let bad = s
        .call(Method::GET, "/v1/audit?order=sideways", &owner, None)
        .await
        .expect(400);
    c.check("GET", "/v1/audit", &bad);
    let then = s
        .call(
            Method::GET,
            &format!("/v1/workspaces/{me}/authentications?as_of=2100-01-01T00:00:00Z"),
            &owner,
            None,
        )
        .await
        .expect(200);
    c.check("GET", "/v1/workspaces/{id}/authentications", &then);
    let usable = s
        .call(
            Method::GET,
            &format!("/v1/authentications/{auth_id}/usable-by"),
            &owner,
            None,
        )
        .await
        .expect(200);
    c.check("GET", "/v1/authentications/{id}/usable-by", &usable);

    // --- operations ---
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let answer = s
            .call_with(Method::GET, path, None, None, &[])
            .await
            .expect(200);
        c.check("GET", path, &answer);
    }

    assert!(c.seen.len() >= 40, "checked only {:?}", c.seen);
    s.stop().await;
}
