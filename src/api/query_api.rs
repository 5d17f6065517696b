//! LicenceService look-ups for using departments: queries and field checks (核验).

use super::blocking;
use super::convert::status_to_pb;
use super::convert_lifecycle::{field_match_to_pb, result_to_pb, selector_from_pb};
use super::licence_api::{check_use_cause, resolve_readable};
use super::pb::{
    FieldCheck, PresentedField, QueryLicencesRequest, QueryLicencesResponse, VerifyLicenceFieldsRequest,
    VerifyLicenceFieldsResponse,
};
use super::{ApiError, LicenceApi};
use crate::catalog::Department;
use crate::registry::Query;

impl LicenceApi {
    pub(super) async fn query(
        &self,
        caller: Department,
        req: QueryLicencesRequest,
    ) -> Result<QueryLicencesResponse, ApiError> {
        let QueryLicencesRequest {
            selector,
            use_cause,
            page_size,
            page_token,
            include_superseded,
        } = req;
        check_use_cause(&use_cause)?;
        let query = Query {
            selector: selector_from_pb(selector)?,
            page_size: page_size as usize,
            page_token: Some(page_token),
            include_superseded,
        };
        let registry = self.state.registry.clone();
        let page = blocking(move || Ok(registry.query(&caller, query)?)).await?;
        Ok(QueryLicencesResponse {
            results: page.results.into_iter().map(result_to_pb).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        })
    }

    pub(super) async fn check_fields(
        &self,
        caller: Department,
        req: VerifyLicenceFieldsRequest,
    ) -> Result<VerifyLicenceFieldsResponse, ApiError> {
        let VerifyLicenceFieldsRequest {
            identifier,
            licence_type_code,
            licence_number,
            use_cause,
            fields,
        } = req;
        check_use_cause(&use_cause)?;
        let registry = self.state.registry.clone();
        let presented: Vec<(String, String)> = fields
            .into_iter()
            .map(|PresentedField { name, value }| (name, value))
            .collect();
        let checked = blocking(move || {
            let id = resolve_readable(&registry, &caller, &identifier, &licence_type_code, &licence_number)?;
            Ok(registry.check_fields(&caller, &id, &presented)?)
        })
        .await?;
        Ok(VerifyLicenceFieldsResponse {
            identifier: checked.identifier,
            status: checked.status.map(status_to_pb).unwrap_or_default() as i32,
            status_code: checked
                .status
                .map(|s| s.national_code().to_string())
                .unwrap_or_default(),
            authentic: checked.authentic,
            checks: checked
                .checks
                .into_iter()
                .map(|(name, m)| FieldCheck {
                    name,
                    result: field_match_to_pb(m) as i32,
                })
                .collect(),
        })
    }
}
