//! The access audit log (用证记录): what one entry records, its canonical signed bytes,
//! and the hash chain that makes an edited, removed or reordered entry detectable —
//! checked the same way by the service and offline by `elicence audit verify`.

use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use crate::licence::signing::{self, PublicKeyInfo};

/// Schema tag carried inside every signed audit entry.
pub const AUDIT_SCHEMA: &str = "elicence.audit.v1";

/// `prev_digest` of the first entry (seq 0): 32 zero bytes, in hex.
pub const GENESIS_DIGEST: [u8; 32] = [0; 32];

/// One department call as recorded. Signed as RFC 8785 canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub schema: String,
    /// 0, 1, 2, … without gaps.
    pub seq: u64,
    /// RFC 3339 UTC, second precision; never earlier than the previous entry's.
    pub at: String,
    /// The department's unified social credit code, id and name.
    pub department: String,
    pub department_id: String,
    pub department_name: String,
    /// The gRPC method, e.g. `elicence.v1.LicenceService/GetLicence`.
    pub method: String,
    /// 用证事由 as given (empty when the method takes none or it was missing).
    pub use_cause: String,
    /// Licence identifiers the call named or returned.
    pub identifiers: Vec<String>,
    /// For an import: the run and what it created. Absent for other calls (and from
    /// entries written before imports were recorded this way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportRun>,
    /// The gRPC status code name, e.g. `OK`, `PERMISSION_DENIED`.
    pub result: String,
    /// Hex SHA-256 of the previous entry's signed bytes ([`GENESIS_DIGEST`] for seq 0).
    pub prev_digest: String,
    pub key_id: String,
}

/// What one import call created. Its identifiers are also listed in the entry's
/// `identifiers` when there are at most [`MAX_LISTED_CREATED`]; the digest covers them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRun {
    /// The run id, also in the first event of every record the run created.
    pub run_id: String,
    /// How many records the run created.
    pub created: u64,
    /// Hex SHA-256 of the created identifiers, sorted, each followed by a line feed.
    pub created_sha256: String,
}

/// Created identifiers an import's entry lists at most; past it, only count and digest.
pub const MAX_LISTED_CREATED: usize = 1000;

impl AuditEntry {
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_jcs::to_vec(self).expect("an audit entry always serialises")
    }

    pub fn from_canonical(bytes: &[u8]) -> Result<AuditEntry, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A signed access-audit entry as stored: its canonical bytes, signature and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAuditEntry {
    pub seq: u64,
    pub bytes: Vec<u8>,
    pub signature: [u8; 64],
    pub key_id: String,
}

/// Where the chain ends: what the next entry must carry to extend it. The store's single
/// writer holds it, so entries are numbered and linked in one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLink {
    /// The next entry's seq.
    pub seq: u64,
    /// Digest of the last entry's signed bytes ([`GENESIS_DIGEST`] for an empty log).
    pub prev: [u8; 32],
    /// Time of the last entry: the next one is never earlier.
    pub last_at: String,
}

impl AuditLink {
    /// The link after `last` (the log's last entry), or the genesis link.
    pub fn after(last: Option<&SignedAuditEntry>) -> Result<AuditLink, ChainError> {
        match last {
            None => Ok(AuditLink {
                seq: 0,
                prev: GENESIS_DIGEST,
                last_at: String::new(),
            }),
            Some(e) => {
                let entry = AuditEntry::from_canonical(&e.bytes).map_err(|err| ChainError::Malformed {
                    seq: e.seq,
                    reason: err.to_string(),
                })?;
                Ok(AuditLink {
                    seq: e.seq + 1,
                    prev: signing::digest(&e.bytes),
                    last_at: entry.at,
                })
            }
        }
    }
}

/// Builds and signs the next entry for a link. The store's writer calls it, so the
/// entry is sealed in log order; it must carry `link.seq` and `link.prev`.
pub type AuditSeal = Box<dyn FnOnce(&AuditLink) -> SignedAuditEntry + Send>;

/// A seal for store tests: a well-formed entry for the link it is given, with a
/// placeholder signature (stores do not verify signatures).
#[cfg(test)]
pub(crate) fn test_seal(method: &'static str) -> AuditSeal {
    Box::new(move |link: &AuditLink| {
        let entry = AuditEntry {
            schema: AUDIT_SCHEMA.into(),
            seq: link.seq,
            at: "2026-12-04T00:00:00Z".into(),
            department: "11100000MB0000000X".into(),
            department_id: "test".into(),
            department_name: "测试部门".into(),
            method: method.into(),
            use_cause: "test".into(),
            identifiers: Vec::new(),
            import: None,
            result: "OK".into(),
            prev_digest: hex::encode(link.prev),
            key_id: "k".into(),
        };
        SignedAuditEntry {
            seq: link.seq,
            bytes: entry.canonical_bytes(),
            signature: [2; 64],
            key_id: "k".into(),
        }
    })
}

