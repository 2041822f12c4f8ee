//! The Customer Responsibility Matrix (CRM): who owns each requirement or objective.
//!
//! A CRM arrives as rows of text (a CSV file, or inline rows in the config). Each row is parsed
//! once into a [`CrmRow`] whose [`Assignment`] carries exactly the text its owner needs, so code
//! downstream never re-checks "is a shared row missing a side". Rows that cannot be parsed are
//! left out of the [`Crm`] and reported as [`Finding`]s with their location; loading never
//! fails as a whole, because a half-broken CRM still says a lot about who owns what.

mod csv_input;
mod oscal_input;
mod ownership;
mod packages;
mod row;
mod vocabulary;
mod xlsx_input;

use std::fmt;

use serde::Serialize;

use crate::catalog::ControlRef;
use crate::lint::{Finding, Severity};
use crate::party::Party;

pub use ownership::Ownership;
pub use packages::{PackageDef, PackageError, expand_packages};
pub use vocabulary::{CrmColumn, OwnerWords, header_key, word_key};

/// How to read a CRM file beyond the built-in aliases and words: the config's
/// `[contractor.crm_columns]` and `[contractor.crm_owner_words]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmImport {
    /// Our column → the file's header; overrides the built-in aliases of that column.
    pub columns: Vec<(CrmColumn, String)>,
    /// Owner word → owner; wins over the built-in words.
    pub owner_words: Vec<(String, Responsibility)>,
}

/// Where a row came from, for messages: `crm.csv:12`, or with the cell a problem is in,
/// `crm.xlsx#CRM Moderate:12:C` (the spreadsheet's column letter, also for a CSV file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// The name to show for the file, not necessarily a path that can be opened.
    pub file: String,
    /// 1-based; in a CSV file the header is line 1.
    pub line: u32,
    /// The column letter of the cell, when the problem is in one cell of the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

impl Location {
    pub fn new(file: impl Into<String>, line: u32) -> Self {
        Self {
            file: file.into(),
            line,
            column: None,
        }
    }

    /// Whether `other` is in the same row of the same file, whichever cell.
    pub fn same_row(&self, other: &Location) -> bool {
        self.file == other.file && self.line == other.line
    }

    /// The same row, at the cell in `column` (0-based position).
    pub fn at_column(&self, position: usize) -> Location {
        Location {
            column: Some(column_letter(position)),
            ..self.clone()
        }
    }
}

/// A spreadsheet's column letter: 0 is `A`, 25 `Z`, 26 `AA`.
pub fn column_letter(position: usize) -> String {
    let mut letters = Vec::new();
    let mut n = position + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = &self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

/// Who produces the evidence that an MSP-performed duty was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceProducer {
    Contractor,
    Msp,
    Both,
}

impl EvidenceProducer {
    pub fn includes(self, party: Party) -> bool {
        matches!(
            (self, party),
            (Self::Both, _) | (Self::Contractor, Party::Contractor) | (Self::Msp, Party::Msp)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contractor => "contractor",
            Self::Msp => "msp",
            Self::Both => "both",
        }
    }
}

impl fmt::Display for EvidenceProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which parties carry an objective; the CRM's `owner` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Responsibility {
    Contractor,
    Msp,
    Shared,
    /// Nobody: the objective does not apply to this environment (it still counts as MET).
    NotApplicable,
}

impl Responsibility {
    /// The parties with work to do; empty for not-applicable.
    pub fn parties(self) -> &'static [Party] {
        match self {
            Self::Contractor => &[Party::Contractor],
            Self::Msp => &[Party::Msp],
            Self::Shared => &[Party::Contractor, Party::Msp],
            Self::NotApplicable => &[],
        }
    }

    pub fn carries(self, party: Party) -> bool {
        self.parties().contains(&party)
    }

    /// The spelling used in the CRM's `owner` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contractor => "contractor",
            Self::Msp => "msp",
            Self::Shared => "shared",
            Self::NotApplicable => "not_applicable",
        }
    }
}

impl fmt::Display for Responsibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a row assigns, holding exactly the text each kind of owner needs.
///
/// MSP work keeps `evidence_producer` and `verification` optional: a row without them is still
/// meaningful (the MSP does the work), but the contractor cannot show it was done, which the
/// linter reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Contractor {
        contractor_does: String,
    },
    Msp {
        msp_does: String,
        evidence_producer: Option<EvidenceProducer>,
        /// How the contractor verifies the MSP did it.
        verification: Option<String>,
    },
    Shared {
        contractor_does: String,
        msp_does: String,
        evidence_producer: Option<EvidenceProducer>,
        verification: Option<String>,
    },
    NotApplicable {
        justification: String,
    },
}

impl Assignment {
    pub fn responsible(&self) -> Responsibility {
        match self {
            Self::Contractor { .. } => Responsibility::Contractor,
            Self::Msp { .. } => Responsibility::Msp,
            Self::Shared { .. } => Responsibility::Shared,
            Self::NotApplicable { .. } => Responsibility::NotApplicable,
        }
    }

