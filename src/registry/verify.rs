//! Public verification: "is this licence genuine and valid?", answered only to someone
//! who presents the licence — its signed QR payload, or its identifier with its 核验码 —
//! or to a department that may read it. An identifier alone, which anyone can guess,
//! learns nothing: a wrong code and an unknown identifier get the same answer, and
//! failed codes are throttled per identifier. What the answer shows of the licence is
//! [`crate::licence::public`]'s view under the type's allow-list, whatever the transport.

use time::{Date, Duration, OffsetDateTime};

use super::{LicenceView, Registry, RegistryError, Result};
use crate::catalog::Department;
use crate::licence::public::{public_licence, PublicLicence};
use crate::licence::qr::{CopyFields, QrPayload};
use crate::licence::record::{format_date, parse_date};
use crate::licence::secrets::{code_matches, normalize_code};
use crate::licence::status::{EventKind, LicenceStatus};
use crate::licence::{Invalid, Licence, LicenceId};

/// How the licence was presented.
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    /// The identifier and the verification code printed beside the QR code.
    Code { identifier: &'a str, code: &'a str },
    /// The text of the QR code (`ELC1:…`).
    Qr(&'a str),
    /// A licence PDF this repository rendered: the payload in its metadata is checked
    /// as a QR code would be, and must agree with the identifier and digest beside it.
    /// (What the page shows is not read: compare it with the public answer.)
    Pdf(&'a [u8]),
    /// A department that may read the licence's type, by identifier.
    Reader {
        caller: &'a Department,
        identifier: &'a str,
    },
}

/// A per-use copy (加注件) presented by its QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCheck {
    pub fields: CopyFields,
    /// Whether today is on or before the copy's last day.
    pub valid: bool,
}

/// The public answer.
#[derive(Debug, Clone)]
pub struct Verification {
    pub identifier: String,
    pub authentic: bool,
    /// `None` when not authentic: nothing about a tampered record is vouched for.
    pub status: Option<LicenceStatus>,
    /// The day the current status took effect, when known.
    pub status_since: Option<Date>,
    pub detail: String,
    pub licence: Option<PublicLicence>,
    pub current_identifier: String,
    pub migrated: bool,
    /// SHA-256 of the signed record, only for salted (format 2) records.
    pub digest: Option<[u8; 32]>,
    pub key_id: String,
    /// 1 or 2 (docs/VERIFYING.md); 0 when not authentic.
    pub record_format: u32,
    pub copy: Option<CopyCheck>,
    /// When the status was derived.
    pub checked_at: OffsetDateTime,
    /// The record's and latest event's leaves in the transparency log with their proofs,
    /// for salted records (format 2) once a checkpoint covers them.
    pub log: Option<super::log::LogEvidence>,
}

/// A record of typical size parsed in place of a missing one (see `verify_by_code`).
static STAND_IN: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let mut l: Licence = serde_json::from_str(include_str!("../../docs/verifying-example.json"))
        .ok()
        .and_then(|v: serde_json::Value| v["signed_record_utf8"].as_str().map(str::to_string))
        .and_then(|t| Licence::from_canonical(t.as_bytes()).ok())
        .expect("the worked example is a licence record");
    l.identifier.clear();
    l.canonical_bytes()
});

/// The one answer for an unknown identifier and a wrong code alike.
fn no_match() -> RegistryError {
    RegistryError::NotFound("licence matching this identifier and verification code".into())
}

