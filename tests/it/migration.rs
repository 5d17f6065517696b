//! Historical migration: over gRPC and through the real `elicence import` binary —
//! planted bad rows reported at their lines, re-runs import nothing, a SIGKILLed run
//! finishes exactly once, imported licences verify and say they were migrated.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use elicence::api::pb::import_licences_request::Part;
use elicence::api::pb::migration_service_client::MigrationServiceClient;
use elicence::api::pb::{ImportHeader, ImportLicencesRequest, VerifyLicenceRequest};
use elicence::import::{gen_sample, SampleFormat};
use elicence::store::FjallStore;

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_elicence");

fn sample(rows: u64, format: SampleFormat, bad: bool) -> (Vec<u8>, elicence::import::SampleInfo) {
    let mut buf = Vec::new();
    let info = gen_sample(rows, 11, format, bad, &mut buf).unwrap();
    (buf, info)
}

fn mapping_toml() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("templates/mappings/sample.toml")).unwrap()
}

async fn grpc_import(
    server: &TestServer,
    token: &str,
    bytes: Vec<u8>,
    format: &str,
) -> elicence::api::pb::ImportLicencesResponse {
    let mut msgs = vec![ImportLicencesRequest {
        part: Some(Part::Header(ImportHeader {
            mapping_toml: mapping_toml(),
            source_file: "legacy.csv".into(),
            format: format.into(),
            ..Default::default()
        })),
    }];
    for c in bytes.chunks(64 * 1024) {
        msgs.push(ImportLicencesRequest {
            part: Some(Part::Chunk(c.to_vec())),
        });
    }
    MigrationServiceClient::new(server.channel.clone())
        .import_licences(authed(token, tokio_stream::iter(msgs)))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn grpc_import_reports_bad_rows_and_is_idempotent() {
    let server = spawn_server().await;
    let (bytes, info) = sample(300, SampleFormat::CsvGbk, true);
    // The sample spans several departments' types; 政务服务局 may issue none of them.
    let denied = grpc_import(&server, ZWFW, bytes.clone(), "csv").await;
    assert_eq!(denied.imported, 0);

    let r = grpc_import(&server, SCJGJ, bytes.clone(), "csv").await;
    assert_eq!(r.rows_read, 300);
    let planted: Vec<u64> = info.expected_bad.iter().map(|b| b.line).collect();
    for line in &planted {
        assert!(
            r.rejects.iter().any(|x| x.line == *line),
            "planted bad line {line} not reported: {:?}",
            r.rejects
        );
    }
    assert!(r.imported > 0);
    assert_eq!(r.imported + r.already_present + r.rejected_rows, 300);
    // No personal code leaks into the reject report.
    for x in &r.rejects {
        let b = x.value.as_bytes();
        let looks_like_id = b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit);
        assert!(!looks_like_id, "unmasked resident ID in reject: {x:?}");
    }

    let again = grpc_import(&server, SCJGJ, bytes, "csv").await;
    assert_eq!(again.imported, 0);
    assert_eq!(again.already_present, r.imported);
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_bad_rows_is_counted_past_the_response_bound() {
    let server = spawn_server().await;
    // 3,000 rows whose issue date is 1,000 characters of junk: ~3 MB of rejects.
    let junk = "无".repeat(1000);
    let mut csv = String::from(
        "证照类型,证照编号,证照标识,发证机关,发证机关代码,发证日期,持证主体,持证主体代码,有效期起始,有效期截止,行政区划,关联事项,住所,法定代表人,注册资本,经营范围,执业类别\n",
    );
    for i in 0..3000 {
        csv.push_str(&format!(
            "营业执照,FLOOD-{i},,荆门市市场监督管理局,11420800MB1A234561,{junk},荆门市某某有限公司,91420804MA4012HJ7L,,永久,420804,企业设立登记,荆门市,张三,20,一般项目,\n"
        ));
    }
    let r = grpc_import(&server, SCJGJ, csv.into_bytes(), "csv").await;
    assert_eq!(r.rows_read, 3000);
    assert_eq!(r.rejected_rows, 3000);
    assert_eq!(r.imported, 0);
    let listed = r.rejects.len() as u64;
    assert!(listed > 100, "the first rejects are listed: {listed}");
    assert!(r.rejects_omitted > 0, "past 2 MiB the rest are only counted");
    assert!(
        listed + r.rejects_omitted >= 3000,
        "every problem is listed or counted: {listed} + {}",
        r.rejects_omitted
    );
    // Listed in source order, from the first data line.
    assert_eq!(r.rejects[0].line, 2);
    assert!(r.rejects.windows(2).all(|w| w[0].line <= w[1].line));
    server.stop().await;
}

#[tokio::test]
async fn cli_import_twice_then_serve_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Kept running (on PostgreSQL) until the end of the test.
    let place = place_of(&data);
    let (bytes, info) = sample(400, SampleFormat::Jsonl, true);
    let input = tmp.path().join("legacy.jsonl");
    std::fs::write(&input, bytes).unwrap();
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .current_dir(ROOT)
            .args([
                "import",
                input.to_str().unwrap(),
                "--mapping",
                "templates/mappings/sample.toml",
            ])
            .args(place.args())
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(2), "rejects give exit 2: {stderr}");
    assert!(stderr.contains("rows read 400"), "{stderr}");
    let report = std::fs::read_to_string(tmp.path().join("legacy.jsonl.rejects.csv")).unwrap();
    for b in &info.expected_bad {
        assert!(
            report.lines().any(|l| l.starts_with(&format!("{},", b.line))),
            "line {} missing:\n{report}",
            b.line
        );
    }
    let second = run(&["--allow-rejects"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("imported 0,"), "{stderr}");

    let ids = place.identifiers();
    assert_eq!(ids.len() as u64, info.good_rows());
    let server = spawn_server_at(&data, Arc::new(elicence::clock::FixedClock::new(default_now()))).await;
    let v = server
        .verification()
        .verify_licence(authed(
            ZWFW,
            VerifyLicenceRequest {
                identifier: ids[0].clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(v.authentic, "{v:?}");
    assert!(v.migrated);
    let migrated = v.licence.unwrap();
    // The public answer says "migrated" and nothing more about where it came from.
    assert!(migrated.provenance.is_none());

    // A migrated record's history starts with its `migrated` event; a status change follows it.
    let manager = match migrated.licence_type_code.as_str() {
        "11100000000013338W011" | "11100000000013338W012" | "11100000MB0143619X001" => SCJGJ,
        "11100000000013129K001" => ZJJ,
        "11100000000019713D001" => "dev-jtj-token",
        _ => "dev-wjw-token",
    };
    server
        .licences()
        .suspend_licence(authed(
            manager,
            elicence::api::pb::ChangeStatusRequest {
                identifier: ids[0].clone(),
                reason: "历史数据核查期间暂扣".into(),
                request_id: "suspend-migrated".into(),
            },
        ))
        .await
        .unwrap();
    let v = server
        .verification()
        .verify_licence(authed(
            ZWFW,
            VerifyLicenceRequest {
                identifier: ids[0].clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(v.authentic, "{v:?}");
    assert_eq!(v.status, elicence::api::pb::LicenceStatus::Suspended as i32);
    server.stop().await;
}

#[cfg(unix)]
#[test]
fn killed_import_resumes_to_exactly_once() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (bytes, info) = sample(6000, SampleFormat::CsvUtf8, false);
    let input = tmp.path().join("legacy.csv");
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
            .args(["--allow-rejects", "--batch-size", "200", "--data-dir"])
            .arg(&data)
            .stderr(std::process::Stdio::null());
        c
    };
    let mut child = cmd().spawn().unwrap();
    // Kill once some batches are durable but (very likely) before the end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let size: u64 = std::fs::read_dir(&data)
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        if size > 512 * 1024 || std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break;
        }
    }
    unsafe {
        libc_kill(child.id() as i32, 9);
    }
    let killed = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(killed.signal(), Some(9), "the first run must be killed mid-import");
    let status = cmd().status().unwrap();
    assert!(status.success());
    let store = FjallStore::open(&data).unwrap();
    let ids = stored_identifiers(&store);
    let rows = 6000 - count_rejected(&tmp.path().join("legacy.csv.rejects.csv"));
    assert_eq!(
        ids.len() as u64,
        rows,
        "every good row exactly once (sample says {} good)",
        info.good_rows()
    );
}

fn count_rejected(report: &Path) -> u64 {
    let text = std::fs::read_to_string(report).unwrap();
    let mut lines: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
    lines.dedup();
    lines.len() as u64
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