    /// What `party` does under this assignment, if it has a part.
    pub fn duty_of(&self, party: Party) -> Option<&str> {
        match (self, party) {
            (Self::Contractor { contractor_does }, Party::Contractor)
            | (
                Self::Shared {
                    contractor_does, ..
                },
                Party::Contractor,
            ) => Some(contractor_does),
            (Self::Msp { msp_does, .. }, Party::Msp)
            | (Self::Shared { msp_does, .. }, Party::Msp) => Some(msp_does),
            _ => None,
        }
    }

    /// Who produces evidence of the MSP's part; `None` when the MSP has no part or it is unset.
    pub fn evidence_producer(&self) -> Option<EvidenceProducer> {
        match self {
            Self::Msp {
                evidence_producer, ..
            }
            | Self::Shared {
                evidence_producer, ..
            } => *evidence_producer,
            Self::Contractor { .. } | Self::NotApplicable { .. } => None,
        }
    }

    /// How the contractor verifies the MSP's part; `None` when the MSP has no part or it is unset.
    pub fn verification(&self) -> Option<&str> {
        match self {
            Self::Msp { verification, .. } | Self::Shared { verification, .. } => {
                verification.as_deref()
            }
            Self::Contractor { .. } | Self::NotApplicable { .. } => None,
        }
    }
}

/// One well-formed CRM row. The control may still be unknown to the catalog (the linter says
/// so); everything else has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmRow {
    pub location: Location,
    pub control: ControlRef,
    pub assignment: Assignment,
    /// The MSP service package this row belongs to; `None` applies to every client.
    pub package: Option<String>,
    /// Where each field's cell was (`RawCrmRow::positions`), so a finding about one field of
    /// a parsed row (its owner, its missing verification) names the cell, as one about a
    /// rejected cell does.
    positions: Vec<(CrmColumn, usize)>,
}

impl CrmRow {
    /// The row's location at `column`'s cell, or the row's when the cell is not known (an
    /// inline config row, a column the file does not have).
    pub fn location_of(&self, column: CrmColumn) -> Location {
        cell_location(&self.location, &self.positions, column)
    }

    /// Whether the row applies to a client holding `packages` (`None` = every package).
    /// Package names compare case-insensitively, since they are typed by hand on both sides.
    pub fn applies_to(&self, packages: Option<&[String]>) -> bool {
        match (&self.package, packages) {
            (None, _) | (Some(_), None) => true,
            (Some(package), Some(held)) => {
                held.iter().any(|h| h.trim().eq_ignore_ascii_case(package))
            }
        }
    }
}

/// A CRM row as text, before parsing: what a CSV record or an inline config row becomes.
///
/// Cells are trimmed when parsed, and an empty cell counts as absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCrmRow {
    pub location: Location,
    pub id: Option<String>,
    pub owner: Option<String>,
    pub contractor_does: Option<String>,
    pub msp_does: Option<String>,
    pub evidence_producer: Option<String>,
    pub verification: Option<String>,
    pub package: Option<String>,
    pub justification: Option<String>,
    /// Where each field's cell is in the file (0-based column position), for the readers
    /// that know it (CSV, XLSX): a problem with one field names its cell.
    pub positions: Vec<(CrmColumn, usize)>,
}

impl RawCrmRow {
    /// Records that `column`'s cell is at `position` of the row.
    pub fn place(&mut self, column: CrmColumn, position: usize) {
        self.positions.retain(|(c, _)| *c != column);
        self.positions.push((column, position));
    }

    /// The row's location at `column`'s cell, or the row's when the cell is not known.
    pub fn location_of(&self, column: CrmColumn) -> Location {
        cell_location(&self.location, &self.positions, column)
    }

    /// Sets the cell of `column`: trimmed, and absent when empty. The one place a column
    /// meets its field, for every reader (CSV, XLSX).
    pub fn set(&mut self, column: CrmColumn, text: &str) {
        let slot = match column {
            CrmColumn::Id => &mut self.id,
            CrmColumn::Owner => &mut self.owner,
            CrmColumn::ContractorDoes => &mut self.contractor_does,
            CrmColumn::MspDoes => &mut self.msp_does,
            CrmColumn::EvidenceProducer => &mut self.evidence_producer,
            CrmColumn::Verification => &mut self.verification,
            CrmColumn::Package => &mut self.package,
            CrmColumn::Justification => &mut self.justification,
        };
        let text = text.trim();
        *slot = (!text.is_empty()).then(|| text.to_owned());
    }

    /// A row with every cell empty, to fill in field by field.
    pub fn new(location: Location) -> Self {
        Self {
            location,
            id: None,
            owner: None,
            contractor_does: None,
            msp_does: None,
            evidence_producer: None,
            verification: None,
            package: None,
            justification: None,
            positions: Vec::new(),
        }
    }
}

/// `row` at `column`'s cell when `positions` knows where it is, else `row` itself.
fn cell_location(row: &Location, positions: &[(CrmColumn, usize)], column: CrmColumn) -> Location {
    positions
        .iter()
        .find(|(c, _)| *c == column)
        .map_or_else(|| row.clone(), |(_, p)| row.at_column(*p))
}

