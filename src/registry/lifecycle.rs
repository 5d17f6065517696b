//! Lifecycle operations: status changes (暂扣, 暂扣发还, 吊销, 撤销, 注销) appended as
//! signed events to a licence's chain, and new versions (变更, 延续) that supersede the
//! version they replace in one atomic write.

use super::issue::{check_request_id, concurrent_duplicate};
use super::{Actor, Committing, IssueResult, LicenceView, Registry, RegistryError, Result};
use crate::catalog::Department;
use crate::licence::record::{format_date, CheckDigits};
use crate::licence::status::SignedEvent;
use crate::licence::status::{self, EventKind, LicenceStatus, StatusEvent};
use crate::licence::{Field, Invalid, Licence, LicenceDraft, LicenceId, Seal};
use crate::store::{RequestKey, WriteOutcome};

/// The status operations a managing department may perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Suspend,
    Restore,
    Revoke,
    Withdraw,
    Cancel,
}

impl StatusChange {
    fn kind(self) -> EventKind {
        match self {
            StatusChange::Suspend => EventKind::Suspended,
            StatusChange::Restore => EventKind::Restored,
            StatusChange::Revoke => EventKind::Revoked,
            StatusChange::Withdraw => EventKind::Withdrawn,
            StatusChange::Cancel => EventKind::Cancelled,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            StatusChange::Suspend => "suspend",
            StatusChange::Restore => "restore",
            StatusChange::Revoke => "revoke",
            StatusChange::Withdraw => "withdraw",
            StatusChange::Cancel => "cancel",
        }
    }
}

/// The fields an amendment (变更) may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amendment {
    pub holder_name: Option<String>,
    pub issuer_name: Option<String>,
    pub issuer_level: Option<String>,
    pub region_code: Option<String>,
    pub related_item: Option<String>,
    pub seal: Option<Seal>,
    /// Replaces the whole list of type-specific fields.
    pub fields: Option<Vec<Field>>,
}

impl Amendment {
    fn apply(self, d: &mut LicenceDraft) {
        let set = |target: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *target = v.trim().to_string();
            }
        };
        set(&mut d.holder_name, self.holder_name);
        set(&mut d.issuer_name, self.issuer_name);
        set(&mut d.issuer_level, self.issuer_level);
        set(&mut d.region_code, self.region_code);
        set(&mut d.related_item, self.related_item);
        if let Some(seal) = self.seal {
            d.seal = seal;
        }
        if let Some(fields) = self.fields {
            d.fields = fields;
        }
    }
}

/// What a new version changes: the amended fields, or a new validity (延续).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reissue {
    Amend(Amendment),
    Renew {
        valid_from: String,
        /// Empty means no end (长期).
        valid_until: String,
    },
}

impl Reissue {
    fn verb(&self) -> &'static str {
        match self {
            Reissue::Amend(_) => "amend",
            Reissue::Renew { .. } => "renew",
        }
    }
}

/// The outcome of a status change.
#[derive(Debug, Clone)]
pub struct StatusChanged {
    pub identifier: String,
    pub status: LicenceStatus,
    pub event: (StatusEvent, SignedEvent),
}

/// The outcome of an amendment or renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reissued {
    pub new: IssueResult,
    pub replaces: String,
}

/// A reason is required on every lifecycle operation: it goes into the signed event.
fn check_reason(reason: &str) -> Result<()> {
    let n = reason.trim().chars().count();
    if n == 0 || n > 500 {
        return Err(Invalid::new("reason", "is required: 1-500 characters").into());
    }
    crate::licence::text::check_chars("reason", reason, crate::licence::text::Lines::Single)?;
    Ok(())
}

/// The type code an identifier names, for permission checks made before loading, so
/// that a caller without permission cannot learn whether a licence exists.
pub(crate) fn type_of(identifier: &str) -> Result<String> {
    LicenceId::parse_lenient(identifier)
        .map(|(id, _)| id.type_code)
        .map_err(|e| Invalid::new("identifier", e.to_string()).into())
}

