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
    /// The workspace does not exist, or the caller may not see it.
    #[error("workspace: not found")]
    WorkspaceNotFound,
    /// The organization does not exist, or the caller is not one of its members.
    #[error("organization: not found")]
    OrganizationNotFound,
    /// The caller's expected version is stale.
    #[error("version: expected {expected}, but the authentication is at version {actual}")]
    VersionMismatch {
        /// What the caller expected.
        expected: u64,
        /// The current version.
        actual: u64,
    },
    /// The directory is not at the version the caller's `If-Match` names.
    #[error(
        "if-match: expected directory version {expected}, but the directory is at version {actual}"
    )]
    DirectoryVersionMismatch {
        /// The version the caller expected.
        expected: u64,
        /// The directory's version.
        actual: u64,
    },
    /// A concurrent write won the race; retry with the new version.
    #[error("conflict: {0}")]
    Conflict(ConflictReason),
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
    /// A live API token was refused for this use (expired, out of scope); recorded in audit.
    #[error(transparent)]
    Token(#[from] crate::domain::token_scope::TokenRefusal),
    /// A listing cursor is malformed.
    #[error(transparent)]
    Cursor(#[from] BadCursor),
    /// The service did not accept the new credential material.
    #[error(transparent)]
    Verification(#[from] super::verification::VerificationError),
    /// An event stream was not opened.
    #[error(transparent)]
    EventStream(#[from] super::event_feed::EventStreamError),
    /// A webhook command was refused.
    #[error(transparent)]
    Webhook(#[from] crate::domain::webhooks::WebhookError),
    /// A restore target is not usable.
    #[error("{0}")]
    RestoreTarget(RestoreRefusal),
    /// The service could not start (address in use, metrics registry).
    #[error("startup: {0}")]
    Startup(StartupError),
    /// The master key does not belong to this data directory, or the key file is unusable.
    #[error("master key: {0}")]
    MasterKey(Box<MasterKeyError>),
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
    /// Reading the signed checkpoints failed.
    #[error(transparent)]
    Checkpoint(#[from] crate::ledger::checkpoint::CheckpointError),
}

impl AppError {
    /// The request field the error is about, as its text begins (`authentication`,
    /// `idempotency-key`, or the layer's own error's field). Errors of the service itself
    /// (start-up, keys, crypto, storage, read models, the catalog) are about no request field:
    /// they are answered as `internal`, without their text.
    pub fn field(&self) -> Option<String> {
        let field = match self {
            AppError::Authentication(inner) => return inner.field(),
            AppError::Directory(inner) => return inner.field(),
            AppError::CustomService(inner) => return inner.field(),
            AppError::Principal(inner) => return inner.field(),
            AppError::Resolve(inner) => return inner.field(),
            AppError::Token(inner) => return inner.field(),
            AppError::EventStream(inner) => return inner.field(),
            AppError::Webhook(inner) => return inner.field(),
            AppError::RestoreTarget(refusal) => refusal.field(),
            AppError::NotFound => "authentication",
            AppError::WorkspaceNotFound => "workspace",
            AppError::OrganizationNotFound => "organization",
            AppError::VersionMismatch { .. } => "version",
            AppError::DirectoryVersionMismatch { .. } => "if-match",
            AppError::Conflict(_) => "conflict",
            AppError::IdempotencyKeyReused | AppError::AnswerShownOnce => "idempotency-key",
            AppError::Cursor(_) => "cursor",
            AppError::Verification(_) => "verification",
            AppError::Startup(_)
            | AppError::MasterKey(_)
            | AppError::Crypto(_)
            | AppError::Store(_)
            | AppError::Projection(_)
            | AppError::Catalog(_)
            | AppError::Checkpoint(_)
            | AppError::Storage(_) => return None,
        };
        Some(field.to_owned())
    }
}

impl From<MasterKeyError> for AppError {
    fn from(e: MasterKeyError) -> AppError {
        // Boxed: it carries paths and the key check's error, and every Result<_, AppError> would
        // otherwise be that large.
        AppError::MasterKey(Box::new(e))
    }
}

/// Why a write lost a race; the caller retries with the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConflictReason {
    /// The authentication or its service changed between the verification and the append, so
    /// the check may not hold for what would land.
    #[error(
        "the authentication or its service changed while the new settings were verified; retry"
    )]
    ChangedWhileVerifying,
    /// Another write moved the authentication on first.
    #[error("a concurrent change moved it to version {actual}; retry")]
    ConcurrentChange {
        /// The version it is at now.
        actual: u64,
    },
}

/// The request field that names the point a restore goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreField {
    /// `version`.
    Version,
    /// `as_of`.
    AsOf,
}

impl RestoreField {
    /// The field's name in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreField::Version => "version",
            RestoreField::AsOf => "as_of",
        }
    }
}

