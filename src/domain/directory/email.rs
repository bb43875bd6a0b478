//! E-mail addresses of users: a plausibility check, not RFC 5322 (the address is for people
//! to recognise, and it is unique across users, case-insensitively).

use std::fmt;

/// The longest address accepted, in bytes (the SMTP path limit less its angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// Why an e-mail address is not plausible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailProblem {
    /// Nothing but white space was given.
    #[error("it is empty")]
    Empty,
    /// No `@` separates a local part from a domain.
    #[error("it has no @")]
    NoAt,
    /// Nothing stands before the `@`.
    #[error("nothing comes before the @")]
    EmptyLocalPart,
    /// The domain holds another `@`.
    #[error("it has more than one @")]
    SeveralAt,
    /// The domain has no dot (`example` rather than `example.com`).
    #[error("the domain has no dot")]
    DomainWithoutDot,
    /// The domain starts or ends with a dot.
    #[error("the domain starts or ends with a dot")]
    DomainDotAtEdge,
    /// The address is longer than [`MAX_EMAIL_LEN`] bytes.
    #[error("it is {len} bytes long; at most {limit} are allowed")]
    TooLong {
        /// Its length in bytes (after trimming).
        len: usize,
        /// The limit, [`MAX_EMAIL_LEN`].
        limit: usize,
    },
    /// White space or a control character stands inside the address.
    #[error("it contains white space or a control character")]
    WhitespaceOrControl,
}

/// A plausible e-mail address, trimmed (its case is kept as given).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Trims `raw` and checks that it is a plausible address.
    pub fn parse(raw: &str) -> Result<Self, EmailProblem> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(EmailProblem::Empty);
        }
        let (local, domain) = email.split_once('@').ok_or(EmailProblem::NoAt)?;
        if local.is_empty() {
            return Err(EmailProblem::EmptyLocalPart);
        }
        if domain.contains('@') {
            return Err(EmailProblem::SeveralAt);
        }
        if !domain.contains('.') {
            return Err(EmailProblem::DomainWithoutDot);
        }
        if domain.starts_with('.') || domain.ends_with('.') {
            return Err(EmailProblem::DomainDotAtEdge);
        }
        if email.len() > MAX_EMAIL_LEN {
            return Err(EmailProblem::TooLong {
                len: email.len(),
                limit: MAX_EMAIL_LEN,
            });
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailProblem::WhitespaceOrControl);
        }
        Ok(Self(email.to_owned()))
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key two addresses collide on: the address in lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The address as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Reads like the address's text (`"ada@example.com"`), so error texts stay as they were.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{EmailAddress, EmailProblem, MAX_EMAIL_LEN};

    #[test]
    fn plausible_addresses_are_trimmed_and_keep_their_case() {
        let email = EmailAddress::parse("  Ada@Example.com ").expect("plausible");
        assert_eq!(email.as_str(), "Ada@Example.com");
        assert_eq!(email.key(), "ada@example.com");
        assert_eq!(format!("{email:?}"), "\"Ada@Example.com\"");
    }

    #[test]
    fn each_implausible_address_names_its_problem() {
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN));
        let cases = [
            ("   ", EmailProblem::Empty),
            ("not-an-email", EmailProblem::NoAt),
            ("@example.com", EmailProblem::EmptyLocalPart),
            ("a@b@example.com", EmailProblem::SeveralAt),
            ("a@localhost", EmailProblem::DomainWithoutDot),
            ("a@.example.com", EmailProblem::DomainDotAtEdge),
            ("a@example.com.", EmailProblem::DomainDotAtEdge),
            (
                long.as_str(),
                EmailProblem::TooLong {
                    len: long.len(),
                    limit: MAX_EMAIL_LEN,
                },
            ),
            ("a b@example.com", EmailProblem::WhitespaceOrControl),
            ("a\u{7}b@example.com", EmailProblem::WhitespaceOrControl),
        ];
        for (raw, problem) in cases {
            assert_eq!(EmailAddress::parse(raw), Err(problem), "{raw:?}");
        }
    }
}
