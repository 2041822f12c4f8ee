//! The standard duty library: for each requirement its duty kind, a default cadence no longer
//! than a year, and where that cadence comes from; and the derivation of manual attestation
//! duties from a CRM for every owned objective that no hand-written duty watches.
//!
//! The facts are `library/periodic-duties.csv` (compiled in, read at first use). Its columns:
//! `requirement` (ids, `a/b` lists and `a-b` ranges, or a program-level name), `kind` (`REC`
//! recurring, `CONT` continuous, `EVT` event clock, `POL` one-off policy, joined by `+`, the
//! first one leading), the DoD CMMC Assessment Guide L2 example, the FedRAMP Moderate rev5
//! parameter, `suggested_default` and `typical_evidence`. The default cadence is the shortest
//! frequency `suggested_default` names; its origin is the assessment-guide example when that
//! names the same frequency, else the FedRAMP parameter when it does, else common practice.
//! A row that names no frequency, and a requirement the file does not list, gets `1 year`, the
//! ceiling 32 CFR 170.4 puts on "periodically", and says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;

use crate::catalog::{self, ControlRef, ObjectiveId, RequirementId};
use crate::crm::{Assignment, Ownership, Responsibility};
use crate::duty::{Duty, DutyId, Recurring, Rule};
use crate::party::Party;
use crate::period::Period;
use crate::time::Cadence;

const DATA: &str = include_str!("library/periodic-duties.csv");

/// The source id of hand-added evidence (`dutywatch evidence add`).
pub const MANUAL_SOURCE: &str = "manual";

/// The longest cadence a recurring duty may have: 32 CFR 170.4 reads "periodically" as at
/// least annually. `1 year`, `12 months` and `365d` pass; `13 months` and `366d` do not.
const YEAR_SECS: i64 = 365 * 86_400;

/// A person attests no more often than weekly: a daily technical check is a connector's work,
/// and an attestation stands in for it until one watches the requirement.
const SHORTEST_ATTESTATION_DAYS: i64 = 7;

/// What kind of duty a requirement is, per the file's `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DutyKind {
    /// `REC`: done every so often (a review, a training).
    Recurring,
    /// `CONT`: a technical condition that must hold.
    Continuous,
    /// `EVT`: a clock each event starts (an incident, a departure).
    Event,
    /// `POL`: a policy written once and kept current.
    Policy,
}

impl DutyKind {
    fn from_code(code: &str) -> Option<DutyKind> {
        match code {
            "REC" => Some(DutyKind::Recurring),
            "CONT" => Some(DutyKind::Continuous),
            "EVT" => Some(DutyKind::Event),
            "POL" => Some(DutyKind::Policy),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DutyKind::Recurring => "recurring",
            DutyKind::Continuous => "continuous",
            DutyKind::Event => "event",
            DutyKind::Policy => "policy",
        }
    }
}

/// Where a default cadence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// An example in the DoD CMMC Assessment Guide, Level 2.
    AssessmentGuide,
    /// A FedRAMP Moderate (rev5, SP 800-53) organisation-defined parameter.
    FedrampModerate,
    /// Common practice: the file's suggestion, with no published value behind it.
    CommonPractice,
    /// Nothing given: `1 year`, the 32 CFR 170.4 ceiling.
    NotGiven,
    /// Set by a `[[library.override]]`.
    Override,
    /// The CRM row's verification text names it ("Quarterly: review the patch report").
    CrmVerification,
    /// The contractor's verification of the MSP where the CRM names no frequency: the
    /// library's cadence for the requirement, but not more often than quarterly.
    VerificationDefault,
    /// A not-applicable row is re-confirmed once a year.
    NotApplicableReview,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::AssessmentGuide => "DoD assessment-guide example",
            Origin::FedrampModerate => "FedRAMP Moderate parameter",
            Origin::CommonPractice => "common practice",
            Origin::NotGiven => "no cadence given: 1 year, the 32 CFR 170.4 ceiling",
            Origin::Override => "config override",
            Origin::CrmVerification => "the CRM row's verification text",
            Origin::VerificationDefault => {
                "no frequency in the CRM's verification text: the library's cadence, at most quarterly"
            }
            Origin::NotApplicableReview => "a not-applicable row is re-confirmed at least annually",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One row of the library file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The file's line (the header is line 1).
    pub line: usize,
    /// The `requirement` cell as written.
    pub label: String,
    /// The requirements the row speaks for; empty for a program-level row ("Annual
    /// affirmation"), which derives no duty here.
    pub requirements: Vec<RequirementId>,
    /// The kinds in the file's order; the first leads.
    pub kinds: Vec<DutyKind>,
    /// The default cadence, at most a year.
    pub cadence: Cadence,
    pub origin: Origin,
    /// The cell the cadence was read from (`suggested_default`).
    pub suggested: String,
    pub assessment_guide: String,
    pub fedramp: String,
    pub evidence: String,
}

