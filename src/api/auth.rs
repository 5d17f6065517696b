//! Authentication: `authorization: Bearer <token>` (or a client certificate under mTLS)
//! resolved against the department directory, which can be swapped at runtime (reload).

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
