//! `evaluate(duty, evidence, now) -> Verdict`: the one function every
//! verdict comes from.
//!
//! The order of the checks is the product's first principle: absence of
//! evidence is never compliance. A failed collector, no evidence at all,
//! stale evidence and an implausibly empty export are each decided before
//! any rule gets to say "met"; inside a rule, a record that could not be
//! read or a condition that cannot be decided on it keeps its subject, and
//! so the duty, from `met`.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::duty::{Continuous, Duty, EventClock, Quantifier, Recurring, Rule, Step};
use crate::evidence::{Collection, EvidenceId, EvidenceView, Snapshot};
use crate::horizon::Horizon;
use crate::join;
use crate::kind::{Empty, EvidenceKind};
use crate::period::Period;
use crate::predicate::{Context, FieldPath, Predicate, Truth};
use crate::record::{FieldValue, Finding, Record, Subject};
use crate::time::When;
use crate::verdict::{State, StateKind, SubjectVerdict, Verdict, WholeRun};

/// How many subjects a reason names before it summarises.
const NAMED: usize = 5;

/// Decides where `duty` stands at `now`, from `evidence` alone.
pub fn evaluate(duty: &Duty, evidence: EvidenceView<'_>, now: Timestamp) -> Verdict {
    evaluate_joined(duty, evidence, &[], now)
}

