//! CSV bytes → [`RawCrmRow`]s, reporting what is wrong with the file itself.
//!
//! CRMs are edited in spreadsheets, so this is forgiving where intent is clear (a UTF-8 byte
//! order mark, header case, `Contractor Does` for `contractor_does`, blank lines and all-empty
//! rows) and precise where it is not: every problem names its line.

use csv::{ByteRecord, ReaderBuilder};

use super::vocabulary::{OwnerWords, builtin_column, header_key, is_inheritance_header, word_key};
use super::{CrmColumn as Column, Location, RawCrmRow, RejectedRow, Responsibility};
use crate::catalog::ControlRef;
use crate::line_index::LineIndex;
use crate::lint::{Finding, code};

pub(super) struct CsvRead {
    pub(super) rows: Vec<RawCrmRow>,
    pub(super) problems: Vec<Finding>,
    pub(super) rejected: Vec<RejectedRow>,
    /// Whether the owner column is a "can be inherited" one (`Yes`/`No`).
    pub(super) inheritance_column: bool,
}

pub(super) const COLUMN_LIST: &str =
    "id, owner, contractor_does, msp_does, evidence_producer, verification, package, justification";

/// Which column each field position holds (`None` for columns that are not ours).
pub(super) struct Header {
    pub(super) columns: Vec<Option<Column>>,
    /// Without an owner column, the columns whose X marks say who owns a row (a CIS sheet's
    /// "Control Origination" group: `Service Provider Corporate`, `Provided by Customer`, …,
    /// and its `N/A` status): each position with the owner its mark means.
    pub(super) marks: Vec<(usize, Responsibility, String)>,
}

impl Header {
    pub(super) fn position(&self, column: Column) -> Option<usize> {
        self.columns.iter().position(|c| *c == Some(column))
    }

    /// The owner a row's X marks give, as an owner word; `None` for a header without mark
    /// columns. Several marks on one row combine: the contractor's and the provider's make
    /// it shared. Not applicable beside anything else is contradictory and comes back as the
    /// marks' names, which the owner check then refuses at the row.
    pub(super) fn marked_owner<'a>(
        &self,
        cell: impl Fn(usize) -> Option<&'a str>,
    ) -> Option<String> {
        if self.marks.is_empty() {
            return None;
        }
        let marked: Vec<&(usize, Responsibility, String)> = self
            .marks
            .iter()
            .filter(|(position, _, _)| cell(*position).is_some_and(is_mark))
            .collect();
        let has = |owner: Responsibility| marked.iter().any(|(_, r, _)| *r == owner);
        let word = match (
            has(Responsibility::NotApplicable),
            has(Responsibility::Contractor),
            has(Responsibility::Msp),
            has(Responsibility::Shared),
        ) {
            (false, false, false, false) => String::new(),
            (true, false, false, false) => Responsibility::NotApplicable.as_str().to_owned(),
            (false, true, false, false) => Responsibility::Contractor.as_str().to_owned(),
            (false, false, true, false) => Responsibility::Msp.as_str().to_owned(),
            (false, _, _, _) => Responsibility::Shared.as_str().to_owned(),
            (true, _, _, _) => marked
                .iter()
                .map(|(_, _, name)| name.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
        };
        Some(word)
    }
}

/// Whether a cell marks its column: `X`, a check mark, `yes`.
fn is_mark(cell: &str) -> bool {
    matches!(
        cell.trim().to_lowercase().as_str(),
        "x" | "✓" | "✔" | "☑" | "yes" | "y" | "true"
    )
}

/// A header cell that is an owner word (`Service Provider Hybrid`, `Configured by Customer`,
/// `N/A`) names a mark column.
pub(super) fn mark_owner(name: &str) -> Option<Responsibility> {
    if name.trim().is_empty() {
        return None;
    }
    OwnerWords::default()
        .lookup(name)
        .or_else(|| (word_key(name) == "not applicable").then_some(Responsibility::NotApplicable))
}

/// A record's cells read as a header: what each cell means, and what is odd about it.
pub(super) struct Candidate {
    pub(super) header: Header,
    /// Cells that are not ours, as shown in messages.
    extra: Vec<String>,
    duplicate: Vec<String>,
    /// The owner column's header.
    pub(super) owner_header: Option<String>,
}

