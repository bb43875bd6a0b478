//! Errors of the application layer (one enum; the HTTP edge maps each variant once).

use crate::crypto::CryptoError;
use crate::domain::authentication::AuthenticationError;
use crate::domain::directory::DirectoryError;
use crate::domain::services::{CatalogError, CustomServiceError};
use crate::ledger::StoreError;
use crate::projections::{BadCursor, ProjectionError};

use super::resolve::ResolveError;

/// Why an application operation failed. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The authentication does not exist, or the caller may not see it.
    #[error("authentication: not found")]
    NotFound,
    /// The caller's expected version is stale.
    #[error("version: expected {expected}, but the authentication is at version {actual}")]
    VersionMismatch {
        /// What the caller expected.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// A concurrent write won the race; retry with the new version.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The idempotency key was used before with another request.
    #[error("idempotency-key: was already used with a different request")]
    IdempotencyKeyReused,
    /// The request already ran under its idempotency key, and its answer held a secret that is
    /// shown only once.
    #[error("idempotency-key: this request was already processed; its answer held a secret that is shown only once")]
    AnswerShownOnce,
    /// The authentication command was refused.
    #[error(transparent)]
    Authentication(#[from] AuthenticationError),
    /// The directory command was refused.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The custom service was refused.
    #[error(transparent)]
    CustomService(#[from] CustomServiceError),
    /// A token or directory command was refused for this principal.
    #[error(transparent)]
    Principal(#[from] crate::domain::principals::PrincipalError),
    /// A resolution was refused.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A listing cursor is malformed.
    #[error(transparent)]
    Cursor(#[from] BadCursor),
    /// The service did not accept the new credential material.
    #[error(transparent)]
    Verification(#[from] super::verification::VerificationError),
    /// A restore target is not usable.
    #[error("{0}")]
    RestoreTarget(String),
    /// The service could not start (address in use, metrics registry).
    #[error("startup: {0}")]
    Startup(String),
    /// The master key does not belong to this data directory, or the key file is unusable.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read model failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The built-in service catalog is broken (a build defect).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Storage beside the log failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
}
