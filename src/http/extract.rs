//! Request extractors: the authenticated principal, JSON bodies and query strings whose
//! rejections become precise problems, and `If-Match`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::domain::secret::elide_values;

use super::error::ApiError;
use super::SharedState;
use crate::app::{AppError, Caller, IdempotencyRequest};
use crate::domain::ids::UserId;
use crate::domain::principals::{Principal, PrincipalError};
use crate::domain::token_scope::TokenUse;
use crate::ledger::{Origin, SignedInWith};

/// The caller, authenticated by its bearer token, with the request's idempotency key (set by
/// the idempotency middleware) so every write it makes carries it.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal, pub Option<IdempotencyRequest>);

impl Authenticated {
    /// The user behind the call, or 403 for runners and auditors.
    pub fn user(&self) -> Result<UserId, ApiError> {
        match &self.0 {
            Principal::User(id) => Ok(*id),
            Principal::Runner { .. } | Principal::Auditor { .. } => {
                Err(AppError::from(PrincipalError::UsersOnly).into())
            }
        }
    }

    /// The caller as the principal of an access record (any principal, bearer token).
    pub fn accessor(
        &self,
        workflow: Option<crate::domain::access_log::WorkflowStepRef>,
    ) -> crate::app::Accessor {
        crate::app::Accessor {
            actor: crate::ledger::Actor {
                principal: self.0.reference(),
                via: SignedInWith::ApiToken,
            },
            workflow,
        }
    }

    /// The caller for a command by a user.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        Ok(Caller {
            user: self.user()?,
            via: SignedInWith::ApiToken,
            origin: origin_of(headers)?,
            idempotency: self.1,
        })
    }
}

/// `X-Credledger-Origin`: `dashboard` marks dashboard calls, `api` (or no header) the API.
/// Any other value is refused: a typo must not silently become `api` in the audit trail.
pub fn origin_of(headers: &HeaderMap) -> Result<Origin, ApiError> {
    let Some(value) = headers.get("x-credledger-origin") else {
        return Ok(Origin::Api);
    };
    match value.to_str().map(str::trim) {
        Ok("api") => Ok(Origin::Api),
        Ok("dashboard") => Ok(Origin::Dashboard),
        _ => Err(ApiError::malformed(
            "x-credledger-origin",
            "must be `api` or `dashboard`",
        )),
    }
}

/// The token text of a `Bearer` authorization header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<SharedState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or_else(|| {
            ApiError::about(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "authorization",
                "a Bearer token is required",
            )
        })?;
        let path = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map_or_else(|| parts.uri.path(), |p| p.as_str());
        let wanted = token_use_of(&parts.method, path);
        state
            .app
            .authenticate(token, wanted)
            .await?
            .map(|principal| {
                let key = parts.extensions.get::<IdempotencyRequest>().copied();
                Authenticated(principal, key)
            })
            .ok_or_else(ApiError::token_not_valid)
    }
}

/// The routes under which every change is a write (the `write` scope): authentications,
/// custom services, the OAuth2 flow and webhook subscriptions. Every other change administers.
pub const WRITE_ROUTES: [&str; 4] = [
    "/v1/authentications",
    "/v1/services",
    "/v1/oauth",
    "/v1/webhooks",
];

/// What a request of the API is, for a token's scopes: a resolve; a read (`GET`, but the OAuth2
/// callback, which records a grant); a change under [`WRITE_ROUTES`] (a write); any other
/// change administers (the directory, tokens, sign-in links, checkpoints, and whatever route
/// is added without being listed: unknown changes fail closed). The routes are translated
/// here; whether the token's scopes allow the use is the domain's rule
/// ([`crate::domain::token_scope::scopes_allow`]), applied by the app.
pub fn token_use_of(method: &axum::http::Method, path: &str) -> TokenUse {
    if path == "/v1/resolve" {
        TokenUse::Resolve
    } else if path == "/v1/oauth/callback" {
        // A GET (the provider redirects the browser) that records the grant.
        TokenUse::Write
    } else if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        TokenUse::Read
    } else if WRITE_ROUTES.iter().any(|prefix| is_under(path, prefix)) {
        TokenUse::Write
    } else {
        TokenUse::Administer
    }
}

