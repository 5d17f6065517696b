//! Converting a data directory of the sled release: `elicence store migrate
//! --from-sled` through the real binary, then every licence verifies on the new store,
//! its status and history intact, and the old directory is refused by `serve`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use elicence::api::pb::VerifyLicenceRequest;
use elicence::clock::FixedClock;
use elicence::licence::{Field, LicenceDraft};
use elicence::registry::{Registry, StatusChange};
use elicence::store::SledStore;

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_elicence");

fn draft(number: &str) -> LicenceDraft {
    LicenceDraft {
        licence_type_code: BUSINESS_LICENCE.into(),
        licence_number: number.into(),
        issuer_name: "荆门市市场监督管理局".into(),
        issuer_code: SCJGJ_CODE.into(),
        issuer_level: "地市级".into(),
        issue_date: "2026-03-01".into(),
        holder_name: "荆门市楚韵食品有限公司".into(),
        holder_code: "91440300708461136T".into(),
        holder_code_type: "001".into(),
        valid_from: "2026-03-01".into(),
        region_code: "420800".into(),
        fields: vec![Field {
            name: "经营范围".into(),
            value: "食品销售".into(),
        }],
        ..Default::default()
    }
}

/// A store as the sled release left it: licences issued, one suspended, reads audited.
async fn sled_data_dir(dir: &Path) -> Vec<(String, String)> {
    let keys = elicence::keys::load(&Path::new(ROOT).join("keys-example"), false).unwrap();
    let seed = elicence::catalog::types::load_dir(&Path::new(ROOT).join("templates/catalog")).unwrap();
    let store = Arc::new(SledStore::open(dir).unwrap());
    let clock = Arc::new(FixedClock::new(default_now()));
    let registry = Registry::new(store.clone(), Arc::new(keys.ring), clock, seed).unwrap();
    let directory = elicence::testing::example_directory();
    let scjgj = directory.departments().iter().find(|d| d.id == "scjgj").unwrap();
    let mut issued = Vec::new();
    for i in 0..30 {
        let r = registry
            .issue(scjgj, &format!("old-{i}"), draft(&format!("OLD-{i}")))
            .unwrap()
            .await
            .unwrap();
        issued.push((r.identifier, r.verification_code));
    }
    registry
        .change_status(scjgj, "old-s", &issued[3].0, StatusChange::Suspend, "核查期间暂扣")
        .unwrap()
        .await
        .unwrap();
    elicence::store::Store::flush(store.as_ref()).unwrap();
    issued
}

#[tokio::test]
async fn a_sled_data_directory_converts_and_every_licence_still_verifies() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let new = tmp.path().join("new");
    let issued = sled_data_dir(&old).await;

    // The new release refuses to serve the old directory, naming the fix.
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args(["check", "--data-dir"])
        .arg(&old)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("elicence store migrate --from-sled"), "{err}");

    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args(["store", "migrate", "--from-sled"])
        .arg(&old)
        .arg("--data-dir")
        .arg(&new)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("converted"), "{stderr}");
    assert!(stdout.contains("no problems"), "{stdout}");
    assert!(stdout.contains("30 licences"), "{stdout}");
    assert!(
        !tmp.path().join("new.sled-migration").exists(),
        "the transfer file is removed"
    );

    let server = spawn_server_at(&new, Arc::new(FixedClock::new(default_now()))).await;
    for (i, (identifier, code)) in issued.iter().enumerate() {
        let v = server
            .verification()
            .verify_licence(VerifyLicenceRequest {
                identifier: identifier.clone(),
                verification_code: code.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(v.authentic, "{identifier}");
        let want = if i == 3 { "02" } else { "01" };
        assert_eq!(v.status_code, want, "{identifier}");
    }
    // New serials continue above the old ones: a new licence gets a new identifier.
    let fresh = issue(&server, "new-1", business_licence("NEW-1")).await;
    assert!(!issued.iter().any(|(id, _)| *id == fresh.identifier));
    server.stop().await;
}
