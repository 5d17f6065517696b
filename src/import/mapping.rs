//! The mapping file (TOML): which source column or constant feeds each licence field,
//! per-type defaults, value translations, extra type-specific fields, date rules and the
//! source key. `docs/IMPORT.md` is its user documentation; keep the two in step.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::dates::{DateRules, DateStyle};
use super::source::{Encoding, Format};
use super::ImportError;

/// Licence fields a mapping can fill, in the order of [`crate::licence::LicenceDraft`].
pub const LICENCE_FIELDS: [&str; 17] = [
    "licence_type_code",
    "licence_number",
    "issuer_name",
    "issuer_code",
    "issuer_level",
    "issue_date",
    "holder_name",
    "holder_code",
    "holder_code_type",
    "valid_from",
    "valid_until",
    "region_code",
    "related_item",
    "seal_signer",
    "seal_name",
    "sealed_at",
    "legacy_identifier",
];

/// Fields that need a source (column, constant or default) for any row to import.
pub const REQUIRED_FIELDS: [&str; 8] = [
    "licence_type_code",
    "licence_number",
    "issuer_name",
    "issuer_code",
    "issue_date",
    "holder_name",
    "holder_code",
    "region_code",
];

/// A parsed, checked mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Name of the legacy system, stored in every record's provenance.
    pub source_system: String,
    #[serde(default)]
    pub format: FormatSection,
    /// Licence field → source column.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Licence field → fixed value for every row.
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// Licence field → value used when the row leaves the field empty.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Licence type code → (licence field → value used when the row leaves it empty).
    #[serde(default)]
    pub type_defaults: BTreeMap<String, BTreeMap<String, String>>,
    /// Licence field → (source value → value), e.g. `类型名称` "营业执照" → type code.
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Extra source columns into the type-specific fields (照面信息), in order.
    #[serde(default)]
    pub fields: Vec<ExtraField>,
    #[serde(default)]
    pub dates: DatesSection,
    #[serde(default)]
    pub key: KeySection,
    #[serde(default)]
    pub options: OptionsSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSection {
    pub kind: Option<Format>,
    pub encoding: Option<Encoding>,
    pub sheet: Option<String>,
    /// One ASCII character, or `"tab"`.
    pub delimiter: Option<String>,
}

impl FormatSection {
    pub(crate) fn delimiter_byte(&self) -> Result<Option<u8>, ImportError> {
        match self.delimiter.as_deref() {
            None => Ok(None),
            Some("tab") | Some("\t") => Ok(Some(b'\t')),
            Some(d) if d.len() == 1 && d.is_ascii() => Ok(Some(d.as_bytes()[0])),
            Some(d) => Err(ImportError::Mapping(format!(
                "format.delimiter must be one ASCII character or \"tab\", got {d:?}"
            ))),
        }
    }
}

/// One type-specific field taken from a source column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraField {
    pub column: String,
    /// Field name in the licence (default: the column name).
    pub name: Option<String>,
    /// Only for these licence type codes (default: every type).
    #[serde(default)]
    pub types: Vec<String>,
    /// Normalise the value as a date (`YYYY-MM-DD`).
    #[serde(default)]
    pub date: bool,
    /// Reject the row when the value is empty (default: an empty value is left out).
    #[serde(default)]
    pub required: bool,
}

impl ExtraField {
    pub fn field_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.column)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatesSection {
    pub styles: Option<Vec<DateStyle>>,
    pub open_end: Option<Vec<String>>,
    #[serde(default)]
    pub excel_1904: bool,
}

impl DatesSection {
    pub fn rules(&self) -> DateRules {
        let mut r = DateRules::default();
        if let Some(s) = &self.styles {
            r.styles = s.clone();
        }
        if let Some(w) = &self.open_end {
            r.open_end = w.clone();
        }
        r.excel_1904 = self.excel_1904;
        r
    }
}

/// The stable source key: type code, then these source columns (default: the licence
/// number), joined by U+001F.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySection {
    #[serde(default)]
    pub columns: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsSection {
    /// Trim whitespace (full-width spaces included) from every value.
    #[serde(default = "yes")]
    pub trim: bool,
    /// Infer `holder_code_type` from the holder code's shape when the row has none.
    #[serde(default = "yes")]
    pub infer_holder_code_type: bool,
    /// Use the issue date as `valid_from` when the row has none.
    #[serde(default = "yes")]
    pub valid_from_defaults_to_issue_date: bool,
    /// Import holder codes with a bad check digit, flagged (`--accept-bad-check-digits`).
    #[serde(default)]
    pub accept_bad_check_digits: bool,
    /// Reject later rows whose key repeats an earlier row of the same file.
    #[serde(default = "yes")]
    pub reject_duplicate_keys: bool,
}

