//! The document says what the server refuses: for every constraint it declares on a query
//! parameter, a header or a request body property (enums, patterns, lengths, minimum and
//! maximum, formats) and for every cross-field rule (`oneOf`/`anyOf`), a request breaking
//! just that constraint gets a 400 or 422 naming the field.

mod http_support;

use credledger::http::openapi::document;
use http_support::Server;
use reqwest::Method;
use serde_json::{json, Value};

fn doc() -> Value {
    serde_json::from_str(&document()).expect("the document is JSON")
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .expect("a $ref resolves"),
        None => schema,
    }
}

/// Values breaking each constraint a schema declares (by hand: each breaks the patterns this
/// API uses), with what they break.
fn breaking(doc: &Value, schema: &Value) -> Vec<(String, Value)> {
    let schema = resolve(doc, schema);
    let mut out = Vec::new();
    if let Some(alternatives) = schema["anyOf"].as_array() {
        // A time: RFC 3339 or Unix seconds; also `null` where allowed.
        if alternatives.iter().any(|a| a["format"] == "date-time") {
            out.push(("time".into(), json!("not a time")));
        }
        for alternative in alternatives {
            if alternative["type"] != "null" && alternative["format"] != "date-time" {
                out.extend(breaking(doc, alternative));
            }
        }
        return out;
    }
    if schema["enum"].is_array() {
        out.push(("enum".into(), json!("not-one-of-them")));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        // Blank breaks the name patterns; a space and `!` break every other one.
        let value = if pattern.contains("\\s") || pattern == "\\S" {
            "   "
        } else {
            "has space !"
        };
        out.push((format!("pattern {pattern}"), json!(value)));
    }
    if let Some(min) = schema["minLength"].as_u64().filter(|m| *m > 0) {
        out.push(("minLength".into(), json!("x".repeat(min as usize - 1))));
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        out.push(("maxLength".into(), json!("x".repeat(max as usize + 1))));
    }
    if let Some(min) = schema["minimum"].as_i64() {
        out.push(("minimum".into(), json!(min - 1)));
    }
    if let Some(max) = schema["maximum"].as_i64() {
        out.push(("maximum".into(), json!(max + 1)));
    }
    if schema["format"] == "uuid" {
        out.push(("format uuid".into(), json!("not-a-uuid")));
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The path with every path parameter (`{id}`, `{authentication}`…) a well-formed id.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "0190a6c2-0000-7000-8000-000000000042"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Sends one request and checks it is refused naming `field`.
async fn refused(
    s: &Server,
    label: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
    field: &str,
) {
    let answer = s
        .call_with(method, path, Some(&s.owner.token), body, headers)
        .await;
    let status = answer.status.as_u16();
    assert!(
        status == 400 || status == 422,
        "{label}: {status} {}",
        answer.text
    );
    let named = answer.body["field"].as_str().unwrap_or_default();
    assert!(
        named == field
            || named.starts_with(&format!("{field}."))
            || named.starts_with(&format!("{field}[")),
        "{label}: the refusal names {named:?}, not {field:?}: {}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_declared_parameter_constraint_is_refused() {
    let s = Server::start().await;
    let doc = doc();
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let method: Method = method.to_uppercase().parse().expect("method");
            for param in operation["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().expect("name");
                let place = param["in"].as_str().expect("in");
                if place == "path" {
                    continue;
                }
                for (what, value) in breaking(&doc, &param["schema"]) {
                    let value = text(&value);
                    let label = format!("{method} {path} {place} {name}: {what} ({value:?})");
                    let body = valid_body(path, &s);
                    if place == "header" {
                        refused(
                            &s,
                            &label,
                            method.clone(),
                            &concrete(path),
                            body,
                            &[(name, value.as_str())],
                            &name.to_ascii_lowercase(),
                        )
                        .await;
                    } else {
                        let query: String = url_escape(name) + "=" + &url_escape(&value);
                        refused(
                            &s,
                            &label,
                            method.clone(),
                            &format!("{}?{query}", concrete(path)),
                            body,
                            &[],
                            name,
                        )
                        .await;
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 50, "only {checked} constraints were checked");
    s.stop().await;
}

/// A body the operation accepts in shape, so that only the broken parameter is to blame.
fn valid_body(path: &str, s: &Server) -> Option<Value> {
    Some(match path {
        "/v1/authentications/{id}" => json!({"name": "Renamed"}),
        "/v1/authentications/{id}/reauthenticate" => json!({"fields": {"token": "t"}}),
        "/v1/authentications/{id}/restore" => json!({"version": 1}),
        "/v1/authentications" => {
            json!({"name": "N", "workspace": s.owner.personal, "service": "airtable", "fields": {"token": "t"}})
        }
        "/v1/organizations" => json!({"name": "Org"}),
        "/v1/organizations/{id}" | "/v1/workspaces/{id}" => json!({"name": "Renamed"}),
        "/v1/users/{id}/personal-authentications/{authentication}/transfer" => {
            json!({"workspace": s.org_workspace})
        }
        "/v1/workspaces" => json!({"organization": s.org, "name": "Ws"}),
        "/v1/users" => json!({"name": "U", "email": "u@example.com"}),
        "/v1/memberships" => {
            json!({"organization": s.org, "user": s.outsider.id, "role": "member"})
        }
        "/v1/tokens" => json!({"kind": "runner", "name": "r", "label": "l"}),
        "/v1/services/{id}" => {
            json!({"name": "S", "api_version": "1", "auth_kind": "Generic", "fields": [{"name": "k",
            "secret": true, "required": true, "format": "Text", "description": "d"}],
            "scopes": [], "required_scopes": []})
        }
        "/v1/services/{id}/oauth-client" => json!({"client_id": "app", "client_secret": "s"}),
        "/v1/services" => {
            json!({"workspace": s.owner.personal, "spec": {"name": "S", "api_version": "1",
            "auth_kind": "Generic", "fields": [{"name": "k", "secret": true, "required": true,
            "format": "Text", "description": "d"}], "scopes": [], "required_scopes": []}})
        }
        _ => return None,
    })
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A body every one of whose declared property constraints is broken in turn.
struct Case {
    method: Method,
    path: String,
    schema: &'static str,
    valid: Value,
}

/// For a property of the other branch of an exactly-one rule, the valid body of that branch.
fn other_branch(schema: &str, field: &str, valid: &Value, s: &Server) -> Value {
    match (schema, field) {
        ("RestoreBody", "as_of") => json!({"as_of": "2030-01-01T00:00:00Z"}),
        ("NewMembership", "workspace") => {
            json!({"workspace": s.shared, "user": s.outsider.id, "role": "viewer"})
        }
        ("AuthorizeBody", "authentication") => json!({"service": "slack"}),
        _ => valid.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_declared_body_constraint_and_cross_field_rule_is_refused() {
    let s = Server::start().await;
    let created = s.create_personal("airtable", json!({"token": "t"})).await;
    let auth = format!("/v1/authentications/{created}");
    let cases = vec![
        Case {
            method: Method::POST,
            path: "/v1/authentications".into(),
            schema: "CreateBody",
            valid: json!({"name": "N", "workspace": s.owner.personal, "service": "slack",
                "fields": {"access_token": "t"}, "extra_permissions": ["x"], "environment": "prod"}),
        },
        Case {
            method: Method::PATCH,
            path: auth.clone(),
            schema: "PatchBody",
            valid: json!({"name": "Renamed"}),
        },
        Case {
            method: Method::POST,
            path: format!("{auth}/reauthenticate"),
            schema: "ReauthenticateBody",
            valid: json!({"fields": {"token": "t2"}}),
        },
        Case {
            method: Method::POST,
            path: format!("{auth}/restore"),
            schema: "RestoreBody",
            valid: json!({"version": 1}),
        },
        Case {
            method: Method::POST,
            path: "/v1/organizations".into(),
            schema: "NewOrganization",
            valid: json!({"name": "Org"}),
        },
        Case {
            method: Method::POST,
            path: "/v1/workspaces".into(),
            schema: "NewWorkspace",
            valid: json!({"organization": s.org, "name": "Ws"}),
        },
        Case {
            method: Method::POST,
            path: "/v1/users".into(),
            schema: "NewUser",
            valid: json!({"name": "U", "email": "u@example.com"}),
        },
        Case {
            method: Method::POST,
            path: "/v1/memberships".into(),
            schema: "NewMembership",
            valid: json!({"organization": s.org, "user": s.outsider.id, "role": "member"}),
        },
        Case {
            method: Method::POST,
            path: "/v1/tokens".into(),
            schema: "NewToken",
            valid: json!({"kind": "runner", "name": "r", "label": "l"}),
        },
        Case {
            method: Method::POST,
            path: "/v1/oauth/authorize".into(),
            schema: "AuthorizeBody",
            valid: json!({"service": "slack", "name": "S", "workspace": s.owner.personal,
                "environment": "prod", "fields": {"domain": "x"}}),
        },
    ];
    let doc = doc();
    let mut checked = 0;
    for case in &cases {
        let schema = &doc["components"]["schemas"][case.schema];
        for (field, property) in schema["properties"].as_object().expect("properties") {
            let property = resolve(&doc, property);
            let mut broken: Vec<(String, Value)> = breaking(&doc, property);
            // Property names of maps (field names).
            if let Some(pattern) = property["propertyNames"]["pattern"].as_str() {
                broken.push((format!("key pattern {pattern}"), json!({"Not A Key": "v"})));
            }
            if property["minProperties"].as_u64() == Some(1) {
                broken.push(("minProperties".into(), json!({})));
            }
            if let Some(items) = property.get("items") {
                for (what, value) in breaking(&doc, items) {
                    broken.push((format!("item {what}"), json!([value])));
                }
            }
            for (what, value) in broken {
                let mut body = other_branch(case.schema, field, &case.valid, &s);
                body[field] = value;
                let label = format!("{} {} {field}: {what}", case.method, case.path);
                // This server has no OAuth2 client: a new authorization's name and fields are
                // checked after that, so the refusal may name `service` instead.
                let named = if case.schema == "AuthorizeBody"
                    && matches!(field.as_str(), "name" | "fields" | "environment")
                {
                    "service"
                } else {
                    field
                };
                let answer = s
                    .call_with(
                        case.method.clone(),
                        &case.path,
                        Some(&s.owner.token),
                        Some(body.clone()),
                        &[],
                    )
                    .await;
                if named == "service" && answer.body["field"] == "service" {
                    assert_eq!(answer.status.as_u16(), 422, "{label}: {}", answer.text);
                } else {
                    refused(
                        &s,
                        &label,
                        case.method.clone(),
                        &case.path,
                        Some(body),
                        &[],
                        field,
                    )
                    .await;
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} body constraints were checked");
    // The cross-field rules, each broken.
    let ws = &s.owner.personal;
    for (method, path, body, field) in [
        (Method::PATCH, auth.clone(), json!({}), "body"),
        (
            Method::PATCH,
            auth.clone(),
            json!({"name": null, "workspace": null}),
            "body",
        ),
        (
            Method::POST,
            format!("{auth}/restore"),
            json!({}),
            "version",
        ),
        (
            Method::POST,
            format!("{auth}/restore"),
            json!({"version": 1, "as_of": "2030-01-01T00:00:00Z"}),
            "version",
        ),
        (
            Method::POST,
            "/v1/memberships".into(),
            json!({"user": s.outsider.id, "role": "member"}),
            "organization",
        ),
        (
            Method::POST,
            "/v1/memberships".into(),
            json!({"organization": s.org, "workspace": s.shared, "user": s.outsider.id, "role": "admin"}),
            "organization",
        ),
        (
            Method::POST,
            "/v1/memberships".into(),
            json!({"organization": s.org, "user": s.outsider.id, "role": "editor"}),
            "role",
        ),
        (
            Method::POST,
            "/v1/memberships".into(),
            json!({"workspace": s.shared, "user": s.outsider.id, "role": "owner"}),
            "role",
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            json!({"kind": "user", "name": "n", "label": "l"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            json!({"kind": "runner", "label": "l"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            json!({"kind": "auditor", "name": "a", "user": s.owner.id, "label": "l"}),
            "user",
        ),
        (
            Method::POST,
            "/v1/oauth/authorize".into(),
            json!({"service": "slack"}),
            "authentication",
        ),
        (
            Method::POST,
            "/v1/oauth/authorize".into(),
            json!({"service": "slack", "name": "S"}),
            "authentication",
        ),
        (
            Method::POST,
            "/v1/oauth/authorize".into(),
            json!({"service": "slack", "authentication": created, "name": "S", "workspace": ws}),
            "authentication",
        ),
        (
            Method::POST,
            "/v1/oauth/authorize".into(),
            json!({"service": "slack", "authentication": created, "environment": "prod"}),
            "environment",
        ),
    ] {
        let label = format!("{method} {path} {body}");
        refused(&s, &label, method, &path, Some(body), &[], field).await;
    }
    s.stop().await;
}
