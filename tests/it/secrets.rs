//! No secret reaches the logs: the real server runs a full scenario with every logger at
//! debug, and its captured output is searched for bearer tokens, private key material and
//! unmasked personal identity numbers used in the scenario.

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use elicence::api::pb::licence_service_client::LicenceServiceClient;
use elicence::api::pb::query_licences_request::Selector;
use elicence::api::pb::verification_service_client::VerificationServiceClient;
use elicence::api::pb::{
    ChangeStatusRequest, GetLicenceRequest, HolderSelector, IssueLicenceRequest, QueryLicencesRequest,
    VerifyLicenceRequest,
};

use crate::common::*;
use crate::crash::serve_on;

const PERSON: &str = "420802199001011234";
const BAD_PERSON: &str = "420802199001011235";
const WRONG_TOKEN: &str = "not-a-real-token-8f3a9c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_hold_no_tokens_keys_or_personal_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let place = place_of(&tmp.path().join("data"));
    // Even a driver asked for its most detailed log says nothing of the parameters.
    let served = serve_on(&place, "debug,tokio_postgres=trace", Some(logs.clone())).await;
    let mut licences = LicenceServiceClient::new(served.channel.clone());
    let mut public = VerificationServiceClient::new(served.channel.clone());

    let id = licences
        .issue_licence(authed(
            SCJGJ,
            IssueLicenceRequest {
                request_id: "s-1".into(),
                licence: Some(food_permit_for_person("JY14208000000077")),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .identifier;
    let mut bad = food_permit_for_person("JY14208000000078");
    bad.holder_code = BAD_PERSON.into();
    let refused = licences
        .issue_licence(authed(
            SCJGJ,
            IssueLicenceRequest {
                request_id: "s-2".into(),
                licence: Some(bad),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    licences
        .get_licence(authed(
            ZWFW,
            GetLicenceRequest {
                identifier: id.clone(),
                use_cause: "办理食品经营备案".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let found = licences
        .query_licences(authed(
            ZWFW,
            QueryLicencesRequest {
                selector: Some(Selector::Holder(HolderSelector {
                    holder_code_type: "111".into(),
                    holder_code: PERSON.into(),
                    ..Default::default()
                })),
                use_cause: "办理食品经营备案".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.results.len(), 1);
    licences
        .suspend_licence(authed(
            SCJGJ,
            ChangeStatusRequest {
                identifier: id.clone(),
                reason: "检查期间暂扣".into(),
                request_id: "s-3".into(),
            },
        ))
        .await
        .unwrap();
    let denied = licences
        .get_licence(authed(
            WRONG_TOKEN,
            GetLicenceRequest {
                identifier: id.clone(),
                use_cause: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    let v = public
        .verify_licence(authed(
            ZWFW,
            VerifyLicenceRequest {
                identifier: id,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(v.authentic);

    drop((licences, public, served.channel));
    let mut child = served.child;
    child.kill().unwrap();
    child.wait().unwrap();
    served.stderr.join().unwrap();

    let logs = logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("DEBUG"),
        "the scenario must run with debug logging:\n{logs}"
    );
    let pem = std::fs::read_to_string(Path::new(ROOT).join("keys-example/example-2026.pem")).unwrap();
    let key = elicence::licence::signing::signing_key_from_pem(&pem).unwrap();
    let mut secrets: Vec<(String, &str)> = vec![
        (hex::encode(key.to_bytes()), "private key (hex)"),
        (
            base64::engine::general_purpose::STANDARD.encode(key.to_bytes()),
            "private key (base64)",
        ),
        ("PRIVATE KEY".into(), "a PEM private key"),
        (PERSON.into(), "a resident identity number"),
        (BAD_PERSON.into(), "a resident identity number"),
        (WRONG_TOKEN.into(), "a presented token"),
    ];
    for token in [SCJGJ, ZWFW, ZJJ, RSJ] {
        secrets.push((token.into(), "a department token"));
    }
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        secrets.push((line.into(), "private key PEM body"));
    }
    for (secret, what) in &secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            panic!("{what} appears in the logs: {line}");
        }
    }
}
