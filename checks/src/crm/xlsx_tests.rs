//! XLSX CRMs built in the tests: a FedRAMP-style workbook (instructions sheet, title and
//! guidance merged above the header on row 3, `Yes/Partial/No`), a two-row merged header with
//! an internal column, sheet choice, and files that are not workbooks.

use rust_xlsxwriter::{Format, Workbook, Worksheet};

use super::*;
use crate::lint::code;

fn problems(load: &CrmLoad) -> Vec<(String, Severity, &'static str)> {
    load.problems
        .iter()
        .map(|f| {
            let at = f
                .location
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            (at, f.severity, f.code)
        })
        .collect()
}

fn owners(load: &CrmLoad) -> Vec<String> {
    load.crm
        .rows()
        .iter()
        .map(|row| {
            format!(
                "{} {} {}",
                row.location,
                row.control,
                row.assignment.responsible()
            )
        })
        .collect()
}

fn write_rows(sheet: &mut Worksheet, first_row: u32, rows: &[&[&str]]) {
    for (r, cells) in rows.iter().enumerate() {
        for (c, text) in cells.iter().enumerate() {
            if !text.is_empty() {
                let (row, col) = (
                    first_row + u32::try_from(r).unwrap(),
                    u16::try_from(c).unwrap(),
                );
                sheet.write_string(row, col, *text).unwrap();
            }
        }
    }
}

/// FedRAMP's CRM layout: an instructions sheet first, then the CRM sheet with a merged title
/// (row 1), a merged guidance paragraph (row 2) and the header on row 3.
fn fedramp_workbook() -> Vec<u8> {
    let mut workbook = Workbook::new();
    let merged = Format::new();
    let instructions = workbook.add_worksheet();
    instructions.set_name("Instructions").unwrap();
    write_rows(
        instructions,
        0,
        &[
            &["How to complete this workbook"],
            &["Fill in the CRM sheets."],
        ],
    );
    let crm = workbook.add_worksheet();
    crm.set_name("CRM Moderate").unwrap();
    crm.merge_range(
        0,
        0,
        0,
        4,
        "Acme Cloud Customer Responsibility Matrix",
        &merged,
    )
    .unwrap();
    crm.merge_range(
        1,
        0,
        1,
        4,
        "Can Be Inherited: Yes = inherited from Acme Cloud, Partial = shared, No = the customer's.",
        &merged,
    )
    .unwrap();
    write_rows(
        crm,
        2,
        &[
            &[
                "Control ID",
                "Can Be Inherited from CSP",
                "Customer Responsibility",
                "Provider Responsibility",
                "Internal COMMENTS (REMOVE before publishing)",
            ],
            &[
                "AC.L2-3.1.1",
                "Partial",
                "Approve accounts",
                "Provision accounts",
                "",
            ],
            &["3.1.2", "Yes", "", "Enforce roles", "ask Dan"],
            &["3.1.3a", "No", "Define CUI flows", "", ""],
            &["3.1.16", "N/A", "", "", ""],
        ],
    );
    workbook.save_to_buffer().unwrap()
}

#[test]
fn a_fedramp_style_sheet_is_found_and_read_with_its_yes_partial_no_words() {
    let bytes = fedramp_workbook();
    // The first sheet with a header is the CRM; by name it is the same, in any case.
    for sheet in [None, Some("crm moderate")] {
        let load = Crm::from_xlsx_with("crm.xlsx", &bytes, sheet, &CrmImport::default());
        assert_eq!(
            owners(&load),
            [
                "crm.xlsx#CRM Moderate:4 3.1.1 shared",
                "crm.xlsx#CRM Moderate:5 3.1.2 msp",
                "crm.xlsx#CRM Moderate:6 3.1.3[a] contractor",
            ],
            "{sheet:?}"
        );
        assert_eq!(
            problems(&load),
            [
                (
                    "crm.xlsx#CRM Moderate:3".to_owned(),
                    Severity::Warning,
                    code::ROWS_ABOVE_HEADER
                ),
                (
                    "crm.xlsx#CRM Moderate:3".to_owned(),
                    Severity::Warning,
                    code::UNKNOWN_COLUMN
                ),
                (
                    "crm.xlsx#CRM Moderate:7".to_owned(),
                    Severity::Error,
                    code::NOT_APPLICABLE_WITHOUT_REASON
                ),
            ],
            "{sheet:?}"
        );
        assert_eq!(
            load.problems[0].message,
            "the header is line 3; lines 1 to 2 above it (a title or guidance) are not read"
        );
    }
}

