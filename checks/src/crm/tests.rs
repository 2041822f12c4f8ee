use super::*;
use crate::catalog::ObjectiveId;

const HEADER: &str =
    "id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification\n";

fn load(body: &str) -> CrmLoad {
    Crm::from_csv("crm.csv", format!("{HEADER}{body}").as_bytes())
}

/// `(line, code)` of every problem, in order.
fn problems(load: &CrmLoad) -> Vec<(Option<u32>, &'static str)> {
    load.problems
        .iter()
        .map(|f| (f.location.as_ref().map(|l| l.line), f.code))
        .collect()
}

fn obj(text: &str) -> ObjectiveId {
    text.parse().unwrap()
}

#[test]
fn parses_every_owner_kind() {
    let load = load(
        "3.1.1,contractor,Reviews accounts,,,,,\n\
         3.1.2,MSP,,Enforces roles in Entra ID,msp,Monthly role export review,,\n\
         3.1.3,Shared,Approves flows,Configures DLP,both,Quarterly DLP report,premium,\n\
         3.1.16,n/a,,,,,,No wireless anywhere\n\
         3.1.17,NA,,,,,,No wireless anywhere\n\
         3.1.18,not_applicable,,,,,,No mobile devices\n",
    );
    assert_eq!(problems(&load), []);
    let rows = load.crm.rows();
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows[0].assignment,
        Assignment::Contractor {
            contractor_does: "Reviews accounts".to_owned()
        }
    );
    assert_eq!(rows[0].location.to_string(), "crm.csv:2");
    assert_eq!(
        rows[1].assignment,
        Assignment::Msp {
            msp_does: "Enforces roles in Entra ID".to_owned(),
            evidence_producer: Some(EvidenceProducer::Msp),
            verification: Some("Monthly role export review".to_owned()),
        }
    );
    assert_eq!(rows[2].assignment.responsible(), Responsibility::Shared);
    assert_eq!(rows[2].package.as_deref(), Some("premium"));
    assert_eq!(
        rows[2].assignment.evidence_producer(),
        Some(EvidenceProducer::Both)
    );
    assert_eq!(
        rows[2].assignment.duty_of(Party::Contractor),
        Some("Approves flows")
    );
    assert_eq!(
        rows[2].assignment.duty_of(Party::Msp),
        Some("Configures DLP")
    );
    assert_eq!(rows[0].assignment.duty_of(Party::Msp), None);
    for row in &rows[3..] {
        assert_eq!(row.assignment.responsible(), Responsibility::NotApplicable);
        assert_eq!(row.assignment.verification(), None);
    }
    assert_eq!(rows[5].location.line, 7);
}

#[test]
fn responsibility_parties() {
    assert_eq!(
        Responsibility::Shared.parties(),
        [Party::Contractor, Party::Msp]
    );
    assert!(Responsibility::Msp.carries(Party::Msp));
    assert!(!Responsibility::Msp.carries(Party::Contractor));
    assert!(Responsibility::NotApplicable.parties().is_empty());
    assert_eq!(Responsibility::NotApplicable.to_string(), "not_applicable");
    assert!(EvidenceProducer::Both.includes(Party::Contractor));
    assert!(!EvidenceProducer::Msp.includes(Party::Contractor));
}

#[test]
fn column_order_is_free_and_headers_are_forgiving() {
    let csv = "\u{feff}Owner , ID,Contractor Does,msp-does\n\
               contractor, 3.1.1 ,  Reviews accounts  ,\n";
    let load = Crm::from_csv("crm.csv", csv.as_bytes());
    assert_eq!(problems(&load), []);
    let row = &load.crm.rows()[0];
    assert_eq!(row.control.to_string(), "3.1.1");
    assert_eq!(
        row.assignment.duty_of(Party::Contractor),
        Some("Reviews accounts")
    );
}

