//! The application layer: opens a data directory with its master key, runs the command path
//! (state -> domain decision -> seal -> append -> projection), and answers queries. Knows
//! nothing of HTTP.

mod access;
mod audit;
pub mod backup;
pub mod checkpoints;
mod commands;
mod error;
mod event_feed;
mod idempotent;
mod invariants;
mod keyring;
mod notices;
mod oauth_clients;
mod opaque_seal;
mod principals;
mod queries;
pub mod resolve;
pub mod rotation;
mod services;
mod sign_in_links;
mod time_travel;
mod token_use;
pub mod verification;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

pub use audit::{action_name, Accessor, AuditPage, AuditQuery};
pub use commands::{CommandOutcome, DirectoryOutcome, RestoreTarget};
pub use error::{
    AppError, ConflictReason, MasterKeyError, RestoreField, RestoreRefusal, StartupError,
};
pub use event_feed::{
    follow_events, EventFilter, EventStream, EventStreamError, EventStreamSettings, ResumeSource,
    StreamItem,
};
pub use idempotent::IdempotencyRequest;
pub use keyring::{pending_key_path, retired_key_path, FINGERPRINT_FILE};
pub use principals::{system_caller, Bootstrap, IssuedToken, ListedToken, TokenLimits};
pub use queries::GrantState;
pub use resolve::{
    references as template_references, OnBehalfRefusal, ResolveError, ResolveRequest,
    ResolvedTemplate,
};
pub use rotation::{rotate_master_key, Rotation, RotationReport};
pub use sign_in_links::IssuedSignInLink;
pub use time_travel::{UsableAsOf, UsableBy};
pub use token_use::LAST_USED_PRECISION_SECONDS;
pub use verification::{
    ChangeOptions, VerificationError, VerificationMode, VerificationReport, VerificationSettings,
};
pub use webhooks::{
    run_webhook_deliveries, NewWebhook, SubscribedWebhook, WebhookSettings, WebhookView,
};

use crate::crypto::{DataKeyStatus, DataKeyStore, Fingerprinter};
use crate::domain::ids::UserId;
use crate::domain::services::ServiceCatalog;
use crate::ledger::{EventMeta, EventStore, Origin, SignedInWith, SledStore};
use crate::projections::{LedgerModel, ProjectionHandle, ReadStore, SledReadStore};

/// The running read model of an open ledger.
pub type ReadModel = ProjectionHandle<LedgerModel, SledReadStore>;

/// The sled tree holding the wrapped data keys (and the wrapped fingerprint key).
pub(crate) const DATA_KEYS_TREE: &str = crate::storage::DATA_KEYS;

/// Where the data and the master key live.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The data directory (sled).
    pub data_dir: PathBuf,
    /// The master key file; must be outside the data directory.
    pub key_file: PathBuf,
    /// Create the key file if the data directory is new and the file is missing.
    pub create_key_if_missing: bool,
    /// Extra prebuilt services (JSON object of key -> service spec), added to the catalog.
    pub extra_services: Option<String>,
    /// Accept `http://` endpoints in the extra services and in custom services defined
    /// through the API (development only: a local provider).
    pub extra_services_allow_http: bool,
    /// Whether creates and re-authentications are checked at the service's verification
    /// endpoint, and through which outbound policy (default: required, strict).
    pub verification: VerificationSettings,
    /// How the event stream runs (heartbeats, per-client buffers, how many streams).
    pub events: EventStreamSettings,
    /// How webhook deliveries run (outbound policy, retries).
    pub webhooks: WebhookSettings,
    /// How often the background sweep appends the certificate notices that are due (the
    /// first run is at start; zero: never). Default one hour.
    pub notices_sweep_every: std::time::Duration,
}