impl Entry {
    pub fn kind(&self) -> DutyKind {
        self.kinds.first().copied().unwrap_or(DutyKind::Recurring)
    }
}

/// A problem in the library file, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("library/periodic-duties.csv line {line}: {message}")]
pub struct LibraryError {
    pub line: usize,
    pub message: String,
}

/// The parsed library.
#[derive(Debug)]
pub struct Library {
    entries: Vec<Entry>,
    by_requirement: BTreeMap<RequirementId, usize>,
}

/// The library, parsed at first use.
pub fn library() -> Result<&'static Library, &'static LibraryError> {
    static LIBRARY: OnceLock<Result<Library, LibraryError>> = OnceLock::new();
    LIBRARY.get_or_init(|| Library::parse(DATA)).as_ref()
}

/// What the library says about one requirement: its row's facts, or the `1 year` default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Default<'a> {
    pub entry: Option<&'a Entry>,
    pub kind: Option<DutyKind>,
    pub cadence: Cadence,
    pub origin: Origin,
}

impl Library {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, requirement: RequirementId) -> Option<&Entry> {
        self.by_requirement
            .get(&requirement)
            .and_then(|&index| self.entries.get(index))
    }

    /// The library's default for `requirement`; one the file does not list is a `1 year`
    /// recurring attestation.
    pub fn default_for(&self, requirement: RequirementId) -> Default<'_> {
        match self.entry(requirement) {
            Some(entry) => Default {
                entry: Some(entry),
                kind: Some(entry.kind()),
                cadence: entry.cadence,
                origin: entry.origin,
            },
            None => Default {
                entry: None,
                kind: None,
                cadence: one_year(),
                origin: Origin::NotGiven,
            },
        }
    }

    /// The cadence of the manual attestation that stands in for the requirement: the
    /// library's cadence, but no more often than weekly (see [`SHORTEST_ATTESTATION_DAYS`]).
    pub fn attestation_cadence(&self, requirement: RequirementId) -> Cadence {
        let cadence = self.default_for(requirement).cadence;
        if cadence.approx_secs() < SHORTEST_ATTESTATION_DAYS * 86_400 {
            weekly()
        } else {
            cadence
        }
    }

    fn parse(text: &str) -> Result<Library, LibraryError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let mut entries = Vec::new();
        let mut by_requirement = BTreeMap::new();
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            let error = |message: String| LibraryError { line, message };
            let record = record.map_err(|e| error(e.to_string()))?;
            let cell = |i: usize| record.get(i).unwrap_or_default().trim().to_owned();
            if record.len() != 7 {
                return Err(error(format!("{} cells, expected 7", record.len())));
            }
            let label = cell(0);
            let requirements = parse_requirements(&label).map_err(&error)?;
            let kinds = parse_kinds(&cell(1)).map_err(&error)?;
            let (assessment_guide, fedramp, suggested) = (cell(3), cell(4), cell(5));
            let (cadence, origin) = match shortest_frequency(&suggested) {
                Some((cadence, words)) => {
                    let origin = if mentions(&assessment_guide, words) {
                        Origin::AssessmentGuide
                    } else if mentions(&fedramp, words) {
                        Origin::FedrampModerate
                    } else {
                        Origin::CommonPractice
                    };
                    (cadence, origin)
                }
                None => (one_year(), Origin::NotGiven),
            };
            for &requirement in &requirements {
                if catalog::requirement(requirement).is_none() {
                    return Err(error(format!("{requirement} is not in the catalog")));
                }
                if by_requirement.insert(requirement, entries.len()).is_some() {
                    return Err(error(format!("{requirement} is listed twice")));
                }
            }
            entries.push(Entry {
                line,
                label,
                requirements,
                kinds,
                cadence,
                origin,
                suggested,
                assessment_guide,
                fedramp,
                evidence: cell(6),
            });
        }
        Ok(Library {
            entries,
            by_requirement,
        })
    }
}

