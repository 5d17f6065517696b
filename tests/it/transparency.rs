//! The transparency log through the running service: checkpoints signed with the
//! published keys, a verified licence's record and latest event proven in the log the
//! checkpoint commits to, consistency between checkpoints as the licence changes, and
//! the C2SP tiles agreeing with the proofs.

use base64::prelude::{Engine, BASE64_STANDARD};
use elicence::api::pb::transparency_service_client::TransparencyServiceClient;
use elicence::api::pb::{
    self, GetCheckpointRequest, GetConsistencyProofRequest, GetInclusionProofRequest, VerifyLicenceRequest,
};
use elicence::licence::signing::PublicKeyInfo;
use elicence::tlog::leaf::leaf_hash;
use elicence::tlog::{Checkpoint, ConsistencyProof, InclusionProof, Leaf, LeafKey};
use tonic::Code;

use crate::common::*;
use crate::lifecycle::{change, Op};

fn log(server: &TestServer) -> TransparencyServiceClient<tonic::transport::Channel> {
    TransparencyServiceClient::new(server.channel.clone())
}

async fn published_keys(server: &TestServer) -> Vec<PublicKeyInfo> {
    server
        .signing_keys()
        .await
        .into_iter()
        .map(|k| PublicKeyInfo {
            key_id: k.key_id,
            public_key: k.public_key.try_into().unwrap(),
            valid_from: k.valid_from,
            valid_until: k.valid_until,
            active: k.active,
        })
        .collect()
}

fn hashes(v: &[Vec<u8>]) -> Vec<[u8; 32]> {
    v.iter().map(|h| h.as_slice().try_into().unwrap()).collect()
}

