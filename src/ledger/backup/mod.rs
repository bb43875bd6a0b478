//! Logical backup and point-in-time recovery of a log: a streaming export file, an import that
//! verifies the chain as it writes, and a copy of the log's prefix up to a time.
//!
//! Targets are written in `<dir>.partial` and renamed into place only when complete, so a
//! failed import never leaves a directory that looks valid.

mod error;
mod file;
mod postgres;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

pub use error::{
    BackupError, Damage, RecordProblem, SourceProblem, TargetProblem, Truncation, Unencodable,
};
pub use file::{
    ExportHeader, ExportReader, ExportTrailer, ExportWriter, Record, RecordCounts, FORMAT_VERSION,
};
pub use postgres::{export_postgres, import_into_postgres};

use super::checkpoint::{rfc3339, Checkpoint, CheckpointStore, CHECKPOINTS_TREE};
use super::envelope::ChainHash;
use super::error::{Inconsistency, StoreError};
use super::import_checks::check_checkpoint;
use super::sled_store::{
    open_db, read_envelope, BulkImporter, ImportError, Occupied, SledStore, Trees,
};
use super::store::{EventStore, Head};
use super::types::Position;
use crate::time::Timestamp;

/// Events per `read_all` page of an export.
const EXPORT_PAGE: usize = 4096;
/// How often (in events) progress is reported.
pub const PROGRESS_EVERY: u64 = 100_000;

