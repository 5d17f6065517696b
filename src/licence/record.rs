//! The licence record (GB/T 36903 metadata plus type-specific fields), its validation,
//! and its canonical JSON (RFC 8785) encoding — the exact bytes that are signed.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::codes::{self, HOLDER_CODE_RESIDENT_ID, HOLDER_CODE_USCC};
use super::identifier::LicenceId;
use super::secrets::RecordSecrets;

/// Schema tag carried inside every signed record, so verifiers know how to read it.
/// Format 2 adds the salt and the verification code (docs/VERIFYING.md).
pub const RECORD_SCHEMA: &str = "elicence.licence.v2";
/// Records signed before format 2: no salt, no verification code. They still verify.
pub const RECORD_SCHEMA_V1: &str = "elicence.licence.v1";

/// The earliest and latest dates a record may carry.
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2199;

/// Maximum lengths enforced on issue (bytes of UTF-8).
pub const MAX_TEXT: usize = 512;
pub const MAX_FIELD_VALUE: usize = 8192;
pub const MAX_FIELDS: usize = 200;

/// One type-specific field (照面信息), kept in the order the type defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// Who sealed the licence and when (签章).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub signer: String,
    pub sealed_at: String,
    pub seal_name: String,
}

/// Where a migrated record came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub source_system: String,
    pub source_file: String,
    pub source_line: u64,
    pub original_issue_date: String,
    /// Data-quality flags kept with the record, e.g. `holder_code_check_digit`.
    #[serde(default)]
    pub flags: Vec<String>,
}

/// What a department submits to issue a licence: every metadata field a caller sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenceDraft {
    pub licence_type_code: String,
    pub licence_number: String,
    pub issuer_name: String,
    pub issuer_code: String,
    pub issuer_level: String,
    pub issue_date: String,
    pub holder_name: String,
    pub holder_code: String,
    pub holder_code_type: String,
    pub valid_from: String,
    /// Empty means no end (长期).
    pub valid_until: String,
    pub region_code: String,
    pub related_item: String,
    pub seal: Seal,
    pub fields: Vec<Field>,
}

/// A complete licence record as signed and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    pub schema: String,
    pub identifier: String,
    pub licence_name: String,
    pub licence_type_code: String,
    pub licence_number: String,
    pub issuer_name: String,
    pub issuer_code: String,
    pub issuer_level: String,
    #[serde(with = "date_fmt")]
    pub issue_date: Date,
    pub holder_name: String,
    pub holder_code: String,
    pub holder_code_type: String,
    #[serde(with = "date_fmt")]
    pub valid_from: Date,
    #[serde(with = "opt_date_fmt")]
    pub valid_until: Option<Date>,
    pub region_code: String,
    pub related_item: String,
    pub seal: Seal,
    pub fields: Vec<Field>,
    pub version: u16,
    /// The identifier of the version this one replaces (amendment, renewal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Key that signed this record and when (RFC 3339, UTC).
    pub key_id: String,
    pub signed_at: String,
    /// Format 2: 128 random bits (hex), so the record's digest cannot be tested against
    /// guesses of the personal data it holds. Never shown publicly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Format 2: the 核验码 printed on the licence; presenting it with the identifier
    /// proves possession. Never shown publicly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_code: Option<String>,
}

/// A field-level validation failure; `field` names the field path the caller sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Parses an ISO `YYYY-MM-DD` date between [`MIN_YEAR`] and [`MAX_YEAR`].
pub fn parse_date(field: &str, s: &str) -> Result<Date, Invalid> {
    let d = Date::parse(s, &time::format_description::well_known::Iso8601::DATE)
        .ok()
        .filter(|_| s.len() == 10)
        .ok_or_else(|| Invalid::new(field, format!("must be a date YYYY-MM-DD, got {s:?}")))?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&d.year()) {
        return Err(Invalid::new(
            field,
            format!("{s} is outside {MIN_YEAR}-01-01..{MAX_YEAR}-12-31"),
        ));
    }
    Ok(d)
}

pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn require(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    check_text(field, value, max)
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    super::text::check_line(field, value, max)
}

/// The checked, parsed form of a draft, ready to be given an identifier and signed.
#[derive(Debug, Clone)]
pub struct ValidDraft {
    pub draft: LicenceDraft,
    pub issue_date: Date,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
}

/// How strictly holder codes are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDigits {
    Strict,
    /// Legacy import: a bad check digit is accepted and reported as a flag.
    Flag,
}

