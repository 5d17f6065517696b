//! The licence domain: the record and its validation, the national identifier, holder
//! codes, lifecycle, and canonical signing. Knows nothing of gRPC or storage.

pub mod canonical;
pub mod codes;
pub mod identifier;
pub mod key_list;
pub mod public;
pub mod qr;
pub mod record;
pub mod secrets;
pub mod signing;
pub mod status;
pub mod text;

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
        SignedRecord {
            bytes,
            signature,
            key_id: keys.active_key_id().to_string(),
        }
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

#[cfg(test)]
mod worked_example {
    //! The worked example in `docs/VERIFYING.md` comes from `docs/verifying-example.json`,
    //! which this test reproduces byte for byte (regenerate with
    //! `ELICENCE_WRITE_DOC_EXAMPLE=1 cargo test worked_example`).
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn docs_worked_example_is_reproducible() {
        let keys = KeyRing::single(SigningKey::from_bytes(&[7u8; 32]));
        let (valid, _) = record::tests::sample_draft().validate(CheckDigits::Strict).unwrap();
        let id = LicenceId::new("11100000000013338W011", "11110000000021135M", "20260000001", 1).unwrap();
        // Fixed secrets, so the example is reproducible; real records get random ones.
        let secrets = secrets::RecordSecrets {
            salt: "5f3c9a0e7d21b4c86e0f1a2b3c4d5e6f".into(),
            verification_code: "7K3M9Q2XP4".into(),
        };
        let licence = valid.into_licence_with(
            &id,
            "营业执照",
            keys.active_key_id(),
            time::macros::datetime!(2026-03-01 08:00 UTC),
            secrets,
        );
        let signed = SignedRecord::sign(&licence, &keys);
        let public_key = keys.public_keys()[0].public_key;
        let example = serde_json::json!({
            "key_id": signed.key_id,
            "public_key_hex": hex::encode(public_key),
            "signed_record_utf8": String::from_utf8(signed.bytes.clone()).unwrap(),
            "signed_record_hex": hex::encode(&signed.bytes),
            "signature_hex": hex::encode(signed.signature),
            "digest_sha256_hex": hex::encode(signed.digest()),
        });
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verifying-example.json");
        let text = serde_json::to_string_pretty(&example).unwrap() + "\n";
        if std::env::var_os("ELICENCE_WRITE_DOC_EXAMPLE").is_some() {
            std::fs::write(path, &text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            text,
            "docs/verifying-example.json is stale"
        );
        assert_eq!(
            signing::key_id(&ed25519_dalek::VerifyingKey::from_bytes(&public_key).unwrap()),
            signed.key_id
        );
    }
}
