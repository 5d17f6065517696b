//! The HTTP side through a real server: the JSON API answers what gRPC answers, through
//! the same rules (the allow-list, the per-client limit, proof of possession), and bad
//! input gets a status and a message naming the field.

use elicence::api::pb::{RenderLicencePdfRequest, VerifyLicenceRequest};
use elicence::licence::key_list::parse_key_list;
use serde_json::{json, Value};

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
    let stream = server
        .documents()
        .render_licence_pdf(authed(
            SCJGJ,
            RenderLicencePdfRequest {
                identifier: identifier.into(),
                use_cause: "核验测试".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (info, _) = pdf::collect(stream).await;
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
}
