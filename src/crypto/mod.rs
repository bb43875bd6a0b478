//! Sealing secrets: key hierarchy (master key -> per-authentication data keys), AEAD sealing
//! bound to its record, keyed fingerprints, and plaintext holders that never leak.

mod data_key;
mod error;
mod fingerprint;
mod keystore;
mod master_key;
mod primitives;
mod seal;
mod secret;

pub use data_key::{DataKey, WrappedDataKey, WRAPPED_DATA_KEY_VERSION};
pub use error::{CryptoError, Result};
pub use fingerprint::{Fingerprint, Fingerprinter, FINGERPRINT_BYTES, FINGERPRINT_PREFIX};
pub use keystore::{DataKeyStatus, DataKeyStore};
pub use master_key::{MasterKey, MasterKeyFingerprint, KEY_FILE_HEADER};
pub use seal::{open, seal, SealContext, Sealed, SEALED_VERSION};
pub use secret::{SecretBytes, SecretString};
