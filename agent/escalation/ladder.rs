//! One pass of the escalation ladder over the stored state.
//!
//! Runs after every evaluation, and reads only what the store recorded (each duty's and
//! subject's state and since when, the open threads, acknowledgements and silences) and `now`:
//! a repeat is due a week after the last mail whether or not anything changed, and a restart
//! decides exactly what the pass before it would have. The units are the duties without
//! subjects and each subject of the others; a duty whose state only repeats its worst
//! subject's is told through its subjects, not twice.

use std::collections::HashMap;

use dutywatch_checks::duty::Duty;
use dutywatch_checks::ladder::{self, Unit};
use dutywatch_checks::library;
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::compose::{self, Item, Pass};
use crate::config::{Config, Contractor};
use crate::store::{Ack, AckKind, LadderState, LadderThread, PlannedStep, Store, StoreError};

/// The clients whose ladder has nothing to do before an instant: no unit of theirs has a
/// step waiting for time before it (`ladder::next_due`) and no acknowledgement or silence of
/// theirs ends before it. Valid while their recorded states, threads and acknowledgements are
/// as they were; the engine forgets a client whose verdicts changed, and all of them on a
/// reload or another process's write (an `ack` from the command line).
#[derive(Debug, Default)]
pub struct Quiet {
    until: HashMap<String, Timestamp>,
}

impl Quiet {
    /// `client`'s states changed: its ladder runs on the next pass.
    pub fn forget(&mut self, client: &str) {
        self.until.remove(client);
    }

    pub fn clear(&mut self) {
        self.until.clear();
    }
}

/// Decides and queues the due ladder steps of every watched duty at `now`, but for the clients
/// `quiet` knows have none; how many mails were queued.
///
/// Each client's steps are their own transaction, and a client whose stored state no longer
/// reads (a damaged row) stops only its own ladder: it is logged, the others' steps are
/// taken, and its error is answered once they are.
pub fn run(
    store: &mut Store,
    config: &Config,
    now: Timestamp,
    quiet: &mut Quiet,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    let mut first_error = None;
    for contractor in &config.contractors {
        if quiet
            .until
            .get(&contractor.id)
            .is_some_and(|until| now < *until)
        {
            continue;
        }
        let mut failed = None;
        let (mails, until) = match run_for(store, config, contractor, now, &mut failed) {
            Ok(done) => done,
            Err(error) => {
                tracing::error!(contractor = %contractor.id, error = %error, "ClientLadderFailed");
                first_error.get_or_insert(error);
                quiet.until.remove(&contractor.id);
                continue;
            }
        };
        queued += mails;
        // A duty left out for a damaged row is tried again next pass, not held quiet.
        let until = match failed {
            Some(error) => {
                first_error.get_or_insert(error);
                None
            }
            None => until,
        };
        match until {
            Some(until) => quiet.until.insert(contractor.id.clone(), until),
            None => quiet.until.remove(&contractor.id),
        };
    }
    first_error.map_or(Ok(queued), Err)
}

