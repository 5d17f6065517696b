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
use crate::store::{OpenedStore, Store, StoreLocation};

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
    /// The embedded store's data directory (its permissions are the caller's check), or
    /// the database.
    pub store: StoreLocation,
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
    /// The store the registry holds.
    pub store: Arc<dyn Store>,
    /// The backend, for what only it does (the embedded store's control endpoint and
    /// backups).
    pub opened: OpenedStore,
    pub renderer: Option<Renderer>,
    /// The keys are the public development example.
    pub example_keys: bool,
}

impl Repository {
    /// Opens the store at `config.store` and assembles the repository over it.
    pub fn open(config: &RepositoryConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Repository> {
        let opened = OpenedStore::open(&config.store).with_context(|| match &config.store {
            StoreLocation::Embedded { dir, .. } => {
                format!("opening {} (is `elicence serve` running on it?)", dir.display())
            }
            StoreLocation::Postgres(_) => "opening the database".to_string(),
        })?;
        Repository::assemble(opened, config, clock)
    }

    /// Assembles the repository over a store already open (`config.store` is not used).
    /// An empty store is seeded under the store's startup lock, so that processes
    /// starting together on one database seed it once.
    pub fn assemble(
        opened: OpenedStore,
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
        let store = opened.store();
        let seeding = opened.startup_lock().context("taking the database's startup lock")?;
        let registry = Registry::new(store.clone(), Arc::new(keys.ring), clock, seed)?;
        if let (Some(dir), Some(renderer)) = (&config.seed_layouts, &renderer) {
            if dir.exists() {
                let texts: Vec<String> = read_dir_texts(dir)
                    .map_err(anyhow::Error::msg)?
                    .into_iter()
                    .map(|(_, text)| text)
                    .collect();
                let n = registry
                    .seed_templates(&texts, renderer.font())
                    .with_context(|| format!("loading templates from {}", dir.display()))?;
                if n > 0 {
                    tracing::info!(templates = n, dir = %dir.display(), "built-in templates stored");
                }
            }
        }
        drop(seeding);
        Ok(Repository {
            registry: Arc::new(registry),
            store,
            opened,
            renderer,
            example_keys: keys.example,
        })
    }
}
