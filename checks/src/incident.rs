//! The DFARS 252.204-7012 incident clocks: one incident's timeline, the deadlines it runs,
//! and the warnings due as the hours run out.
//!
//! Every deadline is wall-clock hours counted on `Timestamp`s (UTC instants), never calendar
//! days in a zone: the clause's 72 hours do not stop for weekends, holidays or a DST change,
//! so neither does anything here. The 72 hours run from discovery; until someone records
//! discovery they run from the earliest detection, which can only make a deadline earlier
//! (the safe choice), and every warning says so.
//!
//! Pure: the caller gives `now`, the incident and the policy; what to mail and to whom is
//! answered as data (`Warning`), each with a stable key so it is sent once.

use std::fmt;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::party::Party;
use crate::record::{FieldValue, Record};

/// The clause's reporting window: "within 72 hours of discovery".
pub const REPORT_WITHIN: SignedDuration = SignedDuration::from_hours(72);

/// The preservation period of (e): "at least 90 days from the submission of the report",
/// counted as 90 × 24 wall-clock hours.
pub const PRESERVE_FOR: SignedDuration = SignedDuration::from_hours(90 * 24);

/// Hours after the start of the report clock at which an unfiled report is warned about.
pub const REPORT_WARNINGS: [i64; 4] = [24, 48, 60, 68];

/// One step of an incident's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Seen by a tool or a person (Defender, Sentinel, a ticket, the command line).
    Detected,
    /// Determined to be a reportable cyber incident: the 72-hour clock starts here.
    Discovered,
    /// The MSP handed it to the contractor.
    HandedOff,
    /// The contractor acknowledged the hand-off.
    Acknowledged,
    /// Reported to DoD through DIBNet (with the report number).
    Reported,
    /// Isolated malicious software submitted to DC3.
    MalwareSubmitted,
    /// The DoD report number given to the prime (subcontractors).
    PrimeNotified,
    /// Images and packet captures preserved.
    Preserved,
    /// The preserved media released (after the period, or DoD declined interest).
    Released,
    Closed,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::Detected,
        Step::Discovered,
        Step::HandedOff,
        Step::Acknowledged,
        Step::Reported,
        Step::MalwareSubmitted,
        Step::PrimeNotified,
        Step::Preserved,
        Step::Released,
        Step::Closed,
    ];

    /// The name the store, the commands and the JSON use.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Detected => "detected",
            Step::Discovered => "discovered",
            Step::HandedOff => "handed_off",
            Step::Acknowledged => "acknowledged",
            Step::Reported => "reported",
            Step::MalwareSubmitted => "malware_submitted",
            Step::PrimeNotified => "prime_notified",
            Step::Preserved => "preserved",
            Step::Released => "released",
            Step::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What an assessor reads in the timeline.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Detected => "detected",
            Step::Discovered => "discovered (determined reportable)",
            Step::HandedOff => "handed off to the contractor",
            Step::Acknowledged => "acknowledged by the contractor",
            Step::Reported => "reported to DoD (DIBNet)",
            Step::MalwareSubmitted => "malicious software submitted to DC3",
            Step::PrimeNotified => "report number given to the prime",
            Step::Preserved => "images and captures preserved",
            Step::Released => "preserved media released",
            Step::Closed => "closed",
        }
    }

    /// The `dutywatch incident` subcommand that records it.
    pub fn command(self) -> &'static str {
        match self {
            Step::Detected => "open",
            Step::Discovered => "discover",
            Step::HandedOff => "handoff",
            Step::Acknowledged => "ack",
            Step::Reported => "report",
            Step::MalwareSubmitted => "malware",
            Step::PrimeNotified => "prime",
            Step::Preserved => "preserve",
            Step::Released => "release",
            Step::Closed => "close",
        }
    }

    /// A step recorded only once; `Detected` may come from each source that saw it.
    fn once(self) -> bool {
        self != Step::Detected
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded step: who, when, and what they noted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub step: Step,
    pub at: Timestamp,
    pub by: String,
    pub note: Option<String>,
    /// The DIBNet report number, on `Reported` (and `PrimeNotified`).
    pub report_number: Option<String>,
}

/// An incident and its timeline, oldest entry first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub classification: Option<String>,
    /// Whether its records met the reportable policy (an incident opened by hand always is).
    pub reportable: bool,
    /// The hours it is held to, fixed when it was opened; `None` for one opened before they
    /// were recorded, which is held to the policy in force.
    pub terms: Option<Terms>,
    pub entries: Vec<Entry>,
}

impl Incident {
    /// The hours this incident is held to: those fixed when it opened, else `policy`'s.
    pub fn terms_under(&self, policy: &Policy) -> Terms {
        self.terms.unwrap_or(policy.terms)
    }

