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
    ("DELETE", "/v1/memberships"),
    ("PATCH", "/v1/organizations/{id}"),
    ("PATCH", "/v1/workspaces/{id}"),
    ("POST", "/v1/users/{id}/deactivate"),
    ("POST", "/v1/users/{id}/reactivate"),
    ("GET", "/v1/users/{id}/personal-authentications"),
    (
        "POST",
        "/v1/users/{id}/personal-authentications/{authentication}/transfer",
    ),
    ("GET", "/v1/tokens"),
    ("POST", "/v1/tokens"),
    ("POST", "/v1/sign-in-links"),
    ("DELETE", "/v1/tokens/{id}"),
    ("POST", "/v1/checkpoints"),
    ("GET", "/v1/checkpoints/latest"),
    ("GET", "/v1/events"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{id}"),
    ("DELETE", "/v1/webhooks/{id}"),
    ("GET", "/v1/webhooks/{id}/deliveries"),
    ("POST", "/v1/webhooks/{id}/enable"),
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

/// A server and the check of what it answers, for the steps of
/// [`real_answers_match_the_documented_schemas`].
struct Steps {
    s: Server,
    c: Checker,
}

impl Steps {
    /// Expects `status` of an answer of `method template` and checks the answer against the
    /// documented response; hands it back.
    fn saw(&mut self, method: Method, template: &str, status: u16, answer: Answer) -> Answer {
        let answer = answer.expect(status);
        self.c.check(method.as_str(), template, &answer);
        answer
    }

    /// `method path` as the owner with extra headers; the answer must be `status`, and is
    /// checked as one of `template`.
    async fn owner_with(
        &mut self,
        status: u16,
        (method, template): (Method, &str),
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let token = self.s.owner.token.clone();
        let answer = self
            .s
            .call_with(method.clone(), path, Some(&token), body, headers)
            .await;
        self.saw(method, template, status, answer)
    }

    /// Like [`Steps::owner_with`], without extra headers.
    async fn owner(
        &mut self,
        status: u16,
        route: (Method, &str),
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.owner_with(status, route, path, body, &[]).await
    }

    /// A route whose template is its path, as the owner.
    async fn owner_at(
        &mut self,
        status: u16,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.owner(status, (method, path), path, body).await
    }

    /// A full life of an authentication, with plain and secret fields and an expiry; answers
    /// its id.
    async fn authentication_life(&mut self) -> String {
        let me = self.s.owner.personal.clone();
        let item = "/v1/authentications/{id}";
        let create = json!({
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
        });
        let keyed = [("idempotency-key", "openapi-create-1")];
        let created = self
            .owner_with(
                201,
                (Method::POST, "/v1/authentications"),
                "/v1/authentications",
                Some(create.clone()),
                &keyed,
            )
            .await;
        let replayed = self
            .owner_with(
                201,
                (Method::POST, "/v1/authentications"),
                "/v1/authentications",
                Some(create),
                &keyed,
            )
            .await;
        assert_eq!(
            replayed.header("idempotent-replayed").as_deref(),
            Some("true")
        );
        let id = created.body["id"].as_str().expect("id").to_owned();
        let one = format!("/v1/authentications/{id}");
        let jira = self
            .s
            .create(
                &self.s.owner,
                &me,
                "jira",
                json!({"username": "ann", "password": "pw-1", "site": "acme.atlassian.net"}),
            )
            .await;

        self.owner(200, (Method::GET, item), &one, None).await;
        let page = self
            .owner(
                200,
                (Method::GET, "/v1/authentications"),
                "/v1/authentications?limit=1&include_deleted=true",
                None,
            )
            .await;
        assert!(page.body["next_cursor"].is_string());
        // Created and its (not-)verification record: version 2.
        let renamed = Some(json!({"name": "Salesforce renamed"}));
        let if_2 = [("if-match", "\"2\"")];
        self.owner_with(200, (Method::PATCH, item), &one, renamed, &if_2)
            .await;
        let again = Some(json!({"name": "Salesforce again"}));
        self.owner_with(412, (Method::PATCH, item), &one, again, &if_2)
            .await;
        let reauthenticate = (Method::POST, "/v1/authentications/{id}/reauthenticate");
        let reauth_path = format!("{one}/reauthenticate");
        let at_2 = Some(json!({"fields": {"access_token": "at-2"}}));
        self.owner(200, reauthenticate.clone(), &reauth_path, at_2)
            .await;
        let resolve = json!({
            "authentication": id,
            "workspace": me,
            "template": {"authorization": "Bearer {$.auth.access_token}", "host": "$.auth.domain"},
        });
        self.owner_at(200, Method::POST, "/v1/resolve", Some(resolve))
            .await;
        self.owner(200, (Method::DELETE, item), &one, None).await;
        let restore = (Method::POST, "/v1/authentications/{id}/restore");
        let version_3 = Some(json!({"version": 3}));
        self.owner(200, restore, &format!("{one}/restore"), version_3)
            .await;
        let old = format!("{one}?version=1");
        self.owner(200, (Method::GET, item), &old, None).await;
        let purge = (Method::POST, "/v1/authentications/{id}/purge");
        let purge_path = format!("{one}/purge");
        self.owner(409, purge.clone(), &purge_path, None).await;
        self.s
            .call(Method::DELETE, &one, &self.s.owner.token, None)
            .await
            .expect(200);
        self.owner(200, purge, &purge_path, None).await;
        let history = (Method::GET, "/v1/authentications/{id}/history");
        let listed = self
            .owner(200, history.clone(), &format!("{one}/history"), None)
            .await;
        assert_eq!(listed.body.as_array().map(Vec::len), Some(9));
        let at_3 = Some(json!({"fields": {"access_token": "at-3"}}));
        self.owner(410, reauthenticate, &reauth_path, at_3).await;
        let jira_history = format!("/v1/authentications/{jira}/history");
        self.owner(200, history, &jira_history, None).await;
        id
    }

    /// Refusals of authentications: unknown and bad ids, no or the wrong token, rules,
    /// duplicates, malformed and oversize bodies, a body that is not JSON.
    async fn authentication_problems(&mut self) {
        let me = self.s.owner.personal.clone();
        let item = (Method::GET, "/v1/authentications/{id}");
        let unknown = format!("/v1/authentications/{}", uuid::Uuid::now_v7());
        self.owner(404, item.clone(), &unknown, None).await;
        self.owner(400, item, "/v1/authentications/not-a-uuid", None)
            .await;
        let list = "/v1/authentications";
        let anonymous = self.s.call_with(Method::GET, list, None, None, &[]).await;
        self.saw(Method::GET, list, 401, anonymous);
        let auditor = self
            .s
            .call(Method::GET, list, &self.s.auditor_token, None)
            .await;
        self.saw(Method::GET, list, 403, auditor);
        let invalid =
            json!({"name": "x", "workspace": me, "service": "jira", "environment": "no spaces"});
        let invalid = self.owner_at(422, Method::POST, list, Some(invalid)).await;
        assert!(invalid.body["field"].is_string());
        for expected in [201, 409] {
            let twice = json!({
                "name": "Jira twice",
                "workspace": me,
                "service": "jira",
                "fields": {"username": "bo", "password": "pw", "site": "acme.atlassian.net"},
            });
            self.owner_at(expected, Method::POST, list, Some(twice))
                .await;
        }
        let oversize = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
        for (status, content_type, bytes) in [
            (400, Some(JSON), b"{not json".to_vec()),
            (415, None, b"{}".to_vec()),
            (413, Some(JSON), oversize.into_bytes()),
        ] {
            let token = self.s.owner.token.clone();
            let body = Body::Raw(content_type, bytes);
            let answer = self
                .s
                .request(Method::POST, list, Some(&token), body, &[])
                .await;
            self.saw(Method::POST, list, status, answer);
        }
    }

    /// Custom services: defined (with and without an authentication), read, changed
    /// (replayed, stale, unchanged), without an OAuth2 client, retired, and the catalog.
    async fn services(&mut self) {
        let me = self.s.owner.personal.clone();
        let services = "/v1/services";
        self.owner_at(200, Method::GET, services, None).await;
        let spec = json!({
            "name": "Acme API",
            "api_version": "1",
            "auth_kind": "Generic",
            "fields": [{"name": "api_key", "secret": true, "required": true, "format": "Text", "description": "API key"}],
            "scopes": [],
            "required_scopes": [],
        });
        let defined = self
            .owner_at(
                201,
                Method::POST,
                services,
                Some(json!({"workspace": me, "spec": spec})),
            )
            .await;
        let with_auth = json!({"workspace": me, "spec": spec,
            "authentication": {"name": "Acme", "fields": {"api_key": "k-1"}}});
        self.owner_at(201, Method::POST, services, Some(with_auth))
            .await;
        let custom = defined.body["service"]
            .as_str()
            .expect("service")
            .to_owned();
        let item = "/v1/services/{id}";
        let one = format!("/v1/services/{custom}");
        self.owner(200, (Method::GET, item), &one, None).await;
        self.owner(200, (Method::GET, item), "/v1/services/slack", None)
            .await;
        let unknown = format!("/v1/services/custom:{}", uuid::Uuid::now_v7());
        self.owner(404, (Method::GET, item), &unknown, None).await;
        let mut changed_spec = spec.clone();
        changed_spec["api_version"] = json!("2");
        let keyed = [
            ("if-match", "\"1\""),
            ("idempotency-key", "openapi-service-1"),
        ];
        // Changed, then the same change replayed.
        for _ in 0..2 {
            let changed = Some(changed_spec.clone());
            self.owner_with(200, (Method::PATCH, item), &one, changed, &keyed)
                .await;
        }
        let stale = [("if-match", "\"1\"")];
        let original = Some(spec.clone());
        self.owner_with(412, (Method::PATCH, item), &one, original, &stale)
            .await;
        self.owner(422, (Method::PATCH, item), &one, Some(changed_spec))
            .await;
        let client = json!({"client_id": "app", "client_secret": "s"});
        let oauth_client = (Method::PUT, "/v1/services/{id}/oauth-client");
        self.owner(
            422,
            oauth_client,
            &format!("{one}/oauth-client"),
            Some(client),
        )
        .await;
        let retire = (Method::POST, "/v1/services/{id}/retire");
        let retire_path = format!("{one}/retire");
        self.owner(200, retire.clone(), &retire_path, None).await;
        self.owner(409, retire, &retire_path, None).await;
        self.owner(409, (Method::PATCH, item), &one, Some(spec))
            .await;
        self.owner_at(200, Method::GET, services, None).await;
    }

    /// The directory: lists, memberships of the organization and of the shared workspace,
    /// new organizations, workspaces, users (and a taken e-mail address), memberships and
    /// tokens, and a token revoked (twice).
    async fn directory(&mut self) {
        for path in [
            "/v1/organizations",
            "/v1/workspaces",
            "/v1/users",
            "/v1/tokens",
        ] {
            self.owner_at(200, Method::GET, path, None).await;
        }
        let memberships = (Method::GET, "/v1/memberships");
        for query in [
            format!("organization={}", self.s.org),
            format!("workspace={}", self.s.shared),
        ] {
            let path = format!("/v1/memberships?{query}");
            self.owner(200, memberships.clone(), &path, None).await;
        }
        let org = Some(json!({"name": "Second org"}));
        self.owner_at(201, Method::POST, "/v1/organizations", org)
            .await;
        let workspace = Some(json!({"organization": self.s.org, "name": "Marketing"}));
        self.owner_at(201, Method::POST, "/v1/workspaces", workspace)
            .await;
        let zed = Some(json!({"name": "Zed", "email": "zed@example.com"}));
        let user = self.owner_at(201, Method::POST, "/v1/users", zed).await;
        let taken = Some(json!({"name": "Zed 2", "email": "zed@example.com"}));
        self.owner_at(409, Method::POST, "/v1/users", taken).await;
        let membership =
            Some(json!({"organization": self.s.org, "user": user.body["id"], "role": "member"}));
        self.owner_at(201, Method::POST, "/v1/memberships", membership)
            .await;
        let laptop = Some(json!({"kind": "user", "user": user.body["id"], "label": "zed laptop"}));
        let token = self.owner_at(201, Method::POST, "/v1/tokens", laptop).await;
        let token_path = format!("/v1/tokens/{}", token.body["id"].as_str().expect("id"));
        let revoke = (Method::DELETE, "/v1/tokens/{id}");
        self.owner(204, revoke.clone(), &token_path, None).await;
        self.owner(409, revoke, &token_path, None).await;
    }

    /// The audit of an authentication, a bad audit order, a workspace's authentications at a
    /// time, and who could use the authentication.
    async fn audit_and_time_travel(&mut self, auth_id: &str) {
        let me = self.s.owner.personal.clone();
        let audit = (Method::GET, "/v1/audit");
        let page = format!("/v1/audit?authentication={auth_id}&limit=2&order=oldest");
        self.owner(200, audit.clone(), &page, None).await;
        self.owner(400, audit, "/v1/audit?order=sideways", None)
            .await;
        let then = format!("/v1/workspaces/{me}/authentications?as_of=2100-01-01T00:00:00Z");
        let listed = (Method::GET, "/v1/workspaces/{id}/authentications");
        self.owner(200, listed, &then, None).await;
        let usable_by = (Method::GET, "/v1/authentications/{id}/usable-by");
        let usable = format!("/v1/authentications/{auth_id}/usable-by");
        self.owner(200, usable_by, &usable, None).await;
    }

    /// The operations' endpoints, without a token.
    async fn operations(&mut self) {
        for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
            let answer = self.s.call_with(Method::GET, path, None, None, &[]).await;
            self.saw(Method::GET, path, 200, answer);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_documented_schemas() {
    let mut steps = Steps {
        s: Server::start().await,
        c: Checker::new(),
    };
    let auth_id = steps.authentication_life().await;
    steps.authentication_problems().await;
    steps.services().await;
    steps.directory().await;
    steps.audit_and_time_travel(&auth_id).await;
    steps.operations().await;
    assert!(steps.c.seen.len() >= 40, "checked only {:?}", steps.c.seen);
    steps.s.stop().await;
}
