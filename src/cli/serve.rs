//! `serve`: the HTTP service on the embedded store, until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use credledger::app::VerificationMode;
use credledger::http::{Limits, ServeConfig};
use credledger::oauth::endpoint::EndpointPolicy;
use credledger::oauth::OAuthSettings;

use super::DataDir;

/// A refresh margin from which `serve` warns: many providers' tokens live an hour.
const LONG_REFRESH_MARGIN: Duration = Duration::from_secs(1800);

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// The master key file; must live outside the data directory. Generated (mode 0600) on
    /// first start if missing.
    #[arg(long, env = "CREDLEDGER_KEY_FILE", default_value = "credledger.key")]
    pub(crate) key_file: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "CREDLEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "CREDLEDGER_BODY_LIMIT", default_value_t = 65536)]
    pub(crate) body_limit: usize,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "CREDLEDGER_REQUEST_TIMEOUT", default_value_t = 15)]
    pub(crate) request_timeout: u64,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[arg(long, env = "CREDLEDGER_SHUTDOWN_DEADLINE", default_value_t = 10)]
    pub(crate) shutdown_deadline: u64,
    /// This server's public base URL (the OAuth2 callback is <url>/v1/oauth/callback);
    /// default http://<listen>.
    #[arg(long, env = "CREDLEDGER_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// JSON file of OAuth2 client registrations: {"slack": {"client_id": …, "client_secret": …}}.
    #[arg(long, env = "CREDLEDGER_OAUTH_CLIENTS")]
    pub(crate) oauth_clients: Option<PathBuf>,
    /// URL prefix the OAuth2 callback may send the browser back to (repeatable).
    #[arg(long = "oauth-return-allow")]
    pub(crate) oauth_return_allow: Vec<String>,
    /// Development only: allow http and private/loopback OAuth2 token endpoints and
    /// verification endpoints.
    #[arg(long, env = "CREDLEDGER_OAUTH_ALLOW_INSECURE_ENDPOINTS")]
    pub(crate) oauth_allow_insecure_endpoints: bool,
    /// Refresh OAuth2 access tokens this many seconds before they expire.
    #[arg(long, env = "CREDLEDGER_REFRESH_MARGIN", default_value_t = 300)]
    pub(crate) refresh_margin: u64,
    /// JSON file of extra prebuilt services (key -> service spec) added to the catalog.
    #[arg(long, env = "CREDLEDGER_EXTRA_SERVICES")]
    pub(crate) extra_services: Option<PathBuf>,
    /// Ed25519 key signing checkpoints; default `credledger-signing.key` beside the key file.
    /// Created (mode 0600) if missing; must live outside the data directory.
    #[arg(long, env = "CREDLEDGER_SIGNING_KEY")]
    pub(crate) signing_key: Option<PathBuf>,
    /// Sign a checkpoint of the head every this many seconds when it moved (0: never).
    #[arg(long, env = "CREDLEDGER_CHECKPOINT_EVERY", default_value_t = 600)]
    pub(crate) checkpoint_every: u64,
    /// Check new credential material at the service's verification endpoint before a create
    /// or re-authentication is saved (`required`), or call nothing and record
    /// `not_verifiable` (`off`: for deployments that cannot reach the services).
    #[arg(
        long,
        env = "CREDLEDGER_CREDENTIAL_VERIFICATION",
        value_enum,
        default_value_t = Verification::Required
    )]
    pub(crate) credential_verification: Verification,
    /// Seconds between sweeps that append the certificate notices due (30/7/1 days before a
    /// client certificate's `not_after`, and expired); the first runs at start (0: never).
    #[arg(long, env = "CREDLEDGER_NOTICES_SWEEP_EVERY", default_value_t = 3600)]
    pub(crate) notices_sweep_every: u64,
    /// Development only: webhook receivers may be http and local or private addresses (a
    /// receiver on this machine). Never set it in production.
    #[arg(long, env = "CREDLEDGER_WEBHOOKS_ALLOW_INSECURE_RECEIVERS")]
    pub(crate) webhooks_allow_insecure_receivers: bool,
    /// Milliseconds before a failed webhook delivery is first retried; each further wait
    /// doubles, up to `--webhook-max-retry-interval`.
    #[arg(long, env = "CREDLEDGER_WEBHOOK_FIRST_RETRY_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) webhook_first_retry_ms: u64,
    /// Longest wait between two attempts at a webhook delivery, in seconds.
    #[arg(long, env = "CREDLEDGER_WEBHOOK_MAX_RETRY_INTERVAL", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) webhook_max_retry_interval: u64,
    /// How long an event is retried before its subscription is disabled, in seconds
    /// (default 24 h).
    #[arg(long, env = "CREDLEDGER_WEBHOOK_RETRY_FOR", default_value_t = 86400, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) webhook_retry_for: u64,
}