fn one_year() -> Cadence {
    Cadence::from_months(12)
}

fn weekly() -> Cadence {
    Cadence::from_days(7)
}

/// `3.1.1/3.1.2`, `3.5.7-3.5.9`; a cell not starting with `3.` is a program-level row.
fn parse_requirements(label: &str) -> Result<Vec<RequirementId>, String> {
    if !label.starts_with("3.") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in label.split('/') {
        let part = part.trim();
        let parse = |text: &str| {
            text.trim()
                .parse::<RequirementId>()
                .map_err(|e| e.to_string())
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (parse(first)?, parse(last)?);
                if first.family() != last.family() || first.number() > last.number() {
                    return Err(format!("`{part}` is not a range within one family"));
                }
                for number in first.number()..=last.number() {
                    out.extend(RequirementId::new(first.family(), number));
                }
            }
            None => out.push(parse(part)?),
        }
    }
    Ok(out)
}

/// `REC+EVT`, `EVT(+REC)`: codes joined by `+`, parentheses ignored.
fn parse_kinds(cell: &str) -> Result<Vec<DutyKind>, String> {
    cell.split('+')
        .map(|code| code.trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace()))
        .map(|code| {
            DutyKind::from_code(code)
                .ok_or_else(|| format!("kind `{code}` is none of REC, CONT, EVT, POL"))
        })
        .collect()
}

/// The frequencies the file's texts use, shortest first, with the words that say them.
const FREQUENCIES: [(i64, u32, &[&str]); 6] = [
    (1, 0, &["daily", "every day", "each day", "once a day"]),
    (7, 0, &["weekly", "every week", "each week", "once a week"]),
    (
        0,
        1,
        &["monthly", "every month", "each month", "once a month"],
    ),
    (
        0,
        3,
        &["quarterly", "every quarter", "each quarter", "three months"],
    ),
    // Before "annual", which "semi-annual" contains.
    (
        0,
        6,
        &[
            "semi-annual",
            "semiannual",
            "twice a year",
            "every six months",
            "half-yearly",
        ],
    ),
    (0, 12, &["annual", "yearly", "every year", "each year"]),
];

fn shortest_frequency(text: &str) -> Option<(Cadence, &'static [&'static str])> {
    FREQUENCIES
        .iter()
        .find(|(_, _, words)| mentions(text, words))
        .map(|&(days, months, words)| {
            let cadence = if months > 0 {
                Cadence::from_months(months)
            } else {
                Cadence::from_days(days)
            };
            (cadence, words)
        })
}

fn mentions(text: &str, words: &[&str]) -> bool {
    let text = text.to_ascii_lowercase();
    words.iter().any(|word| text.contains(word))
}

/// `every` for a recurring duty: at most a year.
pub fn check_every(every: Cadence, text: &str) -> Result<(), String> {
    if every.approx_secs() > YEAR_SECS {
        Err(format!(
            "`{text}` is longer than a year: 32 CFR 170.4 defines \"periodically\" as at least annually, so a recurring duty's `every` may be at most `1 year`"
        ))
    } else {
        Ok(())
    }
}

/// A sixth of the period, at most 30 days, as a configured recurring duty warns.
pub fn default_warning(every: Cadence) -> Period {
    Period::from_secs((every.approx_secs() / 6).min(30 * 86_400))
}

/// A `[[library.override]]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub control: ControlRef,
    pub action: OverrideAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OverrideAction {
    Every(Cadence),
    Disable { reason: String },
}

/// Who watches one side of one objective.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "watch", rename_all = "snake_case")]
pub enum Watch {
    /// A duty watches it.
    Duty {
        duty: String,
        /// `hand-written` or `library`.
        by: &'static str,
        rule: &'static str,
        /// The recurring cadence, or what the rule judges.
        cadence: String,
        origin: String,
    },
    /// Nothing watches it, and why.
    Unwatched { reason: String },
}

/// One party's side of an objective.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub party: Party,
    /// Does the work, verifies the MSP's part, or re-confirms that it does not apply.
    pub role: Role,
    #[serde(flatten)]
    pub watch: Watch,
}

