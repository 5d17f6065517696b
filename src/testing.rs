//! The development repository tests and benchmarks start: `keys-example/`, the built-in
//! catalogue, layouts and font from this source tree, over a given data directory.
//! Not for production (the example keys are public).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::api::{AppState, DirectoryHandle};
use crate::catalog::{types, Directory};
use crate::clock::Clock;
use crate::registry::Registry;
use crate::render::{read_dir_texts, Renderer, DEFAULT_FONT_PATH};
use crate::store::SledStore;

/// The source tree's root.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The shipped font, parsed once per process.
pub fn renderer() -> Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER
        .get_or_init(|| Renderer::from_font_file(&Path::new(ROOT).join(DEFAULT_FONT_PATH)).expect("shipped font"))
        .clone()
}

/// Opens (or creates) a store in `data_dir` seeded with the built-in catalogue and
/// layouts, on the example keys, with `directory` as the departments.
pub fn example_state(data_dir: &Path, clock: Arc<dyn Clock>, directory: Directory) -> AppState {
    state_with_keys(data_dir, &Path::new(ROOT).join("keys-example"), clock, directory)
}

/// Like [`example_state`], on the key ring in `keys_dir`.
pub fn state_with_keys(data_dir: &Path, keys_dir: &Path, clock: Arc<dyn Clock>, directory: Directory) -> AppState {
    let root = Path::new(ROOT);
    let keys = crate::keys::load(keys_dir, false).expect("key ring");
    let seed = types::load_dir(&root.join("templates/catalog")).expect("built-in catalogue");
    let store = Arc::new(SledStore::open(data_dir).expect("open store"));
    let registry = Registry::new(store, Arc::new(keys.ring), clock, seed).expect("registry");
    let renderer = renderer();
    let layouts: Vec<String> = read_dir_texts(&root.join("templates/layouts"))
        .expect("built-in layouts")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    registry
        .seed_templates(&layouts, renderer.font())
        .expect("seed layouts");
    AppState {
        registry: Arc::new(registry),
        directory: DirectoryHandle::new(directory),
        renderer,
    }
}

/// The example departments (`keys-example/departments.toml`).
pub fn example_directory() -> Directory {
    Directory::load(&Path::new(ROOT).join("keys-example/departments.toml")).expect("example departments")
}