impl Registry {
    /// Public verification of a presented licence.
    pub fn verify(&self, presented: Presented<'_>) -> Result<Verification> {
        match presented {
            Presented::Code { identifier, code } => self.verify_by_code(identifier, code),
            Presented::Qr(text) => self.verify_qr(text),
            Presented::Pdf(bytes) => self.verify_pdf(bytes),
            Presented::Reader { caller, identifier } => {
                parse_identifier(identifier)?;
                // Permission first, so a department without it cannot tell whether the
                // licence exists.
                self.check_read(caller, &super::type_of(identifier)?)?;
                match self.load(identifier) {
                    Ok(view) => Ok(self.answer(&view, None)),
                    Err(RegistryError::Tampered(_)) => Ok(self.not_authentic(identifier)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    fn verify_by_code(&self, identifier: &str, code: &str) -> Result<Verification> {
        parse_identifier(identifier)?;
        let code = normalize_code(code).ok_or_else(|| {
            Invalid::new(
                "verification_code",
                "must be the 10-character 核验码 printed on the licence (e.g. 7K3M9-Q2XP4)",
            )
        })?;
        let now = self.clock.now();
        self.throttle.check(identifier, now).map_err(|wait| {
            RegistryError::Throttled(format!(
                "too many wrong verification codes for this identifier; try again in {wait} s"
            ))
        })?;
        // The code is compared before the signature is checked, so a tampered record is
        // reported as such only to someone holding its code.
        // An unknown identifier costs the same parse and comparison as a known one, so
        // the time of the answer does not tell whether the licence exists either.
        // The record and its events in one read (one round trip to a database); the
        // events of a known identifier are read whether or not the code matches.
        let (record, events) = match self.store.load(identifier)? {
            Some((r, e)) => (Some(r), e),
            None => (None, Vec::new()),
        };
        let bytes = record.as_ref().map_or(STAND_IN.as_slice(), |r| r.bytes.as_slice());
        let stored = Licence::from_canonical(bytes).ok().and_then(|l| l.verification_code);
        let matches = stored.as_deref().is_some_and(|s| code_matches(s, &code));
        let Some(record) = record.filter(|_| matches) else {
            self.throttle.failed(identifier, now);
            return Err(no_match());
        };
        match self.view_with(identifier, record, events) {
            Ok(view) => Ok(self.answer(&view, None)),
            Err(RegistryError::Tampered(_)) => Ok(self.not_authentic(identifier)),
            Err(e) => Err(e),
        }
    }

    fn verify_pdf(&self, bytes: &[u8]) -> Result<Verification> {
        let bad = |reason: &str| RegistryError::from(Invalid::new("pdf", reason));
        let keywords = crate::render::pdf_keywords(bytes)
            .ok_or_else(|| bad("not a PDF with document metadata, or not one rendered by an elicence service"))?;
        let text = keywords
            .iter()
            .find(|k| k.starts_with(crate::licence::qr::QR_PREFIX))
            .ok_or_else(|| bad("its metadata carries no licence payload (ELC1:…)"))?;
        let payload = QrPayload::decode(text).map_err(|e| bad(&e.to_string()))?;
        let digest = format!("sha256:{}", payload.digest_hex());
        if !keywords.contains(&payload.identifier) || !keywords.contains(&digest) {
            return Err(bad("its metadata names another licence than its payload does"));
        }
        self.verify_qr(text).map_err(|e| match e {
            RegistryError::Invalid(i) => bad(&format!("its payload: {}", i.reason)),
            e => e,
        })
    }

    fn verify_qr(&self, text: &str) -> Result<Verification> {
        let bad = |reason: String| RegistryError::from(Invalid::new("qr_payload", reason));
        let payload = QrPayload::decode(text).map_err(|e| bad(e.to_string()))?;
        payload
            .verify(&self.keys.public_keys())
            .map_err(|e| bad(format!("not issued by this repository: {e}")))?;
        let view = match self.load(&payload.identifier) {
            Ok(view) => view,
            Err(RegistryError::Tampered(_)) => return Ok(self.not_authentic(&payload.identifier)),
            Err(RegistryError::NotFound(_)) => return Err(no_match()),
            Err(e) => return Err(e),
        };
        if view.record.digest() != payload.record_digest {
            // Signed by us for other bytes than those stored under this identifier.
            return Ok(self.not_authentic(&payload.identifier));
        }
        let copy = payload.copy.map(|fields| {
            let valid = parse_date("copy_until", &fields.copy_until).is_ok_and(|d| self.clock.today() <= d);
            CopyCheck { fields, valid }
        });
        Ok(self.answer(&view, copy))
    }

    /// The answer for an authentic record.
    fn answer(&self, view: &LicenceView, copy: Option<CopyCheck>) -> Verification {
        let l = &view.licence;
        let public_fields = self
            .licence_type(&l.licence_type_code)
            .map(|t| t.public_fields)
            .unwrap_or_default();
        let format = l.format();
        let status_since = status_since(view);
        let mut detail = describe(view, status_since);
        if let Some(c) = &copy {
            detail.push_str(if c.valid {
                "; this copy (加注件) is valid"
            } else {
                "; this copy (加注件) has expired"
            });
        }
        Verification {
            identifier: l.identifier.clone(),
            authentic: true,
            status: Some(view.status),
            status_since,
            detail,
            licence: Some(public_licence(l, &public_fields)),
            current_identifier: view.current_identifier.clone(),
            migrated: l.provenance.is_some(),
            digest: (format >= 2).then(|| view.record.digest()),
            key_id: view.record.key_id.clone(),
            record_format: format,
            copy,
            checked_at: self.clock.now(),
            // As the digest: an unsalted record's entry would give its digest away.
            log: (format >= 2)
                .then(|| self.evidence(&l.identifier, view.events.last().map(|(e, _)| e.seq)))
                .flatten(),
        }
    }

    fn not_authentic(&self, identifier: &str) -> Verification {
        Verification {
            identifier: identifier.to_string(),
            authentic: false,
            status: None,
            status_since: None,
            detail: "NOT AUTHENTIC: the stored record or its history does not match its signature".into(),
            licence: None,
            current_identifier: String::new(),
            migrated: false,
            digest: None,
            key_id: String::new(),
            record_format: 0,
            copy: None,
            checked_at: self.clock.now(),
            log: None,
        }
    }
}

fn parse_identifier(identifier: &str) -> Result<()> {
    identifier
        .parse::<LicenceId>()
        .map(|_| ())
        .map_err(|e| Invalid::new("identifier", e.to_string()).into())
}

/// The day the current status took effect: the last status event's day; for an expired
/// licence the day after its validity ended; for a valid one, the later of its start and
/// its last restoration or issue.
fn status_since(view: &LicenceView) -> Option<Date> {
    let l = &view.licence;
    let event_day = |kinds: &[EventKind]| {
        view.events
            .iter()
            .rev()
            .find(|(e, _)| kinds.contains(&e.kind))
            .and_then(|(e, _)| parse_date("at", e.at.get(..10).unwrap_or("")).ok())
    };
    match view.status {
        LicenceStatus::Valid => {
            let since = event_day(&[EventKind::Restored, EventKind::Issued, EventKind::Reissued]);
            Some(since.map_or(l.valid_from, |d| d.max(l.valid_from)))
        }
        LicenceStatus::NotYetValid => None,
        LicenceStatus::Expired => l.valid_until.and_then(|d| d.checked_add(Duration::days(1))),
        LicenceStatus::Suspended => event_day(&[EventKind::Suspended]),
        LicenceStatus::Revoked => event_day(&[EventKind::Revoked]),
        LicenceStatus::Withdrawn => event_day(&[EventKind::Withdrawn]),
        LicenceStatus::Cancelled => event_day(&[EventKind::Cancelled]),
        LicenceStatus::Superseded => event_day(&[EventKind::Superseded]),
    }
}

/// A one-line explanation: the status and its date, never the reason a clerk typed.
fn describe(view: &LicenceView, since: Option<Date>) -> String {
    let l = &view.licence;
    let until = l.valid_until.map(format_date).unwrap_or_else(|| "长期 (no end)".into());
    let since = since.map(format_date).unwrap_or_default();
    match view.status {
        LicenceStatus::Valid => format!("authentic and valid until {until}"),
        LicenceStatus::NotYetValid => format!("authentic, not valid before {}", format_date(l.valid_from)),
        LicenceStatus::Expired => format!("authentic, expired on {until}"),
        LicenceStatus::Superseded => format!("authentic, superseded by {} since {since}", view.current_identifier),
        other => format!("authentic, {} since {since}", other.as_str()),
    }
}
