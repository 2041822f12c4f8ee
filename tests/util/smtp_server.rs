//! A real SMTP server for tests: `smtp_server.py` (aiosmtpd) as a child process.
//!
//! Each server listens on a port the OS picks and keeps what it receives in its own temp dir,
//! so tests run in parallel. It is killed on drop, and exits by itself when its stdin closes
//! (the test process died without dropping it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::test_pki::TestPki;

/// The SMTP server library the test server runs on, pinned.
const AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// Generous: a cold `python3` with aiosmtpd starts in well under a second.
const START_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Options<'a> {
    /// Require AUTH and accept only this (username, password).
    pub(crate) login: Option<(&'a str, &'a str)>,
    /// Answer DATA of the first `count` messages with `code` (e.g. 451 or 550).
    pub(crate) reject: Option<(u16, usize)>,
    /// Refuse RCPT TO for this address (550) the first `count` times.
    pub(crate) reject_recipient: Option<(&'a str, usize)>,
    /// Speak TLS with this PKI's `localhost` certificate.
    pub(crate) tls: Option<(ServerTls, &'a TestPki)>,
    /// Wait this long before answering QUIT.
    pub(crate) quit_delay: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerTls {
    /// STARTTLS offered, and required before MAIL and AUTH.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

#[derive(Debug)]
pub(crate) struct SmtpServer {
    child: Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

/// One message as the server saw it at DATA.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Received {
    pub(crate) accepted: bool,
    pub(crate) mail_from: String,
    pub(crate) rcpt_tos: Vec<String>,
    pub(crate) authenticated_as: Option<String>,
    /// Whether the message came over TLS.
    pub(crate) tls: bool,
    pub(crate) data: String,
}

/// A fresh machine has python3 but not aiosmtpd: the first SMTP test installs it (pinned)
/// into the tests' target directory ([`super::python::pip_package`]).
fn aiosmtpd_path() -> Option<PathBuf> {
    super::python::pip_package("aiosmtpd", AIOSMTPD, "import aiosmtpd")
}

impl SmtpServer {
    pub(crate) fn start(options: Options<'_>) -> SmtpServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/util/smtp_server.py");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("server log");
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .arg("--maildir")
            .arg(dir.path().join("mail"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .env_remove("SMTP_TEST_USER")
            .env_remove("SMTP_TEST_PASSWORD");
        if let Some(path) = aiosmtpd_path() {
            command.env("PYTHONPATH", path);
        }
        if let Some((code, count)) = options.reject {
            command.arg("--reject").arg(format!("{code}:{count}"));
        }
        if let Some((address, count)) = options.reject_recipient {
            command
                .arg("--reject-rcpt")
                .arg(format!("{address}:{count}"));
        }
        if let Some(delay) = options.quit_delay {
            command
                .arg("--quit-delay")
                .arg(format!("{}", delay.as_secs_f64()));
        }
        if let Some((mode, pki)) = options.tls {
            let mode = match mode {
                ServerTls::Starttls => "starttls",
                ServerTls::Implicit => "implicit",
            };
            command
                .args(["--tls", mode, "--cert"])
                .arg(pki.server_cert())
                .arg("--key")
                .arg(pki.server_key());
        }
        if let Some((user, password)) = options.login {
            command
                .env("SMTP_TEST_USER", user)
                .env("SMTP_TEST_PASSWORD", password);
        }
        let mut child = command
            .spawn()
            .expect("python3 runs (the SMTP tests need python3 with aiosmtpd)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = sender.send(read);
        });
        let port = match receiver.recv_timeout(START_DEADLINE) {
            Ok(Ok(line)) => line
                .strip_prefix("listening ")
                .and_then(|port| port.trim().parse::<u16>().ok()),
            _ => None,
        };
        let mut server = SmtpServer {
            child,
            port: 0,
            dir,
        };
        match port {
            Some(port) => server.port = port,
            None => panic!(
                "the test SMTP server did not start within {START_DEADLINE:?} \
                 (is aiosmtpd installed? `python3 -m pip install aiosmtpd`); its log:\n{}",
                server.log()
            ),
        }
        server
    }

    /// Every message that reached DATA, accepted or rejected, in arrival order. The server
    /// writes each before it replies, so after a send returns there is nothing to wait for.
    pub(crate) fn received(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.maildir()) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("read a received message");
                serde_json::from_str(&text).expect("the server writes JSON")
            })
            .collect()
    }

    pub(crate) fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|m| m.accepted).collect()
    }

    /// One line per AUTH attempt, `accepted <login>` or `refused <login>`.
    pub(crate) fn auth_attempts(&self) -> Vec<String> {
        std::fs::read_to_string(self.maildir().join("auth.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Sessions the server has not seen end yet. Once the client is dead and this is 0, the
    /// server stores nothing more of what it sent.
    pub(crate) fn open_sessions(&self) -> usize {
        let log = std::fs::read_to_string(self.maildir().join("sessions.log")).unwrap_or_default();
        let opened = log.lines().filter(|line| *line == "open").count();
        opened.saturating_sub(log.lines().filter(|line| *line == "closed").count())
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub(crate) fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Received {
    /// A header's value, folded lines joined; `None` when absent.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let head = self
            .data
            .split("\r\n\r\n")
            .next()
            .expect("split yields at least one part");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = value.as_mut() {
                    value.push_str(line);
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }
}