#[test]
fn a_two_row_merged_header_with_an_internal_column() {
    let mut workbook = Workbook::new();
    let merged = Format::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("CRM").unwrap();
    // Row 1: `Ref` and `Responsibility` merged down over two rows, `Duties` merged across the
    // two text columns, `Internal` over its column; row 2: the text columns' names.
    sheet.merge_range(0, 0, 1, 0, "Ref", &merged).unwrap();
    sheet
        .merge_range(0, 1, 1, 1, "Responsibility", &merged)
        .unwrap();
    sheet.merge_range(0, 2, 0, 3, "Duties", &merged).unwrap();
    sheet.write_string(0, 4, "Internal").unwrap();
    write_rows(
        sheet,
        1,
        &[
            &[
                "",
                "",
                "Customer Responsibility",
                "MSP Responsibility",
                "Comments",
            ],
            &[
                "3.1.1[a]",
                "Service Provider Hybrid",
                "",
                "Runs both layers",
                "x",
            ],
            &[
                "3.1.1(b)",
                "Shared (Customer and Provider)",
                "Approves",
                "Enforces",
                "",
            ],
        ],
    );
    let bytes = workbook.save_to_buffer().unwrap();
    let load = Crm::from_xlsx_with("crm.xlsx", &bytes, Some("CRM"), &CrmImport::default());
    assert_eq!(
        owners(&load),
        [
            "crm.xlsx#CRM:3 3.1.1[a] msp",
            "crm.xlsx#CRM:4 3.1.1[b] shared"
        ]
    );
    assert_eq!(
        problems(&load),
        [(
            "crm.xlsx#CRM:1".to_owned(),
            Severity::Warning,
            code::UNKNOWN_COLUMN
        )]
    );
    assert_eq!(
        load.problems[0].message,
        "column `Internal Comments` is not a CRM column and is ignored"
    );
}

#[test]
fn a_vertically_merged_owner_cell_owns_every_row_it_covers() {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    write_rows(
        sheet,
        0,
        &[
            &["id", "owner", "msp_does"],
            &["3.1.1[a]", "", "a"],
            &["3.1.1[b]", "", "b"],
        ],
    );
    sheet
        .merge_range(1, 1, 2, 1, "Inherited", &Format::new())
        .unwrap();
    let bytes = workbook.save_to_buffer().unwrap();
    let load = Crm::from_xlsx_with("crm.xlsx", &bytes, None, &CrmImport::default());
    assert_eq!(
        owners(&load),
        [
            "crm.xlsx#Sheet1:2 3.1.1[a] msp",
            "crm.xlsx#Sheet1:3 3.1.1[b] msp"
        ]
    );
}

#[test]
fn a_missing_sheet_lists_the_sheets_and_a_sheet_without_header_says_so() {
    let bytes = fedramp_workbook();
    let load = Crm::from_xlsx_with("crm.xlsx", &bytes, Some("CRM High"), &CrmImport::default());
    assert_eq!(
        problems(&load),
        [(
            "crm.xlsx:1".to_owned(),
            Severity::Error,
            code::MISSING_SHEET
        )]
    );
    assert_eq!(
        load.problems[0].message,
        "the workbook has no sheet `CRM High`; its sheets are `Instructions`, `CRM Moderate`"
    );
    let load = Crm::from_xlsx_with(
        "crm.xlsx",
        &bytes,
        Some("Instructions"),
        &CrmImport::default(),
    );
    assert_eq!(
        problems(&load),
        [(
            "crm.xlsx#Instructions:1".to_owned(),
            Severity::Error,
            code::MISSING_HEADER
        )]
    );
}

#[test]
fn workbooks_are_recognised_by_content_and_broken_ones_reported() {
    // A workbook saved with a .csv name is still read as a workbook.
    let load = Crm::from_file_with("crm.csv", &fedramp_workbook(), None, &CrmImport::default());
    assert_eq!(load.crm.rows().len(), 3);
    // CSV stays CSV.
    let load = Crm::from_file_with(
        "crm.csv",
        b"id,owner,contractor_does\n3.1.1,customer,x\n",
        None,
        &CrmImport::default(),
    );
    assert_eq!(owners(&load), ["crm.csv:2 3.1.1 contractor"]);
    // A ZIP that is no workbook.
    let load = Crm::from_file_with(
        "crm.xlsx",
        b"PK\x03\x04not really a zip",
        None,
        &CrmImport::default(),
    );
    assert_eq!(
        problems(&load),
        [(
            "crm.xlsx:1".to_owned(),
            Severity::Error,
            code::INVALID_WORKBOOK
        )]
    );
    assert!(
        load.problems[0]
            .message
            .starts_with("cannot read the workbook: "),
        "{}",
        load.problems[0].message
    );
}

