//! The store on PostgreSQL, measured beside this machine's limit for small durable
//! transactions. One private PostgreSQL server (fsync on, synchronous_commit on) runs on
//! this machine; in the same run:
//!
//! - `pgbench -N -M prepared` (simple updates: three statements and a commit each) at the
//!   same client count as the service load: the baseline for IssueLicence;
//! - IssueLicence through one `elicence serve` process, then through two on the same
//!   database, the callers split between them;
//! - VerifyLicence (identifier and 核验码, as a holder presents them) through one and two;
//! - `elicence import` of a GBK CSV export through binary COPY, rows per second and peak
//!   memory;
//! - the COPY stage alone: the store's batch insert of rows already mapped and signed,
//!   from one writer and from two at once (what the database takes, without the
//!   signing and mapping that bound the import);
//! - ListSigningKeys through one process (no store, no signature): the transport's own
//!   ceiling.
//!
//! Server, database, and the callers share the machine's cores: on two cores the figures
//! are the machine's, not one component's.
//!
//! `cargo bench --bench postgres` (env `BENCH_CONCURRENCY`, default 64; `BENCH_ISSUE`,
//! `BENCH_VERIFY`, requests per measurement; `BENCH_ROWS`, rows imported, default
//! 100,000; `BENCH_PGBENCH_SECS`, default 20; `BENCH_ONLY=copy` measures the COPY stage
//! alone).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{issue_one, licence, list_keys, migrated_row, raw_ed25519, report, run_load, verify_one, Stats};
use elicence::licence::status::SignedEvent;
use elicence::store::postgres::{PgConfig, PgStore};
use elicence::store::{NewRecord, Store};
use elicence::testing::postgres::Cluster;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_elicence");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `pgbench -N` at `clients` clients for `secs` seconds: transactions per second.
fn pgbench(pg: &Cluster, clients: usize, secs: usize) -> f64 {
    let port = pg.port().to_string();
    let conn = ["-h", "127.0.0.1", "-p", &port, "-U", "elicence"];
    let init = Command::new(pg.program("pgbench"))
        .args(conn)
        .args(["-i", "-s", "10", "-q", "pgbench"])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let run = Command::new(pg.program("pgbench"))
        .args(conn)
        .args(["-N", "-M", "prepared", "-n", "-j", "2"])
        .args(["-c", &clients.to_string(), "-T", &secs.to_string(), "pgbench"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "pgbench: {out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {out}"))
}

/// A running `elicence serve` on the database.
struct Served {
    child: Child,
    channels: Vec<Channel>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(url: &str) -> Served {
    let mut child = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--verify-rate-per-client",
            "0",
        ])
        .args(["--max-concurrent-requests", "4096", "--database-url", url])
        .env("ELICENCE_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let (Some(addr), Some(t)) = (line.split("listen=").nth(1), tx.as_ref()) {
                let _ = t.send(addr.split_whitespace().next().unwrap_or("").to_string());
                tx = None;
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("elicence serve did not start");
    let channels = common::channels(&addr.to_string(), 4).await;
    Served { child, channels }
}

/// Issues `n` licences through the given channels, `concurrency` callers in all; answers
/// the rate and what was issued.
async fn issue(channels: Arc<Vec<Channel>>, n: usize, concurrency: usize, run: &str) -> (Stats, Vec<(String, String)>) {
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let (c, ids2, run) = (channels.clone(), ids.clone(), run.to_string());
    let stats = run_load(n, concurrency, move |i| {
        let (channel, ids, request) = (c[i % c.len()].clone(), ids2.clone(), format!("{run}-{i}"));
        let number = licence(i).licence_number;
        let mut l = licence(i);
        l.licence_number = format!("{run}{number}");
        async move {
            let id = issue_one(channel, request, l).await;
            ids.lock().unwrap().push(id);
        }
    })
    .await;
    let ids = std::mem::take(&mut *ids.lock().unwrap());
    (stats, ids)
}

async fn verify(channels: Arc<Vec<Channel>>, ids: Arc<Vec<(String, String)>>, n: usize, concurrency: usize) -> Stats {
    run_load(n, concurrency, move |i| {
        verify_one(channels[i % channels.len()].clone(), ids[i % ids.len()].clone())
    })
    .await
}

/// `elicence import` of a generated GBK export into the database: rows per second and
/// peak memory in MB.
fn import(url: &str, rows: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("legacy.csv");
    let gen = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "gen-sample",
            "--rows",
            &rows.to_string(),
            "--format",
            "csv-gbk",
            "--out",
        ])
        .arg(&sample)
        .output()
        .unwrap();
    assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .current_dir(ROOT)
        .args(["-f", "TIME %e %M", BIN, "import"])
        .arg(&sample)
        .args([
            "--mapping",
            "templates/mappings/sample.toml",
            "--allow-rejects",
            "--database-url",
            url,
        ])
        .env("ELICENCE_LOG", "warn")
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import: {stderr}");
    let peak_kb: f64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("TIME "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse().ok())
        .unwrap_or(0.0);
    (rows as f64 / wall, peak_kb / 1024.0)
}