/// What a side of an objective owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The party's share of the work the CRM row describes.
    Does,
    /// The contractor checks the MSP's share (the row's `verification`): the contractor stays
    /// accountable for work it handed over.
    Verifies,
    /// The contractor re-confirms that a not-applicable row still does not apply.
    Reconfirms,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Does => "does",
            Role::Verifies => "verifies",
            Role::Reconfirms => "reconfirms",
        }
    }
}

/// One objective of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    #[serde(serialize_with = "display")]
    pub objective: ObjectiveId,
    /// `None` when no CRM row decides it.
    pub owner: Option<Responsibility>,
    /// The deciding CRM row.
    pub location: Option<String>,
    /// The library's kind and cadence for the requirement.
    pub library_kind: Option<DutyKind>,
    /// One per party with work to do.
    pub sides: Vec<Side>,
    /// Why nobody watches it, for an objective without sides (not applicable, no owner).
    pub unwatched: Option<String>,
}

fn display<S: serde::Serializer, T: fmt::Display>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

impl PlanRow {
    /// Whether some party with work to do has no duty watching it.
    pub fn has_gap(&self) -> bool {
        self.owner.is_none()
            || self
                .sides
                .iter()
                .any(|side| matches!(side.watch, Watch::Unwatched { .. }))
    }
}

/// What the CRM yields: a row per catalog objective, and the library's duties.
#[derive(Debug, Clone)]
pub struct Derivation {
    pub duties: Vec<Duty>,
    pub plan: Vec<PlanRow>,
}

/// The library's settings for one contractor.
#[derive(Debug, Clone, PartialEq, std::default::Default)]
pub struct Settings {
    pub enabled: bool,
    pub overrides: Vec<Override>,
}

impl Settings {
    /// The override for `objective`: one naming the objective beats one naming its
    /// requirement.
    fn override_for(&self, objective: ObjectiveId) -> Option<&Override> {
        self.overrides
            .iter()
            .find(|o| o.control == ControlRef::Objective(objective))
            .or_else(|| {
                self.overrides
                    .iter()
                    .find(|o| o.control == ControlRef::Requirement(objective.requirement()))
            })
    }
}

