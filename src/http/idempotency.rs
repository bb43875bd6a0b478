//! `Idempotency-Key` on writes: the same key with the same request replays the first answer
//! without writing again; the same key with another request is a 422. Records live in the
//! `idempotency` sled tree for at least 24 hours.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::digest;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::bearer_token;
use super::SharedState;
use crate::ledger::{codec, RecordedAt};

/// How long a record is honoured.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Largest request or response body the middleware buffers.
const BUFFER_LIMIT: usize = 1024 * 1024;
/// The request header.
pub const HEADER: &str = "idempotency-key";

/// Marks a response whose body holds a secret shown once: its record keeps no body.
#[derive(Debug, Clone, Copy)]
pub struct SecretBody;

/// A stored first answer.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    request_hash: [u8; 32],
    status: u16,
    content_type: Option<String>,
    etag: Option<String>,
    location: Option<String>,
    body: Option<Vec<u8>>,
    created_at: i64,
}

/// The idempotency records and the keys being processed right now.
pub struct IdempotencyStore {
    tree: sled::Tree,
    in_flight: Mutex<HashSet<Vec<u8>>>,
}

impl IdempotencyStore {
    /// Records in the `idempotency` tree of a database.
    pub fn open(db: &sled::Db) -> Result<IdempotencyStore, sled::Error> {
        Ok(IdempotencyStore {
            tree: db.open_tree("idempotency")?,
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// Removes records older than the retention; returns how many.
    pub fn sweep(&self) -> Result<usize, sled::Error> {
        let cutoff = RecordedAt::now().0 - RETENTION.as_micros() as i64;
        let mut removed = 0;
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            let expired = codec::decode::<Record>(&value).map_or(true, |r| r.created_at < cutoff);
            if expired {
                self.tree.remove(key)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.tree.flush()?;
        }
        Ok(removed)
    }

    fn get(&self, key: &[u8]) -> Option<Record> {
        let cutoff = RecordedAt::now().0 - RETENTION.as_micros() as i64;
        let bytes = self.tree.get(key).ok()??;
        codec::decode::<Record>(&bytes)
            .ok()
            .filter(|r| r.created_at >= cutoff)
    }

    fn put(&self, key: &[u8], record: &Record) -> Result<(), ApiError> {
        let bytes = codec::encode(record).map_err(|_| ApiError::internal())?;
        self.tree
            .insert(key, bytes)
            .map_err(|_| ApiError::internal())?;
        self.tree.flush().map_err(|_| ApiError::internal())?;
        Ok(())
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
    key: Vec<u8>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.store.in_flight.lock() {
            set.remove(&self.key);
        }
    }
}

fn replay(record: &Record) -> Response {
    let Some(body) = &record.body else {
        return ApiError::new(
            StatusCode::CONFLICT,
            "idempotent-replay-unavailable",
            "idempotency-key: this request was already processed; its answer held a secret that is shown only once",
        )
        .into_response();
    };
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let mut response = (status, body.clone()).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, &record.content_type),
        (header::ETAG, &record.etag),
        (header::LOCATION, &record.location),
    ] {
        if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
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
            ApiError::bad_request("idempotency-key: must be 1 to 255 printable ASCII characters")
                .into_response()
        })?
        .to_owned();
    let token_hash = bearer_token(request.headers())
        .map(|t| sha256(&[t.as_bytes()]))
        .unwrap_or([0; 32]);
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BUFFER_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "body: is larger than the limit",
        )
        .into_response()
    })?;
    let method = parts.method.as_str().as_bytes().to_vec();
    let path = parts.uri.path().as_bytes().to_vec();
    let key = sha256(&[&token_hash, &method, &path, key_text.as_bytes()]).to_vec();
    // Keyed, so a stored record cannot confirm a guessed body (which may hold secrets).
    let request_hash = state.app.keyed_digest(&sha256(&[&method, &path, &bytes]));
    let store = &state.idempotency;

    if let Some(record) = store.get(&key) {
        if record.request_hash != request_hash {
            return Err(ApiError::validation(
                "idempotency-key: was already used with a different request",
            )
            .into_response());
        }
        return Ok(replay(&record));
    }
    {
        let mut set = store
            .in_flight
            .lock()
            .map_err(|_| ApiError::internal().into_response())?;
        if !set.insert(key.clone()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency-in-progress",
                "idempotency-key: a request with this key is still being processed",
            )
            .into_response());
        }
    }
    let _release = InFlight {
        store,
        key: key.clone(),
    };
    // Another request may have finished between the lookup and the in-flight mark.
    if let Some(record) = store.get(&key) {
        return Ok(replay(&record));
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    // Server errors and answers that depend on timing (a lost race, a stale version, a
    // timeout) are not final: a retry with the same key must run again.
    let status = response.status();
    if status.is_server_error()
        || matches!(
            status,
            StatusCode::CONFLICT
                | StatusCode::PRECONDITION_FAILED
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::UNAUTHORIZED
        )
    {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, BUFFER_LIMIT)
        .await
        .map_err(|_| ApiError::internal().into_response())?;
    let header_text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let record = Record {
        request_hash,
        status: parts.status.as_u16(),
        content_type: header_text(header::CONTENT_TYPE),
        etag: header_text(header::ETAG),
        location: header_text(header::LOCATION),
        body: (parts.extensions.get::<SecretBody>().is_none()).then(|| body.to_vec()),
        created_at: RecordedAt::now().0,
    };
    store
        .put(&key, &record)
        .map_err(IntoResponse::into_response)?;
    Ok(Response::from_parts(parts, Body::from(body)))
}
