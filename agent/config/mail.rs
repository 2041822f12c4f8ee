//! `[mail]`: the sender and how mail leaves, a file drop or an SMTP relay.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::raw::{RawMail, RawTransport};
use super::{Context, Secrets, resolve};
use crate::secret::{Secret, SecretError, SecretRef};

#[derive(Debug)]
pub struct MailConfig {
    pub from: lettre::message::Mailbox,
    pub transport: Transport,
}

/// How mail leaves.
#[derive(Debug, Clone)]
pub enum Transport {
    /// One `.eml` per message into a directory (demo, dry runs, tests).
    File { dir: PathBuf },
    /// An SMTP relay.
    Smtp(SmtpConfig),
}

/// An SMTP relay, as validated: the TLS mode is explicit and a password is already resolved,
/// so a missing credential fails `check-config` and a reload, not the first escalation.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// A host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub login: Option<SmtpLogin>,
    /// For connecting and for each SMTP command.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// `host:port`, the name errors and logs use for the relay.
    pub fn relay(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The account dutywatch logs in to the relay with.
#[derive(Debug, Clone)]
pub struct SmtpLogin {
    pub username: String,
    pub password: SmtpPassword,
}

/// The relay password: read when the config was loaded to send mail, otherwise only where it
/// is (see [`Secrets`](super::Secrets)).
#[derive(Debug, Clone)]
pub enum SmtpPassword {
    /// Shared, not copied: [`Secret`] is deliberately not `Clone`.
    Read(Arc<Secret>),
    /// Not read, by a command that sends no mail, or because only the service can read it.
    NotRead(SecretRef),
}

impl SmtpPassword {
    /// The password, if it was read.
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            SmtpPassword::Read(secret) => Some(secret),
            SmtpPassword::NotRead(_) => None,
        }
    }
}

/// How the connection to the relay is protected. Never guessed from the port: a wrong guess
/// either fails every handshake (implicit TLS spoken to a STARTTLS port) or, worse, sends
/// mail and password in clear text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS before anything else is sent; refused if the
    /// relay does not offer it. Submission, port 587.
    Starttls,
    /// TLS from the first byte (SMTPS), port 465.
    Implicit,
    /// No encryption, port 25: only for a relay on this host.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Implicit => "implicit",
            SmtpTls::None => "none",
        }
    }
}

impl fmt::Display for SmtpTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Used when `[mail] timeout` is not set.
const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest `[mail] timeout` accepted, a sanity bound. The engine waits for the relay inside
/// the scheduler loop, which cannot feed systemd's watchdog meanwhile, and the timeout applies
/// per SMTP command: keep it well below `WatchdogSec=` (60 s in the shipped units).
const MAX_SMTP_TIMEOUT_SECS: i64 = 300;

