//! `evaluate(duty, evidence, now) -> Verdict`: the one function every
//! verdict comes from.
//!
//! The order of the checks is the product's first principle: absence of
//! evidence is never compliance. A failed collector, no evidence at all, and
//! stale evidence are each decided before any rule gets to say "met".

use jiff::Timestamp;
use serde_json::Value;

use crate::duty::{Continuous, Duty, EventClock, Quantifier, Recurring, Rule};
use crate::evidence::{Collection, EvidenceId, EvidenceView, Snapshot};
use crate::period::Period;
use crate::predicate::{FieldPath, Predicate, value_as_timestamp};
use crate::verdict::{State, Verdict};

/// How many offending records a reason names before it summarises.
const NAMED_RECORDS: usize = 5;

/// Decides where `duty` stands at `now`, from `evidence` alone.
pub fn evaluate(duty: &Duty, evidence: EvidenceView<'_>, now: Timestamp) -> Verdict {
    if let Collection::Failed { since, error } = evidence.collection {
        return Verdict {
            state: State::SourceError {
                since: *since,
                error: error.clone(),
            },
            reason: format!(
                "the collector for source `{}` has failed since {}: {error}",
                evidence.source,
                show(*since)
            ),
            evidence: Vec::new(),
        };
    }
    let Some(latest) = evidence.latest() else {
        let reason = match evidence.collection {
            Collection::Manual => format!(
                "no evidence has been added; record it with `dutywatch evidence add --duty {} --file <file>`",
                duty.id
            ),
            Collection::NeverRun => {
                format!("source `{}` has not been collected yet", evidence.source)
            }
            _ => format!("source `{}` has produced no evidence", evidence.source),
        };
        return verdict(State::NoEvidence, reason, Vec::new());
    };
    if let Some(max_age) = duty.max_age {
        let age = Period::between(latest.effective_at, now);
        if age > max_age {
            return verdict(
                State::StaleEvidence {
                    as_of: latest.effective_at,
                    age,
                    max_age,
                },
                format!(
                    "the newest evidence from `{}` is as of {} ({age} old); it may be at most {max_age} old",
                    evidence.source,
                    show(latest.effective_at)
                ),
                vec![latest.id],
            );
        }
    }
    match &duty.rule {
        Rule::Recurring(rule) => recurring(rule, evidence, now),
        Rule::Continuous(rule) => continuous(duty, rule, evidence, now),
        Rule::EventClock(rule) => event_clock(rule, latest, now),
    }
}

fn recurring(rule: &Recurring, evidence: EvidenceView<'_>, now: Timestamp) -> Verdict {
    let mut last: Option<(Timestamp, EvidenceId)> = None;
    let mut unreadable = 0;
    let mut future = 0;
    for snapshot in evidence.snapshots {
        for record in selected(&snapshot.records, rule.filter.as_ref(), now) {
            match rule.completed_at.timestamp(record) {
                None => unreadable += 1,
                // A completion dated after `now` is a typo or clock skew,
                // not work done: it must not push the due date out.
                Some(at) if at > now => future += 1,
                Some(at) => {
                    if last.is_none_or(|(best, _)| at >= best) {
                        last = Some((at, snapshot.id));
                    }
                }
            }
        }
    }
    let mut notes = String::new();
    if unreadable > 0 {
        notes += &format!(
            "; {unreadable} record(s) ignored: `{}` is missing or not a date",
            rule.completed_at
        );
    }
    if future > 0 {
        notes += &format!(
            "; {future} record(s) ignored: `{}` is in the future",
            rule.completed_at
        );
    }
    let Some((done_at, id)) = last else {
        let ids = evidence.snapshots.iter().map(|s| s.id).collect();
        return verdict(
            State::NoEvidence,
            format!(
                "no completion found in source `{}`{}{notes}",
                evidence.source,
                filter_note(rule.filter.as_ref())
            ),
            ids,
        );
    };
    let due = add(done_at, rule.every);
    let state = deadline_state(due, rule.warn_before, now);
    let reason = match &state {
        State::Lapsed { overdue, .. } => format!(
            "last done {}; due every {}, so it was due {} and is {overdue} overdue",
            show(done_at),
            rule.every,
            show(due)
        ),
        State::DueSoon { .. } => format!(
            "last done {}; due again by {} (in {})",
            show(done_at),
            show(due),
            Period::between(now, due)
        ),
        _ => format!("last done {}; next due {}", show(done_at), show(due)),
    };
    verdict(state, reason + &notes, vec![id])
}

