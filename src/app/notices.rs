//! The certificate notices sweep: for every live client certificate authentication whose
//! `not_after` has reached a notice threshold not yet sent, the system appends the notice
//! through the normal command path, on the version it found.

use super::{system_caller, App, AppError};
use crate::domain::authentication::{
    certificate_notice_due, AuthenticationCommand, AuthenticationError,
};
use crate::domain::ids::AuthenticationId;
use crate::time::Timestamp;

impl App {
    /// Live authentications with a certificate notice due at `now`, and the version each was
    /// found at (system view, no access check).
    async fn certificate_notices_due(&self, now: Timestamp) -> Vec<(AuthenticationId, u64)> {
        let model = self.model().model().read().await;
        model
            .authentications
            .iter()
            .filter_map(|(id, record)| {
                let auth = record.state.current.as_ref()?;
                certificate_notice_due(auth, now).map(|_| (id, record.state.version))
            })
            .collect()
    }

    /// Appends every certificate notice due now (`authentication.certificate_expiring` or
    /// `authentication.certificate_expired`) as the system; returns how many were appended.
    /// A change that landed meanwhile makes the append a version conflict: that one is
    /// skipped, and the next sweep decides again on the new version.
    pub async fn sweep_certificate_notices(&self) -> usize {
        let mut appended = 0;
        for (id, version) in self.certificate_notices_due(Timestamp::now()).await {
            let command = AuthenticationCommand::RecordCertificateNotice;
            match self
                .execute(&system_caller(), id, command, Some(version))
                .await
            {
                Ok(_) => appended += 1,
                Err(AppError::VersionMismatch { .. })
                | Err(AppError::Conflict(_))
                | Err(AppError::Authentication(AuthenticationError::NoCertificateNoticeDue)) => {}
                Err(e) => {
                    tracing::warn!(authentication = %id, error = %e, "could not record a certificate notice")
                }
            }
        }
        appended
    }

    /// How often the background sweep of certificate notices runs (zero: never).
    pub fn notices_sweep_every(&self) -> std::time::Duration {
        self.notices_sweep_every
    }
}