/// Derives the library's duties from `ownership`, given the `hand` duties already bound to
/// it: one manual attestation per (requirement, party) over the objectives that party owns
/// and no hand-written duty watches for it; an objective whose override sets another
/// cadence than its requirement's gets a duty of its own (`lib-3.1.1.a-contractor`).
pub fn derive(
    library: &Library,
    ownership: &Ownership<'_>,
    hand: &[Duty],
    settings: &Settings,
    zone: &jiff::tz::TimeZone,
) -> Derivation {
    let watched_by_hand: BTreeMap<(ObjectiveId, Party), &Duty> = hand
        .iter()
        .flat_map(|duty| {
            duty.objectives
                .iter()
                .map(move |&objective| ((objective, duty.responsible), duty))
        })
        .collect();
    // (requirement, party, role, own objective or None) → (cadence, origin, objectives)
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut plan = Vec::new();
    for objective in catalog::objectives() {
        let requirement = objective.requirement();
        let default = library.default_for(requirement);
        let row = ownership.row(objective);
        let mut plan_row = PlanRow {
            objective,
            owner: row.map(|row| row.assignment.responsible()),
            location: row.map(|row| row.location.to_string()),
            library_kind: default.kind,
            sides: Vec::new(),
            unwatched: None,
        };
        let Some(row) = row else {
            plan_row.unwatched = Some("no CRM row gives it an owner".to_owned());
            plan.push(plan_row);
            continue;
        };
        let disabled = match settings.override_for(objective) {
            Some(Override {
                action: OverrideAction::Disable { reason },
                control,
            }) => Some(format!("library duty disabled for {control}: {reason}")),
            _ => None,
        };
        // What the library adds for one side, or why it adds nothing.
        let mut library_side = |role: Role, party: Party, (cadence, origin): (Cadence, Origin)| {
            if !settings.enabled {
                return Watch::Unwatched {
                    reason: "no duty watches it; `[library] enabled = true` would add a manual attestation".to_owned(),
                };
            }
            if let Some(reason) = &disabled {
                return Watch::Unwatched {
                    reason: reason.clone(),
                };
            }
            let own = match role {
                Role::Does => {
                    let whole = attestation(library, settings, requirement, None).0;
                    (cadence != whole).then_some(objective)
                }
                Role::Verifies | Role::Reconfirms => None,
            };
            let group = groups
                .entry(GroupKey {
                    requirement,
                    party,
                    role,
                    own,
                })
                .or_insert_with(|| (cadence, origin, Vec::new()));
            // Rows of one requirement may name different frequencies: the shortest holds.
            if cadence.approx_secs() < group.0.approx_secs() {
                (group.0, group.1) = (cadence, origin);
            }
            group.2.push(objective);
            Watch::Duty {
                duty: duty_id(requirement, party, role, own),
                by: "library",
                rule: "recurring",
                cadence: cadence.to_string(),
                origin: origin_text(library, requirement, origin),
            }
        };
        if let Assignment::NotApplicable { justification } = &row.assignment {
            let watch = library_side(
                Role::Reconfirms,
                Party::Contractor,
                (one_year(), Origin::NotApplicableReview),
            );
            if matches!(watch, Watch::Unwatched { .. }) {
                plan_row.unwatched = Some(format!("not applicable: {justification}"));
            } else {
                plan_row.sides.push(Side {
                    party: Party::Contractor,
                    role: Role::Reconfirms,
                    watch,
                });
            }
            plan.push(plan_row);
            continue;
        }
        for &party in row.assignment.responsible().parties() {
            let watch = if let Some(duty) = watched_by_hand.get(&(objective, party)) {
                hand_watch(duty)
            } else {
                let cadence = attestation(library, settings, requirement, Some(objective));
                library_side(Role::Does, party, cadence)
            };
            plan_row.sides.push(Side {
                party,
                role: Role::Does,
                watch,
            });
        }
        // The MSP's share is the contractor's to verify: accountability stays with it.
        if row.assignment.responsible().parties().contains(&Party::Msp) {
            let cadence = verification_cadence(library, requirement, row.assignment.verification());
            let watch = library_side(Role::Verifies, Party::Contractor, cadence);
            plan_row.sides.push(Side {
                party: Party::Contractor,
                role: Role::Verifies,
                watch,
            });
        }
        plan.push(plan_row);
    }
    let mut duties: Vec<Duty> = groups
        .into_iter()
        .filter_map(|(key, (every, origin, objectives))| {
            library_duty(library, zone, key, every, origin, objectives)
        })
        .collect();
    if settings.enabled {
        let parties: BTreeSet<Party> = plan
            .iter()
            .filter_map(|row| row.owner)
            .flat_map(|owner| owner.parties().iter().copied())
            .collect();
        duties.extend(
            parties
                .into_iter()
                .filter_map(|party| crm_review_duty(party, zone)),
        );
    }
    Derivation { duties, plan }
}

/// The requirement a CRM review serves: the SSP describes the system and how each requirement
/// is met, and the CRM is the part of it that says who meets it.
const CRM_REVIEW_REQUIREMENT: &str = "3.12.4";

/// Each party with work under the CRM reviews it at least yearly, and again whenever the file
/// changes: the engine counts only reviews done since the CRM's current version appeared.
fn crm_review_duty(party: Party, zone: &jiff::tz::TimeZone) -> Option<Duty> {
    let requirement: RequirementId = CRM_REVIEW_REQUIREMENT.parse().ok()?;
    let every = one_year();
    Some(Duty {
        id: crm_review_id(party).parse().ok()?,
        title: format!(
            "The CRM: {party} reviews and re-confirms it every {every} and whenever it changes \
             (part of the SSP, {requirement}; 32 CFR 170.4 ceiling)"
        ),
        objectives: catalog::objectives()
            .filter(|objective| objective.requirement() == requirement)
            .collect(),
        responsible: party,
        source: MANUAL_SOURCE.to_owned(),
        max_age: None,
        zone: zone.clone(),
        rule: Rule::Recurring(Recurring {
            every,
            warn_before: default_warning(every),
            completed_at: "completed_at".parse().ok()?,
            filter: None,
        }),
    })
}

const CRM_REVIEW_PREFIX: &str = "lib-crm-review-";

/// `lib-crm-review-contractor`, `lib-crm-review-msp`.
pub fn crm_review_id(party: Party) -> String {
    format!("{CRM_REVIEW_PREFIX}{party}")
}

