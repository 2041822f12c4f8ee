//! The words of an incident warning: what is due when, how long is left, what is missing and
//! what to do, in the contractor's zone with UTC beside it.

use std::fmt::Write as _;

use dutywatch_checks::incident::{
    Basis, Incident, Seniority, Step, Warning, WarningStep, hours_text,
};
use dutywatch_checks::party::Party;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use lettre::Address;

use crate::config::{ContactRole, Contractor};
use crate::store::{IncidentMail, OutgoingMail};

pub(super) fn warning(
    contractor: &Contractor,
    incident: &Incident,
    warning: &Warning,
) -> IncidentMail {
    let zone = &contractor.timezone;
    let id = &incident.id;
    let left = hours_text(warning.left);
    let subject = match warning.step {
        WarningStep::HandoffOverdue => {
            format!("[dutywatch] INCIDENT {id}: hand-off to the contractor overdue")
        }
        WarningStep::AckOverdue => format!("[dutywatch] INCIDENT {id}: hand-off not acknowledged"),
        WarningStep::ReportAt(_) => {
            format!("[dutywatch] INCIDENT {id}: {left} left to report to DoD (DFARS 252.204-7012)")
        }
        WarningStep::ReportLapsed => {
            format!(
                "[dutywatch] INCIDENT {id}: the 72-hour report to DoD was not filed - the duty lapsed"
            )
        }
        WarningStep::PrimeOverdue => {
            format!("[dutywatch] INCIDENT {id}: the prime has no report number yet")
        }
        WarningStep::PreservationEnding => {
            format!("[dutywatch] INCIDENT {id}: preservation period ends in {left}")
        }
    };
    let mut body = String::new();
    let title = incident.title.as_deref().unwrap_or("(no title)");
    let _ = writeln!(body, "Incident {id}: {title}");
    if let Some(severity) = &incident.severity {
        let _ = writeln!(body, "Severity: {severity}");
    }
    let _ = writeln!(body, "Contractor: {}\n", contractor.name);
    let due = when(warning.due, zone);
    match warning.step {
        WarningStep::HandoffOverdue => {
            let _ = writeln!(
                body,
                "The MSP was to hand this incident to the contractor by {due}; that is {} ago and no hand-off is recorded.",
                hours_text(warning.left)
            );
            let _ = writeln!(
                body,
                "Hand it off now and record it: dutywatch incident handoff {id} --by NAME"
            );
        }
        WarningStep::AckOverdue => {
            let _ = writeln!(
                body,
                "The MSP handed this incident off; the contractor was to acknowledge it by {due}, {} ago, and has not.",
                hours_text(warning.left)
            );
            let _ = writeln!(
                body,
                "Acknowledge it and record it: dutywatch incident ack {id} --by NAME"
            );
        }
        WarningStep::ReportAt(hours) => {
            let elapsed = dutywatch_checks::incident::REPORT_WITHIN - warning.left;
            let _ = writeln!(
                body,
                "{} have passed since the 72-hour clock started (the {hours}-hour warning) and the report to DoD (https://dibnet.dod.mil) is not filed.",
                hours_text(elapsed)
            );
            let _ = writeln!(body, "Time left: {left}. The report is due at {due}.");
        }
        WarningStep::ReportLapsed => {
            let _ = writeln!(
                body,
                "The 72 hours ended at {due}, {} ago, and no report to DoD is recorded.",
                hours_text(warning.left)
            );
            let _ = writeln!(
                body,
                "The duty to report within 72 hours (DFARS 252.204-7012(c)) has lapsed: it was not met, and an assessor will see that."
            );
            let _ = writeln!(
                body,
                "Report now anyway with what is known (DoD's FAQ: report whatever information is available) and record it: dutywatch incident report {id} --number DIBNET-NUMBER --by NAME"
            );
        }
        WarningStep::PrimeOverdue => {
            let _ = writeln!(
                body,
                "As a subcontractor the contractor gives the prime the DoD report number{}; it was due by {due}.",
                incident
                    .report_number()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
            let _ = writeln!(
                body,
                "Record it once done: dutywatch incident prime {id} --by NAME"
            );
        }
        WarningStep::PreservationEnding => {
            let _ = writeln!(
                body,
                "Images of the affected systems and the monitoring and packet-capture data must be kept at least 90 days from the report: until {due}, {left} from now."
            );
            // Nothing recorded as kept: the hold may be keeping nothing; that comes first.
            if incident.at(Step::Preserved).is_none() {
                let _ = writeln!(
                    body,
                    "No preservation is on record for this incident: record where the images and captures are kept with dutywatch incident preserve {id} --by NAME --note \"WHERE\""
                );
            }
            let _ = writeln!(
                body,
                "Keep them until then (longer while DoD's request for media or a damage assessment is pending); record the release with dutywatch incident release {id} --by NAME"
            );
        }
    }
    if matches!(
        warning.step,
        WarningStep::ReportAt(_) | WarningStep::ReportLapsed
    ) {
        match (warning.basis, incident.entry(Step::Discovered)) {
            (Some(Basis::Discovery), Some(found)) => {
                let _ = writeln!(
                    body,
                    "The 72 hours count from discovery at {}, recorded by {}.",
                    when(found.at, zone),
                    found.by
                );
            }
            _ => {
                let detected = incident.detected_at().map(|at| when(at, zone));
                let _ = writeln!(
                    body,
                    "Nobody has recorded discovery yet, so the 72 hours count from the earliest detection{}: the safe choice, as discovery cannot come before it. Record it: dutywatch incident discover {id} --by NAME --at TIME",
                    detected.map(|d| format!(" at {d}")).unwrap_or_default()
                );
            }
        }
    }
    if !warning.missing.is_empty() {
        let missing: Vec<&str> = warning.missing.iter().map(|s| s.describe()).collect();
        let _ = writeln!(body, "Missing: {}.", missing.join("; "));
    }
    let _ = writeln!(body, "\nTimeline so far:");
    for entry in &incident.entries {
        let _ = writeln!(
            body,
            "  {}  {} by {}{}",
            when(entry.at, zone),
            entry.step.describe(),
            entry.by,
            entry
                .report_number
                .as_deref()
                .map(|n| format!(" (report {n})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        body,
        "\nThis warning is sent once. `dutywatch incident show {id}` prints the full timeline."
    );

    let mut to: Vec<String> = Vec::new();
    for (party, seniority) in &warning.recipients {
        for address in people(contractor, *party, *seniority) {
            let address = address.to_string();
            if !to.contains(&address) {
                to.push(address);
            }
        }
    }
    if to.is_empty() {
        // Nobody named for these roles: the contractor's own contacts (always configured)
        // rather than a mail to nobody.
        to = contractor
            .contacts
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    IncidentMail {
        key: dutywatch_checks::incident::warning_key(&contractor.id, &incident.id, warning.step),
        duty: format!("incident:{id}"),
        state: if warning.lapsed || warning.left.is_negative() {
            "lapsed"
        } else {
            "due_soon"
        },
        mail: OutgoingMail {
            to,
            cc: Vec::new(),
            subject,
            body,
            ..OutgoingMail::default()
        },
    }
}

/// A party's people in a role. `contacts_at` falls back to the role below, and the MSP's
/// roles of a client already default to the `[msp]` table's when the config loads.
fn people(contractor: &Contractor, party: Party, seniority: Seniority) -> &[Address] {
    let role = match seniority {
        Seniority::Primary => ContactRole::Primary,
        Seniority::Backup => ContactRole::Backup,
        Seniority::Management => ContactRole::Management,
    };
    contractor.contacts_at(party, role)
}

/// An instant in the contractor's zone, with UTC beside it.
pub(crate) fn when(at: Timestamp, zone: &TimeZone) -> String {
    format!(
        "{} ({}Z)",
        at.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M %Z"),
        at.strftime("%Y-%m-%dT%H:%M")
    )
}
