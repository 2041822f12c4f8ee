//! Command-line interface: argument types and one function per command.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use dutywatch_checks::crm::{Crm, CrmImport};
use dutywatch_checks::library::{self, Outcome};

use crate::manual::ManualNote;
use dutywatch_checks::lint::{LintReport, lint};
use dutywatch_checks::party::Party;
use jiff::Timestamp;

use crate::clock::{Clock, FixedClock, SystemClock};
use crate::config::{self, Config, Perspective, Secrets, SmtpLogin, SmtpPassword, Transport};
use crate::daemon::{self, Command as DaemonCommand};
use crate::engine::Engine;
use crate::sources::{self, CollectError, closed_folder};
use crate::status;
use crate::store::{AckKind, Store};
use crate::systemd::ServiceManager;
use crate::telemetry::LogFormat;

/// Verifies the duties a contractor and its MSP split in their Customer
/// Responsibility Matrix (CMMC 2.0 / NIST SP 800-171 rev2).
#[derive(Debug, Parser)]
#[command(name = "dutywatch", version, about)]
pub struct Cli {
    /// Log format: auto picks journald under systemd, text on a terminal.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        global = true,
        env = "DUTYWATCH_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Take the wall clock to read this instant (RFC 3339) in a one-shot command: what `once`
    /// runs as by default, what `--at` may not run ahead of, when `evidence add` and
    /// `mail cancel` record. For tests and reproducible runs; `run` refuses it.
    #[arg(long, global = true, hide = true, value_name = "RFC3339")]
    pub clock: Option<Timestamp>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The wall clock one-shot commands read: `--clock`, else the host's.
    fn clock(&self) -> Box<dyn Clock> {
        match self.clock {
            Some(at) => Box::new(FixedClock(at)),
            None => Box::new(SystemClock),
        }
    }
}

