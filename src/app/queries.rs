//! Read queries: listing, one authentication (now or as of a version or time), history.

use crate::domain::access::Action;
use crate::domain::ids::{AuthenticationId, UserId};
use crate::projections::model::history_page;
use crate::projections::{AuthenticationView, HistoryEntry, ListQuery, Page};

use super::{App, AppError, RestoreTarget};

impl App {
    /// The authentications `user` may see, filtered and paged.
    pub async fn list(&self, user: UserId, query: &ListQuery) -> Result<Page, AppError> {
        let mut page = self.model().model().read().await.list(user, query)?;
        for view in &mut page.items {
            self.mark_destroyed(view)?;
        }
        Ok(page)
    }

    /// Marks a view whose data key is gone, so no reader takes "set" secrets for usable ones.
    pub(super) fn mark_destroyed(&self, view: &mut AuthenticationView) -> Result<(), AppError> {
        view.secrets_destroyed = self.secrets_destroyed(view.id)?;
        Ok(())
    }

    /// One authentication as it is now.
    pub async fn get(
        &self,
        user: UserId,
        id: AuthenticationId,
    ) -> Result<AuthenticationView, AppError> {
        let mut view = self
            .model()
            .model()
            .read()
            .await
            .view_for(user, id)
            .ok_or(AppError::NotFound)?;
        self.mark_destroyed(&mut view)?;
        Ok(view)
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
        let settled = self.model().settled().await?;
        let times = settled.model.times_at(settled.store, id, state.version)?;
        let mut view =
            AuthenticationView::of(auth, state.version, times).named_in(&settled.model.directory);
        drop(settled);
        self.mark_destroyed(&mut view)?;
        Ok(view)
    }

    /// Every change of an authentication, oldest first; secrets only as fingerprints.
    pub async fn history(
        &self,
        user: UserId,
        id: AuthenticationId,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        {
            let model = self.model().model().read().await;
            let record = model.authentication(id).ok_or(AppError::NotFound)?;
            let auth = record.state.current.as_ref().ok_or(AppError::NotFound)?;
            if !model.allows(user, auth.workspace, Action::View) {
                return Err(AppError::NotFound);
            }
        }
        self.stored_history(id).await
    }

    /// Every change of any authentication, for auditors: fingerprints, never values.
    pub async fn history_for_auditor(
        &self,
        id: AuthenticationId,
    ) -> Result<Vec<HistoryEntry>, AppError> {
        if self
            .model()
            .model()
            .read()
            .await
            .authentication(id)
            .is_none()
        {
            return Err(AppError::NotFound);
        }
        self.stored_history(id).await
    }

    /// The whole history of an authentication from the read store.
    async fn stored_history(&self, id: AuthenticationId) -> Result<Vec<HistoryEntry>, AppError> {
        let store = self.model().settle().await?;
        Ok(history_page(store, id, 0, usize::MAX)?)
    }
}

/// What the OAuth2 refresher needs to know about one authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantState {
    /// The service.
    pub service: crate::domain::services::ServiceRef,
    /// Stream version (the expected version of a refresh's append).
    pub version: u64,
    /// When the access token expires, if known.
    pub expires_at: Option<crate::time::Timestamp>,
    /// Whether the provider refused the refresh token.
    pub needs_reauthorization: bool,
    /// Whether a refresh failure is to be recorded now: none was since the last refresh,
    /// grant or re-authentication (`domain::authentication::refresh_failure_starts_streak`).
    pub refresh_failure_starts_streak: bool,
    /// Plain field values (e.g. a custom domain for the token URL).
    pub plain_fields: std::collections::BTreeMap<String, String>,
    /// Granted scopes now.
    pub scopes: Vec<String>,
    /// Extra permissions consented to.
    pub extra_permissions: Vec<String>,
    /// When the current access token's expiry was recorded: event ids are UUIDv7, so the id
    /// of the version that sealed `expires_at` carries it. With `expires_at`, the lifetime.
    pub expiry_recorded_at: Option<crate::time::Timestamp>,
}

impl App {
    /// The grant state of a live OAuth2 authentication (system view, no access check).
    pub async fn grant_state(&self, id: AuthenticationId) -> Option<GrantState> {
        use crate::domain::authentication::{Lifecycle, StoredField};
        use crate::domain::services::AuthKind;
        let model = self.model().model().read().await;
        let record = model.authentication(id)?;
        let auth = record.state.current.as_ref()?;
        if auth.kind != AuthKind::OAuth2 || auth.lifecycle != Lifecycle::Active {
            return None;
        }
        let plain_fields = auth
            .fields
            .iter()
            .filter_map(|(name, field)| match field {
                StoredField::Plain { value, .. } => Some((name.as_str().to_owned(), value.clone())),
                StoredField::Secret { .. } => None,
            })
            .collect();
        let expiry_recorded_at = auth
            .fields
            .iter()
            .find(|(name, _)| name.as_str() == "expires_at")
            .and_then(|(_, field)| record.sealing_event(field.changed_at_version()))
            .and_then(|event| event.get_timestamp())
            .map(|ts| {
                let (seconds, nanos) = ts.to_unix();
                crate::time::Timestamp(
                    i64::try_from(seconds)
                        .unwrap_or(i64::MAX / 2_000_000)
                        .saturating_mul(1_000_000)
                        .saturating_add(i64::from(nanos / 1_000)),
                )
            });
        Some(GrantState {
            service: auth.service.clone(),
            version: record.state.version,
            expires_at: auth.expires_at,
            needs_reauthorization: auth.needs_reauthorization,
            refresh_failure_starts_streak:
                crate::domain::authentication::refresh_failure_starts_streak(auth),
            plain_fields,
            scopes: auth.scopes.clone(),
            extra_permissions: auth.extra_permissions.clone(),
            expiry_recorded_at,
        })
    }

    /// Live OAuth2 authentications whose access token expires before `before` and that can
    /// be refreshed (system view).
    pub async fn grants_expiring_before(
        &self,
        before: crate::time::Timestamp,
    ) -> Vec<AuthenticationId> {
        use crate::domain::authentication::Lifecycle;
        use crate::domain::services::AuthKind;
        let model = self.model().model().read().await;
        model
            .authentications
            .iter()
            .filter_map(|(id, record)| {
                let auth = record.state.current.as_ref()?;
                let refreshable = auth.kind == AuthKind::OAuth2
                    && auth.lifecycle == Lifecycle::Active
                    && !auth.needs_reauthorization
                    && auth.fields.keys().any(|f| f.as_str() == "refresh_token")
                    && auth.expires_at.is_some_and(|e| e < before);
                refreshable.then_some(id)
            })
            .collect()
    }

    /// Opens one secret field for the system (token refresh); never for a caller's request.
    pub(crate) async fn reveal_for_system(
        &self,
        id: AuthenticationId,
        field: &str,
    ) -> Result<Option<crate::domain::secret::SecretText>, AppError> {
        use crate::domain::authentication::StoredField;
        let (name, value, version) = {
            let model = self.model().model().read().await;
            let Some(auth) = model.current(id) else {
                return Ok(None);
            };
            match auth.fields.iter().find(|(n, _)| n.as_str() == field) {
                Some((
                    name,
                    StoredField::Secret {
                        value,
                        changed_at_version,
                    },
                )) => (name.clone(), value.clone(), *changed_at_version),
                _ => return Ok(None),
            }
        };
        let Some(key) = self.keys.get(id.as_uuid())? else {
            return Ok(None);
        };
        self.unseal(id, &name, version, &key, &value)
            .await
            .map(Some)
    }
}
