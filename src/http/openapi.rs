//! The OpenAPI document, generated from the code.

use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(info(
    title = "credledger",
    description = "An event-sourced ledger of the credentials an integration platform keeps."
))]
pub struct ApiDoc;

/// The document as JSON text (pretty-printed, as kept in `docs/openapi.json`).
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `GET /openapi.json`.
pub async fn serve() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
