//! Plaintext holders that zeroize on drop and never print or serialize their content.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

const REDACTED: &str = "[REDACTED]";

/// Secret bytes: zeroized on drop, printed as `[REDACTED]`, not serializable.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes` as a secret.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// Gives read access to the plaintext; call only where the plaintext is needed.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length of the plaintext in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the plaintext is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<SecretString> for SecretBytes {
    fn from(s: SecretString) -> Self {
        Self::from_slice(s.expose().as_bytes())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A secret UTF-8 string: zeroized on drop, printed as `[REDACTED]`, not serializable.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Takes ownership of `s` as a secret.
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// Gives read access to the plaintext; call only where the plaintext is needed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Copies the plaintext into [`SecretBytes`] (UTF-8).
    pub fn to_secret_bytes(&self) -> SecretBytes {
        SecretBytes::from_slice(self.0.as_bytes())
    }

    /// Decodes secret bytes as UTF-8; `None` if they are not valid UTF-8.
    pub fn from_secret_bytes(bytes: &SecretBytes) -> Option<Self> {
        std::str::from_utf8(bytes.expose())
            .ok()
            .map(|s| Self(s.to_owned()))
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-7f3a9c";

    #[test]
    fn debug_and_display_are_redacted() {
        let b = SecretBytes::from_slice(CANARY.as_bytes());
        let s = SecretString::from(CANARY);
        for out in [
            format!("{b:?}"),
            format!("{b}"),
            format!("{b:#?}"),
            format!("{s:?}"),
            format!("{s}"),
            format!("{:?}", Some(&s)),
        ] {
            assert!(out.contains("[REDACTED]"), "{out}");
            assert!(!out.contains(CANARY));
        }
    }

    #[test]
    fn expose_gives_plaintext() {
        let s = SecretString::from(CANARY);
        assert_eq!(s.expose(), CANARY);
        let b = s.to_secret_bytes();
        assert_eq!(b.expose(), CANARY.as_bytes());
        assert_eq!(b.len(), CANARY.len());
        assert!(!b.is_empty());
        let back = SecretString::from_secret_bytes(&b).expect("utf8");
        assert_eq!(back.expose(), CANARY);
        assert!(SecretString::from_secret_bytes(&SecretBytes::new(vec![0xff])).is_none());
    }

    #[test]
    fn zeroize_clears_content() {
        let mut b = SecretBytes::from_slice(CANARY.as_bytes());
        b.zeroize();
        assert!(b.is_empty());
    }
}
