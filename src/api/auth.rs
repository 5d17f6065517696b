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

    /// The department calling `method`. A refused call is logged at warn with the peer's
    /// address, the method and why — never the token, nor any hash of it — so that an
    /// operator (or fail2ban) sees who is guessing. Every refusal is logged, as sshd
    /// does: a line per refused call costs no more than the call itself, and thinning
    /// them would hide exactly the addresses an operator needs.
    pub fn authenticate<T>(&self, method: &str, req: &Request<T>) -> Result<Department, ApiError> {
        self.resolve(req).map_err(|refusal| {
            let peer = req
                .remote_addr()
                .map_or_else(|| "unknown".to_string(), |a| a.to_string());
            tracing::warn!(peer = %peer, method, reason = refusal.reason(), "authentication failed");
            ApiError::Unauthenticated(refusal.message().into())
        })
    }

    fn resolve<T>(&self, req: &Request<T>) -> Result<Department, Refusal> {
        let dir = self.current();
        if let Some(value) = req.metadata().get("authorization") {
            let value = value.to_str().map_err(|_| Refusal::HeaderNotText)?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or(Refusal::NotBearer)?;
            return dir.authenticate(token.trim()).cloned().ok_or(Refusal::UnknownToken);
        }
        if let Some(fp) = client_cert_fingerprint(req) {
            return dir.authenticate_cert(&fp).cloned().ok_or(Refusal::UnknownCertificate);
        }
        Err(Refusal::NoCredentials)
    }
}

/// Why a call was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NoCredentials,
    HeaderNotText,
    NotBearer,
    UnknownToken,
    UnknownCertificate,
}

impl Refusal {
    /// For the service log.
    fn reason(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no token and no client certificate",
            Refusal::HeaderNotText | Refusal::NotBearer => "malformed authorization header",
            Refusal::UnknownToken => "unknown or revoked token",
            Refusal::UnknownCertificate => "client certificate not registered to a department",
        }
    }

    /// For the caller.
    fn message(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "missing `authorization: Bearer <token>`",
            Refusal::HeaderNotText => "authorization header is not valid text",
            Refusal::NotBearer => "authorization must be `Bearer <token>`",
            Refusal::UnknownToken => "unknown or revoked token",
            Refusal::UnknownCertificate => "client certificate is not registered to a department",
        }
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
    use crate::catalog::departments::token_hash;

    const A: &str = "[[department]]\nid='a'\nname='A'\ncode='11420800MB1A234561'\ntoken_sha256=['a42d48cd10a61cb3a9f6b73979fa81a6a88c4adaaef782329965c44ab1a7f68d']\n";
    // Same department, token `dev-zjj-token` instead.
    const B: &str = "[[department]]\nid='a'\nname='A'\ncode='11420800MB1A234561'\ntoken_sha256=['9a212bca4a96c0673047c6426b7642790e6f0f80753693446e6eae3f93e7cb4d']\n";

    fn call(handle: &DirectoryHandle, token: &str) -> Result<Department, ApiError> {
        let mut req = Request::new(());
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        handle.authenticate("test/Call", &req)
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

        // Two departments under one code: the whole file is refused, the old one kept.
        let dup = B.to_string() + &B.replace("id='a'", "id='b'").replace("9a212b", "00212b");
        std::fs::write(&path, dup).unwrap();
        let err = handle.reload(&path).unwrap_err();
        assert!(
            err.contains("department[1] (b).code: 11420800MB1A234561 is already the code of department[0] (a)"),
            "{err}"
        );
        assert!(call(&handle, "dev-zjj-token").is_ok(), "previous directory kept");

        std::fs::remove_file(&path).unwrap();
        assert!(handle.reload(&path).is_err());
        assert!(call(&handle, "dev-zjj-token").is_ok());
    }

    /// A log sink for one test's subscriber.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_refused_call_is_logged_with_peer_method_and_reason_but_not_the_token() {
        let handle = DirectoryHandle::new(Directory::parse(A).unwrap());
        let peer: std::net::SocketAddr = "203.0.113.7:51234".parse().unwrap();
        let request = |authorization: Option<&str>| {
            let mut req = Request::new(());
            req.extensions_mut().insert(tonic::transport::server::TcpConnectInfo {
                local_addr: None,
                remote_addr: Some(peer),
            });
            if let Some(a) = authorization {
                req.metadata_mut().insert("authorization", a.parse().unwrap());
            }
            req
        };
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // Another test thread may have registered these callsites while no subscriber
            // was interested in them; make tracing ask this one again.
            tracing::callsite::rebuild_interest_cache();
            let method = "elicence.v1.LicenceService/GetLicence";
            assert!(handle
                .authenticate(method, &request(Some("Bearer guessed-token-17")))
                .is_err());
            assert!(handle.authenticate(method, &request(None)).is_err());
            assert!(handle
                .authenticate(method, &request(Some("Basic c2VjcmV0LXRva2Vu")))
                .is_err());
            assert!(handle
                .authenticate(method, &request(Some("Bearer dev-scjgj-token")))
                .is_ok());
        });
        let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(lines.len(), 3, "{logs}");
        for (line, reason) in lines.iter().zip([
            "unknown or revoked token",
            "no token and no client certificate",
            "malformed authorization header",
        ]) {
            assert!(line.contains("WARN"), "{line}");
            assert!(line.contains("peer=203.0.113.7:51234"), "{line}");
            assert!(
                line.contains("method=\"elicence.v1.LicenceService/GetLicence\""),
                "{line}"
            );
            assert!(line.contains(reason), "{line}");
        }
        let hash = hex::encode(token_hash("guessed-token-17"));
        for secret in ["guessed-token-17", "c2VjcmV0LXRva2Vu", "dev-scjgj-token", hash.as_str()] {
            assert!(!logs.contains(secret), "{secret} logged:\n{logs}");
        }
    }
}
