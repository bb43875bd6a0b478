//! The read side on PostgreSQL: every table of one node's read model in `read_model_entries`
//! (keyed by model name, table tag and key) and its checkpoint in `read_model_checkpoints`,
//! a batch and its checkpoint written in one transaction (`migrations/0002_read_model.sql`).
//!
//! [`ReadStore`] is a blocking interface called from async code as well as from blocking
//! tasks, so the store does not drive the database from the caller's thread: a few worker
//! threads each own a synchronous connection (the `postgres` crate, which runs its own small
//! runtime and so must stay outside tokio's), take jobs from one queue and answer on a channel.
//! A worker whose connection broke (a database restart) connects again for its next job, so
//! the store recovers by itself once the server is back.
//!
//! As on sled, commits are not made durable one by one (`synchronous_commit = off` for these
//! connections): the log is the truth, and a commit lost in a crash only means a longer
//! catch-up. PostgreSQL still writes each transaction atomically.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use postgres::{Client, NoTls, Statement};

use super::store::{
    prefix_successor, ChangeSet, Entry, KeyRange, ReadCheckpoint, ReadStore, ScanOrder, Table,
};
use super::ProjectionError;
use crate::ledger::{ChainHash, PostgresProblem};

/// Worker threads (and so connections) per store: reads of a request are short point reads and
/// scans, and one projection commits at a time.
pub const READ_STORE_CONNECTIONS: usize = 4;

/// Longest model name (PostgreSQL identifiers are 63 bytes; the name is a value, but keeping
/// it as short keeps it printable everywhere it is shown).
const MAX_MODEL_NAME: usize = 63;

/// The name of one node's read model in a shared database: 1 to 63 characters of `a-z`,
/// `0-9`, `-` and `_`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReadModelName(String);

/// Why a read model name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadModelNameProblem {
    /// Nothing given.
    #[error("a read model name must not be empty")]
    Empty,
    /// Longer than [`MAX_MODEL_NAME`].
    #[error("a read model name has at most {MAX_MODEL_NAME} characters, this one has {length}")]
    TooLong {
        /// Characters given.
        length: usize,
    },
    /// A character outside `a-z0-9-_`.
    #[error("a read model name may hold only a-z, 0-9, '-' and '_' (found {found:?})")]
    Character {
        /// The first character refused.
        found: char,
    },
}

impl ReadModelName {
    /// Checks a name.
    pub fn new(name: &str) -> Result<ReadModelName, ReadModelNameProblem> {
        if name.is_empty() {
            return Err(ReadModelNameProblem::Empty);
        }
        let length = name.chars().count();
        if length > MAX_MODEL_NAME {
            return Err(ReadModelNameProblem::TooLong { length });
        }
        if let Some(found) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(ReadModelNameProblem::Character { found });
        }
        Ok(ReadModelName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ReadModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReadModelName({})", self.0)
    }
}

impl fmt::Display for ReadModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

mod sql {
    pub const CHECKPOINT: &str =
        "SELECT layout, position, hash FROM read_model_checkpoints WHERE model = $1";
    pub const UPSERT_CHECKPOINT: &str = "INSERT INTO read_model_checkpoints \
         (model, layout, position, hash) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (model) DO UPDATE SET layout = excluded.layout, \
         position = excluded.position, hash = excluded.hash";
    pub const DELETE_ENTRIES: &str = "DELETE FROM read_model_entries e \
         USING unnest($2::smallint[], $3::bytea[]) AS d(tbl, key) \
         WHERE e.model = $1 AND e.tbl = d.tbl AND e.key = d.key";
    pub const UPSERT_ENTRIES: &str = "INSERT INTO read_model_entries (model, tbl, key, value) \
         SELECT $1, d.tbl, d.key, d.value \
         FROM unnest($2::smallint[], $3::bytea[], $4::bytea[]) AS d(tbl, key, value) \
         ON CONFLICT (model, tbl, key) DO UPDATE SET value = excluded.value";
    pub const GET: &str =
        "SELECT value FROM read_model_entries WHERE model = $1 AND tbl = $2 AND key = $3";
    /// `$3` lowest key, `$4` highest key (inclusive, or NULL), `$5` first key past the prefix
    /// (or NULL), `$6` limit.
    pub const SCAN_ASCENDING: &str = "SELECT key, value FROM read_model_entries \
         WHERE model = $1 AND tbl = $2 AND key >= $3 \
         AND ($4::bytea IS NULL OR key <= $4) AND ($5::bytea IS NULL OR key < $5) \
         ORDER BY key ASC LIMIT $6";
    pub const SCAN_DESCENDING: &str = "SELECT key, value FROM read_model_entries \
         WHERE model = $1 AND tbl = $2 AND key >= $3 \
         AND ($4::bytea IS NULL OR key <= $4) AND ($5::bytea IS NULL OR key < $5) \
         ORDER BY key DESC LIMIT $6";
    pub const ANYTHING_STORED: &str = "SELECT \
         EXISTS (SELECT 1 FROM read_model_checkpoints WHERE model = $1) \
         OR EXISTS (SELECT 1 FROM read_model_entries WHERE model = $1)";
    pub const CLEAR_ENTRIES: &str = "DELETE FROM read_model_entries WHERE model = $1";
    pub const CLEAR_CHECKPOINT: &str = "DELETE FROM read_model_checkpoints WHERE model = $1";
}

