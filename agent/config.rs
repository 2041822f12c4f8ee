//! `dutywatch.toml`: parsed into types that cannot hold a bad state.
//!
//! Loading is all-or-nothing: either every contractor, source and duty is
//! valid, or the caller gets every problem at once, each naming the file,
//! line and key, what is wrong and what is allowed. The daemon relies on
//! that: a reload with a broken file keeps the old config running.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dutywatch_checks::catalog::ControlRef;
use dutywatch_checks::crm::{Crm, CrmLoad, Location, RawCrmRow};
use dutywatch_checks::duty::{
    Continuous, Duty, DutyId, DutySpec, EventClock, Quantifier, Recurring, Rule, Step, validate_id,
};
use dutywatch_checks::lint::Severity;
use dutywatch_checks::party::Party;
use dutywatch_checks::period::Period;
use dutywatch_checks::predicate::{FieldPath, Predicate};
use jiff::tz::TimeZone;
use lettre::Address;
use serde::Deserialize;
use toml::Spanned;

use crate::schedule::Schedule;
use crate::secret::{Secret, SecretRef};

/// The source id a duty names to take hand-added evidence
/// (`dutywatch evidence add`) instead of a collector's.
pub const MANUAL_SOURCE: &str = "manual";

/// Re-evaluates every duty this often unless the config says otherwise, so
/// a duty turns due-soon or lapsed on time even when no evidence arrives.
const DEFAULT_EVALUATE: &str = "*/15 * * * *";

/// A validated configuration.
///
/// `Debug` is safe to log: the one secret it can hold (the SMTP password) is a [`Secret`],
/// which prints `[redacted]`.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub perspective: Perspective,
    pub timezone: TimeZone,
    pub database: PathBuf,
    pub evaluate: Schedule,
    pub mail: MailConfig,
    pub msp: MspInfo,
    pub contractors: Vec<Contractor>,
}

/// Whose duties this instance watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Perspective {
    /// Every duty of the contractor's CRM, whoever does it: the contractor
    /// is accountable for all of them.
    Contractor,
    /// Only what the MSP is responsible for (including its side of shared
    /// rows), across all of its clients.
    Msp,
}

impl Perspective {
    pub fn watches(self, duty: &Duty) -> bool {
        match self {
            Perspective::Contractor => true,
            Perspective::Msp => duty.responsible == Party::Msp,
        }
    }
}

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
    /// Shared, not copied: [`Secret`] is deliberately not `Clone`.
    pub password: Arc<Secret>,
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

#[derive(Debug)]
pub struct MspInfo {
    pub name: String,
    pub contacts: Vec<Address>,
}

/// One contractor: the MSP's client, or the organisation itself.
#[derive(Debug)]
pub struct Contractor {
    pub id: String,
    pub name: String,
    pub contacts: Vec<Address>,
    /// Who at the MSP answers for this client's duties.
    pub msp_contacts: Vec<Address>,
    pub packages: Vec<String>,
    pub crm: CrmLoad,
    pub sources: Vec<Source>,
    pub duties: Vec<Duty>,
}

impl Contractor {
    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    pub fn duty(&self, id: &str) -> Option<&Duty> {
        self.duties.iter().find(|d| d.id.as_str() == id)
    }

    pub fn contacts_of(&self, party: Party) -> &[Address] {
        match party {
            Party::Contractor => &self.contacts,
            Party::Msp => &self.msp_contacts,
        }
    }
}

/// An evidence collector.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub kind: SourceKind,
    pub schedule: Schedule,
    pub max_age: Option<Period>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// The newest file matching `pattern` (a path or glob).
    File {
        pattern: PathBuf,
        format: FileFormat,
        records: Option<FieldPath>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Json,
}

impl FileFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv",
            FileFormat::Json => "application/json",
        }
    }
}

/// One problem in a config, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(f, "{count} problem(s) in the configuration:")?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

