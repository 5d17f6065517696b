//! The process's Prometheus metrics (`GET /metrics`): requests and their latency per
//! RPC or route and status code, the store's committed write groups and their sizes,
//! fsync latency, rate-limit and load sheds, and the licences stored. One registry for
//! the process, as Prometheus clients keep it; the labels never carry a payload, an
//! identifier or anything else a caller chose (an HTTP route is its template).

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `grpc` or `http`.
    pub transport: &'static str,
    /// The full gRPC method, or the HTTP route template (`/v/{payload}`).
    pub route: String,
    /// The gRPC status name, or the HTTP status code.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub transport: &'static str,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabels {
    pub transport: &'static str,
}

fn latency() -> Histogram {
    // 0.25 ms … 16 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 17))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    rate_limited: Family<TransportLabels, Counter>,
    shed: Family<TransportLabels, Counter>,
    commit_groups: Counter,
    commit_group_writes: Histogram,
    fsync: Histogram,
    licences: Gauge,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("elicence");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by transport, route and status code",
            requests.clone(),
        );
        let durations =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency as fn() -> Histogram);
        registry.register(
            "request_duration_seconds",
            "Time to answer a request (to the first response bytes for a stream)",
            durations.clone(),
        );
        let rate_limited = Family::<TransportLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Public calls refused by the per-client rate limit",
            rate_limited.clone(),
        );
        let shed = Family::<TransportLabels, Counter>::default();
        registry.register(
            "shed",
            "Requests refused because too many were in progress",
            shed.clone(),
        );
        let commit_groups = Counter::default();
        registry.register(
            "commit_groups",
            "Write groups committed by the embedded store's committer",
            commit_groups.clone(),
        );
        let commit_group_writes = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "commit_group_writes",
            "Writes per committed group",
            commit_group_writes.clone(),
        );
        let fsync = latency();
        registry.register(
            "fsync_seconds",
            "Time of the embedded store's durable flushes (fdatasync)",
            fsync.clone(),
        );
        let licences = Gauge::default();
        registry.register(
            "licences_stored",
            "Licence records in the store (an estimate on PostgreSQL)",
            licences.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            rate_limited,
            shed,
            commit_groups,
            commit_group_writes,
            fsync,
            licences,
        }
    }

    pub fn request(&self, transport: &'static str, route: &str, code: &str, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                transport,
                route: route.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                transport,
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn rate_limited(&self, transport: &'static str) {
        self.rate_limited.get_or_create(&TransportLabels { transport }).inc();
    }

    pub fn shed(&self, transport: &'static str) {
        self.shed.get_or_create(&TransportLabels { transport }).inc();
    }

    pub fn commit_group(&self, writes: usize) {
        self.commit_groups.inc();
        self.commit_group_writes.observe(writes as f64);
    }

    pub fn fsync(&self, took: Duration) {
        self.fsync.observe(took.as_secs_f64());
    }

    /// The text exposition, with `licences` as the stored count.
    pub fn render(&self, licences: Option<u64>) -> String {
        if let Some(n) = licences {
            self.licences.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
