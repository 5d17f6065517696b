//! Several `elicence serve` processes on one PostgreSQL database, and a failover of the
//! database itself, through the real binary and a private PostgreSQL server (skipped
//! with a message where PostgreSQL is not installed; required on CI).

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use elicence::testing::postgres::Cluster;
use tokio::sync::watch;

use crate::common::*;
use crate::crash::{check_store, serve_on, Served};
use crate::workload::{self, Acked};

const BIN: &str = env!("CARGO_BIN_EXE_elicence");

/// Runs the write workload through `served` for `secs` seconds; answers what was
/// acknowledged and the errors workers stopped on.
async fn load(served: &Served, prefix: &str, secs: f64) -> (Vec<Acked>, Vec<tonic::Status>) {
    let log: workload::Log = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(workload::drive(
        served.channel.clone(),
        prefix.to_string(),
        6,
        stopped,
        log.clone(),
    ));
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let _ = stop.send(true);
    let errors = task.await.unwrap();
    let acked = log.lock().unwrap().clone();
    (acked, errors)
}

fn stop(served: Served) {
    let mut child = served.child;
    let _ = child.kill();
    let _ = child.wait();
}

fn issued(acked: &[Acked]) -> Vec<(&str, &str)> {
    acked
        .iter()
        .filter_map(|a| match a {
            Acked::Issued { number, identifier, .. } => Some((number.as_str(), identifier.as_str())),
            _ => None,
        })
        .collect()
}

/// `elicence audit verify` of the store: the whole chain verifies; its report.
fn audit_verify(place: &Place) -> String {
    let out = Command::new(BIN)
        .current_dir(ROOT)
        .args(["audit", "verify"])
        .args(place.args())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.starts_with("OK"),
        "audit verify failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Two processes started together on an empty database (one creates the schema and
/// seeds it, the other waits), then issuing, amending and suspending at once: no call
/// fails, no identifier (serial) or number is handed out twice, each process answers a
/// retry of a request the other acknowledged with the first result, every licence
/// verifies through either, the one audit chain verifies and the check finds no problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serves_share_one_database() {
    let Some(pg) = Cluster::start_or_skip() else { return };
    let place = Place::database(pg.url("postgres"));
    let (a, b) = tokio::join!(serve_on(&place, "info", None), serve_on(&place, "info", None));
    let ((acked_a, errors_a), (acked_b, errors_b)) = tokio::join!(load(&a, "a", 3.0), load(&b, "b", 3.0));
    assert!(errors_a.is_empty() && errors_b.is_empty(), "{errors_a:?} {errors_b:?}");
    let all: Vec<(&str, &str)> = issued(&acked_a).into_iter().chain(issued(&acked_b)).collect();
    assert!(all.len() > 20, "the load acknowledged almost nothing: {}", all.len());
    let identifiers: HashSet<&str> = all.iter().map(|(_, id)| *id).collect();
    assert_eq!(identifiers.len(), all.len(), "an identifier was handed out twice");
    // Each process sees, and replays, what the other wrote.
    workload::verify_acked(b.channel.clone(), &acked_a, true).await;
    workload::verify_acked(a.channel.clone(), &acked_b, true).await;
    stop(a);
    stop(b);
    let report = tokio::task::spawn_blocking({
        let place = place.clone();
        move || (check_store(&place), audit_verify(&place))
    })
    .await
    .unwrap();
    let expected_versions = all.len()
        + acked_a
            .iter()
            .chain(&acked_b)
            .filter(|a| matches!(a, Acked::Amended { .. }))
            .count();
    assert!(
        report.0.contains(&format!("{expected_versions} licences")),
        "{}",
        report.0
    );
    eprintln!(
        "two processes: {} operations; {}; {}",
        acked_a.len() + acked_b.len(),
        report.0.trim(),
        report.1.trim()
    );
}

