//! Leaves. Each leaf's entry is a short text naming what was logged and committing to
//! its exact signed bytes and signature:
//!
//! ```text
//! elicence-log-v1
//! record | event | audit
//! <key>                 record: identifier; event: identifier, space, seq; audit: seq
//! <hex SHA-256 of the signed canonical bytes>
//! <hex Ed25519 signature over those bytes>
//! ```
//! every line ending in a line feed. The leaf hash is `SHA-256(0x00 ‖ entry)`.
//!
//! The signature is part of the entry so that a leaf hash cannot be recomputed by
//! someone who guesses an entry's contents (an audit entry's fields are guessable; its
//! signature is not): the public tiles of leaf hashes reveal nothing about a licence.

use sha2::{Digest, Sha256};

use super::Hash;
use crate::audit::SignedAuditEntry;
use crate::licence::status::SignedEvent;
use crate::licence::SignedRecord;

pub const ENTRY_HEADER: &str = "elicence-log-v1";

/// What a leaf logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeafKind {
    Record,
    Event,
    Audit,
}

impl LeafKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeafKind::Record => "record",
            LeafKind::Event => "event",
            LeafKind::Audit => "audit",
        }
    }
}

/// Which entry a leaf logs: what the stores index leaf positions by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LeafKey {
    Record(String),
    Event(String, u32),
    Audit(u64),
}

impl LeafKey {
    pub fn kind(&self) -> LeafKind {
        match self {
            LeafKey::Record(_) => LeafKind::Record,
            LeafKey::Event(..) => LeafKind::Event,
            LeafKey::Audit(_) => LeafKind::Audit,
        }
    }

    /// The key's line in an entry.
    pub fn text(&self) -> String {
        match self {
            LeafKey::Record(id) => id.clone(),
            LeafKey::Event(id, seq) => format!("{id} {seq}"),
            LeafKey::Audit(seq) => seq.to_string(),
        }
    }

    /// A byte key that sorts records, events and audit entries apart (for indexes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(48);
        match self {
            LeafKey::Record(id) => {
                k.push(b'r');
                k.extend_from_slice(id.as_bytes());
            }
            LeafKey::Event(id, seq) => {
                k.push(b'e');
                k.extend_from_slice(id.as_bytes());
                k.push(0);
                k.extend_from_slice(&seq.to_be_bytes());
            }
            LeafKey::Audit(seq) => {
                k.push(b'a');
                k.extend_from_slice(&seq.to_be_bytes());
            }
        }
        k
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LeafError {
    #[error("log entry is not elicence-log-v1 text: {0}")]
    Malformed(String),
}

/// One leaf: the entry it logs and the digest and signature it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub key: LeafKey,
    /// SHA-256 of the signed canonical bytes.
    pub digest: [u8; 32],
    pub signature: [u8; 64],
}

impl Leaf {
    pub fn record(identifier: &str, r: &SignedRecord) -> Leaf {
        Leaf::of(LeafKey::Record(identifier.to_string()), &r.bytes, r.signature)
    }

    pub fn event(identifier: &str, e: &SignedEvent) -> Leaf {
        Leaf::of(LeafKey::Event(identifier.to_string(), e.seq), &e.bytes, e.signature)
    }

    pub fn audit(a: &SignedAuditEntry) -> Leaf {
        Leaf::of(LeafKey::Audit(a.seq), &a.bytes, a.signature)
    }

    fn of(key: LeafKey, bytes: &[u8], signature: [u8; 64]) -> Leaf {
        Leaf {
            key,
            digest: Sha256::digest(bytes).into(),
            signature,
        }
    }

    /// The entry text whose leaf hash goes into the tree.
    pub fn entry(&self) -> Vec<u8> {
        format!(
            "{ENTRY_HEADER}\n{}\n{}\n{}\n{}\n",
            self.key.kind().as_str(),
            self.key.text(),
            hex::encode(self.digest),
            hex::encode(self.signature)
        )
        .into_bytes()
    }

    /// `SHA-256(0x00 ‖ entry)` (RFC 9162 §2.1.1).
    pub fn hash(&self) -> Hash {
        leaf_hash(&self.entry())
    }

