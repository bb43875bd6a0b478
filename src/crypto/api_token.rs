//! API tokens: 256 random bits shown once, stored only as a SHA-256 hash.
//!
//! A plain hash is enough here (no salt, no slow KDF): the token is random and long, so there
//! is nothing to guess, and lookups by hash stay cheap on every request.

use base64::Engine;
use ring::digest;

use super::primitives::random_array;
use super::{Result, SecretString};

/// Prefix that makes credledger tokens recognisable (e.g. by secret scanners).
pub const TOKEN_PREFIX: &str = "clt_";

/// A new token: its text (show it once) and its hash (store that).
pub fn generate_api_token() -> Result<(SecretString, [u8; 32])> {
    prefixed_secret(TOKEN_PREFIX)
}

/// Prefix of dashboard sign-in link secrets (never accepted as an API token).
pub const SIGN_IN_LINK_PREFIX: &str = "cll_";

/// A new sign-in link secret and its hash: 256 random bits, like a token.
pub fn generate_sign_in_secret() -> Result<(SecretString, [u8; 32])> {
    prefixed_secret(SIGN_IN_LINK_PREFIX)
}

/// 256 random bits after `prefix` (base64url), and the SHA-256 of the whole text.
fn prefixed_secret(prefix: &str) -> Result<(SecretString, [u8; 32])> {
    let bytes: [u8; 32] = random_array()?;
    let text = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_api_token(&text);
    Ok((SecretString::new(text), hash))
}

/// SHA-256 of a token's text.
pub fn hash_api_token(text: &str) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_to_what_is_stored() {
        let (a, hash_a) = generate_api_token().expect("token");
        let (b, _) = generate_api_token().expect("token");
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(hash_api_token(a.expose()), hash_a);
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
