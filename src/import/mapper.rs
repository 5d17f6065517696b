//! Turns one [`SourceRow`] into an [`ImportRecord`] (a validated licence draft with its
//! provenance) or into every problem found with it, each a [`Reject`] naming the column.

use std::collections::HashMap;

use crate::catalog::{HolderCategory, LicenceType};
use crate::licence::codes::{self, CodeError, HOLDER_CODE_RESIDENT_ID, HOLDER_CODE_USCC};
use crate::licence::record::{format_date, Invalid};
use crate::licence::{CheckDigits, Field, LicenceDraft, LicenceId, Provenance, Seal};

use super::dates::{self, DateRules};
use super::mapping::{Mapping, LICENCE_FIELDS, REQUIRED_FIELDS};
use super::source::{Columns, SourceRow};
use super::text::{halfwidth, trim};
use super::{ImportError, ImportRecord, Reject, KEY_SEPARATOR};

// Positions in LICENCE_FIELDS.
const TYPE: usize = 0;
const NUMBER: usize = 1;
const ISSUER_NAME: usize = 2;
const ISSUER_CODE: usize = 3;
const ISSUER_LEVEL: usize = 4;
const ISSUE_DATE: usize = 5;
const HOLDER_NAME: usize = 6;
const HOLDER_CODE: usize = 7;
const HOLDER_CODE_TYPE: usize = 8;
const VALID_FROM: usize = 9;
const VALID_UNTIL: usize = 10;
const REGION: usize = 11;
const RELATED: usize = 12;
const SEAL_SIGNER: usize = 13;
const SEAL_NAME: usize = 14;
const SEALED_AT: usize = 15;
const LEGACY: usize = 16;
const N: usize = LICENCE_FIELDS.len();

/// Flag stored when a legacy identifier's check character does not match.
pub const FLAG_LEGACY_IDENTIFIER_CHECK: &str = "legacy_identifier_check";

/// Per-run settings that are not part of the mapping file.
#[derive(Debug, Clone, Default)]
pub struct MapOptions {
    /// Stored in provenance as the source file (the path as the user gave it).
    pub source_file: String,
    /// Import holder codes with a bad check digit, flagged (also settable in the mapping).
    pub accept_bad_check_digits: bool,
}

/// Where a field's value came from, for naming it in a reject.
#[derive(Debug, Clone, Copy)]
enum Origin<'m> {
    Column(&'m str),
    Constant,
    TypeDefault,
    Default,
    Inferred,
    Missing,
}

struct Val<'m> {
    value: String,
    origin: Origin<'m>,
}

/// The value to show in a reject: the cell as read when it came from a column.
fn shown(row: &SourceRow, v: &Val<'_>) -> String {
    match v.origin {
        Origin::Column(c) => match row.get(c) {
            Some(raw) if !raw.is_empty() => raw.to_string(),
            _ => v.value.clone(),
        },
        _ => v.value.clone(),
    }
}

#[derive(Default)]
struct Plan {
    column: Option<String>,
    constant: Option<String>,
    default: Option<String>,
    values: Option<HashMap<String, String>>,
}

struct TypeInfo {
    category: HolderCategory,
    defaults: Vec<Option<String>>,
}

/// Maps and validates rows; cheap to share between threads.
pub struct RowMapper {
    mapping: Mapping,
    rules: DateRules,
    plans: Vec<Plan>,
    types: HashMap<String, TypeInfo>,
    type_by_name: HashMap<String, String>,
    check: CheckDigits,
    source_file: String,
}

fn column_of(origin: Origin<'_>, field: usize) -> String {
    let f = LICENCE_FIELDS[field];
    match origin {
        Origin::Column(c) => c.to_string(),
        Origin::Constant => format!("constant:{f}"),
        Origin::TypeDefault => format!("type_defaults:{f}"),
        Origin::Default => format!("default:{f}"),
        Origin::Inferred => format!("{f} (inferred)"),
        Origin::Missing => f.to_string(),
    }
}