    fn first(&self, step: Step) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.step == step)
            .min_by_key(|e| e.at)
    }

    pub fn entry(&self, step: Step) -> Option<&Entry> {
        self.first(step)
    }

    pub fn at(&self, step: Step) -> Option<Timestamp> {
        self.first(step).map(|e| e.at)
    }

    /// The earliest detection by any input.
    pub fn detected_at(&self) -> Option<Timestamp> {
        self.at(Step::Detected)
    }

    /// Where the 72 hours run from: discovery, or until it is recorded the earliest detection.
    pub fn report_clock_start(&self) -> Option<(Timestamp, Basis)> {
        match self.at(Step::Discovered) {
            Some(at) => Some((at, Basis::Discovery)),
            None => self.detected_at().map(|at| (at, Basis::Detection)),
        }
    }

    pub fn report_number(&self) -> Option<&str> {
        self.first(Step::Reported)
            .and_then(|e| e.report_number.as_deref())
    }

    /// The end of the preservation period: report + 90 days.
    pub fn preserve_until(&self) -> Option<Timestamp> {
        self.at(Step::Reported)
            .and_then(|at| at.checked_add(PRESERVE_FOR).ok())
    }

    pub fn is_closed(&self) -> bool {
        self.at(Step::Closed).is_some()
    }

    /// Whether `step` may be recorded at `at` now: the order the clause and the hand-off imply.
    pub fn check_step(&self, step: Step, at: Timestamp) -> Result<(), StepError> {
        if self.is_closed() {
            return Err(StepError::Closed);
        }
        if step.once()
            && let Some(done) = self.first(step)
        {
            return Err(StepError::Already {
                step,
                at: done.at,
                by: done.by.clone(),
            });
        }
        if let Some(detected) = self.detected_at()
            && at < detected
            && step != Step::Detected
        {
            return Err(StepError::BeforeDetection { step, detected });
        }
        let needs = match step {
            Step::Acknowledged => Some(Step::HandedOff),
            Step::PrimeNotified | Step::Released => Some(Step::Reported),
            _ => None,
        };
        if let Some(needed) = needs {
            match self.at(needed) {
                None => {
                    return Err(StepError::OutOfOrder {
                        step,
                        needs: needed,
                    });
                }
                Some(done) if at < done => {
                    return Err(StepError::Earlier {
                        step,
                        needs: needed,
                        done,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Why releasing the preserved media at `at` would break the hold (report + 90 days);
    /// `None` when it has ended (or there is no report yet, which recording refuses anyway).
    pub fn release_blocker(&self, at: Timestamp) -> Option<Blocker> {
        let until = self.preserve_until()?;
        (at < until && self.at(Step::Released).is_none()).then_some(Blocker::Hold {
            until,
            step: Step::Released,
        })
    }

    /// Why `close` at `now` would leave a duty undone; `None` when it may close.
    pub fn close_blocker(&self, now: Timestamp) -> Option<Blocker> {
        if let Some(until) = self.preserve_until() {
            return (now < until && self.at(Step::Released).is_none()).then_some(Blocker::Hold {
                until,
                step: Step::Closed,
            });
        }
        self.reportable.then_some(Blocker::NotReported)
    }
}

/// What a close forced during the media hold records as its note's first words (followed by
/// the reason in brackets): it speaks of the hold, not of the incident's other deadlines.
pub const CLOSED_DURING_HOLD: &str = "closed during the media hold";

/// What a release or a close would break off, so it needs `--force` and a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// The media hold runs until `until` (report + 90 days); `step` would end it.
    Hold { until: Timestamp, step: Step },
    /// A reportable incident has no report to DoD.
    NotReported,
}

impl Blocker {
    /// What a forced step did, as its note records it: `released early`, `closed during the
    /// media hold`, `closed without a report to DoD` (before its 72 hours were up or long
    /// after: not "early" then).
    pub fn forced(self) -> &'static str {
        match self {
            Blocker::Hold {
                step: Step::Released,
                ..
            } => "released early",
            Blocker::Hold { .. } => CLOSED_DURING_HOLD,
            Blocker::NotReported => "closed without a report to DoD",
        }
    }

    /// Its words with the hold's end as `show` writes it (the CLI: in the contractor's zone).
    pub fn describe(&self, show: &dyn Fn(Timestamp) -> String) -> String {
        match self {
            Blocker::Hold { until, step } => {
                let act = if *step == Step::Released {
                    "release them"
                } else {
                    "close it"
                };
                format!(
                    "images and captures must be kept until {} (report + 90 days); {act} after that, or with --force --reason if DoD declined interest",
                    show(*until)
                )
            }
            Blocker::NotReported => "it is not reported to DoD; record `incident report`, or close with --force --reason (e.g. determined not a reportable cyber incident)".to_owned(),
        }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&|at| at.to_string()))
    }
}

/// Why a step cannot be recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepError {
    Closed,
    Already {
        step: Step,
        at: Timestamp,
        by: String,
    },
    BeforeDetection {
        step: Step,
        detected: Timestamp,
    },
    OutOfOrder {
        step: Step,
        needs: Step,
    },
    Earlier {
        step: Step,
        needs: Step,
        done: Timestamp,
    },
}

