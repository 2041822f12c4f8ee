//! The escalation ladder: which step is due for one duty or subject at `now`.
//!
//! Pure policy over stored state. The caller hands in what it knows of one "unit" (a duty
//! without subjects, or one subject of a duty): its state kind and since when, the lapse
//! thread that is open for it, whether someone acknowledged it or silenced it; the ladder
//! answers with the steps that are due. Whether a step was already sent is not its concern:
//! each step has a key (`Step::key`) unique within its thread, and the store records each key
//! once, so asking again (the next pass, a restart) decides nothing new.
//!
//! The rungs: entering a state that needs attention tells the responsible party, and for a
//! problem (lapsed, no or stale evidence, a failing collector) the accountable contractor too;
//! a lapse also tells the responsible party's backup contacts at once (see [`Reach::Backup`]);
//! a problem still there `management_after` later goes to those backups and to the management
//! contacts of both;
//! after that it repeats every `repeat_every` until it is resolved; the resolution closes the
//! thread with one mail to everyone the thread reached beyond the responsible party.

use jiff::Timestamp;

use crate::period::Period;
use crate::verdict::StateKind;

/// How the ladder climbs for one duty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a problem stays before management hears of it.
    pub management_after: Period,
    /// How often it is told again after that, until resolved or acknowledged.
    pub repeat_every: Period,
}

impl Default for Policy {
    /// Three days before management, then weekly: long enough for the people who work the duty
    /// to act, short enough that a lapse cannot sit unnoticed through an assessment window.
    fn default() -> Policy {
        Policy {
            management_after: Period::from_secs(3 * 86_400),
            repeat_every: Period::from_secs(7 * 86_400),
        }
    }
}

/// Who a step is addressed to, as rungs: each includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reach {
    /// The party that does the work.
    Responsible,
    /// The accountable contractor as well (the same people when the contractor is responsible).
    Accountable,
    /// The responsible party's backup contacts as well (`backup_contacts`, an MSP's
    /// `msp_backup_contacts`: its escalation desk or the deputy of the person who works the
    /// duty). They are told of a lapse at once, of any other problem with management: a lapse
    /// is a deadline the primary contacts let pass although they were warned while it was due
    /// soon, and the likeliest reason is that they are away or swamped, which is what a backup
    /// covers (an MSP's desk would expect to own a missed deadline before the client's
    /// management hears of it three days later). Missing or stale evidence and a failing
    /// collector are mostly a feed the primary contacts fix themselves; should it outlive
    /// `management_after`, the backups hear of it with management. Only the responsible
    /// party's backups: the accountable side is told through its primary contacts, as before.
    Backup,
    /// The management contacts of both (and the responsible party's backups).
    Management,
}

impl Reach {
    /// The stored level. `Backup` came after the others and keeps a number of its own, so a
    /// thread recorded before it still reads as the reach it had.
    pub fn as_i64(self) -> i64 {
        match self {
            Reach::Responsible => 0,
            Reach::Accountable => 1,
            Reach::Management => 2,
            Reach::Backup => 3,
        }
    }

    pub fn from_i64(level: i64) -> Reach {
        match level {
            i64::MIN..=0 => Reach::Responsible,
            1 => Reach::Accountable,
            3 => Reach::Backup,
            _ => Reach::Management,
        }
    }
}

/// One rung of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The unit entered a state that needs attention (first in its thread, or a worse one).
    Notice(StateKind),
    /// A problem outlived `management_after`.
    Management,
    /// The `n`th reminder after management was told (1, 2, …).
    Repeat(u32),
    /// Back to met, or gone from the evidence: closes the thread.
    Resolved,
    /// A warning that got done (due soon, a clock that was running): closes the thread
    /// without a mail, so the unit's next warning opens a new one.
    Closed,
}

impl Step {
    /// Whether it is told to anyone: a quiet close is not.
    pub fn is_mailed(self) -> bool {
        self != Step::Closed
    }

    /// Whether it ends its thread.
    pub fn closes(self) -> bool {
        matches!(self, Step::Resolved | Step::Closed)
    }

    /// The step's name within its thread, which makes it happen once.
    pub fn key(self) -> String {
        match self {
            Step::Notice(kind) => format!("notice:{}", kind.as_str()),
            Step::Management => "management".to_owned(),
            Step::Repeat(n) => format!("repeat:{n}"),
            Step::Resolved => "resolved".to_owned(),
            Step::Closed => "closed".to_owned(),
        }
    }