/// Work for a worker: runs against its connection and answers on its own channel.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// One node's read model on PostgreSQL. Cheap to clone; clones share the workers.
#[derive(Clone)]
pub struct PostgresReadStore {
    shared: Arc<Shared>,
}

struct Shared {
    model: ReadModelName,
    /// The workers' queue; `None` only while dropping.
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue ends every worker after its current job.
        self.jobs.take();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker thread's connection, made on first use and again after it broke.
struct Worker {
    config: postgres::Config,
    /// Host(s) and port(s), for the error when the server cannot be reached.
    target: String,
    /// The read model every job of this store is about.
    model: String,
    client: Option<Client>,
    /// Statements prepared on `client` (each once per connection, not once per call).
    prepared: HashMap<&'static str, Statement>,
}

/// A worker's connection for one job.
struct Connection<'w> {
    client: &'w mut Client,
    model: &'w str,
    prepared: &'w mut HashMap<&'static str, Statement>,
}

impl Connection<'_> {
    /// `sql` prepared on this connection, preparing it on first use.
    fn statement(&mut self, sql: &'static str) -> Result<Statement, PostgresProblem> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.prepared.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl Worker {
    /// Runs `work` on the connection (connecting first if there is none or it broke).
    fn run<T>(
        &mut self,
        work: impl FnOnce(&mut Connection<'_>) -> Result<T, PostgresProblem>,
    ) -> Result<T, PostgresProblem> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
            self.prepared.clear();
        }
        let client = match &mut self.client {
            Some(client) => client,
            slot => slot.insert(self.config.connect(NoTls).map_err(|source| {
                PostgresProblem::Unreachable {
                    target: self.target.clone(),
                    source,
                }
            })?),
        };
        work(&mut Connection {
            client,
            model: &self.model,
            prepared: &mut self.prepared,
        })
    }
}

fn run_worker(jobs: Arc<Mutex<Receiver<Job>>>, mut worker: Worker) {
    loop {
        let job = match jobs.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(&mut worker),
            Err(_) => return,
        }
    }
}