#[test]
fn lines_are_physical_lines() {
    let load = load(
        "3.1.1,contractor,\"Reviews accounts\nevery month\",,,,,\n\
         \n\
         3.1.2,contractor,Limits roles,,,,,\n",
    );
    assert_eq!(problems(&load), [(Some(2), "multi-line-row")]);
    let lines: Vec<u32> = load.crm.rows().iter().map(|r| r.location.line).collect();
    assert_eq!(lines, [2, 5]);

    // Blank lines before the header and CRLF line ends count too (csv's own counter skips
    // them), and so do lone CRs. `(row lines, problem lines)`.
    let cases: [(&str, [u32; 2], &[u32]); 4] = [
        (
            "\n\nid,owner,contractor_does,zzz\n3.1.1,contractor,x,\n\n3.1,x,x,\n",
            [4, 0],
            &[3, 6, 6],
        ),
        (
            "id,owner,contractor_does\r\n3.1.1,contractor,x\r\n\r\n3.1.2,contractor,x\r\n3.1,x,x",
            [2, 4],
            &[5, 5],
        ),
        (
            "id,owner,contractor_does\r3.1.1,contractor,x\r\r3.1.2,contractor,x\r3.1,x,x\r",
            [2, 4],
            &[5, 5],
        ),
        (
            "id,owner,contractor_does\n3.1.1,contractor,x\n\n\n3.1.2,contractor,x\n3.1,x,x",
            [2, 5],
            &[6, 6],
        ),
    ];
    for (input, rows, problems) in cases {
        let load = Crm::from_csv("crm.csv", input.as_bytes());
        let mut row_lines = [0; 2];
        for (slot, row) in row_lines.iter_mut().zip(load.crm.rows()) {
            *slot = row.location.line;
        }
        let problem_lines: Vec<u32> = load
            .problems
            .iter()
            .map(|f| f.location.as_ref().unwrap().line)
            .collect();
        assert_eq!(
            (row_lines, problem_lines),
            (rows, problems.to_vec()),
            "{input:?}"
        );
    }
}

#[test]
fn all_empty_rows_are_skipped() {
    let load = load(",,,,,,,\n 3.1.1 ,contractor,x,,,,,\n , , ,,,,,\n");
    assert_eq!(problems(&load), []);
    assert_eq!(load.crm.rows().len(), 1);
    assert_eq!(load.crm.rows()[0].location.line, 3);
}

#[test]
fn unknown_columns_are_named_and_known_ones_still_read() {
    let csv = "id,owner,contractor_does,notes,,status\n3.1.1,contractor,x,hello,,done\n";
    let load = Crm::from_csv("crm.csv", csv.as_bytes());
    assert_eq!(problems(&load), [(Some(1), "unknown-column")]);
    assert_eq!(load.problems[0].severity, Severity::Warning);
    assert_eq!(
        load.problems[0].message,
        "columns `notes`, column 5 (no name), `status` are not CRM columns and are ignored"
    );
    assert_eq!(load.crm.rows().len(), 1);
}

#[test]
fn duplicate_columns_are_reported() {
    let csv = "id,owner,contractor_does,Owner\n3.1.1,contractor,x,msp\n";
    let load = Crm::from_csv("crm.csv", csv.as_bytes());
    assert_eq!(problems(&load), [(Some(1), "duplicate-column")]);
    assert_eq!(
        load.crm.rows()[0].assignment.responsible(),
        Responsibility::Contractor
    );
}

#[test]
fn missing_required_columns_stop_reading() {
    let load = Crm::from_csv("crm.csv", b"id,contractor_does\n3.1.1,x\n");
    assert_eq!(problems(&load), [(Some(1), "missing-column")]);
    assert_eq!(
        load.problems[0].message,
        "the header has no owner column, so no row can be read"
    );
    assert!(load.crm.is_empty());

    // No line names an id and an owner column: nothing looks like a header.
    let load = Crm::from_csv("crm.csv", b"3.1.1,contractor,x\n");
    assert_eq!(problems(&load), [(Some(1), "missing-header")]);
    assert_eq!(
        load.problems[0].message,
        "no row names an id and an owner column, so no row can be read"
    );
}