fn refused(view: &LicenceView, verb: &str) -> RegistryError {
    let state = match view.status {
        LicenceStatus::Superseded => format!("superseded by {}", view.current_identifier),
        s => s.as_str().to_string(),
    };
    RegistryError::FailedPrecondition(format!("licence is {state}; cannot {verb}"))
}

fn request_key(caller: &Department, request_id: &str) -> RequestKey {
    RequestKey {
        caller: caller.code.clone(),
        request_id: request_id.to_string(),
    }
}

fn request_reused() -> RegistryError {
    Invalid::new(
        "request_id",
        "was already used by this department for a different request",
    )
    .into()
}

impl Registry {
    /// Suspends, restores, revokes, withdraws or cancels a licence (`manage` permission):
    /// checks and signs the event here (off the async executor), then queues it; the
    /// result comes once it is durable. Idempotent on `(caller, request_id)`.
    pub fn change_status(
        &self,
        caller: &Department,
        request_id: &str,
        identifier: &str,
        change: StatusChange,
        reason: &str,
    ) -> Result<Committing<StatusChanged>> {
        check_request_id(request_id)?;
        check_reason(reason)?;
        let type_code = type_of(identifier)?;
        if !caller.may_manage(&type_code) {
            return Err(RegistryError::PermissionDenied(format!(
                "{} may not manage licences of type {type_code}",
                caller.name
            )));
        }
        let request = request_key(caller, request_id);
        if let Some(done) = self.store.replayed(&request)? {
            return Ok(Committing::ready(self.status_replay(&done, identifier, change)));
        }
        let view = self.load(identifier)?;
        let next = status::transition(view.standing, change.kind()).ok_or_else(|| refused(&view, change.verb()))?;
        let (seq, prev) = view.next_event_link();
        let event = self.sign_event(
            identifier,
            seq,
            change.kind(),
            &Actor::from(caller),
            reason.trim(),
            None,
            prev,
        );
        let plain = StatusEvent::from_canonical(&event.bytes)
            .map_err(|e| RegistryError::Unavailable(format!("event encoding: {e}")))?;
        let changed = StatusChanged {
            identifier: identifier.to_string(),
            status: status::status_on(&view.licence, next, self.clock.today()),
            event: (plain, event.clone()),
        };
        let request_id = request_id.to_string();
        Ok(Committing::then(
            self.store.append_event(identifier, event, Some(request)),
            move |outcome| match outcome {
                WriteOutcome::Written => Ok(changed),
                WriteOutcome::Replayed(_) => Err(concurrent_duplicate(&request_id)),
            },
        ))
    }

    fn status_replay(&self, done: &str, identifier: &str, change: StatusChange) -> Result<StatusChanged> {
        if done != identifier {
            return Err(request_reused());
        }
        self.synced()?;
        let view = self.load(identifier)?;
        let event = view
            .events
            .iter()
            .rev()
            .find(|(e, _)| e.kind == change.kind())
            .cloned()
            .ok_or_else(request_reused)?;
        Ok(StatusChanged {
            identifier: identifier.to_string(),
            status: view.status,
            event,
        })
    }

