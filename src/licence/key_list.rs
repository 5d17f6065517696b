//! The published key list: every signing key's public half with its validity window,
//! signed by the active key. One form for the file (`elicence keys export`), the HTTP
//! API (`GET /api/v1/keys`) and the verification page; `docs/VERIFYING.md` says how to
//! check it.

use serde::{Deserialize, Serialize};

use super::signing::{self, KeyRing, PublicKeyInfo};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyListEntry {
    pub key_id: String,
    pub public_key_hex: String,
    /// RFC 3339 date.
    pub valid_from: String,
    /// RFC 3339 date; empty while the key is in use.
    pub valid_until: String,
    /// The key that signs new records.
    pub active: bool,
}

/// `signature_hex` is Ed25519 by `signed_by` over the RFC 8785 canonical JSON of `keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedKeyList {
    pub keys: Vec<KeyListEntry>,
    pub signed_by: String,
    pub signature_hex: String,
}

impl SignedKeyList {
    /// The ring's public keys, signed by its active key.
    pub fn of(ring: &KeyRing) -> Result<SignedKeyList, serde_json::Error> {
        let keys: Vec<KeyListEntry> = ring
            .public_keys()
            .into_iter()
            .map(|k| KeyListEntry {
                key_id: k.key_id,
                public_key_hex: hex::encode(k.public_key),
                valid_from: k.valid_from,
                valid_until: k.valid_until,
                active: k.active,
            })
            .collect();
        let bytes = serde_jcs::to_vec(&keys)?;
        Ok(SignedKeyList {
            keys,
            signed_by: ring.active_key_id().to_string(),
            signature_hex: hex::encode(ring.sign(&bytes)),
        })
    }
}

/// Why a key list was refused.
#[derive(Debug, thiserror::Error)]
#[error("key list: {0}")]
pub struct KeyListError(String);

fn refuse<T>(why: impl Into<String>) -> Result<T, KeyListError> {
    Err(KeyListError(why.into()))
}

/// Reads a key list and checks its signature; with `trusted` key ids (obtained out of
/// band, e.g. from the bureau's website), its signer must be one of them — a list that
/// only signs itself proves nothing about who made it. Sees hostile input (the fuzz
/// target in `fuzz/` calls it).
pub fn parse_key_list(text: &str, trusted: &[String]) -> Result<Vec<PublicKeyInfo>, KeyListError> {
    let file: SignedKeyList = serde_json::from_str(text).map_err(|e| KeyListError(format!("not a key list: {e}")))?;
    let mut keys = Vec::new();
    for k in &file.keys {
        let Some(public_key) = hex::decode(&k.public_key_hex)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            return refuse(format!("key {}: public_key_hex is not 32 bytes", k.key_id));
        };
        let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&public_key) else {
            return refuse(format!("key {}: not an Ed25519 public key", k.key_id));
        };
        if signing::key_id(&vk) != k.key_id {
            return refuse(format!("key id {} does not match its public key", k.key_id));
        }
        keys.push(PublicKeyInfo {
            key_id: k.key_id.clone(),
            public_key,
            valid_from: k.valid_from.clone(),
            valid_until: k.valid_until.clone(),
            active: k.active,
        });
    }
    if !trusted.is_empty() && !trusted.contains(&file.signed_by) {
        return refuse(format!(
            "signed by {}, which is not a trusted key id ({})",
            file.signed_by,
            trusted.join(", ")
        ));
    }
    let Some(signer) = keys.iter().find(|k| k.key_id == file.signed_by) else {
        return refuse("its signer is not in the list");
    };
    let Ok(signature) = hex::decode(&file.signature_hex) else {
        return refuse("signature_hex is not hex");
    };
    let bytes = serde_jcs::to_vec(&file.keys).map_err(|e| KeyListError(e.to_string()))?;
    signing::verify_with(&signer.public_key, &bytes, &signature)
        .map_err(|e| KeyListError(format!("not genuine: {e}")))?;
    Ok(keys)
}
