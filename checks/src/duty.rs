//! Duties: what must be done, by whom, proven by which evidence, by when.

use std::fmt;
use std::str::FromStr;

use crate::catalog::{self, ControlRef, ObjectiveId, UnknownControl};
use crate::crm::{Assignment, Location, Ownership};
use crate::party::Party;
use crate::period::Period;
use crate::predicate::{FieldPath, Predicate};
use crate::time::Cadence;

/// A duty's name in configs, history and mails: lowercase letters, digits,
/// `-`, `_` and `.`, so it is safe in file names and mail headers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DutyId(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid id: use 1 to 64 lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit"
)]
pub struct InvalidId(String);

impl DutyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks the id syntax shared by duties, sources and clients.
pub fn validate_id(text: &str) -> Result<(), InvalidId> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(InvalidId(text.to_owned()))
    }
}

impl FromStr for DutyId {
    type Err = InvalidId;

    fn from_str(text: &str) -> Result<DutyId, InvalidId> {
        validate_id(text)?;
        Ok(DutyId(text.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for DutyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<DutyId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for DutyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A duty bound to a party through the CRM.
///
/// The accountable party is not a field: it is always the contractor
/// (the contract and DFARS 7012 put it there, whoever does the work).
#[derive(Clone, Debug, PartialEq)]
pub struct Duty {
    pub id: DutyId,
    pub title: String,
    /// The assessment objectives this duty serves, never empty.
    pub objectives: Vec<ObjectiveId>,
    /// Who must do it, as the CRM assigns the objectives.
    pub responsible: Party,
    /// The id of the evidence source the duty reads.
    pub source: String,
    /// Evidence older than this says nothing about today.
    pub max_age: Option<Period>,
    /// The contractor's zone: calendar cadences count days in it.
    pub zone: jiff::tz::TimeZone,
    pub rule: Rule,
}

impl Duty {
    pub fn accountable(&self) -> Party {
        Party::Contractor
    }
}

/// When a duty counts as done, and by when it must be done.
// A rule exists once per configured duty, so the size of its largest variant costs nothing
// worth an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Recurring(Recurring),
    Continuous(Continuous),
    EventClock(EventClock),
}

impl Rule {
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::Recurring(_) => "recurring",
            Rule::Continuous(_) => "continuous",
            Rule::EventClock(_) => "event_clock",
        }
    }

    /// Whether a duty of this rule, in state `state`, shows the objectives it serves
    /// implemented now: what coverage, the SPRS score and the assessor export count as met.
    ///
    /// - `met`, always;
    /// - `due_soon` of a recurring duty: it was done and its period still covers today;
    /// - `open` and `due_soon` of an event clock: the process is running inside its deadline;
    /// - never `due_soon` of a continuous condition: it fails now and is only inside the
    ///   tolerance before it lapses (an assessor scores what fails as not implemented), nor
    ///   any state that is late or does not know.
    pub fn shows_implemented(&self, state: crate::verdict::StateKind) -> bool {
        use crate::verdict::StateKind;
        matches!(
            (self, state),
            (_, StateKind::Met)
                | (Rule::Recurring(_), StateKind::DueSoon)
                | (Rule::EventClock(_), StateKind::Open | StateKind::DueSoon)
        )
    }

    /// For a condition judged per subject over `kind` (and the kinds its joins read, by
    /// source: `joined`), the fields that say when a record last reported (a device's last
    /// sync or contact, `alias.field` for a joined one) that the rule reads nowhere (`where`,
    /// `check`, `unknown_when`): each such record is judged as it last reported, however long
    /// ago that was.
    pub fn unread_freshness(
        &self,
        kind: &crate::kind::EvidenceKind,
        joined: &dyn Fn(&str) -> Option<std::sync::Arc<crate::kind::EvidenceKind>>,
    ) -> Vec<String> {
        // `any` too: one stale device that last reported well would make it hold.
        let Rule::Continuous(rule) = self else {
            return Vec::new();
        };
        let mut fields: Vec<String> = kind
            .freshness_field()
            .map(str::to_owned)
            .into_iter()
            .collect();
        for join in &rule.joins {
            if let Some(field) = joined(&join.source).and_then(|k| k.freshness_field()) {
                fields.push(format!("{}.{field}", join.alias));
            }
        }
        let read: Vec<String> = [
            rule.filter.as_ref(),
            Some(&rule.check),
            rule.unknown_when.as_ref(),
        ]
        .into_iter()
        .flatten()
        .flat_map(|p| p.fields().into_iter().map(ToString::to_string))
        .collect();
        fields.retain(|field| !read.contains(field));
        fields
    }

    /// Whether the rule judges each subject (`continuous all` or `none`, an event clock) or
    /// the duty as a whole (`recurring`, `continuous any`). A duty whose rule judges as a whole
    /// has no subjects: those it had under a rule that judged them are no longer judged.
    pub fn judges_subjects(&self) -> bool {
        match self {
            Rule::Recurring(_) => false,
            Rule::Continuous(rule) => rule.expect != Quantifier::Any,
            Rule::EventClock(_) => true,
        }
    }
}

/// Done at least once every `every`, e.g. an access review each 90 days.
#[derive(Clone, Debug, PartialEq)]
pub struct Recurring {
    /// Calendar days, weeks, months in the duty's zone: weekly work done
    /// Mondays 09:00 is due the next Monday 09:00 across a DST change.
    pub every: Cadence,
    /// How long before the due time `due_soon` starts.
    pub warn_before: Period,
    /// The field holding when a record's work was completed.
    pub completed_at: FieldPath,
    /// Which records are completions; all records when absent.
    pub filter: Option<Predicate>,
}

/// A condition that must hold, e.g. MFA enforced for every member.
#[derive(Clone, Debug, PartialEq)]
pub struct Continuous {
    pub expect: Quantifier,
    /// Which records the condition is about; all records when absent.
    pub filter: Option<Predicate>,
    pub check: Predicate,
    /// Fewer matching records than this is missing evidence, not success:
    /// "every user has MFA" over zero users proves nothing.
    pub min_records: usize,
    /// How long the condition may fail before the duty has lapsed.
    pub tolerance: Period,
    /// Records for which this holds are not judged but unknown (`no_evidence`): a device
    /// that has not synced for a week (`last_sync < now-7d`) says nothing about today's
    /// compliance, so it must neither pass nor fail.
    pub unknown_when: Option<Predicate>,
    /// Subjects that must be in the evidence (`expect = "all"` or `"none"`): one absent is a
    /// failing subject, never silently nothing to judge (a required log table that is gone).
    /// Compared ignoring ASCII case.
    pub required_subjects: Vec<String>,
    /// The text field whose values `required_subjects` name, when they are not the records'
    /// subjects: `definition_name` requires each named access review to have a record the
    /// `where` selects (a decision of a review that ended in the period), and one without is
    /// a failing subject of that name. `None`: they name subjects.
    pub required_field: Option<FieldPath>,
    /// Other sources whose records are joined to each of this source's records, in order
    /// (a patch to its NinjaOne device, that device to its Intune device). A record without
    /// a partner in any join is not judged: a device one side does not know is unknown.
    pub joins: Vec<Join>,
    /// `expect = "all"`: the duty holds while at least this share (0 to 1) of its subjects
    /// pass; the others are still listed with their own state. Subjects that cannot be
    /// judged count as not passing. `None`: every subject must pass.
    pub min_share: Option<f64>,
}

/// One join of a continuous duty: the records of `source` whose `right` field equals the
/// value of `left` in the record joined so far. Its fields read as `alias.field`, and
/// `alias` alone as the partner's subject (null when there is none).
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    pub source: String,
    pub alias: String,
    /// `None`: the joined source holds one record that every record is joined to (a
    /// tenant's security defaults).
    pub on: Option<JoinKey>,
    /// The joined source's evidence older than this says nothing about today.
    pub max_age: Option<Period>,
}

