//! Limits: a flood of public verifications from one client is refused with
//! RESOURCE_EXHAUSTED past its budget; requests beyond the server-wide cap are shed at once;
//! oversized messages and over-long or too many fields get a clear error.

use elicence::api::pb::import_licences_request::Part;
use elicence::api::pb::migration_service_client::MigrationServiceClient;
use elicence::api::pb::{Field, ImportHeader, ImportLicencesRequest, IssueLicenceRequest, VerifyLicenceRequest};
use elicence::api::server::Limits;
use tonic::Code;

use crate::common::*;

type ImportCall =
    tokio::task::JoinHandle<Result<tonic::Response<elicence::api::pb::ImportLicencesResponse>, tonic::Status>>;

/// Opens a streamed import that has sent only its header (with an empty mapping, so it
/// fails once the stream ends); it stays open, holding whatever it holds, until the
/// returned sender is dropped.
fn open_import(server: &TestServer) -> (tokio::sync::mpsc::Sender<ImportLicencesRequest>, ImportCall) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.try_send(ImportLicencesRequest {
        part: Some(Part::Header(ImportHeader {
            mapping_toml: String::new(),
            format: "csv".into(),
            ..Default::default()
        })),
    })
    .unwrap();
    let mut migration = MigrationServiceClient::new(server.channel.clone());
    let call = tokio::spawn(async move {
        migration
            .import_licences(authed(SCJGJ, tokio_stream::wrappers::ReceiverStream::new(rx)))
            .await
    });
    (tx, call)
}

#[tokio::test]
async fn verification_flood_from_one_client_is_rate_limited() {
    let server = spawn_server_with_limits(Limits {
        verify_rate_per_client: 1,
        verify_burst_per_client: 3,
        ..Limits::default()
    })
    .await;
    let id = issue_id(&server, "r-1", business_licence("R-1")).await;
    let mut client = server.verification();
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        outcomes.push(
            client
                .verify_licence(authed(
                    ZWFW,
                    VerifyLicenceRequest {
                        identifier: id.clone(),
                        ..Default::default()
                    },
                ))
                .await
                .map(|_| ()),
        );
    }
    assert!(
        outcomes[..3].iter().all(Result::is_ok),
        "the burst is served: {outcomes:?}"
    );
    let refused: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(!refused.is_empty(), "20 calls within a burst of 3 at 1/s: none refused");
    for s in refused {
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(s.message().contains("per client"), "{}", s.message());
    }
    // Departments are not subject to the public limit.
    for i in 0..5 {
        issue_id(&server, &format!("r-x{i}"), business_licence(&format!("R-X{i}"))).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_server_wide_cap_are_shed() {
    let server = spawn_server_with_limits(Limits {
        max_concurrent_requests: 1,
        verify_rate_per_client: 0,
        ..Limits::default()
    })
    .await;
    let id = issue_id(&server, "c-1", business_licence("C-1")).await;
    // An import stream left open holds the only slot. It may itself be shed if a
    // verification holds the slot when it arrives; then it is opened again.
    let (mut tx, mut held) = open_import(&server);
    let mut client = server.verification();
    let mut shed = None;
    // Until the held stream reaches the server (no signal tells when): bounded in time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        match client
            .verify_licence(authed(
                ZWFW,
                VerifyLicenceRequest {
                    identifier: id.clone(),
                    ..Default::default()
                },
            ))
            .await
        {
            Err(s) => {
                shed = Some(s);
                break;
            }
            Ok(_) if held.is_finished() => (tx, held) = open_import(&server),
            Ok(_) => tokio::task::yield_now().await,
        }
    }
    let shed = shed.expect("no request was shed while the only slot was taken");
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert!(shed.message().contains("server busy"), "{}", shed.message());
    drop(tx);
    let _ = held.await.unwrap();
    // The slot is free again.
    client
        .verify_licence(authed(
            ZWFW,
            VerifyLicenceRequest {
                identifier: id,
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_beyond_the_cap_are_refused_before_reading_the_export() {
    let server = spawn_server_with_limits(Limits {
        max_concurrent_imports: 1,
        ..Limits::default()
    })
    .await;
    // The first import holds the only permit while its stream stays open. It may itself
    // be refused if a probe holds the permit when it arrives; then it is opened again.
    let (mut held_tx, mut held) = open_import(&server);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let refused = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "a second import was never refused"
        );
        if held.is_finished() {
            (held_tx, held) = open_import(&server);
        }
        let (tx, probe) = open_import(&server);
        drop(tx);
        match probe.await.unwrap() {
            // Refused for the cap: what this test waits for.
            Err(s) if s.code() == Code::ResourceExhausted => break s,
            // It got the permit first and ended (empty mapping): try again.
            Err(s) if s.code() == Code::InvalidArgument => tokio::task::yield_now().await,
            other => panic!("unexpected answer: {other:?}"),
        }
    };
    assert!(refused.message().contains("at most 1 imports"), "{}", refused.message());
    assert!(!held.is_finished(), "the first import is still open");
    // When the first ends, the permit is free again.
    drop(held_tx);
    let first = held.await.unwrap().unwrap_err();
    assert_eq!(first.code(), Code::InvalidArgument, "{first:?}");
    let (tx, call) = open_import(&server);
    drop(tx);
    let next = call.await.unwrap().unwrap_err();
    assert_eq!(next.code(), Code::InvalidArgument, "the next import runs: {next:?}");
    assert!(next.message().contains("mapping"), "{}", next.message());
    server.stop().await;
}

#[tokio::test]
async fn oversized_requests_and_fields_get_clear_errors() {
    let server = spawn_server_with_limits(Limits {
        max_request_bytes: 64 * 1024,
        ..Limits::default()
    })
    .await;
    let issue = |id: &str, licence| {
        let mut c = server.licences();
        let id = id.to_string();
        async move {
            c.issue_licence(authed(
                SCJGJ,
                IssueLicenceRequest {
                    request_id: id,
                    licence: Some(licence),
                },
            ))
            .await
            .unwrap_err()
        }
    };
    let field = |name: &str, value: String| Field {
        name: name.into(),
        value,
    };

    let mut huge = business_licence("O-1");
    huge.fields.push(field("经营范围", "食".repeat(40_000)));
    let e = issue("o-1", huge).await;
    // tonic's decoder refuses it before any handler runs, naming the size and the limit.
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert!(e.message().contains("the limit is: 65536 bytes"), "{}", e.message());

    let mut long = business_licence("O-2");
    long.fields = vec![field("经营范围", "x".repeat(8193))];
    let e = issue("o-2", long).await;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("licence.fields[0].value"), "{}", e.message());

    let mut many = business_licence("O-3");
    many.fields = (0..201).map(|i| field(&format!("f{i}"), "v".into())).collect();
    let e = issue("o-3", many).await;
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("licence.fields"), "{}", e.message());
    server.stop().await;
}
