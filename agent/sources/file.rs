//! The `file` source: the newest file matching a path or glob, e.g. the
//! latest `access-review-*.csv` export in a shared folder.

use std::time::SystemTime;

use jiff::Timestamp;

use super::{CollectError, Collected};
use crate::config::FileFormat;

pub(super) fn collect(
    pattern: &std::path::Path,
    format: FileFormat,
) -> Result<Collected, CollectError> {
    let pattern_text = pattern.to_string_lossy().into_owned();
    let entries = glob::glob(&pattern_text).map_err(|_| CollectError::NoMatch {
        pattern: pattern_text.clone(),
    })?;
    let mut newest: Option<(SystemTime, std::path::PathBuf)> = None;
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
    let (modified, path) = newest.ok_or(CollectError::NoMatch {
        pattern: pattern_text,
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
