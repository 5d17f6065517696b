//! The HTTP side: the citizen's verification page behind the QR code, the JSON API for
//! integrators, and metrics. It calls the service layer (`registry`), never `api`, so a
//! public answer is built by one code path whatever the transport. Public routes only:
//! no cookies, no request to any other host, a strict Content-Security-Policy.

mod answer;
mod api;
mod error;
mod log;
mod page;
mod text;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use answer::VerifyAnswer;
pub use api::{presented, VerifyRequest};
pub use error::WebError;

use crate::limits::Limits;
use crate::registry::Registry;

/// Largest JSON body of a verification request: a QR text is at most 4 KiB.
const MAX_VERIFY_BODY: usize = 16 * 1024;
/// Largest PDF accepted for verification: a rendered licence is under 150 KB.
const MAX_PDF_BODY: usize = 2 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct WebState {
    pub registry: Arc<Registry>,
    pub limits: Arc<Limits>,
    in_progress: Arc<Semaphore>,
    /// Whether `/metrics` is served here (not when it has a listener of its own).
    metrics_here: bool,
}

impl WebState {
    pub fn new(registry: Arc<Registry>, limits: Limits) -> WebState {
        WebState {
            in_progress: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            limits: Arc::new(limits),
            registry,
            metrics_here: true,
        }
    }

    /// `/metrics` is then served only by [`run_metrics`], on the operator's own listener.
    pub fn without_metrics(mut self) -> WebState {
        self.metrics_here = false;
        self
    }
}

/// `GET /metrics`: the Prometheus text exposition.
async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    let licences =
        tokio::task::spawn_blocking(move || crate::store::on_blocking_pool(|| registry.store().approximate_licences()))
            .await
            .ok()
            .flatten();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::METRICS.render(licences),
    )
        .into_response()
}

fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(registry)
}

/// Serves only `/metrics` on `listener` (`serve --metrics-listen`) until `shutdown`.
pub async fn run_metrics(
    listener: TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = graceful(shutdown);
    let server = axum::serve(listener, metrics_router(registry)).with_graceful_shutdown(stop);
    bounded(server.into_future(), stopped).await
}

/// How long requests in progress (and clients holding connections open) may keep a
/// stopping server waiting.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// `shutdown`, and a future that resolves [`SHUTDOWN_GRACE`] after it did.
fn graceful(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        shutdown.await;
        let _ = tx.send(());
    };
    let grace_over = async move {
        if rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    (stop, grace_over)
}

/// Runs `server` until it has drained, or until the grace after shutdown is over (a
/// browser may hold a keep-alive connection open for minutes).
async fn bounded(
    server: impl Future<Output = std::io::Result<()>>,
    grace_over: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::select! {
        r = server => r,
        () = grace_over => {
            tracing::warn!(
                "HTTP connections still open {} s after shutdown; closing them",
                SHUTDOWN_GRACE.as_secs()
            );
            Ok(())
        }
    }
}

/// Every route, with the limits and headers every answer gets.
pub fn router(state: WebState) -> Router {
    let metrics = if state.metrics_here {
        metrics_router(state.registry.clone())
    } else {
        Router::new()
    };
    Router::new()
        .route(
            "/api/v1/verify",
            post(api::verify).layer(DefaultBodyLimit::max(MAX_VERIFY_BODY)),
        )
        .route(
            "/api/v1/verify-pdf",
            post(api::verify_pdf).layer(DefaultBodyLimit::max(MAX_PDF_BODY)),
        )
        .route("/api/v1/keys", get(api::keys))
        .route("/api/v1/log/checkpoint", get(log::checkpoint_json))
        .route("/api/v1/log/inclusion", get(log::inclusion))
        .route("/api/v1/log/consistency", get(log::consistency))
        .route("/log/checkpoint", get(log::checkpoint_note))
        .route("/log/tile/{*path}", get(log::tile))
        .route("/v/{payload}", get(page::payload_page))
        .route("/v", get(page::form).post(page::form_answer))
        .route("/v/", get(page::form))
        .route("/", get(page::form))
        .route("/static/{*name}", get(page::static_file))
        .fallback(not_found)
        .with_state(state.clone())
        .merge(metrics)
        .layer(middleware::from_fn_with_state(state, admission))
        .layer(middleware::from_fn(secure_headers))
}

