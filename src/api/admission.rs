//! Admission control: a process-wide cap on requests in progress that sheds the excess
//! at once (RESOURCE_EXHAUSTED) instead of queueing it into memory. (The per-client
//! rate limit of public verification is `crate::limits`, shared with HTTP.)

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codegen::http;
use tonic::Status;

/// Tower layer: at most `max` requests in progress across every connection and service.
#[derive(Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
    max: usize,
}

impl ShedLayer {
    pub fn new(max: usize) -> ShedLayer {
        ShedLayer {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

impl<S> tower_layer::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            permits: self.permits.clone(),
            max: self.max,
        }
    }
}

#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
    max: usize,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tonic::codegen::Service<http::Request<B>> for Shed<S>
where
    S: tonic::codegen::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let permit: Option<OwnedSemaphorePermit> = self.permits.clone().try_acquire_owned().ok();
        match permit {
            Some(permit) => {
                let fut = self.inner.call(req);
                Box::pin(async move {
                    let r = fut.await;
                    drop(permit);
                    r
                })
            }
            None => {
                let max = self.max;
                crate::metrics::METRICS.shed("grpc");
                tracing::warn!(max, "request shed: too many requests in progress");
                Box::pin(async move {
                    Ok(Status::resource_exhausted(format!(
                        "server busy: {max} requests already in progress (--max-concurrent-requests); retry with backoff"
                    ))
                    .into_http())
                })
            }
        }
    }
}

impl From<crate::limits::RateLimited> for Status {
    fn from(r: crate::limits::RateLimited) -> Status {
        Status::resource_exhausted(r.to_string())
    }
}

/// Tower layer: counts every gRPC call by method and status, and its latency (to the
/// response's head: a stream's first message).
#[derive(Clone, Default)]
pub struct MetricsLayer;

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = Measured<S>;

    fn layer(&self, inner: S) -> Measured<S> {
        Measured { inner }
    }
}

#[derive(Clone)]
pub struct Measured<S> {
    inner: S,
}

impl<S, B> tonic::codegen::Service<http::Request<B>> for Measured<S>
where
    S: tonic::codegen::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let started = std::time::Instant::now();
        // Only the service's own methods are named; anything else is one label.
        let path = req.uri().path();
        let route = if path.starts_with("/elicence.v1.") || path.starts_with("/grpc.") {
            path.to_string()
        } else {
            "other".to_string()
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            // A failed unary call answers with its status in the head (trailers-only); a
            // successful one carries it in the trailers, after the body.
            let code = match &r {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or("OK", |c| super::code_name(tonic::Code::from(c))),
                Err(_) => "TRANSPORT_ERROR",
            };
            crate::metrics::METRICS.request("grpc", &route, code, started.elapsed());
            r
        })
    }
}