/// Verifies by QR payload until the answer carries log evidence whose latest event is
/// `want_event` (the checkpointer signs within about a second).
async fn verified_with_evidence(server: &TestServer, qr: &str, want_event: u32) -> pb::VerifyLicenceResponse {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = server
            .verification()
            .verify_licence(VerifyLicenceRequest {
                qr_payload: qr.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(e) = &v.log {
            let event = Leaf::parse(&e.latest_event.as_ref().unwrap().entry).unwrap();
            if matches!(event.key, LeafKey::Event(_, seq) if seq == want_event) {
                return v;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log evidence of event {want_event} after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Checks a verification's evidence as an outside verifier would: the checkpoint's
/// signature with the published keys, each entry naming this licence, each proof leading
/// to the checkpoint's root. Answers the checkpoint.
fn check_evidence(v: &pb::VerifyLicenceResponse, identifier: &str, keys: &[PublicKeyInfo]) -> Checkpoint {
    let e = v.log.as_ref().expect("evidence");
    let cp = e.checkpoint.as_ref().unwrap();
    let opened = Checkpoint::open(cp.note.as_bytes(), keys, Some(TEST_LOG_ORIGIN)).unwrap();
    assert_eq!(
        (opened.size, opened.root.to_vec()),
        (cp.tree_size, cp.root_hash.clone())
    );
    for (logged, what) in [
        (e.record.as_ref().unwrap(), "record"),
        (e.latest_event.as_ref().unwrap(), "event"),
    ] {
        let leaf = Leaf::parse(&logged.entry).unwrap();
        match (&leaf.key, what) {
            (LeafKey::Record(id), "record") => {
                assert_eq!(id, identifier);
                // The record leaf commits to the digest the answer (and the QR code) carries.
                assert_eq!(leaf.digest.to_vec(), v.digest);
            }
            (LeafKey::Event(id, _), "event") => assert_eq!(id, identifier),
            other => panic!("unexpected leaf {other:?}"),
        }
        let p = logged.proof.as_ref().unwrap();
        assert_eq!(p.leaf_hash, leaf_hash(&logged.entry).to_vec());
        InclusionProof {
            leaf_index: p.leaf_index,
            tree_size: p.tree_size,
            hashes: hashes(&p.hashes),
        }
        .verify(&leaf_hash(&logged.entry), &opened.root)
        .unwrap();
        assert_eq!(p.tree_size, opened.size);
    }
    opened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_licence_is_proven_in_the_log_and_its_history_only_grows() {
    let server = spawn_server().await;
    let keys = published_keys(&server).await;
    let issued = issue(&server, "tl-1", business_licence("TL-1")).await;
    let (info, _) = crate::pdf::render(&server, &issued.identifier, "透明日志测试").await;
    let qr = info.qr_payload;

    let first = verified_with_evidence(&server, &qr, 0).await;
    let before = check_evidence(&first, &issued.identifier, &keys);

    change(&server, SCJGJ, Op::Revoke, &issued.identifier, "tl-revoke")
        .await
        .unwrap();
    let revoked = verified_with_evidence(&server, &qr, 1).await;
    assert_eq!(revoked.status, pb::LicenceStatus::Revoked as i32);
    let after = check_evidence(&revoked, &issued.identifier, &keys);
    assert!(after.size > before.size);

    // The later checkpoint extends the earlier one.
    let p = log(&server)
        .get_consistency_proof(GetConsistencyProofRequest {
            old_size: before.size,
            new_size: after.size,
        })
        .await
        .unwrap()
        .into_inner();
    ConsistencyProof {
        old_size: p.old_size,
        new_size: p.new_size,
        hashes: hashes(&p.hashes),
    }
    .verify(&before.root, &after.root)
    .unwrap();

    // The checkpoint of the earlier size is kept, and the latest is what the answers use.
    let kept = log(&server)
        .get_checkpoint(GetCheckpointRequest { tree_size: before.size })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(Checkpoint::open(kept.note.as_bytes(), &keys, None).unwrap(), before);

    // Inclusion by index: the revocation event's leaf, against the latest checkpoint.
    let event = revoked.log.as_ref().unwrap().latest_event.as_ref().unwrap();
    let index = event.proof.as_ref().unwrap().leaf_index;
    let by_index = log(&server)
        .get_inclusion_proof(GetInclusionProofRequest {
            leaf_index: index,
            tree_size: after.size,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&by_index, event.proof.as_ref().unwrap());

    // Bad sizes are refused with the field named.
    let e = log(&server)
        .get_consistency_proof(GetConsistencyProofRequest {
            old_size: after.size + 5,
            new_size: after.size,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = log(&server)
        .get_inclusion_proof(GetInclusionProofRequest {
            leaf_index: 0,
            tree_size: u64::MAX,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("tree_size"), "{e:?}");
    let e = log(&server)
        .get_checkpoint(GetCheckpointRequest { tree_size: u64::MAX })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    // Over HTTP: the same checkpoint note, and level-0 tiles of the leaf hashes.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let note = client
        .get(server.http("/log/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let latest = Checkpoint::open(note.as_bytes(), &keys, Some(TEST_LOG_ORIGIN)).unwrap();
    assert!(latest.size >= after.size);
    let width = latest.size.min(256);
    let path = if width == 256 {
        "/log/tile/0/000".to_string()
    } else {
        format!("/log/tile/0/000.p/{width}")
    };
    let tile = client.get(server.http(&path)).send().await.unwrap();
    assert_eq!(tile.status(), 200, "{path}");
    let tile = tile.bytes().await.unwrap();
    assert_eq!(tile.len() as u64, width * 32);
    if index < width {
        let at = index as usize * 32;
        assert_eq!(tile[at..at + 32], event.proof.as_ref().unwrap().leaf_hash[..]);
    }
    // Beyond the checkpoint, and entry bundles: 404.
    for path in [
        format!("/log/tile/0/000.p/{}", width + 1),
        "/log/tile/entries/000".to_string(),
    ] {
        if width < 255 || path.contains("entries") {
            let r = client.get(server.http(&path)).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
        }
    }
    let json: serde_json::Value = client
        .get(server.http(&format!(
            "/api/v1/log/inclusion?leaf_index={index}&tree_size={}",
            after.size
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let http_hashes: Vec<Vec<u8>> = json["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| BASE64_STANDARD.decode(h.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(http_hashes, by_index.hashes);
}

/// Leaf hashes and proofs are public; entries are not: no path under the tiles serves
/// an entry bundle (an entry names a licence's identifier).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_log_reveals_no_entry() {
    let server = spawn_server().await;
    issue(&server, "tl-2", business_licence("TL-2")).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for path in [
        "/log/tile/entries/000.p/1",
        "/log/tile/entries/x001/000",
        "/log/tile/data/000",
    ] {
        let r = client.get(server.http(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
}
