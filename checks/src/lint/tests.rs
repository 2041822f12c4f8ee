use super::*;
use crate::catalog::RequirementId;
use crate::crm::Crm;
use Severity::{Error, Warning};

const HEADER: &str =
    "id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification\n";

/// A complete, clean CRM row for `id`, owners cycling through the four kinds.
fn clean_row(index: usize, id: RequirementId) -> String {
    match index % 4 {
        0 => format!("{id},contractor,Contractor staff do {id},,,,,\n"),
        1 => format!("{id},msp,,MSP runs {id},msp,Monthly review of the MSP report for {id},,\n"),
        2 => format!(
            "{id},shared,Contractor approves {id},MSP operates {id},both,Quarterly joint review,,\n"
        ),
        _ => format!("{id},not_applicable,,,,,,{id} does not apply to this enclave\n"),
    }
}

/// A CSV with `first` rows right after the header (so they sit on lines 2, 3, ...) and then a
/// clean row for every requirement not in `skip`.
fn crm_csv(first: &str, skip: &[&str]) -> String {
    let mut csv = format!("{HEADER}{first}");
    for (index, requirement) in catalog::requirements().iter().enumerate() {
        if !skip.contains(&requirement.id.to_string().as_str()) {
            csv.push_str(&clean_row(index, requirement.id));
        }
    }
    csv
}

fn lint_csv(csv: &str, packages: Option<&[String]>) -> LintReport {
    lint(&Crm::from_csv("crm.csv", csv.as_bytes()), packages)
}

/// `(line, severity, code)`: what the tests compare findings by.
type Code = (Option<u32>, Severity, &'static str);

/// The [`Code`] of every finding, in report order.
fn codes(report: &LintReport) -> Vec<Code> {
    report
        .findings
        .iter()
        .map(|f| (f.location.as_ref().map(|l| l.line), f.severity, f.code))
        .collect()
}

#[test]
fn complete_crm_lints_clean() {
    let report = lint_csv(&crm_csv("", &[]), None);
    assert_eq!(codes(&report), [], "{report}");
    assert!(!report.has_errors());
    assert_eq!(report.coverage.total.total, 320);
    assert_eq!(report.coverage.total.unowned, 0);
    // Objective-level rows for every objective are just as complete.
    let mut csv = HEADER.to_owned();
    for objective in catalog::objectives() {
        csv.push_str(&format!("{objective},contractor,Does {objective},,,,,\n"));
    }
    let report = lint_csv(&csv, Some(&[]));
    assert_eq!(codes(&report), []);
    assert_eq!(report.coverage.total.contractor, 320);
}

#[test]
fn coverage_counts_objectives_by_owner() {
    let report = lint_csv(&crm_csv("", &["3.1.1"]), None);
    let ac = &report.coverage.families[0];
    assert_eq!((ac.family, ac.name), ("AC", "Access Control"));
    // 3.1.1 (6 objectives) is missing; the other AC rows cycle owners from index 1.
    assert_eq!(ac.unowned, 6);
    assert_eq!(ac.total, 70);
    assert_eq!(
        ac.contractor + ac.msp + ac.shared + ac.not_applicable + ac.unowned,
        ac.total
    );
    let totals: Vec<usize> = report.coverage.families.iter().map(|f| f.total).collect();
    assert_eq!(
        totals,
        [70, 9, 29, 44, 25, 14, 10, 15, 4, 16, 9, 14, 41, 20]
    );
    let total = &report.coverage.total;
    assert_eq!(total.total, 320);
    assert_eq!(total.unowned, 6);
    let by_kind = |owner: usize| -> usize {
        catalog::requirements()
            .iter()
            .enumerate()
            .filter(|(i, r)| i % 4 == owner && r.id.to_string() != "3.1.1")
            .map(|(_, r)| usize::from(r.objective_count))
            .sum()
    };
    assert_eq!(total.contractor, by_kind(0));
    assert_eq!(total.msp, by_kind(1));
    assert_eq!(total.shared, by_kind(2));
    assert_eq!(total.not_applicable, by_kind(3));
}

#[test]
fn coverage_table_is_aligned() {
    let report = lint_csv(&crm_csv("", &[]), None);
    let table = report.coverage.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 16);
    assert!(lines[0].starts_with("family"));
    assert!(lines[1].starts_with("AC  Access Control"));
    assert!(lines[15].starts_with("total  all families"));
    assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{table}");
    assert!(lines[15].ends_with("  320"));
}

