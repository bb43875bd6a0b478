//! Plaintext secret text: zeroized on drop, never printed, never serialized.

use std::fmt;
use zeroize::Zeroize;

/// A plaintext value supplied by a caller (secret until classified otherwise).
///
/// It prints as `[REDACTED]`, wipes its memory on drop and deliberately does not
/// implement `Serialize`, so it cannot reach an event store or a response by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(String);

impl SecretText {
    /// Wraps plaintext.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
    /// Reveals the plaintext; callers must not log or persist it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the text is empty after trimming whitespace.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl Drop for SecretText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<&str> for SecretText {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for SecretText {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_text_never_prints_its_value() {
        let s = SecretText::new("canary-7f3a");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([REDACTED])");
        assert_eq!(s.expose(), "canary-7f3a");
    }

    #[test]
    fn blank_detection() {
        assert!(SecretText::new("  ").is_blank());
        assert!(!SecretText::new("x").is_blank());
    }
}
