//! What the checks know about evidence: snapshots of records, and whether
//! the collector that produces them is healthy.
//!
//! The agent owns fetching and storage; it hands the checks a read-only
//! [`EvidenceView`] per duty.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::kind::EvidenceKind;
use crate::record::{Finding, Record, Subject};

/// The store's id of one immutable evidence row.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct EvidenceId(pub i64);

impl std::fmt::Display for EvidenceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "E{}", self.0)
    }
}

/// One collected piece of evidence, parsed into records.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub id: EvidenceId,
    /// The instant the content speaks for: an export file's modification
    /// time, an API call's time, a manual upload's stated completion time.
    /// Freshness is judged on this, not on when dutywatch read it, so a
    /// file nobody re-exports goes stale even though it is read every hour.
    pub effective_at: Timestamp,
    /// The records that read as the source's kind. Shared: the agent keeps the records of
    /// content it has read, and one read serves every duty and pass that looks at it.
    pub records: Arc<[Record]>,
    /// Why the other records did not: never evidence, always reported.
    pub findings: Arc<[Finding]>,
}

/// The health of the collector behind a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Collection {
    /// Evidence arrives by hand (`dutywatch evidence add`), not from a
    /// collector, so there is no collector to fail.
    Manual,
    /// The collector has never run.
    NeverRun,
    /// The latest run succeeded.
    Ok { at: Timestamp },
    /// The latest run failed; `since` is the first failure of this streak.
    Failed { since: Timestamp, error: String },
}

/// Everything a duty may look at: the collector's health and the
/// snapshots of its source, oldest first.
#[derive(Clone, Copy, Debug)]
pub struct EvidenceView<'a> {
    pub source: &'a str,
    pub kind: &'a EvidenceKind,
    /// The zone the source's local dates are days in.
    pub zone: &'a TimeZone,
    pub collection: &'a Collection,
    pub snapshots: &'a [Snapshot],
    /// Events seen earlier whose clocks were still open, as last seen:
    /// an incident that leaves the export is not thereby closed.
    pub kept: &'a [Record],
    /// Subjects of a continuous rule that earlier evaluations found failing, and since when
    /// ([`SubjectVerdict::failing_since`](crate::verdict::SubjectVerdict)): a run of failures
    /// that reaches back past the window's oldest snapshot began then, not at that snapshot.
    pub failing_since: &'a BTreeMap<Subject, Timestamp>,
    /// The same for a duty judged as a whole (`expect = "any"`): when its run of failures
    /// began, as the last evaluation found it.
    pub duty_failing_since: Option<Timestamp>,
}

/// No subject known failing before: a first evaluation, a joined source (its subjects are
/// judged through the duty's own source).
pub static NONE_FAILING: BTreeMap<Subject, Timestamp> = BTreeMap::new();

impl EvidenceView<'_> {
    pub fn latest(&self) -> Option<&Snapshot> {
        self.snapshots.last()
    }
}
