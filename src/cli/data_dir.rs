//! What every command that opens a data directory does first: from then on files are
//! created private (umask 077), and a directory that group or others can reach is
//! refused — or, when the operator allows it, used with a loud warning. The same
//! treatment as private keys readable by others (`--allow-insecure-key-permissions`).

use std::path::Path;

use anyhow::{bail, Context};
use clap::Args;

use crate::store::permissions;

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