impl StepError {
    /// Its words, naming each step by the command that records it and each instant as
    /// `show` writes it (the CLI: in the contractor's zone, UTC beside it).
    pub fn describe(&self, show: &dyn Fn(Timestamp) -> String) -> String {
        match self {
            StepError::Closed => "the incident is closed; nothing more can be recorded".to_owned(),
            StepError::Already { step, at, by } => format!(
                "`incident {}` ({}) was already recorded at {} by {by}",
                step.command(),
                step.describe(),
                show(*at)
            ),
            StepError::BeforeDetection { step, detected } => format!(
                "`incident {}` cannot be dated before the detection at {}; check --at",
                step.command(),
                show(*detected)
            ),
            StepError::OutOfOrder { step, needs } => format!(
                "`incident {}` needs `incident {}` first ({}); record that step, then this one",
                step.command(),
                needs.command(),
                needs.describe()
            ),
            StepError::Earlier { step, needs, done } => format!(
                "`incident {}` cannot be dated before `incident {}`, recorded at {}; check --at",
                step.command(),
                needs.command(),
                show(*done)
            ),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&|at| at.to_string()))
    }
}

impl std::error::Error for StepError {}

/// What the report clock counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    Discovery,
    /// Nobody recorded discovery yet: the earliest detection stands in.
    Detection,
}

/// What opens a reportable-incident clock, compared ignoring case, `_`, `-` and spaces
/// (`truePositive` = `true_positive`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reportable {
    /// Severities that open a clock; empty: any.
    pub severities: Vec<String>,
    /// Classifications that open a clock; empty: any not ignored.
    pub classifications: Vec<String>,
    /// Classifications that never do (false positives).
    pub ignore_classifications: Vec<String>,
    /// Tags that open a clock whatever the severity.
    pub tags: Vec<String>,
    /// Record types that are not incidents (an alert in a ticket feed).
    pub not_incidents: Vec<String>,
}

impl Default for Reportable {
    fn default() -> Reportable {
        Reportable {
            severities: Vec::new(),
            classifications: Vec::new(),
            ignore_classifications: vec![
                "false_positive".to_owned(),
                "informational_expected_activity".to_owned(),
                "benign_positive".to_owned(),
            ],
            tags: Vec::new(),
            not_incidents: vec!["alert".to_owned()],
        }
    }
}

fn norm(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn within(list: &[String], value: &str) -> bool {
    let value = norm(value);
    list.iter().any(|v| norm(v) == value)
}

impl Reportable {
    /// Whether an observation opens a clock. An alert opens nothing; a false positive
    /// nothing; a listed tag opens one whatever the severity.
    pub fn opens(&self, seen: &Observation) -> bool {
        if seen
            .record_type
            .as_deref()
            .is_some_and(|t| within(&self.not_incidents, t))
        {
            return false;
        }
        if let Some(class) = &seen.classification {
            if within(&self.ignore_classifications, class) {
                return false;
            }
            if !self.classifications.is_empty() && !within(&self.classifications, class) {
                return false;
            }
        } else if !self.classifications.is_empty() {
            return false;
        }
        if seen.tags.iter().any(|t| within(&self.tags, t)) {
            return true;
        }
        self.severities.is_empty()
            || seen
                .severity
                .as_deref()
                .is_some_and(|s| within(&self.severities, s))
    }
}

/// The hours the people involved are held to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The hours an incident opened under this policy is held to.
    pub terms: Terms,
    /// How long before the preservation period ends its reminder goes out.
    pub preserve_remind_before: SignedDuration,
    pub reportable: Reportable,
}

/// The hours one incident is held to, fixed when it is opened. A CRM renegotiated or a config
/// edited later governs the incidents opened after it: it neither moves the deadlines of an
/// incident already running nor changes what an export says was kept or missed long ago.
/// (The 72-hour report and the 90-day hold are the clause's, not terms: they never change.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    /// Detection → hand-off to the contractor (the CRM's figure: 24 h, 4 h).
    pub handoff_within: SignedDuration,
    /// Hand-off → the contractor's acknowledgement.
    pub ack_within: SignedDuration,
    /// Whether the contractor is a subcontractor, owing the prime the report number.
    pub subcontractor: bool,
    /// Report → the prime has the number.
    pub prime_within: SignedDuration,
}

