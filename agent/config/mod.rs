//! `dutywatch.toml`: parsed into types that cannot hold a bad state.
//!
//! Every problem is reported at once, each naming the file, line and key,
//! what is wrong and what is allowed. With `perspective = "contractor"`
//! loading is all-or-nothing. With `perspective = "msp"` a client whose own
//! part (CRM, sources, duties, contacts) fails is *quarantined* with its
//! errors and every other client loads ([`Config::quarantined`]); a problem
//! outside any client (top-level syntax, timezone, mail, `[msp]`, kinds, a
//! client id given twice) still fails the whole config. The daemon relies
//! on that: a reload with a broken file keeps the old config running, and a
//! client that breaks on reload keeps its last good config.
//!
//! This module holds the top-level types, the entry points and `Context`,
//! which collects located errors; each part of the file is validated in its
//! own submodule, from the serde shapes in `raw`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dutywatch_checks::duty::{Duty, validate_id};
use dutywatch_checks::kind::{Empty, EvidenceKind, Field, FieldType, Kinds};
use dutywatch_checks::party::Party;
use dutywatch_checks::predicate::FieldPath;
use jiff::tz::TimeZone;
use lettre::Address;
use serde::Deserialize;
use toml::Spanned;

use crate::schedule::Schedule;
#[cfg(doc)]
use crate::secret::Secret;

mod cmmc;
mod connector;
mod contractor;
mod digest;
mod duty;
mod escalation;
mod incidents;
mod join;
mod library;
mod mail;
mod raw;
mod refused;
mod runtime;
mod source;
#[cfg(test)]
mod tests;
mod zone;

pub use cmmc::Cmmc;
pub use connector::{
    Api, ApiAuth, Connector, ConnectorInput, NextPage, NinjaQuery, Vendor, pointer_path,
};
pub use contractor::{ContactRole, Contractor, CrmFile, crm_problems, crm_warnings};
pub use digest::{DigestConfig, SprsConfig};
pub use escalation::{EscalationConfig, PolicyOverride};
pub use incidents::{DEFAULT_INCIDENT_CHECK, IncidentConfig};
pub use mail::{MailConfig, SmtpConfig, SmtpLogin, SmtpPassword, SmtpTls, Transport};
pub use runtime::{DEFAULT_MAX_CONCURRENT_COLLECTIONS, DEFAULT_SHUTDOWN_GRACE, RuntimeConfig};
pub use source::{
    ARM_RESOURCES, ArmResource, ArmSource, ClientSecret, Cloud, DEFAULT_MAX_BYTES, FileFormat,
    GRAPH_RESOURCES, GraphResource, GraphShape, GraphSource, MAX_MAX_BYTES, Source, SourceKind,
    describe_size, parse_size,
};

use raw::{RawConfig, RawEmpty, RawKind};

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
    /// The text it was read from: kept, written out again without comments and without the
    /// quarantined clients' blocks, as the last good config of each client that loaded from
    /// it (`daemon::remember_good`).
    pub text: Arc<str>,
    pub perspective: Perspective,
    pub timezone: TimeZone,
    pub database: PathBuf,
    pub evaluate: Schedule,
    pub mail: MailConfig,
    pub msp: MspInfo,
    pub contractors: Vec<Contractor>,
    /// The evidence kinds sources may declare: built in, and the config's own.
    pub kinds: Kinds,
    /// MSP clients whose part of the config does not load, with their errors. Always empty
    /// for `perspective = "contractor"`, where any error fails the whole config.
    pub quarantined: Vec<Quarantined>,
    /// `[digest]`: when the weekly digest is made; `None` makes none.
    pub digest: Option<DigestConfig>,
    /// `[sprs]`: the duties that show the partial-credit facts.
    pub sprs: SprsConfig,
    /// `[incidents]`: the incident clocks' schedule and policy.
    pub incidents: IncidentConfig,
    /// `[escalation]`: the ladder, and where reports are linked to.
    pub escalation: EscalationConfig,
    /// `[runtime]`: collections at once, the shutdown grace.
    pub runtime: RuntimeConfig,
}

