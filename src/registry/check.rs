//! The consistency check: every record and event verifies and chains, the audit log
//! chains, and every index agrees with the records — no orphan entry, no record missing
//! from an index, each licence number pointing at its current version.

use std::collections::{HashMap, HashSet};

use super::{Registry, RegistryError, Result};
use crate::audit::ChainVerifier;
use crate::licence::record::format_date;
use crate::licence::status::Standing;

/// Problems listed in full at most; the count is always exact.
const MAX_LISTED: usize = 100;

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub licences: u64,
    pub events: u64,
    pub audit_entries: u64,
    pub index_entries: u64,
    pub problem_count: u64,
    /// The first problems, each naming what and where.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, p: String) {
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
            "{} licences, {} events, {} audit entries, {} index entries checked; {}",
            self.licences,
            self.events,
            self.audit_entries,
            self.index_entries,
            match self.problem_count {
                0 => "no problems".to_string(),
                n => format!("{n} problems"),
            }
        )
    }
}

type Triple = (String, String, String);

fn compare(report: &mut CheckReport, index: &str, expected: &HashSet<Triple>, actual: &[Triple]) {
    let actual_set: HashSet<&Triple> = actual.iter().collect();
    for e in expected {
        if !actual_set.contains(e) {
            report.problem(format!("{index}: record {} has no entry ({}, {})", e.2, e.0, e.1));
        }
    }
    for a in actual {
        if !expected.contains(a) {
            report.problem(format!("{index}: orphan entry ({}, {}) → {}", a.0, a.1, a.2));
        }
    }
}

impl Registry {
    /// Reads and checks everything. Problems are reported, not returned as errors; an
    /// error means the store could not be read at all.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let ids = self.store.all_identifiers()?;
        let known: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut holder = HashSet::new();
        let mut by_type = HashSet::new();
        let mut by_issuer = HashSet::new();
        let mut current: HashMap<(String, String), String> = HashMap::new();
        for id in &ids {
            report.licences += 1;
            let view = match self.load(id) {
                Ok(v) => v,
                Err(RegistryError::Tampered(_)) => {
                    report.problem(format!("licence {id}: record or event chain does not verify"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.events += view.events.len() as u64;
            let l = &view.licence;
            let date = format_date(l.issue_date);
            holder.insert((l.holder_code_type.clone(), l.holder_code.clone(), id.clone()));
            by_type.insert((l.licence_type_code.clone(), date.clone(), id.clone()));
            by_issuer.insert((l.issuer_code.clone(), date, id.clone()));
            if view.standing != Standing::Superseded {
                let number = (l.licence_type_code.clone(), l.licence_number.clone());
                if let Some(other) = current.insert(number.clone(), id.clone()) {
                    report.problem(format!(
                        "licence number {} of type {}: two current versions, {other} and {id}",
                        number.1, number.0
                    ));
                }
            }
        }

        let entries = self.store.index_entries()?;
        report.index_entries =
            (entries.number.len() + entries.holder.len() + entries.by_type.len() + entries.by_issuer.len()) as u64;
        compare(&mut report, "holder index", &holder, &entries.holder);
        compare(&mut report, "type index", &by_type, &entries.by_type);
        compare(&mut report, "issuer index", &by_issuer, &entries.by_issuer);
        let mut numbered = HashSet::new();
        for (t, n, id) in &entries.number {
            let key = (t.clone(), n.clone());
            numbered.insert(key.clone());
            match current.get(&key) {
                Some(cur) if cur == id => {}
                Some(cur) => report.problem(format!(
                    "number index: {n} of type {t} points to {id}, the current version is {cur}"
                )),
                None => report.problem(format!("number index: orphan entry {n} of type {t} → {id}")),
            }
        }
        for ((t, n), id) in &current {
            if !numbered.contains(&(t.clone(), n.clone())) {
                report.problem(format!(
                    "number index: current version {id} ({n} of type {t}) has no entry"
                ));
            }
        }
        for (id, seq) in &entries.events {
            if !known.contains(id.as_str()) {
                report.problem(format!("events: event {seq} of {id}, which has no record"));
            }
        }
        for (what, targets) in [
            ("idempotency key", &entries.requests),
            ("import key", &entries.import_keys),
        ] {
            for id in targets {
                if !known.contains(id.as_str()) {
                    report.problem(format!("{what} points to {id}, which has no record"));
                }
            }
        }

        let mut chain = ChainVerifier::new(self.keys.public_keys());
        loop {
            let batch = self.store.audit_range(chain.count(), 1024)?;
            if batch.is_empty() {
                break;
            }
            for e in &batch {
                if let Err(err) = chain.check(e) {
                    report.problem(format!("audit log: {err}"));
                    report.audit_entries = chain.count();
                    return Ok(report);
                }
            }
        }
        report.audit_entries = chain.count();
        Ok(report)
    }
}
