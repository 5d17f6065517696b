//! The public port as an attacker sees it (issue 12): what comes back must never be
//! enough to rebuild a person's identity number, an identifier alone must learn nothing,
//! and a department must not reach past its rights. Each test is written as the attack.

use elicence::api::pb::{
    self, ChangeStatusRequest, Field, GetLicenceRequest, HolderSelector, IssueLicenceRequest, QueryLicencesRequest,
    RenderLicenceCopyRequest, RenderLicencePdfRequest, VerifyLicenceRequest, VerifyLicenceResponse,
};
use elicence::licence::codes::mod37_36_check;
use elicence::licence::{Licence, LicenceId};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::common::*;
use crate::pdf;

const WJW: &str = "dev-wjw-token";
const PHYSICIAN: &str = "11100000MB1536428Y001";
const WJW_CODE: &str = "11420800MB1D45678A";
/// A valid resident identity number (birth date 1985-06-12).
const PERSON_ID: &str = "420802198506120036";

fn physician(number: &str) -> pb::Licence {
    pb::Licence {
        licence_type_code: PHYSICIAN.into(),
        licence_number: number.into(),
        issuer_name: "荆门市卫生健康委员会".into(),
        issuer_code: WJW_CODE.into(),
        holder_name: "刘堃明".into(),
        holder_code: PERSON_ID.into(),
        holder_code_type: "111".into(),
        fields: [
            ("性别", "男"),
            ("出生日期", "1985-06-12"),
            ("执业地点", "湖北省荆门市"),
            ("执业类别", "临床"),
            ("执业范围", "内科专业"),
            ("主要执业机构", "荆门市第一人民医院"),
        ]
        .into_iter()
        .map(|(name, value)| Field {
            name: name.into(),
            value: value.into(),
        })
        .collect(),
        ..business_licence(number)
    }
}

