//! `Idempotency-Key` on writes. The record is written by the ledger in the same transaction as
//! the events it answers for, so a retry after a crash finds it exactly when the write landed.
//! A write path first asks for an earlier outcome and, if there is one, answers from it instead
//! of deciding again: a command never runs twice.

use ring::digest;
use serde::{Deserialize, Serialize};

use crate::domain::authentication::Warning;
use crate::domain::ids::AuthenticationId;
use crate::ledger::{codec, AppendOutcome, EventStore, IdempotencyClaim, Position, StoreError};
use crate::projections::payloads::{self, DomainEvent};

use super::{App, AppError, Caller, CommandOutcome};

/// An idempotency key as the application sees it: digests made at the edge (the key already
/// binds the caller's token, the method and the path; the hash is keyed, so it cannot confirm a
/// guessed body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyRequest {
    /// The key under which the record is stored.
    pub key: [u8; 32],
    /// A digest of the request; the same key with another request is refused.
    pub request_hash: [u8; 32],
}

impl IdempotencyRequest {
    /// The key of one step of an operation that appends more than once.
    pub(crate) fn step(&self, step: &str) -> IdempotencyRequest {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(step.as_bytes());
        ctx.update(&[0]);
        ctx.update(&self.key);
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        IdempotencyRequest {
            key,
            request_hash: self.request_hash,
        }
    }
}

/// What an authentication command stores to rebuild its answer (no secret, no request value
/// beyond the warnings the domain gave). The position comes from the record itself.
#[derive(Serialize, Deserialize)]
struct CommandAnswer {
    id: uuid::Uuid,
    version: u64,
    warnings: Vec<Warning>,
}

impl Caller {
    /// The idempotency record to store with this caller's append, if they sent a key.
    pub(crate) fn claim(&self, answer: Vec<u8>) -> Option<IdempotencyClaim> {
        self.idempotency.map(|request| IdempotencyClaim {
            key: request.key,
            request_hash: request.request_hash,
            answer,
        })
    }
}

/// The application error for a ledger refusal of an idempotency key.
pub(crate) fn reused(err: StoreError) -> AppError {
    match err {
        StoreError::IdempotencyKeyReused { .. } => AppError::IdempotencyKeyReused,
        other => AppError::Store(other),
    }
}

/// The stored answer of an authentication command.
pub(super) fn command_answer(
    id: AuthenticationId,
    version: u64,
    warnings: &[Warning],
) -> Result<Vec<u8>, AppError> {
    Ok(codec::encode(&CommandAnswer {
        id: id.as_uuid(),
        version,
        warnings: warnings.to_vec(),
    })
    .map_err(StoreError::from)?)
}

/// The outcome of an authentication command, rebuilt from the record an earlier append stored.
pub(super) fn replayed_command(earlier: &AppendOutcome) -> Result<CommandOutcome, AppError> {
    let answer = earlier.replayed_answer.as_deref().unwrap_or_default();
    let stored: CommandAnswer = codec::decode(answer).map_err(StoreError::from)?;
    Ok(CommandOutcome {
        id: AuthenticationId::from_uuid(stored.id),
        version: stored.version,
        position: earlier.last_position.0,
        warnings: stored.warnings,
        replayed: true,
        verification: None,
    })
}

impl App {
    /// What an earlier attempt with the caller's key stored, if that attempt landed (and the
    /// read model has caught up with it). A key used with another request is refused.
    pub(super) async fn earlier_outcome(
        &self,
        caller: &Caller,
    ) -> Result<Option<AppendOutcome>, AppError> {
        let Some(request) = &caller.idempotency else {
            return Ok(None);
        };
        let found = self
            .store()
            .idempotent_outcome(&request.key, &request.request_hash)
            .await
            .map_err(reused)?;
        if let Some(outcome) = &found {
            self.model().wait_for(outcome.last_position.0).await?;
        }
        Ok(found)
    }

    /// The events an earlier append wrote, decoded, in order.
    pub(super) async fn events_of(
        &self,
        outcome: &AppendOutcome,
    ) -> Result<Vec<DomainEvent>, AppError> {
        let count = outcome.last_position.0 + 1 - outcome.first_position.0;
        let envelopes = self
            .store()
            .read_all(Position(outcome.first_position.0), count as usize)
            .await?;
        Ok(envelopes
            .iter()
            .map(payloads::decode)
            .collect::<Result<_, _>>()?)
    }
}
