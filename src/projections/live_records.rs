//! The current record of every authentication, held in memory in its encoded form.
//!
//! A decoded record is mostly small maps (a `BTreeMap` leaf reserves room for eleven entries),
//! about 2 KB for a one-secret authentication; encoded it is a few hundred bytes. Records are
//! decoded on access, which costs about what the clone every reader used to make did. The bytes
//! are exactly the read store's value for the record, so writing a batch re-encodes nothing.
//!
//! Purged authentications leave memory: nothing can change them any more, and a ledger that
//! creates and purges all day would otherwise hold every authentication it ever had. Their
//! records stay in the read store, where [`LiveRecords::get`] finds them through the shelf.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::listing_index::ListingIndex;
use super::model::AuthRecord;
use super::{decode, encode, ProjectionError};
use crate::domain::ids::AuthenticationId;

/// Reads the stored record of an authentication that is no longer held in memory.
pub type Shelf =
    Arc<dyn Fn(AuthenticationId) -> Result<Option<Vec<u8>>, ProjectionError> + Send + Sync>;

/// Encoded authentication records by id: the ones that can still change in memory, purged
/// ones on the shelf.
#[derive(Default)]
pub struct LiveRecords {
    records: BTreeMap<AuthenticationId, Box<[u8]>>,
    /// Records purged since the last [`LiveRecords::let_go`] (still in `records`).
    purging: Vec<AuthenticationId>,
    /// Records purged by the last batch: the commit writing them may still be running, so
    /// they are read from here until the next batch lets them go.
    leaving: BTreeMap<AuthenticationId, Box<[u8]>>,
    shelf: Option<Shelf>,
    /// The listable ones in listing order (purged ones leave it when they are purged).
    listing: ListingIndex,
}

/// A clone is a detached copy of what is in memory: it does not keep the read store open
/// (a snapshot held across a restart would otherwise hold sled's lock), so purged records read
/// as missing in it.
impl Clone for LiveRecords {
    fn clone(&self) -> LiveRecords {
        LiveRecords {
            records: self.records.clone(),
            purging: self.purging.clone(),
            leaving: BTreeMap::new(),
            shelf: None,
            listing: self.listing.clone(),
        }
    }
}

/// Two sets of records are the same when they hold the same records in memory; what has left
/// memory is the read store's, compared there.
impl PartialEq for LiveRecords {
    fn eq(&self, other: &LiveRecords) -> bool {
        self.records == other.records
    }
}

impl Eq for LiveRecords {}

impl std::fmt::Debug for LiveRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRecords")
            .field("in_memory", &self.records.len())
            .field("leaving", &self.leaving.len())
            .field("shelved", &self.shelf.is_some())
            .finish()
    }
}

impl LiveRecords {
    /// One record, from memory or, once purged, from the shelf. Every encoding in memory was
    /// produced by [`LiveRecords::insert`] or checked by [`LiveRecords::insert_encoded`], so
    /// decoding cannot fail short of corruption; should it, or should the shelf fail, the
    /// record reads as missing and the failure is logged.
    pub fn get(&self, id: AuthenticationId) -> Option<AuthRecord> {
        let shelved;
        let bytes = match self.records.get(&id).or_else(|| self.leaving.get(&id)) {
            Some(bytes) => &bytes[..],
            None => match (self.shelf.as_ref()?)(id) {
                Ok(Some(bytes)) => {
                    shelved = bytes;
                    &shelved[..]
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(authentication = %id, error = %e, "a shelved record cannot be read");
                    return None;
                }
            },
        };
        match decode::<AuthRecord>(bytes) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::error!(authentication = %id, error = %e, "a live record does not decode");
                None
            }
        }
    }

    /// Where records that left memory are read from.
    pub fn shelve_in(&mut self, shelf: Shelf) {
        self.shelf = Some(shelf);
    }

    /// Takes the records purged since the last call out of memory, and forgets the ones the
    /// last call set aside. Call it at the end of a batch, once its records are queued for
    /// writing: by the end of the next batch they are written and the shelf finds them.
    pub fn let_go(&mut self) {
        self.leaving.clear();
        for id in std::mem::take(&mut self.purging) {
            if let Some(bytes) = self.records.remove(&id) {
                self.leaving.insert(id, bytes);
            }
        }
    }

    /// Drops every purged record at once (an in-memory replay, which writes nothing and has
    /// no shelf, ends holding what the live model holds).
    pub fn drop_purged(&mut self) {
        for id in std::mem::take(&mut self.purging) {
            self.records.remove(&id);
        }
        self.leaving.clear();
    }

    /// Stores a record.
    pub fn insert(
        &mut self,
        id: AuthenticationId,
        record: &AuthRecord,
    ) -> Result<(), ProjectionError> {
        let bytes = encode(record)?;
        self.records.insert(id, bytes.into_boxed_slice());
        self.listing.put(id, record);
        if record.is_purged() {
            self.purging.push(id);
        }
        Ok(())
    }

    /// Takes an encoded record read back from the read store, after checking it decodes, and
    /// keeps it in memory unless it is purged (then the shelf serves it). Returns the record
    /// if kept.
    pub fn insert_encoded(
        &mut self,
        id: AuthenticationId,
        bytes: Vec<u8>,
    ) -> Result<Option<AuthRecord>, ProjectionError> {
        let record = decode::<AuthRecord>(&bytes)?;
        if record.is_purged() {
            self.listing.remove(id);
            return Ok(None);
        }
        self.records.insert(id, bytes.into_boxed_slice());
        self.listing.put(id, &record);
        Ok(Some(record))
    }

    /// The encoded record, as the read store keeps it.
    pub fn encoded(&self, id: AuthenticationId) -> Option<&[u8]> {
        self.records.get(&id).map(|b| &b[..])
    }

    /// Every record held in memory (every authentication not purged), in id order, decoded
    /// one at a time.
    pub fn iter(&self) -> impl Iterator<Item = (AuthenticationId, AuthRecord)> + '_ {
        self.records
            .keys()
            .filter_map(|id| self.get(*id).map(|record| (*id, record)))
    }

    /// The listable authentications in listing order.
    pub fn listing(&self) -> &ListingIndex {
        &self.listing
    }

    /// Every id held in memory, in order.
    pub fn ids(&self) -> impl Iterator<Item = AuthenticationId> + '_ {
        self.records.keys().copied()
    }

    /// How many records are held in memory.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
