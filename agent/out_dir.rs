//! Output directories that commands replace (`demo --out`, `export --out`): only ever one
//! the same command wrote before, never a directory of someone else's.

use std::path::Path;

use anyhow::{Context as _, bail};

/// Removes an earlier output of `command` (marked by `marker`) from `out`. Anything else
/// there is left alone: a mistyped `--out ~` must not delete a home directory.
pub(crate) fn clear_previous(out: &Path, marker: &str, command: &str) -> anyhow::Result<()> {
    let mut entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(error).with_context(|| format!("reading `{}`", out.display()));
        }
    };
    if entries.next().is_none() {
        return Ok(());
    }
    if !out.join(marker).is_file() {
        bail!(
            "`{}` is not empty and was not made by `{command}` (it has no {marker}); \
             pass an empty or new directory as --out",
            out.display()
        );
    }
    std::fs::remove_dir_all(out).with_context(|| format!("clearing `{}`", out.display()))
}