#[test]
fn unknown_ids_are_errors_at_their_line() {
    let report = lint_csv(
        &crm_csv(
            "3.1.23,contractor,x,,,,,\n3.1.1[g],contractor,x,,,,,\n",
            &[],
        ),
        None,
    );
    assert_eq!(
        codes(&report),
        [
            (Some(2), Error, "unknown-id"),
            (Some(3), Error, "unknown-id")
        ]
    );
    assert_eq!(
        report.findings[0].message,
        "3.1.23 is not a NIST SP 800-171 rev2 requirement (family 3.1 has 22)"
    );
    assert_eq!(
        report.findings[1].message,
        "3.1.1[g] does not exist: 3.1.1 has objectives [a] to [f]"
    );
    assert_eq!(
        report.findings[1].help,
        "use an objective from [a] to [f] or address the whole requirement as 3.1.1"
    );
}

#[test]
fn unowned_objectives_are_grouped_per_requirement() {
    let report = lint_csv(
        &crm_csv(
            "3.1.1[a],contractor,x,,,,,\n3.1.1[b],contractor,x,,,,,\n\
             3.1.1[e],contractor,x,,,,,\n3.1.1[f],contractor,x,,,,,\n",
            &["3.1.1", "3.4.4", "3.1.2"],
        ),
        None,
    );
    assert_eq!(
        codes(&report),
        [
            (None, Error, "unowned-objective"),
            (None, Error, "unowned-objective"),
            (None, Error, "unowned-objective"),
        ]
    );
    let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "3.1.1[c], 3.1.1[d] have no owner",
            "3.1.2 has no owner (objectives [a] to [b])",
            "3.4.4 has no owner (objective [a])",
        ]
    );
    assert!(
        report.findings[0]
            .help
            .starts_with("add a row for 3.1.1 with owner")
    );
    assert_eq!(report.coverage.total.unowned, 5);
}

#[test]
fn a_rejected_row_is_one_finding_that_says_what_it_leaves_unowned() {
    let report = lint_csv(&crm_csv("3.1.1,shared,x,,,,,\n", &["3.1.1"]), None);
    assert_eq!(
        codes(&report),
        [(Some(2), Error, "shared-missing-side")],
        "no second, unowned-objective finding for the same row: {report}"
    );
    assert_eq!(
        report.findings[0].message,
        "3.1.1 is shared but msp_does is empty; the row is rejected, so 3.1.1 (objectives [a] to [f]) have no owner until it is fixed"
    );
    // A rejected objective row covers only its objective: the rest of the requirement is
    // still reported as unowned, once.
    let report = lint_csv(&crm_csv("3.1.1[b],owner-typo,x,,,,,\n", &["3.1.1"]), None);
    assert_eq!(
        codes(&report),
        [
            (Some(2), Error, "invalid-owner"),
            (None, Error, "unowned-objective")
        ],
        "{report}"
    );
    assert!(
        report.findings[0]
            .message
            .ends_with("the row is rejected, so 3.1.1[b] has no owner until it is fixed"),
        "{}",
        report.findings[0].message
    );
    assert!(
        report.findings[1]
            .message
            .starts_with("3.1.1[a], 3.1.1[c], 3.1.1[d], 3.1.1[e], 3.1.1[f] have no owner"),
        "{}",
        report.findings[1].message
    );
    // Every rejected row of a whole CSV: still one finding each.
    let report = lint_csv(
        &crm_csv(
            "3.1.1,vendor,x,,,,,\n3.1.2,shared,,y,msp,z,,\n3.1.3,,x,,,,,\n",
            &["3.1.1", "3.1.2", "3.1.3"],
        ),
        None,
    );
    assert_eq!(
        codes(&report),
        [
            (Some(2), Error, "invalid-owner"),
            (Some(3), Error, "shared-missing-side"),
            (Some(4), Error, "missing-owner"),
        ],
        "{report}"
    );
}

