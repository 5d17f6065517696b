//! `elicence.v1.VerificationService`: public verification and the published keys.
//! No token; personal data masked.

use std::time::Instant;

use tonic::{Request, Response, Status};

use super::convert::{key_to_pb, licence_to_pb, status_to_pb};
use super::pb::verification_service_server::VerificationService;
use super::pb::{
    LicenceStatus, ListSigningKeysRequest, ListSigningKeysResponse, VerifyLicenceRequest, VerifyLicenceResponse,
};
use super::{ApiError, AppState, RateLimiter};
use crate::licence::{Invalid, LicenceId};

pub struct VerificationApi {
    state: AppState,
    limiter: RateLimiter,
}

impl VerificationApi {
    /// Without a per-client rate limit.
    pub fn new(state: AppState) -> VerificationApi {
        VerificationApi::with_rate_limit(state, 0, 1)
    }

    /// At most `rate` calls a second per client IP address, bursts up to `burst`.
    pub fn with_rate_limit(state: AppState, rate: u32, burst: u32) -> VerificationApi {
        VerificationApi {
            state,
            limiter: RateLimiter::new(rate, burst),
        }
    }

    fn admit<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.limiter.admit(req.remote_addr().map(|a| a.ip()), Instant::now())
    }
}

#[tonic::async_trait]
impl VerificationService for VerificationApi {
    async fn verify_licence(
        &self,
        req: Request<VerifyLicenceRequest>,
    ) -> Result<Response<VerifyLicenceResponse>, Status> {
        self.admit(&req)?;
        let VerifyLicenceRequest { identifier } = req.into_inner();
        let identifier = identifier.trim();
        identifier
            .parse::<LicenceId>()
            .map_err(|e| ApiError::from(Invalid::new("identifier", e.to_string())))?;
        let v = self.state.registry.verify(identifier).map_err(ApiError::from)?;
        Ok(Response::new(VerifyLicenceResponse {
            authentic: v.authentic,
            status: v.status.map(status_to_pb).unwrap_or(LicenceStatus::Unspecified) as i32,
            status_code: v.status.map(|s| s.national_code().to_string()).unwrap_or_default(),
            detail: v.detail,
            licence: v.licence.map(licence_to_pb),
            current_identifier: v.current_identifier,
            migrated: v.migrated,
            digest: v.digest.to_vec(),
            key_id: v.key_id,
        }))
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