/// [`evaluate`] for a duty that joins other sources (`Continuous::joins`): `joined` holds
/// each joined source's evidence, whose newest snapshot the records are joined with.
pub fn evaluate_joined(
    duty: &Duty,
    evidence: EvidenceView<'_>,
    joined: &[EvidenceView<'_>],
    now: Timestamp,
) -> Verdict {
    evaluate_holding(duty, evidence, joined, now).0
}

/// [`evaluate_joined`], and the instant until which its verdict holds on the same evidence
/// (`crate::horizon`): judged again at any instant before it, the duty and each of its
/// subjects have the same states.
pub fn evaluate_holding(
    duty: &Duty,
    evidence: EvidenceView<'_>,
    joined: &[EvidenceView<'_>],
    now: Timestamp,
) -> (Verdict, Timestamp) {
    let horizon = Horizon::new(now);
    let verdict = judge(duty, evidence, joined, &horizon);
    // Their reasons count time from `now` (due in, overdue by, old).
    if matches!(
        verdict.state.kind(),
        StateKind::DueSoon | StateKind::Lapsed | StateKind::StaleEvidence
    ) {
        horizon.relative_text();
    }
    (verdict, horizon.until())
}

fn judge(
    duty: &Duty,
    evidence: EvidenceView<'_>,
    joined: &[EvidenceView<'_>],
    horizon: &Horizon,
) -> Verdict {
    let now = horizon.now();
    let zone = evidence.zone;
    if let Collection::Failed { since, error } = evidence.collection {
        return verdict(
            State::SourceError {
                since: *since,
                error: error.clone(),
            },
            format!(
                "the collector for source `{}` has failed since {}: {error}",
                evidence.source,
                show(*since, zone)
            ),
            Vec::new(),
        );
    }
    let Some(latest) = evidence.latest() else {
        let reason = match evidence.collection {
            // The contractor's verification of the MSP records what was looked at and found.
            Collection::Manual if crate::library::is_verification(&duty.id) => format!(
                "no verification has been recorded; record it with `dutywatch evidence add --duty {} --file <file> --looked-at \"…\" --outcome satisfied|not-satisfied`",
                duty.id
            ),
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
        horizon.flips_at(add(latest.effective_at, max_age));
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
                    show(latest.effective_at, zone)
                ),
                vec![latest.id],
            );
        }
    }
    // A recurring duty's window holds each file's newest snapshot: this period's empty file
    // does not undo the last period's completion, so only a window of nothing but empty
    // files proves nothing.
    let empty = |s: &Snapshot| s.records.is_empty() && s.findings.is_empty();
    let all_empty = match &duty.rule {
        Rule::Recurring(_) => evidence.snapshots.iter().all(empty),
        _ => empty(latest),
    };
    if all_empty && evidence.kind.empty == Empty::NoEvidence {
        return verdict(
            State::NoEvidence,
            format!(
                "the evidence from `{}` as of {} holds no records; an empty `{}` export is not plausible, so it proves nothing",
                evidence.source,
                show(latest.effective_at, zone),
                evidence.kind.name
            ),
            vec![latest.id],
        );
    }
    let context = Context {
        now,
        zone,
        horizon: Some(horizon),
    };
    if let Rule::Continuous(rule) = &duty.rule
        && !rule.joins.is_empty()
    {
        return continuous_joined(duty, rule, evidence, joined, context);
    }
    match &duty.rule {
        Rule::Recurring(rule) => recurring(duty, rule, evidence, context),
        Rule::Continuous(rule) if rule.expect == Quantifier::Any => any(rule, evidence, context),
        Rule::Continuous(rule) => per_subject(rule, evidence, context),
        Rule::EventClock(rule) => event_clock(rule, evidence, latest, context),
    }
}

// ---- recurring -------------------------------------------------------------

fn recurring(
    duty: &Duty,
    rule: &Recurring,
    evidence: EvidenceView<'_>,
    context: Context<'_>,
) -> Verdict {
    let zone = context.zone;
    // The completion that pushes the due date furthest out, with its due date.
    let mut best: Option<(Timestamp, When, EvidenceId)> = None;
    // For the contractor's verification of the MSP: the newest record the filter leaves out
    // (a verification that found the MSP's part not satisfied), with what it says.
    let verifies = crate::library::is_verification(&duty.id);
    let mut finding: Option<(Timestamp, String, EvidenceId)> = None;
    let mut notes = Notes::default();
    for snapshot in evidence.snapshots {
        notes.unreadable(&snapshot.findings);
        for record in snapshot.records.iter() {
            match selected(rule.filter.as_ref(), record, context) {
                Truth::False => {
                    if verifies
                        && let (Some(filter), Some(done)) =
                            (rule.filter.as_ref(), time_of(record, &rule.completed_at))
                        && done.start(zone) <= context.now
                        && finding
                            .as_ref()
                            .is_none_or(|(at, ..)| done.start(zone) > *at)
                    {
                        let said = read_values(filter, record, zone, Values::Kept)
                            .map(|values| format!(" ({values})"))
                            .unwrap_or_default();
                        let words = format!(
                            "the verification recorded {} found the MSP's part not satisfied{said}",
                            show_when(done, zone)
                        );
                        finding = Some((done.start(zone), words, snapshot.id));
                    }
                    continue;
                }
                Truth::Unknown => {
                    notes.undecided_filter();
                    continue;
                }
                Truth::True => {}
            }
            let Some(done) = time_of(record, &rule.completed_at) else {
                notes.add(format!(
                    "{} has no `{}`, so it is not a completion",
                    record.name(),
                    rule.completed_at
                ));
                continue;
            };
            // A completion dated after `now` is a typo or clock skew, not
            // work done: it must not push the due date out.
            note_flip(context, done.start(zone));
            if done.start(zone) > context.now {
                notes.add(format!(
                    "{}: `{}` {} is in the future, so it is not counted",
                    record.name(),
                    rule.completed_at,
                    show_when(done, zone)
                ));
                continue;
            }
            let due = rule.every.due(done, &duty.zone);
            if best.is_none_or(|(best_due, ..)| due > best_due) {
                best = Some((due, done, snapshot.id));
            }
        }
    }
    // A verification newer than the last one that was satisfied found the MSP failing: a
    // finding to act on, not a verification still to be done.
    if let Some((at, words, id)) = finding
        && best.is_none_or(|(_, done, _)| at > done.start(zone))
    {
        return verdict(
            State::Lapsed {
                since: at,
                overdue: Period::between(at, context.now),
            },
            format!("{words}; record a new verification once the MSP has fixed it{notes}"),
            vec![id],
        );
    }
    let Some((due, done, id)) = best else {
        let ids = evidence.snapshots.iter().map(|s| s.id).collect();
        return verdict(
            State::NoEvidence,
            format!(
                "no completion found in source `{}`{}{}",
                evidence.source,
                filter_note(rule.filter.as_ref()),
                notes
            ),
            ids,
        );
    };
    let now = context.now;
    let state = deadline_state(
        due,
        rule.warn_before,
        context,
        State::Met {
            next_due: Some(due),
        },
    );
    let done = show_when(done, zone);
    let reason = match &state {
        State::Lapsed { overdue, .. } => format!(
            "last done {done}; due every {}, so it was due {} and is {overdue} overdue",
            rule.every,
            show(due, zone)
        ),
        State::DueSoon { .. } => format!(
            "last done {done}; due again by {} (in {})",
            show(due, zone),
            Period::between(now, due)
        ),
        _ => format!("last done {done}; next due {}", show(due, zone)),
    };
    verdict(state, format!("{reason}{notes}"), vec![id])
}

/// Before the warning window `early`, inside it due soon, lapsed after `due`.
fn deadline_state(
    due: Timestamp,
    warn_before: Period,
    context: Context<'_>,
    early: State,
) -> State {
    let now = context.now;
    note_flip(context, due);
    note_flip(context, sub(due, warn_before));
    if now > due {
        State::Lapsed {
            since: due,
            overdue: Period::between(due, now),
        }
    } else if now >= sub(due, warn_before) {
        State::DueSoon { due }
    } else {
        early
    }
}

// ---- continuous ------------------------------------------------------------

/// A continuous duty over its records joined with other sources' (`crate::join`): every
/// joined source must be usable before any record is judged, and the verdict names the
/// joined snapshots it rests on too.
fn continuous_joined(
    duty: &Duty,
    rule: &Continuous,
    evidence: EvidenceView<'_>,
    joined: &[EvidenceView<'_>],
    context: Context<'_>,
) -> Verdict {
    let zone = context.zone;
    // Each joined source's newest evidence turns stale at its own instant (`join::gate`).
    for join in &rule.joins {
        if let (Some(max_age), Some(latest)) = (
            join.max_age.or(duty.max_age),
            joined
                .iter()
                .find(|v| v.source == join.source)
                .and_then(EvidenceView::latest),
        ) {
            note_flip(context, add(latest.effective_at, max_age));
        }
    }
    if let Some((state, reason, ids)) =
        join::gate(&rule.joins, joined, duty.max_age, context.now, |at| {
            show(at, zone)
        })
    {
        let mut ids = ids;
        ids.extend(evidence.latest().map(|s| s.id));
        ids.sort();
        ids.dedup();
        return verdict(state, reason, ids);
    }
    let snapshots = join::join_snapshots(&rule.joins, joined, evidence.snapshots);
    let view = EvidenceView {
        snapshots: &snapshots,
        ..evidence
    };
    let mut verdict = if rule.expect == Quantifier::Any {
        any(rule, view, context)
    } else {
        per_subject(rule, view, context)
    };
    for join in &rule.joins {
        if let Some(latest) = joined
            .iter()
            .find(|v| v.source == join.source)
            .and_then(EvidenceView::latest)
        {
            verdict.evidence.push(latest.id);
        }
    }
    verdict.evidence.sort();
    verdict.evidence.dedup();
    verdict
}

/// Each subject's outcome in one snapshot.
/// Each subject's outcome in one snapshot, in subject order, one entry per subject: sorted
/// once when judged, then looked up by binary search (an older snapshot's outcomes are asked
/// for each failing subject's history).
#[derive(Debug)]
struct Outcomes(Vec<(Subject, Outcome)>);

impl Outcomes {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, subject: &Subject) -> Option<&Outcome> {
        self.0
            .binary_search_by(|(held, _)| held.cmp(subject))
            .ok()
            .map(|index| &self.0[index].1)
    }

    fn subjects(&self) -> impl Iterator<Item = &Subject> {
        self.0.iter().map(|(subject, _)| subject)
    }

    fn values(&self) -> impl Iterator<Item = &Outcome> {
        self.0.iter().map(|(_, outcome)| outcome)
    }

    /// Sets `subject`'s outcome, in its place.
    fn set(&mut self, subject: Subject, outcome: Outcome) {
        match self.0.binary_search_by(|(held, _)| held.cmp(&subject)) {
            Ok(index) => self.0[index].1 = outcome,
            Err(index) => self.0.insert(index, (subject, outcome)),
        }
    }
}

impl IntoIterator for Outcomes {
    type Item = (Subject, Outcome);
    type IntoIter = std::vec::IntoIter<(Subject, Outcome)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// How one record fares against a continuous condition.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Passes,
    /// With the values the condition read, when asked for (the latest snapshot's, which the
    /// reasons word): `severity` = 'CRITICAL', so a reader sees why without the export.
    Fails(Option<Box<str>>),
    /// A required subject the snapshot does not hold: a failure.
    Absent,
    /// Neither: a value the condition needs is absent, or the record could
    /// not be read at all.
    Undecided(String),
}

/// The outcome of every subject of one snapshot that the condition is
/// about; a subject twice in one export takes its worst outcome.
fn outcomes(
    rule: &Continuous,
    kind: &EvidenceKind,
    snapshot: &Snapshot,
    context: Context<'_>,
    values: Values,
) -> Outcomes {
    outcomes_until(rule, kind, snapshot, context, None, values)
}

/// Whether a failing outcome keeps the values its condition read (only the snapshot whose
/// reasons are worded does: the older ones are only looked at for when a failure began).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Values {
    Kept,
    Dropped,
}

