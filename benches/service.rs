//! End-to-end service benchmark: starts a real server on a port-0 listener over a temp
//! data directory and drives it through the generated client.
//!
//! - IssueLicence with 64 concurrent callers, each acknowledgement durable (group commit)
//! - VerifyLicence with 64 concurrent callers
//! - VerifyLicence and IssueLicence from one caller, one call at a time (latency alone)
//! - the raw Ed25519 sign and verify rates measured in the same run, as the baseline
//! - ListSigningKeys at the same concurrency: the transport's ceiling on this machine
//!
//! `cargo bench --bench service` (env `BENCH_ISSUE`, `BENCH_VERIFY`, `BENCH_CONCURRENCY`,
//! `BENCH_SEQUENTIAL` change the request counts and concurrency).

mod common;

use std::sync::Arc;

use common::{issue_one, licence, list_keys, raw_ed25519, report, run_load, verify_one};
use elicence::api::server::{self, Limits};
use elicence::clock::SystemClock;

/// The allocator the `elicence` binary uses, so the in-process server runs as in production.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The service's own speed: one client sends everything, so the per-client public rate
/// limit is off, and every caller may be in flight.
fn bench_limits(concurrency: usize) -> Limits {
    Limits {
        max_concurrent_requests: concurrency.max(1024),
        verify_rate_per_client: 0,
        ..Limits::default()
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass other flags.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let issue_n = env_usize("BENCH_ISSUE", 30_000);
    let verify_n = env_usize("BENCH_VERIFY", 60_000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 64);
    let sequential_n = env_usize("BENCH_SEQUENTIAL", 2_000);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    println!("machine: {cores} cores; {concurrency} concurrent callers; client and server in one process");
    if std::env::var_os("BENCH_SKIP_RAW").is_none() {
        let sign1 = raw_ed25519(1, true);
        let signn = raw_ed25519(cores, true);
        let verify1 = raw_ed25519(1, false);
        let verifyn = raw_ed25519(cores, false);
        println!("raw Ed25519 sign:   {sign1:>9.0}/s on 1 core, {signn:>9.0}/s on {cores} cores");
        println!("raw Ed25519 verify: {verify1:>9.0}/s on 1 core, {verifyn:>9.0}/s on {cores} cores");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tmp = tempfile::tempdir().unwrap();
        let state = elicence::testing::example_state(
            &tmp.path().join("data"),
            Arc::new(SystemClock),
            elicence::testing::example_directory(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server::run(listener, state, bench_limits(concurrency), None, async {
            let _ = stop_rx.await;
        }));
        let channels = common::channels(&addr.to_string(), 4).await;
        let channels = Arc::new(channels);

        let c = channels.clone();
        let baseline = run_load(verify_n, concurrency, move |i| list_keys(c[i % c.len()].clone())).await;
        report("ListSigningKeys (gRPC baseline):", &baseline, verify_n);

        let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(issue_n)));
        let (c, ids2) = (channels.clone(), ids.clone());
        let issue = run_load(issue_n, concurrency, move |i| {
            let (channel, ids) = (c[i % c.len()].clone(), ids2.clone());
            async move {
                let id = issue_one(channel, format!("bench-{i}"), licence(i)).await;
                ids.lock().unwrap().push(id);
            }
        })
        .await;
        report("IssueLicence (durable ack):", &issue, issue_n);

        let ids = Arc::new(std::mem::take(&mut *ids.lock().unwrap()));
        let (c, ids0) = (channels.clone(), ids.clone());
        let verify = run_load(verify_n, concurrency, move |i| {
            verify_one(c[i % c.len()].clone(), ids0[i % ids0.len()].clone())
        })
        .await;
        report("VerifyLicence:", &verify, verify_n);

        // One caller, one call at a time: the latency a lone client sees, where any
        // per-call stall (e.g. Nagle against delayed ACKs) is not hidden by concurrency.
        let (c, ids1) = (channels.clone(), ids.clone());
        let sequential_verify = run_load(sequential_n, 1, move |i| {
            verify_one(c[0].clone(), ids1[i % ids1.len()].clone())
        })
        .await;
        report("VerifyLicence, 1 caller:", &sequential_verify, sequential_n);
        let c = channels.clone();
        let sequential_issue = run_load(sequential_n / 4, 1, move |i| {
            let channel = c[0].clone();
            async move {
                issue_one(channel, format!("bench-seq-{i}"), licence(issue_n + i)).await;
            }
        })
        .await;
        report("IssueLicence, 1 caller:", &sequential_issue, sequential_n / 4);
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    });
}
