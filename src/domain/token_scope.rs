//! What an API token may be used for, on top of its principal's rights: its scopes and its
//! expiry. Pure rules; the application applies them to every use of a token and records the
//! refusals.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// One thing a token may be used for. A closed set: a token holds one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TokenScope {
    /// `POST /v1/resolve` (a workflow runner's token needs only this).
    Resolve,
    /// Every read: listings, details, history, audit, usable-by (an auditor tool's token).
    Read,
    /// Changes to authentications, custom services and webhook subscriptions (and reading
    /// them).
    Write,
    /// The directory, tokens and checkpoints: users, organizations, workspaces, memberships.
    Admin,
}

impl TokenScope {
    /// Every scope, in the order they are listed.
    pub const ALL: [TokenScope; 4] = [
        TokenScope::Resolve,
        TokenScope::Read,
        TokenScope::Write,
        TokenScope::Admin,
    ];

    /// The scope's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Resolve => "resolve",
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }

    /// The scope of a wire name.
    pub fn parse(name: &str) -> Option<TokenScope> {
        TokenScope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes of one token: never empty (a token without scopes could do nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenScopes(BTreeSet<TokenScope>);

impl TokenScopes {
    /// Every scope: what a token issued without scopes (and every token issued before scopes
    /// existed) may do.
    pub fn unrestricted() -> TokenScopes {
        TokenScopes(TokenScope::ALL.into_iter().collect())
    }

    /// The scopes named in a request; `None` when none is named.
    pub fn of(scopes: impl IntoIterator<Item = TokenScope>) -> Option<TokenScopes> {
        let set: BTreeSet<TokenScope> = scopes.into_iter().collect();
        (!set.is_empty()).then_some(TokenScopes(set))
    }

    /// Whether the token holds `scope`.
    pub fn contains(&self, scope: TokenScope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = TokenScope> + '_ {
        self.0.iter().copied()
    }
}

/// What one use of a token is, as the API's routes are classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenUse {
    /// A resolve.
    Resolve,
    /// A read.
    Read,
    /// A change of authentications or custom services.
    Write,
    /// A change of the directory, of tokens, or a checkpoint signature.
    Administer,
    /// Opening a dashboard session, which may do whatever the dashboard does: read, change
    /// authentications, and administer (issue tokens, change the directory).
    DashboardSignIn,
}

impl TokenUse {
    /// The use as a word, for refusal texts and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUse::Resolve => "resolve",
            TokenUse::Read => "read",
            TokenUse::Write => "write",
            TokenUse::Administer => "administer",
            TokenUse::DashboardSignIn => "dashboard sign-in",
        }
    }

    /// What the use needs, in words (`the write scope`…).
    fn needs(self) -> &'static str {
        match self {
            TokenUse::Resolve => "the resolve scope",
            TokenUse::Read => "the read, write or admin scope",
            TokenUse::Write => "the write scope",
            TokenUse::Administer => "the admin scope",
            TokenUse::DashboardSignIn => "the read, write and admin scopes",
        }
    }
}

/// Whether scopes allow a use: `resolve` resolves, `read` reads, `write` changes (and reads),
/// `admin` administers (and reads). The dashboard needs `read`, `write` and `admin`: a session
/// may do everything the dashboard offers, issuing tokens included, so a narrower token that
/// opened one would escape its scopes.
pub fn scopes_allow(scopes: &TokenScopes, wanted: TokenUse) -> bool {
    let has = |scope| scopes.contains(scope);
    match wanted {
        TokenUse::Resolve => has(TokenScope::Resolve),
        TokenUse::Read => has(TokenScope::Read) || has(TokenScope::Write) || has(TokenScope::Admin),
        TokenUse::Write => has(TokenScope::Write),
        TokenUse::Administer => has(TokenScope::Admin),
        TokenUse::DashboardSignIn => {
            has(TokenScope::Read) && has(TokenScope::Write) && has(TokenScope::Admin)
        }
    }
}

/// Why a live token was refused for one use. Recorded in audit as the refusal's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// Its expiry has passed (answered 401, like an unknown token).
    #[error("authorization: the token expired at {}", .at.to_datetime().to_rfc3339())]
    Expired {
        /// When it expired.
        at: Timestamp,
    },
    /// Its scopes do not cover the use (answered 403).
    #[error("authorization: the token's scopes do not allow {} (needs {})", .wanted.as_str(), .wanted.needs())]
    OutOfScope {
        /// What was attempted.
        wanted: TokenUse,
    },
}

