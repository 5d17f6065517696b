//! DocumentService over gRPC: the licence PDF and the per-use copy (加注件), read back
//! with poppler and a barcode scanner and verified offline with the published keys.

use elicence::api::pb::{ChangeStatusRequest, GetLicenceRequest, RenderLicenceCopyRequest, RenderLicencePdfRequest};
use elicence::licence::qr::QrPayload;
use elicence::licence::signing::PublicKeyInfo;
use tonic::Code;

use crate::common::*;
use crate::pdf;

const CAUSE: &str = "企业开办联办审查";

fn pdf_request(identifier: &str) -> RenderLicencePdfRequest {
    RenderLicencePdfRequest {
        identifier: identifier.into(),
        use_cause: CAUSE.into(),
        ..Default::default()
    }
}

fn copy_request(identifier: &str, receiver: &str, until: &str) -> RenderLicenceCopyRequest {
    RenderLicenceCopyRequest {
        identifier: identifier.into(),
        use_cause: "建筑工程施工许可审查".into(),
        receiving_department: receiver.into(),
        valid_until: until.into(),
        ..Default::default()
    }
}

/// The published keys, as an offline verifier holds them.
pub async fn published_keys(server: &TestServer) -> Vec<PublicKeyInfo> {
    let keys = server.signing_keys().await;
    keys.into_iter()
        .map(|k| PublicKeyInfo {
            key_id: k.key_id,
            public_key: k.public_key.try_into().unwrap(),
            valid_from: k.valid_from,
            valid_until: k.valid_until,
            active: k.active,
        })
        .collect()
}

