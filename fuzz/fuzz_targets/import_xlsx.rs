//! XLSX bytes (a zip of XML parts, read by calamine) through the whole import. The
//! first byte picks the mapping (and with it the sheet); the rest is the workbook.
//!
//! The XLSX reader contains panics inside calamine (and the zip and XML crates under it)
//! and reports them as a reject or an error — found by this target: calamine 0.38
//! overflows on a huge cell reference. libFuzzer's panic hook aborts on every panic,
//! caught or not; this target's hook lets panics located in those crates' sources unwind
//! to the reader's `catch_unwind` (counting them, printing the first few) and aborts on
//! any other, so the run goes on looking for panics of ours.
#![no_main]

use elicence::import::{Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    elicence_fuzz::contain_panics_from(&["/calamine-", "/quick-xml-", "/zip-"], "XLSX parser");
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