async fn issue_as(server: &TestServer, token: &str, request_id: &str, l: pb::Licence) -> pb::IssueLicenceResponse {
    server
        .licences()
        .issue_licence(authed(
            token,
            IssueLicenceRequest {
                request_id: request_id.into(),
                licence: Some(l),
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn verify_code(
    server: &TestServer,
    identifier: &str,
    code: &str,
) -> Result<VerifyLicenceResponse, tonic::Status> {
    server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            identifier: identifier.into(),
            verification_code: code.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

/// Every string in a message, for "does this secret appear anywhere" checks.
fn all_text(v: &VerifyLicenceResponse) -> String {
    format!("{v:?}")
}

#[tokio::test]
async fn a_physicians_public_answer_cannot_rebuild_the_id_number() {
    let server = spawn_server().await;
    let issued = issue_as(&server, WJW, "doc-1", physician("110420800000001")).await;
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    assert!(v.authentic, "{v:?}");
    let l = v.licence.clone().unwrap();
    assert_eq!(l.holder_name, "刘*明");
    assert_eq!(l.holder_code, "4****************6");
    let names: Vec<&str> = l.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["执业地点", "执业类别", "执业范围", "主要执业机构"]);
    let text = all_text(&v);
    for secret in ["1985", "0612", "198506", "420802", "0036", "刘堃明", "出生", "性别"] {
        assert!(!text.contains(secret), "{secret} in the public answer: {text}");
    }
    assert_eq!(v.record_format, 2);
    // Neither the 核验码 nor anything else of the signed record beyond the public view.
    assert!(!text.contains(&issued.verification_code), "{text}");
    server.stop().await;
}

/// Every entry of the access log, read as the auditor.
async fn audit_entries(server: &TestServer) -> Vec<pb::AccessLogEntry> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .audit()
            .query_access_log(authed(
                ZWFW,
                pb::QueryAccessLogRequest {
                    page_size: 500,
                    page_token,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        out.extend(page.entries);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn hashing_candidate_id_numbers_against_the_public_digest_finds_nothing() {
    let server = spawn_server().await;
    let issued = issue_as(&server, WJW, "bf-1", physician("110420800000002")).await;
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    let public_digest = v.digest.clone();
    assert_eq!(public_digest.len(), 32);

    // The attacker's reconstruction: everything the record holds, as a department that
    // reads it knows it, except what the public cannot know. First check the method is
    // right: with the real salt and code it reproduces the digest.
    let full = server
        .licences()
        .get_licence(authed(
            ZWFW,
            GetLicenceRequest {
                identifier: issued.identifier.clone(),
                use_cause: "攻击复现".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let record = Licence::from_canonical(&full.signed_record).unwrap();
    let rebuild = |holder_code: &str, salt: Option<String>, code: Option<String>| {
        let mut l = record.clone();
        l.holder_code = holder_code.to_string();
        l.salt = salt;
        l.verification_code = code;
        Sha256::digest(l.canonical_bytes()).to_vec()
    };
    assert_eq!(
        rebuild(PERSON_ID, record.salt.clone(), record.verification_code.clone()),
        public_digest
    );
    // Now as the attacker: every date of birth in 1985 with the masked ends the public
    // answer shows (4…6) and the real sequence, the real number among them.
    let mut candidates = Vec::new();
    for day in 0..365 {
        let date = time::Date::from_ordinal_date(1985, day + 1).unwrap();
        let body = format!(
            "420802{:04}{:02}{:02}003",
            date.year(),
            u8::from(date.month()),
            date.day()
        );
        if let Ok(check) = elicence::licence::codes::resident_id_check(&body) {
            candidates.push(format!("{body}{check}"));
        }
    }
    assert!(candidates.iter().any(|c| c == PERSON_ID));
    let found: Vec<&String> = candidates
        .iter()
        .filter(|c| {
            rebuild(c, None, None) == public_digest
                || rebuild(c, Some("0".repeat(32)), record.verification_code.clone()) == public_digest
        })
        .collect();
    assert!(found.is_empty(), "the digest gave away {found:?}");
    server.stop().await;
}

/// The identifiers next to a known one: the same type and issuer, serials around it,
/// with a correct check character.
pub fn neighbours(identifier: &str) -> Vec<String> {
    let id: LicenceId = identifier.parse().unwrap();
    let serial: u64 = id.serial.parse().unwrap();
    (serial.saturating_sub(12)..serial + 12)
        .filter(|s| *s != serial)
        .map(|s| {
            let n = LicenceId::new(&id.type_code, &id.issuer_code, &format!("{s:011}"), 1).unwrap();
            let text = n.to_string();
            let data: String = text["1.2.156.3005.2.".len()..text.len() - 2]
                .chars()
                .filter(|c| *c != '.')
                .collect();
            assert_eq!(text.chars().last(), mod37_36_check(&data));
            text
        })
        .collect()
}

#[tokio::test]
async fn guessing_identifiers_learns_nothing() {
    let server = spawn_server().await;
    let mut issued = Vec::new();
    for i in 0..6 {
        issued.push(issue(&server, &format!("enum-{i}"), business_licence(&format!("ENUM-{i}"))).await);
    }
    let known = &issued[0];
    let existing: Vec<&str> = issued.iter().map(|r| r.identifier.as_str()).collect();
    let guesses = neighbours(&known.identifier);
    assert!(
        guesses.iter().any(|g| existing.contains(&g.as_str())),
        "some guesses exist"
    );
    let mut answers = std::collections::BTreeSet::new();
    for g in &guesses {
        // An identifier alone: refused before any lookup.
        let alone = server
            .verification()
            .verify_licence(VerifyLicenceRequest {
                identifier: g.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(alone.code(), Code::InvalidArgument);
        assert!(alone.message().starts_with("verification_code:"), "{}", alone.message());
        // With a guessed code: the same NOT_FOUND whether the licence exists or not.
        let e = verify_code(&server, g, "7K3M9-Q2XP4").await.unwrap_err();
        answers.insert((alone.message().to_string(), e.code() as i32, e.message().to_string()));
    }
    assert_eq!(
        answers.len(),
        1,
        "answers differ between existing and unknown: {answers:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_identifier_whether_it_exists_or_not() {
    let server = spawn_server().await;
    let issued = issue(&server, "thr-1", business_licence("THR-1")).await;
    let unknown = neighbours(&issued.identifier).pop().unwrap();
    for id in [issued.identifier.as_str(), unknown.as_str()] {
        for _ in 0..5 {
            let e = verify_code(&server, id, "00000-00000").await.unwrap_err();
            assert_eq!(e.code(), Code::NotFound);
        }
        // Locked now: even the right code is refused, or the lock would be an oracle.
        let e = verify_code(&server, id, &issued.verification_code).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{id}: {e:?}");
    }
    // The QR payload still works, and the lock lifts after 15 minutes.
    server.clock.set(default_now() + time::Duration::minutes(16));
    let v = verify_code(&server, &issued.identifier, &issued.verification_code.to_lowercase())
        .await
        .unwrap();
    assert!(v.authentic);
    server.stop().await;
}

#[tokio::test]
async fn masking_covers_every_kind_of_natural_person() {
    let server = spawn_server().await;
    // A food permit held by a person: the person's name in a field, their address.
    let mut food = food_permit_for_person("JY-P-1");
    food.fields = [
        ("法定代表人（负责人）", "张小明"),
        ("住所", "荆门市东宝区象山大道8号3栋2单元501室"),
        ("经营场所", "荆门市东宝区象山大道8号"),
        ("经营项目", "预包装食品销售（张小明经营）"),
        ("主体业态", "食品销售经营者"),
    ]
    .into_iter()
    .map(|(name, value)| Field {
        name: name.into(),
        value: value.into(),
    })
    .collect();
    let issued = issue(&server, "mask-1", food).await;
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    let text = all_text(&v);
    for secret in ["张小明", "象山大道", "501", "420802", "1234"] {
        assert!(!text.contains(secret), "{secret}: {text}");
    }
    let l = v.licence.unwrap();
    let fields: Vec<(&str, &str)> = l.fields.iter().map(|f| (f.name.as_str(), f.value.as_str())).collect();
    assert_eq!(
        fields,
        [
            ("经营项目", "预包装食品销售（张*明经营）"),
            ("主体业态", "食品销售经营者")
        ]
    );

    // A passport holder.
    let mut passport = food_permit_for_person("JY-P-2");
    passport.holder_code_type = "414".into();
    passport.holder_code = "E12345678".into();
    passport.holder_name = "JOHN SMITH".into();
    let issued = issue(&server, "mask-2", passport).await;
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    let l = v.licence.unwrap();
    assert_eq!(l.holder_code, "E*******8");
    assert_eq!(l.holder_name, "J********H");

    // A company: its public data shows, as the enterprise publicity system shows it.
    let issued = issue(&server, "mask-3", business_licence("MASK-3")).await;
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    let l = v.licence.unwrap();
    assert_eq!(l.holder_name, "荆门市楚韵食品有限公司");
    assert!(l.fields.iter().any(|f| f.name == "法定代表人" && f.value == "王堃"));
    server.stop().await;
}

#[tokio::test]
async fn the_revocation_reason_is_never_echoed() {
    let server = spawn_server().await;
    let issued = issue(&server, "rev-1", business_licence("REV-1")).await;
    server
        .licences()
        .revoke_licence(authed(
            SCJGJ,
            ChangeStatusRequest {
                identifier: issued.identifier.clone(),
                reason: "法定代表人 420822195905062015 提供虚假材料".into(),
                request_id: "rev-1-r".into(),
            },
        ))
        .await
        .unwrap();
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    assert_eq!(v.status, pb::LicenceStatus::Revoked as i32);
    assert_eq!(v.status_code, "07");
    assert_eq!(v.status_since, "2026-11-27");
    let text = all_text(&v);
    assert!(!text.contains("420822") && !text.contains("虚假"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn the_qr_payload_proves_possession_and_a_forged_one_is_refused() {
    let server = spawn_server().await;
    let issued = issue(&server, "qr-1", business_licence("QR-1")).await;
    let stream = server
        .documents()
        .render_licence_pdf(authed(
            SCJGJ,
            RenderLicencePdfRequest {
                identifier: issued.identifier.clone(),
                use_cause: "核验测试".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (_, bytes) = pdf::collect(stream).await;
    // The 核验码 is printed on the licence, beside the QR code.
    let dir = tempfile::tempdir().unwrap();
    let text = pdf::text(dir.path(), &bytes);
    let printed = format!("{}-{}", &issued.verification_code[..5], &issued.verification_code[5..]);
    let squeezed: String = text.split_whitespace().collect();
    assert!(squeezed.contains(&format!("核验码{printed}")), "{text}");
    let payload = elicence::render::extract_qr_payload(&bytes).unwrap();
    let qr = |text: String| {
        let mut c = server.verification();
        async move {
            c.verify_licence(VerifyLicenceRequest {
                qr_payload: text,
                ..Default::default()
            })
            .await
        }
    };
    let v = qr(payload.clone()).await.unwrap().into_inner();
    assert!(v.authentic, "{v:?}");
    assert_eq!(v.licence.unwrap().identifier, issued.identifier);
    assert!(v.copy.is_none());

    // One character changed: not ours, and nothing about the licence comes back.
    let mut forged: Vec<char> = payload.chars().collect();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let e = qr(forged.into_iter().collect()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("qr_payload:"), "{}", e.message());

    // A per-use copy's payload says whom it is for, and stops being valid after its day.
    let stream = server
        .documents()
        .render_licence_copy(authed(
            SCJGJ,
            RenderLicenceCopyRequest {
                identifier: issued.identifier.clone(),
                use_cause: "施工许可审查".into(),
                receiving_department: "zjj".into(),
                valid_until: "2026-12-31".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (_, copy_pdf) = pdf::collect(stream).await;
    let copy_payload = elicence::render::extract_qr_payload(&copy_pdf).unwrap();
    let v = qr(copy_payload.clone()).await.unwrap().into_inner();
    let copy = v.copy.unwrap();
    assert_eq!(copy.copy_for, "荆门市住房和城乡建设局");
    assert!(copy.valid);
    server.clock.set(time::macros::datetime!(2027-01-01 02:00 UTC));
    let v = qr(copy_payload).await.unwrap().into_inner();
    assert!(!v.copy.unwrap().valid);
    assert!(v.detail.contains("copy (加注件) has expired"), "{}", v.detail);
    server.stop().await;
}

#[tokio::test]
async fn a_department_verifying_by_identifier_needs_read_rights_and_learns_nothing_otherwise() {
    let server = spawn_server().await;
    let issued = issue(&server, "dv-1", business_licence("DV-1")).await;
    let by_token = |token: &'static str, id: String| {
        let mut c = server.verification();
        async move {
            c.verify_licence(authed(
                token,
                VerifyLicenceRequest {
                    identifier: id,
                    ..Default::default()
                },
            ))
            .await
        }
    };
    // 住建局 may read 营业执照: it verifies by identifier alone.
    assert!(
        by_token(ZJJ, issued.identifier.clone())
            .await
            .unwrap()
            .into_inner()
            .authentic
    );
    // 人社局 may not: the same refusal whether the licence exists or not.
    let unknown = neighbours(&issued.identifier).pop().unwrap();
    let a = by_token(RSJ, issued.identifier.clone()).await.unwrap_err();
    let b = by_token(RSJ, unknown).await.unwrap_err();
    assert_eq!(a.code(), Code::PermissionDenied);
    assert_eq!((a.code(), a.message()), (b.code(), b.message()));
    // A bad token is refused, not treated as public.
    let e = by_token("not-a-token", issued.identifier.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    server.stop().await;
}

/// Holder queries page through what the caller may read; a token never depends on, nor
/// reveals, anything else.
#[tokio::test]
async fn page_tokens_leak_nothing() {
    let server = spawn_server().await;
    // The person holds a food permit (住建局 may not read it) …
    let permit = issue(&server, "pg-1", food_permit_for_person("PG-1")).await;
    // … and, later in the index, nothing else 住建局 may read.
    let query = |token: &'static str, page_token: String| {
        let mut c = server.licences();
        async move {
            c.query_licences(authed(
                token,
                QueryLicencesRequest {
                    selector: Some(pb::query_licences_request::Selector::Holder(HolderSelector {
                        holder_code_type: "111".into(),
                        holder_code: "420802199001011234".into(),
                        ..Default::default()
                    })),
                    use_cause: "分页测试".into(),
                    page_size: 1,
                    page_token,
                    ..Default::default()
                },
            ))
            .await
        }
    };
    let page = query(ZJJ, String::new()).await.unwrap().into_inner();
    assert!(page.results.is_empty());
    assert!(page.next_page_token.is_empty(), "a token betrays an unreadable licence");

    // 卫健委 may read food permits: two of them give one page and a token.
    issue(&server, "pg-2", food_permit_for_person("PG-2")).await;
    let page = query(WJW, String::new()).await.unwrap().into_inner();
    assert_eq!(page.results.len(), 1);
    let token = page.next_page_token.clone();
    assert!(!token.is_empty());
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();
    for secret in ["420802199001011234", &permit.identifier, "PG-"] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the token shows {secret}"
        );
    }
    let next = query(WJW, token.clone()).await.unwrap().into_inner();
    assert_eq!(next.results.len(), 1);
    let id = |r: &pb::QueryResult| r.licence.as_ref().unwrap().identifier.clone();
    assert_ne!(id(&next.results[0]), id(&page.results[0]));
    assert!(next.next_page_token.is_empty());
    // Another department cannot use it.
    let e = query(ZWFW, token.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("page_token"), "{}", e.message());
    // It expires.
    server.clock.set(default_now() + time::Duration::minutes(16));
    let e = query(WJW, token).await.unwrap_err();
    assert!(e.message().contains("expired"), "{}", e.message());
    server.stop().await;
}

#[tokio::test]
async fn hidden_characters_are_refused_in_every_field_and_leave_the_store_as_it_was() {
    let server = spawn_server().await;
    let before = audit_entries(&server).await.len();
    let classes = [
        ("\u{1B}[31m", "control"),
        ("\u{0}", "control"),
        ("\n", "line break"),
        ("\u{202E}", "bidirectional"),
        ("\u{2067}", "bidirectional"),
        ("\u{200B}", "invisible"),
        ("\u{FEFF}", "invisible"),
    ];
    for (i, (c, what)) in classes.iter().enumerate() {
        let mut l = business_licence(&format!("HID-{i}"));
        l.holder_name = format!("荆门{c}公司");
        let e = server
            .licences()
            .issue_licence(authed(
                SCJGJ,
                IssueLicenceRequest {
                    request_id: format!("hid-{i}"),
                    licence: Some(l),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("licence.holder_name:"), "{}", e.message());
        assert!(e.message().contains(what), "{}", e.message());
    }
    let issued = issue(&server, "hid-ok", business_licence("HID-OK")).await;
    for (i, (c, _)) in classes.iter().enumerate() {
        let e = server
            .licences()
            .suspend_licence(authed(
                SCJGJ,
                ChangeStatusRequest {
                    identifier: issued.identifier.clone(),
                    reason: format!("暂扣{c}"),
                    request_id: format!("hid-r-{i}"),
                },
            ))
            .await
            .unwrap_err();
        assert!(e.message().starts_with("reason:"), "{}", e.message());
        let e = server
            .licences()
            .get_licence(authed(
                ZWFW,
                GetLicenceRequest {
                    identifier: issued.identifier.clone(),
                    use_cause: format!("核查{c}"),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert!(e.message().starts_with("use_cause:"), "{}", e.message());
    }
    // Nothing was written but the refused reads' audit entries, which hold no hidden
    // character; the licence is still valid with its single issue event.
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    assert_eq!(v.status, pb::LicenceStatus::Valid as i32);
    let entries = audit_entries(&server).await;
    assert!(entries.len() > before);
    for e in &entries {
        for (c, _) in &classes {
            assert!(!e.use_cause.contains(c), "{:?}", e.use_cause);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn dates_outside_the_plausible_range_are_refused() {
    let server = spawn_server().await;
    for (i, (field, value)) in [
        ("issue_date", "9999-12-31"),
        ("issue_date", "2026-11-29"),
        ("valid_until", "2200-01-01"),
        ("valid_from", "1899-12-31"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut l = business_licence(&format!("DATE-{i}"));
        match field {
            "issue_date" => l.issue_date = value.into(),
            "valid_until" => l.valid_until = value.into(),
            _ => l.valid_from = value.into(),
        }
        let e = server
            .licences()
            .issue_licence(authed(
                SCJGJ,
                IssueLicenceRequest {
                    request_id: format!("date-{i}"),
                    licence: Some(l),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{field} {value}");
        assert!(e.message().starts_with(&format!("licence.{field}:")), "{}", e.message());
    }
    // Tomorrow is still accepted (time zones).
    let mut l = business_licence("DATE-OK");
    l.issue_date = "2026-11-28".into();
    issue(&server, "date-ok", l).await;
    server.stop().await;
}

#[tokio::test]
async fn one_public_answer_stays_small() {
    let server = spawn_server().await;
    let mut l = business_licence("BIG-1");
    for f in &mut l.fields {
        f.value = "经营".repeat(1300);
    }
    let issued = issue(&server, "big-1", l).await;
    let v = verify_code(&server, &issued.identifier, &issued.verification_code)
        .await
        .unwrap();
    let size = v.encoded_len();
    assert!(size < 16 * 1024, "{size} bytes");
    server.stop().await;
}