/// Met before the warning window, due soon inside it, lapsed after `due`.
fn deadline_state(due: Timestamp, warn_before: Period, now: Timestamp) -> State {
    if now > due {
        State::Lapsed {
            since: due,
            overdue: Period::between(due, now),
        }
    } else if now >= sub(due, warn_before) {
        State::DueSoon { due }
    } else {
        State::Met {
            next_due: Some(due),
        }
    }
}

/// How one snapshot fares against a continuous condition.
enum Outcome {
    Holds {
        matched: usize,
    },
    Fails {
        failing: Vec<String>,
        matched: usize,
    },
    TooFew {
        matched: usize,
    },
}

fn continuous(
    duty: &Duty,
    rule: &Continuous,
    evidence: EvidenceView<'_>,
    now: Timestamp,
) -> Verdict {
    let outcome = |snapshot: &Snapshot| -> Outcome {
        let records: Vec<&Value> = selected(
            &snapshot.records,
            rule.filter.as_ref(),
            snapshot.effective_at,
        )
        .collect();
        let matched = records.len();
        if matched < rule.min_records {
            return Outcome::TooFew { matched };
        }
        let passing = |record: &&Value| rule.check.matches(record, snapshot.effective_at);
        let holds = match rule.expect {
            Quantifier::All => records.iter().all(passing),
            Quantifier::Any => records.iter().any(passing),
            Quantifier::None => !records.iter().any(passing),
        };
        if holds {
            return Outcome::Holds { matched };
        }
        // Name the records that break the condition so the owner can act.
        let failing = match rule.expect {
            Quantifier::All => records
                .iter()
                .filter(|r| !passing(r))
                .map(|r| label(duty, r))
                .collect(),
            Quantifier::None => records
                .iter()
                .filter(|r| passing(r))
                .map(|r| label(duty, r))
                .collect(),
            Quantifier::Any => Vec::new(),
        };
        Outcome::Fails { failing, matched }
    };

    let Some(latest) = evidence.latest() else {
        return verdict(State::NoEvidence, "no evidence".to_owned(), Vec::new());
    };
    let expectation = match rule.expect {
        Quantifier::All => format!("every record must satisfy `{}`", rule.check),
        Quantifier::Any => format!("at least one record must satisfy `{}`", rule.check),
        Quantifier::None => format!("no record may satisfy `{}`", rule.check),
    };
    let failure = match outcome(latest) {
        Outcome::Holds { matched } => {
            return verdict(
                State::Met { next_due: None },
                format!(
                    "holds as of {}: {expectation}, checked over {matched} record(s){}",
                    show(latest.effective_at),
                    filter_note(rule.filter.as_ref())
                ),
                vec![latest.id],
            );
        }
        Outcome::TooFew { matched } => {
            return verdict(
                State::NoEvidence,
                format!(
                    "the evidence as of {} has {matched} matching record(s){}; at least {} are needed to judge it",
                    show(latest.effective_at),
                    filter_note(rule.filter.as_ref()),
                    rule.min_records
                ),
                vec![latest.id],
            );
        }
        Outcome::Fails { failing, matched } => {
            let named = if failing.is_empty() {
                String::new()
            } else {
                let shown: Vec<&str> = failing
                    .iter()
                    .take(NAMED_RECORDS)
                    .map(String::as_str)
                    .collect();
                let more = failing.len().saturating_sub(NAMED_RECORDS);
                let tail = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                format!(
                    "; {} of {matched} record(s) break it: {}{tail}",
                    failing.len(),
                    shown.join(", ")
                )
            };
            format!("{expectation}{named}")
        }
    };

    // The condition fails now. It has been failing since the oldest
    // snapshot of the unbroken run of failures that ends at the latest one.
    let mut failing_since = latest;
    let mut ever_held = false;
    for snapshot in evidence.snapshots.iter().rev().skip(1) {
        if matches!(outcome(snapshot), Outcome::Holds { .. }) {
            ever_held = true;
            break;
        }
        failing_since = snapshot;
    }
    let since_text = if ever_held {
        format!("failing since {}", show(failing_since.effective_at))
    } else {
        format!(
            "failing since at least {}",
            show(failing_since.effective_at)
        )
    };
    let deadline = add(failing_since.effective_at, rule.tolerance);
    let state = if now > deadline {
        State::Lapsed {
            since: deadline,
            overdue: Period::between(deadline, now),
        }
    } else {
        State::DueSoon { due: deadline }
    };
    let consequence = match &state {
        State::Lapsed { .. } => format!(
            "lapsed at {} (tolerance {})",
            show(deadline),
            rule.tolerance
        ),
        _ => format!(
            "must hold again by {} (tolerance {})",
            show(deadline),
            rule.tolerance
        ),
    };
    let mut ids = vec![failing_since.id, latest.id];
    ids.dedup();
    verdict(
        state,
        format!("{failure}; {since_text}, {consequence}"),
        ids,
    )
}

