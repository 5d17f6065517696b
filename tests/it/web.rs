//! The HTTP side through a real server: the JSON API answers what gRPC answers, through
//! the same rules (the allow-list, the per-client limit, proof of possession), and bad
//! input gets a status and a message naming the field.

use elicence::api::pb::VerifyLicenceRequest;
use elicence::licence::key_list::parse_key_list;
use serde_json::{json, Value};
use sha2::Digest;

use crate::common::*;
use crate::pdf;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(server: &TestServer, path: &str, body: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = client()
        .post(server.http(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

/// The QR payload printed on a freshly issued licence's PDF.
async fn printed_payload(server: &TestServer, identifier: &str) -> String {
    let (info, _) = pdf::render(server, identifier, "核验测试").await;
    info.qr_payload
}

#[tokio::test]
async fn the_json_api_answers_what_grpc_answers() {
    let server = spawn_server().await;
    let issued = issue(&server, "web-1", business_licence("WEB-1")).await;
    let payload = printed_payload(&server, &issued.identifier).await;

    let by_code = json!({"identifier": issued.identifier, "verification_code": issued.verification_code});
    let (status, v, headers) = post(&server, "/api/v1/verify", &by_code.to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["authentic"], true);
    assert_eq!(v["status"], "VALID");
    assert_eq!(v["status_code"], "01");
    assert_eq!(v["licence"]["identifier"], issued.identifier.as_str());
    assert_eq!(v["licence"]["licence_number"], "WEB-1");
    assert_eq!(v["key_id"], issued.key_id.as_str());
    assert!(headers.get("set-cookie").is_none());
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'self'"));

    // The same answer over gRPC, field for field (checked_at aside).
    let g = server
        .verification()
        .verify_licence(VerifyLicenceRequest {
            qr_payload: payload.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (status, q, _) = post(&server, "/API/V1/VERIFY", &json!({ "qr_payload": payload }).to_string()).await;
    assert_eq!(status, 200, "routes ignore case: {q}");
    let l = g.licence.unwrap();
    assert_eq!(q["licence"]["holder_name"], l.holder_name.as_str());
    assert_eq!(q["licence"]["holder_code"], l.holder_code.as_str());
    let names: Vec<&str> = q["licence"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, l.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>());
    assert_eq!(q["digest_hex"], hex::encode(&g.digest));
    assert_eq!(q["status_since"], g.status_since.as_str());

    // A code printed with a public URL in front of the payload verifies the same.
    let url = format!("HTTPS://VERIFY.EXAMPLE.GOV.CN/V/{payload}");
    let (status, u, _) = post(&server, "/api/v1/verify", &json!({ "qr_payload": url }).to_string()).await;
    assert_eq!((status, &u["authentic"]), (200, &json!(true)), "{u}");
}

#[tokio::test]
async fn an_identifier_alone_or_with_a_wrong_code_learns_nothing() {
    let server = spawn_server().await;
    let issued = issue(&server, "web-2", business_licence("WEB-2")).await;
    let (status, alone, _) = post(
        &server,
        "/api/v1/verify",
        &json!({"identifier": issued.identifier}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(alone["error"]["code"], "INVALID_ARGUMENT");
    assert_eq!(alone["error"]["field"], "verification_code");

    let wrong = json!({"identifier": issued.identifier, "verification_code": "7K3M9-Q2XP4"});
    let (s1, known, _) = post(&server, "/api/v1/verify", &wrong.to_string()).await;
    let unknown_id = crate::privacy::neighbours(&issued.identifier).pop().unwrap();
    let unknown = json!({"identifier": unknown_id, "verification_code": "7K3M9-Q2XP4"});
    let (s2, not_there, _) = post(&server, "/api/v1/verify", &unknown.to_string()).await;
    assert_eq!((s1, s2), (404, 404), "{known} {not_there}");
    assert_eq!(known["error"]["message"], not_there["error"]["message"]);
    assert!(!known.to_string().contains("WEB-2"));
}

#[tokio::test]
async fn bad_requests_name_the_field_and_nothing_leaks() {
    let server = spawn_server().await;
    let (status, v, _) = post(&server, "/api/v1/verify", "{not json").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["field"], "body");
    let (status, v, _) = post(&server, "/api/v1/verify", r#"{"qr_payload": "x", "holder": "y"}"#).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `holder`"),
        "{v}"
    );
    let (status, v, _) = post(&server, "/api/v1/verify", r#"{"qr_payload": "ELC1:AAAA"}"#).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["field"], "qr_payload");
    let big = json!({ "qr_payload": "A".repeat(64 * 1024) }).to_string();
    let (status, _, _) = post(&server, "/api/v1/verify", &big).await;
    assert_eq!(status, 413);
    let (status, v, _) = post(&server, "/api/v1/nothing-here", "{}").await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn the_published_key_list_is_signed_and_matches_grpc() {
    let server = spawn_server().await;
    let r = client().get(server.http("/api/v1/keys")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    let keys = parse_key_list(&text, &[]).unwrap();
    let grpc = crate::documents::published_keys(&server).await;
    assert_eq!(keys, grpc);
    // Changing one byte of the list breaks its signature.
    let tampered = text.replacen("\"active\":true", "\"active\":false", 1);
    assert_ne!(tampered, text);
    assert!(parse_key_list(&tampered, &[]).is_err());
}

#[tokio::test]
async fn http_and_grpc_share_one_rate_limit_per_client() {
    let server = spawn_server_with_limits(elicence::limits::Limits {
        verify_rate_per_client: 1,
        verify_burst_per_client: 3,
        ..Default::default()
    })
    .await;
    // Two calls over gRPC, one over HTTP: the burst of three is spent.
    for _ in 0..2 {
        server
            .verification()
            .list_signing_keys(elicence::api::pb::ListSigningKeysRequest {})
            .await
            .unwrap();
    }
    let r = client().get(server.http("/api/v1/keys")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, v, headers) = post(&server, "/api/v1/verify", r#"{"qr_payload": "ELC1:AAAA"}"#).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(headers["retry-after"], "1");
    let e = server
        .verification()
        .list_signing_keys(elicence::api::pb::ListSigningKeysRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    let (_, metrics, _) = get(&server, "/metrics").await;
    for transport in ["http", "grpc"] {
        assert!(
            metrics.contains(&format!("elicence_rate_limited_total{{transport=\"{transport}\"}}")),
            "{metrics}"
        );
    }
}

async fn get(server: &TestServer, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = client().get(server.http(path)).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.text().await.unwrap(), headers)
}

/// The JSON block the page's script reads.
fn page_data(html: &str) -> Value {
    let start = html.find(r#"<script type="application/json" id="data">"#).unwrap();
    let rest = &html[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn the_page_behind_the_qr_code_shows_what_the_code_says() {
    let server = spawn_server().await;
    let issued = issue(&server, "web-page", business_licence("WEB-PAGE")).await;
    let payload = printed_payload(&server, &issued.identifier).await;
    for path in [format!("/v/{payload}"), format!("/V/{payload}")] {
        let (status, html, headers) = get(&server, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(headers.get("set-cookie").is_none());
        assert!(html.contains("<html lang=\"zh-CN\">"));
        for want in [
            "签名",
            "状态",
            "签发",
            "WEB-PAGE",
            "营业执照",
            issued.identifier.as_str(),
        ] {
            assert!(html.contains(want), "{want} missing");
        }
        // Everything the script needs to check the signature itself, and nothing more.
        let data = page_data(&html);
        assert_eq!(data["payload"], payload.as_str());
        assert_eq!(data["key_id"], issued.key_id.as_str());
        assert!(parse_key_list(&data["keys"].to_string(), &[]).is_ok());
        assert!(
            !html.contains(&issued.verification_code),
            "the 核验码 is not on the page"
        );
    }
    let (_, english, _) = get(&server, &format!("/v/{payload}?lang=en")).await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("Signature"));
    // Its script, style and the pinned fallback are served from here, nowhere else.
    assert!(!english.contains("http://") && !english.contains("https://"));
    for (path, kind) in [
        ("/static/page.js", "text/javascript"),
        ("/static/page.css", "text/css"),
        ("/static/vendor/noble-ed25519-3.1.0.js", "text/javascript"),
    ] {
        let (status, body, headers) = get(&server, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(!body.contains("https://cdn") && !body.contains("http://"), "{path}");
    }
    let (_, noble, _) = get(&server, "/static/vendor/noble-ed25519-3.1.0.js").await;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(noble.as_bytes())),
        "fe893bfb9286c67892a45c18537035eab3325bc723bb2855ddcb9e9cb57df9aa",
        "the vendored noble-ed25519 is the pinned 3.1.0 release"
    );
}

#[tokio::test]
async fn hostile_payloads_get_a_not_genuine_page_and_cannot_inject() {
    use elicence::licence::qr::QrPayload;
    let server = spawn_server().await;
    let issued = issue(&server, "web-evil", business_licence("WEB-EVIL")).await;
    let payload = printed_payload(&server, &issued.identifier).await;

    // Unreadable: the not-genuine page, never an error trace.
    for bad in ["ELC1:AAAA", "ELC1:%3Cscript%3E", "nonsense"] {
        let (status, html, _) = get(&server, &format!("/v/{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(html.contains("不是真实的证照"), "{bad}: {html}");
        assert!(!html.contains("panicked") && !html.contains("<script>"), "{bad}");
    }

    // Readable, but re-written with markup in a field: the page renders it as text, and
    // the JSON the script reads cannot close its element. The signature no longer holds,
    // which the script (and the no-script verdict) says.
    let mut p = QrPayload::decode(&payload).unwrap();
    p.holder_name = "</script><script>alert(1)</script><!--".into();
    let forged = p.encode().unwrap();
    let (status, html, _) = get(&server, &format!("/v/{forged}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the page's own two script elements"
    );
    assert!(
        html.contains("<dt>持证主体</dt><dd>&#60;/script&#62;&#60;script&#62;alert(1)"),
        "the field shows as text"
    );
    assert_eq!(page_data(&html)["payload"], forged.as_str());
    let noscript = &html[html.find("<noscript>").unwrap()..];
    assert!(noscript.contains("不是真实的证照"), "{noscript}");
}

#[tokio::test]
async fn the_form_verifies_an_identifier_and_its_code() {
    let server = spawn_server().await;
    let issued = issue(&server, "web-form", business_licence("WEB-FORM")).await;
    let (status, html, _) = get(&server, &format!("/v/?id={}", issued.identifier)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("value=\"{}\"", issued.identifier)),
        "prefilled: {html}"
    );

    let url = server.http("/V");
    let submit = |code: String| {
        let form = [
            ("identifier", issued.identifier.clone()),
            ("verification_code", code),
            ("lang", "zh".to_string()),
        ];
        let url = url.clone();
        async move {
            let r = client().post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, html) = submit(issued.verification_code.to_lowercase()).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("✔ 真实，且今天有效") && html.contains("✔ 有效"), "{html}");
    assert!(html.contains("WEB-FORM"));
    let (status, html) = submit("7K3M9-Q2XP4".into()).await;
    assert_eq!(status, 404);
    assert!(html.contains("未找到与该证照标识和核验码相符的证照"), "{html}");
    assert!(!html.contains("WEB-FORM"));
}

#[tokio::test]
async fn a_licence_pdf_is_verified_from_its_metadata_and_a_doctored_one_is_refused() {
    let server = spawn_server().await;
    let issued = issue(&server, "web-pdf", business_licence("WEB-PDF")).await;
    let (_, pdf_bytes) = pdf::render(&server, &issued.identifier, "核验测试").await;
    let send = |body: Vec<u8>| {
        let url = server.http("/api/v1/verify-pdf");
        async move {
            let r = client()
                .post(url)
                .header("content-type", "application/pdf")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = send(pdf_bytes.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((&v["authentic"], &v["status"]), (&json!(true), &json!("VALID")));
    assert_eq!(v["licence"]["licence_number"], "WEB-PDF");

    // A PDF whose metadata was edited to another number: its payload's signature fails.
    let payload = elicence::render::extract_qr_payload(&pdf_bytes).unwrap();
    let mut p = elicence::licence::qr::QrPayload::decode(&payload).unwrap();
    p.licence_number = "WEB-PDF-2".into();
    let doctored = crate::offline::replace_text(&pdf_bytes, &payload, &p.encode().unwrap());
    let (status, v) = send(doctored).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["field"], "pdf");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not issued by this repository"),
        "{v}"
    );

    let (status, v) = send(b"%PDF-1.7 nothing here".to_vec()).await;
    assert_eq!((status, &v["error"]["field"]), (400, &json!("pdf")), "{v}");
    let (status, _) = send(vec![b'x'; 3 * 1024 * 1024]).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_never_carry_what_a_caller_sent() {
    let server = spawn_server().await;
    let issued = issue(&server, "web-metrics", business_licence("WEB-METRICS")).await;
    let payload = printed_payload(&server, &issued.identifier).await;
    let (status, _, _) = get(&server, &format!("/v/{payload}")).await;
    assert_eq!(status, 200);
    let (status, _, _) = post(&server, "/api/v1/verify", r#"{"qr_payload": "ELC1:AAAA"}"#).await;
    assert_eq!(status, 400);
    let (status, text, headers) = get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    for want in [
        r#"elicence_requests_total{transport="http",route="/v/{payload}",code="200"}"#,
        r#"elicence_requests_total{transport="http",route="/api/v1/verify",code="400"}"#,
        r#"elicence_requests_total{transport="grpc",route="/elicence.v1.LicenceService/IssueLicence",code="OK"}"#,
        r#"transport="grpc",route="/elicence.v1.LicenceService/IssueLicence"} 1"#,
        "elicence_commit_groups_total ",
        "elicence_commit_group_writes_bucket",
        "elicence_fsync_seconds_count ",
        "elicence_licences_stored ",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
    let stored: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("elicence_licences_stored "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(stored >= 1.0, "{stored}");
    assert!(!text.contains("ELC1") && !text.contains(&issued.identifier));
}
