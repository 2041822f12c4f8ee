//! The outcome of checking one duty at one instant.

use std::fmt;

use jiff::Timestamp;

use crate::evidence::EvidenceId;
use crate::period::Period;

/// A duty's verdict: its state, a sentence a person can act on, and the
/// evidence the sentence rests on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    pub state: State,
    pub reason: String,
    pub evidence: Vec<EvidenceId>,
}

/// Where a duty stands. Only `Met` is good news, and only real, fresh
/// evidence produces it: every way of not knowing has its own state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Done; `next_due` is when it must be done again, if it recurs.
    Met { next_due: Option<Timestamp> },
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
            State::DueSoon { due } => Some(*due),
            State::Lapsed { since, .. } => Some(*since),
            _ => None,
        }
    }
}

impl StateKind {
    pub const ALL: [StateKind; 6] = [
        StateKind::Met,
        StateKind::DueSoon,
        StateKind::Lapsed,
        StateKind::NoEvidence,
        StateKind::StaleEvidence,
        StateKind::SourceError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Met => "met",
            StateKind::DueSoon => "due_soon",
            StateKind::Lapsed => "lapsed",
            StateKind::NoEvidence => "no_evidence",
            StateKind::StaleEvidence => "stale_evidence",
            StateKind::SourceError => "source_error",
        }
    }

    /// Whether entering this state calls for telling someone.
    pub fn needs_attention(self) -> bool {
        self != StateKind::Met
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
                format!("`{text}` is not a verdict state (met, due_soon, lapsed, no_evidence, stale_evidence, source_error)")
            })
    }
}