impl TokenRefusal {
    /// The request field the refusal is about: the `authorization` header.
    pub fn field(self) -> Option<String> {
        Some("authorization".to_owned())
    }
}

/// A refused use of a live token, recorded in the ledger (stream `token-use-<id>`) so that
/// audit sees it next to the refusals on authentications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenUseEvent {
    /// The token was expired or out of scope for what was attempted.
    Refused {
        /// The token.
        token: crate::domain::ids::TokenId,
        /// What was attempted.
        wanted: TokenUse,
        /// Why it was refused (the refusal's text; never a secret).
        reason: String,
    },
}

impl TokenUseEvent {
    /// Every token use event type string.
    pub const TYPES: [&'static str; 1] = ["token_use.refused"];

    /// Stable type string.
    pub fn event_type(&self) -> &'static str {
        match self {
            TokenUseEvent::Refused { .. } => Self::TYPES[0],
        }
    }

    /// Payload schema version.
    pub fn schema_version(&self) -> u16 {
        1
    }

    /// The token the record is about.
    pub fn token(&self) -> crate::domain::ids::TokenId {
        match self {
            TokenUseEvent::Refused { token, .. } => *token,
        }
    }
}

/// Whether a live token may be used for `wanted` at `now`: not past its expiry, and its scopes
/// cover the use. Expiry is checked first: an expired token does nothing at all.
pub fn check_token_use(
    scopes: &TokenScopes,
    expires_at: Option<Timestamp>,
    now: Timestamp,
    wanted: TokenUse,
) -> Result<(), TokenRefusal> {
    if let Some(at) = expires_at {
        if now >= at {
            return Err(TokenRefusal::Expired { at });
        }
    }
    if !scopes_allow(scopes, wanted) {
        return Err(TokenRefusal::OutOfScope { wanted });
    }
    Ok(())
}

/// How often refusals of one token for one use are recorded (seconds): a client retrying an
/// expired or out-of-scope token at request rate must not grow the log at that rate. Every
/// use is still refused; the ones in between are only counted.
pub const REFUSAL_RECORD_INTERVAL_SECONDS: i64 = 60;

/// Whether a refusal at `now` is recorded, given when the last recorded refusal of the same
/// token and use was (`None`: none since the server started): the first one, then at most one
/// per [`REFUSAL_RECORD_INTERVAL_SECONDS`]. A clock that stepped back records nothing new.
pub fn refusal_is_recorded(last_recorded: Option<Timestamp>, now: Timestamp) -> bool {
    last_recorded.is_none_or(|last| {
        now.0.saturating_sub(last.0)
            >= REFUSAL_RECORD_INTERVAL_SECONDS * Timestamp::MICROS_PER_SECOND
    })
}

/// The longest lifetime a token may be issued with: 366 days (a year, leap or not).
pub const MAX_TOKEN_LIFETIME_SECONDS: i64 = 366 * 24 * 60 * 60;

/// Why an expiry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryProblem {
    /// At or before the time of issue.
    #[error("must be in the future")]
    NotInTheFuture,
    /// Further away than [`MAX_TOKEN_LIFETIME_SECONDS`].
    #[error("must be at most 366 days from now")]
    TooFar,
}

