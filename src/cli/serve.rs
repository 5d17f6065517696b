//! `elicence serve`: open the store, load keys and departments, serve gRPC until
//! SIGINT/SIGTERM, reload the departments file on SIGHUP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::repository::RepositoryArgs;
use crate::api::server::{self, Limits, ServerTlsConfig};
use crate::api::{AppState, DirectoryHandle};
use crate::catalog::Directory;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ELICENCE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Address of the HTTP side: the verification page behind the QR codes, the JSON API
    /// and metrics.
    #[arg(long, env = "ELICENCE_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    pub http_listen: String,
    /// Serve Prometheus metrics (`/metrics`) on this address only, instead of on the
    /// HTTP address beside the public pages.
    #[arg(long, env = "ELICENCE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    #[command(flatten)]
    pub repository: RepositoryArgs,
    /// Department directory (tokens and permissions).
    #[arg(long, env = "ELICENCE_DEPARTMENTS", default_value = "keys-example/departments.toml")]
    pub departments: PathBuf,
    /// Largest request message, in bytes.
    #[arg(long, env = "ELICENCE_MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Per-request deadline, in seconds.
    #[arg(long, env = "ELICENCE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Requests in progress across all clients; more are refused (RESOURCE_EXHAUSTED).
    #[arg(long, env = "ELICENCE_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,
    /// Public verification calls per second per client IP address (0: unlimited).
    #[arg(long, env = "ELICENCE_VERIFY_RATE_PER_CLIENT", default_value_t = 50)]
    pub verify_rate_per_client: u32,
    /// Burst of public verification calls per client IP address above the rate.
    #[arg(long, env = "ELICENCE_VERIFY_BURST_PER_CLIENT", default_value_t = 100)]
    pub verify_burst_per_client: u32,
    /// Streamed imports (MigrationService) running at once; more are refused
    /// (RESOURCE_EXHAUSTED). Each may buffer up to 256 MiB of export.
    #[arg(long, env = "ELICENCE_MAX_CONCURRENT_IMPORTS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_imports: u32,
    /// Threads for the store, signing and rendering work of requests (tokio's blocking
    /// pool); default four per core, at least 8, plus --database-pool-size on a database. Work beyond them waits in a queue, so the
    /// number of threads — and the memory each keeps — stays bounded under load.
    #[arg(long, env = "ELICENCE_BLOCKING_THREADS", value_parser = clap::value_parser!(u32).range(1..))]
    pub blocking_threads: Option<u32>,
    /// Serve TLS with this certificate chain (PEM); needs `--tls-key`.
    #[arg(long, env = "ELICENCE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `--tls-cert`.
    #[arg(long, env = "ELICENCE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates are accepted; a department may then
    /// authenticate by a registered certificate (`client_cert_sha256`) instead of a token.
    #[arg(long, env = "ELICENCE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    // What an uploaded XLSX file may unpack to (--xlsx-max-…).
    #[command(flatten)]
    pub xlsx: super::import::XlsxLimitArgs,
}

/// The TLS configuration the flags ask for, if any.
fn tls_config(args: &ServeArgs) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let client_ca = args.tls_client_ca.as_ref().map(read).transpose()?;
    Ok(Some(server::tls_from_pem(read(cert)?, read(key)?, client_ca)))
}

