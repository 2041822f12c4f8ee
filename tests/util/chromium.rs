//! Headless Chromium for the tests that look at rendered HTML. A fresh machine lacks it: the
//! first such test installs Debian's `chromium` package (`apt-get update`, then
//! `apt-get install -y chromium`), as the SMTP tests install aiosmtpd, and fails with the
//! reason when it cannot. It never skips: a page nobody rendered proves nothing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs Chromium when missing; panics with what went wrong when it cannot.
fn ensure_installed() -> &'static Path {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let outcome = INSTALLED.get_or_init(|| {
        if Path::new(CHROMIUM).exists() {
            return Ok(());
        }
        let apt = |args: &[&str]| -> Result<(), String> {
            let output = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run apt-get {}: {e}", args.join(" ")))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "apt-get {} failed ({}): {}",
                    args.join(" "),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
        };
        apt(&["update", "-qq"])?;
        apt(&[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
        ])?;
        if Path::new(CHROMIUM).exists() {
            Ok(())
        } else {
            Err(format!(
                "apt-get installed chromium, but {CHROMIUM} is not there"
            ))
        }
    });
    if let Err(reason) = outcome {
        panic!(
            "the HTML tests need headless Chromium at {CHROMIUM} and could not install it: {reason} \
             (install it with `apt-get install -y chromium`, as .ci/run does)"
        );
    }
    Path::new(CHROMIUM)
}

/// The DOM of `page` after Chromium loaded and rendered it (`--dump-dom`), with no network,
/// in a profile of its own.
pub(crate) fn dump_dom(page: &Path) -> String {
    let chromium = ensure_installed();
    let profile = tempfile::tempdir().expect("a profile directory");
    let url = format!(
        "file://{}",
        std::path::absolute(page)
            .expect("an absolute path")
            .display()
    );
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && dom.contains("</html>"),
        "chromium did not render {url} ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}
