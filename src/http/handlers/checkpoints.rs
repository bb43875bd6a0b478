//! Signed checkpoints of the ledger's head over HTTP: sign one now (administrators), read the
//! latest (administrators and auditors).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::domain::principals::CheckpointUse;
use crate::http::error::ApiError;
use crate::http::extract::Authenticated;
use crate::http::openapi::{ProblemSchema, TimeSchema, Unauthorized};
use crate::http::SharedState;
use crate::ledger::checkpoint::{create_checkpoint, rfc3339, Checkpoint};

/// A signed checkpoint: the Ed25519 signature covers `credledger-checkpoint-v1` ‖ position
/// (u64 BE) ‖ head hash ‖ `signed_at_micros` (i64 BE).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointBody {
    /// Always `credledger-checkpoint-v1`.
    pub format: String,
    /// The signed position.
    pub position: u64,
    /// The chain hash at that position (hex).
    pub head_hash: String,
    /// When it was signed.
    #[schema(value_type = TimeSchema)]
    pub signed_at: String,
    /// When it was signed, microseconds since the epoch (the signed value).
    pub signed_at_micros: i64,
    /// The Ed25519 public key (hex).
    pub public_key: String,
    /// `ed25519:` and 16 hex digits of the public key's SHA-256.
    pub key_fingerprint: String,
    /// The Ed25519 signature (base64).
    pub signature: String,
}

impl From<&Checkpoint> for CheckpointBody {
    fn from(c: &Checkpoint) -> Self {
        let doc = c.to_document();
        CheckpointBody {
            format: doc.format,
            position: doc.position,
            head_hash: doc.head_hash,
            signed_at: rfc3339(c.signed_at),
            signed_at_micros: doc.signed_at_micros,
            public_key: doc.public_key,
            key_fingerprint: doc.key_fingerprint,
            signature: doc.signature,
        }
    }
}

/// 403 unless the caller may use checkpoints that way (administrators sign and read,
/// auditors read: `domain::principals::authorize_checkpoints`).
async fn allow(
    state: &SharedState,
    who: &Authenticated,
    wanted: CheckpointUse,
) -> Result<(), ApiError> {
    Ok(state.app.authorize_checkpoints(&who.0, wanted).await?)
}

/// `POST /v1/checkpoints`.
#[utoipa::path(
    post,
    path = "/v1/checkpoints",
    operation_id = "createCheckpoint",
    tag = "ledger",
    summary = "Sign a checkpoint of the ledger's head",
    description = "Signs the ledger's durable head (position and chain hash) with the server's Ed25519 checkpoint key, stores the checkpoint and returns it. Keep the answer somewhere else: `credledger verify --checkpoint FILE` then detects a truncated or rewritten log. Administrators only. No body; safe to repeat (each call signs the head as it is then).",
    responses(
        (status = 201, description = "Signed and stored.", body = CheckpointBody),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is not an administrator (runners and auditors may not do this).", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "This server has no checkpoint signing key.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    allow(&state, &who, CheckpointUse::Sign).await?;
    let checkpoint = create_checkpoint(state.app.store(), state.signer.as_ref())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not sign a checkpoint");
            ApiError::internal()
        })?;
    Ok((StatusCode::CREATED, Json(CheckpointBody::from(&checkpoint))).into_response())
}

/// `GET /v1/checkpoints/latest`.
#[utoipa::path(
    get,
    path = "/v1/checkpoints/latest",
    operation_id = "getLatestCheckpoint",
    tag = "ledger",
    summary = "The latest signed checkpoint",
    description = "The stored checkpoint with the highest position. Administrators and auditors.",
    responses(
        (status = 200, description = "The latest checkpoint.", body = CheckpointBody),
        (status = 401, response = Unauthorized),
        (status = 403, description = "The caller is neither an administrator nor an auditor.", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No checkpoint has been signed yet.", body = ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn latest(
    State(state): State<SharedState>,
    who: Authenticated,
) -> Result<Response, ApiError> {
    let latest = state.app.latest_checkpoint(&who.0).await?.ok_or_else(|| {
        ApiError::about(
            StatusCode::NOT_FOUND,
            "not-found",
            "checkpoint",
            "none has been signed yet",
        )
    })?;
    Ok(Json(CheckpointBody::from(&latest)).into_response())
}
