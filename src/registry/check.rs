//! The consistency check: every record and event verifies and chains, the audit log
//! chains, and every index agrees with the records — no orphan entry, no record missing
//! from an index, each licence number pointing at its current version.
//!
//! It streams through the store in bounded memory, so that it runs on a province's
//! hundreds of millions of licences as on a city's: records, then each index, are read
//! in pages of [`PAGE`] and checked against the other side by point lookups, never by
//! collecting one side into a set.

use super::read::LicenceView;
use super::{Registry, RegistryError, Result};
use crate::audit::ChainVerifier;
use crate::licence::record::format_date;
use crate::licence::status::{EventKind, Standing};
use crate::licence::Licence;
use crate::store::{IndexKey, IndexName};
use crate::tlog::LeafKey;

/// Problems listed in full at most; the count is always exact.
const MAX_LISTED: usize = 100;

/// Identifiers or index entries read per page.
const PAGE: usize = 1024;

/// Versions followed at most from a superseded version to its current one.
const MAX_SUCCESSORS: usize = 1000;

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub licences: u64,
    pub events: u64,
    pub audit_entries: u64,
    pub index_entries: u64,
    pub log_leaves: u64,
    pub problem_count: u64,
    /// The first problems, each naming what and where.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    pub(super) fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(p);
        }
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} licences, {} events, {} audit entries, {} index entries, {} log leaves checked; {}",
            self.licences,
            self.events,
            self.audit_entries,
            self.index_entries,
            self.log_leaves,
            match self.problem_count {
                0 => "no problems".to_string(),
                n => format!("{n} problems"),
            }
        )
    }
}

/// The holder, type and issuer index entries a licence version has.
fn expected_entries(l: &Licence) -> [IndexKey; 3] {
    let date = format_date(l.issue_date);
    [
        IndexKey::Holder {
            code_type: l.holder_code_type.clone(),
            code: l.holder_code.clone(),
            identifier: l.identifier.clone(),
        },
        IndexKey::Type {
            type_code: l.licence_type_code.clone(),
            issue_date: date.clone(),
            identifier: l.identifier.clone(),
        },
        IndexKey::Issuer {
            issuer_code: l.issuer_code.clone(),
            issue_date: date,
            identifier: l.identifier.clone(),
        },
    ]
}

/// A holder, type or issuer entry as a problem names it: index, then its two parts.
fn described(key: &IndexKey) -> Option<(&'static str, &str, &str)> {
    match key {
        IndexKey::Holder { code_type, code, .. } => Some(("holder index", code_type, code)),
        IndexKey::Type {
            type_code, issue_date, ..
        } => Some(("type index", type_code, issue_date)),
        IndexKey::Issuer {
            issuer_code,
            issue_date,
            ..
        } => Some(("issuer index", issuer_code, issue_date)),
        _ => None,
    }
}

/// The version that superseded this one, as its last `superseded` event names it.
fn successor(view: &LicenceView) -> Option<&str> {
    view.events
        .iter()
        .rev()
        .find(|(e, _)| e.kind == EventKind::Superseded)
        .and_then(|(e, _)| e.related.as_deref())
}

impl Registry {
    /// Reads and checks everything. Problems are reported, not returned as errors; an
    /// error means the store could not be read at all.
    ///
    /// Memory: one page of identifiers or index entries ([`PAGE`]), one licence with its
    /// events, and the first problems ([`MAX_LISTED`]) — nothing per licence. Time:
    /// every record and event signature is verified once (the dominant cost), and each
    /// index entry costs one point lookup from each side.
    ///
    /// 1. Each record, page by page: it and its event chain verify; its holder, type and
    ///    issuer entries exist; a current version is what its number points to (else
    ///    the number points elsewhere, at a second current version, or nowhere).
    /// 2. Each index, events, idempotency and import keys, page by page: the record an
    ///    entry names exists and agrees with it (else the entry is an orphan). The
    ///    record is read, not verified again: whether it verifies is step 1's finding.
    /// 3. The audit log, in seq order: it chains and every entry verifies.
    ///
    /// On a live store writes go on meanwhile. Each is atomic and every lookup reads
    /// committed state, so a licence written during the walk is checked whole or not at
    /// all; a number that a reissue moves between two reads is read again before it is
    /// reported.
    pub fn check(&self) -> Result<CheckReport> {
        self.check_against(None)
    }

