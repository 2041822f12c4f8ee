//! CRM import as files arrive from providers: headers found by content, aliases and a column
//! mapping, owner vocabularies (FedRAMP, AWS, the config's own), id forms, nested packages.

use super::*;
use crate::catalog::ObjectiveId;
use crate::lint::code;

fn problems(load: &CrmLoad) -> Vec<(Option<u32>, Severity, &'static str)> {
    load.problems
        .iter()
        .map(|f| (f.location.as_ref().map(|l| l.line), f.severity, f.code))
        .collect()
}

/// `(id, owner)` of every row, in order.
fn owners(load: &CrmLoad) -> Vec<(String, Responsibility)> {
    load.crm
        .rows()
        .iter()
        .map(|row| (row.control.to_string(), row.assignment.responsible()))
        .collect()
}

fn obj(text: &str) -> ObjectiveId {
    text.parse().unwrap()
}

#[test]
fn the_lines_above_the_header_run_to_the_line_before_it() {
    // A title, a revision line and a blank line above the header on line 4, saved by Excel
    // with `\r\n`: all three lines above it are not read, the blank one too.
    let csv = "Beta Avionics CRM,,\r\nrev 3,,\r\n\r\nid,owner,contractor_does\r\n3.1.1,contractor,Reviews accounts\r\n";
    let load = Crm::from_csv("beta-crm.csv", csv.as_bytes());
    assert_eq!(
        problems(&load),
        [(Some(4), Severity::Warning, code::ROWS_ABOVE_HEADER)]
    );
    assert_eq!(
        load.problems[0].message,
        "the header is line 4; lines 1 to 3 above it (a title or guidance) are not read"
    );
    // One line above it is one line.
    let load = Crm::from_csv(
        "crm.csv",
        b"CRM\nid,owner,contractor_does\n3.1.1,contractor,x\n",
    );
    assert_eq!(
        load.problems[0].message,
        "the header is line 2; line 1 above it (a title or guidance) is not read"
    );
}

#[test]
fn the_header_is_found_below_a_title_and_a_guidance_paragraph() {
    let csv = "Acme Cloud Customer Responsibility Matrix,,\n\
               \"Guidance: for each requirement, the Responsibility column says who does it.\nRead it with the SSP.\",,\n\
               ,,\n\
               Control ID,Responsibility,Customer Responsibility\n\
               3.1.1,Customer,Review accounts quarterly\n";
    let load = Crm::from_csv("crm.csv", csv.as_bytes());
    assert_eq!(
        problems(&load),
        [
            (Some(2), Severity::Warning, code::MULTI_LINE_ROW),
            (Some(5), Severity::Warning, code::ROWS_ABOVE_HEADER),
        ]
    );
    assert_eq!(
        load.problems[1].message,
        "the header is line 5; lines 1 to 4 above it (a title or guidance) are not read"
    );
    assert_eq!(
        owners(&load),
        [("3.1.1".to_owned(), Responsibility::Contractor)]
    );
    assert_eq!(load.crm.rows()[0].location.to_string(), "crm.csv:6");
}

#[test]
fn header_aliases_ignore_case_spaces_and_punctuation() {
    let headers = [
        "ref,owner,contractor_responsibility,msp_responsibility,contractor_verification",
        "REF,Owner,Contractor Responsibility,MSP Responsibility,Contractor-Verification",
        "Control ID,Control Responsibility,Customer Responsibility,Provider Responsibility,Verification Method",
        "requirement,responsibility,customer responsibility (Acme),provider responsibility (Acme),verification",
        "Practice,Responsible?,What you do,What Acme Cloud provides,How verified",
    ];
    for header in headers {
        let csv = format!("{header}\n3.1.1,shared,Approves,Enforces,Quarterly review\n");
        let load = Crm::from_csv("crm.csv", csv.as_bytes());
        assert_eq!(problems(&load), [], "{header}");
        assert_eq!(
            load.crm.rows()[0].assignment,
            Assignment::Shared {
                contractor_does: "Approves".to_owned(),
                msp_does: "Enforces".to_owned(),
                evidence_producer: None,
                verification: Some("Quarterly review".to_owned()),
            },
            "{header}"
        );
    }
}

