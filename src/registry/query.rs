//! Queries for using departments (GB/T 36906 "query licence info by holder code"): by
//! holder, by issuer, or by licence type with an issue-date range — always through an
//! index, paged with an opaque token, restricted to the types the caller may read.

use super::lifecycle::type_of;
use super::page_token::TokenScope;
use super::{LicenceView, Registry, Result};
use crate::catalog::Department;
use crate::licence::codes;
use crate::licence::record::{format_date, parse_date};
use crate::licence::status::Standing;
use crate::licence::Invalid;
use crate::store::IndexQuery;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 500;
/// Superseded versions (of types the caller may read) skipped for one page at most; a
/// page cut short by this still carries a token. Entries of types the caller may not
/// read are skipped in the index without loading and never end a page early, so
/// whether a token comes back never depends on licences the caller cannot read.
const SCAN_BUDGET: usize = 5_000;
/// Index entries fetched per store call.
const CHUNK: usize = 256;

/// What to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Holder {
        code_type: String,
        code: String,
        type_code: Option<String>,
        number: Option<String>,
    },
    Issuer {
        issuer_code: String,
        from: Option<String>,
        to: Option<String>,
    },
    Type {
        type_code: String,
        from: Option<String>,
        to: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Query {
    pub selector: Selector,
    /// 0 means the default.
    pub page_size: usize,
    pub page_token: Option<String>,
    pub include_superseded: bool,
}

#[derive(Debug, Clone, Default)]
pub struct QueryPage {
    pub results: Vec<LicenceView>,
    pub next_page_token: Option<String>,
}

/// The date bounds of a range selector, checked; open ends become the extreme dates.
fn date_range(field: &str, from: &Option<String>, to: &Option<String>) -> Result<(String, String)> {
    let bound = |name: &str, v: &Option<String>, open: &str| -> Result<String> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(open.to_string()),
            Some(s) => Ok(format_date(parse_date(&format!("{field}.{name}"), s)?)),
        }
    };
    let from = bound("issue_date_from", from, "0000-01-01")?;
    let to = bound("issue_date_to", to, "9999-12-31")?;
    if from > to {
        return Err(Invalid::new(format!("{field}.issue_date_to"), "is before issue_date_from").into());
    }
    Ok((from, to))
}

impl Selector {
    /// The index query, and the one type the results are restricted to (if any).
    fn index(&self) -> Result<(IndexQuery, Option<String>)> {
        Ok(match self {
            Selector::Holder {
                code_type,
                code,
                type_code,
                ..
            } => (
                IndexQuery::Holder {
                    code_type: code_type.clone(),
                    code: code.clone(),
                },
                type_code.clone(),
            ),
            Selector::Issuer { issuer_code, from, to } => {
                let (from, to) = date_range("issuer", from, to)?;
                (
                    IndexQuery::Issuer {
                        issuer_code: issuer_code.clone(),
                        from,
                        to,
                    },
                    None,
                )
            }
            Selector::Type { type_code, from, to } => {
                let (from, to) = date_range("licence_type", from, to)?;
                (
                    IndexQuery::Type {
                        type_code: type_code.clone(),
                        from,
                        to,
                    },
                    Some(type_code.clone()),
                )
            }
        })
    }

    fn validate(&self) -> Result<()> {
        let required = |field: &str, v: &str| -> Result<()> {
            if v.trim().is_empty() || v.len() > 64 {
                return Err(Invalid::new(field, "is required (at most 64 characters)").into());
            }
            Ok(())
        };
        match self {
            Selector::Holder {
                code_type,
                code,
                type_code,
                number,
            } => {
                required("holder.holder_code_type", code_type)?;
                required("holder.holder_code", code)?;
                if !matches!(
                    code_type.as_str(),
                    codes::HOLDER_CODE_RESIDENT_ID | codes::HOLDER_CODE_USCC
                ) && !code_type.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(Invalid::new("holder.holder_code_type", "bad holder code type").into());
                }
                codes::validate_holder_code(code_type, code)
                    .map_err(|e| Invalid::new("holder.holder_code", e.to_string()))?;
                if number.is_some() && type_code.is_none() {
                    return Err(Invalid::new(
                        "holder.licence_type_code",
                        "is required with licence_number (numbers are unique per type)",
                    )
                    .into());
                }
                Ok(())
            }
            Selector::Issuer { issuer_code, .. } => {
                required("issuer.issuer_code", issuer_code)?;
                codes::validate_uscc(issuer_code).map_err(|e| Invalid::new("issuer.issuer_code", e.to_string()).into())
            }
            Selector::Type { type_code, .. } => required("licence_type.licence_type_code", type_code),
        }
    }

    /// Binds page tokens to the query they continue.
    fn fingerprint(&self, include_superseded: bool) -> Vec<u8> {
        let parts: Vec<&str> = match self {
            Selector::Holder {
                code_type,
                code,
                type_code,
                number,
            } => vec![
                "holder",
                code_type,
                code,
                type_code.as_deref().unwrap_or(""),
                number.as_deref().unwrap_or(""),
            ],
            Selector::Issuer { issuer_code, from, to } => vec![
                "issuer",
                issuer_code,
                from.as_deref().unwrap_or(""),
                to.as_deref().unwrap_or(""),
            ],
            Selector::Type { type_code, from, to } => vec![
                "type",
                type_code,
                from.as_deref().unwrap_or(""),
                to.as_deref().unwrap_or(""),
            ],
        };
        let mut fp = parts.join("\0").into_bytes();
        fp.push(u8::from(include_superseded));
        fp
    }
}

