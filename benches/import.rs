//! End-to-end migration benchmark: the real `elicence import` binary on generated GBK
//! CSV exports, each run into a fresh data directory, timed and its peak memory read by
//! `/usr/bin/time`. The raw two-core Ed25519 signing rate over a record-sized message is
//! measured before and after the imports, in the same run, as the baseline (the machine
//! is shared with other builds, so absolute figures move; their ratio moves less).
//!
//! `cargo bench --bench import` (env `BENCH_ROWS`, comma-separated row counts, default
//! `100000,95279`; `BENCH_RUNS`, runs per size, default 3; `BENCH_BATCH`, rows per batch;
//! `BENCH_DIR`, where samples and data go, default a temp directory).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};

const BIN: &str = env!("CARGO_BIN_EXE_elicence");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Raw Ed25519 signatures per second on `threads` threads over a `len`-byte message.
fn raw_sign_rate(threads: usize, len: usize) -> f64 {
    let key = SigningKey::from_bytes(&[9; 32]);
    let msg = vec![b'x'; len];
    let per_thread = 20_000;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    std::hint::black_box(key.sign(std::hint::black_box(&msg)));
                }
            });
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn sign_baseline(label: &str) -> f64 {
    let rate = median((0..3).map(|_| raw_sign_rate(2, 1100)).collect());
    println!("raw Ed25519 sign, 2 threads, 1100-byte message ({label}): {rate:.0}/s");
    rate
}

struct Run {
    wall: f64,
    peak_rss_mb: f64,
}

/// One import into a fresh data directory under `/usr/bin/time -f "%e %M"`.
fn import(sample: &Path, data: &Path, batch: Option<&str>) -> Run {
    let _ = std::fs::remove_dir_all(data);
    let report = data.with_extension("rejects.csv");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.current_dir(ROOT)
        .args(["-f", "TIME %e %M", BIN, "import"])
        .arg(sample)
        .args(["--mapping", "templates/mappings/sample.toml", "--allow-rejects"])
        .arg("--data-dir")
        .arg(data)
        .arg("--rejects")
        .arg(&report);
    if let Some(b) = batch {
        cmd.args(["--batch-size", b]);
    }
    let out = cmd.output().expect("run /usr/bin/time elicence import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed:\n{stderr}");
    let line = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("TIME "))
        .expect("time output");
    let mut parts = line.split_whitespace().map(|p| p.parse::<f64>().expect("number"));
    let wall = parts.next().expect("wall");
    let rss_kb = parts.next().expect("rss");
    if let Some(summary) = stderr.lines().find(|l| l.contains("rows read")) {
        println!("    {summary}");
    }
    Run {
        wall,
        peak_rss_mb: rss_kb / 1024.0,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; criterion-style filters are not used here.
    let rows: Vec<u64> = std::env::var("BENCH_ROWS")
        .unwrap_or_else(|_| "100000,95279".into())
        .split(',')
        .map(|r| r.trim().parse().expect("BENCH_ROWS: numbers"))
        .collect();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let batch = std::env::var("BENCH_BATCH").ok();
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bench dir");

    let before = sign_baseline("before");
    for n in rows {
        let sample = dir.join(format!("sample-{n}.csv"));
        if !sample.exists() {
            let status = Command::new(BIN)
                .args(["gen-sample", "--rows", &n.to_string(), "--format", "csv-gbk", "--out"])
                .arg(&sample)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("gen-sample");
            assert!(status.success());
        }
        let mut rates = Vec::new();
        let mut rss = Vec::new();
        for i in 0..runs {
            let r = import(&sample, &dir.join(format!("data-{n}")), batch.as_deref());
            let rate = n as f64 / r.wall;
            println!(
                "import {n} rows, run {}: {:.2} s, {rate:.0} rows/s, peak RSS {:.0} MB",
                i + 1,
                r.wall,
                r.peak_rss_mb
            );
            rates.push(rate);
            rss.push(r.peak_rss_mb);
        }
        println!(
            "import {n} rows: median {:.0} rows/s ({:.2} s), median peak RSS {:.0} MB",
            median(rates.clone()),
            n as f64 / median(rates),
            median(rss)
        );
        let _ = std::fs::remove_dir_all(dir.join(format!("data-{n}")));
    }
    let after = sign_baseline("after");
    println!(
        "target 40,000 rows/s = {:.0}% of the raw 2-core signing rate (median of before/after {:.0}/s)",
        4e6 / ((before + after) / 2.0),
        (before + after) / 2.0
    );
}
