//! Keeping access tokens fresh: before they expire (background) and on resolve when expired.
//!
//! Concurrent refreshes of one authentication in this process wait on one lock, and the ones
//! that get it after a refresh see a fresh token and do nothing: one token request. Across
//! processes, the append carries the version the refresh started from, so only one refresh
//! can be recorded. `invalid_grant` marks the authentication as needing re-authorization
//! (an event) instead of retrying; transient failures back off.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth2::{RefreshToken, TokenResponse};

use super::flow::{endpoints, expiry_text, field};
use super::{OAuth, OAuthError};
use crate::app::{system_caller, Accessor, AppError, ResolveRequest};
use crate::domain::authentication::{AuthenticationCommand, AuthenticationError, FieldChange};
use crate::domain::ids::AuthenticationId;
use crate::domain::secret::SecretText;
use crate::time::Timestamp;

/// What a refresh attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// A new access token was recorded.
    Recorded,
    /// The token was already fresh (another caller refreshed it first).
    AlreadyFresh,
    /// Another node recorded a refresh first.
    LostRace,
}

/// Per-authentication locks and back-off state.
#[derive(Default)]
pub(crate) struct RefreshState {
    locks: Mutex<HashMap<AuthenticationId, Arc<tokio::sync::Mutex<()>>>>,
    backoff: Mutex<HashMap<AuthenticationId, (Instant, u32)>>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// A token's lifetime: from when its expiry was recorded to the expiry.
fn lifetime(state: &crate::app::GrantState) -> Option<Duration> {
    let (issued, expires) = (state.expiry_recorded_at?, state.expires_at?);
    u64::try_from(expires.0.saturating_sub(issued.0))
        .ok()
        .map(Duration::from_micros)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2)
}