/// `111` for a resident identity number, `001` for a credit code, judged by shape and
/// check digit; `None` when the code looks like neither.
pub fn infer_holder_code_type(code: &str) -> Option<&'static str> {
    let b = code.as_bytes();
    let id_shape = b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x');
    let uscc_shape = b.len() == 18
        && b.iter()
            .all(|c| b"0123456789ABCDEFGHJKLMNPQRTUWXY".contains(&c.to_ascii_uppercase()));
    // Shape alone decides unless the code could be either (18 digits): then the check
    // digits do.
    if !id_shape {
        return if uscc_shape {
            Some(HOLDER_CODE_USCC)
        } else if b.len() == 15 && b.iter().all(u8::is_ascii_digit) {
            Some(HOLDER_CODE_RESIDENT_ID)
        } else {
            None
        };
    }
    match codes::validate_resident_id(code) {
        Ok(()) => Some(HOLDER_CODE_RESIDENT_ID),
        Err(_) if uscc_shape && codes::validate_uscc(&code.to_ascii_uppercase()).is_ok() => Some(HOLDER_CODE_USCC),
        Err(CodeError::BirthDate(_)) if uscc_shape => Some(HOLDER_CODE_USCC),
        Err(_) => Some(HOLDER_CODE_RESIDENT_ID),
    }
}

/// Common words for holder code types in legacy exports.
fn holder_code_type_alias(v: &str) -> &str {
    match v {
        "身份证" | "居民身份证" | "身份证号" | "身份证号码" | "公民身份号码" => {
            HOLDER_CODE_RESIDENT_ID
        }
        "统一社会信用代码" | "社会信用代码" | "信用代码" => HOLDER_CODE_USCC,
        v => v,
    }
}

/// Full-width to ASCII and upper case, in place (codes are compared in that form).
fn normalise_code(s: &mut String) {
    if let std::borrow::Cow::Owned(h) = halfwidth(s) {
        *s = h;
    }
    s.make_ascii_uppercase();
}

