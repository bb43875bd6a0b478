//! Bad input to `POST /v1/resolve`: templates with bad references, a missing template, a bad
//! workflow step, and a user resolving for someone else. See `bad_input_support` for what
//! every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{refuse_all, Request, TargetServer, FORBIDDEN, VALIDATION};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_with_bad_references_are_422() {
    let w = TargetServer::new().await;
    let s = &w.s;
    // A resolve of the Airtable authentication, with `patch` merged over the body.
    let resolve = |patch: Value| {
        let mut body = json!({"authentication": w.token_auth, "workspace": s.owner.personal});
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        Request::post("/v1/resolve", body)
    };
    let template = |template: Value| resolve(json!({ "template": template }));
    #[rustfmt::skip]
    let cases = [
        ("unclosed reference", template(json!("Bearer {$.auth.token")), 422, VALIDATION, Some("template")),
        ("unclosed nested reference", template(json!({"headers": {"Authorization": ["{$.auth."]}})), 422, VALIDATION, Some("template")),
        ("space in a reference", template(json!("{$.auth.to ken}")), 422, VALIDATION, Some("template")),
        ("empty reference", template(json!("{$.auth.}")), 422, VALIDATION, Some("template")),
        ("field of no such name", template(json!("$.auth.password")), 422, VALIDATION, Some("template")),
        ("a user resolving for someone else", resolve(json!({"user": s.member.id, "template": "$.auth.token"})), 403, FORBIDDEN, Some("user")),
        ("no template", resolve(json!({})), 422, VALIDATION, Some("template")),
        ("bad workflow step", resolve(json!({"template": "$.auth.token", "workflow": {"workflow_id": "w f", "step_id": "s"}})), 422, VALIDATION, Some("workflow.workflow_id")),
    ];
    assert_eq!(refuse_all(s, cases).await, 8);
    w.stop().await;
}
