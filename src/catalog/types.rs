//! Licence types: what a type is, and loading the built-in catalogue from `templates/`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::licence::{codes, public, text, Invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderCategory {
    NaturalPerson,
    LegalPerson,
    Both,
}

impl HolderCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            HolderCategory::NaturalPerson => "natural_person",
            HolderCategory::LegalPerson => "legal_person",
            HolderCategory::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<HolderCategory> {
        match s {
            "natural_person" => Some(HolderCategory::NaturalPerson),
            "legal_person" => Some(HolderCategory::LegalPerson),
            "both" => Some(HolderCategory::Both),
            _ => None,
        }
    }

    /// Whether a holder with this code type may hold a licence of this category.
    pub fn admits(self, holder_code_type: &str) -> bool {
        match self {
            HolderCategory::NaturalPerson => holder_code_type != codes::HOLDER_CODE_USCC,
            HolderCategory::LegalPerson => holder_code_type != codes::HOLDER_CODE_RESIDENT_ID,
            HolderCategory::Both => true,
        }
    }
}

/// One licence type of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceType {
    pub code: String,
    pub name: String,
    pub authority_name: String,
    pub authority_code: String,
    /// 国家级 / 省部级 / 地市级 / 区县级
    pub authority_level: String,
    pub holder_category: HolderCategory,
    /// Validity in years; 0 means no end (长期).
    #[serde(default)]
    pub validity_years: u32,
    #[serde(default)]
    pub template_id: String,
    /// USCCs of departments that may issue it; empty = any department the directory allows.
    #[serde(default)]
    pub issuing_departments: Vec<String>,
    /// Type-specific fields in display order.
    #[serde(default)]
    pub field_names: Vec<String>,
    /// The type-specific fields public verification may show (default: none). For a
    /// natural person's licence the rule of [`crate::licence::public`] applies on top.
    #[serde(default)]
    pub public_fields: Vec<String>,
}

pub const AUTHORITY_LEVELS: [&str; 4] = ["国家级", "省部级", "地市级", "区县级"];

impl LicenceType {
    /// Checks a type before it enters the catalogue; errors name the field.
    pub fn validate(&self) -> Result<(), Invalid> {
        let f = |name: &str| format!("licence_type.{name}");
        if self.code.len() != 21 || !self.code.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
            return Err(Invalid::new(
                f("code"),
                "must be 21 characters: the authority's USCC and a 3-digit sequence",
            ));
        }
        codes::validate_uscc(&self.code[..18]).map_err(|e| Invalid::new(f("code"), format!("authority part: {e}")))?;
        if !self.code[18..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(f("code"), "must end in a 3-digit sequence"));
        }
        if self.code[..18] != self.authority_code {
            return Err(Invalid::new(
                f("authority_code"),
                "must equal the first 18 characters of the code",
            ));
        }
        if self.name.trim().is_empty() || self.name.len() > 256 {
            return Err(Invalid::new(f("name"), "is required (at most 256 bytes)"));
        }
        if self.authority_name.trim().is_empty() {
            return Err(Invalid::new(f("authority_name"), "is required"));
        }
        if !AUTHORITY_LEVELS.contains(&self.authority_level.as_str()) {
            return Err(Invalid::new(
                f("authority_level"),
                format!("must be one of {}", AUTHORITY_LEVELS.join(", ")),
            ));
        }
        if self.validity_years > 100 {
            return Err(Invalid::new(f("validity_years"), "at most 100"));
        }
        for (i, d) in self.issuing_departments.iter().enumerate() {
            codes::validate_uscc(d)
                .map_err(|e| Invalid::new(f(&format!("issuing_departments[{i}]")), e.to_string()))?;
        }
        if self.field_names.len() > 200 {
            return Err(Invalid::new(f("field_names"), "at most 200 fields"));
        }
        for (i, name) in self.field_names.iter().enumerate() {
            text::check_line(&f(&format!("field_names[{i}]")), name, 128)?;
        }
        text::check_line(&f("name"), &self.name, 256)?;
        text::check_line(&f("authority_name"), &self.authority_name, 512)?;
        for (i, p) in self.public_fields.iter().enumerate() {
            let field = f(&format!("public_fields[{i}]"));
            if !self.field_names.contains(p) {
                return Err(Invalid::new(field, format!("{p} is not one of field_names")));
            }
            if self.holder_category == HolderCategory::NaturalPerson && public::is_personal_field_name(p) {
                return Err(Invalid::new(
                    field,
                    format!("{p} is a natural person's personal data and can never be public"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    #[serde(rename = "licence_type")]
    types: Vec<LicenceType>,
}

/// Loads every `*.toml` under `dir` (the built-in catalogue is `templates/catalog/`).
pub fn load_dir(dir: &Path) -> Result<Vec<LicenceType>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let file: CatalogFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        for t in file.types {
            t.validate()
                .map_err(|e| format!("{}: type {}: {e}", p.display(), t.code))?;
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_catalogue_loads_and_is_valid() {
        let types = load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/catalog"))).unwrap();
        assert!(types.len() >= 6, "{}", types.len());
        let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
        for n in [
            "营业执照",
            "食品经营许可证",
            "药品经营许可证",
            "建筑工程施工许可证",
            "道路运输经营许可证",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let mut codes: Vec<&str> = types.iter().map(|t| t.code.as_str()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), types.len(), "type codes are unique");
    }

    #[test]
    fn bad_type_is_rejected_naming_the_field() {
        let mut t = load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/catalog")))
            .unwrap()
            .remove(0);
        t.authority_level = "村级".into();
        assert_eq!(t.validate().unwrap_err().field, "licence_type.authority_level");
        t.authority_level = "国家级".into();
        t.code = "11100000000013338A011".into();
        assert_eq!(t.validate().unwrap_err().field, "licence_type.code");
    }

    #[test]
    fn public_fields_must_be_fields_and_never_a_persons_personal_data() {
        let types = load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/catalog"))).unwrap();
        let mut physician = types.iter().find(|t| t.name == "医师执业证书").unwrap().clone();
        assert!(!physician.public_fields.iter().any(|f| f == "出生日期" || f == "性别"));
        physician.public_fields.push("出生日期".into());
        let e = physician.validate().unwrap_err();
        assert!(e.field.starts_with("licence_type.public_fields["), "{e}");
        assert!(e.reason.contains("never be public"), "{e}");
        physician.public_fields.pop();
        physician.public_fields.push("不存在".into());
        assert!(physician
            .validate()
            .unwrap_err()
            .reason
            .contains("not one of field_names"));
        // Types without a list show no type-specific field.
        let mut t = physician.clone();
        t.public_fields.clear();
        t.validate().unwrap();
    }
}