/// A migrated row with its first event (seq 0), as the import stores it.
fn staged_row(i: u64) -> NewRecord {
    let mut r = migrated_row(i);
    r.first_event = Some(SignedEvent {
        seq: 0,
        bytes: vec![b' '; 300],
        signature: [9; 64],
        key_id: r.record.key_id.clone(),
    });
    r
}

/// The store's batch insert (binary COPY into staging, then the set-based inserts) of
/// `rows` rows in batches of `batch`, split between `writers` threads: rows per second.
fn copy_stage(url: &str, rows: u64, batch: u64, writers: u64) -> f64 {
    let store = PgStore::open(&PgConfig {
        url: url.to_string(),
        pool_size: writers as usize,
        read_url: None,
    })
    .unwrap();
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            let store = &store;
            s.spawn(move || {
                let mut i = w * batch;
                while i < rows {
                    let n = batch.min(rows - i);
                    let out = store.insert_batch((i..i + n).map(staged_row).collect()).wait().unwrap();
                    assert_eq!(out.items.len() as u64, n);
                    i += batch * writers;
                }
            });
        }
    });
    rows as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(why) = elicence::testing::postgres::unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let concurrency = env_usize("BENCH_CONCURRENCY", 64);
    let issue_n = env_usize("BENCH_ISSUE", 20_000);
    let verify_n = env_usize("BENCH_VERIFY", 40_000);
    let rows = env_usize("BENCH_ROWS", 100_000);
    let secs = env_usize("BENCH_PGBENCH_SECS", 20);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {cores} cores; load average {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "raw Ed25519: sign {:.0}/s, verify {:.0}/s on {cores} cores",
        raw_ed25519(cores, true),
        raw_ed25519(cores, false)
    );

    // Durable, as in production: fsync and synchronous commit on.
    let pg = Cluster::start_with(&["-c", "max_connections=300", "-c", "shared_buffers=128MB"]).unwrap();
    pg.psql("postgres", "CREATE DATABASE pgbench").unwrap();
    pg.psql("postgres", "CREATE DATABASE elicence").unwrap();
    println!(
        "PostgreSQL {} (fsync {}, synchronous_commit {})",
        pg.psql("postgres", "SHOW server_version").unwrap(),
        pg.psql("postgres", "SHOW fsync").unwrap(),
        pg.psql("postgres", "SHOW synchronous_commit").unwrap()
    );
    let url = pg.url("elicence");
    if std::env::var("BENCH_ONLY").as_deref() != Ok("copy") {
        service_and_import(&pg, &url, concurrency, issue_n, verify_n, rows, secs);
    }
    for writers in [1, 2] {
        let db = format!("copy{writers}");
        pg.psql("postgres", &format!("CREATE DATABASE {db}")).unwrap();
        let rate = copy_stage(&pg.url(&db), rows as u64, 1000, writers);
        println!("COPY stage alone (signed rows, batches of 1000), {writers} writer(s): {rate:.0} rows/s");
    }
}

/// pgbench, then IssueLicence and VerifyLicence through one and two processes, then
/// `elicence import`.
fn service_and_import(
    pg: &Cluster,
    url: &str,
    concurrency: usize,
    issue_n: usize,
    verify_n: usize,
    rows: usize,
    secs: usize,
) {
    let tps = pgbench(pg, concurrency, secs);
    println!("pgbench -N -M prepared -c {concurrency} -j 2 -T {secs}: {tps:.0} tps (the baseline)");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let one = serve(url).await;
        let c1 = Arc::new(one.channels.clone());
        let c = c1.clone();
        let baseline = run_load(verify_n, concurrency, move |i| list_keys(c[i % c.len()].clone())).await;
        report("ListSigningKeys (gRPC baseline):", &baseline, verify_n);

        let (s1, ids1) = issue(c1.clone(), issue_n, concurrency, "one").await;
        report("IssueLicence, 1 process:", &s1, issue_n);
        println!("  = {:.0} % of pgbench -N", 100.0 * s1.rate / tps);

        let two = serve(url).await;
        let c2: Arc<Vec<Channel>> = Arc::new(one.channels.iter().chain(&two.channels).cloned().collect());
        let (s2, ids2) = issue(c2.clone(), issue_n, concurrency, "two").await;
        report("IssueLicence, 2 processes:", &s2, issue_n);
        println!(
            "  = {:.0} % of pgbench -N; {:.2} x one process",
            100.0 * s2.rate / tps,
            s2.rate / s1.rate
        );

        let ids: Arc<Vec<(String, String)>> = Arc::new(ids1.into_iter().chain(ids2).collect());
        let v1 = verify(c1.clone(), ids.clone(), verify_n, concurrency).await;
        report("VerifyLicence, 1 process:", &v1, verify_n);
        let v2 = verify(c2.clone(), ids.clone(), verify_n, concurrency).await;
        report("VerifyLicence, 2 processes:", &v2, verify_n);
        drop(two);
        drop(one);
    });
    let (rate, peak) = import(url, rows);
    println!("import of {rows} GBK rows through COPY: {rate:.0} rows/s, peak {peak:.0} MB");
}