impl LicenceDraft {
    /// Checks every field as the issuing path requires. Returns the parsed draft and any
    /// data-quality flags (only possible with [`CheckDigits::Flag`]).
    pub fn validate(self, check: CheckDigits) -> Result<(ValidDraft, Vec<String>), Invalid> {
        let d = &self;
        let mut flags = Vec::new();
        require("licence.licence_type_code", &d.licence_type_code, 21)?;
        if d.licence_type_code.len() != 21
            || !d
                .licence_type_code
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err(Invalid::new(
                "licence.licence_type_code",
                "must be 21 characters of 0-9A-Z",
            ));
        }
        require("licence.licence_number", &d.licence_number, 128)?;
        require("licence.issuer_name", &d.issuer_name, MAX_TEXT)?;
        require("licence.issuer_code", &d.issuer_code, 18)?;
        codes::validate_uscc(&d.issuer_code).map_err(|e| Invalid::new("licence.issuer_code", e.to_string()))?;
        check_text("licence.issuer_level", &d.issuer_level, 64)?;
        require("licence.holder_name", &d.holder_name, MAX_TEXT)?;
        require("licence.holder_code_type", &d.holder_code_type, 8)?;
        require("licence.holder_code", &d.holder_code, 64)?;
        if !d.holder_code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Invalid::new("licence.holder_code", "must be letters, digits or '-'"));
        }
        if let Err(e) = codes::validate_holder_code(&d.holder_code_type, &d.holder_code) {
            let is_check = matches!(e, codes::CodeError::CheckDigit { .. });
            if check == CheckDigits::Flag && is_check {
                flags.push("holder_code_check_digit".to_string());
            } else {
                let kind = match d.holder_code_type.as_str() {
                    HOLDER_CODE_RESIDENT_ID => "resident identity number",
                    HOLDER_CODE_USCC => "unified social credit code",
                    _ => "holder code",
                };
                return Err(Invalid::new("licence.holder_code", format!("invalid {kind}: {e}")));
            }
        }
        require("licence.issue_date", &d.issue_date, 10)?;
        let issue_date = parse_date("licence.issue_date", &d.issue_date)?;
        require("licence.valid_from", &d.valid_from, 10)?;
        let valid_from = parse_date("licence.valid_from", &d.valid_from)?;
        let valid_until = match d.valid_until.trim() {
            "" => None,
            s => Some(parse_date("licence.valid_until", s)?),
        };
        if let Some(until) = valid_until {
            if until < valid_from {
                return Err(Invalid::new(
                    "licence.valid_until",
                    format!(
                        "{} is before valid_from {}",
                        format_date(until),
                        format_date(valid_from)
                    ),
                ));
            }
        }
        require("licence.region_code", &d.region_code, 12)?;
        if d.region_code.len() != 6 || !d.region_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "licence.region_code",
                "must be a 6-digit GB/T 2260 region code",
            ));
        }
        check_text("licence.related_item", &d.related_item, MAX_TEXT)?;
        check_text("licence.seal.signer", &d.seal.signer, MAX_TEXT)?;
        check_text("licence.seal.seal_name", &d.seal.seal_name, MAX_TEXT)?;
        check_text("licence.seal.sealed_at", &d.seal.sealed_at, 64)?;
        if d.fields.len() > MAX_FIELDS {
            return Err(Invalid::new("licence.fields", format!("more than {MAX_FIELDS} fields")));
        }
        for (i, f) in d.fields.iter().enumerate() {
            require(&format!("licence.fields[{i}].name"), &f.name, 128)?;
            let field = format!("licence.fields[{i}].value");
            if f.value.len() > MAX_FIELD_VALUE {
                return Err(Invalid::new(field, format!("longer than {MAX_FIELD_VALUE} bytes")));
            }
            // A type-specific value (经营范围 …) may span lines; nothing else may.
            super::text::check_chars(&field, &f.value, super::text::Lines::Multi)?;
        }
        Ok((
            ValidDraft {
                draft: self,
                issue_date,
                valid_from,
                valid_until,
            },
            flags,
        ))
    }
}

impl ValidDraft {
    /// Completes the record with its identifier, catalogue name and signing metadata, and
    /// a fresh salt and verification code.
    pub fn into_licence(self, id: &LicenceId, licence_name: &str, key_id: &str, now: OffsetDateTime) -> Licence {
        self.into_licence_with(id, licence_name, key_id, now, RecordSecrets::generate())
    }

