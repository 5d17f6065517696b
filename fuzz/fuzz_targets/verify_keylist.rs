//! `elicence verify --keys-file` on an arbitrary file: the exported key list's JSON,
//! its keys and its self-signature, with and without a pinned signer.
#![no_main]

use elicence::cli::parse_key_list;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(keys) = parse_key_list(text, &[]) {
        for k in &keys {
            assert_eq!(k.key_id.len(), 16, "{k:?}");
        }
        let pinned: Vec<String> = keys.iter().map(|k| k.key_id.clone()).collect();
        assert!(parse_key_list(text, &pinned).is_ok());
    }
    let _ = parse_key_list(text, &["fe812c12f3ab4ce6".to_string()]);
});
