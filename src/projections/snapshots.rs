//! Read-model snapshots with their checkpoint, one record per projection in a sled tree.
//!
//! A record is `format u8 ‖ snapshot version u16 ‖ position u64 ‖ model bytes`, written in one
//! insert so the checkpoint and the model can never disagree.

use super::runner::Projection;
use super::ProjectionError;

/// Format of a snapshot record.
const RECORD_FORMAT: u8 = 1;
/// Bytes before the model in a record.
const HEADER: usize = 1 + 2 + 8;

/// Where projections keep their snapshots.
#[derive(Clone)]
pub struct SnapshotStore {
    tree: sled::Tree,
}

impl SnapshotStore {
    /// Snapshots in the `projection_snapshots` tree of a database.
    pub fn open(db: &sled::Db) -> Result<SnapshotStore, ProjectionError> {
        Ok(SnapshotStore {
            tree: db.open_tree("projection_snapshots")?,
        })
    }

    /// Saves a snapshot taken at `position` and flushes it.
    pub fn save<P: Projection>(&self, model: &P, position: u64) -> Result<(), ProjectionError> {
        let body = model.encode_snapshot()?;
        let mut record = Vec::with_capacity(HEADER + body.len());
        record.push(RECORD_FORMAT);
        record.extend_from_slice(&P::SNAPSHOT_VERSION.to_be_bytes());
        record.extend_from_slice(&position.to_be_bytes());
        record.extend_from_slice(&body);
        self.tree.insert(P::NAME, record)?;
        self.tree.flush()?;
        Ok(())
    }

    /// The latest snapshot and its position, if there is one this build can read.
    pub fn load<P: Projection>(&self) -> Result<Option<(P, u64)>, ProjectionError> {
        let Some(record) = self.tree.get(P::NAME)? else {
            return Ok(None);
        };
        if record.len() < HEADER || record[0] != RECORD_FORMAT {
            tracing::warn!(
                projection = P::NAME,
                "unreadable snapshot record; rebuilding"
            );
            return Ok(None);
        }
        let version = u16::from_be_bytes([record[1], record[2]]);
        if version != P::SNAPSHOT_VERSION {
            tracing::info!(
                projection = P::NAME,
                version,
                "snapshot of another version; rebuilding"
            );
            return Ok(None);
        }
        let mut position = [0u8; 8];
        position.copy_from_slice(&record[3..HEADER]);
        match P::decode_snapshot(&record[HEADER..]) {
            Ok(model) => Ok(Some((model, u64::from_be_bytes(position)))),
            Err(e) => {
                tracing::warn!(projection = P::NAME, error = %e, "snapshot does not decode; rebuilding");
                Ok(None)
            }
        }
    }
}