/// [`outcomes`], noting in `horizon` (made at the snapshot's instant) until when the same
/// records judged at a later instant come out the same.
fn outcomes_until(
    rule: &Continuous,
    kind: &EvidenceKind,
    snapshot: &Snapshot,
    context: Context<'_>,
    horizon: Option<&Horizon>,
    values: Values,
) -> Outcomes {
    // Conditions read `now` as the instant the snapshot speaks for, so an
    // old snapshot is judged as it stood then.
    let context = Context {
        now: snapshot.effective_at,
        zone: context.zone,
        horizon,
    };
    // Each record's outcome as found, merged by subject at the end: sorting a million
    // subjects (mostly in order already, as exports list them) costs less than inserting
    // each into a map keyed by its long text.
    let mut found: Vec<(Subject, Outcome)> =
        Vec::with_capacity(snapshot.findings.len() + snapshot.records.len());
    // `required_field`: the values it takes in the records the `where` selects.
    let mut required_values: Vec<Arc<str>> = Vec::new();
    let mut put = |subject: Subject, outcome: Outcome| found.push((subject, outcome));
    for finding in snapshot.findings.iter() {
        put(
            finding_subject(finding),
            Outcome::Undecided(format!("its record could not be read: {finding}")),
        );
    }
    for record in snapshot.records.iter() {
        let subject = record_subject(record);
        match selected(rule.filter.as_ref(), record, context) {
            Truth::False => continue,
            Truth::Unknown => {
                put(
                    subject,
                    Outcome::Undecided(format!(
                        "whether `{}` applies cannot be told: it reads a field the record does not have",
                        filter_text(rule.filter.as_ref())
                    )),
                );
                continue;
            }
            Truth::True => {}
        }
        if let Some(field) = &rule.required_field
            && let Some(FieldValue::Text(value)) = record.get_path(field)
        {
            required_values.push(Arc::clone(value));
        }
        if let Some(why) = join::miss(record) {
            put(subject, Outcome::Undecided(format!("not judged: {why}")));
            continue;
        }
        if let Some(why) = dated_ahead(kind, record, context) {
            put(subject, Outcome::Undecided(why));
            continue;
        }
        if let Some(unknown_when) = &rule.unknown_when {
            // True: the record says nothing about today (a stale device). Unknown: whether
            // it does cannot be told. Neither may pass or fail.
            let why = match unknown_when.eval(record, context) {
                Truth::False => None,
                Truth::True => Some(format!(
                    "`{unknown_when}` holds, so its record says nothing about now and is not judged"
                )),
                Truth::Unknown => Some(format!(
                    "whether `{unknown_when}` holds cannot be told ({}), so it is not judged",
                    absent_fields(unknown_when, record)
                )),
            };
            if let Some(why) = why {
                put(subject, Outcome::Undecided(why));
                continue;
            }
        }
        let truth = rule.check.eval(record, context);
        let outcome = match truth {
            Truth::Unknown => Outcome::Undecided(format!(
                "`{}` cannot be decided: {}",
                rule.check,
                absent_fields(&rule.check, record)
            )),
            // `none`: matching the condition is the failure.
            Truth::True if rule.expect == Quantifier::None => {
                Outcome::Fails(read_values(&rule.check, record, context.zone, values))
            }
            Truth::False if rule.expect != Quantifier::None => {
                Outcome::Fails(read_values(&rule.check, record, context.zone, values))
            }
            Truth::True | Truth::False => Outcome::Passes,
        };
        put(subject, outcome);
    }
    let mut out = worst_per_subject(found);
    for required in &rule.required_subjects {
        let present = if rule.required_field.is_some() {
            required_values
                .iter()
                .any(|value| value.eq_ignore_ascii_case(required))
        } else {
            out.subjects()
                .any(|subject| subject.as_str().eq_ignore_ascii_case(required))
        };
        if !present {
            out.set(Subject::new(required.clone()), Outcome::Absent);
        }
    }
    out
}

/// Outcomes by subject: of a subject's several records the worst (failing over undecided over
/// passing), the first found of equally bad ones.
fn worst_per_subject(mut found: Vec<(Subject, Outcome)>) -> Outcomes {
    let rank = |o: &Outcome| match o {
        Outcome::Passes => 0,
        Outcome::Undecided(_) => 1,
        Outcome::Fails(_) | Outcome::Absent => 2,
    };
    // Stable: a subject's outcomes stay in the order they were found.
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(Subject, Outcome)> = Vec::with_capacity(found.len());
    for (subject, outcome) in found {
        match merged.last_mut() {
            Some((last, kept)) if *last == subject => {
                if rank(kept) < rank(&outcome) {
                    *kept = outcome;
                }
            }
            _ => merged.push((subject, outcome)),
        }
    }
    Outcomes(merged)
}

