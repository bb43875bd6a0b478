//! The audit index on disk: every event of the log is an audit record; per filter dimension
//! (actor, event type, authentication, workspace, refused) the index keeps sorted lists of
//! positions, so a query walks only lists it needs and reads only the records it returns from
//! the log. Time ranges become position ranges through the log's time index (store times
//! never decrease).
//!
//! A list is stored in blocks: each applied batch writes one key per list it touches,
//! `dimension ‖ value ‖ first position`, holding that batch's positions of the list as
//! varint deltas. Blocks of one list never overlap (batches follow the log), so one reverse
//! and at most one forward seek find the block holding any position. One key per list and
//! batch instead of one per posting is what keeps the write cost of an audited resolve low.
//!
//! Several filters are intersected by a leapfrog walk: each list seeks to the candidate
//! position of the others, so a page costs about (page size × filters) seeks whatever the size
//! of the log.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::store::{ChangeSet, KeyRange, ReadStore, ScanOrder, Table};
use super::tail_blocks::{self, BlockCodec, Shape};
use super::ProjectionError;
use crate::domain::ids::{AuthenticationId, WorkspaceId};
use crate::time::Timestamp;
/// Whether the recorded attempt went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The change or use happened.
    Succeeded,
    /// It was refused for lack of rights.
    Refused,
}

impl Outcome {
    /// `succeeded` or `refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Refused => "refused",
        }
    }
}

/// Which records an audit query wants. Every given filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Principal reference (`user:<id>`, `runner:<id>`, `system`, …).
    pub actor: Option<String>,
    /// Records about this authentication (its changes and its access records).
    pub authentication: Option<AuthenticationId>,
    /// Records touching this workspace.
    pub workspace: Option<WorkspaceId>,
    /// Exact event type (`authentication.renamed`, `access.resolved`, …).
    pub event_type: Option<String>,
    /// Succeeded or refused.
    pub outcome: Option<Outcome>,
    /// Recorded at or after this time.
    pub from: Option<Timestamp>,
    /// Recorded strictly before this time.
    pub to: Option<Timestamp>,
    /// Only records touching one of these workspaces (an administrator's organizations).
    pub within: Option<Vec<WorkspaceId>>,
}

/// The order of a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditOrder {
    /// Newest first (the default).
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
}

/// What the index learns of one record.
#[derive(Debug, Clone, Copy)]
pub struct Indexed<'a> {
    /// Log position.
    pub position: u64,
    /// Principal reference.
    pub actor: &'a str,
    /// Event type.
    pub event_type: &'a str,
    /// The authentication it is about, if any.
    pub authentication: Option<AuthenticationId>,
    /// The workspaces it touches (two for a move).
    pub workspaces: &'a [WorkspaceId],
    /// Succeeded or refused.
    pub outcome: Outcome,
}

/// Dimension tags, stable on disk.
mod dimension {
    pub const ACTOR: u8 = b'a';
    pub const TYPE: u8 = b't';
    pub const AUTHENTICATION: u8 = b'u';
    pub const WORKSPACE: u8 = b'w';
    pub const REFUSED: u8 = b'r';
}

/// The key prefix of one list: dimension ‖ length-prefixed value (so no value's list is a
/// prefix of another's).
fn list(dimension: u8, value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(3 + value.len() + 8);
    key.push(dimension);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(&value[..usize::from(len)]);
    key
}

fn at(list: &[u8], position: u64) -> Vec<u8> {
    let mut key = list.to_vec();
    key.extend_from_slice(&position.to_be_bytes());
    key
}

fn position_of(key: &[u8]) -> Result<u64, ProjectionError> {
    key.len()
        .checked_sub(8)
        .and_then(|start| key[start..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| ProjectionError::Malformed(super::Malformed::AuditIndexKey))
}

/// Positions per block of a list: the tail's small blocks are rewritten as records arrive
/// (about 100 bytes), the big ones (about 1 KiB) are written once; see [`tail_blocks`].
pub(super) const BLOCK_SHAPE: Shape = Shape {
    small: 64,
    big: 512,
};

/// The blocks of one list: keyed by the list and the block's first position, the rest of its
/// positions as varint deltas.
struct ListBlocks<'a>(&'a [u8]);

impl BlockCodec for ListBlocks<'_> {
    type Entry = u64;

    fn key(&self, first: &u64) -> Vec<u8> {
        at(self.0, *first)
    }

    fn encode(&self, block: &[u64]) -> Result<Vec<u8>, ProjectionError> {
        encode_block(block)
    }

    fn decode(&self, key: &[u8], value: &[u8]) -> Result<Vec<u64>, ProjectionError> {
        decode_block(position_of(key)?, value)
    }
}

