//! A JSON-lines export through the whole import (reader, mapping, validation, rejects).
//! The first byte picks the encoding and mapping; the rest is the file.
#![no_main]

use elicence::import::{Encoding, Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&options, file)) = data.split_first() else {
        return;
    };
    let encoding = match options & 3 {
        0 => None,
        1 => Some(Encoding::Utf8),
        _ => Some(Encoding::Gb18030),
    };
    let mapping = if options & 4 == 0 {
        "business-licence-gbk.toml"
    } else {
        "sample.toml"
    };
    let opts = ReadOptions {
        encoding,
        ..ReadOptions::default()
    };
    elicence_fuzz::import_bytes(file.to_vec(), Format::Jsonl, mapping, &opts);
});
