//! Queries at scale: a store of `BENCH_LICENCES` migrated licences (default 1,000,000;
//! generated with `elicence gen-sample` and imported with the real `elicence import`),
//! then a real server over it driven through the generated client by a department:
//!
//! - GetLicence by licence type and number, 32 concurrent callers and 1 caller
//! - QueryLicences by holder (first page of 20), 32 concurrent callers and 1 caller
//!
//! Each call is authenticated and written to the access audit log, as in production.
//! Probes are real licences picked from the store at random. Also printed: the store's
//! size on disk per licence (the data directory, indexes, events and journal included),
//! and the raw Ed25519 rates of the same run as the baseline.
//!
//! `cargo bench --bench query` (env `BENCH_LICENCES`, `BENCH_QUERIES` per measurement,
//! default 100000; `BENCH_CONCURRENCY`, default 32; `BENCH_DIR` keeps the generated
//! store between runs, default a temp directory).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{raw_ed25519, report, run_load};
use elicence::api::pb::licence_service_client::LicenceServiceClient;
use elicence::api::pb::{self, GetLicenceRequest, QueryLicencesRequest};
use elicence::api::server::{self, Limits};
use elicence::clock::SystemClock;
use elicence::licence::Licence;
use elicence::store::IndexQuery;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BIN: &str = env!("CARGO_BIN_EXE_elicence");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// 政务服务中心 in the example directory: reads every type.
const TOKEN: &str = "Bearer dev-zwfw-token";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Generates and imports `n` rows into `data` unless it is there already.
fn build_store(dir: &Path, data: &Path, n: usize) {
    if data.exists() {
        println!("store: reusing {}", data.display());
        return;
    }
    let sample = dir.join(format!("sample-{n}.csv"));
    if !sample.exists() {
        let ok = Command::new(BIN)
            .args(["gen-sample", "--rows", &n.to_string(), "--format", "csv-gbk", "--out"])
            .arg(&sample)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("gen-sample")
            .success();
        assert!(ok, "gen-sample failed");
    }
    let started = std::time::Instant::now();
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .arg("import")
        .arg(&sample)
        .args(["--mapping", "templates/mappings/sample.toml", "--allow-rejects"])
        .arg("--data-dir")
        .arg(data)
        .arg("--rejects")
        .arg(dir.join("rejects.csv"))
        .output()
        .expect("elicence import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed:\n{stderr}");
    if let Some(summary) = stderr.lines().find(|l| l.contains("rows read")) {
        println!("store: {summary}");
    }
    println!("store: imported in {:.1} s", started.elapsed().as_secs_f64());
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // As the CLI does: files the in-process server creates in the store stay private, so
    // `serve` (the soak on this store) accepts the directory.
    // SAFETY: umask only sets this process's file-creation mask.
    unsafe { libc::umask(0o077) };
    let n = env_usize("BENCH_LICENCES", 1_000_000);
    let queries = env_usize("BENCH_QUERIES", 100_000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 32);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bench dir");
    let data = dir.join(format!("query-data-{n}"));
    build_store(&dir, &data, n);

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("machine: {cores} cores; {concurrency} concurrent callers; client and server in one process");
    println!(
        "raw Ed25519: sign {:.0}/s, verify {:.0}/s on {cores} cores",
        raw_ed25519(cores, true),
        raw_ed25519(cores, false)
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let state =
            elicence::testing::example_state(&data, Arc::new(SystemClock), elicence::testing::example_directory());
        // Probes: licences spread over every type, read back from the store.
        let store = state.registry.store().clone();
        let mut probes: Vec<(String, String, String, String)> = Vec::new();
        let mut stored = 0usize;
        for t in state.registry.list_types() {
            let q = IndexQuery::Type {
                type_code: t.code.clone(),
                from: String::new(),
                to: "9999-12-31".into(),
            };
            let mut after = None;
            loop {
                let page = store.query(&q, after.as_deref(), 10_000).unwrap();
                stored += page.identifiers.len();
                for (i, id) in page.identifiers.iter().enumerate() {
                    if i % 97 == 0 {
                        let rec = store.get(id).unwrap().expect("indexed record");
                        let l = Licence::from_canonical(&rec.bytes).unwrap();
                        probes.push((l.licence_type_code, l.licence_number, l.holder_code_type, l.holder_code));
                    }
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        let disk = dir_bytes(&data);
        println!(
            "store: {stored} licences, {:.0} MB on disk, {:.0} bytes per licence (indexes, events, journal included)",
            disk as f64 / 1e6,
            disk as f64 / stored.max(1) as f64
        );
        // Shuffle deterministically so consecutive calls hit unrelated keys.
        let len = probes.len();
        for i in 0..len {
            let j = (i.wrapping_mul(2_654_435_761) ^ 0x9e37) % len;
            probes.swap(i, j);
        }
        let probes = Arc::new(probes);
        println!("probes: {len} licences");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let limits = Limits {
            max_concurrent_requests: 1024,
            verify_rate_per_client: 0,
            ..Limits::default()
        };
        let server = tokio::spawn(server::run(listener, state, limits, None, async {
            let _ = stop_rx.await;
        }));
        let channels = common::channels(&addr.to_string(), 4).await;
        let channels = Arc::new(channels);

        for (label, callers, count) in [
            ("GetLicence by number:", concurrency, queries),
            ("GetLicence by number, 1 caller:", 1, queries / 20),
        ] {
            let (c, p) = (channels.clone(), probes.clone());
            let s = run_load(count, callers, move |i| {
                let (channel, (t, number, _, _)) = (c[i % c.len()].clone(), p[i % p.len()].clone());
                async move {
                    let mut req = tonic::Request::new(GetLicenceRequest {
                        licence_type_code: t,
                        licence_number: number,
                        use_cause: "基准测试".into(),
                        ..Default::default()
                    });
                    req.metadata_mut().insert("authorization", TOKEN.parse().unwrap());
                    LicenceServiceClient::new(channel)
                        .get_licence(req)
                        .await
                        .expect("get by number");
                }
            })
            .await;
            report(label, &s, count);
        }
        for (label, callers, count) in [
            ("QueryLicences by holder:", concurrency, queries),
            ("QueryLicences by holder, 1 caller:", 1, queries / 20),
        ] {
            let (c, p) = (channels.clone(), probes.clone());
            let s = run_load(count, callers, move |i| {
                let (channel, (_, _, code_type, code)) = (c[i % c.len()].clone(), p[i % p.len()].clone());
                async move {
                    let mut req = tonic::Request::new(QueryLicencesRequest {
                        selector: Some(pb::query_licences_request::Selector::Holder(pb::HolderSelector {
                            holder_code_type: code_type,
                            holder_code: code,
                            ..Default::default()
                        })),
                        use_cause: "基准测试".into(),
                        page_size: 20,
                        ..Default::default()
                    });
                    req.metadata_mut().insert("authorization", TOKEN.parse().unwrap());
                    let r = LicenceServiceClient::new(channel)
                        .query_licences(req)
                        .await
                        .expect("query by holder");
                    assert!(!r.into_inner().results.is_empty(), "a probe's holder has a licence");
                }
            })
            .await;
            report(label, &s, count);
        }
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    });
}
