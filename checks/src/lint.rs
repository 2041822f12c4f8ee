//! Lints a loaded CRM: what would leave an objective unowned, ambiguous or unverifiable.
//!
//! A CRM is the contract-level answer to "who does this?"; an assessor reads it objective by
//! objective. Every finding therefore names ids and a line, and says how to fix it. Errors are
//! what would make dutywatch (or an assessor) unable to tell who owns an objective or how the
//! contractor checks the MSP; warnings are likely mistakes that still leave a clear answer.

mod coverage;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::catalog::{self, ControlRef, ObjectiveId, Requirement};
use crate::crm::{Assignment, CrmColumn, CrmLoad, CrmRow, Location, Ownership};

pub use coverage::{Coverage, FamilyCoverage};

/// The stable finding codes, kebab-case; tests and `--json` consumers match on these.
pub mod code {
    // CSV file problems.
    pub const INVALID_CSV: &str = "invalid-csv";
    pub const MISSING_HEADER: &str = "missing-header";
    pub const MISSING_COLUMN: &str = "missing-column";
    pub const UNKNOWN_COLUMN: &str = "unknown-column";
    pub const DUPLICATE_COLUMN: &str = "duplicate-column";
    pub const MULTI_LINE_ROW: &str = "multi-line-row";
    pub const ROWS_ABOVE_HEADER: &str = "rows-above-header";
    pub const INVALID_WORKBOOK: &str = "invalid-workbook";
    pub const MISSING_SHEET: &str = "missing-sheet";
    pub const INVALID_OSCAL: &str = "invalid-oscal";
    pub const COMPONENT_PARTY_UNKNOWN: &str = "component-party-unknown";
    // Row problems found while parsing (the row is rejected, except `ignored-field`).
    pub const MISSING_ID: &str = "missing-id";
    pub const INVALID_ID: &str = "invalid-id";
    pub const MISSING_OWNER: &str = "missing-owner";
    pub const INVALID_OWNER: &str = "invalid-owner";
    pub const INVALID_EVIDENCE_PRODUCER: &str = "invalid-evidence-producer";
    pub const MISSING_DUTY: &str = "missing-duty";
    pub const SHARED_MISSING_SIDE: &str = "shared-missing-side";
    pub const NOT_APPLICABLE_WITHOUT_REASON: &str = "not-applicable-without-reason";
    pub const IGNORED_FIELD: &str = "ignored-field";
    // Problems of well-formed rows and of the CRM as a whole.
    pub const UNKNOWN_ID: &str = "unknown-id";
    pub const UNOWNED_OBJECTIVE: &str = "unowned-objective";
    pub const CONFLICTING_OWNER: &str = "conflicting-owner";
    pub const DUPLICATE_ROW: &str = "duplicate-row";
    pub const MISSING_EVIDENCE_PRODUCER: &str = "missing-evidence-producer";
    pub const MISSING_VERIFICATION: &str = "missing-verification";
    pub const PACKAGE_NOT_HELD: &str = "package-not-held";
    pub const OVERRIDDEN_OWNER: &str = "overridden-owner";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One problem, rendered like a compiler diagnostic:
/// `crm.csv:12: error[shared-missing-side]: ...` and an indented `help:` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// `None` for findings about the CRM as a whole, such as unowned objectives.
    pub location: Option<Location>,
    /// Kebab-case, from [`code`].
    pub code: &'static str,
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl Finding {
    pub fn error(
        location: Option<Location>,
        code: &'static str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, location, code, message, help)
    }

    pub fn warning(
        location: Option<Location>,
        code: &'static str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, location, code, message, help)
    }

    fn new(
        severity: Severity,
        location: Option<Location>,
        code: &'static str,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            location,
            code,
            message: message.into(),
            help: help.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if !self.help.is_empty() {
            write!(f, "\n  help: {}", self.help)?;
        }
        Ok(())
    }
}

/// Everything `dutywatch check-config` says about a CRM.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    /// Sorted by location; findings without one (about the whole CRM) come last.
    pub findings: Vec<Finding>,
    pub coverage: Coverage,
}

