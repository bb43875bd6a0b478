//! What the server accepts, added to the generated OpenAPI document: syntaxes of headers,
//! enums, lengths and patterns of texts, and the cross-field rules (`oneOf`/`anyOf`) that the
//! derive macros cannot say. Each rule here mirrors a refusal of a handler or of the domain;
//! `tests/openapi.rs` sends a request breaking each one and expects a 4xx.

use serde_json::{json, Map, Value};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Type};
use utoipa::Modify;

/// `Idempotency-Key`: 1 to 255 printable ASCII characters, no space (`src/http/idempotency.rs`).
pub const IDEMPOTENCY_KEY: &str = "^[!-~]{1,255}$";
/// `If-Match`: a version as an entity tag (`"3"`) or bare (`3`).
pub const IF_MATCH: &str = "^(\"[0-9]{1,19}\"|[0-9]{1,19})$";
/// Catalog keys, field names and environment tags (`domain::ids`).
pub const KEY: &str = "^[a-z0-9_-]{1,64}$";
/// A service reference: a catalog key or `custom:<uuid>`.
pub const SERVICE: &str = "^([a-z0-9_-]{1,64}|custom:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";
/// One OAuth2 scope token: printable ASCII without space, `"` or `\\` (RFC 6749 §3.3).
pub const SCOPE_TOKEN: &str = "^[!#-\\[\\]-~]{1,256}$";
/// A custom service reference: `custom:<uuid>`.
pub const CUSTOM_SERVICE: &str =
    "^custom:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// Display names: 1–120 characters with at least one that is not a space, no control or
/// invisible characters (`domain::naming::normalize_text`).
pub const NAME: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028\\u2029\\ufeff]*[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028\\u2029\\ufeff][^\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028\\u2029\\ufeff]*$";

/// A time as the API takes it: RFC 3339, or Unix seconds.
fn time() -> Value {
    json!({"anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": "^[0-9]{1,10}$"}
    ]})
}

fn name(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NAME})
}

/// Adds the rules to a generated document.
pub fn refine(doc: &mut Value) {
    headers(doc);
    queries(doc);
    bodies(doc);
    exports(doc);
}

/// `GET /v1/audit` streams exports as NDJSON or CSV.
fn exports(doc: &mut Value) {
    let Some(content) = doc
        .pointer_mut("/paths/~1v1~1audit/get/responses/200/content")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for media in ["application/x-ndjson", "text/csv"] {
        content.insert(media.into(), json!({"schema": {"type": "string"}}));
    }
}

fn headers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in operation.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for param in params {
                let pattern = match param["name"].as_str() {
                    Some("Idempotency-Key") => IDEMPOTENCY_KEY,
                    Some("If-Match") => IF_MATCH,
                    _ => continue,
                };
                param["schema"] = json!({"type": "string", "pattern": pattern});
                // One example reused by generated clients across different bodies would be
                // a 422: keys are the caller's, never an example's.
                if let Some(p) = param.as_object_mut() {
                    p.remove("example");
                }
            }
        }
    }
}

/// The schema of a query parameter of an operation.
fn param<'a>(doc: &'a mut Value, path: &str, method: &str, name: &str) -> Option<&'a mut Value> {
    doc.get_mut("paths")?
        .get_mut(path)?
        .get_mut(method)?
        .get_mut("parameters")?
        .as_array_mut()?
        .iter_mut()
        .find(|p| p["name"] == name)
        .map(|p| &mut p["schema"])
}

fn set_param(doc: &mut Value, path: &str, method: &str, name: &str, schema: Value) {
    if let Some(slot) = param(doc, path, method, name) {
        *slot = schema;
    }
}

