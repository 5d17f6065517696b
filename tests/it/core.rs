//! Issue → get → verify; every error code; idempotency; restart; tampering; health and
//! reflection.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use elicence::api::pb::{GetLicenceRequest, IssueLicenceRequest, LicenceStatus, VerifyLicenceRequest};
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::common::*;

#[tokio::test]
async fn issue_get_verify_and_check_signature_independently() {
    let server = spawn_server().await;
    let issued = issue(&server, "req-1", business_licence("91420800MA4F0001X1")).await;
    assert!(issued
        .identifier
        .starts_with("1.2.156.3005.2.11100000000013338W011.11420800MB1A234561.2026"));
    assert!(issued
        .identifier
        .ends_with(&issued.identifier[issued.identifier.len() - 1..]));
    issued
        .identifier
        .parse::<elicence::licence::LicenceId>()
        .expect("identifier has a valid check character");

    let got = server
        .licences()
        .get_licence(authed(
            SCJGJ,
            GetLicenceRequest {
                identifier: issued.identifier.clone(),
                use_cause: "登记核查".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let licence = got.licence.unwrap();
    assert_eq!(licence.holder_code, "91440300708461136T");
    assert_eq!(licence.licence_name, "营业执照");
    assert_eq!(got.status, LicenceStatus::Valid as i32);
    assert_eq!(got.signature, issued.signature);
    assert_eq!(Sha256::digest(&got.signed_record).to_vec(), issued.digest);

    // Verify with a standard Ed25519 library and nothing of ours but the published key.
    let keys = server.signing_keys().await;
    let key = keys
        .iter()
        .find(|k| k.key_id == got.key_id)
        .expect("signing key is published");
    let vk = VerifyingKey::from_bytes(&key.public_key.clone().try_into().unwrap()).unwrap();
    vk.verify(&got.signed_record, &Signature::from_slice(&got.signature).unwrap())
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&got.signed_record).unwrap();
    assert_eq!(json["identifier"], issued.identifier.as_str());
    assert_eq!(json["fields"][1]["value"], "王堃");

    // By type + number as well.
    let by_number = server
        .licences()
        .get_licence(authed(
            SCJGJ,
            GetLicenceRequest {
                licence_type_code: BUSINESS_LICENCE.into(),
                licence_number: "91420800MA4F0001X1".into(),
                use_cause: "登记核查".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_number.licence.unwrap().identifier, issued.identifier);

    // Public verification: no token, holder code masked.
    let v = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: issued.identifier.clone(),
            verification_code: issued.verification_code.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.authentic);
    assert_eq!(v.status, LicenceStatus::Valid as i32);
    assert_eq!(v.status_code, "01");
    assert_eq!(v.licence.unwrap().holder_code, "914403********136T");
    server.stop().await;
}

#[tokio::test]
async fn public_verification_masks_a_persons_name_and_id() {
    let server = spawn_server().await;
    let issued = issue(&server, "p-1", food_permit_for_person("JY14208000000001")).await;
    let v = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: issued.identifier,
            verification_code: issued.verification_code,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let l = v.licence.unwrap();
    assert_eq!(l.holder_code, "4****************4");
    assert_eq!(l.holder_name, "张*明");
    server.stop().await;
}

#[tokio::test]
async fn status_follows_the_clock() {
    let server = spawn_server().await;
    let mut l = food_permit_for_person("JY14208000000002");
    l.valid_from = "2027-01-01".into();
    l.valid_until = "2027-12-31".into();
    let issued = issue(&server, "c-1", l).await;
    let code = issued.verification_code.clone();
    let verify = |id: String| {
        let mut c = server.verification();
        let verification_code = code.clone();
        async move {
            c.verify_licence(VerifyLicenceRequest {
                identifier: id,
                verification_code,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    assert_eq!(
        verify(issued.identifier.clone()).await.status,
        LicenceStatus::NotYetValid as i32
    );
    server.clock.set(time::macros::datetime!(2027-06-01 00:00 UTC));
    assert_eq!(
        verify(issued.identifier.clone()).await.status,
        LicenceStatus::Valid as i32
    );
    server.clock.set(time::macros::datetime!(2028-01-01 00:00 UTC));
    let v = verify(issued.identifier.clone()).await;
    assert_eq!(v.status, LicenceStatus::Expired as i32);
    assert_eq!(v.status_code, "05");
    server.stop().await;
}

async fn issue_err(server: &TestServer, token: Option<&str>, licence: elicence::api::pb::Licence) -> tonic::Status {
    let msg = IssueLicenceRequest {
        request_id: format!("err-{}", licence.licence_number),
        licence: Some(licence),
    };
    let req = match token {
        Some(t) => authed(t, msg),
        None => tonic::Request::new(msg),
    };
    server.licences().issue_licence(req).await.unwrap_err()
}

#[tokio::test]
async fn each_error_has_its_code_and_names_the_field() {
    let server = spawn_server().await;

    let e = issue_err(&server, None, business_licence("N-1")).await;
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let e = issue_err(&server, Some("not-a-token"), business_licence("N-1")).await;
    assert_eq!(e.code(), Code::Unauthenticated);

    // 住建局 may not issue business licences.
    let e = issue_err(&server, Some(ZJJ), business_licence("N-2")).await;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    let mut l = business_licence("N-3");
    l.holder_code = "91440300708461136A".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("licence.holder_code") && e.message().contains("check digit"),
        "{}",
        e.message()
    );

    let mut l = food_permit_for_person("N-4");
    l.holder_code = "420802199001011235".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert!(e.message().contains("resident identity number"), "{}", e.message());

    let mut l = business_licence("N-5");
    l.licence_type_code = "11100000000013338W999".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("licence.licence_type_code") && e.message().contains("unknown"),
        "{}",
        e.message()
    );

    let mut l = business_licence("N-6");
    l.valid_until = "2020-01-01".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert!(e.message().starts_with("licence.valid_until"), "{}", e.message());

    let mut l = business_licence("N-7");
    l.holder_name = "".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert_eq!(e.message(), "licence.holder_name: is required");

    let mut l = business_licence("N-8");
    l.issue_date = "2026-02-30".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert!(e.message().starts_with("licence.issue_date"), "{}", e.message());

    // A business licence cannot be held by a natural person.
    let mut l = business_licence("N-9");
    l.holder_code = "420802199001011234".into();
    l.holder_code_type = "111".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert!(e.message().starts_with("licence.holder_code_type"), "{}", e.message());

    // Issuing in another body's name.
    let mut l = business_licence("N-10");
    l.issuer_code = "11420800MB1B2345M2".into();
    let e = issue_err(&server, Some(SCJGJ), l).await;
    assert_eq!(e.code(), Code::PermissionDenied);

    let e = server
        .licences()
        .issue_licence(authed(
            SCJGJ,
            IssueLicenceRequest {
                request_id: "".into(),
                licence: Some(business_licence("N-11")),
            },
        ))
        .await
        .unwrap_err();
    assert!(e.message().starts_with("request_id"), "{}", e.message());

    // Number already used for the type.
    issue(&server, "dup-1", business_licence("DUP-1")).await;
    let e = issue_err(&server, Some(SCJGJ), business_licence("DUP-1")).await;
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");

    // Unknown identifier, and a malformed one.
    let unknown = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y";
    let e = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: unknown.into(),
            verification_code: "7K3M9-Q2XP4".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: unknown.replace(".Y", ".Z"),
            verification_code: "7K3M9-Q2XP4".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("identifier: bad check character"),
        "{}",
        e.message()
    );
    let e = server
        .licences()
        .get_licence(authed(
            SCJGJ,
            GetLicenceRequest {
                identifier: unknown.into(),
                use_cause: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = server
        .licences()
        .get_licence(authed(
            SCJGJ,
            GetLicenceRequest {
                identifier: unknown.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert!(e.message().starts_with("use_cause"), "{}", e.message());
    server.stop().await;
}

#[tokio::test]
async fn retry_with_same_request_id_returns_the_first_result() {
    let server = spawn_server().await;
    let first = issue(&server, "same-id", business_licence("IDEM-1")).await;
    let again = issue(&server, "same-id", business_licence("IDEM-1")).await;
    assert_eq!(first, again);
    // Concurrent retries of one request issue exactly one licence.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut c = server.licences();
        tasks.push(tokio::spawn(async move {
            c.issue_licence(authed(
                SCJGJ,
                IssueLicenceRequest {
                    request_id: "burst".into(),
                    licence: Some(business_licence("IDEM-2")),
                },
            ))
            .await
            .map(|r| r.into_inner().identifier)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => ids.push(id),
            // A retry racing the first write may see the number taken before its request key.
            Err(e) => assert_eq!(e.code(), Code::AlreadyExists, "{e:?}"),
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    server.stop().await;
}

#[tokio::test]
async fn licences_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = std::sync::Arc::new(elicence::clock::FixedClock::new(default_now()));
    let server = spawn_server_at(&dir, clock.clone()).await;
    let issued = issue(&server, "r-1", business_licence("RESTART-1")).await;
    server.stop().await;

    let server = spawn_server_at(&dir, clock).await;
    let v = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: issued.identifier.clone(),
            verification_code: issued.verification_code.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.authentic);
    assert_eq!(v.digest, issued.digest);
    // The idempotency record survives too.
    assert_eq!(issue(&server, "r-1", business_licence("RESTART-1")).await, issued);
    server.stop().await;
}

#[tokio::test]
async fn a_record_altered_on_disk_is_reported_not_authentic() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let clock = std::sync::Arc::new(elicence::clock::FixedClock::new(default_now()));
    let server = spawn_server_at(&dir, clock.clone()).await;
    let issued = issue(&server, "t-1", business_licence("TAMPER-1")).await;
    server.stop().await;

    edit_raw_store(&dir, "records", |records| {
        let v = records.get(issued.identifier.as_bytes()).unwrap().unwrap().to_vec();
        // Keep the binary prefix (key id length, key id, 64-byte signature) intact;
        // change only the JSON after it. (The signature is random bytes: it may hold a
        // `{`, so the JSON is found by the layout, not by searching.)
        let json_start = 1 + usize::from(v[0]) + 64;
        let json = std::str::from_utf8(&v[json_start..]).unwrap();
        let edited = json.replace("伍佰万元整", "伍仟万元整");
        assert_ne!(edited, json);
        let mut altered = v[..json_start].to_vec();
        altered.extend_from_slice(edited.as_bytes());
        records.insert(issued.identifier.as_bytes(), altered).unwrap();
    });

    let server = spawn_server_at(&dir, clock).await;
    let v = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: issued.identifier.clone(),
            verification_code: issued.verification_code.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!v.authentic);
    assert_eq!(v.status, LicenceStatus::Unspecified as i32);
    assert!(v.licence.is_none());
    let e = server
        .licences()
        .get_licence(authed(
            SCJGJ,
            GetLicenceRequest {
                identifier: issued.identifier,
                use_cause: "核查".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::DataLoss);
    server.stop().await;
}

#[tokio::test]
async fn health_and_both_reflection_versions_answer() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let server = spawn_server().await;
    let h = HealthClient::new(server.channel.clone())
        .check(HealthCheckRequest {
            service: "elicence.v1.LicenceService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.status, 1); // SERVING

    {
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new(server.channel.clone())
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("{resp:?}")
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for s in [
            "elicence.v1.LicenceService",
            "elicence.v1.VerificationService",
            "elicence.v1.CatalogService",
            "grpc.health.v1.Health",
        ] {
            assert!(names.contains(&s.to_string()), "{s} missing from v1alpha: {names:?}");
        }
    }
    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "elicence.v1.LicenceService".into(),
            )),
        };
        let mut stream = ServerReflectionClient::new(server.channel.clone())
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        assert!(
            matches!(resp.message_response, Some(MessageResponse::FileDescriptorResponse(_))),
            "{resp:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn catalogue_lists_and_admin_adds_a_type() {
    use elicence::api::pb::{GetLicenceTypeRequest, LicenceType, ListLicenceTypesRequest, PutLicenceTypeRequest};
    let server = spawn_server().await;
    let types = server
        .catalog()
        .list_licence_types(authed(RSJ, ListLicenceTypesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .types;
    assert!(types.len() >= 6);
    let e = server
        .catalog()
        .list_licence_types(ListLicenceTypesRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    let new_type = LicenceType {
        code: "11100000000013338W013".into(),
        name: "食品生产许可证".into(),
        authority_name: "国家市场监督管理总局".into(),
        authority_code: "11100000000013338W".into(),
        authority_level: "国家级".into(),
        holder_category: "legal_person".into(),
        validity_years: 5,
        template_id: "food-business-permit".into(),
        issuing_departments: vec![SCJGJ_CODE.into()],
        field_names: vec!["食品类别".into()],
        public_fields: vec![],
    };
    let e = server
        .catalog()
        .put_licence_type(authed(
            SCJGJ,
            PutLicenceTypeRequest {
                licence_type: Some(new_type.clone()),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut bad = new_type.clone();
    bad.authority_level = "村级".into();
    let e = server
        .catalog()
        .put_licence_type(authed(
            ZWFW,
            PutLicenceTypeRequest {
                licence_type: Some(bad),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("licence_type.authority_level"),
        "{}",
        e.message()
    );
    server
        .catalog()
        .put_licence_type(authed(
            ZWFW,
            PutLicenceTypeRequest {
                licence_type: Some(new_type.clone()),
            },
        ))
        .await
        .unwrap();
    let got = server
        .catalog()
        .get_licence_type(authed(
            RSJ,
            GetLicenceTypeRequest {
                code: new_type.code.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, new_type);
    server.stop().await;
}
