//! Why a backup, import or recovery failed, with what was expected and what was found.

use std::path::PathBuf;

use super::file::RecordCounts;
use crate::ledger::checkpoint::CheckpointError;
use crate::ledger::envelope::ChainHash;
use crate::ledger::error::StoreError;
use crate::ledger::sled_store::ImportError;

/// Why a backup, import or recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Writing the export failed.
    #[error("cannot write the export: {0}")]
    Write(std::io::Error),
    /// Reading the export failed.
    #[error("cannot read the export: {0}")]
    Read(std::io::Error),
    /// The export file ends early.
    #[error("truncated export file: {0}")]
    Truncated(Truncation),
    /// The export file is damaged or not an export.
    #[error("corrupt export file: {0}")]
    Damaged(Damage),
    /// A check of the caller's refused the contents (`app::backup` opens every imported data
    /// key with the master key); the ledger does not know the check's error type, so it is
    /// carried as the source.
    #[error("corrupt export file: {0}")]
    Refused(Box<dyn std::error::Error + Send + Sync>),
    /// The contents were refused, and reading on showed that the file itself is damaged: the
    /// damage is what to report, with the refusal it caused first.
    #[error("{damage} (first symptom: {first_symptom})")]
    DamagedAfter {
        /// The damage (a [`BackupError::Truncated`] or [`BackupError::Damaged`]).
        #[source]
        damage: Box<BackupError>,
        /// The refusal met first.
        first_symptom: Box<BackupError>,
    },
    /// Something could not be encoded.
    #[error("cannot encode the export: {0}")]
    Format(Unencodable),
    /// The imported events were refused.
    #[error("import refused: {0}")]
    Import(#[from] ImportError),
    /// A checkpoint to copy signs another hash than the new log has at its position.
    #[error("the checkpoint at position {position} does not match the imported log")]
    CheckpointMismatch {
        /// The checkpoint's position.
        position: u64,
    },
    /// The target is unusable (exists and is not empty, ...).
    #[error("target {0}")]
    Target(TargetProblem),
    /// The source is unusable (missing, ...).
    #[error("source {0}")]
    Source(SourceProblem),
    /// The data directory is opened by another process.
    #[error("the data directory {0} is in use by another process (is the server running? stop it first: only one process may open a data directory)")]
    Locked(PathBuf),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A checkpoint is unusable.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    /// Whether this is damage of the export file itself (cut short, altered, not an export).
    pub fn is_file_damage(&self) -> bool {
        matches!(self, BackupError::Truncated(_) | BackupError::Damaged(_))
    }
}

impl From<sled::Error> for BackupError {
    fn from(e: sled::Error) -> Self {
        BackupError::Store(StoreError::Storage(e))
    }
}

impl From<Truncation> for BackupError {
    fn from(cut: Truncation) -> Self {
        BackupError::Truncated(cut)
    }
}

impl From<Damage> for BackupError {
    fn from(damage: Damage) -> Self {
        BackupError::Damaged(damage)
    }
}

impl From<Unencodable> for BackupError {
    fn from(why: Unencodable) -> Self {
        BackupError::Format(why)
    }
}

/// Where an export file ends early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Truncation {
    /// Before its header record.
    #[error("the file ends before its header")]
    BeforeHeader,
    /// Inside a record.
    #[error("the file ends at byte {offset} in the middle of a record, before its trailer")]
    InRecord {
        /// Bytes read before the end.
        offset: u64,
    },
    /// After a whole record, but before the trailer.
    #[error("the file ends at byte {offset} without its trailer")]
    NoTrailer {
        /// Bytes read before the end.
        offset: u64,
    },
}

