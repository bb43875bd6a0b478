//! One-time dashboard sign-in links (`domain/sign_in_links.rs`): issued on behalf of a user,
//! used once by the dashboard. Both are appended to the `tokens` stream against the version
//! the decision read, so of two racing uses of one link only one is appended.

use crate::crypto::{generate_sign_in_secret, hash_api_token, SecretString};
use crate::domain::ids::{TokenId, UserId};
use crate::domain::sign_in_links::{decide_issue_link, decide_use_link};
use crate::ledger::{EventStore, Origin, SignedInWith};
use crate::time::Timestamp;

use super::error::ConflictReason;
use super::{App, AppError, Caller};

/// A freshly issued link: its secret is shown once and never stored.
#[derive(Debug)]
pub struct IssuedSignInLink {
    /// The link's id.
    pub id: TokenId,
    /// The secret of `/ui/sign-in/link/{secret}`; Debug prints `[REDACTED]`.
    pub secret: SecretString,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// How often a use is decided again after losing a race on the tokens stream to another
/// write (a racing use of the same link is then refused by the second decision).
const USE_ATTEMPTS: usize = 4;

impl App {
    /// Issues a sign-in link for `user` (the caller may when they may issue `user` a token).
    pub async fn issue_sign_in_link(
        &self,
        caller: &Caller,
        user: UserId,
    ) -> Result<IssuedSignInLink, AppError> {
        // The first answer held the secret, which is never stored.
        if self.earlier_outcome(caller).await?.is_some() {
            return Err(AppError::AnswerShownOnce);
        }
        let (secret, secret_hash) = generate_sign_in_secret()?;
        let id = TokenId::new();
        let (version, (expires_at, events)) = {
            let model = self.model().model().read().await;
            let decided = decide_issue_link(
                &model.directory,
                caller.user,
                id,
                user,
                secret_hash,
                Timestamp::now(),
            )?;
            (model.tokens_version, decided)
        };
        if self
            .append_token_events(Some(caller), version, &events)
            .await?
        {
            return Err(AppError::AnswerShownOnce);
        }
        Ok(IssuedSignInLink {
            id,
            secret,
            expires_at,
        })
    }

    /// Uses a link's secret up: the user it signs in, once. An unknown, used or expired
    /// link, or one of a user deactivated since, is refused, all alike
    /// (`PrincipalError::SignInLinkNotValid`).
    pub async fn use_sign_in_link(&self, secret: &str) -> Result<UserId, AppError> {
        let secret_hash = hash_api_token(secret);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (version, user, events) = {
                let model = self.model().model().read().await;
                let (user, events) = decide_use_link(
                    &model.sign_in_links,
                    &model.directory,
                    &secret_hash,
                    Timestamp::now(),
                )?;
                (model.tokens_version, user, events)
            };
            let caller = Caller {
                user,
                via: SignedInWith::SignInLink,
                origin: Origin::Dashboard,
                idempotency: None,
            };
            match self
                .append_token_events(Some(&caller), version, &events)
                .await
            {
                Ok(_) => return Ok(user),
                Err(AppError::Conflict(ConflictReason::ConcurrentChange { .. }))
                    if attempt < USE_ATTEMPTS =>
                {
                    // Decide again on the state that won (it may have used this link).
                    self.model().wait_for(self.store().head().position).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