impl LintReport {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.findings.len() - self.error_count()
    }
}

impl fmt::Display for LintReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        if !self.findings.is_empty() {
            writeln!(f)?;
        }
        write!(f, "{}", self.coverage)?;
        let (errors, warnings) = (self.error_count(), self.warning_count());
        let s = |n| if n == 1 { "" } else { "s" };
        writeln!(
            f,
            "\n{errors} error{}, {warnings} warning{}",
            s(errors),
            s(warnings)
        )
    }
}

/// Lints `load` for a client holding `packages` (`None` = every package, e.g. the MSP's master
/// CRM). Parse problems from loading come first in the list, merged by location.
pub fn lint(load: &CrmLoad, packages: Option<&[String]>) -> LintReport {
    let crm = &load.crm;
    let ownership = crm.ownership(packages);
    let mut findings = load.problems.clone();
    for row in crm.rows() {
        check_row(row, packages, &mut findings);
    }
    check_conflicts(crm.rows(), packages, &mut findings);
    check_overrides(crm.rows(), packages, &mut findings);
    check_unowned(load, &ownership, packages, &mut findings);
    // Stable, so findings on one line keep the order above; whole-CRM findings go last.
    findings.sort_by(|a, b| {
        (a.location.is_none(), &a.location).cmp(&(b.location.is_none(), &b.location))
    });
    LintReport {
        findings,
        coverage: Coverage::new(&ownership),
    }
}

/// Checks that need only the row itself (run on every row, whichever packages apply, since a
/// defect in the document is a defect for every client).
fn check_row(row: &CrmRow, packages: Option<&[String]>, findings: &mut Vec<Finding>) {
    // Each finding here is about one field: it names that field's cell.
    let at = |column| Some(row.location_of(column));
    let control = row.control;
    if let Err(unknown) = catalog::resolve(control) {
        let help = match catalog::requirement(control.requirement()) {
            Some(requirement) if unknown.is_unknown_objective() => format!(
                "use an objective from {} or address the whole requirement as {}",
                letter_range(requirement),
                requirement.id
            ),
            _ => "use a NIST SP 800-171 rev2 requirement number; check for a typo".to_owned(),
        };
        findings.push(Finding::error(
            at(CrmColumn::Id),
            code::UNKNOWN_ID,
            unknown.to_string(),
            help,
        ));
    }

    if let (Some(package), Some(held)) = (&row.package, packages)
        && !row.applies_to(packages)
    {
        let held = if held.is_empty() {
            "none".to_owned()
        } else {
            held.join(", ")
        };
        findings.push(Finding::warning(
            at(CrmColumn::Package),
            code::PACKAGE_NOT_HELD,
            format!(
                "{control} is in package `{package}`, which this client does not hold (it holds: {held}); the row does not apply"
            ),
            format!(
                "add `{package}` to the client's packages if it bought it; otherwise another row must cover {control}"
            ),
        ));
    }

    // The contractor stays accountable for MSP work, so it must be able to show who proves
    // the work was done and how it checks that. Alone the MSP's gap is an error; in a shared
    // row the contractor's own part still stands, so it is a warning.
    let (severity, side) = match &row.assignment {
        Assignment::Msp { .. } => (Severity::Error, "is owned by the MSP"),
        Assignment::Shared { .. } => (Severity::Warning, "is shared"),
        Assignment::Contractor { .. } | Assignment::NotApplicable { .. } => return,
    };
    if row.assignment.evidence_producer().is_none() {
        findings.push(Finding::new(
            severity,
            at(CrmColumn::EvidenceProducer),
            code::MISSING_EVIDENCE_PRODUCER,
            format!(
                "{control} {side} but does not say who produces the evidence of the MSP's work"
            ),
            "set evidence_producer to msp, contractor or both",
        ));
    }
    if row.assignment.verification().is_none() {
        findings.push(Finding::new(
            severity,
            at(CrmColumn::Verification),
            code::MISSING_VERIFICATION,
            format!("{control} {side} but does not say how the contractor verifies the MSP's work"),
            "describe in verification how the contractor checks it, e.g. \"monthly review of the MSP's patch report\"",
        ));
    }
}