// ---- raw TOML shape ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    perspective: Perspective,
    timezone: Spanned<String>,
    database: Option<String>,
    evaluate: Option<Spanned<String>>,
    mail: RawMail,
    msp: RawMsp,
    #[serde(default)]
    duty: Vec<Spanned<RawDuty>>,
    #[serde(default)]
    contractor: Vec<Spanned<RawContractor>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMail {
    from: Spanned<String>,
    transport: Spanned<RawTransport>,
    // file
    dir: Option<Spanned<String>>,
    // smtp
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    tls: Option<Spanned<SmtpTls>>,
    username: Option<Spanned<String>>,
    password: Option<Spanned<SecretRef>>,
    timeout: Option<Spanned<Period>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawTransport {
    File,
    Smtp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMsp {
    name: String,
    #[serde(default)]
    contacts: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContractor {
    id: Spanned<String>,
    name: String,
    contacts: Vec<Spanned<String>>,
    #[serde(default)]
    msp_contacts: Vec<Spanned<String>>,
    #[serde(default)]
    packages: Vec<String>,
    crm_file: Option<Spanned<String>>,
    #[serde(default)]
    crm: Vec<Spanned<RawInlineCrmRow>>,
    #[serde(default)]
    source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    duty: Vec<Spanned<RawDuty>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInlineCrmRow {
    id: Option<String>,
    owner: Option<String>,
    contractor_does: Option<String>,
    msp_does: Option<String>,
    evidence_producer: Option<String>,
    verification: Option<String>,
    package: Option<String>,
    justification: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    id: Spanned<String>,
    kind: RawSourceKind,
    path: Option<Spanned<String>>,
    format: Option<FileFormat>,
    records: Option<FieldPath>,
    schedule: Spanned<String>,
    max_age: Option<Period>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawSourceKind {
    File,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDuty {
    id: Spanned<String>,
    title: String,
    objectives: Vec<Spanned<String>>,
    party: Option<Party>,
    source: Spanned<String>,
    max_age: Option<Period>,
    label: Option<FieldPath>,
    rule: RawRuleKind,
    // recurring
    every: Option<Period>,
    warn_before: Option<Period>,
    completed_at: Option<FieldPath>,
    #[serde(rename = "where")]
    filter: Option<Predicate>,
    // continuous
    expect: Option<Quantifier>,
    check: Option<Predicate>,
    min_records: Option<usize>,
    tolerance: Option<Period>,
    // event clock
    event_id: Option<FieldPath>,
    #[serde(default)]
    step: Vec<RawStep>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawRuleKind {
    Recurring,
    Continuous,
    EventClock,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    starts: FieldPath,
    done: FieldPath,
    within: Period,
    warn_before: Option<Period>,
}

// ---- loading -------------------------------------------------------------

/// Reads and validates the config at `path`, CRM files included.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: None,
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        }])
    })?;
    parse(path, &text)
}

/// Validates config `text` as if read from `path` (relative paths in it
/// are resolved against the directory of `path`). Secrets it names are
/// resolved against the process environment.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    parse_with_env(path, text, &|name| std::env::var(name).ok())
}

