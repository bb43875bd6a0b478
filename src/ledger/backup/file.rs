//! The export file format: magic and version, a JSON header, framed records, a JSON trailer.
//!
//! ```text
//! "CLDGEXP\0"  u16 BE format version
//! 'H' u32 BE length  header JSON
//! 'E' u32 BE length  position u64 BE ‖ stored envelope bytes     (one per event, in order)
//! 'A' u32 BE length  u16 BE name length ‖ name ‖ u32 BE key length ‖ key ‖ value
//! 'C' u32 BE length  stored checkpoint bytes
//! 'Z' u32 BE length  trailer JSON (counts, head, SHA-256 of every byte before the 'Z')
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};

use ring::digest;
use serde::{Deserialize, Serialize};

use super::{BackupError, Damage, RecordProblem, Truncation, Unencodable};

/// First bytes of every export file.
pub const MAGIC: &[u8; 8] = b"CLDGEXP\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest record accepted (an envelope is at most 64 MiB encoded).
const MAX_RECORD: u32 = 65 * 1024 * 1024;

const TAG_HEADER: u8 = b'H';
const TAG_EVENT: u8 = b'E';
const TAG_AUX: u8 = b'A';
const TAG_CHECKPOINT: u8 = b'C';
const TAG_TRAILER: u8 = b'Z';

/// What an export file says about itself up front.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportHeader {
    /// The file's format version.
    pub format_version: u16,
    /// When the export started (RFC 3339).
    pub created_at: String,
    /// The source log's head position when the export started.
    pub source_head_position: u64,
    /// The source log's head hash (hex) when the export started.
    pub source_head_hash: String,
    /// Caller-supplied facts, e.g. the master key fingerprint.
    pub metadata: BTreeMap<String, String>,
}

/// What an export file says about itself at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportTrailer {
    /// Events in the file.
    pub events: u64,
    /// Auxiliary tree entries in the file.
    pub aux_entries: u64,
    /// Checkpoints in the file.
    pub checkpoints: u64,
    /// The last event's position.
    pub head_position: u64,
    /// The last event's hash (hex).
    pub head_hash: String,
    /// SHA-256 (hex) of every byte of the file before the trailer record.
    pub body_sha256: String,
}

/// How many records of each kind an export file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Event records.
    pub events: u64,
    /// Auxiliary tree entries.
    pub aux_entries: u64,
    /// Checkpoints.
    pub checkpoints: u64,
}

/// One record of an export file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A stored envelope and its position.
    Event {
        /// The position it is stored under.
        position: u64,
        /// The stored bytes (format byte + codec).
        bytes: Vec<u8>,
    },
    /// An entry of an auxiliary tree.
    Aux {
        /// The tree.
        tree: String,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// A stored checkpoint.
    Checkpoint(Vec<u8>),
}

/// Streams an export file out, hashing as it goes.
pub struct ExportWriter<W: Write> {
    out: W,
    hash: digest::Context,
    events: u64,
    aux_entries: u64,
    checkpoints: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the magic, version and header.
    pub fn new(out: W, header: &ExportHeader) -> Result<ExportWriter<W>, BackupError> {
        let mut writer = ExportWriter {
            out,
            hash: digest::Context::new(&digest::SHA256),
            events: 0,
            aux_entries: 0,
            checkpoints: 0,
        };
        writer.raw(MAGIC)?;
        writer.raw(&FORMAT_VERSION.to_be_bytes())?;
        let json = serde_json::to_vec(header).map_err(Unencodable::HeaderJson)?;
        writer.frame(TAG_HEADER, &[&json])?;
        Ok(writer)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.hash.update(bytes);
        self.out.write_all(bytes).map_err(BackupError::Write)
    }

    fn frame(&mut self, tag: u8, parts: &[&[u8]]) -> Result<(), BackupError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RECORD)
            .ok_or(Unencodable::RecordTooLarge { len })?;
        self.raw(&[tag])?;
        self.raw(&len.to_be_bytes())?;
        for part in parts {
            self.raw(part)?;
        }
        Ok(())
    }

    /// Writes one stored envelope.
    pub fn event(&mut self, position: u64, bytes: &[u8]) -> Result<(), BackupError> {
        self.events += 1;
        self.frame(TAG_EVENT, &[&position.to_be_bytes(), bytes])
    }

    /// Writes one auxiliary tree entry.
    pub fn aux(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        let name_len = u16::try_from(tree.len())
            .map_err(|_| Unencodable::TreeNameTooLong { len: tree.len() })?;
        let key_len =
            u32::try_from(key.len()).map_err(|_| Unencodable::TreeKeyTooLong { len: key.len() })?;
        self.aux_entries += 1;
        self.frame(
            TAG_AUX,
            &[
                &name_len.to_be_bytes(),
                tree.as_bytes(),
                &key_len.to_be_bytes(),
                key,
                value,
            ],
        )
    }

    /// Writes one stored checkpoint.
    pub fn checkpoint(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.checkpoints += 1;
        self.frame(TAG_CHECKPOINT, &[bytes])
    }

    /// Writes the trailer and flushes; returns it and the output.
    pub fn finish(
        mut self,
        head_position: u64,
        head_hash: String,
    ) -> Result<(ExportTrailer, W), BackupError> {
        let body = self.hash.clone().finish();
        let trailer = ExportTrailer {
            events: self.events,
            aux_entries: self.aux_entries,
            checkpoints: self.checkpoints,
            head_position,
            head_hash,
            body_sha256: hex::encode(body.as_ref()),
        };
        let json = serde_json::to_vec(&trailer).map_err(Unencodable::TrailerJson)?;
        self.frame(TAG_TRAILER, &[&json])?;
        self.out.flush().map_err(BackupError::Write)?;
        Ok((trailer, self.out))
    }
}

