//! Stored bytes: one format-version byte, then the bincode 2.0.1 (serde) encoding.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use serde::{de::DeserializeOwned, Serialize};

use super::envelope::{Envelope, EnvelopeBody};

/// The format version written in front of every stored envelope.
pub const ENVELOPE_FORMAT_V1: u8 = 1;

/// Largest encoded value the decoder accepts; guards against corrupt length prefixes.
const DECODE_LIMIT: usize = 64 * 1024 * 1024;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed (a bug: every stored type is encodable).
    #[error("cannot encode: {0}")]
    Encode(#[source] bincode::error::EncodeError),
    /// The bytes are not a valid encoding.
    #[error("cannot decode: {0}")]
    Decode(#[source] bincode::error::DecodeError),
    /// The bytes carry a format version this build does not know.
    #[error("unknown format version {found} (this build reads {known})")]
    UnknownFormat {
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        known: u8,
    },
    /// Valid value followed by extra bytes.
    #[error("{0} trailing bytes after the encoded value")]
    TrailingBytes(usize),
    /// No bytes at all.
    #[error("empty value")]
    Empty,
}

/// The one bincode configuration of the log; changing it changes every stored byte.
fn frozen_config() -> Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>> {
    config::standard()
        .with_little_endian()
        .with_variable_int_encoding()
        .with_limit::<DECODE_LIMIT>()
}

/// Encodes any serde value with the log's frozen bincode configuration (no format byte).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, frozen_config()).map_err(CodecError::Encode)
}

/// Decodes a value encoded by [`encode`], refusing trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, frozen_config()).map_err(CodecError::Decode)?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// The bytes the chain hash covers.
pub(crate) fn encode_body(body: &EnvelopeBody) -> Result<Vec<u8>, CodecError> {
    encode(body)
}

/// Format byte followed by the encoded envelope.
pub(crate) fn encode_envelope(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64 + envelope.body.payload.len());
    out.push(ENVELOPE_FORMAT_V1);
    out.extend(encode(envelope)?);
    Ok(out)
}

/// Reads a stored envelope, checking its format byte.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<Envelope, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&ENVELOPE_FORMAT_V1, rest)) => decode(rest),
        Some((&found, _)) => Err(CodecError::UnknownFormat {
            found,
            known: ENVELOPE_FORMAT_V1,
        }),
    }
}