impl Default for Terms {
    fn default() -> Terms {
        Terms {
            handoff_within: SignedDuration::from_hours(24),
            ack_within: SignedDuration::from_hours(4),
            subcontractor: false,
            prime_within: SignedDuration::from_hours(24),
        }
    }
}

impl Terms {
    /// As people read them: `hand-off within 24 hours, acknowledgement within 4 hours, report
    /// number to the prime within 24 hours` (the last only for a subcontractor).
    pub fn describe(&self) -> String {
        let mut text = format!(
            "hand-off within {}, acknowledgement within {}",
            hours_text(self.handoff_within),
            hours_text(self.ack_within)
        );
        if self.subcontractor {
            text.push_str(&format!(
                ", report number to the prime within {}",
                hours_text(self.prime_within)
            ));
        } else {
            text.push_str(", no prime to notify");
        }
        text
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            terms: Terms::default(),
            preserve_remind_before: SignedDuration::from_hours(14 * 24),
            reportable: Reportable::default(),
        }
    }
}

/// The deadlines an incident runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClockName {
    Handoff,
    Acknowledge,
    Report,
    Prime,
    Preservation,
}

impl ClockName {
    /// As people read it: `report to DoD (72 h)`.
    pub fn describe(self) -> &'static str {
        match self {
            ClockName::Handoff => "hand-off to the contractor",
            ClockName::Acknowledge => "acknowledgement",
            ClockName::Report => "report to DoD (72 h)",
            ClockName::Prime => "report number to the prime",
            ClockName::Preservation => "preserve media (90 days)",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClockName::Handoff => "handoff",
            ClockName::Acknowledge => "acknowledge",
            ClockName::Report => "report",
            ClockName::Prime => "prime",
            ClockName::Preservation => "preservation",
        }
    }
}

/// One deadline of an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub clock: ClockName,
    pub starts: Timestamp,
    pub due: Timestamp,
    /// When the step it waits for was recorded.
    pub done: Option<Timestamp>,
    /// `due - now` while it runs (negative when overdue); `None` once done.
    pub left: Option<SignedDuration>,
    /// For the report clock: discovery or the detection standing in for it.
    pub basis: Option<Basis>,
}

impl Deadline {
    /// Past due with its step not done. Never the media hold: its end is the day the media
    /// may be released, not a deadline anyone misses ([`Deadline::hold_ended`]).
    pub fn overdue(&self) -> bool {
        self.clock != ClockName::Preservation && self.past_due()
    }

    /// The media hold is over and no release is recorded: the media may be released.
    pub fn hold_ended(&self) -> bool {
        self.clock == ClockName::Preservation && self.past_due()
    }

    fn past_due(&self) -> bool {
        self.left.is_some_and(|left| left.is_negative())
    }

    /// By how much the step that stops this clock missed it: done after `due`, or for the
    /// preservation hold, the media released before it ended. `None` while the clock runs
    /// and when the step kept its deadline. A late DoD report is still late once filed.
    pub fn missed_by(&self) -> Option<SignedDuration> {
        let done = self.done?;
        let missed = match self.clock {
            ClockName::Preservation => self.due.duration_since(done),
            _ => done.duration_since(self.due),
        };
        missed.is_positive().then_some(missed)
    }

    /// The step to record next for this clock of `incident`: the one that stops it, except
    /// that a media hold with nothing recorded as preserved first needs the preservation (a
    /// release of media no one recorded keeping would close a hold that kept nothing).
    pub fn next_step(&self, incident: &Incident) -> Step {
        match self.clock {
            ClockName::Preservation if incident.at(Step::Preserved).is_none() => Step::Preserved,
            _ => self.stopped_by(),
        }
    }

    /// The step whose record stops this clock.
    pub fn stopped_by(&self) -> Step {
        match self.clock {
            ClockName::Handoff => Step::HandedOff,
            ClockName::Acknowledge => Step::Acknowledged,
            ClockName::Report => Step::Reported,
            ClockName::Prime => Step::PrimeNotified,
            ClockName::Preservation => Step::Released,
        }
    }
}

