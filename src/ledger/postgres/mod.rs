//! The PostgreSQL backend of the event log: the same `EventStore` as sled, passing the same
//! conformance suite and building the same envelopes and hash chain from the same appends.
//!
//! - `migrate.rs` applies the versioned schema of `migrations/` at open;
//! - `append.rs` is the writer task: group commit of concurrent appends, one transaction per
//!   batch under a lock on the head row, planned by the ledger's shared planner;
//! - `read.rs` holds the reads, each capped at the cached head;
//! - `subscription.rs` catches up from a position and follows the head;
//! - `follow.rs` moves the cached head on LISTEN/NOTIFY and a 500 ms poll, for appends made
//!   through other stores on the same database.
//!
//! The store only ever sees encoded envelopes (payloads already sealed) and never logs them.

mod append;
mod backup;
mod error;
mod follow;
mod migrate;
mod read;
mod sql;
mod subscription;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

pub use error::PostgresProblem;
pub use subscription::PostgresSubscription;

use super::envelope::Envelope;
use super::error::{AppendProblem, StoreError, WriterStop};
use super::planner::StoreClock;
use super::store::{EventStore, Head, StreamRange};
use super::types::{AppendOutcome, AppendRequest, Position, StreamId, StreamVersion, UniqueKey};
use crate::time::Timestamp;
use append::PendingAppend;

/// Appends queued for the writer before callers wait for room.
const INBOX_CAPACITY: usize = 8192;

/// Connections in a store's pool (the writer holds one per batch; reads and subscriptions
/// share the rest).
pub const POOL_SIZE: usize = 16;

/// The event log on PostgreSQL: cheap to clone, every clone shares one writer and one pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    inbox: mpsc::Sender<PendingAppend>,
    head: Arc<watch::Sender<Head>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

/// Moves a cached head forward (never back: notifications and polls may arrive late).
pub(crate) fn advance(head: &watch::Sender<Head>, to: Head) {
    head.send_if_modified(|current| {
        if to.position > current.position {
            *current = to;
            true
        } else {
            false
        }
    });
}

/// Host(s) and port(s) of a configuration, for error messages (never user or password).
pub(crate) fn target(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{} port {}",
        if hosts.is_empty() {
            "localhost".to_owned()
        } else {
            hosts.join(",")
        },
        if ports.is_empty() {
            "5432".to_owned()
        } else {
            ports.join(",")
        }
    )
}

/// Adds a server setting (`name=value`) to every session of `config`, after any given ones.
pub(crate) fn with_session_option(config: &mut Config, setting: &str) {
    let options = match config.get_options() {
        Some(given) => format!("{given} -c {setting}"),
        None => format!("-c {setting}"),
    };
    config.options(&options);
}

/// How long opening a connection may take when the connection string does not say
/// (`connect_timeout=`): without one, an unreachable server hangs start-up and every
/// reconnect for the operating system's TCP timeout (minutes).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// [`DEFAULT_CONNECT_TIMEOUT`] unless the connection string set a timeout of its own.
pub(crate) fn with_default_connect_timeout(config: &mut Config) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
}

/// One connection outside the pool (for migrations and the first read of the head), with its
/// driver task; connection failures named as the operator needs them.
async fn connect_once(
    config: &Config,
) -> Result<(tokio_postgres::Client, JoinHandle<()>), PostgresProblem> {
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|source| match source.code() {
                Some(code) if *code == SqlState::INVALID_CATALOG_NAME => {
                    PostgresProblem::DatabaseMissing {
                        database: config
                            .get_dbname()
                            .or(config.get_user())
                            .unwrap_or_default()
                            .to_owned(),
                        source,
                    }
                }
                _ => PostgresProblem::Unreachable {
                    target: target(config),
                    source,
                },
            })?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, driver))
}

/// Brings the schema of the database of `config` up to date (the log's and the read side's
/// tables), refusing one newer than this build knows; returns the versions applied. The event
/// store does this at open; a read store opened on its own calls it first.
pub async fn prepare_schema(config: &Config) -> Result<Vec<i32>, StoreError> {
    let (mut client, driver) = connect_once(config).await?;
    let applied = migrate::migrate(&mut client).await;
    drop(client);
    driver.abort();
    applied
}