fn queries(doc: &mut Value) {
    let list = "/v1/authentications";
    set_param(
        doc,
        list,
        "get",
        "limit",
        json!({"type": "integer", "minimum": 1, "maximum": 500}),
    );
    set_param(
        doc,
        list,
        "get",
        "service",
        json!({"type": "string", "pattern": SERVICE}),
    );
    set_param(
        doc,
        list,
        "get",
        "environment",
        json!({"type": "string", "pattern": "^[a-z0-9_-]{1,32}$"}),
    );
    set_param(
        doc,
        list,
        "get",
        "workspace",
        json!({"type": "string", "format": "uuid"}),
    );
    set_param(
        doc,
        list,
        "get",
        "kind",
        json!({"$ref": "#/components/schemas/AuthKind"}),
    );
    set_param(
        doc,
        list,
        "get",
        "lifecycle",
        json!({"type": "string", "enum": ["active", "deleted"]}),
    );
    set_param(doc, list, "get", "expires_before", time());
    let audit = "/v1/audit";
    // Audit cursors are log positions.
    set_param(
        doc,
        audit,
        "get",
        "cursor",
        json!({"type": "string", "pattern": "^[1-9][0-9]{0,18}$"}),
    );
    set_param(
        doc,
        audit,
        "get",
        "limit",
        json!({"type": "integer", "minimum": 1, "maximum": 1000}),
    );
    set_param(
        doc,
        audit,
        "get",
        "format",
        json!({"type": "string", "enum": ["json", "ndjson", "csv"]}),
    );
    set_param(
        doc,
        audit,
        "get",
        "order",
        json!({"type": "string", "enum": ["newest", "oldest"]}),
    );
    set_param(
        doc,
        audit,
        "get",
        "outcome",
        json!({"type": "string", "enum": ["succeeded", "refused"]}),
    );
    set_param(
        doc,
        audit,
        "get",
        "type",
        json!({"type": "string", "enum": super::handlers::audit::event_types().collect::<Vec<_>>()}),
    );
    set_param(
        doc,
        audit,
        "get",
        "actor",
        json!({"type": "string", "pattern":
        "^((user|runner|auditor):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|system|cli)$"}),
    );
    set_param(doc, audit, "get", "from", time());
    set_param(doc, audit, "get", "to", time());
    for (path, name) in [
        ("/v1/authentications/{id}", "as_of"),
        ("/v1/authentications/{id}/usable-by", "as_of"),
        ("/v1/workspaces/{id}/authentications", "as_of"),
    ] {
        set_param(doc, path, "get", name, time());
    }
    set_param(
        doc,
        "/v1/authentications/{id}",
        "get",
        "version",
        json!({"type": "integer", "minimum": 1}),
    );
    // A service path names a catalog key or a custom service; changes only custom ones.
    let service = json!({"type": "string", "pattern": SERVICE});
    set_param(doc, "/v1/services/{id}", "get", "id", service);
    let custom = json!({"type": "string", "pattern": CUSTOM_SERVICE});
    set_param(doc, "/v1/services/{id}", "patch", "id", custom.clone());
    set_param(doc, "/v1/services/{id}/retire", "post", "id", custom);
}

/// A property of a component schema.
fn prop<'a>(doc: &'a mut Value, schema: &str, field: &str) -> Option<&'a mut Value> {
    doc.get_mut("components")?
        .get_mut("schemas")?
        .get_mut(schema)?
        .get_mut("properties")?
        .get_mut(field)
}

fn set_prop(doc: &mut Value, schema: &str, field: &str, value: Value) {
    if let Some(slot) = prop(doc, schema, field) {
        // Keep the description the derive wrote.
        let description = slot.get("description").cloned();
        *slot = value;
        if let (Some(d), Some(o)) = (description, slot.as_object_mut()) {
            o.insert("description".into(), d);
        }
    }
}

fn component<'a>(doc: &'a mut Value, schema: &str) -> Option<&'a mut Map<String, Value>> {
    doc.get_mut("components")?
        .get_mut("schemas")?
        .get_mut(schema)?
        .as_object_mut()
}

fn set_rule(doc: &mut Value, schema: &str, key: &str, rule: Value) {
    if let Some(component) = component(doc, schema) {
        component.insert(key.into(), rule);
    }
}

/// `field` is given, and not `null`.
fn present(field: &str, kind: &str) -> Value {
    json!({"required": [field], "properties": {field: {"type": kind}}})
}

fn nullable(mut schema: Value) -> Value {
    json!({"anyOf": [schema.take(), {"type": "null"}]})
}