/// The duty id under which a quarantined client's state is recorded (`source_error`), so its
/// escalation to the MSP goes through the usual history and outbox: decided once.
pub const CLIENT_CONFIG_DUTY: &str = "client-config";

/// An MSP client left out because its part of the config does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: String,
    pub name: String,
    pub errors: Vec<ConfigError>,
    /// Whether an earlier, good config of this client keeps running (the daemon sets it when
    /// a reload breaks a client it was already watching, or when the database kept the config
    /// it last loaded from: `daemon::restore_last_good`); `false` from the loader.
    pub last_good: bool,
}

impl Quarantined {
    /// One line for logs, status and mail: how many problems and the first few.
    pub fn summary(&self) -> String {
        const SHOWN: usize = 3;
        let mut shown: Vec<String> = self
            .errors
            .iter()
            .take(SHOWN)
            .map(ToString::to_string)
            .collect();
        if self.errors.len() > SHOWN {
            shown.push(format!("and {} more", self.errors.len() - SHOWN));
        }
        let running = if self.last_good {
            "its last good config keeps running"
        } else {
            "none of its duties is watched"
        };
        format!(
            "client config does not load, {running} until it is fixed; {} problem(s): {} (run `dutywatch check-config`)",
            self.errors.len(),
            shown.join("; ")
        )
    }
}

impl Config {
    pub fn quarantined(&self, id: &str) -> Option<&Quarantined> {
        self.quarantined.iter().find(|q| q.id == id)
    }

    /// Every error of the quarantined clients, in their order.
    pub fn quarantine_errors(&self) -> ConfigErrors {
        ConfigErrors(
            self.quarantined
                .iter()
                .flat_map(|q| q.errors.iter().cloned())
                .collect(),
        )
    }
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
pub struct MspInfo {
    pub name: String,
    pub contacts: Vec<Address>,
    /// The defaults of every client's `msp_backup_contacts` and `msp_management_contacts`.
    pub backup_contacts: Vec<Address>,
    pub management_contacts: Vec<Address>,
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
        // It may quote what the config holds, control characters included.
        write!(
            f,
            ": {}",
            dutywatch_checks::printable::printable(&self.message)
        )
    }
}

/// Every problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(f, "{count} problem(s) in the configuration:")?;
        // In the order of the file, as they are fixed, not of the checks that found them.
        let mut errors: Vec<&ConfigError> = self.0.iter().collect();
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        for error in errors {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

/// What loading a config does with the secrets it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Read them all; one that cannot be read is a config error. For what sends mail (`run`,
    /// a reload, `once`): a missing credential shows before an escalation needs it.
    Read,
    /// Like `Read`, except that a systemd credential is left unread outside the service (no
    /// `$CREDENTIALS_DIRECTORY`): `check-config` from an administrator's shell.
    ReadWhereReadable,
    /// Read none: for commands that send no mail (`status`, `backup`, `evidence …`), so an
    /// administrator's shell can run them on the production config.
    Skip,
}

/// Reads and validates the config at `path`, CRM files included, reading its secrets.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, Secrets::Read)
}

/// [`load`], doing with the secrets what `secrets` says.
pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigErrors> {
    let error = |line: Option<usize>, message: String| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line,
            key: String::new(),
            message,
        }])
    };
    let bytes = std::fs::read(path)
        .map_err(|e| error(None, format!("cannot read the config file: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        error(
            Some(line),
            "is not UTF-8 text; save the config as UTF-8".to_owned(),
        )
    })?;
    parse_with(path, &text, &|name| std::env::var(name).ok(), secrets)
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
    parse_with(path, text, env, Secrets::Read)
}

