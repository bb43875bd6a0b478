//! What can go wrong talking to PostgreSQL, with the driver's error as the source.
//!
//! The messages show the server's error message and SQLSTATE, never its DETAIL: a DETAIL can
//! quote a failing row, and a row of `events` holds an envelope (payload included).

use std::fmt;

/// Why the PostgreSQL backend failed.
#[derive(Debug, thiserror::Error)]
pub enum PostgresProblem {
    /// The connection string could not be parsed.
    #[error("the PostgreSQL connection string is not valid: {}", Summary(.0))]
    BadConnectionString(#[source] tokio_postgres::Error),
    /// No connection could be made (refused, unreachable, authentication failed…).
    #[error("cannot connect to PostgreSQL at {target}: {} (is the server running and accepting connections there?)", Summary(.source))]
    Unreachable {
        /// Host(s) and port(s) tried, without user or password.
        target: String,
        /// Why.
        source: tokio_postgres::Error,
    },
    /// The database named in the connection string does not exist on the server.
    #[error("database {database:?} does not exist on the PostgreSQL server: create it first (createdb {database})")]
    DatabaseMissing {
        /// The database named.
        database: String,
        /// The server's answer.
        source: tokio_postgres::Error,
    },
    /// The database's schema was written by a newer credledger.
    #[error("the database's ledger schema is at version {found}, but this build knows versions up to {known}: use a newer credledger")]
    SchemaNewer {
        /// The newest version recorded in `schema_migrations`.
        found: i32,
        /// The newest version this build has.
        known: i32,
    },
    /// The ledger's tables are not there (the schema was dropped after it was recorded).
    #[error(
        "the database records ledger schema version {version} but its table {table} is missing"
    )]
    SchemaMissing {
        /// The recorded version.
        version: i32,
        /// The missing table.
        table: &'static str,
    },
    /// A migration failed to apply; nothing of it was kept.
    #[error("applying ledger schema migration {version} failed: {}", Summary(.source))]
    Migration {
        /// The migration's version.
        version: i32,
        /// Why.
        source: tokio_postgres::Error,
    },
    /// A query failed.
    #[error("query failed: {}", Summary(.0))]
    Query(#[source] tokio_postgres::Error),
    /// The append transaction's COMMIT failed, so whether it landed is unknown; a retry with
    /// the same event ids (or idempotency key) gets the original outcome if it did.
    #[error("the commit's outcome is unknown (retry with the same event ids): {}", Summary(.0))]
    CommitOutcomeUnknown(#[source] tokio_postgres::Error),
    /// The batch this append was committed with failed (each of its appends gets this).
    #[error("the append's batch failed: {0}")]
    Batch(#[source] std::sync::Arc<crate::ledger::error::StoreError>),
    /// No connection could be had from the pool.
    #[error("no PostgreSQL connection available: {0}")]
    Pool(#[source] deadpool_postgres::PoolError),
    /// The connection pool could not be built.
    #[error("cannot build the PostgreSQL connection pool: {0}")]
    PoolBuild(#[source] deadpool_postgres::BuildError),
    /// A stored number is outside what the ledger uses (negative, or past `i64`).
    #[error("column {column} holds {value}, outside the ledger's range")]
    OutOfRange {
        /// The column.
        column: &'static str,
        /// The value found or to be written.
        value: i128,
    },
    /// A stored value is not in the shape this code writes.
    #[error("column {column} holds a malformed value")]
    Malformed {
        /// The column.
        column: &'static str,
    },
}

impl From<tokio_postgres::Error> for PostgresProblem {
    fn from(e: tokio_postgres::Error) -> Self {
        PostgresProblem::Query(e)
    }
}

impl From<deadpool_postgres::PoolError> for PostgresProblem {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PostgresProblem::Pool(e)
    }
}

/// A driver error for a message: the server's severity, message and SQLSTATE (no DETAIL), or
/// the driver's own description with its cause (e.g. the I/O error of a refused connection).
struct Summary<'a>(&'a tokio_postgres::Error);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            return write!(
                f,
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
        }
        write!(f, "{}", self.0)?;
        if let Some(cause) = std::error::Error::source(self.0) {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}
