//! 核验: a department presents fields of a licence and learns, per field, whether each
//! matches the record — never the stored values themselves.

use super::lifecycle::type_of;
use super::{Registry, RegistryError, Result};
use crate::catalog::Department;
use crate::licence::record::{format_date, parse_date, MAX_FIELD_VALUE};
use crate::licence::{Invalid, Licence, LicenceStatus};

pub const MAX_PRESENTED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldMatch {
    Match,
    Mismatch,
    /// The record has no field of that name.
    NotPresent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCheck {
    pub identifier: String,
    /// False when the stored record fails its signature: nothing is compared then.
    pub authentic: bool,
    pub status: Option<LicenceStatus>,
    /// One per presented field, in order.
    pub checks: Vec<(String, FieldMatch)>,
}

/// How a stored value compares with a presented one.
enum Compare<'a> {
    Text(&'a str),
    /// Codes and numbers: case-insensitive (a resident ID's `x` is its `X`).
    Code(&'a str),
    Date(String),
    /// `valid_until`: empty or `长期` presented matches an open end.
    OpenDate(Option<String>),
}

fn stored<'a>(l: &'a Licence, name: &str) -> Option<Compare<'a>> {
    Some(match name {
        "holder_name" => Compare::Text(&l.holder_name),
        "holder_code" => Compare::Code(&l.holder_code),
        "holder_code_type" => Compare::Code(&l.holder_code_type),
        "licence_number" => Compare::Code(&l.licence_number),
        "licence_type_code" => Compare::Code(&l.licence_type_code),
        "licence_name" => Compare::Text(&l.licence_name),
        "issuer_name" => Compare::Text(&l.issuer_name),
        "issuer_code" => Compare::Code(&l.issuer_code),
        "region_code" => Compare::Code(&l.region_code),
        "issue_date" => Compare::Date(format_date(l.issue_date)),
        "valid_from" => Compare::Date(format_date(l.valid_from)),
        "valid_until" => Compare::OpenDate(l.valid_until.map(format_date)),
        other => {
            let field = other.strip_prefix("fields.").unwrap_or(other);
            return l
                .fields
                .iter()
                .find(|f| f.name == field)
                .map(|f| Compare::Text(&f.value));
        }
    })
}

fn compare(stored: &Compare<'_>, presented: &str) -> bool {
    let p = presented.trim();
    let date = |s: &str| parse_date("value", s).ok().map(format_date);
    match stored {
        Compare::Text(s) => s.trim() == p,
        Compare::Code(s) => s.trim().eq_ignore_ascii_case(p),
        Compare::Date(s) => date(p).is_some_and(|d| d == *s),
        Compare::OpenDate(None) => p.is_empty() || p == "长期",
        Compare::OpenDate(Some(s)) => date(p).is_some_and(|d| d == *s),
    }
}

fn validate(presented: &[(String, String)]) -> Result<()> {
    if presented.is_empty() || presented.len() > MAX_PRESENTED {
        return Err(Invalid::new("fields", format!("give 1-{MAX_PRESENTED} fields")).into());
    }
    for (i, (name, value)) in presented.iter().enumerate() {
        if name.trim().is_empty() || name.len() > 128 {
            return Err(Invalid::new(format!("fields[{i}].name"), "is required").into());
        }
        if value.len() > MAX_FIELD_VALUE {
            return Err(Invalid::new(format!("fields[{i}].value"), "is too long").into());
        }
    }
    Ok(())
}

impl Registry {
    /// Compares presented `(name, value)` pairs with the stored record. The caller must
    /// be allowed to read the type.
    pub fn check_fields(
        &self,
        caller: &Department,
        identifier: &str,
        presented: &[(String, String)],
    ) -> Result<FieldCheck> {
        validate(presented)?;
        self.check_read(caller, &type_of(identifier)?)?;
        let view = match self.load(identifier) {
            Ok(v) => v,
            Err(RegistryError::Tampered(_)) => {
                return Ok(FieldCheck {
                    identifier: identifier.to_string(),
                    authentic: false,
                    status: None,
                    checks: Vec::new(),
                })
            }
            Err(e) => return Err(e),
        };
        let checks = presented
            .iter()
            .map(|(name, value)| {
                let result = match stored(&view.licence, name.trim()) {
                    None => FieldMatch::NotPresent,
                    Some(s) if compare(&s, value) => FieldMatch::Match,
                    Some(_) => FieldMatch::Mismatch,
                };
                (name.clone(), result)
            })
            .collect();
        Ok(FieldCheck {
            identifier: identifier.to_string(),
            authentic: true,
            status: Some(view.status),
            checks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons() {
        assert!(compare(&Compare::Code("42080219900101123X"), " 42080219900101123x "));
        assert!(!compare(&Compare::Text("张小明"), "张小"));
        assert!(compare(&Compare::Date("2026-03-01".into()), "2026-03-01"));
        assert!(!compare(&Compare::Date("2026-03-01".into()), "2026/03/01"));
        assert!(compare(&Compare::OpenDate(None), "长期"));
        assert!(compare(&Compare::OpenDate(None), ""));
        assert!(!compare(&Compare::OpenDate(None), "2030-01-01"));
        assert!(!compare(&Compare::OpenDate(Some("2030-01-01".into())), ""));
    }
}
