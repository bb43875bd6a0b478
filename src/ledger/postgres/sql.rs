//! Every query of the PostgreSQL backend (the schema itself is in `migrations/`).

/// The channel an append transaction notifies with the new head (`position hash-hex`).
pub(crate) const HEAD_CHANNEL: &str = "credledger_head";

/// Listens for new heads.
pub(crate) const LISTEN: &str = "LISTEN credledger_head";

/// The committed head, without locking it.
pub(crate) const HEAD: &str = "SELECT position, hash, last_recorded_at FROM ledger_head";

/// The committed head, locked until the transaction ends: serialises every append.
pub(crate) const LOCK_HEAD: &str =
    "SELECT position, hash, last_recorded_at FROM ledger_head FOR UPDATE";

/// Moves the head.
pub(crate) const UPDATE_HEAD: &str =
    "UPDATE ledger_head SET position = $1, hash = $2, last_recorded_at = $3";

/// Notifies listeners of the new head (delivered when the transaction commits).
pub(crate) const NOTIFY_HEAD: &str = "SELECT pg_notify($1, $2)";

/// Idempotency records of some keys.
pub(crate) const IDEMPOTENCY_OF: &str =
    "SELECT key, outcome FROM idempotency WHERE key = ANY($1::bytea[])";

/// One idempotency record.
pub(crate) const IDEMPOTENCY_ONE: &str = "SELECT outcome FROM idempotency WHERE key = $1";

/// Writes (or replaces an expired) idempotency record.
pub(crate) const UPSERT_IDEMPOTENCY: &str =
    "INSERT INTO idempotency (key, request_hash, outcome, expires_at) \
     SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::bytea[], $4::bigint[]) \
     ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
     outcome = EXCLUDED.outcome, expires_at = EXCLUDED.expires_at";

/// Removes records past their retention.
pub(crate) const SWEEP_IDEMPOTENCY: &str = "DELETE FROM idempotency WHERE expires_at < $1";

/// Where some event ids are stored.
pub(crate) const EVENTS_BY_ID: &str =
    "SELECT event_id, position, stream_id, stream_version, event_type \
     FROM events WHERE event_id = ANY($1::uuid[])";

/// The committed versions of some streams (each one index probe).
pub(crate) const STREAM_HEADS: &str = "SELECT s.stream_id, \
     (SELECT max(e.stream_version) FROM events e WHERE e.stream_id = s.stream_id) \
     FROM UNNEST($1::text[]) AS s(stream_id)";

/// The holders of some unique keys.
pub(crate) const UNIQUE_HOLDERS: &str =
    "SELECT key, stream_id FROM unique_keys WHERE key = ANY($1::bytea[])";

/// Writes new owners of unique keys.
pub(crate) const UPSERT_UNIQUE: &str = "INSERT INTO unique_keys (key, stream_id) \
     SELECT * FROM UNNEST($1::bytea[], $2::text[]) \
     ON CONFLICT (key) DO UPDATE SET stream_id = EXCLUDED.stream_id";

/// Frees unique keys.
pub(crate) const DELETE_UNIQUE: &str = "DELETE FROM unique_keys WHERE key = ANY($1::bytea[])";

/// The unique keys under a prefix (for the open-time repair).
pub(crate) const UNIQUE_UNDER_PREFIX: &str =
    "SELECT key, stream_id FROM unique_keys WHERE substring(key FROM 1 FOR length($1::bytea)) = $1";

/// Appends a batch's events.
pub(crate) const INSERT_EVENTS: &str = "INSERT INTO events \
     (position, stream_id, stream_version, event_id, event_type, recorded_at, envelope) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], \
     $6::bigint[], $7::bytea[])";

/// Envelopes in a position window, in order.
pub(crate) const RANGE: &str = "SELECT position, envelope FROM events \
     WHERE position BETWEEN $1 AND $2 ORDER BY position";

/// A stream's envelopes up to the head, optionally up to a version and a time.
pub(crate) const STREAM: &str = "SELECT position, envelope FROM events \
     WHERE stream_id = $1 AND position <= $2 \
     AND ($3::bigint IS NULL OR stream_version <= $3) \
     AND ($4::bigint IS NULL OR recorded_at <= $4) \
     ORDER BY stream_version";

/// Envelopes recorded in a time window, up to the head.
pub(crate) const TIME_RANGE: &str = "SELECT position, envelope FROM events \
     WHERE recorded_at >= $1 AND recorded_at <= $2 AND position <= $3 \
     ORDER BY position LIMIT $4";

/// A stream's version up to the head.
pub(crate) const STREAM_VERSION: &str =
    "SELECT max(stream_version) FROM events WHERE stream_id = $1 AND position <= $2";

/// The first position recorded at or after a time (times never decrease along the log).
pub(crate) const FIRST_AT_OR_AFTER: &str = "SELECT position FROM events \
     WHERE recorded_at >= $1 AND position <= $2 ORDER BY recorded_at, position LIMIT 1";
