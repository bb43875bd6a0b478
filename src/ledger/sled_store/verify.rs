//! Verifying the chain together with signed checkpoints: the ones stored in the data directory
//! and exported ones an auditor kept elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{verify_trees, Trees};
use crate::ledger::chain::{ChainBreak, ChainSummary};
use crate::ledger::checkpoint::{key_fingerprint, Checkpoint, CheckpointStore};
use crate::ledger::envelope::ChainHash;
use crate::ledger::error::StoreError;

/// Something wrong with one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointProblem {
    /// The checkpoint is past the end of the log.
    Truncated {
        /// Where the checkpoint was taken.
        source: String,
        /// The checkpoint's position.
        position: u64,
        /// The log's last (verified) position.
        head: u64,
    },
    /// The log has another hash at the checkpoint's position.
    Rewritten {
        /// Where the checkpoint was taken.
        source: String,
        /// The checkpoint's position.
        position: u64,
        /// The hash the checkpoint signed.
        signed: ChainHash,
        /// The hash the log has there.
        found: ChainHash,
    },
    /// The signature does not verify.
    BadSignature {
        /// Where the checkpoint was taken.
        source: String,
        /// The checkpoint's position.
        position: u64,
    },
    /// Signed by a key other than the trusted one.
    UntrustedKey {
        /// Where the checkpoint was taken.
        source: String,
        /// The checkpoint's position.
        position: u64,
        /// Its signer.
        key: String,
        /// The trusted key.
        trusted: String,
    },
    /// A stored checkpoint does not decode.
    Unreadable {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for CheckpointProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointProblem::Truncated {
                source,
                position,
                head,
            } => write!(
                f,
                "log truncated: checkpoint at position {position} but head is {head} (checkpoint {source})"
            ),
            CheckpointProblem::Rewritten {
                source,
                position,
                signed,
                found,
            } => write!(
                f,
                "log rewritten: hash mismatch at position {position}: checkpoint signed {signed}, the log has {found} (checkpoint {source})"
            ),
            CheckpointProblem::BadSignature { source, position } => write!(
                f,
                "checkpoint at position {position}: the signature does not verify (checkpoint {source})"
            ),
            CheckpointProblem::UntrustedKey {
                source,
                position,
                key,
                trusted,
            } => write!(
                f,
                "checkpoint at position {position} is signed by {key}, not the trusted key {trusted} (checkpoint {source})"
            ),
            CheckpointProblem::Unreadable { reason } => {
                write!(f, "a stored checkpoint is unreadable: {reason}")
            }
        }
    }
}

/// The outcome of [`verify_with_checkpoints`].
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The walk of the chain.
    pub chain: Result<ChainSummary, ChainBreak>,
    /// Last position whose event checked out (the head when the chain is intact).
    pub verified_head: u64,
    /// Checkpoints checked (stored and given).
    pub checkpoints_checked: usize,
    /// Highest checkpoint position that checked out.
    pub latest_good_checkpoint: Option<u64>,
    /// Fingerprints of the keys that signed the checkpoints.
    pub signers: BTreeSet<String>,
    /// Everything wrong with the checkpoints, in the order found.
    pub problems: Vec<CheckpointProblem>,
}

impl VerifyReport {
    /// Whether the chain and every checkpoint check out.
    pub fn is_ok(&self) -> bool {
        self.chain.is_ok() && self.problems.is_empty()
    }
}

/// Walks the log of an open database and checks every stored checkpoint and every given one (labelled
/// with where it came from): signature, trusted key (when given, as raw public key bytes),
/// and that the chain has the signed hash at the signed position.
pub fn verify_with_checkpoints(
    db: &sled::Db,
    dir: &std::path::Path,
    given: &[(String, Checkpoint)],
    trusted_key: Option<&[u8]>,
) -> Result<VerifyReport, StoreError> {
    let trees = Trees::open(db, dir)?;
    let mut problems = Vec::new();
    let mut all: Vec<(String, Checkpoint)> = Vec::new();
    match CheckpointStore::open(db).and_then(|s| s.all()) {
        Ok(stored) => all.extend(
            stored
                .into_iter()
                .map(|c| ("stored in the data directory".to_owned(), c)),
        ),
        Err(e) => problems.push(CheckpointProblem::Unreadable {
            reason: e.to_string(),
        }),
    }
    all.extend(given.iter().cloned());
    let mut wanted: BTreeMap<u64, Option<ChainHash>> =
        all.iter().map(|(_, c)| (c.position, None)).collect();
    let mut verified_head = 0;
    let chain = verify_trees(&trees, &mut |position, hash| {
        verified_head = position;
        if let Some(slot) = wanted.get_mut(&position) {
            *slot = Some(*hash);
        }
    })?;
    let trusted = trusted_key.map(key_fingerprint);
    let mut signers = BTreeSet::new();
    let mut latest_good_checkpoint = None;
    for (source, checkpoint) in &all {
        let source = source.clone();
        let position = checkpoint.position;
        let key = checkpoint.key_fingerprint();
        signers.insert(key.clone());
        if checkpoint.verify_signature().is_err() {
            problems.push(CheckpointProblem::BadSignature { source, position });
            continue;
        }
        if let Some(trusted) = &trusted {
            if &key != trusted {
                problems.push(CheckpointProblem::UntrustedKey {
                    source,
                    position,
                    key,
                    trusted: trusted.clone(),
                });
                continue;
            }
        }
        match wanted.get(&position).copied().flatten() {
            Some(found) if found == checkpoint.head_hash => {
                latest_good_checkpoint = latest_good_checkpoint.max(Some(position));
            }
            Some(found) => problems.push(CheckpointProblem::Rewritten {
                source,
                position,
                signed: checkpoint.head_hash,
                found,
            }),
            None if chain.is_err() => {
                // The walk stopped before this position; the chain break is the finding.
            }
            None => problems.push(CheckpointProblem::Truncated {
                source,
                position,
                head: verified_head,
            }),
        }
    }
    Ok(VerifyReport {
        chain,
        verified_head,
        checkpoints_checked: all.len(),
        latest_good_checkpoint,
        signers,
        problems,
    })
}
