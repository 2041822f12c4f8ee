//! `dutywatch status`: every watched duty's verdict, due time and reason, and the
//! escalation mail not delivered yet.

use std::fmt::Write as _;

use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::{CLIENT_CONFIG_DUTY, Config, Perspective};
use crate::store::{CurrentSubject, Store, UndeliveredMail};

/// One line of the status report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatusRow {
    pub contractor: String,
    pub duty: String,
    pub title: String,
    pub responsible: Party,
    pub accountable: Party,
    pub objectives: Vec<String>,
    pub state: StateKind,
    pub due: Option<Timestamp>,
    pub state_since: Option<Timestamp>,
    pub evaluated_at: Option<Timestamp>,
    pub reason: String,
    pub evidence: Vec<i64>,
    /// Where each subject (user, device, patch, incident) that was ever not met stands, worst
    /// first; empty for duties judged as a whole. Subjects met since they were first seen are
    /// only counted, in `met_subjects`.
    pub subjects: Vec<CurrentSubject>,
    /// How many subjects the latest judgement found met (`None`: judged as a whole).
    pub met_subjects: Option<u64>,
    /// Whether this state shows the duty's objectives implemented now (`Rule::shows_implemented`):
    /// what coverage, the SPRS score and the export count as met.
    pub shows_implemented: bool,
}

/// What `status --json` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub duties: Vec<StatusRow>,
    pub undelivered_mail: Vec<UndeliveredMail>,
    /// MSP clients whose configuration does not load (each also has a `client-config` row in
    /// `duties`, state `source_error`).
    pub quarantined: Vec<QuarantinedClient>,
}

/// A quarantined client in `status --json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantinedClient {
    pub contractor: String,
    pub name: String,
    pub errors: Vec<String>,
}

/// The report for `filter`: its duties, and the undelivered mail of its
/// contractors (of every party: a mail stuck at the relay concerns both).
pub fn report(config: &Config, store: &Store, filter: &Filter) -> anyhow::Result<Report> {
    let current = store.current_verdicts(filter.contractor.as_deref())?;
    let recorded = config.contractors.iter().filter_map(|contractor| {
        recorded_quarantine(config, &current, &contractor.id).map(|stored| QuarantinedClient {
            contractor: contractor.id.clone(),
            name: contractor.name.clone(),
            errors: vec![stored.verdict.reason.clone()],
        })
    });
    Ok(Report {
        duties: rows_of(config, store, &current, filter)?,
        undelivered_mail: store.undelivered_mail(filter.contractor.as_deref())?,
        quarantined: config
            .quarantined
            .iter()
            .map(|q| QuarantinedClient {
                contractor: q.id.clone(),
                name: q.name.clone(),
                errors: q.errors.iter().map(ToString::to_string).collect(),
            })
            .chain(recorded)
            .filter(|q| {
                filter
                    .contractor
                    .as_ref()
                    .is_none_or(|id| *id == q.contractor)
            })
            .collect(),
    })
}

/// The client's quarantine as the daemon recorded it, for a client whose config loads here:
/// the daemon reads what this command may not (the service's secrets).
fn recorded_quarantine<'a>(
    config: &Config,
    current: &'a [crate::store::CurrentVerdict],
    client: &str,
) -> Option<&'a crate::store::CurrentVerdict> {
    if config.quarantined(client).is_some() {
        // Shown from this load's own errors.
        return None;
    }
    current.iter().find(|v| {
        v.client == client
            && v.duty == CLIENT_CONFIG_DUTY
            && v.verdict.state.kind() != StateKind::Met
    })
}

/// Which rows to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub contractor: Option<String>,
    pub party: Option<Party>,
}

/// Joins the configured duties with their stored verdicts. A watched duty
/// never evaluated shows as `no_evidence`, never as missing from the list.
pub fn rows(config: &Config, store: &Store, filter: &Filter) -> anyhow::Result<Vec<StatusRow>> {
    let current = store.current_verdicts(filter.contractor.as_deref())?;
    rows_of(config, store, &current, filter)
}

