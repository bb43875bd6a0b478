//! Writing export files by hand, for tests of what an import refuses: well-formed files
//! (framing, counts and trailer digest correct), so only their contents can be refused.
//! Included by path (`#[path = "support/export.rs"] mod export_support;`).

#![allow(dead_code)]

use std::path::Path;

use credledger::ledger::backup::{ExportHeader, ExportWriter, FORMAT_VERSION};

/// What goes into a hand-written export file.
#[derive(Default)]
pub struct ExportContents<'a> {
    /// Position and stored bytes of each event, in file order.
    pub events: &'a [(u64, Vec<u8>)],
    /// Table, key and value of each auxiliary entry.
    pub aux: &'a [(&'a str, Vec<u8>, Vec<u8>)],
    /// Encoded checkpoint records.
    pub checkpoints: &'a [Vec<u8>],
    /// The head the header and trailer name.
    pub head_position: u64,
    /// Its hash, as hex.
    pub head_hash: &'a str,
    /// Header metadata (e.g. the master key fingerprint).
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Writes `contents` as an export file at `path`.
pub fn write_export(path: &Path, contents: ExportContents<'_>) {
    let header = ExportHeader {
        format_version: FORMAT_VERSION,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        source_head_position: contents.head_position,
        source_head_hash: contents.head_hash.to_owned(),
        metadata: contents.metadata,
    };
    let file = std::fs::File::create(path).expect("create export");
    let mut writer = ExportWriter::new(std::io::BufWriter::new(file), &header).expect("header");
    for (position, bytes) in contents.events {
        writer.event(*position, bytes).expect("event record");
    }
    for (tree, key, value) in contents.aux {
        writer.aux(tree, key, value).expect("aux record");
    }
    for record in contents.checkpoints {
        writer.checkpoint(record).expect("checkpoint record");
    }
    writer
        .finish(contents.head_position, contents.head_hash.to_owned())
        .expect("trailer");
}
