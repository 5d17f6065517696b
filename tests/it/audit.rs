//! The access audit: granted and denied calls are recorded; auditors page through the
//! log by department, identifier and time; `elicence audit verify` checks the chain
//! offline and finds an edited or removed entry.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use elicence::api::pb::{
    AccessLogEntry, GetLicenceRequest, ListLicenceTypesRequest, QueryAccessLogRequest, QueryAccessLogResponse,
};
use elicence::clock::FixedClock;
use tonic::{Code, Status};

use crate::common::*;
use crate::lifecycle::{change, Op};

async fn access_log(
    server: &TestServer,
    token: &str,
    q: QueryAccessLogRequest,
) -> Result<QueryAccessLogResponse, Status> {
    server
        .audit()
        .query_access_log(authed(token, q))
        .await
        .map(|r| r.into_inner())
}

async fn get(server: &TestServer, token: &str, id: &str, cause: &str) -> Result<(), Status> {
    server
        .licences()
        .get_licence(authed(
            token,
            GetLicenceRequest {
                identifier: id.into(),
                use_cause: cause.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|_| ())
}

fn summary(e: &AccessLogEntry) -> (&str, &str, &str, &str) {
    (
        e.department_id.as_str(),
        e.method.rsplit('/').next().unwrap(),
        e.use_cause.as_str(),
        e.result.as_str(),
    )
}

#[tokio::test]
async fn granted_and_denied_calls_are_recorded_and_auditors_read_them() {
    let server = spawn_server().await;
    let id = issue_id(&server, "a-1", business_licence("A-1")).await;
    get(&server, ZJJ, &id, "企业开办核查").await.unwrap();
    assert_eq!(
        get(&server, RSJ, &id, "越权查询").await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        get(&server, ZJJ, &id, "").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    // Unauthenticated calls are refused and not written to the signed log.
    assert_eq!(
        server
            .licences()
            .get_licence(tonic::Request::new(GetLicenceRequest::default()))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    // Only auditors read the log; the refusal is itself recorded.
    let e = access_log(&server, SCJGJ, QueryAccessLogRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    let log = access_log(&server, ZWFW, QueryAccessLogRequest::default())
        .await
        .unwrap();
    let rows: Vec<_> = log.entries.iter().map(summary).collect();
    assert_eq!(
        rows,
        [
            ("scjgj", "IssueLicence", "", "OK"),
            ("zjj", "GetLicence", "企业开办核查", "OK"),
            ("rsj", "GetLicence", "越权查询", "PERMISSION_DENIED"),
            ("zjj", "GetLicence", "", "INVALID_ARGUMENT"),
            ("scjgj", "QueryAccessLog", "", "PERMISSION_DENIED"),
        ]
    );
    for e in &log.entries[..4] {
        assert_eq!(e.identifiers, vec![id.clone()]);
    }
    assert_eq!(log.entries[1].department, "11420800MB1B2345M2");
    assert_eq!(log.entries[1].at, "2026-11-27T02:00:00Z");
    assert_eq!(log.head_seq, 4, "the auditor's own call is appended after the answer");
    assert!(log.next_page_token.is_empty());

    // Filters: by department, by identifier; paging.
    let zjj = access_log(
        &server,
        ZWFW,
        QueryAccessLogRequest {
            department: "zjj".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(zjj.entries.len(), 2);
    let by_code = access_log(
        &server,
        ZWFW,
        QueryAccessLogRequest {
            department: "11420800011234560C".into(),
            identifier: id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_code.entries.iter().map(summary).collect::<Vec<_>>(), [rows[2]]);
    let mut token = String::new();
    let mut seqs = Vec::new();
    loop {
        let page = access_log(
            &server,
            ZWFW,
            QueryAccessLogRequest {
                page_size: 2,
                page_token: token.clone(),
                to_time: "2026-11-27T03:00:00Z".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(page.entries.len() <= 2);
        seqs.extend(page.entries.iter().map(|e| e.seq));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    assert!(seqs.len() >= 8, "every auditor page is recorded too: {seqs:?}");

    // Time range: entries after the clock moved on.
    server.clock.set(time::macros::datetime!(2026-12-01 02:00 UTC));
    change(&server, SCJGJ, Op::Suspend, &id, "later").await.unwrap();
    let december = access_log(
        &server,
        ZWFW,
        QueryAccessLogRequest {
            from_time: "2026-12-01T00:00:00+08:00".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        december.entries.iter().map(summary).collect::<Vec<_>>()[0],
        ("scjgj", "SuspendLicence", "", "OK")
    );
    let e = access_log(
        &server,
        ZWFW,
        QueryAccessLogRequest {
            from_time: "yesterday".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(e.message().starts_with("from_time"), "{}", e.message());
    server.stop().await;
}

fn audit_verify(data_dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_elicence"))
        .args(["audit", "verify"])
        .args(place_of(data_dir).args())
        .arg("--keys")
        .arg(Path::new(ROOT).join("keys-example"))
        .env("ELICENCE_LOG", "error")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Rewrites the stored value of audit entry `seq` in place (server stopped).
fn edit_entry(data_dir: &Path, seq: u64, edit: impl FnOnce(&mut Vec<u8>)) {
    edit_raw_store(data_dir, "audit", |tree| {
        let mut value = tree.get(seq.to_be_bytes()).unwrap().unwrap().to_vec();
        edit(&mut value);
        tree.insert(seq.to_be_bytes(), value).unwrap();
    });
}

#[tokio::test]
async fn audit_verify_checks_the_chain_offline_and_finds_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = spawn_server_at(&dir, Arc::new(FixedClock::new(default_now()))).await;
    let id = issue_id(&server, "v-1", business_licence("V-1")).await;
    for cause in ["核查一", "核查二", "核查三"] {
        get(&server, ZJJ, &id, cause).await.unwrap();
    }
    server
        .catalog()
        .list_licence_types(authed(RSJ, ListLicenceTypesRequest {}))
        .await
        .unwrap();
    assert_eq!(server.data_dir, dir);
    server.stop().await;

    let (ok, out) = audit_verify(&dir);
    assert!(ok, "{out}");
    assert!(out.contains("OK: 5 entries verified; head seq 4"), "{out}");
    // Tampering below edits the embedded store's files.
    crate::embedded_only!();

    // Edit the use cause of entry 2, keeping its signature: detected at entry 2.
    edit_entry(&dir, 2, |v| {
        let at = v.windows(9).position(|w| w == "核查二".as_bytes()).unwrap();
        v.splice(at..at + 9, "核查四".bytes());
    });
    let (ok, out) = audit_verify(&dir);
    assert!(!ok, "{out}");
    assert!(out.contains("FAILED: entry 2: signature"), "{out}");

    // Restore it, then remove entry 1: the gap is found.
    edit_entry(&dir, 2, |v| {
        let at = v.windows(9).position(|w| w == "核查四".as_bytes()).unwrap();
        v.splice(at..at + 9, "核查二".bytes());
    });
    assert!(audit_verify(&dir).0);
    edit_raw_store(&dir, "audit", |tree| tree.remove(1u64.to_be_bytes()).unwrap());
    let (ok, out) = audit_verify(&dir);
    assert!(!ok);
    assert!(out.contains("FAILED: entry 2: expected seq 1"), "{out}");
    drop(tmp);
}
