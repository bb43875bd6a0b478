//! Bad input to the directory lifecycle (renames, removals, deactivation, transfers) and to
//! token expiry and scopes: each a precise 4xx naming its field, nothing written. See
//! `bad_input_support` for what every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{
    refuse_all, Request, TargetServer, BAD_REQUEST, FORBIDDEN, NOT_FOUND, VALIDATION,
    VERSION_MISMATCH,
};
use serde_json::{json, Value};
use uuid::Uuid;

fn rfc3339_in(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_and_scopes_are_checked() {
    let w = TargetServer::new().await;
    let token = |extra: Value| {
        let mut body = json!({"kind": "user", "label": "x"});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        Request::post("/v1/tokens", body)
    };
    let year_and_more = rfc3339_in(367 * 24 * 3600);
    let past = rfc3339_in(-10);
    #[rustfmt::skip]
    let cases = [
        ("expiry in the past", token(json!({"expires_at": past})), 422, VALIDATION, Some("expires_at")),
        ("expiry now-ish", token(json!({"expires_at": rfc3339_in(0)})), 422, VALIDATION, Some("expires_at")),
        ("expiry beyond 366 days", token(json!({"expires_at": year_and_more})), 422, VALIDATION, Some("expires_at")),
        ("expiry not a time", token(json!({"expires_at": "tomorrow"})), 422, VALIDATION, Some("expires_at")),
        ("expiry a number", token(json!({"expires_at": 1_700_000_000})), 422, VALIDATION, Some("expires_at")),
        ("unknown scope", token(json!({"scopes": ["read", "everything"]})), 422, VALIDATION, Some("scopes[1]")),
        ("scope in capitals", token(json!({"scopes": ["READ"]})), 422, VALIDATION, Some("scopes[0]")),
        ("no scope at all", token(json!({"scopes": []})), 422, VALIDATION, Some("scopes")),
        ("scopes not a list", token(json!({"scopes": "read"})), 422, VALIDATION, Some("scopes")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 9);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_requests_are_precise_4xx() {
    let w = TargetServer::new().await;
    let s = &w.s;
    let unknown = Uuid::now_v7();
    let org = format!("/v1/organizations/{}", s.org);
    let shared = format!("/v1/workspaces/{}", s.shared);
    let member = &s.member.id;
    let owner = &s.owner.id;
    #[rustfmt::skip]
    let cases = vec![
        ("organization renamed to nothing", Request::patch(org.clone(), json!({"name": "  "})), 422, VALIDATION, Some("name")),
        ("organization renamed to its name", Request::patch(org.clone(), json!({"name": "Default organization"})), 422, VALIDATION, Some("name")),
        ("organization rename with a stray field", Request::patch(org.clone(), json!({"name": "X", "owner": owner})), 422, VALIDATION, Some("owner")),
        ("organization id not a UUID", Request::patch("/v1/organizations/acme", json!({"name": "X"})), 400, BAD_REQUEST, Some("id")),
        ("unknown organization", Request::patch(format!("/v1/organizations/{unknown}"), json!({"name": "X"})), 403, FORBIDDEN, Some("principal")),
        ("workspace name too long", Request::patch(shared.clone(), json!({"name": "w".repeat(81)})), 422, VALIDATION, Some("name")),
        ("organization workspace renamed", Request::patch(format!("/v1/workspaces/{}", s.org_workspace), json!({"name": "X"})), 422, VALIDATION, Some("workspace")),
        ("personal workspace renamed", Request::patch(format!("/v1/workspaces/{}", s.owner.personal), json!({"name": "X"})), 403, FORBIDDEN, Some("principal")),
        ("rename without a name", Request::patch(shared.clone(), json!({})), 422, VALIDATION, Some("name")),
        ("rename against an old version", Request::patch(shared.clone(), json!({"name": "Y"})).header("if-match", "\"1\""), 412, VERSION_MISMATCH, Some("if-match")),
        ("rename with a bad if-match", Request::patch(shared.clone(), json!({"name": "Y"})).header("if-match", "W/\"x\""), 400, BAD_REQUEST, Some("if-match")),
        ("removal naming nobody", Request::delete(format!("/v1/memberships?organization={}", s.org)), 400, BAD_REQUEST, Some("user")),
        ("removal naming both", Request::delete(format!("/v1/memberships?organization={}&workspace={}&user={member}", s.org, s.shared)), 400, BAD_REQUEST, Some("organization")),
        ("removal of a non-member", Request::delete(format!("/v1/memberships?workspace={}&user={member}", s.shared)), 422, VALIDATION, Some("user")),
        ("removal of the last owner", Request::delete(format!("/v1/memberships?organization={}&user={owner}", s.org)), 422, VALIDATION, Some("role")),
        ("removal with a user that is not a UUID", Request::delete(format!("/v1/memberships?organization={}&user=bob", s.org)), 400, BAD_REQUEST, Some("user")),
        ("deactivating oneself", Request::post(format!("/v1/users/{owner}/deactivate"), json!({})), 403, FORBIDDEN, Some("principal")),
        ("deactivating an unknown user", Request::post(format!("/v1/users/{unknown}/deactivate"), json!({})), 404, NOT_FOUND, Some("user")),
        ("deactivating a bad id", Request::post("/v1/users/x/deactivate", json!({})), 400, BAD_REQUEST, Some("id")),
        ("reactivating an active user", Request::post(format!("/v1/users/{member}/reactivate"), json!({})), 422, VALIDATION, Some("user")),
        ("personal authentications of an active user", Request::get(format!("/v1/users/{member}/personal-authentications")), 404, NOT_FOUND, Some("user")),
        ("transfer of an active user's authentication", Request::post(format!("/v1/users/{member}/personal-authentications/{}/transfer", w.token_auth), json!({"workspace": s.shared})), 404, NOT_FOUND, Some("user")),
        ("transfer without a workspace", Request::post(format!("/v1/users/{member}/personal-authentications/{}/transfer", w.token_auth), json!({})), 422, VALIDATION, Some("workspace")),
        ("transfer of a bad id", Request::post(format!("/v1/users/{member}/personal-authentications/x/transfer"), json!({"workspace": s.shared})), 400, BAD_REQUEST, Some("authentication")),
    ];
    let count = cases.len();
    assert_eq!(refuse_all(s, cases).await, count);
    w.stop().await;
}
