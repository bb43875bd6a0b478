//! Thin wrappers over ring: randomness, HKDF derivation, AES-256-GCM with a random nonce.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::error::{CryptoError, InternalFailure, Result};

/// Length of AES-256 keys, data keys and master keys.
pub(crate) const KEY_LEN: usize = 32;

/// Fixed HKDF salt for every derivation from the master key.
const HKDF_SALT: &[u8] = b"credledger/hkdf-salt/v1";

/// Fills a fresh array with system randomness.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// A fresh random 32-byte key in a zeroizing buffer.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    SystemRandom::new()
        .fill(key.as_mut())
        .map_err(|_| CryptoError::Random)?;
    Ok(key)
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 of `ikm` under a fixed salt with the given `info` label, filling `out`.
pub(crate) fn hkdf_derive(ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(ikm);
    let info = [info];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| CryptoError::Internal(InternalFailure::Hkdf))
}

fn aes_key(key: &[u8; KEY_LEN]) -> Result<LessSafeKey> {
    let unbound = UnboundKey::new(&aead::AES_256_GCM, key)
        .map_err(|_| CryptoError::Internal(InternalFailure::AesKey))?;
    Ok(LessSafeKey::new(unbound))
}

/// AES-256-GCM seal with a random 96-bit nonce; returns (nonce, ciphertext ‖ tag).
pub(crate) fn aead_seal(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>)> {
    let key = aes_key(key)?;
    let nonce: [u8; NONCE_LEN] = random_array()?;
    // Reserve room for the tag up front so the plaintext copy is never reallocated.
    let mut in_out = Vec::with_capacity(plaintext.len() + aead::AES_256_GCM.tag_len());
    in_out.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut in_out,
    )
    .map_err(|_| CryptoError::Internal(InternalFailure::AeadSeal))?;
    Ok((nonce, in_out))
}

/// AES-256-GCM open; `None` when authentication fails. The plaintext is zeroized on drop.
pub(crate) fn aead_open(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let key = aes_key(key)?;
    let mut in_out = Zeroizing::new(ciphertext.to_vec());
    let len = match key.open_in_place(
        Nonce::assume_unique_for_key(*nonce),
        Aad::from(aad),
        in_out.as_mut_slice(),
    ) {
        Ok(plain) => plain.len(),
        Err(_) => return Ok(None),
    };
    in_out.truncate(len);
    Ok(Some(in_out))
}

/// Appends `bytes` with a big-endian u32 length prefix (unambiguous AAD encoding).
pub(crate) fn push_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Fields longer than u32::MAX cannot occur for ids and field names; saturate defensively.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_tamper() {
        let key = random_key().expect("key");
        let (nonce, ct) = aead_seal(&key, b"aad", b"hello").expect("seal");
        assert_eq!(ct.len(), 5 + 16);
        let pt = aead_open(&key, &nonce, b"aad", &ct)
            .expect("open")
            .expect("ok");
        assert_eq!(pt.as_slice(), b"hello");
        assert!(aead_open(&key, &nonce, b"aad2", &ct)
            .expect("open")
            .is_none());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(aead_open(&key, &nonce, b"aad", &bad)
            .expect("open")
            .is_none());
    }

    #[test]
    fn hkdf_is_deterministic_and_label_separated() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        let mut c = [0u8; 32];
        hkdf_derive(b"ikm", b"one", &mut a).expect("a");
        hkdf_derive(b"ikm", b"one", &mut b).expect("b");
        hkdf_derive(b"ikm", b"two", &mut c).expect("c");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn len_prefix_is_unambiguous() {
        let mut x = Vec::new();
        push_len_prefixed(&mut x, b"ab");
        push_len_prefixed(&mut x, b"c");
        let mut y = Vec::new();
        push_len_prefixed(&mut y, b"a");
        push_len_prefixed(&mut y, b"bc");
        assert_ne!(x, y);
    }
}