impl Candidate {
    pub(super) fn recognised(&self) -> usize {
        // Owner words are common in data rows ("3.1.1,contractor,…"): they count as mark
        // columns only beside an id column.
        let marks = if self.header.position(Column::Id).is_some() {
            self.header.marks.len()
        } else {
            0
        };
        self.header.columns.iter().flatten().count() + marks
    }

    pub(super) fn is_header(&self) -> bool {
        self.header.position(Column::Id).is_some()
            && (self.header.position(Column::Owner).is_some() || !self.header.marks.is_empty())
    }
}

/// Reads the CRM; `mapping` is the config's column → header, which overrides the built-in
/// aliases of the columns it names. The header is the first row naming an id and an owner
/// column; the rows above it (a title, a guidance paragraph) are not read.
pub(super) fn read(file: &str, bytes: &[u8], mapping: &[(Column, String)]) -> CsvRead {
    let mut out = CsvRead {
        rows: Vec::new(),
        problems: Vec::new(),
        rejected: Vec::new(),
        inheritance_column: false,
    };
    // Rows before the header: how many had content, and the one that came closest to a header.
    let mut skipped: Vec<u32> = Vec::new();
    let mut closest: Option<(Location, Candidate)> = None;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let lines = LineIndex::new(bytes);
    let mut record = ByteRecord::new();
    let mut header: Option<Header> = None;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                // Reading from memory with flexible lengths leaves little that can fail, but
                // whatever does ends the file: the reader's position is no longer trustworthy.
                let line = err.position().map_or(1, |p| lines.line_at(p.byte()));
                out.problems.push(Finding::error(
                    Some(Location::new(file, line)),
                    code::INVALID_CSV,
                    format!("cannot read the CSV past this line: {err}"),
                    "save the file as plain comma-separated values".to_owned(),
                ));
                break;
            }
        }
        let line = record.position().map_or(1, |p| lines.line_at(p.byte()));
        let location = Location::new(file, line);
        // A quoted cell may hold a line break, and a long description sometimes does; but a
        // quote left open swallows the rows after it into one cell, which would otherwise
        // show only as their objectives going unowned.
        let breaks = record
            .iter()
            .flat_map(|field| field.iter())
            .filter(|&&byte| byte == b'\n')
            .count();
        if breaks > 0 {
            let last = u32::try_from(breaks).map_or(u32::MAX, |breaks| line.saturating_add(breaks));
            out.problems.push(Finding::warning(
                Some(location.clone()),
                code::MULTI_LINE_ROW,
                format!("this row runs on to line {last}: a quoted cell holds a line break"),
                "if that is not meant, a quote (\") opened on this row is not closed; close it or remove it".to_owned(),
            ));
        }
        match &header {
            None => {
                if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
                    continue;
                }
                let Some(candidate) =
                    read_candidate(&record, &location, mapping, &mut out.problems)
                else {
                    return out;
                };
                if candidate.is_header() {
                    accept_header(&candidate, &location, &skipped, mapping, &mut out.problems);
                    out.inheritance_column = candidate
                        .owner_header
                        .as_deref()
                        .is_some_and(is_inheritance_header);
                    header = Some(candidate.header);
                } else {
                    skipped.push(location.line);
                    let closer = closest
                        .as_ref()
                        .is_none_or(|(_, best)| candidate.recognised() > best.recognised());
                    if closer {
                        closest = Some((location, candidate));
                    }
                }
            }
            Some(header) => read_record(header, &record, location, &mut out),
        }
    }
    if header.is_none() {
        out.problems.push(no_header(file, closest, mapping));
    }
    out
}