/// [`parse_with_env`], doing with the secrets what `secrets` says.
pub fn parse_with(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: Secrets,
) -> Result<Config, ConfigErrors> {
    let mut cx = Context {
        file: path.to_owned(),
        text,
        errors: Vec::new(),
        secrets,
        env,
        kinds: Kinds::default(),
        schedules: std::collections::HashMap::new(),
        document: std::cell::OnceCell::new(),
        newlines: std::cell::OnceCell::new(),
        refused_kinds: Vec::new(),
    };
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let line = error.span().map(|span| cx.line(span.start));
            let key = error
                .span()
                .map(|span| toml_key_at(text, span.start))
                .unwrap_or_default();
            let message = error.message().trim_end();
            let hint = read_hint(message, &key);
            // The file is read as a whole: what comes after this problem was not checked.
            return Err(ConfigErrors(vec![ConfigError {
                file: path.to_owned(),
                line,
                key,
                message: format!(
                    "{message}{hint} (reading stopped here: fix this and run `dutywatch check-config` again to see any other problem)"
                ),
            }]));
        }
    };
    let base = config_dir(path);

    let timezone = cx.time_zone(
        &raw.timezone,
        "timezone",
        "write e.g. `America/New_York` or `UTC`",
    );
    let zone = timezone.clone().unwrap_or(TimeZone::UTC);

    let evaluate = match &raw.evaluate {
        Some(line) => cx.schedule(line, "evaluate", &zone),
        None => Schedule::parse(DEFAULT_EVALUATE, zone.clone()).ok(),
    };

    // A section that does not read is reported and taken as absent: the rest is still read,
    // and the config fails all the same.
    let raw_incidents = raw
        .incidents
        .as_ref()
        .and_then(|part| cx.section(part, "incidents", None));
    let incidents = cx.incidents(raw_incidents.map(Spanned::get_ref), &zone);
    for (index, entry) in raw.kind.iter().enumerate() {
        let path = [("kind", Some(index))];
        match cx.lenient(entry, &path, "kind", "this [[kind]] was not read") {
            Ok(raw_kind) => cx.kind(raw_kind),
            Err(table) => cx
                .refused_kinds
                .extend(table.and_then(|table| table.word("name"))),
        }
    }
    let mail = cx
        .section(&raw.mail, "mail", None)
        .and_then(|raw_mail| cx.mail(raw_mail.get_ref(), &base, env));
    let raw_msp = cx.section(&raw.msp, "msp", None).map(Spanned::get_ref);
    let msp = match raw_msp {
        Some(raw_msp) => MspInfo {
            name: raw_msp.name.clone(),
            contacts: cx.addresses(&raw_msp.contacts, "msp.contacts"),
            backup_contacts: cx.addresses(&raw_msp.backup_contacts, "msp.backup_contacts"),
            management_contacts: cx
                .addresses(&raw_msp.management_contacts, "msp.management_contacts"),
        },
        None => MspInfo {
            name: String::new(),
            contacts: Vec::new(),
            backup_contacts: Vec::new(),
            management_contacts: Vec::new(),
        },
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
    if raw.perspective == Perspective::Msp
        && msp.contacts.is_empty()
        && raw_msp.is_some_and(|raw_msp| raw_msp.contacts.is_empty())
    {
        cx.error_at_line(
            None,
            "msp.contacts",
            "perspective = \"msp\" needs at least one MSP contact to escalate to".to_owned(),
        );
    }

    let mut contractors = Vec::new();
    // Each client's errors: the range of `cx.errors` it pushed, by index of `raw.contractor`.
    let mut client_errors: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    // Each client id read so far, and the config line its block starts on: a second one
    // says where the first is.
    let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
    let raw_packages: Vec<_> = (raw.package.iter().enumerate())
        .filter_map(|(index, entry)| cx.section(entry, "package", Some(index)))
        .collect();
    let package_defs = cx.packages(&raw_packages);
    let raw_library = raw
        .library
        .as_ref()
        .and_then(|part| cx.section(part, "library", None));
    let library = cx.library_part(raw_library, "library");
    let raw_escalation = raw
        .escalation
        .as_ref()
        .and_then(|part| cx.section(part, "escalation", None));
    let escalation = cx.escalation(raw_escalation);
    let raw_runtime = raw
        .runtime
        .as_ref()
        .and_then(|part| cx.section(part, "runtime", None));
    let runtime = cx.runtime(raw_runtime);
    // The duties shared by every client's package (`[[duty]]`) that read. One that does not
    // is a problem of the whole file, said once rather than once per client.
    let mut shared_duties = Vec::with_capacity(raw.duty.len());
    for (index, entry) in raw.duty.iter().enumerate() {
        shared_duties.extend(cx.section(entry, "duty", Some(index)));
    }
    // What every client's block is read with.
    let common = contractor::Common {
        package_defs: &package_defs,
        library: &library,
        shared_duties: &shared_duties,
    };
    // Each client's id and name, as the quarantine names it.
    let mut names: Vec<(String, String)> = Vec::with_capacity(raw.contractor.len());
    for (index, entry) in raw.contractor.iter().enumerate() {
        let raw_contractor = match entry.get_ref() {
            raw::Lenient::Read(raw_contractor) => raw_contractor,
            raw::Lenient::Refused(message) => {
                let block = cx.refused_table(&[("contractor", Some(index))]);
                let read_id = block.as_ref().and_then(|b| b.word("id"));
                let id = read_id.clone().unwrap_or_else(|| format!("#{}", index + 1));
                let name = block
                    .as_ref()
                    .and_then(|b| b.word("name"))
                    .unwrap_or_else(|| id.clone());
                let start = cx.errors.len();
                // Read again without the keys refused, the rest of the block (its sources,
                // duties, CRM) is still checked: every problem of the client in one run.
                let rest = block
                    .as_ref()
                    .and_then(|b| b.read_without_refused_keys::<raw::RawContractor>());
                cx.refused::<raw::RawContractor>(
                    block.as_ref(),
                    entry.span().start,
                    &format!("contractor[{id}]"),
                    message,
                    match rest.as_ref().map(|rest| rest.read.is_some()) {
                        Some(true) => "the client is quarantined, and the rest of its block is checked without it",
                        _ => "the rest of this client's block was not read",
                    },
                );
                if let Some(rest) = &rest {
                    // Only for its problems: the client stays quarantined.
                    cx.check_without_refused(rest, &format!("contractor[{id}]"), &mut |cx, raw| {
                        let _ = cx.contractor(index, raw, &base, &zone, &msp, &common);
                    });
                }
                names.push((id.clone(), name));
                // Only a client told apart by its own id is quarantined alone: one without a
                // readable id, or with another's, is a problem of the whole file (a reload
                // keeps the running config).
                match read_id {
                    Some(id) => match seen_ids.get(&id) {
                        None => {
                            let at = block.as_ref().and_then(|b| b.word_offset("id"));
                            seen_ids.insert(id.clone(), cx.line(at.unwrap_or(entry.span().start)));
                            client_errors.push((index, start..cx.errors.len()));
                        }
                        Some(&first) => cx.error(
                            entry.span().start,
                            "contractor.id",
                            configured_twice(&id, first),
                        ),
                    },
                    None => cx.error(
                        entry.span().start,
                        "contractor.id",
                        "this client's block has no readable `id`, so its problem cannot be kept to it; give it its id as text, e.g. id = \"acme\"".to_owned(),
                    ),
                }
                continue;
            }
        };
        names.push((
            raw_contractor.get_ref().id.get_ref().clone(),
            raw_contractor.get_ref().name.clone(),
        ));
        let id = raw_contractor.get_ref().id.get_ref().clone();
        let at = raw_contractor.get_ref().id.span().start;
        if let Some(&first) = seen_ids.get(&id) {
            cx.error(at, "contractor.id", configured_twice(&id, first));
            continue;
        }
        seen_ids.insert(id.clone(), cx.line(at));
        let start = cx.errors.len();
        if let Some(contractor) = cx.contractor(index, raw_contractor, &base, &zone, &msp, &common)
        {
            contractors.push(contractor);
        }
        if cx.errors.len() > start {
            client_errors.push((index, start..cx.errors.len()));
        }
    }
    if !raw.duty.is_empty() {
        lift_shared_duty_errors(&mut cx, &mut client_errors, raw.contractor.len());
    }

    let raw_digest = raw
        .digest
        .as_ref()
        .and_then(|part| cx.section(part, "digest", None));
    let digest = cx.digest(raw_digest, &zone);
    let raw_sprs = raw
        .sprs
        .as_ref()
        .and_then(|part| cx.section(part, "sprs", None));
    let sprs = match raw.perspective {
        Perspective::Contractor => cx.sprs(raw_sprs, &|id, requirement| {
            let mut duties = contractors
                .iter()
                .filter_map(|c: &Contractor| c.duty(id))
                .peekable();
            duties.peek()?;
            Some(duties.any(|duty| {
                duty.objectives
                    .iter()
                    .any(|o| o.requirement() == requirement)
            }))
        }),
        Perspective::Msp => cx.sprs(raw_sprs, &|_, _| Some(true)),
    };

    // A client's own errors quarantine it in MSP mode, as long as everything outside the
    // clients is sound; otherwise every error fails the whole config.
    let client_error_count: usize = client_errors.iter().map(|(_, r)| r.len()).sum();
    let top_level_ok = cx.errors.len() == client_error_count;
    let mut quarantined = Vec::new();
    if raw.perspective == Perspective::Msp && top_level_ok {
        for (index, range) in client_errors.iter().rev() {
            let (id, name) = names.get(*index).cloned().unwrap_or_default();
            quarantined.push(Quarantined {
                id,
                name,
                errors: cx.errors.drain(range.clone()).collect(),
                last_good: false,
            });
        }
        quarantined.reverse();
    }
    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    let (Some(timezone), Some(evaluate), Some(mail), Some(incidents)) =
        (timezone, evaluate, mail, incidents)
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
        text: Arc::from(text),
        perspective: raw.perspective,
        timezone,
        database,
        evaluate,
        mail,
        msp,
        contractors,
        kinds: cx.kinds,
        quarantined,
        digest,
        sprs,
        incidents,
        escalation,
        runtime,
    })
}

