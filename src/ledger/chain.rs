//! Walking the hash chain: a backend-agnostic verifier fed one stored entry at a time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::codec::CodecError;
use super::envelope::{ChainHash, Envelope};
use super::types::{Position, StreamId};

/// Where and why the chain is broken.
#[derive(Debug, Clone, thiserror::Error)]
#[error("chain broken at position {position}: {reason}")]
pub struct ChainBreak {
    /// The first bad position.
    pub position: Position,
    /// What is wrong there.
    pub reason: BreakReason,
}

/// What is wrong at a broken position.
#[derive(Debug, Clone)]
pub enum BreakReason {
    /// The position is missing (the next stored one is later).
    Missing {
        /// The next position actually stored.
        next_stored: u64,
    },
    /// The stored bytes do not decode (or the decoded body does not encode again, to be hashed);
    /// shared, since a break is cloned into reports.
    Undecodable(Arc<CodecError>),
    /// The envelope claims another position than the key it is stored under.
    WrongPosition {
        /// The position inside the envelope.
        claimed: u64,
    },
    /// The envelope's previous hash is not the hash of the event before it.
    PreviousHashMismatch,
    /// The envelope's hash does not match its contents.
    HashMismatch,
    /// The stream version does not follow the stream's previous event.
    StreamVersionGap {
        /// The stream.
        stream: StreamId,
        /// Version expected.
        expected: u64,
        /// Version found.
        found: u64,
    },
    /// The log ends before the head recorded in its metadata.
    Truncated {
        /// The recorded head position.
        recorded_head: u64,
    },
    /// Events are stored past the head recorded in the log's metadata.
    BeyondRecordedHead {
        /// The recorded head position.
        recorded_head: u64,
    },
    /// The recorded head hash differs from the last event's hash.
    HeadHashMismatch,
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::Missing { next_stored } => {
                write!(f, "event missing (next stored position is {next_stored})")
            }
            BreakReason::Undecodable(why) => write!(f, "stored bytes do not decode: {why}"),
            BreakReason::WrongPosition { claimed } => {
                write!(f, "envelope claims position {claimed}")
            }
            BreakReason::PreviousHashMismatch => {
                f.write_str("previous hash does not match the event before it")
            }
            BreakReason::HashMismatch => f.write_str("hash does not match the envelope's contents"),
            BreakReason::StreamVersionGap {
                stream,
                expected,
                found,
            } => write!(
                f,
                "stream {stream} expected version {expected}, found {found}"
            ),
            BreakReason::Truncated { recorded_head } => write!(
                f,
                "log ends here but its recorded head is position {recorded_head}"
            ),
            BreakReason::BeyondRecordedHead { recorded_head } => write!(
                f,
                "event stored past the recorded head position {recorded_head}"
            ),
            BreakReason::HeadHashMismatch => {
                f.write_str("recorded head hash differs from the last event's hash")
            }
        }
    }
}

/// A successful walk of the whole chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Number of events checked.
    pub events: u64,
    /// Hash of the last event ([`ChainHash::GENESIS`] when empty).
    pub head_hash: ChainHash,
}

/// Checks stored entries in key order; stops at the first break.
#[derive(Debug)]
pub struct ChainVerifier {
    next: u64,
    prev_hash: ChainHash,
    stream_versions: HashMap<StreamId, u64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next: 1,
            prev_hash: ChainHash::GENESIS,
            stream_versions: HashMap::new(),
        }
    }
}

impl ChainVerifier {
    /// A verifier expecting position 1 first.
    pub fn new() -> ChainVerifier {
        ChainVerifier::default()
    }

    /// Checks the entry stored under `key_position`; returns the decoded envelope.
    pub fn check(&mut self, key_position: u64, bytes: &[u8]) -> Result<Envelope, ChainBreak> {
        let at = Position(self.next);
        let fail = |reason| ChainBreak {
            position: at,
            reason,
        };
        if key_position != self.next {
            return Err(fail(BreakReason::Missing {
                next_stored: key_position,
            }));
        }
        let envelope =
            Envelope::decode(bytes).map_err(|e| fail(BreakReason::Undecodable(Arc::new(e))))?;
        let body = &envelope.body;
        if body.position.0 != key_position {
            return Err(fail(BreakReason::WrongPosition {
                claimed: body.position.0,
            }));
        }
        if body.prev_hash != self.prev_hash {
            return Err(fail(BreakReason::PreviousHashMismatch));
        }
        let valid = envelope
            .hash_is_valid()
            .map_err(|e| fail(BreakReason::Undecodable(Arc::new(e))))?;
        if !valid {
            return Err(fail(BreakReason::HashMismatch));
        }
        let expected_version = self
            .stream_versions
            .get(&body.stream_id)
            .copied()
            .unwrap_or(0)
            + 1;
        if body.stream_version.0 != expected_version {
            return Err(fail(BreakReason::StreamVersionGap {
                stream: body.stream_id.clone(),
                expected: expected_version,
                found: body.stream_version.0,
            }));
        }
        self.stream_versions
            .insert(body.stream_id.clone(), expected_version);
        self.prev_hash = envelope.hash;
        self.next += 1;
        Ok(envelope)
    }

    /// Ends the walk, comparing with the head the store recorded.
    pub fn finish(
        self,
        recorded_head: u64,
        recorded_hash: ChainHash,
    ) -> Result<ChainSummary, ChainBreak> {
        let last = self.next - 1;
        if recorded_head > last {
            return Err(ChainBreak {
                position: Position(self.next),
                reason: BreakReason::Truncated { recorded_head },
            });
        }
        if recorded_head < last {
            return Err(ChainBreak {
                position: Position(recorded_head + 1),
                reason: BreakReason::BeyondRecordedHead { recorded_head },
            });
        }
        if recorded_hash != self.prev_hash {
            return Err(ChainBreak {
                position: Position(last),
                reason: BreakReason::HeadHashMismatch,
            });
        }
        Ok(ChainSummary {
            events: last,
            head_hash: self.prev_hash,
        })
    }
}