impl std::fmt::Display for RestoreField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the point a restore names cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreRefusal {
    /// The authentication was created after that point.
    #[error("{field}: the authentication did not exist at that point")]
    DidNotExist {
        /// The field naming the point.
        field: RestoreField,
    },
    /// It existed but was deleted (or not yet active) then.
    #[error("{field}: the authentication was not active at that point")]
    NotActive {
        /// The field naming the point.
        field: RestoreField,
    },
    /// Its data key was destroyed: no old secret can be opened again.
    #[error("authentication: its secrets were purged")]
    SecretsPurged,
}

impl RestoreRefusal {
    /// The request field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            RestoreRefusal::DidNotExist { field } | RestoreRefusal::NotActive { field } => {
                field.as_str()
            }
            RestoreRefusal::SecretsPurged => "authentication",
        }
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A command that needs an existing data directory was pointed at none.
    #[error("no data directory at {}", path.display())]
    NoDataDirectory {
        /// The directory given.
        path: std::path::PathBuf,
    },
    /// Another process holds sled's lock on the directory.
    #[error("the data directory {} is in use by another process (is `credledger serve` running?); sled allows one process at a time: stop it first", path.display())]
    DirectoryInUse {
        /// The directory given.
        path: std::path::PathBuf,
    },
    /// The metrics registry refused a metric (a build defect).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The checkpoint signing key could not be loaded or created.
    #[error("checkpoints: {0}")]
    SigningKey(#[from] crate::crypto::SigningKeyError),
    /// The listen address could not be bound.
    #[error("listen: cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The bound socket's address could not be read.
    #[error("listen: {0}")]
    LocalAddr(std::io::Error),
}

/// Why a master key and a data directory do not go together, or a key file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The fingerprint file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFingerprint {
        /// The fingerprint file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The fingerprint file does not hold a fingerprint.
    #[error("{} is not a master key fingerprint", path.display())]
    BadFingerprint {
        /// The fingerprint file.
        path: std::path::PathBuf,
    },
    /// The fingerprint file could not be written.
    #[error("cannot write the key fingerprint: {0}")]
    WriteFingerprint(std::io::Error),
    /// The key file's key is not the one the directory was created with.
    #[error("{reason}; the key file {} does not belong to the data directory {}{}", key_file.display(), data_dir.display(), retired_hint(retired.as_deref()))]
    NotPaired {
        /// What the comparison found.
        reason: CryptoError,
        /// The key file given.
        key_file: std::path::PathBuf,
        /// The data directory given.
        data_dir: std::path::PathBuf,
        /// A retired key file beside it with the expected key id, if there is one.
        retired: Option<std::path::PathBuf>,
    },
    /// The directory holds a database but no fingerprint, so no key can be shown to belong.
    #[error("the data directory {} holds a database but no {}; refusing to pair it with a key", data_dir.display(), super::keyring::FINGERPRINT_FILE)]
    NoFingerprint {
        /// The data directory given.
        data_dir: std::path::PathBuf,
    },
    /// A key rotation was asked for a directory with no ledger.
    #[error("no ledger in {} (no {}); nothing to rotate", data_dir.display(), super::keyring::FINGERPRINT_FILE)]
    NothingToRotate {
        /// The data directory given.
        data_dir: std::path::PathBuf,
    },
    /// A rotation's file step failed.
    #[error("cannot {action} {}: {source}", path.display())]
    RotationFile {
        /// What the step does.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A rotation cannot finish while data keys are wrapped under the old key.
    #[error("{count} data keys are not yet wrapped under the new master key {key_id}; re-wrap them first")]
    NotRewrapped {
        /// Data keys still under another key.
        count: u64,
        /// The new key's id.
        key_id: String,
    },
    /// A rotation cannot finish while the fingerprint key is under the old key.
    #[error("the fingerprint key is not yet wrapped under the new master key")]
    FingerprintKeyNotRewrapped,
}

