//! Verdicts that still hold: a duty whose inputs are what they were when it was last judged,
//! at an instant before that verdict's horizon (`dutywatch_checks::horizon`), is not read,
//! parsed or judged again. Judging it would give the same states, so the recorded verdict
//! stands.
//!
//! The inputs are what the store says about the duty's evidence, read without loading a
//! payload: for its source and each source it joins, the latest collector run's outcome and
//! the window's rows (id, content hash, the instant each speaks for); for a CRM review, the
//! CRM's newest version. A new collection of the same bytes adds no evidence row, so it leaves
//! them as they were; new content, a failed run or a row leaving the window changes them.
//!
//! Kept in memory only, per engine: after a restart, a reload of the config or a write by
//! another process (`Store::data_version`, as for the parse cache), every duty is judged again.
//! Event clocks are always judged: they carry open events over in the subjects' rows.

use std::collections::HashMap;

use dutywatch_checks::duty::{Duty, Rule};
use dutywatch_checks::evidence::{Collection, EvidenceId};
use dutywatch_checks::library;
use jiff::Timestamp;

use super::{CRM_SOURCE, Engine, MANUAL_SOURCE, evidence_source};

/// What one duty was judged from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Inputs {
    sources: Vec<SourceInputs>,
    crm_version: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SourceInputs {
    source: String,
    run: Run,
    rows: Vec<(EvidenceId, String, Timestamp)>,
}

/// A collector run's outcome as the verdict reads it: whether it failed, since when and why.
/// When a successful run finished is not read by the checks, so a new run of the same bytes
/// is the same input.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Run {
    Manual,
    Never,
    Ok,
    Failed { since: Timestamp, error: String },
}

impl From<Collection> for Run {
    fn from(collection: Collection) -> Run {
        match collection {
            Collection::Manual => Run::Manual,
            Collection::NeverRun => Run::Never,
            Collection::Ok { .. } => Run::Ok,
            Collection::Failed { since, error } => Run::Failed { since, error },
        }
    }
}

/// A verdict judged at `at` from `inputs`, holding until `until`.
#[derive(Debug)]
struct Standing {
    inputs: Inputs,
    at: Timestamp,
    until: Timestamp,
}

/// The verdicts that hold, by (client, duty).
#[derive(Debug, Default)]
pub(super) struct Held {
    verdicts: HashMap<(String, String), Standing>,
}

impl Held {
    /// Whether the verdict judged from `inputs` still holds at `now`: only forward from the
    /// instant it was judged at (a clock set back, a what-if run for an earlier instant, is
    /// judged anew) and before its horizon.
    pub(super) fn holds(&self, client: &str, duty: &str, inputs: &Inputs, now: Timestamp) -> bool {
        self.verdicts
            .get(&(client.to_owned(), duty.to_owned()))
            .is_some_and(|held| held.inputs == *inputs && held.at <= now && now < held.until)
    }

    /// The duty was judged at `at` from `inputs` and its verdict holds until `until` (`None`:
    /// it was not judged from inputs that can be compared, so it is judged again next time).
    /// A row of any of its sources dated after `at` was left out then (`verdict_holding`, the
    /// joined sources) and counts from its instant on: the verdict holds at most until then.
    pub(super) fn judged(
        &mut self,
        client: &str,
        duty: &str,
        at: Timestamp,
        held: Option<(Inputs, Timestamp)>,
    ) {
        let key = (client.to_owned(), duty.to_owned());
        match held {
            Some((inputs, until)) => {
                let ahead = inputs
                    .sources
                    .iter()
                    .flat_map(|source| source.rows.iter())
                    .map(|(_, _, effective_at)| *effective_at)
                    .filter(|effective_at| *effective_at > at)
                    .min();
                let until = ahead.map_or(until, |ahead| until.min(ahead));
                self.verdicts.insert(key, Standing { inputs, at, until });
            }
            None => {
                self.verdicts.remove(&key);
            }
        }
    }

    pub(super) fn clear(&mut self) {
        self.verdicts.clear();
    }
}

impl Engine {
    /// What `duty`'s verdict at `now` would be judged from; `None` for a duty that is always
    /// judged (an event clock) or whose rows the store finds altered (judged, so it says so).
    pub(super) fn inputs(
        &self,
        client: &str,
        duty: &Duty,
        now: Timestamp,
    ) -> anyhow::Result<Option<Inputs>> {
        if matches!(duty.rule, Rule::EventClock(_)) {
            return Ok(None);
        }
        let manual = duty.source == MANUAL_SOURCE;
        let since = duty.evidence_window(now, manual).since(now);
        let mut sources = Vec::new();
        let Some(own) = self.source_inputs(client, &evidence_source(duty), since, manual)? else {
            return Ok(None);
        };
        sources.push(own);
        if let Rule::Continuous(rule) = &duty.rule {
            for join in &rule.joins {
                let Some(joined) = self.source_inputs(client, &join.source, Some(now), false)?
                else {
                    return Ok(None);
                };
                sources.push(joined);
            }
        }
        let crm_version = if library::is_crm_review(&duty.id) {
            self.store.newest_effective_at(client, CRM_SOURCE)?
        } else {
            None
        };
        Ok(Some(Inputs {
            sources,
            crm_version,
        }))
    }

    fn source_inputs(
        &self,
        client: &str,
        source: &str,
        since: Option<Timestamp>,
        manual: bool,
    ) -> anyhow::Result<Option<SourceInputs>> {
        let run = if manual {
            Run::Manual
        } else {
            self.store.collection(client, source)?.into()
        };
        let mut rows = Vec::new();
        for header in self.store.snapshot_headers(client, source, since)? {
            let Ok(header) = header else {
                return Ok(None);
            };
            rows.push((header.id, header.sha256, header.effective_at));
        }
        Ok(Some(SourceInputs {
            source: source.to_owned(),
            run,
            rows,
        }))
    }
}
