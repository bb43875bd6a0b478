//! A throwaway database per test on the server named by `CREDLEDGER_TEST_POSTGRES` (a libpq
//! URL such as `postgres://postgres@127.0.0.1:5432/postgres`, a role that may create
//! databases). `.ci/postgres.sh` starts a throwaway cluster and sets the variable. Without it
//! the tests print a skip line and pass, except under CI (`CI` set), where they fail.
//! Included by path (`#[path = "support/postgres.rs"] mod postgres_support;`).

#![allow(dead_code)]

use credledger::ledger::PostgresStore;
use tokio_postgres::{Config, NoTls};

pub const SERVER_ENV: &str = "CREDLEDGER_TEST_POSTGRES";

/// The test server's URL; `None` (after a skip line) when it is not configured outside CI.
pub fn server_url() -> Option<String> {
    match std::env::var(SERVER_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{SERVER_ENV} is not set but CI is: the PostgreSQL backend's tests must run in CI \
             (.ci/postgres.sh starts a throwaway cluster and sets {SERVER_ENV})"
        ),
        _ => {
            eprintln!(
                "skipped: {SERVER_ENV} is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres; \
                 `source .ci/postgres.sh` starts a throwaway server)"
            );
            None
        }
    }
}

/// A database of its own for one test, on the test server.
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> Option<TestDatabase> {
        let server = server_url()?;
        let name = format!("credledger_test_{}", uuid::Uuid::new_v4().simple());
        admin(&server, &format!("CREATE DATABASE {name}")).await;
        Some(TestDatabase { server, name })
    }

    pub fn config(&self) -> Config {
        let mut config: Config = self.server.parse().expect("test server URL");
        config.dbname(&self.name);
        config
    }

    pub async fn open(&self) -> PostgresStore {
        PostgresStore::open(self.config())
            .await
            .expect("open the test database")
    }

    /// A plain connection to the test database, for looking at its tables.
    pub async fn sql(&self) -> tokio_postgres::Client {
        let (client, connection) = self.config().connect(NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
    }

    pub async fn drop_database(self) {
        admin(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }
}

pub async fn admin(server: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(server, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {SERVER_ENV}: {e}"));
    tokio::spawn(connection);
    client
        .batch_execute(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}