/// What became of a deadline on record (`incident_deadlines.csv`'s `outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done in time.
    Kept,
    /// Done late (by how much).
    Missed,
    /// Media released before the 90 days ended (by how much; DoD may decline interest, which
    /// the release's note says).
    ReleasedEarly,
    /// Not done, not yet due.
    Running,
    /// Not done, past due (by how much).
    Overdue,
    /// The media hold runs, which asks to keep rather than to act.
    Holding,
    /// The media hold ran its course.
    HoldEnded,
    /// The incident was closed without the step, after the deadline (by how much past it).
    MissedNotDone,
    /// The incident was closed without the step, before the deadline.
    ClosedBeforeDue,
    /// A close broke off the media hold (by how much early).
    ClosedDuringHold,
    /// The media hold, neither released nor closed, has nothing on record as preserved (no
    /// `incident preserve`): whatever its dates say, nobody said the media were kept.
    NotPreserved,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
        Outcome::Kept,
        Outcome::Missed,
        Outcome::ReleasedEarly,
        Outcome::Running,
        Outcome::Overdue,
        Outcome::Holding,
        Outcome::HoldEnded,
        Outcome::MissedNotDone,
        Outcome::ClosedBeforeDue,
        Outcome::ClosedDuringHold,
        Outcome::NotPreserved,
    ];

    /// As the export's files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Missed => "missed",
            Outcome::ReleasedEarly => "released_early",
            Outcome::Running => "running",
            Outcome::Overdue => "overdue",
            Outcome::Holding => "holding",
            Outcome::HoldEnded => "hold_ended",
            Outcome::MissedNotDone => "missed_not_done",
            Outcome::ClosedBeforeDue => "closed_before_due",
            Outcome::ClosedDuringHold => "closed_during_hold",
            Outcome::NotPreserved => "not_preserved",
        }
    }

    /// As people read it.
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Missed => "missed: done late",
            Outcome::ReleasedEarly => "media released early",
            Outcome::Running => "running",
            Outcome::Overdue => "overdue",
            Outcome::Holding => "holding the media",
            Outcome::HoldEnded => "hold ended: the media may be released",
            Outcome::MissedNotDone => "missed: never done",
            Outcome::ClosedBeforeDue => "closed before it was due",
            Outcome::ClosedDuringHold => "hold broken off by the close",
            Outcome::NotPreserved => "no preservation of the media on record",
        }
    }

    /// Whether the deadline was not kept: missed, overdue, or its hold broken off.
    pub fn not_kept(self) -> bool {
        matches!(
            self,
            Outcome::Missed
                | Outcome::Overdue
                | Outcome::MissedNotDone
                | Outcome::ReleasedEarly
                | Outcome::ClosedDuringHold
                | Outcome::NotPreserved
        )
    }

    /// How far off it was, in words: late, early or overdue by `by`.
    pub fn off(self, by: SignedDuration) -> String {
        let by = hours_text(by);
        match self {
            Outcome::Missed => format!("{by} late"),
            Outcome::MissedNotDone => format!("closed {by} after it was due"),
            Outcome::Overdue => format!("{by} overdue"),
            Outcome::ReleasedEarly | Outcome::ClosedDuringHold => {
                format!("{by} before the hold ended")
            }
            // These carry no amount.
            Outcome::Kept
            | Outcome::Running
            | Outcome::Holding
            | Outcome::HoldEnded
            | Outcome::ClosedBeforeDue
            | Outcome::NotPreserved => by,
        }
    }
}

impl Deadline {
    /// What became of it, and by how much where it was not kept. `closed`: the incident was
    /// closed, and a deadline without its step is judged as of the close (the caller
    /// computes the deadlines as of then, see [`deadlines_on_record`]). `incident` is the one
    /// it is a deadline of: its media hold with nothing preserved is [`Outcome::NotPreserved`].
    pub fn outcome(&self, incident: &Incident, closed: bool) -> (Outcome, Option<SignedDuration>) {
        let left = self.left.unwrap_or(SignedDuration::ZERO);
        let hold = self.clock == ClockName::Preservation;
        // A release or a close on record says what became of the hold (kept to the end,
        // released early, broken off); without either, a hold with nothing preserved is only
        // that.
        if hold && self.done.is_none() && !closed && incident.at(Step::Preserved).is_none() {
            return (Outcome::NotPreserved, None);
        }
        match (self.done, self.missed_by()) {
            (Some(_), Some(by)) if hold => (Outcome::ReleasedEarly, Some(by)),
            (Some(_), Some(by)) => (Outcome::Missed, Some(by)),
            (Some(_), None) => (Outcome::Kept, None),
            (None, _) if self.hold_ended() => (Outcome::HoldEnded, None),
            (None, _) if hold && closed => (Outcome::ClosedDuringHold, Some(left)),
            (None, _) if hold => (Outcome::Holding, None),
            (None, _) if closed && self.overdue() => (Outcome::MissedNotDone, Some(-left)),
            (None, _) if closed => (Outcome::ClosedBeforeDue, None),
            (None, _) if self.overdue() => (Outcome::Overdue, Some(-left)),
            (None, _) => (Outcome::Running, None),
        }
    }
}

/// The deadline to act on next among `deadlines` (of [`clocks`]): the running one due first,
/// so an overdue one comes before any still inside its hours. `None` when none runs.
pub fn next_deadline(deadlines: &[Deadline]) -> Option<&Deadline> {
    deadlines
        .iter()
        .filter(|d| d.done.is_none())
        .min_by_key(|d| (d.due, d.clock))
}

