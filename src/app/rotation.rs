//! Master key rotation: a new master key re-wraps every data key and the stored fingerprint
//! key, the rotation is recorded in the log (`keys.rotated` on stream `keys`), and the key files
//! are swapped. Run it with the server stopped (sled allows one process per data directory).
//!
//! Steps, each safe to interrupt; the next `credledger keys rotate` or [`super::App::open`]
//! finishes the rest:
//!
//! 1. [`Rotation::begin`]: generate the new key and write it to `<key-file>.pending` (mode 0600,
//!    temp file, fsync, link). From here on, opening loads both keys.
//! 2. [`Rotation::rewrap`]: re-wrap the records one at a time; each is atomically under the
//!    old key (key file) or the new one (pending file), so every data key opens at every instant.
//! 3. [`Rotation::record`]: append `keys.rotated` (once per new key).
//! 4. [`Rotation::install`]: pair the data directory with the new key (`master_key.fingerprint`),
//!    keep the old key as `<key-file>.retired-<old key id>` (0600), and rename the pending file
//!    over the key file.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::crypto::{DataKeyStatus, DataKeyStore, MasterKey, FINGERPRINT_KEY_OWNER};
use crate::domain::keys::{KeysEvent, MasterKeyRef};
use crate::ledger::{
    Actor, AppendRequest, EventId, EventMeta, EventStore, ExpectedVersion, NewEvent, Origin,
    SignedInWith, SledStore, StreamRange, StreamVersion,
};
use crate::projections::payloads;

use super::keyring::{self, pending_key_path, retired_key_path, FINGERPRINT_FILE};
use super::{AppConfig, AppError, MasterKeyError, DATA_KEYS_TREE};

/// What a rotation did; printed by `credledger keys rotate`. Holds ids and paths, no keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Id of the master key that was replaced.
    pub old_key_id: String,
    /// Id of the master key now in the key file.
    pub new_key_id: String,
    /// Active data keys wrapped under the new key at the end.
    pub data_keys: u64,
    /// Destroyed (purged) data keys, left as tombstones.
    pub data_keys_destroyed: u64,
    /// Records (data keys and the fingerprint key) re-wrapped by this run.
    pub rewrapped_now: u64,
    /// Whether this run finished an interrupted rotation instead of starting one.
    pub resumed: bool,
    /// Log position of the `keys.rotated` event written by this run (None if already recorded).
    pub event_position: Option<u64>,
    /// The key file, now holding the new key.
    pub key_file: PathBuf,
    /// Where the old key was kept.
    pub retired_key_file: PathBuf,
    /// How long the run took.
    pub elapsed: Duration,
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.resumed {
            "finished an interrupted master key rotation"
        } else {
            "rotated the master key"
        };
        writeln!(f, "credledger: {what}.")?;
        writeln!(f, "  old key id        {}", self.old_key_id)?;
        writeln!(f, "  new key id        {}", self.new_key_id)?;
        writeln!(
            f,
            "  data keys         {} re-wrapped under the new key ({} purged, nothing to re-wrap)",
            self.data_keys, self.data_keys_destroyed
        )?;
        writeln!(f, "  re-wrapped now    {} records", self.rewrapped_now)?;
        match self.event_position {
            Some(p) => writeln!(f, "  recorded          keys.rotated at log position {p}")?,
            None => writeln!(f, "  recorded          keys.rotated (already in the log)")?,
        }
        writeln!(f, "  elapsed           {:.3} s", self.elapsed.as_secs_f64())?;
        writeln!(
            f,
            "  key file          {} (new key)",
            self.key_file.display()
        )?;
        writeln!(
            f,
            "  retired key file  {} (old key)",
            self.retired_key_file.display()
        )?;
        writeln!(
            f,
            "Back up the new key file now. The retired key file opens only backups of the data \
             directory taken before this rotation; keep it as safely as the key file, and delete \
             it once those backups are gone (purged secrets in them stay readable while it exists)."
        )
    }
}

/// One rotation in progress, step by step (see the module documentation).
pub struct Rotation {
    config: AppConfig,
    store: SledStore,
    owns_store: bool,
    tree: sled::Tree,
    old: Arc<MasterKey>,
    new: Arc<MasterKey>,
    meta: EventMeta,
    resumed: bool,
    rewrapped: u64,
    position: Option<u64>,
    started: Instant,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("data_dir", &self.config.data_dir)
            .field("old_key_id", &self.old.key_id())
            .field("new_key_id", &self.new.key_id())
            .field("resumed", &self.resumed)
            .finish()
    }
}

