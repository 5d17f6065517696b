//! Ed25519 signing keys, key ids, and the key ring: one active key signs, retired keys
//! stay so that everything they ever signed still verifies.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// A key id: the first 8 bytes of SHA-256 over the raw 32-byte public key, in hex.
pub fn key_id(public: &VerifyingKey) -> String {
    let d = Sha256::digest(public.as_bytes());
    hex::encode(&d[..8])
}

/// SHA-256 digest of signed bytes.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A public key as published, with its validity window (RFC 3339 dates, end open if empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    pub key_id: String,
    pub public_key: [u8; 32],
    pub valid_from: String,
    pub valid_until: String,
    pub active: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("unknown key id {0}")]
    UnknownKey(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("signature must be 64 bytes")]
    Malformed,
}

struct KeyEntry {
    info: PublicKeyInfo,
    verifying: VerifyingKey,
    signing: Option<SigningKey>,
}

/// The repository's keys. Exactly one is active (used to sign); all verify.
pub struct KeyRing {
    keys: Vec<KeyEntry>,
    active: usize,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private key material.
        f.debug_struct("KeyRing")
            .field("active", &self.active_key_id())
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// A key to load into a ring.
pub struct KeySpec {
    pub signing: Option<SigningKey>,
    pub verifying: VerifyingKey,
    pub valid_from: String,
    pub valid_until: String,
    pub active: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("exactly one key must be active, found {0}")]
    ActiveCount(usize),
    #[error("the active key {0} has no private key")]
    ActiveWithoutPrivate(String),
    #[error("duplicate key id {0}")]
    Duplicate(String),
}

impl KeyRing {
    pub fn new(specs: Vec<KeySpec>) -> Result<KeyRing, KeyRingError> {
        let active: Vec<usize> = specs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active)
            .map(|(i, _)| i)
            .collect();
        if active.len() != 1 {
            return Err(KeyRingError::ActiveCount(active.len()));
        }
        let mut keys = Vec::with_capacity(specs.len());
        for s in specs {
            let id = key_id(&s.verifying);
            if keys.iter().any(|k: &KeyEntry| k.info.key_id == id) {
                return Err(KeyRingError::Duplicate(id));
            }
            if s.active && s.signing.is_none() {
                return Err(KeyRingError::ActiveWithoutPrivate(id));
            }
            keys.push(KeyEntry {
                info: PublicKeyInfo {
                    key_id: id,
                    public_key: s.verifying.to_bytes(),
                    valid_from: s.valid_from,
                    valid_until: s.valid_until,
                    active: s.active,
                },
                verifying: s.verifying,
                signing: s.signing,
            });
        }
        Ok(KeyRing {
            keys,
            active: active[0],
        })
    }

    /// A ring of one fresh active key (tests, benchmarks).
    pub fn single(signing: SigningKey) -> KeyRing {
        let verifying = signing.verifying_key();
        KeyRing::new(vec![KeySpec {
            signing: Some(signing),
            verifying,
            valid_from: String::new(),
            valid_until: String::new(),
            active: true,
        }])
        .expect("one active key")
    }

    pub fn active_key_id(&self) -> &str {
        &self.keys[self.active].info.key_id
    }

    /// A 32-byte secret for another purpose than signing, derived from the active key's
    /// private half and a label naming the purpose (SHA-256 over label, a zero byte and
    /// the key): replicas sharing the key share the secret; nothing derived reveals the
    /// key, and secrets for different labels are unrelated.
    pub fn derive_secret(&self, label: &str) -> [u8; 32] {
        let k = self.keys[self.active]
            .signing
            .as_ref()
            .expect("checked at construction");
        Sha256::new()
            .chain_update(label.as_bytes())
            .chain_update([0u8])
            .chain_update(k.to_bytes())
            .finalize()
            .into()
    }

    /// Signs with the active key.
    pub fn sign(&self, bytes: &[u8]) -> [u8; 64] {
        let k = self.keys[self.active]
            .signing
            .as_ref()
            .expect("checked at construction");
        k.sign(bytes).to_bytes()
    }

    pub fn verify(&self, key_id: &str, bytes: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let entry = self
            .keys
            .iter()
            .find(|k| k.info.key_id == key_id)
            .ok_or_else(|| SignatureError::UnknownKey(key_id.to_string()))?;
        let sig = Signature::from_slice(signature).map_err(|_| SignatureError::Malformed)?;
        entry
            .verifying
            .verify(bytes, &sig)
            .map_err(|_| SignatureError::BadSignature)
    }

    pub fn public_keys(&self) -> Vec<PublicKeyInfo> {
        self.keys.iter().map(|k| k.info.clone()).collect()
    }
}