impl PostgresReadStore {
    /// Opens the read model `model` in the database of `config`, bringing the schema up to
    /// date first (its tables are created on first use). Must be called inside tokio; the
    /// store's own calls block and may be made from anywhere.
    pub async fn open(
        config: &tokio_postgres::Config,
        model: ReadModelName,
    ) -> Result<PostgresReadStore, ProjectionError> {
        crate::ledger::prepare_schema(config).await?;
        let target = crate::ledger::postgres::target(config);
        let mut config = config.clone();
        crate::ledger::postgres::with_session_option(&mut config, "synchronous_commit=off");
        crate::ledger::postgres::with_default_connect_timeout(&mut config);
        let config = postgres::Config::from(config);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut workers = Vec::with_capacity(READ_STORE_CONNECTIONS);
        for index in 0..READ_STORE_CONNECTIONS {
            let jobs = receiver.clone();
            let worker = Worker {
                config: config.clone(),
                target: target.clone(),
                model: model.as_str().to_owned(),
                client: None,
                prepared: HashMap::new(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("read-store-pg-{index}"))
                .spawn(move || run_worker(jobs, worker))
                .map_err(ProjectionError::Thread)?;
            workers.push(handle);
        }
        Ok(PostgresReadStore {
            shared: Arc::new(Shared {
                model,
                jobs: Some(sender),
                workers,
            }),
        })
    }

    /// The name of the read model this store holds.
    pub fn model(&self) -> &ReadModelName {
        &self.shared.model
    }

    /// Runs `work` on a worker's connection and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection<'_>) -> Result<T, PostgresProblem> + Send + 'static,
    ) -> Result<T, ProjectionError> {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |worker: &mut Worker| {
            let _ = answer.send(worker.run(work));
        });
        self.shared
            .jobs
            .as_ref()
            .ok_or(ProjectionError::ReadStoreStopped)?
            .send(job)
            .map_err(|_| ProjectionError::ReadStoreStopped)?;
        let result = answered
            .recv()
            .map_err(|_| ProjectionError::ReadStoreStopped)?;
        Ok(result?)
    }
}

/// A change set reduced to the last write per key, as the columns of the two statements.
#[derive(Default)]
struct Columns {
    put_tables: Vec<i16>,
    put_keys: Vec<Vec<u8>>,
    put_values: Vec<Vec<u8>>,
    delete_tables: Vec<i16>,
    delete_keys: Vec<Vec<u8>>,
}

impl Columns {
    fn of(changes: &ChangeSet) -> Columns {
        let mut last: BTreeMap<(i16, &[u8]), Option<&[u8]>> = BTreeMap::new();
        for (table, key, value) in changes.writes() {
            last.insert((i16::from(table.tag()), key), value);
        }
        let mut columns = Columns::default();
        for ((table, key), value) in last {
            match value {
                Some(value) => {
                    columns.put_tables.push(table);
                    columns.put_keys.push(key.to_vec());
                    columns.put_values.push(value.to_vec());
                }
                None => {
                    columns.delete_tables.push(table);
                    columns.delete_keys.push(key.to_vec());
                }
            }
        }
        columns
    }
}

fn checkpoint_from_row(row: &postgres::Row) -> Result<ReadCheckpoint, PostgresProblem> {
    let layout: i32 = row.try_get(0)?;
    let position: i64 = row.try_get(1)?;
    let hash: Vec<u8> = row.try_get(2)?;
    Ok(ReadCheckpoint {
        layout: u16::try_from(layout).map_err(|_| PostgresProblem::OutOfRange {
            column: "read_model_checkpoints.layout",
            value: i128::from(layout),
        })?,
        position: u64::try_from(position).map_err(|_| PostgresProblem::OutOfRange {
            column: "read_model_checkpoints.position",
            value: i128::from(position),
        })?,
        hash: ChainHash(hash.try_into().map_err(|_| PostgresProblem::Malformed {
            column: "read_model_checkpoints.hash",
        })?),
    })
}

fn signed_position(position: u64) -> Result<i64, PostgresProblem> {
    i64::try_from(position).map_err(|_| PostgresProblem::OutOfRange {
        column: "read_model_checkpoints.position",
        value: i128::from(position),
    })
}

impl ReadStore for PostgresReadStore {
    fn checkpoint(&self) -> Result<Option<ReadCheckpoint>, ProjectionError> {
        self.call(|c| {
            let statement = c.statement(sql::CHECKPOINT)?;
            c.client
                .query_opt(&statement, &[&c.model])?
                .map(|row| checkpoint_from_row(&row))
                .transpose()
        })
    }

