//! A concurrent write workload for reliability tests: workers issue licences, amend some
//! and suspend others, each call with a request id, and record every acknowledged
//! operation with its result so that a test can check it survived (a crash, a backup)
//! and that a retry of the same request returns the same result.

use std::sync::{Arc, Mutex};

use elicence::api::pb::licence_service_client::LicenceServiceClient;
use elicence::api::pb::verification_service_client::VerificationServiceClient;
use elicence::api::pb::{
    AmendLicenceRequest, ChangeStatusRequest, IssueLicenceRequest, LicenceChanges, LicenceStatus, VerifyLicenceRequest,
};
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::common::*;

/// One acknowledged write and what it returned.
#[derive(Debug, Clone)]
pub enum Acked {
    Issued {
        request_id: String,
        number: String,
        identifier: String,
    },
    Amended {
        request_id: String,
        old: String,
        new: String,
    },
    Suspended {
        request_id: String,
        identifier: String,
    },
}

pub type Log = Arc<Mutex<Vec<Acked>>>;

/// Runs `workers` tasks until `stop` turns true (or a call fails, e.g. the server died).
/// Request ids and licence numbers start with `prefix`, unique per run. Answers the
/// error each worker stopped on, if any.
pub async fn drive(
    channel: Channel,
    prefix: String,
    workers: usize,
    stop: watch::Receiver<bool>,
    log: Log,
) -> Vec<tonic::Status> {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut client = LicenceServiceClient::new(channel.clone());
        let stop = stop.clone();
        let log = log.clone();
        let prefix = format!("{prefix}-{w}");
        tasks.push(tokio::spawn(async move {
            let mut i = 0u32;
            while !*stop.borrow() {
                i += 1;
                step(&mut client, &prefix, i, &log).await?;
            }
            Ok(())
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        if let Ok(Err(e)) = t.await {
            errors.push(e);
        }
    }
    errors
}

/// Issue one licence; amend every third, suspend every fourth.
async fn step(
    client: &mut LicenceServiceClient<Channel>,
    prefix: &str,
    i: u32,
    log: &Log,
) -> Result<(), tonic::Status> {
    let request_id = format!("{prefix}-i{i}");
    let number = format!("{prefix}-{i}");
    let identifier = client
        .issue_licence(authed(
            SCJGJ,
            IssueLicenceRequest {
                request_id: request_id.clone(),
                licence: Some(business_licence(&number)),
            },
        ))
        .await?
        .into_inner()
        .identifier;
    log.lock().unwrap().push(Acked::Issued {
        request_id,
        number,
        identifier: identifier.clone(),
    });
    if i % 3 == 0 {
        let request_id = format!("{prefix}-a{i}");
        let new = client
            .amend_licence(amend(&identifier, &request_id))
            .await?
            .into_inner()
            .identifier;
        log.lock().unwrap().push(Acked::Amended {
            request_id,
            old: identifier,
            new,
        });
    } else if i % 4 == 0 {
        let request_id = format!("{prefix}-s{i}");
        client.suspend_licence(suspend(&identifier, &request_id)).await?;
        log.lock().unwrap().push(Acked::Suspended { request_id, identifier });
    }
    Ok(())
}

fn amend(identifier: &str, request_id: &str) -> tonic::Request<AmendLicenceRequest> {
    authed(
        SCJGJ,
        AmendLicenceRequest {
            identifier: identifier.into(),
            request_id: request_id.into(),
            reason: "名称变更".into(),
            changes: Some(LicenceChanges {
                holder_name: Some("荆门市楚韵食品股份有限公司".into()),
                ..Default::default()
            }),
            issue_date: String::new(),
        },
    )
}

fn suspend(identifier: &str, request_id: &str) -> tonic::Request<ChangeStatusRequest> {
    authed(
        SCJGJ,
        ChangeStatusRequest {
            identifier: identifier.into(),
            reason: "检查期间暂扣".into(),
            request_id: request_id.into(),
        },
    )
}

/// Checks every acknowledged operation against a (restarted or restored) server: each
/// licence verifies with the status the operations imply, and retrying each request
/// returns its first result (with `retries`; each retry waits for a flush, which makes
/// re-checking thousands of operations slow). Returns how many operations were checked.
pub async fn verify_acked(channel: Channel, acked: &[Acked], retries: bool) -> usize {
    let mut licences = LicenceServiceClient::new(channel.clone());
    let mut verify = VerificationServiceClient::new(channel);
    for a in acked {
        match a {
            Acked::Issued {
                request_id,
                number,
                identifier,
            } => {
                // Its amendment or suspension may have been applied without being
                // acknowledged (killed before the answer), so only authenticity is certain.
                status(&mut verify, identifier).await;
                if !retries {
                    continue;
                }
                let retry = licences
                    .issue_licence(authed(
                        SCJGJ,
                        IssueLicenceRequest {
                            request_id: request_id.clone(),
                            licence: Some(business_licence(number)),
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(
                    &retry.identifier, identifier,
                    "retry of {request_id} returned another licence"
                );
            }
            Acked::Amended { request_id, old, new } => {
                assert_eq!(
                    status(&mut verify, old).await,
                    LicenceStatus::Superseded as i32,
                    "{old} not superseded"
                );
                status(&mut verify, new).await;
                if !retries {
                    continue;
                }
                let retry = licences
                    .amend_licence(amend(old, request_id))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(&retry.identifier, new, "retry of {request_id} returned another version");
            }
            Acked::Suspended { request_id, identifier } => {
                assert_eq!(
                    status(&mut verify, identifier).await,
                    LicenceStatus::Suspended as i32,
                    "{identifier} not suspended"
                );
                if !retries {
                    continue;
                }
                let retry = licences
                    .suspend_licence(suspend(identifier, request_id))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(&retry.identifier, identifier);
            }
        }
    }
    acked.len()
}

/// The status of a licence that must exist and verify.
async fn status(client: &mut VerificationServiceClient<Channel>, id: &str) -> i32 {
    let r = client
        .verify_licence(authed(
            ZWFW,
            VerifyLicenceRequest {
                identifier: id.to_string(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_or_else(|e| panic!("acknowledged licence {id} is gone: {e}"))
        .into_inner();
    assert!(r.authentic, "acknowledged licence {id} does not verify: {r:?}");
    r.status
}
