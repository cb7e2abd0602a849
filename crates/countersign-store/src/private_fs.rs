//! Files only the server's own system user may read, whatever the umask: the data directory
//! (0700), the SQLite database with its write-ahead log (0600) and the secrets key file (0600).
//! The database holds password hashes and sealed secrets; the key file opens the secrets.

use countersign_core::StoreError;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

type R<T> = Result<T, StoreError>;

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("cannot {what} {}: {e}", path.display()))
}

/// Creates `dir` (and missing parents) with mode 0700, or tightens an existing one to 0700 where
/// others could read it (a warning when that is not allowed, e.g. a directory someone else owns).
pub(crate) fn create_dir(dir: &Path) -> R<()> {
    create_missing_dir(dir)?;
    tighten(dir, 0o700);
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist; an existing one is
/// left as it is (a directory of the operator's such as `/etc/countersign`, shared with others).
pub(crate) fn create_missing_dir(dir: &Path) -> R<()> {
    if dir.exists() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io("create directory", dir, e))
}

/// Sets `mode` on `path` if it grants more than that; warns when it cannot.
pub(crate) fn tighten(path: &Path, mode: u32) {
    let Ok(meta) = fs::metadata(path) else { return };
    if meta.permissions().mode() & 0o777 & !mode != 0 {
        if let Err(e) = fs::set_permissions(path, Permissions::from_mode(mode)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot make it private");
        }
    }
}

/// Makes sure `path` exists as a private file (0600) before another library opens it, and
/// tightens it if it was left readable by others.
pub(crate) fn ensure_file(path: &Path) -> R<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", path, e))?;
    tighten(path, 0o600);
    Ok(())
}

/// Tightens an existing file to 0600 (nothing when it does not exist).
pub(crate) fn restrict(path: &Path) {
    tighten(path, 0o600);
}

/// Writes a new private file; fails if it exists.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> R<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| io("write", path, e))?;
    tighten(path, 0o600);
    sync_dir(path);
    Ok(())
}

/// Replaces a private file whole: a temporary file beside it, fsync, rename.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> R<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_new(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(|e| io("replace", path, e))?;
    sync_dir(path);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
    }
}