impl Cli {
    /// The daemon narrates its work (lapses at warn, for `journalctl -p
    /// warning`); one-shot commands print their result, which already says
    /// what a warning would, so they log only errors unless `DUTYWATCH_LOG`
    /// asks for more.
    pub fn default_log_level(&self) -> tracing::level_filters::LevelFilter {
        match self.command {
            Command::Run(_) => tracing::level_filters::LevelFilter::INFO,
            _ => tracing::level_filters::LevelFilter::ERROR,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(long, short, env = "DUTYWATCH_CONFIG", default_value_os_t = default_config())]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: collect on schedule, evaluate, escalate.
    Run(ConfigArg),
    /// Run one full cycle now (or --at an instant) and exit; --dry-run for a what-if.
    Once {
        #[command(flatten)]
        config: ConfigArg,
        /// The instant to run as (RFC 3339); default now.
        #[arg(long, value_parser = instant)]
        at: Option<Timestamp>,
        /// A what-if: run on a scratch copy of the database and write the mail to a scratch
        /// folder; nothing is stored and nothing is sent. Any --at, past or future.
        #[arg(long)]
        dry_run: bool,
        /// Print the status as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the evidence kinds a source can declare: their fields, types, which are required,
    /// the subject, and where each field is read from in vendor exports.
    Kinds {
        /// Also the config's own `[[kind]]`s.
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Show every watched duty's verdict, due time and reason.
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this contractor (client id).
        #[arg(long)]
        client: Option<String>,
        /// Only duties this party is responsible for.
        #[arg(long)]
        party: Option<Party>,
        #[arg(long)]
        json: bool,
        /// Under each duty, list its subjects (users, devices, patches, incidents) that are
        /// not met; `--json` always lists them.
        #[arg(long)]
        subjects: bool,
        /// Exit 1 when a duty shown is not met or a mail is waiting (for monitoring).
        #[arg(long)]
        exit_code: bool,
        /// List the duties the library derived from the CRM one by one too (by default they
        /// are counted per state on one line); `--json` always lists them.
        #[arg(long)]
        library: bool,
    },
    /// Validate the configuration, its CRMs, sources and duties.
    CheckConfig(ConfigArg),
    /// Customer Responsibility Matrix tools.
    #[command(subcommand)]
    Crm(CrmCommand),
    /// Evidence tools.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Escalation mail tools.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Duty tools.
    #[command(subcommand)]
    Duties(DutiesCommand),
    /// Say that someone is working on a duty's lapse: its reminders and the management step
    /// stop until --until or until it is resolved. The state and its record stay as they are.
    Ack {
        #[command(flatten)]
        config: ConfigArg,
        /// The duty's id.
        duty: String,
        /// One subject of it (a user, a device, an incident); default the whole duty.
        #[arg(long)]
        subject: Option<String>,
        /// The contractor (client id); optional with one contractor.
        #[arg(long)]
        client: Option<String>,
        /// Who is on it.
        #[arg(long)]
        by: String,
        /// What is being done, for the record.
        #[arg(long, allow_hyphen_values = true)]
        reason: String,
        /// When the acknowledgement ends (RFC 3339); default when the lapse is resolved.
        #[arg(long, value_parser = instant)]
        until: Option<Timestamp>,
    },
    /// Hold a duty's escalation mail for planned work (a maintenance window): no mail but the
    /// resolution until --until, then the ladder picks up again.
    Silence {
        #[command(flatten)]
        config: ConfigArg,
        duty: String,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        client: Option<String>,
        /// Who asks for it; default the login name.
        #[arg(long)]
        by: Option<String>,
        /// The planned work, for the record.
        #[arg(long, allow_hyphen_values = true)]
        reason: String,
        /// When it ends (RFC 3339).
        #[arg(long, value_parser = instant)]
        until: Timestamp,
    },
    /// List the acknowledgements and silences in force.
    Acks {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Copy the database to FILE while the daemon keeps running (SQLite's
    /// online backup: one consistent snapshot). Restore by stopping the
    /// daemon and putting the copy in place of the database.
    Backup {
        #[command(flatten)]
        config: ConfigArg,
        /// Where to write the copy (replaced if it exists; mode 0600).
        file: PathBuf,
    },
    /// Run the bundled demo: a fictional contractor and MSP, evidence dated
    /// relative to now, a status table and escalation mails.
    Demo {
        /// The demo's source folder.
        #[arg(long, default_value = "config/demo")]
        from: PathBuf,
        /// Where to render and run it (replaced on each run).
        #[arg(long, default_value = "target/demo")]
        out: PathBuf,
    },
    /// Every assessment objective: its owner per the CRM, the duties watching it with their
    /// state, and the newest evidence behind them; a summary per family and overall.
    Coverage {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this contractor (client id).
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// DFARS 252.204-7012 incidents: record each step (who, when), list the open ones with
    /// the hours left on each clock, show a timeline.
    #[command(subcommand)]
    Incident(crate::incident::commands::IncidentCommand),
    /// Write the assessor's package into DIR: objectives, evidence, artifact hashes and the
    /// evidence chain head. Exit 1 when the evidence chain is broken (it still exports).
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this contractor (client id).
        #[arg(long)]
        client: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// The directory to write (new, empty or an earlier export; replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// The SPRS score projection: the score on what is proven and with the known lapses
    /// alone, Conditional status (88), and per NOT MET requirement whether it may sit on a
    /// POA&M (32 CFR 170.21).
    Sprs {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this contractor (client id).
        #[arg(long, alias = "client")]
        contractor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The weekly digest of one party. The daemon makes it on `[digest] schedule`;
    /// `--preview` renders it now without recording or sending anything: as text, or as the
    /// self-contained HTML page with `--html FILE`.
    Digest {
        #[command(flatten)]
        config: ConfigArg,
        /// Render now, record and send nothing (required: digests are sent by the daemon).
        #[arg(long)]
        preview: bool,
        /// Whose digest: the contractor's (with the SPRS projection) or the MSP's.
        #[arg(long, default_value = "contractor")]
        party: Party,
        /// The contractor (client id); optional with one contractor.
        #[arg(long, alias = "client")]
        contractor: Option<String>,
        /// Write the HTML page to FILE (and print where) instead of the text to stdout.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV files, a chain head and a README.
    Csv,
    /// OSCAL 1.1.2 JSON: assessment results, an assessment-plan stub and the CRM as a
    /// component definition, per contractor.
    Oscal,
    /// One self-contained HTML page (`index.html`) that reads in a browser and prints.
    Html,
}

#[derive(Debug, Subcommand)]
pub enum CrmCommand {
    /// Check a CRM: unowned or doubly assigned objectives, unknown ids,
    /// missing responsibilities, evidence producers and verification.
    Lint {
        /// A CRM file (CSV, or an XLSX workbook); without it, every contractor's CRM in the
        /// config.
        file: Option<PathBuf>,
        /// The workbook's CRM sheet (default: the first sheet with a header row).
        #[arg(long, requires = "file")]
        sheet: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        /// Service packages the client holds (comma-separated; empty for none); with a FILE,
        /// since a config says each contractor's own.
        #[arg(long, value_delimiter = ',', requires = "file")]
        packages: Option<Vec<String>>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DutiesCommand {
    /// What the CRM yields per objective: its owner, the duty watching each side (hand-written
    /// or from the `[library]`, with its cadence and where that comes from), and what is
    /// unwatched and why.
    Plan {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this contractor (client id).
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Give up on an escalation mail the relay keeps refusing (a mailbox gone for good).
    /// `status` lists waiting mail with its id; the mail is kept, with the reason, and never
    /// retried.
    Cancel {
        #[command(flatten)]
        config: ConfigArg,
        /// The mail's id, as `status` shows it (`12` or `#12`).
        #[arg(value_parser = mail_id)]
        id: i64,
        /// Why, for the record (an assessor may ask).
        #[arg(long, allow_hyphen_values = true)]
        reason: String,
    },
}

/// `--outcome` of a verification.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutcomeArg {
    Satisfied,
    NotSatisfied,
}

impl From<OutcomeArg> for Outcome {
    fn from(arg: OutcomeArg) -> Outcome {
        match arg {
            OutcomeArg::Satisfied => Outcome::Satisfied,
            OutcomeArg::NotSatisfied => Outcome::NotSatisfied,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Record hand-made evidence (a signed review, a training roster) for a
    /// duty whose source is `manual`.
    Add {
        #[command(flatten)]
        config: ConfigArg,
        /// The contractor (client id); optional with one contractor.
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        duty: String,
        /// The evidence file; stored as is, with its SHA-256.
        #[arg(long)]
        file: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        note: Option<String>,
        /// Who adds it; default the login name.
        #[arg(long)]
        by: Option<String>,
        /// When the work was done (RFC 3339); default now.
        #[arg(long, value_parser = instant)]
        done_at: Option<Timestamp>,
        /// For a verification of the MSP (`ver-…` duties): what it found. Only `satisfied`
        /// completes the duty; `not-satisfied` is kept as the finding.
        #[arg(long, value_enum)]
        outcome: Option<OutcomeArg>,
        /// For a verification of the MSP: what was looked at (the MSP's patch report for
        /// October, the Entra sign-in log export).
        #[arg(long)]
        looked_at: Option<String>,
    },
    /// Recompute every evidence hash and chain link; report tampering, and print the chain's
    /// head (newest row and its chain value) to keep outside the database. Exit 1 when broken.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// A head an earlier `evidence verify` printed: exit 1 unless that chain value is
        /// still in the chain (rows up to it removed or rewritten, newest rows deleted).
        #[arg(long, value_name = "HEX", value_parser = chain_value)]
        expect_head: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How far from the clock `--at` may lie, either way: a cycle's verdicts
/// carry ages and overdue times, which are kept only up to 100 years, and
/// the calendar ends in 9999.
const AT_WINDOW_YEARS: i16 = 50;

/// An RFC 3339 instant, strictly: `2026-11-23T15:00:00Z`,
/// `2026-11-23T10:00:00.5-05:00` (`T`, `t` or a space between date and
/// time; `Z`, `z` or an offset of at most ±23:59). Anything jiff reads
/// beyond that (`+25:00`, no seconds, a bracketed zone) is refused, and an
/// instant past the calendar is said to be out of range, not an overflow.
pub fn instant(text: &str) -> Result<Timestamp, String> {
    let example = "write e.g. 2026-11-23T15:00:00Z or 2026-11-23T10:00:00-05:00";
    let not_rfc3339 = || format!("`{text}` is not an RFC 3339 instant; {example}");
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|part| part.len() == range.len() && part.iter().all(u8::is_ascii_digit))
    };
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return Err(not_rfc3339());
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return Err(not_rfc3339());
        }
        rest = &fraction[len..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => {}
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()) =>
        {
            let hours = (h1 - b'0') * 10 + (h2 - b'0');
            let minutes = (m1 - b'0') * 10 + (m2 - b'0');
            if hours > 23 || minutes > 59 {
                return Err(format!(
                    "`{text}` has the offset {rest}, which is out of range: an RFC 3339 offset is at most ±23:59"
                ));
            }
        }
        _ => return Err(not_rfc3339()),
    }
    text.parse::<Timestamp>().map_err(|error| {
        let error = error.to_string();
        if error.contains("overflow") {
            format!(
                "`{text}` is out of range: an instant must lie within {AT_WINDOW_YEARS} years of now"
            )
        } else {
            // A well-formed but impossible date or time, e.g. 2026-02-30.
            format!("`{text}` is not a valid instant: {error}")
        }
    })
}

/// Refuses an `--at` more than [`AT_WINDOW_YEARS`] from `clock`.
fn within_window(at: Timestamp, clock: Timestamp) -> anyhow::Result<Timestamp> {
    let zoned = clock.to_zoned(jiff::tz::TimeZone::UTC);
    let span = jiff::Span::new().years(AT_WINDOW_YEARS);
    let earliest = zoned
        .checked_sub(span)
        .map_or(Timestamp::MIN, |z| z.timestamp());
    let latest = zoned
        .checked_add(span)
        .map_or(Timestamp::MAX, |z| z.timestamp());
    if at < earliest || at > latest {
        let day = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date();
        bail!(
            "--at {at} is out of range: an instant must lie within {AT_WINDOW_YEARS} years of now ({} to {})",
            day(earliest),
            day(latest)
        );
    }
    Ok(at)
}

fn default_config() -> PathBuf {
    // systemd's ConfigurationDirectory= sets this; /etc elsewhere.
    std::env::var_os("CONFIGURATION_DIRECTORY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/dutywatch"))
        .join("dutywatch.toml")
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clock = cli.clock();
    let clock = clock.as_ref();
    match cli.command {
        Command::Run(_) if cli.clock.is_some() => {
            bail!("--clock is for one-shot commands; the daemon runs on the host's clock")
        }
        Command::Run(args) => run_daemon(args.config),
        Command::Once {
            config,
            at,
            dry_run: false,
            json,
        } => {
            // Ahead of the clock, `once` refuses it itself, saying so.
            let now = clock.now();
            let at = at
                .map(|at| {
                    if at > now {
                        Ok(at)
                    } else {
                        within_window(at, now)
                    }
                })
                .transpose()?;
            once(&config.config, at, json, clock)
        }
        Command::Once {
            config,
            at,
            dry_run: true,
            json,
        } => {
            let now = clock.now();
            let asked = at.is_some();
            let at = within_window(at.unwrap_or(now), now)?;
            what_if(&config.config, at, asked, json)
        }
        Command::Kinds { config, json } => {
            let kinds = match config {
                Some(path) => load(&path, Secrets::Skip)?.kinds,
                None => dutywatch_checks::kind::Kinds::default(),
            };
            let mut stdout = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut stdout, &kinds_json(&kinds))?;
                writeln!(stdout)?;
            } else {
                write!(stdout, "{}", kinds_text(&kinds))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status {
            config,
            client,
            party,
            json,
            subjects,
            exit_code,
            library,
        } => {
            let config = load(&config.config, Secrets::Skip)?;
            let store = Store::open_read_only(&config.database)?;
            // A quarantined client's duties as the daemon runs them, on its last good config.
            let config = daemon::restore_last_good(config, &store, Secrets::Skip);
            let filter = status::Filter {
                contractor: client,
                party,
            };
            if let Some(id) = filter.contractor.as_ref().filter(|id| {
                !config.contractors.iter().any(|c| &c.id == *id) && config.quarantined(id).is_none()
            }) {
                bail!("no contractor `{id}` in {}", config.path.display());
            }
            let shown = Shown {
                json,
                subjects,
                library,
            };
            let report = print_status(&config, &store, &filter, shown, clock.now())?;
            Ok(if exit_code && report.needs_attention() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::CheckConfig(args) => check_config(&args.config, clock.now()),
        Command::Crm(CrmCommand::Lint {
            file,
            sheet,
            config,
            packages,
            json,
        }) => crm_lint(
            file.as_deref(),
            sheet.as_deref(),
            &config.config,
            packages,
            json,
        ),
        Command::Evidence(EvidenceCommand::Add {
            config,
            client,
            duty,
            file,
            note,
            by,
            done_at,
            outcome,
            looked_at,
        }) => evidence_add(
            &config.config,
            client,
            &duty,
            &file,
            ManualNote {
                note,
                by,
                done_at,
                verification: (looked_at, outcome.map(Outcome::from)),
            },
            clock,
        ),
        Command::Evidence(EvidenceCommand::Verify {
            config,
            expect_head,
            json,
        }) => evidence_verify(&config.config, expect_head.as_deref(), json),
        Command::Duties(DutiesCommand::Plan {
            config,
            client,
            json,
        }) => duties_plan(&config.config, client.as_deref(), json),
        Command::Ack {
            config,
            duty,
            subject,
            client,
            by,
            reason,
            until,
        } => crate::acks::record(
            &config.config,
            &crate::acks::Said {
                kind: AckKind::Ack,
                client: client.as_deref(),
                duty: &duty,
                subject: subject.as_deref(),
                by: Some(by),
                reason: &reason,
                until,
            },
            clock,
        ),
        Command::Silence {
            config,
            duty,
            subject,
            client,
            by,
            reason,
            until,
        } => crate::acks::record(
            &config.config,
            &crate::acks::Said {
                kind: AckKind::Silence,
                client: client.as_deref(),
                duty: &duty,
                subject: subject.as_deref(),
                by,
                reason: &reason,
                until: Some(until),
            },
            clock,
        ),
        Command::Acks {
            config,
            client,
            json,
        } => crate::acks::list(&config.config, client.as_deref(), json, clock),
        Command::Mail(MailCommand::Cancel { config, id, reason }) => {
            let reason = reason.trim();
            if reason.is_empty() {
                bail!("say why with --reason: the cancellation is kept for the record");
            }
            let config = load(&config.config, Secrets::Skip)?;
            // Never create a database here: a wrong --config would leave an empty one behind.
            if !config
                .database
                .try_exists()
                .with_context(|| format!("looking for `{}`", config.database.display()))?
            {
                bail!(
                    "no database at `{}`: is this the service's config?",
                    config.database.display()
                );
            }
            let mut store = Store::open_checked(&config.database)
                .with_context(|| format!("opening the database `{}`", config.database.display()))?;
            store.cancel_mail(id, clock.now(), reason)?;
            println!("mail #{id} cancelled: it will not be retried ({reason})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { config, file } => {
            let config = load(&config.config, Secrets::Skip)?;
            // Any schema version: the copy to take before an upgrade migrates the database.
            let (store, version) = Store::open_read_only_any_version(&config.database)?;
            if version == 0 {
                bail!(
                    "{} is not a dutywatch database (schema version 0: empty, or another program's), so no backup was written and {} is left as it was; keep the older backups",
                    config.database.display(),
                    file.display()
                );
            }
            // Pages are copied as they are: a damaged database would give a damaged copy, put
            // in place of the last good backup at `file`. Checked first, so that one stays.
            let damage = store.damage()?;
            if !damage.is_empty() {
                eprintln!(
                    "error: the database file {} is damaged ({}), so no backup was written and {} is left as it was; keep the older backups, and restore the latest good one (see Backup and restore in the README)",
                    config.database.display(),
                    damage.join("; "),
                    file.display(),
                );
                return Ok(ExitCode::FAILURE);
            }
            store.backup_to(&file)?;
            if usize::try_from(version).ok() != Some(Store::schema_version()) {
                println!(
                    "backed up {} to {} as it is, at schema version {version} (this dutywatch writes {}); its evidence chain is checked by `dutywatch evidence verify` once a dutywatch of its version, or this one after migrating it, reads it",
                    config.database.display(),
                    file.display(),
                    Store::schema_version()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let copy = Store::open_read_only(&file)?;
            let report = copy.verify_chain()?;
            println!(
                "backed up {} to {} ({} evidence row(s), chain {})",
                config.database.display(),
                file.display(),
                report.rows,
                if report.broken.is_none() {
                    "intact"
                } else {
                    "BROKEN"
                }
            );
            // The copy is faithful, but what it copied was tampered with: a
            // backup script must not file it away as a good one.
            if let Some((id, what)) = report.broken {
                eprintln!(
                    "error: the evidence chain is broken at {id}: {what}; the backup holds the rows as they are, so keep an older one as well"
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Incident(command) => crate::incident::commands::run(command, clock),
        Command::Demo { from, out } => crate::demo::run(&from, &out, clock.now()),
        Command::Coverage {
            config,
            client,
            json,
        } => coverage(&config.config, client.as_deref(), json),
        Command::Export {
            config,
            client,
            format: ExportFormat::Csv,
            out,
        } => export(&config.config, client.as_deref(), &out, clock.now()),
        Command::Export {
            config,
            client,
            format: ExportFormat::Oscal,
            out,
        } => crate::export::oscal::run(&config.config, client.as_deref(), &out, clock.now()),
        Command::Export {
            config,
            client,
            format: ExportFormat::Html,
            out,
        } => crate::export::html::run(&config.config, client.as_deref(), &out, clock.now()),
        Command::Sprs {
            config,
            contractor,
            json,
        } => sprs(&config.config, contractor.as_deref(), json, clock.now()),
        Command::Digest {
            config,
            preview,
            party,
            contractor,
            html,
        } => {
            if !preview {
                bail!(
                    "the daemon makes and sends the weekly digest on `[digest] schedule`; \
                     add --preview to render it now without sending"
                );
            }
            digest_preview(
                &config.config,
                party,
                contractor.as_deref(),
                html.as_deref(),
                clock.now(),
            )
        }
    }
}

/// `dutywatch digest --preview`.
fn digest_preview(
    config_path: &Path,
    party: Party,
    contractor: Option<&str>,
    html: Option<&Path>,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let config = load(config_path, Secrets::Skip)?;
    let store = Store::open_read_only(&config.database)?;
    let contractor = crate::digest::contractor(&config, contractor)?;
    let digest = crate::digest::build(&config, &store, contractor, party, now)?;
    match html {
        Some(path) => {
            std::fs::write(path, crate::digest::render_html(&digest))
                .with_context(|| format!("writing the digest to `{}`", path.display()))?;
            println!(
                "digest of {} for {} written to {}",
                digest.contractor,
                digest.party,
                path.display()
            );
        }
        None => print!("{}", crate::digest::render_text(&digest)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `dutywatch sprs`.
fn sprs(
    config_path: &Path,
    contractor: Option<&str>,
    json: bool,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let config = load(config_path, Secrets::Skip)?;
    let store = Store::open_read_only(&config.database)?;
    let report = crate::sprs::report(&config, &store, contractor, now)?;
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", crate::sprs::text(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `dutywatch coverage`.
fn coverage(config_path: &Path, client: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let config = load(config_path, Secrets::Skip)?;
    let store = Store::open_read_only(&config.database)?;
    let report = crate::coverage::coverage(&config, &store, client)?;
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(
            stdout,
            "{}",
            crate::coverage::text(&report, &config.timezone)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `dutywatch export`.
fn export(
    config_path: &Path,
    client: Option<&str>,
    out: &Path,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let config = load(config_path, Secrets::Skip)?;
    let store = Store::open_read_only(&config.database)?;
    let exported = crate::export::export(&config, &store, client, out, now)?;
    println!("export written to {} as of {now}", out.display());
    if let Some((id, what)) = &exported.chain.broken {
        eprintln!(
            "error: the evidence chain is broken at {id}: {what}; the export says so in chain.txt"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn load(path: &Path, secrets: Secrets) -> anyhow::Result<Config> {
    config::load_with(path, secrets).map_err(|errors| anyhow::anyhow!("{errors}"))
}

fn run_daemon(config_path: PathBuf) -> anyhow::Result<ExitCode> {
    // A small, explicit runtime: the work is a few files, a database and
    // mail, and systemd's TasksMax= must never be hit.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let (sender, receiver) = tokio::sync::mpsc::channel(8);
        tokio::spawn(forward_signals(sender));
        daemon::run(
            config_path,
            Arc::new(SystemClock),
            receiver,
            ServiceManager::from_env(),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP reloads, SIGTERM and SIGINT stop.
async fn forward_signals(sender: tokio::sync::mpsc::Sender<DaemonCommand>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hangup), Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("SignalHandlerError");
        return;
    };
    loop {
        let command = tokio::select! {
            _ = hangup.recv() => DaemonCommand::Reload,
            _ = terminate.recv() => DaemonCommand::Shutdown,
            _ = interrupt.recv() => DaemonCommand::Shutdown,
        };
        if sender.send(command).await.is_err() || command == DaemonCommand::Shutdown {
            return;
        }
    }
}

/// One cycle as of `at`, or of the wall clock, then the status. It stores and mails for
/// real, so `--at` must lie between what the database holds and the clock.
pub fn once(
    config_path: &Path,
    at: Option<Timestamp>,
    json: bool,
    clock: &dyn Clock,
) -> anyhow::Result<ExitCode> {
    let now = at.unwrap_or_else(|| clock.now());
    let config = load(config_path, Secrets::Read)?;
    daemon::log_crm_problems(&config);
    let mut store = Store::open_checked(&config.database)
        .with_context(|| format!("opening the database `{}`", config.database.display()))?;
    // A cycle writes history, collector runs and mail as of `now`: dated before what the
    // database holds it would rewrite its past, dated ahead of the clock the daemon would
    // later write behind it.
    let latest = store.latest_activity()?;
    if at.is_some() {
        if let Some(latest) = latest
            && now < latest
        {
            bail!(
                "the database `{}` already holds work done as of {latest}; a cycle as of {now} would write its history out of order. For a what-if, add --dry-run",
                config.database.display()
            );
        }
        let clock = clock.now();
        // Not even a little: the daemon and the next `once` would then read the clock as
        // behind the database and wait for it (`clock::check_not_behind`).
        if now > clock {
            bail!(
                "--at {now} is ahead of the clock ({clock}): the cycle would store history and send mail dated in the future. For a what-if, add --dry-run"
            );
        }
    }
    crate::clock::check_not_behind(now, latest)
        .with_context(|| format!("the database `{}`", config.database.display()))?;
    // A quarantined client runs on its last good config, as under the daemon.
    let config = daemon::restore_last_good(config, &store, Secrets::Read);
    daemon::remember_good(&mut store, &config, now);
    let undelivered = cycle_and_report(config, store, now, json)?;
    if undelivered.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    // On stderr, so `--json` output stays one JSON document. The mail stays
    // in the outbox and is retried, but whoever ran `once` (a cron job, a
    // script) must learn that it was not delivered, also on the runs that
    // only wait for its next attempt.
    eprintln!("{}", undelivered.headline());
    for reason in &undelivered.reasons {
        eprintln!("  {reason}");
    }
    Ok(ExitCode::FAILURE)
}

/// Mail a cycle leaves undelivered: what it failed to deliver now, and what failed on an
/// earlier run and waits for its next attempt.
#[derive(Debug, Default)]
struct Undelivered {
    /// Failed in this run (or not attempted, the relay being down).
    now: usize,
    /// Failed on an earlier run, its next attempt still ahead.
    earlier: usize,
    /// The first of those next attempts.
    next_attempt: Option<Timestamp>,
    /// Each relay answer once.
    reasons: Vec<String>,
}

impl Undelivered {
    fn is_empty(&self) -> bool {
        self.now == 0 && self.earlier == 0
    }

    fn headline(&self) -> String {
        let mut line = String::new();
        if self.now > 0 {
            line = format!("{} escalation mail(s) could not be delivered", self.now);
        }
        if self.earlier > 0 {
            if !line.is_empty() {
                line.push_str(", and ");
            }
            line.push_str(&format!(
                "{} escalation mail(s) that failed on an earlier run are still undelivered",
                self.earlier
            ));
            if let Some(next) = self.next_attempt {
                line.push_str(&format!(" (next attempt {next})"));
            }
        }
        line.push_str("; they stay in the outbox and are retried (`dutywatch status` lists them):");
        line
    }
}

/// The sender name `once` registers under.
const ONCE_SENDER: &str = "once";

/// One cycle at `now` on `store`, then the status of every duty. Returns the mail left
/// undelivered: what this cycle failed to deliver (or did not attempt, the relay being
/// down), what failed earlier and waits for its retry, and why.
fn cycle_and_report(
    config: Config,
    store: Store,
    now: Timestamp,
    json: bool,
) -> anyhow::Result<Undelivered> {
    // One `once` at a time takes over the claims a killed `once` left (see `sender_lock`);
    // a second one beside it waits for their leases like anyone else.
    let lock = daemon::sender_lock(&config.database, ONCE_SENDER);
    let mut engine = Engine::new(Arc::new(config), store);
    if lock.is_some() {
        engine.take_over_claims(ONCE_SENDER)?;
    }
    let mut summary = engine.cycle(now)?;
    // The incident clocks, on what this cycle collected; their warnings go out now too.
    let config = Arc::clone(engine.config());
    let incidents = crate::incident::tick(engine.store_mut(), &config, now)?;
    let reminders = crate::cmmc::remind(engine.store_mut(), &config, now);
    if incidents.queued + reminders > 0 {
        let (sent, failed) = engine.deliver(now)?;
        summary.mails_sent += sent;
        summary.mail_failures += failed;
    }
    tracing::info!(%summary, "CycleFinished");
    let report = print_status(
        engine.config(),
        engine.store(),
        &status::Filter::default(),
        Shown {
            json,
            ..Shown::default()
        },
        now,
    )?;
    // The pass marked each mail it failed with its error and a retry after `now`; a mail
    // that failed before and was not due for another attempt keeps its last error.
    let mut undelivered = Undelivered {
        now: summary.mail_failures,
        ..Undelivered::default()
    };
    let failed: Vec<_> = report
        .undelivered_mail
        .into_iter()
        .filter(|mail| mail.last_error.is_some() && mail.next_attempt_at > now)
        .collect();
    undelivered.earlier = failed.len().saturating_sub(summary.mail_failures);
    undelivered.next_attempt = failed.iter().map(|mail| mail.next_attempt_at).min();
    for error in failed.into_iter().filter_map(|mail| mail.last_error) {
        if !undelivered.reasons.contains(&error) {
            undelivered.reasons.push(error);
        }
    }
    Ok(undelivered)
}

/// A mail id as typed or as copied from `status` (`#12`).
/// `evidence verify`: the whole chain, its head, and optionally whether a head recorded
/// earlier is still in it. Exit 0 intact (and the expected head found), 1 otherwise.
fn evidence_verify(
    config_path: &Path,
    expect_head: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = load(config_path, Secrets::Skip)?;
    let store = Store::open_read_only(&config.database)?;
    // The file first: a damaged one can hold an intact chain and still fail the next cycle.
    let damage = store.damage()?;
    if !damage.is_empty() {
        if json {
            let value = serde_json::json!({ "database": { "damaged": damage } });
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &value)?;
            writeln!(stdout)?;
        } else {
            println!(
                "database file DAMAGED ({}): restore the latest backup (see Backup and restore in \
                 the README: stop the unit, remove the -wal and -shm files beside the database, \
                 put the copy in place), then run this again",
                config.database.display()
            );
            for problem in &damage {
                println!("  {problem}");
            }
        }
        return Ok(ExitCode::FAILURE);
    }
    let report = store.verify_chain()?;
    // Only meaningful on an intact chain: then every row up to the one found checks out.
    let expected = match (expect_head, &report.broken) {
        (Some(head), None) => Some((head, store.chain_contains(head)?)),
        _ => None,
    };
    let timeline = store.verify_incident_chain()?;
    let code = if report.broken.is_none()
        && timeline.broken.is_none()
        && expected.is_none_or(|(_, found)| found.is_some())
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if json {
        let value = serde_json::json!({
            "rows": report.rows,
            "head": report.head.as_ref().map(|head| &head.chain),
            "head_id": report.head.as_ref().map(|head| head.id.0),
            "broken": report.broken.as_ref().map(|(id, reason)| {
                serde_json::json!({"id": id.0, "reason": reason})
            }),
            "expect_head": expect_head.map(|head| serde_json::json!({
                "head": head,
                "found_id": expected.and_then(|(_, found)| found).map(|id| id.0),
            })),
            "incident_steps": {
                "steps": timeline.steps,
                "unchained": timeline.unchained,
                "head": timeline.head,
                "broken": timeline.broken.as_ref().map(|(id, reason)| {
                    serde_json::json!({"id": id, "reason": reason})
                }),
            },
        });
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &value)?;
        writeln!(stdout)?;
        return Ok(code);
    }
    match (&report.broken, &report.head) {
        (Some((id, what)), _) => println!(
            "evidence chain BROKEN at {id}: {what} ({} row(s) checked)",
            report.rows
        ),
        (None, Some(head)) => {
            println!("evidence chain intact: {} row(s) verified", report.rows);
            println!("head: {} {}", head.id, head.chain);
            println!(
                "keep the head outside the database (ticket, log); `--expect-head {}` later \
                 shows rows removed or rewritten since",
                head.chain
            );
        }
        (None, None) => println!("evidence chain intact: 0 row(s) verified (no evidence yet)"),
    }
    match (expect_head, expected) {
        (Some(_), Some((_, Some(id)))) => {
            println!("expected head found: {id}; the chain up to it is intact");
        }
        (Some(head), Some((_, None))) => println!(
            "expected head {head} is NOT in the chain: the rows up to it were removed or \
             rewritten"
        ),
        (Some(_), None) => println!("expected head not checked: the chain is broken"),
        (None, _) => {}
    }
    let before = if timeline.unchained > 0 {
        format!(
            " ({} recorded before steps were chained)",
            timeline.unchained
        )
    } else {
        String::new()
    };
    match (&timeline.broken, &timeline.head) {
        (Some((id, what)), _) => println!(
            "incident timeline BROKEN at step {id}: {what} ({} step(s) checked)",
            timeline.steps
        ),
        (None, Some(head)) => println!(
            "incident timeline intact: {} step(s) verified{before}; head: {head}",
            timeline.steps
        ),
        (None, None) => println!("incident timeline: no chained step yet{before}"),
    }
    Ok(code)
}

/// A chain value as `evidence verify` prints it: 64 hex digits, any case.
fn chain_value(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{text}` is not a chain head; `evidence verify` prints it as 64 hex digits"
        ))
    }
}

fn mail_id(text: &str) -> Result<i64, String> {
    text.trim()
        .trim_start_matches('#')
        .parse()
        .map_err(|_| format!("`{text}` is not a mail id; `status` shows them as #12"))
}

/// `once --dry-run`: the same cycle on a scratch copy of the database, with the mail written
/// to a scratch folder that is then deleted. The real database and the relay are not touched,
/// and the SMTP password is not read.
/// A what-if as of `now`; `asked` when `now` is the user's `--at`, not the clock.
fn what_if(
    config_path: &Path,
    now: Timestamp,
    asked: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut config = load(config_path, Secrets::Skip)?;
    daemon::log_crm_problems(&config);
    let scratch = tempfile::Builder::new()
        .prefix("dutywatch-what-if-")
        .tempdir()
        .context("creating a scratch directory for the dry run")?;
    let copy = scratch.path().join("what-if.db");
    // Only a database that is not there yet starts the what-if from nothing; one this
    // account cannot see is an error, not an empty history.
    let exists = config
        .database
        .try_exists()
        .with_context(|| format!("looking for `{}`", config.database.display()))?;
    if exists {
        Store::open_read_only(&config.database)?
            .backup_to(&copy)
            .with_context(|| format!("copying `{}`", config.database.display()))?;
    }
    let outbox = scratch.path().join("outbox");
    config.database = copy;
    config.mail.transport = Transport::File {
        dir: outbox.clone(),
    };
    let store = Store::open(&config.database)?;
    // A quarantined client as the daemon runs it, on the config it last loaded from.
    let config = daemon::restore_last_good(config, &store, Secrets::Skip);
    // A what-if of an --at in the past is what was asked; the clock behind the database is
    // not, and its answer (evidence read as from the future) would mislead without a word.
    let behind = if asked {
        None
    } else {
        crate::clock::check_not_behind(now, store.latest_activity()?).err()
    };
    let queued = store.escalation_count(None)?;
    // Mail the outbox held before the cycle, due now or waiting for a later attempt.
    let held = u64::try_from(store.undelivered_mail(None)?.len()).unwrap_or(u64::MAX);
    let copy = config.database.clone();
    let undelivered = cycle_and_report(config, store, now, json)?;
    if undelivered.now > 0 {
        // The scratch folder, not the relay: the dry run itself failed.
        bail!(
            "the dry run could not write {} mail(s) to its scratch folder: {}",
            undelivered.now,
            undelivered.reasons.join("; ")
        );
    }
    let decided = Store::open_read_only(&copy)?
        .escalation_count(None)?
        .saturating_sub(queued);
    let mails = std::fs::read_dir(&outbox).map_or(0, Iterator::count);
    let waiting = u64::try_from(mails)
        .unwrap_or(u64::MAX)
        .saturating_sub(decided);
    // Held before, not sent now: its next attempt is after `now`.
    let later = held.saturating_sub(waiting);
    let later_said = if later > 0 {
        format!(", and {later} more wait in the outbox for a later attempt")
    } else {
        String::new()
    };
    // On stderr, so `--json` output stays one JSON document.
    eprintln!(
        "dry run as of {now}: {mails} escalation mail(s) would be sent ({decided} decided by this cycle, {waiting} already waiting in the outbox){later_said}; nothing was stored and nothing was sent"
    );
    // A dry run never talks to the relay, so its exit status cannot say whether mail gets
    // through; say so when mail is stuck, rather than let a 0 read as "delivered".
    if held > 0 {
        eprintln!(
            "a dry run does not deliver: its exit status says nothing about the relay; the {held} waiting mail(s) are not delivered yet (`dutywatch status` shows why, `dutywatch once` retries them and exits 1 while they fail)"
        );
    }
    if let Some(behind) = behind {
        eprintln!(
            "warning: this dry run is not what a real cycle would do now: {behind}. `dutywatch once` and the daemon refuse to run until the clock has caught up"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `print_status` shows besides the duties: JSON instead of a table, each duty's
/// subjects, the library's duties one by one.
#[derive(Debug, Clone, Copy, Default)]
struct Shown {
    json: bool,
    subjects: bool,
    library: bool,
}

fn print_status(
    config: &Config,
    store: &Store,
    filter: &status::Filter,
    shown: Shown,
    now: Timestamp,
) -> anyhow::Result<status::Report> {
    let Shown {
        json,
        subjects,
        library,
    } = shown;
    let report = status::report(config, store, filter)?;
    // The states stay as they are; who said they are on which is told beside them.
    let acks = store.active_acks(filter.contractor.as_deref(), now)?;
    // The open incidents' 72-hour clocks, whichever party's duties are shown: an incident
    // concerns both.
    let incidents =
        crate::incident::status::open(config, store, filter.contractor.as_deref(), now)?;
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("acks".to_owned(), serde_json::to_value(&acks)?);
            object.insert(
                "incidents".to_owned(),
                crate::incident::status::json(&incidents, config),
            );
        }
        serde_json::to_writer_pretty(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else {
        write!(
            stdout,
            "{}",
            status::table(&report.duties, &config.timezone, subjects, library)
        )?;
        if let Some(note) = status::unwatched_party_note(config, filter) {
            write!(stdout, "{note}")?;
        }
        write!(
            stdout,
            "{}",
            crate::incident::status::text(&incidents, config)
        )?;
        write!(
            stdout,
            "{}",
            status::undelivered_table(&report.undelivered_mail, &config.timezone)
        )?;
        write!(stdout, "{}", crate::acks::status_lines(config, &acks))?;
    }
    Ok(report)
}

/// What a config that fails as a whole means for the daemon, and which of its problems made
/// it fail whole: one outside every client's block (a shared `[[duty]]`, `[mail]`) is every
/// client's, so no client can be quarantined alone for it.
fn refused_whole(errors: &config::ConfigErrors) -> String {
    let outside: Vec<String> = (errors.0.iter())
        // A client id given twice, or none readable, cannot be kept to one client either.
        .filter(|error| !error.key.starts_with("contractor") || error.key == "contractor.id")
        .map(|error| match error.line {
            Some(line) => format!("line {line} ({})", error.key),
            None => error.key.clone(),
        })
        .collect();
    let mut said = "The configuration is refused as a whole: `dutywatch run` does not start on it, and a running daemon keeps the config it has when reloaded.".to_owned();
    if !outside.is_empty() {
        let (these, are) = match outside.len() {
            1 => ("a problem", "is"),
            _ => ("problems", "are"),
        };
        said += &format!(
            " A problem inside one [[contractor]] block alone would only quarantine that client (perspective = \"msp\"), but {these} outside every client's block {are} every client's: {}.",
            outside.join(", ")
        );
    }
    said
}

/// Checks the config as of `now`, the instant each source's next runs are counted from.
fn check_config(path: &Path, now: Timestamp) -> anyhow::Result<ExitCode> {
    let config = match config::load_with(path, Secrets::ReadWhereReadable) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            eprintln!("{}", refused_whole(&errors));
            return Ok(ExitCode::FAILURE);
        }
    };
    // Every error of a quarantined client, as for a config that fails whole: CI of configs
    // must catch them. The clients that load are still checked below.
    if !config.quarantined.is_empty() {
        eprint!("{}", config.quarantine_errors());
    }
    if let Transport::Smtp(smtp) = &config.mail.transport
        && let Some(SmtpLogin {
            password: SmtpPassword::NotRead(origin),
            ..
        }) = &smtp.login
    {
        println!(
            "note: mail.password comes from {origin}, which only the service can read (systemd passes $CREDENTIALS_DIRECTORY); it is read, and checked, when the service starts"
        );
    }
    let mut crm_errors = 0;
    for contractor in &config.contractors {
        let watched = contractor
            .duties
            .iter()
            .filter(|d| config.perspective.watches(d))
            .count();
        println!(
            "contractor {} ({}): {} CRM row(s), {} source(s), {} duties ({} watched from the {:?} perspective)",
            contractor.id,
            contractor.name,
            contractor.crm.crm.rows().len(),
            contractor.sources.len(),
            contractor.duties.len(),
            watched,
            config.perspective,
        );
        for problem in config::crm_problems(contractor) {
            eprintln!("{problem}");
            crm_errors += 1;
        }
        for warning in config::crm_warnings(contractor) {
            println!("{warning}");
        }
        // The CMMC calendar as of today where the contractor is: what `sprs` says, so a date
        // typed a year ahead is caught before the first reminder goes wrong.
        if let Some(view) = crate::sprs::CmmcView::of(contractor, now) {
            for line in crate::sprs::cmmc_lines(&view) {
                let line = line.strip_prefix("note: ").unwrap_or(&line);
                println!("note: contractor[{}].cmmc: {line}", contractor.id);
            }
            if config.perspective == Perspective::Msp {
                println!(
                    "note: contractor[{}].cmmc: this MSP instance shows the calendar in `sprs` but mails no reminders of it: the contractor's own instance does (its status is the contractor's)",
                    contractor.id
                );
            }
        }
        // Not an error: a device's last report may be all there is. But a device silent for
        // weeks is then judged as it was, so say how to make it unknown instead.
        for duty in contractor
            .duties
            .iter()
            .filter(|d| config.perspective.watches(d))
        {
            let Some(kind) = contractor.source(&duty.source).map(|s| &s.evidence) else {
                continue;
            };
            let joined = |source: &str| contractor.source(source).map(|s| Arc::clone(&s.evidence));
            for field in duty.rule.unread_freshness(kind, &joined) {
                println!(
                    "note: contractor[{}].duty[{}]: a record is judged as it last reported however long ago, since nothing reads `{field}`; add unknown_when = \"{field} < now-7d\" (your number of days) so a device silent that long is unknown, not compliant",
                    contractor.id, duty.id
                );
            }
        }
        // Not an error: an export may not have been written yet. But the
        // duties reading it will be source_error until it is, so say it now.
        for source in &contractor.sources {
            let at = format!("note: contractor[{}].source[{}]", contractor.id, source.id);
            println!("{at}: {}", source.schedule.next_two_runs(now));
            let Some(pattern) = source.kind.file_pattern() else {
                // Not called here: check-config reads files, it does not call APIs.
                if let Some(url) = source.kind.api_url() {
                    println!("{at}: collected from {url} (not called by check-config)");
                }
                continue;
            };
            let unreadable = match sources::newest_match(pattern) {
                Ok(Some(_)) => {
                    report_current_export(source, &at);
                    continue;
                }
                Ok(None) | Err(CollectError::NoMatch { .. }) => {
                    closed_folder(pattern).map(|(dir, e)| format!("{}: {e}", dir.display()))
                }
                Err(error) => Some(error.to_string()),
            };
            match unreadable {
                // From an administrator's shell the service's folders may be closed.
                Some(error) => println!(
                    "{at}: cannot look for `{}`: {error}; this account may not see what the service sees",
                    pattern.display()
                ),
                None => println!(
                    "{at}: no file matches `{}` yet; its duties are source_error until one does",
                    pattern.display()
                ),
            }
        }
    }
    for line in shared_evidence(&config) {
        println!("{line}");
    }
    for client in &config.quarantined {
        eprintln!(
            "contractor {} ({}): QUARANTINED, {} problem(s): the daemon runs it on the last config it loaded from, if it has one (else it is not watched), and mails the MSP's contacts once",
            client.id,
            client.name,
            client.errors.len()
        );
    }
    if !config.quarantined.is_empty() {
        let ids: Vec<&str> = config.quarantined.iter().map(|q| q.id.as_str()).collect();
        eprintln!(
            "{} client(s) quarantined ({}); the other {} client(s) would run",
            ids.len(),
            ids.join(", "),
            config.contractors.len()
        );
    }
    if crm_errors > 0 {
        eprintln!("{crm_errors} CRM error(s); see `dutywatch crm lint` for the coverage table");
        return Ok(ExitCode::FAILURE);
    }
    if !config.quarantined.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    println!("configuration OK: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// A warning for each source that reads what another client's source reads (the same file or
/// glob, the same API call of the same tenant): a block copied for a new client and not
/// edited judges one client's evidence under the other's name, plausibly. Not an error: an MSP
/// may mean it (one portal answering for two clients).
fn shared_evidence(config: &Config) -> Vec<String> {
    let mut seen: Vec<(String, &str, &str)> = Vec::new();
    let mut lines = Vec::new();
    for contractor in &config.contractors {
        for source in &contractor.sources {
            let reads = match (&source.kind, source.kind.file_pattern()) {
                (kind, Some(pattern)) => {
                    // The file itself, however its path is spelt (`./`, `..`, a link).
                    let file = std::fs::canonicalize(pattern)
                        .unwrap_or_else(|_| config::without_dot_dot(pattern));
                    match kind {
                        config::SourceKind::File {
                            records: Some(records),
                            ..
                        } => format!("the records at `{records}` of `{}`", file.display()),
                        _ => format!("the file `{}`", file.display()),
                    }
                }
                (config::SourceKind::Graph(graph), None) => {
                    format!(
                        "{} ({:?}) of tenant {}",
                        graph.url, graph.shape, graph.tenant
                    )
                }
                (config::SourceKind::Arm(arm), None) => {
                    format!("{} of tenant {}", arm.resource_url(), arm.tenant)
                }
                (kind, None) => match kind.api_url() {
                    Some(url) => url.to_string(),
                    None => continue,
                },
            };
            if let Some((_, client, other)) = seen
                .iter()
                .find(|(read, client, _)| *read == reads && *client != contractor.id)
            {
                lines.push(format!(
                    "warning: contractor[{}].source[{}] reads what contractor[{client}].source[{other}] reads ({reads}): each client's duties would be judged on the same evidence; give each client its own export or call, unless that is meant",
                    contractor.id, source.id
                ));
            }
            seen.push((reads, contractor.id.as_str(), source.id.as_str()));
        }
    }
    lines
}

/// What the source's current export holds as its kind: how many records read, and the first
/// problems (file, line, field), so a wrong export or mapping shows before a duty goes
/// `source_error` or `no_evidence` over it.
fn report_current_export(source: &config::Source, at: &str) {
    const SHOWN: usize = 5;
    let kind = &source.evidence.name;
    // Only file sources come here, and a file source reads no clock.
    let (collected, parsed) =
        match sources::collect_parsed(source, &sources::Http::default(), Timestamp::UNIX_EPOCH) {
            Ok(both) => both,
            Err(error) => {
                println!("{at}: the current export does not read as `{kind}` evidence: {error}");
                return;
            }
        };
    println!(
        "{at}: `{}` holds {} readable `{kind}` record(s) of {}",
        collected.origin,
        parsed.records.len(),
        parsed.total
    );
    for finding in parsed.findings.iter().take(SHOWN) {
        println!("{at}: {finding}");
    }
    if parsed.findings.len() > SHOWN {
        println!(
            "{at}: … and {} more problem(s)",
            parsed.findings.len() - SHOWN
        );
    }
}

fn crm_lint(
    file: Option<&Path>,
    sheet: Option<&str>,
    config_path: &Path,
    packages: Option<Vec<String>>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let packages: Option<Vec<String>> = packages.map(|packages| {
        packages
            .into_iter()
            .map(|package| package.trim().to_owned())
            .filter(|package| !package.is_empty())
            .collect()
    });
    let reports: Vec<(String, LintReport)> = match file {
        Some(file) => {
            let bytes = std::fs::read(file)
                .with_context(|| format!("reading the CRM `{}`", file.display()))?;
            let load = Crm::from_file_with(
                &file.display().to_string(),
                &bytes,
                sheet,
                &CrmImport::default(),
            );
            vec![(file.display().to_string(), lint(&load, packages.as_deref()))]
        }
        None => {
            let config = load(config_path, Secrets::Skip)?;
            for client in &config.quarantined {
                eprintln!(
                    "contractor {} ({}) is quarantined and not linted here: {}",
                    client.id,
                    client.name,
                    client.summary()
                );
            }
            config
                .contractors
                .iter()
                .map(|c| (c.id.clone(), lint(&c.crm, Some(&c.packages))))
                .collect()
        }
    };
    let failed = reports.iter().any(|(_, report)| report.has_errors());
    let mut stdout = std::io::stdout().lock();
    if json {
        let value: serde_json::Map<String, serde_json::Value> = reports
            .iter()
            .map(|(name, report)| Ok((name.clone(), serde_json::to_value(report)?)))
            .collect::<Result<_, serde_json::Error>>()?;
        serde_json::to_writer_pretty(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else {
        for (name, report) in &reports {
            writeln!(stdout, "== {name}")?;
            for finding in &report.findings {
                writeln!(stdout, "{finding}")?;
            }
            let errors = report
                .findings
                .iter()
                .filter(|f| f.severity == dutywatch_checks::lint::Severity::Error)
                .count();
            let warnings = report.findings.len() - errors;
            writeln!(stdout, "\n{}", report.coverage)?;
            writeln!(stdout, "{errors} error(s), {warnings} warning(s)")?;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn evidence_add(
    config_path: &Path,
    client: Option<String>,
    duty_id: &str,
    file: &Path,
    manual: ManualNote,
    clock: &dyn Clock,
) -> anyhow::Result<ExitCode> {
    let ManualNote {
        note,
        by,
        done_at,
        verification,
    } = manual;
    let config = load(config_path, Secrets::Skip)?;
    if let Some(quarantined) = client.as_deref().and_then(|id| config.quarantined(id)) {
        bail!(
            "contractor `{}` is quarantined: {}",
            quarantined.id,
            quarantined.summary()
        );
    }
    let contractor = match (&client, config.contractors.as_slice()) {
        (Some(id), all) => all
            .iter()
            .find(|c| &c.id == id)
            .with_context(|| format!("no contractor `{id}` in {}", config.path.display()))?,
        (None, [only]) if config.quarantined.is_empty() => only,
        (None, all) => {
            let ids: Vec<&str> = all
                .iter()
                .map(|c| c.id.as_str())
                .chain(config.quarantined.iter().map(|q| q.id.as_str()))
                .collect();
            bail!(
                "several contractors are configured; say which with --client ({})",
                ids.join(", ")
            );
        }
    };
    let mut store = Store::open_checked(&config.database)?;
    let added = crate::manual::add(
        &mut store,
        contractor,
        duty_id,
        file,
        ManualNote {
            note,
            by,
            done_at,
            verification,
        },
        clock.now(),
    )?;
    let crate::manual::Added {
        id,
        name,
        sha256: digest,
        done_at,
        by,
    } = added;
    println!(
        "stored {id} for duty `{duty_id}` of `{}`: {name}, sha256 {digest}, done {done_at}, by {by}",
        contractor.id
    );
    println!("the daemon re-evaluates it at its next cycle; `dutywatch once` does it now");
    Ok(ExitCode::SUCCESS)
}

/// `dutywatch duties plan`: per contractor, per objective, who owns it and what watches it.
fn duties_plan(config_path: &Path, client: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    use dutywatch_checks::library::{Role, Watch, gaps};
    let config = load(config_path, Secrets::Skip)?;
    if let Some(quarantined) = client.and_then(|id| config.quarantined(id)) {
        bail!(
            "contractor `{}` is quarantined: {}",
            quarantined.id,
            quarantined.summary()
        );
    }
    let contractors: Vec<&config::Contractor> = config
        .contractors
        .iter()
        .filter(|c| client.is_none_or(|id| c.id == id))
        .collect();
    if let (Some(id), true) = (client, contractors.is_empty()) {
        bail!("no contractor `{id}` in {}", config.path.display());
    }
    let mut stdout = std::io::stdout().lock();
    let mut out = Vec::new();
    for contractor in contractors {
        let plan = contractor.plan();
        let owned = plan
            .iter()
            .filter(|row| row.owner.is_some_and(|o| !o.parties().is_empty()))
            .count();
        let unwatched = gaps(&plan).len();
        let library = contractor
            .duties
            .iter()
            .filter(|d| library::is_derived(&d.id))
            .count();
        if json {
            out.push(serde_json::json!({
                "contractor": contractor.id,
                "name": contractor.name,
                "library": contractor.library.enabled,
                "objectives": plan.len(),
                "owned": owned,
                "unwatched_owned": unwatched,
                "library_duties": library,
                "plan": &plan,
            }));
            continue;
        }
        writeln!(
            stdout,
            "{} ({}): {} objectives, {owned} owned, {unwatched} of them not watched on every side; library {}, {library} library duties",
            contractor.id,
            contractor.name,
            plan.len(),
            if contractor.library.enabled {
                "enabled"
            } else {
                "off"
            },
        )?;
        writeln!(
            stdout,
            "{:<10} {:<14} {:<21} {:<26} {:<12} {:<10} ORIGIN / WHY",
            "OBJECTIVE", "OWNER", "PARTY", "DUTY", "BY", "CADENCE"
        )?;
        for row in &plan {
            let owner = row.owner.map_or("-", |o| o.as_str());
            if row.sides.is_empty() {
                writeln!(
                    stdout,
                    "{:<10} {:<14} {:<21} {:<26} {:<12} {:<10} {}",
                    row.objective.to_string(),
                    owner,
                    "-",
                    "-",
                    "unwatched",
                    "-",
                    row.unwatched.as_deref().unwrap_or_default()
                )?;
            }
            for side in &row.sides {
                let (duty, by, cadence, why) = match &side.watch {
                    Watch::Duty {
                        duty,
                        by,
                        cadence,
                        origin,
                        ..
                    } => (duty.as_str(), *by, cadence.as_str(), origin.as_str()),
                    Watch::Unwatched { reason } => ("-", "unwatched", "-", reason.as_str()),
                };
                let party = match side.role {
                    Role::Does => side.party.as_str().to_owned(),
                    role => format!("{} {}", side.party.as_str(), role.as_str()),
                };
                writeln!(
                    stdout,
                    "{:<10} {:<14} {party:<21} {duty:<26} {by:<12} {cadence:<10} {why}",
                    row.objective.to_string(),
                    owner,
                )?;
            }
        }
    }
    if json {
        serde_json::to_writer_pretty(&mut stdout, &serde_json::json!({ "contractors": out }))?;
        writeln!(stdout)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `dutywatch kinds` as text: one block per kind.
fn kinds_text(kinds: &dutywatch_checks::kind::Kinds) -> String {
    use dutywatch_checks::kind::Empty;
    use std::fmt::Write as _;
    let mut out = String::new();
    for name in kinds.names() {
        let Some(kind) = kinds.get(name) else {
            continue;
        };
        let subject = if kind.subject.is_empty() {
            "the duty as a whole".to_owned()
        } else {
            kind.subject.join(" / ")
        };
        let empty = match kind.empty {
            Empty::Plausible => "an empty export is a real answer",
            Empty::NoEvidence => "an empty export is no evidence",
        };
        let _ = writeln!(out, "{name}  (subject: {subject}; {empty})");
        let width = kind.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for field in &kind.fields {
            let from: Vec<String> = field.from.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "  {:<width$}  {:<9}  {:<8}  from {}{}",
                field.name,
                field.ty.name(),
                if field.required { "required" } else { "" },
                from.join(", "),
                if field.ty.is_time() && !field.event {
                    "  (set ahead: not checked against the evidence's instant)"
                } else {
                    ""
                },
            );
            if let dutywatch_checks::kind::FieldType::Enum(values) = &field.ty {
                let _ = writeln!(out, "  {:<width$}  one of {}", "", values.join(", "));
            }
        }
        out.push('\n');
    }
    out
}

/// `dutywatch kinds --json`.
fn kinds_json(kinds: &dutywatch_checks::kind::Kinds) -> serde_json::Value {
    use dutywatch_checks::kind::{Empty, FieldType};
    kinds
        .names()
        .filter_map(|name| kinds.get(name))
        .map(|kind| {
            serde_json::json!({
                "name": kind.name,
                "subject": kind.subject,
                "empty_is_real_answer": kind.empty == Empty::Plausible,
                "fields": kind.fields.iter().map(|field| serde_json::json!({
                    "name": field.name,
                    "type": field.ty.name(),
                    "values": match &field.ty { FieldType::Enum(values) => values.clone(), _ => Vec::new() },
                    "required": field.required,
                    "ahead": field.ty.is_time() && !field.event,
                    "from": field.from.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_only_rfc3339_instants() {
        for (text, expected) in [
            ("2026-11-23T15:00:00Z", "2026-11-23T15:00:00Z"),
            ("2026-11-23t15:00:00z", "2026-11-23T15:00:00Z"),
            ("2026-11-23 10:00:00-05:00", "2026-11-23T15:00:00Z"),
            ("2026-11-23T10:00:00.25-05:00", "2026-11-23T15:00:00.25Z"),
            ("2026-11-24T14:59:00+23:59", "2026-11-23T15:00:00Z"),
        ] {
            assert_eq!(
                instant(text).map(|t| t.to_string()),
                Ok(expected.to_owned()),
                "{text}"
            );
        }
        for (text, expected) in [
            (
                "2026-03-08T02:30:00+25:00",
                "offset +25:00, which is out of range",
            ),
            ("2026-03-08T02:30:00+24:00", "out of range"),
            ("2026-03-08T02:30:00+05:60", "out of range"),
            ("2026-03-08T02:30:00", "not an RFC 3339 instant"),
            ("2026-03-08T02:30Z", "not an RFC 3339 instant"),
            ("2026-03-08T02:30:00+0500", "not an RFC 3339 instant"),
            ("2026-03-08T02:30:00+05", "not an RFC 3339 instant"),
            ("2026-03-08T02:30:00.Z", "not an RFC 3339 instant"),
            (
                "2026-03-08T02:30:00Z[America/New_York]",
                "not an RFC 3339 instant",
            ),
            ("20260308T023000Z", "not an RFC 3339 instant"),
            ("2026-02-30T00:00:00Z", "not a valid instant"),
            ("9999-12-31T23:59:59Z", "is out of range"),
            ("", "not an RFC 3339 instant"),
            ("2026-03-08T02:30:00Zé", "not an RFC 3339 instant"),
        ] {
            let error = instant(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("overflow"), "{text}: {error}");
        }
    }

    #[test]
    fn at_must_lie_within_fifty_years_of_the_clock() {
        let clock: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        for ok in [
            "2076-12-01T00:00:00Z",
            "1976-12-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
        ] {
            let at: Timestamp = ok.parse().unwrap();
            assert_eq!(within_window(at, clock).unwrap(), at);
        }
        for far in [
            "2076-12-01T00:00:01Z",
            "1976-11-30T23:59:59Z",
            "9999-12-30T00:00:00Z",
        ] {
            let error = within_window(far.parse().unwrap(), clock)
                .unwrap_err()
                .to_string();
            assert!(error.contains("out of range"), "{far}: {error}");
            assert!(error.contains("within 50 years of now"), "{error}");
        }
    }
}
