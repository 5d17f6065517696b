//! A private PostgreSQL server for tests and benchmarks: `initdb` into a temporary
//! directory and `postgres` on a free port of 127.0.0.1, from Debian's binaries
//! (`/usr/lib/postgresql/<N>/bin`, or `ELICENCE_PG_BIN`). Nothing is shared with a
//! PostgreSQL the machine may already run.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, the server runs as the
//! `postgres` user (or `nobody`) through `setpriv`, which also asks the kernel to kill it
//! when the thread that started it exits, so a failed test leaves no server behind.
//!
//! Where the binaries are missing, `Cluster::start_or_skip` fails the test on CI
//! (`CI=true`: `.ci/run` installs them) and elsewhere says once, on the terminal, that
//! the PostgreSQL tests were skipped and why.

use std::fs::{self, File};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

/// The superuser every test cluster is created with (trust authentication, loopback only).
pub const USER: &str = "elicence";

/// A running private server; dropping it kills the server and removes its files.
pub struct Cluster {
    /// The temporary directory holding the cluster, when the cluster owns it.
    _owned: Option<tempfile::TempDir>,
    dir: PathBuf,
    port: u16,
    server: Child,
    bin: PathBuf,
}

/// Why PostgreSQL tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    match binaries() {
        Err(why) => Some(why),
        Ok(_) if is_root() && run_as().is_none() => {
            Some("running as root and neither setpriv nor a `postgres` or `nobody` user is available".into())
        }
        Ok(_) => None,
    }
}

/// Whether PostgreSQL tests can run here. If not: on CI (`CI=true`) this panics, since
/// `.ci/run` installs PostgreSQL; elsewhere it says once, on the terminal, why they are
/// skipped, and answers `false`.
pub fn available_or_skip() -> bool {
    let Some(why) = unavailable() else { return true };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("PostgreSQL tests cannot run: {why} (.ci/run installs Debian's postgresql)");
    }
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        // Straight to the terminal: libtest captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL tests: {why}; `apt-get install postgresql` to run them"
        );
    });
    false
}

impl Cluster {
    /// Starts a private server, or returns `None` after saying why the test is skipped
    /// (outside CI only; on CI a missing PostgreSQL fails the test).
    pub fn start_or_skip() -> Option<Cluster> {
        available_or_skip().then(|| Cluster::start().unwrap_or_else(|e| panic!("private PostgreSQL: {e}")))
    }

    /// Starts a private server with `fsync=off` (tests kill processes, not the machine,
    /// so nothing acknowledged is lost by it).
    pub fn start() -> Result<Cluster, String> {
        Cluster::start_with(&["-c", "fsync=off"])
    }