/// [`rows`] over `current`, the stored verdicts `filter` selects, read once by the caller.
fn rows_of(
    config: &Config,
    store: &Store,
    current: &[crate::store::CurrentVerdict],
    filter: &Filter,
) -> anyhow::Result<Vec<StatusRow>> {
    let mut rows = Vec::new();
    // A quarantined client first: whatever else is known of it rests on no loadable config.
    // Shown for either party, since neither side's duties are watched.
    for client in &config.quarantined {
        if filter
            .contractor
            .as_ref()
            .is_some_and(|id| *id != client.id)
        {
            continue;
        }
        let stored = current
            .iter()
            .find(|v| v.client == client.id && v.duty == CLIENT_CONFIG_DUTY);
        rows.push(StatusRow {
            contractor: client.id.clone(),
            duty: CLIENT_CONFIG_DUTY.to_owned(),
            title: format!("configuration of {}", client.name),
            responsible: Party::Msp,
            accountable: Party::Contractor,
            objectives: Vec::new(),
            state: StateKind::SourceError,
            due: None,
            state_since: stored.map(|v| v.state_since),
            evaluated_at: stored.map(|v| v.evaluated_at),
            // The daemon's words when it recorded the quarantine: only it knows whether the
            // client's last good config keeps running.
            reason: format!(
                "QUARANTINED: {}",
                stored.map_or_else(|| client.summary(), |v| v.verdict.reason.clone())
            ),
            evidence: Vec::new(),
            subjects: Vec::new(),
            met_subjects: None,
            shows_implemented: false,
        });
    }
    for contractor in &config.contractors {
        if filter
            .contractor
            .as_ref()
            .is_some_and(|id| *id != contractor.id)
        {
            continue;
        }
        // Quarantined by the daemon for what this command does not read (a secret only the
        // service can read): its record says so, and its other rows are of the last good
        // config, not of now.
        if let Some(stored) = recorded_quarantine(config, current, &contractor.id) {
            rows.push(StatusRow {
                contractor: contractor.id.clone(),
                duty: CLIENT_CONFIG_DUTY.to_owned(),
                title: format!("configuration of {}", contractor.name),
                responsible: Party::Msp,
                accountable: Party::Contractor,
                objectives: Vec::new(),
                state: stored.verdict.state.kind(),
                due: None,
                state_since: Some(stored.state_since),
                evaluated_at: Some(stored.evaluated_at),
                reason: format!("QUARANTINED: {}", stored.verdict.reason),
                evidence: Vec::new(),
                subjects: Vec::new(),
                met_subjects: None,
                shows_implemented: false,
            });
        }
        for duty in &contractor.duties {
            if !config.perspective.watches(duty)
                || filter.party.is_some_and(|p| p != duty.responsible)
            {
                continue;
            }
            let stored = current
                .iter()
                .find(|v| v.client == contractor.id && v.duty == duty.id.as_str());
            let (state, due, reason, evidence, since, evaluated, met_subjects) = match stored {
                Some(v) => (
                    v.verdict.state.kind(),
                    v.verdict.state.due(),
                    v.verdict.reason.clone(),
                    v.verdict.evidence.iter().map(|e| e.0).collect(),
                    Some(v.state_since),
                    Some(v.evaluated_at),
                    v.met_subjects,
                ),
                None => (
                    StateKind::NoEvidence,
                    None,
                    "not evaluated yet: run `dutywatch once` or start the daemon".to_owned(),
                    Vec::new(),
                    None,
                    None,
                    None,
                ),
            };
            let subjects = if stored.is_some() {
                store.subjects(&contractor.id, duty.id.as_str())?
            } else {
                Vec::new()
            };
            rows.push(StatusRow {
                subjects,
                met_subjects,
                contractor: contractor.id.clone(),
                duty: duty.id.to_string(),
                title: duty.title.clone(),
                responsible: duty.responsible,
                accountable: duty.accountable(),
                objectives: duty.objectives.iter().map(ToString::to_string).collect(),
                shows_implemented: duty.rule.shows_implemented(state),
                state,
                due,
                state_since: since,
                evaluated_at: evaluated,
                reason,
                evidence,
            });
        }
    }
    Ok(rows)
}

