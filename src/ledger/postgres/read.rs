//! Reads of stored envelopes, each capped at the head this store has seen committed.

use tokio_postgres::{GenericClient, Row};

use super::error::PostgresProblem;
use super::sql;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{Inconsistency, StoreError};
use crate::ledger::store::StreamRange;
use crate::ledger::types::{Position, StreamId, StreamVersion};
use crate::time::Timestamp;

/// A ledger number (position, version) as a BIGINT.
pub(crate) fn to_sql(value: u64, column: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        PostgresProblem::OutOfRange {
            column,
            value: i128::from(value),
        }
        .into()
    })
}

/// A BIGINT as a ledger number (never negative).
pub(crate) fn from_sql(value: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| {
        PostgresProblem::OutOfRange {
            column,
            value: i128::from(value),
        }
        .into()
    })
}

/// Decodes `(position, envelope)` rows, checking each envelope claims its row's position.
fn decode_rows(rows: &[Row]) -> Result<Vec<Envelope>, StoreError> {
    rows.iter()
        .map(|row| {
            let position = from_sql(row.try_get(0).map_err(PostgresProblem::from)?, "position")?;
            let bytes: &[u8] = row.try_get(1).map_err(PostgresProblem::from)?;
            let envelope = Envelope::decode(bytes).map_err(|source| StoreError::Corrupt {
                position: Position(position),
                source,
            })?;
            if envelope.body.position.0 != position {
                return Err(Inconsistency::WrongPosition {
                    position,
                    claimed: envelope.body.position.0,
                }
                .into());
            }
            Ok(envelope)
        })
        .collect()
}

/// `[from, to]` (inclusive) in position order, failing on a gap.
pub(crate) async fn range(
    client: &impl GenericClient,
    from: u64,
    to: u64,
) -> Result<Vec<Envelope>, StoreError> {
    if from > to {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            sql::RANGE,
            &[&to_sql(from, "position")?, &to_sql(to, "position")?],
        )
        .await
        .map_err(PostgresProblem::from)?;
    let envelopes = decode_rows(&rows)?;
    for (expected, envelope) in (from..).zip(&envelopes) {
        if envelope.body.position.0 != expected {
            return Err(Inconsistency::PositionMissing { position: expected }.into());
        }
    }
    let read = envelopes.len() as u64;
    if read != to - from + 1 {
        return Err(Inconsistency::PositionMissing {
            position: from + read,
        }
        .into());
    }
    Ok(envelopes)
}

/// One stream in version order, up to `head` and the range's cuts.
pub(crate) async fn stream(
    client: &impl GenericClient,
    head: u64,
    stream: &StreamId,
    range: StreamRange,
) -> Result<Vec<Envelope>, StoreError> {
    let up_to_version = range
        .up_to_version
        .map(|v| to_sql(v.0, "stream_version"))
        .transpose()?;
    let up_to_time = range.up_to_time.map(|t| t.0);
    let rows = client
        .query(
            sql::STREAM,
            &[
                &stream.as_str(),
                &to_sql(head, "position")?,
                &up_to_version,
                &up_to_time,
            ],
        )
        .await
        .map_err(PostgresProblem::from)?;
    decode_rows(&rows)
}

/// Up to `limit` envelopes recorded in `[from, to]`, up to `head`.
pub(crate) async fn time_range(
    client: &impl GenericClient,
    head: u64,
    from: Timestamp,
    to: Timestamp,
    limit: usize,
) -> Result<Vec<Envelope>, StoreError> {
    if from > to || limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            sql::TIME_RANGE,
            &[&from.0, &to.0, &to_sql(head, "position")?, &limit],
        )
        .await
        .map_err(PostgresProblem::from)?;
    decode_rows(&rows)
}

/// A stream's version up to `head`.
pub(crate) async fn stream_version(
    client: &impl GenericClient,
    head: u64,
    stream: &StreamId,
) -> Result<StreamVersion, StoreError> {
    let row = client
        .query_one(
            sql::STREAM_VERSION,
            &[&stream.as_str(), &to_sql(head, "position")?],
        )
        .await
        .map_err(PostgresProblem::from)?;
    let version: Option<i64> = row.try_get(0).map_err(PostgresProblem::from)?;
    Ok(StreamVersion(match version {
        Some(v) => from_sql(v, "stream_version")?,
        None => 0,
    }))
}

/// The first position recorded at or after `time`, up to `head` (`head + 1` when none is).
pub(crate) async fn first_position_at_or_after(
    client: &impl GenericClient,
    head: u64,
    time: Timestamp,
) -> Result<Position, StoreError> {
    let row = client
        .query_opt(
            sql::FIRST_AT_OR_AFTER,
            &[&time.0, &to_sql(head, "position")?],
        )
        .await
        .map_err(PostgresProblem::from)?;
    match row {
        Some(row) => Ok(Position(from_sql(
            row.try_get(0).map_err(PostgresProblem::from)?,
            "position",
        )?)),
        None => Ok(Position(head + 1)),
    }
}
