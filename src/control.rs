//! The operator's control endpoint: a Unix socket inside the data directory, mode 0600,
//! through which `elicence backup` and `elicence check` reach a running server — sled
//! holds the data directory exclusively, so a second process cannot open the store.
//!
//! Protocol: the client sends one line, `backup` or `check`. The server answers `ok`
//! followed by a backup stream (see [`crate::store`]'s backup format) or the check
//! report as text, or one line `error: …`.

use std::future::Future;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::licence::record::rfc3339;
use crate::registry::Registry;
use crate::store::EmbeddedStore;

pub const SOCKET_FILE: &str = "control.sock";

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// A bound control socket; serve it with [`ControlEndpoint::run`].
pub struct ControlEndpoint {
    listener: UnixListener,
    path: PathBuf,
    store: Arc<EmbeddedStore>,
    registry: Arc<Registry>,
}

impl ControlEndpoint {
    /// Binds `<data_dir>/control.sock`, replacing a stale one (the caller holds the
    /// store open, so no other server owns this directory). The socket is created under
    /// a temporary name, restricted to the owner, then renamed into place, so it is
    /// never reachable with wider permissions.
    pub fn bind(
        data_dir: &Path,
        store: Arc<EmbeddedStore>,
        registry: Arc<Registry>,
    ) -> std::io::Result<ControlEndpoint> {
        let path = socket_path(data_dir);
        let tmp = data_dir.join(format!("{SOCKET_FILE}.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, &path)?;
        Ok(ControlEndpoint {
            listener,
            path,
            store,
            registry,
        })
    }

    /// Answers requests until `shutdown` resolves, then removes the socket.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let store = self.store.clone();
                        let registry = self.registry.clone();
                        tokio::spawn(async move {
                            if let Err(e) = answer(stream, store, registry).await {
                                tracing::warn!(error = %e, "control request failed");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "control socket accept failed"),
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn answer(stream: UnixStream, store: Arc<EmbeddedStore>, registry: Arc<Registry>) -> std::io::Result<()> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream);
    (&mut reader).take(64).read_line(&mut line).await?;
    let stream = reader.into_inner().into_std()?;
    stream.set_nonblocking(false)?;
    let command = line.trim().to_string();
    tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::new(stream);
        match command.as_str() {
            "backup" => {
                out.write_all(b"ok\n")?;
                let now = rfc3339(registry.clock().now());
                let started = std::time::Instant::now();
                match store.write_backup(&mut out, &now) {
                    Ok(s) => tracing::info!(
                        entries = s.entries,
                        written_during = s.written_during,
                        millis = started.elapsed().as_millis() as u64,
                        sha256 = %s.sha256,
                        "backup streamed"
                    ),
                    // The stream ends without its trailer; the client refuses it.
                    Err(e) => tracing::error!(error = %e, "backup failed"),
                }
            }
            c if c == "check" || c.starts_with("check ") => match c
                .strip_prefix("check ")
                .map(|b| {
                    use base64::prelude::{Engine, BASE64_STANDARD};
                    BASE64_STANDARD.decode(b.trim())
                })
                .transpose()
            {
                Err(_) => writeln!(out, "error: the expected checkpoint is not base64")?,
                Ok(expected) => match registry.check_against(expected.as_deref()) {
                    Ok(report) => {
                        writeln!(out, "ok")?;
                        for p in &report.problems {
                            writeln!(out, "problem: {p}")?;
                        }
                        writeln!(out, "{report}")?;
                    }
                    Err(e) => writeln!(out, "error: {e}")?,
                },
            },
            other => writeln!(out, "error: unknown command {other:?} (backup, check)")?,
        }
        out.flush()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Connects to the server running on `data_dir`, if one answers.
pub fn connect(data_dir: &Path) -> std::io::Result<Option<std::os::unix::net::UnixStream>> {
    match std::os::unix::net::UnixStream::connect(socket_path(data_dir)) {
        Ok(s) => Ok(Some(s)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
