//! What a server accepts, for every transport: request sizes, deadlines, requests in
//! progress, and the per-client rate limit of public verification — one token bucket
//! per client IP address, shared by gRPC and HTTP (a client gains nothing by switching).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::import::XlsxLimits;

/// Server limits. Defaults are safe for a service exposed to the internet.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request message accepted, in bytes.
    pub max_request_bytes: usize,
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// Concurrent requests per connection.
    pub concurrency_per_connection: usize,
    /// Requests in progress across all connections; beyond it, requests are refused at
    /// once with RESOURCE_EXHAUSTED instead of queueing.
    pub max_concurrent_requests: usize,
    /// Public verification calls per second per client IP address (0: no limit).
    pub verify_rate_per_client: u32,
    /// Burst of public verification calls a client may make above the rate.
    pub verify_burst_per_client: u32,
    /// Streamed imports (MigrationService) running at once; each may buffer 256 MiB.
    pub max_concurrent_imports: usize,
    /// What an imported XLSX file may unpack to, checked before it is parsed.
    pub xlsx: XlsxLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            concurrency_per_connection: 256,
            max_concurrent_requests: 1024,
            verify_rate_per_client: 50,
            verify_burst_per_client: 100,
            max_concurrent_imports: 2,
            xlsx: XlsxLimits::default(),
        }
    }
}

/// A call refused by the limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rate limit: at most {rate} verification requests per second per client (burst {burst}); retry in {retry_after_secs} s")]
pub struct RateLimited {
    pub rate: f64,
    pub burst: f64,
    /// Seconds until the client's next token.
    pub retry_after_secs: u64,
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

    /// Takes one token for `client`, or refuses.
    pub fn admit(&self, client: Option<IpAddr>, now: Instant) -> Result<(), RateLimited> {
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
            Err(RateLimited {
                rate: self.rate,
                burst: self.burst,
                retry_after_secs: ((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64,
            })
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
        assert!(refused.to_string().contains("per client"));
        assert_eq!(refused.retry_after_secs, 1);
        limiter.admit(Some(b), t0).unwrap();
        limiter.admit(Some(a), t0 + Duration::from_millis(100)).unwrap();
        assert!(limiter.admit(Some(a), t0 + Duration::from_millis(100)).is_err());
        assert!(
            RateLimiter::new(0, 1).admit(Some(a), t0).is_ok(),
            "rate 0 disables the limit"
        );
    }
}