/// `on = "left = right"`: `left` a field of the record joined so far (`device`,
/// `rmm.device`), `right` a field of the joined kind. Text compares ignoring ASCII case.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinKey {
    pub left: FieldPath,
    pub right: String,
}

impl fmt::Display for JoinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.left, self.right)
    }
}

/// How many of the records must pass a continuous condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantifier {
    All,
    Any,
    None,
}

/// Each event record (a subject of the source's kind) opens a clock with
/// ordered steps, e.g. an incident: hand-off within 24 h of detection,
/// report within 72 h of discovery.
#[derive(Clone, Debug, PartialEq)]
pub struct EventClock {
    /// Which records are events; all records when absent.
    pub filter: Option<Predicate>,
    pub steps: Vec<Step>,
}

/// One step of an event clock.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    /// The field whose time starts this step's clock; a step whose start
    /// is not yet recorded is not yet open.
    pub starts: FieldPath,
    /// The field whose time records the step done.
    pub done: FieldPath,
    /// Elapsed hours, as DFARS counts them: weekends and DST do not pause.
    pub within: Period,
    pub warn_before: Period,
}

/// A duty as configured, before the CRM says who does it.
#[derive(Clone, Debug, PartialEq)]
pub struct DutySpec {
    pub id: DutyId,
    pub title: String,
    pub controls: Vec<ControlRef>,
    /// Which side of shared objectives this duty checks.
    pub party: Option<Party>,
    pub source: String,
    pub max_age: Option<Period>,
    pub zone: jiff::tz::TimeZone,
    pub rule: Rule,
}

