//! The licence domain: the record and its validation, the national identifier, holder
//! codes, lifecycle, and canonical signing. Knows nothing of gRPC or storage.

pub mod codes;
pub mod identifier;
pub mod qr;
pub mod record;
pub mod signing;
pub mod status;

pub use identifier::LicenceId;
pub use record::{CheckDigits, Field, Invalid, Licence, LicenceDraft, Provenance, Seal};
pub use signing::KeyRing;
pub use status::LicenceStatus;

/// A record together with the exact bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecord {
    /// Canonical JSON (RFC 8785) of the [`Licence`].
    pub bytes: Vec<u8>,
    pub signature: [u8; 64],
    pub key_id: String,
}

impl SignedRecord {
    /// Signs a licence with the ring's active key. The licence's `key_id` must be the
    /// active key's id (set when the record was built).
    pub fn sign(licence: &Licence, keys: &KeyRing) -> SignedRecord {
        debug_assert_eq!(licence.key_id, keys.active_key_id());
        let bytes = licence.canonical_bytes();
        let signature = keys.sign(&bytes);
        SignedRecord { bytes, signature, key_id: keys.active_key_id().to_string() }
    }

    pub fn digest(&self) -> [u8; 32] {
        signing::digest(&self.bytes)
    }

    /// Authentic when the signature verifies and the bytes decode to a record that names
    /// the same key.
    pub fn verify(&self, keys: &KeyRing) -> Result<Licence, signing::SignatureError> {
        keys.verify(&self.key_id, &self.bytes, &self.signature)?;
        let licence = Licence::from_canonical(&self.bytes).map_err(|_| signing::SignatureError::BadSignature)?;
        if licence.key_id != self.key_id {
            return Err(signing::SignatureError::BadSignature);
        }
        Ok(licence)
    }
}