fn expectation(rule: &Continuous) -> String {
    match rule.expect {
        Quantifier::All => format!("every record must satisfy `{}`", rule.check),
        Quantifier::Any => format!("at least one record must satisfy `{}`", rule.check),
        Quantifier::None => format!("no record may satisfy `{}`", rule.check),
    }
}

/// The outcomes of `older` snapshots, newest first. An API that answers the same bytes at every
/// call leaves a run of snapshots of the same records (one parse, shared) that differ only in
/// their instant: judged oldest first, a snapshot's outcomes are reused for the next ones of the
/// same records while their instant is before the horizon those outcomes noted (a condition
/// such as `pending_since < now-14d` turning), so a window of a hundred such snapshots is judged
/// a few times, not a hundred.
fn history<'s>(
    rule: &Continuous,
    kind: &EvidenceKind,
    older: &'s [Snapshot],
    context: Context<'_>,
) -> Vec<(&'s Snapshot, Rc<Outcomes>)> {
    let mut out: Vec<(&Snapshot, Rc<Outcomes>)> = Vec::with_capacity(older.len());
    // The last snapshot judged, until when its outcomes hold, and them.
    let mut last: Option<(&Snapshot, Timestamp, Rc<Outcomes>)> = None;
    for snapshot in older {
        if let Some((judged, until, outcomes)) = &last
            && Arc::ptr_eq(&judged.records, &snapshot.records)
            && Arc::ptr_eq(&judged.findings, &snapshot.findings)
            && judged.effective_at <= snapshot.effective_at
            && snapshot.effective_at < *until
        {
            out.push((snapshot, Rc::clone(outcomes)));
            continue;
        }
        let horizon = Horizon::new(snapshot.effective_at);
        let outcomes = Rc::new(outcomes_until(
            rule,
            kind,
            snapshot,
            context,
            Some(&horizon),
            Values::Dropped,
        ));
        last = Some((snapshot, horizon.until(), Rc::clone(&outcomes)));
        out.push((snapshot, outcomes));
    }
    out.reverse();
    out
}

/// `expect = "all"` or `"none"`: each subject on its own.
fn per_subject(rule: &Continuous, evidence: EvidenceView<'_>, context: Context<'_>) -> Verdict {
    let zone = context.zone;
    let now = context.now;
    let snapshots = evidence.snapshots;
    let Some((latest, older)) = snapshots.split_last() else {
        return verdict(State::NoEvidence, "no evidence".to_owned(), Vec::new());
    };
    let current = outcomes(rule, evidence.kind, latest, context, Values::Kept);
    if current.len() < rule.min_records {
        return verdict(
            State::NoEvidence,
            format!(
                "the evidence as of {} has {} matching record(s){}; at least {} are needed to judge it",
                show(latest.effective_at, zone),
                current.len(),
                filter_note(rule.filter.as_ref()),
                rule.min_records
            ),
            vec![latest.id],
        );
    }
    // Older snapshots' outcomes, newest first, only if someone fails now.
    let history: Vec<(&Snapshot, Rc<Outcomes>)> = if current
        .values()
        .any(|o| matches!(o, Outcome::Fails(_) | Outcome::Absent))
    {
        history(rule, evidence.kind, older, context)
    } else {
        Vec::new()
    };
    let mut subjects = Vec::with_capacity(current.len());
    let mut evidence_ids = vec![latest.id];
    // The subjects failing since one snapshot share its instants: each is worded in the
    // zone once, not once per subject (a first cycle words hundreds of thousands).
    let mut shown: HashMap<Timestamp, String> = HashMap::new();
    let mut show_once =
        |at: Timestamp| -> String { shown.entry(at).or_insert_with(|| show(at, zone)).clone() };
    for (subject, outcome) in current {
        let mut failing_since = None;
        let (state, reason) = match outcome {
            Outcome::Passes => (State::Met { next_due: None }, String::new()),
            Outcome::Undecided(why) => {
                // Undecided neither ends a run of failures nor extends it (as in the history
                // below): a start carried in is carried on, for when it fails again.
                failing_since = evidence.failing_since.get(&subject).copied();
                (State::NoEvidence, why)
            }
            outcome @ (Outcome::Fails(_) | Outcome::Absent) => {
                let absent = match (&outcome, &rule.required_field) {
                    (Outcome::Absent, None) => "required but absent from the evidence; ".to_owned(),
                    (Outcome::Absent, Some(field)) => format!(
                        "required, but no record{} has `{field}` = '{subject}'; ",
                        rule.filter
                            .as_ref()
                            .map(|f| format!(" selected by `{f}`"))
                            .unwrap_or_default()
                    ),
                    (Outcome::Fails(Some(values)), _) => format!("{values}; "),
                    _ => String::new(),
                };
                // Failing since the oldest snapshot of the unbroken run of failures that
                // ends now. A snapshot that cannot tell (its record of the subject undecided,
                // or nothing in it to judge: an implausibly empty export, too few records)
                // neither ends the run nor extends it: evidence missing for a while is no
                // fix, and would otherwise restart the deadline of a lapse.
                let mut since = latest;
                let mut ever_held = false;
                // Whether the run reaches back past the oldest snapshot read.
                let mut open_ended = true;
                for (snapshot, outcomes) in &history {
                    if tells_nothing(rule, evidence.kind, snapshot, outcomes.len()) {
                        continue;
                    }
                    match outcomes.get(&subject) {
                        Some(Outcome::Fails(_) | Outcome::Absent) => since = snapshot,
                        Some(Outcome::Passes) => {
                            ever_held = true;
                            open_ended = false;
                            break;
                        }
                        Some(Outcome::Undecided(_)) => continue,
                        // Not in a usable snapshot: out of the `where`'s scope then, gone, or
                        // (under `none`) its failure fixed. Which of these cannot be told, so
                        // the run ends there, as the subject's stored state (gone) says too.
                        None => {
                            open_ended = false;
                            break;
                        }
                    }
                }
                if !evidence_ids.contains(&since.id) {
                    evidence_ids.push(since.id);
                }
                // A run that reaches back past the window began when an earlier evaluation
                // saw it begin: the window slides, the start of the failure does not.
                let started = match evidence.failing_since.get(&subject) {
                    Some(&carried) if open_ended && carried < since.effective_at => carried,
                    _ => since.effective_at,
                };
                failing_since = Some(started);
                let deadline = add(started, rule.tolerance);
                let at_least = if ever_held { "" } else { "at least " };
                note_flip(context, deadline);
                if now > deadline {
                    (
                        State::Lapsed {
                            since: deadline,
                            overdue: Period::between(deadline, now),
                        },
                        format!(
                            "{absent}failing since {at_least}{}; lapsed at {} (tolerance {})",
                            show_once(started),
                            show_once(deadline),
                            rule.tolerance
                        ),
                    )
                } else {
                    (
                        State::DueSoon { due: deadline },
                        format!(
                            "{absent}failing since {at_least}{}; must hold again by {} (tolerance {})",
                            show_once(started),
                            show_once(deadline),
                            rule.tolerance
                        ),
                    )
                }
            }
        };
        subjects.push(SubjectVerdict {
            subject,
            state,
            reason,
            keep: None,
            failing_since,
        });
    }
    evidence_ids.sort();
    let total = subjects.len();
    let mut state = worst(&subjects).unwrap_or(State::Met { next_due: None });
    // `min_share`: enough subjects pass, so the duty holds; the rest are still listed.
    // Over no subjects there is no share to speak of: `min_records` decides that case.
    let share = rule.min_share.filter(|_| total > 0).map(|min| {
        let passing = subjects
            .iter()
            .filter(|s| s.state.kind() == StateKind::Met)
            .count();
        // Counts of subjects are far below 2^52, so the quotient is exact enough.
        #[allow(clippy::cast_precision_loss)]
        let part = passing as f64 / total as f64;
        let said = format!(
            "{passing} of {total} subject(s) pass ({:.1}%), at least {:.1}% must",
            part * 100.0,
            min * 100.0
        );
        (part >= min, said)
    });
    if let Some((true, _)) = &share {
        state = State::Met { next_due: None };
    }
    let share_note = share
        .map(|(_, said)| format!("; {said}"))
        .unwrap_or_default();
    let reason = if state.kind() == StateKind::Met && share_note.is_empty() {
        format!(
            "holds as of {}: {}, checked over {total} record(s){}",
            show(latest.effective_at, zone),
            expectation(rule),
            filter_note(rule.filter.as_ref())
        )
    } else {
        let failing = names(&subjects, "break it", |s| {
            matches!(s.kind(), StateKind::DueSoon | StateKind::Lapsed)
        });
        let undecided = names(&subjects, "cannot be decided", |s| {
            s.kind() == StateKind::NoEvidence
        });
        let mut reason = expectation(rule) + &share_note;
        for part in [failing, undecided].into_iter().flatten() {
            reason += &format!("; {part}");
        }
        if let Some(worst) = subjects
            .iter()
            .filter(|s| s.state == state && state.kind() != StateKind::Met)
            .min_by_key(|s| s.state.due())
        {
            reason += &format!("; most urgent {}: {}", worst.subject, worst.reason);
        }
        reason
    };
    Verdict {
        state,
        reason,
        evidence: evidence_ids,
        subjects: Some(subjects),
        whole_run: WholeRun::NotJudged,
    }
}

