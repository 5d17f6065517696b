//! `elicence.v1.LicenceService`: issue and read licences (departments only).

use tonic::{Request, Response, Status};

use super::convert::{draft_from_pb, licence_to_pb, status_to_pb};
use super::pb::licence_service_server::LicenceService;
use super::pb::{GetLicenceRequest, GetLicenceResponse, IssueLicenceRequest, IssueLicenceResponse};
use super::{ApiError, AppState};
use crate::licence::Invalid;

pub struct LicenceApi {
    state: AppState,
}

impl LicenceApi {
    pub fn new(state: AppState) -> LicenceApi {
        LicenceApi { state }
    }
}

/// 用证事由: required on every department read, 1–200 characters.
pub(crate) fn check_use_cause(use_cause: &str) -> Result<(), Invalid> {
    let n = use_cause.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(Invalid::new(
            "use_cause",
            "is required: 1-200 characters stating why the licence is used (用证事由)",
        ));
    }
    Ok(())
}

#[tonic::async_trait]
impl LicenceService for LicenceApi {
    async fn issue_licence(&self, req: Request<IssueLicenceRequest>) -> Result<Response<IssueLicenceResponse>, Status> {
        let caller = self.state.directory.authenticate(&req)?;
        let IssueLicenceRequest { request_id, licence } = req.into_inner();
        let licence = licence.ok_or_else(|| ApiError::from(Invalid::new("licence", "is required")))?;
        let r = self
            .state
            .registry
            .issue(&caller, &request_id, draft_from_pb(licence))
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(IssueLicenceResponse {
            identifier: r.identifier,
            digest: r.digest.to_vec(),
            signature: r.signature.to_vec(),
            key_id: r.key_id,
        }))
    }

    async fn get_licence(&self, req: Request<GetLicenceRequest>) -> Result<Response<GetLicenceResponse>, Status> {
        let caller = self.state.directory.authenticate(&req)?;
        let GetLicenceRequest {
            identifier,
            licence_type_code,
            licence_number,
            use_cause,
        } = req.into_inner();
        check_use_cause(&use_cause).map_err(ApiError::from)?;
        let registry = &self.state.registry;
        let identifier = match (identifier.trim(), licence_type_code.trim(), licence_number.trim()) {
            (id, "", "") if !id.is_empty() => id.to_string(),
            ("", t, n) if !t.is_empty() && !n.is_empty() => {
                registry.identifier_for_number(t, n).map_err(ApiError::from)?
            }
            _ => {
                return Err(ApiError::from(Invalid::new(
                    "identifier",
                    "give either identifier, or licence_type_code and licence_number",
                ))
                .into())
            }
        };
        let view = registry.read(&caller, &identifier).map_err(ApiError::from)?;
        Ok(Response::new(GetLicenceResponse {
            digest: view.record.digest().to_vec(),
            status: status_to_pb(view.status) as i32,
            status_code: view.status.national_code().to_string(),
            signed_record: view.record.bytes,
            signature: view.record.signature.to_vec(),
            key_id: view.record.key_id,
            licence: Some(licence_to_pb(view.licence)),
        }))
    }
}