/// Four blocking threads per core, at least 8. tokio's default (512) let a 32-caller mixed
/// load grow the server to 44 threads, and every thread keeps its own allocator heap: in a
/// 150 s soak on mimalloc v2 the server reached 804 MiB with tokio's default and 473 MiB
/// with 8 threads, at 1,277 and 1,407 operations/s (docs/BENCHMARKS-HISTORY.md). The work is CPU-
/// and store-bound on a few cores, so more threads only queue on sled's locks.
fn default_blocking_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .saturating_mul(4)
        .max(8)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (repo, renderer) = args.repository.open()?;
    if repo.example_keys {
        tracing::warn!(
            keys = %args.repository.keys.display(),
            "RUNNING ON THE EXAMPLE KEYS AND TOKENS FROM keys-example/: anyone can forge licences. \
             Generate real keys with `elicence keygen` before production use."
        );
    }
    let directory = Directory::load(&args.departments)
        .map_err(anyhow::Error::msg)
        .context("loading departments")?;
    let embedded = repo.opened.embedded().cloned();
    let state = AppState {
        registry: repo.registry,
        directory: DirectoryHandle::new(directory),
        renderer,
    };
    let limits = Limits {
        max_request_bytes: args.max_request_bytes,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        max_concurrent_requests: args.max_concurrent_requests,
        verify_rate_per_client: args.verify_rate_per_client,
        verify_burst_per_client: args.verify_burst_per_client,
        max_concurrent_imports: args.max_concurrent_imports as usize,
        xlsx: args.xlsx.limits(),
        ..Limits::default()
    };

    let tls = tls_config(&args)?;

    // On a database, each store call holds its thread for a network round trip: as many
    // more threads as the pool has connections keep them all busy.
    let blocking_threads = args.blocking_threads.map(|n| n as usize).unwrap_or_else(|| {
        default_blocking_threads()
            + match args.repository.store.database_url {
                Some(_) => args.repository.store.database_pool_size as usize,
                None => 0,
            }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(blocking_threads)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("binding {}", args.listen))?;
        let http = tokio::net::TcpListener::bind(&args.http_listen).await.with_context(|| format!("binding {}", args.http_listen))?;
        let shutdown = shutdown_signal()?;
        // One shutdown for both transports.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        tracing::info!(listen = %listener.local_addr()?, tls = tls.is_some(), store = %args.repository.store.describe(), key_id = %state.registry.keys().active_key_id(), "elicence serving");
        tracing::info!(http = %http.local_addr()?, "elicence web serving");
        let mut web_state = crate::web::WebState::new(state.registry.clone(), limits.clone());
        let metrics = match &args.metrics_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
                tracing::info!(metrics = %listener.local_addr()?, "metrics serving");
                web_state = web_state.without_metrics();
                Some(tokio::spawn(crate::web::run_metrics(listener, state.registry.clone(), until_stopped())))
            }
            None => None,
        };
        let web = tokio::spawn(crate::web::run(http, web_state, until_stopped()));
        spawn_reload_on_sighup(state.directory.clone(), args.departments.clone());
        // Backups and checks of a running embedded store go through this socket (a
        // database is backed up and checked directly).
        #[cfg(unix)]
        let control = match (embedded, args.repository.store.embedded_dir()) {
            (Some(store), Some(data_dir)) => {
                let endpoint = crate::control::ControlEndpoint::bind(data_dir, store, state.registry.clone())
                    .with_context(|| format!("binding the control socket in {}", data_dir.display()))?;
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                Some((tokio::spawn(endpoint.run(async move { let _ = stopped.await; })), stop))
            }
            _ => None,
        };
        // Checkpoints of the transparency log: every second while it grows, and a last
        // one once both servers have stopped (nothing more is written then).
        let (servers_done, all_stopped) = tokio::sync::oneshot::channel::<()>();
        let checkpointer = tokio::spawn(crate::registry::log::run_checkpointer(
            state.registry.clone(),
            args.repository.log_origin(),
            async move {
                let _ = all_stopped.await;
            },
        ));
        server::run(listener, state, limits, tls, until_stopped()).await?;
        web.await.context("HTTP server")?.context("HTTP server")?;
        let _ = servers_done.send(());
        let _ = checkpointer.await;
        if let Some(m) = metrics {
            m.await.context("metrics server")?.context("metrics server")?;
        }
        #[cfg(unix)]
        if let Some((task, stop)) = control {
            let _ = stop.send(());
            let _ = task.await;
        }
        tracing::info!("stopped; store flushed");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled: a signal that arrives as soon as the server reports
/// it is serving still shuts it down gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested; draining requests");
    })
}

/// On SIGHUP, reloads the departments file; a bad file is rejected and the old one kept.
fn spawn_reload_on_sighup(handle: DirectoryHandle, path: PathBuf) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match handle.reload(&path) {
                Ok(n) => tracing::info!(departments = n, "reloaded departments file"),
                Err(e) => {
                    tracing::error!(error = %e, "departments file rejected; keeping the previous one")
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (handle, path);
}
