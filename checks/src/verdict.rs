//! The outcome of checking one duty at one instant.

use std::fmt;

use jiff::Timestamp;

use crate::evidence::EvidenceId;
use crate::period::Period;
use crate::record::Subject;

/// A duty's verdict: its state, a sentence a person can act on, the
/// evidence the sentence rests on, and where each subject stands.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// The worst of the subjects' states, or a state of the duty as a
    /// whole (a failed collector, stale or missing evidence).
    pub state: State,
    pub reason: String,
    pub evidence: Vec<EvidenceId>,
    /// One verdict per subject (user, device, patch, incident) where the
    /// rule judges subjects; `None` where it judges the duty as a whole or
    /// could not look at the subjects at all (a failed collector says
    /// nothing about who is compliant, so their states stay as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<SubjectVerdict>>,
    /// For a duty judged as a whole (`expect = "any"`): whether this verdict judged its
    /// evidence and when the run of failures it rests on began. The store keeps the start
    /// beside the duty's state and hands it back to the next evaluation
    /// ([`EvidenceView::duty_failing_since`](crate::evidence::EvidenceView)), as it does a
    /// subject's [`SubjectVerdict::failing_since`].
    #[serde(skip)]
    pub whole_run: WholeRun,
}

/// What a verdict says of the run of failures of a duty judged as a whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WholeRun {
    /// The verdict did not judge the duty as a whole: a rule that judges subjects, or one
    /// that could not look at the evidence (a failed collector). What was stored stays.
    #[default]
    NotJudged,
    /// Judged, and no run of failures is open: the duty holds, or nothing ever failed.
    NoRun,
    /// Judged: failing since this instant (or undecided now after failing since then, which
    /// neither ends nor extends the run).
    FailingSince(Timestamp),
}

/// Where one subject of a duty stands.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubjectVerdict {
    pub subject: Subject,
    pub state: State,
    pub reason: String,
    /// The event record to keep while the subject's clock is open, so an
    /// incident that leaves the export is not forgotten (the kind's field
    /// names; see `Record::to_json`). The store keeps it beside the
    /// subject's state, not in the verdict.
    #[serde(skip)]
    pub keep: Option<serde_json::Value>,
    /// When the run of failures a continuous rule's `due_soon` or `lapsed` rests on began.
    /// The store keeps it beside the subject's state and hands it back to the next
    /// evaluation ([`EvidenceView::failing_since`](crate::evidence::EvidenceView)), so a run
    /// longer than the evidence window keeps its start, its deadline and its lapse instant.
    #[serde(skip)]
    pub failing_since: Option<jiff::Timestamp>,
}

impl Verdict {
    /// The subjects whose state needs someone's attention.
    pub fn attention(&self) -> impl Iterator<Item = &SubjectVerdict> {
        self.subjects
            .iter()
            .flatten()
            .filter(|s| s.state.kind().needs_attention())
    }
}

/// Where a duty stands. Only `Met` is good news, and only real, fresh
/// evidence produces it: every way of not knowing has its own state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Done; `next_due` is when it must be done again, if it recurs.
    Met { next_due: Option<Timestamp> },
    /// A clock is running and its deadline `due` is still ahead, before
    /// the warning window: not done, so not met, but not late either.
    Open { due: Timestamp },
    /// Not done yet and due at `due`, inside the warning window.
    DueSoon { due: Timestamp },
    /// Was due at `since` and is still not done.
    Lapsed { since: Timestamp, overdue: Period },
    /// No evidence exists that could show the duty done.
    NoEvidence,
    /// The newest evidence speaks for `as_of`, older than allowed.
    StaleEvidence {
        as_of: Timestamp,
        age: Period,
        max_age: Period,
    },
    /// The collector failed; what the evidence would say is unknown.
    SourceError { since: Timestamp, error: String },
}

/// The state without its details: what history, escalation and reports
/// group by.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    Met,
    Open,
    DueSoon,
    Lapsed,
    NoEvidence,
    StaleEvidence,
    SourceError,
}

impl State {
    pub fn kind(&self) -> StateKind {
        match self {
            State::Met { .. } => StateKind::Met,
            State::Open { .. } => StateKind::Open,
            State::DueSoon { .. } => StateKind::DueSoon,
            State::Lapsed { .. } => StateKind::Lapsed,
            State::NoEvidence => StateKind::NoEvidence,
            State::StaleEvidence { .. } => StateKind::StaleEvidence,
            State::SourceError { .. } => StateKind::SourceError,
        }
    }

    /// When the duty is (or was) due, where the state knows it.
    pub fn due(&self) -> Option<Timestamp> {
        match self {
            State::Met { next_due } => *next_due,
            State::Open { due } | State::DueSoon { due } => Some(*due),
            State::Lapsed { since, .. } => Some(*since),
            _ => None,
        }
    }
}

impl StateKind {
    pub const ALL: [StateKind; 7] = [
        StateKind::Met,
        StateKind::Open,
        StateKind::DueSoon,
        StateKind::Lapsed,
        StateKind::NoEvidence,
        StateKind::StaleEvidence,
        StateKind::SourceError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Met => "met",
            StateKind::Open => "open",
            StateKind::DueSoon => "due_soon",
            StateKind::Lapsed => "lapsed",
            StateKind::NoEvidence => "no_evidence",
            StateKind::StaleEvidence => "stale_evidence",
            StateKind::SourceError => "source_error",
        }
    }

    /// Whether entering this state calls for telling someone. An open
    /// clock does: someone has a deadline running.
    pub fn needs_attention(self) -> bool {
        self != StateKind::Met
    }

    /// How bad the state is, for "the duty's state is its worst
    /// subject's": a lapse outranks not knowing, not knowing outranks a
    /// deadline still ahead, and only `met` is good.
    pub fn severity(self) -> u8 {
        match self {
            StateKind::Met => 0,
            StateKind::Open => 1,
            StateKind::DueSoon => 2,
            StateKind::StaleEvidence => 3,
            StateKind::NoEvidence => 4,
            StateKind::SourceError => 5,
            StateKind::Lapsed => 6,
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StateKind {
    type Err = String;

    fn from_str(text: &str) -> Result<StateKind, String> {
        StateKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                format!("`{text}` is not a verdict state (met, open, due_soon, lapsed, no_evidence, stale_evidence, source_error)")
            })
    }
}
