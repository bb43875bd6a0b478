//! When each API token was last used: kept in memory on every use, written to a small tree
//! at most once per [`LAST_USED_PRECISION_SECONDS`] per token. Never an event: a use is not a
//! change of the ledger, and a write per request would cost the log what reads never should.
//! Likewise which refused uses are recorded: at most one per token and use per
//! [`crate::domain::token_scope::REFUSAL_RECORD_INTERVAL_SECONDS`], the rest counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::domain::ids::TokenId;
use crate::domain::token_scope::{refusal_is_recorded, TokenUse};
use crate::time::Timestamp;

/// How stale the stored last-use time may be (seconds). While the server runs, answers are
/// exact; after a restart a token's last use may read up to this much earlier (plus sled's
/// own flush interval when the process died instead of stopping).
pub const LAST_USED_PRECISION_SECONDS: i64 = 60;

/// One token's last use: in memory, and what the tree holds.
#[derive(Debug, Clone, Copy)]
struct Seen {
    used: Timestamp,
    stored: Timestamp,
}

/// The last-use times of tokens (bounded by the number of tokens: one entry each), and when
/// refusals were last recorded (in memory only; bounded by the pairs refused lately).
#[derive(Debug)]
pub struct LastUsed {
    tree: sled::Tree,
    seen: Mutex<HashMap<TokenId, Seen>>,
    refusals: Mutex<RecordedRefusals>,
    /// Refusals answered but not recorded (one was, recently), since start.
    unrecorded: AtomicU64,
}

/// When the last refusal of each (token, use) was recorded.
#[derive(Debug, Default)]
struct RecordedRefusals {
    at: HashMap<(TokenId, TokenUse), Timestamp>,
    /// At this many entries the ones past the interval are dropped (they record anew anyway);
    /// doubled after each sweep, so sweeps cost O(1) per refusal.
    sweep_at: usize,
}

/// The fewest entries kept before the first sweep.
const FIRST_SWEEP_AT: usize = 64;

impl LastUsed {
    /// Loads the stored times (one small entry per token that was ever used).
    pub fn open(tree: sled::Tree) -> Result<LastUsed, sled::Error> {
        let mut seen = HashMap::new();
        for entry in tree.iter() {
            let (key, value) = entry?;
            let (Ok(id), Ok(micros)) = (
                uuid::Uuid::from_slice(&key),
                <[u8; 8]>::try_from(value.as_ref()),
            ) else {
                continue; // Not an entry of this version: a cache entry may be dropped.
            };
            let at = Timestamp(i64::from_be_bytes(micros));
            seen.insert(
                TokenId::from_uuid(id),
                Seen {
                    used: at,
                    stored: at,
                },
            );
        }
        Ok(LastUsed {
            tree,
            seen: Mutex::new(seen),
            refusals: Mutex::new(RecordedRefusals {
                at: HashMap::new(),
                sweep_at: FIRST_SWEEP_AT,
            }),
            unrecorded: AtomicU64::new(0),
        })
    }