/// Whether an older snapshot says nothing about a condition: empty where the kind's empty
/// export is not plausible, or with fewer matching records (`judged`) than the rule needs.
fn tells_nothing(
    rule: &Continuous,
    kind: &EvidenceKind,
    snapshot: &Snapshot,
    judged: usize,
) -> bool {
    let empty = snapshot.records.is_empty() && snapshot.findings.is_empty();
    (empty && kind.empty == Empty::NoEvidence) || judged < rule.min_records
}

/// `expect = "any"`: one passing record holds the duty, so the duty as a
/// whole is judged.
fn any(rule: &Continuous, evidence: EvidenceView<'_>, context: Context<'_>) -> Verdict {
    let zone = context.zone;
    let Some(latest) = evidence.latest() else {
        return verdict(State::NoEvidence, "no evidence".to_owned(), Vec::new());
    };
    let fares = |snapshot: &Snapshot| -> (usize, Option<Outcome>) {
        let outcomes = outcomes(rule, evidence.kind, snapshot, context, Values::Dropped);
        let overall = if outcomes.values().any(|o| *o == Outcome::Passes) {
            Some(Outcome::Passes)
        } else if outcomes
            .values()
            .any(|o| matches!(o, Outcome::Undecided(_)))
        {
            outcomes
                .values()
                .find(|o| matches!(o, Outcome::Undecided(_)))
                .cloned()
        } else if outcomes.len() < rule.min_records {
            None
        } else {
            Some(Outcome::Fails(None))
        };
        (outcomes.len(), overall)
    };
    let (matched, overall) = fares(latest);
    // A snapshot that cannot tell neither ends nor extends a run: the start carried in is
    // carried on.
    let carried_on = evidence
        .duty_failing_since
        .map_or(WholeRun::NoRun, WholeRun::FailingSince);
    let (mut judged, run) = match overall {
        None => (
            verdict(
                State::NoEvidence,
                format!(
                    "the evidence as of {} has {matched} matching record(s){}; at least {} are needed to judge it",
                    show(latest.effective_at, zone),
                    filter_note(rule.filter.as_ref()),
                    rule.min_records
                ),
                vec![latest.id],
            ),
            carried_on,
        ),
        Some(Outcome::Passes) => (
            verdict(
                State::Met { next_due: None },
                format!(
                    "holds as of {}: {}, checked over {matched} record(s){}",
                    show(latest.effective_at, zone),
                    expectation(rule),
                    filter_note(rule.filter.as_ref())
                ),
                vec![latest.id],
            ),
            WholeRun::NoRun,
        ),
        Some(Outcome::Undecided(why)) => (
            verdict(
                State::NoEvidence,
                format!(
                    "{}: no record is known to satisfy it, and for some it cannot be decided ({why})",
                    expectation(rule)
                ),
                vec![latest.id],
            ),
            carried_on,
        ),
        Some(Outcome::Fails(_) | Outcome::Absent) => {
            let mut since = latest;
            let mut ever_held = false;
            // As per subject: a snapshot that cannot tell (undecided, too few records)
            // neither ends the run of failures nor extends it.
            for snapshot in evidence.snapshots.iter().rev().skip(1) {
                let (matched, overall) = fares(snapshot);
                // A passing record ends the run however few records there were: that is
                // how the same snapshot was judged when it was the latest.
                if overall == Some(Outcome::Passes) {
                    ever_held = true;
                    break;
                }
                if !tells_nothing(rule, evidence.kind, snapshot, matched)
                    && matches!(overall, Some(Outcome::Fails(_)))
                {
                    since = snapshot;
                }
            }
            // As per subject: a run that reaches back past the window began when an earlier
            // evaluation saw it begin.
            let started = match evidence.duty_failing_since {
                Some(carried) if !ever_held && carried < since.effective_at => carried,
                _ => since.effective_at,
            };
            let deadline = add(started, rule.tolerance);
            let at_least = if ever_held { "" } else { "at least " };
            let failing = format!(
                "{}; none of {matched} record(s) does, failing since {at_least}{}",
                expectation(rule),
                show(started, zone)
            );
            let mut ids = vec![since.id, latest.id];
            ids.dedup();
            note_flip(context, deadline);
            let judged = if context.now > deadline {
                verdict(
                    State::Lapsed {
                        since: deadline,
                        overdue: Period::between(deadline, context.now),
                    },
                    format!(
                        "{failing}; lapsed at {} (tolerance {})",
                        show(deadline, zone),
                        rule.tolerance
                    ),
                    ids,
                )
            } else {
                verdict(
                    State::DueSoon { due: deadline },
                    format!(
                        "{failing}; must hold again by {} (tolerance {})",
                        show(deadline, zone),
                        rule.tolerance
                    ),
                    ids,
                )
            };
            (judged, WholeRun::FailingSince(started))
        }
    };
    judged.whole_run = run;
    judged
}

