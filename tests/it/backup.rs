//! Backup and restore through the real CLI: a backup taken from a running server while
//! it issues under load restores elsewhere, verifies end to end, and serves everything
//! acknowledged before the backup started; a damaged backup is refused; `elicence check`
//! finds an index that disagrees with the records.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use elicence::clock::FixedClock;
use tokio::sync::watch;

use crate::common::*;
use crate::workload::{self, Acked};

const BIN: &str = env!("CARGO_BIN_EXE_elicence");

fn cli(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = Command::new(BIN);
    c.current_dir(ROOT).args(args);
    for p in paths {
        c.arg(p);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_restores_everything_acknowledged_before_it() {
    crate::embedded_only!();
    let server = spawn_server().await;
    let tmp = tempfile::tempdir().unwrap();
    // A template changed by an administrator is part of the state a backup keeps.
    let layout = include_str!("../../templates/layouts/business-licence.toml").replacen(
        "[title]\n",
        "[title]\ntext = \"营业执照（副本备份）\"\n",
        1,
    );
    let put = elicence::api::pb::PutTemplateRequest { toml: layout.clone() };
    server.templates().put_template(authed(ZWFW, put)).await.unwrap();
    let log: workload::Log = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = watch::channel(false);
    let load = tokio::spawn(workload::drive(
        server.channel.clone(),
        "bk".into(),
        6,
        stopped,
        log.clone(),
    ));
    // Let the load build up some history first.
    while log.lock().unwrap().len() < 60 {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before: Vec<Acked> = log.lock().unwrap().clone();
    let backup = tmp.path().join("elicence.backup");
    let data_dir = server.data_dir.clone();
    let out = {
        let backup = backup.clone();
        tokio::task::spawn_blocking(move || cli(&["backup", "--data-dir"], &[&data_dir, Path::new("--out"), &backup]))
            .await
            .unwrap()
    };
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the running server"),
        "{}",
        text(&out)
    );
    let during = log.lock().unwrap().len() - before.len();
    stop.send(true).unwrap();
    load.await.unwrap();
    server.stop().await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o077,
        0,
        "backup readable by others"
    );

    let restored = tmp.path().join("restored");
    let out = cli(&["restore", "--from"], &[&backup, Path::new("--data-dir"), &restored]);
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("no problems"), "{report}");

    let server = spawn_server_at(&restored, Arc::new(FixedClock::new(default_now()))).await;
    let get = elicence::api::pb::GetTemplateRequest {
        id: "business-licence".into(),
        version: 0,
    };
    let current = server
        .templates()
        .get_template(authed(ZWFW, get))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((current.version, current.toml), (2, layout));
    let checked = workload::verify_acked(server.channel.clone(), &before, true).await;
    assert!(
        checked >= 60,
        "{checked} operations checked ({during} acknowledged during the backup)"
    );
    // Serials continue above the backup's: a new licence gets a fresh identifier.
    let fresh = issue_id(&server, "after-restore", business_licence("AFTER-RESTORE-1")).await;
    assert!(
        !before
            .iter()
            .any(|a| matches!(a, Acked::Issued { identifier, .. } if *identifier == fresh)),
        "restored store reissued identifier {fresh}"
    );
    server.stop().await;

    // Restoring over a non-empty directory is refused.
    let out = cli(&["restore", "--from"], &[&backup, Path::new("--data-dir"), &restored]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));
}

#[test]
fn damaged_backup_is_refused_and_leaves_no_store() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = spawn_server_at(&data, Arc::new(FixedClock::new(default_now()))).await;
        for i in 0..5 {
            issue_id(&server, &format!("d-{i}"), business_licence(&format!("D-{i}"))).await;
        }
        server.stop().await;
    });
    // No server runs now: backup opens the store directly.
    let backup = tmp.path().join("b");
    let out = cli(&["backup", "--data-dir"], &[&data, Path::new("--out"), &backup]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the stopped store"),
        "{}",
        text(&out)
    );
    let bytes = std::fs::read(&backup).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "flipped",
            {
                let mut b = bytes.clone();
                let mid = b.len() / 2;
                b[mid] ^= 0x40;
                b
            },
            "",
        ),
        ("truncated", bytes[..bytes.len() - 100].to_vec(), ""),
        ("not a backup", b"hello".to_vec(), "not an elicence backup"),
    ];
    for (name, damaged, reason) in cases {
        let file = tmp.path().join(name.replace(' ', "-"));
        std::fs::write(&file, &damaged).unwrap();
        let target = tmp.path().join(format!("restore-{}", name.replace(' ', "-")));
        let out = cli(&["restore", "--from"], &[&file, Path::new("--data-dir"), &target]);
        let t = text(&out);
        assert!(!out.status.success(), "{name} accepted: {t}");
        assert!(
            t.contains("checksum") || t.contains("truncated") || t.contains("corrupt") || t.contains(reason),
            "{name}: {t}"
        );
        assert!(!target.exists(), "{name}: a refused restore left {}", target.display());
    }
}

