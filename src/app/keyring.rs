//! Pairing a data directory with its master key.
//!
//! The first open of a new data directory writes the master key's fingerprint to
//! `master_key.fingerprint` in the directory. Every later open compares it before the database
//! is even opened, so a wrong key is a clear error and nothing in the directory is touched.
//!
//! During a master key rotation the new key waits in `<key-file>.pending` (see
//! [`super::rotation`]); while that file exists both keys are loaded, and the data directory
//! may be paired with either of them.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::crypto::{ensure_key_file_outside, MasterKey, MasterKeyFingerprint};

use super::{AppConfig, AppError, MasterKeyError, StartupError};

/// File in the data directory holding the master key's public fingerprint.
pub const FINGERPRINT_FILE: &str = "master_key.fingerprint";

/// The key file beside `key_file` whose name gets `suffix` appended.
fn sibling(key_file: &Path, suffix: &str) -> PathBuf {
    let mut name = key_file
        .file_name()
        .map(OsString::from)
        .unwrap_or_else(|| OsString::from("master.key"));
    name.push(suffix);
    key_file.with_file_name(name)
}

/// Where a rotation keeps the new master key until it is installed: `<key-file>.pending`.
pub fn pending_key_path(key_file: &Path) -> PathBuf {
    sibling(key_file, ".pending")
}

/// Where a rotation keeps the replaced master key: `<key-file>.retired-<key id>`.
pub fn retired_key_path(key_file: &Path, key_id: &str) -> PathBuf {
    sibling(key_file, &format!(".retired-{key_id}"))
}

/// The database and the master keys found for it.
pub(super) struct OpenedKeys {
    /// The opened sled database.
    pub db: sled::Db,
    /// The key in the key file.
    pub master: MasterKey,
    /// The new key of an interrupted rotation (`<key-file>.pending`), if there is one.
    pub pending: Option<MasterKey>,
}

fn fingerprint_path(data_dir: &Path) -> PathBuf {
    data_dir.join(FINGERPRINT_FILE)
}

/// Whether a directory already holds a sled database.
fn holds_database(dir: &Path) -> bool {
    dir.join("conf").exists() || dir.join("db").exists()
}

fn read_fingerprint(path: &Path) -> Result<MasterKeyFingerprint, AppError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        AppError::from(MasterKeyError::ReadFingerprint {
            path: path.to_owned(),
            source,
        })
    })?;
    text.trim().parse().map_err(|_| {
        AppError::from(MasterKeyError::BadFingerprint {
            path: path.to_owned(),
        })
    })
}

/// Writes the fingerprint file atomically (temp file, fsync, rename, directory fsync).
pub(super) fn write_fingerprint(
    data_dir: &Path,
    fingerprint: &MasterKeyFingerprint,
) -> Result<(), AppError> {
    let io = |e: std::io::Error| AppError::from(MasterKeyError::WriteFingerprint(e));
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let tmp = data_dir.join(format!("{FINGERPRINT_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(format!("{fingerprint}\n").as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, fingerprint_path(data_dir)).map_err(io)?;
    if let Ok(dir) = std::fs::File::open(data_dir) {
        dir.sync_all().map_err(io)?;
    }
    Ok(())
}

/// Opens the sled database, naming the usual cause when another process holds its lock.
pub(super) fn open_db(data_dir: &Path) -> Result<sled::Db, AppError> {
    crate::ledger::open_db(data_dir).map_err(|e| match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            AppError::Startup(StartupError::DirectoryInUse {
                path: data_dir.to_owned(),
            })
        }
        other => AppError::Storage(other),
    })
}

/// Checks the stored fingerprint against the key file and, during a rotation, the pending key.
fn check_pairing(
    config: &AppConfig,
    stored: &MasterKeyFingerprint,
    master: &MasterKey,
    pending: Option<&MasterKey>,
) -> Result<(), AppError> {
    let Err(e) = master.check_fingerprint(stored) else {
        return Ok(());
    };
    if pending.is_some_and(|p| p.check_fingerprint(stored).is_ok()) {
        return Ok(());
    }
    let retired = retired_key_path(&config.key_file, &stored.key_id);
    Err(AppError::from(MasterKeyError::NotPaired {
        reason: e,
        key_file: config.key_file.clone(),
        data_dir: config.data_dir.clone(),
        retired: retired.exists().then_some(retired),
    }))
}

/// Loads the master key (and the pending key of an interrupted rotation) and opens the
/// database, checking first that they belong together.
pub(super) fn open_with_master_key(config: &AppConfig) -> Result<OpenedKeys, AppError> {
    ensure_key_file_outside(&config.key_file, &config.data_dir)?;
    let recorded = fingerprint_path(&config.data_dir);
    let mut pending = None;
    let master = if recorded.exists() {
        let master = MasterKey::load(&config.key_file)?;
        let pending_path = pending_key_path(&config.key_file);
        if pending_path.exists() {
            pending = Some(MasterKey::load(&pending_path)?);
        }
        let stored = read_fingerprint(&recorded)?;
        check_pairing(config, &stored, &master, pending.as_ref())?;
        master
    } else if holds_database(&config.data_dir) {
        return Err(AppError::from(MasterKeyError::NoFingerprint {
            data_dir: config.data_dir.clone(),
        }));
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
    let db = open_db(&config.data_dir)?;
    Ok(OpenedKeys {
        db,
        master,
        pending,
    })
}