/// Streams an export file in, checking its framing and, at the end, its digest.
pub struct ExportReader<R: Read> {
    input: R,
    hash: digest::Context,
    header: ExportHeader,
    trailer: Option<ExportTrailer>,
    offset: u64,
    counts: RecordCounts,
}

impl<R: Read> ExportReader<R> {
    /// Reads and checks the magic, version and header.
    pub fn new(input: R) -> Result<ExportReader<R>, BackupError> {
        let mut reader = ExportReader {
            input,
            hash: digest::Context::new(&digest::SHA256),
            header: ExportHeader {
                format_version: 0,
                created_at: String::new(),
                source_head_position: 0,
                source_head_hash: String::new(),
                metadata: BTreeMap::new(),
            },
            trailer: None,
            offset: 0,
            counts: RecordCounts::default(),
        };
        let mut magic = [0u8; 8];
        reader.exact(&mut magic, true)?;
        if &magic != MAGIC {
            return Err(Damage::WrongMagic.into());
        }
        let mut version = [0u8; 2];
        reader.exact(&mut version, true)?;
        let version = u16::from_be_bytes(version);
        if version != FORMAT_VERSION {
            return Err(Damage::UnsupportedVersion {
                found: version,
                known: FORMAT_VERSION,
            }
            .into());
        }
        let (tag, body) = reader.frame()?.ok_or(Truncation::BeforeHeader)?;
        if tag != TAG_HEADER {
            return Err(Damage::HeaderMissing { tag }.into());
        }
        reader.header = serde_json::from_slice(&body).map_err(Damage::HeaderJson)?;
        Ok(reader)
    }

    /// The header.
    pub fn header(&self) -> &ExportHeader {
        &self.header
    }

    /// How many bytes have been read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The trailer, once [`ExportReader::next_record`] has answered `None`.
    pub fn trailer(&self) -> Option<&ExportTrailer> {
        self.trailer.as_ref()
    }

    /// Reads exactly `buf.len()` bytes; `hashed` adds them to the body digest.
    fn exact(&mut self, buf: &mut [u8], hashed: bool) -> Result<(), BackupError> {
        self.input.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Truncation::InRecord {
                    offset: self.offset,
                }
                .into()
            } else {
                BackupError::Read(e)
            }
        })?;
        self.offset += buf.len() as u64;
        if hashed {
            self.hash.update(buf);
        }
        Ok(())
    }

    /// Reads one frame; `None` at a clean end of input. The trailer frame is not hashed.
    fn frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, BackupError> {
        let mut tag = [0u8; 1];
        match self.input.read(&mut tag) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(BackupError::Read(e)),
        }
        let at = self.offset;
        self.offset += 1;
        let hashed = tag[0] != TAG_TRAILER;
        if hashed {
            self.hash.update(&tag);
        }
        let mut len = [0u8; 4];
        self.exact(&mut len, hashed)?;
        let len = u32::from_be_bytes(len);
        if len > MAX_RECORD {
            return Err(Damage::RecordTooLong { offset: at, len }.into());
        }
        let mut body = vec![0u8; len as usize];
        self.exact(&mut body, hashed)?;
        Ok(Some((tag[0], body)))
    }

    /// The next record, or `None` after a trailer that matches the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, BackupError> {
        if self.trailer.is_some() {
            return Ok(None);
        }
        let at = self.offset;
        let Some((tag, body)) = self.frame()? else {
            return Err(Truncation::NoTrailer { offset: at }.into());
        };
        let bad = |problem| Damage::Record {
            offset: at,
            problem,
        };
        let record = match tag {
            TAG_EVENT => event_record(&body).map_err(bad)?,
            TAG_AUX => aux_record(&body).map_err(bad)?,
            TAG_CHECKPOINT => Record::Checkpoint(body),
            TAG_TRAILER => {
                let trailer = serde_json::from_slice(&body)
                    .map_err(|e| bad(RecordProblem::TrailerJson(e)))?;
                self.accept_trailer(trailer)?;
                return Ok(None);
            }
            other => return Err(bad(RecordProblem::UnknownType(other)).into()),
        };
        match record {
            Record::Event { .. } => self.counts.events += 1,
            Record::Aux { .. } => self.counts.aux_entries += 1,
            Record::Checkpoint(_) => self.counts.checkpoints += 1,
        }
        Ok(Some(record))
    }

    /// Checks the trailer against the file: the digest and counts of what came before, and
    /// nothing after.
    fn accept_trailer(&mut self, trailer: ExportTrailer) -> Result<(), BackupError> {
        let digest = hex::encode(self.hash.clone().finish().as_ref());
        if digest != trailer.body_sha256 {
            return Err(Damage::DigestMismatch {
                recorded: trailer.body_sha256,
                computed: digest,
            }
            .into());
        }
        let recorded = RecordCounts {
            events: trailer.events,
            aux_entries: trailer.aux_entries,
            checkpoints: trailer.checkpoints,
        };
        if recorded != self.counts {
            return Err(Damage::CountsMismatch {
                recorded,
                found: self.counts,
            }
            .into());
        }
        let mut extra = [0u8; 1];
        match self.input.read(&mut extra) {
            Ok(0) => {}
            Ok(_) => return Err(Damage::BytesAfterTrailer.into()),
            Err(e) => return Err(BackupError::Read(e)),
        }
        self.trailer = Some(trailer);
        Ok(())
    }
}

