//! The composition root: the one place a repository is assembled from its parts —
//! signing keys, the store, the catalogue and templates (seeded into an empty store),
//! the font — for `serve`, `render`, `import`, `check`, `restore` and the tests alike.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::catalog::{types, LicenceType};
use crate::clock::Clock;
use crate::registry::Registry;
use crate::render::{read_dir_texts, Renderer};
use crate::store::{open_embedded, EmbeddedConfig, EmbeddedStore};

/// Where the rendering font comes from.
#[derive(Debug, Clone)]
pub enum Font {
    /// Commands that render nothing.
    None,
    File(PathBuf),
    /// Already parsed (tests share one per process).
    Loaded(Renderer),
}

/// What a repository is opened from.
#[derive(Debug, Clone)]
pub struct RepositoryConfig {
    /// Data directory of the embedded store (its permissions are the caller's check).
    pub data_dir: PathBuf,
    pub store: EmbeddedConfig,
    /// Directory holding `keyring.toml` and the signing keys.
    pub keys: PathBuf,
    /// Accept private key files readable by group or others.
    pub allow_insecure_key_permissions: bool,
    /// Licence types written into a store that has none (first start).
    pub seed_catalog: Option<PathBuf>,
    /// Layouts written into a store that has none; needs `font` (each is checked for
    /// glyphs the font lacks).
    pub seed_layouts: Option<PathBuf>,
    /// The CJK font licences are rendered with.
    pub font: Font,
}

/// An opened repository.
pub struct Repository {
    pub registry: Arc<Registry>,
    /// The store itself, for the operator's commands (backup, check) and the control
    /// endpoint.
    pub store: Arc<EmbeddedStore>,
    pub renderer: Option<Renderer>,
    /// The keys are the public development example.
    pub example_keys: bool,
}

impl Repository {
    /// Opens the store in `config.data_dir` and assembles the repository over it.
    pub fn open(config: &RepositoryConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Repository> {
        let store = open_embedded(&config.data_dir, config.store).with_context(|| {
            format!(
                "opening {} (is `elicence serve` running on it?)",
                config.data_dir.display()
            )
        })?;
        Repository::assemble(Arc::new(store), config, clock)
    }

    /// Assembles the repository over a store already open (`config.data_dir` and
    /// `config.store` are not used).
    pub fn assemble(
        store: Arc<EmbeddedStore>,
        config: &RepositoryConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Repository> {
        let keys = crate::keys::load(&config.keys, config.allow_insecure_key_permissions)
            .map_err(anyhow::Error::msg)
            .context("loading signing keys")?;
        let renderer = match &config.font {
            Font::None => None,
            Font::File(path) => Some(Renderer::from_font_file(path).context("loading the font")?),
            Font::Loaded(r) => Some(r.clone()),
        };
        let seed: Vec<LicenceType> = match &config.seed_catalog {
            Some(dir) if dir.exists() => types::load_dir(dir).map_err(anyhow::Error::msg)?,
            _ => Vec::new(),
        };
        let registry = Registry::new(store.clone(), Arc::new(keys.ring), clock, seed)?;
        if let (Some(dir), Some(renderer)) = (&config.seed_layouts, &renderer) {
            if registry.templates().is_empty() && dir.exists() {
                let texts: Vec<String> = read_dir_texts(dir)
                    .map_err(anyhow::Error::msg)?
                    .into_iter()
                    .map(|(_, text)| text)
                    .collect();
                let n = registry
                    .seed_templates(&texts, renderer.font())
                    .with_context(|| format!("loading templates from {}", dir.display()))?;
                tracing::info!(templates = n, dir = %dir.display(), "templates stored on first start");
            }
        }
        Ok(Repository {
            registry: Arc::new(registry),
            store,
            renderer,
            example_keys: keys.example,
        })
    }
}