    /// Whether this refusal of `token` for `wanted` at `now` is to be recorded
    /// ([`refusal_is_recorded`]); when it is, the caller records it (and calls
    /// [`LastUsed::refusal_not_recorded`] if that fails). Racing refusals: exactly one is.
    pub fn claim_refusal_record(&self, token: TokenId, wanted: TokenUse, now: Timestamp) -> bool {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let key = (token, wanted);
        if !refusal_is_recorded(refusals.at.get(&key).copied(), now) {
            drop(refusals);
            self.unrecorded.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        refusals.at.insert(key, now);
        if refusals.at.len() >= refusals.sweep_at {
            // An entry whose next refusal would be recorded anyway says nothing any more.
            refusals
                .at
                .retain(|_, at| !refusal_is_recorded(Some(*at), now));
            refusals.sweep_at = (2 * refusals.at.len()).max(FIRST_SWEEP_AT);
        }
        true
    }

    /// A claimed refusal record was not written: the next refusal of the pair records.
    pub fn refusal_not_recorded(&self, token: TokenId, wanted: TokenUse, claimed_at: Timestamp) {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        if refusals.at.get(&(token, wanted)) == Some(&claimed_at) {
            refusals.at.remove(&(token, wanted));
        }
    }

    /// Refusals answered without a record since start (a recent one of the same token and
    /// use was recorded).
    pub fn unrecorded_refusals(&self) -> u64 {
        self.unrecorded.load(Ordering::Relaxed)
    }

    /// Notes a use at `now`; writes the tree only when its time is a minute old or more.
    pub fn note(&self, token: TokenId, now: Timestamp) -> Result<(), sled::Error> {
        let due = {
            let mut seen = self.lock();
            let entry = seen.entry(token).or_insert(Seen {
                used: now,
                stored: Timestamp(i64::MIN),
            });
            entry.used = entry.used.max(now);
            let due = now.0.saturating_sub(entry.stored.0)
                >= LAST_USED_PRECISION_SECONDS * Timestamp::MICROS_PER_SECOND;
            if due {
                entry.stored = now;
            }
            due
        };
        if due {
            // No flush here: sled flushes on its own; a lost minute is within the precision.
            self.tree
                .insert(token.as_uuid().as_bytes(), &now.0.to_be_bytes())?;
        }
        Ok(())
    }

    /// When the token was last used, if ever (as far as this data directory knows).
    pub fn get(&self, token: TokenId) -> Option<Timestamp> {
        self.lock().get(&token).map(|s| s.used)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenId, Seen>> {
        // A panic while holding the map leaves plain data behind: keep using it.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token_scope::REFUSAL_RECORD_INTERVAL_SECONDS;

    fn tree() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::open(dir.path()).expect("sled");
        (dir, db)
    }

    #[test]
    fn uses_are_exact_in_memory_and_stored_at_most_once_a_minute() {
        let (_dir, db) = tree();
        let token = TokenId::new();
        let minute = LAST_USED_PRECISION_SECONDS * Timestamp::MICROS_PER_SECOND;
        let last = LastUsed::open(db.open_tree("t").expect("tree")).expect("open");
        assert_eq!(last.get(token), None);
        last.note(token, Timestamp(minute)).expect("note");
        last.note(token, Timestamp(minute + 5)).expect("note");
        assert_eq!(
            last.get(token),
            Some(Timestamp(minute + 5)),
            "exact in memory"
        );
        // Reopened: only the first use of the minute was written.
        let reopened = LastUsed::open(db.open_tree("t").expect("tree")).expect("open");
        assert_eq!(reopened.get(token), Some(Timestamp(minute)));
        reopened.note(token, Timestamp(2 * minute)).expect("note");
        let again = LastUsed::open(db.open_tree("t").expect("tree")).expect("open");
        assert_eq!(again.get(token), Some(Timestamp(2 * minute)));
    }

    #[test]
    fn refusals_are_claimed_once_per_interval_and_pair_and_the_rest_counted() {
        let (_dir, db) = tree();
        let last = LastUsed::open(db.open_tree("t").expect("tree")).expect("open");
        let interval = REFUSAL_RECORD_INTERVAL_SECONDS * Timestamp::MICROS_PER_SECOND;
        let (token, other) = (TokenId::new(), TokenId::new());
        let t0 = Timestamp(interval);
        assert!(last.claim_refusal_record(token, TokenUse::Read, t0));
        assert!(!last.claim_refusal_record(token, TokenUse::Read, Timestamp(t0.0 + 1)));
        assert!(
            last.claim_refusal_record(token, TokenUse::Write, t0),
            "another use"
        );
        assert!(
            last.claim_refusal_record(other, TokenUse::Read, t0),
            "another token"
        );
        assert_eq!(last.unrecorded_refusals(), 1);
        // A record that failed to be written is claimed again by the next refusal.
        last.refusal_not_recorded(token, TokenUse::Write, t0);
        assert!(last.claim_refusal_record(token, TokenUse::Write, Timestamp(t0.0 + 2)));
        assert!(last.claim_refusal_record(token, TokenUse::Read, Timestamp(t0.0 + interval)));
        // Many pairs refused once: entries past the interval are swept, so memory follows
        // the pairs refused lately, not every token ever refused.
        for n in 0..(10 * FIRST_SWEEP_AT as i64) {
            let at = Timestamp(t0.0 + (n + 2) * interval);
            assert!(last.claim_refusal_record(TokenId::new(), TokenUse::Read, at));
        }
        let kept = last.refusals.lock().expect("lock").at.len();
        assert!(kept <= 2 * FIRST_SWEEP_AT, "{kept}");
        assert_eq!(last.unrecorded_refusals(), 1);
    }
}