#[test]
fn the_config_column_mapping_overrides_the_aliases() {
    // `Requirement` would be the id by alias; the mapping makes `Practice #` the id, so
    // `Requirement` (here the requirement's text) becomes an extra column.
    let csv = "Practice #,Requirement,Who,Customer Tasks,Internal COMMENTS (REMOVE before publishing)\n\
               3.1.1,Limit access,Customer,Reviews accounts,ask Bob\n";
    let import = CrmImport {
        columns: vec![
            (CrmColumn::Id, "practice #".to_owned()),
            (CrmColumn::Owner, "WHO".to_owned()),
            (CrmColumn::ContractorDoes, "Customer Tasks".to_owned()),
        ],
        owner_words: Vec::new(),
    };
    let load = Crm::from_csv_with("crm.csv", csv.as_bytes(), &import);
    assert_eq!(
        problems(&load),
        [(Some(1), Severity::Warning, code::UNKNOWN_COLUMN)]
    );
    assert_eq!(
        load.problems[0].message,
        "columns `Requirement`, `Internal COMMENTS (REMOVE before publishing)` are not CRM columns and are ignored"
    );
    assert_eq!(
        owners(&load),
        [("3.1.1".to_owned(), Responsibility::Contractor)]
    );
}

#[test]
fn a_mapped_header_the_file_lacks_is_an_error() {
    let csv = "id,owner,contractor_does\n3.1.1,contractor,x\n";
    let import = CrmImport {
        columns: vec![(CrmColumn::Verification, "How We Check".to_owned())],
        owner_words: Vec::new(),
    };
    let load = Crm::from_csv_with("crm.csv", csv.as_bytes(), &import);
    assert_eq!(
        problems(&load),
        [(Some(1), Severity::Error, code::MISSING_COLUMN)]
    );
    assert_eq!(
        load.problems[0].message,
        "crm_columns maps verification = \"How We Check\", but the header has no such column"
    );

    // A mapped id header nowhere in the file: no header is found, and the message says why.
    let import = CrmImport {
        columns: vec![(CrmColumn::Id, "Ref #".to_owned())],
        owner_words: Vec::new(),
    };
    let load = Crm::from_csv_with("crm.csv", csv.as_bytes(), &import);
    assert_eq!(
        problems(&load),
        [(Some(1), Severity::Error, code::MISSING_COLUMN)]
    );
    assert_eq!(
        load.problems[0].message,
        "the header has no id column, so no row can be read (crm_columns maps id = \"Ref #\")"
    );
}

/// Loads one row per owner word, in a column headed `owner_header`.
fn owner_of(words: &[&str], owner_header: &str, import: &CrmImport) -> Vec<Option<Responsibility>> {
    let mut csv = format!("id,{owner_header},contractor_does,msp_does,justification\n");
    for (i, word) in words.iter().enumerate() {
        csv.push_str(&format!("3.1.{},\"{word}\",c,m,j\n", i + 1));
    }
    let load = Crm::from_csv_with("crm.csv", csv.as_bytes(), import);
    (1..=words.len())
        .map(|i| {
            load.crm
                .rows()
                .iter()
                .find(|row| row.control.to_string() == format!("3.1.{i}"))
                .map(|row| row.assignment.responsible())
        })
        .collect()
}