/// The finding for a file in which no row names both an id and an owner column.
pub(super) fn no_header(
    file: &str,
    closest: Option<(Location, Candidate)>,
    mapping: &[(Column, String)],
) -> Finding {
    let mapped = if mapping.is_empty() {
        String::new()
    } else {
        let pairs: Vec<String> = mapping
            .iter()
            .map(|(column, header)| format!("{column} = \"{header}\""))
            .collect();
        format!(" (crm_columns maps {})", pairs.join(", "))
    };
    let help = format!(
        "the header row must name at least an id column (id, ref, Control ID, Requirement, …) and an owner column (owner, Responsibility, Control Responsibility, Can Be Inherited from CSP, …); CRM columns are {COLUMN_LIST}; map other headers with [contractor.crm_columns]"
    );
    match closest {
        Some((location, candidate)) if candidate.recognised() > 0 => {
            let missing: Vec<&str> = [Column::Id, Column::Owner]
                .into_iter()
                .filter(|column| candidate.header.position(*column).is_none())
                .map(Column::name)
                .collect();
            let (noun, _) = plural(missing.len(), "column", "");
            Finding::error(
                Some(location),
                code::MISSING_COLUMN,
                format!(
                    "the header has no {} {noun}, so no row can be read{mapped}",
                    missing.join(" or ")
                ),
                help,
            )
        }
        Some((location, _)) => Finding::error(
            Some(location),
            code::MISSING_HEADER,
            format!("no row names an id and an owner column, so no row can be read{mapped}"),
            help,
        ),
        None => Finding::error(
            Some(Location::new(file, 1)),
            code::MISSING_HEADER,
            "the CRM file is empty: it has no header row".to_owned(),
            format!("start the file with a header row naming the columns: {COLUMN_LIST}"),
        ),
    }
}

/// Reads a record as a header; `None` when a cell is not UTF-8 (reported).
fn read_candidate(
    record: &ByteRecord,
    location: &Location,
    mapping: &[(Column, String)],
    problems: &mut Vec<Finding>,
) -> Option<Candidate> {
    let mut names = Vec::with_capacity(record.len());
    for (index, raw) in record.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(raw) else {
            problems.push(Finding::error(
                Some(location.clone()),
                code::INVALID_CSV,
                format!("header column {} is not valid UTF-8", index + 1),
                "save the file as UTF-8".to_owned(),
            ));
            return None;
        };
        names.push(name);
    }
    Some(classify(&names, mapping))
}

/// The column a header cell names: by the config's mapping, else by our name or an alias
/// of a column the mapping leaves alone.
pub(super) fn column_of(name: &str, mapping: &[(Column, String)]) -> Option<Column> {
    let key = header_key(name);
    mapping
        .iter()
        .find(|(_, header)| !key.is_empty() && header_key(header) == key)
        .map(|(column, _)| *column)
        .or_else(|| builtin_column(name).filter(|column| !mapping.iter().any(|(m, _)| m == column)))
}

/// Header cells read as columns.
pub(super) fn classify<S: AsRef<str>>(names: &[S], mapping: &[(Column, String)]) -> Candidate {
    let named: Vec<Option<Column>> = names
        .iter()
        .map(|name| column_of(name.as_ref(), mapping))
        .collect();
    // X-mark columns stand in for an owner column, never beside one.
    let marks: Vec<(usize, Responsibility, String)> = if named.contains(&Some(Column::Owner)) {
        Vec::new()
    } else {
        names
            .iter()
            .enumerate()
            .filter(|(index, _)| named[*index].is_none())
            .filter_map(|(index, name)| {
                let name = name.as_ref().trim();
                mark_owner(name).map(|owner| (index, owner, name.to_owned()))
            })
            .collect()
    };
    let mut columns = Vec::with_capacity(names.len());
    let mut extra = Vec::new();
    let mut duplicate = Vec::new();
    let mut owner_header = None;
    for (index, (name, column)) in names.iter().zip(named).enumerate() {
        let name = name.as_ref();
        match column {
            None if marks.iter().any(|(position, _, _)| *position == index) => {}
            None if name.trim().is_empty() => extra.push(format!("column {} (no name)", index + 1)),
            None => extra.push(format!("`{}`", name.trim())),
            Some(column) if columns.contains(&Some(column)) => {
                duplicate.push(format!("`{}` ({column})", name.trim()));
                columns.push(None);
                continue;
            }
            Some(Column::Owner) => owner_header = Some(name.trim().to_owned()),
            Some(_) => {}
        }
        columns.push(column);
    }
    Candidate {
        header: Header { columns, marks },
        extra,
        duplicate,
        owner_header,
    }
}

