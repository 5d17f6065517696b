//! Reading licences back: fetching a version with its signed bytes and events,
//! checking authenticity, deriving status, and public verification.

use super::{digest, Registry, RegistryError, Result};
use crate::catalog::Department;
use crate::licence::status::SignedEvent;
use crate::licence::status::{self, LicenceStatus, Standing, StatusEvent};
use crate::licence::{Licence, SignedRecord};

/// A licence version as the repository holds it, checked.
#[derive(Debug, Clone)]
pub struct LicenceView {
    pub licence: Licence,
    pub record: SignedRecord,
    pub events: Vec<(StatusEvent, SignedEvent)>,
    pub standing: Standing,
    pub status: LicenceStatus,
    /// The identifier of the current version of this licence (differs when superseded).
    pub current_identifier: String,
}

impl LicenceView {
    /// The seq and previous digest the next event must carry: after the last event, or
    /// (for a migrated record with no events yet) seq 0 chained from the record.
    pub fn next_event_link(&self) -> (u32, [u8; 32]) {
        match self.events.last() {
            Some((e, signed)) => (e.seq + 1, digest(&signed.bytes)),
            None => (0, digest(&self.record.bytes)),
        }
    }
}

impl Registry {
    /// Loads a version and verifies its record and event chain. A record or event whose
    /// bytes do not match its signature yields [`RegistryError::Tampered`].
    pub fn load(&self, identifier: &str) -> Result<LicenceView> {
        let (record, events) = self
            .store
            .load(identifier)?
            .ok_or_else(|| RegistryError::NotFound(format!("licence {identifier}")))?;
        self.view_with(identifier, record, events)
    }

    /// A view of a record and its stored events (as `Store::load` reads them), both
    /// verified.
    pub(crate) fn view_with(
        &self,
        identifier: &str,
        record: SignedRecord,
        events: Vec<SignedEvent>,
    ) -> Result<LicenceView> {
        let tampered = || RegistryError::Tampered(identifier.to_string());
        self.verified
            .verify(&self.keys, &record.key_id, &record.bytes, &record.signature)
            .map_err(|_| tampered())?;
        let licence = Licence::from_canonical(&record.bytes).map_err(|_| tampered())?;
        if licence.identifier != identifier || licence.key_id != record.key_id {
            return Err(tampered());
        }
        let events = self.verified_events(identifier, &record, events, licence.provenance.is_some())?;
        let plain: Vec<StatusEvent> = events.iter().map(|(e, _)| e.clone()).collect();
        let standing = status::standing_of(&plain);
        let status = status::status_on(&licence, standing, self.clock.today());
        let current_identifier = match standing {
            Standing::Superseded => self
                .store
                .find_number(&licence.licence_type_code, &licence.licence_number)?
                .unwrap_or_else(|| identifier.to_string()),
            _ => identifier.to_string(),
        };
        Ok(LicenceView {
            licence,
            record,
            events,
            standing,
            status,
            current_identifier,
        })
    }

    /// Verifies every event's signature and the hash chain that starts at the record.
    fn verified_events(
        &self,
        identifier: &str,
        record: &SignedRecord,
        stored: Vec<SignedEvent>,
        migrated: bool,
    ) -> Result<Vec<(StatusEvent, SignedEvent)>> {
        let tampered = || RegistryError::Tampered(identifier.to_string());
        let mut prev = digest(&record.bytes);
        let mut out = Vec::new();
        for (i, se) in stored.into_iter().enumerate() {
            self.verified
                .verify(&self.keys, &se.key_id, &se.bytes, &se.signature)
                .map_err(|_| tampered())?;
            let e = StatusEvent::from_canonical(&se.bytes).map_err(|_| tampered())?;
            if e.identifier != identifier
                || e.seq as usize != i
                || se.seq != e.seq
                || e.prev_digest != hex::encode(prev)
            {
                return Err(tampered());
            }
            prev = digest(&se.bytes);
            out.push((e, se));
        }
        // Issued records start with a signed event; only migrated records (whose
        // provenance is in the signed record) may have none.
        if out.is_empty() && !migrated {
            return Err(tampered());
        }
        Ok(out)
    }

    /// A department reads a licence: it must be allowed to read the type.
    pub fn read(&self, caller: &Department, identifier: &str) -> Result<LicenceView> {
        let view = self.load(identifier)?;
        if !caller.may_read(&view.licence.licence_type_code) {
            return Err(RegistryError::PermissionDenied(format!(
                "{} may not read licences of type {}",
                caller.name, view.licence.licence_type_code
            )));
        }
        Ok(view)
    }

    /// Resolves `(type, number)` to the current version's identifier.
    pub fn identifier_for_number(&self, type_code: &str, number: &str) -> Result<String> {
        self.store
            .find_number(type_code, number)?
            .ok_or_else(|| RegistryError::NotFound(format!("licence number {number} of type {type_code}")))
    }
}