// ---- event clocks ----------------------------------------------------------

fn event_clock(
    rule: &EventClock,
    evidence: EvidenceView<'_>,
    latest: &Snapshot,
    context: Context<'_>,
) -> Verdict {
    let mut subjects: BTreeMap<Subject, SubjectVerdict> = BTreeMap::new();
    // What is wrong with each event's row: a row read without an optional
    // field, or not read at all. Either way it is still in the export.
    let mut problems: BTreeMap<Subject, Vec<&Finding>> = BTreeMap::new();
    for finding in latest.findings.iter() {
        problems
            .entry(finding_subject(finding))
            .or_default()
            .push(finding);
    }
    let mut in_export: Vec<Subject> = problems.keys().cloned().collect();
    for record in latest.records.iter() {
        let subject = record_subject(record);
        in_export.push(subject.clone());
        let found = problems.remove(&subject);
        let mut judged = match selected(rule.filter.as_ref(), record, context) {
            Truth::False => continue,
            Truth::Unknown => SubjectVerdict {
                subject: subject.clone(),
                state: State::NoEvidence,
                reason: format!(
                    "whether `{}` applies cannot be told: it reads a field the record does not have",
                    filter_text(rule.filter.as_ref())
                ),
                keep: Some(record.to_json()),
                failing_since: None,
            },
            Truth::True => event(rule, record, context, None),
        };
        if let Some(found) = found {
            // The clock still runs on what could be read, and can lapse; but
            // "every step done" cannot be vouched for by a row with a problem.
            let first = found.first().map(ToString::to_string).unwrap_or_default();
            if judged.state.kind() == StateKind::Met {
                judged.state = State::NoEvidence;
                judged.keep = Some(record.to_json());
            }
            judged.reason += &format!("; its row has {} problem(s): {first}", found.len());
        }
        keep_worst(&mut subjects, judged);
    }
    for (subject, found) in problems {
        let first = found.first().map(ToString::to_string).unwrap_or_default();
        subjects.entry(subject.clone()).or_insert(SubjectVerdict {
            subject,
            state: State::NoEvidence,
            reason: format!(
                "its record could not be read, so its clocks cannot be checked: {first}"
            ),
            keep: None,
            failing_since: None,
        });
    }
    // Events seen before, still open, and gone from the export now.
    for record in evidence.kept {
        let subject = record_subject(record);
        if in_export.contains(&subject) {
            continue;
        }
        if selected(rule.filter.as_ref(), record, context) == Truth::False {
            continue;
        }
        let judged = event(
            rule,
            record,
            context,
            Some(format!(
                "no longer in the export as of {}, kept open as last seen",
                show(latest.effective_at, context.zone)
            )),
        );
        keep_worst(&mut subjects, judged);
    }
    // A kept event whose row is still in the export but no longer reads
    // keeps its last readable record, or it is forgotten once the row leaves.
    for record in evidence.kept {
        if let Some(judged) = subjects.get_mut(&record_subject(record))
            && judged.keep.is_none()
            && judged.state.kind() != StateKind::Met
        {
            judged.keep = Some(record.to_json());
        }
    }
    let subjects: Vec<SubjectVerdict> = subjects.into_values().collect();
    let total = subjects.len();
    let state = worst(&subjects).unwrap_or(State::Met { next_due: None });
    let reason = if state.kind() == StateKind::Met {
        format!(
            "no open step in {total} event(s) as of {}",
            show(latest.effective_at, context.zone)
        )
    } else {
        let open = subjects
            .iter()
            .filter(|s| s.state.kind() != StateKind::Met)
            .count();
        let worst = subjects
            .iter()
            .filter(|s| s.state == state)
            .min_by_key(|s| s.state.due())
            .map(|s| format!("event {}: {}", s.subject, s.reason))
            .unwrap_or_default();
        if open > 1 {
            format!("{worst} ({} more event(s) need attention)", open - 1)
        } else {
            worst
        }
    };
    Verdict {
        state,
        reason,
        evidence: vec![latest.id],
        subjects: Some(subjects),
        whole_run: WholeRun::NotJudged,
    }
}

