//! `[[duty]]` and `[[contractor.duty]]`: duty specs, before they are assigned
//! to a party from the contractor's CRM.

use std::collections::BTreeMap;

use dutywatch_checks::catalog::ControlRef;
use dutywatch_checks::duty::{
    Continuous, DutyId, DutySpec, EventClock, Quantifier, Recurring, Rule, Step,
};
use dutywatch_checks::period::Period;
use toml::Spanned;

use super::raw::{RawDuty, RawRuleKind};
use super::{Context, MANUAL_SOURCE};

impl Context<'_> {
    pub(super) fn duty_spec(
        &mut self,
        raw: &Spanned<RawDuty>,
        contractor: &str,
        sources: &[String],
    ) -> Option<DutySpec> {
        let start = self.errors.len();
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let key = format!("{contractor}.duty[{}]", raw.id.get_ref());
        let id = self.parsed(&raw.id, &format!("{key}.id"), str::parse::<DutyId>);
        let controls: Vec<ControlRef> = raw
            .objectives
            .iter()
            .filter_map(|objective| {
                self.parsed(objective, &format!("{key}.objectives"), str::parse)
            })
            .collect();
        if raw.objectives.is_empty() {
            self.error(offset, &format!("{key}.objectives"), "a duty must serve at least one requirement or objective, e.g. [\"3.1.1\"] or [\"3.5.3[b]\"]".to_owned());
        }
        let source = raw.source.get_ref();
        let manual = source == MANUAL_SOURCE;
        if manual && raw.rule != RawRuleKind::Recurring {
            self.error(
                offset,
                &format!("{key}.rule"),
                format!("hand-added evidence (`source = \"{MANUAL_SOURCE}\"`) records when a piece of work was done, which only rule = \"recurring\" reads; a condition or an incident clock needs a source that exports records"),
            );
        }
        if manual && raw.max_age.is_some() {
            self.error(
                offset,
                &format!("{key}.max_age"),
                format!("`max_age` limits how old an export may be; hand-added evidence (`source = \"{MANUAL_SOURCE}\"`) is dated by when the work was done, and `every` already says when it is due again, so remove it"),
            );
        }
        if !manual && !sources.contains(source) {
            let known: Vec<&str> = sources.iter().map(String::as_str).collect();
            self.error(
                raw.source.span().start,
                &format!("{key}.source"),
                format!(
                    "no source `{source}` is configured for this contractor; known: {}, or `{MANUAL_SOURCE}` for hand-added evidence",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            );
        }

        // Say exactly which keys do not belong to the chosen rule, instead
        // of silently ignoring them.
        let present: BTreeMap<&str, bool> = BTreeMap::from([
            ("every", raw.every.is_some()),
            ("warn_before", raw.warn_before.is_some()),
            ("completed_at", raw.completed_at.is_some()),
            ("where", raw.filter.is_some()),
            ("expect", raw.expect.is_some()),
            ("check", raw.check.is_some()),
            ("min_records", raw.min_records.is_some()),
            ("tolerance", raw.tolerance.is_some()),
            ("event_id", raw.event_id.is_some()),
            ("step", !raw.step.is_empty()),
        ]);
        let (name, allowed): (&str, &[&str]) = match raw.rule {
            RawRuleKind::Recurring => (
                "recurring",
                &["every", "warn_before", "completed_at", "where"],
            ),
            RawRuleKind::Continuous => (
                "continuous",
                &["expect", "check", "min_records", "tolerance", "where"],
            ),
            RawRuleKind::EventClock => ("event_clock", &["event_id", "step", "where"]),
        };
        let present = present
            .into_iter()
            .map(|(field, is_set)| (field, is_set.then_some(offset)));
        self.keys_not_taken(&key, "rule", name, allowed, present);
        let mut required = |field: &str, value: bool| {
            if !value {
                self.error(
                    offset,
                    &format!("{key}.{field}"),
                    format!("rule = \"{name}\" needs `{field}`"),
                );
            }
        };
        let rule = match raw.rule {
            RawRuleKind::Recurring => {
                required("every", raw.every.is_some());
                let completed_at = match (&raw.completed_at, manual) {
                    (Some(field), _) => Some(field.clone()),
                    // Hand-added evidence carries its completion time here.
                    (None, true) => "completed_at".parse().ok(),
                    (None, false) => {
                        required("completed_at", false);
                        None
                    }
                };
                match (raw.every, completed_at) {
                    (Some(every), Some(completed_at)) => Some(Rule::Recurring(Recurring {
                        every,
                        warn_before: raw.warn_before.unwrap_or_else(|| default_warning(every)),
                        completed_at,
                        filter: raw.filter.clone(),
                    })),
                    _ => None,
                }
            }
            RawRuleKind::Continuous => {
                required("check", raw.check.is_some());
                required("tolerance", raw.tolerance.is_some());
                let expect = raw.expect.unwrap_or(Quantifier::All);
                match (&raw.check, raw.tolerance) {
                    (Some(check), Some(tolerance)) => Some(Rule::Continuous(Continuous {
                        expect,
                        filter: raw.filter.clone(),
                        check: check.clone(),
                        // "none may fail" is satisfied by an empty report; "all must
                        // pass" and "one must pass" need at least one record.
                        min_records: raw
                            .min_records
                            .unwrap_or(usize::from(expect != Quantifier::None)),
                        tolerance,
                    })),
                    _ => None,
                }
            }
            RawRuleKind::EventClock => {
                required("event_id", raw.event_id.is_some());
                required("step", !raw.step.is_empty());
                raw.event_id.clone().map(|event_id| {
                    Rule::EventClock(EventClock {
                        event_id,
                        filter: raw.filter.clone(),
                        steps: raw
                            .step
                            .iter()
                            .map(|step| Step {
                                name: step.name.clone(),
                                starts: step.starts.clone(),
                                done: step.done.clone(),
                                within: step.within,
                                // An open incident clock is urgent from its first minute.
                                warn_before: step.warn_before.unwrap_or(step.within),
                            })
                            .collect(),
                    })
                })
            }
        };
        if self.errors.len() > start {
            return None;
        }
        Some(DutySpec {
            id: id?,
            title: raw.title.clone(),
            controls,
            party: raw.party,
            source: source.clone(),
            max_age: raw.max_age,
            label: raw.label.clone(),
            rule: rule?,
        })
    }
}

/// A sixth of the period, at most 30 days: 90d warns 15d ahead, 24h warns 4h.
fn default_warning(every: Period) -> Period {
    Period::from_secs((every.as_secs() / 6).min(30 * 86_400))
}