#[test]
fn an_objective_row_that_changes_its_requirements_owner_warns_naming_both_lines() {
    let report = lint_csv(
        &crm_csv(
            "3.13.11,msp,,Runs FIPS crypto,msp,Quarterly config review,,\n\
             3.13.11[a],contractor,Checks the module list,,,,,\n",
            &["3.13.11"],
        ),
        None,
    );
    assert_eq!(
        codes(&report),
        [(Some(3), Warning, "overridden-owner")],
        "{report}"
    );
    assert!(!report.has_errors());
    let finding = &report.findings[0];
    assert_eq!(
        finding.message,
        "3.13.11[a] is given to contractor here, but crm.csv:2 gives its requirement 3.13.11 to msp; this row decides 3.13.11[a]"
    );
    assert!(
        finding.help.contains("crm.csv:2 or crm.csv:3"),
        "{}",
        finding.help
    );
    // The objective row first, the requirement row later: the same warning.
    let report = lint_csv(
        &crm_csv(
            "3.13.11[a],contractor,Checks the module list,,,,,\n\
             3.13.11,msp,,Runs FIPS crypto,msp,Quarterly config review,,\n",
            &["3.13.11"],
        ),
        None,
    );
    assert_eq!(codes(&report), [(Some(2), Warning, "overridden-owner")]);
    // The same owner is no override; a row in a package the client lacks is not compared.
    let report = lint_csv(
        &crm_csv(
            "3.1.1,msp,,Runs IAM,msp,Monthly access review,,\n\
             3.1.1[a],msp,,Keeps the account list,msp,Reviewed monthly,,\n\
             3.1.1[b],contractor,x,,,,extra,\n",
            &["3.1.1"],
        ),
        Some(&[]),
    );
    assert_eq!(
        codes(&report),
        [(Some(4), Warning, "package-not-held")],
        "{report}"
    );
}

#[test]
fn conflicting_and_duplicate_rows() {
    let report = lint_csv(
        &crm_csv(
            "3.1.1,contractor,x,,,,,\n\
             3.1.1,msp,,y,msp,checks,,\n\
             3.1.1,contractor,again,,,,,\n\
             3.1.2[a],contractor,x,,,,,\n\
             3.1.2[a],n/a,,,,,,nope\n",
            &["3.1.1"],
        ),
        None,
    );
    assert_eq!(
        codes(&report),
        [
            (Some(3), Error, "conflicting-owner"),
            (Some(4), Warning, "duplicate-row"),
            // The clean 3.1.2 row further down gives the requirement to the MSP.
            (Some(5), Warning, "overridden-owner"),
            (Some(6), Error, "conflicting-owner"),
        ]
    );
    assert_eq!(
        report.findings[0].message,
        "3.1.1 is assigned twice: crm.csv:2 says contractor, crm.csv:3 says msp"
    );
    assert_eq!(
        report.findings[1].message,
        "3.1.1 is assigned again to contractor (first at crm.csv:2); this row is ignored"
    );
    assert_eq!(
        report.findings[3].message,
        "3.1.2[a] is assigned twice: crm.csv:5 says contractor, crm.csv:6 says not_applicable"
    );
}

#[test]
fn objective_rows_override_requirement_rows_without_conflict() {
    let report = lint_csv(
        &crm_csv(
            "3.1.1,msp,,Runs IAM,msp,Monthly access review,,\n\
             3.1.1[c],contractor,Approves devices,,,,,\n",
            &["3.1.1"],
        ),
        None,
    );
    // No error: the objective row decides; a warning that it changes the owner.
    assert_eq!(codes(&report), [(Some(3), Warning, "overridden-owner")]);
    let crm = Crm::from_csv(
        "crm.csv",
        crm_csv(
            "3.1.1,msp,,Runs IAM,msp,r,,\n3.1.1[c],contractor,x,,,,,\n",
            &["3.1.1"],
        )
        .as_bytes(),
    );
    let ownership = crm.crm.ownership(None);
    let c = "3.1.1[c]".parse().unwrap();
    let d = "3.1.1[d]".parse().unwrap();
    assert_eq!(
        ownership.responsible(c),
        Some(crate::crm::Responsibility::Contractor)
    );
    assert_eq!(
        ownership.responsible(d),
        Some(crate::crm::Responsibility::Msp)
    );
}

#[test]
fn shared_rows_need_both_sides() {
    let report = lint_csv(
        &crm_csv("3.1.1,shared,,MSP side only,msp,checks,,\n", &["3.1.1"]),
        None,
    );
    assert_eq!(codes(&report)[0], (Some(2), Error, "shared-missing-side"));
    assert_eq!(
        report.findings[0].to_string(),
        "crm.csv:2:C: error[shared-missing-side]: 3.1.1 is shared but contractor_does is empty; the row is \
         rejected, so 3.1.1 (objectives [a] to [f]) have no owner until it is fixed\n  \
         help: a shared row needs both sides written out: what the contractor does \
         (contractor_does) and what the MSP does (msp_does); if only one party does the work, \
         make it the owner"
    );
}

