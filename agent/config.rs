//! `dutywatch.toml`: parsed into types that cannot hold a bad state.
//!
//! Loading is all-or-nothing: either every contractor, source and duty is
//! valid, or the caller gets every problem at once, each naming the file,
//! line and key, what is wrong and what is allowed. The daemon relies on
//! that: a reload with a broken file keeps the old config running.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

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

/// The source id a duty names to take hand-added evidence
/// (`dutywatch evidence add`) instead of a collector's.
pub const MANUAL_SOURCE: &str = "manual";

/// Re-evaluates every duty this often unless the config says otherwise, so
/// a duty turns due-soon or lapsed on time even when no evidence arrives.
const DEFAULT_EVALUATE: &str = "*/15 * * * *";

/// A validated configuration.
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

/// How mail leaves. Only the file transport exists so far: it writes one
/// `.eml` per message into a directory (demo, dry runs, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    File { dir: PathBuf },
}

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
    transport: RawTransport,
    dir: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawTransport {
    File,
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
/// are resolved against the directory of `path`).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
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
    let transport = match raw.mail.transport {
        RawTransport::File => Transport::File {
            dir: resolve(&base, raw.mail.dir.as_deref().unwrap_or("outbox")),
        },
    };
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
    let (Some(timezone), Some(evaluate), Some(from)) = (timezone, evaluate, from) else {
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