/// Stores the fingerprint key (derived from `master` as before) if the directory has none yet.
fn ensure_fingerprint_key(tree: &sled::Tree, master: &Arc<MasterKey>) -> Result<(), AppError> {
    let keys = DataKeyStore::new(tree.clone(), master.clone());
    if keys.status(FINGERPRINT_KEY_OWNER)? == DataKeyStatus::Missing {
        keys.fingerprinter()?;
    }
    Ok(())
}

fn key_ref(key: &MasterKey) -> Result<MasterKeyRef, AppError> {
    Ok(MasterKeyRef {
        key_id: key.key_id().to_owned(),
        fingerprint: key.fingerprint()?.digest,
    })
}

fn io_error(action: &'static str, path: &std::path::Path, source: std::io::Error) -> AppError {
    AppError::from(MasterKeyError::RotationFile {
        action,
        path: path.to_owned(),
        source,
    })
}

impl Rotation {
    /// Opens a stopped ledger and writes a new pending key; if a rotation was interrupted, it
    /// continues that one instead (no new key is generated).
    pub async fn begin(config: &AppConfig) -> Result<Rotation, AppError> {
        let started = Instant::now();
        if !config.data_dir.join(FINGERPRINT_FILE).exists() {
            return Err(AppError::from(MasterKeyError::NothingToRotate {
                data_dir: config.data_dir.clone(),
            }));
        }
        let mut config = config.clone();
        config.create_key_if_missing = false;
        let opened = keyring::open_with_master_key(&config)?;
        let tree = opened.db.open_tree(DATA_KEYS_TREE)?;
        let store = SledStore::with_db(opened.db, &config.data_dir)?;
        let old = Arc::new(opened.master);
        let meta = EventMeta {
            actor: Actor {
                principal: "cli".into(),
                via: SignedInWith::Cli,
            },
            origin: Origin::Cli,
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
        };
        let (new, resumed) = match opened.pending {
            Some(pending) => (Arc::new(pending), true),
            None => {
                let begun = ensure_fingerprint_key(&tree, &old).and_then(|()| {
                    let new = MasterKey::generate()?;
                    new.write_new_file(pending_key_path(&config.key_file))?;
                    Ok(new)
                });
                match begun {
                    Ok(new) => (Arc::new(new), false),
                    Err(e) => {
                        store.close().await?;
                        return Err(e);
                    }
                }
            }
        };
        Ok(Rotation {
            config,
            store,
            owns_store: true,
            tree,
            old,
            new,
            meta,
            resumed,
            rewrapped: 0,
            position: None,
            started,
        })
    }

    /// Continues an interrupted rotation found by [`super::App::open`] on its own log.
    pub(super) fn resume(
        config: &AppConfig,
        store: &SledStore,
        old: Arc<MasterKey>,
        new: Arc<MasterKey>,
    ) -> Result<Rotation, AppError> {
        Ok(Rotation {
            config: config.clone(),
            tree: store.db().open_tree(DATA_KEYS_TREE)?,
            store: store.clone(),
            owns_store: false,
            old,
            new,
            meta: EventMeta::system(),
            resumed: true,
            rewrapped: 0,
            position: None,
            started: Instant::now(),
        })
    }

    /// Id of the new key.
    pub fn new_key_id(&self) -> &str {
        self.new.key_id()
    }

    /// Re-wraps up to `limit` records still under the old key (all when `None`); flushed.
    pub fn rewrap(&mut self, limit: Option<usize>) -> Result<usize, AppError> {
        // A rotation interrupted before the fingerprint key was stored stores it now.
        ensure_fingerprint_key(&self.tree, &self.old)?;
        let keys = DataKeyStore::new(self.tree.clone(), self.old.clone());
        let n = keys.rewrap_up_to(&self.old, &self.new, limit.unwrap_or(usize::MAX))?;
        self.rewrapped += n as u64;
        Ok(n)
    }

