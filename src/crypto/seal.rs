//! Sealing secret field values with AES-256-GCM, bound to (owner, field, event id).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::data_key::DataKey;
use super::error::{CryptoError, Result};
use super::primitives::{aead_open, aead_seal, push_len_prefixed};
use super::secret::SecretBytes;

/// Format version of [`Sealed`].
pub const SEALED_VERSION: u8 = 1;
const SEAL_AAD_LABEL: &[u8] = b"credledger/sealed-field/v1";

/// A sealed secret value, stored inside events (bincode; no serde attributes on purpose).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Format version ([`SEALED_VERSION`]).
    pub version: u8,
    /// Id of the data key that sealed it.
    pub data_key_id: Uuid,
    /// Random 96-bit AES-GCM nonce.
    pub nonce: [u8; 12],
    /// AES-256-GCM ciphertext, tag appended.
    pub ciphertext: Vec<u8>,
}

/// A stored secret: its sealed value and a keyed fingerprint for display and comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The AES-256-GCM sealed value.
    pub sealed: Sealed,
    /// HMAC fingerprint of the plaintext, safe to show.
    pub fingerprint: crate::crypto::Fingerprint,
}

/// The record a sealed value belongs to; bound into the associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealContext<'a> {
    /// The owning authentication's id.
    pub owner: Uuid,
    /// The secret field's name.
    pub field: &'a str,
    /// The id of the event that carries the value.
    pub event_id: Uuid,
}

fn seal_aad(version: u8, data_key_id: Uuid, ctx: &SealContext<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SEAL_AAD_LABEL.len() + 1 + 48 + 4 + ctx.field.len());
    aad.extend_from_slice(SEAL_AAD_LABEL);
    aad.push(version);
    aad.extend_from_slice(data_key_id.as_bytes());
    aad.extend_from_slice(ctx.owner.as_bytes());
    aad.extend_from_slice(ctx.event_id.as_bytes());
    push_len_prefixed(&mut aad, ctx.field.as_bytes());
    aad
}

/// Seals `plaintext` under `data_key` for the record `ctx` (random nonce each call).
pub fn seal(data_key: &DataKey, ctx: &SealContext<'_>, plaintext: &SecretBytes) -> Result<Sealed> {
    let aad = seal_aad(SEALED_VERSION, data_key.id(), ctx);
    let (nonce, ciphertext) = aead_seal(data_key.key_bytes(), &aad, plaintext.expose())?;
    Ok(Sealed {
        version: SEALED_VERSION,
        data_key_id: data_key.id(),
        nonce,
        ciphertext,
    })
}