    /// Who hears of it, given how far the thread has reached before.
    pub fn reach(self, reached: Option<Reach>) -> Reach {
        match self {
            Step::Notice(StateKind::Lapsed) => Reach::Backup,
            Step::Notice(kind) if is_problem(kind) => Reach::Accountable,
            Step::Notice(_) => Reach::Responsible,
            Step::Management => Reach::Management,
            Step::Repeat(_) | Step::Resolved | Step::Closed => {
                reached.unwrap_or(Reach::Responsible)
            }
        }
    }
}

/// Whether a state is a problem that climbs the ladder, not only a warning (due soon, a clock
/// that is running).
pub fn is_problem(kind: StateKind) -> bool {
    matches!(
        kind,
        StateKind::Lapsed
            | StateKind::NoEvidence
            | StateKind::StaleEvidence
            | StateKind::SourceError
    )
}

/// The lapse thread open for a unit: what it has sent so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    /// The widest reach of a mail in it so far.
    pub reached: Reach,
    /// Whether management was told.
    pub management: bool,
    /// Reminders sent after management.
    pub repeats: u32,
    /// When its last mail was decided.
    pub last_mail_at: Timestamp,
}

/// What the ladder needs to know of one duty or subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    /// `None` when the subject left the evidence.
    pub state: Option<StateKind>,
    /// When it entered its current state.
    pub since: Timestamp,
    pub thread: Option<Thread>,
    /// Someone said they are on it: no management step, no repeats.
    pub acknowledged: bool,
    /// Planned work: nothing but a resolution is sent.
    pub silenced: bool,
}

/// The steps due for `unit` at `now`, in the order they should be told.
pub fn due(policy: &Policy, unit: &Unit, now: Timestamp) -> Vec<Step> {
    let Some(kind) = unit.state.filter(|kind| kind.needs_attention()) else {
        // Resolved: close the thread. A thread that never went past the responsible party
        // (a due-soon warning, a running clock) closes quietly: the work simply got done.
        return match unit.thread {
            Some(thread) if thread.reached > Reach::Responsible => vec![Step::Resolved],
            Some(_) => vec![Step::Closed],
            None => Vec::new(),
        };
    };
    if unit.silenced {
        return Vec::new();
    }
    let mut steps = vec![Step::Notice(kind)];
    if !is_problem(kind) || unit.acknowledged {
        return steps;
    }
    let Some(thread) = unit.thread else {
        // A problem first told after `management_after` (a silence that ended, a daemon that
        // was down) is told to management at once, with its notice: one mail, not a first
        // notice that promises management a step it is owed already.
        if reached(unit.since, policy.management_after, now) {
            steps.push(Step::Management);
        }
        return steps;
    };
    if !thread.management {
        if reached(unit.since, policy.management_after, now) {
            steps.push(Step::Management);
        }
    } else if reached(thread.last_mail_at, policy.repeat_every, now) {
        steps.push(Step::Repeat(thread.repeats.saturating_add(1)));
    }
    steps
}

/// The first instant from `now` on at which [`due`] may answer differently for the same
/// unit: when a step that waits for time falls due, `now` itself when one is due already.
/// `None` when only a change of the unit can change the answer (its state, thread,
/// acknowledgement or silence). So a caller whose units did not change need not ask again
/// before it.
pub fn next_due(policy: &Policy, unit: &Unit, now: Timestamp) -> Option<Timestamp> {
    let kind = unit.state.filter(|kind| kind.needs_attention())?;
    if unit.silenced {
        return None;
    }
    if !is_problem(kind) || unit.acknowledged {
        return None;
    }
    let (from, after) = match unit.thread {
        Some(thread) if thread.management => (thread.last_mail_at, policy.repeat_every),
        // No thread yet: its notice is due now, and with it management once that is due.
        _ => (unit.since, policy.management_after),
    };
    from.checked_add(after.as_signed_duration())
        .ok()
        .map(|at| at.max(now))
}