/// Each deadline of `incident` as of `now`. A closed incident runs none.
pub fn clocks(incident: &Incident, policy: &Policy, now: Timestamp) -> Vec<Deadline> {
    if incident.is_closed() {
        return Vec::new();
    }
    deadlines_on_record(incident, policy, now)
}

/// Each deadline `incident` had, closed or not, and when the step that stops it was
/// recorded: what an assessor checks of an incident long over (was the DoD report filed
/// within 72 hours of discovery, were the media kept 90 days). A deadline whose step was
/// never recorded runs on as of `now`. None for an incident that is not reportable.
pub fn deadlines_on_record(incident: &Incident, policy: &Policy, now: Timestamp) -> Vec<Deadline> {
    let mut out = Vec::new();
    if !incident.reportable {
        return out;
    }
    let terms = incident.terms_under(policy);
    let mut push = |clock, starts: Timestamp, within: SignedDuration, done, basis| {
        let due = starts.checked_add(within).unwrap_or(Timestamp::MAX);
        let left = match done {
            Some(_) => None,
            None => Some(now.duration_until(due)),
        };
        out.push(Deadline {
            clock,
            starts,
            due,
            done,
            left,
            basis,
        });
    };
    if let Some(detected) = incident.detected_at() {
        push(
            ClockName::Handoff,
            detected,
            terms.handoff_within,
            incident.at(Step::HandedOff),
            None,
        );
    }
    if let Some(handed) = incident.at(Step::HandedOff) {
        push(
            ClockName::Acknowledge,
            handed,
            terms.ack_within,
            incident.at(Step::Acknowledged),
            None,
        );
    }
    if let Some((start, basis)) = incident.report_clock_start() {
        push(
            ClockName::Report,
            start,
            REPORT_WITHIN,
            incident.at(Step::Reported),
            Some(basis),
        );
    }
    if let Some(reported) = incident.at(Step::Reported) {
        if terms.subcontractor {
            push(
                ClockName::Prime,
                reported,
                terms.prime_within,
                incident.at(Step::PrimeNotified),
                None,
            );
        }
        push(
            ClockName::Preservation,
            reported,
            PRESERVE_FOR,
            incident.at(Step::Released),
            None,
        );
    }
    out
}

/// How senior the people told are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seniority {
    Primary,
    Backup,
    Management,
}

/// Which warning it is; with the incident id it names the mail once and for all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarningStep {
    HandoffOverdue,
    AckOverdue,
    /// The report is not filed this many hours after the clock started.
    ReportAt(i64),
    /// 72 hours passed without a report: the duty lapsed.
    ReportLapsed,
    PrimeOverdue,
    PreservationEnding,
}

impl WarningStep {
    /// Every warning an incident can be sent.
    pub fn all() -> impl Iterator<Item = WarningStep> {
        [WarningStep::HandoffOverdue, WarningStep::AckOverdue]
            .into_iter()
            .chain(REPORT_WARNINGS.into_iter().map(WarningStep::ReportAt))
            .chain([
                WarningStep::ReportLapsed,
                WarningStep::PrimeOverdue,
                WarningStep::PreservationEnding,
            ])
    }

    /// The step whose record makes this warning untrue (what it asks for is done).
    pub fn answered_by(self) -> Step {
        match self {
            WarningStep::HandoffOverdue => Step::HandedOff,
            WarningStep::AckOverdue => Step::Acknowledged,
            WarningStep::ReportAt(_) | WarningStep::ReportLapsed => Step::Reported,
            WarningStep::PrimeOverdue => Step::PrimeNotified,
            WarningStep::PreservationEnding => Step::Released,
        }
    }

    pub fn key_part(self) -> String {
        match self {
            WarningStep::HandoffOverdue => "handoff-overdue".to_owned(),
            WarningStep::AckOverdue => "ack-overdue".to_owned(),
            WarningStep::ReportAt(hours) => format!("report-{hours}h"),
            WarningStep::ReportLapsed => "report-lapsed".to_owned(),
            WarningStep::PrimeOverdue => "prime-overdue".to_owned(),
            WarningStep::PreservationEnding => "preservation-ending".to_owned(),
        }
    }
}

/// The outbox key of a client's incident warning, decided once over the database's life:
/// `incident:<client>:<id>:<step>`.
pub fn warning_key(client: &str, incident: &str, step: WarningStep) -> String {
    format!("incident:{client}:{incident}:{}", step.key_part())
}

/// The warnings of `incident` that its recorded steps answer (all of them once it is closed):
/// one still waiting in the outbox is no longer true and must not go out.
pub fn answered_warnings(incident: &Incident) -> impl Iterator<Item = WarningStep> + '_ {
    WarningStep::all()
        .filter(|step| incident.is_closed() || incident.at(step.answered_by()).is_some())
}