/// `--credential-verification`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Verification {
    /// Call the service's verification endpoint; a refused check refuses the change.
    Required,
    /// Call nothing; record `not_verifiable` ("turned off by the operator").
    Off,
}

pub(crate) async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let mut config = ServeConfig::new(args.listen, args.data.data_dir, args.key_file);
    config.limits = Limits {
        body_bytes: args.body_limit,
        request_timeout: Duration::from_secs(args.request_timeout),
    };
    config.shutdown_deadline = Duration::from_secs(args.shutdown_deadline);
    if let Some(path) = &args.signing_key {
        config.signing_key = path.clone();
    }
    config.checkpoint_every = Duration::from_secs(args.checkpoint_every);
    config.app.verification.mode = match args.credential_verification {
        Verification::Required => VerificationMode::Required,
        Verification::Off => {
            tracing::warn!(
                "credential verification is off: new settings are saved without being checked at the service"
            );
            VerificationMode::Off
        }
    };
    let public = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let mut oauth = OAuthSettings::new(format!(
        "{}/v1/oauth/callback",
        public.trim_end_matches('/')
    ));
    if let Some(path) = &args.oauth_clients {
        let json = std::fs::read_to_string(path)
            .map_err(|e| format!("oauth clients file {}: {e}", path.display()))?;
        oauth = oauth.with_clients_json(&json).map_err(|e| e.to_string())?;
    }
    oauth.return_allow_list = args.oauth_return_allow.clone();
    if args.oauth_allow_insecure_endpoints {
        tracing::warn!(
            "OAuth2 token endpoints may be http or private addresses (development flag)"
        );
        oauth.policy = EndpointPolicy::insecure_for_development();
        // Verification calls go through the same outbound policy as token calls.
        config.app.verification.policy = EndpointPolicy::insecure_for_development();
        config.app.extra_services_allow_http = true;
    }
    config.app.notices_sweep_every = Duration::from_secs(args.notices_sweep_every);
    if args.webhooks_allow_insecure_receivers {
        tracing::warn!("webhook receivers may be http or private addresses (development flag)");
        config.app.webhooks.policy = EndpointPolicy::insecure_for_development();
    }
    config.app.webhooks.first_retry = Duration::from_millis(args.webhook_first_retry_ms);
    config.app.webhooks.max_retry_interval = Duration::from_secs(args.webhook_max_retry_interval);
    config.app.webhooks.retry_for = Duration::from_secs(args.webhook_retry_for);
    if args.webhook_retry_for < 24 * 3600 {
        tracing::warn!(
            retry_for_seconds = args.webhook_retry_for,
            "webhook deliveries are retried for less than 24 hours"
        );
    }
    oauth.refresh_margin = Duration::from_secs(args.refresh_margin);
    if oauth.refresh_margin >= LONG_REFRESH_MARGIN {
        tracing::warn!(
            refresh_margin_seconds = args.refresh_margin,
            "the refresh margin is as long as many providers' token lifetimes (often an hour); each grant is refreshed at most half its lifetime early"
        );
    }
    config.oauth = oauth;
    if let Some(path) = &args.extra_services {
        config.app.extra_services = Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("extra services file {}: {e}", path.display()))?,
        );
    }
    let server = credledger::http::start(config.clone())
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    if let Some(boot) = &server.bootstrap {
        println!("credledger: new ledger bootstrapped.");
        println!("  organization  {}", boot.organization);
        println!("  org workspace {}", boot.organization_workspace);
        println!("  admin user    {}", boot.admin);
        println!(
            "  admin token   {}   <- shown once; stored only as a hash",
            boot.admin_token.token.expose()
        );
    }
    println!(
        "credledger: serving http://{} (data {}, key file {}). Ctrl-C to stop.",
        server.addr,
        config.app.data_dir.display(),
        config.app.key_file.display()
    );
    println!(
        "credledger: dashboard at http://{}/ui (sign in with an API token)",
        server.addr
    );
    shutdown_signal().await;
    println!(
        "credledger: shutting down (deadline {} s) ...",
        args.shutdown_deadline
    );
    server
        .shutdown()
        .await
        .map_err(|e| format!("shutting down: {e}"))?;
    println!("credledger: ledger flushed and closed.");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
