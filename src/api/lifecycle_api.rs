//! LicenceService lifecycle methods: status changes, amendment, renewal and history.

use super::convert::status_to_pb;
use super::convert_lifecycle::{amendment_from_pb, event_to_pb, version_to_pb};
use super::licence_api::{check_use_cause, resolve_readable};
use super::pb::{
    AmendLicenceRequest, ChangeStatusRequest, ChangeStatusResponse, GetLicenceHistoryRequest,
    GetLicenceHistoryResponse, ReissueResponse, RenewLicenceRequest,
};
use super::{blocking, write};
use super::{ApiError, LicenceApi};
use crate::catalog::Department;
use crate::licence::Invalid;
use crate::registry::{Reissue, Reissued, StatusChange};

fn reissue_to_pb(r: Reissued) -> ReissueResponse {
    ReissueResponse {
        identifier: r.new.identifier,
        replaces: r.replaces,
        digest: r.new.digest.to_vec(),
        signature: r.new.signature.to_vec(),
        key_id: r.new.key_id,
        verification_code: r.new.verification_code,
    }
}

impl LicenceApi {
    pub(super) async fn change_status(
        &self,
        caller: Department,
        req: ChangeStatusRequest,
        change: StatusChange,
    ) -> Result<ChangeStatusResponse, ApiError> {
        let ChangeStatusRequest {
            identifier,
            reason,
            request_id,
        } = req;
        let done = write(&self.state.registry, move |r| {
            r.change_status(&caller, &request_id, identifier.trim(), change, &reason)
        })
        .await?;
        let (event, signed) = done.event;
        Ok(ChangeStatusResponse {
            identifier: done.identifier,
            status: status_to_pb(done.status) as i32,
            status_code: done.status.national_code().to_string(),
            event: Some(event_to_pb(event, signed)),
        })
    }

    pub(super) async fn amend(
        &self,
        caller: Department,
        req: AmendLicenceRequest,
    ) -> Result<ReissueResponse, ApiError> {
        let AmendLicenceRequest {
            identifier,
            request_id,
            reason,
            changes,
            issue_date,
        } = req;
        let changes = changes.ok_or_else(|| Invalid::new("changes", "is required"))?;
        let change = Reissue::Amend(amendment_from_pb(changes));
        let r = write(&self.state.registry, move |r| {
            r.reissue(
                &caller,
                &request_id,
                identifier.trim(),
                &reason,
                Some(issue_date.clone()),
                change.clone(),
            )
        })
        .await?;
        Ok(reissue_to_pb(r))
    }

    pub(super) async fn renew(
        &self,
        caller: Department,
        req: RenewLicenceRequest,
    ) -> Result<ReissueResponse, ApiError> {
        let RenewLicenceRequest {
            identifier,
            request_id,
            reason,
            valid_from,
            valid_until,
            issue_date,
        } = req;
        let change = Reissue::Renew {
            valid_from,
            valid_until,
        };
        let r = write(&self.state.registry, move |r| {
            r.reissue(
                &caller,
                &request_id,
                identifier.trim(),
                &reason,
                Some(issue_date.clone()),
                change.clone(),
            )
        })
        .await?;
        Ok(reissue_to_pb(r))
    }

    pub(super) async fn history(
        &self,
        caller: Department,
        req: GetLicenceHistoryRequest,
    ) -> Result<GetLicenceHistoryResponse, ApiError> {
        let GetLicenceHistoryRequest {
            identifier,
            licence_type_code,
            licence_number,
            use_cause,
        } = req;
        check_use_cause(&use_cause)?;
        let registry = self.state.registry.clone();
        let versions = blocking(move || {
            let id = resolve_readable(&registry, &caller, &identifier, &licence_type_code, &licence_number)?;
            Ok(registry.history(&caller, &id)?)
        })
        .await?;
        Ok(GetLicenceHistoryResponse {
            versions: versions.into_iter().map(version_to_pb).collect(),
        })
    }
}