#[test]
fn built_in_owner_words() {
    use Responsibility::{Contractor as C, Msp as M, NotApplicable as N, Shared as S};
    let cases: [(&str, Responsibility); 32] = [
        ("contractor", C),
        ("Customer", C),
        ("OSA", C),
        ("Customer Configured", C),
        ("Configured by Customer", C),
        ("customer-provided", C),
        ("Provided by Customer", C),
        ("Customer Only", C),
        ("MSP", M),
        ("Provider", M),
        ("ESP", M),
        ("Inherited", M),
        ("Inheritable", M),
        ("Service Provider Corporate", M),
        ("Service Provider System Specific", M),
        ("Service Provider Hybrid", M),
        ("sp-corporate", M),
        ("Google Inherited", M),
        ("Shared", S),
        ("Hybrid", S),
        ("Partial", S),
        ("Both", S),
        ("Shared (Customer and Provider)", S),
        ("Shared (Service Provider and Customer Responsibility)", S),
        ("shared customer and provider", S),
        ("Not Applicable", N),
        ("not_applicable", N),
        ("not-applicable", N),
        ("N/A", N),
        ("n/a", N),
        ("NA", N),
        ("  NOT   APPLICABLE ", N),
    ];
    let words: Vec<&str> = cases.iter().map(|(w, _)| *w).collect();
    let expected: Vec<Option<Responsibility>> = cases.iter().map(|(_, r)| Some(*r)).collect();
    assert_eq!(
        owner_of(&words, "Responsibility", &CrmImport::default()),
        expected
    );
}

#[test]
fn service_provider_hybrid_is_the_providers_alone_not_shared() {
    assert_eq!(
        owner_of(
            &["Service Provider Hybrid", "Hybrid"],
            "owner",
            &CrmImport::default()
        ),
        [Some(Responsibility::Msp), Some(Responsibility::Shared)]
    );
}

#[test]
fn fedramp_yes_partial_no_are_read_only_in_a_can_be_inherited_column() {
    let words = ["Yes", "Partial", "No"];
    let expected = [
        Some(Responsibility::Msp),
        Some(Responsibility::Shared),
        Some(Responsibility::Contractor),
    ];
    for header in [
        "Can Be Inherited from CSP",
        "can_be_inherited",
        "Inheritable",
    ] {
        assert_eq!(
            owner_of(&words, header, &CrmImport::default()),
            expected,
            "{header}"
        );
    }
    // In a `Responsible?` column, `Yes` would mean the customer: never guessed.
    let csv = "id,Responsible?,contractor_does\n3.1.1,Yes,x\n3.1.2,No,x\n";
    let load = Crm::from_csv("crm.csv", csv.as_bytes());
    assert_eq!(
        problems(&load),
        [
            (Some(2), Severity::Error, code::INVALID_OWNER),
            (Some(3), Severity::Error, code::INVALID_OWNER),
        ]
    );
    assert_eq!(
        load.problems[0].message,
        "owner `Yes` of 3.1.1 is not an owner word here: Yes and No are owner words only in a \"Can Be Inherited\" column"
    );
    // The example fix maps them as an inheritance column means them, not to "shared".
    assert!(
        load.problems[0].help.contains("(e.g. \"Yes\" = \"msp\";"),
        "{}",
        load.problems[0].help
    );
    assert!(
        load.problems[1]
            .help
            .contains("(e.g. \"No\" = \"contractor\";"),
        "{}",
        load.problems[1].help
    );
    assert!(load.crm.is_empty());
}

#[test]
fn aws_inheritable_partial_customer_only() {
    assert_eq!(
        owner_of(
            &["Inheritable", "Partial", "Customer Only"],
            "Responsibility",
            &CrmImport::default()
        ),
        [
            Some(Responsibility::Msp),
            Some(Responsibility::Shared),
            Some(Responsibility::Contractor),
        ]
    );
}

#[test]
fn config_owner_words_extend_and_override_the_built_in_ones() {
    let import = CrmImport {
        columns: Vec::new(),
        owner_words: vec![
            ("Customer Managed".to_owned(), Responsibility::Contractor),
            ("co-managed".to_owned(), Responsibility::Shared),
            // A provider whose "Inherited" means the customer inherits the duty.
            ("inherited".to_owned(), Responsibility::Contractor),
        ],
    };
    assert_eq!(
        owner_of(
            &["customer managed", "Co-Managed", "Inherited", "Provider"],
            "owner",
            &import
        ),
        [
            Some(Responsibility::Contractor),
            Some(Responsibility::Shared),
            Some(Responsibility::Contractor),
            Some(Responsibility::Msp),
        ]
    );
}