impl RowMapper {
    /// Checks the mapping against the catalogue: every type it names must exist and
    /// every required licence field must have a source.
    pub fn new(mapping: Mapping, catalog: &[LicenceType], opts: MapOptions) -> Result<Self, ImportError> {
        let err = |m: String| Err(ImportError::Mapping(m));
        let known = |code: &str| catalog.iter().any(|t| t.code == code);
        for f in REQUIRED_FIELDS {
            if !mapping.has_source(f) {
                return err(format!(
                    "licence field {f} has no source: map it in [columns], [constants] or [defaults]"
                ));
            }
        }
        if !mapping.options.infer_holder_code_type && !mapping.has_source("holder_code_type") {
            return err("holder_code_type has no source and inference is off".into());
        }
        if let Some(code) = mapping.constants.get("issuer_code") {
            let mut code = code.clone();
            normalise_code(&mut code);
            if let Err(e) = codes::validate_uscc(&code) {
                return err(format!(
                    "constants.issuer_code: invalid unified social credit code: {e}"
                ));
            }
        }
        if let Some(t) = mapping.constants.get("licence_type_code") {
            if !catalog.iter().any(|x| &x.code == t || &x.name == t) {
                return err(format!(
                    "constants.licence_type_code: {t:?} is not a licence type in the catalogue"
                ));
            }
        }
        for code in mapping.type_defaults.keys() {
            if !known(code) {
                return err(format!("type_defaults.{code}: not a licence type in the catalogue"));
            }
        }
        for (from, code) in mapping.values.get("licence_type_code").into_iter().flatten() {
            if !known(code) {
                return err(format!(
                    "values.licence_type_code: {from:?} = {code:?} is not in the catalogue"
                ));
            }
        }
        for f in &mapping.fields {
            for code in &f.types {
                if !known(code) {
                    return err(format!("fields ({}): type {code} is not in the catalogue", f.column));
                }
            }
        }
        let plans = LICENCE_FIELDS
            .iter()
            .map(|f| Plan {
                column: mapping.columns.get(*f).cloned(),
                constant: mapping.constants.get(*f).cloned(),
                default: mapping.defaults.get(*f).cloned(),
                values: mapping.values.get(*f).map(|m| m.clone().into_iter().collect()),
            })
            .collect();
        let types = catalog
            .iter()
            .map(|t| {
                let d = mapping.type_defaults.get(&t.code);
                let defaults = LICENCE_FIELDS
                    .iter()
                    .map(|f| d.and_then(|d| d.get(*f)).cloned())
                    .collect();
                (
                    t.code.clone(),
                    TypeInfo {
                        category: t.holder_category,
                        defaults,
                    },
                )
            })
            .collect();
        let mut type_by_name: HashMap<String, String> = HashMap::new();
        for t in catalog {
            if catalog.iter().filter(|o| o.name == t.name).count() == 1 {
                type_by_name.insert(t.name.clone(), t.code.clone());
            }
        }
        let check = if opts.accept_bad_check_digits || mapping.options.accept_bad_check_digits {
            CheckDigits::Flag
        } else {
            CheckDigits::Strict
        };
        Ok(RowMapper {
            rules: mapping.dates.rules(),
            mapping,
            plans,
            types,
            type_by_name,
            check,
            source_file: opts.source_file,
        })
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// Checks that a source with fixed columns (CSV, XLSX) has every column the mapping
    /// names, so a misspelt header stops the run instead of rejecting every row.
    pub fn check_columns(&self, columns: &Columns) -> Result<(), ImportError> {
        let m = &self.mapping;
        let named = m
            .columns
            .values()
            .chain(m.fields.iter().map(|f| &f.column))
            .chain(m.key.columns.iter());
        let missing: Vec<&str> = named
            .filter(|c| columns.position(c).is_none())
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(ImportError::Mapping(format!(
            "the source has no column {}; its columns are {}",
            missing.join(", "),
            columns.names().join(", ")
        )))
    }

    fn resolve<'m>(&'m self, i: usize, row: &SourceRow, type_code: Option<&str>) -> Val<'m> {
        let plan = &self.plans[i];
        if let Some(col) = &plan.column {
            let raw = row.get(col).unwrap_or("");
            let v = if self.mapping.options.trim { trim(raw) } else { raw };
            let v = plan.values.as_ref().and_then(|m| m.get(v)).map_or(v, String::as_str);
            if !v.is_empty() {
                return Val {
                    value: v.to_string(),
                    origin: Origin::Column(col),
                };
            }
        }
        let fallback = |value: &String, origin| Val {
            value: value.clone(),
            origin,
        };
        if let Some(c) = &plan.constant {
            return fallback(c, Origin::Constant);
        }
        if let Some(d) = type_code
            .and_then(|t| self.types.get(t))
            .and_then(|t| t.defaults[i].as_ref())
        {
            return fallback(d, Origin::TypeDefault);
        }
        if let Some(d) = &plan.default {
            return fallback(d, Origin::Default);
        }
        let origin = plan.column.as_deref().map_or(Origin::Missing, Origin::Column);
        Val {
            value: String::new(),
            origin,
        }
    }

    /// Maps and validates one row: every field the issuing path checks, the catalogue
    /// (type known, holder category), dates, codes and the legacy identifier.
    pub fn map(&self, row: &SourceRow) -> Result<ImportRecord, Vec<Reject>> {
        let line = row.line;
        let mut problems = Vec::new();
        let mut reject = |v: &Val<'_>, field: usize, reason: String| {
            problems.push(Reject::new(line, column_of(v.origin, field), shown(row, v), reason));
        };

        // The type first: per-type defaults depend on it.
        let mut ty = self.resolve(TYPE, row, None);
        normalise_code(&mut ty.value);
        let mut type_info = self.types.get(&ty.value);
        if type_info.is_none() {
            if let Some(code) = self.type_by_name.get(trim(&ty.value)) {
                ty.value = code.clone();
                type_info = self.types.get(code);
            }
        }
        let type_code: Option<String> = type_info.map(|_| ty.value.clone());
        let type_code = type_code.as_deref();
        if ty.value.is_empty() {
            reject(&ty, TYPE, "licence type is required".into());
        } else if type_info.is_none() {
            reject(
                &ty,
                TYPE,
                format!("unknown licence type {:?}: not in the catalogue", ty.value),
            );
        }
        let mut v: Vec<Val<'_>> = (0..N).map(|i| self.resolve(i, row, type_code)).collect();
        v[TYPE] = ty;
        for i in [ISSUER_CODE, HOLDER_CODE, REGION, LEGACY] {
            normalise_code(&mut v[i].value);
        }
        for i in [
            NUMBER,
            ISSUER_NAME,
            ISSUER_CODE,
            HOLDER_NAME,
            HOLDER_CODE,
            ISSUE_DATE,
            REGION,
        ] {
            if v[i].value.is_empty() {
                reject(&v[i], i, format!("{} is required", LICENCE_FIELDS[i]));
            }
        }

        // Holder code type: mapped (with common words), else inferred from the code.
        if v[HOLDER_CODE_TYPE].value.is_empty() {
            if self.mapping.options.infer_holder_code_type && !v[HOLDER_CODE].value.is_empty() {
                match infer_holder_code_type(&v[HOLDER_CODE].value) {
                    Some(t) => {
                        v[HOLDER_CODE_TYPE].value = t.to_string();
                        v[HOLDER_CODE_TYPE].origin = Origin::Inferred;
                    }
                    None => reject(
                        &v[HOLDER_CODE],
                        HOLDER_CODE,
                        "cannot tell the holder code type from this code; map holder_code_type".into(),
                    ),
                }
            } else if !v[HOLDER_CODE].value.is_empty() {
                reject(
                    &v[HOLDER_CODE_TYPE],
                    HOLDER_CODE_TYPE,
                    "holder_code_type is required".into(),
                );
            }
        } else {
            let alias = holder_code_type_alias(&v[HOLDER_CODE_TYPE].value).to_string();
            v[HOLDER_CODE_TYPE].value = alias;
        }
        let hct = v[HOLDER_CODE_TYPE].value.clone();
        if let (Some(t), false) = (type_info, hct.is_empty() || v[HOLDER_CODE].value.is_empty()) {
            if !t.category.admits(&hct) {
                let at = if matches!(v[HOLDER_CODE_TYPE].origin, Origin::Inferred) {
                    HOLDER_CODE
                } else {
                    HOLDER_CODE_TYPE
                };
                let reason = format!(
                    "holder code type {hct} does not fit this licence type (holders: {})",
                    t.category.as_str()
                );
                reject(&v[at], at, reason);
            }
        }
        let region = &v[REGION].value;
        if !region.is_empty() && (region.len() != 6 || !region.bytes().all(|b| b.is_ascii_digit())) {
            reject(&v[REGION], REGION, "must be a 6-digit GB/T 2260 region code".into());
        }

        // Dates.
        let issue = match v[ISSUE_DATE].value.as_str() {
            "" => None,
            s => dates::parse(s, &self.rules)
                .map_err(|e| reject(&v[ISSUE_DATE], ISSUE_DATE, e))
                .ok(),
        };
        let from = match v[VALID_FROM].value.as_str() {
            "" if self.mapping.options.valid_from_defaults_to_issue_date => issue,
            "" => {
                reject(&v[VALID_FROM], VALID_FROM, "valid_from is required".into());
                None
            }
            s => dates::parse(s, &self.rules)
                .map_err(|e| reject(&v[VALID_FROM], VALID_FROM, e))
                .ok(),
        };
        let until =
            dates::parse_end(&v[VALID_UNTIL].value, &self.rules).map_err(|e| reject(&v[VALID_UNTIL], VALID_UNTIL, e));
        if let (Some(f), Ok(Some(u))) = (from, &until) {
            if *u < f {
                let reason = format!(
                    "valid_until {} is before valid_from {}",
                    format_date(*u),
                    format_date(f)
                );
                reject(&v[VALID_UNTIL], VALID_UNTIL, reason);
            }
        }

        // Legacy identifier: kept when well-formed and of this type, flagged when its
        // check character is wrong.
        let mut flags = Vec::new();
        let legacy = match v[LEGACY].value.as_str() {
            "" => None,
            s => match LicenceId::parse_lenient(s) {
                Err(e) => {
                    reject(&v[LEGACY], LEGACY, format!("not a GB/T 36904 licence identifier: {e}"));
                    None
                }
                Ok((id, ok)) => {
                    if type_code.is_some_and(|t| t != id.type_code) {
                        let reason = format!(
                            "identifier is of type {}, the row of type {}",
                            id.type_code, v[TYPE].value
                        );
                        reject(&v[LEGACY], LEGACY, reason);
                    }
                    // The issuer part is what verification shows as the issuing body.
                    let issuer = &v[ISSUER_CODE].value;
                    if !issuer.is_empty() && *issuer != id.issuer_code {
                        let reason = format!(
                            "identifier's issuer part {} differs from the row's issuer code {issuer}",
                            id.issuer_code
                        );
                        reject(&v[LEGACY], LEGACY, reason);
                    }
                    if !ok {
                        flags.push(FLAG_LEGACY_IDENTIFIER_CHECK.to_string());
                    }
                    Some((id, ok))
                }
            },
        };

        // Type-specific fields, in mapping order.
        let mut fields = Vec::new();
        let mut field_columns = Vec::new();
        for f in &self.mapping.fields {
            if !f.types.is_empty() && !type_code.is_some_and(|t| f.types.iter().any(|x| x == t)) {
                continue;
            }
            let raw = row.get(&f.column).unwrap_or("");
            let value = if self.mapping.options.trim { trim(raw) } else { raw };
            if value.is_empty() {
                if f.required {
                    problems.push(Reject::new(
                        line,
                        &f.column,
                        raw,
                        format!("{} is required", f.field_name()),
                    ));
                }
                continue;
            }
            let value = if f.date {
                match dates::parse(value, &self.rules) {
                    Ok(d) => format_date(d),
                    Err(e) => {
                        problems.push(Reject::new(line, &f.column, raw, e));
                        continue;
                    }
                }
            } else {
                value.to_string()
            };
            fields.push(Field {
                name: f.field_name().to_string(),
                value,
            });
            field_columns.push(f.column.as_str());
        }

        // The stable source key.
        let mut key = v[TYPE].value.clone();
        if self.mapping.key.columns.is_empty() {
            key.push(KEY_SEPARATOR);
            key.push_str(&v[NUMBER].value);
        } else {
            for c in &self.mapping.key.columns {
                let part = trim(row.get(c).unwrap_or(""));
                if part.is_empty() {
                    problems.push(Reject::new(line, c, "", "key column is empty"));
                }
                key.push(KEY_SEPARATOR);
                key.push_str(part);
            }
        }

        if !problems.is_empty() {
            // The row is rejected anyway: add the code problems too, so the report shows
            // everything at once. A row with no other problem leaves these checks to
            // `LicenceDraft::validate` below, which makes them anyway.
            problems.extend(self.code_problems(row, &v, &hct));
            return Err(problems);
        }
        let origins: Vec<Origin<'_>> = v.iter().map(|x| x.origin).collect();
        let row_type = v[TYPE].value.clone();
        let mut s: Vec<String> = v.into_iter().map(|x| x.value).collect();
        let iso = |d: Option<time::Date>| d.map(format_date).unwrap_or_default();
        s[ISSUE_DATE] = iso(issue);
        s[VALID_FROM] = iso(from);
        s[VALID_UNTIL] = iso(until.ok().flatten());
        let take = |s: &mut Vec<String>, i: usize| std::mem::take(&mut s[i]);
        let draft = LicenceDraft {
            licence_type_code: take(&mut s, TYPE),
            licence_number: take(&mut s, NUMBER),
            issuer_name: take(&mut s, ISSUER_NAME),
            issuer_code: take(&mut s, ISSUER_CODE),
            issuer_level: take(&mut s, ISSUER_LEVEL),
            issue_date: take(&mut s, ISSUE_DATE),
            holder_name: take(&mut s, HOLDER_NAME),
            holder_code: take(&mut s, HOLDER_CODE),
            holder_code_type: take(&mut s, HOLDER_CODE_TYPE),
            valid_from: take(&mut s, VALID_FROM),
            valid_until: take(&mut s, VALID_UNTIL),
            region_code: take(&mut s, REGION),
            related_item: take(&mut s, RELATED),
            seal: Seal {
                signer: take(&mut s, SEAL_SIGNER),
                seal_name: take(&mut s, SEAL_NAME),
                sealed_at: take(&mut s, SEALED_AT),
            },
            fields,
        };
        let (draft, more) = draft
            .validate(self.check)
            .map_err(|e| vec![self.invalid_to_reject(row, &e, &origins, &row_type, &field_columns)])?;
        flags.extend(more);
        let provenance = Provenance {
            source_system: self.mapping.source_system.clone(),
            source_file: self.source_file.clone(),
            source_line: line,
            original_issue_date: format_date(draft.issue_date),
            flags: flags.clone(),
        };
        Ok(ImportRecord {
            key,
            draft,
            provenance,
            legacy_identifier: legacy,
            flags,
            line,
        })
    }

    /// Holder and issuer code check digits, as rejects.
    fn code_problems(&self, row: &SourceRow, v: &[Val<'_>], hct: &str) -> Vec<Reject> {
        let mut out = Vec::new();
        let holder = &v[HOLDER_CODE];
        if !hct.is_empty() && !holder.value.is_empty() {
            if let Err(e) = codes::validate_holder_code(hct, &holder.value) {
                let flagged = matches!(e, CodeError::CheckDigit { .. }) && self.check == CheckDigits::Flag;
                if !flagged {
                    let kind = match hct {
                        HOLDER_CODE_RESIDENT_ID => "resident identity number",
                        _ => "unified social credit code",
                    };
                    let column = column_of(holder.origin, HOLDER_CODE);
                    out.push(Reject::new(
                        row.line,
                        column,
                        shown(row, holder),
                        format!("invalid {kind}: {e}"),
                    ));
                }
            }
        }
        // A constant issuer code was checked once, in `new`.
        let issuer = &v[ISSUER_CODE];
        if !issuer.value.is_empty() && !matches!(issuer.origin, Origin::Constant) {
            if let Err(e) = codes::validate_uscc(&issuer.value) {
                let column = column_of(issuer.origin, ISSUER_CODE);
                let reason = format!("invalid unified social credit code: {e}");
                out.push(Reject::new(row.line, column, shown(row, issuer), reason));
            }
        }
        out
    }

    /// Names the source column behind a validation failure reported by the domain.
    fn invalid_to_reject(
        &self,
        row: &SourceRow,
        e: &Invalid,
        origins: &[Origin<'_>],
        type_code: &str,
        field_columns: &[&str],
    ) -> Reject {
        let line = row.line;
        let path = e.field.strip_prefix("licence.").unwrap_or(&e.field);
        let path = path.strip_prefix("seal.").map(|p| {
            if p == "sealed_at" {
                p.to_string()
            } else {
                format!("seal_{p}")
            }
        });
        let path = path
            .as_deref()
            .unwrap_or_else(|| e.field.strip_prefix("licence.").unwrap_or(&e.field));
        if let Some(i) = LICENCE_FIELDS.iter().position(|f| *f == path) {
            let plan = &self.plans[i];
            let from_type = || self.types.get(type_code).and_then(|t| t.defaults[i].clone());
            let value = match origins[i] {
                Origin::Column(c) => Some(row.get(c).unwrap_or("").to_string()),
                Origin::Constant => plan.constant.clone(),
                Origin::Default => plan.default.clone(),
                Origin::TypeDefault => from_type(),
                Origin::Inferred | Origin::Missing => None,
            };
            let value = value.unwrap_or_default();
            return Reject::new(line, column_of(origins[i], i), value, e.reason.clone());
        }
        let field_index = path
            .strip_prefix("fields[")
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse::<usize>().ok());
        match field_index.and_then(|i| field_columns.get(i)) {
            Some(c) => Reject::new(line, *c, "", e.reason.clone()),
            None => Reject::new(line, e.field.clone(), "", e.reason.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
