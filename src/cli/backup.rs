//! `verify`, `export`, `import`, `recover` and `checkpoint`: the log's tamper evidence and
//! logical backups (run with the server stopped).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};

use credledger::app::backup as data_backup;
use credledger::crypto::SigningKey;
use credledger::ledger::backup::{self, BackupError};
use credledger::ledger::checkpoint::{self, key_fingerprint, Checkpoint};
use credledger::ledger::{CheckpointStore, SledStore};
use credledger::time::Timestamp;

use super::DataDir;

#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// An exported checkpoint (JSON) the log must still contain (repeatable).
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub(crate) checkpoints: Vec<PathBuf>,
    /// Trust only checkpoints signed by this key file's key.
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    pub(crate) signing_key: Option<PathBuf>,
    /// Trust only checkpoints signed by this Ed25519 public key (64 hex digits).
    #[arg(long, value_name = "HEX")]
    pub(crate) public_key: Option<String>,
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// The export file to create (`-` for standard output); an existing file is not overwritten.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The export file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub(crate) from: PathBuf,
    /// The new data directory (must be missing or empty).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: PathBuf,
    /// The master key file: every imported data key must open under it (recommended; without
    /// it a damaged data key is found only when a secret is resolved).
    #[arg(long, env = "CREDLEDGER_KEY_FILE", value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct RecoverArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// Keep the events recorded at or before this time (RFC 3339, e.g. 2025-01-31T09:30:00Z, or
    /// Unix seconds).
    #[arg(long, value_name = "TIME")]
    pub(crate) as_of: String,
    /// The new data directory (must be missing or empty).
    #[arg(long, value_name = "DIR")]
    pub(crate) to: PathBuf,
}

#[derive(Subcommand)]
pub(crate) enum CheckpointCommand {
    /// Sign the current head and store the checkpoint in the data directory.
    Create(CheckpointCreateArgs),
    /// Write the latest stored checkpoint as a JSON document.
    Export(CheckpointExportArgs),
}

#[derive(Args)]
pub(crate) struct CheckpointCreateArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// The Ed25519 signing key (PKCS#8); created (mode 0600) if missing; must live outside the
    /// data directory.
    #[arg(
        long,
        env = "CREDLEDGER_SIGNING_KEY",
        default_value = "credledger-signing.key"
    )]
    pub(crate) signing_key: PathBuf,
}

#[derive(Args)]
pub(crate) struct CheckpointExportArgs {
    #[command(flatten)]
    pub(crate) data: DataDir,
    /// The JSON file to write (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

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

/// The same time syntax as the API's `as_of`: RFC 3339 or Unix seconds.
fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).ok_or_else(|| {
        format!(
            "--as-of: {text:?} is not an RFC 3339 time (e.g. 2025-01-31T09:30:00Z) or Unix seconds"
        )
    })
}

/// Opens an existing data directory's log, naming a lock held by a running server.
fn open_log(dir: &std::path::Path) -> Result<SledStore, String> {
    let db = backup::open_existing(dir).map_err(|e| e.to_string())?;
    SledStore::with_db(db, dir).map_err(|e| format!("opening the log in {}: {e}", dir.display()))
}

pub(crate) fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    let dir = &args.data.data_dir;
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
            SigningKey::load(path)
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
    // Never creates a database: a directory without one is an error, not an empty log.
    let db = backup::open_existing(dir).map_err(|e| e.to_string())?;
    let report = credledger::ledger::sled_store::verify_with_checkpoints(
        &db,
        dir,
        &given,
        trusted.as_deref(),
    )
    .map_err(|e| format!("reading the log in {}: {e}", dir.display()))?;
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

pub(crate) async fn export(args: ExportArgs) -> Result<ExitCode, String> {
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

pub(crate) fn import(args: ImportArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    let mut progress = progress_printer("imported", started);
    let summary = if args.from.as_os_str() == "-" {
        let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
        data_backup::import_data_dir(
            input,
            &args.data_dir,
            args.key_file.as_deref(),
            &mut progress,
        )
    } else {
        let file = std::fs::File::open(&args.from)
            .map_err(|e| format!("--from {}: {e}", args.from.display()))?;
        let input = std::io::BufReader::with_capacity(1 << 20, file);
        data_backup::import_data_dir(
            input,
            &args.data_dir,
            args.key_file.as_deref(),
            &mut progress,
        )
    }
    .map_err(|e| format!("importing {}: {e}", args.from.display()))?;
    // So the first start does not replay the whole import.
    credledger::ledger::SledStore::write_recovery_snapshot(&args.data_dir)
        .map_err(|e| format!("writing the storage recovery snapshot: {e}"))?;
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
    match &args.key_file {
        Some(key_file) => println!(
            "every data key opens under {}; the read models are rebuilt from the log on first start",
            key_file.display()
        ),
        None => println!(
            "warning: data keys were not checked (give --key-file to check that each one opens)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn recover(args: RecoverArgs) -> Result<ExitCode, String> {
    let as_of = parse_time(&args.as_of)?;
    let started = Instant::now();
    let mut progress = progress_printer("copied", started);
    let summary =
        data_backup::recover_data_dir(&args.data.data_dir, as_of, &args.to, &mut progress)
            .map_err(|e| format!("recovering {}: {e}", args.data.data_dir.display()))?;
    credledger::ledger::SledStore::write_recovery_snapshot(&args.to)
        .map_err(|e| format!("writing the storage recovery snapshot: {e}"))?;
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

pub(crate) async fn checkpoint_create(args: CheckpointCreateArgs) -> Result<ExitCode, String> {
    let dir = &args.data.data_dir;
    let (signer, created) =
        SigningKey::load_or_create(&args.signing_key, dir).map_err(|e| e.to_string())?;
    let store = open_log(dir)?;
    let made = checkpoint::create_checkpoint(&store, &signer).await;
    store.close().await.map_err(|e| e.to_string())?;
    let made = made.map_err(|e| e.to_string())?;
    if created {
        println!(
            "created signing key {} ({})",
            args.signing_key.display(),
            key_fingerprint(&signer.public_key())
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

pub(crate) fn checkpoint_export(args: CheckpointExportArgs) -> Result<ExitCode, String> {
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
