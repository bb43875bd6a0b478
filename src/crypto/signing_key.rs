//! The Ed25519 key that signs checkpoints of the log's head, and its key file (PKCS#8, PEM or
//! DER, mode 0600, outside the data directory). The checkpoint record it signs is the ledger's
//! (`ledger::checkpoint`); this module only holds the secret and signs bytes.

use std::path::{Path, PathBuf};

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use super::key_file::{read_private, write_private_new};

/// Largest key file read (a PKCS#8 Ed25519 key is about 120 bytes in PEM).
const MAX_KEY_FILE: u64 = 16 * 1024;
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// Why a signing key file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("signing key {}: {problem}", path.display())]
pub struct SigningKeyError {
    /// The key file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: SigningKeyProblem,
}

/// What is wrong with a signing key file.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyProblem {
    /// It is inside the data directory, or its permissions or I/O failed.
    #[error("{0}")]
    File(#[from] super::CryptoError),
    /// A PEM file whose body is not base64.
    #[error("PEM body is not base64")]
    NotBase64,
    /// The bytes are not a PKCS#8 Ed25519 key.
    #[error("not a PKCS#8 Ed25519 key ({0})")]
    NotEd25519(ring::error::KeyRejected),
    /// The system random source failed.
    #[error("cannot generate a key")]
    Generate,
}

/// An Ed25519 signing key loaded from its file. Debug shows the public key only.
pub struct SigningKey {
    key_pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", hex::encode(self.public_key()))
    }
}

fn problem(path: &Path, problem: impl Into<SigningKeyProblem>) -> SigningKeyError {
    SigningKeyError {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

impl SigningKey {
    /// Loads the key file, or creates it (mode 0600) when absent; the flag tells whether it was
    /// created (the caller says so: keep the new key and its public key safe). The file must
    /// live outside `data_dir`.
    pub fn load_or_create(
        path: &Path,
        data_dir: &Path,
    ) -> Result<(SigningKey, bool), SigningKeyError> {
        super::ensure_key_file_outside(path, data_dir).map_err(|e| problem(path, e))?;
        if std::fs::symlink_metadata(path).is_ok() {
            return Ok((SigningKey::load(path)?, false));
        }
        Ok((SigningKey::create(path)?, true))
    }

    /// Loads a key file, refusing group- or world-accessible files and malformed keys.
    pub fn load(path: &Path) -> Result<SigningKey, SigningKeyError> {
        let raw = read_private(path, MAX_KEY_FILE).map_err(|e| problem(path, e))?;
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
                        .map_err(|_| problem(path, SigningKeyProblem::NotBase64))?,
                )
            }
            _ => Zeroizing::new(raw.to_vec()),
        };
        let key_pair = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|e| problem(path, SigningKeyProblem::NotEd25519(e)))?;
        Ok(SigningKey { key_pair })
    }

    /// Generates a key and writes it as PKCS#8 PEM to a new file with mode 0600.
    pub fn create(path: &Path) -> Result<SigningKey, SigningKeyError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| problem(path, SigningKeyProblem::Generate))?;
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref()));
        let mut pem = Zeroizing::new(String::from(PEM_BEGIN));
        pem.push('\n');
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str(PEM_END);
        pem.push('\n');
        write_private_new(path, pem.as_bytes()).map_err(|e| problem(path, e))?;
        let key_pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|e| problem(path, SigningKeyProblem::NotEd25519(e)))?;
        Ok(SigningKey { key_pair })
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.key_pair.public_key().as_ref().to_vec()
    }

    /// The Ed25519 signature of `message` (64 bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key_pair.sign(message).as_ref().to_vec()
    }
}
