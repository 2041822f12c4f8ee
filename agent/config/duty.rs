//! `[[duty]]` and `[[contractor.duty]]`: duty specs, before they are assigned
//! to a party from the contractor's CRM.

use std::collections::BTreeMap;
use std::sync::Arc;

use dutywatch_checks::catalog::ControlRef;
use dutywatch_checks::duty::{
    Continuous, DutyId, DutySpec, EventClock, Quantifier, Recurring, Rule, Step,
};
use dutywatch_checks::kind::{EvidenceKind, FieldType, MANUAL_COMPLETION};
use dutywatch_checks::period::Period;
use dutywatch_checks::predicate::{FieldPath, Predicate};
use dutywatch_checks::time::Cadence;
use jiff::tz::TimeZone;
use toml::Spanned;

use super::raw::{RawDuty, RawRuleKind};
use super::{CLIENT_CONFIG_DUTY, Context, MANUAL_SOURCE};

impl Context<'_> {
    pub(super) fn duty_spec(
        &mut self,
        raw: &Spanned<RawDuty>,
        contractor: &str,
        sources: &[(String, Option<Arc<EvidenceKind>>)],
        zone: &TimeZone,
    ) -> Option<DutySpec> {
        let start = self.errors.len();
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let key = format!("{contractor}.duty[{}]", raw.id.get_ref());
        let id = self.parsed(&raw.id, &format!("{key}.id"), str::parse::<DutyId>);
        if raw.id.get_ref() == CLIENT_CONFIG_DUTY {
            self.error(
                raw.id.span().start,
                &format!("{key}.id"),
                format!("`{CLIENT_CONFIG_DUTY}` is reserved: it records a client whose configuration does not load; name the duty differently"),
            );
        }
        if id
            .as_ref()
            .is_some_and(dutywatch_checks::library::is_derived)
        {
            self.error(
                raw.id.span().start,
                &format!("{key}.id"),
                "ids starting `lib-` or `ver-` are the duty library's (`dutywatch duties plan` lists them); name the duty differently, or change a library duty with `[[library.override]]`".to_owned(),
            );
        }
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
        let declared = sources.iter().find(|(id, _)| id == source);
        if !manual && declared.is_none() {
            self.error(
                raw.source.span().start,
                &format!("{key}.source"),
                super::join::unknown_source(
                    source,
                    sources,
                    &format!(", or `{MANUAL_SOURCE}` for hand-added evidence"),
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
            ("unknown_when", raw.unknown_when.is_some()),
            ("required_subjects", raw.required_subjects.is_some()),
            ("required_field", raw.required_field.is_some()),
            ("join", raw.join.is_some()),
            ("min_share", raw.min_share.is_some()),
            ("step", !raw.step.is_empty()),
        ]);
        let (name, allowed): (&str, &[&str]) = match raw.rule {
            RawRuleKind::Recurring => (
                "recurring",
                &["every", "warn_before", "completed_at", "where"],
            ),
            RawRuleKind::Continuous => (
                "continuous",
                &[
                    "expect",
                    "check",
                    "min_records",
                    "tolerance",
                    "where",
                    "unknown_when",
                    "required_subjects",
                    "required_field",
                    "join",
                    "min_share",
                ],
            ),
            RawRuleKind::EventClock => ("event_clock", &["step", "where"]),
        };
        let present = present
            .into_iter()
            .map(|(field, is_set)| (field, is_set.then_some(offset)));
        self.keys_not_taken(&key, "rule", name, allowed, present);
        // The kind the duty's conditions read: its source's, or with joins, the source's
        // fields and each joined source's as `alias.field`.
        let kind = if manual {
            self.kinds.get(MANUAL_COMPLETION).cloned()
        } else {
            declared.and_then(|(_, kind)| kind.clone())
        };
        let (joins, joined_kind) = match (&raw.join, raw.rule) {
            (Some(entries), RawRuleKind::Continuous) => {
                let (joins, combined) = self.joins(entries, &key, kind.as_ref(), sources);
                (joins, combined.map(Arc::new))
            }
            _ => (Vec::new(), None),
        };
        if raw
            .min_share
            .is_some_and(|share| !(0.0..=1.0).contains(&share))
            || (raw.min_share.is_some() && raw.expect.is_some_and(|e| e != Quantifier::All))
        {
            self.error(
                offset,
                &format!("{key}.min_share"),
                "`min_share` is the share of subjects (0 to 1, e.g. 0.95) that must pass for expect = \"all\" to hold".to_owned(),
            );
        }
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
                        filter: raw.filter.as_ref().map(|f| f.get_ref().clone()),
                    })),
                    _ => None,
                }
            }
            RawRuleKind::Continuous => {
                required("check", raw.check.is_some());
                required("tolerance", raw.tolerance.is_some());
                let expect = raw.expect.unwrap_or(Quantifier::All);
                if expect == Quantifier::Any && raw.required_subjects.is_some() {
                    self.error(
                        offset,
                        &format!("{key}.required_subjects"),
                        "`required_subjects` names subjects each of which must hold; expect = \"any\" judges the records as a whole, so use expect = \"all\" or remove it".to_owned(),
                    );
                }
                if let Some(field) = &raw.required_field
                    && raw.required_subjects.is_none()
                {
                    self.error(
                        field.span().start,
                        &format!("{key}.required_field"),
                        "`required_field` says which field the values of `required_subjects` are; add `required_subjects = [...]` or remove it".to_owned(),
                    );
                }
                match (&raw.check, raw.tolerance) {
                    (Some(check), Some(tolerance)) => Some(Rule::Continuous(Continuous {
                        expect,
                        filter: raw.filter.as_ref().map(|f| f.get_ref().clone()),
                        check: check.get_ref().clone(),
                        // "none may fail" is satisfied by an empty report; "all must
                        // pass" and "one must pass" need at least one record.
                        min_records: raw
                            .min_records
                            .unwrap_or(usize::from(expect != Quantifier::None)),
                        tolerance,
                        unknown_when: raw.unknown_when.as_ref().map(|p| p.get_ref().clone()),
                        required_subjects: raw.required_subjects.clone().unwrap_or_default(),
                        required_field: raw.required_field.as_ref().map(|f| f.get_ref().clone()),
                        joins: joins.clone(),
                        min_share: raw.min_share,
                    })),
                    _ => None,
                }
            }
            RawRuleKind::EventClock => {
                required("step", !raw.step.is_empty());
                (!raw.step.is_empty()).then(|| {
                    Rule::EventClock(EventClock {
                        filter: raw.filter.as_ref().map(|f| f.get_ref().clone()),
                        steps: raw
                            .step
                            .iter()
                            .map(|step| Step {
                                name: step.name.clone(),
                                starts: step.starts.clone(),
                                done: step.done.clone(),
                                within: step.within,
                                // A running clock is `open` until the last third of its
                                // time, then due soon: 72 h warns 24 h ahead.
                                warn_before: step.warn_before.unwrap_or_else(|| {
                                    Period::from_secs(step.within.as_secs() / 3)
                                }),
                            })
                            .collect(),
                    })
                })
            }
        };
        // Every field the duty reads must be a field of its source's kind,
        // of a type the use needs: a typo here would otherwise compare false
        // on every record, and `none` or `!=` would read that as a pass.
        let kind = if joins.is_empty() { kind } else { joined_kind };
        if let (Some(kind), Some(rule)) = (&kind, &rule) {
            let at = |value: Option<&Spanned<Predicate>>| value.map_or(offset, |v| v.span().start);
            let spans = Spans {
                duty: offset,
                filter: at(raw.filter.as_ref()),
                check: at(raw.check.as_ref()),
                unknown_when: at(raw.unknown_when.as_ref()),
            };
            self.bind(rule, kind, &key, spans);
        }
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
            zone: zone.clone(),
            rule: rule?,
        })
    }

    /// Checks the fields `rule` reads against `kind`; errors at the duty.
    fn bind(&mut self, rule: &Rule, kind: &EvidenceKind, key: &str, spans: Spans) {
        let offset = spans.duty;
        let predicate = |cx: &mut Self, name: &str, predicate: Option<&Predicate>| {
            if let Some(Err(message)) = predicate.map(|p| p.check_against(kind)) {
                let at = match name {
                    "check" => spans.check,
                    "unknown_when" => spans.unknown_when,
                    _ => spans.filter,
                };
                cx.error(at, &format!("{key}.{name}"), message);
            }
        };
        let time_field = |cx: &mut Self, name: &str, path: &FieldPath| {
            let text = path.to_string();
            match path.as_name().and_then(|n| kind.field(n)) {
                None => cx.error(
                    offset,
                    &format!("{key}.{name}"),
                    format!(
                        "`{text}` is not a field of `{}` evidence; {}",
                        kind.name,
                        kind.unknown_field_hint(&text)
                    ),
                ),
                Some(field) if !field.ty.is_time() => cx.error(
                    offset,
                    &format!("{key}.{name}"),
                    format!(
                        "`{text}` is a {} field; `{name}` needs a timestamp or date field",
                        field.ty.name()
                    ),
                ),
                Some(_) => {}
            }
        };
        match rule {
            Rule::Recurring(rule) => {
                predicate(self, "where", rule.filter.as_ref());
                time_field(self, "completed_at", &rule.completed_at);
            }
            Rule::Continuous(rule) => {
                predicate(self, "where", rule.filter.as_ref());
                predicate(self, "check", Some(&rule.check));
                predicate(self, "unknown_when", rule.unknown_when.as_ref());
                if let Some(path) = &rule.required_field {
                    let text = path.to_string();
                    match kind.field(&text) {
                        None => self.error(
                            offset,
                            &format!("{key}.required_field"),
                            format!(
                                "`{text}` is not a field of `{}` evidence; {}",
                                kind.name,
                                kind.unknown_field_hint(&text)
                            ),
                        ),
                        Some(field) if field.ty != FieldType::Text => self.error(
                            offset,
                            &format!("{key}.required_field"),
                            format!(
                                "`{text}` is a {} field; `required_field` needs a text field whose values `required_subjects` lists",
                                field.ty.name()
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
            Rule::EventClock(rule) => {
                predicate(self, "where", rule.filter.as_ref());
                if kind.subject.is_empty() {
                    self.error(
                        offset,
                        &format!("{key}.source"),
                        format!("`{}` evidence names no subject, so it cannot hold events; use a kind with a subject such as `incident`", kind.name),
                    );
                }
                for step in &rule.steps {
                    time_field(self, "step.starts", &step.starts);
                    time_field(self, "step.done", &step.done);
                }
            }
        }
    }
}

/// Where a duty's parts start in the file, for errors.
#[derive(Clone, Copy)]
struct Spans {
    duty: usize,
    filter: usize,
    check: usize,
    unknown_when: usize,
}

/// A sixth of the period, at most 30 days: 90d warns 15d ahead, weekly 28h.
fn default_warning(every: Cadence) -> Period {
    Period::from_secs((every.approx_secs() / 6).min(30 * 86_400))
}