/// One client's pass: the mails queued, and until when its ladder has nothing to do if nothing
/// it reads changes (`None` when this pass took steps, which changed its threads).
///
/// A duty whose stored subjects no longer read is left out of it (logged, and its error kept
/// in `failed`), so one damaged row does not silence the client's other duties.
fn run_for(
    store: &mut Store,
    config: &Config,
    contractor: &Contractor,
    now: Timestamp,
    failed: &mut Option<StoreError>,
) -> Result<(usize, Option<Timestamp>), StoreError> {
    let state = store.ladder_state(&contractor.id, now)?;
    // The earliest instant a step waits for, or an acknowledgement or silence ends.
    let mut quiet_until = state
        .acks
        .iter()
        .filter_map(|ack| ack.until)
        .filter(|until| *until > now)
        .min()
        .unwrap_or(Timestamp::MAX);
    let verdicts = store.current_verdicts(Some(&contractor.id))?;
    // Looked up once per unit: a client with thousands of open threads and subjects must not
    // scan every thread for every subject.
    let threads: HashMap<(&str, &str), &LadderThread> = state
        .threads
        .iter()
        .map(|t| ((t.duty.as_str(), t.subject.as_str()), t))
        .collect();
    let mut items: Vec<Item<'_>> = Vec::new();
    let mut planned: Vec<PlannedStep> = Vec::new();
    // Per item: its unit, policy and how many steps were planned for it.
    let mut planned_units: Vec<(Unit, ladder::Policy, usize)> = Vec::new();
    for duty in contractor
        .duties
        .iter()
        .filter(|duty| config.perspective.watches(duty))
    {
        let Some(current) = verdicts.iter().find(|v| v.duty == duty.id.as_str()) else {
            continue;
        };
        let kind = contractor
            .source(&duty.source)
            .map(|source| source.evidence.name.as_str());
        let policy = config.escalation.policy(duty, kind);
        let (subjects, worst_live) = match store
            .subjects_to_escalate(&contractor.id, duty.id.as_str())
        {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(contractor = %contractor.id, duty = %duty.id, error = %error, "DutyLadderFailed");
                failed.get_or_insert(error);
                continue;
            }
        };
        let duty_kind = current.verdict.state.kind();
        // The duty as a whole is told when its state is its own (a failing collector, stale
        // evidence, no subjects at all), not when it only repeats its worst subject's: a
        // verdict that judged the subjects is exactly its worst one, one that could not look
        // at them leaves their states as they were and says its own.
        let own = worst_live != Some(duty_kind);
        let mut units = vec![Item {
            duty,
            subject: String::new(),
            state: own.then_some(duty_kind).or(Some(StateKind::Met)),
            since: current.state_since,
            due: current.verdict.state.due(),
            reason: current.verdict.reason.clone(),
            ack: None,
            policy,
            still: (!own).then_some(duty_kind).filter(|k| k.needs_attention()),
            duty_now: worst_live.unwrap_or(StateKind::Met),
        }];
        for subject in subjects {
            units.push(Item {
                duty,
                state: subject.gone_at.is_none().then_some(subject.state),
                since: subject.since,
                due: subject.due,
                reason: subject.reason,
                subject: subject.subject,
                ack: None,
                policy,
                still: None,
                duty_now: worst_live.unwrap_or(StateKind::Met),
            });
        }
        for mut item in units {
            let thread = threads.get(&(duty.id.as_str(), item.subject.as_str()));
            let met = item.state.is_none_or(|k| !k.needs_attention());
            if met && thread.is_none() {
                continue;
            }
            let (acknowledged, silenced) = covering(&state, duty, &item.subject);
            let unit = Unit {
                state: item.state,
                since: item.since,
                thread: thread.map(|t| t.policy()),
                acknowledged: acknowledged.is_some(),
                silenced: silenced.is_some(),
            };
            let mut steps = ladder::due(&policy, &unit, now);
            // A step the open thread already took is not planned again (the store would
            // refuse it anyway, after a lookup per unit on every pass).
            if let Some(thread) = thread {
                steps.retain(|step| !state.taken.contains(&(thread.id, step.key())));
            }
            if steps.is_empty() {
                if let Some(at) = ladder::next_due(&policy, &unit, now) {
                    quiet_until = quiet_until.min(at);
                }
                continue;
            }
            item.ack = acknowledged.cloned();
            let index = items.len();
            planned_units.push((unit, policy, steps.len()));
            for step in steps {
                planned.push(PlannedStep {
                    duty: duty.id.as_str().to_owned(),
                    subject: item.subject.clone(),
                    step,
                    item: index,
                });
            }
            items.push(item);
        }
    }
    if planned.is_empty() {
        return Ok((0, Some(quiet_until)));
    }
    // The first pass after installing: no thread was ever opened and every state was first
    // recorded just now (a later pass always has some state older than itself).
    let first_run = !state.ever_ran
        && verdicts
            .iter()
            .all(|v| v.state_since.as_second() >= now.as_second());
    // Only the verifications a mail of this pass can name: of the requirements an MSP duty
    // with a lapsed item serves (`view::unnoticed`).
    let lapsed_msp: std::collections::BTreeSet<String> = items
        .iter()
        .filter(|item| item.duty.responsible == Party::Msp && item.shown() == StateKind::Lapsed)
        .flat_map(|item| item.duty.objectives.iter())
        .map(|objective| library::verification_id(objective.requirement()))
        .collect();
    let mut verified = Vec::new();
    for duty in contractor
        .duties
        .iter()
        .filter(|duty| lapsed_msp.contains(duty.id.as_str()))
    {
        let source = crate::engine::evidence_source(duty);
        verified.push((
            duty.id.as_str().to_owned(),
            store.newest_effective_at(&contractor.id, &source)?,
        ));
    }
    let pass = Pass {
        config,
        contractor,
        first_run,
        now,
        verified,
    };
    let mut decided_threads: Vec<(usize, Option<ladder::Thread>)> = Vec::new();
    let queued = store.record_ladder(&contractor.id, now, &planned, &mut |decided| {
        decided_threads.extend(
            decided
                .iter()
                .map(|d| (d.item, (!d.step.closes()).then(|| d.thread.policy()))),
        );
        compose::mails(&pass, &items, decided)
    })?;
    Ok((
        queued,
        quiet_after_steps(&planned_units, &decided_threads, now, quiet_until),
    ))
}

/// Until when the ladder has nothing to do after this pass took steps: every unit that had
/// steps planned got all of them (so its thread is as `decided` left it), and none waits for
/// time before the instant. `None` when a planned step was not taken (decided elsewhere
/// meanwhile): its thread is not known here, so the next pass reads it.
fn quiet_after_steps(
    planned: &[(Unit, ladder::Policy, usize)],
    decided: &[(usize, Option<ladder::Thread>)],
    now: Timestamp,
    mut until: Timestamp,
) -> Option<Timestamp> {
    // Per item: how many of its steps were taken, and its thread after the last one.
    let mut taken: Vec<(usize, Option<ladder::Thread>)> = vec![(0, None); planned.len()];
    for (item, thread) in decided {
        if let Some(slot) = taken.get_mut(*item) {
            *slot = (slot.0 + 1, *thread);
        }
    }
    for ((unit, policy, steps), (count, thread)) in planned.iter().zip(taken) {
        if count != *steps {
            return None;
        }
        let after = Unit { thread, ..*unit };
        if let Some(at) = ladder::next_due(policy, &after, now) {
            until = until.min(at);
        }
    }
    Some(until)
}

/// The acknowledgement and the silence in force for a unit, if any.
fn covering<'a>(
    state: &'a LadderState,
    duty: &Duty,
    subject: &str,
) -> (Option<&'a Ack>, Option<&'a Ack>) {
    let of = |kind: AckKind| {
        state
            .acks
            .iter()
            .find(|ack| ack.kind == kind && ack.covers(duty.id.as_str(), subject))
    };
    (of(AckKind::Ack), of(AckKind::Silence))
}
