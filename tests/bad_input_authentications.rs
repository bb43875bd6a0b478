//! Bad input to the authentication endpoints: the rules of creating, renaming and moving,
//! re-authenticating and restoring, duplicate names, and bad query values on reads. See
//! `bad_input_support` for what every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{
    refuse_all, Request, TargetServer, BAD_REQUEST, DUPLICATE_NAME, FORBIDDEN, NOT_FOUND,
    VALIDATION,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// A create of an Airtable authentication in the owner's personal workspace, with `patch`
/// merged over its body.
fn create(w: &TargetServer, patch: Value) -> Request {
    let mut body = json!({"name": "Fresh", "workspace": w.s.owner.personal, "service": "airtable",
        "fields": {"token": "t"}});
    for (k, v) in patch.as_object().expect("object") {
        body[k] = v.clone();
    }
    Request::post("/v1/authentications", body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_is_refused_with_the_offending_field() {
    let w = TargetServer::new().await;
    let create = |patch| create(&w, patch);
    let long = "n".repeat(121);
    let unknown_custom = format!("custom:{}", Uuid::now_v7());
    #[rustfmt::skip]
    let cases = [
        ("name of 121", create(json!({"name": long})), 422, VALIDATION, Some("name")),
        ("name of 121 (multi-byte)", create(json!({"name": "é".repeat(121)})), 422, VALIDATION, Some("name")),
        ("blank name", create(json!({"name": "   "})), 422, VALIDATION, Some("name")),
        ("empty name", create(json!({"name": ""})), 422, VALIDATION, Some("name")),
        ("bell in name", create(json!({"name": "a\u{7}b"})), 422, VALIDATION, Some("name")),
        ("newline in name", create(json!({"name": "a\nb"})), 422, VALIDATION, Some("name")),
        ("NUL in name", create(json!({"name": "a\u{0}b"})), 422, VALIDATION, Some("name")),
        ("zero-width space in name", create(json!({"name": "a\u{200B}b"})), 422, VALIDATION, Some("name")),
        ("blank token", create(json!({"fields": {"token": "  "}})), 422, VALIDATION, Some("fields.token")),
        ("missing token", create(json!({"fields": {}})), 422, VALIDATION, Some("fields.token")),
        ("control character in token", create(json!({"fields": {"token": "a\u{1b}b"}})), 422, VALIDATION, Some("fields.token")),
        ("field of another service", create(json!({"fields": {"token": "t", "password": "p"}})), 422, VALIDATION, Some("fields.password")),
        ("without service", Request::post("/v1/authentications", json!({"name": "x", "workspace": w.s.owner.personal})), 422, VALIDATION, Some("service")),
        ("unknown service", create(json!({"service": "no-such-service"})), 422, VALIDATION, Some("service")),
        ("malformed service key", create(json!({"service": "Not A Key"})), 422, VALIDATION, Some("service")),
        ("empty service", create(json!({"service": ""})), 422, VALIDATION, Some("service")),
        ("unknown custom service id", create(json!({"service": unknown_custom})), 422, VALIDATION, Some("service")),
        ("malformed custom service id", create(json!({"service": "custom:not-a-uuid"})), 400, BAD_REQUEST, Some("service")),
        ("workspace that does not exist", create(json!({"workspace": Uuid::now_v7()})), 403, FORBIDDEN, Some("workspace")),
        ("bad environment", create(json!({"environment": "Prod 1"})), 422, VALIDATION, Some("environment")),
        ("bad workflow id", create(json!({"workflow": {"workflow_id": "a b", "step_id": "s"}})), 422, VALIDATION, Some("workflow.workflow_id")),
        ("blank step id", create(json!({"workflow": {"workflow_id": "wf", "step_id": " "}})), 422, VALIDATION, Some("workflow.step_id")),
        ("scopes on a token service", create(json!({"scopes": ["read"]})), 422, VALIDATION, Some("scopes")),
        ("unknown scope", create(json!({"service": "slack", "fields": {"access_token": "x"}, "scopes": ["admin:all"]})), 422, VALIDATION, Some("scopes")),
        ("bad expires_at", create(json!({"service": "slack", "fields": {"access_token": "x", "expires_at": "soon"}})), 422, VALIDATION, Some("fields.expires_at")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 25);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_and_moving_are_refused_with_the_offending_field() {
    let w = TargetServer::new().await;
    let patch = |body| Request::patch(w.auth(), body);
    #[rustfmt::skip]
    let cases = [
        ("rename to 121", patch(json!({"name": "r".repeat(121)})), 422, VALIDATION, Some("name")),
        ("rename to blank", patch(json!({"name": "\t"})), 422, VALIDATION, Some("name")),
        ("rename with a control character", patch(json!({"name": "x\u{7f}"})), 422, VALIDATION, Some("name")),
        ("rename unchanged", patch(json!({"name": "Airtable main"})), 422, VALIDATION, Some("name")),
        ("patch without changes", patch(json!({})), 422, VALIDATION, Some("body")),
        ("move to the same workspace", patch(json!({"workspace": w.s.owner.personal})), 422, VALIDATION, Some("workspace")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 6);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthenticating_is_refused_with_the_offending_field() {
    let w = TargetServer::new().await;
    let reauthenticate = |body| Request::post(format!("{}/reauthenticate", w.auth()), body);
    #[rustfmt::skip]
    let cases = [
        ("without fields", reauthenticate(json!({})), 422, VALIDATION, Some("fields")),
        ("nothing", reauthenticate(json!({"fields": {}})), 422, VALIDATION, Some("fields")),
        ("blank", reauthenticate(json!({"fields": {"token": ""}})), 422, VALIDATION, Some("fields.token")),
        ("clear a required field", reauthenticate(json!({"fields": {"token": null}})), 422, VALIDATION, Some("fields.token")),
        ("a malformed field name", reauthenticate(json!({"fields": {"Token": "x"}})), 422, VALIDATION, Some("fields.Token")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 5);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_is_refused_with_the_offending_field() {
    let w = TargetServer::new().await;
    let restore = |body| Request::post(format!("{}/restore", w.auth()), body);
    #[rustfmt::skip]
    let cases = [
        ("version and as_of", restore(json!({"version": 1, "as_of": "2030-01-01T00:00:00Z"})), 422, VALIDATION, Some("version")),
        ("neither", restore(json!({})), 422, VALIDATION, Some("version")),
        ("a bad as_of", restore(json!({"as_of": "last tuesday"})), 400, BAD_REQUEST, Some("as_of")),
        ("a negative version", restore(json!({"version": -1})), 422, VALIDATION, Some("version")),
        // Created and re-authenticated, each with its verification record (off in tests).
        ("the current version", restore(json!({"version": 4})), 422, VALIDATION, Some("version")),
        // Targets outside the history.
        ("version 0", restore(json!({"version": 0})), 422, VALIDATION, Some("version")),
        ("version 99", restore(json!({"version": 99})), 422, VALIDATION, Some("version")),
        ("before creation", restore(json!({"as_of": "2000-01-01T00:00:00Z"})), 422, VALIDATION, Some("as_of")),
        // Restore takes no query string: the body decides.
        ("wrong type in the body, query ignored", Request::post(format!("{}/restore?version=1", w.auth()), json!({"version": "one"})), 422, VALIDATION, Some("version")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 9);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_names_are_409() {
    let w = TargetServer::new().await;
    let s = &w.s;
    create(&w, json!({"name": "Jira"}))
        .send(s)
        .await
        .expect(201);
    let named = |name: &str| create(&w, json!({"name": name}));
    #[rustfmt::skip]
    let cases = [
        ("create \"Jira\"", named("Jira"), 409, DUPLICATE_NAME, Some("name")),
        ("create \"JIRA\"", named("JIRA"), 409, DUPLICATE_NAME, Some("name")),
        ("create \"  jira  \"", named("  jira  "), 409, DUPLICATE_NAME, Some("name")),
        ("create \"Airtable MAIN\"", named("Airtable MAIN"), 409, DUPLICATE_NAME, Some("name")),
        ("rename onto another", Request::patch(w.auth(), json!({"name": "jira"})), 409, DUPLICATE_NAME, Some("name")),
    ];
    assert_eq!(refuse_all(s, cases).await, 5);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_values_on_reads_are_400_naming_the_parameter() {
    let w = TargetServer::new().await;
    let list = |query: &str| Request::get(format!("/v1/authentications?{query}"));
    let one = |query: &str| Request::get(format!("{}?{query}", w.auth()));
    #[rustfmt::skip]
    let cases = [
        // Listing.
        ("limit=abc", list("limit=abc"), 400, BAD_REQUEST, Some("limit")),
        ("limit=-1", list("limit=-1"), 400, BAD_REQUEST, Some("limit")),
        ("limit=1.5", list("limit=1.5"), 400, BAD_REQUEST, Some("limit")),
        ("limit=99999999999999999999999", list("limit=99999999999999999999999"), 400, BAD_REQUEST, Some("limit")),
        ("include_deleted=maybe", list("include_deleted=maybe"), 400, BAD_REQUEST, Some("include_deleted")),
        ("colour=red", list("colour=red"), 400, BAD_REQUEST, Some("colour")),
        ("limit=10&limit=20", list("limit=10&limit=20"), 400, BAD_REQUEST, Some("query")),
        ("bad service", list("service=Not%20A%20Key"), 400, BAD_REQUEST, Some("service")),
        ("bad workspace", list("workspace=nope"), 400, BAD_REQUEST, Some("workspace")),
        ("bad cursor", list("cursor=zz"), 400, BAD_REQUEST, Some("cursor")),
        ("forged cursor", list("cursor=6869"), 400, BAD_REQUEST, Some("cursor")),
        // Reading one.
        ("version=abc", one("version=abc"), 400, BAD_REQUEST, Some("version")),
        ("version=-1", one("version=-1"), 400, BAD_REQUEST, Some("version")),
        ("unknown parameter", one("colour=red"), 400, BAD_REQUEST, Some("colour")),
        ("version and as_of", one("version=1&as_of=2030-01-01T00:00:00Z"), 400, BAD_REQUEST, Some("version")),
        ("bad as_of", one("as_of=yesterday"), 400, BAD_REQUEST, Some("as_of")),
        // Well-formed, but there is no such version.
        ("version 99", one("version=99"), 404, NOT_FOUND, None),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 17);
    w.stop().await;
}