/// A row left out of the [`Crm`] because it had errors; kept so the linter can say an objective
/// is unowned *because* its row was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub location: Location,
    /// The row's id, if it could be read.
    pub control: Option<ControlRef>,
}

/// The parsed CRM: well-formed rows in source order (order matters: the first row wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Crm {
    rows: Vec<CrmRow>,
}

impl Crm {
    /// Parses CSV bytes. `file` is the name shown in locations; a record's line is the physical
    /// line it starts on, the header being line 1. Never fails: problems come back as findings.
    pub fn from_csv(file: &str, bytes: &[u8]) -> CrmLoad {
        Self::from_csv_with(file, bytes, &CrmImport::default())
    }

    /// [`Crm::from_csv`] with the config's column mapping and owner words. The header is the
    /// first row naming an id and an owner column, so a title or guidance may come above it.
    pub fn from_csv_with(file: &str, bytes: &[u8], import: &CrmImport) -> CrmLoad {
        let read = csv_input::read(file, bytes, &import.columns);
        Self::finish(read, import)
    }

    /// Parses an XLSX workbook's CRM sheet: `sheet` by name (case-insensitive), or the first
    /// sheet with a header row. Locations are `file#sheet:row`.
    pub fn from_xlsx_with(
        file: &str,
        bytes: &[u8],
        sheet: Option<&str>,
        import: &CrmImport,
    ) -> CrmLoad {
        let read = xlsx_input::read(file, bytes, sheet, &import.columns);
        Self::finish(read, import)
    }

    /// Reads an OSCAL SSP's or component definition's responsibility statements (JSON) as
    /// rows; locations are `file#<JSON pointer>:line`.
    pub fn from_oscal_with(file: &str, bytes: &[u8], import: &CrmImport) -> CrmLoad {
        let read = oscal_input::read(file, bytes);
        Self::finish(read, import)
    }

    /// A CRM file as it comes: an XLSX workbook or an OSCAL JSON document (by its content,
    /// whatever its name), or CSV. `sheet` applies to a workbook only.
    pub fn from_file_with(
        file: &str,
        bytes: &[u8],
        sheet: Option<&str>,
        import: &CrmImport,
    ) -> CrmLoad {
        if xlsx_input::is_workbook(bytes) {
            Self::from_xlsx_with(file, bytes, sheet, import)
        } else if oscal_input::is_oscal(bytes) {
            Self::from_oscal_with(file, bytes, import)
        } else {
            Self::from_csv_with(file, bytes, import)
        }
    }

    fn finish(read: csv_input::CsvRead, import: &CrmImport) -> CrmLoad {
        let words = OwnerWords {
            extra: import.owner_words.clone(),
            inheritance_column: read.inheritance_column,
        };
        let mut load = Self::from_raw_with(read.rows, &words);
        load.problems.extend(read.problems);
        load.rejected.extend(read.rejected);
        load.problems.sort_by(|a, b| a.location.cmp(&b.location));
        load.rejected.sort_by(|a, b| a.location.cmp(&b.location));
        load
    }

    /// Parses rows that are already split into cells (e.g. inline rows from the config).
    pub fn from_raw(rows: Vec<RawCrmRow>) -> CrmLoad {
        Self::from_raw_with(rows, &OwnerWords::default())
    }

    /// [`Crm::from_raw`] with the owner words a source accepts.
    pub fn from_raw_with(rows: Vec<RawCrmRow>, words: &OwnerWords) -> CrmLoad {
        let mut load = CrmLoad::default();
        for raw in rows {
            let parsed = row::parse(raw, words);
            load.problems.extend(parsed.problems);
            match parsed.outcome {
                Ok(row) => load.crm.rows.push(row),
                Err(rejected) => load.rejected.push(rejected),
            }
        }
        load
    }

    pub fn rows(&self) -> &[CrmRow] {
        &self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row that decides each objective for a client holding `packages` (`None` = all
    /// packages). An objective-level row overrides a requirement-level row (it refines it);
    /// among rows of the same level the first wins, and the linter reports the conflict.
    pub fn ownership(&self, packages: Option<&[String]>) -> Ownership<'_> {
        Ownership::new(&self.rows, packages)
    }
}

/// The result of loading a CRM: the rows that parsed and the problems with the rest.
#[derive(Debug, Clone, Default)]
pub struct CrmLoad {
    pub crm: Crm,
    /// Errors (the row is left out) and warnings (the row is kept), with locations.
    pub problems: Vec<Finding>,
    /// Rows left out of `crm` because of errors in `problems`.
    pub rejected: Vec<RejectedRow>,
}

impl CrmLoad {
    /// Adds the rows of a later source after this one's, e.g. inline config rows after the
    /// CSV file. Earlier rows win conflicts, so call this in precedence order.
    pub fn append(&mut self, mut other: CrmLoad) {
        self.crm.rows.append(&mut other.crm.rows);
        self.problems.append(&mut other.problems);
        self.rejected.append(&mut other.rejected);
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|f| f.severity == Severity::Error)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod import_tests;

#[cfg(test)]
mod xlsx_tests;

#[cfg(test)]
mod oscal_tests;
