//! Secrets the domain keeps but never opens (`OpaqueSealed`): a custom service's OAuth2 client
//! secret, a webhook's receiver URL. Sealed under their owner's data key, bound to the owner,
//! a field name and a fresh binding id; opened only where the value is used.

use crate::crypto::{seal, CryptoError, SealContext, Sealed, SecretBytes};
use crate::domain::services::OpaqueSealed;
use crate::ledger::{codec, StoreError};

use super::{App, AppError};

impl App {
    /// Seals `plain` for `owner` (creating its data key if it has none yet).
    pub(super) fn seal_opaque(
        &self,
        owner: uuid::Uuid,
        field: &str,
        plain: &[u8],
    ) -> Result<OpaqueSealed, AppError> {
        let key = self.keys.get_or_create_for_append(owner)?;
        let binding = uuid::Uuid::now_v7();
        let context = SealContext {
            owner,
            field,
            event_id: binding,
        };
        let sealed = seal(&key, &context, &SecretBytes::from_slice(plain))?;
        Ok(OpaqueSealed {
            binding,
            bytes: codec::encode(&sealed).map_err(StoreError::from)?,
        })
    }

    /// Opens what [`App::seal_opaque`] sealed; any mismatch (key destroyed, other owner or
    /// field, a changed byte) is `OpenFailed` naming the field.
    pub(super) fn open_opaque(
        &self,
        owner: uuid::Uuid,
        field: &str,
        sealed: &OpaqueSealed,
    ) -> Result<SecretBytes, AppError> {
        let unreadable = || {
            AppError::Crypto(CryptoError::OpenFailed {
                field: field.to_owned(),
            })
        };
        let key = self.keys.get(owner)?.ok_or_else(unreadable)?;
        let value: Sealed = codec::decode(&sealed.bytes).map_err(|_| unreadable())?;
        let context = SealContext {
            owner,
            field,
            event_id: sealed.binding,
        };
        Ok(crate::crypto::open(&key, &context, &value)?)
    }
}
