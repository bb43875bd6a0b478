//! The `credledger` command line: a thin layer over the library.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::backup::{
    checkpoint_create, checkpoint_export, export, import, recover, verify, CheckpointCommand,
    ExportArgs, ImportArgs, RecoverArgs, VerifyArgs,
};
use cli::keys::{keys_rotate, KeysAction};
use cli::read_models::{rebuild_read_models, RebuildArgs};
use cli::serve::{serve, ServeArgs};

// sled clones a whole leaf on every write: many short-lived allocations, which mimalloc serves
// faster than glibc's malloc (a quarter more requests in the soak, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Drop the read models and rebuild them from the log (run with the server stopped).
    RebuildReadModels(RebuildArgs),
    /// Manage the master key (run with the server stopped).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::RebuildReadModels(args) => rebuild_read_models(args).await,
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
