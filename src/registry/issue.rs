//! 新发: issuing a licence — validation, permission, identifier, signing, one atomic
//! durable write.

use super::{digest, Actor, Committing, Registry, RegistryError, Result};
use crate::catalog::{Department, LicenceType};
use crate::licence::record::{CheckDigits, ValidDraft};
use crate::licence::status::EventKind;
use crate::licence::status::SignedEvent;
use crate::licence::{Invalid, Licence, LicenceDraft, LicenceId, SignedRecord};
use crate::store::{NewRecord, RequestKey, WriteOutcome};

/// What the issuer gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueResult {
    pub identifier: String,
    pub digest: [u8; 32],
    pub signature: [u8; 64],
    pub key_id: String,
    /// The 核验码 of the new version (empty for a format-1 record).
    pub verification_code: String,
}

impl IssueResult {
    pub fn of(record: &SignedRecord, identifier: String) -> IssueResult {
        let verification_code = Licence::from_canonical(&record.bytes)
            .ok()
            .and_then(|l| l.verification_code)
            .unwrap_or_default();
        IssueResult {
            identifier,
            digest: record.digest(),
            signature: record.signature,
            key_id: record.key_id.clone(),
            verification_code,
        }
    }
}

/// The writer found the request id taken by a call queued just before this one (two
/// calls with one request id at once). That call's answer is the result; a retry of
/// this one receives it.
pub(crate) fn concurrent_duplicate(request_id: &str) -> RegistryError {
    RegistryError::InFlight(format!(
        "request_id {request_id:?} is being handled by a concurrent call; retry to receive its result"
    ))
}

pub(crate) fn check_request_id(request_id: &str) -> Result<()> {
    if request_id.is_empty() || request_id.len() > 128 || request_id.chars().any(char::is_control) {
        return Err(Invalid::new(
            "request_id",
            "is required: 1-128 printable characters, unique per request",
        )
        .into());
    }
    Ok(())
}

/// An issue date may be at most one day ahead of today (time zones, clocks).
pub(crate) fn check_not_future(valid: &ValidDraft, today: time::Date) -> Result<()> {
    if valid.issue_date > today.next_day().unwrap_or(today) {
        return Err(Invalid::new(
            "licence.issue_date",
            format!(
                "{} is in the future (today is {})",
                crate::licence::record::format_date(valid.issue_date),
                crate::licence::record::format_date(today)
            ),
        )
        .into());
    }
    Ok(())
}

impl Registry {
    /// Issues a licence for `caller`: checks, builds and signs it here (call it off the
    /// async executor), then queues the write; the result comes once it is durable.
    /// Idempotent on `(caller, request_id)`: a retry returns the first result.
    pub fn issue(&self, caller: &Department, request_id: &str, draft: LicenceDraft) -> Result<Committing<IssueResult>> {
        check_request_id(request_id)?;
        let request = RequestKey {
            caller: caller.code.clone(),
            request_id: request_id.to_string(),
        };
        // Validation and permission come before the idempotency check: a replay answers
        // only a request that would itself be allowed.
        let (valid, _) = draft.validate(CheckDigits::Strict)?;
        let licence_type = self.type_for_issue(caller, &valid)?;
        let (replayed, number_owner) =
            self.store
                .issue_checks(&request, &valid.draft.licence_type_code, &valid.draft.licence_number)?;
        if let Some(identifier) = replayed {
            return Ok(Committing::ready(self.replay(identifier)));
        }
        if number_owner.is_some() {
            return Err(RegistryError::AlreadyExists {
                type_code: valid.draft.licence_type_code.clone(),
                number: valid.draft.licence_number.clone(),
            });
        }
        let id = self.new_identifier(&valid)?;
        let (new, result) = self.build_record(&id, valid, &licence_type, &Actor::from(caller), EventKind::Issued, None);
        let request_id = request_id.to_string();
        Ok(Committing::then(
            self.store.insert(new, Some(request)),
            move |outcome| match outcome {
                WriteOutcome::Written => Ok(result),
                WriteOutcome::Replayed(_) => Err(concurrent_duplicate(&request_id)),
            },
        ))
    }

    fn replay(&self, identifier: String) -> Result<IssueResult> {
        // The first attempt may not have reached disk yet when the retry arrives.
        self.synced()?;
        let record = self
            .store
            .get(&identifier)?
            .ok_or_else(|| RegistryError::NotFound(identifier.clone()))?;
        Ok(IssueResult::of(&record, identifier))
    }

