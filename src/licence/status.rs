//! Lifecycle: the signed events a licence goes through, the legal transitions between
//! standings, and the status derived from the standing plus a date (expiry is never stored).

use serde::{Deserialize, Serialize};
use time::Date;

use super::Licence;

/// Schema tag carried inside every signed event.
pub const EVENT_SCHEMA: &str = "elicence.event.v1";

/// What a caller is told about a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenceStatus {
    Valid,
    NotYetValid,
    Expired,
    Suspended,
    Revoked,
    Withdrawn,
    Cancelled,
    Superseded,
}

impl LicenceStatus {
    /// The national interface status code (01 有效, 02 暂扣, 03 撤销, 04 注销, 05 失效, 07 吊销).
    pub fn national_code(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "01",
            LicenceStatus::Suspended => "02",
            LicenceStatus::Withdrawn => "03",
            LicenceStatus::Cancelled => "04",
            LicenceStatus::Expired | LicenceStatus::Superseded | LicenceStatus::NotYetValid => "05",
            LicenceStatus::Revoked => "07",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "valid",
            LicenceStatus::NotYetValid => "not yet valid",
            LicenceStatus::Expired => "expired",
            LicenceStatus::Suspended => "suspended",
            LicenceStatus::Revoked => "revoked",
            LicenceStatus::Withdrawn => "withdrawn",
            LicenceStatus::Cancelled => "cancelled",
            LicenceStatus::Superseded => "superseded",
        }
    }
}

/// The standing a licence has from its events alone (dates aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Active,
    Suspended,
    Revoked,
    Withdrawn,
    Cancelled,
    Superseded,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Active => "active",
            Standing::Suspended => "suspended",
            Standing::Revoked => "revoked",
            Standing::Withdrawn => "withdrawn",
            Standing::Cancelled => "cancelled",
            Standing::Superseded => "superseded",
        }
    }
}

/// Kinds of lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// 新发: first version issued.
    Issued,
    /// A historical record loaded by migration.
    Migrated,
    /// 变更 / 延续: this version was issued to replace another.
    Reissued,
    /// 暂扣
    Suspended,
    /// 暂扣发还
    Restored,
    /// 吊销
    Revoked,
    /// 撤销
    Withdrawn,
    /// 注销
    Cancelled,
    /// A newer version replaced this one.
    Superseded,
}

impl EventKind {
    /// The name used in signed events (`suspended`, `reissued`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Issued => "issued",
            EventKind::Migrated => "migrated",
            EventKind::Reissued => "reissued",
            EventKind::Suspended => "suspended",
            EventKind::Restored => "restored",
            EventKind::Revoked => "revoked",
            EventKind::Withdrawn => "withdrawn",
            EventKind::Cancelled => "cancelled",
            EventKind::Superseded => "superseded",
        }
    }
}

/// The transition table. Returns the new standing, or `None` when illegal.
pub fn transition(from: Standing, kind: EventKind) -> Option<Standing> {
    use EventKind as E;
    use Standing as S;
    match (from, kind) {
        (S::Active, E::Suspended) => Some(S::Suspended),
        (S::Suspended, E::Restored) => Some(S::Active),
        (S::Active | S::Suspended, E::Revoked) => Some(S::Revoked),
        (S::Active | S::Suspended, E::Withdrawn) => Some(S::Withdrawn),
        (S::Active | S::Suspended, E::Cancelled) => Some(S::Cancelled),
        (S::Active, E::Superseded) => Some(S::Superseded),
        _ => None,
    }
}

/// A signed lifecycle event. Events of one licence form a hash chain through `prev_digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub schema: String,
    pub identifier: String,
    pub seq: u32,
    pub kind: EventKind,
    /// USCC of the acting department (or `migration`/`repository`).
    pub actor: String,
    pub actor_name: String,
    pub at: String,
    pub reason: String,
    /// The other version involved: the replaced one for `reissued`, the new one for `superseded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<String>,
    /// Hex SHA-256 of the previous event's canonical bytes; for seq 0, of the licence record.
    pub prev_digest: String,
    pub key_id: String,
}

impl StatusEvent {
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_jcs::to_vec(self).expect("an event always serialises")
    }

    pub fn from_canonical(bytes: &[u8]) -> Result<StatusEvent, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Replays events to the standing they lead to. Illegal sequences cannot be stored, so
/// replay only trusts the kinds.
pub fn standing_of(events: &[StatusEvent]) -> Standing {
    let mut s = Standing::Active;
    for e in events {
        if let Some(next) = transition(s, e.kind) {
            s = next;
        }
    }
    s
}

/// The status a caller sees on `today`.
pub fn status_on(licence: &Licence, standing: Standing, today: Date) -> LicenceStatus {
    match standing {
        Standing::Suspended => LicenceStatus::Suspended,
        Standing::Revoked => LicenceStatus::Revoked,
        Standing::Withdrawn => LicenceStatus::Withdrawn,
        Standing::Cancelled => LicenceStatus::Cancelled,
        Standing::Superseded => LicenceStatus::Superseded,
        Standing::Active => {
            if today < licence.valid_from {
                LicenceStatus::NotYetValid
            } else if licence.valid_until.is_some_and(|end| today > end) {
                LicenceStatus::Expired
            } else {
                LicenceStatus::Valid
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_the_signed_form() {
        for k in [
            EventKind::Issued,
            EventKind::Reissued,
            EventKind::Superseded,
            EventKind::Restored,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn transitions() {
        assert_eq!(
            transition(Standing::Active, EventKind::Suspended),
            Some(Standing::Suspended)
        );
        assert_eq!(
            transition(Standing::Suspended, EventKind::Restored),
            Some(Standing::Active)
        );
        assert_eq!(transition(Standing::Revoked, EventKind::Restored), None);
        assert_eq!(transition(Standing::Cancelled, EventKind::Superseded), None);
        assert_eq!(transition(Standing::Active, EventKind::Restored), None);
        assert_eq!(transition(Standing::Superseded, EventKind::Revoked), None);
    }
}

/// A signed lifecycle event as stored: canonical bytes, signature and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEvent {
    pub seq: u32,
    pub bytes: Vec<u8>,
    pub signature: [u8; 64],
    pub key_id: String,
}