#[test]
fn msp_work_needs_evidence_producer_and_verification() {
    let report = lint_csv(
        &crm_csv(
            "3.1.1,msp,,Runs IAM,,,,\n\
             3.1.2,msp,,Runs IAM,msp,,,\n\
             3.1.3,shared,a,b,,checks,,\n\
             3.1.4,shared,a,b,both,,,\n",
            &["3.1.1", "3.1.2", "3.1.3", "3.1.4"],
        ),
        None,
    );
    assert_eq!(
        codes(&report),
        [
            (Some(2), Error, "missing-evidence-producer"),
            (Some(2), Error, "missing-verification"),
            (Some(3), Error, "missing-verification"),
            (Some(4), Warning, "missing-evidence-producer"),
            (Some(5), Warning, "missing-verification"),
        ]
    );
    assert_eq!(
        report.findings[2].message,
        "3.1.2 is owned by the MSP but does not say how the contractor verifies the MSP's work"
    );
}

#[test]
fn not_applicable_needs_a_reason() {
    let report = lint_csv(&crm_csv("3.1.16[a],na,,,,,,\n", &[]), None);
    assert_eq!(
        codes(&report),
        [(Some(2), Error, "not-applicable-without-reason")]
    );
    assert_eq!(
        report.findings[0].message,
        "3.1.16[a] is not_applicable but has no justification"
    );
}

#[test]
fn rows_of_packages_not_held_warn_and_leave_gaps() {
    let csv = crm_csv(
        "3.3.1,msp,,Runs the SIEM,msp,Monthly SIEM report,premium,\n\
         3.3.2,contractor,Named accounts,,,,basic,\n",
        &["3.3.1", "3.3.2"],
    );
    // Without packages (the MSP's view) every row applies.
    assert_eq!(codes(&lint_csv(&csv, None)), []);
    // Holding both: same.
    let both = ["Basic".to_owned(), "premium".to_owned()];
    assert_eq!(codes(&lint_csv(&csv, Some(&both))), []);

    let basic = ["basic".to_owned()];
    let report = lint_csv(&csv, Some(&basic));
    assert_eq!(
        codes(&report),
        [
            (Some(2), Warning, "package-not-held"),
            (None, Error, "unowned-objective")
        ]
    );
    assert_eq!(
        report.findings[0].message,
        "3.3.1 is in package `premium`, which this client does not hold (it holds: basic); the row does not apply"
    );
    assert_eq!(
        report.findings[1].message,
        "3.3.1 has no owner (objectives [a] to [f]); only rows in packages this client does not hold cover them: crm.csv:2 (package `premium`)"
    );
    assert_eq!(report.coverage.total.unowned, 6);

    // Whoever owns the row: a row that does not apply is never dropped in silence.
    let none: [String; 0] = [];
    let report = lint_csv(&csv, Some(&none));
    assert_eq!(
        codes(&report)
            .into_iter()
            .filter(|(_, _, code)| *code == "package-not-held")
            .count(),
        2,
        "the contractor's row in an unheld package warns too: {:?}",
        codes(&report)
    );
    assert!(
        report.findings[1].message.contains("(it holds: none)"),
        "{}",
        report.findings[1].message
    );
}

#[test]
fn parse_problems_are_included_and_everything_is_sorted_by_location() {
    let report = lint_csv(
        &crm_csv(
            "3.1.1,msp,,x,,checks,,\n\
             3.1.2,vendor,x,,,,,\n\
             3.1.3,contractor,x,y,,,,\n",
            &["3.1.1", "3.1.2", "3.1.3"],
        ),
        None,
    );
    assert_eq!(
        codes(&report),
        [
            (Some(2), Error, "missing-evidence-producer"),
            (Some(3), Error, "invalid-owner"),
            (Some(4), Warning, "ignored-field"),
        ]
    );
    assert_eq!(report.error_count(), 2);
    assert_eq!(report.warning_count(), 1);
}

#[test]
fn findings_serialize_for_json_output() {
    let report = lint_csv(&crm_csv("3.1.99,contractor,x,,,,,\n", &[]), None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["findings"][0],
        serde_json::json!({
            "severity": "error",
            "location": { "file": "crm.csv", "line": 2, "column": "A" },
            "code": "unknown-id",
            "message": "3.1.99 is not a NIST SP 800-171 rev2 requirement (family 3.1 has 22)",
            "help": "use a NIST SP 800-171 rev2 requirement number; check for a typo",
        })
    );
    assert_eq!(json["coverage"]["total"]["total"], 320);
    assert_eq!(json["coverage"]["families"][0]["family"], "AC");
    let summary = report.to_string();
    assert!(summary.starts_with("crm.csv:2:A: error[unknown-id]: 3.1.99 is not"));
    assert!(summary.ends_with("1 error, 0 warnings\n"), "{summary}");
}