/// Reports what is worth knowing about the header row that was found.
pub(super) fn accept_header(
    candidate: &Candidate,
    location: &Location,
    skipped: &[u32],
    mapping: &[(Column, String)],
    problems: &mut Vec<Finding>,
) {
    // Every line above the header is not read, blank ones and the ends of a cell that runs
    // over several lines included: the range is all of them, not the first to the last
    // line where a skipped row starts (which left out a blank line just above the header).
    if !skipped.is_empty() {
        let last = location.line.saturating_sub(1);
        let lines = if last <= 1 {
            "line 1 above it (a title or guidance) is".to_owned()
        } else {
            format!("lines 1 to {last} above it (a title or guidance) are")
        };
        problems.push(Finding::warning(
            Some(location.clone()),
            code::ROWS_ABOVE_HEADER,
            format!("the header is line {}; {lines} not read", location.line),
            "nothing to do if those lines are not CRM rows".to_owned(),
        ));
    }
    if !candidate.extra.is_empty() {
        let what = if candidate.extra.len() == 1 {
            "column {} is not a CRM column and is ignored"
        } else {
            "columns {} are not CRM columns and are ignored"
        };
        problems.push(Finding::warning(
            Some(location.clone()),
            code::UNKNOWN_COLUMN,
            what.replace("{}", &candidate.extra.join(", ")),
            format!(
                "if one holds a CRM field, map it in [contractor.crm_columns] (e.g. contractor_does = \"Customer Tasks\"); CRM columns are {COLUMN_LIST}"
            ),
        ));
    }
    if !candidate.duplicate.is_empty() {
        let (noun, verb) = plural(candidate.duplicate.len(), "column", "repeats");
        problems.push(Finding::error(
            Some(location.clone()),
            code::DUPLICATE_COLUMN,
            format!(
                "{noun} {} {verb} an earlier column's field; only the first is read",
                candidate.duplicate.join(", ")
            ),
            "keep one column of each field, or say which one is meant in [contractor.crm_columns]"
                .to_owned(),
        ));
    }
    let unmatched: Vec<String> = mapping
        .iter()
        .filter(|(column, _)| candidate.header.position(*column).is_none())
        .map(|(column, header)| format!("{column} = \"{header}\""))
        .collect();
    if !unmatched.is_empty() {
        problems.push(Finding::error(
            Some(location.clone()),
            code::MISSING_COLUMN,
            format!(
                "crm_columns maps {}, but the header has no such column",
                unmatched.join(", ")
            ),
            "write the file's header exactly (case, spaces and punctuation do not matter)"
                .to_owned(),
        ));
    }
}

fn read_record(header: &Header, record: &ByteRecord, location: Location, out: &mut CsvRead) {
    // Spreadsheets pad with empty rows; they say nothing.
    if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
        return;
    }
    let reject = |out: &mut CsvRead, message: String, help: &str| {
        let control = header
            .position(Column::Id)
            .and_then(|i| record.get(i))
            .and_then(|cell| std::str::from_utf8(cell).ok())
            .and_then(|text| ControlRef::parse_lenient(text).ok());
        out.problems.push(Finding::error(
            Some(location.clone()),
            code::INVALID_CSV,
            message,
            help.to_owned(),
        ));
        out.rejected.push(RejectedRow {
            location: location.clone(),
            control,
        });
    };
    if record.len() != header.columns.len() {
        reject(
            out,
            format!(
                "row has {} but the header has {}",
                fields(record.len()),
                header.columns.len()
            ),
            "give every row as many fields as the header (quote cells that contain commas)",
        );
        return;
    }
    let mut row = RawCrmRow::new(location.clone());
    for (index, (cell, column)) in record.iter().zip(&header.columns).enumerate() {
        let Some(column) = column else { continue };
        let Ok(text) = std::str::from_utf8(cell) else {
            reject(
                out,
                format!("field {} is not valid UTF-8", index + 1),
                "save the file as UTF-8",
            );
            return;
        };
        row.set(*column, text);
        row.place(*column, index);
    }
    if let Some(owner) = header.marked_owner(|position| {
        record
            .get(position)
            .and_then(|cell| std::str::from_utf8(cell).ok())
    }) {
        row.set(Column::Owner, &owner);
    }
    out.rows.push(row);
}

fn fields(count: usize) -> String {
    match count {
        1 => "1 field".to_owned(),
        n => format!("{n} fields"),
    }
}

/// `("column", "is")` or `("columns", "are")`, the verb in third person otherwise.
fn plural(count: usize, noun: &str, verb: &str) -> (String, String) {
    if count == 1 {
        return (noun.to_owned(), verb.to_owned());
    }
    let verb = match verb {
        "is" => "are".to_owned(),
        other => other.strip_suffix('s').unwrap_or(other).to_owned(),
    };
    (format!("{noun}s"), verb)
}