#[tokio::test]
async fn the_pdf_carries_real_text_a_subset_font_and_a_qr_code_that_verifies_offline() {
    let server = spawn_server().await;
    let id = issue_id(&server, "doc-1", business_licence("91420800MA4F0001X1")).await;
    let stream = server
        .documents()
        .render_licence_pdf(authed(SCJGJ, pdf_request(&id)))
        .await
        .unwrap()
        .into_inner();
    let (info, bytes) = pdf::collect(stream).await;
    assert_eq!(info.identifier, id);
    assert_eq!(info.file_name, "91420800MA4F0001X1-v001.pdf");
    assert_eq!(
        (info.template_id.as_str(), info.template_version),
        ("business-licence", 1)
    );

    let dir = tempfile::tempdir().unwrap();
    let text = pdf::text(dir.path(), &bytes);
    for want in [
        "荆门市楚韵食品有限公司",
        "91420800MA4F0001X1",
        "王堃",
        "食品销售；餐饮服务；农副产品收购。",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    let path = dir.path().join("l.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let fonts = String::from_utf8(pdf::run("pdffonts", &[path.to_str().unwrap()])).unwrap();
    let row = fonts.lines().nth(2).expect("an embedded font");
    assert!(
        row.split_whitespace().next().unwrap().as_bytes()[6] == b'+',
        "not a subset: {row}"
    );
    assert!(bytes.len() < 150_000, "{} bytes", bytes.len());
    pdf::check_structure(dir.path(), &bytes);

    // The code scanned off the page is the announced payload, and it verifies with the
    // published keys alone against the record the service holds.
    let scanned = pdf::scan_qr(dir.path(), &bytes);
    assert_eq!(scanned, vec![info.qr_payload.clone()]);
    let payload = QrPayload::decode(&scanned[0]).unwrap();
    payload.verify(&published_keys(&server).await).unwrap();
    let record = server
        .licences()
        .get_licence(authed(
            SCJGJ,
            GetLicenceRequest {
                identifier: id.clone(),
                use_cause: CAUSE.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    payload.matches_record(&record.signed_record).unwrap();
    assert_eq!(info.record_digest, record.digest);
    assert!(payload.copy.is_none());
    assert!(payload.holder_code_masked.contains('*') && payload.holder_code_masked != "91440300708461136T");
}

#[tokio::test]
async fn a_copy_is_watermarked_for_the_receiving_department_and_its_qr_says_so() {
    let server = spawn_server().await;
    let id = issue_id(&server, "doc-copy", business_licence("91420800MA4F0002X1")).await;
    let stream = server
        .documents()
        .render_licence_copy(authed(SCJGJ, copy_request(&id, "zjj", "2026-12-27")))
        .await
        .unwrap()
        .into_inner();
    let (info, bytes) = pdf::collect(stream).await;
    assert_eq!(info.file_name, "91420800MA4F0002X1-v001-copy.pdf");
    let dir = tempfile::tempdir().unwrap();
    pdf::check_structure(dir.path(), &bytes);
    let text = pdf::text(dir.path(), &bytes);
    for want in [
        "加注件",
        "仅供荆门市住房和城乡建设局使用",
        "有效期至2026-12-27",
        "建筑工程施工许可审查",
        "荆门市楚韵食品有限公司",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    let scanned = pdf::scan_qr(dir.path(), &bytes);
    assert_eq!(scanned, vec![info.qr_payload.clone()]);
    let payload = QrPayload::decode(&scanned[0]).unwrap();
    payload.verify(&published_keys(&server).await).unwrap();
    let copy = payload.copy.expect("the copy's payload says it is a copy");
    assert_eq!(copy.copy_for, "荆门市住房和城乡建设局");
    assert_eq!(copy.copy_until, "2026-12-27");
}

#[tokio::test]
async fn document_requests_are_refused_with_the_field_and_the_reason() {
    let server = spawn_server().await;
    let id = issue_id(&server, "doc-bad", business_licence("91420800MA4F0003X1")).await;
    let mut docs = server.documents();

    let no_cause = RenderLicencePdfRequest {
        use_cause: " ".into(),
        ..pdf_request(&id)
    };
    let e = docs.render_licence_pdf(authed(SCJGJ, no_cause)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("use_cause"), "{}", e.message());

    let e = docs
        .render_licence_pdf(tonic::Request::new(pdf_request(&id)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);

    // 人社局 may read only physician certificates.
    let e = docs
        .render_licence_pdf(authed(RSJ, pdf_request(&id)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());

    let missing = pdf_request(&id.replace(".001.", ".002."));
    let e = docs.render_licence_pdf(authed(SCJGJ, missing)).await.unwrap_err();
    assert!(matches!(e.code(), Code::NotFound | Code::InvalidArgument), "{e:?}");

    let other_layout = RenderLicencePdfRequest {
        template_id: "food-business-permit".into(),
        ..pdf_request(&id)
    };
    let e = docs.render_licence_pdf(authed(SCJGJ, other_layout)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("template_id"), "{}", e.message());

    for (until, field) in [
        ("2026-11-01", "valid_until"),
        ("2028-01-01", "valid_until"),
        ("", "valid_until"),
        ("27/12/2026", "valid_until"),
    ] {
        let e = docs
            .render_licence_copy(authed(SCJGJ, copy_request(&id, "zjj", until)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{until}: {e:?}");
        assert!(e.message().contains(field), "{until}: {}", e.message());
    }
    let e = docs
        .render_licence_copy(authed(SCJGJ, copy_request(&id, "nobody", "2026-12-27")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("receiving_department"), "{}", e.message());

    // A suspended licence still downloads (with its status online), but no copy is made of it.
    server
        .licences()
        .suspend_licence(authed(
            SCJGJ,
            ChangeStatusRequest {
                identifier: id.clone(),
                reason: "停业整顿".into(),
                request_id: "doc-bad-suspend".into(),
            },
        ))
        .await
        .unwrap();
    let e = docs
        .render_licence_copy(authed(SCJGJ, copy_request(&id, "zjj", "2026-12-27")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(docs.render_licence_pdf(authed(SCJGJ, pdf_request(&id))).await.is_ok());
}

#[tokio::test]
async fn a_type_renders_on_its_alternate_orientation() {
    let server = spawn_server().await;
    let id = issue_id(&server, "doc-alt", business_licence("91420800MA4F0004X1")).await;
    let portrait = RenderLicencePdfRequest {
        template_id: "business-licence-portrait".into(),
        ..pdf_request(&id)
    };
    let stream = server
        .documents()
        .render_licence_pdf(authed(SCJGJ, portrait))
        .await
        .unwrap()
        .into_inner();
    let (info, bytes) = pdf::collect(stream).await;
    assert_eq!(info.template_id, "business-licence-portrait");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let pdfinfo = String::from_utf8(pdf::run("pdfinfo", &[path.to_str().unwrap()])).unwrap();
    let size = pdfinfo.lines().find(|l| l.starts_with("Page size:")).unwrap();
    // `Page size: 595.276 x 841.89 pts (A4)`: taller than wide.
    let dims: Vec<f64> = size.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert!(
        dims.len() == 2 && dims[0] < dims[1] && (dims[0] - 595.3).abs() < 1.0,
        "{size}"
    );
}