    /// Reads an entry back; only what [`Leaf::entry`] writes is accepted.
    pub fn parse(entry: &[u8]) -> Result<Leaf, LeafError> {
        let bad = |why: &str| LeafError::Malformed(why.to_string());
        let text = std::str::from_utf8(entry).map_err(|_| bad("not UTF-8"))?;
        let body = text.strip_suffix('\n').ok_or_else(|| bad("no final line feed"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [header, kind, key, digest, signature] = lines[..] else {
            return Err(bad("not five lines"));
        };
        if header != ENTRY_HEADER {
            return Err(bad("first line"));
        }
        let key = match kind {
            "record" if is_identifier_text(key) => LeafKey::Record(key.to_string()),
            "event" => {
                let (id, seq) = key.split_once(' ').ok_or_else(|| bad("event key"))?;
                if !is_identifier_text(id) {
                    return Err(bad("event identifier"));
                }
                LeafKey::Event(id.to_string(), canonical_number(seq).ok_or_else(|| bad("event seq"))?)
            }
            "audit" => LeafKey::Audit(canonical_number(key).ok_or_else(|| bad("audit seq"))?),
            _ => return Err(bad("kind or key")),
        };
        let digest = decode_hex::<32>(digest).ok_or_else(|| bad("digest"))?;
        let signature = decode_hex::<64>(signature).ok_or_else(|| bad("signature"))?;
        let leaf = Leaf { key, digest, signature };
        // Exactly one text per leaf: upper-case hex or a leading zero is not it.
        if leaf.entry() != entry {
            return Err(bad("not in canonical form"));
        }
        Ok(leaf)
    }
}

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

fn is_identifier_text(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

fn canonical_number<T: std::str::FromStr + ToString>(s: &str) -> Option<T> {
    let n: T = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(key: LeafKey) -> Leaf {
        Leaf {
            key,
            digest: [0xab; 32],
            signature: [0xcd; 64],
        }
    }

    #[test]
    fn entries_round_trip_and_are_one_text_each() {
        for key in [
            LeafKey::Record("1234567890123456789012345678901234".into()),
            LeafKey::Event("1234567890123456789012345678901234".into(), 7),
            LeafKey::Audit(0),
            LeafKey::Audit(u64::MAX),
        ] {
            let l = leaf(key);
            let e = l.entry();
            assert_eq!(Leaf::parse(&e).unwrap(), l);
            // Any other spelling of the same leaf is refused.
            let upper = String::from_utf8(e.clone()).unwrap().to_uppercase();
            assert!(Leaf::parse(upper.as_bytes()).is_err());
        }
        let e = leaf(LeafKey::Event("X".into(), 3)).entry();
        let padded = String::from_utf8(e).unwrap().replace("X 3\n", "X 03\n");
        assert!(Leaf::parse(padded.as_bytes()).is_err());
    }

    #[test]
    fn the_entry_text_is_as_documented() {
        let l = leaf(LeafKey::Event("ID".into(), 2));
        let text = String::from_utf8(l.entry()).unwrap();
        assert_eq!(
            text,
            format!(
                "elicence-log-v1\nevent\nID 2\n{}\n{}\n",
                "ab".repeat(32),
                "cd".repeat(64)
            )
        );
        let mut prefixed = vec![0u8];
        prefixed.extend_from_slice(text.as_bytes());
        assert_eq!(l.hash(), <[u8; 32]>::from(Sha256::digest(&prefixed)));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            &b""[..],
            b"elicence-log-v1\nrecord\nX\n",
            b"elicence-log-v2\nrecord\nX\naa\nbb\n",
            b"elicence-log-v1\nthing\nX\naa\nbb\n",
        ] {
            assert!(Leaf::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn keys_of_different_kinds_never_collide() {
        let a = LeafKey::Record("a".into()).to_bytes();
        let b = LeafKey::Event("a".into(), 0).to_bytes();
        let c = LeafKey::Audit(0).to_bytes();
        assert!(a != b && b != c && a != c);
    }
}
