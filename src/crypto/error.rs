//! The one error type of the crypto layer.
//!
//! Messages name paths, ids, field names and modes, never key material or plaintext.

use std::path::PathBuf;

use uuid::Uuid;

/// Result alias for the crypto layer.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

/// Every failure of the crypto layer; no variant carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The master key file could not be read, written or inspected.
    #[error("cannot {op} master key file {}: {source}", path.display())]
    KeyFileIo {
        /// The key file path.
        path: PathBuf,
        /// What was being done (read, create, ...).
        op: &'static str,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A private key file is readable or writable by group or others.
    #[error(
        "key file {} has mode {mode:04o}; it must not be accessible by group or others (run `chmod 600` on it)",
        path.display()
    )]
    InsecureKeyFile {
        /// The key file path.
        path: PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
    /// A private key path exists but is not a regular file.
    #[error("key file {} is not a regular file", path.display())]
    KeyFileNotRegular {
        /// The key file path.
        path: PathBuf,
    },
    /// A private key file was to be created but one already exists.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    KeyFileExists {
        /// The key file path.
        path: PathBuf,
    },
    /// The master key file is inside the data directory it protects.
    #[error(
        "master key file {} is inside the data directory {}; keep it elsewhere",
        path.display(),
        data_dir.display()
    )]
    KeyFileInsideDataDir {
        /// The key file path.
        path: PathBuf,
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The master key file does not follow the expected format.
    #[error("master key file {} is malformed at line {line}: {reason}", path.display())]
    MalformedKeyFile {
        /// The key file path.
        path: PathBuf,
        /// 1-based line number (0 when the problem is the file as a whole).
        line: usize,
        /// What is wrong (never includes the key value).
        reason: String,
    },
    /// Data was protected by a different master key than the one loaded.
    #[error("wrong master key: expected master key {expected_key_id}, but the loaded master key is {found_key_id}")]
    WrongMasterKey {
        /// Id of the master key the data expects.
        expected_key_id: String,
        /// Id of the master key that was loaded.
        found_key_id: String,
    },
    /// The loaded master key has the expected id but different key bytes.
    #[error("master key {key_id} does not match the stored fingerprint: the key file was replaced or altered")]
    MasterKeyFingerprintMismatch {
        /// Id of the master key.
        key_id: String,
    },
    /// A stored master key fingerprint could not be parsed.
    #[error("malformed master key fingerprint: {reason}")]
    MalformedFingerprint {
        /// What is wrong.
        reason: &'static str,
    },
    /// A wrapped data key did not open (wrong master key bytes, other owner, or altered).
    #[error("cannot unwrap the data key of owner {owner}: it was altered, belongs to another owner, or the master key is wrong")]
    UnwrapFailed {
        /// The owner the caller asked for.
        owner: Uuid,
    },
    /// A sealed value did not open (wrong key, tampered, or moved to another record).
    #[error("cannot open sealed field `{field}`: it was altered, moved to another record, or the data key is wrong")]
    OpenFailed {
        /// The field name of the context used to open.
        field: String,
    },
    /// A sealed value refers to a different data key than the one supplied.
    #[error("sealed value was made with data key {expected}, not with data key {found}")]
    DataKeyMismatch {
        /// The data key id recorded in the sealed value.
        expected: Uuid,
        /// The data key id supplied.
        found: Uuid,
    },
    /// A record carries a format version this code does not know.
    #[error("unsupported {what} format version {version}")]
    UnsupportedVersion {
        /// Which record kind.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// A data key already exists for this owner.
    #[error("a data key already exists for owner {owner}")]
    DataKeyExists {
        /// The owner.
        owner: Uuid,
    },
    /// The data key of this owner was destroyed (crypto-shredded).
    #[error(
        "the data key of owner {owner} was destroyed; its sealed values can no longer be opened"
    )]
    DataKeyDestroyed {
        /// The owner.
        owner: Uuid,
    },
    /// A stored data key record could not be decoded.
    #[error("stored data key record {key} is corrupt: {reason}")]
    CorruptRecord {
        /// Hex of the record's key.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A stored record changed while it was being rewritten.
    #[error("data key record of owner {owner} changed concurrently; retry")]
    StoreConflict {
        /// The owner.
        owner: Uuid,
    },
    /// The embedded store failed.
    #[error("data key store error: {0}")]
    Storage(#[from] sled::Error),
    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Random,
    /// An internal cryptographic operation failed unexpectedly.
    #[error("internal cryptographic failure: {0}")]
    Internal(InternalFailure),
}

/// Which step failed in a way that valid inputs never cause (a bug, not a bad request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InternalFailure {
    /// A master key id outside the accepted alphabet reached the constructor.
    #[error("invalid master key id")]
    InvalidMasterKeyId,
    /// HKDF refused the requested output length.
    #[error("hkdf")]
    Hkdf,
    /// AES-256-GCM refused the key bytes.
    #[error("aes key")]
    AesKey,
    /// AES-256-GCM refused to seal.
    #[error("aead seal")]
    AeadSeal,
    /// A data key record did not encode.
    #[error("encode data key record")]
    EncodeDataKeyRecord,
    /// Destroying the fingerprint key was asked for; fingerprints must stay comparable.
    #[error("the fingerprint key is never destroyed")]
    FingerprintKeyNeverDestroyed,
}
