//! Name rules for authentications (and the text rules reused by the directory).

/// Maximum length of an authentication name, in characters.
pub const MAX_NAME_LEN: usize = 120;

/// Why a name was refused. Its text is `name: <reason>` ([`NameError::reason`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty after trimming.
    Empty,
    /// The name is longer than allowed after trimming.
    TooLong {
        /// Length in characters after trimming.
        len: usize,
        /// Maximum length in characters.
        max: usize,
    },
    /// The name contains a control (non-printable) character.
    ControlCharacter {
        /// Index (in characters, after trimming) of the first control character.
        index: usize,
    },
    /// Another name in the same scope equals this one, ignoring case.
    Duplicate {
        /// The trimmed name that collides.
        name: String,
    },
}

impl NameError {
    /// The field every name rule is about: `name`.
    pub fn field(&self) -> Option<String> {
        Some("name".to_owned())
    }

    /// Why the name was refused, without the field (`is required and must not be blank`).
    pub fn reason(&self) -> String {
        match self {
            NameError::Empty => "is required and must not be blank".to_owned(),
            NameError::TooLong { len, max } => {
                format!("is {len} characters long, at most {max} allowed")
            }
            NameError::ControlCharacter { index } => {
                format!("contains a control character at index {index}")
            }
            NameError::Duplicate { name } => {
                format!("{name:?} is already used in this workspace (names are case-insensitive)")
            }
        }
    }
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "name: {}", self.reason())
    }
}

/// Trims and checks a display name: 1..=`max` printable characters.
pub fn normalize_text(raw: &str, max: usize) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let len = name.chars().count();
    if len > max {
        return Err(NameError::TooLong { len, max });
    }
    if let Some(index) = name.chars().position(is_unprintable) {
        return Err(NameError::ControlCharacter { index });
    }
    Ok(name.to_owned())
}

/// Control characters, plus invisible format characters that make names look alike.
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}'
        )
}

/// Case-insensitive comparison key of a (trimmed) name.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Validates an authentication name against the names already used in its workspace.
///
/// `existing` must hold the names of the other live authentications of that workspace.
pub fn validate_name<'a>(
    raw: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Result<String, NameError> {
    let name = normalize_text(raw, MAX_NAME_LEN)?;
    let key = name_key(&name);
    if existing.into_iter().any(|other| name_key(other) == key) {
        return Err(NameError::Duplicate { name });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts() {
        assert_eq!(validate_name("  Slack prod ", []), Ok("Slack prod".into()));
        assert_eq!(validate_name("Zürich 🚀", []), Ok("Zürich 🚀".into()));
    }

    #[test]
    fn refuses_empty_and_blank() {
        assert_eq!(validate_name("", []), Err(NameError::Empty));
        assert_eq!(validate_name(" \t ", []), Err(NameError::Empty));
    }

    #[test]
    fn length_is_counted_in_characters() {
        let ok = "é".repeat(120);
        assert!(validate_name(&ok, []).is_ok());
        let long = "é".repeat(121);
        assert_eq!(
            validate_name(&long, []),
            Err(NameError::TooLong { len: 121, max: 120 })
        );
    }

    #[test]
    fn refuses_control_characters() {
        assert_eq!(
            validate_name("ab\u{7}c", []),
            Err(NameError::ControlCharacter { index: 2 })
        );
        assert_eq!(
            validate_name("a\nb", []),
            Err(NameError::ControlCharacter { index: 1 })
        );
        assert_eq!(
            validate_name("a\u{200B}b", []),
            Err(NameError::ControlCharacter { index: 1 })
        );
    }

    #[test]
    fn duplicates_are_case_insensitive() {
        assert_eq!(
            validate_name(" SLACK ", ["slack", "other"]),
            Err(NameError::Duplicate {
                name: "SLACK".into()
            })
        );
        assert!(validate_name("slack 2", ["slack"]).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        assert!(NameError::Empty.to_string().starts_with("name:"));
    }

    #[test]
    fn every_error_names_its_field_and_keeps_its_text() {
        let table = [
            (NameError::Empty, "name: is required and must not be blank"),
            (
                NameError::TooLong { len: 121, max: 120 },
                "name: is 121 characters long, at most 120 allowed",
            ),
            (
                NameError::ControlCharacter { index: 2 },
                "name: contains a control character at index 2",
            ),
            (
                NameError::Duplicate {
                    name: "Slack".into(),
                },
                "name: \"Slack\" is already used in this workspace (names are case-insensitive)",
            ),
        ];
        for (error, text) in table {
            assert_eq!(error.to_string(), text);
            assert_eq!(error.field().as_deref(), Some("name"), "{error:?}");
            assert_eq!(format!("name: {}", error.reason()), text);
        }
    }
}
