//! Fixtures the fuzz targets share: the shipped catalogue, mappings, font and example
//! keys, and a sample licence with its signed QR payload — each built once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use elicence::catalog::types::{self, LicenceType};
use elicence::import::{Format, MapOptions, Mapping, ReadOptions, RowMapper};
use elicence::licence::qr::QrPayload;
use elicence::licence::{KeyRing, Licence};
use elicence::render::Renderer;

/// The elicence source tree.
pub fn root() -> &'static Path {
    Path::new(elicence::testing::ROOT)
}

pub fn path(rel: &str) -> PathBuf {
    root().join(rel)
}

pub fn catalog() -> &'static [LicenceType] {
    static CATALOG: OnceLock<Vec<LicenceType>> = OnceLock::new();
    CATALOG.get_or_init(|| types::load_dir(&path("templates/catalog")).expect("built-in catalogue"))
}

/// The shipped mapping files (`templates/mappings/`).
pub const MAPPINGS: [&str; 3] = ["sample.toml", "business-licence-gbk.toml", "physician-xlsx.toml"];

/// A shipped mapping file (`templates/mappings/<name>`, one of [`MAPPINGS`]), and its
/// row mapper as `elicence import` builds it; loaded once.
pub fn mapping(name: &str) -> &'static (Mapping, RowMapper) {
    static LOADED: OnceLock<Vec<(Mapping, RowMapper)>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        MAPPINGS
            .iter()
            .map(|name| {
                let m = Mapping::load(&path(&format!("templates/mappings/{name}"))).expect("shipped mapping");
                let opts = MapOptions {
                    source_file: "fuzz".into(),
                    accept_bad_check_digits: false,
                };
                let mapper = RowMapper::new(m.clone(), catalog(), opts).expect("shipped mapping is valid");
                (m, mapper)
            })
            .collect()
    });
    let i = MAPPINGS.iter().position(|m| *m == name).expect("a shipped mapping");
    &loaded[i]
}

/// The example signing keys (`keys-example/`; public, for development only).
pub fn keys() -> &'static KeyRing {
    static KEYS: OnceLock<KeyRing> = OnceLock::new();
    KEYS.get_or_init(|| {
        elicence::keys::load(&path("keys-example"), true)
            .expect("example key ring")
            .ring
    })
}

pub fn renderer() -> Renderer {
    elicence::testing::renderer()
}

/// The record of the worked example in `docs/VERIFYING.md` (a 营业执照 of a company).
pub fn sample_licence() -> Licence {
    static LICENCE: OnceLock<Licence> = OnceLock::new();
    LICENCE
        .get_or_init(|| {
            let text = std::fs::read_to_string(path("docs/verifying-example.json")).expect("worked example");
            let key = "\"signed_record_hex\": \"";
            let start = text.find(key).expect("signed_record_hex") + key.len();
            let end = start + text[start..].find('"').expect("closing quote");
            let bytes = decode_hex(&text[start..end]);
            Licence::from_canonical(&bytes).expect("worked example record")
        })
        .clone()
}

/// The sample licence's QR payload, signed with the example keys.
pub fn sample_payload(licence: &Licence) -> QrPayload {
    QrPayload::sign(licence, keys()).expect("sample payload")
}

fn decode_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Splits fuzz input at the first NUL byte: the main input, and an optional second part
/// a target uses for a secondary value (field text, options).
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Runs a whole import of `bytes` (as `elicence import` and the migration RPC do: open,
/// check columns, map, validate, dedupe, write rejects) into memory. Every row must be
/// accounted for exactly once.
pub fn import_bytes(bytes: Vec<u8>, format: Format, mapping_name: &str, opts: &ReadOptions) {
    use elicence::import::{open_bytes, run_import, MemorySink, RejectWriter, RunOptions};

    let (mapping, mapper) = mapping(mapping_name);
    let Ok(source) = open_bytes(bytes, format, mapping, opts) else {
        return;
    };
    let sink = MemorySink::default();
    let mut rejects = RejectWriter::new(Vec::new(), true).expect("in-memory report");
    let run = run_import(
        source,
        mapper,
        &sink,
        &mut |r| rejects.write(r),
        &RunOptions { batch_size: 7 },
        &|_| {},
    );
    if let Ok(summary) = run {
        assert!(summary.is_balanced(), "{summary}");
        assert_eq!(summary.imported as usize, sink.state().records.len());
        assert_eq!(summary.reject_problems, rejects.written());
    }
    let _ = rejects.into_inner().expect("in-memory report");
}

/// Lets panics raised inside the named crates' sources unwind (to the `catch_unwind` our
/// code puts around those crates), counting them and printing the first few; any other
/// panic goes to the previous hook, which under libFuzzer aborts the run. libFuzzer's own
/// hook aborts on every panic, caught or not, so a target whose code contains a parser's
/// panics calls this before each input; it installs its hook once per `what`, chained to
/// the hooks before it (the corpus replay in `tests/fuzz_corpus.rs` runs several targets in
/// one process). `sources` are path fragments of the crates' source files
/// (`"/calamine-"`); `what` names them in the printed line.
pub fn contain_panics_from(sources: &'static [&'static str], what: &'static str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    static INSTALLED: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if installed.contains(&what) {
        return;
    }
    installed.push(what);
    let contained = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info
            .location()
            .is_some_and(|l| sources.iter().any(|c| l.file().contains(c)))
        {
            let n = contained.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                eprintln!("{what} panic #{n}, contained by our catch_unwind: {info}");
            }
            return;
        }
        previous(info);
    }));
}
