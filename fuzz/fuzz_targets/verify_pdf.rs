//! `elicence verify --pdf` on an arbitrary file: read the PDF's keywords (lopdf parses
//! the hostile bytes), find the `ELC1:` payload, decode it and check it against the
//! example keys — the steps of `cli::verify::check`.
//!
//! `pdf_keywords` runs lopdf inside `catch_unwind`, so a panic *inside lopdf* is caught
//! and the file reported as carrying no payload. libFuzzer's panic hook aborts on every
//! panic, caught or not; this target's hook lets panics located in lopdf's sources
//! unwind to that `catch_unwind` (counting them, printing the first) and aborts on any
//! other — ours, or an abort lopdf cannot unwind from (stack overflow, out of memory).
#![no_main]

use elicence::licence::qr::QrPayload;
use elicence::render::{extract_qr_payload, pdf_keywords};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    elicence_fuzz::contain_panics_from(&["lopdf"], "lopdf");
    let _ = pdf_keywords(data);
    let Some(text) = extract_qr_payload(data) else {
        return;
    };
    let Ok(payload) = QrPayload::decode(&text) else {
        return;
    };
    let _ = payload.verify(&elicence_fuzz::keys().public_keys());
    let _ = payload.matches_record(data);
});