/// Where one step of one event stands.
struct OpenStep {
    event: String,
    step: String,
    due: Timestamp,
    state: State,
}

fn event_clock(rule: &EventClock, latest: &Snapshot, now: Timestamp) -> Verdict {
    let mut open: Vec<OpenStep> = Vec::new();
    let mut late: Vec<String> = Vec::new();
    // Start times that are there but cannot be read: whether those clocks
    // run is unknown, so they can never add up to "met".
    let mut unknown: Vec<String> = Vec::new();
    let mut unreadable_done: Vec<String> = Vec::new();
    let mut events = 0;
    let mut unnamed = 0;
    for (index, record) in latest.records.iter().enumerate() {
        if rule
            .filter
            .as_ref()
            .is_some_and(|filter| !filter.matches(record, now))
        {
            continue;
        }
        events += 1;
        // An event without its id still runs its clock; it is named by its
        // place in the export so someone can find it.
        let event = rule
            .event_id
            .lookup(record)
            .map(scalar_text)
            .unwrap_or_else(|| {
                unnamed += 1;
                format!("record {}", index + 1)
            });
        for step in &rule.steps {
            let started = match reading(&step.starts, record) {
                Reading::Absent => continue,
                Reading::Unreadable => {
                    unknown.push(format!("{event} `{}`", step.starts));
                    continue;
                }
                Reading::At(at) => at,
            };
            let due = add(started, step.within);
            match reading(&step.done, record) {
                Reading::At(done) => {
                    if done > due {
                        late.push(format!(
                            "{event}: {} done {} late",
                            step.name,
                            Period::between(due, done)
                        ));
                    }
                }
                // An unreadable completion is not a completion: the clock
                // keeps running, and the reason says why.
                done @ (Reading::Absent | Reading::Unreadable) => {
                    if matches!(done, Reading::Unreadable) {
                        unreadable_done.push(format!("{event} `{}`", step.done));
                    }
                    open.push(OpenStep {
                        event: event.clone(),
                        step: step.name.clone(),
                        due,
                        state: deadline_state(due, step.warn_before, now),
                    });
                }
            }
        }
    }
    let mut notes = String::new();
    if !late.is_empty() {
        notes += &format!("; completed late: {}", late.join(", "));
    }
    if unnamed > 0 {
        notes += &format!(
            "; {unnamed} event(s) without `{}`, named by their record number",
            rule.event_id
        );
    }
    if !unreadable_done.is_empty() {
        notes += &format!(
            "; not a date, so not counted as done: {}",
            unreadable_done.join(", ")
        );
    }
    if !unknown.is_empty() {
        notes += &format!(
            "; not a date, so whether the clock runs is unknown: {}",
            unknown.join(", ")
        );
    }
    // The most urgent open step decides: lapsed before due soon, then the
    // earliest deadline.
    open.sort_by_key(|step| (severity(&step.state), step.due));
    let Some(worst) = open.first() else {
        if !unknown.is_empty() {
            return verdict(
                State::NoEvidence,
                format!(
                    "no open step can be ruled out in {events} event(s) as of {}{notes}",
                    show(latest.effective_at)
                ),
                vec![latest.id],
            );
        }
        return verdict(
            State::Met { next_due: None },
            format!(
                "no open step in {events} event(s) as of {}{notes}",
                show(latest.effective_at)
            ),
            vec![latest.id],
        );
    };
    let others = open.len() - 1;
    let also = if others > 0 {
        format!(" ({others} more open step(s))")
    } else {
        String::new()
    };
    let reason = match &worst.state {
        State::Lapsed { overdue, .. } => format!(
            "event {}: {} was due {} and is {overdue} overdue{also}",
            worst.event,
            worst.step,
            show(worst.due)
        ),
        State::DueSoon { .. } => format!(
            "event {}: {} is due by {} (in {}){also}",
            worst.event,
            worst.step,
            show(worst.due),
            Period::between(now, worst.due)
        ),
        _ => format!(
            "event {}: {} is running, due {}{also}",
            worst.event,
            worst.step,
            show(worst.due)
        ),
    };
    // Nothing due yet is good news only when every clock could be read.
    let state = match &worst.state {
        State::Met { .. } if !unknown.is_empty() => State::NoEvidence,
        state => state.clone(),
    };
    verdict(state, reason + &notes, vec![latest.id])
}