impl PostgresStore {
    /// Connects to the database of a libpq connection string (`postgres://user@host:port/db`
    /// or `host=… dbname=…`), brings its schema up to date, and starts the writer. Must be
    /// called inside a tokio runtime.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let config: Config = url.parse().map_err(PostgresProblem::BadConnectionString)?;
        PostgresStore::open(config).await
    }

    /// [`PostgresStore::connect`] with an already built configuration.
    pub async fn open(config: Config) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with_clock(config, Timestamp::now).await
    }

    /// Opens a store whose `recorded_at` comes from `clock` instead of the wall clock (still
    /// never going back along the log): for tests that build identical logs.
    pub async fn open_with_clock(
        mut config: Config,
        clock: StoreClock,
    ) -> Result<PostgresStore, StoreError> {
        // A committed append is durable, whatever the server's default.
        with_session_option(&mut config, "synchronous_commit=on");
        with_default_connect_timeout(&mut config);
        let (mut client, driver) = connect_once(&config).await?;
        let applied = migrate::migrate(&mut client).await;
        let head = match applied {
            Ok(applied) => {
                if !applied.is_empty() {
                    tracing::info!(?applied, "applied ledger schema migrations");
                }
                client
                    .query_one(sql::HEAD, &[])
                    .await
                    .map_err(PostgresProblem::from)
                    .map_err(StoreError::from)
                    .and_then(|row| append::head_from_row(&row))
            }
            Err(e) => Err(e),
        };
        drop(client);
        driver.abort();
        let (head, _) = head?;

        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(PostgresProblem::PoolBuild)?;
        let (head_tx, _) = watch::channel(head);
        let head_tx = Arc::new(head_tx);
        let (inbox_tx, inbox_rx) = mpsc::channel(INBOX_CAPACITY);
        let writer = tokio::spawn(append::run(pool.clone(), clock, inbox_rx, head_tx.clone()));
        let follower = tokio::spawn(follow::run(config, pool.clone(), head_tx.clone()));
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                inbox: inbox_tx,
                head: head_tx,
                tasks: Mutex::new(vec![writer, follower]),
            }),
        })
    }

    /// Stops the writer and the head follower and closes the pool. Appends made through any
    /// clone afterwards fail with [`StoreError::WriterStopped`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .map_err(|_| WriterStop::HandleLockPoisoned)?
            .drain(..)
            .collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        self.inner.pool.close();
        Ok(())
    }

    /// Removes idempotency records past their retention; returns how many.
    pub async fn sweep_idempotency(&self) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let removed = client
            .execute(sql::SWEEP_IDEMPOTENCY, &[&Timestamp::now().0])
            .await
            .map_err(PostgresProblem::from)?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    /// The newest schema version this build applies.
    pub fn schema_version() -> i32 {
        migrate::known_version()
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        Ok(self.inner.pool.get().await.map_err(PostgresProblem::from)?)
    }

    fn cached_head(&self) -> u64 {
        self.inner.head.borrow().position
    }
}

impl EventStore for PostgresStore {
    type Sub = PostgresSubscription;

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .inbox
            .send(PendingAppend { request, reply })
            .await
            .map_err(|_| WriterStop::Closed)?;
        answer.await.map_err(|_| WriterStop::EndedBeforeAnswering)?
    }

    async fn idempotent_outcome(
        &self,
        key: &[u8; 32],
        request_hash: &[u8; 32],
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let head = self.cached_head();
        let client = self.client().await?;
        let row = client
            .query_opt(sql::IDEMPOTENCY_ONE, &[&key.as_slice()])
            .await
            .map_err(PostgresProblem::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = append::decode_record(row.try_get(0).map_err(PostgresProblem::from)?)?;
        append::outcome_of(&record, request_hash, head)
    }

    async fn repair_unique_keys(
        &self,
        prefix: &[u8],
        wanted: BTreeMap<UniqueKey, StreamId>,
    ) -> Result<usize, StoreError> {
        if let Some(stray) = wanted.keys().find(|k| !k.as_bytes().starts_with(prefix)) {
            return Err(AppendProblem::KeyOutsideRepairedPrefix { key: stray.clone() }.into());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(PostgresProblem::from)?;
        // Under the head lock, so no append batch interleaves.
        tx.query_one(sql::LOCK_HEAD, &[])
            .await
            .map_err(PostgresProblem::from)?;
        let rows = tx
            .query(sql::UNIQUE_UNDER_PREFIX, &[&prefix])
            .await
            .map_err(PostgresProblem::from)?;
        let mut present = BTreeMap::new();
        for row in &rows {
            let key: &[u8] = row.try_get(0).map_err(PostgresProblem::from)?;
            let owner: &str = row.try_get(1).map_err(PostgresProblem::from)?;
            present.insert(UniqueKey::new(key.to_vec()), owner.to_owned());
        }
        let mut upsert_keys = Vec::new();
        let mut upsert_owners = Vec::new();
        let mut removed = Vec::new();
        for (key, owner) in &present {
            match wanted.get(key) {
                Some(stream) if stream.as_str() == owner => {}
                Some(stream) => {
                    upsert_keys.push(key.as_bytes());
                    upsert_owners.push(stream.as_str());
                }
                None => removed.push(key.as_bytes()),
            }
        }
        for (key, stream) in &wanted {
            if !present.contains_key(key) {
                upsert_keys.push(key.as_bytes());
                upsert_owners.push(stream.as_str());
            }
        }
        let changed = upsert_keys.len() + removed.len();
        if changed > 0 {
            tx.execute(sql::DELETE_UNIQUE, &[&removed])
                .await
                .map_err(PostgresProblem::from)?;
            tx.execute(sql::UPSERT_UNIQUE, &[&upsert_keys, &upsert_owners])
                .await
                .map_err(PostgresProblem::from)?;
        }
        tx.commit().await.map_err(PostgresProblem::from)?;
        Ok(changed)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        range: StreamRange,
    ) -> Result<Vec<Envelope>, StoreError> {
        let head = self.cached_head();
        read::stream(&**self.client().await?, head, stream, range).await
    }

    async fn read_all(&self, from: Position, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let head = self.cached_head();
        let from = from.0.max(1);
        if limit == 0 || from > head {
            return Ok(Vec::new());
        }
        let to = head.min(from.saturating_add(limit as u64 - 1));
        read::range(&**self.client().await?, from, to).await
    }

    async fn read_time_range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let head = self.cached_head();
        read::time_range(&**self.client().await?, head, from, to, limit).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<StreamVersion, StoreError> {
        let head = self.cached_head();
        read::stream_version(&**self.client().await?, head, stream).await
    }

    async fn first_position_at_or_after(&self, time: Timestamp) -> Result<Position, StoreError> {
        let head = self.cached_head();
        read::first_position_at_or_after(&**self.client().await?, head, time).await
    }

    fn head(&self) -> Head {
        *self.inner.head.borrow()
    }

    fn subscribe(&self, from: Position) -> PostgresSubscription {
        PostgresSubscription::new(self.inner.pool.clone(), from, self.inner.head.subscribe())
    }
}