    /// [`Registry::check`], and whether the log extends `expected` (a signed checkpoint
    /// kept outside the store: a truncated, forked or rewritten log is reported).
    pub fn check_against(&self, expected: Option<&[u8]>) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut unlogged = super::check_log::Unlogged::default();
        let mut after: Option<String> = None;
        loop {
            let page = self.store.identifiers(after.as_deref(), PAGE)?;
            for id in &page {
                self.check_record(&mut report, &mut unlogged, id)?;
            }
            match page.into_iter().last() {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        for index in IndexName::ALL {
            self.check_index(&mut report, index)?;
        }
        self.check_audit(&mut report, &mut unlogged)?;
        self.check_log(&mut report, unlogged, expected)?;
        Ok(report)
    }

    fn check_record(
        &self,
        report: &mut CheckReport,
        unlogged: &mut super::check_log::Unlogged,
        id: &str,
    ) -> Result<()> {
        report.licences += 1;
        self.expect_leaf(unlogged, LeafKey::Record(id.to_string()))?;
        let view = match self.load(id) {
            Ok(v) => v,
            Err(RegistryError::Tampered(_)) => {
                report.problem(format!("licence {id}: record or event chain does not verify"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        report.events += view.events.len() as u64;
        for (e, _) in &view.events {
            self.expect_leaf(unlogged, LeafKey::Event(id.to_string(), e.seq))?;
        }
        for key in expected_entries(&view.licence) {
            if !self.store.has_index_key(&key)? {
                let (index, a, b) = described(&key).expect("a holder, type or issuer entry");
                report.problem(format!("{index}: record {id} has no entry ({a}, {b})"));
            }
        }
        self.check_number(report, &view)
    }

    /// The number index points at the current version of a licence, and only at it. A
    /// wrong pointer is reported once: from the current version when there is one.
    fn check_number(&self, report: &mut CheckReport, view: &LicenceView) -> Result<()> {
        let l = &view.licence;
        let (id, t, n) = (&l.identifier, &l.licence_type_code, &l.licence_number);
        let pointed = self.store.find_number(t, n)?;
        if view.standing == Standing::Superseded {
            if pointed.as_deref() == Some(id) && !self.has_current_successor(view)? {
                report.problem(format!(
                    "number index: {n} of type {t} points to {id}, which is superseded and has no current version"
                ));
            }
            return Ok(());
        }
        let other = match pointed {
            Some(p) if p == *id => return Ok(()),
            None => {
                report.problem(format!(
                    "number index: current version {id} ({n} of type {t}) has no entry"
                ));
                return Ok(());
            }
            Some(other) => other,
        };
        // On a live store a reissue may have moved the number since this version was
        // read: then it is superseded now, and nothing is wrong.
        if !self.is_current_version(id, t, n)? {
            return Ok(());
        }
        if self.is_current_version(&other, t, n)? {
            report.problem(format!(
                "licence number {n} of type {t}: two current versions, {other} and {id}"
            ));
        } else {
            report.problem(format!(
                "number index: {n} of type {t} points to {other}, the current version is {id}"
            ));
        }
        Ok(())
    }

    /// Whether `id` is a verified, not superseded version of licence number `n` of type `t`.
    fn is_current_version(&self, id: &str, t: &str, n: &str) -> Result<bool> {
        Ok(self.checked_view(id)?.is_some_and(|v| {
            v.standing != Standing::Superseded && v.licence.licence_type_code == t && v.licence.licence_number == n
        }))
    }

    /// Whether following the versions that superseded `view` reaches a current one of
    /// the same number (which then reports a number pointing elsewhere).
    fn has_current_successor(&self, view: &LicenceView) -> Result<bool> {
        let l = &view.licence;
        let mut next = successor(view).map(str::to_string);
        for _ in 0..MAX_SUCCESSORS {
            let Some(id) = next else { return Ok(false) };
            let Some(v) = self.checked_view(&id)? else {
                return Ok(false);
            };
            if v.licence.licence_type_code != l.licence_type_code || v.licence.licence_number != l.licence_number {
                return Ok(false);
            }
            if v.standing != Standing::Superseded {
                return Ok(true);
            }
            next = successor(&v).map(str::to_string);
        }
        Ok(false)
    }

    /// A version loaded and verified; `None` when it is absent or does not verify
    /// (reported when the record walk reaches it).
    fn checked_view(&self, id: &str) -> Result<Option<LicenceView>> {
        match self.load(id) {
            Ok(v) => Ok(Some(v)),
            Err(RegistryError::Tampered(_) | RegistryError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The licence a record holds, unverified (the record walk verifies it); `None` when
    /// the record is absent or unreadable, so that no entry agrees with it.
    fn stored_licence(&self, id: &str) -> Result<Option<Licence>> {
        Ok(self
            .store
            .get(id)?
            .and_then(|r| Licence::from_canonical(&r.bytes).ok())
            .filter(|l| l.identifier == id))
    }

    fn check_index(&self, report: &mut CheckReport, index: IndexName) -> Result<()> {
        // Events come grouped by identifier: look each record up once.
        let mut last_record: Option<(String, bool)> = None;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.store.index_page(index, after.as_deref(), PAGE)?;
            for entry in &page {
                self.check_entry(report, &entry.key, &mut last_record)?;
            }
            match page.into_iter().last() {
                Some(last) => after = Some(last.position),
                None => return Ok(()),
            }
        }
    }

    fn check_entry(&self, report: &mut CheckReport, key: &IndexKey, last: &mut Option<(String, bool)>) -> Result<()> {
        let id = key.identifier();
        match key {
            IndexKey::Number {
                type_code: t,
                number: n,
                ..
            } => {
                report.index_entries += 1;
                let agrees = self
                    .stored_licence(id)?
                    .is_some_and(|l| l.licence_type_code == *t && l.licence_number == *n);
                if !agrees {
                    report.problem(format!("number index: orphan entry {n} of type {t} → {id}"));
                }
            }
            IndexKey::Holder { .. } | IndexKey::Type { .. } | IndexKey::Issuer { .. } => {
                report.index_entries += 1;
                let agrees = self
                    .stored_licence(id)?
                    .is_some_and(|l| expected_entries(&l).contains(key));
                if !agrees {
                    let (index, a, b) = described(key).expect("a holder, type or issuer entry");
                    report.problem(format!("{index}: orphan entry ({a}, {b}) → {id}"));
                }
            }
            IndexKey::Event { seq, .. } => {
                let exists = match last {
                    Some((previous, exists)) if previous == id => *exists,
                    _ => {
                        let exists = self.store.get(id)?.is_some();
                        *last = Some((id.to_string(), exists));
                        exists
                    }
                };
                if !exists {
                    report.problem(format!("events: event {seq} of {id}, which has no record"));
                }
            }
            IndexKey::Request { .. } | IndexKey::ImportKey { .. } => {
                if self.store.get(id)?.is_none() {
                    let what = match key {
                        IndexKey::Request { .. } => "idempotency key",
                        _ => "import key",
                    };
                    report.problem(format!("{what} points to {id}, which has no record"));
                }
            }
        }
        Ok(())
    }

    fn check_audit(&self, report: &mut CheckReport, unlogged: &mut super::check_log::Unlogged) -> Result<()> {
        let mut chain = ChainVerifier::new(self.keys.public_keys());
        loop {
            let batch = self.store.audit_range(chain.count(), PAGE)?;
            if batch.is_empty() {
                break;
            }
            for e in &batch {
                self.expect_leaf(unlogged, LeafKey::Audit(e.seq))?;
                if let Err(err) = chain.check(e) {
                    report.problem(format!("audit log: {err}"));
                    report.audit_entries = chain.count();
                    return Ok(());
                }
            }
        }
        report.audit_entries = chain.count();
        Ok(())
    }
}
