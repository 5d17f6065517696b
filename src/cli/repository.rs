//! The arguments `serve` and `render` open the repository with (see
//! [`crate::repository`]).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::data_dir::StoreArgs;
use crate::clock::SystemClock;
use crate::licence::qr::PublicUrl;
use crate::render::{Renderer, DEFAULT_FONT_PATH};
use crate::repository::{Font, Repository, RepositoryConfig};
use crate::store::EmbeddedConfig;

#[derive(Debug, Clone, Args)]
pub struct RepositoryArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Directory holding `keyring.toml` and the signing keys.
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    /// Licence type catalogue: each type the store lacks is stored at start (all of them
    /// on first start); a stored type is never replaced by the file's.
    #[arg(long, env = "ELICENCE_CATALOG", default_value = "templates/catalog")]
    pub catalog: PathBuf,
    /// Licence layouts: each one whose id the store lacks is stored at start (all of them
    /// on first start); later changes go through `TemplateService.PutTemplate`.
    #[arg(long, env = "ELICENCE_LAYOUTS", default_value = "templates/layouts")]
    pub layouts: PathBuf,
    /// The CJK font licences are rendered with.
    #[arg(long, env = "ELICENCE_FONT", default_value = DEFAULT_FONT_PATH)]
    pub font: PathBuf,
    /// Accept private key files readable by group or others.
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
    /// The embedded store's block cache in MiB (its memory does not grow with the number of
    /// licences; docs/OPERATIONS.md).
    #[arg(long, env = "ELICENCE_CACHE_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_mb: u64,
    /// The embedded store's write buffer (all memtables together) in MiB, fixed when the store is
    /// created (docs/OPERATIONS.md).
    #[arg(long, env = "ELICENCE_WRITE_BUFFER_MB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_buffer_mb: u64,
    /// The public verification page's address: QR codes on rendered licences then carry
    /// it in front of their payload, so a phone camera opens the page
    /// (e.g. `https://verify.example.gov.cn/v/`; kept in upper case, must end with `/v/`).
    /// Without it the codes carry the bare `ELC1:` text.
    #[arg(long, env = "ELICENCE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<PublicUrl>,
    /// The transparency log's name in its signed checkpoints (C2SP origin, e.g.
    /// `verify.example.gov.cn/log`). Default: the host of `--public-url` followed by
    /// `/log`, else `elicence.localhost/log`. A log keeps the origin of its first
    /// checkpoint: a different setting later is ignored with a warning.
    #[arg(long, env = "ELICENCE_LOG_ORIGIN", value_parser = parse_log_origin)]
    pub log_origin: Option<String>,
}

fn parse_log_origin(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'+') {
        return Err("printable ASCII, no spaces and no '+', at most 255 characters".into());
    }
    Ok(s.to_string())
}

fn parse_public_url(s: &str) -> Result<PublicUrl, String> {
    PublicUrl::parse(s)
}

impl RepositoryArgs {
    /// The log origin to sign a new log's checkpoints under (see `--log-origin`).
    pub fn log_origin(&self) -> String {
        if let Some(o) = &self.log_origin {
            return o.clone();
        }
        match &self.public_url {
            Some(url) => {
                let u = url.as_str().to_ascii_lowercase();
                let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(&u);
                let host = rest.split('/').next().unwrap_or(rest);
                format!("{host}/log")
            }
            None => "elicence.localhost/log".to_string(),
        }
    }

    /// The repository's configuration from these arguments (the font and the seeds
    /// included).
    pub fn config(&self) -> anyhow::Result<RepositoryConfig> {
        Ok(RepositoryConfig {
            store: self.store.location(EmbeddedConfig {
                cache_bytes: self.cache_mb << 20,
                write_buffer_bytes: self.write_buffer_mb << 20,
            })?,
            keys: self.keys.clone(),
            allow_insecure_key_permissions: self.allow_insecure_key_permissions,
            seed_catalog: Some(self.catalog.clone()),
            seed_layouts: Some(self.layouts.clone()),
            font: Font::File(self.font.clone()),
        })
    }

    /// Checks the data directory's permissions (of an embedded store), then opens the
    /// repository on the system clock. Its renderer is always there.
    pub fn open(&self) -> anyhow::Result<(Repository, Renderer)> {
        let mut repo = Repository::open(&self.config()?, Arc::new(SystemClock))?;
        let renderer = repo
            .renderer
            .take()
            .expect("the font is part of the configuration")
            .with_public_url(self.public_url.clone());
        Ok((repo, renderer))
    }
}