#[test]
fn an_unknown_owner_word_names_file_line_value_and_the_accepted_words() {
    let csv = "id,owner,contractor_does\n3.1.1,contractor,x\n3.1.2,Vendor Managed,x\n";
    let load = Crm::from_csv("vendor-crm.csv", csv.as_bytes());
    assert_eq!(
        problems(&load),
        [(Some(3), Severity::Error, code::INVALID_OWNER)]
    );
    let finding = &load.problems[0];
    assert_eq!(
        finding.location.as_ref().unwrap().to_string(),
        "vendor-crm.csv:3:B"
    );
    assert_eq!(
        finding.message,
        "owner `Vendor Managed` of 3.1.2 is not an owner word"
    );
    assert!(
        finding.help.starts_with(
            "accepted words (case, spaces and punctuation do not matter) are contractor: contractor, customer, OSA, Customer Only,"
        ),
        "{}",
        finding.help
    );
    assert!(
        finding.help.contains("; msp: msp, provider,"),
        "{}",
        finding.help
    );
    assert!(
        finding.help.contains("Service Provider Hybrid"),
        "{}",
        finding.help
    );
    assert!(
        finding
            .help
            .contains("; shared: shared, hybrid, partial, both,"),
        "{}",
        finding.help
    );
    assert!(
        finding
            .help
            .contains("; not_applicable: not_applicable, N/A, NA"),
        "{}",
        finding.help
    );
    assert!(
        finding.help.ends_with(
            "map another word in [contractor.crm_owner_words] to the owner it means here (e.g. \"Vendor Managed\" = \"shared\"; or \"msp\", \"contractor\", \"shared\", \"not_applicable\")"
        ),
        "{}",
        finding.help
    );
    assert_eq!(
        owners(&load),
        [("3.1.1".to_owned(), Responsibility::Contractor)]
    );
    assert_eq!(load.rejected[0].location.line, 3);
}

#[test]
fn control_id_forms_are_normalised_and_an_unknown_one_is_a_finding() {
    let ids = [
        ("3.1.1[a]", "3.1.1[a]"),
        ("3.1.1a", "3.1.1[a]"),
        ("3.1.1.b", "3.1.1[b]"),
        ("3.1.1(c)", "3.1.1[c]"),
        ("3.1.1 [D]", "3.1.1[d]"),
        ("AC.L2-3.1.2", "3.1.2"),
        ("AC.L2-3.1.2[b]", "3.1.2[b]"),
        ("ac.l2-3.1.3(a)", "3.1.3[a]"),
        ("3.13.10", "3.13.10"),
    ];
    let mut csv = "id,owner,contractor_does\n".to_owned();
    for (id, _) in ids {
        csv.push_str(&format!("{id},contractor,x\n"));
    }
    csv.push_str("AC.L2-3.3.1,contractor,x\n3.1.1[ab],contractor,x\nAC-2(a),contractor,x\n");
    let load = Crm::from_csv("crm.csv", csv.as_bytes());
    let read: Vec<String> = load
        .crm
        .rows()
        .iter()
        .map(|r| r.control.to_string())
        .collect();
    let expected: Vec<&str> = ids.iter().map(|(_, canonical)| *canonical).collect();
    assert_eq!(read, expected);
    assert_eq!(
        problems(&load),
        [
            (Some(11), Severity::Error, code::INVALID_ID),
            (Some(12), Severity::Error, code::INVALID_ID),
            (Some(13), Severity::Error, code::INVALID_ID),
        ]
    );
    let messages: Vec<&str> = load.problems.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "invalid control id `AC.L2-3.3.1`: domain AC is not family 3.3's (AU); expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            "invalid control id `3.1.1[ab]`: objective `[ab]` is not a single letter a to z; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
            "invalid control id `AC-2(a)`: not a NIST SP 800-171 number; expected a requirement like 3.1.1 or an objective like 3.1.1[a]",
        ]
    );
    // A well-formed id naming nothing in rev2 is kept for the linter, which reports it.
    let load = Crm::from_csv(
        "crm.csv",
        b"id,owner,contractor_does\n3.1.99a,contractor,x\n",
    );
    assert_eq!(problems(&load), []);
    let report = crate::lint::lint(&load, None);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.code == code::UNKNOWN_ID && f.location.as_ref().is_some_and(|l| l.line == 2)),
        "{:?}",
        report.findings
    );
}

