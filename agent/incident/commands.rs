//! `dutywatch incident …`: the people involved record each step (who, when), and read the
//! open incidents' clocks and an incident's timeline.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use dutywatch_checks::incident::{
    self, Basis, Deadline, Entry, Incident, Policy, Step, hours_text,
};
use dutywatch_checks::printable::printable;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::mail::when;
use crate::clock::Clock;
use crate::config::{self, Config, Contractor, Secrets};
use crate::store::{IncidentChange, IncidentRefusal, Store, StoredIncident};

#[derive(Debug, Args, Clone)]
pub struct Common {
    #[command(flatten)]
    pub config: crate::cli::ConfigArg,
    /// The contractor (client id); optional with one contractor.
    #[arg(long)]
    pub client: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct StepArgs {
    #[command(flatten)]
    pub common: Common,
    /// The incident's id (or any id an input knows it by: a Sentinel name, a Defender id).
    pub id: String,
    /// Who did it (name and role, e.g. "Chris Vance (IT lead)"): the timeline names them.
    #[arg(long)]
    pub by: String,
    /// When it was done (RFC 3339); default now.
    #[arg(long, value_parser = crate::cli::instant)]
    pub at: Option<Timestamp>,
    /// A note for the record (on what basis, what was sent, where the media are).
    #[arg(long, allow_hyphen_values = true)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident detected now (or --at): its clocks start.
    Open {
        #[command(flatten)]
        step: StepArgs,
        #[arg(long, allow_hyphen_values = true)]
        title: Option<String>,
    },
    /// The MSP handed the incident to the contractor.
    Handoff(StepArgs),
    /// The contractor acknowledged the hand-off.
    Ack(StepArgs),
    /// Someone determined it is a reportable cyber incident: the 72 hours run from --at.
    Discover(StepArgs),
    /// Reported to DoD through DIBNet, with the report number DoD gave.
    Report {
        #[command(flatten)]
        step: StepArgs,
        /// The DIBNet incident report number.
        #[arg(long)]
        number: String,
    },
    /// Isolated malicious software submitted to DC3 (never to the Contracting Officer).
    Malware(StepArgs),
    /// The DoD report number given to the prime (subcontractors).
    Prime(StepArgs),
    /// Images and packet captures preserved (kept until report + 90 days).
    Preserve(StepArgs),
    /// The preserved media released (after the 90 days; earlier only with --force, e.g. DoD
    /// declined interest).
    Release {
        #[command(flatten)]
        step: StepArgs,
        /// Release before the 90 days are up (say why with --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why they are released early, for the record.
        #[arg(long, allow_hyphen_values = true)]
        reason: Option<String>,
    },
    /// Close the incident; refused while the preservation period runs unless --force.
    Close {
        #[command(flatten)]
        step: StepArgs,
        /// Close although a duty is still open (say why with --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why it is closed before its duties are done, for the record.
        #[arg(long, allow_hyphen_values = true)]
        reason: Option<String>,
    },
    /// Open incidents with the hours left on each clock.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        json: bool,
    },
    /// An incident's timeline and clocks, as an assessor asks for them.
    Show {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// How far `--at` may run ahead of the clock: skew between hosts, not a plan.
const AT_AHEAD_TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

/// One step to record, with what only some steps take.
struct Recording {
    step: Step,
    args: StepArgs,
    /// `open`'s title.
    title: Option<String>,
    /// `report`'s DIBNet number.
    number: Option<String>,
    /// `close`'s and `release`'s `--force` and `--reason`.
    early: Option<(bool, Option<String>)>,
}

impl Recording {
    fn plain(step: Step, args: StepArgs) -> Recording {
        Recording {
            step,
            args,
            title: None,
            number: None,
            early: None,
        }
    }
}

pub fn run(command: IncidentCommand, clock: &dyn Clock) -> anyhow::Result<ExitCode> {
    let now = clock.now();
    let recording = match command {
        IncidentCommand::List { common, json } => return list(&common, json, now),
        IncidentCommand::Show { common, id, json } => return show(&common, &id, json, now),
        IncidentCommand::Open { step, title } => Recording {
            title,
            ..Recording::plain(Step::Detected, step)
        },
        IncidentCommand::Handoff(a) => Recording::plain(Step::HandedOff, a),
        IncidentCommand::Ack(a) => Recording::plain(Step::Acknowledged, a),
        IncidentCommand::Discover(a) => Recording::plain(Step::Discovered, a),
        IncidentCommand::Report { step, number } => Recording {
            number: Some(number),
            ..Recording::plain(Step::Reported, step)
        },
        IncidentCommand::Malware(a) => Recording::plain(Step::MalwareSubmitted, a),
        IncidentCommand::Prime(a) => Recording::plain(Step::PrimeNotified, a),
        IncidentCommand::Preserve(a) => Recording::plain(Step::Preserved, a),
        IncidentCommand::Release {
            step,
            force,
            reason,
        } => Recording {
            early: Some((force, reason)),
            ..Recording::plain(Step::Released, step)
        },
        IncidentCommand::Close {
            step,
            force,
            reason,
        } => Recording {
            early: Some((force, reason)),
            ..Recording::plain(Step::Closed, step)
        },
    };
    record(recording, now)
}

/// Records one step as of `now` (its `--at`, default `now`), refusing what is out of order,
/// and queues the warnings it makes due in the same transaction.
fn record(recording: Recording, now: Timestamp) -> anyhow::Result<ExitCode> {
    let Recording {
        step,
        args,
        title,
        number,
        early,
    } = recording;
    // What is typed is kept as evidence texts are (`incident::observe`): printable, since the
    // timeline goes to terminals and mail.
    // Trimmed first, so a value of blanks and line ends is still refused as empty.
    let id = printable(args.id.trim()).into_owned();
    let by = printable(args.by.trim());
    let title = title.as_deref().map(|t| printable(t.trim()).into_owned());
    if id.is_empty() {
        bail!("the incident id is empty: give the id the MSP's ticket or Defender uses");
    }
    if by.is_empty() {
        bail!(
            "--by is empty: say who did it (e.g. --by \"Chris Vance (IT lead)\"), the timeline names them"
        );
    }
    let at = args.at.unwrap_or(now);
    if at > now.checked_add(AT_AHEAD_TOLERANCE).unwrap_or(now) {
        bail!("--at {at} is ahead of the clock ({now}): record a step once it is done");
    }
    let number = match number.as_deref().map(str::trim) {
        Some("") => bail!("--number is empty: give the incident report number DIBNet assigned"),
        other => other.map(|n| printable(n).into_owned()),
    };
    let config = load(&args.common.config.config)?;
    let contractor = pick(&config, args.common.client.as_deref())?;
    let mut store = Store::open_checked(&config.database)
        .with_context(|| format!("opening the database `{}`", config.database.display()))?;
    let mut note = args
        .note
        .as_deref()
        .map(|n| printable(n.trim()).into_owned());
    // Refusals give instants where the people recording the steps are.
    let show = |at: Timestamp| when(at, &contractor.timezone);
    if let Some((force, reason)) = &early {
        let current = store
            .incident(&contractor.id, &id)?
            .with_context(|| unknown(&id))?;
        let (blocker, word) = match step {
            Step::Released => (current.incident.release_blocker(at), "release"),
            _ => (current.incident.close_blocker(at), "close"),
        };
        if let Some(blocker) = blocker {
            let reason = printable(reason.as_deref().map(str::trim).unwrap_or_default());
            if !force {
                bail!(
                    "incident `{}` cannot be {word}d yet: {}",
                    current.incident.id,
                    blocker.describe(&show)
                );
            }
            let done = blocker.forced();
            if reason.is_empty() {
                bail!("--force needs --reason: why it is {done} is kept for the record");
            }
            note = Some(match note {
                Some(n) => format!("{done} ({reason}); {n}"),
                None => format!("{done} ({reason})"),
            });
        }
    }
    let entry = Entry {
        step,
        at,
        by: by.to_string(),
        note,
        report_number: number,
    };
    let change = match step {
        Step::Detected => IncidentChange::Open {
            id: &id,
            title: title.as_deref(),
            entry,
        },
        _ => IncidentChange::Step { id: &id, entry },
    };
    let update = store.update_incidents(
        &contractor.id,
        &config.incidents.policy_for(contractor).terms,
        &[change],
        now,
        &mut super::decide(&config, contractor, now),
    )?;
    let update = match update {
        Ok(update) => update,
        Err(IncidentRefusal::Unknown(id)) => bail!("{}", unknown(&id)),
        Err(IncidentRefusal::Step { id, error }) => {
            bail!("incident `{id}`: {}", error.describe(&show))
        }
        Err(refusal) => bail!("{refusal}"),
    };
    let stored = store
        .incident(&contractor.id, &id)?
        .with_context(|| unknown(&id))?;
    println!(
        "{}: {} at {} by {by}",
        stored.incident.id,
        step.describe(),
        when(at, &contractor.timezone)
    );
    for deadline in incident::clocks(
        &stored.incident,
        &config.incidents.policy_for(contractor),
        now,
    ) {
        if deadline.done.is_none() {
            println!(
                "  {}",
                clock_line(&deadline, &stored.incident, &contractor.timezone)
            );
        }
    }
    if !update.queued.is_empty() {
        println!(
            "  {} warning(s) queued; the daemon sends them (or `dutywatch once`)",
            update.queued.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What to do about a running clock that `step` stops, due at `due` (as `when` says it), and
/// the command that records it done.
pub(super) fn next_step_words(step: Step, id: &str, due: &str) -> (String, String) {
    let what = match step {
        Step::HandedOff => format!("hand it off to the contractor by {due}"),
        Step::Acknowledged => format!("acknowledge the hand-off by {due}"),
        Step::Reported => format!("report it to DoD through DIBNet by {due}"),
        Step::PrimeNotified => format!("give the prime the DoD report number by {due}"),
        Step::Preserved => {
            format!("record where the images and captures are kept (they must be kept until {due})")
        }
        Step::Released => {
            format!("keep the preserved media until {due}, then record their release")
        }
        other => {
            return (
                format!("{} by {due}", other.describe()),
                format!("dutywatch incident show {id}"),
            );
        }
    };
    // The report also takes the number DIBNet gave.
    let number = if step == Step::Reported {
        " --number DIBNET-NUMBER"
    } else {
        ""
    };
    let command = format!(
        "dutywatch incident {} {id}{number} --by NAME",
        step.command()
    );
    (what, command)
}

/// What `incident list` says of an open incident that runs no clock.
pub(super) const NO_CLOCK: &str = "no clock runs (not a reportable incident)";

/// The open incidents of `contractors`, in their order.
pub(super) fn open_incidents<'a>(
    store: &Store,
    contractors: impl IntoIterator<Item = &'a Contractor>,
) -> anyhow::Result<Vec<(&'a Contractor, StoredIncident)>> {
    let mut all = Vec::new();
    for contractor in contractors {
        for stored in store.incidents(&contractor.id)? {
            if !stored.incident.is_closed() {
                all.push((contractor, stored));
            }
        }
    }
    Ok(all)
}

fn unknown(id: &str) -> String {
    format!(
        "no incident `{id}`: `dutywatch incident list` shows the open ones, `incident open` starts one"
    )
}

fn load(path: &Path) -> anyhow::Result<Config> {
    config::load_with(path, Secrets::Skip).map_err(|errors| anyhow::anyhow!("{errors}"))
}

/// The contractor `--client` names, or the only one.
fn pick<'a>(config: &'a Config, client: Option<&str>) -> anyhow::Result<&'a Contractor> {
    match (client, config.contractors.as_slice()) {
        (Some(id), all) => all
            .iter()
            .find(|c| c.id == id)
            .with_context(|| format!("no contractor `{id}` in {}", config.path.display())),
        (None, [only]) => Ok(only),
        (None, all) => {
            let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
            bail!(
                "several contractors are configured; say which with --client ({})",
                ids.join(", ")
            )
        }
    }
}

/// One clock as `incident list`, `incident show` and `status` print it: its deadline, the time
/// left or overdue, and what the report clock runs from.
pub(super) fn clock_line(
    deadline: &Deadline,
    incident: &incident::Incident,
    zone: &jiff::tz::TimeZone,
) -> String {
    let due = when(deadline.due, zone);
    // The 90 days run from the report whether or not anyone preserved anything: a running
    // hold with no `preserve` step on record may be keeping nothing.
    let unpreserved = deadline.clock == incident::ClockName::Preservation
        && deadline.done.is_none()
        && !deadline.hold_ended()
        && incident.at(Step::Preserved).is_none();
    format!(
        "{:<28} due {due}  {}{}",
        deadline.clock.describe(),
        clock_state(deadline, zone),
        if unpreserved {
            "; no `incident preserve` recorded: record where the images and captures are kept"
        } else {
            ""
        }
    )
}

/// Where a clock stands: done when, the time left or overdue, and what the report clock runs
/// from (`46 hours left (from discovery)`).
pub(super) fn clock_state(deadline: &Deadline, zone: &jiff::tz::TimeZone) -> String {
    let state = match (deadline.done, deadline.left) {
        (Some(done), _) => match (deadline.missed_by(), deadline.clock) {
            (Some(missed), incident::ClockName::Preservation) => format!(
                "released {}, {} before the hold ended",
                when(done, zone),
                hours_text(missed)
            ),
            (Some(missed), _) => format!("done {}, {} LATE", when(done, zone), hours_text(missed)),
            (None, _) => format!("done {}", when(done, zone)),
        },
        (None, Some(left)) if deadline.hold_ended() => {
            format!(
                "hold ended {} ago: the media may be released",
                hours_text(left)
            )
        }
        (None, Some(left)) if deadline.overdue() => {
            format!("OVERDUE by {}", hours_text(left))
        }
        (None, Some(left)) => format!("{} left", hours_text(left)),
        (None, None) => String::new(),
    };
    let basis = match deadline.basis {
        Some(Basis::Detection) => " (from detection: discovery not recorded)",
        Some(Basis::Discovery) => " (from discovery)",
        None => "",
    };
    format!("{state}{basis}")
}

pub(super) fn clock_json(deadline: &Deadline) -> serde_json::Value {
    json!({
        "clock": deadline.clock.as_str(),
        "starts": deadline.starts.to_string(),
        "due": deadline.due.to_string(),
        "done": deadline.done.map(|d| d.to_string()),
        "seconds_left": deadline.left.map(|l| l.as_secs()),
        "hours_left": deadline.left.map(|l| (l.as_secs() as f64 / 36.0).floor() / 100.0),
        "overdue": deadline.overdue(),
        // Done after its deadline, by how much; for the preservation hold, the media
        // released before it ended, by how much.
        "missed_by_seconds": deadline
            .missed_by()
            .filter(|_| deadline.clock != incident::ClockName::Preservation)
            .map(|m| m.as_secs()),
        "released_early_by_seconds": deadline
            .missed_by()
            .filter(|_| deadline.clock == incident::ClockName::Preservation)
            .map(|m| m.as_secs()),
        "basis": deadline.basis.map(|b| match b {
            Basis::Discovery => "discovery",
            Basis::Detection => "detection",
        }),
    })
}

fn incident_json(
    contractor: &Contractor,
    stored: &StoredIncident,
    config: &Config,
    now: Timestamp,
) -> serde_json::Value {
    let inc = &stored.incident;
    let policy = config.incidents.policy_for(contractor);
    json!({
        "client": contractor.id,
        "id": inc.id,
        "aliases": stored.aliases,
        "title": inc.title,
        "severity": inc.severity,
        "classification": inc.classification,
        "reportable": inc.reportable,
        "closed": inc.is_closed(),
        "report_number": inc.report_number(),
        "opened_at": stored.opened_at.to_string(),
        "opened_by": stored.opened_by,
        "terms": terms_json(inc, &policy),
        "clocks": incident::clocks(inc, &policy, now)
            .iter()
            .map(clock_json)
            .collect::<Vec<_>>(),
        "timeline": inc.entries.iter().map(|e| json!({
            "step": e.step.as_str(),
            "at": e.at.to_string(),
            "by": e.by,
            "note": e.note,
            "report_number": e.report_number,
        })).collect::<Vec<_>>(),
    })
}

/// The hours an incident is held to, in seconds, and whether they were fixed when it opened
/// (`false`: the config in force, for an incident opened before terms were recorded).
fn terms_json(incident: &Incident, policy: &Policy) -> serde_json::Value {
    let terms = incident.terms_under(policy);
    json!({
        "handoff_within_secs": terms.handoff_within.as_secs(),
        "ack_within_secs": terms.ack_within.as_secs(),
        "subcontractor": terms.subcontractor,
        "prime_within_secs": terms.prime_within.as_secs(),
        "fixed_when_opened": incident.terms.is_some(),
    })
}

fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::open_read_only(&config.database).map_err(anyhow::Error::from)
}

/// `incident list`: every open incident and the hours left on each running clock.
fn list(common: &Common, json: bool, now: Timestamp) -> anyhow::Result<ExitCode> {
    let config = load(&common.config.config)?;
    let contractors: Vec<&Contractor> = match &common.client {
        Some(id) => vec![pick(&config, Some(id))?],
        None => config.contractors.iter().collect(),
    };
    let store = open_store(&config)?;
    let mut out = std::io::stdout().lock();
    let all = open_incidents(&store, contractors)?;
    if json {
        let items: Vec<_> = all
            .iter()
            .map(|(c, s)| incident_json(c, s, &config, now))
            .collect();
        serde_json::to_writer_pretty(&mut out, &items)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        writeln!(out, "no open incidents")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "open incidents as of {}", when(now, &config.timezone))?;
    for (contractor, stored) in &all {
        let inc = &stored.incident;
        writeln!(
            out,
            "\n{}  {}  {}{}",
            contractor.id,
            inc.id,
            inc.title.as_deref().unwrap_or("(no title)"),
            inc.report_number()
                .map(|n| format!("  [DIBNet {n}]"))
                .unwrap_or_default()
        )?;
        let clocks = incident::clocks(inc, &config.incidents.policy_for(contractor), now);
        if clocks.is_empty() {
            writeln!(out, "  {NO_CLOCK}")?;
        }
        for deadline in clocks {
            writeln!(
                out,
                "  {}",
                clock_line(&deadline, inc, &contractor.timezone)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The hours `incident` is held to, and whether the config now says otherwise: the terms
/// were fixed when it opened, so an edit since applies to the incidents opened after it.
fn terms_lines(incident: &Incident, policy: &Policy) -> Vec<String> {
    let now_in_force = policy.terms;
    let Some(terms) = incident.terms else {
        return vec![format!(
            "held to:        {} (the config in force: it opened before dutywatch recorded each incident's terms)",
            now_in_force.describe()
        )];
    };
    let mut lines = vec![format!(
        "held to:        {} (fixed when it opened)",
        terms.describe()
    )];
    if terms != now_in_force {
        lines.push(format!(
            "                the config now says {}: incidents opened from now on are held to that",
            now_in_force.describe()
        ));
    }
    lines
}

/// `incident show`: the timeline, who did what when, and the clocks.
fn show(common: &Common, id: &str, json: bool, now: Timestamp) -> anyhow::Result<ExitCode> {
    let config = load(&common.config.config)?;
    let contractor = pick(&config, common.client.as_deref())?;
    let store = open_store(&config)?;
    // Ids are kept printable (`record`), so what was typed is looked up the same way.
    let id = &printable(id.trim());
    let stored = store
        .incident(&contractor.id, id)?
        .with_context(|| unknown(id))?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &incident_json(contractor, &stored, &config, now))?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let inc = &stored.incident;
    writeln!(
        out,
        "incident {} of {} ({})",
        inc.id, contractor.name, contractor.id
    )?;
    writeln!(
        out,
        "title:          {}",
        inc.title.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "severity:       {}",
        inc.severity.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "classification: {}",
        inc.classification.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "known as:       {}", stored.aliases.join(", "))?;
    writeln!(
        out,
        "opened:         {} by {}",
        when(stored.opened_at, &contractor.timezone),
        stored.opened_by
    )?;
    let policy = config.incidents.policy_for(contractor);
    for line in terms_lines(inc, &policy) {
        writeln!(out, "{line}")?;
    }
    if let Some(number) = inc.report_number() {
        writeln!(out, "DIBNet report:  {number}")?;
    }
    if let Some(until) = inc.preserve_until() {
        writeln!(
            out,
            "preserve until: {} (report + 90 days)",
            when(until, &contractor.timezone)
        )?;
    }
    writeln!(out, "\ntimeline:")?;
    for e in &inc.entries {
        writeln!(
            out,
            "  {}  {:<38} by {}{}{}",
            when(e.at, &contractor.timezone),
            e.step.describe(),
            e.by,
            e.report_number
                .as_deref()
                .map(|n| format!("  report {n}"))
                .unwrap_or_default(),
            e.note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        )?;
    }
    let clocks = incident::clocks(inc, &policy, now);
    if !clocks.is_empty() {
        writeln!(out, "\nclocks as of {}:", when(now, &contractor.timezone))?;
        for deadline in clocks {
            writeln!(
                out,
                "  {}",
                clock_line(&deadline, inc, &contractor.timezone)
            )?;
        }
    } else if let Some(closed) = inc.at(Step::Closed) {
        // Its clocks stopped at the close: what became of each, as the export has it.
        let deadlines = incident::deadlines_on_record(inc, &policy, closed);
        if !deadlines.is_empty() {
            writeln!(
                out,
                "\ndeadlines as closed at {}:",
                when(closed, &contractor.timezone)
            )?;
        }
        for deadline in deadlines {
            let (outcome, by) = deadline.outcome(inc, true);
            writeln!(
                out,
                "  {:<28} due {}  {}{}",
                deadline.clock.describe(),
                when(deadline.due, &contractor.timezone),
                outcome.describe(),
                by.map(|by| format!(", {}", outcome.off(by)))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;
    use crate::cli::Cli;

    /// Refusals tell people to run `incident <command>`: each must be a subcommand that is
    /// there.
    #[test]
    fn each_step_names_an_incident_subcommand_that_exists() {
        let cli = Cli::command();
        let incident = cli
            .find_subcommand("incident")
            .expect("the incident command");
        for step in Step::ALL {
            assert!(
                incident.find_subcommand(step.command()).is_some(),
                "`incident {}` ({step}) is no subcommand",
                step.command()
            );
        }
    }
}
