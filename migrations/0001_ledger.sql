-- credledger's event log on PostgreSQL, schema version 1 (src/ledger/postgres/migrate.rs
-- applies it in one transaction and records it in schema_migrations).

CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The head of the log, one row. Every append transaction locks it (SELECT ... FOR UPDATE), so
-- appends are serialised across connections and processes and positions stay gapless.
CREATE TABLE ledger_head (
    id               BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position         BIGINT NOT NULL CHECK (position >= 0),
    hash             BYTEA NOT NULL CHECK (length(hash) = 32),
    -- microseconds since the unix epoch; the store clock never goes back along the log
    last_recorded_at BIGINT NOT NULL
);
INSERT INTO ledger_head (position, hash, last_recorded_at)
VALUES (0, decode(repeat('00', 32), 'hex'), -9223372036854775808);

-- One row per event. `envelope` holds exactly the bytes the sled backend stores for it
-- (format byte + bincode of the envelope, hash included); the other columns are indexes.
CREATE TABLE events (
    position       BIGINT PRIMARY KEY CHECK (position >= 1),
    stream_id      TEXT NOT NULL,
    stream_version BIGINT NOT NULL CHECK (stream_version >= 1),
    event_id       UUID NOT NULL UNIQUE,
    event_type     TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    envelope       BYTEA NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_recorded_at ON events (recorded_at, position);

-- Unique keys (append conditions across streams): the stream holding each.
CREATE TABLE unique_keys (
    key       BYTEA PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 1024),
    stream_id TEXT NOT NULL
);

-- Idempotency records, written in the append transaction of the events they answer for.
-- `outcome` is the ledger's codec encoding of the record (positions, version, answer, time).
CREATE TABLE idempotency (
    key          BYTEA PRIMARY KEY CHECK (length(key) = 32),
    request_hash BYTEA NOT NULL CHECK (length(request_hash) = 32),
    outcome      BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX idempotency_expires_at ON idempotency (expires_at);