/// A provider's CRM as it arrives: a title row, a guidance paragraph, renamed headers with the
/// provider's name, an internal column, FedRAMP's "can be inherited" words, id forms of every
/// kind, a package column in two spellings.
const REALISTIC: &str = "\
Bluewater Managed IT — Customer Responsibility Matrix (CMMC L2),,,,,,,
\"How to read this matrix: Can Be Inherited says whether the control is inherited from Bluewater (Yes), shared (Partial) or yours (No). Customer Responsibility says what you must do.\",,,,,,,
Control ID,Can Be Inherited from CSP,Customer Responsibility (Bluewater),Bluewater Responsibility,Contractor Verification,Service Package,Internal COMMENTS (REMOVE before publishing),Justification
AC.L2-3.1.1,Partial,Approve account requests,Provision accounts in Entra ID,Quarterly: review the account export,Basic,,
AC.L2-3.1.2,Yes,,Enforce role-based access,Quarterly: review role assignments,basic,check w/ Dan,
3.1.3[a],No,Define CUI flows,,,Premium,,
3.1.3b,Yes,,Configure DLP policies,Monthly DLP report review,PREMIUM,,
3.1.3.c,Partial,Approve flow exceptions,Enforce flow rules,Monthly DLP report review,Premium,,
3.1.3(d),No,Review flow exceptions,,,Premium,,
3.1.3 [e],Yes,,Monitor flows,Monthly DLP report review,Premium,,
AC.L2-3.1.4,No,Separate duties in the org chart,,,Basic,,
AC.L2-3.1.5,Partial,Approve privileged roles,Grant least privilege in Intune,Quarterly: privileged role review,Basic,,
AC.L2-3.1.6,No,Use separate admin accounts,,,Basic,,
AC.L2-3.1.7,Yes,,Log privileged functions in Sentinel,Monthly log review,Premium,,
AC.L2-3.1.8,Yes,,Lock out after 5 failed logons,Annual: policy screenshot,Basic,,
AC.L2-3.1.9,No,Show the logon banner text,,,Basic,,
AC.L2-3.1.10,Yes,,Lock idle sessions via Intune,Annual: policy screenshot,Basic,,
AC.L2-3.1.11,Yes,,End sessions after 8 h,Annual: policy screenshot,Basic,,
AC.L2-3.1.12,Partial,Approve remote access,Run the VPN,Quarterly: VPN log review,Premium,,
AC.L2-3.1.16,N/A,,,,,,No wireless in the enclave
AC.L2-3.1.17,Not Applicable,,,,,,No wireless in the enclave
AC.L2-3.1.18,Service Provider Hybrid,,Manage mobile devices in Intune,Quarterly: device report,Premium,,
AC.L2-3.1.19,Customer Configured,Turn on device encryption settings,,,Premium,,
";

