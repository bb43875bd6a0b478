//! Dashboard sessions: server-side, behind an HttpOnly, SameSite=Strict cookie, with idle and
//! absolute timeouts and a CSRF token per session. Sessions live in memory (a restart signs
//! everyone out); the cookie holds only a random id, never the API token it was opened with.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

use crate::app::Caller;
use crate::domain::ids::UserId;
use crate::ledger::{Origin, SignedInWith};

/// The session cookie's name.
pub const COOKIE: &str = "credledger_session";
/// A session unused this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session is closed this long after sign-in, used or not.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many open sessions; signing in past it closes the oldest.
pub const MAX_SESSIONS: usize = 10_000;

/// An open session. Its CSRF token stays out of `Debug`.
#[derive(Clone)]
pub struct Session {
    /// The signed-in user.
    pub user: UserId,
    /// How the session was opened (an API token or a sign-in link): the `via` of all it does.
    pub via: SignedInWith,
    /// The token every form of this session carries.
    pub csrf: String,
    opened: Instant,
    last_seen: Instant,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct NoRandomness;

/// The open sessions of this server, by id. The ids are bearer credentials for the
/// dashboard: `Debug` shows only how many there are.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("open", &self.lock().len())
            .finish()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("via", &self.via)
            .field("csrf", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Opens a session for `user`, signed in `via`; returns its id (the cookie's value).
    pub fn open(&self, user: UserId, via: SignedInWith) -> Result<String, NoRandomness> {
        let id = random_hex()?;
        let now = Instant::now();
        let session = Session {
            user,
            via,
            csrf: random_hex()?,
            opened: now,
            last_seen: now,
        };
        let mut open = self.lock();
        open.retain(|_, s| s.is_live(now));
        if open.len() >= MAX_SESSIONS {
            if let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.opened)
                .map(|(k, _)| k.clone())
            {
                open.remove(&oldest);
            }
        }
        open.insert(id.clone(), session);
        Ok(id)
    }

    /// The live session with this id, marked as seen now; an expired one is closed.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut open = self.lock();
        match open.get_mut(id) {
            Some(session) if session.is_live(now) => {
                session.last_seen = now;
                Some(session.clone())
            }
            Some(_) => {
                open.remove(id);
                None
            }
            None => None,
        }
    }

    /// Closes a session (sign-out).
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Session {
    /// The caller of what this session does: its user, signed in the way the session was
    /// opened, and the origin `dashboard` (because it came through these pages, not because a
    /// header said so).
    pub fn caller(&self) -> Caller {
        Caller {
            user: self.user,
            via: self.via,
            origin: Origin::Dashboard,
            idempotency: None,
        }
    }

    fn is_live(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) < IDLE_TIMEOUT
            && now.duration_since(self.opened) < ABSOLUTE_TIMEOUT
    }

    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), sent.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn random_hex() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| NoRandomness)?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_until_closed_and_checks_its_csrf_token() {
        let sessions = Sessions::default();
        let user = UserId::new();
        let id = sessions.open(user, SignedInWith::SignInLink).expect("open");
        let session = sessions.touch(&id).expect("live");
        assert_eq!(session.user, user);
        assert_eq!(session.caller().via, SignedInWith::SignInLink);
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches("nope"));
        assert!(!session.csrf_matches(""));
        assert!(sessions.touch("unknown").is_none());
        sessions.close(&id);
        assert!(sessions.touch(&id).is_none());
    }

    #[test]
    fn debug_output_holds_no_session_id_or_csrf_token() {
        let sessions = Sessions::default();
        let id = sessions
            .open(UserId::new(), SignedInWith::ApiToken)
            .expect("open");
        let session = sessions.touch(&id).expect("live");
        let printed = format!("{sessions:?} {session:?}");
        assert!(!printed.contains(&id), "{printed}");
        assert!(!printed.contains(&session.csrf), "{printed}");
        assert!(printed.contains("open: 1"), "{printed}");
    }

    #[test]
    fn an_idle_or_old_session_is_not_live() {
        let now = Instant::now();
        let fresh = Session {
            user: UserId::new(),
            via: SignedInWith::ApiToken,
            csrf: String::new(),
            opened: now,
            last_seen: now,
        };
        assert!(fresh.is_live(now));
        assert!(!fresh.is_live(now + IDLE_TIMEOUT));
        let busy_but_old = Session {
            last_seen: now + ABSOLUTE_TIMEOUT,
            ..fresh
        };
        assert!(!busy_but_old.is_live(now + ABSOLUTE_TIMEOUT));
    }
}
