//! Opening the repository the way `serve` and the operator commands share: keys, the
//! store, the catalogue and the templates (both seeded into an empty store) and the font.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::data_dir::DataDirAccess;
use crate::catalog::types;
use crate::clock::SystemClock;
use crate::registry::Registry;
use crate::render::{read_dir_texts, Renderer, DEFAULT_FONT_PATH};
use crate::store::{open_embedded, EmbeddedConfig, EmbeddedStore};

#[derive(Debug, Clone, Args)]
pub struct RepositoryArgs {
    /// Data directory of the embedded store.
    #[arg(long, env = "ELICENCE_DATA_DIR", default_value = "./elicence-data")]
    pub data_dir: PathBuf,
    /// Directory holding `keyring.toml` and the signing keys.
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    /// Licence type catalogue loaded into an empty store on first start.
    #[arg(long, env = "ELICENCE_CATALOG", default_value = "templates/catalog")]
    pub catalog: PathBuf,
    /// Licence layouts loaded into a store that has none, on first start (later
    /// changes go through `TemplateService.PutTemplate`).
    #[arg(long, env = "ELICENCE_LAYOUTS", default_value = "templates/layouts")]
    pub layouts: PathBuf,
    /// The CJK font licences are rendered with.
    #[arg(long, env = "ELICENCE_FONT", default_value = DEFAULT_FONT_PATH)]
    pub font: PathBuf,
    /// Accept private key files readable by group or others.
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
    #[command(flatten)]
    pub data_dir_access: DataDirAccess,
    /// The store's block cache in MiB (its memory does not grow with the number of
    /// licences; docs/OPERATIONS.md).
    #[arg(long, env = "ELICENCE_CACHE_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_mb: u64,
}

/// An opened repository.
pub struct Repository {
    pub registry: Registry,
    /// The store itself, for the control endpoint (backup, check).
    pub store: Arc<EmbeddedStore>,
    pub renderer: Renderer,
    /// The keys are the public development example.
    pub example_keys: bool,
}

impl RepositoryArgs {
    pub fn open(&self) -> anyhow::Result<Repository> {
        self.data_dir_access.enforce(&self.data_dir)?;
        let keys = crate::keys::load(&self.keys, self.allow_insecure_key_permissions)
            .map_err(anyhow::Error::msg)
            .context("loading signing keys")?;
        let renderer = Renderer::from_font_file(&self.font).context("loading the font")?;
        let seed = if self.catalog.exists() {
            types::load_dir(&self.catalog).map_err(anyhow::Error::msg)?
        } else {
            Vec::new()
        };
        let store = Arc::new(
            open_embedded(
                &self.data_dir,
                EmbeddedConfig {
                    cache_bytes: self.cache_mb << 20,
                    ..EmbeddedConfig::default()
                },
            )
            .with_context(|| {
                format!(
                    "opening {} (is `elicence serve` running on it?)",
                    self.data_dir.display()
                )
            })?,
        );
        let registry = Registry::new(store.clone(), Arc::new(keys.ring), Arc::new(SystemClock), seed)?;
        if registry.templates().is_empty() && self.layouts.exists() {
            let texts: Vec<String> = read_dir_texts(&self.layouts)
                .map_err(anyhow::Error::msg)?
                .into_iter()
                .map(|(_, text)| text)
                .collect();
            let n = registry
                .seed_templates(&texts, renderer.font())
                .with_context(|| format!("loading templates from {}", self.layouts.display()))?;
            tracing::info!(templates = n, dir = %self.layouts.display(), "templates stored on first start");
        }
        Ok(Repository {
            registry,
            store,
            renderer,
            example_keys: keys.example,
        })
    }
}