/// Whether `path` is `prefix` or below it (`/v1/users/x` is under `/v1/users`, `/v1/usersx`
/// is not).
fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A JSON body; malformed JSON, wrong types and unknown fields become 400/422 problems.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::about(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "content-type",
                "must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::about(
                    e.status(),
                    "payload-too-large",
                    "body",
                    "is larger than the limit",
                )
            } else {
                ApiError::malformed("body", "could not be read")
            }
        })?;
        // Syntax first (400), then shape (422), so a broken body is never reported as a
        // wrong field just because serde met the field first.
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::malformed(
                "body",
                format!("malformed JSON at line {} column {}", e.line(), e.column()),
            )
        })?;
        serde_path_to_error::deserialize::<_, T>(value)
            .map(ApiJson)
            .map_err(|e| shape_problem(&e.path().to_string(), &e.inner().to_string()))
    }
}

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| {
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// A 422 naming the field: `fields.token: invalid type: map, expected a string`.
fn shape_problem(path: &str, inner: &str) -> ApiError {
    let inner = elide_values(inner);
    let at_root = path.is_empty() || path == ".";
    let within = |field: &str| {
        if at_root {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    if let Some(field) = backticked(&inner, "missing field `") {
        return ApiError::invalid(within(field), "is required");
    }
    if let Some(field) = backticked(&inner, "unknown field `") {
        // The path already ends with the unknown field.
        let expected = inner.split_once(", ").map_or("", |(_, e)| e);
        let name = if at_root {
            field.to_owned()
        } else {
            path.to_owned()
        };
        return ApiError::invalid(name, format!("is not a known field ({expected})"));
    }
    if at_root {
        ApiError::invalid("body", inner)
    } else {
        ApiError::invalid(path, inner)
    }
}

fn backticked<'a>(message: &'a str, after: &str) -> Option<&'a str> {
    let (_, rest) = message.split_once(after)?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Query parameters; bad values become a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                // "limit: invalid digit found in string" already names the parameter.
                let text = e.body_text();
                let detail = text.trim_start_matches("Failed to deserialize query string: ");
                // serde names the parameter before its first ": ".
                Err(match backticked(detail, "unknown field `") {
                    Some(name) => ApiError::malformed(name, "is not a known query parameter"),
                    None => match detail.split_once(": ") {
                        Some((name, reason)) => ApiError::malformed(name, elide_values(reason)),
                        None => ApiError::malformed("query", elide_values(detail)),
                    },
                })
            }
            Err(other) => Err(ApiError::malformed("query", other.body_text())),
        }
    }
}

/// The version in an `If-Match` header (`"3"` or `3`), if present.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::malformed("if-match", "is not text"))?
        .trim();
    let bare = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    bare.parse::<u64>().map(Some).map_err(|_| {
        ApiError::malformed(
            "if-match",
            format!("{text:?} is not an entity tag of this API (expected \"<version>\")"),
        )
    })
}

