//! The incidents of the assessor's package (3.6.1, 3.6.2 and DFARS 252.204-7012):
//! `incident_timeline.csv`, every step recorded for every incident with who recorded it, and
//! `incident_deadlines.csv`, each deadline the clause and the CRM set (hand-off,
//! acknowledgement, the 72-hour DoD report, the prime's notice, the 90-day media hold) with
//! when its step was recorded and whether it was kept. Closed incidents are included: an
//! assessor asks for the incidents of the whole period, not only the open ones. Incidents are
//! those that opened a reportable clock (what the store keeps); the deadlines are counted
//! with the configured hours as they are now.

use std::path::Path;

use dutywatch_checks::incident::{self, Basis, ClockName, Deadline, Step};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{PackageCsv, utc, yes_no};
use crate::config::Config;
use crate::coverage::{ClientCoverage, local};
use crate::store::{Store, StoredIncident};

pub(super) const TIMELINE: &str = "incident_timeline.csv";
pub(super) const DEADLINES: &str = "incident_deadlines.csv";

/// One incident of an exported client with its deadlines as judged for the package.
pub(super) struct OnRecord {
    pub(super) client: String,
    pub(super) stored: StoredIncident,
    pub(super) deadlines: Vec<DeadlineOnRecord>,
}

/// A deadline of an incident and what became of it.
pub(super) struct DeadlineOnRecord {
    pub(super) deadline: Deadline,
    pub(super) starts_from: &'static str,
    pub(super) outcome: Outcome,
    /// How far it was missed, or for media released early how early.
    pub(super) by: Option<SignedDuration>,
    /// The note of the step that stopped it, or of the close that ended it without that step.
    pub(super) note: String,
}

/// The exported clients' incidents, closed ones included, each deadline judged as of `now`
/// (a closed incident's as of its close: its clocks stopped then). The CSV files and the
/// HTML page are both written from this.
pub(super) fn on_record(
    config: &Config,
    store: &Store,
    clients: &[ClientCoverage],
    now: Timestamp,
) -> anyhow::Result<Vec<OnRecord>> {
    let mut out = Vec::new();
    for client in clients {
        let Some(contractor) = config
            .contractors
            .iter()
            .find(|c| c.id == client.contractor)
        else {
            continue;
        };
        let policy = config.incidents.policy_for(contractor);
        for stored in store.incidents(&contractor.id)? {
            let i = &stored.incident;
            // A closed incident's clocks stopped when it was closed: a step it never took is
            // judged as of then, not as running on for ever.
            let closed = i.at(Step::Closed);
            let deadlines = incident::deadlines_on_record(i, &policy, closed.unwrap_or(now))
                .into_iter()
                .map(|deadline| {
                    let (outcome, by) = outcome(&deadline, closed.is_some());
                    let stopped = match deadline.done {
                        Some(_) => Some(deadline.stopped_by()),
                        None => closed.map(|_| Step::Closed),
                    };
                    let note = stopped
                        .and_then(|step| i.entry(step))
                        .and_then(|e| e.note.clone())
                        .unwrap_or_default();
                    DeadlineOnRecord {
                        starts_from: starts_from(&deadline),
                        deadline,
                        outcome,
                        by,
                        note,
                    }
                })
                .collect();
            out.push(OnRecord {
                client: contractor.id.clone(),
                stored,
                deadlines,
            });
        }
    }
    Ok(out)
}

/// Writes both files for `incidents` into `out`; how many incidents.
pub(super) fn write(out: &Path, incidents: &[OnRecord], zone: &TimeZone) -> anyhow::Result<usize> {
    let path = out.join(TIMELINE);
    let mut csv = PackageCsv::create(&path)?;
    csv.row([
        "client",
        "incident",
        "aliases",
        "title",
        "severity",
        "classification",
        "reportable",
        "step",
        "at",
        "at_local",
        "by",
        "report_number",
        "note",
    ])?;
    for OnRecord { client, stored, .. } in incidents {
        let i = &stored.incident;
        for entry in &i.entries {
            csv.row([
                client.clone(),
                i.id.clone(),
                stored.aliases.join(" "),
                i.title.clone().unwrap_or_default(),
                i.severity.clone().unwrap_or_default(),
                i.classification.clone().unwrap_or_default(),
                yes_no(i.reportable),
                entry.step.to_string(),
                utc(Some(entry.at)),
                local(Some(entry.at), zone),
                entry.by.clone(),
                entry.report_number.clone().unwrap_or_default(),
                entry.note.clone().unwrap_or_default(),
            ])?;
        }
    }
    csv.finish()?;

    let path = out.join(DEADLINES);
    let mut csv = PackageCsv::create(&path)?;
    csv.row([
        "client",
        "incident",
        "deadline",
        "starts",
        "from",
        "due",
        "due_local",
        "done",
        "done_local",
        "outcome",
        // How far the deadline was missed, or for media released early how early.
        "by_seconds",
        "note",
    ])?;
    for OnRecord {
        client,
        stored,
        deadlines,
    } in incidents
    {
        for d in deadlines {
            let deadline = &d.deadline;
            csv.row([
                client.clone(),
                stored.incident.id.clone(),
                deadline.clock.as_str().to_owned(),
                utc(Some(deadline.starts)),
                d.starts_from.to_owned(),
                utc(Some(deadline.due)),
                local(Some(deadline.due), zone),
                utc(deadline.done),
                local(deadline.done, zone),
                d.outcome.as_str().to_owned(),
                d.by.map_or_else(String::new, |s| s.as_secs().to_string()),
                d.note.clone(),
            ])?;
        }
    }
    csv.finish()?;
    Ok(incidents.len())
}