/// Whether `duty` is a review of the CRM, which a change of the CRM file makes due again.
pub fn is_crm_review(duty: &DutyId) -> bool {
    duty.as_str().starts_with(CRM_REVIEW_PREFIX)
}

/// One library duty: a requirement's share for one party and role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey {
    requirement: RequirementId,
    party: Party,
    role: Role,
    /// An objective with a cadence of its own.
    own: Option<ObjectiveId>,
}

type Group = (Cadence, Origin, Vec<ObjectiveId>);

fn library_duty(
    library: &Library,
    zone: &jiff::tz::TimeZone,
    key: GroupKey,
    every: Cadence,
    origin: Origin,
    objectives: Vec<ObjectiveId>,
) -> Option<Duty> {
    let GroupKey {
        requirement,
        party,
        role,
        own,
    } = key;
    let id: DutyId = duty_id(requirement, party, role, own).parse().ok()?;
    let title = catalog::requirement(requirement).map_or("", |r| r.title);
    let scope = match own {
        Some(objective) => objective.to_string(),
        None => requirement.to_string(),
    };
    let origin = origin_text(library, requirement, origin);
    let (title, filter) = match role {
        Role::Does => (
            format!("{scope} {title}: {party} attests its part every {every} ({origin})"),
            None,
        ),
        // A verification that found the MSP's share undone is kept for the record but
        // does not complete the duty: the contractor verifies again once the MSP has fixed it.
        Role::Verifies => (
            format!(
                "{scope} {title}: the contractor verifies the MSP's part every {every} ({origin})"
            ),
            Some(
                format!("outcome == '{}'", Outcome::Satisfied.as_str())
                    .parse()
                    .ok()?,
            ),
        ),
        Role::Reconfirms => (
            format!(
                "{scope} {title}: the contractor re-confirms it does not apply every {every} ({origin})"
            ),
            None,
        ),
    };
    Some(Duty {
        id,
        title,
        objectives,
        responsible: party,
        source: MANUAL_SOURCE.to_owned(),
        max_age: None,
        zone: zone.clone(),
        rule: Rule::Recurring(Recurring {
            every,
            warn_before: default_warning(every),
            completed_at: "completed_at".parse().ok()?,
            filter,
        }),
    })
}

/// How often the contractor verifies the MSP's share of `requirement`: the frequency the
/// CRM's verification text names, else the library's cadence for the requirement but not
/// more often than quarterly (a provider's reports come monthly or quarterly; checking them
/// weekly proves nothing more).
fn verification_cadence(
    library: &Library,
    requirement: RequirementId,
    text: Option<&str>,
) -> (Cadence, Origin) {
    if let Some((cadence, _)) = text.and_then(shortest_frequency) {
        // A person verifies no more often than weekly, as for attestations.
        let cadence = if cadence.approx_secs() < SHORTEST_ATTESTATION_DAYS * 86_400 {
            weekly()
        } else {
            cadence
        };
        return (cadence, Origin::CrmVerification);
    }
    let quarterly = Cadence::from_months(3);
    let cadence = library.default_for(requirement).cadence;
    if cadence.approx_secs() < quarterly.approx_secs() {
        (quarterly, Origin::VerificationDefault)
    } else {
        (cadence, Origin::VerificationDefault)
    }
}

/// What a verification of the MSP found (`dutywatch evidence add --outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The MSP's share is done as the CRM says.
    Satisfied,
    /// It is not: the finding is recorded, and the duty stays open.
    NotSatisfied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Satisfied => "satisfied",
            Outcome::NotSatisfied => "not_satisfied",
        }
    }
}

/// Whether `duty` is a contractor's verification of the MSP (`ver-3.14.1`), whose evidence
/// must say what was looked at and what it found.
pub fn is_verification(duty: &DutyId) -> bool {
    duty.as_str().starts_with(VERIFICATION_PREFIX)
}

const VERIFICATION_PREFIX: &str = "ver-";

/// The id of the contractor's verification of the MSP's share of `requirement`: `ver-3.14.1`.
pub fn verification_id(requirement: RequirementId) -> String {
    format!("{VERIFICATION_PREFIX}{requirement}")
}

/// Whether `duty` is one the library derived (`lib-…`, `ver-…`) rather than a hand-written
/// one. Hand-written ids cannot take these prefixes (`config::duty` refuses them).
pub fn is_derived(duty: &DutyId) -> bool {
    is_derived_id(duty.as_str())
}