/// A fixed-width table; times in the configured zone. With `subjects`, each duty is followed
/// by its subjects that are not met (and those that left the evidence).
/// The status table. Unless `library`, the duties the library derived from the CRM are not
/// listed one by one but counted per state on one line (the totals still count them): a CRM
/// yields hundreds, and the hand-written and connector duties are what a reader looks for.
pub fn table(rows: &[StatusRow], zone: &TimeZone, subjects: bool, library: bool) -> String {
    let show = |at: Option<Timestamp>| {
        at.map(|t| {
            t.to_zoned(zone.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_else(|| "-".to_owned())
    };
    let header = [
        "CONTRACTOR",
        "DUTY",
        "STATE",
        "DUE",
        "RESPONSIBLE",
        "REASON",
    ];
    let all = rows;
    let (listed, folded): (Vec<&StatusRow>, Vec<&StatusRow>) = rows
        .iter()
        .partition(|row| library || !dutywatch_checks::library::is_derived_id(&row.duty));
    let rows = listed;
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.contractor.clone(),
                row.duty.clone(),
                row.state.to_string(),
                show(row.due),
                row.responsible.to_string(),
                // Stored by any version, from any evidence: as it may be shown.
                dutywatch_checks::printable::printable(&row.reason).into_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row.iter()).take(5) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 6]| {
        for (i, cell) in cells.iter().enumerate() {
            if i < 5 {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            } else {
                let _ = writeln!(out, "{cell}");
            }
        }
    };
    line(&mut out, header);
    for (row, cells) in rows.iter().zip(&cells) {
        line(
            &mut out,
            [
                &cells[0], &cells[1], &cells[2], &cells[3], &cells[4], &cells[5],
            ],
        );
        if subjects {
            subject_lines(&mut out, row, &show);
        }
    }
    let count = |rows: &mut dyn Iterator<Item = &StatusRow>| {
        let mut counts = std::collections::BTreeMap::new();
        for row in rows {
            *counts.entry(row.state).or_insert(0) += 1;
        }
        counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !folded.is_empty() {
        let _ = writeln!(
            out,
            "+ {} duties from the duty library (CRM attestations, verifications of the MSP, \
             reviews), not listed: {}; `--library` lists them, `dutywatch duties plan` says \
             where each comes from",
            folded.len(),
            count(&mut folded.iter().copied())
        );
    }
    match all.len() {
        0 => out.push_str("\n0 duties\n"),
        n => {
            let _ = writeln!(out, "\n{n} duties: {}", count(&mut all.iter()));
        }
    }
    out
}

/// Why `--party` shows none of that party's duties however the config is filled: from the MSP
/// perspective only the MSP's own duties are watched, so `--party contractor` matches none.
pub fn unwatched_party_note(config: &Config, filter: &Filter) -> Option<String> {
    match (config.perspective, filter.party) {
        (Perspective::Msp, Some(Party::Contractor)) => Some(
            "note: this config has perspective = \"msp\": it watches only the duties the MSP is \
             responsible for (its side of shared CRM rows included), so no contractor duty is \
             shown. A contractor's own duties are watched by a config with perspective = \
             \"contractor\" (the contractor's own dutywatch); `dutywatch duties plan` lists who \
             does what, and `dutywatch status --party msp` (or no --party) this config's duties.\n"
                .to_owned(),
        ),
        _ => None,
    }
}

fn subject_lines(out: &mut String, row: &StatusRow, show: &dyn Fn(Option<Timestamp>) -> String) {
    let subjects = &row.subjects;
    let met = row.met_subjects.unwrap_or(0);
    for subject in subjects {
        if subject.state == StateKind::Met && subject.gone_at.is_none() {
            continue;
        }
        let state = match subject.gone_at {
            Some(at) => format!("gone since {}", show(Some(at))),
            None => subject.state.to_string(),
        };
        let _ = writeln!(
            out,
            "    {}  {state}  due {}  {}",
            dutywatch_checks::printable::printable(&subject.subject),
            show(subject.due),
            dutywatch_checks::printable::printable(&subject.reason)
        );
    }
    if met > 0 {
        // A failed collector or stale evidence leaves the subjects as they were last judged:
        // their count says nothing of now.
        let when = match row.state {
            StateKind::SourceError | StateKind::StaleEvidence => " when last judged",
            _ => "",
        };
        let _ = writeln!(out, "    ({met} subject(s) met{when})");
    }
}

/// The undelivered mail as text: nothing when all was delivered.
pub fn undelivered_table(mails: &[UndeliveredMail], zone: &TimeZone) -> String {
    let show = |at: Timestamp| {
        at.to_zoned(zone.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let mut out = String::new();
    if mails.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n{} escalation mail(s) not delivered yet (retried until the relay takes them; \
         `dutywatch mail cancel ID --reason …` gives one up):",
        mails.len()
    );
    for mail in mails {
        let attempts = match (mail.attempts, &mail.last_error) {
            (0, _) => "not attempted yet".to_owned(),
            (n, Some(error)) => format!("{n} failed attempt(s), last: {error}"),
            (n, None) => format!("{n} failed attempt(s)"),
        };
        let waiting = mail.remaining();
        let delivered = if mail.delivered_to.is_empty() {
            String::new()
        } else {
            format!(" (delivered to {})", mail.delivered_to.join(", "))
        };
        let about = match mail.duties {
            1 => format!("{}/{}", mail.client, mail.duty),
            n => format!("{} ({n} duties)", mail.client),
        };
        let _ = writeln!(
            out,
            "  #{} {about}  \"{}\" to {}{delivered}  queued {}, next attempt {}; {attempts}",
            mail.id,
            mail.subject,
            waiting.join(", "),
            show(mail.queued_at),
            show(mail.next_attempt_at),
        );
    }
    out
}

impl Report {
    /// Whether anything in it needs someone: a duty not met, mail still waiting, or a
    /// quarantined client
    /// (`status --exit-code`).
    pub fn needs_attention(&self) -> bool {
        self.duties.iter().any(|row| row.state.needs_attention())
            || !self.undelivered_mail.is_empty()
            || !self.quarantined.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: StateKind) -> StatusRow {
        StatusRow {
            contractor: "acme".to_owned(),
            duty: "devices-compliant".to_owned(),
            title: "Every device is compliant".to_owned(),
            responsible: Party::Msp,
            accountable: Party::Contractor,
            objectives: vec!["3.4.1".to_owned()],
            state,
            due: None,
            state_since: None,
            evaluated_at: None,
            reason: "why".to_owned(),
            evidence: Vec::new(),
            subjects: Vec::new(),
            met_subjects: Some(3),
            shows_implemented: state == StateKind::Met,
        }
    }

    #[test]
    fn met_subjects_under_a_failed_collector_are_said_to_be_as_last_judged() {
        let table = |state| table(&[row(state)], &TimeZone::UTC, true, false);
        assert!(table(StateKind::Met).contains("    (3 subject(s) met)\n"));
        assert!(
            table(StateKind::SourceError).contains("    (3 subject(s) met when last judged)\n")
        );
        assert!(
            table(StateKind::StaleEvidence).contains("    (3 subject(s) met when last judged)\n")
        );
    }
}