/// A relay on this host: clear text to it never crosses a network.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Context<'_> {
    /// `[mail]`: the sender and the transport; `None` after an error in either.
    pub(super) fn mail(
        &mut self,
        raw: &RawMail,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<MailConfig> {
        let from = self.mailbox(&raw.from, "mail.from");
        let transport = self.transport(raw, base, env);
        Some(MailConfig {
            from: from?,
            transport: transport?,
        })
    }

    fn mailbox(&mut self, text: &Spanned<String>, key: &str) -> Option<lettre::message::Mailbox> {
        match text.get_ref().parse::<lettre::message::Mailbox>() {
            Ok(mailbox) => Some(mailbox),
            Err(error) => {
                self.error(
                    text.span().start,
                    key,
                    format!(
                        "`{}` is not a mail address ({error}); write `dutywatch@example.com` or `Dutywatch <dutywatch@example.com>`",
                        text.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// `[mail]`'s transport and the keys that belong to it; `None` after an error.
    fn transport(
        &mut self,
        raw: &RawMail,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Transport> {
        let start = self.errors.len();
        let offset = raw.transport.span().start;
        let kind = *raw.transport.get_ref();
        // Say exactly which keys do not belong to the chosen transport,
        // instead of silently ignoring them.
        let present = [
            ("dir", raw.dir.as_ref().map(|v| v.span().start)),
            ("host", raw.host.as_ref().map(|v| v.span().start)),
            ("port", raw.port.as_ref().map(|v| v.span().start)),
            ("tls", raw.tls.as_ref().map(|v| v.span().start)),
            ("username", raw.username.as_ref().map(|v| v.span().start)),
            ("password", raw.password.as_ref().map(|v| v.span().start)),
            ("timeout", raw.timeout.as_ref().map(|v| v.span().start)),
        ];
        let (name, allowed): (&str, &[&str]) = match kind {
            RawTransport::File => ("file", &["dir"]),
            RawTransport::Smtp => (
                "smtp",
                &["host", "port", "tls", "username", "password", "timeout"],
            ),
        };
        self.keys_not_taken("mail", "transport", name, allowed, present);
        let transport = match kind {
            RawTransport::File => Some(Transport::File {
                dir: resolve(
                    base,
                    raw.dir
                        .as_ref()
                        .map_or("outbox", |dir| dir.get_ref().as_str()),
                ),
            }),
            RawTransport::Smtp => self.smtp(raw, offset, base, env).map(Transport::Smtp),
        };
        if self.errors.len() > start {
            return None;
        }
        transport
    }

    fn smtp(
        &mut self,
        raw: &RawMail,
        offset: usize,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<SmtpConfig> {
        let start = self.errors.len();
        let host = match &raw.host {
            Some(host) => self.smtp_host(host),
            None => {
                self.error(
                    offset,
                    "mail.host",
                    "transport = \"smtp\" needs `host`, the relay's name or address, e.g. host = \"smtp.example.com\"".to_owned(),
                );
                None
            }
        };
        let tls = match &raw.tls {
            Some(tls) => Some(*tls.get_ref()),
            None => {
                self.error(
                    offset,
                    "mail.tls",
                    "transport = \"smtp\" needs `tls`: \"starttls\" (submission, port 587), \"implicit\" (SMTPS, port 465) or \"none\" (plain text, port 25, only to a relay on this host); it is not guessed from the port because a wrong guess fails every handshake or sends mail in clear text".to_owned(),
                );
                None
            }
        };
        let port = match (&raw.port, tls) {
            (Some(port), _) if *port.get_ref() == 0 => {
                self.error(
                    port.span().start,
                    "mail.port",
                    "port 0 cannot be connected to; leave `port` out to use the usual port for `tls` (587 starttls, 465 implicit, 25 none)".to_owned(),
                );
                None
            }
            (Some(port), _) => Some(*port.get_ref()),
            (None, tls) => tls.map(SmtpTls::default_port),
        };
        let timeout = match &raw.timeout {
            None => Some(DEFAULT_SMTP_TIMEOUT),
            Some(timeout) => {
                let secs = timeout.get_ref().as_secs();
                if (1..=MAX_SMTP_TIMEOUT_SECS).contains(&secs) {
                    u64::try_from(secs).ok().map(Duration::from_secs)
                } else {
                    self.error(
                        timeout.span().start,
                        "mail.timeout",
                        format!(
                            "a timeout of {} is out of range; give 1s to {}m (default 30s): it bounds each wait for the relay, and the scheduler cannot feed systemd's watchdog while it waits",
                            timeout.get_ref(),
                            MAX_SMTP_TIMEOUT_SECS / 60
                        ),
                    );
                    None
                }
            }
        };
        let login = match (&raw.username, &raw.password) {
            (None, None) => None,
            (Some(username), None) => {
                self.error(
                    username.span().start,
                    "mail.password",
                    "`username` is set but `password` is not; add e.g. password = { credential = \"smtp-password\" }, or remove `username` for a relay that takes mail without login".to_owned(),
                );
                None
            }
            (None, Some(password)) => {
                self.error(
                    password.span().start,
                    "mail.username",
                    "`password` is set but `username` is not; the relay needs both to log in"
                        .to_owned(),
                );
                None
            }
            (Some(username), Some(password)) => {
                if username.get_ref().trim().is_empty() {
                    self.error(
                        username.span().start,
                        "mail.username",
                        "`username` is empty".to_owned(),
                    );
                }
                if let (Some(SmtpTls::None), Some(host)) = (tls, &host)
                    && !is_loopback(host)
                {
                    self.error(
                        raw.tls.as_ref().map_or(offset, |tls| tls.span().start),
                        "mail.tls",
                        format!(
                            "tls = \"none\" with a password would send the password in clear text to `{host}`: AUTH PLAIN and LOGIN only base64-encode it, so anyone on the network path can read and reuse it; use tls = \"starttls\" or \"implicit\", or a relay on this host (localhost, 127.0.0.1, ::1)"
                        ),
                    );
                }
                // Resolved now, so `check-config` and a reload catch a
                // missing credential before an escalation needs it.
                // A relative file path is the config directory's, as every path here is.
                let reference = password.get_ref().relative_to(base);
                let read = match self.secrets {
                    Secrets::Skip => Ok(SmtpPassword::NotRead(reference.clone())),
                    Secrets::Read | Secrets::ReadWhereReadable => {
                        match reference.resolve_with(env) {
                            Ok(secret) => Ok(SmtpPassword::Read(Arc::new(secret))),
                            Err(SecretError::NoCredentialsDirectory { .. })
                                if self.secrets == Secrets::ReadWhereReadable =>
                            {
                                Ok(SmtpPassword::NotRead(reference.clone()))
                            }
                            Err(error) => Err(error),
                        }
                    }
                };
                match read {
                    Ok(password) => Some(SmtpLogin {
                        username: username.get_ref().clone(),
                        password,
                    }),
                    Err(error) => {
                        self.error(
                            password.span().start,
                            "mail.password",
                            format!("cannot resolve the SMTP password: {error}"),
                        );
                        None
                    }
                }
            }
        };
        if self.errors.len() > start {
            return None;
        }
        Some(SmtpConfig {
            host: host?,
            port: port?,
            tls: tls?,
            login,
            timeout: timeout?,
        })
    }

    /// A bare host name or IP address: lettre takes the port separately
    /// and connects to exactly this name, which TLS also verifies.
    fn smtp_host(&mut self, host: &Spanned<String>) -> Option<String> {
        let text = host.get_ref().trim();
        let problem = if text.is_empty() {
            Some("`host` is empty".to_owned())
        } else if text.contains("://") {
            Some(format!(
                "`{text}` is a URL; write only the host name (e.g. `smtp.example.com`) and choose encryption with `tls`"
            ))
        } else if text.starts_with('[') {
            Some(format!("write the IPv6 address `{text}` without brackets"))
        } else if text.contains(':') && text.parse::<IpAddr>().is_err() {
            Some(format!(
                "`{text}` is not a host name; give the port separately as `port = …`"
            ))
        } else if text.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
            Some(format!("`{text}` is not a host name or IP address"))
        } else {
            None
        };
        match problem {
            Some(message) => {
                self.error(host.span().start, "mail.host", message);
                None
            }
            None => Some(text.to_owned()),
        }
    }
}
