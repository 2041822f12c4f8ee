//! The `file` source: the newest file matching a path or glob, e.g. the
//! latest `access-review-*.csv` export in a shared folder.

use std::fs::{File, FileType};
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jiff::Timestamp;

use super::{CollectError, Collected};
use crate::config::FileFormat;

pub(super) fn collect(
    pattern: &Path,
    format: FileFormat,
    max_bytes: u64,
    raise: &str,
) -> Result<Collected, CollectError> {
    let stamp = stamp(pattern)?.ok_or_else(|| CollectError::NoMatch {
        pattern: pattern.to_string_lossy().into_owned(),
    })?;
    collect_stamped(&stamp, format, max_bytes, raise)
}

/// [`collect`] of the file `stamp` was taken of (the newest match when it was taken).
pub(super) fn collect_stamped(
    stamp: &FileStamp,
    format: FileFormat,
    max_bytes: u64,
    raise: &str,
) -> Result<Collected, CollectError> {
    let payload = read_bounded(&stamp.path, max_bytes, raise)?;
    // The export speaks for the moment it was written, not the moment we
    // read it: a file nobody refreshes must go stale.
    // Whole seconds: what the store keeps, so an unchanged file compares
    // equal to its stored copy.
    let effective_at = Timestamp::from_nanosecond(stamp.modified_ns)
        .and_then(|t| Timestamp::from_second(t.as_second()))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(Collected {
        effective_at,
        media_type: format.media_type(),
        origin: stamp.path.display().to_string(),
        payload,
    })
}

/// What tells one version of a file from another without reading it: which file it is
/// (device, inode, path), its size, and its modification and change times. Writing a file
/// moves its change time, which no account can set back (only the clock can), so a file whose
/// stamp is the same has not been written since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp {
    path: PathBuf,
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
}

/// How long after a write its stamp is not trusted: a file system that keeps times in whole
/// seconds (or two, as FAT does) can give a second write in the same tick the same stamp.
const STAMP_SETTLE_NS: i128 = 2_000_000_000;

impl FileStamp {
    /// Whether this is the stamp `known` had when the file was read at `read_at`, and that
    /// read came late enough after the file's last write for the stamp to tell.
    pub fn unchanged_since(&self, known: &FileStamp, read_at: Timestamp) -> bool {
        self == known
            && self.modified_ns.max(self.changed_ns) + STAMP_SETTLE_NS < read_at.as_nanosecond()
    }
}

/// The stamp of the newest file matching `pattern`, the one [`collect`] would read; `None`
/// when none matches.
pub(crate) fn stamp(pattern: &Path) -> Result<Option<FileStamp>, CollectError> {
    // The metadata the newest was chosen by: the file is not looked at twice.
    let Some((path, metadata)) = newest_match(pattern)? else {
        return Ok(None);
    };
    let ns = |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    Ok(Some(FileStamp {
        device: metadata.dev(),
        inode: metadata.ino(),
        size: metadata.size(),
        modified_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
        changed_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
        path,
    }))
}

/// Reads the regular file at `path`, refusing one larger than `limit`
/// bytes. A FIFO, device or socket is refused from its metadata, before it
/// is opened (opening a FIFO blocks until a writer comes); a file over the
/// limit by its metadata is refused unread, and the read itself stops one
/// byte past the limit, so a file that grows meanwhile cannot exceed it
/// either. `raise` says how to raise the limit, for the message.
pub fn read_bounded(path: &Path, limit: u64, raise: &str) -> Result<Vec<u8>, CollectError> {
    let read_error = |error| CollectError::Read {
        path: path.display().to_string(),
        error,
    };
    let too_large = |size: Option<u64>| CollectError::TooLarge {
        path: path.display().to_string(),
        size,
        limit,
        raise: raise.to_owned(),
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(CollectError::NotAFile {
            path: path.display().to_string(),
            what: what_is(metadata.file_type()),
        });
    }
    if metadata.len() > limit {
        return Err(too_large(Some(metadata.len())));
    }
    let file = File::open(path).map_err(read_error)?;
    // The path may have been swapped since: judge what was opened.
    let opened = file.metadata().map_err(read_error)?;
    if !opened.is_file() {
        return Err(CollectError::NotAFile {
            path: path.display().to_string(),
            what: what_is(opened.file_type()),
        });
    }
    let expected = usize::try_from(opened.len().min(limit)).unwrap_or(0);
    let mut payload = Vec::with_capacity(expected.saturating_add(1));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut payload)
        .map_err(read_error)?;
    if payload.len() as u64 > limit {
        return Err(too_large(None));
    }
    Ok(payload)
}

