//! What the people and token tests share: issuing a token over HTTP and reading audit as the
//! auditor.

use reqwest::Method;
use serde_json::Value;

use super::http_support::Server;

/// A token issued over `POST /v1/tokens`: its text (shown once) and id.
pub struct IssuedToken {
    pub token: String,
    pub id: String,
}

/// Issues a token with `body`, as the holder of `by`.
pub async fn issue_token(s: &Server, by: &str, body: Value) -> IssuedToken {
    let issued = s
        .call(Method::POST, "/v1/tokens", by, Some(body))
        .await
        .expect(201);
    IssuedToken {
        token: issued.body["token"].as_str().expect("token").to_owned(),
        id: issued.body["id"].as_str().expect("id").to_owned(),
    }
}

/// The audit records an auditor reads with this query (`type=…&outcome=…`), newest first.
pub async fn audit(s: &Server, query: &str) -> Vec<Value> {
    let answer = s
        .call(
            Method::GET,
            &format!("/v1/audit?{query}&limit=100"),
            &s.auditor_token,
            None,
        )
        .await
        .expect(200);
    answer.body["items"].as_array().expect("items").clone()
}
