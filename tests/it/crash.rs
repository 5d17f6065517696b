//! The crash-loop harness. `elicence serve` (the real binary) takes concurrent issues,
//! amendments and suspensions, is killed with SIGKILL at a random moment, and restarts on
//! the same data directory; then every acknowledged operation must be there and verify,
//! `elicence check` must find every index in agreement with the records, and a retry of
//! each acknowledged request must return its first result. The same for `elicence
//! import`: killed at random points, re-run, every row exactly once.
//!
//! `cargo test` runs a few cycles. The long run (docs/RELIABILITY.md):
//! `ELICENCE_CRASH_CYCLES=100 cargo test --test it crash:: -- --nocapture --test-threads 1`
//! (`ELICENCE_CRASH_SEED` repeats a run).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use elicence::import::{gen_sample, SampleFormat};
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::common::*;
use crate::workload::{self, Acked};

const BIN: &str = env!("CARGO_BIN_EXE_elicence");

fn cycles(default: u64) -> u64 {
    std::env::var("ELICENCE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: enough randomness for kill times, repeatable from the printed seed.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("ELICENCE_CRASH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("crash harness seed {seed} (ELICENCE_CRASH_SEED={seed} repeats it)");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A running `elicence serve` and the address it reported.
pub struct Served {
    pub child: Child,
    pub channel: Channel,
    /// Ends when the server's stderr closes (it exited).
    pub stderr: std::thread::JoinHandle<()>,
}

/// Starts the real server on port 0 and waits for its "serving" log line (its readiness
/// signal), which names the bound address. Its stderr keeps being drained, into `logs`
/// when given.
pub async fn serve_binary(data: &Path, log_filter: &str, logs: Option<Arc<Mutex<Vec<String>>>>) -> Served {
    serve_on(&Place::Dir(data.to_path_buf()), log_filter, logs).await
}

/// As [`serve_binary`], on a data directory or a database.
pub async fn serve_on(place: &Place, log_filter: &str, logs: Option<Arc<Mutex<Vec<String>>>>) -> Served {
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
        .args(place.args())
        .env("ELICENCE_LOG", log_filter)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listen=").nth(1) {
                if let Some(t) = tx.take() {
                    let _ = t.send(addr.split_whitespace().next().unwrap_or("").to_string());
                }
            }
            if let Some(logs) = &logs {
                logs.lock().unwrap().push(line);
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("elicence serve did not report its address");
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Served {
        child,
        channel,
        stderr: reader,
    }
}

async fn serve(place: &Place) -> Served {
    serve_on(place, "info", None).await
}

/// `elicence check` of the store, which must find no problem; its report.
pub fn check_store(place: &Place) -> String {
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .arg("check")
        .args(place.args())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("no problems"),
        "check failed after a crash:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_survives_sigkill_under_load() {
    let tmp = tempfile::tempdir().unwrap();
    sigkill_loop(Place::Dir(tmp.path().join("data"))).await;
}

/// The same on PostgreSQL: a process killed mid-transaction loses nothing acknowledged
/// and leaves nothing half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_survives_sigkill_under_load() {
    let Some(pg) = elicence::testing::postgres::Cluster::start_or_skip() else {
        return;
    };
    sigkill_loop(Place::database(pg.url("postgres"))).await;
}

async fn sigkill_loop(data: Place) {
    let n = cycles(3);
    let mut rng = Rng::from_env();
    let mut all: Vec<Acked> = Vec::new();
    let mut pending: Vec<Acked> = Vec::new();
    let started = Instant::now();
    for cycle in 0..n {
        let mut served = serve(&data).await;
        // What the previous incarnation acknowledged must have survived its SIGKILL.
        workload::verify_acked(served.channel.clone(), &pending, true).await;
        let log: workload::Log = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = watch::channel(false);
        let load = tokio::spawn(workload::drive(
            served.channel.clone(),
            format!("c{cycle}"),
            8,
            stopped,
            log.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(100 + rng.below(1400))).await;
        served.child.kill().unwrap(); // SIGKILL
        served.child.wait().unwrap();
        // The workers stop on their first failed call; tell any still between calls.
        let _ = stop.send(true);
        load.await.unwrap();
        pending = log.lock().unwrap().clone();
        let report = tokio::task::spawn_blocking({
            let data = data.clone();
            move || check_store(&data)
        })
        .await
        .unwrap();
        eprintln!(
            "cycle {cycle}: {} operations acknowledged before SIGKILL; {}",
            pending.len(),
            report.trim()
        );
        all.extend(pending.iter().cloned());
    }
    let served = serve(&data).await;
    workload::verify_acked(served.channel.clone(), &pending, true).await;
    if n > 3 {
        // The long run also re-checks that every cycle's operations are still there.
        workload::verify_acked(served.channel.clone(), &all, false).await;
    }
    drop(served.channel);
    let mut child = served.child;
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!(
        "{n} SIGKILL cycles, {} acknowledged operations, all present and verified, in {:.0} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(all.len() as u64 >= n, "the load acknowledged almost nothing");
}

#[test]
fn import_survives_repeated_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    import_kill_loop(tmp.path(), Place::Dir(tmp.path().join("data")));
}

/// The same through binary COPY into PostgreSQL.
#[test]
fn import_into_postgres_survives_repeated_sigkill() {
    let Some(pg) = elicence::testing::postgres::Cluster::start_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    import_kill_loop(tmp.path(), Place::database(pg.url("postgres")));
}

fn import_kill_loop(tmp: &Path, data: Place) {
    let n = cycles(3);
    let mut rng = Rng::from_env();
    let rows = 3000;
    let mut bytes = Vec::new();
    gen_sample(rows, 7, SampleFormat::CsvUtf8, false, &mut bytes).unwrap();
    let input = tmp.join("legacy.csv");
    std::fs::write(&input, bytes).unwrap();
    let cmd = || {
        let mut c = Command::new(BIN);
        c.current_dir(ROOT)
            .args([
                "import",
                input.to_str().unwrap(),
                "--mapping",
                "templates/mappings/sample.toml",
            ])
            .args(["--allow-rejects", "--batch-size", "100"])
            .args(data.args())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let mut killed = 0;
    for _ in 0..n {
        let mut child = cmd().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(50 + rng.below(900)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
    }
    let last = cmd().stderr(Stdio::piped()).output().unwrap();
    assert!(
        last.status.success(),
        "the last run failed: {}",
        String::from_utf8_lossy(&last.stderr)
    );
    let report = tmp.join("legacy.csv.rejects.csv");
    let text = std::fs::read_to_string(&report).unwrap();
    let rejected = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect::<std::collections::HashSet<_>>()
        .len() as u64;
    let ids = data.identifiers();
    assert_eq!(ids.len() as u64, rows - rejected, "every good row exactly once");
    let out = check_store(&data);
    // Several pages of records and of each index: the check walked every one.
    let n_ids = ids.len();
    assert!(
        out.contains(&format!("{n_ids} licences")) && out.contains(&format!("{} index entries", 4 * n_ids)),
        "{out}"
    );
    eprintln!("import: {killed} of {n} runs killed mid-way; then {}", out.trim());
}
