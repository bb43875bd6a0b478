//! Keyed fingerprints of secrets: HMAC-SHA256 under the ledger's fingerprint key.
//!
//! The fingerprint key is first derived from the master key (HKDF), then stored wrapped beside
//! the data keys ([`super::DataKeyStore::fingerprinter`]) so that it survives master key
//! rotation: fingerprints recorded in events keep comparing equal.
//!
//! A fingerprint lets an auditor tell "changed / unchanged / same as X" without seeing the
//! secret, and cannot be brute-forced offline without the master key.

use std::fmt;

use ring::hmac;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::Result;
use super::master_key::MasterKey;
use super::primitives::KEY_LEN;
use super::secret::SecretBytes;

const FINGERPRINT_KEY_INFO: &[u8] = b"credledger/secret-fingerprint/v1";
/// Prefix of every displayed fingerprint.
pub const FINGERPRINT_PREFIX: &str = "fp:";
/// Number of HMAC bytes kept (hex-encoded) in a fingerprint.
pub const FINGERPRINT_BYTES: usize = 8;

/// A short keyed fingerprint such as `fp:1a2b3c4d5e6f7081`; safe to store and show.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint text (`fp:` followed by 16 hex characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Computes fingerprints under one fingerprint key.
pub struct Fingerprinter {
    key: hmac::Key,
    source: String,
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fingerprinter")
            .field("source", &self.source)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// The fingerprint key as first derived from `master` (HKDF-SHA256 with a fixed info label).
pub(crate) fn derive_fingerprint_key(master: &MasterKey) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    master.derive(FINGERPRINT_KEY_INFO, k.as_mut())?;
    Ok(k)
}

impl Fingerprinter {
    /// Derives the fingerprint key from `master` (HKDF-SHA256 with a fixed info label).
    pub fn from_master(master: &MasterKey) -> Result<Self> {
        let k = derive_fingerprint_key(master)?;
        Ok(Self::from_key(
            &k,
            format!("derived from master key {}", master.key_id()),
        ))
    }

    /// Uses stored fingerprint key bytes; `source` says where they came from (for `Debug`).
    pub(crate) fn from_key(key: &[u8; KEY_LEN], source: String) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            source,
        }
    }

    /// Fingerprint of `secret`: `fp:` + hex of the first 8 bytes of its HMAC-SHA256.
    pub fn fingerprint(&self, secret: &SecretBytes) -> Fingerprint {
        let tag = hmac::sign(&self.key, secret.expose());
        let mut s = String::with_capacity(FINGERPRINT_PREFIX.len() + 2 * FINGERPRINT_BYTES);
        s.push_str(FINGERPRINT_PREFIX);
        s.push_str(&hex::encode(&tag.as_ref()[..FINGERPRINT_BYTES]));
        Fingerprint(s)
    }

    /// The full keyed digest of some bytes (e.g. to recognise a repeated request without
    /// storing a digest anyone could test guesses against).
    pub fn keyed_digest(&self, bytes: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(&tag.as_ref()[..32]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-7f3a9c";

    #[test]
    fn deterministic_per_master_and_value() {
        let m1 = MasterKey::generate().expect("m1");
        let m2 = MasterKey::generate().expect("m2");
        let f1 = Fingerprinter::from_master(&m1).expect("f1");
        let f1b = Fingerprinter::from_master(&m1).expect("f1b");
        let f2 = Fingerprinter::from_master(&m2).expect("f2");
        let s = SecretBytes::from_slice(CANARY.as_bytes());
        let a = f1.fingerprint(&s);
        assert_eq!(
            a,
            f1b.fingerprint(&SecretBytes::from_slice(CANARY.as_bytes()))
        );
        assert_ne!(a, f2.fingerprint(&s));
        assert_ne!(
            a,
            f1.fingerprint(&SecretBytes::from_slice(b"CANARY-7f3a9d"))
        );
        assert!(a.as_str().starts_with("fp:"));
        assert_eq!(a.as_str().len(), 3 + 16);
        assert!(a.as_str()[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a.to_string(), a.as_str());
    }

    #[test]
    fn not_a_plain_hash_and_no_leak() {
        let m = MasterKey::generate().expect("m");
        let f = Fingerprinter::from_master(&m).expect("f");
        let s = SecretBytes::from_slice(CANARY.as_bytes());
        let fp = f.fingerprint(&s);
        let plain = ring::digest::digest(&ring::digest::SHA256, CANARY.as_bytes());
        assert!(!fp.as_str().contains(&hex::encode(&plain.as_ref()[..8])));
        let dbg = format!("{f:?} {fp:?}");
        assert!(!dbg.contains(CANARY));
        assert!(dbg.contains("[REDACTED]"));
        let json = serde_json::to_string(&fp).expect("json");
        assert_eq!(json, format!("\"{}\"", fp.as_str()));
    }
}
