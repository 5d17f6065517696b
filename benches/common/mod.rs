//! What the service-level benchmarks share: the raw Ed25519 baseline, a closed-loop
//! load runner with latency percentiles, and the report line.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey, Verifier};
use elicence::api::pb::licence_service_client::LicenceServiceClient;
use elicence::api::pb::verification_service_client::VerificationServiceClient;
use elicence::api::pb::{self, IssueLicenceRequest, VerifyLicenceRequest};
use elicence::licence::SignedRecord;
use elicence::store::NewRecord;
use tonic::transport::Channel;

pub struct Stats {
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
}

pub fn stats(mut lat: Vec<Duration>, elapsed: Duration) -> Stats {
    lat.sort();
    let pick = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Stats {
        rate: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

/// Raw Ed25519 rate on `threads` threads over a record-sized message.
pub fn raw_ed25519(threads: usize, sign: bool) -> f64 {
    let key = SigningKey::from_bytes(&[9; 32]);
    let msg = vec![b'x'; 900];
    let sig = key.sign(&msg);
    let per_thread = 20_000;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    if sign {
                        std::hint::black_box(key.sign(std::hint::black_box(&msg)));
                    } else {
                        key.verifying_key().verify(std::hint::black_box(&msg), &sig).unwrap();
                    }
                }
            });
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

pub fn report(name: &str, s: &Stats, requests: usize) {
    println!(
        "{name:<28} {:>9.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({requests} requests)",
        s.rate,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3
    );
}

pub async fn run_load<F, Fut>(total: usize, concurrency: usize, make: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                make(i).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    stats(all, start.elapsed())
}

pub fn licence(i: usize) -> pb::Licence {
    elicence::testing::business_licence(format!("BENCH{i:09}"))
}

/// Issues one licence as the example 市场监管局 and returns its identifier and 核验码.
pub async fn issue_one(channel: Channel, request_id: String, licence: pb::Licence) -> (String, String) {
    let mut req = tonic::Request::new(IssueLicenceRequest {
        request_id,
        licence: Some(licence),
    });
    req.metadata_mut()
        .insert("authorization", "Bearer dev-scjgj-token".parse().unwrap());
    let r = LicenceServiceClient::new(channel)
        .issue_licence(req)
        .await
        .expect("issue");
    let r = r.into_inner();
    (r.identifier, r.verification_code)
}

/// Verifies one licence publicly, as a holder does: identifier and 核验码. It must be
/// authentic.
pub async fn verify_one(channel: Channel, (identifier, verification_code): (String, String)) {
    let r = VerificationServiceClient::new(channel)
        .verify_licence(VerifyLicenceRequest {
            identifier,
            verification_code,
            ..Default::default()
        })
        .await
        .expect("verify");
    assert!(r.into_inner().authentic);
}

/// The transport's own cost: a public call that touches neither the store nor a
/// signature (the signing keys are in memory). No call can go faster on this machine
/// with this client.
pub async fn list_keys(channel: Channel) {
    let r = VerificationServiceClient::new(channel)
        .list_signing_keys(pb::ListSigningKeysRequest::default())
        .await
        .expect("list signing keys");
    assert!(!r.into_inner().keys.is_empty());
}

/// `n` HTTP/2 connections to the server at `addr` (callers spread over them).
pub async fn channels(addr: &str, n: usize) -> Vec<Channel> {
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    channels
}

const TYPES: [&str; 5] = [
    "11100000000013338W011",
    "11100000000013338W012",
    "11100000MB1536428Y001",
    "11100000000019713D001",
    "11100000000013129K001",
];

/// A migrated record as the store receives it, already signed (`store_write`, and the
/// COPY stage of `postgres`). A record-like row: realistic key shapes and a 1,100-byte value, in a scattered order
/// (types, issuers and years interleave as in a legacy export).
pub fn migrated_row(i: u64) -> NewRecord {
    let mix = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let t = TYPES[(mix % 5) as usize];
    let issuer = format!("11420800MB1A{:06}", (mix >> 8) % 20);
    let year = 1995 + (mix >> 16) % 30;
    let identifier = format!("1.2.156.3005.2.{t}.{issuer}.{year}{i:07}.001.Y");
    let number = format!("吉A{:012}", (mix >> 20) % 1_000_000_000_000);
    let holder = format!("{:018}", mix % 1_000_000_000_000_000_000);
    let issue_date = format!("{year}-{:02}-{:02}", 1 + (mix >> 24) % 12, 1 + (mix >> 28) % 28);
    let mut bytes = format!("{{\"identifier\":\"{identifier}\",\"licence_number\":\"{number}\"}}").into_bytes();
    bytes.resize(1100, b' ');
    NewRecord {
        identifier,
        type_code: t.into(),
        licence_number: number.clone(),
        holder_code_type: "111".into(),
        holder_code: holder,
        issuer_code: issuer,
        issue_date,
        record: SignedRecord {
            bytes,
            signature: [7; 64],
            key_id: "0123456789abcdef".into(),
        },
        first_event: None,
        import_key: Some(format!("{t}\u{1f}{number}")),
    }
}
