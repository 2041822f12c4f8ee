//! Which row decides each objective, once refinement and package filtering are applied.

use std::collections::BTreeMap;

use super::{Assignment, CrmRow, Responsibility};
use crate::catalog::{self, ControlRef, ObjectiveId};
use crate::party::Party;

/// The deciding CRM row of every owned objective, for one client's packages.
///
/// Borrowed from the [`Crm`](super::Crm) it was computed from, so it is cheap to build and
/// always agrees with it.
#[derive(Debug, Clone)]
pub struct Ownership<'a> {
    deciding: BTreeMap<ObjectiveId, &'a CrmRow>,
}

impl<'a> Ownership<'a> {
    pub(super) fn new(rows: &'a [CrmRow], packages: Option<&[String]>) -> Self {
        let mut by_requirement = BTreeMap::new();
        let mut by_objective = BTreeMap::new();
        for row in rows.iter().filter(|row| row.applies_to(packages)) {
            // Unknown ids cover nothing; the linter reports them.
            let Ok(objectives) = catalog::resolve(row.control) else {
                continue;
            };
            let level = match row.control {
                ControlRef::Requirement(_) => &mut by_requirement,
                ControlRef::Objective(_) => &mut by_objective,
            };
            for objective in objectives {
                level.entry(objective).or_insert(row);
            }
        }
        // Objective-level rows refine requirement-level ones.
        let mut deciding = by_objective;
        for (objective, row) in by_requirement {
            deciding.entry(objective).or_insert(row);
        }
        Self { deciding }
    }

    /// The row that decides `objective`, if any row covers it.
    pub fn row(&self, objective: ObjectiveId) -> Option<&'a CrmRow> {
        self.deciding.get(&objective).copied()
    }

    pub fn assignment(&self, objective: ObjectiveId) -> Option<&'a Assignment> {
        self.row(objective).map(|row| &row.assignment)
    }

    /// Who carries `objective`; `None` when no row covers it.
    pub fn responsible(&self, objective: ObjectiveId) -> Option<Responsibility> {
        self.row(objective).map(|row| row.assignment.responsible())
    }

    /// Owned objectives with their deciding rows, in catalog order.
    pub fn owned(&self) -> impl Iterator<Item = (ObjectiveId, &'a CrmRow)> + '_ {
        self.deciding
            .iter()
            .map(|(objective, row)| (*objective, *row))
    }

    /// Catalog objectives no row covers, in catalog order.
    pub fn unowned(&self) -> impl Iterator<Item = ObjectiveId> + '_ {
        catalog::objectives().filter(|objective| !self.deciding.contains_key(objective))
    }

    /// Objectives where `party` has work to do (alone or shared), in catalog order.
    pub fn objectives_of(&self, party: Party) -> impl Iterator<Item = ObjectiveId> + '_ {
        self.owned()
            .filter(move |(_, row)| row.assignment.responsible().carries(party))
            .map(|(objective, _)| objective)
    }
}
