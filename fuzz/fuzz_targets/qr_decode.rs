//! The QR payload decoder (`ELC1:` + base32): never panics, and every text it accepts
//! is the one canonical encoding of what it decoded (re-encoding gives the same text).
#![no_main]

use elicence::licence::qr::{base32_decode, base32_encode, QrPayload, QR_PREFIX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Arbitrary text, as a scanner or a caller of the public service would send it.
    if let Ok(s) = std::str::from_utf8(data) {
        check(s);
        if let Some(bytes) = base32_decode(s) {
            assert_eq!(base32_encode(&bytes), s, "base32 has one text form");
        }
    }
    // Arbitrary payload bytes behind a valid prefix and base32, to reach the field reader.
    let text = format!("{QR_PREFIX}{}", base32_encode(data));
    check(&text);
});

fn check(text: &str) {
    let Ok(p) = QrPayload::decode(text) else {
        return;
    };
    let again = p.encode().expect("a decoded payload encodes");
    assert_eq!(again, text.trim(), "decode → encode is the identity");
    assert_eq!(QrPayload::decode(&again).unwrap(), p);
    let _ = p.verify(&elicence_fuzz::keys().public_keys());
    let _ = p.matches_record(text.as_bytes());
}