/// A time field of one record, told apart the three ways that matter.
enum Reading {
    /// Not there, null or empty: the step has not started, or is not done.
    Absent,
    /// There but not a time.
    Unreadable,
    At(Timestamp),
}

fn reading(path: &FieldPath, record: &Value) -> Reading {
    match path.lookup(record) {
        None => Reading::Absent,
        Some(Value::String(text)) if text.trim().is_empty() => Reading::Absent,
        Some(value) => value_as_timestamp(value).map_or(Reading::Unreadable, Reading::At),
    }
}

fn severity(state: &State) -> u8 {
    match state {
        State::Lapsed { .. } => 0,
        State::DueSoon { .. } => 1,
        _ => 2,
    }
}

fn selected<'a>(
    records: &'a [Value],
    filter: Option<&'a Predicate>,
    now: Timestamp,
) -> impl Iterator<Item = &'a Value> + 'a {
    records
        .iter()
        .filter(move |record| filter.is_none_or(|f| f.matches(record, now)))
}

fn filter_note(filter: Option<&Predicate>) -> String {
    filter.map(|f| format!(" where `{f}`")).unwrap_or_default()
}

fn label(duty: &Duty, record: &Value) -> String {
    duty.label
        .as_ref()
        .and_then(|path| path.lookup(record))
        .map(scalar_text)
        .unwrap_or_else(|| "(unnamed record)".to_owned())
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn verdict(state: State, reason: String, evidence: Vec<EvidenceId>) -> Verdict {
    Verdict {
        state,
        reason,
        evidence,
    }
}

fn add(at: Timestamp, period: Period) -> Timestamp {
    at.saturating_add(period.as_signed_duration())
        .unwrap_or(Timestamp::MAX)
}

fn sub(at: Timestamp, period: Period) -> Timestamp {
    at.saturating_sub(period.as_signed_duration())
        .unwrap_or(Timestamp::MIN)
}

/// Instants in reasons: UTC to the minute, the same for every reader.
fn show(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests;