    /// Checks the type exists, admits the holder, and that `caller` may issue it under
    /// the given issuer code.
    pub(crate) fn type_for_issue(&self, caller: &Department, valid: &ValidDraft) -> Result<LicenceType> {
        let d = &valid.draft;
        let t = self.admitted_type(valid)?;
        let listed = t.issuing_departments.is_empty() || t.issuing_departments.contains(&caller.code);
        if !caller.may_issue(&t.code) || !listed {
            return Err(RegistryError::PermissionDenied(format!(
                "{} may not issue {} ({})",
                caller.name, t.name, t.code
            )));
        }
        if !caller.issuer_codes.contains(&d.issuer_code) {
            return Err(RegistryError::PermissionDenied(format!(
                "licence.issuer_code {} is not an issuer code of {}",
                d.issuer_code, caller.name
            )));
        }
        Ok(t)
    }

    /// [`Registry::type_for_issue`] for the operator on the command line (`elicence
    /// import`), who acts for no department: the catalogue's rules still hold, so the
    /// issuer code must be one of the type's issuing departments when it lists any.
    pub(crate) fn type_for_operator(&self, valid: &ValidDraft) -> Result<LicenceType> {
        let d = &valid.draft;
        let t = self.admitted_type(valid)?;
        if !t.issuing_departments.is_empty() && !t.issuing_departments.contains(&d.issuer_code) {
            return Err(RegistryError::PermissionDenied(format!(
                "licence.issuer_code {} is not an issuing department of {} ({})",
                d.issuer_code, t.name, t.code
            )));
        }
        Ok(t)
    }

    /// The catalogue's part of the issuing rules: the type exists and admits the holder.
    fn admitted_type(&self, valid: &ValidDraft) -> Result<LicenceType> {
        let d = &valid.draft;
        let t = self.licence_type(&d.licence_type_code).ok_or_else(|| {
            Invalid::new(
                "licence.licence_type_code",
                format!("unknown licence type {}", d.licence_type_code),
            )
        })?;
        if !t.holder_category.admits(&d.holder_code_type) {
            return Err(Invalid::new(
                "licence.holder_code_type",
                format!(
                    "{} is not allowed for {} (holders: {})",
                    d.holder_code_type,
                    t.name,
                    t.holder_category.as_str()
                ),
            )
            .into());
        }
        check_not_future(valid, self.clock.today())?;
        Ok(t)
    }

    /// A new identifier: serial = issue year + a never-reused sequence number.
    pub(crate) fn new_identifier(&self, valid: &ValidDraft) -> Result<LicenceId> {
        let seq = self.store.next_sequence()?;
        let serial = format!("{:04}{:07}", valid.issue_date.year(), seq);
        Ok(
            LicenceId::new(&valid.draft.licence_type_code, &valid.draft.issuer_code, &serial, 1)
                .map_err(|e| Invalid::new("licence", e.to_string()))?,
        )
    }

    /// Builds and signs a record and its first event.
    pub(crate) fn build_record(
        &self,
        id: &LicenceId,
        valid: ValidDraft,
        licence_type: &LicenceType,
        actor: &Actor,
        kind: EventKind,
        customise: Option<&dyn Fn(&mut Licence)>,
    ) -> (NewRecord, IssueResult) {
        let reason = match kind {
            EventKind::Migrated => "migrated from a historical system",
            EventKind::Reissued => "new version issued",
            _ => "issued",
        };
        self.build_record_with_reason(id, valid, licence_type, actor, kind, reason, customise)
    }

    /// [`Registry::build_record`] with the reason its first event records.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build_record_with_reason(
        &self,
        id: &LicenceId,
        valid: ValidDraft,
        licence_type: &LicenceType,
        actor: &Actor,
        kind: EventKind,
        reason: &str,
        customise: Option<&dyn Fn(&mut Licence)>,
    ) -> (NewRecord, IssueResult) {
        let mut licence = valid.into_licence(id, &licence_type.name, self.keys.active_key_id(), self.clock.now());
        if let Some(f) = customise {
            f(&mut licence);
        }
        let record = SignedRecord::sign(&licence, &self.keys);
        let identifier = licence.identifier.clone();
        let first_event: SignedEvent = self.sign_event(
            &identifier,
            0,
            kind,
            actor,
            reason,
            licence.replaces.clone(),
            digest(&record.bytes),
        );
        let result = IssueResult::of(&record, identifier.clone());
        let new = NewRecord {
            identifier,
            type_code: licence.licence_type_code.clone(),
            licence_number: licence.licence_number.clone(),
            holder_code_type: licence.holder_code_type.clone(),
            holder_code: licence.holder_code.clone(),
            issuer_code: licence.issuer_code.clone(),
            issue_date: crate::licence::record::format_date(licence.issue_date),
            record,
            first_event: Some(first_event),
            import_key: None,
        };
        (new, result)
    }
}
