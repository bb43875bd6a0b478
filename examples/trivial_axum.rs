//! A trivial axum server: the same-run baseline for `benches/http_load.sh`.
//!
//! `GET /` answers `ok`; `POST /echo` parses a JSON body and answers a small JSON object.
//! No middleware, no state, no storage: what axum + tokio cost on this machine.
//!
//! ```text
//! cargo run --release --example trivial_axum -- 127.0.0.1:18181
//! ```

use std::net::SocketAddr;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

async fn root() -> &'static str {
    "ok"
}

async fn echo(Json(body): Json<Value>) -> Json<Value> {
    let keys = body.as_object().map_or(0, |o| o.len());
    Json(json!({ "ok": true, "keys": keys }))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18181".to_owned())
        .parse()
        .expect("usage: trivial_axum [ADDR:PORT]");
    let router = Router::new()
        .route("/", get(root))
        .route("/echo", post(echo));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot bind {addr}: {e}"));
    println!(
        "trivial_axum: serving http://{}",
        listener.local_addr().expect("bound address")
    );
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .expect("serve");
}