/// What is wrong with an export file (or with what it says about itself).
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// The file does not start with the export magic.
    #[error("not a credledger export file (wrong magic bytes)")]
    WrongMagic,
    /// The file's format version is not this build's.
    #[error("export format version {found} is not supported (this build reads {known})")]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The version this build reads.
        known: u16,
    },
    /// The first record is not the header.
    #[error("the header record is missing (the first record has type {tag:#04x})")]
    HeaderMissing {
        /// The first record's type byte.
        tag: u8,
    },
    /// The header record is not the header's JSON.
    #[error("the header is not valid JSON: {0}")]
    HeaderJson(#[source] serde_json::Error),
    /// A record's length is past the largest record.
    #[error("record at byte {offset} claims {len} bytes, more than any record can hold")]
    RecordTooLong {
        /// Where the record starts.
        offset: u64,
        /// The length it claims.
        len: u32,
    },
    /// A record's body does not have the shape of its type.
    #[error("record at byte {offset}: {problem}")]
    Record {
        /// Where the record starts.
        offset: u64,
        /// What is wrong with it.
        problem: RecordProblem,
    },
    /// The SHA-256 of the bytes before the trailer is not the one the trailer records.
    #[error("the file's SHA-256 does not match its trailer: the file was altered")]
    DigestMismatch {
        /// The digest (hex) the trailer records.
        recorded: String,
        /// The digest (hex) of the bytes read.
        computed: String,
    },
    /// The trailer's counts of records are not the file's.
    #[error(
        "the trailer counts {} events, {} tree entries, {} checkpoints but the file holds {}, {}, {}",
        recorded.events, recorded.aux_entries, recorded.checkpoints,
        found.events, found.aux_entries, found.checkpoints
    )]
    CountsMismatch {
        /// What the trailer counts.
        recorded: RecordCounts,
        /// What the file holds.
        found: RecordCounts,
    },
    /// Bytes follow the trailer.
    #[error("bytes follow the trailer: the file was altered")]
    BytesAfterTrailer,
    /// The trailer names another head than the imported events end with.
    #[error(
        "the trailer names head {trailer_hash} at position {trailer_position}, but the imported events end with {imported_hash} at position {imported_position}"
    )]
    TrailerHead {
        /// The head position the trailer names.
        trailer_position: u64,
        /// The head hash (hex) the trailer names.
        trailer_hash: String,
        /// The last imported position.
        imported_position: u64,
        /// The last imported event's hash.
        imported_hash: ChainHash,
    },
}

/// What is wrong with one record of an export file.
#[derive(Debug, thiserror::Error)]
pub enum RecordProblem {
    /// An event record is too short to hold a position and an envelope.
    #[error("event record too short ({len} bytes)")]
    EventTooShort {
        /// Its length.
        len: usize,
    },
    /// An aux record is too short to hold its lengths.
    #[error("aux record too short")]
    AuxTooShort,
    /// An aux record's tree name overruns it or is not UTF-8.
    #[error("aux tree name")]
    AuxTreeName,
    /// An aux record's key overruns it.
    #[error("aux key length")]
    AuxKeyLength,
    /// The trailer record is not the trailer's JSON.
    #[error("the trailer is not valid JSON: {0}")]
    TrailerJson(#[source] serde_json::Error),
    /// A record type this build does not know.
    #[error("unknown record type {0:#04x}")]
    UnknownType(u8),
}

/// What could not be written into an export file.
#[derive(Debug, thiserror::Error)]
pub enum Unencodable {
    /// The header as JSON.
    #[error("the header: {0}")]
    HeaderJson(#[source] serde_json::Error),
    /// The trailer as JSON.
    #[error("the trailer: {0}")]
    TrailerJson(#[source] serde_json::Error),
    /// A record past the largest record.
    #[error("record of {len} bytes is too large")]
    RecordTooLarge {
        /// Its length.
        len: usize,
    },
    /// An aux tree name longer than its 16-bit length.
    #[error("tree name too long ({len} bytes)")]
    TreeNameTooLong {
        /// Its length.
        len: usize,
    },
    /// An aux key longer than its 32-bit length.
    #[error("tree key too long ({len} bytes)")]
    TreeKeyTooLong {
        /// Its length.
        len: usize,
    },
}

/// Why the target directory of an import or recovery is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    /// It holds something.
    #[error(
        "{} is not empty: import and recover only write into a new or empty directory",
        path.display()
    )]
    NotEmpty {
        /// The target.
        path: PathBuf,
    },
    /// Its path ends without a directory name (e.g. `..`).
    #[error("{} has no directory name", path.display())]
    NoName {
        /// The target.
        path: PathBuf,
    },
    /// The directory it would be written in first already exists.
    #[error("{} exists (left by an interrupted run?); remove it first", partial.display())]
    PartialExists {
        /// The `<target>.partial` directory.
        partial: PathBuf,
    },
}

/// Why the source data directory is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceProblem {
    /// No directory is there.
    #[error("no data directory at {}", path.display())]
    NoDirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The directory holds no sled database.
    #[error("{} holds no database", path.display())]
    NoDatabase {
        /// The directory.
        path: PathBuf,
    },
}
