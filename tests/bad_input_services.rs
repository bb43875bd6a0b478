//! Bad input to `POST /v1/services`: unknown workspaces, specs the rules refuse, unknown keys
//! and bad field names in a spec, and a service defined with an authentication where that is
//! not allowed. See `bad_input_support` for what every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{refuse_all, Request, TargetServer, FORBIDDEN, VALIDATION};
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_definitions_are_refused_with_the_offending_field() {
    let w = TargetServer::new().await;
    let s = &w.s;
    let personal = &s.owner.personal;
    let define = |body: Value| Request::post("/v1/services", body);
    // A spec without fields or scopes, of an auth kind, with `extra` merged in.
    let bare = |auth_kind: &str, extra: Value| {
        let mut spec = json!({"name": "S", "api_version": "1", "auth_kind": auth_kind,
            "fields": [], "scopes": [], "required_scopes": []});
        for (k, v) in extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        define(json!({"workspace": personal, "spec": spec}))
    };
    #[rustfmt::skip]
    let cases = [
        ("service only, in an unknown workspace", define(json!({"workspace": Uuid::now_v7(), "spec": TargetServer::spec()})), 403, FORBIDDEN, Some("workspace")),
        ("generic service without fields", bare("Generic", json!({})), 422, VALIDATION, Some("fields")),
        ("service with an http URL", bare("OAuth2", json!({"oauth": {"authorize_url": "http://a.example/x", "token_url": "https://a.example/t"}})), 422, VALIDATION, Some("oauth.authorize_url")),
        ("service with an unknown auth kind", bare("Magic", json!({})), 422, VALIDATION, Some("spec.auth_kind")),
        ("service and authentication outside the personal workspace", define(json!({"workspace": s.shared, "spec": TargetServer::spec(), "authentication": {"name": "A", "fields": {"api_key": "k"}}})), 422, VALIDATION, Some("workspace")),
        ("service and authentication with a blank name", define(json!({"workspace": personal, "spec": TargetServer::spec(), "authentication": {"name": " ", "fields": {"api_key": "k"}}})), 422, VALIDATION, Some("name")),
    ];
    assert_eq!(refuse_all(s, cases).await, 6);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_service_specs_reject_unknown_keys_and_bad_field_names() {
    let w = TargetServer::new().await;
    let personal = &w.s.owner.personal;
    // The valid spec with the value at `path` (keys, and indexes into arrays) set.
    let with = |path: &[&str], value: Value| {
        let mut spec = TargetServer::spec();
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
        Request::post("/v1/services", json!({"workspace": personal, "spec": spec}))
    };
    let field_name = |name: Value| with(&["fields", "0", "name"], name);
    #[rustfmt::skip]
    let cases = [
        ("unknown key in the spec", with(&["required_scope"], json!(["x"])), 422, VALIDATION, Some("spec.required_scope")),
        ("unknown key in a field", with(&["fields", "0", "sekret"], json!(true)), 422, VALIDATION, Some("spec.fields[0].sekret")),
        ("field name with spaces", field_name(json!("Bad Name!")), 422, VALIDATION, Some("spec.fields[0].name")),
        ("empty field name", field_name(json!("")), 422, VALIDATION, Some("spec.fields[0].name")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 4);
    w.stop().await;
}
