//! The HTTP API (axum): routes, caller authentication, problem+json errors, idempotency,
//! ETags, limits, request ids, metrics, and the server with graceful shutdown.
//!
//! This is the only module that knows axum.

pub mod dto;
pub mod error;
pub mod extract;
pub(crate) mod handlers;
pub mod idempotency;
pub use handlers::sign_in_links::SIGN_IN_LINK_PATH;
pub mod metrics;
pub mod openapi;
mod openapi_events;
mod openapi_params;
mod openapi_rules;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::{App, AppConfig, AppError, StartupError};
use crate::background::BackgroundTasks;
use crate::crypto::SigningKey;
use crate::ledger::SledStore;
use error::ApiError;
use handlers::{
    audit, authentications, checkpoints, directory, events, listing, misc, oauth, people, services,
    sign_in_links, tokens, webhooks,
};
use idempotency::IdempotencyStore;
use metrics::Metrics;

/// Everything handlers share.
pub struct HttpState {
    /// The ledger.
    pub app: Arc<App>,
    /// Idempotency keys in flight (the records live in the ledger).
    pub idempotency: IdempotencyStore,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// OAuth2 flows and token refresh.
    pub oauth: Arc<crate::oauth::OAuth>,
    /// The checkpoint signing key, when the server signs checkpoints.
    pub signer: Arc<SigningKey>,
    /// The dashboard's open sessions.
    pub dashboard: crate::dashboard::Sessions,
}

/// The shared state as handlers receive it.
pub type SharedState = Arc<HttpState>;

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted request body.
    pub body_bytes: usize,
    /// Longest a request may take before a 408.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// File name of the checkpoint signing key, beside the master key file by default.
pub const DEFAULT_SIGNING_KEY: &str = "credledger-signing.key";

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the state over an open ledger, with its checkpoint signing key.
pub fn state(
    app: Arc<App>,
    oauth: crate::oauth::OAuthSettings,
    signer: Arc<SigningKey>,
) -> Result<SharedState, AppError> {
    let oauth = Arc::new(crate::oauth::OAuth::new(app.clone(), oauth));
    let idempotency = IdempotencyStore::open(app.store().db())?;
    let metrics = Metrics::new().map_err(|e| AppError::Startup(StartupError::Metrics(e)))?;
    Ok(Arc::new(HttpState {
        app,
        idempotency,
        metrics,
        oauth,
        signer,
        dashboard: crate::dashboard::Sessions::default(),
    }))
}

async fn not_found() -> ApiError {
    ApiError::about(
        StatusCode::NOT_FOUND,
        "not-found",
        "path",
        "no such endpoint",
    )
}

