//! Pairing a data directory with its master key.
//!
//! The first open of a new data directory writes the master key's fingerprint to
//! `master_key.fingerprint` in the directory. Every later open compares it before the database
//! is even opened, so a wrong key is a clear error and nothing in the directory is touched.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::crypto::{ensure_key_file_outside, MasterKey, MasterKeyFingerprint};

use super::{AppConfig, AppError};

/// File in the data directory holding the master key's public fingerprint.
pub const FINGERPRINT_FILE: &str = "master_key.fingerprint";

fn fingerprint_path(data_dir: &Path) -> PathBuf {
    data_dir.join(FINGERPRINT_FILE)
}

/// Whether a directory already holds a sled database.
fn holds_database(dir: &Path) -> bool {
    dir.join("conf").exists() || dir.join("db").exists()
}

fn read_fingerprint(path: &Path) -> Result<MasterKeyFingerprint, AppError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::MasterKey(format!("cannot read {}: {e}", path.display())))?;
    text.trim().parse().map_err(|_| {
        AppError::MasterKey(format!(
            "{} is not a master key fingerprint",
            path.display()
        ))
    })
}

/// Writes the fingerprint file atomically (temp file, fsync, rename).
fn write_fingerprint(data_dir: &Path, fingerprint: &MasterKeyFingerprint) -> Result<(), AppError> {
    let io =
        |e: std::io::Error| AppError::MasterKey(format!("cannot write the key fingerprint: {e}"));
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let tmp = data_dir.join(format!("{FINGERPRINT_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(format!("{fingerprint}\n").as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, fingerprint_path(data_dir)).map_err(io)?;
    Ok(())
}

/// Loads the master key and opens the database, checking first that they belong together.
pub(super) fn open_with_master_key(config: &AppConfig) -> Result<(sled::Db, MasterKey), AppError> {
    ensure_key_file_outside(&config.key_file, &config.data_dir)?;
    let recorded = fingerprint_path(&config.data_dir);
    let master = if recorded.exists() {
        let master = MasterKey::load(&config.key_file)?;
        let stored = read_fingerprint(&recorded)?;
        master.check_fingerprint(&stored).map_err(|e| {
            AppError::MasterKey(format!(
                "{e}; the key file {} does not belong to the data directory {}",
                config.key_file.display(),
                config.data_dir.display()
            ))
        })?;
        master
    } else if holds_database(&config.data_dir) {
        return Err(AppError::MasterKey(format!(
            "the data directory {} holds a database but no {FINGERPRINT_FILE}; refusing to pair it with a key",
            config.data_dir.display()
        )));
    } else {
        // A new directory: load the key, or generate one (the crypto layer warns about it).
        let master = if config.create_key_if_missing {
            MasterKey::load_or_create(&config.key_file)?.0
        } else {
            MasterKey::load(&config.key_file)?
        };
        write_fingerprint(&config.data_dir, &master.fingerprint()?)?;
        master
    };
    let db = crate::ledger::open_db(&config.data_dir)?;
    Ok((db, master))
}
