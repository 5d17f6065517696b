//! Admission control: a process-wide cap on requests in progress that sheds the excess
//! at once (RESOURCE_EXHAUSTED) instead of queueing it into memory, and a per-client
//! token bucket for the public verification service.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

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

/// Per-client token buckets: `rate` requests a second on average, bursts up to `burst`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Clients remembered at most; past that, idle ones are forgotten first.
const MAX_CLIENTS: usize = 100_000;

impl RateLimiter {
    /// `rate` 0 disables the limit.
    pub fn new(rate: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: rate as f64,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client`, or refuses with RESOURCE_EXHAUSTED.
    pub fn admit(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Status> {
        let Some(ip) = client else { return Ok(()) };
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&ip) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Status::resource_exhausted(format!(
                "rate limit: at most {} verification requests per second per client (burst {}); retry later",
                self.rate, self.burst
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_the_rate_and_clients_are_separate() {
        let limiter = RateLimiter::new(10, 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.admit(Some(a), t0).unwrap();
        }
        let refused = limiter.admit(Some(a), t0).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("per client"));
        limiter.admit(Some(b), t0).unwrap();
        limiter.admit(Some(a), t0 + Duration::from_millis(100)).unwrap();
        assert!(limiter.admit(Some(a), t0 + Duration::from_millis(100)).is_err());
        assert!(
            RateLimiter::new(0, 1).admit(Some(a), t0).is_ok(),
            "rate 0 disables the limit"
        );
    }
}