/// A problem in a shared `[[duty]]` that every client has (its `source` is none of theirs,
/// say) is the duty's, not each client's: said once, as a problem of the whole file, rather
/// than quarantining every client with the same words. One that only some clients have stays
/// theirs. `clients`: how many `[[contractor]]` blocks there are.
fn lift_shared_duty_errors(
    cx: &mut Context<'_>,
    client_errors: &mut Vec<(usize, std::ops::Range<usize>)>,
    clients: usize,
) {
    if clients < 2 {
        return;
    }
    // The lines every client has a problem at: a line inside one client's block is that
    // client's alone, so a line all of them share is a shared section's.
    let mut every: Vec<(usize, String)> = Vec::new();
    if client_errors.len() == clients {
        let first = client_errors[0].1.clone();
        for error in &cx.errors[first] {
            let Some(line) = error.line else {
                continue;
            };
            // The same words for each: a problem that differs by client (a field one
            // client's kind has and another's lacks) is each client's own.
            let all = client_errors.iter().all(|(_, range)| {
                cx.errors[range.clone()]
                    .iter()
                    .any(|other| other.line == Some(line) && other.message == error.message)
            });
            let said = (line, error.message.clone());
            if all && !every.contains(&said) {
                every.push(said);
            }
        }
    }
    if every.is_empty() {
        return;
    }
    // Said once, with the client's part of the key taken off; the per-client copies go.
    let mut lifted: Vec<ConfigError> = Vec::new();
    let mut kept: Vec<ConfigError> = Vec::with_capacity(cx.errors.len());
    let mut ranges = Vec::with_capacity(client_errors.len());
    let mut at = 0;
    for (index, range) in client_errors.iter() {
        kept.extend(cx.errors[at..range.start].iter().cloned());
        let start = kept.len();
        for error in &cx.errors[range.clone()] {
            let shared = error
                .line
                .is_some_and(|line| every.contains(&(line, error.message.clone())));
            match error.line {
                Some(line) if shared => {
                    if !lifted.iter().any(|said| {
                        said.line == Some(line) && said.message.starts_with(&error.message)
                    }) {
                        let key = error
                            .key
                            .split_once("].")
                            .filter(|(client, _)| client.starts_with("contractor["))
                            .map_or(error.key.clone(), |(_, rest)| rest.to_owned());
                        lifted.push(ConfigError {
                            key,
                            message: format!(
                                "{} (for every client: a shared [[duty]] is every client's)",
                                error.message
                            ),
                            ..error.clone()
                        });
                    }
                }
                _ => kept.push(error.clone()),
            }
        }
        if kept.len() > start {
            ranges.push((*index, start..kept.len()));
        }
        at = range.end;
    }
    kept.extend(cx.errors[at..].iter().cloned());
    kept.extend(lifted);
    cx.errors = kept;
    *client_errors = ranges;
}

