//! The versioned schema of `migrations/`, applied at open.
//!
//! Migrations run in one transaction under a transaction-level advisory lock (so two stores
//! opening one database at once apply each migration once), and each applied version is
//! recorded in `schema_migrations`. A database whose recorded version is newer than this
//! build's newest is refused: an older binary must not write to a schema it does not know.

use tokio_postgres::Client;

use super::error::PostgresProblem;
use crate::ledger::error::StoreError;

/// One versioned SQL file.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in version order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ledger",
        sql: include_str!("../../../migrations/0001_ledger.sql"),
    },
    Migration {
        version: 2,
        name: "read_model",
        sql: include_str!("../../../migrations/0002_read_model.sql"),
    },
    Migration {
        version: 3,
        name: "aux_and_checkpoints",
        sql: include_str!("../../../migrations/0003_aux_and_checkpoints.sql"),
    },
];

/// The advisory lock key of schema changes ("credledg" in ASCII).
const MIGRATION_LOCK: i64 = 0x6372_6564_6c65_6467;

/// The newest schema version this build knows.
pub(crate) fn known_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database's schema to [`known_version`]; returns the versions applied.
pub(crate) async fn migrate(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    let tx = client.transaction().await.map_err(PostgresProblem::from)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(PostgresProblem::from)?;
    let recorded: bool = tx
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(PostgresProblem::from)?
        .get(0);
    let current: i32 = if recorded {
        tx.query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(PostgresProblem::from)?
        .get(0)
    } else {
        0
    };
    let known = known_version();
    if current > known {
        return Err(PostgresProblem::SchemaNewer {
            found: current,
            known,
        }
        .into());
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(|source| PostgresProblem::Migration {
                version: migration.version,
                source,
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(|source| PostgresProblem::Migration {
            version: migration.version,
            source,
        })?;
        applied.push(migration.version);
    }
    for table in [
        "ledger_head",
        "events",
        "unique_keys",
        "idempotency",
        "read_model_entries",
        "read_model_checkpoints",
        "aux_entries",
        "checkpoints",
    ] {
        let present: bool = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .map_err(PostgresProblem::from)?
            .get(0);
        if !present {
            return Err(PostgresProblem::SchemaMissing {
                version: current.max(known),
                table,
            }
            .into());
        }
    }
    tx.commit().await.map_err(PostgresProblem::from)?;
    Ok(applied)
}