impl AppConfig {
    /// Defaults for a data directory and key file.
    pub fn new(data_dir: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> AppConfig {
        AppConfig {
            data_dir: data_dir.into(),
            key_file: key_file.into(),
            create_key_if_missing: true,
            extra_services: None,
            extra_services_allow_http: false,
            verification: VerificationSettings::default(),
            events: EventStreamSettings::default(),
            webhooks: WebhookSettings::default(),
            notices_sweep_every: std::time::Duration::from_secs(3600),
        }
    }
}

/// Who is acting, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The acting user.
    pub user: UserId,
    /// How they authenticated.
    pub via: SignedInWith,
    /// Where the request came from.
    pub origin: Origin,
    /// The request's idempotency key, if it sent one: stored with the write it makes.
    pub idempotency: Option<IdempotencyRequest>,
}

impl Caller {
    /// A user calling the API with a token.
    pub fn api_user(user: UserId) -> Caller {
        Caller {
            user,
            via: SignedInWith::ApiToken,
            origin: Origin::Api,
            idempotency: None,
        }
    }

    /// Where a change by this caller comes from, in the words the domain records in the
    /// event: the workflow step it is made in, which becomes the envelope's origin too (so
    /// audit shows it), else the dashboard or the API as the caller came in. The one place
    /// the envelope's and the event's origins meet.
    pub fn change_origin(
        &mut self,
        step: Option<crate::domain::access_log::WorkflowStepRef>,
    ) -> crate::domain::authentication::ChangeOrigin {
        use crate::domain::authentication::ChangeOrigin;
        match step {
            Some(step) => {
                self.origin = Origin::WorkflowStep {
                    workflow_id: step.workflow.as_str().to_owned(),
                    step_id: step.step.as_str().to_owned(),
                };
                ChangeOrigin::WorkflowStep {
                    workflow: step.workflow,
                    step: step.step,
                }
            }
            None if self.origin == Origin::Dashboard => ChangeOrigin::Dashboard,
            None => ChangeOrigin::Api,
        }
    }

    /// Event metadata for one request of this caller.
    pub fn meta(&self) -> EventMeta {
        EventMeta {
            actor: crate::ledger::Actor {
                principal: if self.via == SignedInWith::System {
                    "system".to_owned()
                } else {
                    format!("user:{}", self.user)
                },
                via: self.via,
            },
            origin: self.origin.clone(),
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
        }
    }
}

/// An open credential ledger.
pub struct App {
    store: SledStore,
    keys: DataKeyStore,
    fingerprinter: Fingerprinter,
    catalog: ServiceCatalog,
    /// Development only: custom services may name `http://` endpoints.
    allow_http_services: bool,
    model: ReadModel,
    /// Serializes what custom services are against their use: every authentication command
    /// (each is decided on its service's definition) holds it shared from its decision to its
    /// append, changing or retiring
    /// a service holds it exclusively until the read model has the change, so no
    /// authentication decided on an older definition (or before a retirement) lands after it.
    service_gate: tokio::sync::RwLock<()>,
    /// How new credential material is verified.
    verification: VerificationSettings,
    /// When each API token was last used (memory, written at most once a minute per token).
    last_used: token_use::LastUsed,
    /// The described events broadcast to open event streams.
    events: event_feed::EventFeed,
    /// How webhook deliveries run.
    webhook_settings: WebhookSettings,
    /// Where each subscription's deliveries stand, and their attempts.
    webhook_log: webhooks::DeliveryLog,
    /// Serializes webhook commands, so a user's subscription limit holds under racing
    /// subscribes (they are rare; one at a time costs nothing).
    webhook_gate: tokio::sync::Mutex<()>,
    /// How often certificate notices are swept (see [`AppConfig::notices_sweep_every`]).
    notices_sweep_every: std::time::Duration,
}

