//! Hygiene (issue 12, item 7), tried from outside: the data directory's permissions under
//! every command that opens one, the departments file's uniqueness rules through a SIGHUP
//! reload, refused calls in the service log, and the PDF file name of a hostile licence
//! number. The binary runs with umask 000, so what it creates private it made private.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use elicence::api::pb::catalog_service_client::CatalogServiceClient;
use elicence::api::pb::licence_service_client::LicenceServiceClient;
use elicence::api::pb::{
    GetLicenceRequest, ListLicenceTypesRequest, RenderLicenceCopyRequest, RenderLicencePdfRequest,
};
use elicence::catalog::departments::token_hash;
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::common::*;
use crate::pdf;

const BIN: &str = env!("CARGO_BIN_EXE_elicence");

/// The binary, run from the repository root (example keys, catalogue, font) with umask
/// 000 and without the operator's overrides from the test's environment.
fn elicence() -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(ROOT)
        .env("NO_COLOR", "1")
        .env_remove("ELICENCE_ALLOW_OPEN_DATA_DIR")
        .env_remove("ELICENCE_DATA_DIR");
    // SAFETY: umask(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    c
}

/// Runs a command that must end by itself (within a minute).
fn finish(mut c: Command) -> Output {
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{c:?} did not finish");
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// Every entry under `dir` with its mode, `dir` first. A live store's engine removes
/// files as it compacts, so an entry gone between listing and reading is skipped.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(dir.to_path_buf(), mode(dir))];
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return out,
    };
    entries.sort();
    for p in entries {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            out.extend(modes(&p));
        } else {
            out.push((p.clone(), meta.permissions().mode() & 0o777));
        }
    }
    out
}

fn assert_private(dir: &Path) {
    for (p, m) in modes(dir) {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(m, want, "{} has mode {m:03o}", p.display());
    }
}

/// The refusal every command gives for an open data directory.
fn assert_refused(out: &Output, data: &Path, open: &Path, open_mode: u32) {
    let err = stderr(out);
    assert!(!out.status.success(), "an open data directory was used:\n{err}");
    for want in [
        format!(
            "{} is open to other users: {} has mode {open_mode:03o}",
            data.display(),
            open.display()
        ),
        format!("`chmod -R go-rwx {}`", data.display()),
        "--allow-open-data-dir".to_string(),
    ] {
        assert!(err.contains(&want), "{want:?} not in:\n{err}");
    }
}

/// `elicence serve` on port 0, its stderr collected line by line.
struct Served {
    child: Child,
    channel: Channel,
    logs: Arc<Mutex<Vec<String>>>,
}

/// `elicence serve` on port 0 over `data`, with `extra` arguments.
fn serve(data: &Path, extra: &[&str]) -> Command {
    let mut c = elicence();
    c.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data)
    .args(extra)
    .env("ELICENCE_LOG", "info");
    c
}

