//! The JSON API for integrators and the verification page: `POST /api/v1/verify` (the
//! gRPC public verification's answer) and `GET /api/v1/keys` (the signed key list).

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::answer::VerifyAnswer;
use super::{blocking, WebError, WebState, MAX_PDF_BODY, MAX_VERIFY_BODY};
use crate::licence::key_list::SignedKeyList;
use crate::licence::Invalid;
use crate::registry::Presented;

/// A presented licence: its QR payload (the `ELC1:` text, or the whole URL of the
/// verification page), or its identifier and 核验码.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyRequest {
    pub qr_payload: String,
    pub identifier: String,
    pub verification_code: String,
}

/// The presented licence, as the registry takes it (a QR text may carry the page's URL
/// in front of `ELC1:`; the payload decoder drops it).
pub fn presented(req: &VerifyRequest) -> Result<Presented<'_>, Invalid> {
    let (qr, identifier, code) = (
        req.qr_payload.trim(),
        req.identifier.trim(),
        req.verification_code.trim(),
    );
    if !qr.is_empty() {
        return Ok(Presented::Qr(qr));
    }
    match (identifier.is_empty(), code.is_empty()) {
        (false, false) => Ok(Presented::Code { identifier, code }),
        (false, true) => Err(Invalid::new(
            "verification_code",
            "is required with identifier: give the 核验码 printed on the licence, or qr_payload instead",
        )),
        _ => Err(Invalid::new(
            "qr_payload",
            "give the licence's QR payload, or its identifier and verification_code",
        )),
    }
}

/// `POST /api/v1/verify`.
pub async fn verify(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<VerifyRequest>, JsonRejection>,
) -> Result<Json<VerifyAnswer>, WebError> {
    state.admit(peer)?;
    let Json(req) = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => WebError::TooLarge(format!("body: larger than {MAX_VERIFY_BODY} bytes")),
        _ => Invalid::new("body", e.body_text()).into(),
    })?;
    let registry = state.registry.clone();
    let v = blocking(move || {
        let presented = presented(&req)?;
        Ok(registry.verify(presented)?)
    })
    .await?;
    Ok(Json(v.into()))
}

/// `POST /api/v1/verify-pdf` (the PDF as the body): the payload in the document's
/// metadata, checked as a QR code is, plus the status.
pub async fn verify_pdf(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<VerifyAnswer>, WebError> {
    state.admit(peer)?;
    let pdf = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => WebError::TooLarge(format!("pdf: larger than {MAX_PDF_BODY} bytes")),
        _ => Invalid::new("pdf", e.body_text()).into(),
    })?;
    if pdf.is_empty() {
        return Err(Invalid::new("pdf", "send the licence PDF as the request body").into());
    }
    let registry = state.registry.clone();
    let v = blocking(move || Ok(registry.verify(Presented::Pdf(&pdf))?)).await?;
    Ok(Json(v.into()))
}

/// `GET /api/v1/keys`: every public key with its validity window, signed by the active
/// key (the same document as `elicence keys export`).
pub async fn keys(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<SignedKeyList>, WebError> {
    state.admit(peer)?;
    let list = SignedKeyList::of(state.registry.keys()).map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(Json(list))
}

impl WebState {
    /// One token from the client's bucket (shared with gRPC's public verification).
    pub(super) fn admit(&self, peer: SocketAddr) -> Result<(), WebError> {
        let limiter = self
            .registry
            .client_limiter(self.limits.verify_rate_per_client, self.limits.verify_burst_per_client);
        limiter.admit(Some(peer.ip()), Instant::now()).map_err(|e| {
            crate::metrics::METRICS.rate_limited("http");
            e.into()
        })
    }
}
