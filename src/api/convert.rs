//! Conversions between generated proto types and domain types, in one place.

use super::pb;
use crate::catalog::{HolderCategory, LicenceType};
use crate::licence::public::PublicLicence;
use crate::licence::record::{format_date, rfc3339};
use crate::licence::signing::PublicKeyInfo;
use crate::licence::status::LicenceStatus;
use crate::licence::{Field, Invalid, Licence, LicenceDraft, Seal};
use crate::registry::Verification;

/// A submitted licence → draft. Output-only fields are ignored.
pub fn draft_from_pb(l: pb::Licence) -> LicenceDraft {
    let pb::Licence {
        identifier: _,
        licence_name: _,
        licence_type_code,
        licence_number,
        issuer_name,
        issuer_code,
        issuer_level,
        issue_date,
        holder_name,
        holder_code,
        holder_code_type,
        valid_from,
        valid_until,
        region_code,
        related_item,
        seal,
        fields,
        version: _,
        replaces: _,
        provenance: _,
        key_id: _,
        signed_at: _,
    } = l;
    let seal = seal.unwrap_or_default();
    LicenceDraft {
        licence_type_code: licence_type_code.trim().to_string(),
        licence_number: licence_number.trim().to_string(),
        issuer_name: issuer_name.trim().to_string(),
        issuer_code: issuer_code.trim().to_string(),
        issuer_level,
        issue_date: issue_date.trim().to_string(),
        holder_name: holder_name.trim().to_string(),
        holder_code: holder_code.trim().to_string(),
        holder_code_type: holder_code_type.trim().to_string(),
        valid_from: valid_from.trim().to_string(),
        valid_until: valid_until.trim().to_string(),
        region_code: region_code.trim().to_string(),
        related_item,
        seal: Seal {
            signer: seal.signer,
            sealed_at: seal.sealed_at,
            seal_name: seal.seal_name,
        },
        fields: fields
            .into_iter()
            .map(|f| Field {
                name: f.name,
                value: f.value,
            })
            .collect(),
    }
}

pub fn licence_to_pb(l: Licence) -> pb::Licence {
    pb::Licence {
        identifier: l.identifier,
        licence_name: l.licence_name,
        licence_type_code: l.licence_type_code,
        licence_number: l.licence_number,
        issuer_name: l.issuer_name,
        issuer_code: l.issuer_code,
        issuer_level: l.issuer_level,
        issue_date: format_date(l.issue_date),
        holder_name: l.holder_name,
        holder_code: l.holder_code,
        holder_code_type: l.holder_code_type,
        valid_from: format_date(l.valid_from),
        valid_until: l.valid_until.map(format_date).unwrap_or_default(),
        region_code: l.region_code,
        related_item: l.related_item,
        seal: Some(pb::Seal {
            signer: l.seal.signer,
            sealed_at: l.seal.sealed_at,
            seal_name: l.seal.seal_name,
        }),
        fields: l
            .fields
            .into_iter()
            .map(|f| pb::Field {
                name: f.name,
                value: f.value,
            })
            .collect(),
        version: u32::from(l.version),
        replaces: l.replaces.unwrap_or_default(),
        provenance: l.provenance.map(|p| pb::Provenance {
            source_system: p.source_system,
            source_file: p.source_file,
            source_line: p.source_line,
            original_issue_date: p.original_issue_date,
            flags: p.flags,
        }),
        key_id: l.key_id,
        signed_at: l.signed_at,
    }
}

/// The public view of a licence (what [`crate::licence::public`] lets through) → the
/// wire message; everything else stays empty.
pub fn public_licence_to_pb(l: PublicLicence) -> pb::Licence {
    pb::Licence {
        identifier: l.identifier,
        licence_name: l.licence_name,
        licence_type_code: l.licence_type_code,
        licence_number: l.licence_number,
        issuer_name: l.issuer_name,
        issuer_code: l.issuer_code,
        issuer_level: l.issuer_level,
        issue_date: format_date(l.issue_date),
        holder_name: l.holder_name,
        holder_code: l.holder_code,
        holder_code_type: l.holder_code_type,
        valid_from: format_date(l.valid_from),
        valid_until: l.valid_until.map(format_date).unwrap_or_default(),
        region_code: l.region_code,
        fields: l
            .fields
            .into_iter()
            .map(|f| pb::Field {
                name: f.name,
                value: f.value,
            })
            .collect(),
        version: u32::from(l.version),
        replaces: l.replaces.unwrap_or_default(),
        ..Default::default()
    }
}

