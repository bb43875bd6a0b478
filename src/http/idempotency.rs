//! `Idempotency-Key` on writes: the same key with the same request replays the first answer
//! without writing again; the same key with another request is a 422.
//!
//! The record is not kept here: the middleware computes the key (token, method, path, header)
//! and a keyed hash of the request and hands them to the handler, whose application write
//! stores them in the ledger in the same transaction as its events (honoured 24 hours). A retry
//! finds the record exactly when the first write landed, also after a crash, and the handler
//! rebuilds the same answer from it. Nothing else is stored: refusals (4xx) are not replayed, a
//! retry runs the (deterministic) checks again, so no request value is ever kept by this layer.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::digest;

use super::error::ApiError;
use super::extract::bearer_token;
use super::SharedState;
use crate::app::{AppError, IdempotencyRequest};
use crate::ledger::{EventStore, StoreError};

/// Largest request body the middleware buffers.
const BUFFER_LIMIT: usize = 1024 * 1024;
/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Tree where earlier versions kept whole answers (4xx ones in plain text); dropped at start.
const LEGACY_TREE: &str = crate::storage::legacy::HTTP_IDEMPOTENCY;

/// The keys being processed right now, so two concurrent requests with one key do not both run.
pub struct IdempotencyStore {
    in_flight: Mutex<HashSet<[u8; 32]>>,
}

impl IdempotencyStore {
    /// Starts with no key in flight, and drops the answers older versions stored beside the
    /// ledger (they could hold request values in plain text).
    pub fn open(db: &sled::Db) -> Result<IdempotencyStore, sled::Error> {
        if db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == LEGACY_TREE.as_bytes())
        {
            db.drop_tree(LEGACY_TREE)?;
            db.flush()?;
            tracing::info!("dropped the answers stored by the former idempotency layer");
        }
        Ok(IdempotencyStore {
            in_flight: Mutex::new(HashSet::new()),
        })
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Releases an in-flight key when the request ends, however it ends.
struct InFlight<'a> {
    store: &'a IdempotencyStore,
    key: [u8; 32],
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.store.in_flight.lock() {
            set.remove(&self.key);
        }
    }
}

/// The middleware, for write routes.
pub async fn guard(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    match guarded(state, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(state: SharedState, request: Request, next: Next) -> Result<Response, Response> {
    let Some(raw_key) = request.headers().get(HEADER).cloned() else {
        return Ok(next.run(request).await);
    };
    let key_text = raw_key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::malformed(
                "idempotency-key",
                "must be 1 to 255 printable ASCII characters",
            )
            .into_response()
        })?
        .to_owned();
    let token_hash = bearer_token(request.headers())
        .map(|t| sha256(&[t.as_bytes()]))
        .unwrap_or([0; 32]);
    let (mut parts, body) = request.into_parts();
    let bytes = to_bytes(body, BUFFER_LIMIT).await.map_err(|_| {
        ApiError::about(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "body",
            "is larger than the limit",
        )
        .into_response()
    })?;
    let method = parts.method.as_str().as_bytes().to_vec();
    let path = parts.uri.path().as_bytes().to_vec();
    let key = sha256(&[&token_hash, &method, &path, key_text.as_bytes()]);
    // Keyed, so a stored record cannot confirm a guessed body (which may hold secrets).
    let request_hash = state.app.keyed_digest(&sha256(&[&method, &path, &bytes]));
    let store = &state.idempotency;
    {
        let mut set = store
            .in_flight
            .lock()
            .map_err(|_| ApiError::internal().into_response())?;
        if !set.insert(key) {
            return Err(ApiError::about(
                StatusCode::CONFLICT,
                "idempotency-in-progress",
                "idempotency-key",
                "a request with this key is still being processed",
            )
            .into_response());
        }
    }
    let _release = InFlight { store, key };
    // Looked up while the key is held, so no attempt with it can land in between: a record
    // now means the handler answers from it.
    let replaying = match state
        .app
        .store()
        .idempotent_outcome(&key, &request_hash)
        .await
    {
        Ok(found) => found.is_some(),
        Err(StoreError::IdempotencyKeyReused { .. }) => {
            return Err(ApiError::from(AppError::IdempotencyKeyReused).into_response())
        }
        Err(other) => return Err(ApiError::from(AppError::Store(other)).into_response()),
    };
    parts
        .extensions
        .insert(IdempotencyRequest { key, request_hash });
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if replaying && response.status().is_success() {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
