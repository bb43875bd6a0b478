//! The stored envelope around every event, and the hash chain that links envelopes.

use std::fmt;

use ring::digest;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec::{self, CodecError};
use super::types::{Actor, EventId, Origin, Position, StreamId, StreamVersion};
use crate::time::Timestamp;

/// A SHA-256 link of the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The hash that precedes the first event.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Everything recorded about an event except its own hash.
///
/// Frozen: this struct's encoding is format version 1 of the log (see `snapshots/`).
/// Change it only by adding a new format version with a conversion from this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeBody {
    /// Global position in the log.
    pub position: Position,
    /// The stream the event belongs to.
    pub stream_id: StreamId,
    /// The stream's version after this event.
    pub stream_version: StreamVersion,
    /// Client-chosen event id.
    pub event_id: EventId,
    /// Stable type string.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u16,
    /// Store time, never decreasing along the log.
    pub recorded_at: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// Where it came from.
    pub origin: Origin,
    /// Request-wide correlation id.
    pub correlation_id: Uuid,
    /// Direct cause, if any.
    pub causation_id: Option<Uuid>,
    /// The opaque, encoded payload.
    pub payload: Vec<u8>,
    /// Hash of the previous envelope ([`ChainHash::GENESIS`] for position 1).
    pub prev_hash: ChainHash,
}

/// A stored event: its body and the chain hash over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Everything but the hash.
    pub body: EnvelopeBody,
    /// SHA-256(prev_hash ‖ encoded body).
    pub hash: ChainHash,
}

impl Envelope {
    /// A body and its chain hash: the envelope as the log stores it. (Hashing, not
    /// encryption: `crypto::seal` encrypts secrets.)
    pub fn chained(body: EnvelopeBody) -> Result<Envelope, CodecError> {
        let hash = chain_hash(&body)?;
        Ok(Envelope { body, hash })
    }

    /// Recomputes the chain hash and compares it with the stored one.
    pub fn hash_is_valid(&self) -> Result<bool, CodecError> {
        Ok(chain_hash(&self.body)? == self.hash)
    }

    /// Global position.
    pub fn position(&self) -> Position {
        self.body.position
    }

    /// Encodes for storage (format byte + bincode).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode_envelope(self)
    }

    /// Decodes stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
        codec::decode_envelope(bytes)
    }
}

/// hash_n = SHA-256(hash_{n-1} ‖ encoded envelope body).
pub fn chain_hash(body: &EnvelopeBody) -> Result<ChainHash, CodecError> {
    let encoded = codec::encode_body(body)?;
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&body.prev_hash.0);
    ctx.update(&encoded);
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    Ok(ChainHash(out))
}