/// An expiry must be after `now` and at most [`MAX_TOKEN_LIFETIME_SECONDS`] after it.
pub fn check_expiry(now: Timestamp, expires_at: Timestamp) -> Result<(), ExpiryProblem> {
    if expires_at <= now {
        return Err(ExpiryProblem::NotInTheFuture);
    }
    let limit = now
        .0
        .saturating_add(MAX_TOKEN_LIFETIME_SECONDS * Timestamp::MICROS_PER_SECOND);
    if expires_at.0 > limit {
        return Err(ExpiryProblem::TooFar);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[TokenScope]) -> TokenScopes {
        TokenScopes::of(list.iter().copied()).expect("at least one scope")
    }

    #[test]
    fn each_scope_allows_its_uses() {
        use TokenScope::*;
        use TokenUse as U;
        // (scopes, [resolve, read, write, administer, dashboard sign-in])
        let table: [(&[TokenScope], [bool; 5]); 11] = [
            (&[Resolve], [true, false, false, false, false]),
            (&[Read], [false, true, false, false, false]),
            (&[Write], [false, true, true, false, false]),
            (&[Admin], [false, true, false, true, false]),
            (&[Read, Write], [false, true, true, false, false]),
            (&[Read, Admin], [false, true, false, true, false]),
            (&[Resolve, Read], [true, true, false, false, false]),
            (&[Write, Admin], [false, true, true, true, false]),
            (&[Read, Write, Admin], [false, true, true, true, true]),
            (&[Resolve, Read, Write], [true, true, true, false, false]),
            (&[Resolve, Read, Write, Admin], [true; 5]),
        ];
        let uses = [
            U::Resolve,
            U::Read,
            U::Write,
            U::Administer,
            U::DashboardSignIn,
        ];
        for (list, expected) in table {
            for (wanted, allowed) in uses.into_iter().zip(expected) {
                assert_eq!(
                    scopes_allow(&scopes(list), wanted),
                    allowed,
                    "{list:?} for {wanted:?}"
                );
            }
        }
        assert_eq!(TokenScopes::unrestricted(), scopes(&TokenScope::ALL));
        assert_eq!(
            TokenScopes::of([]),
            None,
            "a token holds at least one scope"
        );
    }

    #[test]
    fn an_expired_token_is_refused_before_its_scopes_are_looked_at() {
        let now = Timestamp(1_000_000);
        let read_only = scopes(&[TokenScope::Read]);
        let later = Timestamp(2_000_000);
        let cases = [
            (None, TokenUse::Read, Ok(())),
            (Some(later), TokenUse::Read, Ok(())),
            (
                Some(now),
                TokenUse::Read,
                Err(TokenRefusal::Expired { at: now }),
            ),
            (
                Some(Timestamp(1)),
                TokenUse::Write,
                Err(TokenRefusal::Expired { at: Timestamp(1) }),
            ),
            (
                None,
                TokenUse::Write,
                Err(TokenRefusal::OutOfScope {
                    wanted: TokenUse::Write,
                }),
            ),
        ];
        for (expires_at, wanted, expected) in cases {
            assert_eq!(
                check_token_use(&read_only, expires_at, now, wanted),
                expected,
                "{expires_at:?} {wanted:?}"
            );
        }
    }

    #[test]
    fn refusals_are_recorded_at_most_once_per_interval() {
        let interval = REFUSAL_RECORD_INTERVAL_SECONDS * Timestamp::MICROS_PER_SECOND;
        let last = Timestamp(5 * interval);
        let cases = [
            (None, last, true),
            (Some(last), last, false),
            (Some(last), Timestamp(last.0 + 1), false),
            (Some(last), Timestamp(last.0 + interval - 1), false),
            (Some(last), Timestamp(last.0 + interval), true),
            (Some(last), Timestamp(last.0 + 10 * interval), true),
            (Some(last), Timestamp(last.0 - interval), false),
            (Some(Timestamp(i64::MIN)), Timestamp(i64::MAX), true),
        ];
        for (last_recorded, now, expected) in cases {
            assert_eq!(
                refusal_is_recorded(last_recorded, now),
                expected,
                "{last_recorded:?} {now:?}"
            );
        }
    }

    #[test]
    fn an_expiry_is_in_the_future_and_at_most_366_days_away() {
        let now = Timestamp(10 * Timestamp::MICROS_PER_SECOND);
        let max = MAX_TOKEN_LIFETIME_SECONDS * Timestamp::MICROS_PER_SECOND;
        let cases = [
            (now.0 + 1, Ok(())),
            (now.0 + max, Ok(())),
            (now.0, Err(ExpiryProblem::NotInTheFuture)),
            (now.0 - 1, Err(ExpiryProblem::NotInTheFuture)),
            (now.0 + max + 1, Err(ExpiryProblem::TooFar)),
        ];
        for (at, expected) in cases {
            assert_eq!(check_expiry(now, Timestamp(at)), expected, "{at}");
        }
    }

    #[test]
    fn scope_names_round_trip_and_refusals_name_the_header() {
        for scope in TokenScope::ALL {
            assert_eq!(TokenScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(TokenScope::parse("Admin"), None);
        let refusal = TokenRefusal::OutOfScope {
            wanted: TokenUse::Write,
        };
        assert!(refusal.to_string().starts_with("authorization: "));
        assert_eq!(refusal.field().as_deref(), Some("authorization"));
    }
}
