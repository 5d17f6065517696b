//! Every fuzz target's body (`fuzz/fuzz_targets/<target>.rs`) replayed on stable Rust over
//! its committed inputs (`fuzz/corpus/<target>/`): the seeds, and the inputs that once
//! found a bug, kept there as regressions. So `cargo test` keeps the targets compiling
//! against the current API (the fuzz crate is its own workspace, which nothing else
//! builds) and re-checks each target's assertions on every input that ever mattered.
//! libFuzzer itself runs them under cargo-fuzz: docs/FUZZING.md.
//!
//! Each target file is included as a module; `fuzz_target!` below turns its body into
//! `pub fn run(data: &[u8])`, and the two crate names the files use resolve to this crate.

extern crate self as elicence_fuzz;
extern crate self as libfuzzer_sys;

use std::path::Path;

macro_rules! fuzz_target {
    (|$data:ident: &[u8]| $body:block) => {
        pub fn run($data: &[u8]) $body
    };
}
pub(crate) use fuzz_target;

#[path = "../fuzz/src/lib.rs"]
mod fuzz_fixtures;
pub use fuzz_fixtures::*;

macro_rules! replay_targets {
    ($($target:ident => $file:literal),* $(,)?) => {
        $(
            // The file's `#![no_main]` is meant for its own crate, and its import of
            // `fuzz_target` is shadowed by the macro above, in scope textually.
            #[allow(unused_attributes, unused_imports)]
            #[path = $file]
            mod $target;

            #[test]
            fn $target() {
                replay(stringify!($target), $target::run);
            }
        )*
    };
}

replay_targets! {
    identifier => "../fuzz/fuzz_targets/identifier.rs",
    holder_code => "../fuzz/fuzz_targets/holder_code.rs",
    import_csv => "../fuzz/fuzz_targets/import_csv.rs",
    import_jsonl => "../fuzz/fuzz_targets/import_jsonl.rs",
    import_xlsx => "../fuzz/fuzz_targets/import_xlsx.rs",
    import_row => "../fuzz/fuzz_targets/import_row.rs",
    qr_decode => "../fuzz/fuzz_targets/qr_decode.rs",
    template => "../fuzz/fuzz_targets/template.rs",
    verify_pdf => "../fuzz/fuzz_targets/verify_pdf.rs",
    verify_keylist => "../fuzz/fuzz_targets/verify_keylist.rs",
    verify_record => "../fuzz/fuzz_targets/verify_record.rs",
}

/// Runs `run` on every file in `fuzz/corpus/<target>/`; a panic names the input.
fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no committed inputs for {target}");
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target} failed on {}: {message}", input.display());
        }
    }
}
