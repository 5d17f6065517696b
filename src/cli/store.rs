//! `elicence store migrate --from-sled`: converts a data directory written by a release
//! before fjall (sled 0.34) into the current embedded store, then checks every
//! signature, chain and index of the result.
//!
//! The conversion goes through the engine-neutral backup format: the sled store writes
//! a backup (a checksummed file beside the new directory, removed afterwards), which the
//! fjall store restores. The old directory is only read.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::backup::check_store;
use super::data_dir::DataDirAccess;
use crate::licence::record::rfc3339;
use crate::store::{is_sled_dir, EmbeddedStore, SledStore};

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Convert a data directory of an earlier release (sled) into a new one (fjall).
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The old data directory (stop the old server first; it is only read).
    #[arg(long)]
    pub from_sled: PathBuf,
    /// The new data directory (must not exist or be empty).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Directory holding `keyring.toml`, to verify every signature afterwards.
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
    #[command(flatten)]
    pub data_dir_access: DataDirAccess,
}

pub fn run(args: StoreArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StoreCommand::Migrate(args) => migrate(args),
    }
}

fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    args.data_dir_access.enforce(&args.from_sled)?;
    args.data_dir_access.enforce(&args.data_dir)?;
    if !is_sled_dir(&args.from_sled) {
        anyhow::bail!("{} is not a sled data directory", args.from_sled.display());
    }
    let started = Instant::now();
    let old = SledStore::open(&args.from_sled).with_context(|| {
        format!(
            "opening {} (is the old server still running?)",
            args.from_sled.display()
        )
    })?;
    let mut transfer = args.data_dir.clone().into_os_string();
    transfer.push(".sled-migration");
    let transfer = PathBuf::from(transfer);
    let written = old
        .write_backup(
            std::fs::File::create(&transfer).with_context(|| format!("creating {}", transfer.display()))?,
            &rfc3339(time::OffsetDateTime::now_utc()),
        )
        .with_context(|| format!("reading {}", args.from_sled.display()));
    drop(old);
    let existed = args.data_dir.exists();
    let restored = written.and_then(|_| {
        EmbeddedStore::restore_backup(&args.data_dir, &transfer)
            .with_context(|| format!("writing {}", args.data_dir.display()))
    });
    let _ = std::fs::remove_file(&transfer);
    let summary = match restored {
        Ok(s) => s,
        Err(e) => {
            if !existed {
                let _ = std::fs::remove_dir_all(&args.data_dir);
            }
            return Err(e);
        }
    };
    eprintln!(
        "converted {} entries from {} into {} in {:.2} s; verifying",
        summary.entries,
        args.from_sled.display(),
        args.data_dir.display(),
        started.elapsed().as_secs_f64()
    );
    let store = crate::store::open_embedded(&args.data_dir, Default::default())?;
    check_store(
        crate::store::OpenedStore::Embedded(std::sync::Arc::new(store)),
        &args.keys,
        args.allow_insecure_key_permissions,
        None,
    )
}