#[test]
fn empty_input_has_no_header() {
    for input in ["", "\u{feff}", "\n\n"] {
        let load = Crm::from_csv("crm.csv", input.as_bytes());
        assert_eq!(problems(&load), [(Some(1), "missing-header")], "{input:?}");
    }
}

#[test]
fn ragged_rows_are_rejected_with_their_line() {
    let load = load(
        "3.1.1,contractor,x\n\
         3.1.2,contractor,x,,,,,\n\
         3.1.3,contractor,x,,,,,,extra\n",
    );
    assert_eq!(
        problems(&load),
        [(Some(2), "invalid-csv"), (Some(4), "invalid-csv")]
    );
    assert_eq!(
        load.problems[0].message,
        "row has 3 fields but the header has 8"
    );
    assert_eq!(
        load.problems[1].message,
        "row has 9 fields but the header has 8"
    );
    assert_eq!(load.crm.rows().len(), 1);
    let rejected: Vec<String> = load
        .rejected
        .iter()
        .map(|r| format!("{} {:?}", r.location, r.control.map(|c| c.to_string())))
        .collect();
    assert_eq!(
        rejected,
        ["crm.csv:2 Some(\"3.1.1\")", "crm.csv:4 Some(\"3.1.3\")"]
    );
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let mut csv = HEADER.as_bytes().to_vec();
    csv.extend_from_slice(b"3.1.1,contractor,ok,,,,,\n3.1.2,contractor,bad \xff byte,,,,,\n");
    let load = Crm::from_csv("crm.csv", &csv);
    assert_eq!(problems(&load), [(Some(3), "invalid-csv")]);
    assert_eq!(load.problems[0].message, "field 3 is not valid UTF-8");
    assert_eq!(load.crm.rows().len(), 1);

    let load = Crm::from_csv("crm.csv", b"id,own\xffer\n");
    assert_eq!(problems(&load), [(Some(1), "invalid-csv")]);
}

#[test]
fn malformed_rows_are_reported_and_left_out() {
    let load = load(
        ",contractor,x,,,,,\n\
         3.1,contractor,x,,,,,\n\
         3.1.3,,x,,,,,\n\
         3.1.4,vendor,x,,,,,\n\
         3.1.5,contractor,,,,,,\n\
         3.1.6,msp,,,,,,\n\
         3.1.7,shared,,does,msp,checks,,\n\
         3.1.8,shared,,,msp,checks,,\n\
         3.1.9,not_applicable,,,,,,\n\
         3.1.10,msp,,does,vendor,checks,,\n\
         bogus,bogus,,,,,,\n",
    );
    assert_eq!(
        problems(&load),
        [
            (Some(2), "missing-id"),
            (Some(3), "invalid-id"),
            (Some(4), "missing-owner"),
            (Some(5), "invalid-owner"),
            (Some(6), "missing-duty"),
            (Some(7), "missing-duty"),
            (Some(8), "shared-missing-side"),
            (Some(9), "shared-missing-side"),
            (Some(10), "not-applicable-without-reason"),
            (Some(11), "invalid-evidence-producer"),
            (Some(12), "invalid-id"),
            (Some(12), "invalid-owner"),
        ]
    );
    assert!(load.crm.is_empty());
    assert!(load.has_errors());
    let messages: Vec<&str> = load.problems.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages[2], "3.1.3 has no owner");
    assert_eq!(messages[3], "owner `vendor` of 3.1.4 is not an owner word");
    assert_eq!(
        messages[4],
        "3.1.5 is owned by the contractor but contractor_does is empty"
    );
    assert_eq!(
        messages[5],
        "3.1.6 is owned by the MSP but msp_does is empty"
    );
    assert_eq!(messages[6], "3.1.7 is shared but contractor_does is empty");
    assert_eq!(
        messages[7],
        "3.1.8 is shared but contractor_does and msp_does are empty"
    );
    assert_eq!(
        messages[8],
        "3.1.9 is not_applicable but has no justification"
    );
    assert_eq!(
        messages[10],
        "invalid control id `bogus`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]"
    );
    assert_eq!(
        messages[11],
        "owner `bogus` of `bogus` is not an owner word"
    );
    // Rejected rows keep their control when it could be read, for "unowned because rejected".
    let controls: Vec<Option<String>> = load
        .rejected
        .iter()
        .map(|r| r.control.map(|c| c.to_string()))
        .collect();
    assert_eq!(controls[0], None);
    assert_eq!(controls[1], None);
    assert_eq!(controls[2].as_deref(), Some("3.1.3"));
    assert_eq!(controls.len(), 11);
}