    /// Starts a private server with extra `postgres` arguments (e.g. `-c name=value`).
    pub fn start_with(settings: &[&str]) -> Result<Cluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("elicence-pg")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let mut cluster = Cluster::start_in(dir.path(), settings)?;
        cluster._owned = Some(dir);
        Ok(cluster)
    }

    /// Starts a private server whose files live in `dir` (which must exist; its owner
    /// removes it). When the tests run as root, `dir` is made reachable (0755) by the
    /// server's user.
    pub fn start_in(dir: &Path, settings: &[&str]) -> Result<Cluster, String> {
        let bin = binaries()?;
        let data = dir.join("pg-data");
        let log_path = dir.join("pg-server.log");
        if data.join("PG_VERSION").exists() {
            // A cluster stopped earlier: start it again on its files.
            let (server, port) = launch(&bin, &data, &log_path, settings)?;
            return Ok(Cluster {
                _owned: None,
                dir: dir.to_path_buf(),
                port,
                server,
                bin,
            });
        }
        fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        if let Some((uid, gid)) = run_as() {
            use std::os::unix::fs::PermissionsExt;
            // The server's user must reach its data directory inside root's temp dir.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
        let out = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "--auth=trust", "--locale=C", "-E", "UTF8", "--no-sync"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let (server, port) = launch(&bin, &data, &log_path, settings)?;
        Ok(Cluster {
            _owned: None,
            dir: dir.to_path_buf(),
            port,
            server,
            bin,
        })
    }

    /// A hot standby of `self`, streaming from it (`pg_basebackup -R`), in a temporary
    /// directory of its own. To make it synchronous, start the primary with
    /// `-c synchronous_standby_names=*`; the standby itself names none, so that once
    /// promoted it does not wait for a standby of its own.
    pub fn standby(&self, settings: &[&str]) -> Result<Cluster, String> {
        let owned = tempfile::Builder::new()
            .prefix("elicence-pg-standby")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let dir = owned.path().to_path_buf();
        let data = dir.join("pg-data");
        fs::create_dir(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        if let Some((uid, gid)) = run_as() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
        {
            use std::os::unix::fs::PermissionsExt;
            // pg_basebackup keeps an existing directory's mode; the server wants 0700.
            fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
        }
        let basebackup = [self.bin.join("pg_basebackup"), PathBuf::from("/usr/bin/pg_basebackup")]
            .into_iter()
            .find(|p| p.exists())
            .ok_or("pg_basebackup not found")?;
        let out = as_server_user(&basebackup)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-D"])
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
            .output()
            .map_err(|e| format!("pg_basebackup: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_basebackup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut all = vec!["-c", "synchronous_standby_names="];
        all.extend_from_slice(settings);
        let (server, port) = launch(&self.bin, &data, &dir.join("pg-server.log"), &all)?;
        Ok(Cluster {
            _owned: Some(owned),
            dir,
            port,
            server,
            bin: self.bin.clone(),
        })
    }

    /// Waits until a standby streams synchronously from this server.
    pub fn wait_for_sync_standby(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.psql("postgres", "SELECT sync_state FROM pg_stat_replication")? == "sync" {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("no synchronous standby after 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server and every backend at once (SIGKILL), as a crash of its machine
    /// would stop it; its files stay until the cluster is dropped.
    pub fn kill(&mut self) {
        kill_group(&mut self.server);
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) -> Result<(), String> {
        let out = as_server_user(&self.bin.join("pg_ctl"))
            .args(["promote", "-w", "-t", "60", "-D"])
            .arg(self.dir.join("pg-data"))
            .output()
            .map_err(|e| format!("pg_ctl promote: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl promote failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// A program of the PostgreSQL installation the server runs from (`pgbench`, …).
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` as the test superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL through `psql` and returns its unaligned, tuples-only output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let psql = [self.bin.join("psql"), PathBuf::from("/usr/bin/psql")]
            .into_iter()
            .find(|p| p.exists())
            .ok_or("psql not found")?;
        let out = Command::new(psql)
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-d"])
            .arg(self.url(database))
            .args(["-c", sql])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pg-server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        kill_group(&mut self.server);
    }
}

/// The server whose files are in `dir`, shared by everyone holding it: started (or
/// started again on its files) when nobody holds it, stopped when the last holder drops
/// it. Servers are started from one long-lived thread, so that the kernel stops them at
/// the end of the process and not when the thread that asked for one (a test's worker
/// thread) exits.
pub fn shared_in(dir: &Path) -> std::sync::Arc<Cluster> {
    use std::sync::{mpsc, Arc, Mutex, Weak};
    type Request = (PathBuf, mpsc::Sender<Result<Cluster, String>>);
    static HELD: Mutex<Vec<(PathBuf, Weak<Cluster>)>> = Mutex::new(Vec::new());
    static STARTER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    held.retain(|(_, w)| w.strong_count() > 0);
    if let Some(c) = held.iter().find(|(d, _)| d == dir).and_then(|(_, w)| w.upgrade()) {
        return c;
    }
    let starter = STARTER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("elicence-test-postgres".into())
            .spawn(move || {
                for (dir, reply) in rx {
                    let _ = reply.send(Cluster::start_in(&dir, &["-c", "fsync=off"]));
                }
            })
            .expect("spawning the PostgreSQL starter");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    starter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((dir.to_path_buf(), tx))
        .expect("the PostgreSQL starter runs");
    let cluster = Arc::new(
        rx.recv()
            .expect("the PostgreSQL starter answers")
            .unwrap_or_else(|e| panic!("private PostgreSQL in {}: {e}", dir.display())),
    );
    held.push((dir.to_path_buf(), Arc::downgrade(&cluster)));
    cluster
}

/// Starts `postgres` on `data` on a free port of 127.0.0.1 and waits until it accepts
/// connections. A port is found by binding port 0 and letting it go; another process
/// could take it in between, so the start is retried on a new port.
fn launch(bin: &Path, data: &Path, log_path: &Path, settings: &[&str]) -> Result<(Child, u16), String> {
    let mut last = String::new();
    for _ in 0..3 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("free port: {e}"))?
            .port();
        let log = File::create(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let mut server = as_server_user(&bin.join("postgres"))
            .arg("-D")
            .arg(data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="])
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=60"])
            .args(settings)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.try_wait() {
                last = format!("postgres exited ({status}): {}", tail(log_path));
                break;
            }
            if ready(bin, port) {
                return Ok((server, port));
            }
            if Instant::now() > deadline {
                kill_group(&mut server);
                return Err(format!("postgres not ready after 30 s: {}", tail(log_path)));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Err(last)
}

/// Kills the postmaster and every backend it started (their own process group).
fn kill_group(server: &mut Child) {
    let pgid = server.id() as libc::pid_t;
    // SAFETY: kill(2) on a process group this process created; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = server.wait();
}

fn ready(bin: &Path, port: u16) -> bool {
    if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        return false;
    }
    Command::new(bin.join("pg_isready"))
        .args([
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            USER,
            "-d",
            "postgres",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// The directory holding `initdb`, `postgres` and `pg_isready`: `ELICENCE_PG_BIN`, else
/// the newest `/usr/lib/postgresql/<N>/bin`.
fn binaries() -> Result<PathBuf, String> {
    let has_all = |dir: &Path| {
        ["initdb", "postgres", "pg_isready"]
            .iter()
            .all(|b| dir.join(b).exists())
    };
    if let Some(dir) = std::env::var_os("ELICENCE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_all(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "ELICENCE_PG_BIN={} lacks initdb, postgres or pg_isready",
                dir.display()
            ))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no PostgreSQL server binaries in /usr/lib/postgresql".to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_all(bin))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL server binaries in /usr/lib/postgresql".to_string())
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// The (uid, gid) the server runs as when the tests run as root: `postgres`, else
/// `nobody`. Looked up once per process.
fn run_as() -> Option<(u32, u32)> {
    static RUN_AS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *RUN_AS.get_or_init(|| {
        if !is_root() || !Path::new("/usr/bin/setpriv").exists() {
            return None;
        }
        let id = |user: &str, flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, user]).output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())?
        };
        ["postgres", "nobody"]
            .iter()
            .find_map(|user| Some((id(user, "-u")?, id(user, "-g")?)))
    })
}

/// `program` run as the server's user: through `setpriv` when we are root. `setpriv` also
/// has the kernel kill it when the thread that started it exits (a test's thread, or the
/// process), so no server outlives its test.
fn as_server_user(program: &Path) -> Command {
    match run_as() {
        Some((uid, gid)) => {
            let mut c = Command::new("/usr/bin/setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .args(["--clear-groups", "--pdeathsig", "KILL", "--"])
                .arg(program)
                // initdb and postgres read no home files; keep root's out of reach.
                .env_remove("HOME");
            c
        }
        None if Path::new("/usr/bin/setpriv").exists() => {
            let mut c = Command::new("/usr/bin/setpriv");
            c.args(["--pdeathsig", "KILL", "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private server starts, answers SQL as the test superuser on loopback, and is
    /// gone (port closed, files removed) once dropped.
    #[test]
    fn a_private_server_answers_and_leaves_nothing_behind() {
        let Some(pg) = Cluster::start_or_skip() else { return };
        assert_eq!(pg.psql("postgres", "SELECT 1 + 1").unwrap(), "2");
        assert_eq!(pg.psql("postgres", "SHOW fsync").unwrap(), "off");
        assert_eq!(pg.psql("postgres", "SELECT current_user").unwrap(), USER);
        let err = pg.psql("postgres", "SELECT * FROM no_such_table").unwrap_err();
        assert!(err.contains("no_such_table"), "{err}");
        let (port, dir) = (pg.port(), pg.dir.clone());
        drop(pg);
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "server still listening"
        );
        assert!(!dir.exists(), "cluster files left in {}", dir.display());
    }

    /// Two servers run side by side, each with its own data: what one test writes no
    /// other test sees.
    #[test]
    fn each_cluster_is_private() {
        let (Some(a), Some(b)) = (Cluster::start_or_skip(), Cluster::start_or_skip()) else {
            return;
        };
        assert_ne!(a.port(), b.port());
        a.psql("postgres", "CREATE TABLE only_in_a (x int)").unwrap();
        assert!(b.psql("postgres", "SELECT * FROM only_in_a").is_err());
        assert_eq!(a.psql("postgres", "SELECT count(*) FROM only_in_a").unwrap(), "0");
    }
}
