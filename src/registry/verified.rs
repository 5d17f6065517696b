//! A bounded memo of signatures already verified over exact bytes. Verifying Ed25519 is
//! the dominant cost of a read; hashing the bytes is ~20× cheaper. The key is SHA-256
//! over (key id, signature, bytes), so a changed byte is a miss and is verified afresh:
//! the memo can only skip work, never accept something unverified.

use std::collections::HashSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::licence::signing::{KeyRing, SignatureError};

pub struct VerifiedSet {
    seen: Mutex<HashSet<[u8; 32]>>,
    capacity: usize,
}

impl VerifiedSet {
    pub fn new(capacity: usize) -> VerifiedSet {
        VerifiedSet {
            seen: Mutex::new(HashSet::new()),
            capacity,
        }
    }

    /// Verifies `signature` over `bytes` with `key_id`, consulting and filling the memo.
    pub fn verify(&self, keys: &KeyRing, key_id: &str, bytes: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let mut h = Sha256::new();
        h.update((key_id.len() as u32).to_be_bytes());
        h.update(key_id.as_bytes());
        h.update(signature);
        h.update(bytes);
        let k: [u8; 32] = h.finalize().into();
        if self.seen.lock().expect("memo lock").contains(&k) {
            return Ok(());
        }
        keys.verify(key_id, bytes, signature)?;
        let mut seen = self.seen.lock().expect("memo lock");
        if seen.len() >= self.capacity {
            seen.clear();
        }
        seen.insert(k);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_never_accepts_changed_bytes() {
        let keys = KeyRing::single(ed25519_dalek::SigningKey::from_bytes(&[5; 32]));
        let memo = VerifiedSet::new(2);
        let sig = keys.sign(b"abc");
        let id = keys.active_key_id().to_string();
        memo.verify(&keys, &id, b"abc", &sig).unwrap();
        memo.verify(&keys, &id, b"abc", &sig).unwrap();
        assert!(memo.verify(&keys, &id, b"abd", &sig).is_err());
        assert!(memo.verify(&keys, &id, b"abd", &sig).is_err());
        for i in 0..5u8 {
            let s = keys.sign(&[i]);
            memo.verify(&keys, &id, &[i], &s).unwrap();
        }
        assert!(memo.verify(&keys, &id, b"abd", &sig).is_err());
    }
}
