//! No existence oracle: every write endpoint answers an id (of an authentication, or a token)
//! that does not exist exactly as one the caller may not see (status, body modulo the id,
//! headers), with and without `If-Match`. Custom services: `tests/http_custom_services.rs`.

mod http_support;

use http_support::{Answer, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// Headers that differ between any two answers.
const VARYING: [&str; 3] = ["x-request-id", "date", "content-length"];

fn comparable(answer: &Answer, id: &str) -> (u16, String, Vec<(String, String)>) {
    let mut headers: Vec<(String, String)> = answer
        .headers
        .iter()
        .filter(|(name, _)| !VARYING.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("?").replace(id, "{id}"),
            )
        })
        .collect();
    headers.sort();
    (
        answer.status.as_u16(),
        answer.text.replace(id, "{id}"),
        headers,
    )
}

type Request = (Method, String, Option<Value>);

fn writes(id: &str, workspace: &str) -> Vec<Request> {
    let path = format!("/v1/authentications/{id}");
    vec![
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, path.clone(), None),
        (
            Method::POST,
            format!("{path}/reauthenticate"),
            Some(json!({"fields": {"token": "t-1"}})),
        ),
        (
            Method::POST,
            format!("{path}/restore"),
            Some(json!({"version": 1})),
        ),
        (Method::POST, format!("{path}/purge"), None),
        (
            Method::POST,
            "/v1/resolve".to_owned(),
            Some(json!({"authentication": id, "workspace": workspace, "template": "$.auth.token"})),
        ),
        (
            Method::POST,
            "/v1/oauth/authorize".to_owned(),
            Some(json!({"service": "slack", "authentication": id})),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_hidden_authentications_answer_alike_on_every_write() {
    let s = Server::start().await;
    // Version 2, so a stale `If-Match: "1"` and a restore target both exist for the owner.
    let hidden = s
        .call(
            Method::POST,
            "/v1/authentications",
            &s.editor.token,
            Some(json!({"name": "Hidden", "workspace": s.shared, "service": "airtable", "fields": {"token": "t-0"}})),
        )
        .await
        .expect(201);
    let hidden = hidden.body["id"].as_str().expect("id").to_owned();
    s.call(
        Method::PATCH,
        &format!("/v1/authentications/{hidden}"),
        &s.editor.token,
        Some(json!({"name": "Hidden 2"})),
    )
    .await
    .expect(200);
    let missing = "0190a6c2-0000-7000-8000-000000000042".to_owned();
    let mut compared = 0;
    for if_match in [None, Some("\"1\""), Some("\"2\""), Some("\"7\"")] {
        let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        for ((method, hidden_path, hidden_body), (_, missing_path, missing_body)) in
            writes(&hidden, &s.shared)
                .into_iter()
                .zip(writes(&missing, &s.shared))
        {
            let on_hidden = s
                .call_with(
                    method.clone(),
                    &hidden_path,
                    Some(&s.outsider.token),
                    hidden_body,
                    &headers,
                )
                .await;
            let on_missing = s
                .call_with(
                    method.clone(),
                    &missing_path,
                    Some(&s.outsider.token),
                    missing_body,
                    &headers,
                )
                .await;
            assert!(
                on_hidden.status.is_client_error(),
                "{method} {hidden_path}: {}",
                on_hidden.text
            );
            assert_eq!(
                comparable(&on_hidden, &hidden),
                comparable(&on_missing, &missing),
                "{method} {hidden_path} with If-Match {if_match:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 28);
    // The owner of the workspace does see it: the stale version is a real 412 there, so the
    // comparison above is between a refusal and a refusal, not two unrelated errors.
    s.call_with(
        Method::DELETE,
        &format!("/v1/authentications/{hidden}"),
        Some(&s.editor.token),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .expect(412);
    s.call_with(
        Method::DELETE,
        &format!("/v1/authentications/{missing}"),
        Some(&s.editor.token),
        None,
        &[("if-match", "\"1\"")],
    )
    .await
    .expect(404);
    s.stop().await;
}

/// Revoking a token: one of another user (which the caller may not revoke) answers exactly
/// like one that was never issued; its owner can revoke it, so the token is real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_another_users_token_looks_like_revoking_a_missing_one() {
    let s = Server::start().await;
    let issued = s
        .call(
            Method::POST,
            "/v1/tokens",
            &s.member.token,
            Some(json!({"kind": "user", "label": "the member's"})),
        )
        .await
        .expect(201);
    let theirs = issued.body["id"].as_str().expect("id").to_owned();
    let missing = uuid::Uuid::now_v7().to_string();
    let on_theirs = s
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{theirs}"),
            &s.outsider.token,
            None,
        )
        .await;
    let on_missing = s
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{missing}"),
            &s.outsider.token,
            None,
        )
        .await;
    assert_eq!(on_theirs.status.as_u16(), 404, "{}", on_theirs.text);
    assert_eq!(
        comparable(&on_theirs, &theirs),
        comparable(&on_missing, &missing)
    );
    s.call(
        Method::DELETE,
        &format!("/v1/tokens/{theirs}"),
        &s.member.token,
        None,
    )
    .await
    .expect(204);
    s.stop().await;
}