/// Verifies a signature with a bare public key (offline verification).
pub fn verify_with(public_key: &[u8; 32], bytes: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let vk = VerifyingKey::from_bytes(public_key).map_err(|_| SignatureError::Malformed)?;
    let sig = Signature::from_slice(signature).map_err(|_| SignatureError::Malformed)?;
    vk.verify_strict(bytes, &sig).map_err(|_| SignatureError::BadSignature)
}

/// PKCS#8 PEM encodings for `keygen`.
pub fn private_key_pem(k: &SigningKey) -> String {
    k.to_pkcs8_pem(Default::default()).expect("encodes").to_string()
}

pub fn public_key_pem(k: &VerifyingKey) -> String {
    k.to_public_key_pem(Default::default()).expect("encodes")
}

pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, String> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| format!("not a PKCS#8 Ed25519 private key: {e}"))
}

pub fn verifying_key_from_pem(pem: &str) -> Result<VerifyingKey, String> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    VerifyingKey::from_public_key_pem(pem).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_verify_and_flipped_byte_fails() {
        let ring = KeyRing::single(key(7));
        let msg = b"{\"a\":1}".to_vec();
        let sig = ring.sign(&msg);
        ring.verify(ring.active_key_id(), &msg, &sig).unwrap();
        let mut bad = msg.clone();
        bad[2] ^= 1;
        assert_eq!(
            ring.verify(ring.active_key_id(), &bad, &sig),
            Err(SignatureError::BadSignature)
        );
        let mut bad_sig = sig;
        bad_sig[0] ^= 1;
        assert_eq!(
            ring.verify(ring.active_key_id(), &msg, &bad_sig),
            Err(SignatureError::BadSignature)
        );
        assert!(matches!(
            ring.verify("nope", &msg, &sig),
            Err(SignatureError::UnknownKey(_))
        ));
    }

    #[test]
    fn key_id_is_derived_from_public_key() {
        let a = key(1).verifying_key();
        assert_eq!(key_id(&a).len(), 16);
        assert_eq!(key_id(&a), key_id(&key(1).verifying_key()));
        assert_ne!(key_id(&a), key_id(&key(2).verifying_key()));
    }

    #[test]
    fn retired_keys_still_verify() {
        let old = key(1);
        let new = key(2);
        let old_ring = KeyRing::single(old.clone());
        let sig = old_ring.sign(b"x");
        let ring = KeyRing::new(vec![
            KeySpec {
                signing: None,
                verifying: old.verifying_key(),
                valid_from: "".into(),
                valid_until: "2026-01-01".into(),
                active: false,
            },
            KeySpec {
                signing: Some(new.clone()),
                verifying: new.verifying_key(),
                valid_from: "2026-01-01".into(),
                valid_until: "".into(),
                active: true,
            },
        ])
        .unwrap();
        ring.verify(&key_id(&old.verifying_key()), b"x", &sig).unwrap();
        assert_eq!(ring.active_key_id(), key_id(&new.verifying_key()));
    }

    #[test]
    fn pem_round_trip() {
        let k = key(9);
        let back = signing_key_from_pem(&private_key_pem(&k)).unwrap();
        assert_eq!(back.to_bytes(), k.to_bytes());
        let vk = verifying_key_from_pem(&public_key_pem(&k.verifying_key())).unwrap();
        assert_eq!(vk, k.verifying_key());
    }
}