    /// [`ValidDraft::into_licence`] with given secrets (reproducible examples and tests).
    pub fn into_licence_with(
        self,
        id: &LicenceId,
        licence_name: &str,
        key_id: &str,
        now: OffsetDateTime,
        secrets: RecordSecrets,
    ) -> Licence {
        let d = self.draft;
        let signed_at = rfc3339(now);
        let mut seal = d.seal;
        if seal.sealed_at.is_empty() {
            seal.sealed_at = signed_at.clone();
        }
        if seal.signer.is_empty() {
            seal.signer = d.issuer_name.clone();
        }
        Licence {
            schema: RECORD_SCHEMA.to_string(),
            identifier: id.to_string(),
            licence_name: licence_name.to_string(),
            licence_type_code: d.licence_type_code,
            licence_number: d.licence_number,
            issuer_name: d.issuer_name,
            issuer_code: d.issuer_code,
            issuer_level: d.issuer_level,
            issue_date: self.issue_date,
            holder_name: d.holder_name,
            holder_code: d.holder_code,
            holder_code_type: d.holder_code_type,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            region_code: d.region_code,
            related_item: d.related_item,
            seal,
            fields: d.fields,
            version: id.version,
            replaces: None,
            provenance: None,
            key_id: key_id.to_string(),
            signed_at,
            salt: Some(secrets.salt),
            verification_code: Some(secrets.verification_code),
        }
    }
}

/// RFC 3339 UTC timestamp with second precision, e.g. `2026-11-27T10:00:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Licence {
    /// The RFC 8785 canonical JSON bytes of this record: what is signed and digested.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        super::canonical::licence_bytes(self)
    }

    /// Reads a record back from its canonical bytes.
    pub fn from_canonical(bytes: &[u8]) -> Result<Licence, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Draft fields of this record, for amendment and renewal.
    pub fn to_draft(&self) -> LicenceDraft {
        LicenceDraft {
            licence_type_code: self.licence_type_code.clone(),
            licence_number: self.licence_number.clone(),
            issuer_name: self.issuer_name.clone(),
            issuer_code: self.issuer_code.clone(),
            issuer_level: self.issuer_level.clone(),
            issue_date: format_date(self.issue_date),
            holder_name: self.holder_name.clone(),
            holder_code: self.holder_code.clone(),
            holder_code_type: self.holder_code_type.clone(),
            valid_from: format_date(self.valid_from),
            valid_until: self.valid_until.map(format_date).unwrap_or_default(),
            region_code: self.region_code.clone(),
            related_item: self.related_item.clone(),
            seal: self.seal.clone(),
            fields: self.fields.clone(),
        }
    }

    /// The record format: 2 for salted records with a verification code, 1 before.
    pub fn format(&self) -> u32 {
        if self.schema == RECORD_SCHEMA_V1 || self.salt.is_none() {
            1
        } else {
            2
        }
    }
}

mod date_fmt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_date(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_date("date", &s).map_err(serde::de::Error::custom)
    }
}