/// What to do about a value the config's types refuse (`message`, at `key`).
fn read_hint(message: &str, key: &str) -> String {
    // The key as written at that place: `every` of `contractor[acme].duty[2].every`.
    let last = key
        .rsplit('.')
        .next()
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .filter(|segment| !segment.is_empty())
        .unwrap_or("key");
    if message.contains("expected a string") {
        format!("; quote the value, e.g. {last} = \"…\"")
    } else if message.contains("expected a sequence") {
        "; write a list, e.g. [\"a\", \"b\"]".to_owned()
    } else if message.starts_with("duplicate key") {
        "; keep one of them".to_owned()
    } else {
        String::new()
    }
}

/// A second client block with `id`, the first being on config line `first`.
fn configured_twice(id: &str, first: usize) -> String {
    format!(
        "contractor `{id}` is configured twice (the first is at line {first}); give each client its own id, or merge the two blocks"
    )
}

/// The folder of the config at `path`, which its relative paths are read from. Absolute, so a
/// file is one origin however the config was named (`--config dutywatch.toml` or its full
/// path): a recurring duty keeps the newest snapshot of each, and an error names the file
/// that was looked for.
fn config_dir(path: &Path) -> PathBuf {
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    match base.as_os_str().is_empty() {
        true => std::path::absolute("."),
        false => std::path::absolute(&base),
    }
    .map(|base| without_dot_dot(&base))
    .unwrap_or(base)
}

