//! The `credledger` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use std::time::{Duration, Instant};

use credledger::app::backup as data_backup;
use credledger::http::{Limits, ServeConfig};
use credledger::ledger::backup::{self, BackupError};
use credledger::ledger::checkpoint::{self, key_fingerprint, Checkpoint, CheckpointSigner};
use credledger::ledger::{CheckpointStore, RecordedAt, SledStore};
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
    /// Walk the whole log and check positions, envelopes, the hash chain and signed checkpoints.
    Verify(VerifyArgs),
    /// Write a data directory (log, data keys, checkpoints) to a portable export file.
    Export(ExportArgs),
    /// Create a new data directory from an export file, verifying the chain on the way.
    Import(ImportArgs),
    /// Copy the log as it was at a time into a new data directory.
    Recover(RecoverArgs),
    /// Signed checkpoints of the log's head.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Manage the master key (run with the server stopped).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    data: DataDir,
    /// An exported checkpoint (JSON) the log must still contain (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<PathBuf>,
    /// Trust only checkpoints signed by this key file's key.
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    signing_key: Option<PathBuf>,
    /// Trust only checkpoints signed by this Ed25519 public key (64 hex digits).
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    data: DataDir,
    /// The export file to create (`-` for standard output); an existing file is not overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Args)]
struct ImportArgs {
    /// The export file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The new data directory (must be missing or empty).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(Args)]
struct RecoverArgs {
    #[command(flatten)]
    data: DataDir,
    /// Keep the events recorded at or before this time (RFC 3339, e.g. 2025-01-31T09:30:00Z).
    #[arg(long, value_name = "TIME")]
    as_of: String,
    /// The new data directory (must be missing or empty).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
}

#[derive(Subcommand)]
enum CheckpointCommand {
    /// Sign the current head and store the checkpoint in the data directory.
    Create(CheckpointCreateArgs),
    /// Write the latest stored checkpoint as a JSON document.
    Export(CheckpointExportArgs),
}

#[derive(Args)]
struct CheckpointCreateArgs {
    #[command(flatten)]
    data: DataDir,
    /// The Ed25519 signing key (PKCS#8); created (mode 0600) if missing; must live outside the
    /// data directory.
    #[arg(
        long,
        env = "CREDLEDGER_SIGNING_KEY",
        default_value = "credledger-signing.key"
    )]
    signing_key: PathBuf,
}

#[derive(Args)]
struct CheckpointExportArgs {
    #[command(flatten)]
    data: DataDir,
    /// The JSON file to write (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
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
    /// Ed25519 key signing checkpoints; default `credledger-signing.key` beside the key file.
    /// Created (mode 0600) if missing; must live outside the data directory.
    #[arg(long, env = "CREDLEDGER_SIGNING_KEY")]
    signing_key: Option<PathBuf>,
    /// Sign a checkpoint of the head every this many seconds when it moved (0: never).
    #[arg(long, env = "CREDLEDGER_CHECKPOINT_EVERY", default_value_t = 600)]
    checkpoint_every: u64,
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
        Command::Verify(args) => verify(args),
        Command::Keys {
            action: KeysAction::Rotate(args),
        } => keys_rotate(args).await,
        Command::Export(args) => export(args).await,
        Command::Import(args) => import(args),
        Command::Recover(args) => recover(args),
        Command::Checkpoint(CheckpointCommand::Create(args)) => checkpoint_create(args).await,
        Command::Checkpoint(CheckpointCommand::Export(args)) => checkpoint_export(args),
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
    if let Some(path) = &args.signing_key {
        config.signing_key = path.clone();
    }
    config.checkpoint_every = Duration::from_secs(args.checkpoint_every);
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

/// Progress on stderr (every 100 000 events), with the rate so far.
fn progress_printer(verb: &'static str, started: Instant) -> impl FnMut(u64) {
    move |events| {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "  ... {verb} {events} events ({:.0} events/s)",
            events as f64 / secs
        );
    }
}

/// "in 1.23 s (456789 events/s)".
fn timing(events: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    format!(
        "in {secs:.2} s ({:.0} events/s)",
        events as f64 / secs.max(1e-9)
    )
}

