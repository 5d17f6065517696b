//! `elicence backup`, `restore` and `check`: a point-in-time backup taken from the running
//! server (over its control socket) or, when none runs, from the store directly; a
//! restore into a new directory that then verifies everything; the consistency check.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;

use super::data_dir::{DataDirAccess, DatabaseUrl, StoreArgs};
use crate::clock::{Clock, SystemClock};
use crate::control;
use crate::licence::record::rfc3339;
use crate::registry::Registry;
use crate::repository::{Font, Repository, RepositoryConfig};
use crate::store::postgres::{PgConfig, PgStore};
use crate::store::{check_backup, open_embedded, EmbeddedStore, OpenedStore, StoreLocation};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The store (of a running server or a stopped one).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Backup file to write (mode 0600; refused if it exists).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup file written by `elicence backup`.
    #[arg(long)]
    pub from: PathBuf,
    /// New data directory (must not exist or be empty).
    #[arg(long, required_unless_present = "database_url", conflicts_with = "database_url")]
    pub data_dir: Option<PathBuf>,
    /// Restore into this PostgreSQL database instead (it must hold no licence, audit
    /// entry, licence type or template): also how an embedded store moves to PostgreSQL.
    #[arg(long, env = "ELICENCE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,
    /// Directory holding `keyring.toml`, to verify signatures.
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
    #[command(flatten)]
    pub data_dir_access: DataDirAccess,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The store (of a running server or a stopped one; a database may be in use).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Directory holding `keyring.toml` (not used when a server answers on the data
    /// directory's control socket).
    #[arg(long, env = "ELICENCE_KEYS", default_value = "keys-example/")]
    pub keys: PathBuf,
    #[arg(long, env = "ELICENCE_ALLOW_INSECURE_KEY_PERMISSIONS")]
    pub allow_insecure_key_permissions: bool,
    /// A signed checkpoint of this repository's transparency log kept outside the store
    /// (from `/log/checkpoint` or `elicence log monitor`'s state): the store's log must
    /// extend it. A truncated, rolled-back, forked or rewritten log is reported.
    #[arg(long, value_name = "FILE")]
    pub expect_checkpoint: Option<PathBuf>,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let source = args.store.location(Default::default())?;
    let started = Instant::now();
    let partial = {
        let mut p = args.out.clone().into_os_string();
        p.push(".partial");
        PathBuf::from(p)
    };
    if args.out.exists() {
        bail!("{} exists; choose a new file", args.out.display());
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    // `mode` applies only to a file it creates; a stale `.partial` keeps its own.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", partial.display()))?;
    let result = write_backup(&source, file);
    let summary = result.and_then(|from| {
        // Read back what reached the disk: a stream cut short by the server is refused here.
        let s = check_backup(std::fs::File::open(&partial)?).context("the backup written does not check")?;
        Ok((from, s))
    });
    let (from, summary) = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &args.out)?;
    // The file was synced before the rename; make the rename itself durable.
    let dir = args
        .out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()?;
    let bytes = std::fs::metadata(&args.out)?.len();
    eprintln!(
        "backup of {} ({from}) written to {}: {} entries ({} licences, {} events, {} audit entries), {bytes} bytes in {:.2} s, sha256 {}",
        args.store.describe(),
        args.out.display(),
        summary.entries,
        summary.count("records"),
        summary.count("events"),
        summary.count("audit"),
        started.elapsed().as_secs_f64(),
        summary.sha256
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams the backup into `file`: from the server if one runs on the data directory,
/// or from one snapshot of the database. Returns where it came from.
fn write_backup(source: &StoreLocation, file: std::fs::File) -> anyhow::Result<&'static str> {
    let mut out = std::io::BufWriter::new(file);
    let data_dir = match source {
        StoreLocation::Embedded { dir, .. } => dir,
        StoreLocation::Postgres(config) => {
            let store = PgStore::open(config).context("opening the database")?;
            store.write_backup(&mut out, &rfc3339(SystemClock.now()))?;
            out.into_inner()?.sync_all()?;
            return Ok("one snapshot of the database");
        }
    };
    match control::connect(data_dir)? {
        Some(mut stream) => {
            stream.write_all(b"backup\n")?;
            let mut reader = BufReader::new(stream);
            expect_ok(&mut reader)?;
            std::io::copy(&mut reader, &mut out).context("receiving the backup")?;
            out.into_inner()?.sync_all()?;
            Ok("the running server")
        }
        None => {
            let store = open_stopped(data_dir)?;
            store.write_backup(&mut out, &rfc3339(SystemClock.now()))?;
            out.into_inner()?.sync_all()?;
            Ok("the stopped store")
        }
    }
}

fn expect_ok(reader: &mut impl BufRead) -> anyhow::Result<()> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    match line.trim_end() {
        "ok" => Ok(()),
        other => bail!("the server refused: {other}"),
    }
}

