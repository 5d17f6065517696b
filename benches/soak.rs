//! Soak: the real `elicence serve` binary under a mixed load — issue, verify, query and
//! render — for a fixed time, printing per-interval throughput and the server's RSS, and
//! failing on any unexpected error.
//!
//! `cargo bench --bench soak` runs 10 minutes; `SOAK_SECS`, `SOAK_CONCURRENCY` and
//! `SOAK_INTERVAL_SECS` change the duration, callers and reporting interval;
//! `SOAK_DATA_DIR` runs it on an existing store (e.g. the 1,000,000 licences `cargo
//! bench --bench query` leaves in `BENCH_DIR`) instead of an empty one; `SOAK_WRAP` runs
//! the server under a profiler (e.g. `SOAK_WRAP="heaptrack -o /tmp/soak"`; the RSS column
//! is then the wrapper's). The server runs as its own process so its memory is measured
//! alone.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use elicence::api::pb::document_service_client::DocumentServiceClient;
use elicence::api::pb::licence_service_client::LicenceServiceClient;
use elicence::api::pb::verification_service_client::VerificationServiceClient;
use elicence::api::pb::{
    self, pdf_chunk, IssueLicenceRequest, QueryLicencesRequest, RenderLicencePdfRequest, VerifyLicenceRequest,
};
use tonic::transport::Channel;

const KINDS: [&str; 4] = ["issue", "verify", "query", "render"];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// A business licence with a long 经营范围; every one has the same holder, so holder
/// queries page through many results.
fn licence(run: u64, i: u64) -> pb::Licence {
    let mut l = elicence::testing::business_licence(format!("SOAK{run:06}{i:010}"));
    l.fields[3].value = "食品销售；餐饮服务；农副产品收购；日用百货销售；".repeat(4);
    l
}

struct Counters {
    ok: [AtomicU64; 4],
    errors: AtomicU64,
}

