//! The public verification answer as JSON: field for field what
//! `elicence.v1.VerifyLicenceResponse` carries (docs/openapi.yaml), built from the one
//! [`Verification`] the registry makes for every transport.

use serde::Serialize;

use crate::licence::public::PublicLicence;
use crate::licence::record::{format_date, rfc3339};
use crate::licence::status::LicenceStatus;
use crate::registry::Verification;

#[derive(Debug, Serialize)]
pub struct VerifyAnswer {
    pub authentic: bool,
    /// `VALID`, `SUSPENDED`, … as the gRPC enum names it (without its prefix); empty
    /// when not authentic.
    pub status: String,
    /// The national status code (`01` 有效 …).
    pub status_code: String,
    pub status_since: String,
    pub detail: String,
    pub licence: Option<LicenceJson>,
    /// The licence now in force when this one was replaced.
    pub current_identifier: String,
    pub migrated: bool,
    /// SHA-256 of the signed record (hex), for salted records.
    pub digest_hex: String,
    pub key_id: String,
    pub record_format: u32,
    pub copy: Option<CopyJson>,
    pub checked_at: String,
    /// The record's and latest event's leaves in the transparency log with inclusion
    /// proofs against the latest checkpoint (see `VerifyLicenceResponse.log`).
    pub log: Option<super::log::EvidenceJson>,
}

#[derive(Debug, Serialize)]
pub struct LicenceJson {
    pub identifier: String,
    pub licence_name: String,
    pub licence_type_code: String,
    pub licence_number: String,
    pub issuer_name: String,
    pub issuer_code: String,
    pub issuer_level: String,
    pub issue_date: String,
    pub holder_name: String,
    pub holder_code: String,
    pub holder_code_type: String,
    pub valid_from: String,
    /// Empty for no end (长期).
    pub valid_until: String,
    pub region_code: String,
    pub version: u16,
    pub replaces: String,
    pub fields: Vec<FieldJson>,
}

#[derive(Debug, Serialize)]
pub struct FieldJson {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct CopyJson {
    pub copy_for: String,
    pub copy_purpose: String,
    pub copy_until: String,
    pub valid: bool,
}

/// The enum name the gRPC answer uses, without `LICENCE_STATUS_`.
pub fn status_name(s: LicenceStatus) -> &'static str {
    match s {
        LicenceStatus::Valid => "VALID",
        LicenceStatus::NotYetValid => "NOT_YET_VALID",
        LicenceStatus::Expired => "EXPIRED",
        LicenceStatus::Suspended => "SUSPENDED",
        LicenceStatus::Revoked => "REVOKED",
        LicenceStatus::Withdrawn => "WITHDRAWN",
        LicenceStatus::Cancelled => "CANCELLED",
        LicenceStatus::Superseded => "SUPERSEDED",
    }
}

fn licence_json(l: PublicLicence) -> LicenceJson {
    LicenceJson {
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
        version: l.version,
        replaces: l.replaces.unwrap_or_default(),
        fields: l
            .fields
            .into_iter()
            .map(|f| FieldJson {
                name: f.name,
                value: f.value,
            })
            .collect(),
    }
}

impl From<Verification> for VerifyAnswer {
    fn from(v: Verification) -> VerifyAnswer {
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
        VerifyAnswer {
            authentic,
            status: status.map(status_name).unwrap_or_default().to_string(),
            status_code: status.map(|s| s.national_code().to_string()).unwrap_or_default(),
            status_since: status_since.map(format_date).unwrap_or_default(),
            detail,
            licence: licence.map(licence_json),
            current_identifier,
            migrated,
            digest_hex: digest.map(hex::encode).unwrap_or_default(),
            key_id,
            record_format,
            copy: copy.map(|c| CopyJson {
                copy_for: c.fields.copy_for,
                copy_purpose: c.fields.copy_purpose,
                copy_until: c.fields.copy_until,
                valid: c.valid,
            }),
            checked_at: rfc3339(checked_at),
            log: log.map(Into::into),
        }
    }
}
