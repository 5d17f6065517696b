//! `elicence.v1.VerificationService`: public verification and the published keys.
//! No token: the caller presents the licence (QR payload, or identifier + 核验码); a
//! department may verify by identifier alone with its token, audited like any read.

use std::time::Instant;

use tonic::{Request, Response, Status};

use super::audit::{audited, AuditedRequest, AuditedResponse};
use super::convert::{key_to_pb, verification_to_pb};
use super::pb::verification_service_server::VerificationService;
use super::pb::{ListSigningKeysRequest, ListSigningKeysResponse, VerifyLicenceRequest, VerifyLicenceResponse};
use super::{blocking, ApiError, AppState};
use crate::licence::Invalid;
use crate::registry::Presented;

const METHOD: &str = "elicence.v1.VerificationService/VerifyLicence";

pub struct VerificationApi {
    state: AppState,
    rate: u32,
    burst: u32,
}

impl VerificationApi {
    /// Without a per-client rate limit.
    pub fn new(state: AppState) -> VerificationApi {
        VerificationApi::with_rate_limit(state, 0, 1)
    }

    /// At most `rate` calls a second per client IP address, bursts up to `burst` (in one
    /// bucket with the HTTP API's: `Registry::client_limiter`).
    pub fn with_rate_limit(state: AppState, rate: u32, burst: u32) -> VerificationApi {
        VerificationApi { state, rate, burst }
    }

    fn admit<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let limiter = self.state.registry.client_limiter(self.rate, self.burst);
        limiter
            .admit(req.remote_addr().map(|a| a.ip()), Instant::now())
            .map_err(|e| {
                crate::metrics::METRICS.rate_limited("grpc");
                Status::from(e)
            })
    }
}

impl AuditedRequest for VerifyLicenceRequest {
    fn use_cause(&self) -> &str {
        "public verification by a department (VerifyLicence)"
    }
    fn identifiers(&self) -> Vec<String> {
        vec![self.identifier.trim().to_string()]
    }
}
impl AuditedResponse for VerifyLicenceResponse {}

/// Whether the call carries department credentials (a token or a client certificate).
fn has_credentials<T>(req: &Request<T>) -> bool {
    req.metadata().contains_key("authorization") || req.peer_certs().is_some_and(|c| !c.is_empty())
}

#[tonic::async_trait]
impl VerificationService for VerificationApi {
    async fn verify_licence(
        &self,
        req: Request<VerifyLicenceRequest>,
    ) -> Result<Response<VerifyLicenceResponse>, Status> {
        self.admit(&req)?;
        let VerifyLicenceRequest {
            identifier,
            verification_code,
            qr_payload,
        } = req.get_ref();
        let (identifier, code, qr) = (
            identifier.trim().to_string(),
            verification_code.trim().to_string(),
            qr_payload.trim().to_string(),
        );
        let registry = self.state.registry.clone();
        // Reading and checking run on the blocking pool: a store read may wait for disk.
        let v = match (identifier.as_str(), code.as_str(), qr.as_str()) {
            (_, _, q) if !q.is_empty() => blocking(move || Ok(registry.verify(Presented::Qr(&qr))?)).await?,
            (id, c, _) if !id.is_empty() && !c.is_empty() => {
                blocking(move || {
                    Ok(registry.verify(Presented::Code {
                        identifier: &identifier,
                        code: &code,
                    })?)
                })
                .await?
            }
            (id, _, _) if !id.is_empty() && has_credentials(&req) => {
                return audited(&self.state, METHOD, req, |caller, _| async move {
                    let v = blocking(move || {
                        Ok(registry.verify(Presented::Reader {
                            caller: &caller,
                            identifier: &identifier,
                        })?)
                    })
                    .await?;
                    Ok(verification_to_pb(v))
                })
                .await;
            }
            (id, _, _) if !id.is_empty() => {
                return Err(ApiError::from(Invalid::new(
                    "verification_code",
                    "is required with identifier: give the 核验码 printed on the licence, or qr_payload instead",
                ))
                .into())
            }
            _ => {
                return Err(ApiError::from(Invalid::new(
                    "qr_payload",
                    "give the licence's QR payload, or its identifier and verification_code",
                ))
                .into())
            }
        };
        Ok(Response::new(verification_to_pb(v)))
    }

    async fn list_signing_keys(
        &self,
        req: Request<ListSigningKeysRequest>,
    ) -> Result<Response<ListSigningKeysResponse>, Status> {
        self.admit(&req)?;
        let keys = self
            .state
            .registry
            .keys()
            .public_keys()
            .into_iter()
            .map(key_to_pb)
            .collect();
        Ok(Response::new(ListSigningKeysResponse { keys }))
    }
}
