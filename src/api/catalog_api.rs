//! `elicence.v1.CatalogService`: the licence type catalogue.

use tonic::{Request, Response, Status};

use super::audit::audited;
use super::convert::type_to_pb;
use super::pb::catalog_service_server::CatalogService;
use super::pb::{GetLicenceTypeRequest, ListLicenceTypesRequest, ListLicenceTypesResponse, PutLicenceTypeRequest};
use super::{blocking, pb, ApiError, AppState};
use crate::catalog::{Department, LicenceType};
use crate::licence::Invalid;

pub struct CatalogApi {
    state: AppState,
}

impl CatalogApi {
    pub fn new(state: AppState) -> CatalogApi {
        CatalogApi { state }
    }

    async fn put(&self, caller: Department, req: PutLicenceTypeRequest) -> Result<pb::LicenceType, ApiError> {
        let PutLicenceTypeRequest { licence_type } = req;
        let t = licence_type.ok_or_else(|| Invalid::new("licence_type", "is required"))?;
        let t = LicenceType::try_from(t)?;
        let registry = self.state.registry.clone();
        let t = blocking(move || Ok(registry.put_type(&caller, t)?)).await?;
        Ok(type_to_pb(t))
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn list_licence_types(
        &self,
        req: Request<ListLicenceTypesRequest>,
    ) -> Result<Response<ListLicenceTypesResponse>, Status> {
        let registry = &self.state.registry;
        audited(
            &self.state,
            "elicence.v1.CatalogService/ListLicenceTypes",
            req,
            |_, ListLicenceTypesRequest {}| async move {
                // Off the executor: the catalogue may reload from a shared database.
                let registry = registry.clone();
                let types = blocking(move || Ok(registry.list_types())).await?;
                Ok(ListLicenceTypesResponse {
                    types: types.into_iter().map(type_to_pb).collect(),
                })
            },
        )
        .await
    }

    async fn get_licence_type(&self, req: Request<GetLicenceTypeRequest>) -> Result<Response<pb::LicenceType>, Status> {
        let registry = &self.state.registry;
        audited(
            &self.state,
            "elicence.v1.CatalogService/GetLicenceType",
            req,
            |_, GetLicenceTypeRequest { code }| async move {
                let registry = registry.clone();
                Ok(type_to_pb(blocking(move || Ok(registry.get_type(code.trim())?)).await?))
            },
        )
        .await
    }

    async fn put_licence_type(&self, req: Request<PutLicenceTypeRequest>) -> Result<Response<pb::LicenceType>, Status> {
        audited(&self.state, "elicence.v1.CatalogService/PutLicenceType", req, |c, m| {
            self.put(c, m)
        })
        .await
    }
}