fn bodies(doc: &mut Value) {
    // These refuse unknown properties (`deny_unknown_fields`) like every request body.
    for schema in [
        "ServiceSpec",
        "FieldSpec",
        "OAuthEndpoints",
        "VerificationEndpoint",
    ] {
        set_rule(doc, schema, "additionalProperties", json!(false));
    }
    set_prop(doc, "ServiceSpec", "name", name(80));
    let fields = json!({"type": "object", "propertyNames": {"pattern": KEY},
        "additionalProperties": {"type": "string"}});
    let scopes =
        json!({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}});
    let env = nullable(json!({"type": "string", "pattern": "^[a-z0-9_-]{1,32}$"}));
    let uuid = || json!({"type": "string", "format": "uuid"});
    set_prop(
        doc,
        "CreateBody",
        "name",
        name(crate::domain::naming::MAX_NAME_LEN),
    );
    set_prop(
        doc,
        "CreateBody",
        "service",
        json!({"type": "string", "pattern": SERVICE}),
    );
    set_prop(doc, "CreateBody", "fields", fields.clone());
    set_prop(doc, "CreateBody", "extra_permissions", scopes);
    set_prop(doc, "CreateBody", "environment", env.clone());
    set_prop(
        doc,
        "PatchBody",
        "name",
        nullable(name(crate::domain::naming::MAX_NAME_LEN)),
    );
    // PATCH needs a name or a workspace (or both).
    set_rule(
        doc,
        "PatchBody",
        "anyOf",
        json!([present("name", "string"), present("workspace", "string")]),
    );
    set_prop(
        doc,
        "ReauthenticateBody",
        "fields",
        json!({"type": "object", "minProperties": 1,
        "propertyNames": {"pattern": KEY}, "additionalProperties": {"type": ["string", "null"]}}),
    );
    // Exactly one of `version` and `as_of`.
    set_prop(
        doc,
        "RestoreBody",
        "version",
        nullable(json!({"type": "integer", "minimum": 1})),
    );
    set_prop(doc, "RestoreBody", "as_of", nullable(time()));
    set_rule(
        doc,
        "RestoreBody",
        "oneOf",
        json!([
            {"allOf": [present("version", "integer")], "properties": {"as_of": {"type": "null"}}},
            {"allOf": [present("as_of", "string")], "properties": {"version": {"type": "null"}}}
        ]),
    );
    // Authorize: re-consent of an `authentication` (nothing of a new one), or a new one with
    // `name` and `workspace`.
    set_prop(
        doc,
        "AuthorizeBody",
        "service",
        json!({"type": "string", "pattern": SERVICE}),
    );
    // Extra permissions are sent as scope tokens (RFC 6749 §3.3); null keeps the current ones.
    set_prop(
        doc,
        "AuthorizeBody",
        "extra_permissions",
        nullable(json!({"type": "array", "items": {"type": "string", "pattern": SCOPE_TOKEN}})),
    );
    set_prop(
        doc,
        "AuthorizeBody",
        "name",
        nullable(name(crate::domain::naming::MAX_NAME_LEN)),
    );
    set_prop(doc, "AuthorizeBody", "environment", env.clone());
    set_prop(doc, "AuthorizeBody", "fields", fields.clone());
    set_rule(
        doc,
        "AuthorizeBody",
        "oneOf",
        json!([
            {"allOf": [present("authentication", "string")],
             "properties": {"environment": {"type": "null"},
                 "name": {"type": "null"}, "workspace": {"type": "null"}}},
            {"allOf": [present("name", "string"), present("workspace", "string")],
             "properties": {"authentication": {"type": "null"}}}
        ]),
    );
    oauth_client(doc);
    set_prop(
        doc,
        "NewServiceAuthentication",
        "name",
        name(crate::domain::naming::MAX_NAME_LEN),
    );
    set_prop(doc, "NewServiceAuthentication", "fields", fields);
    set_prop(doc, "NewServiceAuthentication", "environment", env);
    let directory = crate::domain::directory::MAX_DIRECTORY_NAME_LEN;
    set_prop(doc, "NewOrganization", "name", name(directory));
    set_prop(doc, "NewWorkspace", "name", name(directory));
    set_prop(doc, "NewUser", "name", name(directory));
    set_prop(
        doc,
        "NewUser",
        "email",
        json!({"type": "string", "maxLength": 254,
        "pattern": "^[^@\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^@\\s.\\u0000-\\u001f\\u007f-\\u009f][^@\\s\\u0000-\\u001f\\u007f-\\u009f]*\\.[^@\\s\\u0000-\\u001f\\u007f-\\u009f]*[^@\\s.\\u0000-\\u001f\\u007f-\\u009f]$"}),
    );
    // Exactly one of `organization` and `workspace`.
    set_prop(doc, "NewMembership", "organization", nullable(uuid()));
    set_prop(doc, "NewMembership", "workspace", nullable(uuid()));
    // Each target has its own roles.
    set_prop(
        doc,
        "NewMembership",
        "role",
        json!({"type": "string", "enum": ["owner", "admin", "member", "editor", "viewer"]}),
    );
    set_rule(
        doc,
        "NewMembership",
        "oneOf",
        json!([
            {"allOf": [present("organization", "string")],
             "properties": {"role": {"enum": ["owner", "admin", "member"]}, "workspace": {"type": "null"}}},
            {"allOf": [present("workspace", "string")],
             "properties": {"role": {"enum": ["admin", "editor", "viewer"]}, "organization": {"type": "null"}}}
        ]),
    );
    // Tokens: `user` (optional: the caller) only for user tokens, `name` for runners and
    // auditors.
    set_prop(
        doc,
        "NewToken",
        "kind",
        json!({"type": "string", "enum": ["user", "runner", "auditor"]}),
    );
    set_prop(
        doc,
        "NewToken",
        "label",
        name(crate::domain::naming::MAX_NAME_LEN),
    );
    set_prop(
        doc,
        "NewToken",
        "name",
        nullable(json!({"type": "string", "pattern": "\\S"})),
    );
    set_prop(doc, "NewToken", "user", nullable(uuid()));
    set_rule(
        doc,
        "NewToken",
        "oneOf",
        json!([
            {"properties": {"kind": {"const": "user"}, "name": {"type": "null"}}},
            {"allOf": [present("name", "string")],
             "properties": {"kind": {"enum": ["runner", "auditor"]}, "user": {"type": "null"}}}
        ]),
    );
}

