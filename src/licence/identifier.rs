//! The GB/T 36904 licence identifier (证照标识):
//! `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`.

use std::fmt;
use std::str::FromStr;

use super::codes::mod37_36_check;

/// The OID root every national e-licence identifier starts with.
pub const ROOT: &str = "1.2.156.3005.2";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LicenceId {
    pub type_code: String,
    pub issuer_code: String,
    pub serial: String,
    pub version: u16,
    pub check: char,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("must start with {ROOT}")]
    Root,
    #[error("must have 5 parts after the root (type.issuer.serial.version.check), got {0}")]
    Parts(usize),
    #[error("licence type code must be 21 characters of 0-9A-Z, got {0:?}")]
    TypeCode(String),
    #[error("issuer code must be 18 characters of 0-9A-Z, got {0:?}")]
    IssuerCode(String),
    #[error("serial must be 1-32 characters of 0-9A-Z, got {0:?}")]
    Serial(String),
    #[error("version must be 3 digits 001-999, got {0:?}")]
    Version(String),
    #[error("bad check character: expected {expected}, got {actual}")]
    Check { expected: char, actual: String },
}

fn is_code_chars(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// Checks the shape of the parts an identifier is built from.
pub fn check_parts(type_code: &str, issuer_code: &str, serial: &str) -> Result<(), IdentifierError> {
    if type_code.len() != 21 || !is_code_chars(type_code) {
        return Err(IdentifierError::TypeCode(type_code.to_string()));
    }
    if issuer_code.len() != 18 || !is_code_chars(issuer_code) {
        return Err(IdentifierError::IssuerCode(issuer_code.to_string()));
    }
    if serial.is_empty() || serial.len() > 32 || !is_code_chars(serial) {
        return Err(IdentifierError::Serial(serial.to_string()));
    }
    Ok(())
}

impl LicenceId {
    /// Builds an identifier, computing its check character.
    pub fn new(type_code: &str, issuer_code: &str, serial: &str, version: u16) -> Result<Self, IdentifierError> {
        check_parts(type_code, issuer_code, serial)?;
        if !(1..=999).contains(&version) {
            return Err(IdentifierError::Version(version.to_string()));
        }
        let check = Self::compute_check(type_code, issuer_code, serial, version);
        Ok(LicenceId {
            type_code: type_code.to_string(),
            issuer_code: issuer_code.to_string(),
            serial: serial.to_string(),
            version,
            check,
        })
    }

    fn compute_check(type_code: &str, issuer_code: &str, serial: &str, version: u16) -> char {
        let data = format!("{type_code}{issuer_code}{serial}{version:03}");
        mod37_36_check(&data).expect("parts were checked to be 0-9A-Z")
    }

    /// The same licence at the next version (amendment or renewal), with a new check character.
    pub fn next_version(&self) -> Result<Self, IdentifierError> {
        Self::new(&self.type_code, &self.issuer_code, &self.serial, self.version + 1)
    }

    /// Parses an identifier without enforcing the check character, returning the parsed
    /// value and whether the check matched. Import uses this to keep legacy identifiers.
    pub fn parse_lenient(s: &str) -> Result<(Self, bool), IdentifierError> {
        let rest = s
            .strip_prefix(ROOT)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or(IdentifierError::Root)?;
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 5 {
            return Err(IdentifierError::Parts(parts.len()));
        }
        let (type_code, issuer_code, serial, version, check) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
        check_parts(type_code, issuer_code, serial)?;
        if version.len() != 3 || !version.bytes().all(|b| b.is_ascii_digit()) || version == "000" {
            return Err(IdentifierError::Version(version.to_string()));
        }
        let version: u16 = version
            .parse()
            .map_err(|_| IdentifierError::Version(version.to_string()))?;
        let mut chars = check.chars();
        let actual = match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c.is_ascii_uppercase() => c,
            _ => {
                return Err(IdentifierError::Check {
                    expected: Self::compute_check(type_code, issuer_code, serial, version),
                    actual: check.to_string(),
                })
            }
        };
        let expected = Self::compute_check(type_code, issuer_code, serial, version);
        let id = LicenceId {
            type_code: type_code.to_string(),
            issuer_code: issuer_code.to_string(),
            serial: serial.to_string(),
            version,
            check: actual,
        };
        Ok((id, expected == actual))
    }

    /// The expected check character for this identifier's parts.
    pub fn expected_check(&self) -> char {
        Self::compute_check(&self.type_code, &self.issuer_code, &self.serial, self.version)
    }
}