/// The public answer → the wire message (the one conversion every public answer uses).
pub fn verification_to_pb(v: Verification) -> pb::VerifyLicenceResponse {
    let Verification {
        identifier: _,
        authentic,
        status,
        status_since,
        detail,
        licence,
        current_identifier,
        migrated,
        digest,
        key_id,
        record_format,
        copy,
        checked_at,
        log,
    } = v;
    pb::VerifyLicenceResponse {
        authentic,
        status: status.map(status_to_pb).unwrap_or(pb::LicenceStatus::Unspecified) as i32,
        status_code: status.map(|s| s.national_code().to_string()).unwrap_or_default(),
        detail,
        licence: licence.map(public_licence_to_pb),
        current_identifier,
        migrated,
        digest: digest.map(|d| d.to_vec()).unwrap_or_default(),
        key_id,
        status_since: status_since.map(format_date).unwrap_or_default(),
        record_format,
        copy: copy.map(|c| pb::CopyVerification {
            copy_for: c.fields.copy_for,
            copy_purpose: c.fields.copy_purpose,
            copy_until: c.fields.copy_until,
            valid: c.valid,
        }),
        checked_at: rfc3339(checked_at),
        log: log.map(evidence_to_pb),
    }
}

pub fn checkpoint_to_pb(c: crate::registry::log::SignedCheckpoint) -> pb::Checkpoint {
    pb::Checkpoint {
        note: String::from_utf8_lossy(&c.note).into_owned(),
        origin: c.checkpoint.origin,
        tree_size: c.checkpoint.size,
        root_hash: c.checkpoint.root.to_vec(),
    }
}

pub fn inclusion_to_pb(p: crate::tlog::InclusionProof, leaf_hash: crate::tlog::Hash) -> pb::InclusionProof {
    pb::InclusionProof {
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
        hashes: p.hashes.iter().map(|h| h.to_vec()).collect(),
        leaf_hash: leaf_hash.to_vec(),
    }
}

fn logged_to_pb(e: crate::registry::log::LoggedEntry) -> pb::LoggedEntry {
    let leaf_hash = crate::tlog::leaf::leaf_hash(&e.entry);
    pb::LoggedEntry {
        proof: Some(inclusion_to_pb(e.proof, leaf_hash)),
        entry: e.entry,
    }
}

fn evidence_to_pb(e: crate::registry::log::LogEvidence) -> pb::LogEvidence {
    pb::LogEvidence {
        checkpoint: Some(checkpoint_to_pb(e.checkpoint)),
        record: Some(logged_to_pb(e.record)),
        latest_event: e.latest_event.map(logged_to_pb),
    }
}

pub fn status_to_pb(s: LicenceStatus) -> pb::LicenceStatus {
    match s {
        LicenceStatus::Valid => pb::LicenceStatus::Valid,
        LicenceStatus::NotYetValid => pb::LicenceStatus::NotYetValid,
        LicenceStatus::Expired => pb::LicenceStatus::Expired,
        LicenceStatus::Suspended => pb::LicenceStatus::Suspended,
        LicenceStatus::Revoked => pb::LicenceStatus::Revoked,
        LicenceStatus::Withdrawn => pb::LicenceStatus::Withdrawn,
        LicenceStatus::Cancelled => pb::LicenceStatus::Cancelled,
        LicenceStatus::Superseded => pb::LicenceStatus::Superseded,
    }
}

pub fn key_to_pb(k: PublicKeyInfo) -> pb::SigningKey {
    pb::SigningKey {
        key_id: k.key_id,
        public_key: k.public_key.to_vec(),
        valid_from: k.valid_from,
        valid_until: k.valid_until,
        active: k.active,
    }
}

pub fn type_to_pb(t: LicenceType) -> pb::LicenceType {
    pb::LicenceType {
        code: t.code,
        name: t.name,
        authority_name: t.authority_name,
        authority_code: t.authority_code,
        authority_level: t.authority_level,
        holder_category: t.holder_category.as_str().to_string(),
        validity_years: t.validity_years,
        template_id: t.template_id,
        issuing_departments: t.issuing_departments,
        field_names: t.field_names,
        public_fields: t.public_fields,
    }
}

impl TryFrom<pb::LicenceType> for LicenceType {
    type Error = Invalid;

    fn try_from(t: pb::LicenceType) -> Result<Self, Invalid> {
        let pb::LicenceType {
            code,
            name,
            authority_name,
            authority_code,
            authority_level,
            holder_category,
            validity_years,
            template_id,
            issuing_departments,
            field_names,
            public_fields,
        } = t;
        let holder_category = HolderCategory::parse(&holder_category).ok_or_else(|| {
            Invalid::new(
                "licence_type.holder_category",
                "must be natural_person, legal_person or both",
            )
        })?;
        let t = LicenceType {
            code,
            name,
            authority_name,
            authority_code,
            authority_level,
            holder_category,
            validity_years,
            template_id,
            issuing_departments,
            field_names,
            public_fields,
        };
        t.validate()?;
        Ok(t)
    }
}
