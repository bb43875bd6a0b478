//! One request over a real socket: a method and URL, a bearer token, a JSON (or raw) body and
//! extra headers; the answer's status, headers and body. Included by path
//! (`#[path = "../support/request.rs"]`) by `http_support`, whose `Server` sends with it.

#![allow(dead_code)] // Each test file uses a different part of it.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/problem+json`, the content type of every error answer.
pub const PROBLEM: &str = "application/problem+json";

/// A request body: none, JSON (sent as `application/json`), or raw bytes with a content type
/// (or none).
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Raw(Option<&'static str>, Vec<u8>),
}

impl From<Option<Value>> for Body {
    fn from(body: Option<Value>) -> Body {
        body.map_or(Body::None, Body::Json)
    }
}

/// An answer: status, headers, JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// Panics with the body unless the status is as expected.
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer: {}",
            self.text
        );
        self
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Sends one request: the body, then the extra headers.
pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Body,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match body {
        Body::None => {}
        Body::Json(value) => request = request.json(&value),
        Body::Raw(content_type, bytes) => {
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            request = request.body(bytes);
        }
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}
