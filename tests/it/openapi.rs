//! The service against its published HTTP contract, docs/openapi.json: every documented
//! operation answers, with a documented status, and every JSON answer conforms to the
//! documented schema — no missing required property, no undocumented one, no wrong type.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::*;
use crate::pdf;

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Checks `value` against the subset of JSON Schema the document uses.
fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(spec, &spec["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let ok = options.iter().filter(|o| conforms(spec, o, value, at).is_ok()).count();
        return if ok == 1 {
            Ok(())
        } else {
            Err(format!("{at}: matches {ok} of oneOf"))
        };
    }
    let type_ok = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_u64() || value.is_i64(),
        "null" => value.is_null(),
        _ => false,
    };
    match &schema["type"] {
        Value::String(t) if !type_ok(t) => return Err(format!("{at}: {value} is not {t}")),
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            return Err(format!("{at}: {value} not in {allowed:?}"));
        }
    }
    if let (Some(obj), Some(props)) = (value.as_object(), schema["properties"].as_object()) {
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                return Err(format!("{at}: required {r} is missing"));
            }
        }
        for (k, v) in obj {
            match props.get(k) {
                Some(s) => conforms(spec, s, v, &format!("{at}.{k}"))?,
                None if schema["additionalProperties"] == json!(false) => {
                    return Err(format!("{at}: {k} is not documented"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            conforms(spec, schema, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Checks one answer of `method path` against the document: its status is documented,
/// and a JSON body conforms to that status's schema.
fn check(spec: &Value, path: &str, method: &str, status: u16, content_type: &str, body: &str) {
    let responses = &spec["paths"][path][method]["responses"];
    let documented = &responses[status.to_string()];
    assert!(
        documented.is_object(),
        "{method} {path}: status {status} is not documented: {body}"
    );
    let content = documented["content"].as_object().unwrap();
    let kind = content_type.split(';').next().unwrap().trim();
    let schema = &content
        .get(kind)
        .unwrap_or_else(|| panic!("{method} {path} {status}: {kind} is not documented"))["schema"];
    if kind == "application/json" {
        let value: Value = serde_json::from_str(body).unwrap();
        conforms(spec, schema, &value, &format!("{method} {path} {status}")).unwrap();
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let spec = spec();
    let server = spawn_server().await;
    let issued = issue(&server, "oa-1", business_licence("OA-1")).await;
    let (info, pdf_bytes) = pdf::render(&server, &issued.identifier, "契约测试").await;
    let payload = info.qr_payload;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let form = |id: &str, code: &str| format!("identifier={id}&verification_code={code}&lang=zh");
    // The log's first checkpoint (signed within about a second of the first write).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client
        .get(server.http("/log/checkpoint"))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(std::time::Instant::now() < deadline, "no checkpoint after 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // (documented path, method, concrete path, content type, body)
    let calls: Vec<(&str, &str, String, &str, Vec<u8>)> = vec![
        (
            "/api/v1/verify",
            "post",
            "/api/v1/verify".into(),
            "application/json",
            json!({"qr_payload": payload}).to_string().into_bytes(),
        ),
        (
            "/api/v1/verify",
            "post",
            "/api/v1/verify".into(),
            "application/json",
            json!({"identifier": issued.identifier, "verification_code": issued.verification_code})
                .to_string()
                .into_bytes(),
        ),
        (
            "/api/v1/verify",
            "post",
            "/api/v1/verify".into(),
            "application/json",
            json!({"identifier": issued.identifier, "verification_code": "7K3M9-Q2XP4"})
                .to_string()
                .into_bytes(),
        ),
        (
            "/api/v1/verify",
            "post",
            "/api/v1/verify".into(),
            "application/json",
            b"{\"qr\": 1}".to_vec(),
        ),
        (
            "/api/v1/verify",
            "post",
            "/api/v1/verify".into(),
            "application/json",
            vec![b' '; 20_000],
        ),
        (
            "/api/v1/verify-pdf",
            "post",
            "/api/v1/verify-pdf".into(),
            "application/pdf",
            pdf_bytes.clone(),
        ),
        (
            "/api/v1/verify-pdf",
            "post",
            "/api/v1/verify-pdf".into(),
            "application/pdf",
            b"not a pdf".to_vec(),
        ),
        ("/api/v1/keys", "get", "/api/v1/keys".into(), "", vec![]),
        (
            "/api/v1/log/checkpoint",
            "get",
            "/api/v1/log/checkpoint".into(),
            "",
            vec![],
        ),
        (
            "/api/v1/log/checkpoint",
            "get",
            "/api/v1/log/checkpoint?tree_size=999999".into(),
            "",
            vec![],
        ),
        (
            "/api/v1/log/checkpoint",
            "get",
            "/api/v1/log/checkpoint?tree_size=x".into(),
            "",
            vec![],
        ),
        (
            "/api/v1/log/inclusion",
            "get",
            "/api/v1/log/inclusion?leaf_index=0".into(),
            "",
            vec![],
        ),
        (
            "/api/v1/log/inclusion",
            "get",
            "/api/v1/log/inclusion".into(),
            "",
            vec![],
        ),
        (
            "/api/v1/log/consistency",
            "get",
            "/api/v1/log/consistency?old_size=1".into(),
            "",
            vec![],
        ),
        (
            "/api/v1/log/consistency",
            "get",
            "/api/v1/log/consistency?old_size=999999".into(),
            "",
            vec![],
        ),
        ("/log/checkpoint", "get", "/log/checkpoint".into(), "", vec![]),
        ("/log/tile/{path}", "get", "/log/tile/0/000.p/1".into(), "", vec![]),
        ("/log/tile/{path}", "get", "/log/tile/entries/000".into(), "", vec![]),
        ("/v/{payload}", "get", format!("/v/{payload}"), "", vec![]),
        ("/v/{payload}", "get", "/v/ELC1:AAAA".into(), "", vec![]),
        ("/v/", "get", format!("/v/?id={}", issued.identifier), "", vec![]),
        (
            "/v",
            "post",
            "/v".into(),
            "application/x-www-form-urlencoded",
            form(&issued.identifier, &issued.verification_code).into_bytes(),
        ),
        (
            "/v",
            "post",
            "/v".into(),
            "application/x-www-form-urlencoded",
            form(&issued.identifier, "7K3M9-Q2XP4").into_bytes(),
        ),
    ];
    let mut seen = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    for (path, method, url, kind, body) in calls {
        let mut req = match method {
            "get" => client.get(server.http(&url)),
            _ => client.post(server.http(&url)).header("content-type", kind).body(body),
        };
        req = req.header("accept", "*/*");
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        let text = r.text().await.unwrap();
        check(&spec, path, method, status, &content_type, &text);
        seen.insert((path.to_string(), method.to_string()));
        statuses.insert((path, status));
    }
    // Every documented operation was called.
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (p.clone(), m.clone())))
        .collect();
    assert_eq!(seen, documented);
    // The calls reached the answers they were meant to.
    for want in [
        ("/api/v1/verify", 200),
        ("/api/v1/verify", 400),
        ("/api/v1/verify", 404),
        ("/api/v1/verify", 413),
        ("/api/v1/verify-pdf", 200),
        ("/api/v1/verify-pdf", 400),
        ("/v/{payload}", 400),
        ("/v", 404),
        ("/api/v1/log/checkpoint", 200),
        ("/api/v1/log/checkpoint", 404),
        ("/api/v1/log/checkpoint", 400),
        ("/api/v1/log/inclusion", 200),
        ("/api/v1/log/inclusion", 400),
        ("/api/v1/log/consistency", 200),
        ("/api/v1/log/consistency", 400),
        ("/log/checkpoint", 200),
        ("/log/tile/{path}", 200),
        ("/log/tile/{path}", 404),
    ] {
        assert!(statuses.contains(&want), "{want:?} not reached: {statuses:?}");
    }
}

#[test]
fn the_checker_catches_what_it_should() {
    let spec = spec();
    let answer = &spec["components"]["schemas"]["KeyListEntry"];
    let good = json!({"key_id": "a", "public_key_hex": "b", "valid_from": "c", "valid_until": "", "active": true});
    conforms(&spec, answer, &good, "k").unwrap();
    let mut extra = good.clone();
    extra["secret"] = json!("x");
    assert!(conforms(&spec, answer, &extra, "k")
        .unwrap_err()
        .contains("not documented"));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("active");
    assert!(conforms(&spec, answer, &missing, "k")
        .unwrap_err()
        .contains("required active"));
    let mut wrong = good;
    wrong["active"] = json!("yes");
    assert!(conforms(&spec, answer, &wrong, "k").is_err());
}
