//! The `credledger` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use credledger::app::{App, AppConfig};
use credledger::ledger::{EventStore, SledStore};

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
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// The master key file; must live outside the data directory. Generated (mode 0600) on
    /// first start if missing.
    #[arg(long, env = "CREDLEDGER_KEY_FILE", default_value = "credledger.key")]
    key_file: PathBuf,
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
    let config = AppConfig::new(&args.data.data_dir, &args.key_file);
    let app = App::open(&config).await.map_err(|e| {
        format!(
            "cannot open the ledger in {}: {e}",
            config.data_dir.display()
        )
    })?;
    let head = app.store().head();
    println!(
        "credledger: ledger open in {} with key file {} ({} events, head {}, read model at position {}).",
        config.data_dir.display(),
        config.key_file.display(),
        head.position,
        head.hash,
        app.model().applied()
    );
    println!(
        "The HTTP API is not part of this build yet; the ledger and its read models are running. Ctrl-C to stop."
    );
    shutdown_signal().await;
    app.close()
        .await
        .map_err(|e| format!("closing the ledger: {e}"))?;
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
