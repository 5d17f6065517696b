//! The two random values a record carries since format 2: the salt, which makes the
//! record's digest untestable against guesses of the personal data inside it, and the
//! 核验码 (verification code), which a holder presents with the identifier to prove they
//! hold the licence. Both are made once per licence version and signed into the record.

use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;

/// Crockford base32: no I, L, O or U, so a code read off paper is not misread.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a verification code: 10 × 5 = 50 bits.
pub const CODE_CHARS: usize = 10;
/// Bytes of salt: 128 bits.
pub const SALT_BYTES: usize = 16;

/// A new record's salt and verification code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSecrets {
    /// 32 lowercase hex digits.
    pub salt: String,
    /// [`CODE_CHARS`] Crockford base32 characters, upper case, no separator.
    pub verification_code: String,
}

impl RecordSecrets {
    /// Fresh values from the operating system's random source.
    pub fn generate() -> RecordSecrets {
        let mut salt = [0u8; SALT_BYTES];
        OsRng.fill_bytes(&mut salt);
        let mut raw = [0u8; CODE_CHARS];
        OsRng.fill_bytes(&mut raw);
        // 256 is a multiple of 32, so taking each byte mod 32 is unbiased.
        let verification_code = raw.iter().map(|b| CROCKFORD[usize::from(b % 32)] as char).collect();
        RecordSecrets {
            salt: hex::encode(salt),
            verification_code,
        }
    }
}

/// Reads a code as a person types it: case-insensitive, spaces and hyphens ignored, and
/// Crockford's look-alikes folded (`I`/`L` → `1`, `O` → `0`). `None` when it cannot be a
/// code (wrong length or alphabet).
pub fn normalize_code(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c if c.is_ascii() && CROCKFORD.contains(&(c as u8)) => c,
            _ => return None,
        };
        if out.len() == CODE_CHARS {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// The code as printed: two groups of five, `ABCDE-FGHJK`.
pub fn display_code(code: &str) -> String {
    if code.len() == CODE_CHARS && code.is_ascii() {
        format!("{}-{}", &code[..5], &code[5..])
    } else {
        code.to_string()
    }
}

/// Compares a presented (normalized) code with the stored one in constant time.
pub fn code_matches(stored: &str, presented: &str) -> bool {
    stored.len() == presented.len() && bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_the_promised_size_and_alphabet() {
        let a = RecordSecrets::generate();
        let b = RecordSecrets::generate();
        assert_ne!(a, b);
        assert_eq!(a.salt.len(), 2 * SALT_BYTES);
        assert_eq!(a.verification_code.len(), CODE_CHARS);
        assert!(a.verification_code.bytes().all(|c| CROCKFORD.contains(&c)));
        assert_eq!(
            normalize_code(&a.verification_code).as_deref(),
            Some(a.verification_code.as_str())
        );
    }

    #[test]
    fn codes_are_read_as_people_type_them() {
        assert_eq!(normalize_code("7k3m9-q2xp4").as_deref(), Some("7K3M9Q2XP4"));
        assert_eq!(normalize_code(" 7K3M9 Q2XP4 ").as_deref(), Some("7K3M9Q2XP4"));
        assert_eq!(normalize_code("OI3M9Q2XPL").as_deref(), Some("013M9Q2XP1"));
        for bad in ["", "7K3M9", "7K3M9Q2XP4A", "7K3M9Q2XPU", "7K3M9Q2XP！"] {
            assert_eq!(normalize_code(bad), None, "{bad}");
        }
        assert_eq!(display_code("7K3M9Q2XP4"), "7K3M9-Q2XP4");
        assert!(code_matches("7K3M9Q2XP4", "7K3M9Q2XP4"));
        assert!(!code_matches("7K3M9Q2XP4", "7K3M9Q2XP5"));
        assert!(!code_matches("7K3M9Q2XP4", ""));
    }
}
