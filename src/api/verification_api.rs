//! `elicence.v1.VerificationService`: public verification and the published keys.
//! No token; personal data masked.

use tonic::{Request, Response, Status};

use super::convert::{key_to_pb, licence_to_pb, status_to_pb};
use super::pb::verification_service_server::VerificationService;
use super::pb::{
    LicenceStatus, ListSigningKeysRequest, ListSigningKeysResponse, VerifyLicenceRequest, VerifyLicenceResponse,
};
use super::{ApiError, AppState};
use crate::licence::{Invalid, LicenceId};

pub struct VerificationApi {
    state: AppState,
}

impl VerificationApi {
    pub fn new(state: AppState) -> VerificationApi {
        VerificationApi { state }
    }
}

#[tonic::async_trait]
impl VerificationService for VerificationApi {
    async fn verify_licence(
        &self,
        req: Request<VerifyLicenceRequest>,
    ) -> Result<Response<VerifyLicenceResponse>, Status> {
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
        _: Request<ListSigningKeysRequest>,
    ) -> Result<Response<ListSigningKeysResponse>, Status> {
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
