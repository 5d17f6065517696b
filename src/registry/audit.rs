//! Writing and reading the access audit log: each department call becomes one signed
//! entry chained to the previous one; auditors page through it by time, department or
//! identifier.

use super::page_token::TokenScope;
use super::query::page_size;
use super::{Registry, RegistryError, Result};
use crate::audit::SignedAuditEntry;
use crate::audit::{AuditEntry, AuditLink, ImportRun, AUDIT_SCHEMA};
use crate::catalog::{Department, Role};
use crate::licence::record::rfc3339;
use crate::licence::text;
use crate::licence::{signing, Invalid};
use crate::store::Pending;

/// Entries examined for one page at most (department and identifier filters scan).
const SCAN_BUDGET: usize = 10_000;
const BATCH: usize = 256;

/// One call to record.
#[derive(Debug, Clone)]
pub struct AccessRecord<'a> {
    pub department: &'a Department,
    pub method: &'a str,
    pub use_cause: &'a str,
    pub identifiers: Vec<String>,
    pub result: &'a str,
    /// What an import created.
    pub import: Option<ImportRun>,
}

/// What an auditor asks for. Times are RFC 3339; `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    /// A department's code (USCC) or id.
    pub department: Option<String>,
    pub identifier: Option<String>,
    pub page_size: usize,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub entries: Vec<(AuditEntry, SignedAuditEntry)>,
    pub next_page_token: Option<String>,
    /// The last entry of the whole log: seq and digest of its signed bytes.
    pub head: Option<(u64, [u8; 32])>,
}

fn parse_time(field: &str, s: &Option<String>) -> Result<Option<String>> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| Some(rfc3339(t)))
            .map_err(|_| Invalid::new(field, "must be an RFC 3339 time").into()),
    }
}

impl Registry {
    /// Queues one entry. The store's writer seals it in log order — numbered, linked to
    /// the entry before it, its time never earlier — and signs it with the active key;
    /// the answer (its seq) comes once it is journaled. It becomes durable with the next
    /// flush, so auditing adds no fsync to a read.
    pub fn record_access(&self, r: AccessRecord<'_>) -> Pending<u64> {
        let keys = self.keys.clone();
        let clock = self.clock.clone();
        let department = r.department;
        let draft = AuditEntry {
            schema: AUDIT_SCHEMA.to_string(),
            seq: 0,
            at: String::new(),
            department: department.code.clone(),
            department_id: department.id.clone(),
            department_name: department.name.clone(),
            method: r.method.to_string(),
            // A refused call is audited with the use cause it sent; characters that could
            // hide or forge text in the log are replaced, never stored.
            use_cause: r
                .use_cause
                .chars()
                .take(200)
                .map(|c| match text::refused(c, text::Lines::Single) {
                    Some(_) => '\u{FFFD}',
                    None => c,
                })
                .collect(),
            identifiers: r.identifiers,
            result: r.result.to_string(),
            prev_digest: String::new(),
            key_id: String::new(),
            import: r.import,
        };
        self.store.append_audit(Box::new(move |link: &AuditLink| {
            let now = rfc3339(clock.now());
            let entry = AuditEntry {
                seq: link.seq,
                at: if now < link.last_at { link.last_at.clone() } else { now },
                prev_digest: hex::encode(link.prev),
                key_id: keys.active_key_id().to_string(),
                ..draft
            };
            let bytes = entry.canonical_bytes();
            SignedAuditEntry {
                seq: entry.seq,
                signature: keys.sign(&bytes),
                key_id: entry.key_id,
                bytes,
            }
        }))
    }

    /// Pages through the audit log (auditor role).
    pub fn query_access_log(&self, caller: &Department, q: AuditQuery) -> Result<AuditPage> {
        if !caller.has_role(Role::Auditor) {
            return Err(RegistryError::PermissionDenied(format!(
                "{} is not an auditor",
                caller.name
            )));
        }
        let from = parse_time("from_time", &q.from)?;
        let to = parse_time("to_time", &q.to)?;
        let fingerprint = format!(
            "audit\0{}\0{}\0{}\0{}",
            from.as_deref().unwrap_or(""),
            to.as_deref().unwrap_or(""),
            q.department.as_deref().unwrap_or(""),
            q.identifier.as_deref().unwrap_or("")
        )
        .into_bytes();
        let scope = TokenScope {
            caller: &caller.code,
            fingerprint: &fingerprint,
        };
        let now = self.clock.now();
        let head = self.store.last_audit()?;
        let mut page = AuditPage {
            head: head.as_ref().map(|h| (h.seq, signing::digest(&h.bytes))),
            ..AuditPage::default()
        };
        let Some(last) = head.map(|h| h.seq) else {
            return Ok(page);
        };
        let mut seq = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => {
                let raw = self.page_tokens.open(&scope, t, now)?;
                u64::from_be_bytes(
                    raw.try_into()
                        .map_err(|_| Invalid::new("page_token", "is not a token of this query"))?,
                )
            }
            None => match &from {
                Some(f) => self.first_audit_at_or_after(f, last)?,
                None => 0,
            },
        };
        let size = page_size(q.page_size);
        let mut scanned = 0;
        while seq <= last {
            if page.entries.len() == size || scanned >= SCAN_BUDGET {
                page.next_page_token = Some(self.page_tokens.seal(&scope, &seq.to_be_bytes(), now));
                return Ok(page);
            }
            let batch = self.store.audit_range(seq, BATCH)?;
            if batch.is_empty() {
                break;
            }
            for signed in batch {
                if page.entries.len() == size || scanned >= SCAN_BUDGET {
                    break;
                }
                scanned += 1;
                seq = signed.seq + 1;
                let entry = AuditEntry::from_canonical(&signed.bytes)
                    .map_err(|e| RegistryError::Corrupt(format!("audit entry {}: {e}", signed.seq)))?;
                if to.as_ref().is_some_and(|t| entry.at >= *t) {
                    return Ok(page);
                }
                let dept_ok = q
                    .department
                    .as_ref()
                    .is_none_or(|d| *d == entry.department || *d == entry.department_id);
                let id_ok = q.identifier.as_ref().is_none_or(|i| entry.identifiers.contains(i));
                if dept_ok && id_ok {
                    page.entries.push((entry, signed));
                }
            }
        }
        Ok(page)
    }

    /// Binary search on seq: entry times never decrease along the chain.
    fn first_audit_at_or_after(&self, from: &str, last: u64) -> Result<u64> {
        let (mut lo, mut hi) = (0u64, last + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = match self.store.audit_range(mid, 1)?.first() {
                Some(e) => AuditEntry::from_canonical(&e.bytes).map(|e| e.at).unwrap_or_default(),
                None => break,
            };
            if at.as_str() < from {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}