/// The reason of a failed refresh as the event records it: the token endpoint's host and the
/// kind of failure, never the URL's path, a token or anything of the answer's body (a
/// provider's error code is kept to its safe characters). `None`: not a failure of the call.
fn failure_reason(token_url: &str, e: &OAuthError) -> Option<String> {
    let host = url::Url::parse(token_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the token endpoint".to_owned());
    Some(match e {
        OAuthError::Provider { code } => {
            let code: String = code
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .take(64)
                .collect();
            format!("{host}: the provider refused the refresh ({code})")
        }
        OAuthError::Transport(problem) => {
            format!("{host}: the token endpoint could not be used ({problem})")
        }
        OAuthError::Endpoint(_) => format!("{host}: the outbound policy refused the call"),
        _ => return None,
    })
}

impl OAuth {
    fn lock_for(&self, id: AuthenticationId) -> Result<Arc<tokio::sync::Mutex<()>>, OAuthError> {
        let mut locks = self
            .refresh
            .locks
            .lock()
            .map_err(|_| OAuthError::Internal)?;
        Ok(locks.entry(id).or_default().clone())
    }

    fn backing_off(&self, id: AuthenticationId) -> bool {
        self.refresh
            .backoff
            .lock()
            .map(|b| b.get(&id).is_some_and(|(until, _)| Instant::now() < *until))
            .unwrap_or(false)
    }

    fn note_failure(&self, id: AuthenticationId) {
        if let Ok(mut b) = self.refresh.backoff.lock() {
            let entry = b.entry(id).or_insert((Instant::now(), 0));
            entry.1 = entry.1.saturating_add(1);
            let wait = Duration::from_secs(2u64.saturating_pow(entry.1.min(10))).min(MAX_BACKOFF);
            entry.0 = Instant::now() + wait;
        }
    }

    fn note_success(&self, id: AuthenticationId) {
        if let Ok(mut b) = self.refresh.backoff.lock() {
            b.remove(&id);
        }
    }

    /// Before a resolve: a grant the provider refused (needs re-authorization) is not used,
    /// and an expired access token is refreshed first. Only an allowed caller learns about
    /// the grant or causes a refresh, so access is decided (and a refusal recorded) before
    /// either; the common path (a fresh grant, or not OAuth2) decides it once, in
    /// `App::resolve`.
    pub async fn prepare_resolve(
        &self,
        by: &Accessor,
        request: &ResolveRequest,
    ) -> Result<(), OAuthError> {
        let Some(grant) = self.app.grant_state(request.authentication).await else {
            return Ok(());
        };
        let due_before = Timestamp::now().0 + micros(super::EXPIRY_SKEW);
        let expired = grant.expires_at.is_some_and(|at| at.0 <= due_before);
        if !grant.needs_reauthorization && !expired {
            return Ok(());
        }
        self.app.authorize_resolve(by, request).await?;
        if grant.needs_reauthorization {
            // The provider refused the refresh token: the stored access token is not to be used.
            return Err(OAuthError::NeedsReauthorization);
        }
        self.refresh_if_due(request.authentication, super::EXPIRY_SKEW)
            .await
            .map(|_| ())
    }

    /// Refreshes the access token if it expires within `margin` (zero: only if expired),
    /// at most half the token's lifetime (see [`super::OAuthSettings::margin_for`]).
    pub async fn refresh_if_due(
        &self,
        id: AuthenticationId,
        margin: Duration,
    ) -> Result<Refreshed, OAuthError> {
        let lock = self.lock_for(id)?;
        let _one_at_a_time = lock.lock().await;
        let state = self.app.grant_state(id).await.ok_or(OAuthError::NotFound)?;
        let margin = margin.min(self.settings.margin_for(lifetime(&state)));
        let due_before = Timestamp(Timestamp::now().0 + micros(margin));
        if state.expires_at.is_none_or(|at| at > due_before) {
            return Ok(Refreshed::AlreadyFresh);
        }
        if state.needs_reauthorization {
            return Err(OAuthError::NeedsReauthorization);
        }
        let refresh_token = self
            .app
            .reveal_for_system(id, "refresh_token")
            .await?
            .ok_or(OAuthError::NoRefreshToken)?;
        let (spec, registration) = self.service(&state.service, None).await?;
        let (authorize_url, token_url) = endpoints(&spec, &state.plain_fields)?;
        let client = self.client(&registration, &authorize_url, &token_url)?;
        // The policy check belongs to the attempt: a call it refuses is a refresh failure too.
        let answer = async {
            let url = self.settings.policy.check_url(&token_url)?;
            let http = self.settings.policy.client_for(&url).await?;
            client
                .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_owned()))
                .request_async(&http)
                .await
                .map_err(super::provider_error)
        }
        .await;
        let system = system_caller();
        let token = match answer {
            Ok(token) => token,
            Err(OAuthError::Provider { code, .. }) if code == "invalid_grant" => {
                let command = AuthenticationCommand::RequireReauthorization {
                    reason: "invalid_grant: the provider refused the refresh token".into(),
                };
                match self
                    .app
                    .execute(&system, id, command, Some(state.version))
                    .await
                {
                    Ok(_) | Err(AppError::VersionMismatch { .. }) | Err(AppError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                return Err(OAuthError::NeedsReauthorization);
            }
            Err(e) => {
                self.note_failure(id);
                if state.refresh_failure_starts_streak {
                    if let Some(reason) = failure_reason(&token_url, &e) {
                        self.record_failure(id, state.version, reason).await;
                    }
                }
                return Err(e);
            }
        };
        let set = |text: String| FieldChange::Set(SecretText::new(text));
        let mut fields = BTreeMap::new();
        fields.insert(
            field("access_token"),
            set(token.access_token().secret().clone()),
        );
        // A rotated refresh token is stored in the same event as the new access token.
        if let Some(rotated) = token.refresh_token() {
            fields.insert(field("refresh_token"), set(rotated.secret().clone()));
        }
        // No stated lifetime: forget the old expiry, or the token would look due forever.
        let expiry = match token.expires_in() {
            Some(expires_in) => set(expiry_text(expires_in)),
            None => FieldChange::Clear,
        };
        fields.insert(field("expires_at"), expiry);
        // A provider may narrow (or widen) the grant on refresh; its answer is the truth.
        let granted_scopes = token
            .scopes()
            .map(|scopes| scopes.iter().map(|s| s.to_string()).collect());
        let command = AuthenticationCommand::RecordRefresh {
            fields,
            granted_scopes,
        };
        match self
            .app
            .execute(&system, id, command, Some(state.version))
            .await
        {
            Ok(_) => {
                self.note_success(id);
                Ok(Refreshed::Recorded)
            }
            Err(AppError::VersionMismatch { .. }) | Err(AppError::Conflict(_)) => {
                Ok(Refreshed::LostRace)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records the first refresh failure of a streak (`authentication.refresh_failed`). The
    /// domain decides again on `version`: a failure already recorded, or a change since, leaves
    /// nothing to record (the next failure tries again); the caller's error stands either way.
    async fn record_failure(&self, id: AuthenticationId, version: u64, reason: String) {
        let command = AuthenticationCommand::RecordRefreshFailure { reason };
        match self
            .app
            .execute(&system_caller(), id, command, Some(version))
            .await
        {
            Ok(_)
            | Err(AppError::VersionMismatch { .. })
            | Err(AppError::Conflict(_))
            | Err(AppError::Authentication(AuthenticationError::RefreshFailureAlreadyRecorded)) => {
            }
            Err(e) => {
                tracing::warn!(authentication = %id, error = %e, "could not record a refresh failure")
            }
        }
    }

    /// Refreshes every token that expires within the margin (the background task's step);
    /// returns how many were recorded. Candidates are those due within the configured
    /// margin; each is then held to its own clamped margin.
    pub async fn refresh_due(&self) -> usize {
        let before = Timestamp(Timestamp::now().0 + micros(self.settings.refresh_margin));
        let mut recorded = 0;
        for id in self.app.grants_expiring_before(before).await {
            if self.backing_off(id) {
                continue;
            }
            match self.refresh_if_due(id, self.settings.refresh_margin).await {
                Ok(Refreshed::Recorded) => recorded += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(authentication = %id, error = %e, "token refresh failed"),
            }
        }
        recorded
    }

    /// Live grants whose token lifetime is at most the configured refresh margin: with such a
    /// margin they would be due as soon as issued, so they are refreshed at half their
    /// lifetime instead. `credledger serve` warns about them at start.
    pub async fn grants_with_lifetime_within_margin(&self) -> usize {
        let far = Timestamp(i64::MAX / 2);
        let mut short = 0;
        for id in self.app.grants_expiring_before(far).await {
            if let Some(state) = self.app.grant_state(id).await {
                if lifetime(&state).is_some_and(|l| l <= self.settings.refresh_margin) {
                    short += 1;
                }
            }
        }
        short
    }

    /// Runs [`OAuth::refresh_due`] every interval until the task is aborted.
    pub async fn run_refresher(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.settings.refresh_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.refresh_due().await;
        }
    }
}
