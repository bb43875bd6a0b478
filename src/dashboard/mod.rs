//! The web dashboard under `/ui`: server-rendered pages (askama templates in `templates/`)
//! over the same `app` operations as the JSON API, behind a server-side session. Every
//! action is a plain form; pages carry a strict Content-Security-Policy and no inline script.
//!
//! This module only translates: it reads the session, calls one `app` operation, and renders
//! the answer. Rules live in `domain` and `app` (docs/architecture.md, "Where each rule lives").

mod audit;
mod create;
mod custom_service;
mod details;
mod directory;
mod history;
mod ledger;
mod lifecycle;
mod listing;
mod lookback;
mod oauth;
mod pages;
mod reconnect;
mod refusals;
pub mod session;
mod settings;
mod sign_in_link;
mod time_input;
mod tokens;
mod workspace_choice;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::error::DocumentedPlainAnswer;
use crate::http::SharedState;

pub use session::Sessions;

/// The dashboard's pages, to merge into the server's router.
pub fn router() -> Router<SharedState> {
    let pages = Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/sign-in", get(pages::sign_in_form).post(pages::sign_in))
        .route("/ui/sign-out", post(pages::sign_out))
        // Part B (dash-b): one-time sign-in links and the OAuth2 return.
        .route(
            "/ui/sign-in/link/{secret}",
            get(sign_in_link::form).post(sign_in_link::sign_in),
        )
        .route("/ui/authentications/new/oauth", post(oauth::start))
        .route("/ui/oauth/callback", get(oauth::callback))
        .route(
            "/ui/services/new",
            get(custom_service::form).post(custom_service::save),
        )
        .route("/ui/authentications", get(pages::authentications))
        .route(
            "/ui/authentications/new",
            get(create::form).post(create::create),
        )
        .route("/ui/authentications/{id}", get(pages::authentication))
        .route("/ui/authentications/{id}/delete", post(lifecycle::delete))
        .route("/ui/authentications/{id}/restore", post(lifecycle::restore))
        .route("/ui/authentications/{id}/purge", post(lifecycle::purge))
        .route("/ui/authentications/{id}/history", get(history::history))
        .route(
            "/ui/authentications/{id}/details",
            get(details::form).post(details::save),
        )
        .route(
            "/ui/authentications/{id}/settings",
            get(settings::form).post(settings::save),
        )
        .route(
            "/ui/authentications/{id}/reconnect",
            post(reconnect::reconnect),
        )
        .route("/ui/static/style.css", get(style))
        // Looking back, audit, and the reference pages (issue 14, part A).
        .route(
            "/ui/authentications/{id}/as-of",
            get(lookback::authentication),
        )
        .route(
            "/ui/authentications/{id}/usable-by",
            get(lookback::usable_by),
        )
        .route("/ui/workspaces/as-of", get(lookback::workspace))
        .route("/ui/audit", get(audit::audit))
        .route("/ui/audit/export", get(audit::download))
        .route("/ui/services", get(ledger::services))
        .route("/ui/integrity", get(ledger::integrity))
        .route("/ui/directory", get(directory::directory))
        .route("/ui/tokens", get(tokens::tokens).post(tokens::issue))
        .route("/ui/tokens/{id}/revoke", post(tokens::revoke))
        .route("/ui/static/app.js", get(script))
        .layer(axum::middleware::from_fn(guard));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .merge(pages)
}

/// The policy of every page: nothing from elsewhere, no inline script or style, never framed.
/// The one script is the dashboard's own file, which fetches only from this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Refuses forms posted from another site, and gives every answer the dashboard's security
/// headers. Error pages are HTML, not problems: the API's problem mapping leaves them alone.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_origin(request.headers()) {
        let mut refused = (
            StatusCode::FORBIDDEN,
            Html("<!doctype html><title>Refused</title><p>This form was sent from another site."),
        )
            .into_response();
        secure(refused.headers_mut());
        refused.extensions_mut().insert(DocumentedPlainAnswer);
        return refused;
    }
    let mut response = next.run(request).await;
    secure(response.headers_mut());
    response.extensions_mut().insert(DocumentedPlainAnswer);
    response
}

fn secure(headers: &mut HeaderMap) {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// A POST is same-origin when the browser says so (`Sec-Fetch-Site`) or its `Origin` names
/// this host; a request that sends neither (not a browser) is left to the CSRF token.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../templates/dashboard/style.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../templates/dashboard/app.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn forms_from_another_site_are_told_apart() {
        // (case, headers, same origin)
        let table = [
            (
                "browser, same origin",
                headers(&[("sec-fetch-site", "same-origin")]),
                true,
            ),
            (
                "browser, typed address",
                headers(&[("sec-fetch-site", "none")]),
                true,
            ),
            (
                "browser, other site",
                headers(&[("sec-fetch-site", "cross-site")]),
                false,
            ),
            (
                "browser, same site other origin",
                headers(&[("sec-fetch-site", "same-site")]),
                false,
            ),
            (
                "origin matches host",
                headers(&[
                    ("origin", "http://127.0.0.1:8080"),
                    ("host", "127.0.0.1:8080"),
                ]),
                true,
            ),
            (
                "origin is elsewhere",
                headers(&[
                    ("origin", "https://evil.example"),
                    ("host", "127.0.0.1:8080"),
                ]),
                false,
            ),
            (
                "origin without host",
                headers(&[("origin", "https://evil.example")]),
                false,
            ),
            ("no browser headers", headers(&[]), true),
        ];
        for (case, headers, expected) in table {
            assert_eq!(same_origin(&headers), expected, "{case}");
        }
    }
}