#[test]
fn ignored_cells_warn_but_keep_the_row() {
    let load = load(
        "3.1.1,contractor,x,msp part,msp,checks,,\n\
         3.1.2,msp,contractor part,does,msp,checks,,\n\
         3.1.3,n/a,,,,,,not in scope\n\
         3.1.4,contractor,x,,,,,we think it does not apply\n",
    );
    assert_eq!(
        problems(&load),
        [
            (Some(2), "ignored-field"),
            (Some(3), "ignored-field"),
            (Some(5), "ignored-field")
        ]
    );
    assert_eq!(
        load.problems[2].message,
        "justification of 3.1.4 is ignored because the owner is contractor"
    );
    assert_eq!(
        load.problems[0].message,
        "msp_does, verification of 3.1.1 are ignored because the owner is contractor"
    );
    assert_eq!(
        load.problems[1].message,
        "contractor_does of 3.1.2 is ignored because the owner is msp"
    );
    assert!(!load.has_errors());
    assert_eq!(load.crm.rows().len(), 4);
}

#[test]
fn from_raw_trims_and_keeps_locations() {
    let mut raw = RawCrmRow::new(Location::new("dutywatch.toml", 40));
    raw.id = Some(" 3.5.3[b] ".to_owned());
    raw.owner = Some("msp".to_owned());
    raw.msp_does = Some("  Enforces MFA ".to_owned());
    raw.evidence_producer = Some("".to_owned());
    raw.verification = Some("   ".to_owned());
    let load = Crm::from_raw(vec![raw]);
    assert_eq!(problems(&load), []);
    let row = &load.crm.rows()[0];
    assert_eq!(row.location.to_string(), "dutywatch.toml:40");
    assert_eq!(row.control, ControlRef::Objective(obj("3.5.3[b]")));
    assert_eq!(
        row.assignment,
        Assignment::Msp {
            msp_does: "Enforces MFA".to_owned(),
            evidence_producer: None,
            verification: None
        }
    );
}

#[test]
fn objective_rows_refine_requirement_rows() {
    let load = load(
        "3.1.1,msp,,Runs IAM,msp,reviews,,\n\
         3.1.1[c],contractor,Approves devices,,,,,\n\
         3.1.1[c],msp,ignored second row,,msp,reviews,,\n\
         3.1.1,contractor,ignored second row,,,,,\n",
    );
    let ownership = load.crm.ownership(None);
    assert_eq!(
        ownership.responsible(obj("3.1.1[a]")),
        Some(Responsibility::Msp)
    );
    assert_eq!(
        ownership.responsible(obj("3.1.1[c]")),
        Some(Responsibility::Contractor)
    );
    assert_eq!(ownership.row(obj("3.1.1[c]")).unwrap().location.line, 3);
    assert_eq!(ownership.row(obj("3.1.1[f]")).unwrap().location.line, 2);
    assert_eq!(ownership.responsible(obj("3.1.2[a]")), None);
    assert_eq!(ownership.owned().count(), 6);
    assert_eq!(ownership.unowned().count(), 314);
    let contractor: Vec<_> = ownership.objectives_of(Party::Contractor).collect();
    assert_eq!(contractor, [obj("3.1.1[c]")]);
}