/// Page size: 0 → default, capped at the maximum.
pub fn page_size(asked: usize) -> usize {
    match asked {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

impl Registry {
    /// Runs a query for `caller`. A query restricted to one type fails with
    /// `PermissionDenied` unless the caller may read that type; a holder or issuer query
    /// across types returns only the types the caller may read.
    pub fn query(&self, caller: &Department, q: Query) -> Result<QueryPage> {
        q.selector.validate()?;
        let (index, only_type) = q.selector.index()?;
        if let Some(t) = &only_type {
            self.check_read(caller, t)?;
        }
        if let Selector::Holder {
            code_type,
            code,
            type_code: Some(t),
            number: Some(n),
        } = &q.selector
        {
            return self.holder_number(code_type, code, t, n, q.include_superseded);
        }
        let fingerprint = q.selector.fingerprint(q.include_superseded);
        let scope = TokenScope {
            caller: &caller.code,
            fingerprint: &fingerprint,
        };
        let now = self.clock.now();
        let mut cursor = match q.page_token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => Some(self.page_tokens.open(&scope, t, now)?),
            None => None,
        };
        let size = page_size(q.page_size);
        let readable = |id: &str| -> Result<bool> {
            let t = type_of(id)?;
            Ok(only_type.as_ref().is_none_or(|o| *o == t) && caller.may_read(&t))
        };
        let mut page = QueryPage::default();
        let mut skipped = 0;
        // Fill the page one index entry at a time (fetched in chunks), remembering the
        // position of the last entry returned: the next page starts after it.
        let mut last_returned: Option<Vec<u8>> = None;
        let mut more = false;
        'scan: loop {
            let found = self.store.query(&index, cursor.as_deref(), CHUNK)?;
            for (id, position) in found.identifiers.iter().zip(found.positions) {
                if !readable(id)? {
                    continue;
                }
                let view = self.load(id)?;
                if !q.include_superseded && view.standing == Standing::Superseded {
                    skipped += 1;
                    if skipped >= SCAN_BUDGET {
                        // Cut short by readable entries only (so the token says nothing
                        // of others): a page not yet full continues after this one.
                        if page.results.len() < size {
                            last_returned = Some(position);
                        }
                        more = true;
                        break 'scan;
                    }
                    continue;
                }
                if page.results.len() == size {
                    more = true;
                    break 'scan;
                }
                page.results.push(view);
                last_returned = Some(position);
            }
            match found.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if more {
            if let Some(position) = last_returned {
                page.next_page_token = Some(self.page_tokens.seal(&scope, &position, now));
            }
        }
        Ok(page)
    }

    /// Holder + type + number: the number index names the current version directly.
    fn holder_number(
        &self,
        code_type: &str,
        code: &str,
        type_code: &str,
        number: &str,
        include_superseded: bool,
    ) -> Result<QueryPage> {
        let mut page = QueryPage::default();
        let mut next = self.store.find_number(type_code, number)?;
        while let Some(id) = next {
            let view = self.load(&id)?;
            if view.licence.holder_code_type != code_type || view.licence.holder_code != code {
                break;
            }
            next = view.licence.replaces.clone().filter(|_| include_superseded);
            page.results.push(view);
        }
        page.results.reverse();
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0), 50);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(10_000), 500);
    }
}
