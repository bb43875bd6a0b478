//! The subcommands, one file per family; `main.rs` parses and dispatches.

pub(crate) mod backup;
pub(crate) mod keys;
pub(crate) mod read_models;
pub(crate) mod serve;

use std::path::PathBuf;

use clap::Args;

#[derive(Args)]
pub(crate) struct DataDir {
    /// The data directory (created if missing).
    #[arg(long, env = "CREDLEDGER_DATA_DIR", default_value = "credledger-data")]
    pub(crate) data_dir: PathBuf,
}