/// The postings of the batch being applied, per list; appended to each list when the batch
/// ends, so that a list takes a key per 512 records (plus a few at its tail), not one per
/// batch. Bounded by the batch size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Postings(BTreeMap<Vec<u8>, Vec<u64>>);

impl Postings {
    fn post(&mut self, list: Vec<u8>, position: u64) {
        self.0.entry(list).or_default().push(position);
    }

    /// Notes one record in every list it belongs to.
    pub fn note(&mut self, record: Indexed<'_>) {
        let p = record.position;
        self.post(list(dimension::ACTOR, record.actor.as_bytes()), p);
        self.post(list(dimension::TYPE, record.event_type.as_bytes()), p);
        if let Some(id) = record.authentication {
            self.post(list(dimension::AUTHENTICATION, id.as_uuid().as_bytes()), p);
        }
        for workspace in record.workspaces {
            self.post(
                list(dimension::WORKSPACE, workspace.as_uuid().as_bytes()),
                p,
            );
        }
        if record.outcome == Outcome::Refused {
            self.post(list(dimension::REFUSED, &[]), p);
        }
    }

    /// Queues the writes that append the batch to every list, and empties the batch.
    pub fn write(
        &mut self,
        store: &impl ReadStore,
        changes: &mut ChangeSet,
    ) -> Result<(), ProjectionError> {
        for (list, added) in std::mem::take(&mut self.0) {
            let codec = ListBlocks(&list);
            tail_blocks::append(
                store,
                changes,
                Table::Audit,
                &list,
                &codec,
                BLOCK_SHAPE,
                added,
            )?;
        }
        Ok(())
    }
}

/// The positions after the first (which the key holds) as LEB128 deltas.
fn encode_block(positions: &[u64]) -> Result<Vec<u8>, ProjectionError> {
    let mut bytes = Vec::with_capacity(positions.len() * 2);
    for pair in positions.windows(2) {
        let delta = pair[1]
            .checked_sub(pair[0])
            .filter(|&d| d > 0)
            .ok_or_else(|| ProjectionError::Malformed(super::Malformed::AuditPostingsOutOfOrder))?;
        let mut rest = delta;
        loop {
            let byte = (rest & 0x7f) as u8;
            rest >>= 7;
            if rest == 0 {
                bytes.push(byte);
                break;
            }
            bytes.push(byte | 0x80);
        }
    }
    Ok(bytes)
}

