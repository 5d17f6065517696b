//! Check-digit algorithms and validators for the national codes a licence carries:
//! GB/T 17710 MOD 37,36 (licence identifiers), GB 32100 (unified social credit code)
//! and GB 11643 (resident identity number).

use std::fmt;

/// Why a code failed validation; the message is shown to API callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeError {
    Length { expected: usize, actual: usize },
    Character { position: usize, ch: char },
    CheckDigit { expected: char, actual: char },
    BirthDate(String),
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeError::Length { expected, actual } => {
                write!(f, "must be {expected} characters, got {actual}")
            }
            CodeError::Character { position, ch } => {
                write!(f, "invalid character {ch:?} at position {}", position + 1)
            }
            CodeError::CheckDigit { expected, actual } => {
                write!(f, "bad check digit: expected {expected}, got {actual}")
            }
            CodeError::BirthDate(d) => write!(f, "invalid birth date {d}"),
        }
    }
}

const MOD37_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn mod37_value(c: char) -> Option<u32> {
    c.to_digit(36).filter(|_| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// ISO/IEC 7064 MOD 37,36 check character over `data` (characters `0-9A-Z`).
/// Returns `None` when `data` contains any other character.
pub fn mod37_36_check(data: &str) -> Option<char> {
    let mut p: u32 = 36;
    for c in data.chars() {
        let v = mod37_value(c)?;
        p = (p + v) % 36;
        if p == 0 {
            p = 36;
        }
        p = (2 * p) % 37;
    }
    let check = (37 - p) % 36;
    Some(MOD37_ALPHABET[check as usize] as char)
}

const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn uscc_value(c: char) -> Option<u32> {
    USCC_ALPHABET.find(c).map(|i| i as u32)
}

/// The GB 32100 check character for the first 17 characters of a unified social credit code.
pub fn uscc_check(first17: &str) -> Result<char, CodeError> {
    let chars: Vec<char> = first17.chars().collect();
    if chars.len() != 17 {
        return Err(CodeError::Length {
            expected: 17,
            actual: chars.len(),
        });
    }
    let mut sum = 0;
    for (i, (c, w)) in chars.iter().zip(USCC_WEIGHTS).enumerate() {
        let v = uscc_value(*c).ok_or(CodeError::Character { position: i, ch: *c })?;
        sum += v * w;
    }
    let check = (31 - sum % 31) % 31;
    Ok(USCC_ALPHABET.as_bytes()[check as usize] as char)
}

/// Validates an 18-character unified social credit code (统一社会信用代码), check digit included.
pub fn validate_uscc(code: &str) -> Result<(), CodeError> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(CodeError::Length {
            expected: 18,
            actual: chars.len(),
        });
    }
    let first17: String = chars[..17].iter().collect();
    let expected = uscc_check(&first17)?;
    let actual = chars[17];
    if uscc_value(actual).is_none() {
        return Err(CodeError::Character {
            position: 17,
            ch: actual,
        });
    }
    if expected != actual {
        return Err(CodeError::CheckDigit { expected, actual });
    }
    Ok(())
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECKS: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character for the first 17 digits of a resident identity number.
pub fn resident_id_check(first17: &str) -> Result<char, CodeError> {
    let chars: Vec<char> = first17.chars().collect();
    if chars.len() != 17 {
        return Err(CodeError::Length {
            expected: 17,
            actual: chars.len(),
        });
    }
    let mut sum = 0;
    for (i, (c, w)) in chars.iter().zip(ID_WEIGHTS).enumerate() {
        let v = c.to_digit(10).ok_or(CodeError::Character { position: i, ch: *c })?;
        sum += v * w;
    }
    Ok(ID_CHECKS[(sum % 11) as usize] as char)
}

/// Validates an 18-character resident identity number (公民身份号码): digits, a real
/// birth date and the MOD 11-2 check character (`X` accepted in either case).
pub fn validate_resident_id(code: &str) -> Result<(), CodeError> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(CodeError::Length {
            expected: 18,
            actual: chars.len(),
        });
    }
    let first17: String = chars[..17].iter().collect();
    let expected = resident_id_check(&first17)?;
    let birth = &first17[6..14];
    let year: i32 = birth[..4].parse().unwrap_or(0);
    let month: u8 = birth[4..6].parse().unwrap_or(0);
    let day: u8 = birth[6..8].parse().unwrap_or(0);
    let valid_birth = (1900..=2100).contains(&year)
        && time::Month::try_from(month)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(year, m, day).ok())
            .is_some();
    if !valid_birth {
        return Err(CodeError::BirthDate(birth.to_string()));
    }
    let actual = chars[17].to_ascii_uppercase();
    if !(actual.is_ascii_digit() || actual == 'X') {
        return Err(CodeError::Character {
            position: 17,
            ch: chars[17],
        });
    }
    if expected != actual {
        return Err(CodeError::CheckDigit { expected, actual });
    }
    Ok(())
}

/// Holder code types from GB/T 36903 that the repository validates.
pub const HOLDER_CODE_RESIDENT_ID: &str = "111";
pub const HOLDER_CODE_USCC: &str = "001";

/// Validates a holder code according to its type; other types are stored unvalidated
/// (passports, foreign registrations) but must be non-empty printable text.
pub fn validate_holder_code(code_type: &str, code: &str) -> Result<(), CodeError> {
    match code_type {
        HOLDER_CODE_RESIDENT_ID => validate_resident_id(code),
        HOLDER_CODE_USCC => validate_uscc(code),
        _ => Ok(()),
    }
}

