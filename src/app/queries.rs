//! Read queries: listing, one authentication (now or as of a version or time), history.

use crate::domain::access::Action;
use crate::domain::ids::{AuthenticationId, UserId};
use crate::projections::{AuthenticationView, HistoryEntry, ListQuery, Page};

use super::{App, AppError, RestoreTarget};

impl App {
    /// The authentications `user` may see, filtered and paged.
    pub async fn list(&self, user: UserId, query: &ListQuery) -> Result<Page, AppError> {
        Ok(self.model().model().read().await.list(user, query)?)
    }

    /// One authentication as it is now.
    pub async fn get(
        &self,
        user: UserId,
        id: AuthenticationId,
    ) -> Result<AuthenticationView, AppError> {
        self.model()
            .model()
            .read()
            .await
            .view_for(user, id)
            .ok_or(AppError::NotFound)
    }

    /// One authentication as it was at a version or time. Visible to whoever may see it now.
    pub async fn get_as_of(
        &self,
        user: UserId,
        id: AuthenticationId,
        target: RestoreTarget,
    ) -> Result<AuthenticationView, AppError> {
        // Access is decided on the current state so that a user who lost access sees nothing.
        let now = self.get(user, id).await?;
        if let RestoreTarget::Version(v) = target {
            if v == 0 || v > now.version {
                return Err(AppError::NotFound);
            }
        }
        let (state, _) = self.state_as_of(id, target).await?;
        let auth = state.current.as_ref().ok_or(AppError::NotFound)?;
        let times = {
            let model = self.model().model().read().await;
            model.authentication(id).map(|record| {
                let updated = record
                    .history
                    .get(state.version.saturating_sub(1) as usize)
                    .map_or(record.updated_at, |h| h.recorded_at);
                (record.created_at, updated)
            })
        };
        Ok(AuthenticationView::of(auth, state.version, times))
    }

    /// Every change of an authentication, oldest first; secrets only as fingerprints.
    pub async fn history(
        &self,
        user: UserId,
        id: AuthenticationId,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        let model = self.model().model().read().await;
        let record = model.authentication(id).ok_or(AppError::NotFound)?;
        let auth = record.state.current.as_ref().ok_or(AppError::NotFound)?;
        if !model.allows(user, auth.workspace, Action::View) {
            return Err(AppError::NotFound);
        }
        Ok(record.history.clone())
    }

    /// Every change of any authentication, for auditors: fingerprints, never values.
    pub async fn history_for_auditor(
        &self,
        id: AuthenticationId,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        let model = self.model().model().read().await;
        let record = model.authentication(id).ok_or(AppError::NotFound)?;
        Ok(record.history.clone())
    }
}
