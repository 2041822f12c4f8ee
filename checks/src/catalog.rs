//! The NIST SP 800-171 rev2 catalog: 14 families, 110 requirements, 320 assessment objectives.
//!
//! Every id a CRM row names is checked against this table, so it is compiled in (no data file
//! to go missing at runtime) and ids are small `Copy` values. Parsing an id checks only its
//! shape; whether it exists is a separate question answered by [`requirement`] and [`resolve`].
//! That split lets the CRM linter report "3.1.99 does not exist" at the row's line instead of
//! failing to read the row at all.

mod table;

use std::{cmp::Ordering, fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Rev2 has families 3.1 to 3.14; ids outside that range cannot name anything.
const FAMILY_COUNT: u8 = 14;

/// Objectives are lettered `[a]` to `[z]`, so a letter index is below this.
const OBJECTIVE_LETTERS: u8 = 26;

/// A NIST SP 800-171 rev2 requirement number such as `3.1.1`.
///
/// The family is always 1 to 14 and the number at least 1; the requirement itself may not
/// exist (see [`requirement`]). Orders numerically, so `3.1.2 < 3.1.10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequirementId {
    // Field order gives the derived numeric ordering.
    family: u8,
    number: u8,
}

impl RequirementId {
    /// `None` when `family` is not 1 to 14 or `number` is 0.
    pub const fn new(family: u8, number: u8) -> Option<Self> {
        if family >= 1 && family <= FAMILY_COUNT && number >= 1 {
            Some(Self { family, number })
        } else {
            None
        }
    }

    /// The family number, 1 to 14 (the `1` in `3.1.2`).
    pub const fn family(self) -> u8 {
        self.family
    }

    /// The requirement number within its family (the `2` in `3.1.2`).
    pub const fn number(self) -> u8 {
        self.number
    }
}

impl fmt::Display for RequirementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "3.{}.{}", self.family, self.number)
    }
}

impl FromStr for RequirementId {
    type Err = ParseControlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_control(s, Expected::Requirement)? {
            ControlRef::Requirement(id) => Ok(id),
            ControlRef::Objective(_) => Err(ParseControlError::new(
                s,
                Problem::UnexpectedObjective,
                Expected::Requirement,
            )),
        }
    }
}

/// One assessment objective of a requirement, such as `3.1.1[a]` (NIST SP 800-171A).
///
/// The letter is always `a` to `z`; the objective itself may not exist (see [`resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectiveId {
    // Field order gives "by requirement, then by letter".
    requirement: RequirementId,
    index: u8,
}

impl ObjectiveId {
    /// `index` 0 is `[a]`; `None` past `[z]`.
    pub const fn new(requirement: RequirementId, index: u8) -> Option<Self> {
        if index < OBJECTIVE_LETTERS {
            Some(Self { requirement, index })
        } else {
            None
        }
    }

    /// The objective with this letter (either case); `None` for anything but `a` to `z`.
    pub fn from_letter(requirement: RequirementId, letter: char) -> Option<Self> {
        let letter = letter.to_ascii_lowercase();
        if letter.is_ascii_lowercase() {
            Self::new(requirement, letter as u8 - b'a')
        } else {
            None
        }
    }

    pub const fn requirement(&self) -> RequirementId {
        self.requirement
    }

    /// Zero-based position within the requirement: `[a]` is 0.
    pub const fn index(&self) -> u8 {
        self.index
    }

    pub const fn letter(&self) -> char {
        (b'a' + self.index) as char
    }
}

impl fmt::Display for ObjectiveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.requirement, self.letter())
    }
}

impl FromStr for ObjectiveId {
    type Err = ParseControlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_control(s, Expected::Objective)? {
            ControlRef::Objective(id) => Ok(id),
            ControlRef::Requirement(_) => Err(ParseControlError::new(
                s,
                Problem::MissingObjective,
                Expected::Objective,
            )),
        }
    }
}

/// What a CRM row addresses: a whole requirement or one of its objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRef {
    Requirement(RequirementId),
    Objective(ObjectiveId),
}

