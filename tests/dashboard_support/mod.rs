//! The dashboard's test harness over real HTTP, shared by the dashboard test files: plain
//! requests that keep no cookies and follow no redirects (each answer is seen as sent),
//! forms, the session cookie of a sign-in, and the CSRF token of a page.

#![allow(dead_code)] // Each test file uses what it needs.

pub mod browser;

use super::http_support::Server;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};

/// A form field or a header.
pub type Pair<'a> = (&'a str, &'a str);

/// A client that keeps no cookies and follows no redirects, so each answer is seen as sent.
pub fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client")
}

pub async fn get(s: &Server, path: &str, session: Option<&str>) -> Response {
    let mut request = client().get(format!("{}{path}", s.base));
    if let Some(cookie) = session {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.expect("GET")
}

pub async fn post_form(
    s: &Server,
    path: &str,
    session: Option<&str>,
    form: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Response {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut request = client()
        .post(format!("{}{path}", s.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = session {
        request = request.header(COOKIE, cookie);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST")
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn location(response: &Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Signs in with `token`; answers the `name=value` of the session cookie and its whole
/// `Set-Cookie` line.
pub async fn sign_in(s: &Server, token: &str) -> (String, String) {
    let answer = post_form(s, "/ui/sign-in", None, &[("token", token)], &[]).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/ui/authentications");
    let set_cookie = answer
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    let pair = set_cookie.split(';').next().unwrap_or_default().to_owned();
    (pair, set_cookie)
}

/// The CSRF token of a signed-in page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Re-authenticates `id` over the API with a new `token` field, as its owner.
pub async fn reauthenticate(s: &Server, id: &str, token: &str) {
    s.call(
        reqwest::Method::POST,
        &format!("/v1/authentications/{id}/reauthenticate"),
        &s.owner.token,
        Some(serde_json::json!({"fields": {"token": token}})),
    )
    .await
    .expect(200);
}