/// Two applicable rows at the same level for the same control: the first decides, so a second
/// with another owner is a contradiction in the CRM and one with the same owner is clutter.
fn check_conflicts(rows: &[CrmRow], packages: Option<&[String]>, findings: &mut Vec<Finding>) {
    let mut by_control: BTreeMap<ControlRef, Vec<&CrmRow>> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.applies_to(packages)) {
        if catalog::resolve(row.control).is_ok() {
            by_control.entry(row.control).or_default().push(row);
        }
    }
    for (control, rows) in by_control {
        let Some((first, rest)) = rows.split_first() else {
            continue;
        };
        let first_owner = first.assignment.responsible();
        for row in rest {
            let owner = row.assignment.responsible();
            // The owner's cell: it is what contradicts or repeats the first row. The rows
            // named in the text stay whole rows.
            let at = Some(row.location_of(CrmColumn::Owner));
            if owner == first_owner {
                findings.push(Finding::warning(
                    at,
                    code::DUPLICATE_ROW,
                    format!(
                        "{control} is assigned again to {owner} (first at {}); this row is ignored",
                        first.location
                    ),
                    "delete one of the rows, or merge their text into one",
                ));
            } else {
                findings.push(Finding::error(
                    at,
                    code::CONFLICTING_OWNER,
                    format!(
                        "{control} is assigned twice: {} says {first_owner}, {} says {owner}",
                        first.location, row.location
                    ),
                    split_help(control),
                ));
            }
        }
    }
}

/// An objective row that gives its objective another owner than the requirement row does
/// (`3.13.11` msp, then `3.13.11[a]` contractor): the objective row decides, which is how a
/// split is written, but a split by accident is a likely mistake, so it is a warning naming
/// both lines. Only the deciding rows are compared (duplicates are reported on their own).
fn check_overrides(rows: &[CrmRow], packages: Option<&[String]>, findings: &mut Vec<Finding>) {
    let applicable = || {
        rows.iter()
            .filter(|row| row.applies_to(packages) && catalog::resolve(row.control).is_ok())
    };
    let mut requirement_rows = BTreeMap::new();
    let mut objective_rows = BTreeMap::new();
    for row in applicable() {
        match row.control {
            ControlRef::Requirement(id) => {
                requirement_rows.entry(id).or_insert(row);
            }
            ControlRef::Objective(id) => {
                objective_rows.entry(id).or_insert(row);
            }
        }
    }
    for (objective, row) in objective_rows {
        let Some(parent) = requirement_rows.get(&objective.requirement()) else {
            continue;
        };
        let (owner, parent_owner) = (
            row.assignment.responsible(),
            parent.assignment.responsible(),
        );
        if owner == parent_owner {
            continue;
        }
        let requirement = objective.requirement();
        findings.push(Finding::warning(
            Some(row.location_of(CrmColumn::Owner)),
            code::OVERRIDDEN_OWNER,
            format!(
                "{objective} is given to {owner} here, but {} gives its requirement {requirement} to {parent_owner}; this row decides {objective}",
                parent.location
            ),
            format!(
                "if the split is meant, keep it (or make {requirement} shared); otherwise correct the owner on {} or {}",
                parent.location, row.location
            ),
        ));
    }
}

/// Rejected rows that would have owned an objective nothing else owns: their own error says
/// so, instead of a second `unowned-objective` finding for the same row.
fn note_rejected(load: &CrmLoad, ownership: &Ownership<'_>, findings: &mut [Finding]) {
    for rejected in &load.rejected {
        let Some(Ok(objectives)) = rejected.control.map(catalog::resolve) else {
            continue;
        };
        let unowned: Vec<ObjectiveId> = objectives
            .iter()
            .copied()
            .filter(|o| ownership.row(*o).is_none())
            .collect();
        let Some(first) = unowned.first() else {
            continue;
        };
        let requirement = catalog::requirement(first.requirement());
        let (what, many) = match requirement {
            Some(r) if unowned.len() > 1 && unowned.len() == usize::from(r.objective_count) => {
                (format!("{} (objectives {})", r.id, letter_range(r)), true)
            }
            _ => (
                unowned
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                unowned.len() > 1,
            ),
        };
        let Some(finding) = findings.iter_mut().find(|f| {
            f.is_error()
                && f.location
                    .as_ref()
                    .is_some_and(|at| at.same_row(&rejected.location))
        }) else {
            continue;
        };
        let verb = if many { "have" } else { "has" };
        finding.message.push_str(&format!(
            "; the row is rejected, so {what} {verb} no owner until it is fixed"
        ));
    }
}