/// The whole API.
pub fn router(state: SharedState, limits: Limits) -> Router {
    let writes = Router::new()
        .route("/v1/authentications", post(authentications::create))
        .route(
            "/v1/authentications/{id}",
            axum::routing::patch(authentications::patch).delete(authentications::delete),
        )
        .route(
            "/v1/authentications/{id}/reauthenticate",
            post(authentications::reauthenticate),
        )
        .route(
            "/v1/authentications/{id}/restore",
            post(authentications::restore),
        )
        .route(
            "/v1/authentications/{id}/purge",
            post(authentications::purge),
        )
        .route("/v1/services", post(services::create_service))
        .route(
            "/v1/services/{id}",
            axum::routing::patch(services::change_service),
        )
        .route("/v1/services/{id}/retire", post(services::retire_service))
        .route(
            "/v1/services/{id}/oauth-client",
            axum::routing::put(services::register_oauth_client),
        )
        .route("/v1/organizations", post(directory::create_organization))
        .route("/v1/workspaces", post(directory::create_workspace))
        .route("/v1/users", post(directory::create_user))
        .route(
            "/v1/memberships",
            post(directory::create_membership).delete(people::remove_membership),
        )
        // Directory lifecycle (issue 16): renames, offboarding.
        .route(
            "/v1/organizations/{id}",
            axum::routing::patch(people::rename_organization),
        )
        .route(
            "/v1/workspaces/{id}",
            axum::routing::patch(people::rename_workspace),
        )
        .route("/v1/users/{id}/deactivate", post(people::deactivate_user))
        .route("/v1/users/{id}/reactivate", post(people::reactivate_user))
        .route(
            "/v1/users/{id}/personal-authentications/{authentication}/transfer",
            post(people::transfer_personal_authentication),
        )
        .route("/v1/tokens", post(tokens::create_token))
        .route("/v1/webhooks", post(webhooks::create_webhook))
        .route(
            "/v1/webhooks/{id}",
            axum::routing::delete(webhooks::delete_webhook),
        )
        .route("/v1/webhooks/{id}/enable", post(webhooks::enable_webhook))
        .route(
            "/v1/sign-in-links",
            post(sign_in_links::create_sign_in_link),
        )
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(tokens::revoke_token),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::guard,
        ));
    let reads = Router::new()
        .route("/v1/authentications", get(listing::list))
        .route("/v1/authentications/{id}", get(authentications::get))
        .route(
            "/v1/authentications/{id}/history",
            get(authentications::history),
        )
        .route("/v1/resolve", post(misc::resolve))
        .route("/v1/audit", get(audit::audit))
        .route(
            "/v1/workspaces/{id}/authentications",
            get(audit::workspace_as_of),
        )
        .route("/v1/authentications/{id}/usable-by", get(audit::usable_by))
        .route("/v1/oauth/authorize", post(oauth::authorize))
        .route("/v1/oauth/callback", get(oauth::callback))
        .route("/v1/services", get(services::list_services))
        .route("/v1/services/{id}", get(services::get_service))
        .route("/v1/organizations", get(directory::list_organizations))
        .route("/v1/workspaces", get(directory::list_workspaces))
        .route("/v1/users", get(directory::list_users))
        .route(
            "/v1/users/{id}/personal-authentications",
            get(people::personal_authentications),
        )
        .route("/v1/memberships", get(directory::list_memberships))
        .route("/v1/tokens", get(tokens::list_tokens))
        .route("/v1/checkpoints", post(checkpoints::create))
        .route("/v1/checkpoints/latest", get(checkpoints::latest))
        .route("/v1/events", get(events::stream))
        .route("/v1/webhooks", get(webhooks::list_webhooks))
        .route("/v1/webhooks/{id}", get(webhooks::get_webhook))
        .route(
            "/v1/webhooks/{id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route("/healthz", get(misc::healthz))
        .route("/readyz", get(misc::readyz))
        .route("/metrics", get(misc::metrics))
        .route("/openapi.json", get(openapi::serve));
    writes
        .merge(reads)
        .merge(crate::dashboard::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(RequestBodyLimitLayer::new(limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %loggable_path(request.uri().path()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_response(error::problems_only))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
        .with_state(state)
}

/// A request path as the log may show it: a sign-in link's secret is cut off.
fn loggable_path(path: &str) -> &str {
    let link = sign_in_links::SIGN_IN_LINK_PATH;
    match path.get(..link.len()) {
        Some(start) if start.eq_ignore_ascii_case(link) => link,
        _ => path,
    }
}

/// How `credledger serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory and key file.
    pub app: AppConfig,
    /// HTTP limits.
    pub limits: Limits,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_deadline: Duration,
    /// OAuth2 client registrations, callback URL, return allow-list, refresh timing.
    pub oauth: crate::oauth::OAuthSettings,
    /// The Ed25519 checkpoint signing key file (created if missing; outside the data directory).
    pub signing_key: PathBuf,
    /// How often a checkpoint of the head is signed when it moved ([`Duration::ZERO`]: never).
    pub checkpoint_every: Duration,
}

impl ServeConfig {
    /// Defaults: 127.0.0.1:8080, `./credledger-data`, `./credledger.key`, the signing key
    /// `credledger-signing.key` beside the key file, a checkpoint every 10 minutes.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, key_file: PathBuf) -> ServeConfig {
        ServeConfig {
            signing_key: key_file.with_file_name(DEFAULT_SIGNING_KEY),
            checkpoint_every: Duration::from_secs(600),
            listen,
            app: AppConfig::new(data_dir, key_file),
            limits: Limits::default(),
            shutdown_deadline: Duration::from_secs(10),
            oauth: crate::oauth::OAuthSettings::new(format!("http://{listen}/v1/oauth/callback")),
        }
    }
}

/// A running server: its address, and a way to stop it.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The bootstrap output of a first start.
    pub bootstrap: Option<crate::app::Bootstrap>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    background: BackgroundTasks,
    app: Arc<App>,
    state: SharedState,
    deadline: Duration,
    data_dir: PathBuf,
}