/// Why an entry fails the chain check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq}: expected seq {expected} (an entry is missing or out of order)")]
    Gap { seq: u64, expected: u64 },
    #[error("entry {seq}: signature does not verify with key {key_id}")]
    Signature { seq: u64, key_id: String },
    #[error("entry {seq}: signed bytes are not an audit entry: {reason}")]
    Malformed { seq: u64, reason: String },
    #[error("entry {seq}: stored under seq {stored} but says seq {signed}")]
    SeqMismatch { seq: u64, stored: u64, signed: u64 },
    #[error("entry {seq}: prev_digest does not match the previous entry (an entry before it was edited or removed)")]
    Chain { seq: u64 },
}

/// Checks entries in order, one at a time, so a log of any size streams through.
pub struct ChainVerifier {
    keys: HashMap<String, [u8; 32]>,
    next_seq: u64,
    prev: [u8; 32],
}

impl ChainVerifier {
    /// Verifies with published public keys only: no private key is needed offline.
    pub fn new(keys: Vec<PublicKeyInfo>) -> Self {
        ChainVerifier {
            keys: keys.into_iter().map(|k| (k.key_id, k.public_key)).collect(),
            next_seq: 0,
            prev: GENESIS_DIGEST,
        }
    }

    /// Checks the next entry: contiguous seq, signature, and link to the previous one.
    pub fn check(&mut self, e: &SignedAuditEntry) -> Result<AuditEntry, ChainError> {
        let seq = e.seq;
        if seq != self.next_seq {
            return Err(ChainError::Gap {
                seq,
                expected: self.next_seq,
            });
        }
        let bad_signature = || ChainError::Signature {
            seq,
            key_id: e.key_id.clone(),
        };
        let key = self.keys.get(&e.key_id).ok_or_else(bad_signature)?;
        signing::verify_with(key, &e.bytes, &e.signature).map_err(|_| bad_signature())?;
        let entry = AuditEntry::from_canonical(&e.bytes).map_err(|err| ChainError::Malformed {
            seq,
            reason: err.to_string(),
        })?;
        if entry.seq != seq {
            return Err(ChainError::SeqMismatch {
                seq,
                stored: seq,
                signed: entry.seq,
            });
        }
        if entry.prev_digest != hex::encode(self.prev) {
            return Err(ChainError::Chain { seq });
        }
        self.prev = signing::digest(&e.bytes);
        self.next_seq += 1;
        Ok(entry)
    }

    /// Entries checked so far.
    pub fn count(&self) -> u64 {
        self.next_seq
    }

    /// Digest of the last checked entry (the chain head).
    pub fn head(&self) -> [u8; 32] {
        self.prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::KeyRing;
    use ed25519_dalek::SigningKey;

    fn chain(keys: &KeyRing, n: u64) -> Vec<SignedAuditEntry> {
        let mut prev = GENESIS_DIGEST;
        (0..n)
            .map(|seq| {
                let e = AuditEntry {
                    schema: AUDIT_SCHEMA.into(),
                    seq,
                    at: "2026-11-27T02:00:00Z".into(),
                    department: "11420800MB1A234561".into(),
                    department_id: "scjgj".into(),
                    department_name: "市场监管局".into(),
                    method: "elicence.v1.LicenceService/GetLicence".into(),
                    use_cause: "核查".into(),
                    identifiers: vec![],
                    import: None,
                    result: "OK".into(),
                    prev_digest: hex::encode(prev),
                    key_id: keys.active_key_id().into(),
                };
                let bytes = e.canonical_bytes();
                prev = signing::digest(&bytes);
                SignedAuditEntry {
                    seq,
                    signature: keys.sign(&bytes),
                    bytes,
                    key_id: keys.active_key_id().into(),
                }
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_and_edits_removals_are_caught() {
        let keys = KeyRing::single(SigningKey::from_bytes(&[5; 32]));
        let entries = chain(&keys, 4);
        let mut v = ChainVerifier::new(keys.public_keys());
        for e in &entries {
            v.check(e).unwrap();
        }
        assert_eq!(v.count(), 4);

        let mut edited = entries.clone();
        edited[2].bytes = String::from_utf8(edited[2].bytes.clone())
            .unwrap()
            .replace("核查", "其他")
            .into_bytes();
        let mut v = ChainVerifier::new(keys.public_keys());
        v.check(&edited[0]).unwrap();
        v.check(&edited[1]).unwrap();
        assert!(matches!(v.check(&edited[2]), Err(ChainError::Signature { seq: 2, .. })));

        let mut v = ChainVerifier::new(keys.public_keys());
        v.check(&entries[0]).unwrap();
        assert_eq!(v.check(&entries[2]), Err(ChainError::Gap { seq: 2, expected: 1 }));
    }
}