impl FromStr for LicenceId {
    type Err = IdentifierError;

    /// Strict parse: the check character must match.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, ok) = Self::parse_lenient(s)?;
        if !ok {
            return Err(IdentifierError::Check {
                expected: id.expected_check(),
                actual: id.check.to_string(),
            });
        }
        Ok(id)
    }
}

impl fmt::Display for LicenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ROOT}.{}.{}.{}.{:03}.{}",
            self.type_code, self.issuer_code, self.serial, self.version, self.check
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PUBLISHED: &str = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y";

    #[test]
    fn published_example_validates_and_round_trips() {
        let id: LicenceId = PUBLISHED.parse().unwrap();
        assert_eq!(id.type_code, "11100000000013338W011");
        assert_eq!(id.issuer_code, "11110000000021135M");
        assert_eq!(id.serial, "20230329701");
        assert_eq!(id.version, 3);
        assert_eq!(id.check, 'Y');
        assert_eq!(id.to_string(), PUBLISHED);
        let rebuilt = LicenceId::new(&id.type_code, &id.issuer_code, &id.serial, 3).unwrap();
        assert_eq!(rebuilt, id);
    }

    #[test]
    fn wrong_check_is_rejected_strictly_but_parsed_leniently() {
        let bad = PUBLISHED.replace(".Y", ".Z");
        assert_eq!(
            bad.parse::<LicenceId>(),
            Err(IdentifierError::Check {
                expected: 'Y',
                actual: "Z".into()
            })
        );
        let (id, ok) = LicenceId::parse_lenient(&bad).unwrap();
        assert!(!ok);
        assert_eq!(id.check, 'Z');
    }

    #[test]
    fn malformed_identifiers() {
        assert_eq!("1.2.3".parse::<LicenceId>(), Err(IdentifierError::Root));
        assert!(matches!(
            "1.2.156.3005.2.A.B".parse::<LicenceId>(),
            Err(IdentifierError::Parts(2))
        ));
        let short_type = PUBLISHED.replace("W011", "W01");
        assert!(matches!(
            short_type.parse::<LicenceId>(),
            Err(IdentifierError::TypeCode(_))
        ));
        let bad_version = PUBLISHED.replace(".003.", ".000.");
        assert!(matches!(
            bad_version.parse::<LicenceId>(),
            Err(IdentifierError::Version(_))
        ));
    }

    #[test]
    fn next_version_changes_check() {
        let id: LicenceId = PUBLISHED.parse().unwrap();
        let next = id.next_version().unwrap();
        assert_eq!(next.version, 4);
        assert_eq!(next.serial, id.serial);
        assert_eq!(next.to_string().parse::<LicenceId>().unwrap(), next);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,120}") {
            let _ = LicenceId::parse_lenient(&s);
        }

        #[test]
        fn generated_identifiers_round_trip(
            t in "[0-9A-Z]{21}", i in "[0-9A-Z]{18}", s in "[0-9A-Z]{1,20}", v in 1u16..=999
        ) {
            let id = LicenceId::new(&t, &i, &s, v).unwrap();
            prop_assert_eq!(id.to_string().parse::<LicenceId>().unwrap(), id);
        }

        #[test]
        fn check_character_decides_strictness(
            t in "[0-9A-Z]{21}", i in "[0-9A-Z]{18}", s in "[0-9A-Z]{1,32}", v in 1u16..=999, c in "[0-9A-Z]"
        ) {
            let text = format!("{ROOT}.{t}.{i}.{s}.{v:03}.{c}");
            let (id, ok) = LicenceId::parse_lenient(&text).unwrap();
            let expected = LicenceId::new(&t, &i, &s, v).unwrap().check;
            prop_assert_eq!(ok, c == expected.to_string());
            prop_assert_eq!(id.expected_check(), expected);
            prop_assert_eq!(id.to_string(), text.clone());
            prop_assert_eq!(text.parse::<LicenceId>().is_ok(), ok);
        }

        #[test]
        fn near_identifiers_never_panic(parts in proptest::collection::vec("[0-9A-Za-z]{0,34}|\\PC{0,3}", 0..8)) {
            // Past the root, so the part checks run (arbitrary text rarely gets there).
            let text = format!("{ROOT}.{}", parts.join("."));
            if let Ok((id, ok)) = LicenceId::parse_lenient(&text) {
                prop_assert_eq!(text.parse::<LicenceId>().is_ok(), ok);
                prop_assert_eq!(id.to_string(), text);
            }
        }
    }
}