/// Whether `after` has passed since `from` at `now`.
fn reached(from: Timestamp, after: Period, now: Timestamp) -> bool {
    from.checked_add(after.as_signed_duration())
        .is_ok_and(|at| now >= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn lapsed_since(since: &str) -> Unit {
        Unit {
            state: Some(StateKind::Lapsed),
            since: ts(since),
            thread: None,
            acknowledged: false,
            silenced: false,
        }
    }

    fn thread(management: bool, repeats: u32, last: &str) -> Thread {
        Thread {
            reached: if management {
                Reach::Management
            } else {
                Reach::Accountable
            },
            management,
            repeats,
            last_mail_at: ts(last),
        }
    }

    #[test]
    fn a_new_lapse_is_a_notice_to_responsible_accountable_and_the_backups() {
        let steps = due(
            &Policy::default(),
            &lapsed_since("2026-12-01T09:00:00Z"),
            ts("2026-12-01T09:00:00Z"),
        );
        assert_eq!(steps, [Step::Notice(StateKind::Lapsed)]);
        assert_eq!(steps[0].reach(None), Reach::Backup);
        // Other problems reach the backups only with management.
        assert_eq!(
            Step::Notice(StateKind::NoEvidence).reach(None),
            Reach::Accountable
        );
        assert!(Step::Management.reach(Some(Reach::Accountable)) > Reach::Backup);
        assert_eq!(
            Step::Notice(StateKind::DueSoon).reach(None),
            Reach::Responsible
        );
    }

    #[test]
    fn every_reach_is_stored_as_a_level_of_its_own() {
        for reach in [
            Reach::Responsible,
            Reach::Accountable,
            Reach::Backup,
            Reach::Management,
        ] {
            assert_eq!(Reach::from_i64(reach.as_i64()), reach);
        }
        // Threads stored before backups were on the ladder keep their reach.
        assert_eq!(Reach::from_i64(2), Reach::Management);
    }

    #[test]
    fn management_hears_exactly_when_the_delay_has_passed() {
        let unit = Unit {
            thread: Some(thread(false, 0, "2026-12-01T09:00:00Z")),
            ..lapsed_since("2026-12-01T09:00:00Z")
        };
        let policy = Policy::default();
        assert_eq!(
            due(&policy, &unit, ts("2026-12-04T08:59:59Z")),
            [Step::Notice(StateKind::Lapsed)]
        );
        assert_eq!(
            due(&policy, &unit, ts("2026-12-04T09:00:00Z")),
            [Step::Notice(StateKind::Lapsed), Step::Management]
        );
    }

    /// A problem first told after `management_after` (its silence ended, the daemon was
    /// down) is told to management with its notice, in the same pass.
    #[test]
    fn a_problem_first_told_late_reaches_management_at_once() {
        let policy = Policy::default();
        let unit = lapsed_since("2026-12-01T09:00:00Z");
        assert_eq!(
            due(&policy, &unit, ts("2026-12-04T08:59:59Z")),
            [Step::Notice(StateKind::Lapsed)]
        );
        assert_eq!(
            due(&policy, &unit, ts("2026-12-08T09:00:00Z")),
            [Step::Notice(StateKind::Lapsed), Step::Management]
        );
        // Acknowledged, or only a warning: no management step.
        let acked = Unit {
            acknowledged: true,
            ..unit
        };
        assert_eq!(due(&policy, &acked, ts("2026-12-08T09:00:00Z")).len(), 1);
        let warning = Unit {
            state: Some(StateKind::DueSoon),
            ..unit
        };
        assert_eq!(due(&policy, &warning, ts("2026-12-08T09:00:00Z")).len(), 1);
    }

    #[test]
    fn repeats_follow_the_last_mail_at_the_interval_and_number_themselves() {
        let unit = Unit {
            thread: Some(thread(true, 1, "2026-12-11T09:00:00Z")),
            ..lapsed_since("2026-12-01T09:00:00Z")
        };
        let policy = Policy::default();
        assert_eq!(due(&policy, &unit, ts("2026-12-18T08:59:59Z")).len(), 1);
        assert_eq!(
            due(&policy, &unit, ts("2026-12-18T09:00:00Z"))[1],
            Step::Repeat(2)
        );
        assert_eq!(Step::Repeat(2).key(), "repeat:2");
    }

    #[test]
    fn an_acknowledgement_stops_the_climb_but_not_a_new_state() {
        let unit = Unit {
            thread: Some(thread(true, 3, "2026-12-01T09:00:00Z")),
            acknowledged: true,
            ..lapsed_since("2026-12-01T09:00:00Z")
        };
        assert_eq!(
            due(&Policy::default(), &unit, ts("2027-01-30T00:00:00Z")),
            [Step::Notice(StateKind::Lapsed)]
        );
    }

    #[test]
    fn a_silence_sends_nothing_but_a_resolution() {
        let unit = Unit {
            thread: Some(thread(true, 0, "2026-12-01T09:00:00Z")),
            silenced: true,
            ..lapsed_since("2026-12-01T09:00:00Z")
        };
        let now = ts("2026-12-20T00:00:00Z");
        assert!(due(&Policy::default(), &unit, now).is_empty());
        let resolved = Unit {
            state: Some(StateKind::Met),
            ..unit
        };
        assert_eq!(due(&Policy::default(), &resolved, now), [Step::Resolved]);
    }

    #[test]
    fn a_warning_that_gets_done_closes_quietly_a_problem_closes_with_a_mail() {
        let warned = Unit {
            state: Some(StateKind::Met),
            thread: Some(Thread {
                reached: Reach::Responsible,
                ..thread(false, 0, "2026-12-01T09:00:00Z")
            }),
            ..lapsed_since("2026-12-02T09:00:00Z")
        };
        let now = ts("2026-12-02T09:00:00Z");
        assert_eq!(due(&Policy::default(), &warned, now), [Step::Closed]);
        assert!(!Step::Closed.is_mailed());
        let gone = Unit {
            state: None,
            thread: Some(thread(false, 0, "2026-12-01T09:00:00Z")),
            ..warned
        };
        assert_eq!(due(&Policy::default(), &gone, now), [Step::Resolved]);
        assert_eq!(
            Step::Resolved.reach(Some(Reach::Management)),
            Reach::Management
        );
    }

    #[test]
    fn a_running_clock_or_due_soon_never_climbs() {
        let unit = Unit {
            state: Some(StateKind::DueSoon),
            thread: Some(thread(false, 0, "2026-12-01T09:00:00Z")),
            ..lapsed_since("2026-12-01T09:00:00Z")
        };
        assert_eq!(
            due(&Policy::default(), &unit, ts("2027-02-01T00:00:00Z")),
            [Step::Notice(StateKind::DueSoon)]
        );
    }

    #[test]
    fn no_step_falls_due_before_next_due_and_one_does_at_it() {
        // xorshift over units of every shape, instants in the four weeks after `since`.
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let kinds = [
            None,
            Some(StateKind::Met),
            Some(StateKind::Open),
            Some(StateKind::DueSoon),
            Some(StateKind::Lapsed),
            Some(StateKind::NoEvidence),
            Some(StateKind::StaleEvidence),
            Some(StateKind::SourceError),
        ];
        let since = ts("2026-12-01T09:00:00Z");
        let later = |seconds: u64| {
            since
                .checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(seconds % (28 * 86_400)).unwrap(),
                ))
                .unwrap()
        };
        let policy = Policy::default();
        let mut timed = 0;
        for _ in 0..5000 {
            let thread = (next() % 3 != 0).then(|| Thread {
                reached: Reach::Accountable,
                management: next() % 2 == 0,
                repeats: u32::try_from(next() % 3).unwrap(),
                last_mail_at: later(next()),
            });
            let unit = Unit {
                state: kinds[usize::try_from(next() % 8).unwrap()],
                since,
                thread,
                acknowledged: next() % 5 == 0,
                silenced: next() % 7 == 0,
            };
            let now = later(next());
            let steps = due(&policy, &unit, now);
            match next_due(&policy, &unit, now) {
                None => {
                    let far = now
                        .checked_add(jiff::SignedDuration::from_hours(24 * 400))
                        .unwrap();
                    assert_eq!(due(&policy, &unit, far), steps, "{unit:?} at {now}");
                }
                // Due already: a step that waited for time is among the steps due now.
                Some(at) if at == now => {
                    timed += 1;
                    assert!(
                        steps
                            .iter()
                            .any(|s| matches!(s, Step::Management | Step::Repeat(_))),
                        "{unit:?} at {now}: {steps:?}"
                    );
                }
                Some(at) => {
                    timed += 1;
                    assert!(at > now);
                    let before = at.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap();
                    assert_eq!(due(&policy, &unit, before), steps, "{unit:?} at {now}");
                    assert_ne!(due(&policy, &unit, at), steps, "{unit:?} at {now}");
                }
            }
        }
        assert!(timed > 300, "{timed} units wait for time");
    }

    #[test]
    fn a_thread_opened_for_an_old_problem_has_its_management_step_due_at_once() {
        let policy = Policy::default();
        let since = ts("2026-11-01T09:00:00Z");
        let now = ts("2026-12-01T09:00:00Z");
        // As a notice left it, this pass: opened now, management not told yet.
        let unit = Unit {
            state: Some(StateKind::Lapsed),
            since,
            thread: Some(Thread {
                reached: Reach::Backup,
                management: false,
                repeats: 0,
                last_mail_at: now,
            }),
            acknowledged: false,
            silenced: false,
        };
        assert_eq!(next_due(&policy, &unit, now), Some(now));
        assert!(due(&policy, &unit, now).contains(&Step::Management));
    }
}
