//! Bad input to the directory endpoints (organizations, workspaces, users, memberships): the
//! rules, taken names and e-mail addresses, and bad membership queries. (Tokens are in
//! `bad_input_tokens.rs`.) See `bad_input_support` for what every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{
    refuse_all, Request, TargetServer, BAD_REQUEST, CONFLICT, NOT_FOUND, VALIDATION,
};
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_rules_are_precise_4xx_naming_the_request_field() {
    let w = TargetServer::new().await;
    let s = &w.s;
    let member = &s.member.id;
    #[rustfmt::skip]
    let cases = [
        ("blank organization name", Request::post("/v1/organizations", json!({"name": " "})), 422, VALIDATION, Some("name")),
        ("long organization name", Request::post("/v1/organizations", json!({"name": "o".repeat(121)})), 422, VALIDATION, Some("name")),
        ("blank workspace name", Request::post("/v1/workspaces", json!({"organization": s.org, "name": ""})), 422, VALIDATION, Some("name")),
        ("control character in a user name", Request::post("/v1/users", json!({"name": "a\nb", "email": "ab@example.com"})), 422, VALIDATION, Some("name")),
        ("bad e-mail", Request::post("/v1/users", json!({"name": "A", "email": "not-an-address"})), 422, VALIDATION, Some("email")),
        ("user without email", Request::post("/v1/users", json!({"name": "x"})), 422, VALIDATION, Some("email")),
        ("membership in both", Request::post("/v1/memberships", json!({"organization": s.org, "workspace": s.shared, "user": member, "role": "member"})), 422, VALIDATION, Some("organization")),
        ("membership in neither", Request::post("/v1/memberships", json!({"user": member, "role": "member"})), 422, VALIDATION, Some("organization")),
        ("organization role that does not exist", Request::post("/v1/memberships", json!({"organization": s.org, "user": member, "role": "boss"})), 422, VALIDATION, Some("role")),
        ("workspace role that does not exist", Request::post("/v1/memberships", json!({"workspace": s.shared, "user": member, "role": "owner"})), 422, VALIDATION, Some("role")),
        ("the role the user already has", Request::post("/v1/memberships", json!({"organization": s.org, "user": member, "role": "member"})), 422, VALIDATION, Some("role")),
        ("members of the organization workspace", Request::post("/v1/memberships", json!({"workspace": s.org_workspace, "user": member, "role": "viewer"})), 422, VALIDATION, Some("workspace")),
        ("a user who does not exist", Request::post("/v1/memberships", json!({"organization": s.org, "user": Uuid::now_v7(), "role": "member"})), 404, NOT_FOUND, Some("user")),
    ];
    assert_eq!(refuse_all(s, cases).await, 13);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_workspace_names_and_e_mail_addresses_are_409() {
    let w = TargetServer::new().await;
    let s = &w.s;
    let workspace = |name: &str| {
        Request::post(
            "/v1/workspaces",
            json!({"organization": s.org, "name": name}),
        )
    };
    #[rustfmt::skip]
    let cases = [
        ("e-mail already used", Request::post("/v1/users", json!({"name": "Copy", "email": "Member@Example.com"})), 409, CONFLICT, Some("email")),
        ("workspace name already used", workspace("sales"), 409, CONFLICT, Some("name")),
        ("duplicate workspace", workspace("SALES"), 409, CONFLICT, Some("name")),
    ];
    assert_eq!(refuse_all(s, cases).await, 3);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_membership_queries_are_400() {
    let w = TargetServer::new().await;
    #[rustfmt::skip]
    let cases = [
        ("neither", Request::get("/v1/memberships"), 400, BAD_REQUEST, Some("organization")),
        ("bad organization", Request::get("/v1/memberships?organization=nope"), 400, BAD_REQUEST, Some("organization")),
        ("bad workspace", Request::get("/v1/memberships?workspace=nope"), 400, BAD_REQUEST, Some("workspace")),
        ("unknown parameter", Request::get("/v1/memberships?user=me"), 400, BAD_REQUEST, Some("user")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 4);
    w.stop().await;
}
