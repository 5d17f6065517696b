//! XLSX bytes (a zip of XML parts, read by calamine) through the whole import. The
//! first byte picks the mapping (and with it the sheet); the rest is the workbook.
#![no_main]

use elicence::import::{Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&options, file)) = data.split_first() else {
        return;
    };
    let (mapping, sheet) = match options % 3 {
        0 => ("sample.toml", None),
        1 => ("physician-xlsx.toml", None),
        _ => ("sample.toml", Some("Sheet1".to_string())),
    };
    let opts = ReadOptions {
        sheet,
        ..ReadOptions::default()
    };
    elicence_fuzz::import_bytes(file.to_vec(), Format::Xlsx, mapping, &opts);
});