/// Where one step of one event stands.
struct StepState {
    name: String,
    due: Timestamp,
    state: State,
}

/// One event's verdict: its most urgent open step, or met when every
/// started step is done.
fn event(
    rule: &EventClock,
    record: &Record,
    context: Context<'_>,
    gone: Option<String>,
) -> SubjectVerdict {
    let zone = context.zone;
    let now = context.now;
    let mut open: Vec<StepState> = Vec::new();
    let mut notes = Notes::default();
    for step in &rule.steps {
        let Some(started) = time_of(record, &step.starts) else {
            continue;
        };
        let started = started.start(zone);
        let due = add(started, step.within);
        match done_of(step, record, started, context) {
            Ok(Some(done)) => {
                if done > due {
                    notes.add(format!(
                        "{} done {} late",
                        step.name,
                        Period::between(due, done)
                    ));
                }
            }
            Ok(None) => open.push(StepState {
                name: step.name.clone(),
                due,
                state: deadline_state(due, step.warn_before, context, State::Open { due }),
            }),
            Err(why) => {
                notes.add(why);
                open.push(StepState {
                    name: step.name.clone(),
                    due,
                    state: deadline_state(due, step.warn_before, context, State::Open { due }),
                });
            }
        }
    }
    if let Some(gone) = gone {
        notes.add(gone);
    }
    open.sort_by_key(|step| (std::cmp::Reverse(step.state.kind().severity()), step.due));
    let subject = record_subject(record);
    let Some(first) = open.first() else {
        return SubjectVerdict {
            subject,
            state: State::Met { next_due: None },
            reason: format!("every step is done{notes}"),
            keep: None,
            failing_since: None,
        };
    };
    // The reason counts time from `now` ("due by … (in 5h)", "overdue").
    if let Some(horizon) = context.horizon {
        horizon.relative_text();
    }
    let others = if open.len() > 1 {
        format!(" ({} more open step(s))", open.len() - 1)
    } else {
        String::new()
    };
    let reason = match &first.state {
        State::Lapsed { overdue, .. } => format!(
            "{} was due {} and is {overdue} overdue{others}",
            first.name,
            show(first.due, zone)
        ),
        _ => format!(
            "{} is due by {} (in {}){others}",
            first.name,
            show(first.due, zone),
            Period::between(now, first.due)
        ),
    };
    SubjectVerdict {
        subject,
        state: first.state.clone(),
        reason: format!("{reason}{notes}"),
        keep: Some(record.to_json()),
        failing_since: None,
    }
}

/// When the step was done: `Ok(None)` when not done; `Err` when the record
/// says done at a time that cannot be (in the future, or before the step
/// started), which counts as not done and is said.
fn done_of(
    step: &Step,
    record: &Record,
    started: Timestamp,
    context: Context<'_>,
) -> Result<Option<Timestamp>, String> {
    let zone = context.zone;
    let Some(done) = time_of(record, &step.done) else {
        return Ok(None);
    };
    let at = done.start(zone);
    note_flip(context, at);
    if at > context.now {
        return Err(format!(
            "`{}` {} is in the future, so {} is not counted as done",
            step.done,
            show_when(done, zone),
            step.name
        ));
    }
    // An instant equal to the start is done as it started (a hand-off logged in the same
    // second as the detection); a day that ended by the start is before it.
    let before = match done {
        When::At(at) => at < started,
        When::Day(_) => done.end(zone) <= started,
    };
    if before {
        return Err(format!(
            "`{}` {} is before `{}` {}, so {} is not counted as done",
            step.done,
            show_when(done, zone),
            step.starts,
            show(started, zone),
            step.name
        ));
    }
    Ok(Some(at.max(started)))
}

// ---- shared pieces -----------------------------------------------------------

fn keep_worst(subjects: &mut BTreeMap<Subject, SubjectVerdict>, judged: SubjectVerdict) {
    match subjects.get(&judged.subject) {
        Some(seen) if seen.state.kind().severity() >= judged.state.kind().severity() => {}
        _ => {
            subjects.insert(judged.subject.clone(), judged);
        }
    }
}

/// The worst state among subjects; the earliest due time breaks ties.
fn worst(subjects: &[SubjectVerdict]) -> Option<State> {
    subjects
        .iter()
        .max_by(|a, b| {
            let rank = |s: &SubjectVerdict| s.state.kind().severity();
            rank(a)
                .cmp(&rank(b))
                .then_with(|| b.state.due().cmp(&a.state.due()))
        })
        .map(|s| s.state.clone())
}

/// "2 of 5 break it: a, b" for the subjects whose state passes `which`.
fn names(
    subjects: &[SubjectVerdict],
    verb: &str,
    which: impl Fn(&State) -> bool,
) -> Option<String> {
    let chosen: Vec<&Subject> = subjects
        .iter()
        .filter(|s| which(&s.state))
        .map(|s| &s.subject)
        .collect();
    if chosen.is_empty() {
        return None;
    }
    let shown = chosen
        .iter()
        .take(NAMED)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let more = chosen.len().saturating_sub(NAMED);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "{} of {} {verb}: {shown}{tail}",
        chosen.len(),
        subjects.len()
    ))
}

fn record_subject(record: &Record) -> Subject {
    record
        .subject
        .clone()
        .unwrap_or_else(|| Subject::new(record.position.to_string()))
}

fn finding_subject(finding: &Finding) -> Subject {
    finding
        .subject
        .clone()
        .unwrap_or_else(|| Subject::new(finding.position.to_string()))
}

fn selected(filter: Option<&Predicate>, record: &Record, context: Context<'_>) -> Truth {
    filter.map_or(Truth::True, |f| f.eval(record, context))
}

fn time_of(record: &Record, field: &FieldPath) -> Option<When> {
    match field.as_name().and_then(|name| record.get(name)) {
        Some(FieldValue::Time(when)) => Some(*when),
        _ => None,
    }
}

