-- credledger on PostgreSQL, schema version 3: what a data directory keeps beside the log.
--
-- `aux_entries` holds the named auxiliary tables a backup carries with the log (today the
-- wrapped data keys, `data_keys`): opaque keys and values, the ledger does not read them.
-- `checkpoints` holds the signed checkpoint records of the head (they vouch for the chain and
-- are not part of it), keyed by the position they sign.

CREATE TABLE aux_entries (
    tree  TEXT NOT NULL CHECK (length(tree) BETWEEN 1 AND 64),
    key   BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (tree, key)
);

CREATE TABLE checkpoints (
    position BIGINT PRIMARY KEY CHECK (position >= 1),
    record   BYTEA NOT NULL
);