fn parse_time(text: &str) -> Result<RecordedAt, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| RecordedAt(t.timestamp_micros()))
        .map_err(|e| {
            format!("--as-of: {text:?} is not an RFC 3339 time (e.g. 2025-01-31T09:30:00Z): {e}")
        })
}

/// Opens an existing data directory's log, naming a lock held by a running server.
fn open_log(dir: &std::path::Path) -> Result<SledStore, String> {
    let db = backup::open_existing(dir).map_err(|e| e.to_string())?;
    SledStore::with_db(db).map_err(|e| format!("opening the log in {}: {e}", dir.display()))
}

fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    let dir = &args.data.data_dir;
    if !dir.exists() {
        return Err(format!("no data directory at {}", dir.display()));
    }
    let trusted = match (&args.public_key, &args.signing_key) {
        (Some(hex_key), _) => Some(
            hex::decode(hex_key.trim())
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    format!(
                        "--public-key: {hex_key:?} is not an Ed25519 public key (64 hex digits)"
                    )
                })?,
        ),
        (None, Some(path)) => Some(
            CheckpointSigner::load(path)
                .map_err(|e| e.to_string())?
                .public_key(),
        ),
        (None, None) => None,
    };
    let mut given = Vec::new();
    for path in &args.checkpoints {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--checkpoint {}: {e}", path.display()))?;
        let checkpoint = Checkpoint::from_json(&text)
            .map_err(|e| format!("--checkpoint {}: {e}", path.display()))?;
        given.push((format!("from {}", path.display()), checkpoint));
    }
    let report =
        credledger::ledger::sled_store::verify_with_checkpoints(dir, &given, trusted.as_deref())
            .map_err(|e| {
                if backup::is_lock_error(&e) {
                    BackupError::Locked(dir.clone()).to_string()
                } else {
                    format!("reading the log in {}: {e}", dir.display())
                }
            })?;
    match &report.chain {
        Ok(summary) => println!(
            "OK: {} events verified, head hash {}",
            summary.events, summary.head_hash
        ),
        Err(broken) => println!("FAILED: {broken}"),
    }
    for problem in &report.problems {
        println!("FAILED: {problem}");
    }
    if report.checkpoints_checked == 0 {
        println!("checkpoints: none stored or given");
    } else if report.problems.is_empty() && report.chain.is_ok() {
        let signers: Vec<&str> = report.signers.iter().map(String::as_str).collect();
        println!(
            "OK: {} checkpoints verified (latest at position {}), signed by {}{}",
            report.checkpoints_checked,
            report.latest_good_checkpoint.unwrap_or(0),
            signers.join(", "),
            if trusted.is_some() {
                " (the trusted key)"
            } else {
                " (key not pinned: pass --public-key or --signing-key to require it)"
            }
        );
    }
    if let Some(key) = &trusted {
        println!("trusted key: {}", key_fingerprint(key));
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn export(args: ExportArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    let dir = &args.data.data_dir;
    let to_stdout = args.out.as_os_str() == "-";
    let mut progress = progress_printer("exported", started);
    let summary = if to_stdout {
        let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        data_backup::export_data_dir(dir, out, &mut progress).await
    } else {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&args.out)
            .map_err(|e| {
                format!(
                    "--out {}: {e} (an existing file is never overwritten)",
                    args.out.display()
                )
            })?;
        let written = {
            let out = std::io::BufWriter::with_capacity(1 << 20, &file);
            data_backup::export_data_dir(dir, out, &mut progress).await
        };
        let written = written.and_then(|s| {
            file.sync_all().map_err(BackupError::Write)?;
            Ok(s)
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&args.out);
        }
        written
    }
    .map_err(|e| e.to_string())?;
    let line = format!(
        "exported {} events (head hash {} at position {}), {} data-key entries, {} checkpoints from {} to {} {}",
        summary.events,
        summary.head.hash,
        summary.head.position,
        summary.aux_entries,
        summary.checkpoints,
        dir.display(),
        args.out.display(),
        timing(summary.events, started)
    );
    if to_stdout {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    let mut progress = progress_printer("imported", started);
    let summary = if args.from.as_os_str() == "-" {
        let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
        data_backup::import_data_dir(input, &args.data_dir, &mut progress)
    } else {
        let file = std::fs::File::open(&args.from)
            .map_err(|e| format!("--from {}: {e}", args.from.display()))?;
        let input = std::io::BufReader::with_capacity(1 << 20, file);
        data_backup::import_data_dir(input, &args.data_dir, &mut progress)
    }
    .map_err(|e| format!("importing {}: {e}", args.from.display()))?;
    println!(
        "imported {} events (head hash {} at position {}), {} data-key entries, {} checkpoints into {} {}",
        summary.events,
        summary.head.hash,
        summary.head.position,
        summary.aux_entries,
        summary.checkpoints,
        args.data_dir.display(),
        timing(summary.events, started)
    );
    let fingerprint = summary
        .header
        .as_ref()
        .and_then(|h| h.metadata.get(data_backup::FINGERPRINT_METADATA));
    match fingerprint {
        Some(fp) => println!("master key: {fp} (open it with the same key file)"),
        None => println!("warning: the export names no master key fingerprint"),
    }
    Ok(ExitCode::SUCCESS)
}

fn recover(args: RecoverArgs) -> Result<ExitCode, String> {
    let as_of = parse_time(&args.as_of)?;
    let started = Instant::now();
    let mut progress = progress_printer("copied", started);
    let summary =
        data_backup::recover_data_dir(&args.data.data_dir, as_of, &args.to, &mut progress)
            .map_err(|e| format!("recovering {}: {e}", args.data.data_dir.display()))?;
    println!(
        "recovered {} events recorded at or before {} (head hash {} at position {}), {} data-key entries, {} checkpoints from {} into {} {}",
        summary.events,
        checkpoint::rfc3339(as_of),
        summary.head.hash,
        summary.head.position,
        summary.aux_entries,
        summary.checkpoints,
        args.data.data_dir.display(),
        args.to.display(),
        timing(summary.events, started)
    );
    if summary.events == 0 {
        println!("warning: no event was recorded at or before that time: the new log is empty");
    }
    Ok(ExitCode::SUCCESS)
}

async fn checkpoint_create(args: CheckpointCreateArgs) -> Result<ExitCode, String> {
    let dir = &args.data.data_dir;
    let (signer, created) =
        CheckpointSigner::load_or_create(&args.signing_key, dir).map_err(|e| e.to_string())?;
    let store = open_log(dir)?;
    let made = checkpoint::create_checkpoint(&store, &signer).await;
    store.close().await.map_err(|e| e.to_string())?;
    let made = made.map_err(|e| e.to_string())?;
    if created {
        println!(
            "created signing key {} ({})",
            args.signing_key.display(),
            signer.key_fingerprint()
        );
    }
    println!(
        "checkpoint signed: position {}, head hash {}, key {}, at {}",
        made.position,
        made.head_hash,
        made.key_fingerprint(),
        checkpoint::rfc3339(made.signed_at)
    );
    Ok(ExitCode::SUCCESS)
}

fn checkpoint_export(args: CheckpointExportArgs) -> Result<ExitCode, String> {
    let dir = &args.data.data_dir;
    let db = backup::open_existing(dir).map_err(|e| e.to_string())?;
    let latest = CheckpointStore::open(&db)
        .and_then(|s| s.latest())
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no checkpoint is stored in {}; sign one with `credledger checkpoint create`",
                dir.display()
            )
        })?;
    let json = serde_json::to_string_pretty(&latest.to_document())
        .map_err(|e| format!("encoding the checkpoint: {e}"))?;
    if args.out.as_os_str() == "-" {
        println!("{json}");
    } else {
        std::fs::write(&args.out, format!("{json}\n"))
            .map_err(|e| format!("--out {}: {e}", args.out.display()))?;
        println!(
            "checkpoint at position {} (head hash {}) written to {}",
            latest.position,
            latest.head_hash,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
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
