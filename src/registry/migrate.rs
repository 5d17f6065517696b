//! Migration: turning validated historical rows into signed records, written in atomic,
//! durable batches that skip rows already imported (so an interrupted run resumes).
//!
//! Every row passes the issuing rules of `IssueLicence` (the importing department's, or
//! for the operator the catalogue's). A migrated record carries its provenance (source
//! system, file, line, original issue date, data-quality flags) inside the signed bytes,
//! and its first event (seq 0, `migrated`) names who imported it and in which run.
//! Signing is spread over all cores.

use std::sync::Mutex;

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::{digest, Actor, Registry, RegistryError};
use crate::catalog::Department;
use crate::import::{BatchOutcome, ImportError, ImportRecord, ImportSink, Reject};
use crate::licence::record::ValidDraft;
use crate::licence::status::EventKind;
use crate::licence::{LicenceId, SignedRecord};
use crate::store::{BatchItem, NewRecord};

/// The actor code in the first event of a record imported on the command line.
pub const OPERATOR_ACTOR: &str = "operator";

/// Who runs an import.
#[derive(Debug, Clone)]
pub enum Importer {
    /// A department over gRPC: its issue permissions and issuer codes apply row by row.
    Department(Box<Department>),
    /// The operator of `elicence import`, by name: trusted, but held to the catalogue.
    Operator(String),
}

impl Importer {
    fn actor(&self) -> Actor {
        match self {
            Importer::Department(d) => Actor::from(&**d),
            Importer::Operator(name) => Actor {
                code: OPERATOR_ACTOR.into(),
                name: name.clone(),
            },
        }
    }
}

/// What one import run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReceipt {
    /// Random, and named in the first event of every record the run created.
    pub run_id: String,
    /// The identifiers created, sorted.
    pub created: Vec<String>,
    /// SHA-256 of the sorted identifiers, each followed by `\n` (see [`created_digest`]).
    pub created_sha256: [u8; 32],
}

/// SHA-256 of `sorted` identifiers, each followed by a line feed: what an audit entry
/// keeps of a run that created too many records to list.
pub fn created_digest(sorted: &[String]) -> [u8; 32] {
    let mut h = Sha256::new();
    for id in sorted {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    h.finalize().into()
}

/// A new run id: 128 random bits in hex.
fn new_run_id() -> String {
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The sink `run_import` writes into: the registry, acting for a department over gRPC
/// or for the operator on the command line.
pub struct RegistrySink<'a> {
    registry: &'a Registry,
    importer: Importer,
    run_id: String,
    /// Identifiers this run wrote, for the receipt.
    created: Mutex<Vec<String>>,
}

impl<'a> RegistrySink<'a> {
    /// A sink for one import run, with a fresh run id.
    pub fn new(registry: &'a Registry, importer: Importer) -> RegistrySink<'a> {
        RegistrySink {
            registry,
            importer,
            run_id: new_run_id(),
            created: Mutex::new(Vec::new()),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Ends the run: what it created.
    pub fn receipt(self) -> ImportReceipt {
        let mut created = self.created.into_inner().expect("created lock");
        created.sort_unstable();
        ImportReceipt {
            created_sha256: created_digest(&created),
            run_id: self.run_id,
            created,
        }
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
        for r in records {
            match self.prepare_row(&r) {
                Ok((id, type_name)) => ready.push((r, id, type_name)),
                Err(reject) => rejects.push(reject),
            }
        }
        let reason = format!("migrated by import run {}", self.run_id);
        let (records, lines) = self
            .registry
            .sign_migrated(ready, &self.importer.actor(), &reason)
            .into_iter()
            .unzip();
        Ok(SignedBatch {
            records,
            lines,
            rejects,
        })
    }

    /// Stores a signed batch atomically; the store answers once it is on disk.
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
            .wait()
            .map_err(|e| sink_err(e.into()))?;
        let mut outcome = BatchOutcome {
            rejects,
            ..BatchOutcome::default()
        };
        let mut written = Vec::new();
        for (item, (line, identifier)) in store_outcome.items.into_iter().zip(lines.into_iter().zip(identifiers)) {
            match item {
                BatchItem::Written => {
                    outcome.imported += 1;
                    written.push(identifier);
                }
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
        self.created.lock().expect("created lock").append(&mut written);
        Ok(outcome)
    }
}

impl RegistrySink<'_> {
    /// Checks the row against the issuing rules and picks its identifier: the legacy one
    /// when the source has it, else a new one. Returns the type's name.
    fn prepare_row(&self, r: &ImportRecord) -> Result<(LicenceId, String), Reject> {
        let refused = |e: RegistryError| Reject::new(r.line, "", "", e.to_string());
        let t = match &self.importer {
            Importer::Department(d) => self.registry.type_for_issue(d, &r.draft),
            Importer::Operator(_) => self.registry.type_for_operator(&r.draft),
        }
        .map_err(refused)?;
        let id = match &r.legacy_identifier {
            Some((id, _)) => {
                legacy_matches(id, &r.draft)
                    .map_err(|reason| Reject::new(r.line, "legacy_identifier", id.to_string(), reason))?;
                id.clone()
            }
            None => self.registry.new_identifier(&r.draft).map_err(refused)?,
        };
        Ok((id, t.name))
    }
}

/// A legacy identifier is kept only when it names the row's own type and issuer: its
/// issuer part is what the public sees as the issuing body.
fn legacy_matches(id: &LicenceId, draft: &ValidDraft) -> Result<(), String> {
    let d = &draft.draft;
    if id.issuer_code != d.issuer_code {
        return Err(format!(
            "legacy identifier's issuer part {} differs from the row's issuer_code {}",
            id.issuer_code, d.issuer_code
        ));
    }
    if id.type_code != d.licence_type_code {
        return Err(format!(
            "legacy identifier's type part {} differs from the row's licence_type_code {}",
            id.type_code, d.licence_type_code
        ));
    }
    Ok(())
}

impl Registry {
    /// Signs prepared rows and their first events in parallel; returns the records to
    /// store with their lines.
    fn sign_migrated(
        &self,
        ready: Vec<(ImportRecord, LicenceId, String)>,
        actor: &Actor,
        reason: &str,
    ) -> Vec<(NewRecord, u64)> {
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
                                let first_event = self.sign_event(
                                    &licence.identifier,
                                    0,
                                    EventKind::Migrated,
                                    actor,
                                    reason,
                                    None,
                                    digest(&record.bytes),
                                );
                                let new = NewRecord {
                                    identifier: licence.identifier.clone(),
                                    type_code: licence.licence_type_code.clone(),
                                    licence_number: licence.licence_number.clone(),
                                    holder_code_type: licence.holder_code_type.clone(),
                                    holder_code: licence.holder_code.clone(),
                                    issuer_code: licence.issuer_code.clone(),
                                    issue_date: crate::licence::record::format_date(licence.issue_date),
                                    record,
                                    first_event: Some(first_event),
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
