//! What every command that opens a data directory does first: from then on files are
//! created private (umask 077), and a directory that group or others can reach is
//! refused — or, when the operator allows it, used with a loud warning. The same
//! treatment as private keys readable by others (`--allow-insecure-key-permissions`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use crate::store::postgres::PgConfig;
use crate::store::{permissions, EmbeddedConfig, StoreLocation};

/// A database URL. It may hold a password, so it never appears in `Debug` output, logs
/// or errors; `--help` does not show the value of its environment variable.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        // Parsed here for a clear error at the command line, not at the first query.
        s.parse::<tokio_postgres::Config>()
            .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
        Ok(DatabaseUrl(s.to_string()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl DatabaseUrl {
    /// The URL itself, to connect with (never to print).
    pub fn url(&self) -> &str {
        &self.0
    }

    /// Where it points, for logs: users, hosts, ports and database; never the password.
    pub fn describe(&self) -> String {
        let Ok(c) = self.0.parse::<tokio_postgres::Config>() else {
            return "<unparsable database URL>".into();
        };
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    #[cfg(unix)]
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                };
                match c.get_ports().get(i).or(c.get_ports().first()) {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        format!(
            "postgresql://{}@{}/{}",
            c.get_user().unwrap_or("?"),
            hosts.join(","),
            c.get_dbname().unwrap_or("?")
        )
    }
}

/// Where a command finds the store: the embedded store's data directory, or a
/// PostgreSQL database.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Data directory of the embedded store (not used with --database-url).
    #[arg(long, env = "ELICENCE_DATA_DIR", default_value = "./elicence-data")]
    pub data_dir: PathBuf,
    /// Keep the store in PostgreSQL instead of a data directory:
    /// `postgresql://USER[:PASSWORD]@HOST[:PORT][,HOST2[:PORT]]/DATABASE`, with
    /// `?target_session_attrs=read-write` to find the primary among several hosts after a
    /// failover (docs/SCALING.md). Several processes may serve one database.
    #[arg(long, env = "ELICENCE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,
    /// Read from these hot standbys (same URL form) instead of the primary: public
    /// verification, department reads and queries. Commits then wait until the
    /// synchronous standbys have applied them (`synchronous_commit = remote_apply`), so a
    /// read sees every acknowledged write; list these standbys in the primary's
    /// `synchronous_standby_names` (docs/SCALING.md). Reads go to the primary while no
    /// standby answers.
    #[arg(
        long,
        env = "ELICENCE_READ_DATABASE_URL",
        hide_env_values = true,
        requires = "database_url"
    )]
    pub read_database_url: Option<DatabaseUrl>,
    /// Connections to the database this process keeps open at most (as many again to
    /// the read standbys).
    #[arg(long, env = "ELICENCE_DATABASE_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool_size: u32,
    #[command(flatten)]
    pub data_dir_access: DataDirAccess,
}

impl StoreArgs {
    /// Makes files this process creates private, checks the data directory (of an
    /// embedded store), and says where the store is.
    pub fn location(&self, embedded: EmbeddedConfig) -> anyhow::Result<StoreLocation> {
        match &self.database_url {
            Some(url) => {
                private_umask();
                Ok(StoreLocation::Postgres(PgConfig {
                    url: url.0.clone(),
                    pool_size: self.database_pool_size as usize,
                    read_url: self.read_database_url.as_ref().map(|u| u.0.clone()),
                }))
            }
            None => {
                self.data_dir_access.enforce(&self.data_dir)?;
                Ok(StoreLocation::Embedded {
                    dir: self.data_dir.clone(),
                    config: embedded,
                })
            }
        }
    }

    /// The data directory, unless the store is in a database.
    pub fn embedded_dir(&self) -> Option<&Path> {
        self.database_url.is_none().then_some(self.data_dir.as_path())
    }

    /// Where the store is, for logs (no password).
    pub fn describe(&self) -> String {
        match (&self.database_url, &self.read_database_url) {
            (Some(url), Some(read)) => format!("{}, reading from {}", url.describe(), read.describe()),
            (Some(url), None) => url.describe(),
            (None, _) => self.data_dir.display().to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Args)]
pub struct DataDirAccess {
    /// Use a data directory that group or others can reach (logs a loud warning). It
    /// holds full identity numbers: fix it with `chmod -R go-rwx <data dir>` instead.
    #[arg(long, env = "ELICENCE_ALLOW_OPEN_DATA_DIR")]
    pub allow_open_data_dir: bool,
}

impl DataDirAccess {
    /// Sets the umask, then checks `dir` and everything in it (a directory that does not
    /// exist yet is created private by the store).
    pub fn enforce(&self, dir: &Path) -> anyhow::Result<()> {
        private_umask();
        self.check(dir)
    }

    fn check(&self, dir: &Path) -> anyhow::Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        let checked =
            permissions::check(dir).with_context(|| format!("checking the permissions of {}", dir.display()))?;
        let Err(open) = checked else {
            return Ok(());
        };
        let fix = format!("chmod -R go-rwx {}", shell_word(dir));
        if !self.allow_open_data_dir {
            bail!(
                "data directory {open}; it holds full identity numbers. Fix it with `{fix}`, \
                 or pass --allow-open-data-dir (ELICENCE_ALLOW_OPEN_DATA_DIR=true) to use it anyway"
            );
        }
        tracing::warn!(
            data_dir = %dir.display(),
            path = %open.path.display(),
            mode = %format!("{:03o}", open.mode),
            "DATA DIRECTORY OPEN TO OTHER USERS: {open}. It holds full identity numbers; \
             used anyway because of --allow-open-data-dir. Fix it with `{fix}`."
        );
        Ok(())
    }
}

/// Files this process creates from now on — the store's, backups, reject reports, PDFs —
/// are readable by their owner only, whatever umask the process was started with. sled
/// creates its files with the umask (and keeps creating some, snapshots and blobs, as it
/// runs), so setting modes after the fact would leave windows; std has no umask call,
/// hence `libc`.
fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask(2) only replaces the process's file-creation mask and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// `path` as one shell word, quoted when it needs to be, for a command to copy.
fn shell_word(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@,=%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell_when_needed() {
        assert_eq!(shell_word(Path::new("/var/lib/elicence")), "/var/lib/elicence");
        assert_eq!(shell_word(Path::new("./elicence-data")), "./elicence-data");
        assert_eq!(shell_word(Path::new("/srv/my data")), "'/srv/my data'");
        assert_eq!(shell_word(Path::new("/srv/it's")), r"'/srv/it'\''s'");
    }

    #[cfg(unix)]
    #[test]
    fn an_open_directory_is_refused_with_the_command_that_fixes_it() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("db"), b"").unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(dir.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let refuse = DataDirAccess::default();
        let err = format!("{:#}", refuse.check(&dir).unwrap_err());
        assert!(
            err.contains(&format!("{} has mode 644", dir.join("db").display())),
            "{err}"
        );
        assert!(err.contains(&format!("`chmod -R go-rwx {}`", dir.display())), "{err}");
        assert!(err.contains("--allow-open-data-dir"), "{err}");

        let allow = DataDirAccess {
            allow_open_data_dir: true,
        };
        allow.check(&dir).unwrap();
        assert!(!tmp.path().join("absent").exists());
        refuse.check(&tmp.path().join("absent")).unwrap();
        std::fs::set_permissions(dir.join("db"), std::fs::Permissions::from_mode(0o600)).unwrap();
        refuse.check(&dir).unwrap();
    }
}