/// Opens a sealed value; fails if the key, the record `ctx` or any byte differs.
pub fn open(data_key: &DataKey, ctx: &SealContext<'_>, sealed: &Sealed) -> Result<SecretBytes> {
    if sealed.version != SEALED_VERSION {
        return Err(CryptoError::UnsupportedVersion {
            what: "sealed value",
            version: sealed.version,
        });
    }
    if sealed.data_key_id != data_key.id() {
        return Err(CryptoError::DataKeyMismatch {
            expected: sealed.data_key_id,
            found: data_key.id(),
        });
    }
    let aad = seal_aad(sealed.version, sealed.data_key_id, ctx);
    let plain = aead_open(
        data_key.key_bytes(),
        &sealed.nonce,
        &aad,
        &sealed.ciphertext,
    )?
    .ok_or_else(|| CryptoError::OpenFailed {
        field: ctx.field.to_owned(),
    })?;
    Ok(SecretBytes::from_slice(&plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-7f3a9c";

    fn ctx(owner: Uuid, event_id: Uuid) -> SealContext<'static> {
        SealContext {
            owner,
            field: "api_key",
            event_id,
        }
    }

    fn canary() -> SecretBytes {
        SecretBytes::from_slice(CANARY.as_bytes())
    }

    #[test]
    fn roundtrip_and_fresh_nonces() {
        let dk = DataKey::generate().expect("dk");
        let c = ctx(Uuid::new_v4(), Uuid::now_v7());
        let s1 = seal(&dk, &c, &canary()).expect("seal");
        let s2 = seal(&dk, &c, &canary()).expect("seal");
        assert_ne!(s1.nonce, s2.nonce);
        assert_ne!(s1.ciphertext, s2.ciphertext);
        assert_eq!(s1.data_key_id, dk.id());
        assert_eq!(
            open(&dk, &c, &s1).expect("open").expose(),
            CANARY.as_bytes()
        );
        let empty = seal(&dk, &c, &SecretBytes::new(Vec::new())).expect("seal empty");
        assert!(open(&dk, &c, &empty).expect("open").is_empty());
        // bincode roundtrip.
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&s1, cfg).expect("enc");
        let (back, _): (Sealed, usize) =
            bincode::serde::decode_from_slice(&bytes, cfg).expect("dec");
        assert_eq!(
            open(&dk, &c, &back).expect("open").expose(),
            CANARY.as_bytes()
        );
        assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));
    }

    #[test]
    fn moved_to_other_owner_field_or_event_fails() {
        let dk = DataKey::generate().expect("dk");
        let owner = Uuid::new_v4();
        let event = Uuid::now_v7();
        let c = ctx(owner, event);
        let s = seal(&dk, &c, &canary()).expect("seal");
        let others = [
            SealContext {
                owner: Uuid::new_v4(),
                ..c
            },
            SealContext {
                field: "password",
                ..c
            },
            SealContext {
                field: "api_ke",
                ..c
            },
            SealContext {
                event_id: Uuid::now_v7(),
                ..c
            },
        ];
        for other in others {
            match open(&dk, &other, &s) {
                Err(CryptoError::OpenFailed { field }) => assert_eq!(field, other.field),
                x => panic!("unexpected {x:?}"),
            }
        }
    }

    #[test]
    fn tampering_fails() {
        let dk = DataKey::generate().expect("dk");
        let c = ctx(Uuid::new_v4(), Uuid::now_v7());
        let s = seal(&dk, &c, &canary()).expect("seal");
        for i in 0..s.ciphertext.len() {
            let mut t = s.clone();
            t.ciphertext[i] ^= 0x01;
            assert!(open(&dk, &c, &t).is_err(), "byte {i}");
        }
        let mut t = s.clone();
        t.ciphertext.pop();
        assert!(open(&dk, &c, &t).is_err());
        let mut t = s.clone();
        t.ciphertext.truncate(3);
        assert!(open(&dk, &c, &t).is_err());
        let mut t = s.clone();
        t.nonce[11] ^= 0x01;
        assert!(open(&dk, &c, &t).is_err());
        let mut t = s.clone();
        t.version = 9;
        assert!(matches!(
            open(&dk, &c, &t),
            Err(CryptoError::UnsupportedVersion { version: 9, .. })
        ));
    }

    #[test]
    fn other_data_key_fails() {
        let dk = DataKey::generate().expect("dk");
        let other = DataKey::generate().expect("other");
        let c = ctx(Uuid::new_v4(), Uuid::now_v7());
        let s = seal(&dk, &c, &canary()).expect("seal");
        assert!(matches!(
            open(&other, &c, &s),
            Err(CryptoError::DataKeyMismatch { .. })
        ));
        // Even with the id forged to match, the other key does not open it.
        let mut forged = s.clone();
        forged.data_key_id = other.id();
        assert!(matches!(
            open(&other, &c, &forged),
            Err(CryptoError::OpenFailed { .. })
        ));
    }

    #[test]
    fn aad_and_encoding_layout_are_frozen() {
        // Changing either breaks every value already sealed: add a new version instead.
        let dk_id = Uuid::from_u128(0x0102);
        let owner = Uuid::from_u128(0x0304);
        let event = Uuid::from_u128(0x0506);
        let aad = seal_aad(
            1,
            dk_id,
            &SealContext {
                owner,
                field: "tok",
                event_id: event,
            },
        );
        let mut expected = b"credledger/sealed-field/v1".to_vec();
        expected.push(1);
        expected.extend_from_slice(&0x0102u128.to_be_bytes());
        expected.extend_from_slice(&0x0304u128.to_be_bytes());
        expected.extend_from_slice(&0x0506u128.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 3]);
        expected.extend_from_slice(b"tok");
        assert_eq!(aad, expected);

        let sealed = Sealed {
            version: 1,
            data_key_id: dk_id,
            nonce: [7; 12],
            ciphertext: vec![9; 20],
        };
        let bytes =
            bincode::serde::encode_to_vec(&sealed, bincode::config::standard()).expect("enc");
        let mut expected = vec![1u8, 16];
        expected.extend_from_slice(&0x0102u128.to_be_bytes());
        expected.extend_from_slice(&[7; 12]);
        expected.push(20);
        expected.extend_from_slice(&[9; 20]);
        assert_eq!(bytes, expected);
    }

    proptest::proptest! {
        #[test]
        fn prop_roundtrip_and_field_binding(
            plain in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            field in "[a-z_]{1,24}",
            other in "[a-z_]{1,24}",
        ) {
            let dk = DataKey::generate().expect("dk");
            let c = SealContext { owner: Uuid::new_v4(), field: &field, event_id: Uuid::now_v7() };
            let s = seal(&dk, &c, &SecretBytes::from_slice(&plain)).expect("seal");
            let opened = open(&dk, &c, &s).expect("open");
            proptest::prop_assert_eq!(opened.expose(), &plain[..]);
            if other != field {
                let moved = SealContext { field: &other, ..c };
                proptest::prop_assert!(open(&dk, &moved, &s).is_err());
            }
        }
    }

    #[test]
    fn errors_and_debug_never_show_plaintext() {
        let dk = DataKey::generate().expect("dk");
        let c = ctx(Uuid::new_v4(), Uuid::now_v7());
        let s = seal(&dk, &c, &canary()).expect("seal");
        let err = open(&dk, &ctx(Uuid::new_v4(), c.event_id), &s).expect_err("moved");
        let opened = open(&dk, &c, &s).expect("open");
        for out in [
            err.to_string(),
            format!("{err:?}"),
            format!("{s:?}"),
            format!("{opened:?}"),
            format!("{dk:?}"),
        ] {
            assert!(!out.contains(CANARY), "{out}");
        }
    }
}
