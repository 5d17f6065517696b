//! The verification page behind the QR code (`GET /v/<ELC1 text>`), the form for a
//! licence whose code cannot be scanned (`GET /v/`, `POST /v`), and their static files.
//! The page shows three separate answers: 签名 (checked in the browser, `page.js`), 状态
//! (asked of `POST /api/v1/verify` by the page), 签发 (the key in the published list).

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde::{Deserialize, Serialize};

use super::text::{script_strings, status_words, text, Text};
use super::{blocking, WebError, WebState};
use crate::licence::key_list::SignedKeyList;
use crate::licence::qr::{CopyFields, QrPayload};
use crate::registry::{Presented, RegistryError, Verification};

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    id: Option<String>,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage<'a> {
    t: &'a Text,
    other_lang_href: String,
    server_signature: &'a str,
    copy: Option<CopyFields>,
    rows: Vec<(String, String)>,
    data_json: String,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage<'a> {
    t: &'a Text,
    other_lang_href: String,
    identifier: String,
    message: Option<String>,
}

#[derive(Template)]
#[template(path = "answer.html")]
struct AnswerPage<'a> {
    t: &'a Text,
    other_lang_href: String,
    state: &'a str,
    summary: String,
    signature_state: &'a str,
    signature: &'a str,
    status_state: &'a str,
    status: &'a str,
    status_explain: String,
    current: Option<String>,
    issuance: String,
    rows: Vec<(String, String)>,
}

/// What the page's script needs: the payload to ask the status of, the signed bytes and
/// signature to check, the published key list, and its words.
#[derive(Serialize)]
struct PageData {
    payload: String,
    signed_hex: String,
    signature_hex: String,
    key_id: String,
    keys: SignedKeyList,
    text: serde_json::Value,
}

/// JSON inside `<script type="application/json">`: nothing in it may close the element
/// or open a comment, whatever the (attacker-chosen) payload text says.
fn script_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn html(page: impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => WebError::Internal(format!("page template: {e}")).into_response(),
    }
}

fn lang_href(path: &str, t: &Text) -> String {
    let other = if t.code == "zh" { "en" } else { "zh" };
    format!("{path}?lang={other}")
}