/// Whether a storage error is sled refusing a database another process holds.
pub fn is_lock_error(e: &StoreError) -> bool {
    matches!(e, StoreError::Storage(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock"))
}

/// Opens an existing data directory, naming a lock held by another process.
pub fn open_existing(path: &Path) -> Result<sled::Db, BackupError> {
    let path_buf = || path.to_path_buf();
    if !path.is_dir() {
        return Err(BackupError::Source(SourceProblem::NoDirectory {
            path: path_buf(),
        }));
    }
    if !(path.join("conf").exists() || path.join("db").exists()) {
        return Err(BackupError::Source(SourceProblem::NoDatabase {
            path: path_buf(),
        }));
    }
    open_db(path).map_err(|e| {
        let e = StoreError::Storage(e);
        if is_lock_error(&e) {
            BackupError::Locked(path.to_path_buf())
        } else {
            e.into()
        }
    })
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events written.
    pub events: u64,
    /// The exported head.
    pub head: Head,
    /// Auxiliary tree entries written.
    pub aux_entries: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

/// The header of an export of a log at `head`.
fn export_header(head: Head, metadata: BTreeMap<String, String>) -> ExportHeader {
    ExportHeader {
        format_version: FORMAT_VERSION,
        created_at: rfc3339(Timestamp::now()),
        source_head_position: head.position,
        source_head_hash: head.hash.to_hex(),
        metadata,
    }
}

/// Writes the events of any backend's log up to `head` (in pages); returns the last hash.
async fn export_events<E: EventStore, W: Write>(
    store: &E,
    head: Head,
    writer: &mut ExportWriter<W>,
    progress: &mut dyn FnMut(u64),
) -> Result<ChainHash, BackupError> {
    let mut next = 1u64;
    let mut last_hash = ChainHash::GENESIS;
    while next <= head.position {
        let limit = EXPORT_PAGE.min((head.position - next + 1) as usize);
        let page = store.read_all(Position(next), limit).await?;
        if page.is_empty() {
            return Err(StoreError::from(Inconsistency::PositionMissing { position: next }).into());
        }
        for envelope in page {
            let position = envelope.position().0;
            writer.event(position, &envelope.encode().map_err(StoreError::from)?)?;
            last_hash = envelope.hash;
            if position % PROGRESS_EVERY == 0 {
                progress(position);
            }
            next = position + 1;
        }
    }
    Ok(last_hash)
}

/// Streams a log (in pages), the named auxiliary trees and the checkpoints into an export file.
pub async fn export_store<W: Write>(
    store: &SledStore,
    aux_trees: &[&str],
    metadata: BTreeMap<String, String>,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<ExportSummary, BackupError> {
    let head = store.head();
    let header = export_header(head, metadata);
    let mut writer = ExportWriter::new(out, &header)?;
    let last_hash = export_events(store, head, &mut writer, progress).await?;
    let mut aux_entries = 0;
    for name in aux_trees {
        for entry in store.db().open_tree(name)?.iter() {
            let (key, value) = entry?;
            writer.aux(name, &key, &value)?;
            aux_entries += 1;
        }
    }
    let records = store
        .db()
        .open_tree(CHECKPOINTS_TREE)?
        .iter()
        .map(|entry| Ok(entry?.1));
    let checkpoints = export_checkpoints(&mut writer, records, head.position)?;
    finish_export(writer, head.position, last_hash, aux_entries, checkpoints)
}

/// Writes the encoded checkpoint records that sign a position the export reaches; returns how
/// many.
fn export_checkpoints<W: Write, B: AsRef<[u8]>>(
    writer: &mut ExportWriter<W>,
    records: impl IntoIterator<Item = Result<B, BackupError>>,
    head: u64,
) -> Result<u64, BackupError> {
    let mut written = 0;
    for record in records {
        let record = record?;
        if Checkpoint::decode(record.as_ref())?.position <= head {
            writer.checkpoint(record.as_ref())?;
            written += 1;
        }
    }
    Ok(written)
}

/// Writes the trailer and says what the export holds.
fn finish_export<W: Write>(
    writer: ExportWriter<W>,
    head: u64,
    last_hash: ChainHash,
    aux_entries: u64,
    checkpoints: u64,
) -> Result<ExportSummary, BackupError> {
    writer.finish(head, last_hash.to_hex())?;
    Ok(ExportSummary {
        events: head,
        head: Head {
            position: head,
            hash: last_hash,
        },
        aux_entries,
        checkpoints,
    })
}

/// What an import or recovery wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Events written.
    pub events: u64,
    /// The head of the new log.
    pub head: Head,
    /// Auxiliary tree entries written.
    pub aux_entries: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// The export's header (imports only).
    pub header: Option<ExportHeader>,
}

/// Checks that each checkpoint is signed and matches the new log, then stores them.
fn store_checkpoints(
    db: &sled::Db,
    dir: &Path,
    head: u64,
    checkpoints: Vec<Checkpoint>,
) -> Result<u64, BackupError> {
    let trees = Trees::open(db, dir)?;
    let store = CheckpointStore::open(db)?;
    let mut count = 0;
    for checkpoint in checkpoints {
        let stored = if checkpoint.position <= head {
            read_envelope(&trees.event_blocks, checkpoint.position)?.map(|e| e.hash)
        } else {
            None
        };
        check_checkpoint(&checkpoint, stored)?;
        store.record(&checkpoint)?;
        count += 1;
    }
    Ok(count)
}

/// Imports an export file into a database whose log is empty. Only the auxiliary trees named
/// in `aux_trees` are accepted: anything else in the file (a read model, say) is derived state
/// that must be rebuilt from the log, never copied, and the import is refused.
pub fn import_into_db<R: Read>(
    reader: &mut ExportReader<R>,
    db: &sled::Db,
    dir: &Path,
    aux_trees: &[&str],
    progress: &mut dyn FnMut(u64),
) -> Result<RestoreSummary, BackupError> {
    let mut importer = BulkImporter::new(db.clone(), dir)?.with_aux_trees(aux_trees);
    if !db.open_tree(CHECKPOINTS_TREE)?.is_empty() {
        return Err(ImportError::NotEmpty(Occupied::tree(CHECKPOINTS_TREE)).into());
    }
    let mut aux_entries = 0;
    let mut checkpoints = Vec::new();
    let streamed = stream_records(
        reader,
        &mut importer,
        &mut aux_entries,
        &mut checkpoints,
        progress,
    );
    if let Err(cause) = streamed {
        return Err(explain_with_file_damage(reader, cause));
    }
    let summary = importer.finish()?;
    check_trailer(reader, summary.head)?;
    let checkpoints = store_checkpoints(db, dir, summary.head.position, checkpoints)?;
    db.flush()?;
    Ok(RestoreSummary {
        events: summary.events,
        head: summary.head,
        aux_entries,
        checkpoints,
        header: Some(reader.header().clone()),
    })
}

/// Checks that the file's trailer (read by now) names the head the imported events end with.
fn check_trailer<R: Read>(reader: &ExportReader<R>, head: Head) -> Result<(), BackupError> {
    let trailer = reader.trailer().ok_or(Truncation::NoTrailer {
        offset: reader.offset(),
    })?;
    if trailer.head_position != head.position || trailer.head_hash != head.hash.to_hex() {
        return Err(Damage::TrailerHead {
            trailer_position: trailer.head_position,
            trailer_hash: trailer.head_hash.clone(),
            imported_position: head.position,
            imported_hash: head.hash,
        }
        .into());
    }
    Ok(())
}

fn stream_records<R: Read>(
    reader: &mut ExportReader<R>,
    importer: &mut BulkImporter,
    aux_entries: &mut u64,
    checkpoints: &mut Vec<Checkpoint>,
    progress: &mut dyn FnMut(u64),
) -> Result<(), BackupError> {
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Event { position, bytes } => {
                importer.push(position, &bytes)?;
                if position % PROGRESS_EVERY == 0 {
                    progress(position);
                }
            }
            Record::Aux { tree, key, value } => {
                importer.put_aux(&tree, &key, &value)?;
                *aux_entries += 1;
            }
            Record::Checkpoint(bytes) => checkpoints.push(Checkpoint::decode(&bytes)?),
        }
    }
    Ok(())
}

/// When the contents were refused, reads the rest of the file: if the file itself is damaged
/// (digest mismatch, cut short), that is the error to report, with the first symptom.
fn explain_with_file_damage<R: Read>(
    reader: &mut ExportReader<R>,
    cause: BackupError,
) -> BackupError {
    if cause.is_file_damage() || matches!(cause, BackupError::Read(_)) {
        return cause;
    }
    loop {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => return cause,
            Err(damage) if damage.is_file_damage() => {
                return BackupError::DamagedAfter {
                    damage: Box::new(damage),
                    first_symptom: Box::new(cause),
                }
            }
            Err(_) => return cause,
        }
    }
}