    /// Appends `keys.rotated` unless this new key's rotation is already in the log; refuses
    /// while any data key is still wrapped under another key.
    pub async fn record(&mut self) -> Result<Option<u64>, AppError> {
        let keys = DataKeyStore::new(self.tree.clone(), self.new.clone());
        let census = keys.census(self.new.key_id())?;
        if census.under_other > 0 {
            return Err(AppError::from(MasterKeyError::NotRewrapped {
                count: census.under_other,
                key_id: self.new.key_id().to_owned(),
            }));
        }
        let fingerprint_key_id = match keys.status(FINGERPRINT_KEY_OWNER)? {
            DataKeyStatus::Active {
                data_key_id,
                master_key_id,
            } if master_key_id == self.new.key_id() => data_key_id,
            _ => return Err(AppError::from(MasterKeyError::FingerprintKeyNotRewrapped)),
        };
        let stream = payloads::keys_stream();
        let recorded = self.store.read_stream(&stream, StreamRange::all()).await?;
        for envelope in &recorded {
            if let Some(KeysEvent::MasterKeyRotated { new_master_key, .. }) =
                payloads::decode_keys(envelope)?
            {
                if new_master_key.key_id == self.new.key_id() {
                    return Ok(None);
                }
            }
        }
        let event = KeysEvent::MasterKeyRotated {
            old_master_key: key_ref(&self.old)?,
            new_master_key: key_ref(&self.new)?,
            data_keys_rewrapped: census.under_master,
            data_keys_destroyed: census.destroyed,
            fingerprint_key_id,
            resumed: self.resumed,
        };
        let version = recorded.len() as u64;
        let outcome = self
            .store
            .append(AppendRequest::new(
                stream,
                if version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(StreamVersion(version))
                },
                vec![NewEvent {
                    event_id: EventId::new(),
                    event_type: event.event_type().to_owned(),
                    schema_version: event.schema_version(),
                    payload: payloads::encode_payload(&event)?,
                    meta: self.meta.clone(),
                }],
            ))
            .await?;
        self.position = Some(outcome.last_position.0);
        Ok(self.position)
    }

    /// Pairs the data directory with the new key, keeps the old key as the retired key file,
    /// and moves the pending key file over the key file.
    pub fn install(&self) -> Result<PathBuf, AppError> {
        let key_file = &self.config.key_file;
        keyring::write_fingerprint(&self.config.data_dir, &self.new.fingerprint()?)?;
        let retired = retired_key_path(key_file, self.old.key_id());
        match self.old.write_new_file(&retired) {
            Ok(()) => {}
            Err(crate::crypto::CryptoError::KeyFileExists { .. }) => {
                // A re-run: the retired file must hold exactly the old key.
                MasterKey::load(&retired)?.check_fingerprint(&self.old.fingerprint()?)?;
            }
            Err(e) => return Err(e.into()),
        }
        let pending = pending_key_path(key_file);
        std::fs::rename(&pending, key_file)
            .map_err(|e| io_error("install the new key file", &pending, e))?;
        let parent = key_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| std::path::Path::new("."));
        std::fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| io_error("sync the directory of", key_file, e))?;
        Ok(retired)
    }

    /// Runs whatever steps remain, then closes the log if this rotation opened it.
    pub async fn finish(mut self) -> Result<RotationReport, AppError> {
        let result = self.finish_steps().await;
        if self.owns_store {
            self.store.close().await?;
        }
        result
    }

    async fn finish_steps(&mut self) -> Result<RotationReport, AppError> {
        self.rewrap(None)?;
        self.record().await?;
        let retired_key_file = self.install()?;
        let census =
            DataKeyStore::new(self.tree.clone(), self.new.clone()).census(self.new.key_id())?;
        Ok(RotationReport {
            old_key_id: self.old.key_id().to_owned(),
            new_key_id: self.new.key_id().to_owned(),
            data_keys: census.under_master,
            data_keys_destroyed: census.destroyed,
            rewrapped_now: self.rewrapped,
            resumed: self.resumed,
            event_position: self.position,
            key_file: self.config.key_file.clone(),
            retired_key_file,
            elapsed: self.started.elapsed(),
        })
    }

    /// Stops here without finishing (as a crash would), closing the log if this rotation opened it.
    pub async fn abandon(self) -> Result<(), AppError> {
        if self.owns_store {
            self.store.close().await?;
        }
        Ok(())
    }
}

/// Rotates the master key of a stopped ledger (or finishes an interrupted rotation).
pub async fn rotate_master_key(config: &AppConfig) -> Result<RotationReport, AppError> {
    Rotation::begin(config).await?.finish().await
}
