//! Lifecycle notices decided for the system: a refresh failure streak, a certificate notice.

use super::{one, Existing, Result};
use crate::domain::authentication::events::AuthenticationEvent;
use crate::domain::authentication::notices::{
    certificate_notice_due, refresh_failure_starts_streak,
};
use crate::domain::authentication::{AuthenticationError, Decision};

/// A system command: the refresher reports a failure; only the first of a streak is an event,
/// so retries under back-off do not grow the log.
pub(super) fn record_refresh_failure<S>(on: &Existing<'_, S>, reason: String) -> Result<Decision> {
    on.require_oauth2()?;
    if !refresh_failure_starts_streak(on.auth) {
        return Err(AuthenticationError::RefreshFailureAlreadyRecorded);
    }
    Ok(one(AuthenticationEvent::RefreshFailed { reason }))
}

/// A system command: the sweep asks for the notice due now, decided again on the version it
/// appends to (a notice sent meanwhile is not sent twice).
pub(super) fn record_certificate_notice<S>(on: &Existing<'_, S>) -> Result<Decision> {
    let notice = certificate_notice_due(on.auth, on.ctx.now)
        .ok_or(AuthenticationError::NoCertificateNoticeDue)?;
    Ok(one(notice.event()))
}
