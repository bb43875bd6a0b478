//! One-time sign-in links for the dashboard: issued for a user by whoever may issue that
//! user's API tokens, they open one session, once, within [`SIGN_IN_LINK_LIFETIME`]. They are
//! events of the `tokens` stream, so "used" survives a restart and two racing uses meet the
//! stream's expected version: only one can be appended. Only the SHA-256 of a secret is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::directory::Directory;
use super::ids::{TokenId, UserId};
use super::principals::{may_issue_for, Principal, PrincipalError, TokenEvent};
use crate::time::Timestamp;

/// How long a link opens a session after it was issued.
pub const SIGN_IN_LINK_LIFETIME_SECONDS: i64 = 15 * 60;

/// [`SIGN_IN_LINK_LIFETIME_SECONDS`] as a `Duration`, for people and pages.
pub const SIGN_IN_LINK_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(SIGN_IN_LINK_LIFETIME_SECONDS as u64);

/// A link that may still open a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSignInLink {
    /// The link's id.
    pub link: TokenId,
    /// Who it signs in.
    pub user: UserId,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// The links that may still open a session, by the hex SHA-256 of their secret. A used link
/// leaves at once and an expired one with the next link event, so this holds at most the
/// links of the last [`SIGN_IN_LINK_LIFETIME`], whatever the length of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInLinks {
    live: BTreeMap<String, LiveSignInLink>,
}

impl SignInLinks {
    /// Folds a token event recorded at `recorded_at` (other token events change nothing).
    pub fn apply(&mut self, event: &TokenEvent, recorded_at: Timestamp) {
        match event {
            TokenEvent::SignInLinkIssued {
                link,
                user,
                secret_hash,
                expires_at,
            } => {
                self.live.retain(|_, l| l.expires_at > recorded_at);
                self.live.insert(
                    hex::encode(secret_hash),
                    LiveSignInLink {
                        link: *link,
                        user: *user,
                        expires_at: *expires_at,
                    },
                );
            }
            TokenEvent::SignInLinkUsed { link } => {
                self.live
                    .retain(|_, l| l.link != *link && l.expires_at > recorded_at);
            }
            TokenEvent::Issued { .. } | TokenEvent::Revoked { .. } => {}
        }
    }

