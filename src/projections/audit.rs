//! The audit index: every event of the log is an audit record; this keeps, per filter
//! dimension, the sorted positions of the records that match, so a query touches only the
//! records it returns (the records themselves are read from the log).
//!
//! Positions are gapless and store times never decrease, so a time range is a position range
//! found by binary search, and every list here is sorted by construction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::ids::{AuthenticationId, WorkspaceId};
use crate::ledger::RecordedAt;

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
    pub from: Option<RecordedAt>,
    /// Recorded strictly before this time.
    pub to: Option<RecordedAt>,
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
    /// Store time.
    pub recorded_at: RecordedAt,
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

/// Sorted positions per filter dimension, and the store time of every position (the log's
/// positions are gapless from 1, so position `p` is `times[p - 1]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIndex {
    times: Vec<i64>,
    by_actor: BTreeMap<String, Vec<u64>>,
    by_type: BTreeMap<String, Vec<u64>>,
    by_authentication: BTreeMap<AuthenticationId, Vec<u64>>,
    by_workspace: BTreeMap<WorkspaceId, Vec<u64>>,
    refused: Vec<u64>,
}

fn push(list: &mut Vec<u64>, position: u64) {
    if list.last() != Some(&position) {
        list.push(position);
    }
}

fn slice_of(list: Option<&Vec<u64>>) -> &[u64] {
    list.map_or(&[], Vec::as_slice)
}

impl AuditIndex {
    /// Adds one record; records must come in position order.
    pub fn note(&mut self, record: Indexed<'_>) {
        let p = record.position;
        if p <= self.times.len() as u64 {
            return; // Already indexed (snapshot overlap).
        }
        // Store times never decrease; clamp anyway so binary search stays valid. The log has
        // no gaps; should one appear, its positions get the time of the record after it.
        let last = self.times.last().copied().unwrap_or(i64::MIN);
        let at = last.max(record.recorded_at.0);
        self.times.resize(p as usize, at);
        push(self.by_actor.entry(record.actor.to_owned()).or_default(), p);
        push(
            self.by_type
                .entry(record.event_type.to_owned())
                .or_default(),
            p,
        );
        if let Some(id) = record.authentication {
            push(self.by_authentication.entry(id).or_default(), p);
        }
        for workspace in record.workspaces {
            push(self.by_workspace.entry(*workspace).or_default(), p);
        }
        if record.outcome == Outcome::Refused {
            self.refused.push(p);
        }
    }

