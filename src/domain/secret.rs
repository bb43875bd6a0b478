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

/// serde names the offending value in its messages (`invalid type: integer \`7319\`, expected
/// a string`, `string "…"`, `unknown variant \`…\``). A secret sent with the wrong type or in
/// the wrong field must not come back in an error or reach a log, so every value is cut out;
/// the kind of value (`integer`, `string`, …), field names and the expected form stay.
pub fn elide_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let Some((at, marker)) = next_marker(rest) else {
            out.push_str(rest);
            return out;
        };
        // Keep the kind word (`integer`, `string`, `unknown variant`, `found`), drop the value.
        out.push_str(&rest[..at + marker.kind_len]);
        let value = &rest[at + marker.text.len()..];
        rest = match marker.quote {
            Quote::Debug => after_debug_string(value),
            Quote::Backtick => value.find('`').map_or("", |i| &value[i + 1..]),
            Quote::OneChar => {
                let mut chars = value.chars();
                chars.next();
                chars.as_str().strip_prefix('`').unwrap_or(chars.as_str())
            }
            // The variant text is raw (no escaping): its end is the last "`, expected".
            Quote::Variant => value.rfind("`, expected").map_or("", |i| &value[i + 1..]),
        };
    }
}

#[derive(Clone, Copy)]
enum Quote {
    Debug,
    Backtick,
    OneChar,
    Variant,
}

struct Marker {
    text: &'static str,
    kind_len: usize,
    quote: Quote,
}

const MARKERS: &[(&str, &str, Quote)] = &[
    ("string \"", "string", Quote::Debug),
    ("integer `", "integer", Quote::Backtick),
    ("floating point `", "floating point", Quote::Backtick),
    ("boolean `", "boolean", Quote::Backtick),
    ("character `", "character", Quote::OneChar),
    ("unknown variant `", "unknown variant", Quote::Variant),
    // uuid: "found `x` at 3".
    ("found `", "found", Quote::OneChar),
];

fn next_marker(text: &str) -> Option<(usize, Marker)> {
    MARKERS
        .iter()
        .filter_map(|(marker, kind, quote)| {
            text.find(marker).map(|at| {
                (
                    at,
                    Marker {
                        text: marker,
                        kind_len: kind.len(),
                        quote: *quote,
                    },
                )
            })
        })
        .min_by_key(|(at, _)| *at)
}

/// The text after a Debug-quoted string whose opening quote is already consumed: `\"` inside
/// it is an escaped quote, not its end.
fn after_debug_string(value: &str) -> &str {
    let mut chars = value.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return &value[i + 1..],
            _ => {}
        }
    }
    ""
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
        let cleaned = elide_values(message);
        assert!(!cleaned.contains("s3cr3t"), "{cleaned}");
        assert_eq!(
            cleaned,
            "fields: invalid type: string, expected a map at line 1 column 40"
        );
        assert_eq!(elide_values("name: missing field"), "name: missing field");
        // An escaped quote followed by ", " inside the value does not end it early.
        let tricky = r#"fields: invalid type: string "x\", s3cret\\", expected a map"#;
        let cleaned = elide_values(tricky);
        assert!(!cleaned.contains("s3cret"), "{cleaned}");
        assert_eq!(cleaned, "fields: invalid type: string, expected a map");
        let unterminated = r#"fields: invalid type: string "x\", s3cret"#;
        assert_eq!(elide_values(unterminated), "fields: invalid type: string");
    }

    #[test]
    fn every_kind_of_value_is_cut_out_of_serde_messages() {
        let cases = [
            (
                "invalid type: integer `7319856312789620`, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                "invalid type: floating point `7319.5`, expected a string",
                "invalid type: floating point, expected a string",
            ),
            (
                "invalid type: boolean `true`, expected a string",
                "invalid type: boolean, expected a string",
            ),
            (
                "invalid value: character `s`, expected a digit",
                "invalid value: character, expected a digit",
            ),
            (
                "unknown variant `s3cr3t`, expected `json` or `ndjson`",
                "unknown variant, expected `json` or `ndjson`",
            ),
            (
                "unknown variant `s3`, expected x`, expected `a` or `b`",
                "unknown variant, expected `a` or `b`",
            ),
            (
                "invalid character: expected [0-9a-fA-F-], found `s` at 1",
                "invalid character: expected [0-9a-fA-F-], found at 1",
            ),
            (
                "invalid type: map, expected a string",
                "invalid type: map, expected a string",
            ),
            ("missing field `name`", "missing field `name`"),
            (
                "unknown field `nmae`, expected one of `name`, `workspace`",
                "unknown field `nmae`, expected one of `name`, `workspace`",
            ),
        ];
        for (message, cleaned) in cases {
            assert_eq!(elide_values(message), cleaned, "{message}");
        }
    }
}
