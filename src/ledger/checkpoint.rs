//! Signed checkpoints: an Ed25519 signature over (position, head hash, time), so an auditor
//! holding one can later detect a truncated log or a rewrite of the whole chain.

use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError};
use super::envelope::ChainHash;
use super::sled_store::SledStore;
use super::store::EventStore;
use crate::time::Timestamp;

/// The sled tree holding checkpoints: position (u64 BE) -> encoded checkpoint.
pub const CHECKPOINTS_TREE: &str = crate::storage::log::CHECKPOINTS;

/// Domain separation of the signed message.
const DOMAIN: &[u8] = b"credledger-checkpoint-v1";
/// Format byte in front of a stored checkpoint.
const STORED_FORMAT_V1: u8 = 1;
/// `format` of the exported JSON document.
pub const DOCUMENT_FORMAT: &str = "credledger-checkpoint-v1";

/// Why a checkpoint could not be made, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The signature does not verify under the checkpoint's public key.
    #[error("checkpoint at position {0}: the signature does not verify")]
    BadSignature(u64),
    /// A checkpoint or checkpoint document is malformed.
    #[error("malformed checkpoint: {0}")]
    Malformed(CheckpointDefect),
    /// A checkpoint could not be encoded for storage (a bug: every checkpoint is encodable).
    #[error("cannot store the checkpoint: {0}")]
    Encode(#[source] CodecError),
    /// The log is empty: there is nothing to sign.
    #[error("the log is empty: there is nothing to checkpoint")]
    EmptyLog,
    /// Storing the checkpoint did not run to its end (its task panicked or was cancelled).
    #[error("checkpoint task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
}

/// Which part of a stored checkpoint or of a checkpoint document is malformed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointDefect {
    /// A stored checkpoint has no bytes.
    #[error("empty value")]
    Empty,
    /// A stored checkpoint starts with a format byte this build does not know.
    #[error("unknown stored format {found}")]
    UnknownStoredFormat {
        /// The format byte found.
        found: u8,
    },
    /// A stored checkpoint's bytes after the format byte do not decode.
    #[error("{0}")]
    Undecodable(#[source] CodecError),
    /// A document is not JSON of a checkpoint document.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// A document's `format` is not [`DOCUMENT_FORMAT`].
    #[error("format is {found:?}, expected {DOCUMENT_FORMAT:?}")]
    DocumentFormat {
        /// The `format` found.
        found: String,
    },
    /// A document's `head_hash` is not 64 hex digits.
    #[error("head_hash is not 64 hex digits")]
    HeadHash,
    /// A document's `public_key` is not 64 hex digits.
    #[error("public_key is not 64 hex digits")]
    PublicKey,
    /// A document's `signature` is not a base64 Ed25519 signature.
    #[error("signature is not a base64 Ed25519 signature")]
    Signature,
}

/// A signed statement that the log had `head_hash` at `position` at `signed_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The signed position.
    pub position: u64,
    /// The chain hash at that position.
    pub head_hash: ChainHash,
    /// When it was signed (microseconds since the epoch).
    pub signed_at: Timestamp,
    /// The Ed25519 public key that signed it (32 bytes).
    pub public_key: Vec<u8>,
    /// The Ed25519 signature (64 bytes).
    pub signature: Vec<u8>,
}

/// The bytes an Ed25519 key signs for a checkpoint.
pub fn checkpoint_message(position: u64, head_hash: &ChainHash, signed_at: Timestamp) -> Vec<u8> {
    let mut msg = Vec::with_capacity(DOMAIN.len() + 8 + 32 + 8);
    msg.extend_from_slice(DOMAIN);
    msg.extend_from_slice(&position.to_be_bytes());
    msg.extend_from_slice(&head_hash.0);
    msg.extend_from_slice(&signed_at.0.to_be_bytes());
    msg
}

/// A short, stable name of a public key: `ed25519:` and 16 hex digits of its SHA-256.
pub fn key_fingerprint(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    format!("ed25519:{}", hex::encode(&digest.as_ref()[..8]))
}

impl Checkpoint {
    /// Checks the signature under the embedded public key.
    pub fn verify_signature(&self) -> Result<(), CheckpointError> {
        let msg = checkpoint_message(self.position, &self.head_hash, self.signed_at);
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(&msg, &self.signature)
            .map_err(|_| CheckpointError::BadSignature(self.position))
    }

    /// The signer's key fingerprint.
    pub fn key_fingerprint(&self) -> String {
        key_fingerprint(&self.public_key)
    }

    /// Encodes for the `checkpoints` tree (format byte + frozen codec).
    pub fn encode(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut out = vec![STORED_FORMAT_V1];
        out.extend(codec::encode(self).map_err(CheckpointError::Encode)?);
        Ok(out)
    }

