//! Export from and import into the PostgreSQL backend, in the same file format as sled's and
//! with the same checks, so a ledger moves sled → PostgreSQL → sled with identical event
//! records and the same head hash.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::{
    check_trailer, explain_with_file_damage, export_checkpoints, export_events, export_header,
    finish_export, BackupError, ExportReader, ExportSummary, ExportWriter, Record, RestoreSummary,
    PROGRESS_EVERY,
};
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::import_checks::{check_checkpoint, ImportChecks};
use crate::ledger::planner::NewEvent;
use crate::ledger::postgres::PostgresStore;
use crate::ledger::sled_store::{ImportError, Occupied};
use crate::ledger::store::EventStore;
use crate::ledger::types::{EventId, Position};

/// One auxiliary table's entries: key and value.
type AuxEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// Events written per import transaction.
const IMPORT_BATCH: usize = 4096;
/// Auxiliary entries written per statement.
const AUX_BATCH: usize = 1024;

/// Streams a PostgreSQL log, the named auxiliary tables and the checkpoints into an export file.
pub async fn export_postgres<W: Write>(
    store: &PostgresStore,
    aux_trees: &[&str],
    metadata: BTreeMap<String, String>,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<ExportSummary, BackupError> {
    let head = store.head();
    let mut writer = ExportWriter::new(out, &export_header(head, metadata))?;
    let last_hash = export_events(store, head, &mut writer, progress).await?;
    let mut aux_entries = 0;
    for name in aux_trees {
        for (key, value) in store.aux_entries(name).await? {
            writer.aux(name, &key, &value)?;
            aux_entries += 1;
        }
    }
    let records = store.checkpoint_records().await?.into_iter().map(Ok);
    let checkpoints = export_checkpoints(&mut writer, records, head.position)?;
    finish_export(writer, head.position, last_hash, aux_entries, checkpoints)
}

/// Imports an export file into a PostgreSQL database whose log, auxiliary tables and
/// checkpoints are empty, checking the chain, time order, event ids, the tables carried and
/// each checkpoint's signature and head as sled's import does. Events are written in batches
/// of [`IMPORT_BATCH`], each one transaction; an import that stops leaves a log that is a valid
/// prefix, to be dropped (a fresh database) before trying again.
pub async fn import_into_postgres<R: Read>(
    reader: &mut ExportReader<R>,
    store: &PostgresStore,
    aux_trees: &[&str],
    progress: &mut dyn FnMut(u64),
) -> Result<RestoreSummary, BackupError> {
    if let Some(table) = store.occupied_table().await? {
        return Err(ImportError::NotEmpty(Occupied::tree(table)).into());
    }
    let mut import = PostgresImport {
        store,
        checks: ImportChecks::new(aux_trees),
        batch: Vec::with_capacity(IMPORT_BATCH),
        types: Vec::with_capacity(IMPORT_BATCH),
        aux: BTreeMap::new(),
        checkpoints: Vec::new(),
        aux_entries: 0,
    };
    let streamed = import.stream(reader, progress).await;
    if let Err(cause) = streamed {
        return Err(explain_with_file_damage(reader, cause));
    }
    import.write_batch().await?;
    import.write_aux().await?;
    let head = import.checks.head();
    check_trailer(reader, head)?;
    let checkpoints = import.store_checkpoints().await?;
    Ok(RestoreSummary {
        events: head.position,
        head,
        aux_entries: import.aux_entries,
        checkpoints,
        header: Some(reader.header().clone()),
    })
}

struct PostgresImport<'a> {
    store: &'a PostgresStore,
    checks: ImportChecks,
    batch: Vec<NewEvent>,
    /// The type of each event of `batch`.
    types: Vec<String>,
    /// Auxiliary entries waiting to be written, per table: at most [`AUX_BATCH`] each.
    aux: BTreeMap<String, AuxEntries>,
    /// Each checkpoint with its bytes, stored verbatim once the log is in.
    checkpoints: Vec<(Checkpoint, Vec<u8>)>,
    aux_entries: u64,
}

impl PostgresImport<'_> {
    async fn stream<R: Read>(
        &mut self,
        reader: &mut ExportReader<R>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), BackupError> {
        while let Some(record) = reader.next_record()? {
            match record {
                Record::Event { position, bytes } => {
                    let envelope = self.checks.check_chain(position, &bytes)?;
                    self.checks.admit(&envelope)?;
                    self.types.push(envelope.body.event_type.clone());
                    self.batch.push(NewEvent::recorded(&bytes, envelope.body));
                    if self.batch.len() >= IMPORT_BATCH {
                        self.write_batch().await?;
                    }
                    if position % PROGRESS_EVERY == 0 {
                        progress(position);
                    }
                }
                Record::Aux { tree, key, value } => {
                    self.checks.check_aux(&tree)?;
                    self.aux_entries += 1;
                    let entries = self.aux.entry(tree).or_default();
                    entries.push((key, value));
                    if entries.len() >= AUX_BATCH {
                        self.write_aux().await?;
                    }
                }
                Record::Checkpoint(bytes) => {
                    self.checkpoints.push((Checkpoint::decode(&bytes)?, bytes));
                }
            }
        }
        Ok(())
    }

    /// Refuses an event id used twice (within the batch or by an earlier batch), then writes
    /// the batch with the head moved to its last event.
    async fn write_batch(&mut self) -> Result<(), BackupError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let ids: Vec<EventId> = self.batch.iter().map(|e| e.event_id).collect();
        let mut first_at = self.store.positions_of(&ids).await?;
        for event in &self.batch {
            if let Some(first) = first_at.get(&event.event_id) {
                return Err(ImportError::DuplicateEventId {
                    event_id: event.event_id,
                    position: Position(event.position),
                    first: *first,
                }
                .into());
            }
            first_at.insert(event.event_id, event.position);
        }
        self.store
            .import_recorded(&self.batch, &self.types, self.checks.last_recorded_at())
            .await?;
        self.batch.clear();
        self.types.clear();
        Ok(())
    }

    /// Writes the auxiliary entries waiting (their tables must be new in the target).
    async fn write_aux(&mut self) -> Result<(), BackupError> {
        for (tree, entries) in &mut self.aux {
            if !entries.is_empty() {
                self.store.insert_aux(tree, entries).await?;
                entries.clear();
            }
        }
        Ok(())
    }

    /// Checks each checkpoint (signed, naming the imported log's hash there), then stores it.
    async fn store_checkpoints(&mut self) -> Result<u64, BackupError> {
        let head = self.checks.head().position;
        let mut count = 0;
        for (checkpoint, bytes) in std::mem::take(&mut self.checkpoints) {
            let stored = if checkpoint.position <= head {
                self.store
                    .read_all(Position(checkpoint.position), 1)
                    .await?
                    .first()
                    .map(|e| e.hash)
            } else {
                None
            };
            check_checkpoint(&checkpoint, stored)?;
            self.store
                .record_checkpoint(checkpoint.position, &bytes)
                .await?;
            count += 1;
        }
        Ok(count)
    }
}