mod opt_date_fmt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&super::format_date(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| super::parse_date("date", &s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::datetime;

    pub fn sample_draft() -> LicenceDraft {
        LicenceDraft {
            licence_type_code: "11100000000013338W011".into(),
            licence_number: "91420800MA4F0001X1".into(),
            issuer_name: "荆门市市场监督管理局".into(),
            issuer_code: "11110000000021135M".into(),
            issuer_level: "地市级".into(),
            issue_date: "2026-03-01".into(),
            holder_name: "荆门市楚韵食品有限公司".into(),
            holder_code: "91440300708461136T".into(),
            holder_code_type: "001".into(),
            valid_from: "2026-03-01".into(),
            valid_until: "".into(),
            region_code: "420800".into(),
            related_item: "企业设立登记".into(),
            seal: Seal::default(),
            fields: vec![
                Field {
                    name: "注册资本".into(),
                    value: "500万元".into(),
                },
                Field {
                    name: "经营范围".into(),
                    value: "食品销售".into(),
                },
            ],
        }
    }

    pub fn sample_licence() -> Licence {
        let (v, _) = sample_draft().validate(CheckDigits::Strict).unwrap();
        let id = LicenceId::new("11100000000013338W011", "11110000000021135M", "20260000001", 1).unwrap();
        v.into_licence(&id, "营业执照", "0123456789abcdef", datetime!(2026-03-01 08:00 UTC))
    }

    #[test]
    fn canonical_bytes_are_sorted_and_round_trip() {
        let l = sample_licence();
        let bytes = l.canonical_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("{\"fields\":[{\"name\":\"注册资本\""), "{text}");
        assert!(text.contains("\"valid_until\":null"));
        assert_eq!(Licence::from_canonical(&bytes).unwrap(), l);
        // Re-encoding through a map with a different key order yields the same bytes.
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut obj: Vec<(String, serde_json::Value)> = v.as_object().unwrap().clone().into_iter().collect();
        obj.reverse();
        let reversed: serde_json::Map<String, serde_json::Value> = obj.into_iter().collect();
        assert_eq!(serde_jcs::to_vec(&reversed).unwrap(), bytes);
    }

    #[test]
    fn field_order_is_part_of_the_record() {
        let mut l = sample_licence();
        let before = l.canonical_bytes();
        l.fields.reverse();
        assert_ne!(l.canonical_bytes(), before);
    }

    #[test]
    fn validation_names_the_field() {
        let mut d = sample_draft();
        d.holder_code = "91440300708461136A".into();
        let e = d.validate(CheckDigits::Strict).unwrap_err();
        assert_eq!(e.field, "licence.holder_code");
        assert!(e.reason.contains("check digit"), "{e}");

        let mut d = sample_draft();
        d.holder_code = "91440300708461136A".into();
        let (_, flags) = d.validate(CheckDigits::Flag).unwrap();
        assert_eq!(flags, vec!["holder_code_check_digit".to_string()]);

        let mut d = sample_draft();
        d.valid_until = "2025-01-01".into();
        let e = d.validate(CheckDigits::Strict).unwrap_err();
        assert_eq!(e.field, "licence.valid_until");

        let mut d = sample_draft();
        d.issue_date = "2026/03/01".into();
        assert_eq!(d.validate(CheckDigits::Strict).unwrap_err().field, "licence.issue_date");

        let mut d = sample_draft();
        d.licence_number = " ".into();
        let e = d.validate(CheckDigits::Strict).unwrap_err();
        assert_eq!(e.to_string(), "licence.licence_number: is required");
    }

    #[test]
    fn dates_are_bounded_and_records_carry_salt_and_code() {
        for (date, ok) in [
            ("1899-12-31", false),
            ("1900-01-01", true),
            ("2199-12-31", true),
            ("9999-12-31", false),
        ] {
            let mut d = sample_draft();
            d.valid_until = date.into();
            d.issue_date = "1900-01-01".into();
            d.valid_from = "1900-01-01".into();
            let r = d.validate(CheckDigits::Strict);
            assert_eq!(r.is_ok(), ok, "{date}: {r:?}");
            if !ok {
                assert!(r.unwrap_err().reason.contains("1900-01-01..2199-12-31"));
            }
        }
        let a = sample_licence();
        let b = sample_licence();
        assert_eq!(a.format(), 2);
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.canonical_bytes(), b.canonical_bytes(), "same data, different digests");
        let text = String::from_utf8(a.canonical_bytes()).unwrap();
        assert!(
            text.contains(&format!("\"salt\":\"{}\"", a.salt.as_ref().unwrap())),
            "{text}"
        );
        assert!(text.contains("\"verification_code\":"), "{text}");
        let mut old = a.clone();
        old.schema = RECORD_SCHEMA_V1.into();
        old.salt = None;
        old.verification_code = None;
        assert_eq!(old.format(), 1);
        assert!(!String::from_utf8(old.canonical_bytes()).unwrap().contains("salt"));
    }

    #[test]
    fn hidden_characters_are_refused_in_every_text_field() {
        for c in ['\u{202E}', '\u{200B}', '\u{1B}', '\0', '\n'] {
            let mut d = sample_draft();
            d.holder_name = format!("荆门{c}公司");
            assert_eq!(
                d.validate(CheckDigits::Strict).unwrap_err().field,
                "licence.holder_name"
            );
            let mut d = sample_draft();
            d.related_item = format!("x{c}");
            assert_eq!(
                d.validate(CheckDigits::Strict).unwrap_err().field,
                "licence.related_item"
            );
            let mut d = sample_draft();
            d.fields[1].name = format!("经营{c}范围");
            assert_eq!(
                d.validate(CheckDigits::Strict).unwrap_err().field,
                "licence.fields[1].name"
            );
        }
        let mut d = sample_draft();
        d.fields[1].value = "食品销售\n餐饮服务".into();
        d.clone().validate(CheckDigits::Strict).unwrap();
        d.fields[1].value = "食品销售\u{202E}".into();
        assert_eq!(
            d.validate(CheckDigits::Strict).unwrap_err().field,
            "licence.fields[1].value"
        );
    }
}
