//! `elicence verify --record` on an arbitrary file, after its signature checks: the
//! record's canonical JSON is parsed, masked and described. A record that parses
//! re-encodes to canonical bytes that parse back to the same record.
#![no_main]

use elicence::licence::qr::QrPayload;
use elicence::licence::signing;
use elicence::licence::{Licence, LicenceId, SignedRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(licence) = Licence::from_canonical(data) else {
        return;
    };
    let masked = elicence::licence::public::public_licence(&licence, &[]);
    let _ = format!("{} {} {}", masked.licence_name, masked.identifier, masked.holder_name);
    let _ = LicenceId::parse_lenient(&licence.identifier);
    let bytes = licence.canonical_bytes();
    assert_eq!(
        Licence::from_canonical(&bytes).unwrap(),
        licence,
        "canonical bytes round trip"
    );
    let _ = signing::digest(&bytes);
    // A server holding such a record signs its QR payload and verifies it.
    let keys = elicence_fuzz::keys();
    let signed = SignedRecord {
        bytes,
        signature: [0; 64],
        key_id: licence.key_id.clone(),
    };
    let _ = signed.verify(keys);
    if let Ok(p) = QrPayload::sign(&licence, keys) {
        if let Ok(text) = p.encode() {
            assert_eq!(QrPayload::decode(&text), Ok(p));
        }
    }
});