async fn not_found(uri: Uri) -> WebError {
    WebError::NotFound(uri.path().chars().take(64).collect())
}

/// Sheds a request beyond `max_concurrent_requests` at once (503), and answers 503 for
/// one still running at its deadline (the request's work on the blocking pool finishes
/// on its own; its answer is dropped).
async fn admission(State(state): State<WebState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    // The route's template, never the path itself (a payload, an identifier).
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let response = admitted(&state, req, next).await;
    crate::metrics::METRICS.request("http", &route, response.status().as_str(), started.elapsed());
    response
}

async fn admitted(state: &WebState, req: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_progress.try_acquire() else {
        crate::metrics::METRICS.shed("http");
        tracing::warn!(
            max = state.limits.max_concurrent_requests,
            "HTTP request shed: too many in progress"
        );
        return WebError::Busy(format!(
            "server busy: {} requests already in progress; retry with backoff",
            state.limits.max_concurrent_requests
        ))
        .into_response();
    };
    match tokio::time::timeout(state.limits.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => WebError::Busy(format!(
            "the request took longer than {} s; retry later",
            state.limits.request_timeout.as_secs()
        ))
        .into_response(),
    }
}

/// No cookies are ever set; nothing is loaded from another origin; nothing is framed,
/// sniffed or cached by a shared cache.
async fn secure_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Routes are matched without regard to case, so that an upper-case URL (which keeps a
/// QR code in its dense alphanumeric mode) opens the same page: every path segment is
/// lower-cased except the QR text after `/v/`.
fn route_case(mut req: Request) -> Request {
    let uri = req.uri();
    let path = uri.path();
    if !path.bytes().any(|b| b.is_ascii_uppercase()) {
        return req;
    }
    let mut out = String::with_capacity(path.len());
    let mut segments = path.split('/').peekable();
    let mut page = false;
    while let Some(segment) = segments.next() {
        if page {
            out.push_str(segment);
        } else {
            out.push_str(&segment.to_ascii_lowercase());
            page = segment.eq_ignore_ascii_case("v");
        }
        if segments.peek().is_some() {
            out.push('/');
        }
    }
    if let Some(q) = uri.query() {
        out.push('?');
        out.push_str(q);
    }
    if let Ok(pq) = out.parse::<axum::http::uri::PathAndQuery>() {
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Runs blocking work (store reads, signature checks) off the async executor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, WebError>
where
    F: FnOnce() -> Result<T, WebError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || crate::store::on_blocking_pool(f))
        .await
        .map_err(|e| WebError::Internal(format!("worker failed: {e}")))?
}

/// Serves HTTP on `listener` until `shutdown` resolves, then lets requests in progress
/// finish.
pub async fn run(
    listener: TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::ServiceExt;
    use tower::Layer;
    let app = tower::util::MapRequestLayer::new(route_case).layer(router(state));
    let (stop, stopped) = graceful(shutdown);
    let server =
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(stop);
    bounded(server.into_future(), stopped).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(p: &str) -> String {
        let req = Request::builder().uri(p).body(axum::body::Body::empty()).unwrap();
        route_case(req).uri().to_string()
    }

    #[test]
    fn routes_ignore_case_but_the_payload_keeps_it() {
        assert_eq!(path_of("/V/ELC1:ABC2"), "/v/ELC1:ABC2");
        assert_eq!(path_of("/v/ELC1:ABC2"), "/v/ELC1:ABC2");
        assert_eq!(path_of("/API/V1/KEYS"), "/api/v1/keys");
        assert_eq!(path_of("/Api/v1/Verify?LANG=EN"), "/api/v1/verify?LANG=EN");
        assert_eq!(path_of("/metrics"), "/metrics");
    }
}