    /// Decodes stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let defect = match bytes.split_first() {
            Some((&STORED_FORMAT_V1, rest)) => match codec::decode(rest) {
                Ok(checkpoint) => return Ok(checkpoint),
                Err(e) => CheckpointDefect::Undecodable(e),
            },
            Some((&found, _)) => CheckpointDefect::UnknownStoredFormat { found },
            None => CheckpointDefect::Empty,
        };
        Err(CheckpointError::Malformed(defect))
    }

    /// The exportable JSON document.
    pub fn to_document(&self) -> CheckpointDocument {
        CheckpointDocument {
            format: DOCUMENT_FORMAT.to_owned(),
            position: self.position,
            head_hash: self.head_hash.to_hex(),
            signed_at: rfc3339(self.signed_at),
            signed_at_micros: self.signed_at.0,
            public_key: hex::encode(&self.public_key),
            key_fingerprint: self.key_fingerprint(),
            signature: base64::engine::general_purpose::STANDARD.encode(&self.signature),
        }
    }

    /// Reads an exported JSON document (the signature is not checked here).
    pub fn from_document(doc: &CheckpointDocument) -> Result<Checkpoint, CheckpointError> {
        let bad = CheckpointError::Malformed;
        if doc.format != DOCUMENT_FORMAT {
            return Err(bad(CheckpointDefect::DocumentFormat {
                found: doc.format.clone(),
            }));
        }
        let hash: [u8; 32] = hex::decode(&doc.head_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(bad(CheckpointDefect::HeadHash))?;
        let public_key = hex::decode(&doc.public_key)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or(bad(CheckpointDefect::PublicKey))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&doc.signature)
            .ok()
            .filter(|s| s.len() == 64)
            .ok_or(bad(CheckpointDefect::Signature))?;
        Ok(Checkpoint {
            position: doc.position,
            head_hash: ChainHash(hash),
            signed_at: Timestamp(doc.signed_at_micros),
            public_key,
            signature,
        })
    }

    /// Parses a JSON checkpoint document.
    pub fn from_json(text: &str) -> Result<Checkpoint, CheckpointError> {
        let doc: CheckpointDocument = serde_json::from_str(text)
            .map_err(|e| CheckpointError::Malformed(CheckpointDefect::Json(e)))?;
        Checkpoint::from_document(&doc)
    }
}

/// A checkpoint as a small JSON document (what `checkpoint export` writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointDocument {
    /// Always [`DOCUMENT_FORMAT`].
    pub format: String,
    /// The signed position.
    pub position: u64,
    /// The chain hash at that position, hex.
    pub head_hash: String,
    /// When it was signed, RFC 3339 (informative; the signature covers `signed_at_micros`).
    pub signed_at: String,
    /// When it was signed, microseconds since the epoch.
    pub signed_at_micros: i64,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The public key's fingerprint (informative).
    pub key_fingerprint: String,
    /// The Ed25519 signature, base64.
    pub signature: String,
}

/// RFC 3339 text (UTC, microseconds) of a store time.
pub fn rfc3339(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(at.0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| at.0.to_string())
}

/// What signs a checkpoint: the key lives in `crypto` (its file, its secret), the record here.
pub trait CheckpointSigning: Send + Sync {
    /// The Ed25519 public key (32 bytes).
    fn public_key(&self) -> Vec<u8>;
    /// The Ed25519 signature of `message` (64 bytes).
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

impl Checkpoint {
    /// Signs a head now.
    pub fn sign(signer: &dyn CheckpointSigning, position: u64, head_hash: ChainHash) -> Checkpoint {
        let signed_at = Timestamp::now();
        let message = checkpoint_message(position, &head_hash, signed_at);
        Checkpoint {
            position,
            head_hash,
            signed_at,
            public_key: signer.public_key(),
            signature: signer.sign(&message),
        }
    }
}

/// The `checkpoints` tree of a data directory.
#[derive(Clone)]
pub struct CheckpointStore {
    tree: sled::Tree,
}

impl CheckpointStore {
    /// Opens the tree in a database.
    pub fn open(db: &sled::Db) -> Result<CheckpointStore, CheckpointError> {
        Ok(CheckpointStore {
            tree: db.open_tree(CHECKPOINTS_TREE)?,
        })
    }

    /// Stores a checkpoint (replacing one at the same position) and flushes.
    pub fn record(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        self.tree
            .insert(checkpoint.position.to_be_bytes(), checkpoint.encode()?)?;
        self.tree.flush()?;
        Ok(())
    }

    /// The checkpoint with the highest position.
    pub fn latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        match self.tree.last()? {
            Some((_, v)) => Ok(Some(Checkpoint::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Every stored checkpoint in position order.
    pub fn all(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let mut out = Vec::new();
        for entry in self.tree.iter() {
            let (_, v) = entry?;
            out.push(Checkpoint::decode(&v)?);
        }
        Ok(out)
    }
}

/// Signs the durable head of a log and stores the checkpoint in its database.
pub async fn create_checkpoint(
    store: &SledStore,
    signer: &dyn CheckpointSigning,
) -> Result<Checkpoint, CheckpointError> {
    let head = store.head();
    if head.position == 0 {
        return Err(CheckpointError::EmptyLog);
    }
    let checkpoint = Checkpoint::sign(signer, head.position, head.hash);
    let checkpoints = CheckpointStore::open(store.db())?;
    let stored = checkpoint.clone();
    tokio::task::spawn_blocking(move || checkpoints.record(&stored))
        .await
        .map_err(CheckpointError::Task)??;
    Ok(checkpoint)
}