impl ControlRef {
    /// The requirement addressed, or the one the objective belongs to.
    pub const fn requirement(self) -> RequirementId {
        match self {
            Self::Requirement(id) => id,
            Self::Objective(id) => id.requirement,
        }
    }

    pub const fn objective(self) -> Option<ObjectiveId> {
        match self {
            Self::Requirement(_) => None,
            Self::Objective(id) => Some(id),
        }
    }

    /// Requirement first, then a requirement before its objectives.
    fn sort_key(self) -> (RequirementId, Option<u8>) {
        (self.requirement(), self.objective().map(|o| o.index))
    }
}

impl Ord for ControlRef {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for ControlRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<RequirementId> for ControlRef {
    fn from(id: RequirementId) -> Self {
        Self::Requirement(id)
    }
}

impl From<ObjectiveId> for ControlRef {
    fn from(id: ObjectiveId) -> Self {
        Self::Objective(id)
    }
}

impl fmt::Display for ControlRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requirement(id) => id.fmt(f),
            Self::Objective(id) => id.fmt(f),
        }
    }
}

impl FromStr for ControlRef {
    type Err = ParseControlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_control(s, Expected::Control)
    }
}

impl ControlRef {
    /// Reads the id forms real CRMs use, as well as the canonical ones: `3.1.1[a]`, `3.1.1a`,
    /// `3.1.1.a`, `3.1.1(a)`, `3.1.1 (a)`, and the CMMC practice forms `AC.L2-3.1.1` and
    /// `AC.L2-3.1.1[a]` (whose domain must be the requirement's family). Anything else is
    /// the strict parse's error.
    pub fn parse_lenient(input: &str) -> Result<Self, ParseControlError> {
        let text = input.trim();
        let (domain, rest) = match text.split_once('-') {
            Some((prefix, rest)) => match cmmc_prefix(prefix) {
                Some(domain) => (Some(domain), rest.trim()),
                None => return parse_control(input, Expected::Control),
            },
            None => (None, text),
        };
        // `3.F.N`: the longest run of digits and dots that has exactly three parts.
        let numeric_end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(rest.len(), |(i, _)| i);
        let mut number = &rest[..numeric_end];
        let mut suffix = rest[numeric_end..].trim();
        // `3.1.1.a`: the dot belongs to the letter, not the number.
        if let Some(stripped) = number.strip_suffix('.') {
            number = stripped;
        }
        if number.matches('.').count() != 2 {
            return parse_control(input, Expected::Control);
        }
        let letter = if suffix.is_empty() {
            None
        } else {
            for (open, close) in [('[', ']'), ('(', ')')] {
                if let Some(inner) = suffix
                    .strip_prefix(open)
                    .and_then(|s| s.strip_suffix(close))
                {
                    suffix = inner.trim();
                }
            }
            let mut chars = suffix.chars();
            match (chars.next(), chars.next()) {
                (Some(letter), None) if letter.is_ascii_alphabetic() => Some(letter),
                _ => return parse_control(input, Expected::Control),
            }
        };
        let canonical = match letter {
            Some(letter) => format!("{number}[{}]", letter.to_ascii_lowercase()),
            None => number.to_owned(),
        };
        let control =
            parse_control(&canonical, Expected::Control).map_err(|err| ParseControlError {
                input: text.to_owned(),
                ..err
            })?;
        if let Some(domain) = domain {
            let family = family(control.requirement().family);
            if family.is_some_and(|f| !f.abbrev.eq_ignore_ascii_case(domain)) {
                return Err(ParseControlError::new(
                    input,
                    Problem::WrongDomain {
                        domain: domain.to_owned(),
                        family: control.requirement().family,
                    },
                    Expected::Control,
                ));
            }
        }
        Ok(control)
    }
}

