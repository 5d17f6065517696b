//! The whole integration suite once more, on PostgreSQL: this test runs the suite's own
//! binary with `ELICENCE_TEST_BACKEND=postgres`, so every test body that is not about the
//! embedded store's files (those return early: `embedded_only!`) runs against a private
//! PostgreSQL server instead of a data directory. The PostgreSQL-only tests (`crash`,
//! `replicas`) already ran in this process and are skipped there.

use std::process::Command;

use crate::common::{backend, Backend};

#[test]
fn the_integration_suite_on_postgres() {
    if backend() == Backend::Postgres || !elicence::testing::postgres::available_or_skip() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .env("ELICENCE_TEST_BACKEND", "postgres")
        .args(["--skip", "on_postgres::", "--skip", "crash::", "--skip", "replicas::"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let summary = text
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or("no test result line")
        .to_string();
    assert!(
        out.status.success(),
        "the integration suite failed on PostgreSQL ({summary}):\n{}",
        text.lines()
            .filter(|l| !l.ends_with("... ok"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("on PostgreSQL: {summary}");
}
