//! The `elicence` command line: one file per subcommand.

mod audit;
#[cfg(unix)]
mod backup;
mod data_dir;
mod gen_sample;
mod import;
mod keygen;
mod render;
mod repository;
mod serve;
#[cfg(unix)]
mod store;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use verify::parse_key_list;

#[derive(Debug, Parser)]
#[command(name = "elicence", version, about = "Electronic licence repository (电子证照库)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC service.
    Serve(serve::ServeArgs),
    /// Generate a new Ed25519 signing key (PKCS#8 PEM) and add it to a key ring.
    Keygen(keygen::KeygenArgs),
    /// Render a stored licence as a PDF.
    Render(render::RenderArgs),
    /// Verify a QR payload, a licence PDF or a signed record offline, against a key list.
    Verify(verify::VerifyArgs),
    /// Signing keys: `keys export` writes the signed list of public keys, for offline
    /// verification.
    Keys(KeysArgs),
    /// Same as `keys export`.
    #[command(hide = true)]
    KeysExport(verify::KeysExportArgs),
    /// Migrate historical licence records from a legacy export.
    Import(import::ImportArgs),
    /// Write a synthetic legacy export (for trying and benchmarking the migration).
    GenSample(gen_sample::GenSampleArgs),
    /// Work with the access audit log (用证记录).
    Audit(audit::AuditArgs),
    /// Write a point-in-time backup of a data directory (from the running server if any)
    /// or of a database (one snapshot, while it is in use).
    #[cfg(unix)]
    Backup(backup::BackupArgs),
    /// Rebuild a data directory, or an empty database, from a backup of either, then
    /// verify every signature and chain.
    #[cfg(unix)]
    Restore(backup::RestoreArgs),
    /// Check a store: every signature and chain verifies, every index agrees with the records.
    #[cfg(unix)]
    Check(backup::CheckArgs),
    /// Work with data directories: `store migrate --from-sled` converts one of an earlier
    /// release.
    #[cfg(unix)]
    Store(store::StoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write the signed list of public signing keys (current and retired).
    Export(verify::KeysExportArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Render(args) => render::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Keys(KeysArgs {
            command: KeysCommand::Export(args),
        })
        | Command::KeysExport(args) => verify::export(args),
        Command::Import(args) => import::run(args),
        Command::GenSample(args) => gen_sample::run(args),
        Command::Audit(args) => audit::run(args),
        #[cfg(unix)]
        Command::Backup(args) => backup::backup(args),
        #[cfg(unix)]
        Command::Restore(args) => backup::restore(args),
        #[cfg(unix)]
        Command::Check(args) => backup::check(args),
        #[cfg(unix)]
        Command::Store(args) => store::run(args),
    }
}
