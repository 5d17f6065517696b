//! Migration: turning validated historical rows into signed records, written in atomic,
//! durable batches that skip rows already imported (so an interrupted run resumes).
//!
//! A migrated record carries its provenance (source system, file, line, original issue
//! date, data-quality flags) inside the signed bytes; its event history starts empty and
//! later status changes chain from the record's digest. Signing is spread over all cores.

use std::collections::HashMap;

use super::{Actor, Registry, RegistryError};
use crate::catalog::Department;
use crate::import::{BatchOutcome, ImportError, ImportRecord, ImportSink, Reject};
use crate::licence::{LicenceId, SignedRecord};
use crate::store::{BatchItem, NewRecord};

/// The sink `run_import` writes into: the registry, acting for the CLI operator or for a
/// department over gRPC (whose issue permissions then apply row by row).
pub struct RegistrySink<'a> {
    registry: &'a Registry,
    caller: Option<Department>,
}

impl<'a> RegistrySink<'a> {
    pub fn new(registry: &'a Registry, caller: Option<Department>) -> RegistrySink<'a> {
        RegistrySink { registry, caller }
    }
}

fn sink_err(e: RegistryError) -> ImportError {
    ImportError::Sink(e.to_string())
}

/// A batch signed and ready to store, with the source line of each record.
pub struct SignedBatch {
    records: Vec<NewRecord>,
    lines: Vec<u64>,
    rejects: Vec<Reject>,
}

impl ImportSink for RegistrySink<'_> {
    type Ready = SignedBatch;

    /// Checks each row against the catalogue and the caller's permissions, gives it an
    /// identifier and signs it (on every core).
    fn prepare(&self, records: Vec<ImportRecord>) -> Result<SignedBatch, ImportError> {
        let mut rejects = Vec::new();
        let mut ready = Vec::with_capacity(records.len());
        let mut names: HashMap<String, String> = HashMap::new();
        for r in records {
            match self.prepare_row(&r, &mut names) {
                Ok((id, type_name)) => ready.push((r, id, type_name)),
                Err(reason) => rejects.push(Reject::new(r.line, "", "", reason)),
            }
        }
        let (records, lines) = self.registry.sign_migrated(ready).into_iter().unzip();
        Ok(SignedBatch {
            records,
            lines,
            rejects,
        })
    }

    /// Stores a signed batch atomically and returns once it is on disk.
    fn write(&self, batch: SignedBatch) -> Result<BatchOutcome, ImportError> {
        let SignedBatch {
            records,
            lines,
            rejects,
        } = batch;
        let identifiers: Vec<String> = records.iter().map(|n| n.identifier.clone()).collect();
        let store_outcome = self
            .registry
            .store
            .insert_batch(records)
            .map_err(|e| sink_err(e.into()))?;
        let mut outcome = BatchOutcome {
            rejects,
            ..BatchOutcome::default()
        };
        for (item, (line, identifier)) in store_outcome.items.into_iter().zip(lines.into_iter().zip(identifiers)) {
            match item {
                BatchItem::Written => outcome.imported += 1,
                BatchItem::AlreadyPresent(_) => outcome.already_present += 1,
                BatchItem::NumberTaken(existing) => outcome.rejects.push(Reject::new(
                    line,
                    "licence_number",
                    "",
                    format!("licence number already used for this type by {existing}"),
                )),
                BatchItem::IdentifierTaken => outcome.rejects.push(Reject::new(
                    line,
                    "identifier",
                    identifier,
                    "identifier already used by another record",
                )),
            }
        }
        // Acknowledge the batch only once it is on disk.
        self.registry
            .store
            .durable()
            .blocking_recv()
            .map_err(|_| ImportError::Sink("durability worker stopped".into()))?
            .map_err(|e| sink_err(e.into()))?;
        Ok(outcome)
    }
}

impl RegistrySink<'_> {
    /// Checks the row against the catalogue and the caller's permissions and picks its
    /// identifier: the legacy one when the source has it, else a new one.
    /// `names` caches the type names already looked up and permitted in this batch.
    fn prepare_row(
        &self,
        r: &ImportRecord,
        names: &mut HashMap<String, String>,
    ) -> Result<(LicenceId, String), String> {
        let code = &r.draft.draft.licence_type_code;
        let name = match names.get(code) {
            Some(name) => name.clone(),
            None => {
                let t = self
                    .registry
                    .licence_type(code)
                    .ok_or_else(|| format!("unknown licence type {code}"))?;
                if let Some(caller) = &self.caller {
                    if !caller.may_issue(&t.code) {
                        return Err(format!("{} may not issue {} ({})", caller.name, t.name, t.code));
                    }
                }
                names.insert(t.code, t.name.clone());
                t.name
            }
        };
        let id = match &r.legacy_identifier {
            Some((id, _)) => id.clone(),
            None => self.registry.new_identifier(&r.draft).map_err(|e| e.to_string())?,
        };
        Ok((id, name))
    }
}

impl Registry {
    /// Signs prepared rows in parallel; returns the records to store with their lines.
    fn sign_migrated(&self, ready: Vec<(ImportRecord, LicenceId, String)>) -> Vec<(NewRecord, u64)> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        let chunk = ready.len().div_ceil(threads).max(1);
        let now = self.clock.now();
        let mut ready = ready;
        let mut parts = Vec::new();
        while !ready.is_empty() {
            let rest = ready.split_off(chunk.min(ready.len()));
            parts.push(std::mem::replace(&mut ready, rest));
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    s.spawn(move || {
                        part.into_iter()
                            .map(|(r, id, name)| {
                                let line = r.line;
                                let mut provenance = r.provenance;
                                for f in r.flags {
                                    if !provenance.flags.contains(&f) {
                                        provenance.flags.push(f);
                                    }
                                }
                                let mut licence = r.draft.into_licence(&id, &name, self.keys.active_key_id(), now);
                                licence.provenance = Some(provenance);
                                let record = SignedRecord::sign(&licence, &self.keys);
                                let new = NewRecord {
                                    identifier: licence.identifier.clone(),
                                    type_code: licence.licence_type_code.clone(),
                                    licence_number: licence.licence_number.clone(),
                                    holder_code_type: licence.holder_code_type.clone(),
                                    holder_code: licence.holder_code.clone(),
                                    issuer_code: licence.issuer_code.clone(),
                                    issue_date: crate::licence::record::format_date(licence.issue_date),
                                    record,
                                    first_event: None,
                                    import_key: Some(r.key),
                                };
                                (new, line)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("signing thread"))
                .collect()
        })
    }
}

/// The actor recorded for repository-initiated changes (migration).
pub fn migration_actor() -> Actor {
    Actor {
        code: "migration".into(),
        name: "历史数据迁移".into(),
    }
}
