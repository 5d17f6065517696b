//! Conversions for lifecycle, history, queries, field checks and the audit log (the
//! licence record itself converts in `convert`).

use super::convert::{licence_to_pb, status_to_pb};
use super::pb;
use crate::audit::AuditEntry;
use crate::audit::SignedAuditEntry;
use crate::licence::status::SignedEvent;
use crate::licence::status::StatusEvent;
use crate::licence::{Field, Invalid, Seal};
use crate::registry::{Amendment, FieldMatch, LicenceView, Selector};

pub fn event_to_pb(e: StatusEvent, signed: SignedEvent) -> pb::LicenceEvent {
    pb::LicenceEvent {
        seq: e.seq,
        kind: e.kind.as_str().to_string(),
        actor: e.actor,
        actor_name: e.actor_name,
        at: e.at,
        reason: e.reason,
        related: e.related.unwrap_or_default(),
        digest: crate::licence::signing::digest(&signed.bytes).to_vec(),
        signed_event: signed.bytes,
        signature: signed.signature.to_vec(),
        key_id: signed.key_id,
    }
}

pub fn version_to_pb(v: LicenceView) -> pb::LicenceVersion {
    pb::LicenceVersion {
        status: status_to_pb(v.status) as i32,
        status_code: v.status.national_code().to_string(),
        digest: v.record.digest().to_vec(),
        signed_record: v.record.bytes,
        signature: v.record.signature.to_vec(),
        key_id: v.record.key_id,
        licence: Some(licence_to_pb(v.licence)),
        events: v.events.into_iter().map(|(e, s)| event_to_pb(e, s)).collect(),
    }
}

pub fn result_to_pb(v: LicenceView) -> pb::QueryResult {
    pb::QueryResult {
        status: status_to_pb(v.status) as i32,
        status_code: v.status.national_code().to_string(),
        licence: Some(licence_to_pb(v.licence)),
    }
}

fn fields_from_pb(fields: Vec<pb::Field>) -> Vec<Field> {
    fields
        .into_iter()
        .map(|pb::Field { name, value }| Field { name, value })
        .collect()
}

pub fn amendment_from_pb(c: pb::LicenceChanges) -> Amendment {
    let pb::LicenceChanges {
        holder_name,
        issuer_name,
        issuer_level,
        region_code,
        related_item,
        seal,
        fields,
    } = c;
    Amendment {
        holder_name,
        issuer_name,
        issuer_level,
        region_code,
        related_item,
        seal: seal.map(
            |pb::Seal {
                 signer,
                 sealed_at,
                 seal_name,
             }| Seal {
                signer,
                sealed_at,
                seal_name,
            },
        ),
        fields: fields.map(|pb::FieldList { fields }| fields_from_pb(fields)),
    }
}

fn opt(s: String) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

pub fn selector_from_pb(s: Option<pb::query_licences_request::Selector>) -> Result<Selector, Invalid> {
    use pb::query_licences_request::Selector as S;
    match s {
        Some(S::Holder(pb::HolderSelector {
            holder_code_type,
            holder_code,
            licence_type_code,
            licence_number,
        })) => Ok(Selector::Holder {
            code_type: holder_code_type.trim().to_string(),
            code: holder_code.trim().to_string(),
            type_code: opt(licence_type_code),
            number: opt(licence_number),
        }),
        Some(S::Issuer(pb::IssuerSelector {
            issuer_code,
            issue_date_from,
            issue_date_to,
        })) => Ok(Selector::Issuer {
            issuer_code: issuer_code.trim().to_string(),
            from: opt(issue_date_from),
            to: opt(issue_date_to),
        }),
        Some(S::LicenceType(pb::TypeSelector {
            licence_type_code,
            issue_date_from,
            issue_date_to,
        })) => Ok(Selector::Type {
            type_code: licence_type_code.trim().to_string(),
            from: opt(issue_date_from),
            to: opt(issue_date_to),
        }),
        None => Err(Invalid::new("selector", "is required: holder, issuer or licence_type")),
    }
}

pub fn field_match_to_pb(m: FieldMatch) -> pb::FieldMatch {
    match m {
        FieldMatch::Match => pb::FieldMatch::Match,
        FieldMatch::Mismatch => pb::FieldMatch::Mismatch,
        FieldMatch::NotPresent => pb::FieldMatch::NotPresent,
    }
}

pub fn audit_entry_to_pb(e: AuditEntry, signed: SignedAuditEntry) -> pb::AccessLogEntry {
    pb::AccessLogEntry {
        seq: e.seq,
        at: e.at,
        department: e.department,
        department_id: e.department_id,
        department_name: e.department_name,
        method: e.method,
        use_cause: e.use_cause,
        identifiers: e.identifiers,
        import: e.import.map(|i| pb::ImportRun {
            run_id: i.run_id,
            created: i.created,
            created_sha256: hex::decode(i.created_sha256).unwrap_or_default(),
        }),
        result: e.result,
        signed_entry: signed.bytes,
        signature: signed.signature.to_vec(),
        key_id: signed.key_id,
    }
}