fn retired_hint(retired: Option<&std::path::Path>) -> String {
    retired.map_or_else(String::new, |path| {
        format!(
            "; the retired key file {} has the expected key id (use it for a backup taken before a rotation)",
            path.display()
        )
    })
}

#[cfg(test)]
mod field_tests {
    use super::*;
    use crate::app::verification::VerificationError;
    use crate::app::OnBehalfRefusal;
    use crate::domain::principals::PrincipalError;

    #[test]
    fn every_request_error_names_its_field() {
        let table = [
            (AppError::NotFound, "authentication"),
            (AppError::WorkspaceNotFound, "workspace"),
            (AppError::OrganizationNotFound, "organization"),
            (
                AppError::VersionMismatch {
                    expected: 1,
                    actual: 2,
                },
                "version",
            ),
            (
                AppError::Conflict(ConflictReason::ConcurrentChange { actual: 3 }),
                "conflict",
            ),
            (
                AppError::Conflict(ConflictReason::ChangedWhileVerifying),
                "conflict",
            ),
            (AppError::IdempotencyKeyReused, "idempotency-key"),
            (AppError::AnswerShownOnce, "idempotency-key"),
            (
                AppError::Authentication(AuthenticationError::ScopesUnchanged),
                "scopes",
            ),
            (
                AppError::Directory(DirectoryError::WorkspaceNameTaken { name: "Ops".into() }),
                "workspace name",
            ),
            (
                AppError::CustomService(CustomServiceError::SpecUnchanged),
                "body",
            ),
            (AppError::Principal(PrincipalError::BadLabel), "label"),
            (
                AppError::Resolve(ResolveError::OnBehalf(
                    OnBehalfRefusal::AuditorsNeverReceiveSecrets,
                )),
                "principal",
            ),
            (AppError::Cursor(BadCursor), "cursor"),
            (
                AppError::Verification(VerificationError::Refused {
                    host: "api.example.com".into(),
                    status: 401,
                }),
                "verification",
            ),
            (
                AppError::Verification(VerificationError::NotChecked {
                    host: "api.example.com".into(),
                    reason: "timed out: 5s".into(),
                }),
                "verification",
            ),
            (
                AppError::RestoreTarget(RestoreRefusal::DidNotExist {
                    field: RestoreField::AsOf,
                }),
                "as_of",
            ),
            (
                AppError::RestoreTarget(RestoreRefusal::NotActive {
                    field: RestoreField::Version,
                }),
                "version",
            ),
            (
                AppError::RestoreTarget(RestoreRefusal::SecretsPurged),
                "authentication",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }

    #[test]
    fn errors_of_the_service_itself_name_no_field() {
        let internal = [
            AppError::Startup(StartupError::NoDataDirectory {
                path: "/nowhere".into(),
            }),
            AppError::Crypto(CryptoError::DataKeyDestroyed {
                owner: uuid::Uuid::nil(),
            }),
            AppError::Storage(sled::Error::Unsupported("test".into())),
        ];
        for error in internal {
            assert_eq!(error.field(), None, "{error:?}");
        }
    }
}
