//! CSV bytes → [`RawCrmRow`]s, reporting what is wrong with the file itself.
//!
//! CRMs are edited in spreadsheets, so this is forgiving where intent is clear (a UTF-8 byte
//! order mark, header case, `Contractor Does` for `contractor_does`, blank lines and all-empty
//! rows) and precise where it is not: every problem names its line.

use csv::{ByteRecord, ReaderBuilder};

use super::{Location, RawCrmRow, RejectedRow};
use crate::catalog::ControlRef;
use crate::lint::{Finding, code};

pub(super) struct CsvRead {
    pub(super) rows: Vec<RawCrmRow>,
    pub(super) problems: Vec<Finding>,
    pub(super) rejected: Vec<RejectedRow>,
}

/// The columns a CRM may have; `id` and `owner` are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Owner,
    ContractorDoes,
    MspDoes,
    EvidenceProducer,
    Verification,
    Package,
    Justification,
}

const COLUMNS: [(&str, Column); 8] = [
    ("id", Column::Id),
    ("owner", Column::Owner),
    ("contractor_does", Column::ContractorDoes),
    ("msp_does", Column::MspDoes),
    ("evidence_producer", Column::EvidenceProducer),
    ("verification", Column::Verification),
    ("package", Column::Package),
    ("justification", Column::Justification),
];

const COLUMN_LIST: &str =
    "id, owner, contractor_does, msp_does, evidence_producer, verification, package, justification";

/// Which column each field position holds (`None` for columns that are not ours).
struct Header {
    columns: Vec<Option<Column>>,
}

impl Header {
    fn position(&self, column: Column) -> Option<usize> {
        self.columns.iter().position(|c| *c == Some(column))
    }
}

pub(super) fn read(file: &str, bytes: &[u8]) -> CsvRead {
    let mut out = CsvRead {
        rows: Vec::new(),
        problems: Vec::new(),
        rejected: Vec::new(),
    };
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
            None => match read_header(&record, &location, &mut out.problems) {
                Some(read) => header = Some(read),
                None => return out,
            },
            Some(header) => read_record(header, &record, location, &mut out),
        }
    }
    if header.is_none() {
        out.problems.push(Finding::error(
            Some(Location::new(file, 1)),
            code::MISSING_HEADER,
            "the CRM file is empty: it has no header row".to_owned(),
            format!("start the file with a header row naming the columns: {COLUMN_LIST}"),
        ));
    }
    out
}

/// Physical line numbers from byte offsets.
///
/// `csv::Position::line` skips blank lines and counts `\r\n` oddly, and a record's
/// `Position::byte` can point into the line breaks before it; so lines are counted here, from
/// the first byte after those breaks. `\n`, `\r\n` and a lone `\r` each end a line, as in
/// the csv crate.
struct LineIndex<'a> {
    bytes: &'a [u8],
    /// Byte offset where each line starts; line 1 starts at 0.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let mut starts = vec![0];
        for (index, byte) in bytes.iter().enumerate() {
            let ends_line = match byte {
                b'\n' => true,
                b'\r' => bytes.get(index + 1) != Some(&b'\n'),
                _ => false,
            };
            if ends_line {
                starts.push(index + 1);
            }
        }
        Self { bytes, starts }
    }

    /// The line of the first byte at or after `offset` that is not a line break.
    fn line_at(&self, offset: u64) -> u32 {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let start = self
            .bytes
            .get(offset..)
            .and_then(|rest| rest.iter().position(|b| !matches!(b, b'\r' | b'\n')))
            .map_or(self.bytes.len(), |skip| offset + skip);
        let line = self.starts.partition_point(|&s| s <= start);
        u32::try_from(line).unwrap_or(u32::MAX)
    }
}

/// Reads the header row; `None` when the file cannot be read without `id` and `owner`.
fn read_header(
    record: &ByteRecord,
    location: &Location,
    problems: &mut Vec<Finding>,
) -> Option<Header> {
    let mut columns = Vec::with_capacity(record.len());
    let mut unknown = Vec::new();
    let mut duplicate = Vec::new();
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
        let normalized = name.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        let column = COLUMNS
            .iter()
            .find(|(known, _)| *known == normalized)
            .map(|(_, column)| *column);
        match column {
            None if name.trim().is_empty() => {
                unknown.push(format!("column {} (no name)", index + 1))
            }
            None => unknown.push(format!("`{}`", name.trim())),
            Some(column) if columns.contains(&Some(column)) => {
                duplicate.push(format!("`{normalized}`"));
                columns.push(None);
                continue;
            }
            Some(_) => {}
        }
        columns.push(column);
    }
    if !unknown.is_empty() {
        let (noun, verb) = plural(unknown.len(), "column", "is");
        problems.push(Finding::error(
            Some(location.clone()),
            code::UNKNOWN_COLUMN,
            format!("{noun} {} {verb} not part of a CRM", unknown.join(", ")),
            format!(
                "rename or remove the {noun} (their cells are not read); CRM columns are {COLUMN_LIST}"
            ),
        ));
    }
    if !duplicate.is_empty() {
        let (noun, verb) = plural(duplicate.len(), "column", "appears");
        problems.push(Finding::error(
            Some(location.clone()),
            code::DUPLICATE_COLUMN,
            format!(
                "{noun} {} {verb} more than once; only the first is read",
                duplicate.join(", ")
            ),
            "keep one column of each name".to_owned(),
        ));
    }
    let header = Header { columns };
    let missing: Vec<&str> = [("id", Column::Id), ("owner", Column::Owner)]
        .into_iter()
        .filter(|(_, column)| header.position(*column).is_none())
        .map(|(name, _)| name)
        .collect();
    if missing.is_empty() {
        return Some(header);
    }
    let (noun, _) = plural(missing.len(), "column", "");
    problems.push(Finding::error(
        Some(location.clone()),
        code::MISSING_COLUMN,
        format!(
            "the header has no {} {noun}, so no row can be read",
            missing.join(" or ")
        ),
        format!("the first line must name the columns, at least id and owner: {COLUMN_LIST}"),
    ));
    None
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
            .and_then(|text| text.parse::<ControlRef>().ok());
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
        let text = text.trim();
        let value = (!text.is_empty()).then(|| text.to_owned());
        let slot = match column {
            Column::Id => &mut row.id,
            Column::Owner => &mut row.owner,
            Column::ContractorDoes => &mut row.contractor_does,
            Column::MspDoes => &mut row.msp_does,
            Column::EvidenceProducer => &mut row.evidence_producer,
            Column::Verification => &mut row.verification,
            Column::Package => &mut row.package,
            Column::Justification => &mut row.justification,
        };
        *slot = value;
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