/// The domain of a CMMC practice prefix such as `AC.L2`.
fn cmmc_prefix(prefix: &str) -> Option<&str> {
    let (domain, level) = prefix.trim().split_once('.')?;
    let is_cmmc = domain.len() == 2
        && domain.bytes().all(|b| b.is_ascii_alphabetic())
        && level.len() == 2
        && level.starts_with(['L', 'l'])
        && level.as_bytes()[1].is_ascii_digit();
    is_cmmc.then_some(domain)
}

/// Ids travel as their display strings ("3.1.1", "3.1.1[a]") in JSON and TOML.
macro_rules! serde_as_string {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_string!(RequirementId, ObjectiveId, ControlRef);

/// Text that is not a control id of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {expected} `{input}`: {problem}; expected {}", .expected.forms())]
pub struct ParseControlError {
    input: String,
    problem: Problem,
    expected: Expected,
}

impl ParseControlError {
    fn new(input: &str, problem: Problem, expected: Expected) -> Self {
        Self {
            input: input.trim().to_owned(),
            problem,
            expected,
        }
    }

    /// The offending text, trimmed.
    pub fn input(&self) -> &str {
        &self.input
    }
}

/// Which parse was attempted; decides the wording of the accepted forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Requirement,
    Objective,
    Control,
}

impl Expected {
    fn forms(self) -> &'static str {
        match self {
            Self::Requirement => "a requirement like 3.1.1",
            Self::Objective => "an objective like 3.1.1[a]",
            Self::Control => "a requirement like 3.1.1 or an objective like 3.1.1[a]",
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Requirement => "requirement id",
            Self::Objective => "objective id",
            Self::Control => "control id",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Empty,
    /// Not `3.<family>.<number>` with an optional `[letter]`.
    Shape,
    /// A CMMC practice id such as `AC.L2-3.1.1`; carries the NIST number to suggest.
    CmmcForm(String),
    NoSuchFamily(String),
    /// A requirement number no family has (0, or past 255); carries the family.
    NumberOutOfRange {
        number: String,
        family: u8,
    },
    BadLetter(String),
    /// A CMMC practice whose domain is not the requirement's family (`AC.L2-3.3.1`).
    WrongDomain {
        domain: String,
        family: u8,
    },
    UnexpectedObjective,
    MissingObjective,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the id is empty"),
            Self::Shape => f.write_str("not a NIST SP 800-171 number"),
            Self::CmmcForm(nist) => write!(f, "CMMC practice ids are not accepted, write `{nist}`"),
            Self::NoSuchFamily(family) => {
                write!(
                    f,
                    "family 3.{family} does not exist (families are 3.1 to 3.14)"
                )
            }
            Self::NumberOutOfRange { number, family } => write!(
                f,
                "requirement 3.{family}.{number} does not exist (family 3.{family} has {})",
                family_size(*family)
            ),
            Self::BadLetter(letter) => {
                write!(f, "objective `[{letter}]` is not a single letter a to z")
            }
            Self::WrongDomain {
                domain,
                family: number,
            } => write!(
                f,
                "domain {domain} is not family 3.{number}'s ({})",
                family(*number).map_or("?", |f| f.abbrev)
            ),
            Self::UnexpectedObjective => f.write_str("this names an objective, not a requirement"),
            Self::MissingObjective => f.write_str("the objective letter is missing"),
        }
    }
}

/// Parses `3.F.N` or `3.F.N[x]`, surrounding whitespace allowed.
fn parse_control(input: &str, expected: Expected) -> Result<ControlRef, ParseControlError> {
    let fail = |problem| ParseControlError::new(input, problem, expected);
    let text = input.trim();
    if text.is_empty() {
        return Err(fail(Problem::Empty));
    }
    let (requirement_text, letter_text) = match text.split_once('[') {
        Some((requirement, rest)) => match rest.strip_suffix(']') {
            Some(letter) => (requirement, Some(letter)),
            None => return Err(fail(Problem::Shape)),
        },
        None => (text, None),
    };
    let requirement = parse_requirement(requirement_text).map_err(fail)?;
    let Some(letter_text) = letter_text else {
        return Ok(ControlRef::Requirement(requirement));
    };
    let mut chars = letter_text.chars();
    match (chars.next(), chars.next()) {
        (Some(letter), None) => ObjectiveId::from_letter(requirement, letter)
            .map(ControlRef::Objective)
            .ok_or_else(|| fail(Problem::BadLetter(letter_text.to_owned()))),
        _ => Err(fail(Problem::BadLetter(letter_text.to_owned()))),
    }
}