#[test]
fn a_realistic_provider_crm_reads_with_exact_findings() {
    // `Bluewater Responsibility` is no alias: the provider renamed it, and the config maps it.
    let import = CrmImport {
        columns: vec![(CrmColumn::MspDoes, "Bluewater Responsibility".to_owned())],
        owner_words: Vec::new(),
    };
    let unmapped = Crm::from_csv("bluewater-crm.csv", REALISTIC.as_bytes());
    assert_eq!(
        unmapped.problems[1].message,
        "columns `Bluewater Responsibility`, `Internal COMMENTS (REMOVE before publishing)` are not CRM columns and are ignored"
    );
    let load = Crm::from_csv_with("bluewater-crm.csv", REALISTIC.as_bytes(), &import);
    assert_eq!(
        problems(&load),
        [
            (Some(3), Severity::Warning, code::ROWS_ABOVE_HEADER),
            (Some(3), Severity::Warning, code::UNKNOWN_COLUMN),
        ]
    );
    assert_eq!(
        load.problems[1].message,
        "column `Internal COMMENTS (REMOVE before publishing)` is not a CRM column and is ignored"
    );
    use Responsibility::{Contractor as C, Msp as M, NotApplicable as N, Shared as S};
    let expected: Vec<(String, Responsibility)> = [
        ("3.1.1", S),
        ("3.1.2", M),
        ("3.1.3[a]", C),
        ("3.1.3[b]", M),
        ("3.1.3[c]", S),
        ("3.1.3[d]", C),
        ("3.1.3[e]", M),
        ("3.1.4", C),
        ("3.1.5", S),
        ("3.1.6", C),
        ("3.1.7", M),
        ("3.1.8", M),
        ("3.1.9", C),
        ("3.1.10", M),
        ("3.1.11", M),
        ("3.1.12", S),
        ("3.1.16", N),
        ("3.1.17", N),
        ("3.1.18", M),
        ("3.1.19", C),
    ]
    .into_iter()
    .map(|(id, owner)| (id.to_owned(), owner))
    .collect();
    assert_eq!(owners(&load), expected);
    let first = &load.crm.rows()[0];
    assert_eq!(first.location.to_string(), "bluewater-crm.csv:4");
    assert_eq!(
        first.assignment.verification(),
        Some("Quarterly: review the account export")
    );
    assert_eq!(
        first.assignment.duty_of(crate::party::Party::Msp),
        Some("Provision accounts in Entra ID")
    );

    // Premium includes Basic: holding "premium" alone owns the Basic rows too.
    let defs = [PackageDef {
        name: "Premium".to_owned(),
        includes: vec!["basic".to_owned()],
    }];
    let held = expand_packages(&["premium".to_owned()], &defs, &[]).unwrap();
    assert_eq!(held, ["premium", "basic"]);
    let ownership = load.crm.ownership(Some(&held));
    assert_eq!(
        ownership.responsible(obj("3.1.1[a]")),
        Some(Responsibility::Shared)
    );
    assert_eq!(
        ownership.responsible(obj("3.1.3[b]")),
        Some(Responsibility::Msp)
    );
    let basic_only = load.crm.ownership(Some(&["Basic".to_owned()]));
    assert_eq!(basic_only.responsible(obj("3.1.3[b]")), None);
    assert_eq!(
        basic_only.responsible(obj("3.1.1[a]")),
        Some(Responsibility::Shared)
    );
}

#[test]
fn packages_nest_transitively_and_compare_without_case() {
    let defs = [
        PackageDef {
            name: "Premium".to_owned(),
            includes: vec!["Standard".to_owned()],
        },
        PackageDef {
            name: "standard".to_owned(),
            includes: vec!["BASIC".to_owned(), "premium".to_owned()],
        },
    ];
    // The cycle back to premium ends; each package comes once.
    assert_eq!(
        expand_packages(&[" PREMIUM ".to_owned(), "basic".to_owned()], &defs, &[]).unwrap(),
        ["PREMIUM", "Standard", "BASIC"]
    );
    let row = |package: &str| CrmRow {
        location: Location::new("crm.csv", 2),
        control: "3.1.1".parse().unwrap(),
        assignment: Assignment::Contractor {
            contractor_does: "x".to_owned(),
        },
        package: Some(package.to_owned()),
        positions: Vec::new(),
    };
    let held = expand_packages(&["premium".to_owned()], &defs, &[]).unwrap();
    assert!(row("Basic").applies_to(Some(&held)));
    assert!(row("STANDARD").applies_to(Some(&held)));
    assert!(!row("Enterprise").applies_to(Some(&held)));
}

#[test]
fn an_unknown_package_is_an_error_listing_the_known_ones() {
    let defs = [PackageDef {
        name: "Premium".to_owned(),
        includes: vec!["Basic".to_owned()],
    }];
    let errors = expand_packages(
        &["Premum".to_owned()],
        &defs,
        &["Addon".to_owned(), "basic".to_owned()],
    )
    .unwrap_err();
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["package `Premum` is unknown; known packages: Addon, basic, Premium"]
    );
    // Nothing known at all (no [[package]], no package column): names are not checked.
    assert_eq!(
        expand_packages(&["Gold".to_owned()], &[], &[]).unwrap(),
        ["Gold"]
    );
}