    /// How many records are indexed.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether nothing is indexed yet.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The positions of up to `limit` matching records strictly beyond `after` (in the
    /// direction of `order`), and whether more follow.
    pub fn select(
        &self,
        filter: &AuditFilter,
        order: AuditOrder,
        after: Option<u64>,
        limit: usize,
    ) -> (Vec<u64>, bool) {
        // The position window: the time range, then the cursor.
        let first = filter
            .from
            .map_or(0, |from| self.times.partition_point(|&t| t < from.0));
        let end = filter.to.map_or(self.times.len(), |to| {
            self.times.partition_point(|&t| t < to.0)
        });
        if first >= end {
            return (Vec::new(), false);
        }
        // Index i holds position i + 1.
        let (mut low, mut high) = (first as u64 + 1, end as u64);
        match (order, after) {
            (AuditOrder::OldestFirst, Some(cursor)) => low = low.max(cursor.saturating_add(1)),
            (AuditOrder::NewestFirst, Some(cursor)) => high = high.min(cursor.saturating_sub(1)),
            (_, None) => {}
        }
        if low > high {
            return (Vec::new(), false);
        }

        // A scope of workspaces is the merged window of their lists.
        let scope: Vec<u64>;
        let mut lists: Vec<&[u64]> = Vec::new();
        if let Some(actor) = &filter.actor {
            lists.push(slice_of(self.by_actor.get(actor)));
        }
        if let Some(kind) = &filter.event_type {
            lists.push(slice_of(self.by_type.get(kind)));
        }
        if let Some(id) = &filter.authentication {
            lists.push(slice_of(self.by_authentication.get(id)));
        }
        if let Some(workspace) = &filter.workspace {
            lists.push(slice_of(self.by_workspace.get(workspace)));
        }
        if filter.outcome == Some(Outcome::Refused) {
            lists.push(&self.refused);
        }
        let exclude_refused = filter.outcome == Some(Outcome::Succeeded);

        if let Some(within) = &filter.within {
            let mut merged: Vec<u64> = within
                .iter()
                .flat_map(|w| {
                    let list = slice_of(self.by_workspace.get(w));
                    let start = list.partition_point(|&p| p < low);
                    let stop = list.partition_point(|&p| p <= high);
                    list[start..stop].iter().copied()
                })
                .collect();
            merged.sort_unstable();
            merged.dedup();
            scope = merged;
            lists.push(&scope);
        }
        // Walk the shortest list (or every position of the window when nothing narrows it);
        // check the others by binary search.
        lists.sort_by_key(|l| l.len());
        let (driver, others) = match lists.split_first() {
            Some((driver, others)) => (Some(*driver), others),
            None => (None, &[][..]),
        };
        let matches = |p: u64| {
            others.iter().all(|l| l.binary_search(&p).is_ok())
                && !(exclude_refused && self.refused.binary_search(&p).is_ok())
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        let mut walk = |candidates: &mut dyn Iterator<Item = u64>| {
            for p in candidates.filter(|&p| matches(p)) {
                if out.len() == limit {
                    more = true;
                    return;
                }
                out.push(p);
            }
        };
        match (driver, order) {
            (Some(list), order) => {
                let start = list.partition_point(|&p| p < low);
                let stop = list.partition_point(|&p| p <= high);
                let window = list[start..stop].iter().copied();
                match order {
                    AuditOrder::OldestFirst => walk(&mut { window }),
                    AuditOrder::NewestFirst => walk(&mut window.rev()),
                }
            }
            (None, AuditOrder::OldestFirst) => walk(&mut (low..=high)),
            (None, AuditOrder::NewestFirst) => walk(&mut (low..=high).rev()),
        }
        (out, more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn index_of(n: u64) -> (AuditIndex, AuthenticationId, WorkspaceId) {
        let auth = AuthenticationId::from_uuid(Uuid::now_v7());
        let workspace = WorkspaceId::from_uuid(Uuid::now_v7());
        let mut index = AuditIndex::default();
        for p in 1..=n {
            let ws = [workspace];
            index.note(Indexed {
                position: p,
                recorded_at: RecordedAt(p as i64 * 1_000),
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
        }
        (index, auth, workspace)
    }

    fn brute(n: u64, keep: impl Fn(u64) -> bool) -> Vec<u64> {
        (1..=n).filter(|&p| keep(p)).collect()
    }

    #[test]
    fn filters_match_a_brute_force_scan() {
        let (index, auth, workspace) = index_of(500);
        let all = |filter: AuditFilter| {
            let (mut out, mut after) = (Vec::new(), None);
            loop {
                let (page, more) = index.select(&filter, AuditOrder::OldestFirst, after, 7);
                after = page.last().copied();
                out.extend(page);
                if !more {
                    return out;
                }
            }
        };
        let by_actor = AuditFilter {
            actor: Some("user:a".into()),
            ..AuditFilter::default()
        };
        assert_eq!(all(by_actor), brute(500, |p| p % 2 == 0));
        let combined = AuditFilter {
            actor: Some("user:b".into()),
            authentication: Some(auth),
            outcome: Some(Outcome::Succeeded),
            from: Some(RecordedAt(100_000)),
            to: Some(RecordedAt(400_000)),
            ..AuditFilter::default()
        };
        assert_eq!(
            all(combined),
            brute(500, |p| p % 2 == 1
                && p % 5 == 0
                && p % 3 != 0
                && (100..400).contains(&p))
        );
        let in_workspace = AuditFilter {
            workspace: Some(workspace),
            event_type: Some("access.refused".into()),
            ..AuditFilter::default()
        };
        assert_eq!(all(in_workspace), brute(500, |p| p % 21 == 0));
        let unknown = AuditFilter {
            actor: Some("user:nobody".into()),
            ..AuditFilter::default()
        };
        assert!(all(unknown).is_empty());
        let scoped = AuditFilter {
            actor: Some("user:a".into()),
            within: Some(vec![workspace]),
            ..AuditFilter::default()
        };
        assert_eq!(all(scoped), brute(500, |p| p % 14 == 0));
        let out_of_scope = AuditFilter {
            within: Some(vec![WorkspaceId::from_uuid(Uuid::now_v7())]),
            ..AuditFilter::default()
        };
        assert!(all(out_of_scope).is_empty());
    }

    #[test]
    fn newest_first_pages_walk_backwards_without_overlap() {
        let (index, _, _) = index_of(50);
        let filter = AuditFilter::default();
        let (first, more) = index.select(&filter, AuditOrder::NewestFirst, None, 20);
        assert!(more);
        assert_eq!(first, (31..=50).rev().collect::<Vec<_>>());
        let (second, _) = index.select(&filter, AuditOrder::NewestFirst, Some(31), 20);
        assert_eq!(second, (11..=30).rev().collect::<Vec<_>>());
        let (last, more) = index.select(&filter, AuditOrder::NewestFirst, Some(11), 20);
        assert_eq!(last, (1..=10).rev().collect::<Vec<_>>());
        assert!(!more);
    }

    #[test]
    fn empty_time_range_selects_nothing() {
        let (index, _, _) = index_of(10);
        let filter = AuditFilter {
            from: Some(RecordedAt(20_000)),
            ..AuditFilter::default()
        };
        assert_eq!(
            index.select(&filter, AuditOrder::OldestFirst, None, 10),
            (Vec::new(), false)
        );
    }
}
