-- credledger's read side on PostgreSQL, schema version 2 (src/projections/postgres_read_store.rs).
--
-- Each node keeps its own read model, named by the node (`model`): the log is shared and is
-- the truth, a read model is derived from it and checked against it at start, so nodes never
-- write each other's derived state. A node that is gone leaves its rows behind until its
-- model is cleared (`DELETE ... WHERE model = '<name>'`, see docs/operations.md).

-- Every table of a read model in one table: `tbl` is the table's one-byte tag, keys sort
-- bytewise (bytea compares as memcmp), as on sled.
CREATE TABLE read_model_entries (
    model TEXT NOT NULL,
    tbl   SMALLINT NOT NULL,
    key   BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (model, tbl, key)
);

-- How far each read model has folded the log: written in the same transaction as the
-- entries of the batch it covers.
CREATE TABLE read_model_checkpoints (
    model    TEXT PRIMARY KEY,
    layout   INTEGER NOT NULL CHECK (layout >= 0 AND layout <= 65535),
    position BIGINT NOT NULL CHECK (position >= 0),
    hash     BYTEA NOT NULL CHECK (length(hash) = 32)
);
