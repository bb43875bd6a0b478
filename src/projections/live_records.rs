//! The current record of every authentication, held in memory in its encoded form.
//!
//! A decoded record is mostly small maps (a `BTreeMap` leaf reserves room for eleven entries),
//! about 2 KB for a one-secret authentication; encoded it is a few hundred bytes. Records are
//! decoded on access, which costs about what the clone every reader used to make did. The bytes
//! are exactly the read store's value for the record, so writing a batch re-encodes nothing.

use std::collections::BTreeMap;

use super::model::AuthRecord;
use super::{decode, encode, ProjectionError};
use crate::domain::ids::AuthenticationId;

/// Encoded authentication records by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveRecords {
    records: BTreeMap<AuthenticationId, Box<[u8]>>,
}

impl LiveRecords {
    /// One record. Every stored encoding was produced by [`LiveRecords::insert`] or checked by
    /// [`LiveRecords::insert_encoded`], so decoding cannot fail short of memory corruption;
    /// should it, the record reads as missing and the failure is logged.
    pub fn get(&self, id: AuthenticationId) -> Option<AuthRecord> {
        let bytes = self.records.get(&id)?;
        match decode::<AuthRecord>(bytes) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::error!(authentication = %id, error = %e, "a live record does not decode");
                None
            }
        }
    }

    /// Whether there is a record for `id`.
    pub fn contains(&self, id: AuthenticationId) -> bool {
        self.records.contains_key(&id)
    }

    /// Stores a record.
    pub fn insert(
        &mut self,
        id: AuthenticationId,
        record: &AuthRecord,
    ) -> Result<(), ProjectionError> {
        let bytes = encode(record)?;
        self.records.insert(id, bytes.into_boxed_slice());
        Ok(())
    }

    /// Stores an encoded record read back from the read store, after checking it decodes.
    pub fn insert_encoded(
        &mut self,
        id: AuthenticationId,
        bytes: Vec<u8>,
    ) -> Result<AuthRecord, ProjectionError> {
        let record = decode::<AuthRecord>(&bytes)?;
        self.records.insert(id, bytes.into_boxed_slice());
        Ok(record)
    }

    /// The encoded record, as the read store keeps it.
    pub fn encoded(&self, id: AuthenticationId) -> Option<&[u8]> {
        self.records.get(&id).map(|b| &b[..])
    }

    /// Every record in id order, decoded one at a time.
    pub fn iter(&self) -> impl Iterator<Item = (AuthenticationId, AuthRecord)> + '_ {
        self.records
            .keys()
            .filter_map(|id| self.get(*id).map(|record| (*id, record)))
    }

    /// Every id, in order.
    pub fn ids(&self) -> impl Iterator<Item = AuthenticationId> + '_ {
        self.records.keys().copied()
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
