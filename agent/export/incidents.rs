//! The incidents of the assessor's package (3.6.1, 3.6.2 and DFARS 252.204-7012):
//! `incident_timeline.csv`, every step recorded for every incident with who recorded it, and
//! `incident_deadlines.csv`, each deadline the clause and the CRM set (hand-off,
//! acknowledgement, the 72-hour DoD report, the prime's notice, the 90-day media hold) with
//! when its step was recorded and whether it was kept. Closed incidents are included: an
//! assessor asks for the incidents of the whole period, not only the open ones.

use std::path::Path;

use anyhow::Context as _;
use dutywatch_checks::incident::{self, Basis, ClockName, Deadline};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{csv_writer, utc, yes_no};
use crate::config::Config;
use crate::coverage::{ClientCoverage, local};
use crate::store::{Store, StoredIncident};

pub(super) const TIMELINE: &str = "incident_timeline.csv";
pub(super) const DEADLINES: &str = "incident_deadlines.csv";

/// Writes both files for the exported clients' incidents into `out`; how many incidents.
pub(super) fn write(
    out: &Path,
    config: &Config,
    store: &Store,
    clients: &[ClientCoverage],
    zone: &TimeZone,
    now: Timestamp,
) -> anyhow::Result<usize> {
    let mut incidents: Vec<(&str, StoredIncident, incident::Policy)> = Vec::new();
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
            incidents.push((contractor.id.as_str(), stored, policy.clone()));
        }
    }

    let path = out.join(TIMELINE);
    let mut csv = csv_writer(&path)?;
    csv.write_record([
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
    for (client, stored, _) in &incidents {
        let i = &stored.incident;
        for entry in &i.entries {
            csv.write_record([
                (*client).to_owned(),
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
    csv.flush()
        .with_context(|| format!("writing `{}`", path.display()))?;

    let path = out.join(DEADLINES);
    let mut csv = csv_writer(&path)?;
    csv.write_record([
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
        "missed_by_seconds",
    ])?;
    for (client, stored, policy) in &incidents {
        for deadline in incident::deadlines_on_record(&stored.incident, policy, now) {
            let missed = deadline.missed_by();
            csv.write_record([
                (*client).to_owned(),
                stored.incident.id.clone(),
                deadline.clock.as_str().to_owned(),
                utc(Some(deadline.starts)),
                starts_from(&deadline).to_owned(),
                utc(Some(deadline.due)),
                local(Some(deadline.due), zone),
                utc(deadline.done),
                local(deadline.done, zone),
                outcome(&deadline).to_owned(),
                missed.map_or_else(String::new, |m| m.as_secs().to_string()),
            ])?;
        }
    }
    csv.flush()
        .with_context(|| format!("writing `{}`", path.display()))?;
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

/// `kept`, `missed` (done late, or media released before the hold ended), `running` or
/// `overdue` (not done, past due); for the media hold, which asks to keep rather than to
/// act, `holding` and then `hold_ended` (the media may be released).
fn outcome(deadline: &Deadline) -> &'static str {
    let past_due = deadline
        .left
        .is_some_and(|left| left < SignedDuration::ZERO);
    match (deadline.done, deadline.missed_by(), deadline.clock) {
        (Some(_), Some(_), _) => "missed",
        (Some(_), None, _) => "kept",
        (None, _, ClockName::Preservation) if past_due => "hold_ended",
        (None, _, ClockName::Preservation) => "holding",
        (None, _, _) if past_due => "overdue",
        (None, _, _) => "running",
    }
}
