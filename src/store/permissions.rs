//! The data directory's permissions. It holds full identity numbers, so it is created
//! mode 0700 with its files 0600, and can be checked for anything group or others could
//! reach. What to do about an open directory (refuse, or warn) is the caller's choice.

use std::path::{Path, PathBuf};

/// Permission bits that let group or others into a file or directory.
const GROUP_OTHER: u32 = 0o077;

/// A data directory that group or others can reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} is open to other users: {} has mode {:03o}{}",
    dir.display(),
    path.display(),
    mode,
    more_text(*more)
)]
pub struct OpenDataDir {
    /// The data directory.
    pub dir: PathBuf,
    /// The first open entry found (the directory itself when it is open).
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// How many other entries are open too.
    pub more: usize,
}

fn more_text(more: usize) -> String {
    match more {
        0 => String::new(),
        1 => " (and 1 more entry)".into(),
        n => format!(" (and {n} more entries)"),
    }
}

/// Creates `dir` (and missing parents) mode 0700 if it does not exist.
pub fn create_private(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        // The mode above is filtered by the umask; a permissive one cannot widen 0700,
        // but set it exactly anyway.
        set_mode(dir, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Whether the directory itself admits only its owner.
pub fn is_private(dir: &Path) -> std::io::Result<bool> {
    Ok(mode(&std::fs::symlink_metadata(dir)?) & GROUP_OTHER == 0)
}

/// Sets every directory under `dir` to 0700 and every other entry to 0600 (symbolic
/// links are left alone: their own mode means nothing).
pub fn restrict(dir: &Path) -> std::io::Result<()> {
    walk(dir, &mut |path, meta| {
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode(meta) != want {
            set_mode(path, want)?;
        }
        Ok(())
    })
}

/// Checks that nothing under `dir` (the directory included) admits group or others.
pub fn check(dir: &Path) -> std::io::Result<Result<(), OpenDataDir>> {
    let mut open: Vec<(PathBuf, u32)> = Vec::new();
    walk(dir, &mut |path, meta| {
        let m = mode(meta);
        if m & GROUP_OTHER != 0 {
            open.push((path.to_path_buf(), m));
        }
        Ok(())
    })?;
    let mut open = open.into_iter();
    Ok(match open.next() {
        None => Ok(()),
        Some((path, mode)) => Err(OpenDataDir {
            dir: dir.to_path_buf(),
            path,
            mode,
            more: open.len(),
        }),
    })
}

/// Visits `dir` and then everything below it, directories before their contents.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> std::io::Result<()>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    visit(dir, &meta)?;
    if meta.is_dir() {
        let mut entries = std::fs::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            walk(&entry.path(), visit)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode(_meta: &std::fs::Metadata) -> u32 {
    0o700
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_restricted_to_the_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/data");
        create_private(&dir).unwrap();
        assert!(is_private(&dir).unwrap());
        std::fs::create_dir(dir.join("blobs")).unwrap();
        std::fs::write(dir.join("db"), b"x").unwrap();
        std::fs::write(dir.join("blobs/1"), b"x").unwrap();
        set_mode(&dir.join("db"), 0o644).unwrap();
        set_mode(&dir.join("blobs"), 0o755).unwrap();
        set_mode(&dir.join("blobs/1"), 0o664).unwrap();
        let open = check(&dir).unwrap().unwrap_err();
        assert_eq!((open.path.clone(), open.mode, open.more), (dir.join("blobs"), 0o755, 2));
        let text = open.to_string();
        assert!(text.contains("blobs has mode 755 (and 2 more entries)"), "{text}");

        restrict(&dir).unwrap();
        assert_eq!(check(&dir).unwrap(), Ok(()));
        let modes: Vec<u32> = ["", "db", "blobs", "blobs/1"]
            .iter()
            .map(|p| mode(&std::fs::metadata(dir.join(p)).unwrap()))
            .collect();
        assert_eq!(modes, [0o700, 0o600, 0o700, 0o600]);
    }

    #[test]
    fn an_open_directory_is_named_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o750).unwrap();
        let open = check(&dir).unwrap().unwrap_err();
        assert_eq!((open.path, open.mode, open.more), (dir.clone(), 0o750, 0));
        assert!(!is_private(&dir).unwrap());
    }
}