fn parse_requirement(text: &str) -> Result<RequirementId, Problem> {
    if let Some(nist) = cmmc_suggestion(text) {
        return Err(Problem::CmmcForm(nist));
    }
    let mut parts = text.split('.');
    let (Some("3"), Some(family), Some(number), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Problem::Shape);
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(family) || !all_digits(number) {
        return Err(Problem::Shape);
    }
    let family_number = family
        .parse::<u8>()
        .ok()
        .filter(|f| (1..=FAMILY_COUNT).contains(f))
        .ok_or_else(|| Problem::NoSuchFamily(family.to_owned()))?;
    let number_value = number
        .parse::<u8>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Problem::NumberOutOfRange {
            number: number.to_owned(),
            family: family_number,
        })?;
    RequirementId::new(family_number, number_value).ok_or(Problem::Shape)
}

/// `AC.L2-3.1.1` → `3.1.1`, so the error can say what to write instead.
fn cmmc_suggestion(text: &str) -> Option<String> {
    let (prefix, nist) = text.split_once('-')?;
    let (domain, level) = prefix.split_once('.')?;
    let is_cmmc = domain.len() == 2
        && domain.bytes().all(|b| b.is_ascii_alphabetic())
        && level.len() == 2
        && level.starts_with(['L', 'l']);
    is_cmmc.then(|| nist.to_owned())
}

/// A NIST SP 800-171 rev2 family, e.g. 3.1 Access Control (AC).
#[derive(Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Family {
    /// 1 to 14: the `1` in `3.1`.
    pub number: u8,
    /// The CMMC domain abbreviation, e.g. "AC".
    pub abbrev: &'static str,
    pub name: &'static str,
}

impl Family {
    /// This family's requirements, in catalog order.
    pub fn requirements(&self) -> &'static [Requirement] {
        let all = requirements();
        let start = all.partition_point(|r| r.id.family < self.number);
        let end = all.partition_point(|r| r.id.family <= self.number);
        all.get(start..end).unwrap_or_default()
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "3.{} {} ({})", self.number, self.name, self.abbrev)
    }
}

/// DoD Assessment Methodology §5.d: basic requirements come from FIPS 200, derived ones from
/// SP 800-53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequirementKind {
    Basic,
    Derived,
}

/// Whether a NOT MET requirement may sit on a POA&M for Conditional Level 2 status
/// (32 CFR 170.21(a)(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoamEligibility {
    Eligible,
    NotEligible,
    /// 3.13.11: only when encryption is employed but not FIPS-validated (worth 3 points then).
    OnlyIfEncryptionNotFipsValidated,
}

/// One requirement with the facts dutywatch scores and schedules by.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub id: RequirementId,
    /// The CMMC Level 2 practice id, e.g. "AC.L2-3.1.1".
    pub cmmc_id: &'static str,
    /// A short summary in our own words; not the NIST requirement text.
    pub title: &'static str,
    pub kind: RequirementKind,
    /// SPRS deduction when not met; `None` for 3.12.4, which has no value and instead blocks
    /// the assessment.
    pub points: Option<u8>,
    /// Reduced deduction for partial implementation (3.5.3 and 3.13.11 only).
    pub partial_points: Option<u8>,
    pub poam: PoamEligibility,
    /// One of the 17 requirements matching FAR 52.204-21 basic safeguarding.
    pub far_basic_safeguarding: bool,
    /// Number of NIST SP 800-171A assessment objectives, lettered from `[a]`.
    pub objective_count: u8,
}