/// [`parse`] with `env` standing in for the process environment when
/// resolving secrets, so tests need not mutate global state.
pub fn parse_with_env(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut cx = Context {
        file: path.to_owned(),
        text,
        errors: Vec::new(),
    };
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let line = error.span().map(|span| cx.line(span.start));
            return Err(ConfigErrors(vec![ConfigError {
                file: path.to_owned(),
                line,
                key: String::new(),
                message: error.message().trim_end().to_owned(),
            }]));
        }
    };
    let base = path.parent().map(Path::to_owned).unwrap_or_default();

    let timezone = match TimeZone::get(raw.timezone.get_ref()) {
        Ok(zone) => Some(zone),
        Err(_) => {
            cx.error(
                raw.timezone.span().start,
                "timezone",
                format!(
                    "`{}` is not an IANA time zone; write e.g. `America/New_York` or `UTC`",
                    raw.timezone.get_ref()
                ),
            );
            None
        }
    };
    let zone = timezone.clone().unwrap_or(TimeZone::UTC);

    let evaluate = match &raw.evaluate {
        Some(line) => cx.schedule(line, "evaluate", &zone),
        None => Schedule::parse(DEFAULT_EVALUATE, zone.clone()).ok(),
    };

    let from = cx.mailbox(&raw.mail.from, "mail.from");
    let transport = cx.transport(&raw.mail, &base, env);
    let msp = MspInfo {
        name: raw.msp.name.clone(),
        contacts: cx.addresses(&raw.msp.contacts, "msp.contacts"),
    };

    match (raw.perspective, raw.contractor.len()) {
        (_, 0) => cx.error_at_line(
            None,
            "contractor",
            "no [[contractor]] is configured; add one with its id, name, contacts, CRM, sources and duties".to_owned(),
        ),
        (Perspective::Contractor, n) if n > 1 => cx.error(
            raw.contractor[1].span().start,
            "contractor",
            format!(
                "perspective = \"contractor\" watches one contractor, but {n} are configured; an MSP watching several clients uses perspective = \"msp\""
            ),
        ),
        _ => {}
    }
    if raw.perspective == Perspective::Msp && msp.contacts.is_empty() && raw.msp.contacts.is_empty()
    {
        cx.error_at_line(
            None,
            "msp.contacts",
            "perspective = \"msp\" needs at least one MSP contact to escalate to".to_owned(),
        );
    }

    let mut contractors = Vec::new();
    let mut seen_ids = BTreeSet::new();
    for raw_contractor in &raw.contractor {
        let id = raw_contractor.get_ref().id.get_ref().clone();
        if !seen_ids.insert(id.clone()) {
            cx.error(
                raw_contractor.get_ref().id.span().start,
                "contractor.id",
                format!("contractor `{id}` is configured twice"),
            );
            continue;
        }
        if let Some(contractor) = cx.contractor(raw_contractor, &raw.duty, &base, &zone, &msp) {
            contractors.push(contractor);
        }
    }

    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    let (Some(timezone), Some(evaluate), Some(from), Some(transport)) =
        (timezone, evaluate, from, transport)
    else {
        // Each of these pushed an error when it failed.
        return Err(ConfigErrors(cx.errors));
    };
    let database = match raw.database {
        Some(database) => resolve(&base, &database),
        None => crate::systemd::state_dir()
            .unwrap_or_else(|| base.join("state"))
            .join("dutywatch.db"),
    };
    Ok(Config {
        path: path.to_owned(),
        perspective: raw.perspective,
        timezone,
        database,
        evaluate,
        mail: MailConfig { from, transport },
        msp,
        contractors,
    })
}

/// A relay on this host: clear text to it never crosses a network.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

