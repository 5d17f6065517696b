//! `elicence.v1.AuditService`: auditors read the access audit log.

use tonic::{Request, Response, Status};

use super::audit::audited;
use super::blocking;
use super::convert_lifecycle::audit_entry_to_pb;
use super::pb::audit_service_server::AuditService;
use super::pb::{QueryAccessLogRequest, QueryAccessLogResponse};
use super::{ApiError, AppState};
use crate::catalog::Department;
use crate::registry::AuditQuery;

pub struct AuditApi {
    state: AppState,
}

impl AuditApi {
    pub fn new(state: AppState) -> AuditApi {
        AuditApi { state }
    }

    async fn query(&self, caller: Department, req: QueryAccessLogRequest) -> Result<QueryAccessLogResponse, ApiError> {
        let QueryAccessLogRequest {
            from_time,
            to_time,
            department,
            identifier,
            page_size,
            page_token,
        } = req;
        let some = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let query = AuditQuery {
            from: some(from_time),
            to: some(to_time),
            department: some(department),
            identifier: some(identifier),
            page_size: page_size as usize,
            page_token: some(page_token),
        };
        let registry = self.state.registry.clone();
        let page = blocking(move || Ok(registry.query_access_log(&caller, query)?)).await?;
        let (head_seq, head_digest) = page.head.map(|(seq, d)| (seq, d.to_vec())).unwrap_or_default();
        Ok(QueryAccessLogResponse {
            entries: page.entries.into_iter().map(|(e, s)| audit_entry_to_pb(e, s)).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
            head_seq,
            head_digest,
        })
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn query_access_log(
        &self,
        req: Request<QueryAccessLogRequest>,
    ) -> Result<Response<QueryAccessLogResponse>, Status> {
        audited(&self.state, "elicence.v1.AuditService/QueryAccessLog", req, |c, m| {
            self.query(c, m)
        })
        .await
    }
}