impl Requirement {
    pub fn family(&self) -> &'static Family {
        // `RequirementId` keeps the family in 1..=14, and FAMILIES has all 14 in order.
        &FAMILIES[usize::from(self.id.family) - 1]
    }

    /// `[a]` to the last objective, in order.
    pub fn objectives(&self) -> impl Iterator<Item = ObjectiveId> + use<> {
        let requirement = self.id;
        (0..self.objective_count).filter_map(move |index| ObjectiveId::new(requirement, index))
    }
}

static FAMILIES: [Family; FAMILY_COUNT as usize] = [
    new_family(1, "AC", "Access Control"),
    new_family(2, "AT", "Awareness and Training"),
    new_family(3, "AU", "Audit and Accountability"),
    new_family(4, "CM", "Configuration Management"),
    new_family(5, "IA", "Identification and Authentication"),
    new_family(6, "IR", "Incident Response"),
    new_family(7, "MA", "Maintenance"),
    new_family(8, "MP", "Media Protection"),
    new_family(9, "PS", "Personnel Security"),
    new_family(10, "PE", "Physical Protection"),
    new_family(11, "RA", "Risk Assessment"),
    new_family(12, "CA", "Security Assessment"),
    new_family(13, "SC", "System and Communications Protection"),
    new_family(14, "SI", "System and Information Integrity"),
];

const fn new_family(number: u8, abbrev: &'static str, name: &'static str) -> Family {
    Family {
        number,
        abbrev,
        name,
    }
}

/// The 14 families in order.
pub fn families() -> &'static [Family] {
    &FAMILIES
}

/// The family `3.<number>`, if `number` is 1 to 14.
pub fn family(number: u8) -> Option<&'static Family> {
    FAMILIES.get(usize::from(number).checked_sub(1)?)
}

/// All 110 requirements in catalog (numeric) order.
pub fn requirements() -> &'static [Requirement] {
    &table::REQUIREMENTS
}

/// The requirement with this id, if rev2 has it.
pub fn requirement(id: RequirementId) -> Option<&'static Requirement> {
    let all = requirements();
    all.binary_search_by_key(&id, |r| r.id)
        .ok()
        .and_then(|index| all.get(index))
}

/// All 320 assessment objectives in catalog order.
pub fn objectives() -> impl Iterator<Item = ObjectiveId> {
    requirements().iter().flat_map(Requirement::objectives)
}

/// The objectives a control covers: every objective of a requirement, or the objective itself.
pub fn resolve(control: ControlRef) -> Result<Vec<ObjectiveId>, UnknownControl> {
    let unknown = |reason| UnknownControl { control, reason };
    let id = control.requirement();
    let Some(requirement) = requirement(id) else {
        return Err(unknown(Reason::NoSuchRequirement {
            family_size: family_size(id.family),
        }));
    };
    match control {
        ControlRef::Requirement(_) => Ok(requirement.objectives().collect()),
        ControlRef::Objective(objective) if objective.index < requirement.objective_count => {
            Ok(vec![objective])
        }
        ControlRef::Objective(_) => Err(unknown(Reason::NoSuchObjective {
            count: requirement.objective_count,
        })),
    }
}

fn family_size(number: u8) -> usize {
    family(number).map_or(0, |f| f.requirements().len())
}

/// A well-formed id that names nothing in rev2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{}", Describe(self))]
pub struct UnknownControl {
    control: ControlRef,
    reason: Reason,
}

impl UnknownControl {
    /// The id that was looked up.
    pub fn control(&self) -> ControlRef {
        self.control
    }

