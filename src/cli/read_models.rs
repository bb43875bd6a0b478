//! `rebuild-read-models`: drop the derived read side and fold it again from the log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use credledger::ledger::EventStore;

use super::DataDir;

#[derive(Args)]
pub(crate) struct RebuildArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// The master key file of the data directory.
    #[arg(long, env = "CREDLEDGER_KEY_FILE", default_value = "credledger.key")]
    pub(crate) key_file: PathBuf,
}

pub(crate) async fn rebuild_read_models(args: RebuildArgs) -> Result<ExitCode, String> {
    let data_dir = args.data.data_dir.clone();
    let mut config = credledger::app::AppConfig::new(args.data.data_dir, args.key_file);
    config.create_key_if_missing = false;
    let started = Instant::now();
    let app = credledger::app::App::rebuild_read_models(&config)
        .await
        .map_err(|e| format!("rebuilding the read models: {e}"))?;
    let events = app.store().head().position;
    app.close()
        .await
        .map_err(|e| format!("closing the ledger: {e}"))?;
    // So the next start does not replay the rebuild's writes.
    credledger::ledger::SledStore::write_recovery_snapshot(&data_dir)
        .map_err(|e| format!("writing the storage recovery snapshot: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rebuilt the read models from {events} events in {seconds:.2} s ({:.0} events/s)",
        events as f64 / seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