/// Whether a rejected row with a readable id covers `objective`.
fn rejected_covers(load: &CrmLoad, objective: ObjectiveId) -> bool {
    load.rejected.iter().any(|row| {
        row.control.is_some_and(|c| {
            catalog::resolve(c).is_ok_and(|objectives| objectives.contains(&objective))
        })
    })
}

/// One finding per requirement with unowned objectives, saying why when a row was meant to
/// cover them (in a package the client lacks). Objectives a rejected row would cover are
/// left to that row's own finding ([`note_rejected`]): one row, one finding.
fn check_unowned(
    load: &CrmLoad,
    ownership: &Ownership<'_>,
    packages: Option<&[String]>,
    findings: &mut Vec<Finding>,
) {
    note_rejected(load, ownership, findings);
    let all_packages = load.crm.ownership(None);
    for requirement in catalog::requirements() {
        let unowned: Vec<ObjectiveId> = requirement
            .objectives()
            .filter(|o| ownership.row(*o).is_none() && !rejected_covers(load, *o))
            .collect();
        if unowned.is_empty() {
            continue;
        }

        let id = requirement.id;
        let mut message = if unowned.len() == usize::from(requirement.objective_count) {
            let noun = if requirement.objective_count == 1 {
                "objective"
            } else {
                "objectives"
            };
            format!("{id} has no owner ({noun} {})", letter_range(requirement))
        } else {
            let list: Vec<String> = unowned.iter().map(ToString::to_string).collect();
            let verb = if unowned.len() == 1 { "has" } else { "have" };
            format!("{} {verb} no owner", list.join(", "))
        };
        let them = if unowned.len() == 1 { "it" } else { "them" };
        let mut help = Vec::new();

        if packages.is_some() {
            let mut unheld: Vec<String> = Vec::new();
            for objective in &unowned {
                if let Some(row) = all_packages.row(*objective) {
                    let note = format!(
                        "{} (package `{}`)",
                        row.location,
                        row.package.as_deref().unwrap_or_default()
                    );
                    if !unheld.contains(&note) {
                        unheld.push(note);
                    }
                }
            }
            if !unheld.is_empty() {
                message.push_str(&format!(
                    "; only rows in packages this client does not hold cover {them}: {}",
                    unheld.join(", ")
                ));
                help.push(
                    "add the package to the client, or add a row outside any package".to_owned(),
                );
            }
        }

        help.push(format!(
            "add a row for {id} with owner contractor, msp, shared or not_applicable (objective-level rows still override it), or one row per objective"
        ));
        findings.push(Finding::error(
            None,
            code::UNOWNED_OBJECTIVE,
            message,
            help.join("; "),
        ));
    }
}

/// `[a] to [f]`, or `[a]` for a single objective.
fn letter_range(requirement: &Requirement) -> String {
    match requirement.objectives().last() {
        Some(last) if last.index() > 0 => format!("[a] to [{}]", last.letter()),
        _ => "[a]".to_owned(),
    }
}

fn split_help(control: ControlRef) -> String {
    match control {
        ControlRef::Requirement(id) => format!(
            "keep one row for {id}; if the parties split the work, make it shared or give each objective its own row (e.g. {id}[a])"
        ),
        ControlRef::Objective(id) => {
            format!("keep one row for {id}; if both parties work on it, make it shared")
        }
    }
}

#[cfg(test)]
mod tests;
