//! Lifecycle: every transition and its refusal, idempotency, version links, history
//! verification, the permission matrix, and what public verification reports.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use elicence::api::pb::{
    licence_service_client::LicenceServiceClient, AmendLicenceRequest, ChangeStatusRequest, ChangeStatusResponse,
    FieldList, GetLicenceHistoryRequest, GetLicenceRequest, LicenceChanges, LicenceStatus, ReissueResponse,
    RenewLicenceRequest, VerifyLicenceRequest, VerifyLicenceResponse,
};
use elicence::licence::LicenceId;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::common::*;

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Suspend,
    Restore,
    Revoke,
    Withdraw,
    Cancel,
}

pub async fn change(
    server: &TestServer,
    token: &str,
    op: Op,
    identifier: &str,
    request_id: &str,
) -> Result<ChangeStatusResponse, Status> {
    let mut c: LicenceServiceClient<Channel> = server.licences();
    let req = authed(
        token,
        ChangeStatusRequest {
            identifier: identifier.into(),
            reason: format!("{op:?} for a test"),
            request_id: request_id.into(),
        },
    );
    let r = match op {
        Op::Suspend => c.suspend_licence(req).await,
        Op::Restore => c.restore_licence(req).await,
        Op::Revoke => c.revoke_licence(req).await,
        Op::Withdraw => c.withdraw_licence(req).await,
        Op::Cancel => c.cancel_licence(req).await,
    };
    r.map(|r| r.into_inner())
}

