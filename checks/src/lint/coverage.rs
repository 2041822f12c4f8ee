//! How many objectives each party owns, per family: the CRM at a glance.

use std::fmt;

use serde::Serialize;

use crate::catalog::{self, Family};
use crate::crm::{Ownership, Responsibility};

/// Objective counts per family and in total, for one client's packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The 14 families in catalog order.
    pub families: Vec<FamilyCoverage>,
    pub total: FamilyCoverage,
}

/// Counts of objectives (not rows) by who owns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyCoverage {
    /// The family abbreviation ("AC"), or "total".
    pub family: &'static str,
    /// The family name ("Access Control"), or "all families".
    pub name: &'static str,
    pub contractor: usize,
    pub msp: usize,
    pub shared: usize,
    pub not_applicable: usize,
    pub unowned: usize,
    /// Objectives in the family; the other counts add up to it.
    pub total: usize,
}

impl FamilyCoverage {
    fn empty(family: &'static str, name: &'static str) -> Self {
        Self {
            family,
            name,
            contractor: 0,
            msp: 0,
            shared: 0,
            not_applicable: 0,
            unowned: 0,
            total: 0,
        }
    }

    fn count(&mut self, owner: Option<Responsibility>) {
        let slot = match owner {
            Some(Responsibility::Contractor) => &mut self.contractor,
            Some(Responsibility::Msp) => &mut self.msp,
            Some(Responsibility::Shared) => &mut self.shared,
            Some(Responsibility::NotApplicable) => &mut self.not_applicable,
            None => &mut self.unowned,
        };
        *slot += 1;
        self.total += 1;
    }

    fn add(&mut self, other: &Self) {
        self.contractor += other.contractor;
        self.msp += other.msp;
        self.shared += other.shared;
        self.not_applicable += other.not_applicable;
        self.unowned += other.unowned;
        self.total += other.total;
    }

    fn counts(&self) -> [usize; 6] {
        [
            self.contractor,
            self.msp,
            self.shared,
            self.not_applicable,
            self.unowned,
            self.total,
        ]
    }
}

impl Coverage {
    /// Counts every catalog objective under the owner `ownership` gives it.
    pub fn new(ownership: &Ownership<'_>) -> Self {
        let mut total = FamilyCoverage::empty("total", "all families");
        let families = catalog::families()
            .iter()
            .map(|family: &Family| {
                let mut counts = FamilyCoverage::empty(family.abbrev, family.name);
                for requirement in family.requirements() {
                    for objective in requirement.objectives() {
                        counts.count(ownership.responsible(objective));
                    }
                }
                total.add(&counts);
                counts
            })
            .collect();
        Self { families, total }
    }
}

const HEADINGS: [&str; 6] = ["contractor", "msp", "shared", "n/a", "unowned", "total"];

/// An aligned table, one line per family and a total line.
impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = |row: &FamilyCoverage| format!("{:<2}  {}", row.family, row.name);
        let rows = || self.families.iter().chain([&self.total]);
        let label_width = rows().map(|row| label(row).len()).max().unwrap_or(0);
        write!(f, "{:<label_width$}", "family")?;
        for heading in HEADINGS {
            write!(f, "  {heading:>7}")?;
        }
        writeln!(f)?;
        for row in rows() {
            write!(f, "{:<label_width$}", label(row))?;
            for (count, heading) in row.counts().into_iter().zip(HEADINGS) {
                let width = heading.len().max(7);
                write!(f, "  {count:>width$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