    fn commit(
        &self,
        changes: &ChangeSet,
        checkpoint: ReadCheckpoint,
    ) -> Result<(), ProjectionError> {
        let columns = Columns::of(changes);
        let position = signed_position(checkpoint.position)?;
        self.call(move |c| {
            let model = c.model;
            let mut tx = c.client.transaction()?;
            if !columns.delete_keys.is_empty() {
                tx.execute(
                    sql::DELETE_ENTRIES,
                    &[&model, &columns.delete_tables, &columns.delete_keys],
                )?;
            }
            if !columns.put_keys.is_empty() {
                tx.execute(
                    sql::UPSERT_ENTRIES,
                    &[
                        &model,
                        &columns.put_tables,
                        &columns.put_keys,
                        &columns.put_values,
                    ],
                )?;
            }
            tx.execute(
                sql::UPSERT_CHECKPOINT,
                &[
                    &model,
                    &i32::from(checkpoint.layout),
                    &position,
                    &&checkpoint.hash.0[..],
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, ProjectionError> {
        let key = key.to_vec();
        self.call(move |c| {
            let statement = c.statement(sql::GET)?;
            let row = c
                .client
                .query_opt(&statement, &[&c.model, &i16::from(table.tag()), &key])?;
            Ok(row.map(|row| row.try_get::<_, Vec<u8>>(0)).transpose()?)
        })
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        order: ScanOrder,
        limit: usize,
    ) -> Result<Vec<Entry>, ProjectionError> {
        let low = match &range.from {
            Some(from) => from.clone().max(range.prefix.clone()),
            None => range.prefix.clone(),
        };
        let high = range.to.clone();
        let past_prefix = prefix_successor(&range.prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = match order {
            ScanOrder::Ascending => sql::SCAN_ASCENDING,
            ScanOrder::Descending => sql::SCAN_DESCENDING,
        };
        self.call(move |c| {
            let statement = c.statement(statement)?;
            let rows = c.client.query(
                &statement,
                &[
                    &c.model,
                    &i16::from(table.tag()),
                    &low,
                    &high,
                    &past_prefix,
                    &limit,
                ],
            )?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn is_empty(&self) -> Result<bool, ProjectionError> {
        self.call(|c| {
            let anything: bool = c
                .client
                .query_one(sql::ANYTHING_STORED, &[&c.model])?
                .get(0);
            Ok(!anything)
        })
    }

    fn clear(&self) -> Result<(), ProjectionError> {
        self.call(|c| {
            let model = c.model;
            let mut tx = c.client.transaction()?;
            tx.execute(sql::CLEAR_ENTRIES, &[&model])?;
            tx.execute(sql::CLEAR_CHECKPOINT, &[&model])?;
            // The one write of this store that is made durable: a rebuild must not find the
            // old checkpoint after a crash with half of the tables gone.
            tx.batch_execute("SET LOCAL synchronous_commit = on")?;
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_checked() {
        let cases: [(&str, Result<(), ReadModelNameProblem>); 6] = [
            ("node-1", Ok(())),
            ("a_b-9", Ok(())),
            ("", Err(ReadModelNameProblem::Empty)),
            ("Node", Err(ReadModelNameProblem::Character { found: 'N' })),
            (
                "node 1",
                Err(ReadModelNameProblem::Character { found: ' ' }),
            ),
            (
                &"x".repeat(64),
                Err(ReadModelNameProblem::TooLong { length: 64 }),
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(ReadModelName::new(name).map(|_| ()), expected, "{name:?}");
        }
    }

    #[test]
    fn a_change_set_keeps_the_last_write_of_each_key() {
        let mut changes = ChangeSet::default();
        changes.put(Table::Live, b"a".to_vec(), b"1".to_vec());
        changes.delete(Table::Live, b"a".to_vec());
        changes.put(Table::Live, b"a".to_vec(), b"2".to_vec());
        changes.put(Table::History, b"a".to_vec(), b"h".to_vec());
        changes.put(Table::Live, b"b".to_vec(), b"3".to_vec());
        changes.delete(Table::Live, b"b".to_vec());
        let columns = Columns::of(&changes);
        // Ordered by table tag, then key: History ('H') before Live ('L').
        assert_eq!(columns.put_keys, vec![b"a".to_vec(), b"a".to_vec()]);
        assert_eq!(columns.put_values, vec![b"h".to_vec(), b"2".to_vec()]);
        assert_eq!(columns.put_tables, vec![i16::from(b'H'), i16::from(b'L')]);
        assert_eq!(columns.delete_keys, vec![b"b".to_vec()]);
    }
}
