//! Import limits, written as the attack of issue 12: a small XLSX whose shared-string
//! table unpacks to hundreds of megabytes is sent to `ImportLicences` of the real
//! `elicence serve`. It is refused with INVALID_ARGUMENT naming the limit, the server's
//! peak memory (VmHWM) barely moves, and ordinary XLSX imports still work.
//!
//! To see the attack succeed, lift the limits for the spawned server:
//! `ELICENCE_XLSX_MAX_RATIO=1000000 ELICENCE_XLSX_MAX_SHARED_STRINGS=100000000
//! ELICENCE_XLSX_MAX_SHARED_STRINGS_MIB=100000 ELICENCE_XLSX_MAX_UNPACKED_MIB=100000
//! cargo test --test it import_limits` fails on the memory assertion.

use std::path::Path;

use elicence::api::pb::import_licences_request::Part;
use elicence::api::pb::migration_service_client::MigrationServiceClient;
use elicence::api::pb::{ImportHeader, ImportLicencesRequest, ImportLicencesResponse};
use elicence::import::xlsx_bomb;
use tonic::transport::Channel;
use tonic::Code;

use crate::common::*;
use crate::crash::serve_binary;

/// How much the server's peak memory may grow while refusing the bomb.
const MAX_GROWTH_KB: u64 = 100 * 1024;

async fn import_xlsx(channel: &Channel, bytes: Vec<u8>) -> Result<ImportLicencesResponse, tonic::Status> {
    let mapping_toml = std::fs::read_to_string(Path::new(ROOT).join("templates/mappings/sample.toml")).unwrap();
    let mut msgs = vec![ImportLicencesRequest {
        part: Some(Part::Header(ImportHeader {
            mapping_toml,
            source_file: "legacy.xlsx".into(),
            format: "xlsx".into(),
            ..Default::default()
        })),
    }];
    for c in bytes.chunks(256 * 1024) {
        msgs.push(ImportLicencesRequest {
            part: Some(Part::Chunk(c.to_vec())),
        });
    }
    MigrationServiceClient::new(channel.clone())
        .import_licences(authed(SCJGJ, tokio_stream::iter(msgs)))
        .await
        .map(|r| r.into_inner())
}

/// The peak resident set size of a process, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"))
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_bomb_is_refused_and_the_server_stays_small() {
    crate::embedded_only!();
    // 26 million strings: about 440 MB of XML in about 1 MB, as in the issue (1.5 MB
    // unpacking to 452 MB took the server from 73 MB to 617 MB).
    let bomb = tokio::task::spawn_blocking(|| xlsx_bomb(26_000_000)).await.unwrap();
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());

    let tmp = tempfile::tempdir().unwrap();
    let mut served = serve_binary(&tmp.path().join("data"), "info", None).await;
    let pid = served.child.id();
    // A first, ordinary import: the server's own working set, before the attack.
    let sample = std::fs::read(Path::new(ROOT).join("tests/data/import/sample-40.xlsx")).unwrap();
    let first = import_xlsx(&served.channel, sample.clone()).await.unwrap();
    assert!(first.imported > 0, "{first:?}");
    let before = peak_rss_kb(pid);

    let refused = import_xlsx(&served.channel, bomb).await.unwrap_err();
    let after = peak_rss_kb(pid);
    eprintln!("server peak RSS {before} kB before the bomb, {after} kB after");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    let message = refused.message();
    assert!(
        message.contains("xlsx refused before parsing")
            && message.contains("xl/sharedStrings.xml")
            && message.contains("--xlsx-max-"),
        "{message}"
    );
    assert!(
        after.saturating_sub(before) < MAX_GROWTH_KB,
        "peak RSS grew from {before} kB to {after} kB refusing the bomb"
    );

    // The server still imports ordinary workbooks.
    let again = import_xlsx(&served.channel, sample).await.unwrap();
    assert_eq!(again.already_present, first.imported);

    served.child.kill().unwrap();
    served.child.wait().unwrap();
}

/// `elicence import` has the same limits, as flags: a workbook past one is refused
/// before anything is written, with the limit named.
#[test]
fn cli_import_refuses_a_workbook_past_a_limit() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_elicence"))
            .current_dir(ROOT)
            .args(["import", "tests/data/import/sample-40.xlsx"])
            .args(["--mapping", "templates/mappings/sample.toml", "--allow-rejects"])
            .arg("--rejects")
            .arg(tmp.path().join("rejects.csv"))
            .arg("--data-dir")
            .arg(&data)
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = run(&["--xlsx-max-shared-strings", "10"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("xlsx refused before parsing") && stderr.contains("(--xlsx-max-shared-strings)"),
        "{stderr}"
    );
    assert!(!stderr.contains("rows read"), "nothing was read: {stderr}");

    let imported = run(&[]);
    let stderr = String::from_utf8_lossy(&imported.stderr);
    assert!(imported.status.success(), "{stderr}");
    assert!(stderr.contains("rows read 40"), "{stderr}");
}