    /// Amends or renews a licence (`issue` permission): signs the next version (same
    /// serial, version + 1) linked to the one it replaces, which becomes superseded, in
    /// one atomic write. `issue_date` defaults to today. Checks and signs here (off the
    /// async executor); the result comes once the write is durable.
    pub fn reissue(
        &self,
        caller: &Department,
        request_id: &str,
        identifier: &str,
        reason: &str,
        issue_date: Option<String>,
        change: Reissue,
    ) -> Result<Committing<Reissued>> {
        check_request_id(request_id)?;
        check_reason(reason)?;
        let type_code = type_of(identifier)?;
        if !caller.may_issue(&type_code) {
            return Err(RegistryError::PermissionDenied(format!(
                "{} may not {} licences of type {type_code}",
                caller.name,
                change.verb()
            )));
        }
        let request = request_key(caller, request_id);
        if let Some(done) = self.store.replayed(&request)? {
            return Ok(Committing::ready(self.reissue_replay(&done, identifier)));
        }
        let view = self.load(identifier)?;
        if status::transition(view.standing, EventKind::Superseded).is_none() {
            return Err(refused(&view, change.verb()));
        }
        let verb = change.verb();
        let draft = self.next_draft(&view.licence, issue_date, change)?;
        let check = match view.licence.provenance {
            // A migrated record may carry a legacy holder code that was flagged on import.
            Some(_) => CheckDigits::Flag,
            None => CheckDigits::Strict,
        };
        let (valid, _) = draft.validate(check).map_err(request_field)?;
        let licence_type = self.type_for_issue(caller, &valid)?;
        let (old_id, _) =
            LicenceId::parse_lenient(identifier).map_err(|e| Invalid::new("identifier", e.to_string()))?;
        let id = old_id.next_version().map_err(|_| {
            RegistryError::FailedPrecondition(format!("licence is at version {}; cannot {verb}", old_id.version))
        })?;
        let replaces = identifier.to_string();
        let set_replaces = |l: &mut Licence| l.replaces = Some(replaces.clone());
        let (new, result) = self.build_record_with_reason(
            &id,
            valid,
            &licence_type,
            &Actor::from(caller),
            EventKind::Reissued,
            reason.trim(),
            Some(&set_replaces),
        );
        let (seq, prev) = view.next_event_link();
        let supersede = self.sign_event(
            identifier,
            seq,
            EventKind::Superseded,
            &Actor::from(caller),
            reason.trim(),
            Some(result.identifier.clone()),
            prev,
        );
        let request_id = request_id.to_string();
        Ok(Committing::then(
            self.store.reissue(identifier, supersede, new, Some(request)),
            move |outcome| match outcome {
                WriteOutcome::Written => Ok(Reissued { new: result, replaces }),
                WriteOutcome::Replayed(_) => Err(concurrent_duplicate(&request_id)),
            },
        ))
    }

    /// The draft of the next version: the current one with the change applied.
    fn next_draft(&self, current: &Licence, issue_date: Option<String>, change: Reissue) -> Result<LicenceDraft> {
        let before = current.to_draft();
        let mut d = before.clone();
        match change {
            Reissue::Amend(a) => {
                if a == Amendment::default() {
                    return Err(Invalid::new("changes", "must change at least one field").into());
                }
                a.apply(&mut d);
                if d == before {
                    return Err(Invalid::new("changes", "every given value equals the current version").into());
                }
            }
            Reissue::Renew {
                valid_from,
                valid_until,
            } => {
                if valid_from.trim().is_empty() {
                    return Err(Invalid::new("valid_from", "is required").into());
                }
                d.valid_from = valid_from.trim().to_string();
                d.valid_until = valid_until.trim().to_string();
            }
        }
        d.issue_date = match issue_date.map(|s| s.trim().to_string()) {
            Some(s) if !s.is_empty() => s,
            _ => format_date(self.clock.today()),
        };
        Ok(d)
    }

    fn reissue_replay(&self, done: &str, identifier: &str) -> Result<Reissued> {
        self.synced()?;
        let record = self
            .store
            .get(done)?
            .ok_or_else(|| RegistryError::NotFound(done.to_string()))?;
        let licence = record
            .verify(&self.keys)
            .map_err(|_| RegistryError::Tampered(done.to_string()))?;
        if licence.replaces.as_deref() != Some(identifier) {
            return Err(request_reused());
        }
        Ok(Reissued {
            new: IssueResult::of(&record, done.to_string()),
            replaces: identifier.to_string(),
        })
    }
}

/// Validation names `licence.<field>`; a reissue request names its fields differently.
fn request_field(mut e: Invalid) -> Invalid {
    let field = e.field.strip_prefix("licence.").unwrap_or(&e.field);
    e.field = match field {
        "issue_date" | "valid_from" | "valid_until" => field.to_string(),
        other => format!("changes.{other}"),
    };
    e
}
