//! Bad input to `POST /v1/tokens`: unknown kinds, missing or blank names and labels, and users
//! who do not exist. (Bad token ids in paths are in `bad_input_routes.rs`.) See
//! `bad_input_support` for what every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{refuse_all, Request, TargetServer, NOT_FOUND, VALIDATION};
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_rules_are_precise_4xx() {
    let w = TargetServer::new().await;
    let token = |body: Value| Request::post("/v1/tokens", body);
    #[rustfmt::skip]
    let cases = [
        ("kind that does not exist", token(json!({"kind": "robot", "label": "x"})), 422, VALIDATION, Some("kind")),
        ("runner without a name", token(json!({"kind": "runner", "label": "x"})), 422, VALIDATION, Some("name")),
        ("auditor with a blank name", token(json!({"kind": "auditor", "name": "  ", "label": "x"})), 422, VALIDATION, Some("name")),
        ("blank label", token(json!({"kind": "user", "label": " "})), 422, VALIDATION, Some("label")),
        ("label of 121", token(json!({"kind": "user", "label": "l".repeat(121)})), 422, VALIDATION, Some("label")),
        ("for a user who does not exist", token(json!({"kind": "user", "user": Uuid::now_v7(), "label": "x"})), 404, NOT_FOUND, Some("user")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 6);
    w.stop().await;
}
