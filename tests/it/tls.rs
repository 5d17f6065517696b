//! TLS: the server on rustls, and a department authenticating by client certificate
//! (mTLS) instead of a bearer token.

use std::sync::Arc;

use elicence::api::pb::catalog_service_client::CatalogServiceClient;
use elicence::api::pb::{ListLicenceTypesRequest, QueryAccessLogRequest};
use elicence::catalog::Directory;
use elicence::clock::FixedClock;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use sha2::{Digest, Sha256};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::Code;

use crate::common::*;

struct Pki {
    ca_pem: String,
    server: Identity,
    client: Identity,
    client_der_sha256: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "elicence test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
        (cert, key)
    };
    let (server_cert, server_key) = leaf(vec!["localhost".into()], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(vec!["zjj.example".into()], ExtendedKeyUsagePurpose::ClientAuth);
    Pki {
        ca_pem: ca_cert.pem(),
        server: Identity::from_pem(server_cert.pem(), server_key.serialize_pem()),
        client_der_sha256: hex::encode(Sha256::digest(client_cert.der())),
        client: Identity::from_pem(client_cert.pem(), client_key.serialize_pem()),
    }
}

/// The example departments, with 住建局 also registered by its client certificate.
fn directory_with_cert(fingerprint: &str) -> Directory {
    let text = std::fs::read_to_string(format!("{ROOT}/keys-example/departments.toml")).unwrap();
    let text = text.replacen(
        "issue = [\"11100000000013129K001\"]",
        &format!("issue = [\"11100000000013129K001\"]\nclient_cert_sha256 = [\"{fingerprint}\"]"),
        1,
    );
    Directory::parse(&text).unwrap()
}

async fn tls_server(p: &Pki, with_client_cert: bool, dir: &std::path::Path) -> TestServer {
    let server = ServerTlsConfig::new()
        .identity(p.server.clone())
        .client_ca_root(Certificate::from_pem(&p.ca_pem))
        .client_auth_optional(true);
    let mut client = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&p.ca_pem))
        .domain_name("localhost");
    if with_client_cert {
        client = client.identity(p.client.clone());
    }
    spawn_server_with(
        dir,
        Arc::new(FixedClock::new(default_now())),
        directory_with_cert(&p.client_der_sha256),
        Some(TestTls { server, client }),
    )
    .await
}

#[tokio::test]
async fn a_department_authenticates_by_client_certificate_over_tls() {
    let p = pki();
    let tmp = tempfile::tempdir().unwrap();
    let server = tls_server(&p, true, &tmp.path().join("data")).await;
    // No token: the certificate names 住建局.
    let types = server
        .catalog()
        .list_licence_types(ListLicenceTypesRequest {})
        .await
        .unwrap()
        .into_inner()
        .types;
    assert!(!types.is_empty());
    // A token still works over the same TLS connection, and wins over the certificate.
    let log = server
        .audit()
        .query_access_log(authed(ZWFW, QueryAccessLogRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        log.entries[0].department_id, "zjj",
        "the audit names the certificate's department"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_client_certificate_or_token_tls_calls_are_unauthenticated() {
    let p = pki();
    let tmp = tempfile::tempdir().unwrap();
    let server = tls_server(&p, false, &tmp.path().join("data")).await;
    let e = server
        .catalog()
        .list_licence_types(ListLicenceTypesRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    server
        .catalog()
        .list_licence_types(authed(ZJJ, ListLicenceTypesRequest {}))
        .await
        .unwrap();
    // Plaintext is not served on a TLS listener.
    let plain = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect_lazy();
    let e = CatalogServiceClient::new(plain)
        .list_licence_types(authed(ZJJ, ListLicenceTypesRequest {}))
        .await
        .unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    server.stop().await;
}