#[test]
fn check_finds_index_entries_that_disagree_with_records() {
    crate::embedded_only!();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(async {
        let server = spawn_server_at(&data, Arc::new(FixedClock::new(default_now()))).await;
        let id = issue_id(&server, "k-1", business_licence("K-1")).await;
        issue_id(&server, "k-2", business_licence("K-2")).await;
        // While the server runs, check goes through its control socket.
        let data = data.clone();
        let out = tokio::task::spawn_blocking(move || cli(&["check", "--data-dir"], &[&data]))
            .await
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("2 licences"),
            "{}",
            text(&out)
        );
        server.stop().await;
        id
    });
    edit_raw_store(&data, "idx_holder", |holder| {
        let k = holder.iter().next().unwrap().key().unwrap();
        holder.remove(k).unwrap();
        let mut orphan = b"111\x00420802199001011234\x00".to_vec();
        orphan.extend_from_slice(b"1.2.156.3005.2.nothing");
        holder.insert(orphan, []).unwrap();
    });
    let out = cli(&["check", "--data-dir"], &[&data]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("holder index: orphan entry"), "{t}");
    assert!(t.contains("has no entry"), "{t}");
    assert!(t.contains("2 problems"), "{t} ({id})");
}

/// Each kind of inconsistency a check looks for, planted in the raw keyspaces of a
/// stopped store, is reported once, under its own message; the counts are those of the
/// walk.
#[test]
fn check_reports_each_kind_of_problem_once() {
    crate::embedded_only!();
    use crate::lifecycle::amend_holder_name;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let [a, b, c, d1, d2, e1, e2, f1, f2] = rt.block_on(async {
        let server = spawn_server_at(&data, Arc::new(FixedClock::new(default_now()))).await;
        let mut ids = Vec::new();
        for n in ["A", "B", "C", "D", "E", "F"] {
            let id = issue_id(&server, &format!("p-{n}"), business_licence(&format!("P-{n}"))).await;
            if ["D", "E", "F"].contains(&n) {
                let renamed = amend_holder_name(&server, SCJGJ, &id, &format!("p-{n}2"), "新名称有限公司")
                    .await
                    .unwrap();
                ids.push(id);
                ids.push(renamed.identifier);
            } else {
                ids.push(id);
            }
        }
        server.stop().await;
        <[String; 9]>::try_from(ids).unwrap()
    });
    let t = BUSINESS_LICENCE;
    let nothing = "1.2.156.3005.2.nothing";
    let key = |parts: &[&str]| parts.join("\0").into_bytes();
    edit_raw_store(&data, "idx_number", |number| {
        number.remove(key(&[t, "P-A"])).unwrap();
        // E and F point back at the versions their reissue superseded.
        number.insert(key(&[t, "P-E"]), e1.as_bytes()).unwrap();
        number.insert(key(&[t, "P-F"]), f1.as_bytes()).unwrap();
        number.insert(key(&[t, "NOWHERE"]), nothing.as_bytes()).unwrap();
    });
    edit_raw_store(&data, "idx_type", |by_type| {
        let k = by_type
            .iter()
            .map(|g| g.key().unwrap())
            .find(|k| k.ends_with(b.as_bytes()))
            .unwrap();
        by_type.remove(k).unwrap();
    });
    edit_raw_store(&data, "idx_holder", |holder| {
        holder.insert(key(&["111", "420802199001011234", nothing]), []).unwrap();
    });
    edit_raw_store(&data, "import_keys", |import_keys| {
        import_keys.insert("row-nowhere", nothing.as_bytes()).unwrap();
    });
    edit_raw_store(&data, "records", |records| {
        // One bit of C's signature; F's new version gone, leaving its entries behind.
        let mut v = records.get(&c).unwrap().unwrap().to_vec();
        let signature = 1 + v[0] as usize;
        v[signature] ^= 1;
        records.insert(&c, v).unwrap();
        records.remove(&f2).unwrap();
    });
    edit_raw_store(&data, "events", |events| {
        // D's first version loses its `superseded` event: its chain still verifies.
        let last = events.prefix(format!("{d1}\0")).next_back().unwrap().key().unwrap();
        events.remove(last).unwrap();
    });
    edit_raw_store(&data, "audit", |audit| {
        let first = audit.first_key_value().unwrap().key().unwrap();
        audit.remove(first).unwrap();
    });

    let out = cli(&["check", "--data-dir"], &[&data]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let expected = [
        format!("number index: current version {a} (P-A of type {t}) has no entry"),
        format!("type index: record {b} has no entry ({t}, "),
        format!("licence {c}: record or event chain does not verify"),
        format!("licence number P-D of type {t}: two current versions, {d2} and {d1}"),
        format!("number index: P-E of type {t} points to {e1}, the current version is {e2}"),
        format!("number index: P-F of type {t} points to {f1}, which is superseded and has no current version"),
        format!("holder index: orphan entry (001, 91440300708461136T) → {f2}"),
        format!("type index: orphan entry ({t}, "),
        format!("issuer index: orphan entry ({SCJGJ_CODE}, "),
        format!("events: event 0 of {f2}, which has no record"),
        format!("idempotency key points to {f2}, which has no record"),
        format!("holder index: orphan entry (111, 420802199001011234) → {nothing}"),
        format!("number index: orphan entry NOWHERE of type {t} → {nothing}"),
        format!("import key points to {nothing}, which has no record"),
        "audit log: entry 1: expected seq 0".to_string(),
        // The transparency log names each deletion and change by its leaf.
        "logs audit entry 0, which the store does not hold (deleted?)".to_string(),
        format!("logs record {c} with other bytes than the store holds (changed?)"),
        format!("logs event 1 of {d1}, which the store does not hold (deleted?)"),
        format!("logs record {f2}, which the store does not hold (deleted?)"),
    ];
    for problem in &expected {
        let found = stdout.lines().filter(|l| l.contains(problem.as_str())).count();
        assert_eq!(found, 1, "{problem:?} reported {found} times:\n{stdout}");
    }
    // Licences: nine versions less F's removed one; events: one each and two for each
    // superseded version, but none counted for C (which does not verify) nor the one
    // removed from D; index entries: 6 number, 10 holder, 8 type, 9 issuer.
    let summary = format!(
        "8 licences, 9 events, 0 audit entries, 33 index entries, 30 log leaves checked; {} problems",
        expected.len()
    );
    assert!(stdout.contains(&summary), "{summary}:\n{stdout}");
}

/// A store moves between the backends through a backup: a data directory's backup
/// restores into an empty PostgreSQL database, and that database's backup (one snapshot
/// of a database in use) into a new data directory. Each restore is checked end to end
/// (every signature, chain and index) and serves every licence acknowledged before,
/// whose requests still replay; a database that holds licences is refused as a target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_moves_a_store_to_postgresql_and_back() {
    crate::embedded_only!();
    let Some(pg) = elicence::testing::postgres::Cluster::start_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = spawn_server_at(&data, Arc::new(FixedClock::new(default_now()))).await;
    let log: workload::Log = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = watch::channel(false);
    let load = tokio::spawn(workload::drive(
        server.channel.clone(),
        "mv".into(),
        4,
        stopped,
        log.clone(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let _ = stop.send(true);
    assert!(load.await.unwrap().is_empty());
    let acked: Vec<Acked> = log.lock().unwrap().clone();
    assert!(acked.len() > 5);
    server.stop().await;

    let (first, second) = (tmp.path().join("embedded.backup"), tmp.path().join("postgres.backup"));
    let url = pg.url("postgres");
    let (out_1, out_2, refused, out_3, out_4) = tokio::task::spawn_blocking({
        let (data, first, second, url, tmp) = (
            data.clone(),
            first.clone(),
            second.clone(),
            url.clone(),
            tmp.path().to_path_buf(),
        );
        move || {
            let out_1 = cli(&["backup", "--data-dir"], &[&data, Path::new("--out"), &first]);
            let out_2 = cli(&["restore", "--database-url", &url, "--from"], &[&first]);
            let refused = cli(&["restore", "--database-url", &url, "--from"], &[&first]);
            let out_3 = cli(&["backup", "--database-url", &url, "--out"], &[&second]);
            let out_4 = cli(
                &["restore", "--from"],
                &[&second, Path::new("--data-dir"), &tmp.join("back")],
            );
            (out_1, out_2, refused, out_3, out_4)
        }
    })
    .await
    .unwrap();
    for o in [&out_1, &out_2, &out_3, &out_4] {
        assert!(o.status.success(), "{}", text(o));
    }
    assert!(
        String::from_utf8_lossy(&out_2.stdout).contains("no problems"),
        "{}",
        text(&out_2)
    );
    assert!(!refused.status.success(), "a database that holds licences is refused");
    assert!(text(&refused).contains("not empty"), "{}", text(&refused));

    // The database serves everything, and replays every request.
    let served = crate::crash::serve_on(&Place::database(url), "info", None).await;
    workload::verify_acked(served.channel.clone(), &acked, true).await;
    let mut child = served.child;
    child.kill().unwrap();
    child.wait().unwrap();
    // And so does the data directory restored from the database's backup.
    let back = spawn_server_at(&tmp.path().join("back"), Arc::new(FixedClock::new(default_now()))).await;
    workload::verify_acked(back.channel.clone(), &acked, false).await;
    back.stop().await;
}