/// An OAuth2 client registration (`domain::services::oauth_client`): a secret exactly when
/// the method sends one, extra parameters that are not the flow's own.
fn oauth_client(doc: &mut Value) {
    use crate::domain::services::{MAX_AUTHORIZE_PARAMS, RESERVED_AUTHORIZE_PARAMS};
    let schema = "OAuthClientRequest";
    set_prop(
        doc,
        schema,
        "client_id",
        json!({"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[!-~]+$"}),
    );
    set_prop(
        doc,
        schema,
        "client_secret",
        nullable(json!({"type": "string", "pattern": "\\S"})),
    );
    set_prop(
        doc,
        schema,
        "token_endpoint_auth_method",
        json!({"type": "string", "enum": ["client_secret_basic", "client_secret_post", "none"]}),
    );
    set_prop(
        doc,
        schema,
        "authorize_params",
        json!({"type": "object", "maxProperties": MAX_AUTHORIZE_PARAMS,
            "propertyNames": {"pattern": "^[!-~]{1,64}$", "not": {"enum": RESERVED_AUTHORIZE_PARAMS}},
            "additionalProperties": {"type": "string", "maxLength": 512,
                "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}}),
    );
    set_prop(
        doc,
        schema,
        "issuer",
        nullable(json!({"type": "string", "maxLength": 512, "pattern": "^https?://[!-~]+$"})),
    );
    set_rule(
        doc,
        schema,
        "oneOf",
        json!([
            {"required": ["token_endpoint_auth_method"],
             "properties": {"token_endpoint_auth_method": {"const": "none"}, "client_secret": {"type": "null"}}},
            {"allOf": [present("client_secret", "string")],
             "properties": {"token_endpoint_auth_method": {"enum": ["client_secret_basic", "client_secret_post"]}}}
        ]),
    );
}

/// Adds the bearer security scheme.
pub(super) struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            super::openapi::BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("clt_…")
                    .description(Some(
                        "An API token (`clt_…`) of a user, a workflow runner or an auditor, \
                         issued by `POST /v1/tokens` (or printed once by the first start).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Adds the `x-request-id` response header to every response.
pub(super) struct RequestIdHeader;

impl Modify for RequestIdHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = || {
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(
                    "The request's id: the one the client sent in `x-request-id`, or a new UUID. \
                     Server logs carry it.",
                ))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert("x-request-id".into(), header());
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            for response in components.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.headers.insert("x-request-id".into(), header());
                }
            }
        }
    }
}
