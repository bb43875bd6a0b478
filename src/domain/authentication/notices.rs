//! Lifecycle notices: which certificate notice is due, and whether a refresh failure starts a
//! new failure streak. Pure rules on an authentication's state; the background sweep and the
//! refresher ask them first, and the decision asks them again on the version it appends to.

use super::events::AuthenticationEvent;
use super::state::{Authentication, Lifecycle};
use crate::domain::services::AuthKind;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The thresholds of `authentication.certificate_expiring`, in days before `not_after`, least
/// urgent first.
pub const CERTIFICATE_NOTICE_DAYS: [u8; 3] = [30, 7, 1];

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// A certificate notice: the event it is, and the state keeps the last one sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertificateNotice {
    /// `not_after` is at most `days_before` days away.
    Expiring {
        /// End of validity.
        not_after: Timestamp,
        /// 30, 7 or 1.
        days_before: u8,
    },
    /// `not_after` has passed.
    Expired {
        /// End of validity.
        not_after: Timestamp,
    },
}

impl CertificateNotice {
    /// The `not_after` it is about.
    pub fn not_after(self) -> Timestamp {
        match self {
            CertificateNotice::Expiring { not_after, .. }
            | CertificateNotice::Expired { not_after } => not_after,
        }
    }

    /// Larger is more urgent: a notice is due only when more urgent than the last one sent
    /// for the same `not_after`.
    fn urgency(self) -> u8 {
        match self {
            // 30 -> 1, 7 -> 2, 1 -> 3.
            CertificateNotice::Expiring { days_before, .. } => CERTIFICATE_NOTICE_DAYS
                .iter()
                .position(|d| *d == days_before)
                .map_or(0, |i| u8::try_from(i + 1).unwrap_or(u8::MAX)),
            CertificateNotice::Expired { .. } => u8::MAX,
        }
    }

    /// The event recording it.
    pub fn event<S>(self) -> AuthenticationEvent<S> {
        match self {
            CertificateNotice::Expiring {
                not_after,
                days_before,
            } => AuthenticationEvent::CertificateExpiring {
                not_after,
                days_before,
            },
            CertificateNotice::Expired { not_after } => {
                AuthenticationEvent::CertificateExpired { not_after }
            }
        }
    }

    /// The notice an event records, if it is one (the state folds it in).
    pub fn recorded_by<S>(event: &AuthenticationEvent<S>) -> Option<CertificateNotice> {
        match event {
            AuthenticationEvent::CertificateExpiring {
                not_after,
                days_before,
            } => Some(CertificateNotice::Expiring {
                not_after: *not_after,
                days_before: *days_before,
            }),
            AuthenticationEvent::CertificateExpired { not_after } => {
                Some(CertificateNotice::Expired {
                    not_after: *not_after,
                })
            }
            _ => None,
        }
    }
}

/// The most urgent notice `not_after` has reached at `now`, sent or not.
fn reached(not_after: Timestamp, now: Timestamp) -> Option<CertificateNotice> {
    if now >= not_after {
        return Some(CertificateNotice::Expired { not_after });
    }
    let left = not_after.0.saturating_sub(now.0);
    // Most urgent first: a certificate first seen with 5 days left gets the 7-day notice only.
    CERTIFICATE_NOTICE_DAYS
        .iter()
        .rev()
        .find(|days| left <= i64::from(**days) * DAY_MICROS)
        .map(|days| CertificateNotice::Expiring {
            not_after,
            days_before: *days,
        })
}

/// The certificate notice due for a live client certificate authentication at `now`, if any:
/// the most urgent threshold its `not_after` has reached, unless that one (or a more urgent
/// one) was already sent for the same `not_after`. A new certificate (another `not_after`)
/// starts afresh.
pub fn certificate_notice_due<S>(
    auth: &Authentication<S>,
    now: Timestamp,
) -> Option<CertificateNotice> {
    if auth.kind != AuthKind::Certificate || auth.lifecycle != Lifecycle::Active {
        return None;
    }
    let due = reached(auth.expires_at?, now)?;
    match auth.certificate_notice {
        Some(sent) if sent.not_after() == due.not_after() && sent.urgency() >= due.urgency() => {
            None
        }
        _ => Some(due),
    }
}

/// Whether a refresh failure is to be recorded: only the first of a streak (none recorded
/// since the last recorded refresh, grant or re-authentication), so retries add nothing.
pub fn refresh_failure_starts_streak<S>(auth: &Authentication<S>) -> bool {
    auth.lifecycle == Lifecycle::Active && !auth.refresh_failing
}
