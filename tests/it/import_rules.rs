//! Imports obey the issuing rules (issue 12), written as the attack: a department with
//! a valid token imports licences under another department's issuer code, of a type it
//! may not issue, or with a legacy identifier naming another issuer — every such row is
//! rejected and the store is left as it was. What an import does create says who put it
//! there: a signed first event naming the importer and the run, and an audit entry naming
//! the identifiers (or their count and digest).

use std::path::Path;
use std::process::Command;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use elicence::api::pb::import_licences_request::Part;
use elicence::api::pb::migration_service_client::MigrationServiceClient;
use elicence::api::pb::{
    AccessLogEntry, GetLicenceHistoryRequest, ImportHeader, ImportLicencesRequest, ImportLicencesResponse,
    QueryAccessLogRequest,
};
use elicence::licence::status::StatusEvent;
use elicence::licence::LicenceId;

use sha2::{Digest, Sha256};

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_elicence");
/// 住建局: a department 市场监管局 is not.
const ZJJ_CODE: &str = "11420800MB1B2345M2";
/// 建筑工程施工许可证, issued by 住建局 only.
const CONSTRUCTION_PERMIT: &str = "11100000000013129K001";
const HEADER: &str = "证照类型,证照编号,证照标识,发证机关,发证机关代码,发证日期,持证主体,持证主体代码,有效期起始,有效期截止,行政区划,关联事项,住所,法定代表人,注册资本,经营范围,执业类别";

/// A legacy export row (the columns of `templates/mappings/sample.toml`).
fn row(type_name: &str, number: &str, legacy: &str, issuer_code: &str) -> String {
    format!(
        "{type_name},{number},{legacy},荆门市市场监督管理局,{issuer_code},2015-03-01,荆门市某某有限公司,91420804MA4012HJ7L,,长期,420804,企业设立登记,荆门市,张三,20,一般项目,"
    )
}

fn csv(rows: &[String]) -> Vec<u8> {
    format!("{HEADER}\n{}\n", rows.join("\n")).into_bytes()
}

async fn import(server: &TestServer, token: &str, csv: Vec<u8>) -> ImportLicencesResponse {
    let mapping_toml = std::fs::read_to_string(Path::new(ROOT).join("templates/mappings/sample.toml")).unwrap();
    let msgs = vec![
        ImportLicencesRequest {
            part: Some(Part::Header(ImportHeader {
                mapping_toml,
                source_file: "legacy.csv".into(),
                format: "csv".into(),
                ..Default::default()
            })),
        },
        ImportLicencesRequest {
            part: Some(Part::Chunk(csv)),
        },
    ];
    MigrationServiceClient::new(server.channel.clone())
        .import_licences(authed(token, tokio_stream::iter(msgs)))
        .await
        .unwrap()
        .into_inner()
}