    /// How many links are kept.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no link is kept.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

/// Issuing a link for `user` follows the rule of issuing them an API token
/// ([`may_issue_for`]): themselves, or whoever manages them. Answers when it expires, and the
/// event.
pub fn decide_issue_link(
    directory: &Directory,
    actor: UserId,
    link: TokenId,
    user: UserId,
    secret_hash: [u8; 32],
    now: Timestamp,
) -> Result<(Timestamp, Vec<TokenEvent>), PrincipalError> {
    may_issue_for(directory, Some(actor), &Principal::User(user))?;
    let expires_at =
        Timestamp(now.0 + SIGN_IN_LINK_LIFETIME_SECONDS * Timestamp::MICROS_PER_SECOND);
    Ok((
        expires_at,
        vec![TokenEvent::SignInLinkIssued {
            link,
            user,
            secret_hash,
            expires_at,
        }],
    ))
}

/// Using a link at `now`: the user it signs in and the event that uses it up. An unknown, used
/// or expired link, or one whose user no longer exists or was deactivated since it was issued
/// (offboarding ends sign-ins too), gets the same refusal.
pub fn decide_use_link(
    links: &SignInLinks,
    directory: &Directory,
    secret_hash: &[u8; 32],
    now: Timestamp,
) -> Result<(UserId, Vec<TokenEvent>), PrincipalError> {
    let live = links
        .live
        .get(&hex::encode(secret_hash))
        .filter(|l| l.expires_at > now && directory.is_active(l.user))
        .ok_or(PrincipalError::SignInLinkNotValid)?;
    Ok((
        live.user,
        vec![TokenEvent::SignInLinkUsed { link: live.link }],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::fixtures::fixture;
    use crate::domain::principals::AdminAction;

    const MINUTE: i64 = 60 * Timestamp::MICROS_PER_SECOND;

    fn at(minutes: i64) -> Timestamp {
        Timestamp(1_800_000_000 * Timestamp::MICROS_PER_SECOND + minutes * MINUTE)
    }

    #[test]
    fn links_are_issued_under_the_rule_of_issuing_tokens() {
        let f = fixture();
        // (case, actor, for whom, allowed)
        let table = [
            ("a user for themselves", f.member, f.member, true),
            (
                "an organization admin for a member",
                f.admin,
                f.member,
                true,
            ),
            ("the owner for an admin", f.owner, f.admin, true),
            ("a member for another member", f.member, f.ws_editor, false),
            (
                "a workspace admin for its editor",
                f.ws_admin,
                f.ws_editor,
                false,
            ),
        ];
        for (case, actor, user, allowed) in table {
            let decided =
                decide_issue_link(&f.directory, actor, TokenId::new(), user, [1; 32], at(0));
            match decided {
                Ok((expiry, events)) => {
                    assert!(allowed, "{case}");
                    assert_eq!(expiry, at(15), "{case}");
                    assert!(
                        matches!(
                            events.as_slice(),
                            [TokenEvent::SignInLinkIssued { user: u, expires_at, .. }]
                                if *u == user && *expires_at == at(15)
                        ),
                        "{case}"
                    );
                }
                Err(e) => {
                    assert!(!allowed, "{case}");
                    assert_eq!(
                        e,
                        PrincipalError::AdminOnly(AdminAction::IssueTokensForOtherUsers),
                        "{case}"
                    );
                }
            }
        }
        let nobody = UserId::new();
        assert_eq!(
            decide_issue_link(
                &f.directory,
                f.owner,
                TokenId::new(),
                nobody,
                [1; 32],
                at(0)
            ),
            Err(PrincipalError::UnknownUser(nobody))
        );
    }

    #[test]
    fn a_link_opens_one_session_before_it_expires() {
        let f = fixture();
        let mut links = SignInLinks::default();
        for event in decide_issue_link(
            &f.directory,
            f.owner,
            TokenId::new(),
            f.member,
            [1; 32],
            at(0),
        )
        .expect("issued")
        .1
        {
            links.apply(&event, at(0));
        }
        let mut offboarded = f.directory.clone();
        crate::domain::directory::apply(
            &mut offboarded,
            &crate::domain::directory::DirectoryEvent::UserDeactivated { user: f.member },
        );
        // (case, directory, secret hash, time, signs in)
        let table = [
            ("the secret, at once", &f.directory, [1; 32], at(0), true),
            (
                "the secret, a minute before expiry",
                &f.directory,
                [1; 32],
                at(14),
                true,
            ),
            (
                "the secret, at expiry",
                &f.directory,
                [1; 32],
                at(15),
                false,
            ),
            ("another secret", &f.directory, [2; 32], at(1), false),
            (
                "the secret, its user deactivated since",
                &offboarded,
                [1; 32],
                at(1),
                false,
            ),
        ];
        for (case, directory, hash, now, signs_in) in table {
            let decided = decide_use_link(&links, directory, &hash, now);
            assert_eq!(decided.is_ok(), signs_in, "{case}");
            if let Ok((user, _)) = decided {
                assert_eq!(user, f.member, "{case}");
            } else {
                assert_eq!(decided, Err(PrincipalError::SignInLinkNotValid), "{case}");
            }
        }
        let (_, used) = decide_use_link(&links, &f.directory, &[1; 32], at(1)).expect("live");
        for event in &used {
            links.apply(event, at(1));
        }
        assert_eq!(
            decide_use_link(&links, &f.directory, &[1; 32], at(2)),
            Err(PrincipalError::SignInLinkNotValid),
            "a used link never opens another session"
        );
    }

    #[test]
    fn expired_links_are_forgotten_as_new_ones_come() {
        let f = fixture();
        let mut links = SignInLinks::default();
        for minute in 0..100 {
            let hash = [u8::try_from(minute).expect("small"); 32];
            for event in decide_issue_link(
                &f.directory,
                f.owner,
                TokenId::new(),
                f.member,
                hash,
                at(minute),
            )
            .expect("issued")
            .1
            {
                links.apply(&event, at(minute));
            }
        }
        assert_eq!(
            links.len(),
            15,
            "only the links of the last 15 minutes are kept"
        );
    }
}