    /// True when the requirement exists and only the objective letter is past its end.
    pub fn is_unknown_objective(&self) -> bool {
        matches!(self.reason, Reason::NoSuchObjective { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    NoSuchRequirement { family_size: usize },
    NoSuchObjective { count: u8 },
}

/// Renders an [`UnknownControl`]; the wording depends on which part is unknown.
struct Describe<'a>(&'a UnknownControl);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let UnknownControl { control, reason } = *self.0;
        let requirement = control.requirement();
        if let ControlRef::Objective(objective) = control {
            write!(f, "{objective} does not exist: ")?;
        }
        match reason {
            Reason::NoSuchRequirement { family_size } => write!(
                f,
                "{requirement} is not a NIST SP 800-171 rev2 requirement (family 3.{} has {family_size})",
                requirement.family
            ),
            Reason::NoSuchObjective { count: 1 } => {
                write!(f, "{requirement} has only objective [a]")
            }
            Reason::NoSuchObjective { count } => {
                let last = char::from(b'a' + count.saturating_sub(1).min(OBJECTIVE_LETTERS - 1));
                write!(f, "{requirement} has objectives [a] to [{last}]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> RequirementId {
        s.parse().unwrap()
    }

    fn obj(s: &str) -> ObjectiveId {
        s.parse().unwrap()
    }

    #[test]
    fn catalog_totals_match_the_published_counts() {
        assert_eq!(families().len(), 14);
        assert_eq!(requirements().len(), 110);
        assert_eq!(objectives().count(), 320);
        let points: u32 = requirements()
            .iter()
            .map(|r| u32::from(r.points.unwrap_or(0)))
            .sum();
        assert_eq!(points, 313);
        assert_eq!(110 - i64::from(points), -203);
        let basic = requirements()
            .iter()
            .filter(|r| r.kind == RequirementKind::Basic)
            .count();
        assert_eq!((basic, 110 - basic), (31, 79));
    }

    #[test]
    fn far_basic_safeguarding_rows() {
        let far: Vec<String> = requirements()
            .iter()
            .filter(|r| r.far_basic_safeguarding)
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(
            far,
            [
                "3.1.1", "3.1.2", "3.1.20", "3.1.22", "3.5.1", "3.5.2", "3.8.3", "3.10.1",
                "3.10.3", "3.10.4", "3.10.5", "3.13.1", "3.13.5", "3.14.1", "3.14.2", "3.14.4",
                "3.14.5"
            ]
        );
    }

    #[test]
    fn poam_eligibility() {
        let eligible = requirements()
            .iter()
            .filter(|r| r.poam == PoamEligibility::Eligible)
            .count();
        assert_eq!(eligible, 46);
        let conditional: Vec<_> = requirements()
            .iter()
            .filter(|r| r.poam == PoamEligibility::OnlyIfEncryptionNotFipsValidated)
            .map(|r| r.id)
            .collect();
        assert_eq!(conditional, [req("3.13.11")]);
        // Eligible means worth exactly 1 point and not one of the five named exclusions.
        for r in requirements() {
            let named = ["3.1.20", "3.1.22", "3.10.3", "3.10.4", "3.10.5", "3.12.4"]
                .contains(&r.id.to_string().as_str());
            let expected = r.points == Some(1) && !named;
            assert_eq!(r.poam == PoamEligibility::Eligible, expected, "{}", r.id);
        }
    }

    #[test]
    fn scoring_special_cases() {
        let ssp = requirement(req("3.12.4")).unwrap();
        assert_eq!(ssp.points, None);
        assert_eq!(ssp.poam, PoamEligibility::NotEligible);
        let partial: Vec<_> = requirements()
            .iter()
            .filter_map(|r| r.partial_points.map(|p| (r.id.to_string(), p)))
            .collect();
        assert_eq!(
            partial,
            [("3.5.3".to_owned(), 3), ("3.13.11".to_owned(), 3)]
        );
        assert_eq!(requirement(req("3.4.7")).unwrap().objective_count, 15);
        let largest = requirements().iter().map(|r| r.objective_count).max();
        assert_eq!(largest, Some(15));
    }

    #[test]
    fn family_totals_match_regulatory_facts_table() {
        // (abbrev, requirements, objectives, max points) from regulatory-facts.md §4.
        let expected = [
            ("AC", 22, 70, 54),
            ("AT", 3, 9, 11),
            ("AU", 9, 29, 19),
            ("CM", 9, 44, 33),
            ("IA", 11, 25, 27),
            ("IR", 3, 14, 11),
            ("MA", 6, 10, 18),
            ("MP", 9, 15, 23),
            ("PS", 2, 4, 8),
            ("PE", 6, 16, 14),
            ("RA", 3, 9, 9),
            ("CA", 4, 14, 13),
            ("SC", 16, 41, 42),
            ("SI", 7, 20, 31),
        ];
        for (family, (abbrev, reqs, objs, points)) in families().iter().zip(expected) {
            let rs = family.requirements();
            assert_eq!(family.abbrev, abbrev);
            assert_eq!(rs.len(), reqs, "{abbrev}");
            let objective_total: usize = rs.iter().map(|r| r.objectives().count()).sum();
            assert_eq!(objective_total, objs, "{abbrev}");
            let point_total: u32 = rs.iter().map(|r| u32::from(r.points.unwrap_or(0))).sum();
            assert_eq!(point_total, points, "{abbrev}");
        }
    }

    #[test]
    fn table_is_consistent() {
        for (index, r) in requirements().iter().enumerate() {
            assert!(r.id.family >= 1 && r.id.family <= 14);
            assert_eq!(r.family().number, r.id.family);
            assert_eq!(
                r.cmmc_id,
                format!("{}.L2-{}", r.family().abbrev, r.id),
                "cmmc id of {}",
                r.id
            );
            assert!(!r.title.is_empty() && r.title.len() <= 80, "{}", r.id);
            assert!(r.objective_count >= 1 && r.objective_count <= 26);
            if let Some(next) = requirements().get(index + 1) {
                assert!(r.id < next.id, "catalog order at {}", r.id);
                // Numbers are contiguous within a family.
                if next.id.family == r.id.family {
                    assert_eq!(next.id.number, r.id.number + 1);
                } else {
                    assert_eq!(next.id.number, 1);
                }
            }
            assert_eq!(requirement(r.id), Some(r));
        }
        for (index, f) in families().iter().enumerate() {
            assert_eq!(usize::from(f.number), index + 1);
            assert_eq!(family(f.number), Some(f));
        }
        assert_eq!(family(0), None);
        assert_eq!(family(15), None);
    }

    #[test]
    fn ordering_is_numeric() {
        assert!(req("3.1.2") < req("3.1.10"));
        assert!(req("3.1.22") < req("3.2.1"));
        assert!(req("3.9.2") < req("3.10.1"));
        assert!(obj("3.1.1[f]") < obj("3.1.2[a]"));
        assert!(obj("3.1.1[a]") < obj("3.1.1[b]"));
        let r: ControlRef = "3.1.1".parse().unwrap();
        let o: ControlRef = "3.1.1[a]".parse().unwrap();
        assert!(r < o);
        assert!(o < "3.1.2".parse().unwrap());
        let all: Vec<_> = objectives().collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn display_and_parse_round_trip() {
        for r in requirements() {
            let text = r.id.to_string();
            assert_eq!(req(&text), r.id);
            assert_eq!(
                text.parse::<ControlRef>().unwrap(),
                ControlRef::Requirement(r.id)
            );
            for o in r.objectives() {
                let text = o.to_string();
                assert_eq!(obj(&text), o);
                assert_eq!(text.parse::<ControlRef>().unwrap().to_string(), text);
            }
        }
        assert_eq!(obj("3.4.7[o]").letter(), 'o');
        assert_eq!(obj("3.4.7[o]").requirement(), req("3.4.7"));
        assert_eq!(obj(" 3.1.1[A] ").to_string(), "3.1.1[a]");
        assert_eq!(req("  3.13.11\t").to_string(), "3.13.11");
    }

    #[test]
    fn serde_uses_strings() {
        let json = serde_json::to_string(&(req("3.1.10"), obj("3.1.1[c]"))).unwrap();
        assert_eq!(json, r#"["3.1.10","3.1.1[c]"]"#);
        let back: (ControlRef, ControlRef) = serde_json::from_str(&json).unwrap();
        assert_eq!(back.0.to_string(), "3.1.10");
        assert_eq!(back.1.to_string(), "3.1.1[c]");
        let err = serde_json::from_str::<RequirementId>(r#""3.1""#).unwrap_err();
        assert!(
            err.to_string().contains("invalid requirement id `3.1`"),
            "{err}"
        );
    }

    #[test]
    fn non_existent_but_well_formed_ids_parse() {
        assert_eq!(req("3.1.99").number(), 99);
        assert_eq!(obj("3.1.1[z]").index(), 25);
        assert!(requirement(req("3.1.99")).is_none());
    }

    #[test]
    fn parse_errors_name_the_input_and_the_accepted_forms() {
        let cases = [
            (
                "",
                "invalid control id ``: the id is empty; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1",
                "invalid control id `3.1`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.1.a",
                "invalid control id `3.1.1.a`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.1[a",
                "invalid control id `3.1.1[a`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.1[ab]",
                "invalid control id `3.1.1[ab]`: objective `[ab]` is not a single letter a to z; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.1[1]",
                "invalid control id `3.1.1[1]`: objective `[1]` is not a single letter a to z; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.15.1",
                "invalid control id `3.15.1`: family 3.15 does not exist (families are 3.1 to 3.14); expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.0.1",
                "invalid control id `3.0.1`: family 3.0 does not exist (families are 3.1 to 3.14); expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.0",
                "invalid control id `3.1.0`: requirement 3.1.0 does not exist (family 3.1 has 22); expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.300",
                "invalid control id `3.1.300`: requirement 3.1.300 does not exist (family 3.1 has 22); expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "AC.L2-3.1.1",
                "invalid control id `AC.L2-3.1.1`: CMMC practice ids are not accepted, write `3.1.1`; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "4.1.1",
                "invalid control id `4.1.1`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.+1",
                "invalid control id `3.1.+1`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
            (
                "3.1.1 [a]",
                "invalid control id `3.1.1 [a]`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            ),
        ];
        for (input, message) in cases {
            let err = input.parse::<ControlRef>().unwrap_err();
            assert_eq!(err.to_string(), message, "{input:?}");
        }
        assert_eq!(
            "3.1.1[a]".parse::<RequirementId>().unwrap_err().to_string(),
            "invalid requirement id `3.1.1[a]`: this names an objective, not a requirement; expected a requirement like 3.1.1"
        );
        assert_eq!(
            "3.1.1".parse::<ObjectiveId>().unwrap_err().to_string(),
            "invalid objective id `3.1.1`: the objective letter is missing; expected an objective like 3.1.1[a]"
        );
        assert_eq!("x".parse::<ControlRef>().unwrap_err().input(), "x");
    }

    #[test]
    fn resolve_expands_requirements_and_checks_existence() {
        let all = resolve("3.1.1".parse().unwrap()).unwrap();
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "3.1.1[a]", "3.1.1[b]", "3.1.1[c]", "3.1.1[d]", "3.1.1[e]", "3.1.1[f]"
            ]
        );
        assert_eq!(
            resolve("3.1.1[f]".parse().unwrap()).unwrap(),
            [obj("3.1.1[f]")]
        );

        let cases = [
            (
                "3.1.23",
                "3.1.23 is not a NIST SP 800-171 rev2 requirement (family 3.1 has 22)",
            ),
            (
                "3.1.1[g]",
                "3.1.1[g] does not exist: 3.1.1 has objectives [a] to [f]",
            ),
            (
                "3.4.4[b]",
                "3.4.4[b] does not exist: 3.4.4 has only objective [a]",
            ),
            (
                "3.9.3[a]",
                "3.9.3[a] does not exist: 3.9.3 is not a NIST SP 800-171 rev2 requirement (family 3.9 has 2)",
            ),
        ];
        for (input, message) in cases {
            let err = resolve(input.parse().unwrap()).unwrap_err();
            assert_eq!(err.to_string(), message);
            assert_eq!(err.control().to_string(), input);
        }
        assert!(
            resolve("3.1.1[g]".parse().unwrap())
                .unwrap_err()
                .is_unknown_objective()
        );
    }
}
