//! Authentication: `authorization: Bearer <token>` (or a client certificate under mTLS)
//! resolved against the department directory, which can be swapped at runtime (reload).

use std::path::Path;
use std::sync::{Arc, RwLock};

use tonic::Request;

use super::ApiError;
use crate::catalog::{Department, Directory};

/// The current directory; replaced atomically on reload.
#[derive(Clone, Default)]
pub struct DirectoryHandle(Arc<RwLock<Arc<Directory>>>);

impl DirectoryHandle {
    pub fn new(d: Directory) -> DirectoryHandle {
        DirectoryHandle(Arc::new(RwLock::new(Arc::new(d))))
    }

    pub fn current(&self) -> Arc<Directory> {
        self.0.read().expect("directory lock").clone()
    }

    pub fn replace(&self, d: Directory) {
        *self.0.write().expect("directory lock") = Arc::new(d);
    }

    /// Re-reads the departments file. A file that does not load is rejected and the
    /// directory in use is kept. Returns the number of departments now in effect.
    pub fn reload(&self, path: &Path) -> Result<usize, String> {
        let d = Directory::load(path)?;
        let n = d.departments().len();
        self.replace(d);
        Ok(n)
    }

    /// The calling department. Never logs the token.
    pub fn authenticate<T>(&self, req: &Request<T>) -> Result<Department, ApiError> {
        let dir = self.current();
        if let Some(value) = req.metadata().get("authorization") {
            let value = value
                .to_str()
                .map_err(|_| ApiError::Unauthenticated("authorization header is not valid text".into()))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(|| ApiError::Unauthenticated("authorization must be `Bearer <token>`".into()))?;
            return dir
                .authenticate(token.trim())
                .cloned()
                .ok_or_else(|| ApiError::Unauthenticated("unknown or revoked token".into()));
        }
        if let Some(fp) = client_cert_fingerprint(req) {
            if let Some(d) = dir.authenticate_cert(&fp) {
                return Ok(d.clone());
            }
            return Err(ApiError::Unauthenticated(
                "client certificate is not registered to a department".into(),
            ));
        }
        Err(ApiError::Unauthenticated(
            "missing `authorization: Bearer <token>`".into(),
        ))
    }
}

fn client_cert_fingerprint<T>(req: &Request<T>) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let certs = req.peer_certs()?;
    let leaf = certs.first()?;
    Some(Sha256::digest(leaf.as_ref()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "[[department]]\nid='a'\nname='A'\ncode='11420800MB1A234561'\ntoken_sha256=['a42d48cd10a61cb3a9f6b73979fa81a6a88c4adaaef782329965c44ab1a7f68d']\n";
    // Same department, token `dev-zjj-token` instead.
    const B: &str = "[[department]]\nid='a'\nname='A'\ncode='11420800MB1A234561'\ntoken_sha256=['9a212bca4a96c0673047c6426b7642790e6f0f80753693446e6eae3f93e7cb4d']\n";

    fn call(handle: &DirectoryHandle, token: &str) -> Result<Department, ApiError> {
        let mut req = Request::new(());
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        handle.authenticate(&req)
    }

    #[test]
    fn reload_takes_effect_and_a_bad_file_keeps_the_old_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("departments.toml");
        std::fs::write(&path, A).unwrap();
        let handle = DirectoryHandle::new(Directory::load(&path).unwrap());
        assert!(call(&handle, "dev-scjgj-token").is_ok());

        std::fs::write(&path, B).unwrap();
        assert_eq!(handle.reload(&path), Ok(1));
        assert!(call(&handle, "dev-scjgj-token").is_err(), "old token revoked");
        assert!(call(&handle, "dev-zjj-token").is_ok(), "new token accepted");

        std::fs::write(&path, "[[department]]\nid='a'\nname='A'\ncode='bad'\n").unwrap();
        let err = handle.reload(&path).unwrap_err();
        assert!(err.contains("code"), "{err}");
        assert!(call(&handle, "dev-zjj-token").is_ok(), "previous directory kept");

        std::fs::remove_file(&path).unwrap();
        assert!(handle.reload(&path).is_err());
        assert!(call(&handle, "dev-zjj-token").is_ok());
    }
}
