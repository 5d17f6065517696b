//! `elicence audit verify`: checks the access audit log's hash chain and signatures
//! offline, straight from a data directory (of a stopped server, or a backup copy),
//! with the published public keys only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::data_dir::StoreArgs;
use crate::audit::ChainVerifier;
use crate::keys::{KeyringFile, KEYRING_FILE};
use crate::licence::signing::{self, PublicKeyInfo};
use crate::store::OpenedStore;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry: contiguous numbering, signature, link to the previous entry.
    /// Prints `OK` and the chain head, or the first bad entry (exit status 1).
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store (a data directory the server must not be running on, or a database,
    /// which may be in use).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Directory holding `keyring.toml` and the public keys.
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify(v) => verify(v),
    }
}

/// Public keys named by `keyring.toml`; private key files are never opened.
fn public_keys(dir: &Path) -> anyhow::Result<Vec<PublicKeyInfo>> {
    let path = dir.join(KEYRING_FILE);
    let ring: KeyringFile =
        toml::from_str(&std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("parsing {}", path.display()))?;
    ring.keys
        .iter()
        .map(|k| {
            let pem = std::fs::read_to_string(dir.join(&k.public)).with_context(|| format!("reading {}", k.public))?;
            let vk = signing::verifying_key_from_pem(&pem).map_err(anyhow::Error::msg)?;
            Ok(PublicKeyInfo {
                key_id: signing::key_id(&vk),
                public_key: vk.to_bytes(),
                valid_from: k.valid_from.clone(),
                valid_until: k.valid_until.clone(),
                active: k.active,
            })
        })
        .collect()
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.store.embedded_dir() {
        if !dir.exists() {
            anyhow::bail!("{} does not exist", dir.display());
        }
    }
    let location = args.store.location(Default::default())?;
    let keys = public_keys(&args.keys)?;
    let store = OpenedStore::open(&location)
        .with_context(|| format!("opening {}", args.store.describe()))?
        .store();
    let mut chain = ChainVerifier::new(keys);
    loop {
        let batch = store.audit_range(chain.count(), 1024)?;
        if batch.is_empty() {
            break;
        }
        for entry in &batch {
            if let Err(e) = chain.check(entry) {
                println!("FAILED: {e}");
                println!("{} entries before it verified", chain.count());
                return Ok(ExitCode::from(1));
            }
        }
    }
    match chain.count() {
        0 => println!("OK: the audit log is empty"),
        n => println!(
            "OK: {n} entries verified; head seq {} sha256 {}",
            n - 1,
            hex::encode(chain.head())
        ),
    }
    Ok(ExitCode::SUCCESS)
}