/// Why a duty cannot be bound to a responsible party.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    #[error(transparent)]
    Unknown(#[from] UnknownControl),
    #[error("the duty names no requirement or objective")]
    NoObjectives,
    #[error(
        "{objective} has no owner in the CRM, so nobody is responsible for this duty; add a CRM row for it"
    )]
    Unowned { objective: ObjectiveId },
    #[error("{objective} is not applicable per {location}; remove it from this duty")]
    NotApplicable {
        objective: ObjectiveId,
        location: Location,
    },
    #[error(
        "{objective} is shared per {location}; say which side this duty checks with party = \"contractor\" or \"msp\""
    )]
    SharedNeedsParty {
        objective: ObjectiveId,
        location: Location,
    },
    #[error(
        "party = \"{said}\", but {location} gives {objective} to the {owner} alone; fix the duty or the CRM"
    )]
    PartyMismatch {
        objective: ObjectiveId,
        said: Party,
        owner: Party,
        location: Location,
    },
    #[error(
        "{first} falls to the {first_party} but {second} to the {second_party}; split this into one duty per party"
    )]
    Mixed {
        first: ObjectiveId,
        first_party: Party,
        second: ObjectiveId,
        second_party: Party,
    },
}

impl DutySpec {
    /// Binds the duty to the party the CRM makes responsible for all of its
    /// objectives. Assessors score NOT MET when each side thought the other
    /// did the work, so an objective nobody owns, or owned by a different
    /// party than the duty claims, is an error rather than a guess.
    pub fn assign(self, ownership: &Ownership) -> Result<Duty, AssignError> {
        let mut objectives = Vec::new();
        for control in &self.controls {
            for objective in catalog::resolve(*control)? {
                if !objectives.contains(&objective) {
                    objectives.push(objective);
                }
            }
        }
        let mut responsible: Option<(ObjectiveId, Party)> = None;
        for &objective in &objectives {
            let row = ownership
                .row(objective)
                .ok_or(AssignError::Unowned { objective })?;
            let location = row.location.clone();
            let party = match (&row.assignment, self.party) {
                (Assignment::NotApplicable { .. }, _) => {
                    return Err(AssignError::NotApplicable {
                        objective,
                        location,
                    });
                }
                (Assignment::Shared { .. }, Some(party)) => party,
                (Assignment::Shared { .. }, None) => {
                    return Err(AssignError::SharedNeedsParty {
                        objective,
                        location,
                    });
                }
                (Assignment::Contractor { .. }, said) | (Assignment::Msp { .. }, said) => {
                    let owner = if matches!(row.assignment, Assignment::Msp { .. }) {
                        Party::Msp
                    } else {
                        Party::Contractor
                    };
                    if let Some(said) = said.filter(|said| *said != owner) {
                        return Err(AssignError::PartyMismatch {
                            objective,
                            said,
                            owner,
                            location,
                        });
                    }
                    owner
                }
            };
            match responsible {
                None => responsible = Some((objective, party)),
                Some((first, first_party)) if first_party != party => {
                    return Err(AssignError::Mixed {
                        first,
                        first_party,
                        second: objective,
                        second_party: party,
                    });
                }
                Some(_) => {}
            }
        }
        let Some((_, responsible)) = responsible else {
            // `controls` was empty; config loading rejects that first.
            return Err(AssignError::NoObjectives);
        };
        Ok(Duty {
            id: self.id,
            title: self.title,
            objectives,
            responsible,
            source: self.source,
            max_age: self.max_age,
            zone: self.zone,
            rule: self.rule,
        })
    }
}

