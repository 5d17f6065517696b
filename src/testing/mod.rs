//! The development repository tests and benchmarks start: `keys-example/`, the built-in
//! catalogue, layouts and font from this source tree, over a given data directory.
//! Not for production (the example keys are public).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::api::{AppState, DirectoryHandle};
use crate::catalog::Directory;
use crate::clock::Clock;
use crate::render::{Renderer, DEFAULT_FONT_PATH};
use crate::repository::{Font, Repository, RepositoryConfig};
use crate::store::{EmbeddedStore, OpenedStore, StoreLocation};

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
    state_with_keys(data_dir, &Path::new(ROOT).join("keys-example"), clock, directory).0
}

/// Like [`example_state`], on the key ring in `keys_dir`; also the store itself (for
/// the control endpoint).
pub fn state_with_keys(
    data_dir: &Path,
    keys_dir: &Path,
    clock: Arc<dyn Clock>,
    directory: Directory,
) -> (AppState, Arc<EmbeddedStore>) {
    let location = StoreLocation::Embedded {
        dir: data_dir.to_path_buf(),
        config: Default::default(),
    };
    let (state, opened) = state_at(&location, keys_dir, clock, directory);
    (state, opened.embedded().expect("an embedded store").clone())
}

/// The repository's state over the store at `location` (a data directory or a
/// database), seeded with the built-in catalogue and layouts, on the key ring in
/// `keys_dir`; also the store as opened.
pub fn state_at(
    location: &StoreLocation,
    keys_dir: &Path,
    clock: Arc<dyn Clock>,
    directory: Directory,
) -> (AppState, OpenedStore) {
    let root = Path::new(ROOT);
    let config = RepositoryConfig {
        store: location.clone(),
        keys: keys_dir.to_path_buf(),
        allow_insecure_key_permissions: false,
        seed_catalog: Some(root.join("templates/catalog")),
        seed_layouts: Some(root.join("templates/layouts")),
        font: Font::Loaded(renderer()),
    };
    let repo = Repository::open(&config, clock).expect("development repository");
    let state = AppState {
        registry: repo.registry,
        directory: DirectoryHandle::new(directory),
        renderer: repo.renderer.expect("font loaded"),
    };
    (state, repo.opened)
}

/// The example departments (`keys-example/departments.toml`).
pub fn example_directory() -> Directory {
    Directory::load(&Path::new(ROOT).join("keys-example/departments.toml")).expect("example departments")
}

/// A valid business licence (营业执照) issued by the example market regulator, as load
/// generators send it.
pub fn business_licence(number: String) -> crate::api::pb::Licence {
    use crate::api::pb;
    let field = |name: &str, value: &str| pb::Field {
        name: name.into(),
        value: value.into(),
    };
    pb::Licence {
        licence_type_code: "11100000000013338W011".into(),
        licence_number: number,
        issuer_name: "荆门市市场监督管理局".into(),
        issuer_code: "11420800MB1A234561".into(),
        issuer_level: "地市级".into(),
        issue_date: "2026-03-01".into(),
        holder_name: "荆门市楚韵食品有限公司".into(),
        holder_code: "91440300708461136T".into(),
        holder_code_type: "001".into(),
        valid_from: "2026-03-01".into(),
        region_code: "420800".into(),
        related_item: "企业设立登记".into(),
        fields: vec![
            field("类型", "有限责任公司"),
            field("法定代表人", "王堃"),
            field("注册资本", "伍佰万元整"),
            field("经营范围", "食品销售；餐饮服务；农副产品收购；日用百货销售。"),
        ],
        ..Default::default()
    }
}

pub mod postgres;
