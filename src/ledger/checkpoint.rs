//! Signed checkpoints: an Ed25519 signature over (position, head hash, time), so an auditor
//! holding one can later detect a truncated log or a rewrite of the whole chain.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use zeroize::Zeroizing;

use crate::crypto::key_file::{read_private, write_private_new};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use super::codec;
use super::envelope::ChainHash;
use super::sled_store::SledStore;
use super::store::EventStore;
use super::types::RecordedAt;

/// The sled tree holding checkpoints: position (u64 BE) -> encoded checkpoint.
pub const CHECKPOINTS_TREE: &str = crate::storage::log::CHECKPOINTS;

/// Domain separation of the signed message.
const DOMAIN: &[u8] = b"credledger-checkpoint-v1";
/// Format byte in front of a stored checkpoint.
const STORED_FORMAT_V1: u8 = 1;
/// `format` of the exported JSON document.
pub const DOCUMENT_FORMAT: &str = "credledger-checkpoint-v1";
/// Largest signing key file accepted.
const MAX_KEY_FILE: u64 = 16 * 1024;

/// Why a checkpoint could not be made, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The signing key file is unusable (location, permissions, contents, I/O).
    #[error("signing key {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The signature does not verify under the checkpoint's public key.
    #[error("checkpoint at position {0}: the signature does not verify")]
    BadSignature(u64),
    /// A checkpoint or checkpoint document is malformed.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The log is empty: there is nothing to sign.
    #[error("the log is empty: there is nothing to checkpoint")]
    EmptyLog,
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
}

/// A signed statement that the log had `head_hash` at `position` at `signed_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The signed position.
    pub position: u64,
    /// The chain hash at that position.
    pub head_hash: ChainHash,
    /// When it was signed (microseconds since the epoch).
    pub signed_at: RecordedAt,
    /// The Ed25519 public key that signed it (32 bytes).
    pub public_key: Vec<u8>,
    /// The Ed25519 signature (64 bytes).
    pub signature: Vec<u8>,
}

/// The bytes an Ed25519 key signs for a checkpoint.
pub fn checkpoint_message(position: u64, head_hash: &ChainHash, signed_at: RecordedAt) -> Vec<u8> {
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
        out.extend(codec::encode(self).map_err(|e| CheckpointError::Malformed(e.to_string()))?);
        Ok(out)
    }

    /// Decodes stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        match bytes.split_first() {
            Some((&STORED_FORMAT_V1, rest)) => {
                codec::decode(rest).map_err(|e| CheckpointError::Malformed(e.to_string()))
            }
            Some((other, _)) => Err(CheckpointError::Malformed(format!(
                "unknown stored format {other}"
            ))),
            None => Err(CheckpointError::Malformed("empty value".into())),
        }
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
        let bad = |what: &str| CheckpointError::Malformed(what.to_owned());
        if doc.format != DOCUMENT_FORMAT {
            return Err(bad(&format!(
                "format is {:?}, expected {DOCUMENT_FORMAT:?}",
                doc.format
            )));
        }
        let hash: [u8; 32] = hex::decode(&doc.head_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("head_hash is not 64 hex digits"))?;
        let public_key = hex::decode(&doc.public_key)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| bad("public_key is not 64 hex digits"))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&doc.signature)
            .ok()
            .filter(|s| s.len() == 64)
            .ok_or_else(|| bad("signature is not a base64 Ed25519 signature"))?;
        Ok(Checkpoint {
            position: doc.position,
            head_hash: ChainHash(hash),
            signed_at: RecordedAt(doc.signed_at_micros),
            public_key,
            signature,
        })
    }

    /// Parses a JSON checkpoint document.
    pub fn from_json(text: &str) -> Result<Checkpoint, CheckpointError> {
        let doc: CheckpointDocument =
            serde_json::from_str(text).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
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
pub fn rfc3339(at: RecordedAt) -> String {
    chrono::DateTime::from_timestamp_micros(at.0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| at.0.to_string())
}

/// An Ed25519 signing key loaded from its PKCS#8 file.
pub struct CheckpointSigner {
    key_pair: Ed25519KeyPair,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointSigner({})", self.key_fingerprint())
    }
}