/// Runs `fill` on `<target>.partial` and renames it to `target` if it succeeds; removes it if
/// it fails. `target` must be missing or an empty directory.
fn into_fresh_dir<T>(
    target: &Path,
    fill: impl FnOnce(&Path) -> Result<T, BackupError>,
) -> Result<T, BackupError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { path, source }
    };
    if target.exists() {
        let mut entries = std::fs::read_dir(target).map_err(io(target))?;
        if entries.next().is_some() {
            return Err(BackupError::Target(TargetProblem::NotEmpty {
                path: target.to_path_buf(),
            }));
        }
    }
    let name = target.file_name().ok_or_else(|| {
        BackupError::Target(TargetProblem::NoName {
            path: target.to_path_buf(),
        })
    })?;
    let partial = target.with_file_name(format!("{}.partial", name.to_string_lossy()));
    if partial.exists() {
        return Err(BackupError::Target(TargetProblem::PartialExists {
            partial,
        }));
    }
    std::fs::create_dir_all(&partial).map_err(io(&partial))?;
    match fill(&partial) {
        Ok(value) => {
            if target.exists() {
                std::fs::remove_dir(target).map_err(io(target))?;
            }
            std::fs::rename(&partial, target).map_err(io(target))?;
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(e)
        }
    }
}

/// Imports an export file into a new data directory; `finish` runs on the complete directory
/// (e.g. to write files beside the database) before it is renamed into place.
pub fn import_into_dir<R: Read>(
    input: R,
    target: &Path,
    aux_trees: &[&str],
    finish: impl FnOnce(&Path, &ExportHeader) -> Result<(), BackupError>,
    progress: &mut dyn FnMut(u64),
) -> Result<RestoreSummary, BackupError> {
    let mut reader = ExportReader::new(input)?;
    into_fresh_dir(target, |partial| {
        let summary = {
            let db = open_db(partial)?;
            import_into_db(&mut reader, &db, partial, aux_trees, progress)?
        };
        finish(partial, reader.header())?;
        Ok(summary)
    })
}

/// Copies the events recorded at or before `as_of` (a prefix of the log), the named auxiliary
/// trees and the checkpoints within that prefix from `source` into a new directory `target`,
/// verifying the chain on the way; `finish` runs on the complete directory before the rename.
pub fn recover_as_of(
    source: &Path,
    as_of: Timestamp,
    target: &Path,
    aux_trees: &[&str],
    finish: impl FnOnce(&Path) -> Result<(), BackupError>,
    progress: &mut dyn FnMut(u64),
) -> Result<RestoreSummary, BackupError> {
    let source_db = open_existing(source)?;
    let source_trees = Trees::open(&source_db, source)?;
    into_fresh_dir(target, |partial| {
        let summary = {
            let db = open_db(partial)?;
            let mut importer = BulkImporter::new(db.clone(), partial)?
                .with_cutoff(as_of)
                .with_aux_trees(aux_trees);
            for entry in source_trees.raw_events() {
                let (position, bytes) = entry?;
                if !importer.push(position, &bytes)? {
                    break;
                }
                if position % PROGRESS_EVERY == 0 {
                    progress(position);
                }
            }
            let mut aux_entries = 0;
            for name in aux_trees {
                for entry in source_db.open_tree(name)?.iter() {
                    let (key, value) = entry?;
                    importer.put_aux(name, &key, &value)?;
                    aux_entries += 1;
                }
            }
            let summary = importer.finish()?;
            let within: Vec<Checkpoint> = CheckpointStore::open(&source_db)?
                .all()?
                .into_iter()
                .filter(|c| c.position <= summary.head.position)
                .collect();
            let checkpoints = store_checkpoints(&db, partial, summary.head.position, within)?;
            db.flush()?;
            RestoreSummary {
                events: summary.events,
                head: summary.head,
                aux_entries,
                checkpoints,
                header: None,
            }
        };
        finish(partial)?;
        Ok(summary)
    })
}