#[test]
fn packages_filter_rows() {
    let load = load(
        "3.3.1,contractor,Keeps logs,,,,,\n\
         3.3.1[a],msp,,Runs the SIEM,msp,reviews,Premium,\n",
    );
    let premium = ["premium".to_owned()];
    let basic = ["basic".to_owned()];
    let cases: [(Option<&[String]>, Responsibility); 3] = [
        (None, Responsibility::Msp),
        (Some(&premium), Responsibility::Msp),
        (Some(&basic), Responsibility::Contractor),
    ];
    for (packages, expected) in cases {
        let ownership = load.crm.ownership(packages);
        assert_eq!(
            ownership.responsible(obj("3.3.1[a]")),
            Some(expected),
            "{packages:?}"
        );
        assert_eq!(
            ownership.responsible(obj("3.3.1[b]")),
            Some(Responsibility::Contractor)
        );
    }
    assert!(!load.crm.rows()[1].applies_to(Some(&[])));
}

#[test]
fn unknown_ids_are_kept_but_cover_nothing() {
    let load = load("3.1.99,contractor,x,,,,,\n3.1.1[z],contractor,x,,,,,\n");
    assert_eq!(problems(&load), []);
    assert_eq!(load.crm.rows().len(), 2);
    assert_eq!(load.crm.ownership(None).owned().count(), 0);
}

#[test]
fn append_keeps_precedence_order() {
    let mut first = load("3.1.1,contractor,x,,,,,\n");
    let mut raw = RawCrmRow::new(Location::new("dutywatch.toml", 7));
    raw.id = Some("3.1.1".to_owned());
    raw.owner = Some("shared".to_owned());
    first.append(Crm::from_raw(vec![raw]));
    assert_eq!(first.crm.rows().len(), 1);
    assert_eq!(problems(&first), [(Some(7), "shared-missing-side")]);
    assert_eq!(first.rejected.len(), 1);
}

#[test]
fn a_row_running_over_several_lines_is_pointed_out() {
    // A description over two lines is fine, but worth a look...
    let load = self::load(
        "3.1.1,contractor,\"Approves access\r\nquarterly\",,,,,\n3.1.2,contractor,x,,,,,\n",
    );
    assert_eq!(problems(&load), [(Some(2), "multi-line-row")]);
    assert_eq!(load.crm.rows().len(), 2);
    assert_eq!(
        load.crm.rows()[1].location.line,
        4,
        "later lines keep their numbers"
    );

    // ...because a quote left open swallows the rows after it.
    let load = self::load(
        "3.1.1,contractor,\"a,,,,,\n3.1.2,contractor,x\",,,,,\n3.1.3,contractor,x,,,,,\n",
    );
    assert_eq!(problems(&load)[0], (Some(2), "multi-line-row"));
    assert_eq!(
        load.problems[0].message,
        "this row runs on to line 3: a quoted cell holds a line break"
    );
    assert!(load.problems[0].help.contains("is not closed"));
}

#[test]
fn x_mark_columns_in_a_csv_stand_in_for_the_owner_column() {
    let load = Crm::from_csv(
        "crm.csv",
        "Control ID,Customer,Provider,Customer Responsibility,Provider Responsibility\n\
         3.1.1,X,,Reviews accounts,\n\
         3.1.2,x,x,Approves roles,Enforces roles\n\
         3.1.3,,yes,,Runs the gateway\n\
         3.1.4,,,,\n"
            .as_bytes(),
    );
    let owners: Vec<String> = load
        .crm
        .rows()
        .iter()
        .map(|row| format!("{} {}", row.control, row.assignment.responsible()))
        .collect();
    assert_eq!(owners, ["3.1.1 contractor", "3.1.2 shared", "3.1.3 msp"]);
    let errors: Vec<String> = load
        .problems
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            format!(
                "{}: {}",
                f.location
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                f.message
            )
        })
        .collect();
    assert_eq!(errors, ["crm.csv:5: 3.1.4 has no owner"]);
}
