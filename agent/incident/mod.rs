//! The DFARS 252.204-7012 incident clocks as the daemon and the people involved run them.
//!
//! `tick` merges what the incident sources last collected into the store's incidents and
//! queues the warnings due (once each, through the keyed outbox); `commands` is
//! `dutywatch incident …`; `mail` words the warnings; `status` is the open incidents'
//! section of `dutywatch status`. The deadlines themselves are the pure
//! core's (`dutywatch_checks::incident`).

pub mod commands;
mod mail;
pub mod status;

use anyhow::Context as _;
use dutywatch_checks::incident::{self, Incident, Observation};
use jiff::Timestamp;

use crate::config::{Config, Contractor};
use crate::sources;
use crate::store::{IncidentChange, IncidentMail, IncidentUpdate, Store};

/// The evidence kind whose records are incidents.
pub const INCIDENT_KIND: &str = "incident";

/// What a tick did over every contractor.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickSummary {
    pub opened: usize,
    pub steps: usize,
    pub queued: usize,
    /// Incidents not closed, over every contractor.
    pub open: usize,
}

/// Whether `config` has a source of incidents: then the clocks are checked on their own
/// schedule even while no incident is open.
pub fn has_incident_sources(config: &Config) -> bool {
    config
        .contractors
        .iter()
        .flat_map(|c| &c.sources)
        .any(|s| s.evidence.name == INCIDENT_KIND)
}

/// Merges each incident source's newest evidence and queues the warnings due at `now`.
/// Idempotent: a second tick at the same instant writes and queues nothing.
pub fn tick(store: &mut Store, config: &Config, now: Timestamp) -> anyhow::Result<TickSummary> {
    let mut summary = TickSummary::default();
    for contractor in &config.contractors {
        let observed = observations(store, contractor, now)?;
        let changes: Vec<IncidentChange<'_>> = observed
            .iter()
            .map(|(by, seen)| IncidentChange::Observe {
                by,
                seen,
                reportable: config.incidents.policy.reportable.opens(seen),
            })
            .collect();
        let update = store
            .update_incidents(
                &contractor.id,
                &config.incidents.policy_for(contractor).terms,
                &changes,
                now,
                &mut decide(config, contractor, now),
            )
            .with_context(|| format!("updating the incidents of {}", contractor.id))?
            .map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
        log_update(&contractor.id, &update);
        summary.opened += update.opened.len();
        summary.steps += update.steps;
        summary.queued += update.queued.len();
        summary.open += update.open;
    }
    Ok(summary)
}

/// A step an incident source dates ahead of the clock is not taken as done (see
/// `Observation::ahead`): said on every tick until the register is corrected or the time comes.
fn log_ahead(contractor: &str, source: &str, seen: &Observation) {
    for (step, at) in &seen.ahead {
        tracing::warn!(
            contractor,
            source,
            incident = %seen.id,
            step = step.as_str(),
            stated = %at,
            why = "dated after now: a typo or a clock ahead, so not taken as done (a detection is taken as of now); correct the register",
            "IncidentStepDatedAhead"
        );
    }
}

fn log_update(contractor: &str, update: &IncidentUpdate) {
    for id in &update.opened {
        tracing::warn!(contractor, incident = %id, "IncidentOpened");
    }
    for key in &update.queued {
        tracing::warn!(contractor, %key, "IncidentWarningQueued");
    }
}

/// The warnings due on an incident at `now`, as mails to the contractor's and the MSP's
/// people; each under the key `incident:<client>:<id>:<step>`.
pub(crate) fn decide<'a>(
    config: &'a Config,
    contractor: &'a Contractor,
    now: Timestamp,
) -> impl FnMut(&Incident) -> Vec<IncidentMail> + 'a {
    let policy = config.incidents.policy_for(contractor);
    move |incident| {
        incident::warnings_due(incident, &policy, now)
            .iter()
            .map(|warning| mail::warning(contractor, incident, warning))
            .collect()
    }
}

/// What each incident source's newest evidence says, with the source's id. A source whose
/// newest row is tampered with, or no longer reads, says nothing (and is logged): the
/// incidents it stated before keep their timelines.
fn observations(
    store: &Store,
    contractor: &Contractor,
    now: Timestamp,
) -> anyhow::Result<Vec<(String, Observation)>> {
    let mut out = Vec::new();
    for source in contractor
        .sources
        .iter()
        .filter(|s| s.evidence.name == INCIDENT_KIND)
    {
        let rows = store.snapshots(&contractor.id, &source.id, Some(now))?;
        let Some(newest) = rows.into_iter().rev().find(|row| match row {
            Ok(row) => row.effective_at <= now,
            Err(_) => true,
        }) else {
            continue;
        };
        let row = match newest {
            Ok(row) => row,
            Err(tampered) => {
                tracing::error!(contractor = %contractor.id, source = %source.id, %tampered, "IncidentEvidenceTampered");
                continue;
            }
        };
        match sources::read_evidence(source, &row.origin, &row.payload) {
            Ok(parsed) => out.extend(
                parsed
                    .records
                    .iter()
                    .filter_map(|record| incident::observe(record, &source.time.zone, now))
                    .inspect(|seen| log_ahead(&contractor.id, &source.id, seen))
                    .map(|seen| (source.id.clone(), seen)),
            ),
            Err(error) => {
                tracing::warn!(contractor = %contractor.id, source = %source.id, %error, "IncidentEvidenceUnreadable");
            }
        }
    }
    Ok(out)
}
