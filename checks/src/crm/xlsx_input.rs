//! XLSX workbook bytes → [`RawCrmRow`]s: the CRM sheet (chosen by name, or the first sheet
//! with a header), merged cells read as their value in every cell they cover, and a header
//! of one row or two (a merged group title above the column names).
//!
//! Locations name the sheet: `crm.xlsx#CRM Moderate:4` is row 4 of that sheet.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use super::csv_input::{
    COLUMN_LIST, Candidate, CsvRead, Header, accept_header, classify, column_of, mark_owner,
    no_header,
};
use super::vocabulary::{header_key, is_inheritance_header};
use super::{CrmColumn as Column, Location, RawCrmRow};
use crate::lint::{Finding, code};

/// Whether `bytes` look like an XLSX workbook (a ZIP archive), whatever the file is called.
pub(super) fn is_workbook(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// One sheet as text: `rows[i]` is sheet row `first_row + i` (0-based), cells from column A.
struct Grid {
    first_row: u32,
    rows: Vec<Vec<String>>,
}

impl Grid {
    fn line(&self, index: usize) -> u32 {
        self.first_row
            .saturating_add(u32::try_from(index).unwrap_or(u32::MAX))
            .saturating_add(1)
    }
}

pub(super) fn read(
    file: &str,
    bytes: &[u8],
    sheet: Option<&str>,
    mapping: &[(Column, String)],
) -> CsvRead {
    let mut out = CsvRead {
        rows: Vec::new(),
        problems: Vec::new(),
        rejected: Vec::new(),
        inheritance_column: false,
    };
    let fail = |out: &mut CsvRead, message: String, help: String| {
        out.problems.push(Finding::error(
            Some(Location::new(file, 1)),
            code::INVALID_WORKBOOK,
            message,
            help,
        ));
    };
    let mut workbook = match Xlsx::new(Cursor::new(bytes)) {
        Ok(workbook) => workbook,
        Err(err) => {
            fail(
                &mut out,
                format!("cannot read the workbook: {err}"),
                "save it as an Excel workbook (.xlsx), or the CRM sheet as CSV".to_owned(),
            );
            return out;
        }
    };
    let names = workbook.sheet_names();
    let listed = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let chosen: Vec<String> = match sheet {
        Some(wanted) => match names
            .iter()
            .find(|n| n.trim().eq_ignore_ascii_case(wanted.trim()))
        {
            Some(name) => vec![name.clone()],
            None => {
                out.problems.push(Finding::error(
                    Some(Location::new(file, 1)),
                    code::MISSING_SHEET,
                    format!("the workbook has no sheet `{wanted}`; its sheets are {listed}"),
                    "set crm_sheet to one of the sheet names (case does not matter)".to_owned(),
                ));
                return out;
            }
        },
        None => names.clone(),
    };
    // The first sheet searched without a header: its name and its closest row.
    let mut first_miss: Option<(String, Option<(Location, Candidate)>)> = None;
    for name in chosen {
        let grid = match grid(&mut workbook, &name) {
            Ok(grid) => grid,
            Err(err) => {
                fail(
                    &mut out,
                    format!("cannot read sheet `{name}`: {err}"),
                    "save it as an Excel workbook (.xlsx), or the CRM sheet as CSV".to_owned(),
                );
                return out;
            }
        };
        let at = format!("{file}#{name}");
        match find_header(&at, &grid, mapping) {
            Found::Header {
                index,
                data_from,
                candidate,
                skipped,
            } => {
                let location = Location::new(&at, grid.line(index));
                accept_header(&candidate, &location, &skipped, mapping, &mut out.problems);
                out.inheritance_column = candidate
                    .owner_header
                    .as_deref()
                    .is_some_and(is_inheritance_header);
                read_rows(&at, &grid, data_from, &candidate.header, &mut out);
                return out;
            }
            Found::Nothing(closest) => {
                if first_miss.is_none() {
                    first_miss = Some((at, closest));
                }
            }
        }
    }
    match first_miss {
        Some((at, closest)) => {
            let mut finding = no_header(&at, closest, mapping);
            if sheet.is_none() && names.len() > 1 {
                finding.message = format!(
                    "no sheet has a CRM header ({listed}); in `{at}`: {}",
                    finding.message
                );
                finding.help = format!("{} Name the CRM sheet with crm_sheet.", finding.help);
            }
            out.problems.push(finding);
        }
        None => fail(
            &mut out,
            "the workbook has no sheets".to_owned(),
            format!("put the CRM on a sheet with a header row naming the columns: {COLUMN_LIST}"),
        ),
    }
    out
}

fn grid(workbook: &mut Xlsx<Cursor<&[u8]>>, name: &str) -> Result<Grid, calamine::XlsxError> {
    let range = workbook.worksheet_range(name)?;
    let merges = workbook.merge_cells_by_sheet_name(name)?;
    let Some((first_row, first_col)) = range.start() else {
        return Ok(Grid {
            first_row: 0,
            rows: Vec::new(),
        });
    };
    let text = |data: &Data| match data {
        Data::Empty => String::new(),
        other => other.to_string().trim().to_owned(),
    };
    let pad = usize::try_from(first_col).unwrap_or(0);
    let mut rows: Vec<Vec<String>> = range
        .rows()
        .map(|row| {
            std::iter::repeat_n(String::new(), pad)
                .chain(row.iter().map(text))
                .collect()
        })
        .collect();
    // A merged cell's value is stored in its top-left cell; every cell it covers shows it.
    for merge in merges {
        let (top, left) = merge.start;
        let (bottom, right) = merge.end;
        let Some(value) = cell(&rows, first_row, top, left).filter(|v| !v.is_empty()) else {
            continue;
        };
        for row in top..=bottom {
            let Some(index) = row
                .checked_sub(first_row)
                .and_then(|r| usize::try_from(r).ok())
            else {
                continue;
            };
            let Some(cells) = rows.get_mut(index) else {
                continue;
            };
            for col in left..=right {
                let col = usize::try_from(col).unwrap_or(usize::MAX);
                if cells.len() <= col {
                    cells.resize(col + 1, String::new());
                }
                if cells[col].is_empty() {
                    cells[col].clone_from(&value);
                }
            }
        }
    }
    Ok(Grid { first_row, rows })
}

fn cell(rows: &[Vec<String>], first_row: u32, row: u32, col: u32) -> Option<String> {
    let index = usize::try_from(row.checked_sub(first_row)?).ok()?;
    rows.get(index)?.get(usize::try_from(col).ok()?).cloned()
}

enum Found {
    Header {
        /// The (first) header row's index in the grid.
        index: usize,
        data_from: usize,
        candidate: Candidate,
        /// Lines above the header that had content.
        skipped: Vec<u32>,
    },
    Nothing(Option<(Location, Candidate)>),
}

/// The first row that is a header on its own, or with the row below it (a group title over
/// the column names) when the two name more columns than the first alone, or when the first
/// is no header and the second is none by itself either.
fn find_header(at: &str, grid: &Grid, mapping: &[(Column, String)]) -> Found {
    let mut skipped = Vec::new();
    let mut closest: Option<(Location, Candidate)> = None;
    let empty = |row: &[String]| row.iter().all(String::is_empty);
    for (index, row) in grid.rows.iter().enumerate() {
        if empty(row) {
            continue;
        }
        let single = classify(row, mapping);
        let two = grid
            .rows
            .get(index + 1)
            .map(|lower| (classify(lower, mapping), two_row(row, lower, mapping)));
        // A group title above the column names: the two rows name more columns than the
        // first alone (merged cells repeat their value in both). A title row above a header
        // that stands on its own is skipped instead.
        let use_two = match &two {
            Some((lower_alone, two)) if two.is_header() => {
                if single.is_header() {
                    two.recognised() > single.recognised()
                } else {
                    !lower_alone.is_header()
                }
            }
            _ => false,
        };
        if use_two && let Some((_, two)) = two {
            return Found::Header {
                index,
                data_from: index + 2,
                candidate: two,
                skipped,
            };
        }
        if single.is_header() {
            return Found::Header {
                index,
                data_from: index + 1,
                candidate: single,
                skipped,
            };
        }
        skipped.push(grid.line(index));
        let closer = closest
            .as_ref()
            .is_none_or(|(_, best)| single.recognised() > best.recognised());
        if closer {
            closest = Some((Location::new(at, grid.line(index)), single));
        }
    }
    Found::Nothing(closest)
}

/// Two header rows as one: per column the lower cell's text if it names a column, else the
/// upper's, else both together.
fn two_row(upper: &[String], lower: &[String], mapping: &[(Column, String)]) -> Candidate {
    let get = |cells: &[String], i: usize| cells.get(i).cloned().unwrap_or_default();
    let names: Vec<String> = (0..upper.len().max(lower.len()))
        .map(|i| {
            let (upper, lower) = (get(upper, i), get(lower, i));
            let joined = format!("{upper} {lower}").trim().to_owned();
            // An owner word under a group title ("Control Origination" over "Service Provider
            // Corporate") is an X-mark column of its own.
            // Only under such a title: a data row's "Partial" below a header is no column.
            let group = column_of(&upper, mapping) == Some(Column::Owner)
                || header_key(&upper) == "implementationstatus";
            if group && mark_owner(&lower).is_some() && column_of(&lower, mapping).is_none() {
                return lower;
            }
            [lower.clone(), upper.clone(), joined.clone()]
                .into_iter()
                .find(|name| !name.is_empty() && column_of(name, mapping).is_some())
                .unwrap_or(if lower.is_empty() { upper } else { joined })
        })
        .collect();
    classify(&names, mapping)
}

fn read_rows(at: &str, grid: &Grid, from: usize, header: &Header, out: &mut CsvRead) {
    for (index, cells) in grid.rows.iter().enumerate().skip(from) {
        if cells.iter().all(String::is_empty) {
            continue;
        }
        let mut row = RawCrmRow::new(Location::new(at, grid.line(index)));
        for (position, column) in header.columns.iter().enumerate() {
            let Some(column) = column else { continue };
            row.set(
                *column,
                cells.get(position).map_or("", |text| text.as_str()),
            );
            row.place(*column, position);
        }
        if let Some(owner) = header.marked_owner(|position| cells.get(position).map(String::as_str))
        {
            row.set(Column::Owner, &owner);
        }
        out.rows.push(row);
    }
}
