//! Checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note`s, signed with the
//! repository's active Ed25519 key under the log's origin as key name.
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 root hash>
//!
//! — <origin> <base64 of 4-byte key id ‖ 64-byte Ed25519 signature>
//! ```
//! The key id is the first four bytes of `SHA-256(origin ‖ "\n" ‖ 0x01 ‖ public key)`,
//! as signed-note defines it for Ed25519; the published key list names every key, so
//! checkpoints signed before a key rotation still verify.

use signed_note::{Note, VerifierList};

use super::Hash;
use crate::licence::signing::{KeyRing, PublicKeyInfo};

/// The longest note accepted (a checkpoint with signatures of a few keys is ~300 bytes).
pub const MAX_NOTE_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("not a signed checkpoint: {0}")]
    Malformed(String),
    #[error("checkpoint is of log {found:?}, expected {expected:?}")]
    WrongOrigin { found: String, expected: String },
    #[error("checkpoint signature does not verify with any published key of log {0:?}")]
    BadSignature(String),
    #[error("log origin {0:?} is not usable as a key name (no spaces, no '+', not empty)")]
    BadOrigin(String),
}

/// The name and 4-byte id a key signs checkpoints of `origin` with.
pub fn note_key_id(origin: &str, public_key: &[u8; 32]) -> u32 {
    let mut k = Vec::with_capacity(33);
    k.push(0x01);
    k.extend_from_slice(public_key);
    signed_note::key_id(origin, &k)
}

/// The signed-note verifier key (`<origin>+<hex id>+<base64 0x01 ‖ key>`) for a key, as
/// Go's `note` package and other C2SP tools take it.
pub fn verifier_key(origin: &str, public_key: &[u8; 32]) -> Option<String> {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(public_key).ok()?;
    Some(signed_note::new_ed25519_verifier_key(origin, &vk))
}

/// Signs with the ring's active key.
struct RingSigner<'a> {
    origin: &'a str,
    id: u32,
    keys: &'a KeyRing,
}

impl signed_note::Signer for RingSigner<'_> {
    fn name(&self) -> &str {
        self.origin
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.keys.sign(msg).to_vec())
    }
}

impl Checkpoint {
    /// The checkpoint's text (the note body).
    pub fn body(&self) -> Result<Vec<u8>, CheckpointError> {
        if !signed_note::is_key_name_valid(&self.origin) || self.origin.contains('\n') {
            return Err(CheckpointError::BadOrigin(self.origin.clone()));
        }
        let c = tlog_tiles::Checkpoint::new(&self.origin, self.size, tlog_tiles::Hash(self.root), "")
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        Ok(c.to_bytes())
    }

    /// The signed note, signed by the active key of `keys`.
    pub fn sign(&self, keys: &KeyRing) -> Result<Vec<u8>, CheckpointError> {
        let active = keys
            .public_keys()
            .into_iter()
            .find(|k| k.active)
            .expect("a key ring has an active key");
        let signer = RingSigner {
            origin: &self.origin,
            id: note_key_id(&self.origin, &active.public_key),
            keys,
        };
        let mut note = Note::new(&self.body()?, &[]).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        note.add_sigs(&[&signer])
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        Ok(note.to_bytes())
    }

    /// Reads a signed checkpoint and checks its signature against `keys` (the published
    /// key list). With `origin`, a checkpoint of another log is refused.
    pub fn open(note: &[u8], keys: &[PublicKeyInfo], origin: Option<&str>) -> Result<Checkpoint, CheckpointError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(CheckpointError::Malformed(format!(
                "{} bytes, more than {MAX_NOTE_BYTES}",
                note.len()
            )));
        }
        let n = Note::from_bytes(note).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let c = tlog_tiles::Checkpoint::from_bytes(n.text()).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        if !c.extension().is_empty() {
            return Err(CheckpointError::Malformed("extension lines".into()));
        }
        if let Some(expected) = origin {
            if c.origin() != expected {
                return Err(CheckpointError::WrongOrigin {
                    found: c.origin().to_string(),
                    expected: expected.to_string(),
                });
            }
        }
        let verifiers: Vec<Box<dyn signed_note::Verifier>> = keys
            .iter()
            .filter_map(|k| verifier_key(c.origin(), &k.public_key))
            .filter_map(|vkey| signed_note::StandardVerifier::new(&vkey).ok())
            .map(|v| Box::new(v) as Box<dyn signed_note::Verifier>)
            .collect();
        let list = VerifierList::new(verifiers);
        let (verified, _) = n
            .verify(&list)
            .map_err(|_| CheckpointError::BadSignature(c.origin().to_string()))?;
        // Only the log's own key counts (a cosigner's signature is not the log's).
        if !verified.iter().any(|s| s.name() == c.origin()) {
            return Err(CheckpointError::BadSignature(c.origin().to_string()));
        }
        Ok(Checkpoint {
            origin: c.origin().to_string(),
            size: c.size(),
            root: c.hash().0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn ring(seed: u8) -> KeyRing {
        KeyRing::single(SigningKey::from_bytes(&[seed; 32]))
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "verify.example.gov.cn/log".into(),
            size: 1234,
            root: [9; 32],
        }
    }

    #[test]
    fn signed_checkpoints_open_with_the_published_keys() {
        let keys = ring(1);
        let note = cp().sign(&keys).unwrap();
        let text = String::from_utf8(note.clone()).unwrap();
        assert!(text.starts_with("verify.example.gov.cn/log\n1234\nCQkJ"), "{text}");
        assert!(text.contains("\n\n— verify.example.gov.cn/log "), "{text}");
        assert_eq!(Checkpoint::open(&note, &keys.public_keys(), None).unwrap(), cp());
        assert_eq!(
            Checkpoint::open(&note, &keys.public_keys(), Some("verify.example.gov.cn/log")).unwrap(),
            cp()
        );
    }

    #[test]
    fn other_keys_logs_and_changes_are_refused() {
        let note = cp().sign(&ring(1)).unwrap();
        assert!(matches!(
            Checkpoint::open(&note, &ring(2).public_keys(), None),
            Err(CheckpointError::BadSignature(_))
        ));
        assert!(matches!(
            Checkpoint::open(&note, &ring(1).public_keys(), Some("other/log")),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        let text = String::from_utf8(note).unwrap();
        let changed = text.replacen("1234", "1235", 1);
        assert!(Checkpoint::open(changed.as_bytes(), &ring(1).public_keys(), None).is_err());
        assert!(Checkpoint::open(b"garbage", &ring(1).public_keys(), None).is_err());
        assert!(Checkpoint::open(&vec![b'a'; MAX_NOTE_BYTES + 1], &ring(1).public_keys(), None).is_err());
    }

    #[test]
    fn a_key_id_follows_the_signed_note_rule() {
        let keys = ring(1);
        let pk = keys.public_keys()[0].public_key;
        let vkey = verifier_key("a/log", &pk).unwrap();
        let id = note_key_id("a/log", &pk);
        assert!(vkey.starts_with(&format!("a/log+{id:08x}+")), "{vkey}");
        assert!(matches!(
            Checkpoint {
                origin: "has space".into(),
                ..cp()
            }
            .sign(&keys),
            Err(CheckpointError::BadOrigin(_))
        ));
    }
}
