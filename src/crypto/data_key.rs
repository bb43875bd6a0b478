//! Per-authentication data keys, wrapped (AES-256-GCM) under a key derived from the master key.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};
use super::master_key::MasterKey;
use super::primitives::{aead_open, aead_seal, push_len_prefixed, random_key, KEY_LEN};

/// Format version of [`WrappedDataKey`].
pub const WRAPPED_DATA_KEY_VERSION: u8 = 1;
const WRAP_KEY_INFO: &[u8] = b"credledger/data-key-wrapping/v1";
const WRAP_AAD_LABEL: &[u8] = b"credledger/wrapped-data-key/v1";

/// A 256-bit data key that seals the secret fields of one authentication.
pub struct DataKey {
    id: Uuid,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn wrapping_key(master: &MasterKey) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    master.derive(WRAP_KEY_INFO, k.as_mut())?;
    Ok(k)
}

fn wrap_aad(version: u8, owner: Uuid, data_key_id: Uuid, master_key_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_AAD_LABEL.len() + 1 + 32 + 4 + master_key_id.len());
    aad.extend_from_slice(WRAP_AAD_LABEL);
    aad.push(version);
    aad.extend_from_slice(owner.as_bytes());
    aad.extend_from_slice(data_key_id.as_bytes());
    push_len_prefixed(&mut aad, master_key_id.as_bytes());
    aad
}

impl DataKey {
    /// Generates a fresh random data key (32 bytes from the system RNG) with a random id.
    pub fn generate() -> Result<Self> {
        Ok(Self {
            id: Uuid::new_v4(),
            key: random_key()?,
        })
    }

    /// Builds a data key from an id and raw bytes (crate-internal: the stored fingerprint key).
    pub(crate) fn from_parts(id: Uuid, key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self { id, key }
    }

    /// The public id of this data key, recorded in every value it seals.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The raw key bytes (crate-internal).
    pub(crate) fn key_bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// Wraps this key under `master` for `owner` (AAD binds owner, data key id and master key id).
    pub fn wrap(&self, master: &MasterKey, owner: Uuid) -> Result<WrappedDataKey> {
        let kek = wrapping_key(master)?;
        let aad = wrap_aad(WRAPPED_DATA_KEY_VERSION, owner, self.id, master.key_id());
        let (nonce, ciphertext) = aead_seal(&kek, &aad, self.key.as_ref())?;
        Ok(WrappedDataKey {
            version: WRAPPED_DATA_KEY_VERSION,
            master_key_id: master.key_id().to_owned(),
            data_key_id: self.id,
            nonce,
            ciphertext,
        })
    }
}

/// A data key encrypted under a master key; safe to store and serialize (it is ciphertext).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedDataKey {
    /// Format version ([`WRAPPED_DATA_KEY_VERSION`]).
    pub version: u8,
    /// Id of the master key that wrapped it.
    pub master_key_id: String,
    /// Id of the wrapped data key.
    pub data_key_id: Uuid,
    /// Random 96-bit AES-GCM nonce.
    pub nonce: [u8; 12],
    /// AES-256-GCM ciphertext of the key, tag appended.
    pub ciphertext: Vec<u8>,
}