impl Default for OptionsSection {
    fn default() -> Self {
        OptionsSection {
            trim: true,
            infer_holder_code_type: true,
            valid_from_defaults_to_issue_date: true,
            accept_bad_check_digits: false,
            reject_duplicate_keys: true,
        }
    }
}

fn known(section: &str, field: &str) -> Result<(), ImportError> {
    if LICENCE_FIELDS.contains(&field) {
        Ok(())
    } else {
        Err(ImportError::Mapping(format!(
            "{section}: unknown licence field {field:?}; fields are {}",
            LICENCE_FIELDS.join(", ")
        )))
    }
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Mapping, ImportError> {
        let text = std::fs::read_to_string(path).map_err(|e| ImportError::io(path.display(), e))?;
        Mapping::from_toml(&text).map_err(|e| match e {
            ImportError::Mapping(m) => ImportError::Mapping(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    pub fn from_toml(text: &str) -> Result<Mapping, ImportError> {
        let m: Mapping = toml::from_str(text).map_err(|e| ImportError::Mapping(e.to_string()))?;
        m.check()?;
        Ok(m)
    }

    /// Checks what can be checked without the catalogue or the source.
    fn check(&self) -> Result<(), ImportError> {
        let err = |m: String| Err(ImportError::Mapping(m));
        if self.source_system.trim().is_empty() {
            return err("source_system is required".into());
        }
        for f in self.columns.keys() {
            known("columns", f)?;
        }
        for f in self.constants.keys() {
            known("constants", f)?;
            if self.columns.contains_key(f) {
                return err(format!(
                    "{f} is in both [columns] and [constants]; keep one"
                ));
            }
        }
        for f in self.defaults.keys().chain(self.values.keys()) {
            known("defaults/values", f)?;
        }
        for (code, fields) in &self.type_defaults {
            if code.len() != 21 {
                return err(format!(
                    "type_defaults.{code}: not a 21-character licence type code"
                ));
            }
            for f in fields.keys() {
                known(&format!("type_defaults.{code}"), f)?;
                if f == "licence_type_code" {
                    return err(format!(
                        "type_defaults.{code}: cannot set licence_type_code"
                    ));
                }
            }
        }
        for f in ["legacy_identifier"] {
            if self.constants.contains_key(f) || self.defaults.contains_key(f) {
                return err(format!("{f} can only come from [columns]"));
            }
        }
        for (i, f) in self.fields.iter().enumerate() {
            if f.column.trim().is_empty() || f.field_name().trim().is_empty() {
                return err(format!("fields[{i}]: column and name must not be empty"));
            }
        }
        if let Some(styles) = &self.dates.styles {
            if styles.contains(&DateStyle::Dmy) && styles.contains(&DateStyle::Mdy) {
                return err("dates.styles: dmy and mdy are ambiguous together; pick one".into());
            }
            if styles.is_empty() {
                return err("dates.styles: name at least one style".into());
            }
        }
        self.format.delimiter_byte()?;
        Ok(())
    }

    /// Whether some column, constant or default can give `field` a value for `type_code`.
    pub fn has_source(&self, field: &str) -> bool {
        self.columns.contains_key(field)
            || self.constants.contains_key(field)
            || self.defaults.contains_key(field)
            || (!self.type_defaults.is_empty()
                && self.type_defaults.values().all(|d| d.contains_key(field)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_mapping_parses() {
        let m = Mapping::from_toml(
            r#"
source_system = "旧系统"
[columns]
licence_number = "证照编号"
[constants]
region_code = "420800"
[type_defaults.11100000000013338W011]
issuer_level = "地市级"
[values.licence_type_code]
"营业执照" = "11100000000013338W011"
[[fields]]
column = "注册资本"
"#,
        )
        .unwrap();
        assert_eq!(m.columns["licence_number"], "证照编号");
        assert_eq!(m.fields[0].field_name(), "注册资本");
        assert!(m.options.trim && !m.options.accept_bad_check_digits);
        assert!(m.has_source("issuer_level"));
    }

    #[test]
    fn mistakes_are_named() {
        let e = Mapping::from_toml("source_system = \"x\"\n[columns]\nholder = \"持证主体\"\n")
            .unwrap_err();
        assert!(
            e.to_string().contains("unknown licence field \"holder\""),
            "{e}"
        );
        let e = Mapping::from_toml("source_system = \"x\"\n[column]\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Mapping::from_toml(
            "source_system = \"x\"\n[columns]\nregion_code = \"a\"\n[constants]\nregion_code = \"420800\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");
        let e = Mapping::from_toml("source_system = \"x\"\n[format]\ndelimiter = \";;\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("delimiter"), "{e}");
    }
}
