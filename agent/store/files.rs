//! File-system side of the store: private directories and files.
//!
//! The process umask may be 022 in development, so nothing here relies on it: files are
//! created with an explicit mode, and existing ones are tightened.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Owner read/write only.
const PRIVATE_FILE: u32 = 0o600;
/// Owner only, for directories we create.
const PRIVATE_DIR: u32 = 0o700;

/// Creates the parent directories (0700) and the database file (0600) if missing, and
/// tightens an existing file, before SQLite opens it.
pub(super) fn prepare_db_file(path: &Path) -> Result<(), StoreError> {
    create_parent(path)?;
    create_private_file(path)?;
    restrict(path)
}

/// Makes sure `-wal` and `-shm` are not readable by others. SQLite already gives them the
/// main file's mode; this also fixes files left behind by an older, laxer run.
pub(super) fn restrict_sidecars(path: &Path) -> Result<(), StoreError> {
    for suffix in ["-wal", "-shm"] {
        let sidecar = with_suffix(path, suffix);
        if sidecar.exists() {
            restrict(&sidecar)?;
        }
    }
    Ok(())
}

/// Creates missing parent directories with mode 0700; existing ones are left alone.
pub(super) fn create_parent(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(parent)
        .map_err(|source| StoreError::CreateDir {
            path: parent.to_owned(),
            source,
        })
}

/// Creates `path` with mode 0600 if it does not exist; never truncates.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE_FILE)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::CreateFile {
            path: path.to_owned(),
            source,
        })
}

/// Creates a new, empty file with mode 0600, replacing a stale one.
pub(super) fn create_fresh_private_file(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::CreateFile {
                path: path.to_owned(),
                source,
            });
        }
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::CreateFile {
            path: path.to_owned(),
            source,
        })
}

/// Removes group and other permissions from `path` if it has any.
fn restrict(path: &Path) -> Result<(), StoreError> {
    let fail = |source| StoreError::Permissions {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(fail)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, Permissions::from_mode(PRIVATE_FILE)).map_err(fail)?;
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name (`state.db` → `state.db-wal`).
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}