/// `path` with its `..` taken away lexically (`/a/sub/../b` is `/a/b`), as
/// `std::path::absolute` leaves them: one folder, one spelling. Symlinks are left as they are.
pub fn without_dot_dot(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// The dotted key a TOML parse error at `offset` is about, read off the text: the table header
/// above it (`[[contractor.duty]]` gives `contractor.duty`) and the key on its line, if any.
/// toml's errors carry a position but not the key, and "duplicate key" alone helps nobody.
fn toml_key_at(text: &str, offset: usize) -> String {
    let header = |line: &str| -> Option<String> {
        let line = line.trim();
        let inner = line.strip_prefix('[')?.trim_start_matches('[');
        Some(inner.split(']').next()?.trim().to_owned())
    };
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let rest = &text[line_start..];
    let line = rest.split('\n').next().unwrap_or_default().trim();
    if let Some(table) = header(line) {
        return table;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .find_map(header)
        .unwrap_or_default();
    let key = line
        .split_once('=')
        .map(|(key, _)| key.trim().trim_matches('"'))
        .filter(|key| !key.is_empty() && !key.starts_with('#'));
    match key {
        Some(key) if table.is_empty() => key.to_owned(),
        Some(key) => format!("{table}.{key}"),
        None => table,
    }
}

struct Context<'a> {
    file: PathBuf,
    text: &'a str,
    errors: Vec<ConfigError>,
    secrets: Secrets,
    /// Where `env` secret references are looked up.
    env: &'a dyn Fn(&str) -> Option<String>,
    /// The built-in evidence kinds and the config's own `[[kind]]`s.
    kinds: Kinds,
    /// Each cron line parsed once (the zone is not part of the parse): an MSP's thousand
    /// clients write the same few, and each parsed line takes some 5 KB.
    schedules: std::collections::HashMap<String, Schedule>,
    /// The file parsed as a document, for the tables that did not read (`refused.rs`).
    document: std::cell::OnceCell<Option<toml::Spanned<toml::de::DeTable<'a>>>>,
    /// The names of the config's own `[[kind]]`s that did not read: a source of one of them
    /// is that kind's problem, reported there, not an unknown kind.
    refused_kinds: Vec<String>,
    /// Where each `\n` of `text` is, found once: every inline CRM row and every client's id
    /// takes a line number, and counting from the top each time made an MSP's
    /// thousand-client file quadratic to read.
    newlines: std::cell::OnceCell<Vec<usize>>,
}

impl Context<'_> {
    /// The line `offset` is on: one more than the `\n`s before it (TOML ends lines with `\n`
    /// or `\r\n`, so that counts both).
    fn line(&self, offset: usize) -> usize {
        let newlines = self.newlines.get_or_init(|| {
            (self.text.bytes().enumerate())
                .filter_map(|(at, byte)| (byte == b'\n').then_some(at))
                .collect()
        });
        newlines.partition_point(|&at| at < offset) + 1
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

    /// `value` read with `parse`; a parse error is reported verbatim, at the
    /// value's line.
    fn parsed<T, E: fmt::Display>(
        &mut self,
        value: &Spanned<String>,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(value.get_ref()) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.error(value.span().start, key, error.to_string());
                None
            }
        }
    }

    /// Names each key that is set (`Some` offset) but not among those the
    /// variant `{choice} = "{name}"` takes, instead of silently ignoring it.
    fn keys_not_taken<'k>(
        &mut self,
        key: &str,
        choice: &str,
        name: &str,
        allowed: &[&str],
        present: impl IntoIterator<Item = (&'k str, Option<usize>)>,
    ) {
        for (field, at) in present {
            if let Some(at) = at
                && !allowed.contains(&field)
            {
                self.error(
                    at,
                    &format!("{key}.{field}"),
                    format!(
                        "`{field}` does not apply to {choice} = \"{name}\" (it takes: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn schedule(&mut self, line: &Spanned<String>, key: &str, zone: &TimeZone) -> Option<Schedule> {
        if let Some(schedule) = self.schedules.get(line.get_ref()) {
            return Some(schedule.in_zone(zone.clone()));
        }
        let schedule = self.parsed(line, key, |text| Schedule::parse(text, zone.clone()))?;
        self.schedules
            .insert(line.get_ref().clone(), schedule.clone());
        Some(schedule)
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

    /// A `[[kind]]` of the config's own: registered when valid, else errors.
    fn kind(&mut self, raw: &Spanned<RawKind>) {
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let key = format!("kind[{}]", raw.name.get_ref());
        let mut fields = Vec::new();
        for field in &raw.field {
            match FieldType::parse(&field.ty, field.values.clone()) {
                Ok(ty) => {
                    if field.ahead && !ty.is_time() {
                        self.error(
                            offset,
                            &format!("{key}.field[{}].ahead", field.name),
                            format!(
                                "`ahead` is for `timestamp` and `date` fields, and this one is `{}`; remove it",
                                ty.name()
                            ),
                        );
                    }
                    // A time is when something happened unless the config says it is set
                    // ahead: a completion dated next year is a typo, an expiry is not.
                    let event = ty.is_time() && !field.ahead;
                    let from: Vec<String> = if field.from.is_empty() {
                        vec![field.name.clone()]
                    } else {
                        field.from.clone()
                    };
                    fields.push(Field {
                        name: field.name.clone(),
                        ty,
                        required: field.required,
                        event,
                        from: from
                            .iter()
                            .map(|path| {
                                path.parse::<FieldPath>()
                                    .unwrap_or_else(|_| FieldPath::single(path.trim()))
                            })
                            .collect(),
                    });
                }
                Err(message) => {
                    self.error(
                        offset,
                        &format!("{key}.field[{}].type", field.name),
                        message,
                    );
                }
            }
        }
        let kind = EvidenceKind {
            name: raw.name.get_ref().clone(),
            fields,
            subject: raw.subject.clone(),
            empty: match raw.empty {
                Some(RawEmpty::Plausible) => Empty::Plausible,
                // Saying nothing is the safe reading: an empty export proves nothing.
                Some(RawEmpty::NoEvidence) | None => Empty::NoEvidence,
            },
        };
        if let Err(message) = self.kinds.add(kind) {
            self.error(raw.name.span().start, &key, message);
        }
    }

    fn id(&mut self, id: &Spanned<String>, key: &str) -> bool {
        self.parsed(id, key, validate_id).is_some()
    }
}