/// Names the fields of `predicate` that `record` lacks.
fn absent_fields(predicate: &Predicate, record: &Record) -> String {
    let mut absent: Vec<String> = predicate
        .fields()
        .into_iter()
        .filter(|f| record.get_path(f).is_none())
        .map(|f| format!("`{f}`"))
        .collect();
    absent.dedup();
    if absent.is_empty() {
        "a value cannot be compared".to_owned()
    } else {
        format!("{} absent", absent.join(", "))
    }
}

fn filter_text(filter: Option<&Predicate>) -> &str {
    filter.map_or("", Predicate::as_str)
}

fn filter_note(filter: Option<&Predicate>) -> String {
    filter.map(|f| format!(" where `{f}`")).unwrap_or_default()
}

/// Side remarks a reason carries: "; …", capped.
#[derive(Default)]
struct Notes {
    items: Vec<String>,
    more: usize,
    unreadable: usize,
    first_unreadable: Option<String>,
    undecided: usize,
}

impl Notes {
    fn add(&mut self, note: String) {
        if self.items.len() < NAMED {
            self.items.push(note);
        } else {
            self.more += 1;
        }
    }

    fn unreadable(&mut self, findings: &[Finding]) {
        if let Some(first) = findings.first() {
            self.first_unreadable
                .get_or_insert_with(|| first.to_string());
        }
        self.unreadable += findings.len();
    }

    fn undecided_filter(&mut self) {
        self.undecided += 1;
    }
}

impl std::fmt::Display for Notes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for item in &self.items {
            write!(f, "; {item}")?;
        }
        if self.more > 0 {
            write!(f, "; and {} more note(s)", self.more)?;
        }
        if let Some(first) = &self.first_unreadable {
            write!(
                f,
                "; {} problem(s) in the records, whose values in question are not counted (first: {first})",
                self.unreadable
            )?;
        }
        if self.undecided > 0 {
            write!(
                f,
                "; {} record(s) not counted: whether the filter applies cannot be told",
                self.undecided
            )?;
        }
        Ok(())
    }
}

fn verdict(state: State, reason: String, evidence: Vec<EvidenceId>) -> Verdict {
    Verdict {
        state,
        reason,
        evidence,
        subjects: None,
        whole_run: WholeRun::NotJudged,
    }
}

/// A comparison of the evaluation's `now` with `at` (`crate::horizon`).
/// How far after its evidence's instant an event may be dated before it is not evidence: two
/// systems' clocks (the vendor's, the file server's) differ by seconds, a typo by a year.
pub(crate) const CLOCK_SKEW_SECS: i64 = 5 * 60;

/// Why `record` is not judged when one of its events (a [`Field::event`] of `kind`) is
/// dated after the instant the evidence speaks for (`context.now`, the snapshot's): a
/// completion next year must not count as done this year.
///
/// [`Field::event`]: crate::kind::Field::event
fn dated_ahead(kind: &EvidenceKind, record: &Record, context: Context<'_>) -> Option<String> {
    let latest = add(context.now, Period::from_secs(CLOCK_SKEW_SECS));
    kind.fields.iter().filter(|field| field.event).find_map(|field| {
        let Some(FieldValue::Time(when)) = record.get(&field.name) else {
            return None;
        };
        let at = when.start(context.zone);
        // Judged again once the evidence's instant passes it.
        note_flip(context, at);
        (at > latest).then(|| {
            // A kind of the config's own may have a time that is set ahead on purpose, which
            // only its `[[kind.field]]` can say.
            let declared = if crate::kind::is_builtin(&kind.name) {
                String::new()
            } else {
                format!(
                    "; if `{}` is set ahead on purpose (an expiry, a due date), add `ahead = true` to its `[[kind.field]]` in kind `{}`",
                    field.name, kind.name
                )
            };
            format!(
                "`{}` {} is after the evidence's instant ({}): a typo or a clock ahead, not evidence, so it is not judged{declared}",
                field.name,
                show_when(*when, context.zone),
                show(context.now, context.zone)
            )
        })
    })
}

fn note_flip(context: Context<'_>, at: Timestamp) {
    if let Some(horizon) = context.horizon {
        horizon.flips_at(at);
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

/// Instants in reasons: local time where the contractor is, to the minute,
/// with the zone's abbreviation.
fn show(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The values `check` read of `record`, as a failing subject's reason gives them:
/// "`severity` = 'CRITICAL', `pending_since` = 2026-10-01 09:00 EDT"; `None` unless kept.
fn read_values(
    check: &Predicate,
    record: &Record,
    zone: &TimeZone,
    values: Values,
) -> Option<Box<str>> {
    if values == Values::Dropped {
        return None;
    }
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut said: Vec<&FieldPath> = Vec::new();
    for field in check.fields() {
        if said.contains(&field) {
            continue;
        }
        said.push(field);
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = match record.get_path(field) {
            None => write!(out, "`{field}` absent"),
            Some(FieldValue::Text(text)) => write!(out, "`{field}` = '{}'", quoted(text)),
            Some(FieldValue::Time(when)) => write!(out, "`{field}` = {}", show_when(*when, zone)),
            Some(FieldValue::Bool(flag)) => write!(out, "`{field}` = {flag}"),
            Some(FieldValue::Integer(n)) => write!(out, "`{field}` = {n}"),
            Some(FieldValue::Number(n)) => write!(out, "`{field}` = {n}"),
            Some(FieldValue::Duration(period)) => write!(out, "`{field}` = {period}"),
            Some(FieldValue::List(items)) => {
                write!(out, "`{field}` = [{}]", quoted(&items.join(", ")))
            }
        };
    }
    (!out.is_empty()).then(|| out.into_boxed_str())
}

/// At most [`QUOTED_VALUE`] characters of `text`, printable: a reason names a value, it does
/// not copy a field of free text.
fn quoted(text: &str) -> String {
    crate::printable::excerpt(text, QUOTED_VALUE)
}

const QUOTED_VALUE: usize = 60;

fn show_when(when: When, zone: &TimeZone) -> String {
    match when {
        When::At(at) => show(at, zone),
        When::Day(day) => day.to_string(),
    }
}

#[cfg(test)]
mod tests;