/// An event record's body: position u64 BE, then the stored envelope.
fn event_record(body: &[u8]) -> Result<Record, RecordProblem> {
    let too_short = || RecordProblem::EventTooShort { len: body.len() };
    if body.len() < 9 {
        return Err(too_short());
    }
    let (pos, bytes) = body.split_at(8);
    let position = u64::from_be_bytes(pos.try_into().map_err(|_| too_short())?);
    Ok(Record::Event {
        position,
        bytes: bytes.to_vec(),
    })
}

/// An aux record's body: u16 BE name length, name, u32 BE key length, key, value.
fn aux_record(body: &[u8]) -> Result<Record, RecordProblem> {
    let name_len = body
        .get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .ok_or(RecordProblem::AuxTooShort)?;
    let name = body
        .get(2..2 + name_len)
        .and_then(|n| std::str::from_utf8(n).ok())
        .ok_or(RecordProblem::AuxTreeName)?
        .to_owned();
    let rest = &body[2 + name_len..];
    let key_len = rest
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(RecordProblem::AuxTooShort)?;
    let key = rest
        .get(4..4 + key_len)
        .ok_or(RecordProblem::AuxKeyLength)?
        .to_vec();
    let value = rest[4 + key_len..].to_vec();
    Ok(Record::Aux {
        tree: name,
        key,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ExportHeader {
        ExportHeader {
            format_version: FORMAT_VERSION,
            created_at: "2024-01-01T00:00:00Z".into(),
            source_head_position: 1,
            source_head_hash: String::new(),
            metadata: BTreeMap::new(),
        }
    }

    fn export() -> Vec<u8> {
        let mut writer = ExportWriter::new(Vec::new(), &header()).expect("header");
        writer.event(1, b"envelope").expect("event");
        writer.aux("tree", b"key", b"value").expect("aux");
        writer.finish(1, String::new()).expect("trailer").1
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>, BackupError> {
        let mut reader = ExportReader::new(bytes)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    #[test]
    fn records_round_trip() {
        let records = read_all(&export()).expect("read");
        assert_eq!(
            records,
            vec![
                Record::Event {
                    position: 1,
                    bytes: b"envelope".to_vec()
                },
                Record::Aux {
                    tree: "tree".into(),
                    key: b"key".to_vec(),
                    value: b"value".to_vec()
                },
            ]
        );
    }

    #[test]
    fn damage_names_what_and_where() {
        let bytes = export();
        assert!(matches!(
            read_all(b"hello, world"),
            Err(BackupError::Damaged(Damage::WrongMagic))
        ));
        let cut = read_all(&bytes[..bytes.len() - 3]);
        assert!(
            matches!(cut, Err(BackupError::Truncated(Truncation::InRecord { offset })) if offset > 10),
            "{cut:?}"
        );
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(matches!(
            read_all(&extra),
            Err(BackupError::Damaged(Damage::BytesAfterTrailer))
        ));
        // The event record's first envelope byte, past magic, version and the header frame.
        let mut altered = bytes.clone();
        let header_len = u32::from_be_bytes(bytes[11..15].try_into().expect("len")) as usize;
        altered[15 + header_len + 5 + 8] ^= 1;
        let err = read_all(&altered).expect_err("altered");
        assert!(
            matches!(err, BackupError::Damaged(Damage::DigestMismatch { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains("the file was altered"), "{err}");
    }
}