/// What the deadline counts from.
fn starts_from(deadline: &Deadline) -> &'static str {
    match (deadline.clock, deadline.basis) {
        (ClockName::Report, Some(Basis::Discovery)) => "discovery",
        // No discovery recorded: the earliest detection stands in, the stricter reading.
        (ClockName::Report, _) => "detection (no discovery recorded)",
        (ClockName::Handoff, _) => "detection",
        (ClockName::Acknowledge, _) => "handoff",
        (ClockName::Prime | ClockName::Preservation, _) => "report",
    }
}

/// What became of a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Done in time.
    Kept,
    /// Done late (by how much).
    Missed,
    /// Media released before the 90 days ended (by how much; DoD may decline interest, which
    /// the release's note says).
    ReleasedEarly,
    /// Not done, not yet due.
    Running,
    /// Not done, past due (by how much).
    Overdue,
    /// The media hold runs, which asks to keep rather than to act.
    Holding,
    /// The media hold ran its course.
    HoldEnded,
    /// The incident was closed without the step, after the deadline (by how much past it).
    MissedNotDone,
    /// The incident was closed without the step, before the deadline.
    ClosedBeforeDue,
    /// A close broke off the media hold (by how much early).
    ClosedDuringHold,
}

impl Outcome {
    /// As `incident_deadlines.csv` writes it.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Missed => "missed",
            Outcome::ReleasedEarly => "released_early",
            Outcome::Running => "running",
            Outcome::Overdue => "overdue",
            Outcome::Holding => "holding",
            Outcome::HoldEnded => "hold_ended",
            Outcome::MissedNotDone => "missed_not_done",
            Outcome::ClosedBeforeDue => "closed_before_due",
            Outcome::ClosedDuringHold => "closed_during_hold",
        }
    }

    /// As the HTML page says it.
    pub(super) fn words(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Missed => "missed: done late",
            Outcome::ReleasedEarly => "media released early",
            Outcome::Running => "running",
            Outcome::Overdue => "overdue",
            Outcome::Holding => "holding the media",
            Outcome::HoldEnded => "hold ended: the media may be released",
            Outcome::MissedNotDone => "missed: never done",
            Outcome::ClosedBeforeDue => "closed before it was due",
            Outcome::ClosedDuringHold => "hold broken off by the close",
        }
    }

    /// Whether the deadline was not kept: missed, overdue, or its hold broken off.
    pub(super) fn not_kept(self) -> bool {
        matches!(
            self,
            Outcome::Missed
                | Outcome::Overdue
                | Outcome::MissedNotDone
                | Outcome::ReleasedEarly
                | Outcome::ClosedDuringHold
        )
    }

    /// Whether it was kept (or ran its course), still runs, or was not kept: the page's
    /// green, neutral and red.
    pub(super) fn class(self) -> &'static str {
        match self {
            _ if self.not_kept() => "lapsed",
            Outcome::Kept | Outcome::HoldEnded => "met",
            _ => "open",
        }
    }

    /// How far off it was (`by`, already in words): late, early or overdue by how much.
    pub(super) fn off(self, by: &str) -> String {
        match self {
            Outcome::Missed => format!("{by} late"),
            Outcome::MissedNotDone => format!("closed {by} after it was due"),
            Outcome::Overdue => format!("{by} overdue"),
            Outcome::ReleasedEarly | Outcome::ClosedDuringHold => {
                format!("{by} before the hold ended")
            }
            Outcome::Kept
            | Outcome::Running
            | Outcome::Holding
            | Outcome::HoldEnded
            | Outcome::ClosedBeforeDue => by.to_owned(),
        }
    }
}

/// What became of a deadline, and by how much where it was not kept. A closed incident's
/// deadline without its step is judged as of the close.
fn outcome(deadline: &Deadline, closed: bool) -> (Outcome, Option<SignedDuration>) {
    let left = deadline.left.unwrap_or(SignedDuration::ZERO);
    let hold = deadline.clock == ClockName::Preservation;
    match (deadline.done, deadline.missed_by()) {
        (Some(_), Some(by)) if hold => (Outcome::ReleasedEarly, Some(by)),
        (Some(_), Some(by)) => (Outcome::Missed, Some(by)),
        (Some(_), None) => (Outcome::Kept, None),
        (None, _) if deadline.hold_ended() => (Outcome::HoldEnded, None),
        (None, _) if hold && closed => (Outcome::ClosedDuringHold, Some(left)),
        (None, _) if hold => (Outcome::Holding, None),
        (None, _) if closed && deadline.overdue() => (Outcome::MissedNotDone, Some(-left)),
        (None, _) if closed => (Outcome::ClosedBeforeDue, None),
        (None, _) if deadline.overdue() => (Outcome::Overdue, Some(-left)),
        (None, _) => (Outcome::Running, None),
    }
}