struct Context<'a> {
    file: PathBuf,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Context<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn error(&mut self, offset: usize, key: &str, message: String) {
        let line = Some(self.line(offset));
        self.error_at_line(line, key, message);
    }

    fn error_at_line(&mut self, line: Option<usize>, key: &str, message: String) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line,
            key: key.to_owned(),
            message,
        });
    }

    fn schedule(&mut self, line: &Spanned<String>, key: &str, zone: &TimeZone) -> Option<Schedule> {
        match Schedule::parse(line.get_ref(), zone.clone()) {
            Ok(schedule) => Some(schedule),
            Err(error) => {
                self.error(line.span().start, key, error.to_string());
                None
            }
        }
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
        for (field, at) in present {
            if let Some(at) = at
                && !allowed.contains(&field)
            {
                self.error(
                    at,
                    &format!("mail.{field}"),
                    format!(
                        "`{field}` does not apply to transport = \"{name}\" (it takes: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        let transport = match kind {
            RawTransport::File => Some(Transport::File {
                dir: resolve(
                    base,
                    raw.dir
                        .as_ref()
                        .map_or("outbox", |dir| dir.get_ref().as_str()),
                ),
            }),
            RawTransport::Smtp => self.smtp(raw, offset, env).map(Transport::Smtp),
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
                match password.get_ref().resolve_with(env) {
                    Ok(secret) => Some(SmtpLogin {
                        username: username.get_ref().clone(),
                        password: Arc::new(secret),
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

    fn addresses(&mut self, texts: &[Spanned<String>], key: &str) -> Vec<Address> {
        texts
            .iter()
            .filter_map(|text| match text.get_ref().trim().parse::<Address>() {
                Ok(address) => Some(address),
                Err(error) => {
                    self.error(
                        text.span().start,
                        key,
                        format!("`{}` is not a mail address: {error}", text.get_ref()),
                    );
                    None
                }
            })
            .collect()
    }

    fn id(&mut self, id: &Spanned<String>, key: &str) -> bool {
        match validate_id(id.get_ref()) {
            Ok(()) => true,
            Err(error) => {
                self.error(id.span().start, key, error.to_string());
                false
            }
        }
    }

    fn contractor(
        &mut self,
        raw: &Spanned<RawContractor>,
        shared_duties: &[Spanned<RawDuty>],
        base: &Path,
        zone: &TimeZone,
        msp: &MspInfo,
    ) -> Option<Contractor> {
        let start = self.errors.len();
        let raw = raw.get_ref();
        let id = raw.id.get_ref().clone();
        let key = format!("contractor[{id}]");
        self.id(&raw.id, &format!("{key}.id"));
        let contacts = self.addresses(&raw.contacts, &format!("{key}.contacts"));
        if raw.contacts.is_empty() {
            self.error(
                raw.id.span().start,
                &format!("{key}.contacts"),
                "a contractor needs at least one contact: duties escalate to it and it is accountable for all of them".to_owned(),
            );
        }
        let mut msp_contacts = self.addresses(&raw.msp_contacts, &format!("{key}.msp_contacts"));
        if msp_contacts.is_empty() {
            msp_contacts = msp.contacts.clone();
        }

        let crm = self.crm(raw, base, &key)?;

        let mut sources = Vec::new();
        for raw_source in &raw.source {
            if let Some(source) = self.source(raw_source, base, zone, &key) {
                if sources.iter().any(|s: &Source| s.id == source.id) {
                    self.error(
                        raw_source.span().start,
                        &format!("{key}.source"),
                        format!("source `{}` is configured twice", source.id),
                    );
                } else {
                    sources.push(source);
                }
            }
        }

        // Duties may name a source whose own definition is broken: that is
        // one problem, reported at the source, not one more per duty.
        let declared_sources: Vec<String> = raw
            .source
            .iter()
            .map(|s| s.get_ref().id.get_ref().clone())
            .collect();
        let ownership = crm.crm.ownership(Some(&raw.packages));
        let mut duties: Vec<Duty> = Vec::new();
        for raw_duty in shared_duties.iter().chain(&raw.duty) {
            let Some(spec) = self.duty_spec(raw_duty, &key, &declared_sources) else {
                continue;
            };
            if duties.iter().any(|d| d.id == spec.id) {
                self.error(
                    raw_duty.get_ref().id.span().start,
                    &format!("{key}.duty"),
                    format!("duty `{}` is configured twice for this contractor", spec.id),
                );
                continue;
            }
            let source_max_age = sources
                .iter()
                .find(|s| s.id == spec.source)
                .and_then(|s| s.max_age);
            match spec.assign(&ownership) {
                Ok(mut duty) => {
                    duty.max_age = duty.max_age.or(source_max_age);
                    duties.push(duty);
                }
                Err(error) => self.error(
                    raw_duty
                        .get_ref()
                        .objectives
                        .first()
                        .map_or(raw_duty.span().start, |o| o.span().start),
                    &format!("{key}.duty[{}].objectives", raw_duty.get_ref().id.get_ref()),
                    error.to_string(),
                ),
            }
        }

        if self.errors.len() > start {
            return None;
        }
        Some(Contractor {
            id,
            name: raw.name.clone(),
            contacts,
            msp_contacts,
            packages: raw.packages.clone(),
            crm,
            sources,
            duties,
        })
    }

    fn crm(&mut self, raw: &RawContractor, base: &Path, key: &str) -> Option<CrmLoad> {
        match (&raw.crm_file, raw.crm.is_empty()) {
            (Some(file), true) => {
                let path = resolve(base, file.get_ref());
                match std::fs::read(&path) {
                    Ok(bytes) => Some(Crm::from_csv(&path.display().to_string(), &bytes)),
                    Err(error) => {
                        self.error(
                            file.span().start,
                            &format!("{key}.crm_file"),
                            format!("cannot read the CRM `{}`: {error}", path.display()),
                        );
                        None
                    }
                }
            }
            (None, false) => {
                let rows = raw
                    .crm
                    .iter()
                    .map(|row| {
                        let location = Location {
                            file: self.file.display().to_string(),
                            line: u32::try_from(self.line(row.span().start)).unwrap_or(u32::MAX),
                        };
                        let row = row.get_ref();
                        RawCrmRow {
                            location,
                            id: row.id.clone(),
                            owner: row.owner.clone(),
                            contractor_does: row.contractor_does.clone(),
                            msp_does: row.msp_does.clone(),
                            evidence_producer: row.evidence_producer.clone(),
                            verification: row.verification.clone(),
                            package: row.package.clone(),
                            justification: row.justification.clone(),
                        }
                    })
                    .collect();
                Some(Crm::from_raw(rows))
            }
            (Some(file), false) => {
                self.error(
                    file.span().start,
                    &format!("{key}.crm_file"),
                    "give the CRM either as crm_file or as inline [[contractor.crm]] rows, not both".to_owned(),
                );
                None
            }
            (None, true) => {
                self.error(
                    raw.id.span().start,
                    &format!("{key}.crm_file"),
                    "no CRM: set crm_file = \"crm.csv\" or add [[contractor.crm]] rows".to_owned(),
                );
                None
            }
        }
    }

    fn source(
        &mut self,
        raw: &Spanned<RawSource>,
        base: &Path,
        zone: &TimeZone,
        contractor: &str,
    ) -> Option<Source> {
        let start = self.errors.len();
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let id = raw.id.get_ref().clone();
        let key = format!("{contractor}.source[{id}]");
        self.id(&raw.id, &format!("{key}.id"));
        if id == MANUAL_SOURCE {
            self.error(
                raw.id.span().start,
                &format!("{key}.id"),
                format!("`{MANUAL_SOURCE}` is reserved for evidence added with `dutywatch evidence add`; pick another id"),
            );
        }
        let schedule = self.schedule(&raw.schedule, &format!("{key}.schedule"), zone);
        let kind = match raw.kind {
            RawSourceKind::File => {
                let Some(path) = &raw.path else {
                    self.error(
                        offset,
                        &format!("{key}.path"),
                        "a file source needs `path` (a file or a glob such as `exports/*.csv`)"
                            .to_owned(),
                    );
                    return None;
                };
                let pattern = resolve(base, path.get_ref());
                let format = raw.format.or_else(|| {
                    match pattern
                        .extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref()
                    {
                        Some("csv") => Some(FileFormat::Csv),
                        Some("json") => Some(FileFormat::Json),
                        _ => None,
                    }
                });
                let Some(format) = format else {
                    self.error(path.span().start, &format!("{key}.format"), "cannot tell the format from the file name; set format = \"csv\" or \"json\"".to_owned());
                    return None;
                };
                if glob::Pattern::new(&pattern.to_string_lossy()).is_err() {
                    self.error(
                        path.span().start,
                        &format!("{key}.path"),
                        format!("`{}` is not a valid glob", path.get_ref()),
                    );
                }
                SourceKind::File {
                    pattern,
                    format,
                    records: raw.records.clone(),
                }
            }
        };
        if self.errors.len() > start {
            return None;
        }
        Some(Source {
            id,
            kind,
            schedule: schedule?,
            max_age: raw.max_age,
        })
    }

    fn duty_spec(
        &mut self,
        raw: &Spanned<RawDuty>,
        contractor: &str,
        sources: &[String],
    ) -> Option<DutySpec> {
        let start = self.errors.len();
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let key = format!("{contractor}.duty[{}]", raw.id.get_ref());
        let id: Option<DutyId> = match raw.id.get_ref().parse() {
            Ok(id) => Some(id),
            Err(error) => {
                self.error(raw.id.span().start, &format!("{key}.id"), error.to_string());
                None
            }
        };
        let mut controls = Vec::new();
        for objective in &raw.objectives {
            match objective.get_ref().parse::<ControlRef>() {
                Ok(control) => controls.push(control),
                Err(error) => self.error(
                    objective.span().start,
                    &format!("{key}.objectives"),
                    error.to_string(),
                ),
            }
        }
        if raw.objectives.is_empty() {
            self.error(offset, &format!("{key}.objectives"), "a duty must serve at least one requirement or objective, e.g. [\"3.1.1\"] or [\"3.5.3[b]\"]".to_owned());
        }
        let source = raw.source.get_ref();
        let manual = source == MANUAL_SOURCE;
        if !manual && !sources.contains(source) {
            let known: Vec<&str> = sources.iter().map(String::as_str).collect();
            self.error(
                raw.source.span().start,
                &format!("{key}.source"),
                format!(
                    "no source `{source}` is configured for this contractor; known: {}, or `{MANUAL_SOURCE}` for hand-added evidence",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            );
        }

        // Say exactly which keys do not belong to the chosen rule, instead
        // of silently ignoring them.
        let present: BTreeMap<&str, bool> = BTreeMap::from([
            ("every", raw.every.is_some()),
            ("warn_before", raw.warn_before.is_some()),
            ("completed_at", raw.completed_at.is_some()),
            ("where", raw.filter.is_some()),
            ("expect", raw.expect.is_some()),
            ("check", raw.check.is_some()),
            ("min_records", raw.min_records.is_some()),
            ("tolerance", raw.tolerance.is_some()),
            ("event_id", raw.event_id.is_some()),
            ("step", !raw.step.is_empty()),
        ]);
        let (name, allowed): (&str, &[&str]) = match raw.rule {
            RawRuleKind::Recurring => (
                "recurring",
                &["every", "warn_before", "completed_at", "where"],
            ),
            RawRuleKind::Continuous => (
                "continuous",
                &["expect", "check", "min_records", "tolerance", "where"],
            ),
            RawRuleKind::EventClock => ("event_clock", &["event_id", "step", "where"]),
        };
        for (field, is_set) in &present {
            if *is_set && !allowed.contains(field) {
                self.error(
                    offset,
                    &format!("{key}.{field}"),
                    format!(
                        "`{field}` does not apply to rule = \"{name}\" (it takes: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        let mut required = |field: &str, value: bool| {
            if !value {
                self.error(
                    offset,
                    &format!("{key}.{field}"),
                    format!("rule = \"{name}\" needs `{field}`"),
                );
            }
        };
        let rule = match raw.rule {
            RawRuleKind::Recurring => {
                required("every", raw.every.is_some());
                let completed_at = match (&raw.completed_at, manual) {
                    (Some(field), _) => Some(field.clone()),
                    // Hand-added evidence carries its completion time here.
                    (None, true) => "completed_at".parse().ok(),
                    (None, false) => {
                        required("completed_at", false);
                        None
                    }
                };
                match (raw.every, completed_at) {
                    (Some(every), Some(completed_at)) => Some(Rule::Recurring(Recurring {
                        every,
                        warn_before: raw.warn_before.unwrap_or_else(|| default_warning(every)),
                        completed_at,
                        filter: raw.filter.clone(),
                    })),
                    _ => None,
                }
            }
            RawRuleKind::Continuous => {
                required("check", raw.check.is_some());
                required("tolerance", raw.tolerance.is_some());
                let expect = raw.expect.unwrap_or(Quantifier::All);
                match (&raw.check, raw.tolerance) {
                    (Some(check), Some(tolerance)) => Some(Rule::Continuous(Continuous {
                        expect,
                        filter: raw.filter.clone(),
                        check: check.clone(),
                        // "none may fail" is satisfied by an empty report; "all must
                        // pass" and "one must pass" need at least one record.
                        min_records: raw
                            .min_records
                            .unwrap_or(usize::from(expect != Quantifier::None)),
                        tolerance,
                    })),
                    _ => None,
                }
            }
            RawRuleKind::EventClock => {
                required("event_id", raw.event_id.is_some());
                required("step", !raw.step.is_empty());
                raw.event_id.clone().map(|event_id| {
                    Rule::EventClock(EventClock {
                        event_id,
                        filter: raw.filter.clone(),
                        steps: raw
                            .step
                            .iter()
                            .map(|step| Step {
                                name: step.name.clone(),
                                starts: step.starts.clone(),
                                done: step.done.clone(),
                                within: step.within,
                                // An open incident clock is urgent from its first minute.
                                warn_before: step.warn_before.unwrap_or(step.within),
                            })
                            .collect(),
                    })
                })
            }
        };
        if self.errors.len() > start {
            return None;
        }
        Some(DutySpec {
            id: id?,
            title: raw.title.clone(),
            controls,
            party: raw.party,
            source: source.clone(),
            max_age: if manual { None } else { raw.max_age },
            label: raw.label.clone(),
            rule: rule?,
        })
    }
}

/// A sixth of the period, at most 30 days: 90d warns 15d ahead, 24h warns 4h.
fn default_warning(every: Period) -> Period {
    Period::from_secs((every.as_secs() / 6).min(30 * 86_400))
}

/// CRM findings as config-level messages for `check-config` and start-up.
pub fn crm_problems(contractor: &Contractor) -> Vec<String> {
    dutywatch_checks::lint::lint(&contractor.crm, Some(&contractor.packages))
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("contractor[{}]: {f}", contractor.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "hunter2-correct-horse";

    /// A minimal valid config whose `[mail]` table is `from` plus `mail`.
    fn text(mail: &str) -> String {
        format!(
            r#"perspective = "contractor"
timezone = "UTC"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@acme.example"
{mail}

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]

[[contractor.crm]]
id = "3.1.1"
owner = "contractor"
contractor_does = "Approves access"
"#
        )
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "SMTP_PASSWORD" => Some(PASSWORD.to_owned()),
            _ => None,
        }
    }

    fn parse_mail(mail: &str) -> Result<Config, ConfigErrors> {
        parse_with_env(
            Path::new("/etc/dutywatch/dutywatch.toml"),
            &text(mail),
            &env,
        )
    }

    fn smtp(mail: &str) -> SmtpConfig {
        match parse_mail(mail) {
            Ok(config) => match config.mail.transport {
                Transport::Smtp(smtp) => smtp,
                other => panic!("not smtp: {other:?}"),
            },
            Err(errors) => panic!("{errors}"),
        }
    }

    /// The one error a `[mail]` table gives, as `line: key: message`.
    fn error(mail: &str) -> (Option<usize>, String, String) {
        match parse_mail(mail) {
            Ok(config) => panic!("should fail: {config:?}"),
            Err(ConfigErrors(errors)) => {
                assert_eq!(errors.len(), 1, "{errors:#?}");
                let error = errors.into_iter().next().unwrap();
                (error.line, error.key, error.message)
            }
        }
    }

    #[test]
    fn smtp_with_a_login_resolves_the_password_at_load() {
        let smtp = smtp(
            r#"transport = "smtp"
host = "smtp.example.com"
tls = "starttls"
username = "dutywatch@acme.example"
password = { env = "SMTP_PASSWORD" }"#,
        );
        assert_eq!(smtp.host, "smtp.example.com");
        assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::Starttls));
        assert_eq!(smtp.timeout, Duration::from_secs(30));
        assert_eq!(smtp.relay(), "smtp.example.com:587");
        let login = smtp.login.expect("a login");
        assert_eq!(login.username, "dutywatch@acme.example");
        assert_eq!(login.password.expose(), PASSWORD);
    }

    #[test]
    fn config_debug_never_prints_the_password() {
        let config = parse_mail(
            r#"transport = "smtp"
host = "smtp.example.com"
tls = "implicit"
username = "dutywatch"
password = { env = "SMTP_PASSWORD" }"#,
        )
        .unwrap();
        let debug = format!("{config:?} {config:#?}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn the_port_defaults_by_tls_mode_and_can_be_set() {
        let port = |mail: &str| smtp(mail).port;
        assert_eq!(
            port("transport = \"smtp\"\nhost = \"relay\"\ntls = \"implicit\""),
            465
        );
        assert_eq!(
            port("transport = \"smtp\"\nhost = \"relay\"\ntls = \"none\""),
            25
        );
        assert_eq!(
            port("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nport = 2525"),
            2525
        );
        let smtp = smtp("transport = \"smtp\"\nhost = \"::1\"\ntls = \"none\"\ntimeout = \"10s\"");
        assert_eq!(smtp.timeout, Duration::from_secs(10));
        assert_eq!(smtp.relay(), "[::1]:25");
    }

    #[test]
    fn tls_is_required_and_never_guessed() {
        let (line, key, message) = error("transport = \"smtp\"\nhost = \"relay\"\nport = 465");
        assert_eq!((line, key.as_str()), (Some(7), "mail.tls"));
        assert!(
            message.contains("is not guessed from the port"),
            "{message}"
        );

        let Err(errors) = parse_mail("transport = \"smtp\"\nhost = \"relay\"\ntls = \"ssl\"")
        else {
            panic!("`ssl` is not a tls mode");
        };
        let text = errors.to_string();
        assert!(text.contains("dutywatch.toml:9"), "{text}");
        assert!(
            text.contains("starttls") && text.contains("implicit"),
            "{text}"
        );
    }

    #[test]
    fn host_is_required_and_bare() {
        let (line, key, _) = error("transport = \"smtp\"\ntls = \"starttls\"");
        assert_eq!((line, key.as_str()), (Some(7), "mail.host"));
        for (host, says) in [
            ("smtps://smtp.example.com", "is a URL"),
            ("smtp.example.com:587", "give the port separately"),
            ("[::1]", "without brackets"),
            ("", "is empty"),
        ] {
            let (line, key, message) = error(&format!(
                "transport = \"smtp\"\ntls = \"starttls\"\nhost = \"{host}\""
            ));
            assert_eq!((line, key.as_str()), (Some(9), "mail.host"), "{host}");
            assert!(message.contains(says), "{host}: {message}");
        }
    }

    #[test]
    fn username_and_password_come_together() {
        let (line, key, message) =
            error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nusername = \"dw\"");
        assert_eq!((line, key.as_str()), (Some(10), "mail.password"));
        assert!(
            message.contains("`username` is set but `password` is not"),
            "{message}"
        );

        let (line, key, message) = error(
            "transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\npassword = { env = \"SMTP_PASSWORD\" }",
        );
        assert_eq!((line, key.as_str()), (Some(10), "mail.username"));
        assert!(
            message.contains("`password` is set but `username` is not"),
            "{message}"
        );
    }

    #[test]
    fn a_password_in_clear_text_goes_only_to_this_host() {
        let login = "username = \"dw\"\npassword = { env = \"SMTP_PASSWORD\" }";
        let (line, key, message) = error(&format!(
            "transport = \"smtp\"\nhost = \"smtp.example.com\"\ntls = \"none\"\n{login}"
        ));
        assert_eq!((line, key.as_str()), (Some(9), "mail.tls"));
        assert!(
            message.contains("send the password in clear text to `smtp.example.com`"),
            "{message}"
        );
        for host in ["localhost", "127.0.0.1", "127.0.0.2", "::1"] {
            let smtp = smtp(&format!(
                "transport = \"smtp\"\nhost = \"{host}\"\ntls = \"none\"\n{login}"
            ));
            assert!(smtp.login.is_some(), "{host}");
        }
        // Without a password there is nothing to leak but the mail itself,
        // which an MTA relaying on port 25 sees anyway.
        assert!(
            smtp("transport = \"smtp\"\nhost = \"mx.example.com\"\ntls = \"none\"")
                .login
                .is_none()
        );
    }

    #[test]
    fn a_missing_credential_fails_the_load_and_names_it() {
        let (line, key, message) = error(
            "transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nusername = \"dw\"\npassword = { credential = \"smtp-password\" }",
        );
        assert_eq!((line, key.as_str()), (Some(11), "mail.password"));
        assert_eq!(
            message,
            "cannot resolve the SMTP password: credential smtp-password needs $CREDENTIALS_DIRECTORY, \
             which is not set; add LoadCredential=smtp-password:<path> to the systemd unit"
        );
    }

    #[test]
    fn keys_of_the_other_transport_are_named() {
        let (line, key, message) = error("transport = \"file\"\nhost = \"relay\"");
        assert_eq!((line, key.as_str()), (Some(8), "mail.host"));
        assert_eq!(
            message,
            "`host` does not apply to transport = \"file\" (it takes: dir)"
        );
        let (_, key, message) =
            error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\ndir = \"outbox\"");
        assert_eq!(key, "mail.dir");
        assert!(
            message.starts_with("`dir` does not apply to transport = \"smtp\""),
            "{message}"
        );
    }

    #[test]
    fn port_and_timeout_must_be_usable() {
        let (_, key, _) =
            error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\nport = 0");
        assert_eq!(key, "mail.port");
        let (_, key, message) =
            error("transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\ntimeout = \"6m\"");
        assert_eq!(key, "mail.timeout");
        assert!(message.contains("out of range"), "{message}");
        // Zero is no period at all; the parser says so, with the line.
        let Err(errors) = parse_mail(
            "transport = \"smtp\"\nhost = \"relay\"\ntls = \"starttls\"\ntimeout = \"0s\"",
        ) else {
            panic!("a zero timeout must fail");
        };
        assert!(errors.to_string().contains("longer than zero"), "{errors}");
    }
}
