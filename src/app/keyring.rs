//! Pairing a data directory with its master key.
//!
//! The first open of a new data directory records the master key's fingerprint in the
//! `keyring` tree. Every later open compares it before anything else is written, so a wrong
//! key is a clear error instead of silent garbage.

use std::path::Path;

use crate::crypto::{ensure_key_file_outside, MasterKey, MasterKeyFingerprint};

use super::{AppConfig, AppError};

const KEYRING_TREE: &str = "keyring";
const MASTER_FINGERPRINT: &[u8] = b"master_fingerprint";

/// Whether a directory already holds a credledger database.
fn holds_database(dir: &Path) -> bool {
    dir.join("conf").exists() || dir.join("db").exists()
}

/// Opens the database and the master key, checking that they belong together.
pub(super) fn open_with_master_key(config: &AppConfig) -> Result<(sled::Db, MasterKey), AppError> {
    ensure_key_file_outside(&config.key_file, &config.data_dir)?;
    let existing = holds_database(&config.data_dir);
    let master = if existing || !config.create_key_if_missing {
        MasterKey::load(&config.key_file)?
    } else {
        let (key, created) = MasterKey::load_or_create(&config.key_file)?;
        if created {
            tracing::warn!(
                key_file = %config.key_file.display(),
                "generated a new master key; back it up: without it the secrets in this ledger cannot be opened"
            );
        }
        key
    };
    let db = sled::Config::new().path(&config.data_dir).open()?;
    let keyring = db.open_tree(KEYRING_TREE)?;
    match keyring.get(MASTER_FINGERPRINT)? {
        Some(stored) => {
            let stored: MasterKeyFingerprint = std::str::from_utf8(&stored)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    AppError::MasterKey("the stored master key fingerprint is unreadable".into())
                })?;
            master.check_fingerprint(&stored).map_err(|e| {
                AppError::MasterKey(format!(
                    "{e}; the key file {} does not belong to the data directory {}",
                    config.key_file.display(),
                    config.data_dir.display()
                ))
            })?;
        }
        None => {
            let has_events = db.open_tree("events")?.first()?.is_some();
            if has_events {
                return Err(AppError::MasterKey(format!(
                    "the data directory {} holds events but no master key fingerprint",
                    config.data_dir.display()
                )));
            }
            keyring.insert(
                MASTER_FINGERPRINT,
                master.fingerprint()?.to_string().as_bytes(),
            )?;
            keyring.flush()?;
        }
    }
    Ok((db, master))
}