impl App {
    /// Opens a data directory with its master key; refuses a key that does not belong to it
    /// before anything is written.
    pub async fn open(config: &AppConfig) -> Result<App, AppError> {
        let opened = keyring::open_with_master_key(config)?;
        let db = opened.db;
        let mut master = Arc::new(opened.master);
        let store = SledStore::with_db(db.clone(), &config.data_dir)?;
        if let Some(pending) = opened.pending {
            // A master key rotation was interrupted: finish it before anything else.
            let pending = Arc::new(pending);
            tracing::warn!(
                old_key_id = %master.key_id(),
                new_key_id = %pending.key_id(),
                "finishing an interrupted master key rotation"
            );
            let report = rotation::Rotation::resume(config, &store, master, pending.clone())?
                .finish()
                .await?;
            tracing::warn!(
                retired_key_file = %report.retired_key_file.display(),
                data_keys = report.data_keys,
                "master key rotation finished; the old key is kept in the retired key file"
            );
            master = pending;
        }
        let keys = DataKeyStore::new(db.open_tree(DATA_KEYS_TREE)?, master.clone());
        let fingerprinter = keys.fingerprinter()?;
        let mut catalog = ServiceCatalog::builtin()?;
        if let Some(json) = &config.extra_services {
            catalog.extend(if config.extra_services_allow_http {
                ServiceCatalog::from_json_allowing_http(json)?
            } else {
                ServiceCatalog::from_json(json)?
            });
        }
        let model = ProjectionHandle::start(&store, SledReadStore::open(&db)?).await?;
        let last_used = token_use::LastUsed::open(db.open_tree(crate::storage::TOKEN_LAST_USED)?)?;
        let app = App {
            store,
            keys,
            fingerprinter,
            catalog,
            allow_http_services: config.extra_services_allow_http,
            model,
            service_gate: tokio::sync::RwLock::new(()),
            verification: config.verification,
            last_used,
            events: event_feed::EventFeed::new(config.events),
            webhook_settings: config.webhooks,
            webhook_log: webhooks::DeliveryLog::open(&db)?,
            webhook_gate: tokio::sync::Mutex::new(()),
            notices_sweep_every: config.notices_sweep_every,
        };
        app.finish_interrupted_purges().await?;
        app.reconcile_name_keys().await?;
        Ok(app)
    }

    /// Drops the whole read side of a data directory (the server must be stopped) and opens
    /// the ledger, which rebuilds it from the log with progress on the console. Returns the
    /// open ledger so the caller can report on it and close it.
    pub async fn rebuild_read_models(config: &AppConfig) -> Result<App, AppError> {
        if !config.data_dir.exists() {
            return Err(AppError::Startup(StartupError::NoDataDirectory {
                path: config.data_dir.clone(),
            }));
        }
        {
            let db = crate::ledger::open_db(&config.data_dir)?;
            SledReadStore::open(&db)?.clear()?;
            db.flush()?;
        }
        App::open(config).await
    }

    /// Purge appends its event, then destroys the data key; if a process stopped between the
    /// two, the key is destroyed here, once the read model has caught up with the log.
    async fn finish_interrupted_purges(&self) -> Result<(), AppError> {
        self.model.wait_for(self.store.head().position).await?;
        let purged = crate::projections::model::purged_authentications(self.model.settle().await?)?;
        for id in purged {
            if matches!(
                self.keys.status(id.as_uuid())?,
                DataKeyStatus::Active { .. }
            ) {
                tracing::warn!(authentication = %id, "finishing an interrupted purge: destroying its data key");
                self.keys.destroy(id.as_uuid())?;
            }
        }
        Ok(())
    }

    /// Stops the read model (everything it applied is written) and closes the log.
    pub async fn close(self) -> Result<(), AppError> {
        self.model.stop().await?;
        self.store.close().await?;
        Ok(())
    }

    /// The event log.
    pub fn store(&self) -> &SledStore {
        &self.store
    }

    /// The prebuilt service catalog.
    pub fn catalog(&self) -> &ServiceCatalog {
        &self.catalog
    }

    /// Whether an authentication's data key has been destroyed (its secrets are gone for good).
    pub fn secrets_destroyed(
        &self,
        id: crate::domain::ids::AuthenticationId,
    ) -> Result<bool, AppError> {
        Ok(matches!(
            self.keys.status(id.as_uuid())?,
            DataKeyStatus::Destroyed
        ))
    }

    /// A keyed digest (HMAC under the stored fingerprint key, which survives rotation) of some bytes.
    pub fn keyed_digest(&self, bytes: &[u8]) -> [u8; 32] {
        self.fingerprinter.keyed_digest(bytes)
    }

    /// The running read model.
    pub fn model(&self) -> &ReadModel {
        &self.model
    }
}
