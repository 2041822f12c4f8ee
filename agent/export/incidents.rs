//! The incidents of the assessor's package (3.6.1, 3.6.2 and DFARS 252.204-7012):
//! `incident_timeline.csv`, every step recorded for every incident with who recorded it, and
//! `incident_deadlines.csv`, each deadline the clause and the CRM set (hand-off,
//! acknowledgement, the 72-hour DoD report, the prime's notice, the 90-day media hold) with
//! when its step was recorded and whether it was kept. Closed incidents are included: an
//! assessor asks for the incidents of the whole period, not only the open ones. Incidents are
//! those that opened a reportable clock (what the store keeps); the deadlines are counted
//! in the hours each incident opened under (`Incident::terms`), not the config's of today.

use std::path::Path;

use dutywatch_checks::incident::{self, Basis, ClockName, Deadline, Outcome, Step};
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
                    let (outcome, by) = deadline.outcome(i, closed.is_some());
                    let stopped = match deadline.done {
                        Some(_) => Some(deadline.stopped_by()),
                        None => closed.map(|_| Step::Closed),
                    };
                    let mut note = stopped
                        .and_then(|step| i.entry(step))
                        .and_then(|e| e.note.clone())
                        .unwrap_or_default();
                    if stopped == Some(Step::Closed) && deadline.clock != ClockName::Preservation {
                        note = without_hold_clause(&note).to_owned();
                    }
                    // The hold's note says when the media were preserved, or, for media
                    // released or a hold closed that nobody recorded preserving, that nothing
                    // was (without either, the outcome is `not_preserved`).
                    let preserved = i.entry(Step::Preserved);
                    let said = match preserved {
                        // The hold's `done` is its release; when the media were preserved,
                        // by whom and where is what an assessor asks next.
                        Some(entry) if deadline.clock == ClockName::Preservation => Some(format!(
                            "preserved {} by {}{}",
                            entry.at,
                            entry.by,
                            entry
                                .note
                                .as_deref()
                                .map(|n| format!(" ({n})"))
                                .unwrap_or_default()
                        )),
                        None if deadline.clock == ClockName::Preservation
                            && (deadline.done.is_some() || closed.is_some()) =>
                        {
                            Some("no preservation of images or captures recorded".to_owned())
                        }
                        _ => None,
                    };
                    if let Some(said) = said {
                        note = if note.is_empty() {
                            said
                        } else {
                            format!("{said}; {note}")
                        };
                    }
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

/// A close's note as the deadlines other than the media hold read it: without the words a
/// close forced during the hold begins with (`closed during the media hold (reason)`), which
/// speak of the hold; what the closer added after them stays.
fn without_hold_clause(note: &str) -> &str {
    let Some(rest) = note.strip_prefix(incident::CLOSED_DURING_HOLD) else {
        return note;
    };
    match rest.find("); ") {
        Some(at) => &rest[at + "); ".len()..],
        None => "",
    }
}

/// The incidents of `client` among `incidents`.
pub(super) fn of_client<'a>(incidents: &'a [OnRecord], client: &str) -> Vec<&'a OnRecord> {
    incidents.iter().filter(|i| i.client == client).collect()
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
        (ClockName::Acknowledge, _) => "hand-off",
        (ClockName::Prime | ClockName::Preservation, _) => "report",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_clause_of_a_close_is_left_to_the_hold() {
        assert_eq!(
            without_hold_clause("closed during the media hold (customer request); see ticket 7"),
            "see ticket 7"
        );
        assert_eq!(
            without_hold_clause("closed during the media hold (customer request)"),
            ""
        );
        assert_eq!(
            without_hold_clause("closed without a report to DoD (false alarm)"),
            "closed without a report to DoD (false alarm)"
        );
    }
}
