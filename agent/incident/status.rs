//! The open incidents in `dutywatch status`: per incident its 72-hour report clock (time left
//! or overdue, and whether it runs from detection because discovery is not recorded) and the
//! step to take next. The lines and JSON objects are `incident list`'s own (`commands`), so
//! both say the same thing the same way.

use std::fmt::Write as _;

use dutywatch_checks::incident::{self, ClockName, Deadline};
use jiff::Timestamp;
use serde_json::json;

use super::commands::{
    NO_CLOCK, clock_json, clock_line, clock_state, next_step_words, open_incidents,
};
use super::mail::when;
use crate::config::{Config, Contractor};
use crate::store::{Store, StoredIncident};

/// One open incident with its clocks as of the report's `now`.
#[derive(Debug, Clone)]
pub struct OpenIncident<'a> {
    pub contractor: &'a Contractor,
    pub stored: StoredIncident,
    pub clocks: Vec<Deadline>,
}

impl OpenIncident<'_> {
    fn report_clock(&self) -> Option<&Deadline> {
        self.clocks.iter().find(|d| d.clock == ClockName::Report)
    }

    /// The running clock due first (`None` when none runs).
    pub fn next(&self) -> Option<&Deadline> {
        incident::next_deadline(&self.clocks)
    }

    /// Where it stands in one line, for the weekly digest: the report clock and the next step
    /// in the words of the status section.
    /// Times in `zone` (the digest's readers').
    pub fn summary(&self, zone: &jiff::tz::TimeZone) -> String {
        let mut parts = Vec::new();
        if let Some(report) = self.report_clock() {
            parts.push(format!(
                "{}: {}",
                report.clock.describe(),
                clock_state(report, zone)
            ));
        }
        match self.next() {
            Some(next) => {
                let due = when(next.due, zone);
                let inc = &self.stored.incident;
                let (what, _) = next_step_words(next.next_step(inc), &inc.id, &due);
                parts.push(format!("next: {what}"));
            }
            None if self.clocks.is_empty() => parts.push(NO_CLOCK.to_owned()),
            None => {}
        }
        parts.join("; ")
    }
}

/// The open incidents of every contractor, or of `client` alone, as of `now`.
pub fn open<'a>(
    config: &'a Config,
    store: &Store,
    client: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<Vec<OpenIncident<'a>>> {
    let contractors = config
        .contractors
        .iter()
        .filter(|c| client.is_none_or(|id| id == c.id));
    Ok(open_incidents(store, contractors)?
        .into_iter()
        .map(|(contractor, stored)| OpenIncident {
            clocks: incident::clocks(
                &stored.incident,
                &config.incidents.policy_for(contractor),
                now,
            ),
            contractor,
            stored,
        })
        .collect())
}

/// The section of the status table: nothing when no incident is open.
pub fn text(open: &[OpenIncident], config: &Config) -> String {
    let mut out = String::new();
    if open.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n{} open incident(s), with the 72-hour report clock and the next step of each \
         (`dutywatch incident list` shows every clock):",
        open.len()
    );
    for open in open {
        let inc = &open.stored.incident;
        let _ = writeln!(
            out,
            "  {}  {}  {}",
            open.contractor.id,
            inc.id,
            inc.title.as_deref().unwrap_or("(no title)")
        );
        match open.report_clock() {
            Some(report) => {
                let _ = writeln!(out, "    {}", clock_line(report, inc, &config.timezone));
            }
            None if open.clocks.is_empty() => {
                let _ = writeln!(out, "    {NO_CLOCK}");
            }
            None => {}
        }
        if let Some(next) = open.next() {
            let due = when(next.due, &config.timezone);
            let (what, command) = next_step_words(next.next_step(inc), &inc.id, &due);
            let _ = writeln!(out, "    next: {what}: {command}");
        }
    }
    out
}

/// The section of `status --json`: per incident its client, id, title, the report clock and
/// the next step, each clock as `incident list --json` gives it.
pub fn json(open: &[OpenIncident], config: &Config) -> serde_json::Value {
    open.iter()
        .map(|open| {
            let inc = &open.stored.incident;
            let next = open.next().map(|next| {
                let due = when(next.due, &config.timezone);
                let (what, command) = next_step_words(next.next_step(inc), &inc.id, &due);
                let mut value = clock_json(next);
                if let Some(object) = value.as_object_mut() {
                    object.insert("step".to_owned(), json!(next.next_step(inc).as_str()));
                    object.insert("what".to_owned(), json!(what));
                    object.insert("command".to_owned(), json!(command));
                }
                value
            });
            json!({
                "client": open.contractor.id,
                "id": inc.id,
                "title": inc.title,
                "report_clock": open.report_clock().map(clock_json),
                "next_step": next,
            })
        })
        .collect()
}
