//! A CSV export (UTF-8, GBK or detected; `,` `;` `\t` `|` delimited) through the whole
//! import: reader, column check, mapping, date and code validation, reject report.
//! The first byte picks the encoding, delimiter and mapping; the rest is the file.
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
    let delimiter = match (options >> 2) & 3 {
        0 => None,
        1 => Some(b';'),
        2 => Some(b'\t'),
        _ => Some(b'|'),
    };
    let mapping = if options & 0x10 == 0 {
        "business-licence-gbk.toml"
    } else {
        "sample.toml"
    };
    let opts = ReadOptions {
        encoding,
        delimiter,
        ..ReadOptions::default()
    };
    elicence_fuzz::import_bytes(file.to_vec(), Format::Csv, mapping, &opts);
});
