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

/// serde quotes the offending value (`invalid type: string "…"`); a misplaced secret must not
/// come back in an error or reach a log, so quoted values are cut out of the message.
pub fn elide_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("string \"") {
        out.push_str(&rest[..start + "string".len()]);
        // The value is Debug-quoted: `\"` inside it is an escaped quote, not its end.
        let after = &rest[start + "string \"".len()..];
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        rest = end.map_or("", |i| &after[i + 1..]);
    }
    out.push_str(rest);
    out
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

    #[test]
    fn quoted_values_are_cut_out_of_serde_messages() {
        let message = "fields: invalid type: string \"s3cr3t, with comma\", expected a map at line 1 column 40";
        let cleaned = elide_quoted_values(message);
        assert!(!cleaned.contains("s3cr3t"), "{cleaned}");
        assert_eq!(
            cleaned,
            "fields: invalid type: string, expected a map at line 1 column 40"
        );
        assert_eq!(
            elide_quoted_values("name: missing field"),
            "name: missing field"
        );
        // An escaped quote followed by ", " inside the value does not end it early.
        let tricky = r#"fields: invalid type: string "x\", s3cret\\", expected a map"#;
        let cleaned = elide_quoted_values(tricky);
        assert!(!cleaned.contains("s3cret"), "{cleaned}");
        assert_eq!(cleaned, "fields: invalid type: string, expected a map");
        let unterminated = r#"fields: invalid type: string "x\", s3cret"#;
        assert_eq!(
            elide_quoted_values(unterminated),
            "fields: invalid type: string"
        );
    }
}