/// A CIS worksheet: `Control ID` merged down over two header rows, `Implementation Status`
/// and `Control Origination` merged across their columns, one X-mark column per status and
/// origination below them.
#[test]
fn a_cis_sheet_reads_its_origination_x_marks_as_the_owner() {
    let mut workbook = Workbook::new();
    let merged = Format::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("CIS").unwrap();
    sheet
        .merge_range(0, 0, 1, 0, "Control ID", &merged)
        .unwrap();
    sheet
        .merge_range(0, 1, 0, 3, "Implementation Status", &merged)
        .unwrap();
    sheet
        .merge_range(0, 4, 0, 8, "Control Origination", &merged)
        .unwrap();
    sheet
        .merge_range(0, 9, 1, 9, "Customer Responsibility", &merged)
        .unwrap();
    sheet
        .merge_range(0, 10, 1, 10, "Provider Responsibility", &merged)
        .unwrap();
    sheet
        .merge_range(0, 11, 1, 11, "Justification", &merged)
        .unwrap();
    write_rows(
        sheet,
        1,
        &[
            &[
                "",
                "Implemented",
                "Planned",
                "N/A",
                "Service Provider Corporate",
                "Service Provider Hybrid",
                "Configured by Customer",
                "Provided by Customer",
                "Shared (Service Provider and Customer Responsibility)",
                "",
                "",
                "",
            ],
            // One provider mark.
            &[
                "3.1.1[a]",
                "X",
                "",
                "",
                "X",
                "",
                "",
                "",
                "",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
            // Two provider marks stay the provider's: Hybrid is not shared.
            &[
                "3.1.1[b]",
                "X",
                "",
                "",
                "X",
                "x",
                "",
                "",
                "",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
            // A customer and a provider mark: shared.
            &[
                "3.1.1[c]",
                "X",
                "",
                "",
                "",
                "X",
                "X",
                "",
                "",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
            &[
                "3.1.1[d]",
                "X",
                "",
                "",
                "",
                "",
                "",
                "✓",
                "",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
            &[
                "3.1.1[e]",
                "X",
                "",
                "",
                "",
                "",
                "",
                "",
                "X",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
            &[
                "3.1.2",
                "",
                "",
                "X",
                "",
                "",
                "",
                "",
                "",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
            // No mark at all, and N/A beside an origination: both refused at their row.
            &[
                "3.1.3",
                "X",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
            &[
                "3.1.4",
                "",
                "",
                "X",
                "X",
                "",
                "",
                "",
                "",
                "Reviews",
                "Administers",
                "No wireless in scope",
            ],
        ],
    );
    let bytes = workbook.save_to_buffer().unwrap();
    let load = Crm::from_xlsx_with("cis.xlsx", &bytes, None, &CrmImport::default());
    assert_eq!(
        owners(&load),
        [
            "cis.xlsx#CIS:3 3.1.1[a] msp",
            "cis.xlsx#CIS:4 3.1.1[b] msp",
            "cis.xlsx#CIS:5 3.1.1[c] shared",
            "cis.xlsx#CIS:6 3.1.1[d] contractor",
            "cis.xlsx#CIS:7 3.1.1[e] shared",
            "cis.xlsx#CIS:8 3.1.2 not_applicable",
        ]
    );
    let errors: Vec<(String, &str)> = load
        .problems
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            let at = f
                .location
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            (at, f.message.as_str())
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, "cis.xlsx#CIS:9");
    assert_eq!(errors[1].0, "cis.xlsx#CIS:10");
    assert!(
        errors[1].1.contains("N/A + Service Provider Corporate"),
        "{}",
        errors[1].1
    );
    // The status columns that are not owners are ignored, and said to be.
    let ignored: Vec<&str> = load
        .problems
        .iter()
        .filter(|f| f.code == code::UNKNOWN_COLUMN)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        ignored,
        [
            "columns `Implementation Status Implemented`, `Implementation Status Planned` are not CRM columns and are ignored"
        ]
    );
}

#[test]
fn a_problem_in_one_cell_names_its_sheet_row_and_column() {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("CRM").unwrap();
    write_rows(
        sheet,
        0,
        &[
            &[
                "Control ID",
                "Responsibility",
                "Customer Responsibility",
                "Provider Responsibility",
            ],
            &["3.1.1", "Vendor Run", "Approves", "Operates"],
            &["3.1.2", "Provider", "", ""],
            &["3.1.x", "Customer", "Trains", ""],
        ],
    );
    let bytes = workbook.save_to_buffer().unwrap();
    let load = Crm::from_xlsx_with("crm.xlsx", &bytes, None, &CrmImport::default());
    let located: Vec<(String, &'static str)> = load
        .problems
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.location.as_ref().unwrap().to_string(), f.code))
        .collect();
    assert_eq!(
        located,
        [
            ("crm.xlsx#CRM:2:B".to_owned(), code::INVALID_OWNER),
            ("crm.xlsx#CRM:3:D".to_owned(), code::MISSING_DUTY),
            ("crm.xlsx#CRM:4:A".to_owned(), code::INVALID_ID),
        ]
    );
}