/// The access-log entries of ImportLicences calls (read by the auditor, 政务服务局).
async fn import_entries(server: &TestServer) -> Vec<AccessLogEntry> {
    let page = server
        .audit()
        .query_access_log(authed(
            ZWFW,
            QueryAccessLogRequest {
                page_size: 500,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    page.entries
        .into_iter()
        .filter(|e| e.method.ends_with("/ImportLicences"))
        .collect()
}

/// SHA-256 of identifiers sorted, each followed by a line feed.
fn digest_of(ids: &[String]) -> Vec<u8> {
    let mut sorted = ids.to_vec();
    sorted.sort();
    let mut h = Sha256::new();
    for id in &sorted {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_vec()
}

fn identifiers_in(data: &Path) -> Vec<String> {
    place_of(data).identifiers()
}

fn check_passes(data: &Path) {
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .arg("check")
        .args(place_of(data).args())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("no problems"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_department_cannot_import_past_its_issuing_rights() {
    let server = spawn_server().await;
    let data = server.data_dir.clone();
    let other_issuer = LicenceId::new(BUSINESS_LICENCE, ZJJ_CODE, "20150000001", 1)
        .unwrap()
        .to_string();
    let rows = [
        // 营业执照, which 市场监管局 may issue, but under 住建局's issuer code.
        row("营业执照", "ATTACK-1", "", ZJJ_CODE),
        // The same with 住建局's identifier kept from the "source".
        row("营业执照", "ATTACK-2", &other_issuer, ZJJ_CODE),
        // Its own issuer code on 住建局's identifier.
        row("营业执照", "ATTACK-3", &other_issuer, SCJGJ_CODE),
        // A type only 住建局 issues, under 市场监管局's own code.
        row(CONSTRUCTION_PERMIT, "ATTACK-4", "", SCJGJ_CODE),
    ];
    let r = import(&server, SCJGJ, csv(&rows)).await;
    assert_eq!((r.rows_read, r.imported, r.rejected_rows), (4, 0, 4), "{r:#?}");
    let reason = |line: u64| {
        r.rejects
            .iter()
            .filter(|x| x.line == line)
            .map(|x| x.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    for line in [2, 3] {
        assert!(
            reason(line).contains(&format!("licence.issuer_code {ZJJ_CODE}")),
            "line {line}: {}",
            reason(line)
        );
    }
    assert!(reason(4).contains(&format!("issuer part {ZJJ_CODE}")), "{}", reason(4));
    assert!(
        reason(5).contains("may not issue") && reason(5).contains(CONSTRUCTION_PERMIT),
        "{}",
        reason(5)
    );
    assert!(r.created_identifiers.is_empty());
    // The refused import is audited, as having created nothing.
    let entry = import_entries(&server).await.pop().unwrap();
    let run = entry.import.unwrap();
    assert_eq!((run.run_id.as_str(), run.created), (r.run_id.as_str(), 0));
    assert!(entry.identifiers.is_empty());

    let _tmp = server.stop().await;
    assert!(identifiers_in(&data).is_empty(), "the store is as it was");
}

#[tokio::test]
async fn a_migrated_record_says_who_imported_it_and_the_audit_what_was_created() {
    let server = spawn_server().await;
    let data = server.data_dir.clone();
    let own = LicenceId::new(BUSINESS_LICENCE, SCJGJ_CODE, "LEGACY0000007", 1)
        .unwrap()
        .to_string();
    let rows = [
        row("营业执照", "MIG-1", "", SCJGJ_CODE),
        row("营业执照", "MIG-2", &own, SCJGJ_CODE),
        row("食品经营许可证", "MIG-3", "", SCJGJ_CODE),
    ];
    let r = import(&server, SCJGJ, csv(&rows)).await;
    assert_eq!(r.imported, 3, "{r:#?}");
    assert_eq!(r.run_id.len(), 32, "128 random bits in hex: {}", r.run_id);
    let created = r.created_identifiers.clone();
    assert_eq!(created.len(), 3);
    assert!(created.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert!(created.contains(&own), "the legacy identifier is kept");
    assert_eq!(r.created_sha256, digest_of(&created));

    // Each record's history starts with a signed `migrated` event naming 市场监管局 and the run.
    let keys = server.signing_keys().await;
    for id in &created {
        let history = server
            .licences()
            .get_licence_history(authed(
                SCJGJ,
                GetLicenceHistoryRequest {
                    identifier: id.clone(),
                    use_cause: "迁移数据核查".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let event = &history.versions[0].events[0];
        assert_eq!(
            (event.seq, event.kind.as_str(), event.actor.as_str()),
            (0, "migrated", SCJGJ_CODE)
        );
        assert_eq!(event.actor_name, "荆门市市场监督管理局");
        assert!(event.reason.contains(&r.run_id), "{}", event.reason);
        let key = keys.iter().find(|k| k.key_id == event.key_id).unwrap();
        let key = VerifyingKey::from_bytes(&key.public_key.clone().try_into().unwrap()).unwrap();
        let signature = Signature::from_slice(&event.signature).unwrap();
        key.verify(&event.signed_event, &signature).unwrap();
        let signed: StatusEvent = serde_json::from_slice(&event.signed_event).unwrap();
        assert!(signed.reason.contains(&r.run_id));
        let record_digest = Sha256::digest(&history.versions[0].signed_record);
        assert_eq!(signed.prev_digest, hex::encode(record_digest), "chained to the record");
    }

    // The audit entry names what the import created, and the run.
    let entry = import_entries(&server).await.pop().unwrap();
    assert_eq!(entry.department, SCJGJ_CODE);
    let mut named = entry.identifiers.clone();
    named.sort();
    assert_eq!(named, created);
    let run = entry.import.unwrap();
    assert_eq!((run.run_id.as_str(), run.created), (r.run_id.as_str(), 3));
    assert_eq!(run.created_sha256, r.created_sha256);
    let signed: serde_json::Value = serde_json::from_slice(&entry.signed_entry).unwrap();
    assert_eq!(signed["import"]["run_id"], r.run_id.as_str(), "inside the signed bytes");

    let _tmp = server.stop().await;
    check_passes(&data);
}

#[tokio::test]
async fn an_import_too_large_to_list_is_audited_by_count_and_digest() {
    let server = spawn_server().await;
    let data = server.data_dir.clone();
    let rows: Vec<String> = (0..1001)
        .map(|i| row("营业执照", &format!("MANY-{i:04}"), "", SCJGJ_CODE))
        .collect();
    let r = import(&server, SCJGJ, csv(&rows)).await;
    assert_eq!(r.imported, 1001);
    assert!(r.created_identifiers.is_empty(), "over 1,000: not listed");
    let entry = import_entries(&server).await.pop().unwrap();
    assert!(entry.identifiers.is_empty());
    let run = entry.import.unwrap();
    assert_eq!(run.created, 1001);
    assert_eq!(run.created_sha256, r.created_sha256);

    let _tmp = server.stop().await;
    assert_eq!(
        r.created_sha256,
        digest_of(&identifiers_in(&data)),
        "the digest covers them all"
    );
}

/// On the command line the operator acts for no department, but the catalogue still
/// says who issues what: a 营业执照 under 住建局's code is rejected, and what is imported
/// names the operator and the run.
#[test]
fn cli_import_obeys_the_catalogue_and_names_the_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Kept running (on PostgreSQL) until the end of the test.
    let place = place_of(&data);
    let input = tmp.path().join("legacy.csv");
    std::fs::write(
        &input,
        csv(&[
            row("营业执照", "CLI-1", "", ZJJ_CODE),
            row("营业执照", "CLI-2", "", SCJGJ_CODE),
        ]),
    )
    .unwrap();
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "import",
            input.to_str().unwrap(),
            "--mapping",
            "templates/mappings/sample.toml",
        ])
        .args(["--operator", "迁移组 王工"])
        .args(place.args())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a rejected row gives exit 2: {stderr}");
    let report = std::fs::read_to_string(tmp.path().join("legacy.csv.rejects.csv")).unwrap();
    let rejected: Vec<&str> = report.lines().filter(|l| l.starts_with("2,")).collect();
    assert_eq!(rejected.len(), 1, "{report}");
    assert!(
        rejected[0].contains(&format!("licence.issuer_code {ZJJ_CODE} is not an issuing department")),
        "{report}"
    );
    let run_id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("import run "))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no run id printed: {stderr}"))
        .to_string();
    assert_eq!(run_id.len(), 32, "{stderr}");

    let ids = {
        let store = elicence::store::OpenedStore::open(&place.location()).unwrap().store();
        let ids = stored_identifiers(store.as_ref());
        assert_eq!(ids.len(), 1);
        let events = store.events(&ids[0]).unwrap();
        let first: StatusEvent = serde_json::from_slice(&events[0].bytes).unwrap();
        assert_eq!((first.seq, first.actor.as_str()), (0, "operator"));
        assert_eq!(first.actor_name, "迁移组 王工");
        assert!(first.reason.contains(&run_id), "{}", first.reason);
        ids
    };
    assert!(
        stderr.contains(&hex::encode(Sha256::digest(format!("{}\n", ids[0])))),
        "{stderr}"
    );
    check_passes(&data);
}
