//! Bad paths and methods: unknown routes, wrong methods, and bad or unknown ids in the paths
//! of authentications and tokens (malformed, not UTF-8, or of nothing). See
//! `bad_input_support` for what every case gets.

mod http_support;

mod bad_input_support;

use bad_input_support::{
    refuse_all, Request, TargetServer, BAD_REQUEST, METHOD_NOT_ALLOWED, NOT_FOUND,
};
use http_support::Body;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_404_problems_and_wrong_methods_405() {
    let w = TargetServer::new().await;
    let a = w.auth();
    #[rustfmt::skip]
    let cases = [
        ("nothing", Request::get("/v1/nothing"), 404, NOT_FOUND, Some("path")),
        ("old version", Request::post("/v2/authentications", json!({})), 404, NOT_FOUND, Some("path")),
        // `/` itself redirects to the dashboard (tests/dashboard.rs).
        ("unknown top-level path", Request::get("/nothing-here"), 404, NOT_FOUND, Some("path")),
        ("sub-resource", Request::new(Method::POST, format!("{a}/verify"), Body::None), 404, NOT_FOUND, Some("path")),
        ("too deep", Request::get(format!("{a}/history/1")), 404, NOT_FOUND, Some("path")),
        ("trailing slash", Request::get("/v1/authentications/"), 404, NOT_FOUND, Some("path")),
        ("GET purge", Request::get(format!("{a}/purge")), 405, METHOD_NOT_ALLOWED, Some("method")),
        ("PUT an authentication", Request::new(Method::PUT, a.clone(), Body::None), 405, METHOD_NOT_ALLOWED, Some("method")),
        ("DELETE users", Request::delete("/v1/users"), 405, METHOD_NOT_ALLOWED, Some("method")),
        ("PATCH resolve", Request::new(Method::PATCH, "/v1/resolve", Body::None), 405, METHOD_NOT_ALLOWED, Some("method")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 10);
    w.stop().await;
}

/// Every route with an id in its path, with that id, and a body it would otherwise accept.
fn routes_with_an_id(id: &str) -> Vec<Request> {
    let a = format!("/v1/authentications/{id}");
    vec![
        Request::get(&a),
        Request::get(format!("{a}/history")),
        Request::patch(&a, json!({"name": "x"})),
        Request::delete(&a),
        Request::post(
            format!("{a}/reauthenticate"),
            json!({"fields": {"token": "x"}}),
        ),
        Request::post(format!("{a}/restore"), json!({"version": 1})),
        Request::new(Method::POST, format!("{a}/purge"), Body::None),
        Request::delete(format!("/v1/tokens/{id}")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_in_paths_are_400_and_unknown_ids_404() {
    let w = TargetServer::new().await;
    let mut cases = Vec::new();
    for id in [
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-00000000000g",
        "0192d2c1-7c4e-7cc0-8f5e-3f1f2b9a1c2d-extra",
        "%20",
        "%E2%9C%93",
    ] {
        for request in routes_with_an_id(id) {
            cases.push((
                format!("bad id {id:?}"),
                request,
                400,
                BAD_REQUEST,
                Some("id"),
            ));
        }
    }
    for request in routes_with_an_id(&Uuid::now_v7().to_string()) {
        let field = if request.path.starts_with("/v1/tokens") {
            "token"
        } else {
            "authentication"
        };
        cases.push(("unknown id".into(), request, 404, NOT_FOUND, Some(field)));
    }
    assert_eq!(refuse_all(&w.s, cases).await, 8 * 7);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_path_id_is_a_400_problem() {
    let w = TargetServer::new().await;
    #[rustfmt::skip]
    let cases = [
        ("%FF as an authentication", Request::get("/v1/authentications/%FF"), 400, BAD_REQUEST, Some("id")),
        ("%C3%28 as an authentication, for its history", Request::get("/v1/authentications/%C3%28/history"), 400, BAD_REQUEST, Some("id")),
        ("%FF as a token", Request::delete("/v1/tokens/%FF"), 400, BAD_REQUEST, Some("id")),
    ];
    assert_eq!(refuse_all(&w.s, cases).await, 3);
    w.stop().await;
}