/// `GET /v/<ELC1 text>`: what the payload itself says, rendered at once (no store is
/// read, so it takes no token of the per-client limit: only the status it then asks
/// for does), with the script that checks its signature and asks for its status.
pub async fn payload_page(
    State(state): State<WebState>,
    Path(payload): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let t = text(q.lang.as_deref());
    let href = lang_href(&format!("/v/{payload}"), t);
    let Ok(p) = QrPayload::decode(&payload) else {
        return Ok(not_genuine(t, href));
    };
    let registry = state.registry.clone();
    let keys = registry.keys();
    // The server's own verdict, shown only when scripts are off.
    let server_signature = match p.verify(&keys.public_keys()) {
        Ok(()) => t.genuine,
        Err(_) => t.not_genuine,
    };
    let type_name = registry.get_type(&p.licence_type_code).map(|ty| ty.name).ok();
    let signed = p.signed_bytes().map_err(|e| WebError::Internal(e.to_string()))?;
    let data = PageData {
        payload: p.encode().map_err(|e| WebError::Internal(e.to_string()))?,
        signed_hex: hex::encode(signed),
        signature_hex: hex::encode(p.signature),
        key_id: p.key_id.clone(),
        keys: SignedKeyList::of(keys).map_err(|e| WebError::Internal(e.to_string()))?,
        text: script_strings(t),
    };
    let validity = match p.valid_until.as_str() {
        "" => format!("{} – {}", p.valid_from, t.long_term),
        until => format!("{} – {until}", p.valid_from),
    };
    let mut rows = vec![];
    if let Some(name) = type_name {
        rows.push((t.licence_name.to_string(), name));
    }
    rows.extend(
        [
            (t.licence_type, p.licence_type_code.clone()),
            (t.licence_number, p.licence_number.clone()),
            (t.holder, p.holder_name.clone()),
            (t.holder_code, p.holder_code_masked.clone()),
            (t.issuer, p.issuer_name.clone()),
            (t.validity, validity),
            (t.identifier, p.identifier.clone()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let page = VerifyPage {
        t,
        other_lang_href: href,
        server_signature,
        copy: p.copy.clone(),
        rows,
        data_json: script_json(&data),
    };
    Ok(html(page, StatusCode::OK))
}

fn not_genuine(t: &'static Text, href: String) -> Response {
    let page = AnswerPage {
        t,
        other_lang_href: href,
        state: "bad",
        summary: t.not_genuine.into(),
        signature_state: "bad",
        signature: t.not_genuine,
        status_state: "bad",
        status: "—",
        status_explain: t.not_genuine_explain.into(),
        current: None,
        issuance: "—".into(),
        rows: vec![],
    };
    html(page, StatusCode::BAD_REQUEST)
}

/// `GET /v/`: the form for the identifier and 核验码 (`?id=` fills the identifier in, as
/// the link from a superseded licence to its current version does).
pub async fn form(Query(q): Query<PageQuery>) -> Response {
    let t = text(q.lang.as_deref());
    let page = FormPage {
        t,
        other_lang_href: lang_href("/v/", t),
        identifier: q.id.unwrap_or_default(),
        message: None,
    };
    html(page, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct FormRequest {
    lang: Option<String>,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    verification_code: String,
}

/// `POST /v`: the service's answer for an identifier and 核验码, as a page.
pub async fn form_answer(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<FormRequest>,
) -> Result<Response, WebError> {
    let t = text(f.lang.as_deref());
    let again = |message: String, identifier: String, status: StatusCode| {
        let page = FormPage {
            t,
            other_lang_href: lang_href("/v/", t),
            identifier,
            message: Some(message),
        };
        Ok(html(page, status))
    };
    if let Err(e) = state.admit(peer) {
        return Ok(e.into_response());
    }
    let registry = state.registry.clone();
    let identifier = f.identifier.trim().to_string();
    let code = f.verification_code.trim().to_string();
    let id = identifier.clone();
    let answer = blocking(move || {
        Ok(registry.verify(Presented::Code {
            identifier: &id,
            code: &code,
        })?)
    })
    .await;
    match answer {
        Ok(v) => Ok(answer_page(&state, t, v)),
        Err(WebError::Registry(RegistryError::Invalid(i))) => again(i.to_string(), identifier, StatusCode::BAD_REQUEST),
        Err(WebError::Registry(RegistryError::NotFound(_))) => {
            again(t.not_found.into(), identifier, StatusCode::NOT_FOUND)
        }
        Err(e @ WebError::Registry(RegistryError::Throttled(_))) => {
            again(e.to_string(), identifier, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(_) => again(t.unavailable.into(), identifier, StatusCode::SERVICE_UNAVAILABLE),
    }
}

fn answer_page(state: &WebState, t: &'static Text, v: Verification) -> Response {
    let answer = super::answer::VerifyAnswer::from(v);
    if !answer.authentic {
        return not_genuine(t, lang_href("/v/", t));
    }
    let status = status_words(t, &answer.status);
    let valid = answer.status == "VALID";
    let key = state
        .registry
        .keys()
        .public_keys()
        .into_iter()
        .find(|k| k.key_id == answer.key_id);
    let issuance = match key {
        Some(k) => format!("{} {} ({} – {})", t.issuance, k.key_id, k.valid_from, k.valid_until),
        None => answer.key_id.clone(),
    };
    let mut rows = vec![];
    if let Some(l) = &answer.licence {
        let validity = match l.valid_until.as_str() {
            "" => format!("{} – {}", l.valid_from, t.long_term),
            until => format!("{} – {until}", l.valid_from),
        };
        rows.extend(
            [
                (t.licence_name, l.licence_name.clone()),
                (t.licence_number, l.licence_number.clone()),
                (t.holder, l.holder_name.clone()),
                (t.holder_code, l.holder_code.clone()),
                (t.issuer, l.issuer_name.clone()),
                (t.validity, validity),
                (t.identifier, l.identifier.clone()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        rows.extend(l.fields.iter().map(|f| (f.name.clone(), f.value.clone())));
    }
    let page = AnswerPage {
        t,
        other_lang_href: lang_href("/v/", t),
        state: if valid { "good" } else { "bad" },
        summary: if valid {
            script_strings(t)["summary_valid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            format!("{} {status}", t.genuine)
        },
        signature_state: "good",
        signature: t.genuine,
        status_state: if valid { "good" } else { "bad" },
        status,
        status_explain: answer.checked_at.clone(),
        current: (!answer.current_identifier.is_empty()).then(|| answer.current_identifier.clone()),
        issuance,
        rows,
    };
    html(page, StatusCode::OK)
}

/// The page's script, style and the vendored Ed25519 fallback, compiled in.
pub async fn static_file(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match name.as_str() {
        "page.js" => (include_str!("static/page.js"), "text/javascript; charset=utf-8"),
        "page.css" => (include_str!("static/page.css"), "text/css; charset=utf-8"),
        "vendor/noble-ed25519-3.1.0.js" => (
            include_str!("static/vendor/noble-ed25519-3.1.0.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return WebError::NotFound(name).into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}