impl Served {
    /// Starts `c` (a [`serve`] command) and waits for its "serving" line.
    async fn start(mut c: Command) -> Served {
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listen=").nth(1) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("elicence serve did not start:\n{}", logs.lock().unwrap().join("\n")));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        // Answered once the server runs, and with it its SIGTERM and SIGHUP handlers
        // (the "serving" line comes a moment before).
        tonic_health::pb::health_client::HealthClient::new(channel.clone())
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap();
        Served { child, channel, logs }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until `n` log lines contain `needle`; returns them.
    async fn wait_for(&self, needle: &str, n: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let found: Vec<String> = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no {n} lines with {needle:?} in:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// SIGTERM, then waits for the store to be flushed and closed.
    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}:\n{}", self.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_its_data_directory_private_and_refuses_an_open_one() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let served = Served::start(serve(&data, &[])).await;
    let mut licences = LicenceServiceClient::new(served.channel.clone());
    licences
        .issue_licence(authed(
            SCJGJ,
            elicence::api::pb::IssueLicenceRequest {
                request_id: "h-1".into(),
                licence: Some(food_permit_for_person("JY14208000000101")),
            },
        ))
        .await
        .unwrap();
    // Running: the store's files and the control socket.
    assert!(data.join("control.sock").exists());
    assert_private(&data);
    served.stop();
    assert_private(&data);

    // As an older version left it.
    set_mode(&data, 0o755);
    set_mode(&data.join("version"), 0o644);
    let out = finish(serve(&data, &[]));
    assert_refused(&out, &data, &data, 0o755);
    assert!(stderr(&out).contains("(and 1 more entry)"), "{}", stderr(&out));

    // Allowed, by flag or environment: used as it is, with a loud warning, and not
    // tightened behind the operator's back.
    let mut by_env = serve(&data, &[]);
    by_env.env("ELICENCE_ALLOW_OPEN_DATA_DIR", "true");
    for (how, c) in [
        ("flag", serve(&data, &["--allow-open-data-dir"])),
        ("environment", by_env),
    ] {
        let served = Served::start(c).await;
        let warned = served.wait_for("DATA DIRECTORY OPEN TO OTHER USERS", 1).await;
        assert!(warned[0].contains("WARN"), "{how}: {}", warned[0]);
        assert!(
            warned[0].contains(&format!("chmod -R go-rwx {}", data.display())),
            "{how}: {}",
            warned[0]
        );
        served.stop();
        assert_eq!((mode(&data), mode(&data.join("version"))), (0o755, 0o644), "{how}");
    }

    // The command the message names is the whole fix.
    let chmod = Command::new("chmod")
        .args(["-R", "go-rwx"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(chmod.success());
    let served = Served::start(serve(&data, &[])).await;
    assert!(!served.logs().contains("OPEN TO OTHER USERS"), "{}", served.logs());
    served.stop();
    assert_private(&data);
}

#[test]
fn every_operator_command_refuses_an_open_data_directory() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("version"), b"").unwrap();
    set_mode(&data, 0o700);
    set_mode(&data.join("version"), 0o640);
    let out_file = tmp.path().join("out");
    let d = data.to_str().unwrap();
    let o = out_file.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["check", "--data-dir", d],
        &["backup", "--data-dir", d, "--out", o],
        &["restore", "--from", o, "--data-dir", d],
        &["import", "rows.csv", "--mapping", "m.toml", "--data-dir", d],
        &["audit", "verify", "--data-dir", d],
        &["render", "--identifier", "x", "--out", o, "--data-dir", d],
    ];
    for args in commands {
        let mut c = elicence();
        c.args(args);
        let out = finish(c);
        assert_refused(&out, &data, &data.join("version"), 0o640);
        assert!(!out_file.exists(), "{args:?} wrote {o}");
        assert_eq!(modes(&data).len(), 2, "{args:?} wrote into the data directory");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_and_restored_stores_are_private_whatever_the_umask() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = spawn_server_at(&data, Arc::new(elicence::clock::FixedClock::new(default_now()))).await;
    issue_id(&server, "b-1", food_permit_for_person("JY14208000000102")).await;
    server.stop().await;
    // In-process too (the test's own umask), the store keeps its directory private.
    assert_private(&data);

    let backup = tmp.path().join("b.backup");
    // A `.partial` left by an earlier run, readable by everyone.
    let partial = tmp.path().join("b.backup.partial");
    std::fs::write(&partial, b"stale").unwrap();
    set_mode(&partial, 0o666);
    let mut c = elicence();
    c.args(["backup", "--data-dir"]).arg(&data).arg("--out").arg(&backup);
    let out = tokio::task::spawn_blocking(move || finish(c)).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&backup), 0o600);
    assert!(!partial.exists());

    let restored = tmp.path().join("new/restored");
    let mut c = elicence();
    c.args(["restore", "--from"])
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored);
    let out = tokio::task::spawn_blocking(move || finish(c)).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_private(&restored);
    // Created with it, so no wider than it either.
    assert_eq!(mode(&tmp.path().join("new")), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_is_logged_with_the_peer_address_and_never_the_token() {
    crate::embedded_only!();
    const GUESS: &str = "guessed-token-4f9c2a";
    let tmp = tempfile::tempdir().unwrap();
    let served = Served::start(serve(&tmp.path().join("data"), &[])).await;
    let mut licences = LicenceServiceClient::new(served.channel.clone());
    let get = || GetLicenceRequest {
        identifier: "1.2.156.3005.2.11100000000013338W011.11420800MB1A234561.20260000001.001.X".into(),
        use_cause: "核对".into(),
        ..Default::default()
    };
    let mut no_token = Request::new(get());
    no_token.metadata_mut().insert("x-note", "none".parse().unwrap());
    let mut basic = Request::new(get());
    basic
        .metadata_mut()
        .insert("authorization", format!("Basic {GUESS}").parse().unwrap());
    for req in [authed(GUESS, get()), no_token, basic] {
        let refused = licences.get_licence(req).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    let lines = served.wait_for("authentication failed", 3).await;
    for (line, reason) in lines.iter().zip([
        "unknown or revoked token",
        "no token and no client certificate",
        "malformed authorization header",
    ]) {
        assert!(line.contains("WARN"), "{line}");
        let peer = line.split("peer=").nth(1).and_then(|p| p.split_whitespace().next());
        let port = peer.and_then(|p| p.strip_prefix("127.0.0.1:"));
        assert!(port.is_some_and(|p| p.parse::<u16>().is_ok()), "{line}");
        assert!(line.contains("elicence.v1.LicenceService/GetLicence"), "{line}");
        assert!(line.contains(reason), "{line}");
    }
    let logs = served.logs();
    let hash = hex::encode(token_hash(GUESS));
    for secret in [GUESS, hash.as_str()] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
    served.stop();
}

/// A department appended to the example file.
fn department(id: &str, code: &str, token: &str) -> String {
    format!(
        "\n[[department]]\nid = \"{id}\"\nname = \"{id}\"\ncode = \"{code}\"\ntoken_sha256 = [\"{}\"]\nread = [\"*\"]\n",
        hex::encode(token_hash(token))
    )
}

async fn list_types(channel: &Channel, token: &str) -> Code {
    match CatalogServiceClient::new(channel.clone())
        .list_licence_types(authed(token, ListLicenceTypesRequest {}))
        .await
    {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_duplicated_department_keeps_the_previous_file() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(Path::new(ROOT).join("keys-example/departments.toml")).unwrap();
    let file = tmp.path().join("departments.toml");
    std::fs::write(&file, &example).unwrap();
    let served = Served::start(serve(
        &tmp.path().join("data"),
        &["--departments", file.to_str().unwrap()],
    ))
    .await;
    assert_eq!(list_types(&served.channel, ZJJ).await, Code::Ok);

    // Each bad file in turn: a second department under 市场监管局's code, one presenting
    // 住建局's token, one reusing an id.
    let bad = [
        (
            department("dup-code", SCJGJ_CODE, "dup-code-token"),
            "department[6] (dup-code).code: 11420800MB1A234561 is already the code of department[0] (scjgj)",
            "dup-code-token",
        ),
        (
            department("dup-token", "91440300708461136T", ZJJ),
            "department[6] (dup-token).token_sha256[0]: the same token hash as department[1] (zjj).token_sha256[0]",
            ZJJ,
        ),
        (
            department("zjj", "91440300708461136T", "dup-id-token"),
            "department[6].id: \"zjj\" is already the id of department[1] (zjj)",
            "dup-id-token",
        ),
    ];
    for (n, (extra, message, token)) in bad.iter().enumerate() {
        std::fs::write(&file, example.clone() + extra).unwrap();
        served.signal(libc::SIGHUP);
        let rejected = served.wait_for("departments file rejected", n + 1).await;
        let line = &rejected[n];
        assert!(line.contains(message), "{message:?} not in {line}");
        assert!(
            !line.contains(&hex::encode(token_hash(token))),
            "a token hash in {line}"
        );
        assert!(!line.contains(token), "a token in {line}");
        // The previous file is in force: its tokens work, the new entry's does not.
        assert_eq!(list_types(&served.channel, ZJJ).await, Code::Ok);
        if *token != ZJJ {
            assert_eq!(list_types(&served.channel, token).await, Code::Unauthenticated);
        }
    }

    // The reload itself still works: a good file takes effect.
    std::fs::write(&file, example + &department("new", "91440300708461136T", "new-token")).unwrap();
    served.signal(libc::SIGHUP);
    served.wait_for("reloaded departments file", 1).await;
    assert_eq!(list_types(&served.channel, "new-token").await, Code::Ok);
    served.stop();
}

#[tokio::test]
async fn a_hostile_licence_number_gives_a_pdf_file_name_without_a_path() {
    let server = spawn_server().await;
    for (i, (number, stem)) in [
        ("../../../../etc/cron.d/evil", "____________etc_cron_d_evil"),
        ("..\\..\\Windows\\System32\\evil", "______Windows_System32_evil"),
        (".profile", "_profile"),
        ("-rf 吉A042012000939", "_rf_吉A042012000939"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = issue_id(&server, &format!("f-{i}"), business_licence(number)).await;
        let pdf = server
            .documents()
            .render_licence_pdf(authed(
                SCJGJ,
                RenderLicencePdfRequest {
                    identifier: id.clone(),
                    use_cause: "核对".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let copy = server
            .documents()
            .render_licence_copy(authed(
                SCJGJ,
                RenderLicenceCopyRequest {
                    identifier: id,
                    use_cause: "核对".into(),
                    valid_until: "2026-12-31".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let (pdf, _) = pdf::collect(pdf).await;
        let (copy, _) = pdf::collect(copy).await;
        assert_eq!(pdf.file_name, format!("{stem}-v001.pdf"));
        assert_eq!(copy.file_name, format!("{stem}-v001-copy.pdf"));
        for name in [&pdf.file_name, &copy.file_name] {
            assert!(!name.contains(['/', '\\', '\0']) && !name.contains(".."), "{name}");
            assert!(!name.starts_with(['.', '-']) && name.ends_with(".pdf"), "{name}");
        }
    }
    server.stop().await;
}

/// The address a "serving" log line names for `field` (`http=…`, `metrics=…`).
fn logged_addr(served: &Served, field: &str) -> String {
    let key = format!(" {field}=");
    let started = Instant::now();
    loop {
        if let Some(addr) = served.logs.lock().unwrap().iter().find_map(|l| {
            l.split(&key)
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        }) {
            return addr;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no {field}= in the log");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_page_and_keeps_metrics_off_the_public_port_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let served = Served::start(serve(&tmp.path().join("data"), &["--metrics-listen", "127.0.0.1:0"])).await;
    let (http, metrics) = (logged_addr(&served, "http"), logged_addr(&served, "metrics"));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let form = client.get(format!("http://{http}/v/")).send().await.unwrap();
    assert_eq!(form.status().as_u16(), 200);
    assert!(form.text().await.unwrap().contains("核验码"));
    let public = client.get(format!("http://{http}/metrics")).send().await.unwrap();
    assert_eq!(public.status().as_u16(), 404, "metrics are not on the public port");
    let private = client.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(private.status().as_u16(), 200);
    let text = private.text().await.unwrap();
    assert!(
        text.contains(r#"elicence_requests_total{transport="http",route="/v/",code="200"} 1"#),
        "{text}"
    );
    served.stop();
}