impl WrappedDataKey {
    /// Unwraps with `master` for `owner`; fails with a typed error for another master key or owner.
    pub fn unwrap_with(&self, master: &MasterKey, owner: Uuid) -> Result<DataKey> {
        if self.version != WRAPPED_DATA_KEY_VERSION {
            return Err(CryptoError::UnsupportedVersion {
                what: "wrapped data key",
                version: self.version,
            });
        }
        if self.master_key_id != master.key_id() {
            return Err(CryptoError::WrongMasterKey {
                expected_key_id: self.master_key_id.clone(),
                found_key_id: master.key_id().to_owned(),
            });
        }
        let kek = wrapping_key(master)?;
        let aad = wrap_aad(self.version, owner, self.data_key_id, &self.master_key_id);
        let plain = aead_open(&kek, &self.nonce, &aad, &self.ciphertext)?
            .ok_or(CryptoError::UnwrapFailed { owner })?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if plain.len() != KEY_LEN {
            return Err(CryptoError::UnwrapFailed { owner });
        }
        key.copy_from_slice(&plain);
        Ok(DataKey {
            id: self.data_key_id,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_roundtrip() {
        let master = MasterKey::generate().expect("mk");
        let owner = Uuid::new_v4();
        let dk = DataKey::generate().expect("dk");
        let w = dk.wrap(&master, owner).expect("wrap");
        assert_eq!(w.master_key_id, master.key_id());
        assert_eq!(w.data_key_id, dk.id());
        assert_ne!(w.ciphertext[..KEY_LEN], dk.key_bytes()[..]);
        let back = w.unwrap_with(&master, owner).expect("unwrap");
        assert_eq!(back.id(), dk.id());
        assert_eq!(back.key_bytes(), dk.key_bytes());
        // bincode roundtrip of the wrapped form.
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&w, cfg).expect("enc");
        let (w2, _): (WrappedDataKey, usize) =
            bincode::serde::decode_from_slice(&bytes, cfg).expect("dec");
        assert_eq!(w2, w);
    }

    #[test]
    fn two_data_keys_differ() {
        let a = DataKey::generate().expect("a");
        let b = DataKey::generate().expect("b");
        assert_ne!(a.key_bytes(), b.key_bytes());
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn wrong_master_key_is_typed_error() {
        let m1 = MasterKey::generate().expect("m1");
        let m2 = MasterKey::generate().expect("m2");
        let owner = Uuid::new_v4();
        let w = DataKey::generate()
            .expect("dk")
            .wrap(&m1, owner)
            .expect("wrap");
        match w.unwrap_with(&m2, owner) {
            Err(CryptoError::WrongMasterKey {
                expected_key_id,
                found_key_id,
            }) => {
                assert_eq!(expected_key_id, m1.key_id());
                assert_eq!(found_key_id, m2.key_id());
            }
            other => panic!("unexpected {other:?}"),
        }
        // Same id, other bytes: authentication fails.
        let forged = MasterKey::from_parts(m1.key_id(), [9u8; 32]).expect("forged");
        assert!(matches!(
            w.unwrap_with(&forged, owner),
            Err(CryptoError::UnwrapFailed { .. })
        ));
    }

    #[test]
    fn other_owner_or_tampering_fails() {
        let m = MasterKey::generate().expect("m");
        let owner = Uuid::new_v4();
        let w = DataKey::generate().expect("dk").wrap(&m, owner).expect("w");
        let other = Uuid::new_v4();
        match w.unwrap_with(&m, other) {
            Err(CryptoError::UnwrapFailed { owner: o }) => assert_eq!(o, other),
            x => panic!("unexpected {x:?}"),
        }
        let mut t = w.clone();
        t.ciphertext[3] ^= 0x80;
        assert!(t.unwrap_with(&m, owner).is_err());
        let mut t = w.clone();
        t.nonce[0] ^= 1;
        assert!(t.unwrap_with(&m, owner).is_err());
        let mut t = w.clone();
        t.data_key_id = Uuid::new_v4();
        assert!(t.unwrap_with(&m, owner).is_err());
        let mut t = w.clone();
        t.version = 2;
        assert!(matches!(
            t.unwrap_with(&m, owner),
            Err(CryptoError::UnsupportedVersion { version: 2, .. })
        ));
    }

    #[test]
    fn debug_redacts_key() {
        let dk = DataKey::generate().expect("dk");
        let dbg = format!("{dk:?}");
        assert!(dbg.contains("[REDACTED]"));
        assert!(dbg.contains(&dk.id().to_string()));
        assert!(!dbg.contains(&hex::encode(dk.key_bytes())));
        assert!(!dbg.contains(&format!("{:?}", dk.key_bytes()[..4].to_vec())));
    }
}