/// The positions of a block whose key says it starts at `first`.
fn decode_block(first: u64, bytes: &[u8]) -> Result<Vec<u64>, ProjectionError> {
    let malformed = || ProjectionError::Malformed(super::Malformed::AuditIndexBlock);
    let mut positions = vec![first];
    let (mut delta, mut shift, mut last) = (0u64, 0u32, first);
    for &byte in bytes {
        if shift > 63 {
            return Err(malformed());
        }
        delta |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            last = last.checked_add(delta).ok_or_else(malformed)?;
            positions.push(last);
            (delta, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(malformed());
    }
    Ok(positions)
}

/// The postings one stored block holds, each as `list ‖ position`: the same whatever
/// batches the log was folded in (for comparing read sides built in different batches).
pub fn postings_of(key: &[u8], value: &[u8]) -> Result<Vec<Vec<u8>>, ProjectionError> {
    let list = &key[..key.len().saturating_sub(8)];
    Ok(decode_block(position_of(key)?, value)?
        .into_iter()
        .map(|p| at(list, p))
        .collect())
}

/// One block of a list, as read.
struct Block {
    positions: Vec<u64>,
}

impl Block {
    fn read(key: &[u8], value: &[u8]) -> Result<Block, ProjectionError> {
        Ok(Block {
            positions: decode_block(position_of(key)?, value)?,
        })
    }

    /// Whether `p` falls between this block's first and last position.
    fn spans(&self, p: u64) -> bool {
        matches!((self.positions.first(), self.positions.last()), (Some(&a), Some(&b)) if a <= p && p <= b)
    }

    /// The first position at or beyond `p` in the walk's direction, if the block holds one.
    fn seek(&self, p: u64, order: AuditOrder) -> Option<u64> {
        match order {
            AuditOrder::OldestFirst => {
                let i = self.positions.partition_point(|&q| q < p);
                self.positions.get(i).copied()
            }
            AuditOrder::NewestFirst => {
                let i = self.positions.partition_point(|&q| q <= p);
                i.checked_sub(1).map(|i| self.positions[i])
            }
        }
    }
}

/// One list: its key prefix and the block it read last (walks move steadily through it).
struct List {
    prefix: Vec<u8>,
    cached: Option<Block>,
}

impl List {
    fn new(prefix: Vec<u8>) -> List {
        List {
            prefix,
            cached: None,
        }
    }

    /// The first position of the list at or beyond `from` in the walk's direction.
    fn seek(
        &mut self,
        store: &impl ReadStore,
        from: u64,
        order: AuditOrder,
    ) -> Result<Option<u64>, ProjectionError> {
        if let Some(block) = self.cached.as_ref().filter(|b| b.spans(from)) {
            return Ok(block.seek(from, order));
        }
        // The block that starts at or before `from`: the only one that can span it.
        let before = KeyRange {
            prefix: self.prefix.clone(),
            from: None,
            to: Some(at(&self.prefix, from)),
        };
        let mut found = None;
        if let Some((key, value)) = store
            .scan(Table::Audit, &before, ScanOrder::Descending, 1)?
            .into_iter()
            .next()
        {
            let block = Block::read(&key, &value)?;
            found = block.seek(from, order);
            self.cached = Some(block);
        }
        if found.is_none() && order == AuditOrder::OldestFirst {
            // Past the end of that block: the next block's first position.
            let after = KeyRange {
                prefix: self.prefix.clone(),
                from: Some(at(&self.prefix, from)),
                to: None,
            };
            if let Some((key, value)) = store
                .scan(Table::Audit, &after, ScanOrder::Ascending, 1)?
                .into_iter()
                .next()
            {
                let block = Block::read(&key, &value)?;
                found = block.positions.first().copied();
                self.cached = Some(block);
            }
        }
        Ok(found)
    }

    /// Whether the list holds `p`.
    fn holds(&mut self, store: &impl ReadStore, p: u64) -> Result<bool, ProjectionError> {
        Ok(self.seek(store, p, AuditOrder::OldestFirst)? == Some(p))
    }
}

/// One sorted list of positions, or the union of several (an administrator's workspaces).
struct Lists(Vec<List>);

impl Lists {
    fn one(prefix: Vec<u8>) -> Lists {
        Lists(vec![List::new(prefix)])
    }

    /// The first position of the lists at or beyond `from` in the walk's direction.
    fn seek(
        &mut self,
        store: &impl ReadStore,
        from: u64,
        order: AuditOrder,
    ) -> Result<Option<u64>, ProjectionError> {
        let mut best: Option<u64> = None;
        for list in &mut self.0 {
            if let Some(p) = list.seek(store, from, order)? {
                best = Some(match (best, order) {
                    (None, _) => p,
                    (Some(b), AuditOrder::OldestFirst) => b.min(p),
                    (Some(b), AuditOrder::NewestFirst) => b.max(p),
                });
            }
        }
        Ok(best)
    }
}

/// The positions of up to `limit` records matching `filter` inside the position window
/// `[low, high]` (the time range, already resolved by the caller), strictly beyond `after`
/// in the direction of `order`, and whether more follow.
pub fn select(
    store: &impl ReadStore,
    filter: &AuditFilter,
    order: AuditOrder,
    window: (u64, u64),
    after: Option<u64>,
    limit: usize,
) -> Result<(Vec<u64>, bool), ProjectionError> {
    let (mut low, mut high) = (window.0.max(1), window.1);
    match (order, after) {
        (AuditOrder::OldestFirst, Some(cursor)) => low = low.max(cursor.saturating_add(1)),
        (AuditOrder::NewestFirst, Some(cursor)) => high = high.min(cursor.saturating_sub(1)),
        (_, None) => {}
    }
    if low > high || limit == 0 {
        return Ok((Vec::new(), false));
    }
    let mut lists = Vec::new();
    if let Some(id) = &filter.authentication {
        lists.push(Lists::one(list(
            dimension::AUTHENTICATION,
            id.as_uuid().as_bytes(),
        )));
    }
    if let Some(actor) = &filter.actor {
        lists.push(Lists::one(list(dimension::ACTOR, actor.as_bytes())));
    }
    if let Some(workspace) = &filter.workspace {
        lists.push(Lists::one(list(
            dimension::WORKSPACE,
            workspace.as_uuid().as_bytes(),
        )));
    }
    if let Some(kind) = &filter.event_type {
        lists.push(Lists::one(list(dimension::TYPE, kind.as_bytes())));
    }
    if filter.outcome == Some(Outcome::Refused) {
        lists.push(Lists::one(list(dimension::REFUSED, &[])));
    }
    if let Some(within) = &filter.within {
        let scope = within
            .iter()
            .map(|w| List::new(list(dimension::WORKSPACE, w.as_uuid().as_bytes())))
            .collect();
        lists.push(Lists(scope));
    }
    let mut refused = List::new(list(dimension::REFUSED, &[]));
    let exclude_refused = filter.outcome == Some(Outcome::Succeeded);

    let in_window = |p: u64| (low..=high).contains(&p);
    let step = |p: u64| match order {
        AuditOrder::OldestFirst => p.checked_add(1),
        AuditOrder::NewestFirst => p.checked_sub(1),
    };
    let mut out = Vec::with_capacity(limit.min(1024));
    let mut candidate = match order {
        AuditOrder::OldestFirst => Some(low),
        AuditOrder::NewestFirst => Some(high),
    };
    // Leapfrog: move the candidate to the next position every list holds.
    let needed = lists.len();
    'walk: while let Some(mut p) = candidate.filter(|&p| in_window(p)) {
        let mut agreed = 0;
        while agreed < needed {
            for lists_i in &mut lists {
                match lists_i.seek(store, p, order)? {
                    None => break 'walk,
                    Some(q) if q == p => agreed += 1,
                    Some(q) if !in_window(q) => break 'walk,
                    Some(q) => {
                        p = q;
                        agreed = 1;
                    }
                }
                if agreed == needed {
                    break;
                }
            }
        }
        let wanted = !(exclude_refused && refused.holds(store, p)?);
        if wanted {
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(p);
        }
        candidate = step(p);
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projections::SledReadStore;
    use uuid::Uuid;

    struct Fixture {
        store: SledReadStore,
        auth: AuthenticationId,
        workspace: WorkspaceId,
        _dir: tempfile::TempDir,
    }

    fn index_of(n: u64) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new().path(dir.path()).open().expect("db");
        let store = SledReadStore::open(&db).expect("read store");
        let auth = AuthenticationId::from_uuid(Uuid::now_v7());
        let workspace = WorkspaceId::from_uuid(Uuid::now_v7());
        // Batches of uneven sizes, so lists span many blocks and some batches miss a list.
        let mut postings = Postings::default();
        let mut changes = ChangeSet::default();
        for p in 1..=n {
            let ws = [workspace];
            postings.note(Indexed {
                position: p,
                actor: if p % 2 == 0 { "user:a" } else { "user:b" },
                event_type: if p % 3 == 0 {
                    "access.refused"
                } else {
                    "authentication.renamed"
                },
                authentication: (p % 5 == 0).then_some(auth),
                workspaces: if p % 7 == 0 { &ws } else { &[] },
                outcome: if p % 3 == 0 {
                    Outcome::Refused
                } else {
                    Outcome::Succeeded
                },
            });
            if p % 13 == 0 || p % 31 == 0 || p == n {
                postings.write(&store, &mut changes).expect("postings");
                let checkpoint = crate::projections::ReadCheckpoint {
                    layout: 1,
                    position: p,
                    hash: crate::ledger::ChainHash::GENESIS,
                };
                store
                    .commit(&std::mem::take(&mut changes), checkpoint)
                    .expect("commit");
            }
        }
        Fixture {
            store,
            auth,
            workspace,
            _dir: dir,
        }
    }

    fn brute(low: u64, high: u64, keep: impl Fn(u64) -> bool) -> Vec<u64> {
        (low..=high).filter(|&p| keep(p)).collect()
    }

    fn all(f: &Fixture, filter: &AuditFilter, order: AuditOrder, window: (u64, u64)) -> Vec<u64> {
        let (mut out, mut after) = (Vec::new(), None);
        loop {
            let (page, more) = select(&f.store, filter, order, window, after, 7).expect("select");
            after = page.last().copied();
            out.extend(page);
            if !more {
                return out;
            }
        }
    }

    #[test]
    fn filters_match_a_brute_force_scan() {
        let f = index_of(500);
        let everything = (1, 500);
        let by_actor = AuditFilter {
            actor: Some("user:a".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            all(&f, &by_actor, AuditOrder::OldestFirst, everything),
            brute(1, 500, |p| p % 2 == 0)
        );
        let combined = AuditFilter {
            actor: Some("user:b".into()),
            authentication: Some(f.auth),
            outcome: Some(Outcome::Succeeded),
            ..AuditFilter::default()
        };
        let expected = brute(100, 399, |p| p % 2 == 1 && p % 5 == 0 && p % 3 != 0);
        assert_eq!(
            all(&f, &combined, AuditOrder::OldestFirst, (100, 399)),
            expected
        );
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(
            all(&f, &combined, AuditOrder::NewestFirst, (100, 399)),
            reversed
        );
        let in_workspace = AuditFilter {
            workspace: Some(f.workspace),
            event_type: Some("access.refused".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            all(&f, &in_workspace, AuditOrder::OldestFirst, everything),
            brute(1, 500, |p| p % 21 == 0)
        );
        let refused = AuditFilter {
            outcome: Some(Outcome::Refused),
            authentication: Some(f.auth),
            ..AuditFilter::default()
        };
        assert_eq!(
            all(&f, &refused, AuditOrder::NewestFirst, everything),
            brute(1, 500, |p| p % 15 == 0)
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
        );
        let unknown = AuditFilter {
            actor: Some("user:nobody".into()),
            ..AuditFilter::default()
        };
        assert!(all(&f, &unknown, AuditOrder::OldestFirst, everything).is_empty());
        let scoped = AuditFilter {
            actor: Some("user:a".into()),
            within: Some(vec![f.workspace, WorkspaceId::from_uuid(Uuid::now_v7())]),
            ..AuditFilter::default()
        };
        assert_eq!(
            all(&f, &scoped, AuditOrder::OldestFirst, everything),
            brute(1, 500, |p| p % 14 == 0)
        );
        let out_of_scope = AuditFilter {
            within: Some(vec![WorkspaceId::from_uuid(Uuid::now_v7())]),
            ..AuditFilter::default()
        };
        assert!(all(&f, &out_of_scope, AuditOrder::OldestFirst, everything).is_empty());
    }

    #[test]
    fn newest_first_pages_walk_backwards_without_overlap() {
        let f = index_of(50);
        let filter = AuditFilter::default();
        let page = |after| {
            select(
                &f.store,
                &filter,
                AuditOrder::NewestFirst,
                (1, 50),
                after,
                20,
            )
        };
        let (first, more) = page(None).expect("select");
        assert!(more);
        assert_eq!(first, (31..=50).rev().collect::<Vec<_>>());
        let (second, _) = page(Some(31)).expect("select");
        assert_eq!(second, (11..=30).rev().collect::<Vec<_>>());
        let (last, more) = page(Some(11)).expect("select");
        assert_eq!(last, (1..=10).rev().collect::<Vec<_>>());
        assert!(!more);
    }

    #[test]
    fn blocks_round_trip_and_refuse_damage() {
        let positions = [5, 6, 200, 70_000, u64::from(u32::MAX) * 3];
        let bytes = encode_block(&positions).expect("encode");
        assert_eq!(decode_block(5, &bytes).expect("decode"), positions);
        assert!(decode_block(5, &bytes[..bytes.len() - 1]).is_err());
        assert!(decode_block(5, &[0xff; 11]).is_err());
        assert!(encode_block(&[3, 3]).is_err());
    }

    #[test]
    fn lists_fill_big_blocks_across_batches() {
        let f = index_of(3000);
        let blocks = f
            .store
            .scan(
                Table::Audit,
                &KeyRange::prefix(list(dimension::ACTOR, b"user:a")),
                ScanOrder::Ascending,
                usize::MAX,
            )
            .expect("scan");
        // 1500 positions in batches of about ten: two big blocks of 512, then 476 in small
        // blocks of 64 at the tail, not a block per batch.
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        for (key, value) in &blocks {
            let positions = decode_block(position_of(key).expect("key"), value).expect("block");
            sizes.push(positions.len());
            all.extend(positions);
        }
        let mut expected = vec![BLOCK_SHAPE.big; 2];
        expected.extend([BLOCK_SHAPE.small; 7]);
        expected.push(476 - 7 * BLOCK_SHAPE.small);
        assert_eq!(sizes, expected);
        assert_eq!(all, (1..=1500).map(|p| p * 2).collect::<Vec<_>>());
    }

    #[test]
    fn empty_window_selects_nothing() {
        let f = index_of(10);
        let filter = AuditFilter::default();
        assert_eq!(
            select(
                &f.store,
                &filter,
                AuditOrder::OldestFirst,
                (11, 10),
                None,
                10
            )
            .expect("select"),
            (Vec::new(), false)
        );
    }
}
