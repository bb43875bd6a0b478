//! Identifier newtypes: UUIDv7-backed ids and validated string ids.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Error returned when text cannot be parsed into an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is not a UUID.
    #[error("{kind}: {input:?} is not a valid UUID")]
    NotUuid {
        /// Which id type was being parsed.
        kind: &'static str,
        /// The rejected input (ids are not secret).
        input: String,
    },
    /// The text is empty after trimming.
    #[error("{kind}: must not be empty")]
    Empty {
        /// Which id type was being parsed.
        kind: &'static str,
    },
    /// The text is longer than allowed.
    #[error("{kind}: is {len} characters long, at most {max} allowed")]
    TooLong {
        /// Which id type was being parsed.
        kind: &'static str,
        /// Length in characters.
        len: usize,
        /// Maximum length in characters.
        max: usize,
    },
    /// The text contains a character outside the allowed set.
    #[error("{kind}: character {ch:?} at index {index} is not allowed")]
    InvalidCharacter {
        /// Which id type was being parsed.
        kind: &'static str,
        /// The offending character.
        ch: char,
        /// Index (in characters) of the offending character.
        index: usize,
    },
}

impl IdError {
    /// The id the text was parsed as (`workspace_id`, `service_key`, …).
    pub fn field(&self) -> Option<String> {
        match self {
            IdError::NotUuid { kind, .. }
            | IdError::Empty { kind }
            | IdError::TooLong { kind, .. }
            | IdError::InvalidCharacter { kind, .. } => Some((*kind).to_owned()),
        }
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh time-ordered (UUIDv7) id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| IdError::NotUuid {
                    kind: $kind,
                    input: s.to_owned(),
                })
            }
        }
    };
}

uuid_id!(
    /// Identifies an organization.
    OrganizationId,
    "organization_id"
);
uuid_id!(
    /// Identifies a workspace (personal, shared or organization).
    WorkspaceId,
    "workspace_id"
);
uuid_id!(
    /// Identifies a user.
    UserId,
    "user_id"
);
uuid_id!(
    /// Identifies an authentication (one event stream).
    AuthenticationId,
    "authentication_id"
);
uuid_id!(
    /// Identifies a custom (user-defined) service.
    ServiceId,
    "service_id"
);
uuid_id!(
    /// Identifies an API token.
    TokenId,
    "token_id"
);
uuid_id!(
    /// Identifies a webhook subscription (one event stream).
    WebhookId,
    "webhook_id"
);
uuid_id!(
    /// Identifies a non-user principal (a workflow runner or an auditor).
    PrincipalId,
    "principal_id"
);

impl IdError {
    /// The id (or field) it is about, as the request names it.
    pub fn kind(&self) -> &'static str {
        match self {
            IdError::NotUuid { kind, .. }
            | IdError::Empty { kind }
            | IdError::TooLong { kind, .. }
            | IdError::InvalidCharacter { kind, .. } => kind,
        }
    }
}

/// Checks a string id: trimmed, non-empty, bounded, characters allowed by `allowed`.
fn check_text_id(
    kind: &'static str,
    raw: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, IdError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(IdError::Empty { kind });
    }
    let len = text.chars().count();
    if len > max {
        return Err(IdError::TooLong { kind, len, max });
    }
    if let Some((index, ch)) = text.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        return Err(IdError::InvalidCharacter { kind, ch, index });
    }
    Ok(text.to_owned())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(&raw)
            }
        }

        impl $name {
            /// Validates and wraps the text.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check_text_id($kind, raw, $max, $allowed).map(Self)
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
}

fn is_ref_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/')
}

text_id!(
    /// Key of a prebuilt catalog service, e.g. `slack` (lowercase ascii, digits, `-`, `_`).
    ServiceKey,
    "service_key",
    64,
    is_key_char
);
text_id!(
    /// Identifies a workflow in the integration platform.
    WorkflowId,
    "workflow_id",
    128,
    is_ref_char
);
text_id!(
    /// Identifies a step inside a workflow.
    StepId,
    "step_id",
    128,
    is_ref_char
);
text_id!(
    /// Name of an authentication field, e.g. `token` (lowercase ascii, digits, `-`, `_`).
    FieldName,
    "field_name",
    64,
    is_key_char
);

text_id!(
    /// Environment tag of an authentication, e.g. `sandbox` or `production`.
    EnvironmentTag,
    "environment",
    32,
    is_key_char
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_round_trip_through_text() {
        let id = UserId::new();
        let parsed: UserId = id.to_string().parse().expect("round trip");
        assert_eq!(id, parsed);
    }

    #[test]
    fn uuid_id_parse_error_names_the_kind() {
        let err = "nope".parse::<WorkspaceId>().expect_err("not a uuid");
        assert_eq!(
            err,
            IdError::NotUuid {
                kind: "workspace_id",
                input: "nope".into()
            }
        );
        assert!(err.to_string().starts_with("workspace_id:"));
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = AuthenticationId::new();
        let b = AuthenticationId::new();
        assert!(a < b);
    }

    #[test]
    fn service_key_rules() {
        assert_eq!(ServiceKey::parse(" slack ").expect("ok").as_str(), "slack");
        assert_eq!(
            ServiceKey::parse(""),
            Err(IdError::Empty {
                kind: "service_key"
            })
        );
        assert_eq!(
            ServiceKey::parse("Slack"),
            Err(IdError::InvalidCharacter {
                kind: "service_key",
                ch: 'S',
                index: 0
            })
        );
        let long = "a".repeat(65);
        assert_eq!(
            ServiceKey::parse(&long),
            Err(IdError::TooLong {
                kind: "service_key",
                len: 65,
                max: 64
            })
        );
    }

    #[test]
    fn every_error_names_its_id_as_the_field() {
        let table = [
            (
                IdError::NotUuid {
                    kind: "workspace_id",
                    input: "nope: x".into(),
                },
                "workspace_id",
            ),
            (
                IdError::Empty {
                    kind: "service_key",
                },
                "service_key",
            ),
            (
                IdError::TooLong {
                    kind: "field_name",
                    len: 65,
                    max: 64,
                },
                "field_name",
            ),
            (
                IdError::InvalidCharacter {
                    kind: "step_id",
                    ch: ':',
                    index: 3,
                },
                "step_id",
            ),
        ];
        for (error, field) in table {
            assert_eq!(error.field().as_deref(), Some(field), "{error:?}");
            assert!(error.to_string().starts_with(&format!("{field}: ")));
        }
    }

    #[test]
    fn workflow_and_step_ids() {
        assert!(WorkflowId::parse("wf-1/main").is_ok());
        assert!(StepId::parse("step 1").is_err());
        assert_eq!(
            FieldName::parse("access_token").expect("ok").to_string(),
            "access_token"
        );
    }
}
