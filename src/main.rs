//! The `credledger` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use std::time::Duration;

use credledger::http::{Limits, ServeConfig};
use credledger::ledger::SledStore;
use credledger::oauth::endpoint::EndpointPolicy;
use credledger::oauth::OAuthSettings;

/// An event-sourced ledger of the credentials an integration platform keeps.
#[derive(Parser)]
#[command(name = "credledger", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service on the embedded (sled) store.
    Serve(ServeArgs),
    /// Walk the whole log and check positions, envelopes and the hash chain.
    Verify(DataDir),
    /// Manage the master key (run with the server stopped).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Generate a new master key, re-wrap every data key under it, record `keys.rotated`, and
    /// keep the old key as `<key-file>.retired-<key id>`. Re-running it finishes an interrupted
    /// rotation.
    Rotate(KeysRotateArgs),
}

#[derive(Args)]
struct KeysRotateArgs {
    #[command(flatten)]
    data: DataDir,
    /// The current master key file; it receives the new key.
    #[arg(long, env = "CREDLEDGER_KEY_FILE", default_value = "credledger.key")]
    key_file: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// The master key file; must live outside the data directory. Generated (mode 0600) on
    /// first start if missing.
    #[arg(long, env = "CREDLEDGER_KEY_FILE", default_value = "credledger.key")]
    key_file: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "CREDLEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "CREDLEDGER_BODY_LIMIT", default_value_t = 65536)]
    body_limit: usize,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "CREDLEDGER_REQUEST_TIMEOUT", default_value_t = 15)]
    request_timeout: u64,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[arg(long, env = "CREDLEDGER_SHUTDOWN_DEADLINE", default_value_t = 10)]
    shutdown_deadline: u64,
    /// This server's public base URL (the OAuth2 callback is <url>/v1/oauth/callback);
    /// default http://<listen>.
    #[arg(long, env = "CREDLEDGER_PUBLIC_URL")]
    public_url: Option<String>,
    /// JSON file of OAuth2 client registrations: {"slack": {"client_id": …, "client_secret": …}}.
    #[arg(long, env = "CREDLEDGER_OAUTH_CLIENTS")]
    oauth_clients: Option<PathBuf>,
    /// URL prefix the OAuth2 callback may send the browser back to (repeatable).
    #[arg(long = "oauth-return-allow")]
    oauth_return_allow: Vec<String>,
    /// Development only: allow http and private/loopback OAuth2 token endpoints.
    #[arg(long, env = "CREDLEDGER_OAUTH_ALLOW_INSECURE_ENDPOINTS")]
    oauth_allow_insecure_endpoints: bool,
    /// Refresh OAuth2 access tokens this many seconds before they expire.
    #[arg(long, env = "CREDLEDGER_REFRESH_MARGIN", default_value_t = 300)]
    refresh_margin: u64,
    /// JSON file of extra prebuilt services (key -> service spec) added to the catalog.
    #[arg(long, env = "CREDLEDGER_EXTRA_SERVICES")]
    extra_services: Option<PathBuf>,
}

#[derive(Args)]
struct DataDir {
    /// The data directory (created if missing).
    #[arg(long, env = "CREDLEDGER_DATA_DIR", default_value = "credledger-data")]
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Verify(dir) => verify(dir),
        Command::Keys {
            action: KeysAction::Rotate(args),
        } => keys_rotate(args).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let mut config = ServeConfig::new(args.listen, args.data.data_dir, args.key_file);
    config.limits = Limits {
        body_bytes: args.body_limit,
        request_timeout: Duration::from_secs(args.request_timeout),
    };
    config.shutdown_deadline = Duration::from_secs(args.shutdown_deadline);
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
        config.app.extra_services_allow_http = true;
    }
    oauth.refresh_margin = Duration::from_secs(args.refresh_margin);
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
    shutdown_signal().await;
    println!(
        "credledger: shutting down (deadline {} s) ...",
        args.shutdown_deadline
    );
    server
        .shutdown()
        .await
        .map_err(|e| format!("shutting down: {e}"))?;
    println!("credledger: read model snapshotted, ledger flushed and closed.");
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: DataDir) -> Result<ExitCode, String> {
    if !dir.data_dir.exists() {
        return Err(format!("no data directory at {}", dir.data_dir.display()));
    }
    let walked = SledStore::verify_path(&dir.data_dir)
        .map_err(|e| format!("reading the log in {}: {e}", dir.data_dir.display()))?;
    match walked {
        Ok(summary) => {
            println!(
                "OK: {} events verified, head hash {}",
                summary.events, summary.head_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("FAILED: {broken}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn keys_rotate(args: KeysRotateArgs) -> Result<ExitCode, String> {
    let config = credledger::app::AppConfig::new(args.data.data_dir, args.key_file);
    if !config.data_dir.exists() {
        return Err(format!(
            "no data directory at {}",
            config.data_dir.display()
        ));
    }
    let report = credledger::app::rotate_master_key(&config)
        .await
        .map_err(|e| format!("key rotation: {e}"))?;
    print!("{report}");
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
