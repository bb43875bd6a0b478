//! The name of every storage tree in a data directory, in one place.
//!
//! A data directory is one sled database (plus the log's archive file, see
//! `ledger::sled_store::archive`), and each part of the program keeps its data in trees of
//! its own. The names are frozen: a tree renamed here is a tree whose data the next version
//! no longer finds. Each module uses these constants; none spells a tree's name itself.

/// The event log's trees (docs/ledger.md gives each one's keys and values).
pub mod log {
    /// Block number -> the envelopes of up to 16 consecutive positions, for full blocks until
    /// they move to the archive file.
    pub const EVENT_BLOCKS: &str = "event_blocks";
    /// Group of 256 archived blocks -> where each is in the archive file; `state` -> how much
    /// is archived.
    pub const ARCHIVE_INDEX: &str = "archive_index";
    /// The last event block while it is not full (at most one key).
    pub const OPEN_EVENT_BLOCK: &str = "open_event_block";
    /// Stream prefix ‖ chunk number -> the positions of up to 128 (layout 2: 32) versions.
    pub const STREAM_CHUNKS: &str = "stream_chunks";
    /// Stream id -> last version.
    pub const STREAM_HEADS: &str = "stream_heads";
    /// First event id of a block -> up to 128 sorted `event id ‖ position` entries.
    pub const EVENT_ID_BLOCKS: &str = "event_id_blocks";
    /// recorded_at ‖ position of every few event blocks' first event -> nothing.
    pub const BLOCK_TIMES: &str = "block_times";
    /// Layout 1 (a key per event), read once by the migration to blocks and dropped.
    pub const LEGACY_EVENTS: &str = "events";
    /// Layout 1's indexes, dropped with [`LEGACY_EVENTS`].
    pub const LEGACY_INDEXES: [&str; 3] = ["stream_index", "event_ids", "time_index"];
    /// Unique key -> the stream holding it (claims made with appends).
    pub const UNIQUE_KEYS: &str = "unique_keys";
    /// Idempotency key -> record (request hash, outcome, answer, time), written with the events.
    pub const IDEMPOTENCY: &str = "idempotency_records";
    /// Named values about the log itself (format, layout, head).
    pub const META: &str = "meta";
    /// Not a tree: the file beside sled's that holds the archived full event blocks.
    pub const ARCHIVE_FILE: &str = "archived_event_blocks";
    /// Position -> signed checkpoint of the head (vouches for the chain; not part of it).
    pub const CHECKPOINTS: &str = "checkpoints";
}

/// Authentication id -> its data key, wrapped under the master key (`crypto::keystore`).
pub const DATA_KEYS: &str = "data_keys";

/// Token id -> when the token was last used (microseconds, big-endian), written at most once
/// a minute per token (`app::token_use`): a cache beside the log, not part of it.
pub const TOKEN_LAST_USED: &str = "token_last_used";

/// Webhook subscription id -> where its deliveries stand (`app::webhooks`): beside the log,
/// not part of it.
pub const WEBHOOK_PROGRESS: &str = "webhook_progress";

/// Webhook subscription id ‖ attempt number -> one delivery attempt (the last thousand of each).
pub const WEBHOOK_ATTEMPTS: &str = "webhook_attempts";

/// The read side (`projections`): every table in one tree, and its checkpoint.
pub const READ_MODEL: &str = "read_model";

/// Trees that earlier versions wrote and this one drops when it finds them.
pub mod legacy {
    /// Whole-model snapshots of the read side, before it was kept on disk.
    pub const PROJECTION_SNAPSHOTS: &str = "projection_snapshots";
    /// Idempotent HTTP answers, before they were written with the events they answer for.
    pub const HTTP_IDEMPOTENCY: &str = "idempotency";
}
