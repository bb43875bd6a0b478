//! The checks every import makes as already-recorded envelopes stream in, whatever the target
//! backend: the chain (positions, previous hashes, stream versions), recorded times that never
//! go back, and which auxiliary tables a backup may carry. The sled importer
//! (`sled_store/import.rs`) and the PostgreSQL one (`backup/postgres.rs`) both hold one; how
//! each finds an event id used twice stays with the backend, which holds the index.

use super::chain::ChainVerifier;
use super::checkpoint::Checkpoint;
use super::envelope::{ChainHash, Envelope};
use super::sled_store::{ImportError, LEDGER_TREES};
use super::store::Head;
use crate::time::Timestamp;

/// The running checks of one import.
#[derive(Debug)]
pub(crate) struct ImportChecks {
    verifier: ChainVerifier,
    last_recorded_at: Timestamp,
    head: Head,
    allowed_aux: Vec<String>,
}

impl ImportChecks {
    /// Checks for an import accepting the named auxiliary tables.
    pub(crate) fn new(allowed_aux: &[&str]) -> ImportChecks {
        ImportChecks {
            verifier: ChainVerifier::new(),
            last_recorded_at: Timestamp(i64::MIN),
            head: Head {
                position: 0,
                hash: ChainHash::GENESIS,
            },
            allowed_aux: allowed_aux.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// Checks the envelope stored under `position` against the chain; returns it decoded.
    /// Call [`ImportChecks::admit`] for each one that is kept.
    pub(crate) fn check_chain(
        &mut self,
        position: u64,
        bytes: &[u8],
    ) -> Result<Envelope, ImportError> {
        Ok(self.verifier.check(position, bytes)?)
    }

    /// Admits a chain-checked envelope: its time must not go back; it becomes the head.
    pub(crate) fn admit(&mut self, envelope: &Envelope) -> Result<(), ImportError> {
        let body = &envelope.body;
        if body.recorded_at < self.last_recorded_at {
            return Err(ImportError::TimeGoesBack {
                position: body.position,
            });
        }
        self.last_recorded_at = body.recorded_at;
        self.head = Head {
            position: body.position.0,
            hash: envelope.hash,
        };
        Ok(())
    }

    /// Whether a backup may carry the auxiliary table `tree`.
    pub(crate) fn check_aux(&self, tree: &str) -> Result<(), ImportError> {
        if LEDGER_TREES.contains(&tree) {
            return Err(ImportError::ReservedTree {
                tree: tree.to_owned(),
            });
        }
        if !self.allowed_aux.iter().any(|t| t == tree) {
            return Err(ImportError::UnexpectedTree {
                tree: tree.to_owned(),
            });
        }
        Ok(())
    }

    /// When the last admitted event was recorded.
    pub(crate) fn last_recorded_at(&self) -> Timestamp {
        self.last_recorded_at
    }

    /// The head of what was admitted so far.
    pub(crate) fn head(&self) -> Head {
        self.head
    }
}

/// Checks an imported checkpoint: signed by its key, and naming the hash the new log holds at
/// its position (`stored`, `None` when the log does not reach it).
pub(crate) fn check_checkpoint(
    checkpoint: &Checkpoint,
    stored: Option<ChainHash>,
) -> Result<(), super::backup::BackupError> {
    checkpoint.verify_signature()?;
    if stored != Some(checkpoint.head_hash) {
        return Err(super::backup::BackupError::CheckpointMismatch {
            position: checkpoint.position,
        });
    }
    Ok(())
}
