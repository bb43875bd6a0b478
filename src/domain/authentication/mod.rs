//! The authentication aggregate: commands -> events (generic over secrets) -> state.

mod certificate;
mod commands;
mod decide;
mod events;
mod notices;
mod state;
mod validate;
mod warnings;

pub use certificate::{
    check_certificate, CertificateError, CertificateInfo, CertificatePart, KeyFormat, KeyMatch,
};
pub use commands::{
    AuthenticationCommand, ChangeOrigin, CreateAuthentication, FieldChange, RestoreSnapshot,
};
pub use decide::{decide, AuthenticationError, Decision, DecisionContext};
pub use events::{
    AuthenticationEvent, FieldOutcome, FieldValue, VerificationOutcome, AUTHENTICATION_EVENT_TYPES,
};
pub use notices::{
    certificate_notice_due, refresh_failure_starts_streak, CertificateNotice,
    CERTIFICATE_NOTICE_DAYS,
};
pub use state::{Authentication, AuthenticationState, Lifecycle, StoredField};
pub use validate::{FieldError, ScopeError};
pub use warnings::{Warning, CERTIFICATE_EXPIRY_WARNING_DAYS};

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests_change;
#[cfg(test)]
mod tests_create;
#[cfg(test)]
mod tests_custom_service;
#[cfg(test)]
mod tests_notices;