/// One caller's loop: of every 10 operations, 3 issue, 4 verify, 2 query, 1 render.
async fn caller(channel: Channel, run: u64, worker: u64, deadline: Instant, counters: Arc<Counters>) {
    let mut licences = LicenceServiceClient::new(channel.clone());
    let mut verification = VerificationServiceClient::new(channel.clone());
    let mut documents = DocumentServiceClient::new(channel);
    let mut mine: Vec<(String, String)> = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let kind = match n % 10 {
            0 | 3 | 6 => 0,
            1 | 4 | 7 | 9 => 1,
            2 | 5 => 2,
            _ => 3,
        };
        let kind = if mine.is_empty() { 0 } else { kind };
        let (target, code) = mine
            .get((n as usize * 7919) % mine.len().max(1))
            .cloned()
            .unwrap_or_default();
        let result: Result<(), tonic::Status> = match kind {
            0 => {
                let i = worker * 1_000_000_000 + n;
                let req = IssueLicenceRequest {
                    request_id: format!("soak-{run}-{i}"),
                    licence: Some(licence(run, i)),
                };
                licences.issue_licence(authed(req, "dev-scjgj-token")).await.map(|r| {
                    let r = r.into_inner();
                    mine.push((r.identifier, r.verification_code));
                })
            }
            1 => verification
                .verify_licence(VerifyLicenceRequest {
                    identifier: target,
                    verification_code: code,
                    ..Default::default()
                })
                .await
                .and_then(|r| {
                    if r.into_inner().authentic {
                        Ok(())
                    } else {
                        Err(tonic::Status::data_loss("not authentic"))
                    }
                }),
            2 => {
                let req = QueryLicencesRequest {
                    selector: Some(pb::query_licences_request::Selector::Holder(pb::HolderSelector {
                        holder_code_type: "001".into(),
                        holder_code: "91440300708461136T".into(),
                        ..Default::default()
                    })),
                    use_cause: "浸泡测试".into(),
                    page_size: 20,
                    ..Default::default()
                };
                licences.query_licences(authed(req, "dev-zwfw-token")).await.map(|_| ())
            }
            _ => {
                let req = RenderLicencePdfRequest {
                    identifier: target,
                    use_cause: "浸泡测试".into(),
                    ..Default::default()
                };
                match documents.render_licence_pdf(authed(req, "dev-scjgj-token")).await {
                    Ok(r) => {
                        let mut s = r.into_inner();
                        let mut size = 0usize;
                        let mut result = Ok(());
                        loop {
                            match s.message().await {
                                Ok(Some(pb::PdfChunk {
                                    part: Some(pdf_chunk::Part::Data(d)),
                                })) => size += d.len(),
                                Ok(Some(_)) => {}
                                Ok(None) => break,
                                Err(e) => {
                                    result = Err(e);
                                    break;
                                }
                            }
                        }
                        result.and_then(|_| {
                            if size > 0 {
                                Ok(())
                            } else {
                                Err(tonic::Status::internal("empty PDF"))
                            }
                        })
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(()) => {
                counters.ok[kind].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("unexpected error in {}: {:?} {}", KINDS[kind], e.code(), e.message());
            }
        }
        n += 1;
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs = env_u64("SOAK_SECS", 600);
    let concurrency = env_u64("SOAK_CONCURRENCY", 32);
    let interval = Duration::from_secs(env_u64("SOAK_INTERVAL_SECS", 30));
    let root = env!("CARGO_MANIFEST_DIR");
    let tmp = tempfile::tempdir().unwrap();
    let data = std::env::var_os("SOAK_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("data"));
    // Numbers and request ids of this run differ from any earlier run's on the same store.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 1_000_000;
    let wrap: Vec<String> = std::env::var("SOAK_WRAP")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut server = match wrap.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_elicence"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_elicence")),
    };
    server
        // One client process sends everything: the per-client public rate limit is off.
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--verify-rate-per-client",
            "0",
            "--data-dir",
        ])
        .arg(&data)
        .current_dir(root)
        .env("ELICENCE_LOG", "info")
        .stderr(Stdio::piped());
    let mut server = server.spawn().expect("start elicence serve");
    let pid = server.id();
    // The server logs `elicence serving listen=ADDR` once it accepts connections.
    let mut log = BufReader::new(server.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = log.next().expect("server exited before serving").unwrap();
        if let Some(rest) = line
            .split("listen=")
            .nth(1)
            .filter(|_| line.contains("elicence serving"))
        {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || log.for_each(drop));

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("soak: {secs} s, {concurrency} callers, server pid {pid} at {addr}, {cores} cores");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let errors = rt.block_on(async move {
        let channels: Vec<Channel> = futures_channels(&addr, 4).await;
        let counters = Arc::new(Counters { ok: Default::default(), errors: AtomicU64::new(0) });
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for w in 0..concurrency {
            tasks.push(tokio::spawn(caller(channels[w as usize % channels.len()].clone(), run, w, deadline, counters.clone())));
        }
        println!("{:>6} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10}", "t (s)", "issue/s", "verify/s", "query/s", "render/s", "errors", "RSS (MiB)");
        let mut last = [0u64; 4];
        let rss_start = rss_kib(pid);
        println!("{:>6} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10.1}", 0, "-", "-", "-", "-", 0, rss_start as f64 / 1024.0);
        while Instant::now() < deadline {
            tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))).await;
            let now: Vec<u64> = counters.ok.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            let rates: Vec<f64> = (0..4).map(|k| (now[k] - last[k]) as f64 / interval.as_secs_f64()).collect();
            last.copy_from_slice(&now);
            println!(
                "{:>6} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>7} {:>10.1}",
                start.elapsed().as_secs(),
                rates[0],
                rates[1],
                rates[2],
                rates[3],
                counters.errors.load(Ordering::Relaxed),
                rss_kib(pid) as f64 / 1024.0
            );
        }
        for t in tasks {
            t.await.unwrap();
        }
        let total: Vec<u64> = counters.ok.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "total: {} issued, {} verified, {} queries, {} PDFs in {secs:.0} s ({:.0} ops/s); errors {}; RSS {:.1} MiB at start, {:.1} MiB at end",
            total[0],
            total[1],
            total[2],
            total[3],
            total.iter().sum::<u64>() as f64 / secs,
            counters.errors.load(Ordering::Relaxed),
            rss_start as f64 / 1024.0,
            rss_kib(pid) as f64 / 1024.0
        );
        counters.errors.load(Ordering::Relaxed)
    });
    // SIGTERM: the server drains, flushes and exits. A wrapper (SOAK_WRAP) does not pass
    // the signal on, so the server under it gets it directly.
    if !wrap.is_empty() {
        let _ = Command::new("pkill")
            .args(["-TERM", "-x", "elicence", "-P"])
            .arg(pid.to_string())
            .status();
    }
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let status = server.wait().unwrap();
    println!("server exited: {status}");
    assert_eq!(errors, 0, "unexpected errors under load");
}

async fn futures_channels(addr: &str, n: usize) -> Vec<Channel> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    v
}