fn what_is(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// `pattern` (a source's `path`) as a pattern stored origins are matched against, `None` when
/// it is no glob pattern at all.
pub(crate) fn origin_pattern(pattern: &Path) -> Option<glob::Pattern> {
    glob::Pattern::new(&pattern.to_string_lossy()).ok()
}

/// Whether a stored evidence row's `origin` is a file the source's pattern still collects:
/// matched as `glob::glob` walks, one path component at a time (`*` never crosses a `/`), so
/// a file in a subfolder the pattern no longer reaches is not taken for a current one.
pub(crate) fn matches_origin(pattern: &glob::Pattern, origin: &str) -> bool {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    pattern.matches_with(origin, options)
}

/// The newest file matching `pattern` and its metadata as read to choose it; `None` when no
/// file matches (yet). A FIFO, device or socket that matches is an error, never opened.
pub(crate) fn newest_match(
    pattern: &Path,
) -> Result<Option<(PathBuf, std::fs::Metadata)>, CollectError> {
    let pattern_text = pattern.to_string_lossy().into_owned();
    let entries = glob::glob(&pattern_text).map_err(|_| CollectError::NoMatch {
        pattern: pattern_text.clone(),
    })?;
    let mut newest: Option<(SystemTime, PathBuf, std::fs::Metadata)> = None;
    for entry in entries {
        let path = entry.map_err(|e| CollectError::Read {
            path: e.path().display().to_string(),
            error: std::io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        let metadata = std::fs::metadata(&path).map_err(|error| CollectError::Read {
            path: path.display().to_string(),
            error,
        })?;
        if metadata.is_dir() {
            continue;
        }
        if !metadata.is_file() {
            return Err(CollectError::NotAFile {
                path: path.display().to_string(),
                what: what_is(metadata.file_type()),
            });
        }
        let modified = metadata.modified().map_err(|error| CollectError::Read {
            path: path.display().to_string(),
            error,
        })?;
        // Newest by modification time; the name breaks ties so the choice
        // does not depend on directory order.
        if newest
            .as_ref()
            .is_none_or(|(time, best, _)| (modified, &path) > (*time, best))
        {
            newest = Some((modified, path, metadata));
        }
    }
    // A path that names a folder (not a pattern whose matches include folders): said as
    // what it is, not as "no file matches".
    if newest.is_none()
        && let Ok(metadata) = std::fs::metadata(pattern)
        && metadata.is_dir()
    {
        return Err(CollectError::NotAFile {
            path: pattern_text,
            what: what_is(metadata.file_type()),
        });
    }
    Ok(newest.map(|(_, path, metadata)| (path, metadata)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_trusted_only_two_seconds_after_the_last_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.json");
        std::fs::write(&path, "{}").unwrap();
        let first = super::stamp(&path).unwrap().unwrap();
        let stamp = first.clone();
        let written = Timestamp::from_nanosecond(stamp.changed_ns).unwrap();
        let at = |ms: i64| written + jiff::SignedDuration::from_millis(ms);
        assert!(
            !stamp.unchanged_since(&stamp, at(1_000)),
            "read too soon after"
        );
        assert!(stamp.unchanged_since(&stamp, at(2_500)));
        // Written again, even with the same bytes: another change time.
        std::fs::write(&path, "{}").unwrap();
        let again = super::stamp(&path).unwrap().unwrap();
        assert!(again.changed_ns >= first.changed_ns);
        let other = FileStamp {
            changed_ns: stamp.changed_ns + 1,
            ..stamp.clone()
        };
        assert!(!other.unchanged_since(&stamp, at(60_000)));
        let bigger = FileStamp {
            size: stamp.size + 1,
            ..stamp.clone()
        };
        assert!(!bigger.unchanged_since(&stamp, at(60_000)));
    }

    #[test]
    fn a_file_that_reads_longer_than_its_metadata_says_is_cut_at_the_limit() {
        // /proc files report a length of 0 and read more: the same as a file
        // growing after its size was checked.
        let path = Path::new("/proc/self/status");
        let error = read_bounded(path, 100, "raise it").unwrap_err();
        assert!(
            matches!(
                error,
                CollectError::TooLarge {
                    size: None,
                    limit: 100,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("grew while being read"),
            "{error}"
        );
        assert!(read_bounded(path, 1 << 20, "raise it").is_ok());
    }

    #[test]
    fn an_origin_matches_as_the_collector_walks_one_folder_at_a_time() {
        let pattern = origin_pattern(Path::new("/srv/x/*.csv")).unwrap();
        assert!(matches_origin(&pattern, "/srv/x/reviews.csv"));
        assert!(!matches_origin(&pattern, "/srv/x/iam/reviews.csv"));
        let recursive = origin_pattern(Path::new("/srv/x/**/*.csv")).unwrap();
        assert!(matches_origin(&recursive, "/srv/x/iam/reviews.csv"));
    }

    #[test]
    fn a_path_that_names_a_folder_is_said_to_be_one() {
        let dir = tempfile::tempdir().unwrap();
        let error = newest_match(dir.path()).unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
        // A pattern whose matches include folders still skips them.
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(newest_match(&dir.path().join("*")).unwrap().is_none());
    }

    #[test]
    fn only_regular_files_are_read() {
        for (path, what) in [("/dev/null", "a device"), ("/tmp", "a directory")] {
            let error = read_bounded(Path::new(path), 100, "").unwrap_err();
            assert!(error.to_string().contains(what), "{error}");
        }
    }
}
