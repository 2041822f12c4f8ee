//! Python packages the tests run (aiosmtpd for the SMTP server, compliance-trestle for the
//! OSCAL checks), pinned and installed on first use into the tests' target directory, so
//! `cargo test` needs nothing installed by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Makes `requirement` (`name==version`) importable by python3 and returns the directory to
/// put on `PYTHONPATH`, or `None` when python3 already passes `check` (a `python3 -c` snippet
/// that fails unless the right version is importable). Installs with pip into
/// `target/tmp/python-<dir>` otherwise; a failed install panics, since a test that needs the
/// package must fail loudly rather than skip.
pub(crate) fn pip_package(dir: &str, requirement: &str, check: &str) -> Option<PathBuf> {
    static INSTALLED: Mutex<BTreeMap<String, Option<PathBuf>>> = Mutex::new(BTreeMap::new());
    // Held while installing: two tests needing the package install it once.
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = installed.get(dir) {
        return path.clone();
    }
    let importable = Command::new("python3")
        .args(["-c", check])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let path = if importable {
        None
    } else {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-{dir}"));
        // Written last, so an interrupted install is redone, not trusted.
        let complete = target.join(".installed");
        let done = std::fs::read_to_string(&complete).is_ok_and(|pinned| pinned == requirement);
        if !done {
            let status = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--upgrade",
                    "--target",
                ])
                .arg(&target)
                .arg(requirement)
                // Debian's python3 marks itself externally managed; this installs into a
                // private directory, not the system.
                .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
                .env("PIP_ROOT_USER_ACTION", "ignore")
                .status()
                .unwrap_or_else(|e| panic!("python3 -m pip runs (needed for {requirement}): {e}"));
            assert!(
                status.success(),
                "installing {requirement} for the tests failed"
            );
            std::fs::write(&complete, requirement).expect("mark the install complete");
        }
        let works = Command::new("python3")
            .args(["-c", check])
            .env("PYTHONPATH", &target)
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            works,
            "{requirement} installed into {} but python3 cannot import it",
            target.display()
        );
        Some(target)
    };
    installed.insert(dir.to_owned(), path.clone());
    path
}
