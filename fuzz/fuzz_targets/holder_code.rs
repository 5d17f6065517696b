//! Holder-code validation (GB 32100 credit codes, GB 11643 resident ID numbers), check
//! characters, type inference and masking: never panics, and an accepted code's last
//! character is the computed check character.
#![no_main]

use elicence::import::mapper::infer_holder_code_type;
use elicence::licence::codes::{
    mask_code, mask_person_name, mod37_36_check, resident_id_check, uscc_check, validate_holder_code,
    validate_resident_id, validate_uscc,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    let chars: Vec<char> = s.chars().collect();
    if validate_uscc(s).is_ok() {
        let first17: String = chars[..17].iter().collect();
        assert_eq!(uscc_check(&first17).unwrap(), chars[17]);
    }
    if validate_resident_id(s).is_ok() {
        let first17: String = chars[..17].iter().collect();
        assert_eq!(resident_id_check(&first17).unwrap(), chars[17].to_ascii_uppercase());
    }
    for code_type in ["111", "001", "099", ""] {
        let _ = validate_holder_code(code_type, s);
    }
    if let Some(check) = mod37_36_check(s) {
        assert!(check.is_ascii_digit() || check.is_ascii_uppercase());
    }
    let _ = infer_holder_code_type(s);
    let masked = mask_code(s);
    assert_eq!(masked.chars().count(), chars.len());
    let name = mask_person_name(s);
    assert_eq!(name.chars().count(), chars.len());
});