/// An `ETag` header value for a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// `response` with the `ETag` of `version`.
pub fn with_etag(mut response: axum::response::Response, version: u64) -> axum::response::Response {
    if let Ok(value) = etag(version).parse() {
        response
            .headers_mut()
            .insert(axum::http::header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn each_route_is_a_resolve_a_read_a_write_or_administration() {
        let table = [
            (Method::POST, "/v1/resolve", TokenUse::Resolve),
            (Method::GET, "/v1/authentications", TokenUse::Read),
            (Method::GET, "/v1/audit", TokenUse::Read),
            (Method::GET, "/v1/tokens", TokenUse::Read),
            (Method::GET, "/v1/oauth/callback", TokenUse::Write),
            (Method::POST, "/v1/oauth/authorize", TokenUse::Write),
            (Method::POST, "/v1/authentications", TokenUse::Write),
            (Method::PATCH, "/v1/authentications/{id}", TokenUse::Write),
            (Method::DELETE, "/v1/authentications/{id}", TokenUse::Write),
            (Method::POST, "/v1/services", TokenUse::Write),
            (Method::POST, "/v1/tokens", TokenUse::Administer),
            (Method::DELETE, "/v1/tokens/{id}", TokenUse::Administer),
            (
                Method::POST,
                "/v1/users/{id}/deactivate",
                TokenUse::Administer,
            ),
            (Method::PATCH, "/v1/workspaces/{id}", TokenUse::Administer),
            (Method::POST, "/v1/checkpoints", TokenUse::Administer),
            (Method::POST, "/v1/sign-in-links", TokenUse::Administer),
            // Unknown changes fail closed; a prefix is a whole path segment.
            (Method::POST, "/v1/usersx", TokenUse::Administer),
            (Method::POST, "/v1/authenticationsx", TokenUse::Administer),
            (Method::PUT, "/v1/something-new", TokenUse::Administer),
        ];
        for (method, path, expected) in table {
            assert_eq!(token_use_of(&method, path), expected, "{method} {path}");
        }
    }

    /// Every change the API documents (and the router serves: `tests/openapi.rs` checks they
    /// are the same), placed consciously: a new route fails here until it is listed as a
    /// write or as administration.
    #[test]
    fn every_documented_change_is_a_listed_write_or_administration() {
        use std::collections::BTreeSet;
        let writes: BTreeSet<(&str, &str)> = [
            ("post", "/v1/authentications"),
            ("patch", "/v1/authentications/{id}"),
            ("delete", "/v1/authentications/{id}"),
            ("post", "/v1/authentications/{id}/reauthenticate"),
            ("post", "/v1/authentications/{id}/restore"),
            ("post", "/v1/authentications/{id}/purge"),
            ("post", "/v1/services"),
            ("patch", "/v1/services/{id}"),
            ("post", "/v1/services/{id}/retire"),
            ("put", "/v1/services/{id}/oauth-client"),
            ("post", "/v1/oauth/authorize"),
            ("post", "/v1/webhooks"),
            ("delete", "/v1/webhooks/{id}"),
            ("post", "/v1/webhooks/{id}/enable"),
        ]
        .into();
        let administration: BTreeSet<(&str, &str)> = [
            ("post", "/v1/organizations"),
            ("patch", "/v1/organizations/{id}"),
            ("post", "/v1/workspaces"),
            ("patch", "/v1/workspaces/{id}"),
            ("post", "/v1/users"),
            ("post", "/v1/users/{id}/deactivate"),
            ("post", "/v1/users/{id}/reactivate"),
            (
                "post",
                "/v1/users/{id}/personal-authentications/{authentication}/transfer",
            ),
            ("post", "/v1/memberships"),
            ("delete", "/v1/memberships"),
            ("post", "/v1/tokens"),
            ("delete", "/v1/tokens/{id}"),
            ("post", "/v1/sign-in-links"),
            ("post", "/v1/checkpoints"),
        ]
        .into();
        let document = crate::http::openapi::document_value();
        let paths = document["paths"].as_object().expect("paths");
        let mut changes = BTreeSet::new();
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                let Ok(parsed) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue; // `parameters` and other keys of a path item
                };
                if parsed == Method::GET || path == "/v1/resolve" {
                    continue;
                }
                let wanted = token_use_of(&parsed, path);
                let route = (method.as_str(), path.as_str());
                let listed = if writes.contains(&route) {
                    TokenUse::Write
                } else if administration.contains(&route) {
                    TokenUse::Administer
                } else {
                    panic!("{method} {path} is a change listed neither as a write nor as administration")
                };
                assert_eq!(wanted, listed, "{method} {path}");
                changes.insert((method.clone(), path.clone()));
            }
        }
        let listed: BTreeSet<(String, String)> = writes
            .iter()
            .chain(&administration)
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(listed, changes, "every listed change is a documented route");
    }
}