fn key_err(path: &Path, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::KeyFile {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

impl CheckpointSigner {
    /// Loads the key file, or creates it (mode 0600) when absent; the flag tells whether it was
    /// created. The file must live outside `data_dir`.
    pub fn load_or_create(
        path: &Path,
        data_dir: &Path,
    ) -> Result<(CheckpointSigner, bool), CheckpointError> {
        crate::crypto::ensure_key_file_outside(path, data_dir)
            .map_err(|e| key_err(path, e.to_string()))?;
        if std::fs::symlink_metadata(path).is_ok() {
            return Ok((CheckpointSigner::load(path)?, false));
        }
        let signer = CheckpointSigner::create(path)?;
        tracing::warn!(path = %path.display(), key = %signer.key_fingerprint(),
            "generated a new checkpoint signing key; keep it (and its public key) safe");
        Ok((signer, true))
    }

    /// Loads a key file, refusing group- or world-accessible files and malformed keys.
    pub fn load(path: &Path) -> Result<CheckpointSigner, CheckpointError> {
        let raw = read_private(path, MAX_KEY_FILE).map_err(|e| key_err(path, e.to_string()))?;
        let der = match std::str::from_utf8(&raw) {
            Ok(text) if text.trim_start().starts_with(PEM_BEGIN) => {
                let body: String = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && *l != PEM_BEGIN && *l != PEM_END)
                    .collect();
                Zeroizing::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .map_err(|_| key_err(path, "PEM body is not base64"))?,
                )
            }
            _ => Zeroizing::new(raw.to_vec()),
        };
        let key_pair = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|e| key_err(path, format!("not a PKCS#8 Ed25519 key ({e})")))?;
        Ok(CheckpointSigner { key_pair })
    }

    /// Generates a key and writes it as PKCS#8 PEM to a new file with mode 0600.
    pub fn create(path: &Path) -> Result<CheckpointSigner, CheckpointError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| key_err(path, "cannot generate a key"))?;
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref()));
        let mut pem = Zeroizing::new(String::from(PEM_BEGIN));
        pem.push('\n');
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str(PEM_END);
        pem.push('\n');
        write_private_new(path, pem.as_bytes()).map_err(|e| key_err(path, e.to_string()))?;
        let key_pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|e| key_err(path, format!("generated key unreadable ({e})")))?;
        Ok(CheckpointSigner { key_pair })
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.key_pair.public_key().as_ref().to_vec()
    }

    /// The public key's fingerprint.
    pub fn key_fingerprint(&self) -> String {
        key_fingerprint(self.key_pair.public_key().as_ref())
    }

    /// Signs a head now.
    pub fn sign(&self, position: u64, head_hash: ChainHash) -> Checkpoint {
        let signed_at = RecordedAt::now();
        let msg = checkpoint_message(position, &head_hash, signed_at);
        Checkpoint {
            position,
            head_hash,
            signed_at,
            public_key: self.public_key(),
            signature: self.key_pair.sign(&msg).as_ref().to_vec(),
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
    signer: &CheckpointSigner,
) -> Result<Checkpoint, CheckpointError> {
    let head = store.head();
    if head.position == 0 {
        return Err(CheckpointError::EmptyLog);
    }
    let checkpoint = signer.sign(head.position, head.hash);
    let checkpoints = CheckpointStore::open(store.db())?;
    let stored = checkpoint.clone();
    tokio::task::spawn_blocking(move || checkpoints.record(&stored))
        .await
        .map_err(|e| CheckpointError::Malformed(format!("checkpoint task failed: {e}")))??;
    Ok(checkpoint)
}

/// Writes a checkpoint periodically while a server runs.
pub struct CheckpointWriter;

impl CheckpointWriter {
    /// Every `every`, signs the head if it moved past the latest stored checkpoint.
    pub fn spawn(
        store: SledStore,
        signer: Arc<CheckpointSigner>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let latest = CheckpointStore::open(store.db())
                    .and_then(|c| c.latest())
                    .map(|c| c.map_or(0, |c| c.position));
                match latest {
                    Ok(at) if store.head().position > at => {
                        match create_checkpoint(&store, &signer).await {
                            Ok(c) => {
                                tracing::info!(position = c.position, head_hash = %c.head_hash, "checkpoint signed")
                            }
                            Err(e) => tracing::warn!(error = %e, "could not write a checkpoint"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not read the latest checkpoint"),
                }
            }
        })
    }
}
