//! `elicence.v1.CatalogService`: the licence type catalogue.

use tonic::{Request, Response, Status};

use super::convert::type_to_pb;
use super::pb::catalog_service_server::CatalogService;
use super::pb::{GetLicenceTypeRequest, ListLicenceTypesRequest, ListLicenceTypesResponse, PutLicenceTypeRequest};
use super::{pb, ApiError, AppState};
use crate::catalog::LicenceType;
use crate::licence::Invalid;

pub struct CatalogApi {
    state: AppState,
}

impl CatalogApi {
    pub fn new(state: AppState) -> CatalogApi {
        CatalogApi { state }
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn list_licence_types(
        &self,
        req: Request<ListLicenceTypesRequest>,
    ) -> Result<Response<ListLicenceTypesResponse>, Status> {
        self.state.directory.authenticate(&req)?;
        let types = self.state.registry.list_types().into_iter().map(type_to_pb).collect();
        Ok(Response::new(ListLicenceTypesResponse { types }))
    }

    async fn get_licence_type(&self, req: Request<GetLicenceTypeRequest>) -> Result<Response<pb::LicenceType>, Status> {
        self.state.directory.authenticate(&req)?;
        let GetLicenceTypeRequest { code } = req.into_inner();
        let t = self.state.registry.get_type(code.trim()).map_err(ApiError::from)?;
        Ok(Response::new(type_to_pb(t)))
    }

    async fn put_licence_type(&self, req: Request<PutLicenceTypeRequest>) -> Result<Response<pb::LicenceType>, Status> {
        let caller = self.state.directory.authenticate(&req)?;
        let PutLicenceTypeRequest { licence_type } = req.into_inner();
        let t = licence_type.ok_or_else(|| ApiError::from(Invalid::new("licence_type", "is required")))?;
        let t = LicenceType::try_from(t).map_err(ApiError::from)?;
        let t = self.state.registry.put_type(&caller, t).await.map_err(ApiError::from)?;
        Ok(Response::new(type_to_pb(t)))
    }
}