#[test]
fn an_empty_crm_reports_every_requirement() {
    let report = lint_csv(HEADER, None);
    assert_eq!(report.findings.len(), 110);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.code == "unowned-objective")
    );
    assert_eq!(report.coverage.total.unowned, 320);
}

/// xorshift64*, so the garbage tests need no extra dependency and are reproducible.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                let pick = usize::try_from(self.next() % alphabet.len() as u64).unwrap();
                alphabet[pick]
            })
            .collect()
    }
}

#[test]
fn garbage_never_panics() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let all_bytes: Vec<u8> = (0..=255).collect();
    let csvish = b"3.1.[]a,\"\n\r owner contractor msp shared n/a \xff\xfe";
    for round in 0..500 {
        let len = usize::try_from(noise.next() % 400).unwrap();
        let alphabet: &[u8] = if round % 2 == 0 { &all_bytes } else { csvish };
        let mut input = noise.bytes(alphabet, len);
        if round % 3 == 0 {
            let mut with_header = HEADER.as_bytes().to_vec();
            with_header.append(&mut input);
            input = with_header;
        }
        let load = Crm::from_csv("garbage.csv", &input);
        let report = lint(&load, Some(&["basic".to_owned()]));
        let _ = report.to_string();
        let _ = serde_json::to_string(&report).unwrap();
    }
}

#[test]
fn malformed_files_are_findings_not_panics() {
    let cases: [(&[u8], &[Code]); 4] = [
        (b"", &[(Some(1), Error, "missing-header")]),
        (
            b"3.1.1,contractor,x\n",
            &[(Some(1), Error, "missing-header")],
        ),
        (
            b"id,owner\n3.1.1\n3.1.2,contractor,x,y\n",
            &[
                (Some(2), Error, "invalid-csv"),
                (Some(3), Error, "invalid-csv"),
            ],
        ),
        (
            b"id,owner,contractor_does\n\"3.1.1,contractor,never closed\n",
            &[
                (Some(2), Warning, "multi-line-row"),
                (Some(2), Error, "invalid-csv"),
            ],
        ),
    ];
    for (input, expected) in cases {
        let report = lint(&Crm::from_csv("crm.csv", input), None);
        let located: Vec<_> = codes(&report)
            .into_iter()
            .filter(|(line, _, _)| line.is_some())
            .collect();
        assert_eq!(located, expected, "{}", String::from_utf8_lossy(input));
    }
}

/// A finding about one field of a row that parsed names that field's cell, as one about a
/// cell that did not parse does; the rows its text refers to stay whole rows.
#[test]
fn findings_about_one_field_of_a_parsed_row_name_its_cell() {
    let report = lint_csv(
        &crm_csv(
            "3.1.1,contractor,x,,,,,\n\
             3.1.1,msp,,y,msp,checks,,\n\
             3.1.1,contractor,again,,,,,\n\
             3.1.2,msp,,runs it,,,,\n\
             3.1.3,contractor,x,,,,premium,\n\
             3.1.99,contractor,x,,,,,\n\
             3.1.4,msp,,runs it,msp,checks,,\n\
             3.1.4[a],contractor,x,,,,,\n",
            &["3.1.1", "3.1.2", "3.1.3", "3.1.4"],
        ),
        Some(&["basic".to_owned()]),
    );
    let cells: Vec<(String, &str)> = report
        .findings
        .iter()
        .filter_map(|f| Some((f.location.as_ref()?.to_string(), f.code)))
        .collect();
    assert_eq!(
        cells,
        [
            ("crm.csv:3:B".to_owned(), code::CONFLICTING_OWNER),
            ("crm.csv:4:B".to_owned(), code::DUPLICATE_ROW),
            ("crm.csv:5:E".to_owned(), code::MISSING_EVIDENCE_PRODUCER),
            ("crm.csv:5:F".to_owned(), code::MISSING_VERIFICATION),
            ("crm.csv:6:G".to_owned(), code::PACKAGE_NOT_HELD),
            ("crm.csv:7:A".to_owned(), code::UNKNOWN_ID),
            ("crm.csv:9:B".to_owned(), code::OVERRIDDEN_OWNER),
        ],
        "{report}"
    );
    assert_eq!(
        report.findings[0].message,
        "3.1.1 is assigned twice: crm.csv:2 says contractor, crm.csv:3 says msp"
    );
}