pub async fn amend_holder_name(
    server: &TestServer,
    token: &str,
    identifier: &str,
    request_id: &str,
    name: &str,
) -> Result<ReissueResponse, Status> {
    server
        .licences()
        .amend_licence(authed(
            token,
            AmendLicenceRequest {
                identifier: identifier.into(),
                request_id: request_id.into(),
                reason: "名称变更".into(),
                changes: Some(LicenceChanges {
                    holder_name: Some(name.into()),
                    ..Default::default()
                }),
                issue_date: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

pub async fn renew(
    server: &TestServer,
    identifier: &str,
    request_id: &str,
    from: &str,
    until: &str,
) -> Result<ReissueResponse, Status> {
    server
        .licences()
        .renew_licence(authed(
            SCJGJ,
            RenewLicenceRequest {
                identifier: identifier.into(),
                request_id: request_id.into(),
                reason: "延续申请".into(),
                valid_from: from.into(),
                valid_until: until.into(),
                issue_date: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// Verification by identifier alone, as a department that may read every type does it
/// (the public must present the code or QR payload: see tests/it/privacy.rs).
pub async fn verify(server: &TestServer, identifier: &str) -> VerifyLicenceResponse {
    server
        .verification()
        .verify_licence(authed(
            ZWFW,
            VerifyLicenceRequest {
                identifier: identifier.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

fn refused(r: Result<impl std::fmt::Debug, Status>, message: &str) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains(message), "{:?} lacks {message:?}", e.message());
}

#[tokio::test]
async fn every_transition_and_its_refusal() {
    let server = spawn_server().await;
    let id = issue_id(&server, "t-1", business_licence("T-1")).await;

    let s = change(&server, SCJGJ, Op::Suspend, &id, "s-1").await.unwrap();
    assert_eq!(s.status, LicenceStatus::Suspended as i32);
    assert_eq!(s.status_code, "02");
    let event = s.event.unwrap();
    assert_eq!((event.seq, event.kind.as_str()), (1, "suspended"));
    assert_eq!(event.actor, SCJGJ_CODE);
    refused(
        change(&server, SCJGJ, Op::Suspend, &id, "s-2").await,
        "licence is suspended; cannot suspend",
    );
    let r = change(&server, SCJGJ, Op::Restore, &id, "r-1").await.unwrap();
    assert_eq!(r.status, LicenceStatus::Valid as i32);
    refused(
        change(&server, SCJGJ, Op::Restore, &id, "r-2").await,
        "licence is valid; cannot restore",
    );
    let v = change(&server, SCJGJ, Op::Revoke, &id, "v-1").await.unwrap();
    assert_eq!(
        (v.status, v.status_code.as_str()),
        (LicenceStatus::Revoked as i32, "07")
    );
    refused(
        change(&server, SCJGJ, Op::Restore, &id, "r-3").await,
        "licence is revoked; cannot restore",
    );

    // Each final state refuses everything, including amendment and renewal.
    let finals = [
        (Op::Revoke, "revoked", LicenceStatus::Revoked, "07"),
        (Op::Withdraw, "withdrawn", LicenceStatus::Withdrawn, "03"),
        (Op::Cancel, "cancelled", LicenceStatus::Cancelled, "04"),
    ];
    for (i, (end, name, status, code)) in finals.into_iter().enumerate() {
        let id = issue_id(&server, &format!("f-{i}"), business_licence(&format!("F-{i}"))).await;
        // From suspended, too.
        change(&server, SCJGJ, Op::Suspend, &id, &format!("fs-{i}"))
            .await
            .unwrap();
        let done = change(&server, SCJGJ, end, &id, &format!("fe-{i}")).await.unwrap();
        assert_eq!((done.status, done.status_code.as_str()), (status as i32, code));
        for (j, op) in [Op::Suspend, Op::Restore, Op::Revoke, Op::Withdraw, Op::Cancel]
            .into_iter()
            .enumerate()
        {
            refused(
                change(&server, SCJGJ, op, &id, &format!("fx-{i}-{j}")).await,
                &format!("licence is {name}; cannot"),
            );
        }
        refused(
            amend_holder_name(&server, SCJGJ, &id, &format!("fa-{i}"), "新名称").await,
            &format!("licence is {name}; cannot amend"),
        );
        refused(
            renew(&server, &id, &format!("fr-{i}"), "2027-01-01", "").await,
            &format!("licence is {name}; cannot renew"),
        );
        let v = verify(&server, &id).await;
        assert_eq!(v.status, status as i32);
        assert!(v.detail.contains(name), "{}", v.detail);
    }
    server.stop().await;
}

#[tokio::test]
async fn status_changes_are_idempotent_and_need_a_reason() {
    let server = spawn_server().await;
    let id = issue_id(&server, "i-1", business_licence("I-1")).await;
    let first = change(&server, SCJGJ, Op::Suspend, &id, "same").await.unwrap();
    let again = change(&server, SCJGJ, Op::Suspend, &id, "same").await.unwrap();
    assert_eq!(first.event, again.event, "a retry returns the first result");

    let other = issue_id(&server, "i-2", business_licence("I-2")).await;
    let e = change(&server, SCJGJ, Op::Suspend, &other, "same").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("request_id"), "{}", e.message());

    let e = server
        .licences()
        .suspend_licence(authed(
            SCJGJ,
            ChangeStatusRequest {
                identifier: other.clone(),
                reason: "  ".into(),
                request_id: "no-reason".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("reason"), "{}", e.message());
    server.stop().await;
}

#[tokio::test]
async fn amend_and_renew_issue_linked_versions() {
    let server = spawn_server().await;
    let v1 = issue_id(&server, "a-1", business_licence("A-1")).await;
    let amended = amend_holder_name(&server, SCJGJ, &v1, "a-2", "荆门市楚韵食品集团有限公司")
        .await
        .unwrap();
    assert_eq!(amended.replaces, v1);
    let (old, new): (LicenceId, LicenceId) = (v1.parse().unwrap(), amended.identifier.parse().unwrap());
    assert_eq!((new.serial.as_str(), new.version), (old.serial.as_str(), 2));
    assert_eq!(new.type_code, old.type_code);

    let got = server
        .licences()
        .get_licence(authed(
            SCJGJ,
            GetLicenceRequest {
                licence_type_code: BUSINESS_LICENCE.into(),
                licence_number: "A-1".into(),
                use_cause: "变更核查".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let l = got.licence.unwrap();
    assert_eq!(l.identifier, amended.identifier, "the number now names v2");
    assert_eq!(l.replaces, v1);
    assert_eq!(l.version, 2);
    assert_eq!(l.holder_name, "荆门市楚韵食品集团有限公司");
    assert_eq!(l.issue_date, "2026-11-27", "issue date defaults to today");
    assert_eq!(l.fields.len(), 4, "unchanged fields carry over");
    assert_eq!(Sha256::digest(&got.signed_record).to_vec(), amended.digest);

    let old_view = verify(&server, &v1).await;
    assert_eq!(old_view.status, LicenceStatus::Superseded as i32);
    assert_eq!(old_view.current_identifier, amended.identifier);
    refused(
        amend_holder_name(&server, SCJGJ, &v1, "a-3", "再次").await,
        "licence is superseded by",
    );

    // Amending the fields list and nothing else; no change at all is refused.
    let e = server
        .licences()
        .amend_licence(authed(
            SCJGJ,
            AmendLicenceRequest {
                identifier: amended.identifier.clone(),
                request_id: "a-4".into(),
                reason: "无变化".into(),
                changes: Some(LicenceChanges::default()),
                issue_date: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("changes"), "{}", e.message());
    let with_fields = server
        .licences()
        .amend_licence(authed(
            SCJGJ,
            AmendLicenceRequest {
                identifier: amended.identifier.clone(),
                request_id: "a-5".into(),
                reason: "经营范围变更".into(),
                changes: Some(LicenceChanges {
                    fields: Some(FieldList {
                        fields: vec![elicence::api::pb::Field {
                            name: "经营范围".into(),
                            value: "食品销售".into(),
                        }],
                    }),
                    ..Default::default()
                }),
                issue_date: "2026-11-20".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let v4 = renew(&server, &with_fields.identifier, "a-6", "2027-01-01", "2031-12-31")
        .await
        .unwrap();
    assert_eq!(v4.identifier.parse::<LicenceId>().unwrap().version, 4);
    // A retry of the renewal returns the same version.
    let again = renew(&server, &with_fields.identifier, "a-6", "2027-01-01", "2031-12-31")
        .await
        .unwrap();
    assert_eq!(again, v4);

    let v = verify(&server, &v1).await;
    assert_eq!(v.current_identifier, v4.identifier, "v1 points at the newest version");
    let v = verify(&server, &v4.identifier).await;
    assert_eq!(v.status, LicenceStatus::NotYetValid as i32);
    assert_eq!(v.licence.unwrap().valid_until, "2031-12-31");
    let e = renew(&server, &v4.identifier, "a-7", "", "").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("valid_from"), "{}", e.message());
    server.stop().await;
}

#[tokio::test]
async fn history_lists_every_version_and_event_and_each_verifies() {
    let server = spawn_server().await;
    let v1 = issue_id(&server, "h-1", business_licence("H-1")).await;
    change(&server, SCJGJ, Op::Suspend, &v1, "h-2").await.unwrap();
    change(&server, SCJGJ, Op::Restore, &v1, "h-3").await.unwrap();
    let v2 = amend_holder_name(&server, SCJGJ, &v1, "h-4", "新名称有限公司")
        .await
        .unwrap();
    let v3 = renew(&server, &v2.identifier, "h-5", "2026-11-27", "").await.unwrap();

    let history = server
        .licences()
        .get_licence_history(authed(
            ZJJ,
            GetLicenceHistoryRequest {
                identifier: v2.identifier.clone(),
                use_cause: "历史核查".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = history
        .versions
        .iter()
        .map(|v| v.licence.as_ref().unwrap().identifier.as_str())
        .collect();
    assert_eq!(ids, [v1.as_str(), &v2.identifier, &v3.identifier]);
    let kinds: Vec<Vec<&str>> = history
        .versions
        .iter()
        .map(|v| v.events.iter().map(|e| e.kind.as_str()).collect())
        .collect();
    assert_eq!(
        kinds,
        [
            vec!["issued", "suspended", "restored", "superseded"],
            vec!["reissued", "superseded"],
            vec!["reissued"],
        ]
    );
    assert_eq!(history.versions[0].events[3].related, v2.identifier);
    assert_eq!(history.versions[1].events[0].related, v1);
    assert_eq!(history.versions[1].events[0].reason, "名称变更");

    // Verify everything with a standard Ed25519 library and the published keys.
    let keys = server.signing_keys().await;
    let key = |id: &str| {
        let k = keys.iter().find(|k| k.key_id == id).expect("published key");
        VerifyingKey::from_bytes(&k.public_key.clone().try_into().unwrap()).unwrap()
    };
    for v in &history.versions {
        key(&v.key_id)
            .verify(&v.signed_record, &Signature::from_slice(&v.signature).unwrap())
            .unwrap();
        let mut prev = Sha256::digest(&v.signed_record).to_vec();
        for (i, e) in v.events.iter().enumerate() {
            key(&e.key_id)
                .verify(&e.signed_event, &Signature::from_slice(&e.signature).unwrap())
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&e.signed_event).unwrap();
            assert_eq!(json["seq"], i as u64);
            assert_eq!(json["prev_digest"], hex::encode(&prev), "chain link {i}");
            assert_eq!(json["kind"], e.kind.as_str());
            prev = Sha256::digest(&e.signed_event).to_vec();
            assert_eq!(e.digest, prev);
        }
    }
    // Also reachable by type and number.
    let by_number = server
        .licences()
        .get_licence_history(authed(
            SCJGJ,
            GetLicenceHistoryRequest {
                licence_type_code: BUSINESS_LICENCE.into(),
                licence_number: "H-1".into(),
                use_cause: "历史核查".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_number.versions.len(), 3);
    server.stop().await;
}

/// A well-formed identifier of a construction permit, a type 市场监管局 neither issues,
/// manages nor reads; it does not exist, and callers must not be able to tell.
fn construction_permit_id() -> String {
    LicenceId::new("11100000000013129K001", "11420800MB1B2345M2", "20260000001", 1)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn permission_matrix() {
    let server = spawn_server().await;
    let id = issue_id(&server, "p-1", business_licence("P-1")).await;
    let denied = |r: Result<_, Status>| {
        let e: Status = r.map(|_: ()| ()).expect_err("denied");
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    };
    let get = |token: &'static str, identifier: String| {
        let mut c = server.licences();
        async move {
            c.get_licence(authed(
                token,
                GetLicenceRequest {
                    identifier,
                    use_cause: "权限测试".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|_| ())
        }
    };
    // 住建局 reads business licences, but may not manage or amend them.
    get(ZJJ, id.clone()).await.unwrap();
    denied(change(&server, ZJJ, Op::Suspend, &id, "z-1").await.map(|_| ()));
    denied(amend_holder_name(&server, ZJJ, &id, "z-2", "x").await.map(|_| ()));
    // 政务服务局 reads every type, manages none.
    get(ZWFW, id.clone()).await.unwrap();
    denied(change(&server, ZWFW, Op::Revoke, &id, "w-1").await.map(|_| ()));
    // 人社局 reads only its own type: refused even for a licence that does not exist.
    denied(get(RSJ, id.clone()).await);
    denied(get(RSJ, id.replace(".001.", ".009.")).await);
    denied(change(&server, RSJ, Op::Cancel, &id, "r-1").await.map(|_| ()));
    // 市场监管局 on another department's type: refused, not NOT_FOUND.
    let other = construction_permit_id();
    denied(get(SCJGJ, other.clone()).await);
    denied(change(&server, SCJGJ, Op::Suspend, &other, "s-1").await.map(|_| ()));
    denied(amend_holder_name(&server, SCJGJ, &other, "s-2", "x").await.map(|_| ()));
    // The issuer manages and amends its own type.
    change(&server, SCJGJ, Op::Suspend, &id, "s-3").await.unwrap();
    change(&server, SCJGJ, Op::Restore, &id, "s-4").await.unwrap();
    amend_holder_name(&server, SCJGJ, &id, "s-5", "新名称").await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn verification_reports_every_status() {
    let server = spawn_server().await;
    let status = |v: &VerifyLicenceResponse| LicenceStatus::try_from(v.status).unwrap();

    let valid = issue_id(&server, "v-1", business_licence("V-1")).await;
    let v = verify(&server, &valid).await;
    assert!(v.authentic);
    assert_eq!((status(&v), v.status_code.as_str()), (LicenceStatus::Valid, "01"));

    for (i, (op, expected, code)) in [
        (Op::Suspend, LicenceStatus::Suspended, "02"),
        (Op::Revoke, LicenceStatus::Revoked, "07"),
        (Op::Withdraw, LicenceStatus::Withdrawn, "03"),
        (Op::Cancel, LicenceStatus::Cancelled, "04"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = issue_id(&server, &format!("vs-{i}"), business_licence(&format!("VS-{i}"))).await;
        change(&server, SCJGJ, op, &id, &format!("vo-{i}")).await.unwrap();
        let v = verify(&server, &id).await;
        assert!(v.authentic);
        assert_eq!((status(&v), v.status_code.as_str()), (expected, code), "{op:?}");
        // The status, its code and the day it took effect; never the reason a clerk
        // typed (it may hold personal data).
        assert!(!v.detail.contains("for a test"), "{}", v.detail);
        assert_eq!(v.status_since, "2026-11-27", "{op:?}");
        assert!(v.detail.ends_with("since 2026-11-27"), "{}", v.detail);
    }

    let mut later = food_permit_for_person("VS-LATER");
    later.valid_from = "2027-01-01".into();
    let later = issue_id(&server, "vs-later", later).await;
    assert_eq!(status(&verify(&server, &later).await), LicenceStatus::NotYetValid);

    let mut old = food_permit_for_person("VS-OLD");
    old.issue_date = "2020-01-01".into();
    old.valid_from = "2020-01-01".into();
    old.valid_until = "2025-12-31".into();
    let old = issue_id(&server, "vs-old", old).await;
    let v = verify(&server, &old).await;
    assert_eq!((status(&v), v.status_code.as_str()), (LicenceStatus::Expired, "05"));
    // An expired licence can be renewed; the old version is then superseded.
    let renewed = renew(&server, &old, "vs-renew", "2026-01-01", "2030-12-31")
        .await
        .unwrap();
    let v = verify(&server, &old).await;
    assert_eq!(status(&v), LicenceStatus::Superseded);
    assert_eq!(v.current_identifier, renewed.identifier);
    assert!(v.detail.contains(&renewed.identifier), "{}", v.detail);
    assert_eq!(
        status(&verify(&server, &renewed.identifier).await),
        LicenceStatus::Valid
    );
    server.stop().await;
}
