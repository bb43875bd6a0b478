//! Backup, import and point-in-time recovery of a whole data directory: the log plus the
//! wrapped data keys and the master key fingerprint, so the same master key opens the copy.
//! Read models and idempotency records are derived or short-lived: they are never copied, an
//! export that carries them is refused, and the read side is rebuilt from the log on first open.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use super::keyring::FINGERPRINT_FILE;
use crate::ledger::backup::{self, BackupError, ExportSummary, RestoreSummary};
use crate::ledger::SledStore;
use crate::time::Timestamp;

/// Trees beside the log that travel with it: the wrapped per-authentication data keys.
pub const AUX_TREES: &[&str] = &[crate::storage::DATA_KEYS];
/// Export header metadata key holding the master key fingerprint.
pub const FINGERPRINT_METADATA: &str = "master_key_fingerprint";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Exports a data directory (the server must be stopped) into `out`.
pub async fn export_data_dir<W: Write>(
    data_dir: &Path,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<ExportSummary, BackupError> {
    let db = backup::open_existing(data_dir)?;
    let mut metadata = BTreeMap::new();
    let fingerprint = data_dir.join(FINGERPRINT_FILE);
    if fingerprint.exists() {
        let text = std::fs::read_to_string(&fingerprint).map_err(io_err(&fingerprint))?;
        metadata.insert(FINGERPRINT_METADATA.to_owned(), text.trim().to_owned());
    }
    let store = SledStore::with_db(db, data_dir)?;
    let result = backup::export_store(&store, AUX_TREES, metadata, out, progress).await;
    store.close().await?;
    result
}

/// Imports an export file into a new (missing or empty) data directory. With the master key
/// file, every imported data key must open under it before the directory is put in place.
pub fn import_data_dir<R: Read>(
    input: R,
    data_dir: &Path,
    key_file: Option<&Path>,
    progress: &mut dyn FnMut(u64),
) -> Result<RestoreSummary, BackupError> {
    backup::import_into_dir(
        input,
        data_dir,
        AUX_TREES,
        |partial, header| {
            if let Some(fingerprint) = header.metadata.get(FINGERPRINT_METADATA) {
                let path = partial.join(FINGERPRINT_FILE);
                std::fs::write(&path, format!("{fingerprint}\n")).map_err(io_err(&path))?;
            }
            match key_file {
                Some(key_file) => check_data_keys(partial, key_file).map(|_| ()),
                None => Ok(()),
            }
        },
        progress,
    )
}

/// A data key of the copy does not open under the master key (or the key file is not the
/// directory's).
#[derive(Debug, thiserror::Error)]
#[error("data keys: {0}")]
pub struct DataKeysRefused(#[source] pub crate::crypto::CryptoError);

/// Opens every wrapped data key of a data directory with the master key in `key_file`.
pub fn check_data_keys(data_dir: &Path, key_file: &Path) -> Result<usize, BackupError> {
    let damaged =
        |e: crate::crypto::CryptoError| BackupError::Refused(Box::new(DataKeysRefused(e)));
    let master = crate::crypto::MasterKey::load(key_file).map_err(damaged)?;
    let fingerprint = data_dir.join(FINGERPRINT_FILE);
    if fingerprint.exists() {
        let text = std::fs::read_to_string(&fingerprint).map_err(io_err(&fingerprint))?;
        let stored = text.trim().parse().map_err(damaged)?;
        master.check_fingerprint(&stored).map_err(damaged)?;
    }
    let db = crate::ledger::open_db(data_dir).map_err(crate::ledger::StoreError::from)?;
    let keys = crate::crypto::DataKeyStore::new(
        db.open_tree(super::DATA_KEYS_TREE)
            .map_err(crate::ledger::StoreError::from)?,
        std::sync::Arc::new(master),
    );
    keys.check_all().map_err(damaged)
}

/// Copies the log as it was at `as_of` (and the data keys and key fingerprint) from `source`
/// into a new (missing or empty) data directory `target`.
pub fn recover_data_dir(
    source: &Path,
    as_of: Timestamp,
    target: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<RestoreSummary, BackupError> {
    backup::recover_as_of(
        source,
        as_of,
        target,
        AUX_TREES,
        |partial| {
            let from = source.join(FINGERPRINT_FILE);
            if from.exists() {
                let to = partial.join(FINGERPRINT_FILE);
                std::fs::copy(&from, &to).map_err(io_err(&to))?;
            }
            Ok(())
        },
        progress,
    )
}