fn open_stopped(data_dir: &Path) -> anyhow::Result<EmbeddedStore> {
    if !data_dir.exists() {
        bail!("{} does not exist", data_dir.display());
    }
    open_embedded(data_dir, Default::default()).with_context(|| {
        format!(
            "opening {} (no server answered on {}; is another process holding the store?)",
            data_dir.display(),
            control::socket_path(data_dir).display()
        )
    })
}

fn registry(store: OpenedStore, keys: &Path, allow_insecure: bool) -> anyhow::Result<Arc<Registry>> {
    let config = RepositoryConfig {
        // Not used: the store is open.
        store: StoreLocation::Embedded {
            dir: PathBuf::new(),
            config: Default::default(),
        },
        keys: keys.to_path_buf(),
        allow_insecure_key_permissions: allow_insecure,
        seed_catalog: None,
        seed_layouts: None,
        font: Font::None,
    };
    Ok(Repository::assemble(store, &config, Arc::new(SystemClock))?.registry)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let data_dir = match (&args.data_dir, &args.database_url) {
        (Some(dir), _) => dir.clone(),
        (None, Some(url)) => {
            let config = PgConfig {
                url: url.url().to_string(),
                pool_size: 2,
                read_url: None,
            };
            let summary = PgStore::restore_backup(&config, &args.from)
                .with_context(|| format!("restoring {} into {}", args.from.display(), url.describe()))?;
            eprintln!(
                "restored {} entries into {} in {:.2} s; verifying",
                summary.entries,
                url.describe(),
                started.elapsed().as_secs_f64()
            );
            let store = OpenedStore::open(&StoreLocation::Postgres(config))?;
            return check_store(store, &args.keys, args.allow_insecure_key_permissions, None);
        }
        (None, None) => bail!("--data-dir or --database-url: where to restore"),
    };
    args.data_dir_access.enforce(&data_dir)?;
    let existed = data_dir.exists();
    let summary = match EmbeddedStore::restore_backup(&data_dir, &args.from) {
        Ok(s) => s,
        Err(e) => {
            if !existed {
                let _ = std::fs::remove_dir_all(&data_dir);
            }
            return Err(e).with_context(|| format!("restoring {}", args.from.display()));
        }
    };
    eprintln!(
        "restored {} entries into {} in {:.2} s; verifying",
        summary.entries,
        data_dir.display(),
        started.elapsed().as_secs_f64()
    );
    let store = open_embedded(&data_dir, Default::default())?;
    check_store(
        OpenedStore::Embedded(Arc::new(store)),
        &args.keys,
        args.allow_insecure_key_permissions,
        None,
    )
}

pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let expected = match &args.expect_checkpoint {
        Some(f) => Some(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?),
        None => None,
    };
    let data_dir = match args.store.location(Default::default())? {
        StoreLocation::Embedded { dir, .. } => dir,
        // Any number of processes may use a database: check it directly.
        pg @ StoreLocation::Postgres(_) => {
            let store = OpenedStore::open(&pg).context("opening the database")?;
            return check_store(
                store,
                &args.keys,
                args.allow_insecure_key_permissions,
                expected.as_deref(),
            );
        }
    };
    if let Some(mut stream) = control::connect(&data_dir)? {
        use base64::prelude::{Engine, BASE64_STANDARD};
        match &expected {
            Some(note) => stream.write_all(format!("check {}\n", BASE64_STANDARD.encode(note)).as_bytes())?,
            None => stream.write_all(b"check\n")?,
        }
        let mut reader = BufReader::new(stream);
        expect_ok(&mut reader)?;
        let mut text = String::new();
        reader.read_to_string(&mut text)?;
        print!("{text}");
        return Ok(if text.contains("; no problems") {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let store = open_stopped(&data_dir)?;
    check_store(
        OpenedStore::Embedded(Arc::new(store)),
        &args.keys,
        args.allow_insecure_key_permissions,
        expected.as_deref(),
    )
}

/// Checks every signature, chain and index of `store`, prints the report, and exits 1
/// on any problem.
pub(super) fn check_store(
    store: OpenedStore,
    keys: &Path,
    allow_insecure_key_permissions: bool,
    expected: Option<&[u8]>,
) -> anyhow::Result<ExitCode> {
    let report = registry(store, keys, allow_insecure_key_permissions)?.check_against(expected)?;
    print_report(&report.problems, &report.to_string());
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_report(problems: &[String], summary: &str) {
    for p in problems {
        println!("problem: {p}");
    }
    println!("{summary}");
}