impl RunningServer {
    /// The OAuth2 side (e.g. to run a refresh pass now).
    pub fn oauth(&self) -> &Arc<crate::oauth::OAuth> {
        &self.state.oauth
    }

    /// Runs one sweep of certificate notices now, beside the periodic one (tests, and an
    /// operator's tool); answers how many notices were appended.
    pub async fn sweep_certificate_notices(&self) -> usize {
        self.app.sweep_certificate_notices().await
    }

    /// Stops accepting, lets in-flight requests finish within the deadline, flushes and
    /// closes the ledger, then has sled write its recovery snapshot (see
    /// [`SledStore::write_recovery_snapshot`]) so the next start replays nothing of this run.
    pub async fn shutdown(self) -> Result<(), AppError> {
        let _ = self.shutdown.send(());
        self.background.stop().await;
        if tokio::time::timeout(self.deadline, self.task)
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish within the shutdown deadline");
        }
        drop(self.state);
        match Arc::try_unwrap(self.app) {
            Ok(app) => {
                app.close().await?;
                let started = std::time::Instant::now();
                let dir = self.data_dir.clone();
                match tokio::task::spawn_blocking(move || SledStore::write_recovery_snapshot(dir))
                    .await
                {
                    Ok(Ok(())) => tracing::info!(
                        seconds = started.elapsed().as_secs_f64(),
                        "wrote the storage recovery snapshot; the next start replays nothing of this run"
                    ),
                    // The ledger is closed and flushed either way; the next start replays more.
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not write the storage recovery snapshot"),
                    Err(e) => tracing::warn!(error = %e, "could not write the storage recovery snapshot"),
                }
                Ok(())
            }
            Err(app) => {
                // A request still holds the app; flush what is durable and leave.
                app.store().close().await?;
                Ok(())
            }
        }
    }
}

/// Opens the ledger, bootstraps an empty one, binds and serves until [`RunningServer::shutdown`].
pub async fn start(config: ServeConfig) -> Result<RunningServer, AppError> {
    let app = Arc::new(App::open(&config.app).await?);
    let bootstrap = app.bootstrap_if_empty().await?;
    let (signer, created) = SigningKey::load_or_create(&config.signing_key, &config.app.data_dir)
        .map_err(|e| AppError::Startup(StartupError::SigningKey(e)))?;
    if created {
        tracing::warn!(path = %config.signing_key.display(),
            key = %crate::ledger::checkpoint::key_fingerprint(&signer.public_key()),
            "generated a new checkpoint signing key; keep it (and its public key) safe");
    }
    let signer = Arc::new(signer);
    let shared = state(app.clone(), config.oauth.clone(), signer.clone())?;
    let short_lived = shared.oauth.grants_with_lifetime_within_margin().await;
    if short_lived > 0 {
        tracing::warn!(
            grants = short_lived,
            refresh_margin_seconds = config.oauth.refresh_margin.as_secs(),
            "the refresh margin is at least the token lifetime of some grants; they are refreshed at half their lifetime instead"
        );
    }
    let background = BackgroundTasks::start(
        app.clone(),
        shared.oauth.clone(),
        signer,
        config.checkpoint_every,
    );
    let router = router(shared.clone(), config.limits);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| {
            AppError::Startup(StartupError::Bind {
                addr: config.listen,
                source,
            })
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Startup(StartupError::LocalAddr(e)))?;
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = signal.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    Ok(RunningServer {
        addr,
        bootstrap,
        shutdown,
        task,
        background,
        app,
        state: shared,
        deadline: config.shutdown_deadline,
        data_dir: config.app.data_dir.clone(),
    })
}
