//! `elicence.v1.TransparencyService`: the transparency log's checkpoints and proofs.
//! Public: leaf hashes and proofs reveal nothing about a licence. Calls count against
//! the same per-client rate limit as public verification.

use std::time::Instant;

use tonic::{Request, Response, Status};

use super::convert::{checkpoint_to_pb, inclusion_to_pb};
use super::pb::transparency_service_server::TransparencyService;
use super::pb::{
    Checkpoint, ConsistencyProof, GetCheckpointRequest, GetConsistencyProofRequest, GetInclusionProofRequest,
    InclusionProof,
};
use super::{blocking, ApiError, AppState};
use crate::registry::{Registry, RegistryError};

pub struct TransparencyApi {
    state: AppState,
    rate: u32,
    burst: u32,
}

impl TransparencyApi {
    pub fn with_rate_limit(state: AppState, rate: u32, burst: u32) -> TransparencyApi {
        TransparencyApi { state, rate, burst }
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

/// The size a request means by 0: the latest checkpoint's.
fn checkpointed(registry: &Registry, size: u64) -> Result<u64, RegistryError> {
    if size != 0 {
        return Ok(size);
    }
    registry
        .latest_checkpoint()?
        .map(|c| c.checkpoint.size)
        .ok_or_else(|| RegistryError::NotFound("checkpoint (the log has none yet)".into()))
}

#[tonic::async_trait]
impl TransparencyService for TransparencyApi {
    async fn get_checkpoint(&self, req: Request<GetCheckpointRequest>) -> Result<Response<Checkpoint>, Status> {
        self.admit(&req)?;
        let size = req.get_ref().tree_size;
        let registry = self.state.registry.clone();
        let c = blocking(move || {
            let c = match size {
                0 => registry.latest_checkpoint()?,
                n => registry.checkpoint_at(n)?,
            };
            c.ok_or_else(|| {
                ApiError::from(RegistryError::NotFound(match size {
                    0 => "checkpoint (the log has none yet)".to_string(),
                    n => format!("checkpoint of tree size {n}"),
                }))
            })
        })
        .await?;
        Ok(Response::new(checkpoint_to_pb(c)))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<GetInclusionProofRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        self.admit(&req)?;
        let GetInclusionProofRequest { leaf_index, tree_size } = *req.get_ref();
        let registry = self.state.registry.clone();
        let (proof, leaf_hash) = blocking(move || {
            let size = checkpointed(&registry, tree_size)?;
            let proof = registry.inclusion_proof(leaf_index, size)?;
            let leaf_hash = registry.leaf_hash(leaf_index)?;
            Ok((proof, leaf_hash))
        })
        .await?;
        Ok(Response::new(inclusion_to_pb(proof, leaf_hash)))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        self.admit(&req)?;
        let GetConsistencyProofRequest { old_size, new_size } = *req.get_ref();
        let registry = self.state.registry.clone();
        let p = blocking(move || {
            let new_size = checkpointed(&registry, new_size)?;
            Ok(registry.consistency_proof(old_size, new_size)?)
        })
        .await?;
        Ok(Response::new(ConsistencyProof {
            old_size: p.old_size,
            new_size: p.new_size,
            hashes: p.hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }
}