/// A warning due now: who is told, how much time is left and what is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub step: WarningStep,
    /// `incident:<id>:<step>`; the caller prefixes the client.
    pub key: String,
    pub recipients: Vec<(Party, Seniority)>,
    /// The deadline the warning is about.
    pub due: Timestamp,
    /// `due - now`: negative once it passed.
    pub left: SignedDuration,
    /// The steps not recorded yet that the deadline waits for.
    pub missing: Vec<Step>,
    pub basis: Option<Basis>,
    /// Whether the duty lapsed (the mail says so plainly).
    pub lapsed: bool,
}

/// The warnings due for `incident` at `now`. Of the report ladder only the rung reached last
/// is due: a daemon that was down at 24 h and comes back at 50 h sends the 48-hour warning,
/// not both. The caller sends each key once.
pub fn warnings_due(incident: &Incident, policy: &Policy, now: Timestamp) -> Vec<Warning> {
    use Party::{Contractor, Msp};
    use Seniority::{Backup, Management, Primary};
    let mut out = Vec::new();
    let warn = |step: WarningStep, deadline: &Deadline, recipients, missing, lapsed| Warning {
        key: format!("incident:{}:{}", incident.id, step.key_part()),
        step,
        recipients,
        due: deadline.due,
        left: now.duration_until(deadline.due),
        missing,
        basis: deadline.basis,
        lapsed,
    };
    for deadline in clocks(incident, policy, now) {
        if deadline.done.is_some() {
            continue;
        }
        let elapsed = deadline.starts.duration_until(now);
        match deadline.clock {
            ClockName::Handoff if now >= deadline.due => out.push(warn(
                WarningStep::HandoffOverdue,
                &deadline,
                vec![(Msp, Backup), (Contractor, Primary)],
                vec![Step::HandedOff],
                false,
            )),
            ClockName::Acknowledge if now >= deadline.due => out.push(warn(
                WarningStep::AckOverdue,
                &deadline,
                vec![(Contractor, Backup)],
                vec![Step::Acknowledged],
                false,
            )),
            ClockName::Report => {
                let missing = report_missing(incident, deadline.basis);
                if now >= deadline.due {
                    out.push(warn(
                        WarningStep::ReportLapsed,
                        &deadline,
                        vec![
                            (Contractor, Management),
                            (Contractor, Backup),
                            (Contractor, Primary),
                            (Msp, Management),
                            (Msp, Primary),
                        ],
                        missing,
                        true,
                    ));
                } else if let Some(&hours) = REPORT_WARNINGS
                    .iter()
                    .rev()
                    .find(|&&h| elapsed >= SignedDuration::from_hours(h))
                {
                    let seniority = match hours {
                        24 => Primary,
                        48 => Backup,
                        _ => Management,
                    };
                    out.push(warn(
                        WarningStep::ReportAt(hours),
                        &deadline,
                        vec![(Contractor, seniority), (Msp, seniority)],
                        missing,
                        false,
                    ));
                }
            }
            ClockName::Prime if now >= deadline.due => out.push(warn(
                WarningStep::PrimeOverdue,
                &deadline,
                vec![(Contractor, Primary)],
                vec![Step::PrimeNotified],
                false,
            )),
            ClockName::Preservation => {
                let remind_at = deadline
                    .due
                    .checked_sub(policy.preserve_remind_before)
                    .unwrap_or(deadline.due);
                if now >= remind_at && now < deadline.due {
                    out.push(warn(
                        WarningStep::PreservationEnding,
                        &deadline,
                        vec![(Contractor, Primary), (Msp, Primary)],
                        vec![Step::Released],
                        false,
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// What the report still waits for: discovery when only detection is recorded, and the
/// report itself.
fn report_missing(incident: &Incident, basis: Option<Basis>) -> Vec<Step> {
    let mut missing = Vec::new();
    if basis == Some(Basis::Detection) {
        missing.push(Step::Discovered);
    }
    if incident.at(Step::HandedOff).is_none() {
        missing.push(Step::HandedOff);
    }
    missing.push(Step::Reported);
    missing
}

/// A duration as people say it: `48 hours`, `47 hours 55 minutes`, `35 minutes`, `32 days
/// 4 hours`; of a negative one its size (the caller says "overdue by").
pub fn hours_text(duration: SignedDuration) -> String {
    let minutes = duration.as_secs().unsigned_abs() / 60;
    let (hours, minutes) = (minutes / 60, minutes % 60);
    let unit = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    match (hours, minutes) {
        // Past four days minutes mean nothing and hours are hard to read.
        (h, _) if h >= 96 => match h % 24 {
            0 => unit(h / 24, "day", "days"),
            rest => format!(
                "{} {}",
                unit(h / 24, "day", "days"),
                unit(rest, "hour", "hours")
            ),
        },
        (0, m) => unit(m, "minute", "minutes"),
        (h, 0) => unit(h, "hour", "hours"),
        (h, m) => format!(
            "{} {}",
            unit(h, "hour", "hours"),
            unit(m, "minute", "minutes")
        ),
    }
}

/// What one input says about an incident: a record of the `incident` kind from a register,
/// Defender, Sentinel or a ticket feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The id the incident is known by here: a Sentinel incident mirrored from Defender
    /// takes the Defender id, a Defender incident merged into another that one's id, a
    /// Sentinel resource path its last segment.
    pub id: String,
    /// Every id the input knows it by (the first is `id`); two observations sharing one are
    /// the same incident.
    pub aliases: Vec<String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub classification: Option<String>,
    pub tags: Vec<String>,
    pub record_type: Option<String>,
    /// Steps the input states, with who where it says.
    pub steps: Vec<(Step, Timestamp, Option<String>)>,
    /// Steps the input dates after `now` (beyond clocks' differences), as it dates them: a
    /// typo or a clock ahead. None of them is taken as done, so their deadlines keep running;
    /// a detection dated ahead is taken as made when first seen (`now`, among `steps`), so the
    /// 72 hours run at all; a discovery dated ahead is left out, so they run from detection.
    pub ahead: Vec<(Step, Timestamp)>,
    pub report_number: Option<String>,
}

/// Providers whose incidents Sentinel mirrors with the provider's own id.
const DEFENDER_PROVIDERS: [&str; 3] = [
    "microsoft365defender",
    "microsoftdefenderxdr",
    "microsoftxdr",
];

/// Reads an `incident` record into what it says at `now`; `zone` places bare dates.
pub fn observe(record: &Record, zone: &TimeZone, now: Timestamp) -> Option<Observation> {
    // An incident's texts go to `status`, `incident list` and mail as they are kept, so they
    // are kept printable: an ESC, CR or LF in a title would redraw a terminal or forge a line
    // that reads `met`. The evidence itself is stored as collected.
    let text = |field: &str| match record.get(field) {
        Some(FieldValue::Text(t)) if !t.trim().is_empty() => {
            Some(crate::printable::printable(t.trim()).into_owned())
        }
        Some(FieldValue::Integer(n)) => Some(n.to_string()),
        _ => None,
    };
    let time = |field: &str| match record.get(field) {
        Some(FieldValue::Time(when)) => Some(when.start(zone)),
        _ => None,
    };
    let raw_id = text("id")?;
    // A Sentinel resource id is a path (`…/Microsoft.SecurityInsights/Incidents/{name}`, in
    // either case); its last segment is the incident's name.
    let own_id = match raw_id.to_ascii_lowercase().rfind("/incidents/") {
        Some(at) if raw_id.len() > at + "/incidents/".len() => {
            raw_id[at + "/incidents/".len()..].to_owned()
        }
        _ => raw_id.clone(),
    };
    let mirrored = text("provider_incident_id").filter(|_| {
        text("provider_name").is_some_and(|p| DEFENDER_PROVIDERS.contains(&norm(&p).as_str()))
    });
    // Defender merged it into another incident: that one is the incident.
    let redirected = text("redirect_incident_id");
    let mut aliases = Vec::new();
    let id = match (&redirected, &mirrored) {
        (Some(target), _) => target.clone(),
        (None, Some(defender)) => defender.clone(),
        (None, None) => own_id.clone(),
    };
    for alias in [Some(id.clone()), Some(own_id), Some(raw_id)]
        .into_iter()
        .flatten()
    {
        if !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    let latest = now
        .checked_add(SignedDuration::from_secs(crate::evaluate::CLOCK_SKEW_SECS))
        .unwrap_or(Timestamp::MAX);
    let mut steps = Vec::new();
    let mut ahead = Vec::new();
    for (field, step, by) in [
        ("detected_at", Step::Detected, None),
        ("discovered_at", Step::Discovered, text("discovered_by")),
        ("handed_off_at", Step::HandedOff, None),
        ("acknowledged_at", Step::Acknowledged, None),
        ("reported_at", Step::Reported, None),
    ] {
        match time(field) {
            Some(at) if at > latest => {
                ahead.push((step, at));
                if step == Step::Detected {
                    steps.push((step, now, by));
                }
            }
            Some(at) => steps.push((step, at, by)),
            None => {}
        }
    }
    let tags = match record.get("tags") {
        Some(FieldValue::List(list)) => list.to_vec(),
        Some(FieldValue::Text(t)) => vec![t.to_string()],
        _ => Vec::new(),
    };
    Some(Observation {
        id,
        aliases,
        title: text("title"),
        severity: text("severity"),
        classification: text("classification"),
        tags,
        record_type: text("record_type"),
        steps,
        ahead,
        report_number: text("report_number"),
    })
}

#[cfg(test)]
mod tests;