/// Masks a personal or organisation code for public display: the first six and last
/// four characters stay, the rest become `*` (`420802********1234`).
pub fn mask_code(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    let (keep_head, keep_tail) = if n >= 14 { (6, 4) } else { (1, 2.min(n - 2)) };
    let mut out = String::with_capacity(n);
    for (i, c) in chars.iter().enumerate() {
        if i < keep_head || i >= n - keep_tail {
            out.push(*c);
        } else {
            out.push('*');
        }
    }
    out
}

/// Masks any code of a natural person (resident ID, passport, …): at most the first and
/// the last character stay, so no part of a birth date or sequence number shows.
pub fn mask_personal_code(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let n = chars.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    let mut out = String::with_capacity(n);
    out.push(chars[0]);
    out.push_str(&"*".repeat(n - 2));
    out.push(chars[n - 1]);
    out
}

/// Masks a natural person's name: `张三` → `张*`, `张小明` → `张*明`, `欧阳小明` → `欧**明`.
pub fn mask_person_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_string(),
        2 => format!("{}*", chars[0]),
        n => {
            let mut s = String::new();
            s.push(chars[0]);
            s.push_str(&"*".repeat(n - 2));
            s.push(chars[n - 1]);
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_identifier_check_is_y() {
        // 1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y
        let data = "11100000000013338W01111110000000021135M20230329701003";
        assert_eq!(mod37_36_check(data), Some('Y'));
    }

    #[test]
    fn mod37_rejects_foreign_characters() {
        assert_eq!(mod37_36_check("abc"), None);
        assert_eq!(mod37_36_check("12-3"), None);
    }

    #[test]
    fn uscc_known_codes() {
        // 国家市场监督管理总局 and a Shenzhen company, as published.
        validate_uscc("91440300708461136T").unwrap();
        validate_uscc("11110000000021135M").unwrap();
        assert_eq!(
            validate_uscc("91440300708461136A"),
            Err(CodeError::CheckDigit {
                expected: 'T',
                actual: 'A'
            })
        );
        assert!(matches!(
            validate_uscc("9144030070846113"),
            Err(CodeError::Length { .. })
        ));
        assert!(matches!(
            validate_uscc("9I440300708461136T"),
            Err(CodeError::Character { position: 1, .. })
        ));
    }

    #[test]
    fn resident_id_known_codes() {
        validate_resident_id("11010519491231002X").unwrap();
        validate_resident_id("11010519491231002x").unwrap();
        assert!(matches!(
            validate_resident_id("110105194912310021"),
            Err(CodeError::CheckDigit { .. })
        ));
        assert!(matches!(
            validate_resident_id("110105194913310021"),
            Err(CodeError::BirthDate(_))
        ));
    }

    #[test]
    fn masking() {
        assert_eq!(mask_code("91440300708461136T"), "914403********136T");
        assert_eq!(mask_personal_code("420802199001011234"), "4****************4");
        assert_eq!(mask_personal_code("E1234567"), "E******7");
        assert_eq!(mask_person_name("张小明"), "张*明");
        assert_eq!(mask_person_name("张三"), "张*");
        assert_eq!(mask_person_name("欧阳小明"), "欧**明");
    }

    proptest! {
        #[test]
        fn uscc_generated_check_always_validates(body in "[0-9A-HJ-NP-RTUW-Y]{17}") {
            let check = uscc_check(&body).unwrap();
            let code = format!("{body}{check}");
            prop_assert!(validate_uscc(&code).is_ok());
        }

        #[test]
        fn mod37_detects_single_substitution(data in "[0-9A-Z]{10,40}", pos in 0usize..10, sub in 0u32..36) {
            let check = mod37_36_check(&data).unwrap();
            let mut chars: Vec<char> = data.chars().collect();
            let replacement = std::char::from_digit(sub, 36).unwrap().to_ascii_uppercase();
            prop_assume!(chars[pos] != replacement);
            chars[pos] = replacement;
            let altered: String = chars.into_iter().collect();
            prop_assert_ne!(mod37_36_check(&altered).unwrap(), check);
        }

        #[test]
        fn resident_id_generated_check_validates_and_catches_one_wrong_digit(
            region in "[1-8][0-9]{5}", y in 1900i32..=2100, m in 1u8..=12, d in 1u8..=28, seq in "[0-9]{3}",
            pos in 0usize..17, sub in 0u32..10
        ) {
            let body = format!("{region}{y:04}{m:02}{d:02}{seq}");
            let code = format!("{body}{}", resident_id_check(&body).unwrap());
            prop_assert!(validate_resident_id(&code).is_ok(), "{}", code);
            prop_assert!(validate_resident_id(&code.to_ascii_lowercase()).is_ok());
            // MOD 11-2 weights are all non-zero mod 11: every single-digit error shows.
            let mut chars: Vec<char> = code.chars().collect();
            let replacement = std::char::from_digit(sub, 10).unwrap();
            prop_assume!(chars[pos] != replacement);
            chars[pos] = replacement;
            let altered: String = chars.into_iter().collect();
            prop_assert!(validate_resident_id(&altered).is_err(), "{}", altered);
        }

        #[test]
        fn code_shaped_input_never_panics(s in "[0-9A-Za-zＸ０-９]{15,19}") {
            let _ = validate_uscc(&s);
            let _ = validate_resident_id(&s);
            let _ = validate_holder_code(HOLDER_CODE_USCC, &s);
            let _ = validate_holder_code(HOLDER_CODE_RESIDENT_ID, &s);
            prop_assert_eq!(mask_code(&s).chars().count(), s.chars().count());
        }

        #[test]
        fn validators_never_panic(s in "\\PC{0,30}") {
            let _ = validate_uscc(&s);
            let _ = validate_resident_id(&s);
            let _ = mod37_36_check(&s);
            let _ = mask_code(&s);
            let _ = mask_person_name(&s);
        }
    }
}
