//! `keys rotate`: a new master key, data keys re-wrapped, the rotation recorded.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::DataDir;

#[derive(Subcommand)]
pub(crate) enum KeysAction {
    /// Generate a new master key, re-wrap every data key under it, record `keys.rotated`, and
    /// keep the old key as `<key-file>.retired-<key id>`. Re-running it finishes an interrupted
    /// rotation.
    Rotate(KeysRotateArgs),
}

#[derive(Args)]
pub(crate) struct KeysRotateArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// The current master key file; it receives the new key.
    #[arg(long, env = "CREDLEDGER_KEY_FILE", default_value = "credledger.key")]
    pub(crate) key_file: PathBuf,
}

pub(crate) async fn keys_rotate(args: KeysRotateArgs) -> Result<ExitCode, String> {
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
