//! The operator's and the verifier's command line: `elicence render`, `keys export`,
//! `verify` (payload, PDF) without the service, and key rotation with `keygen` — old
//! licences keep verifying, new ones are signed by the new key.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use elicence::api::pb::{RenderLicencePdfRequest, VerifyLicenceRequest};
use elicence::clock::FixedClock;
use elicence::licence::qr::QrPayload;

use crate::common::*;
use crate::pdf;

const BIN: &str = env!("CARGO_BIN_EXE_elicence");

fn elicence(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .env_remove("ELICENCE_DATA_DIR")
        .env_remove("ELICENCE_KEYS")
        .output()
        .unwrap();
    eprintln!(
        "elicence {args:?} → {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Flips one base32 character in the middle of a payload.
fn tamper(payload: &str) -> String {
    let mut chars: Vec<char> = payload.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Rewrites the PDF's `/Keywords` (where the payload sits) with `from` replaced by `to`,
/// as someone editing the file with a PDF library would.
pub fn replace_text(pdf: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut doc = lopdf::Document::load_mem(pdf).unwrap();
    let info = doc.trailer.get(b"Info").unwrap().as_reference().unwrap();
    let dict = doc.get_object_mut(info).unwrap().as_dict_mut().unwrap();
    let raw = dict.get(b"Keywords").unwrap().as_str().unwrap().to_vec();
    let text = match raw.strip_prefix(&[0xFE, 0xFF]) {
        Some(be) => String::from_utf16(
            &be.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
        None => String::from_utf8(raw).unwrap(),
    };
    assert!(text.contains(from), "the payload is in /Keywords");
    let forged = text.replace(from, to).into_bytes();
    dict.set("Keywords", lopdf::Object::String(forged, lopdf::StringFormat::Literal));
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

#[tokio::test]
async fn render_export_and_verify_offline_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = spawn_server_at(&data, Arc::new(FixedClock::new(default_now()))).await;
    let mut licence = business_licence("91420800MA4F0020X1");
    licence.valid_until = "2030-02-28".into();
    let id = issue_id(&server, "cli-1", licence).await;
    let place = server.place.clone();
    server.stop().await;

    let pdf_path = tmp.path().join("licence.pdf");
    let at = place.args();
    let o = elicence(&[
        "render",
        "--identifier",
        &id,
        "--out",
        s(&pdf_path),
        at[0].to_str().unwrap(),
        at[1].to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let keys = tmp.path().join("keys.json");
    assert!(elicence(&["keys", "export", "--out", s(&keys)]).status.success());
    let list: serde_json::Value = serde_json::from_slice(&std::fs::read(&keys).unwrap()).unwrap();
    let signer = list["signed_by"].as_str().unwrap().to_string();

    let verify = |what: &[&str]| {
        let mut args = vec![
            "verify",
            "--keys-file",
            s(&keys),
            "--trusted-key-id",
            &signer,
            "--at",
            "2027-01-01",
        ];
        args.extend_from_slice(what);
        elicence(&args)
    };
    let o = verify(&["--pdf", s(&pdf_path)]);
    assert!(
        o.status.success() && stdout(&o).starts_with("GENUINE"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("91420800MA4F0020X1"));

    // What a phone scans off the printed page verifies too; one changed character does not.
    let bytes = std::fs::read(&pdf_path).unwrap();
    let scanned = pdf::scan_qr(tmp.path(), &bytes).pop().expect("a QR code on the page");
    let o = verify(&["--payload", &scanned]);
    assert!(o.status.success(), "{}", stdout(&o));
    let o = verify(&["--payload", &tamper(&scanned)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("NOT GENUINE"), "{}", stdout(&o));

    // Rendered with the public page's address, the code opens the page and the URL
    // verifies offline just the same; a bad address is refused, naming the option.
    let with_url = tmp.path().join("with-url.pdf");
    let o = elicence(&[
        "render",
        "--identifier",
        &id,
        "--out",
        s(&with_url),
        "--public-url",
        "https://verify.example.gov.cn/v/",
        at[0].to_str().unwrap(),
        at[1].to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let url = pdf::scan_qr(tmp.path(), &std::fs::read(&with_url).unwrap())
        .pop()
        .unwrap();
    assert_eq!(url, format!("HTTPS://VERIFY.EXAMPLE.GOV.CN/V/{scanned}"));
    let o = verify(&["--payload", &url]);
    assert!(o.status.success(), "{}", stdout(&o));
    let o = elicence(&[
        "render",
        "--identifier",
        &id,
        "--out",
        s(&with_url),
        "--public-url",
        "ftp://x/v/",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--public-url") && err.contains("must start with https://"),
        "{err}"
    );

    // A PDF whose embedded payload was edited is not genuine.
    let forged = tmp.path().join("forged.pdf");
    std::fs::write(&forged, replace_text(&bytes, &scanned, &tamper(&scanned))).unwrap();
    let o = verify(&["--pdf", s(&forged)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("NOT GENUINE"), "{}", stdout(&o));

    // Genuine, but judged after its end: expired (exit 3), not forged.
    let o = elicence(&[
        "verify",
        "--keys-file",
        s(&keys),
        "--payload",
        &scanned,
        "--at",
        "2030-03-01",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(stdout(&o).contains("EXPIRED"));

    // A key list signed by a key the verifier does not trust is refused.
    let o = elicence(&[
        "verify",
        "--keys-file",
        s(&keys),
        "--trusted-key-id",
        "0000000000000000",
        "--payload",
        &scanned,
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a trusted key id"));
}

#[tokio::test]
async fn after_a_key_rotation_old_licences_still_verify_and_new_ones_use_the_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, keys_dir) = (tmp.path().join("data"), tmp.path().join("keys"));
    std::fs::create_dir(&keys_dir).unwrap();
    for f in std::fs::read_dir(format!("{ROOT}/keys-example")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), keys_dir.join(f.file_name())).unwrap();
    }
    let clock = Arc::new(FixedClock::new(default_now()));
    let server = spawn_server_with_keys(&data, &keys_dir, clock.clone()).await;
    let old = issue(&server, "rot-1", business_licence("91420800MA4F0030X1")).await;
    let req = |id: &str| RenderLicencePdfRequest {
        identifier: id.into(),
        use_cause: "密钥轮换核对".into(),
        ..Default::default()
    };
    let stream = server
        .documents()
        .render_licence_pdf(authed(SCJGJ, req(&old.identifier)))
        .await
        .unwrap();
    let (old_info, _) = pdf::collect(stream.into_inner()).await;
    server.stop().await;

    // Rotate: a new active key; the old one is retired, public half only.
    let o = elicence(&["keygen", "--out", s(&keys_dir)]);
    assert!(o.status.success());
    let server = spawn_server_with_keys(&data, &keys_dir, clock).await;
    let published = server.signing_keys().await;
    assert_eq!(published.len(), 2);
    let retired = published
        .iter()
        .find(|k| k.key_id == old.key_id)
        .expect("the old key is still published");
    assert!(!retired.active && !retired.valid_until.is_empty());
    let active = published.iter().find(|k| k.active).unwrap();
    assert_ne!(active.key_id, old.key_id);

    let v = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: old.identifier.clone(),
            verification_code: old.verification_code.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.authentic, "{}", v.detail);
    let new = issue(&server, "rot-2", business_licence("91420800MA4F0031X1")).await;
    assert_eq!(new.key_id, active.key_id);
    let stream = server
        .documents()
        .render_licence_pdf(authed(SCJGJ, req(&new.identifier)))
        .await
        .unwrap();
    let (new_info, _) = pdf::collect(stream.into_inner()).await;
    server.stop().await;

    // Offline, with the exported list: the payload printed before the rotation and the
    // one printed after both verify; the list itself is signed by the new key.
    let list = tmp.path().join("keys.json");
    assert!(elicence(&["keys", "export", "--keys", s(&keys_dir), "--out", s(&list)])
        .status
        .success());
    for info in [&old_info, &new_info] {
        let o = elicence(&[
            "verify",
            "--keys-file",
            s(&list),
            "--trusted-key-id",
            &active.key_id,
            "--payload",
            &info.qr_payload,
        ]);
        assert!(o.status.success(), "{}", stdout(&o));
    }
    assert_eq!(QrPayload::decode(&old_info.qr_payload).unwrap().key_id, old.key_id);
    assert_eq!(QrPayload::decode(&new_info.qr_payload).unwrap().key_id, active.key_id);
}
