//! GB/T 36904 identifier parsing: never panics; a strict parse prints back to exactly
//! its input, and a lenient parse's expected check character is what a strict parse
//! demands.
#![no_main]

use elicence::licence::identifier::{check_parts, IdentifierError};
use elicence::licence::LicenceId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match LicenceId::parse_lenient(s) {
        Ok((id, ok)) => {
            let strict = s.parse::<LicenceId>();
            assert_eq!(strict.is_ok(), ok, "{s:?}");
            assert_eq!(ok, id.expected_check() == id.check, "{s:?}");
            if ok {
                assert_eq!(id.to_string(), s, "a valid identifier prints back as read");
                let rebuilt = LicenceId::new(&id.type_code, &id.issuer_code, &id.serial, id.version).unwrap();
                assert_eq!(rebuilt, id);
                match id.next_version() {
                    Ok(next) => assert_eq!(next.to_string().parse::<LicenceId>().unwrap(), next),
                    Err(e) => assert!(matches!(e, IdentifierError::Version(_)) && id.version == 999),
                }
            } else {
                let fixed = LicenceId {
                    check: id.expected_check(),
                    ..id
                };
                assert!(fixed.to_string().parse::<LicenceId>().is_ok());
            }
        }
        Err(_) => assert!(s.parse::<LicenceId>().is_err()),
    }
    // The parts an identifier is built from, split the way a caller might send them.
    let mut parts = s.splitn(3, '|');
    let (t, i, serial) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if check_parts(t, i, serial).is_ok() {
        let version = (data.len() % 1001) as u16;
        if let Ok(id) = LicenceId::new(t, i, serial, version) {
            assert_eq!(id.to_string().parse::<LicenceId>().unwrap(), id);
        }
    }
});
