//! The `file` source: the newest file matching a path or glob, e.g. the
//! latest `access-review-*.csv` export in a shared folder.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::Timestamp;

use super::{CollectError, Collected};
use crate::config::FileFormat;

pub(super) fn collect(pattern: &Path, format: FileFormat) -> Result<Collected, CollectError> {
    let (modified, path) = newest_match(pattern)?.ok_or_else(|| CollectError::NoMatch {
        pattern: pattern.to_string_lossy().into_owned(),
    })?;
    let payload = std::fs::read(&path).map_err(|source| CollectError::Read {
        path: path.display().to_string(),
        source,
    })?;
    // The export speaks for the moment it was written, not the moment we
    // read it: a file nobody refreshes must go stale.
    // Whole seconds: what the store keeps, so an unchanged file compares
    // equal to its stored copy.
    let effective_at = Timestamp::try_from(modified)
        .and_then(|t| Timestamp::from_second(t.as_second()))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(Collected {
        effective_at,
        media_type: format.media_type(),
        origin: path.display().to_string(),
        payload,
    })
}

/// The newest file matching `pattern` and its modification time; `None` when no file
/// matches (yet).
pub(crate) fn newest_match(pattern: &Path) -> Result<Option<(SystemTime, PathBuf)>, CollectError> {
    let pattern_text = pattern.to_string_lossy().into_owned();
    let entries = glob::glob(&pattern_text).map_err(|_| CollectError::NoMatch {
        pattern: pattern_text.clone(),
    })?;
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in entries {
        let path = entry.map_err(|e| CollectError::Read {
            path: e.path().display().to_string(),
            source: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        if !path.is_file() {
            continue;
        }
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|source| CollectError::Read {
                path: path.display().to_string(),
                source,
            })?;
        // Newest by modification time; the name breaks ties so the choice
        // does not depend on directory order.
        if newest
            .as_ref()
            .is_none_or(|(time, best)| (modified, &path) > (*time, best))
        {
            newest = Some((modified, path));
        }
    }
    Ok(newest)
}

/// The first folder on the way to `pattern`'s files that this account cannot open. glob
/// reports only a folder it could list but not read; one it cannot even enter on the way
/// there looks like "no match".
pub(crate) fn closed_folder(pattern: &Path) -> Option<(PathBuf, std::io::Error)> {
    let literal: PathBuf = pattern
        .components()
        .take_while(|part| !part.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect();
    literal
        .ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|dir| match std::fs::read_dir(dir) {
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                Some((dir.to_owned(), error))
            }
            _ => None,
        })
}
