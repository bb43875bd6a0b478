//! Events about the ledger's own keys (stream `keys`): they record key management, never key
//! material.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A master key as events name it: its id and its public fingerprint digest (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterKeyRef {
    /// The key id from the key file.
    pub key_id: String,
    /// Hex of the 16-byte HKDF-derived fingerprint stored in `master_key.fingerprint`.
    pub fingerprint: String,
}

/// Key management events (stream `keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeysEvent {
    /// The master key was replaced; every active data key is now wrapped under the new one.
    MasterKeyRotated {
        /// The master key that was retired.
        old_master_key: MasterKeyRef,
        /// The master key now in use.
        new_master_key: MasterKeyRef,
        /// Active data keys wrapped under the new master key when the rotation completed.
        data_keys_rewrapped: u64,
        /// Destroyed (purged) data keys: tombstones with nothing to re-wrap.
        data_keys_destroyed: u64,
        /// Id of the stored fingerprint key, re-wrapped unchanged (fingerprints stay comparable).
        fingerprint_key_id: Uuid,
        /// Whether this event was written when finishing an interrupted rotation.
        resumed: bool,
    },
}

impl KeysEvent {
    /// Every key event type string.
    pub const TYPES: [&'static str; 1] = ["keys.rotated"];

    /// Stable type string.
    pub fn event_type(&self) -> &'static str {
        match self {
            KeysEvent::MasterKeyRotated { .. } => Self::TYPES[0],
        }
    }

    /// Payload schema version.
    pub fn schema_version(&self) -> u16 {
        1
    }
}
