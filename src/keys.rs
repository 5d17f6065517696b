//! Loading the signing key ring from a directory: `keyring.toml` names each key's PEM
//! file, whether it is the active signing key, and its validity window.
//!
//! ```toml
//! example = false          # true only for keys-example/: logs a loud warning
//! [[key]]
//! private = "key-2026-11-27.pem"   # PKCS#8 PEM; omit for a retired key kept public-only
//! public = "key-2026-11-27.pub.pem"
//! active = true
//! valid_from = "2026-11-27"
//! valid_until = ""
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::licence::signing::{self, KeyRing, KeySpec};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyringFile {
    #[serde(default)]
    pub example: bool,
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<String>,
    pub public: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub valid_from: String,
    #[serde(default)]
    pub valid_until: String,
}

/// A loaded key ring and whether it is the development example.
pub struct LoadedKeys {
    pub ring: KeyRing,
    pub example: bool,
}

pub const KEYRING_FILE: &str = "keyring.toml";

/// Loads `dir/keyring.toml`. Private key files readable by group or others are refused
/// unless `allow_insecure` (or the ring is marked `example`, whose keys are public anyway).
pub fn load(dir: &Path, allow_insecure: bool) -> Result<LoadedKeys, String> {
    let path = dir.join(KEYRING_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: KeyringFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut specs = Vec::new();
    for (i, k) in file.keys.iter().enumerate() {
        let public_path = dir.join(&k.public);
        let public_pem = std::fs::read_to_string(&public_path)
            .map_err(|e| format!("key[{i}].public {}: {e}", public_path.display()))?;
        let verifying = signing::verifying_key_from_pem(&public_pem).map_err(|e| format!("key[{i}].public: {e}"))?;
        let signing_key = match &k.private {
            Some(p) => {
                let private_path = dir.join(p);
                check_permissions(&private_path, allow_insecure || file.example)?;
                let pem = std::fs::read_to_string(&private_path)
                    .map_err(|e| format!("key[{i}].private {}: {e}", private_path.display()))?;
                let sk = signing::signing_key_from_pem(&pem).map_err(|e| format!("key[{i}].private: {e}"))?;
                if sk.verifying_key() != verifying {
                    return Err(format!("key[{i}]: private and public keys do not match"));
                }
                Some(sk)
            }
            None => None,
        };
        specs.push(KeySpec {
            signing: signing_key,
            verifying,
            valid_from: k.valid_from.clone(),
            valid_until: k.valid_until.clone(),
            active: k.active,
        });
    }
    let ring = KeyRing::new(specs).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(LoadedKeys {
        ring,
        example: file.example,
    })
}

#[cfg(unix)]
fn check_permissions(path: &Path, allow_insecure: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 && !allow_insecure {
        return Err(format!(
            "{} is readable by other users (mode {:o}); run `chmod 600` on it, or pass --allow-insecure-key-permissions",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _allow_insecure: bool) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_keys_load() {
        let keys = load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/keys-example")), false).unwrap();
        assert!(keys.example);
        assert_eq!(keys.ring.active_key_id().len(), 16);
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_private_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sk = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        std::fs::write(dir.path().join("k.pem"), signing::private_key_pem(&sk)).unwrap();
        std::fs::write(
            dir.path().join("k.pub.pem"),
            signing::public_key_pem(&sk.verifying_key()),
        )
        .unwrap();
        std::fs::set_permissions(dir.path().join("k.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(
            dir.path().join(KEYRING_FILE),
            "[[key]]\nprivate='k.pem'\npublic='k.pub.pem'\nactive=true\n",
        )
        .unwrap();
        let err = load(dir.path(), false).err().unwrap();
        assert!(err.contains("readable by other users"), "{err}");
        assert!(load(dir.path(), true).is_ok());
        std::fs::set_permissions(dir.path().join("k.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(dir.path(), false).is_ok());
    }
}
