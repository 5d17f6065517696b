//! Builds the gRPC router (elicence services, health, reflection) and runs it on an
//! already-bound listener until the shutdown future resolves — which is what lets tests
//! bind port 0 and start a real server without sleeps.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
pub use tonic::transport::ServerTlsConfig;
use tonic::transport::{Certificate, Identity, Server};

use crate::api::pb::audit_service_server::AuditServiceServer;
use crate::api::pb::catalog_service_server::CatalogServiceServer;
use crate::api::pb::document_service_server::DocumentServiceServer;
use crate::api::pb::licence_service_server::LicenceServiceServer;
use crate::api::pb::migration_service_server::MigrationServiceServer;
use crate::api::pb::template_service_server::TemplateServiceServer;
use crate::api::pb::transparency_service_server::TransparencyServiceServer;
use crate::api::pb::verification_service_server::VerificationServiceServer;
use crate::api::{
    pb, AppState, AuditApi, CatalogApi, DocumentApi, LicenceApi, MetricsLayer, MigrationApi, ShedLayer, TemplateApi,
    TransparencyApi, VerificationApi,
};
pub use crate::limits::Limits;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("reflection setup: {0}")]
    Reflection(String),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("final flush: {0}")]
    Flush(#[from] StoreError),
}

/// TLS for the listener (rustls), from PEM files: the server's certificate chain and
/// key and, optionally, a CA whose client certificates identify departments (those
/// without one still authenticate by token).
pub fn tls_from_pem(cert_chain: Vec<u8>, key: Vec<u8>, client_ca: Option<Vec<u8>>) -> ServerTlsConfig {
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(cert_chain, key));
    match client_ca {
        Some(ca) => tls.client_ca_root(Certificate::from_pem(ca)).client_auth_optional(true),
        None => tls,
    }
}

/// Accepted connections with Nagle's algorithm off and TCP keepalive on. `Server`'s own
/// `tcp_nodelay` (on by default) applies only when tonic binds the address itself, not to
/// a listener handed in: without this, a response's last small segment waits for the
/// peer's delayed ACK, and each call of a sequential client took 20–40 ms on loopback.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)))
}

/// Serves until `shutdown` resolves, then drains in-flight requests and flushes the store.
/// With `tls`, every connection is TLS (rustls); a TLS config with a client CA lets
/// departments authenticate by client certificate.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<LicenceServiceServer<LicenceApi>>().await;
    health.set_serving::<VerificationServiceServer<VerificationApi>>().await;
    health.set_serving::<TransparencyServiceServer<TransparencyApi>>().await;
    health.set_serving::<CatalogServiceServer<CatalogApi>>().await;
    health.set_serving::<AuditServiceServer<AuditApi>>().await;
    health.set_serving::<MigrationServiceServer<MigrationApi>>().await;
    health.set_serving::<DocumentServiceServer<DocumentApi>>().await;
    health.set_serving::<TemplateServiceServer<TemplateApi>>().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;

    let max = limits.max_request_bytes;
    let registry = state.registry.clone();
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .timeout(limits.request_timeout)
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .layer(MetricsLayer)
        .layer(ShedLayer::new(limits.max_concurrent_requests))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(LicenceServiceServer::new(LicenceApi::new(state.clone())).max_decoding_message_size(max))
        .add_service(
            VerificationServiceServer::new(VerificationApi::with_rate_limit(
                state.clone(),
                limits.verify_rate_per_client,
                limits.verify_burst_per_client,
            ))
            .max_decoding_message_size(max),
        )
        .add_service(
            TransparencyServiceServer::new(TransparencyApi::with_rate_limit(
                state.clone(),
                limits.verify_rate_per_client,
                limits.verify_burst_per_client,
            ))
            .max_decoding_message_size(max),
        )
        .add_service(CatalogServiceServer::new(CatalogApi::new(state.clone())).max_decoding_message_size(max))
        .add_service(AuditServiceServer::new(AuditApi::new(state.clone())).max_decoding_message_size(max))
        .add_service(
            MigrationServiceServer::new(MigrationApi::new(
                state.clone(),
                limits.max_concurrent_imports,
                limits.xlsx,
            ))
            .max_decoding_message_size(max),
        )
        .add_service(DocumentServiceServer::new(DocumentApi::new(state.clone())).max_decoding_message_size(max))
        .add_service(TemplateServiceServer::new(TemplateApi::new(state.clone())).max_decoding_message_size(max))
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await?;
    registry.store().flush()?;
    Ok(())
}