/// Which evidence a duty needs from the store at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvidenceWindow {
    /// The newest snapshot is the whole story (an incident list holds every open incident).
    Latest,
    /// Every snapshot from this instant on, plus the one before it.
    Since(jiff::Timestamp),
    /// Of [`Since`](EvidenceWindow::Since)'s snapshots, the newest of each origin (each file
    /// a glob matched, each URL): a source of one file per period keeps every period's
    /// file, and a file corrected in place counts only as corrected.
    NewestPerOrigin(jiff::Timestamp),
    /// Everything: hand-added evidence, one completion per row.
    All,
}

impl EvidenceWindow {
    /// From when the store's snapshots are read (the one before it included); `None`: all.
    pub fn since(self, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        match self {
            EvidenceWindow::Latest => Some(now),
            EvidenceWindow::Since(at) | EvidenceWindow::NewestPerOrigin(at) => Some(at),
            EvidenceWindow::All => None,
        }
    }
}

impl Duty {
    pub fn evidence_window(&self, now: jiff::Timestamp, manual: bool) -> EvidenceWindow {
        match &self.rule {
            Rule::Recurring(_) if manual => EvidenceWindow::All,
            Rule::Recurring(rule) => {
                // Two periods back (and the snapshot before), the newest of each file: the
                // last quarter's `access-review-*.csv` keeps its sign-off when this quarter's
                // file arrives still pending, and a completion a period overdue is still
                // found, so the duty reads lapsed, not unevidenced. A tenth more (a week at
                // least) for calendar months longer than `approx_secs` counts them.
                let period = rule.every.approx_secs();
                let back = period
                    .saturating_mul(2)
                    .saturating_add((period / 10).max(7 * 86_400));
                EvidenceWindow::NewestPerOrigin(
                    now.saturating_sub(jiff::SignedDuration::from_secs(back))
                        .unwrap_or(jiff::Timestamp::MIN),
                )
            }
            Rule::EventClock(_) => EvidenceWindow::Latest,
            Rule::Continuous(rule) => {
                // Enough history that a failure run longer than the
                // tolerance is visible as one.
                let back = rule
                    .tolerance
                    .as_secs()
                    .saturating_mul(2)
                    .saturating_add(self.max_age.map_or(0, Period::as_secs));
                EvidenceWindow::Since(
                    now.saturating_sub(jiff::SignedDuration::from_secs(back))
                        .unwrap_or(jiff::Timestamp::MIN),
                )
            }
        }
    }
}