/// The database's primary dies (SIGKILL) under issue load, with a synchronous hot
/// standby; the standby is promoted, and the service, given both hosts with
/// `target_session_attrs=read-write`, carries on against it without a restart. Every
/// licence acknowledged before the kill is there and verifies, and retries of its
/// requests replay it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_carries_on_after_the_primary_database_fails_over() {
    if !elicence::testing::postgres::available_or_skip() {
        return;
    }
    let mut primary = Cluster::start_with(&["-c", "fsync=off", "-c", "synchronous_standby_names=*"]).unwrap();
    let standby = primary.standby(&["-c", "fsync=off"]).unwrap();
    primary.wait_for_sync_standby().unwrap();
    let url = format!(
        "postgresql://elicence@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    let place = Place::database(url);
    let served = serve_on(&place, "info", None).await;

    let log: workload::Log = Arc::new(Mutex::new(Vec::new()));
    let (stop_load, stopped) = watch::channel(false);
    let task = tokio::spawn(workload::drive(
        served.channel.clone(),
        "f".into(),
        6,
        stopped,
        log.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    primary.kill();
    // The workers stop on their first failed call.
    let _ = stop_load.send(true);
    let errors = task.await.unwrap();
    let before: Vec<Acked> = log.lock().unwrap().clone();
    assert!(before.len() > 5, "the load acknowledged almost nothing before the kill");
    assert!(
        errors.iter().all(|e| e.code() == tonic::Code::Unavailable),
        "calls during the outage fail as unavailable: {errors:?}"
    );
    standby.promote().unwrap();

    // The same process, without a restart, reaches the promoted standby: new writes
    // succeed (after the pool has dropped its dead connections).
    let mut carried_on = false;
    for _ in 0..60 {
        let (acked, errors) = load(&served, &format!("g{}", rand_suffix()), 0.5).await;
        if errors.is_empty() && !acked.is_empty() {
            carried_on = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(carried_on, "the service did not carry on against the promoted standby");
    workload::verify_acked(served.channel.clone(), &before, true).await;
    stop(served);
    eprintln!(
        "failover: {} operations acknowledged before the primary was killed, all present after promotion",
        before.len()
    );
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A licence type or template put through one process is used by the others at once:
/// each process holds them in memory, and a change made anywhere is announced through
/// the database (a notification, with a poll behind it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_or_template_change_reaches_every_process() {
    use elicence::api::pb::catalog_service_client::CatalogServiceClient;
    use elicence::api::pb::template_service_client::TemplateServiceClient;
    use elicence::api::pb::{
        GetLicenceTypeRequest, GetTemplateRequest, LicenceType, PutLicenceTypeRequest, PutTemplateRequest,
    };

    let Some(pg) = Cluster::start_or_skip() else { return };
    let place = Place::database(pg.url("postgres"));
    let (a, b) = tokio::join!(serve_on(&place, "info", None), serve_on(&place, "info", None));
    let layout = |served: &Served| TemplateServiceClient::new(served.channel.clone());
    let catalog = |served: &Served| CatalogServiceClient::new(served.channel.clone());
    let version_at = |served: &Served| {
        let mut client = layout(served);
        async move {
            client
                .get_template(authed(
                    ZJJ,
                    GetTemplateRequest {
                        id: "business-licence".into(),
                        version: 0,
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .version
        }
    };
    assert_eq!(version_at(&b).await, 1, "b holds the seeded layout");
    let new_type = LicenceType {
        code: "11100000000013338W013".into(),
        name: "食品生产许可证".into(),
        authority_name: "国家市场监督管理总局".into(),
        authority_code: "11100000000013338W".into(),
        authority_level: "国家级".into(),
        holder_category: "legal_person".into(),
        validity_years: 5,
        template_id: "food-business-permit".into(),
        issuing_departments: vec![SCJGJ_CODE.into()],
        field_names: vec!["食品类别".into()],
        public_fields: vec![],
    };
    let get_type = |served: &Served| {
        let mut client = catalog(served);
        async move {
            client
                .get_licence_type(authed(
                    RSJ,
                    GetLicenceTypeRequest {
                        code: "11100000000013338W013".into(),
                    },
                ))
                .await
        }
    };
    assert_eq!(get_type(&b).await.unwrap_err().code(), tonic::Code::NotFound);

    let put = layout(&a)
        .put_template(authed(
            ZWFW,
            PutTemplateRequest {
                toml: include_str!("../../templates/layouts/business-licence.toml").into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.version, 2);
    catalog(&a)
        .put_licence_type(authed(
            ZWFW,
            PutLicenceTypeRequest {
                licence_type: Some(new_type.clone()),
            },
        ))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if version_at(&b).await == 2 && get_type(&b).await.is_ok_and(|t| t.into_inner() == new_type) {
            break;
        }
        // Notified, not polled (the poll runs every five seconds).
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "the other process still holds the old catalogue or templates"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("change seen by the other process after {:?}", started.elapsed());
    stop(a);
    stop(b);
}

/// Issues a business licence through `served`; its identifier and 核验码.
async fn issue_coded(served: &Served, n: usize) -> (String, String) {
    use elicence::api::pb::licence_service_client::LicenceServiceClient;
    use elicence::api::pb::IssueLicenceRequest;
    let r = LicenceServiceClient::new(served.channel.clone())
        .issue_licence(authed(
            SCJGJ,
            IssueLicenceRequest {
                request_id: format!("rs-{n}"),
                licence: Some(business_licence(&format!("RS-{n}"))),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    (r.identifier, r.verification_code)
}

/// Public verification by identifier and 核验码, as a holder presents them: its status.
async fn verify_public(served: &Served, (identifier, code): &(String, String)) -> i32 {
    use elicence::api::pb::verification_service_client::VerificationServiceClient;
    use elicence::api::pb::VerifyLicenceRequest;
    let r = VerificationServiceClient::new(served.channel.clone())
        .verify_licence(VerifyLicenceRequest {
            identifier: identifier.clone(),
            verification_code: code.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{identifier}: {e}"))
        .into_inner();
    assert!(r.authentic, "{identifier} does not verify: {r:?}");
    r.status
}

/// Reads from a hot standby (`--read-database-url`) see every acknowledged write at
/// once, whichever process made it: commits wait until the synchronous standby applied
/// them. A licence verifies through another process right after it is issued, and a
/// suspension shows right after it is acknowledged. The standby serves verification on
/// its own once the primary is gone; a process whose standby cannot be reached reads
/// from the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_a_standby_see_every_acknowledged_write() {
    use elicence::api::pb::licence_service_client::LicenceServiceClient;
    use elicence::api::pb::{ChangeStatusRequest, LicenceStatus};
    if !elicence::testing::postgres::available_or_skip() {
        return;
    }
    let mut primary = Cluster::start_with(&["-c", "fsync=off", "-c", "synchronous_standby_names=*"]).unwrap();
    let standby = primary.standby(&["-c", "fsync=off"]).unwrap();
    primary.wait_for_sync_standby().unwrap();
    let place = Place::database_with_standby(primary.url("postgres"), standby.url("postgres"));
    let (a, b) = tokio::join!(serve_on(&place, "info", None), serve_on(&place, "info", None));

    let mut issued = Vec::new();
    for n in 0..20 {
        let licence = issue_coded(&a, n).await;
        assert_eq!(verify_public(&b, &licence).await, LicenceStatus::Valid as i32);
        issued.push(licence);
    }
    LicenceServiceClient::new(a.channel.clone())
        .suspend_licence(authed(
            SCJGJ,
            ChangeStatusRequest {
                identifier: issued[3].0.clone(),
                reason: "检查期间暂扣".into(),
                request_id: "rs-suspend".into(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(verify_public(&b, &issued[3]).await, LicenceStatus::Suspended as i32);

    // A process told of a standby that does not answer reads from the primary.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lost = Place::database_with_standby(
        primary.url("postgres"),
        format!("postgresql://elicence@127.0.0.1:{closed}/postgres"),
    );
    let c = serve_on(&lost, "info", None).await;
    assert_eq!(verify_public(&c, &issued[0]).await, LicenceStatus::Valid as i32);
    stop(c);

    // With the primary gone, the standby alone still answers verification.
    primary.kill();
    for licence in &issued {
        verify_public(&b, licence).await;
    }
    stop(a);
    stop(b);
}