/// [`is_derived`] of a duty id as stored and shown (`status`, the store's rows).
pub fn is_derived_id(duty: &str) -> bool {
    duty.starts_with("lib-") || duty.starts_with(VERIFICATION_PREFIX)
}

/// `lib-3.1.1-contractor` (`lib-3.1.1.a-msp` for an objective with a cadence of its own),
/// `ver-3.1.1` for the contractor's verification of the MSP, `lib-na-3.1.3` for the
/// re-confirmation of a not-applicable row.
fn duty_id(
    requirement: RequirementId,
    party: Party,
    role: Role,
    own: Option<ObjectiveId>,
) -> String {
    match role {
        Role::Does => library_duty_id(requirement, party, own),
        Role::Verifies => verification_id(requirement),
        Role::Reconfirms => format!("lib-na-{requirement}"),
    }
}

/// `lib-3.1.1-contractor`, or `lib-3.1.1.a-msp` for an objective with a cadence of its own.
pub fn library_duty_id(
    requirement: RequirementId,
    party: Party,
    own: Option<ObjectiveId>,
) -> String {
    match own {
        Some(objective) => format!("lib-{requirement}.{}-{party}", objective.letter()),
        None => format!("lib-{requirement}-{party}"),
    }
}

/// The attestation cadence for `objective` (or the requirement as a whole) and its origin.
fn attestation(
    library: &Library,
    settings: &Settings,
    requirement: RequirementId,
    objective: Option<ObjectiveId>,
) -> (Cadence, Origin) {
    let chosen = match objective {
        Some(objective) => settings.override_for(objective),
        None => settings
            .overrides
            .iter()
            .find(|o| o.control == ControlRef::Requirement(requirement)),
    };
    match chosen {
        Some(Override {
            action: OverrideAction::Every(every),
            ..
        }) => (*every, Origin::Override),
        _ => (
            library.attestation_cadence(requirement),
            library.default_for(requirement).origin,
        ),
    }
}

/// The origin with what the library says about the requirement.
fn origin_text(library: &Library, requirement: RequirementId, origin: Origin) -> String {
    let default = library.default_for(requirement);
    let mut text = match (origin, default.entry) {
        (Origin::Override | Origin::NotApplicableReview, _)
        | (Origin::CrmVerification | Origin::VerificationDefault, None) => {
            origin.describe().to_owned()
        }
        (_, None) => {
            format!("{requirement} is not in the library: 1 year, the 32 CFR 170.4 ceiling")
        }
        (Origin::NotGiven, Some(entry)) => format!(
            "the library gives no cadence for {} ({}): 1 year, the 32 CFR 170.4 ceiling",
            entry.label, entry.suggested
        ),
        (origin, Some(entry)) => format!("{origin}; library: {}", entry.suggested),
    };
    let attested = matches!(
        origin,
        Origin::AssessmentGuide
            | Origin::FedrampModerate
            | Origin::CommonPractice
            | Origin::NotGiven
    );
    if attested && library.attestation_cadence(requirement) != default.cadence {
        text.push_str("; attested weekly by hand until a connector checks it");
    }
    text
}

fn hand_watch(duty: &Duty) -> Watch {
    let cadence = match &duty.rule {
        Rule::Recurring(rule) => rule.every.to_string(),
        Rule::Continuous(rule) => format!("continuous, tolerance {}", rule.tolerance),
        Rule::EventClock(rule) => {
            let steps: Vec<String> = rule
                .steps
                .iter()
                .map(|s| format!("{} within {}", s.name, s.within))
                .collect();
            format!("per event: {}", steps.join(", "))
        }
    };
    Watch::Duty {
        duty: duty.id.to_string(),
        by: "hand-written",
        rule: duty.rule.kind(),
        cadence,
        origin: format!("source `{}`", duty.source),
    }
}

/// Objectives with a party whose side nobody watches, for tests and summaries.
pub fn gaps(plan: &[PlanRow]) -> BTreeSet<ObjectiveId> {
    plan.iter()
        .filter(|row| {
            row.owner
                .is_some_and(|o| o != Responsibility::NotApplicable)
        })
        .filter(|row| row.has_gap())
        .map(|row| row.objective)
        .collect()
}

#[cfg(test)]
mod tests;
