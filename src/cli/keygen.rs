//! `elicence keygen`: a new Ed25519 signing key. Writes `<name>.pem` (PKCS#8, mode 0600,
//! never overwritten) and `<name>.pub.pem`, and records the key in `keyring.toml` as the
//! active key, retiring the previous active key (it stays for verification).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use ed25519_dalek::SigningKey;

use crate::keys::{KeyEntry, KeyringFile, KEYRING_FILE};
use crate::licence::record::format_date;
use crate::licence::signing;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory for the key files (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// File name stem; default `key-<date>-<key id>`.
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let key_id = signing::key_id(&key.verifying_key());
    let today = format_date(
        time::OffsetDateTime::now_utc()
            .to_offset(crate::clock::LOCAL_OFFSET)
            .date(),
    );
    let name = args.name.unwrap_or_else(|| format!("key-{today}-{key_id}"));
    let private = args.out.join(format!("{name}.pem"));
    let public = args.out.join(format!("{name}.pub.pem"));
    if private.exists() || public.exists() {
        bail!("{} already exists; refusing to overwrite a key", private.display());
    }
    write_private(&private, signing::private_key_pem(&key).as_bytes())?;
    std::fs::write(&public, signing::public_key_pem(&key.verifying_key()))?;

    let ring_path = args.out.join(KEYRING_FILE);
    let mut ring: KeyringFile = if ring_path.exists() {
        toml::from_str(&std::fs::read_to_string(&ring_path)?)
            .with_context(|| format!("reading {}", ring_path.display()))?
    } else {
        KeyringFile::default()
    };
    for k in ring.keys.iter_mut().filter(|k| k.active) {
        k.active = false;
        k.valid_until = today.clone();
        // A retired key only verifies; its private half is no longer loaded.
        k.private = None;
    }
    ring.example = false;
    ring.keys.push(KeyEntry {
        private: Some(format!("{name}.pem")),
        public: format!("{name}.pub.pem"),
        active: true,
        valid_from: today,
        valid_until: String::new(),
    });
    std::fs::write(&ring_path, toml::to_string_pretty(&ring)?)?;
    println!("key id {key_id}");
    println!("private key {} (mode 0600)", private.display());
    println!("public key  {}", public.display());
    println!(
        "{} updated: {key_id} is now the active signing key; restart `elicence serve` to use it",
        ring_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, pem: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(pem)?;
    f.sync_all()?;
    Ok(())
}
