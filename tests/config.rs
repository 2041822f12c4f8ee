//! Configs as shipped and as written by hand.

use dutywatch::config;

use crate::util::{self, Fixture, at, text};

/// Every config shipped in `config/` must load, so examples cannot rot.
/// Examples name the SMTP password and the Graph client secret as systemd credentials; they
/// are provided.
#[test]
fn every_shipped_config_loads() {
    let credentials = Fixture::new();
    credentials.write("smtp-password", "example-password\n");
    credentials.write("graph-client-secret", "example-client-secret\n");
    credentials.write("arm-client-secret", "example-client-secret\n");
    for connector in [
        "ninjaone-client-secret",
        "splunk-token",
        "elastic-api-key",
        "portal-token",
    ] {
        credentials.write(connector, "example-connector-secret\n");
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read config dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                // Evidence templates are data, not configs.
                if path.file_name().is_some_and(|n| n != "evidence") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "toml")
                && path.file_name().is_some_and(|n| n != "demo.toml")
            {
                let output = std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"))
                    .args(["check-config", "--config", path.to_str().expect("utf-8")])
                    .env("CREDENTIALS_DIRECTORY", credentials.dir.path())
                    .env_remove("DUTYWATCH_CONFIG")
                    .output()
                    .expect("runs");
                let (stdout, stderr) = text(&output);
                assert!(
                    output.status.success(),
                    "{}:\n{stdout}{stderr}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3,
        "demo and examples: only {checked} config(s) found under config/"
    );
}

const INLINE: &str = r#"
perspective = "contractor"
timezone = "UTC"

[mail]
from = "dutywatch@acme.example"
transport = "file"

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]

[[contractor.crm]]
id = "3.5.3"
owner = "msp"
msp_does = "Enforces MFA"
evidence_producer = "msp"
verification = "Monthly export"

[[contractor.crm]]
id = "3.2.1"
owner = "shared"
contractor_does = "Trains staff"

[[contractor.source]]
id = "mfa"
kind = "file"
evidence = "mfa_registration"
path = "mfa.json"
schedule = "0 * * * *"
max_age = "2d"

[[contractor.duty]]
id = "mfa-registered"
title = "MFA registered"
objectives = ["3.5.3"]
source = "mfa"
rule = "continuous"
check = "mfa_registered == true"
tolerance = "24h"
"#;

#[test]
fn inline_crm_rows_load_and_their_problems_point_at_config_lines() {
    let fixture = Fixture::new();
    fixture.write("dutywatch.toml", INLINE);
    let loaded = config::load(&fixture.config_path()).expect("loads");
    let contractor = &loaded.contractors[0];
    assert_eq!(
        contractor.crm.crm.rows().len(),
        1,
        "the shared row without an MSP side is rejected"
    );
    assert_eq!(
        contractor.duties[0].responsible,
        dutywatch_checks::party::Party::Msp
    );

    let output = fixture.run(&["crm", "lint", "--config", "dutywatch.toml"]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let line = INLINE
        .lines()
        .position(|l| l == "id = \"3.2.1\"")
        .expect("line")
        + 1;
    // The row's location is its [[contractor.crm]] table.
    assert!(
        stdout.contains(&format!("dutywatch.toml:{}:", line - 1))
            || stdout.contains(&format!("dutywatch.toml:{line}:")),
        "{stdout}"
    );
    assert!(stdout.contains("3.2.1"), "{stdout}");
}

#[test]
fn crm_file_and_inline_rows_together_are_refused() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let both = good.replace(
        "crm_file = \"crm.csv\"",
        "crm_file = \"crm.csv\"\n\n[[contractor.crm]]\nid = \"3.1.1\"\nowner = \"contractor\"\ncontractor_does = \"x\"",
    );
    fixture.write("dutywatch.toml", &both);
    let errors = config::load(&fixture.config_path()).expect_err("refused");
    assert!(
        errors
            .to_string()
            .contains("either as crm_file or as inline [[contractor.crm]] rows, not both"),
        "{errors}"
    );
}

/// The config error for a duty on an objective the CRM leaves unowned.
fn duty_error(fixture: &Fixture) -> String {
    let errors = config::load(&fixture.config_path()).expect_err("the duty cannot be assigned");
    errors.to_string()
}

#[test]
fn an_unowned_objective_says_why_the_crm_did_not_cover_it() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    // The MSP's MFA row lost its description: the loader sets it aside.
    fixture.write(
        "crm.csv",
        &util::CRM.replace("3.5.3,msp,,Enforces MFA,", "3.5.3,msp,,,"),
    );
    let text = duty_error(&fixture);
    assert!(
        text.contains("duty[mfa-registered].objectives: 3.5.3[a] has no owner in the CRM")
            && text.contains("(set aside, ")
            && text.contains("crm.csv:3:D: "),
        "names the row that was set aside and why: {text}"
    );

    // The row is in a package this client does not hold.
    fixture.write(
        "crm.csv",
        &util::CRM.replace("Monthly MFA export,,", "Monthly MFA export,premium,"),
    );
    let text = duty_error(&fixture);
    assert!(
        text.contains("crm.csv:3 is in package `premium`, which this client does not hold"),
        "{text}"
    );

    // The row's id mistyped, and its owner word: nothing names 3.5.3, and the row set aside
    // is shown with the duty's error, not only once that error is fixed.
    fixture.write("crm.csv", &util::CRM.replace("3.5.3,msp,", "3.5.33,mssp,"));
    let text = duty_error(&fixture);
    assert!(
        text.contains("3.5.3[a] has no owner in the CRM")
            && text.contains("the CRM set aside a row that may be meant for it: ")
            && text.contains("crm.csv:3:B: owner `mssp` of 3.5.33 is not an owner word"),
        "{text}"
    );

    // No usable row at all.
    fixture.write("crm.csv", "");
    let text = duty_error(&fixture);
    assert!(text.contains("the CRM has no usable row: "), "{text}");
}

#[test]
fn an_unreadable_crm_does_not_hide_the_other_problems() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &good
            .replace("crm_file = \"crm.csv\"", "crm_file = \"nope.csv\"")
            .replace("source = \"mfa\"\nrule", "source = \"mfaa\"\nrule"),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    assert!(stderr.contains("crm_file: cannot read the CRM"), "{stderr}");
    assert!(stderr.contains("no source `mfaa`"), "{stderr}");
}

/// The README's list of built-in kinds is the binary's: every kind, every
/// field with its type, whether it is required, and every name it is read
/// from, on the kind's own line.
#[test]
fn the_readme_documents_every_built_in_kind_and_field() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    for kind in dutywatch_checks::kind::builtin() {
        let line = readme
            .lines()
            .find(|l| l.starts_with(&format!("- **`{}`**", kind.name)))
            .unwrap_or_else(|| panic!("README lists no kind `{}`", kind.name));
        for field in &kind.fields {
            let required = if field.required { " (required)" } else { "" };
            let ahead = if field.ty.is_time() && !field.event {
                " (set ahead)"
            } else {
                ""
            };
            let from: Vec<String> = field.from.iter().map(|p| format!("`{p}`")).collect();
            let ty = match &field.ty {
                dutywatch_checks::kind::FieldType::Enum(values) => {
                    format!("enum: {}", values.join(" / "))
                }
                other => other.name().to_owned(),
            };
            let expected = format!(
                "`{}` {ty}{required}{ahead} ← {}",
                field.name,
                from.join(", ")
            );
            assert!(
                line.contains(&expected),
                "README's `{}` line lacks {expected}",
                kind.name
            );
        }
    }
}

/// The standard config's CRM as a provider hands it over: a title and guidance above the
/// header, renamed headers, an internal column, provider words, ids in CMMC form, a tier.
const PROVIDER_CRM: &str = "\
Keystone IT - Customer Responsibility Matrix,,,,,,,
\"Guidance: Who Does It says whether Keystone (Managed), both of us (Partial) or you (Customer) do the work.\",,,,,,,
Control ID,Who Does It,Customer Responsibility,Keystone Responsibility,Evidence By,Contractor Verification,Tier,Internal notes
AC.L2-3.1.1,Partial,Approves access,Administers accounts,both,Monthly account report,Basic,
IA.L2-3.5.3,Managed,,Enforces MFA,msp,Monthly MFA export,basic,renew in May
3.14.1,Inherited,,Patches systems,msp,Weekly patch report,Premium,
AT.L2-3.2.1,Customer,Trains staff,,contractor,,BASIC,
";

fn provider_config(packages: &str) -> String {
    util::contractor_config("\n[[package]]\nname = \"Premium\"\nincludes = [\"basic\"]\n").replace(
        "crm_file = \"crm.csv\"",
        &format!(
            "crm_file = \"crm.csv\"\npackages = {packages}\n\
             crm_columns = {{ owner = \"who does it\", msp_does = \"Keystone Responsibility\" }}\n\
             crm_owner_words = {{ \"Managed\" = \"msp\" }}"
        ),
    )
}

#[test]
fn a_provider_crm_loads_through_crm_columns_owner_words_and_nested_packages() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    fixture.write("crm.csv", PROVIDER_CRM);
    fixture.write("dutywatch.toml", &provider_config("[\"PREMIUM\"]"));
    let loaded = config::load(&fixture.config_path()).expect("loads");
    let contractor = &loaded.contractors[0];
    assert_eq!(contractor.packages, ["PREMIUM", "basic"]);
    let owners: Vec<String> = contractor
        .crm
        .crm
        .rows()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.location,
                r.control,
                r.assignment.responsible()
            )
        })
        .collect();
    let crm = fixture.dir.path().join("crm.csv").display().to_string();
    assert_eq!(
        owners,
        [
            format!("{crm}:4 3.1.1 shared"),
            format!("{crm}:5 3.5.3 msp"),
            format!("{crm}:6 3.14.1 msp"),
            format!("{crm}:7 3.2.1 contractor"),
        ]
    );
    let mfa = contractor.duty("mfa-registered").expect("duty");
    assert_eq!(mfa.responsible, dutywatch_checks::party::Party::Msp);
    // check-config reads it as loading does: four rows and no import finding beyond the
    // warnings (the rest of the catalog is unowned, as in the standard fixture).
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("4 CRM row(s)"), "{all}");
    assert!(
        !all.contains("error[invalid-") && !all.contains("error[missing-"),
        "{all}"
    );
}

#[test]
fn provider_crm_problems_point_at_file_line_and_key() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    // An owner word nobody mapped, on line 6 of the file.
    fixture.write(
        "crm.csv",
        &PROVIDER_CRM.replace("3.14.1,Inherited", "3.14.1,Vendor Run"),
    );
    fixture.write("dutywatch.toml", &provider_config("[\"premium\"]"));
    let output = fixture.run(&["crm", "lint", "--config", "dutywatch.toml"]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "crm.csv:6:B: error[invalid-owner]: owner `Vendor Run` of 3.14.1 is not an owner word"
        ),
        "{stdout}"
    );

    // An unknown package, a column key that is not ours, an owner word mapped to nothing.
    fixture.write("crm.csv", PROVIDER_CRM);
    let config = provider_config("[\"Premum\"]")
        .replace(
            "owner = \"who does it\"",
            "owner = \"who does it\", verifies = \"x\"",
        )
        .replace("\"Managed\" = \"msp\"", "\"Managed\" = \"provider\"");
    fixture.write("dutywatch.toml", &config);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line_of = |needle: &str| config.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for expected in [
        format!(
            "dutywatch.toml:{}: contractor[acme].crm_columns.verifies: `verifies` is not a CRM column",
            line_of("crm_columns")
        ),
        format!(
            "dutywatch.toml:{}: contractor[acme].crm_owner_words.Managed: owner word `Managed` maps to `provider`; it must map to contractor, msp, shared or not_applicable",
            line_of("crm_owner_words")
        ),
        "contractor[acme].packages: package `Premum` is unknown; known packages: Basic, Premium"
            .to_owned(),
    ] {
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    }
}

/// [`PROVIDER_CRM`] as the CRM sheet of a workbook, after an instructions sheet.
fn provider_workbook() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let notes = workbook.add_worksheet();
    notes.set_name("Read me").expect("name");
    notes
        .write_string(0, 0, "Keystone IT CRM workbook")
        .expect("write");
    let sheet = workbook.add_worksheet();
    sheet.set_name("CRM").expect("name");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(PROVIDER_CRM.as_bytes());
    for (row, record) in reader.records().enumerate() {
        for (col, cell) in record.expect("csv").iter().enumerate() {
            if !cell.is_empty() {
                let (row, col) = (
                    u32::try_from(row).expect("row"),
                    u16::try_from(col).expect("col"),
                );
                sheet.write_string(row, col, cell).expect("write");
            }
        }
    }
    workbook.save_to_buffer().expect("workbook")
}

#[test]
fn an_xlsx_crm_file_loads_from_its_named_sheet_and_lints_with_sheet_and_row() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    std::fs::write(fixture.dir.path().join("crm.xlsx"), provider_workbook()).expect("write");
    let config = provider_config("[\"premium\"]").replace(
        "crm_file = \"crm.csv\"",
        "crm_file = \"crm.xlsx\"\ncrm_sheet = \"crm\"",
    );
    fixture.write("dutywatch.toml", &config);
    let loaded = config::load(&fixture.config_path()).expect("loads");
    let rows: Vec<String> = loaded.contractors[0]
        .crm
        .crm
        .rows()
        .iter()
        .map(|r| format!("{} {}", r.control, r.assignment.responsible()))
        .collect();
    assert_eq!(
        rows,
        [
            "3.1.1 shared",
            "3.5.3 msp",
            "3.14.1 msp",
            "3.2.1 contractor"
        ]
    );
    let location = loaded.contractors[0].crm.crm.rows()[1].location.to_string();
    assert!(location.ends_with("crm.xlsx#CRM:5"), "{location}");

    // `crm lint FILE` reads the workbook by its content; without the config's column mapping
    // `Who Does It` is no owner column, said at the sheet and row of the header.
    let output = fixture.run(&["crm", "lint", "crm.xlsx", "--sheet", "CRM"]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "crm.xlsx#CRM:3: error[missing-column]: the header has no owner column, so no row can be read"
        ),
        "{stdout}"
    );

    // A sheet the workbook lacks.
    fixture.write(
        "dutywatch.toml",
        &config.replace("crm_sheet = \"crm\"", "crm_sheet = \"CRM High\""),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(
        format!("{stdout}{stderr}").contains(
            "crm.xlsx:1: the workbook has no sheet `CRM High`; its sheets are `Read me`, `CRM`"
        ),
        "{stdout}{stderr}"
    );
}

/// A kind of the config's own, its source and a duty on it, with `{ahead}` on the expiry.
fn badge_config(ahead: &str) -> String {
    util::contractor_config(&format!(
        r#"
[[contractor.source]]
id = "badges"
kind = "file"
evidence = "badge_review"
path = "evidence/badges.csv"
schedule = "0 6 * * *"
max_age = "8d"

[[contractor.duty]]
id = "badges-valid"
title = "Every reviewed badge is still valid"
objectives = ["3.1.1"]
party = "contractor"
source = "badges"
rule = "continuous"
check = "expires_on > now"
tolerance = "1d"

[[kind]]
name = "badge_review"
subject = ["badge"]

[[kind.field]]
name = "badge"
type = "text"
required = true

[[kind.field]]
name = "reviewed_on"
type = "date"
required = true

[[kind.field]]
name = "expires_on"
type = "date"
{ahead}
"#
    ))
}

#[test]
fn a_declared_kinds_times_are_events_unless_a_field_is_set_ahead() {
    let now = at(util::CLOCK);
    let fixture = util::standard(now);
    // Badge 7 was reviewed "next year": a typo, not a review.
    fixture.write_dated(
        "evidence/badges.csv",
        "badge,reviewed_on,expires_on\nB-1,2026-11-20,2027-06-30\nB-7,2027-11-20,2027-06-30\n",
        now,
    );
    // (met subjects, each subject that is not met with its state and reason)
    let judged = |ahead: &str| -> (u64, Vec<(String, String, String)>) {
        fixture.write("dutywatch.toml", &badge_config(ahead));
        let output = fixture.run(&[
            "once",
            "--config",
            "dutywatch.toml",
            "--dry-run",
            "--at",
            util::CLOCK,
            "--json",
        ]);
        assert!(output.status.success(), "{}", text(&output).1);
        let duty = util::duty_json(&output, "badges-valid");
        let subjects = duty["subjects"]
            .as_array()
            .expect("subjects")
            .iter()
            .map(|s| {
                let field = |name: &str| s[name].as_str().unwrap_or_default().to_owned();
                (field("subject"), field("state"), field("reason"))
            })
            .collect();
        (duty["met_subjects"].as_u64().expect("a count"), subjects)
    };

    let (met, failing) = judged("ahead = true");
    assert_eq!(met, 1, "B-1 is valid: {failing:?}");
    let [(badge, state, reason)] = &failing[..] else {
        panic!("only B-7 fails: {failing:?}")
    };
    assert_eq!((badge.as_str(), state.as_str()), ("B-7", "no_evidence"));
    assert!(
        reason.contains("`reviewed_on` 2027-11-20 is after the evidence's instant")
            && reason.contains("a typo or a clock ahead, not evidence")
            && reason.contains("if `reviewed_on` is set ahead on purpose (an expiry, a due date), add `ahead = true` to its `[[kind.field]]` in kind `badge_review`"),
        "{reason}"
    );

    // Without `ahead`, an expiry is read as when something happened: a condition that needs
    // it after now could never hold, and the config says so before any record is judged.
    fixture.write("dutywatch.toml", &badge_config(""));
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`expires_on` is when something happened, and a record dated after its evidence is not judged, so `expires_on > now…` could never hold; if it is set ahead on purpose (an expiry, a due date), add `ahead = true` to its `[[kind.field]]` in kind `badge_review`"),
        "{stderr}"
    );
}

#[test]
fn ahead_on_a_field_that_is_not_a_time_is_a_config_error() {
    let fixture = util::standard(at(util::CLOCK));
    fixture.write(
        "dutywatch.toml",
        &badge_config("ahead = true").replace(
            "type = \"text\"\nrequired = true",
            "type = \"text\"\nrequired = true\nahead = true",
        ),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("kind[badge_review].field[badge].ahead: `ahead` is for `timestamp` and `date` fields, and this one is `text`; remove it"),
        "{stderr}"
    );
}

#[test]
fn a_broken_source_is_one_problem_not_one_more_per_duty_on_it() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // The mfa source (max_age = "2d") with a cron of four fields.
    let broken = good.replacen("schedule = \"0 * * * *\"", "schedule = \"0 * * *\"", 1);
    assert_ne!(broken, good);
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
    assert!(stderr.contains("source[mfa].schedule"), "{stderr}");
    assert!(!stderr.contains("max_age"), "{stderr}");
}

#[test]
fn check_config_shows_each_sources_next_runs_so_a_seconds_field_shows() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // An extra `*` on the mfa source: six fields are read seconds first, so this is
    // hourly at :06:30, not daily at 06:30.
    let six = good.replacen("schedule = \"0 * * * *\"", "schedule = \"30 6 * * * *\"", 1);
    assert_ne!(six, good);
    fixture.write("dutywatch.toml", &six);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    // The standard CRM leaves objectives unowned, so the exit status is not the point.
    let (stdout, _) = text(&output);
    // The clock is 2026-12-01T00:00Z, 19:00 in New York the evening before.
    assert!(
        stdout.contains("source[reviews]: schedule `0 6 * * *` runs next at 2026-12-01 06:00 EST, then 2026-12-02 06:00 EST"),
        "{stdout}"
    );
    assert!(
        stdout.contains("source[mfa]: schedule `30 6 * * * *` (6 fields: read as second minute hour day-of-month month day-of-week) runs next at 2026-11-30 19:06:30 EST, then 2026-11-30 20:06:30 EST"),
        "{stdout}"
    );
}

#[test]
fn a_cron_number_out_of_range_names_its_field() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    for (line, reason) in [
        (
            "0 25 * * *",
            "its hour field `25` is out of range: hour takes 0 to 23",
        ),
        ("0", "it has 1 field ("),
    ] {
        let broken = good.replacen(
            "schedule = \"0 * * * *\"",
            &format!("schedule = \"{line}\""),
            1,
        );
        fixture.write("dutywatch.toml", &broken);
        let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("source[mfa].schedule"), "{stderr}");
        assert!(stderr.contains(reason), "{line}: {stderr}");
        assert!(!stderr.contains("Number out of bounds"), "{stderr}");
    }
}

#[test]
fn a_mistake_in_one_source_or_duty_does_not_hide_the_next_ones() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // Three tables that do not read: a source with a misspelt key, a duty with an unknown
    // rule, another with a number where a period is written. The mfa duty's source is the
    // broken one: that is its source's problem, not one more.
    let broken = good
        .replacen("max_age = \"2d\"", "max_agee = \"2d\"", 1)
        .replacen("rule = \"recurring\"", "rule = \"recuring\"", 1)
        .replacen("every = \"365d\"", "every = 365", 1);
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("3 problem(s)"), "{stderr}");
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (line, said) in [
        (
            line_of("max_agee"),
            "contractor[acme].source[mfa].max_agee: unknown field `max_agee`",
        ),
        (
            line_of("recuring"),
            "contractor[acme].duty[access-review].rule: unknown variant `recuring`",
        ),
        (
            line_of("every = 365"),
            "contractor[acme].duty[training].every: invalid type: integer `365`, expected a string; quote the value, e.g. every = \"…\"",
        ),
    ] {
        assert!(
            stderr.contains(&format!("dutywatch.toml:{line}: {said}")),
            "line {line}: {said}\n{stderr}"
        );
    }
    assert_eq!(
        stderr.matches("this source was not read").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("this duty was not read").count(),
        2,
        "{stderr}"
    );
}

#[test]
fn a_duty_on_a_broken_source_still_has_its_fields_checked_against_the_declared_kind() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let typo = good.replacen(
        "check = \"mfa_registered == true\"",
        "check = \"mfa_registred == true\"",
        1,
    );
    assert_ne!(typo, good);
    // The mfa source not read at all (a misspelt key), and read but wrong (a cron of four
    // fields): either way, mending it must not bring the duty's typo to light only then.
    for broken in [
        typo.replacen("max_age = \"2d\"", "max_agee = \"2d\"", 1),
        typo.replacen("schedule = \"0 * * * *\"", "schedule = \"0 * * *\"", 1),
    ] {
        assert_ne!(broken, typo);
        fixture.write("dutywatch.toml", &broken);
        let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("2 problem(s)"), "{stderr}");
        assert!(stderr.contains("mfa_registred"), "{stderr}");
    }
}

#[test]
fn a_shared_duty_that_does_not_read_is_said_once_not_once_per_client() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // A top-level duty every client's package would get, and a second client with a mistake
    // of its own.
    let second = good
        .split("[[contractor]]")
        .nth(1)
        .expect("a contractor block")
        .replace("id = \"acme\"", "id = \"birch\"")
        .replace("every = \"90d\"", "every = 90");
    let config = good.replacen(
        "[[contractor]]",
        "[[duty]]\nid = \"shared\"\nrule = \"weekly\"\n\n[[contractor]]",
        1,
    ) + "\n[[contractor]]"
        + &second;
    // An MSP's config, where a client's own mistake would only quarantine it.
    let config = config.replacen("perspective = \"contractor\"", "perspective = \"msp\"", 1);
    fixture.write("dutywatch.toml", &config);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr
            .matches("duty[shared].rule: unknown variant `weekly`")
            .count(),
        1,
        "{stderr}"
    );
    // And what follows it is still read: the second client's own mistake.
    assert!(
        stderr.contains("contractor[birch].duty[access-review].every: invalid type: integer `90`"),
        "{stderr}"
    );
    // The shared duty is every client's, so the file fails whole, and that is said with the
    // line that made it so (not the client's own mistake).
    let line = config
        .lines()
        .position(|l| l.contains("rule = \"weekly\""))
        .unwrap()
        + 1;
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "The configuration is refused as a whole: `dutywatch run` does not start on it"
        ) && last.ends_with(&format!(
            "outside every client's block is every client's: line {line} (duty[shared].rule)."
        )),
        "{stderr}"
    );
}

#[test]
fn check_config_notes_a_device_duty_that_never_asks_when_a_device_last_synced() {
    let fixture = util::standard(at(util::CLOCK));
    let devices = |unknown_when: &str| {
        util::contractor_config(&format!(
            r#"
[[contractor.source]]
id = "intune"
kind = "file"
evidence = "managed_device"
path = "evidence/devices.json"
schedule = "0 * * * *"
max_age = "2d"

[[contractor.duty]]
id = "devices-compliant"
title = "Managed devices are compliant"
objectives = ["3.14.1"]
source = "intune"
rule = "continuous"
check = "compliance == 'compliant'"
tolerance = "1d"
{unknown_when}
"#
        ))
    };
    fixture.write("dutywatch.toml", &devices(""));
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(
        stdout.contains("note: contractor[acme].duty[devices-compliant]: a record is judged as it last reported however long ago, since nothing reads `last_sync`; add unknown_when = \"last_sync < now-7d\""),
        "{stdout}{stderr}"
    );
    fixture.write(
        "dutywatch.toml",
        &devices("unknown_when = \"last_sync < now-7d\""),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(!stdout.contains("since nothing reads"), "{stdout}{stderr}");
}

#[test]
fn a_mistake_in_one_section_does_not_hide_another_sections() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    assert!(good.contains("[mail]") && good.contains("[msp]"), "{good}");
    // A number for [digest]'s cron line, a misspelt key in [mail], a list where [msp] takes
    // a name, and a section with a number where a period is written.
    let broken = good
        .replacen(
            "[mail]\n",
            "[digest]\nschedule = 8\n\n[mail]\ntransprt = \"file\"\n",
            1,
        )
        .replacen("[msp]\nname = ", "[msp]\nname = [", 1)
        .replacen("\"Keystone IT\"", "\"Keystone IT\"]", 1)
        .replacen(
            "[[contractor]]",
            "[escalation]\nrepeat_every = 7\n\n[[contractor]]",
            1,
        );
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
    for said in [
        "digest.schedule: invalid type: integer `8`",
        "mail.transprt: unknown field `transprt`",
        "; [mail] was not read",
        "msp.name: invalid type: sequence, expected a string",
        "escalation.repeat_every: invalid type: integer `7`",
        "; [escalation] was not read",
    ] {
        assert!(stderr.contains(said), "{said}\n{stderr}");
    }
    // In the order of the file.
    let lines: Vec<usize> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("dutywatch.toml:"))
        .filter_map(|rest| rest.split(':').next()?.parse().ok())
        .collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines.is_sorted(), "{lines:?}\n{stderr}");
}

#[test]
fn a_source_that_does_not_read_and_takes_another_ones_id_is_said_twice_over() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // A second `mfa` source, with a misspelt key of its own.
    let broken = good.replacen(
        "[[contractor.duty]]",
        "[[contractor.source]]\nid = \"mfa\"\nkind = \"file\"\nevidence = \"mfa_registration\"\npath = \"evidence/mfa2.json\"\nschedul = \"0 * * * *\"\n\n[[contractor.duty]]",
        1,
    );
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    assert!(stderr.contains("unknown field `schedul`"), "{stderr}");
    assert!(
        stderr.contains("source `mfa` is configured twice"),
        "{stderr}"
    );
}

#[test]
fn a_kind_or_duty_that_does_not_read_adds_no_second_problem_and_misses_no_duplicate() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // A declared kind with a misspelt key, used by a source; and a second `training` duty
    // with a misspelt key of its own.
    let broken = good
        .replacen(
            "[[contractor]]",
            "[[kind]]\nname = \"badge\"\nsubjct = \"badge_id\"\n\n[[contractor]]",
            1,
        )
        .replacen("evidence = \"access_review\"", "evidence = \"badge\"", 1)
        + "\n[[contractor.duty]]\nid = \"training\"\ntitle = \"Again\"\nobjectives = [\"3.2.1\"]\nsource = \"manual\"\nrule = \"recurring\"\nevry = \"365d\"\n";
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("kind.subjct: unknown field `subjct`"),
        "{stderr}"
    );
    assert!(!stderr.contains("is not an evidence kind"), "{stderr}");
    assert!(stderr.contains("unknown field `evry`"), "{stderr}");
    assert!(
        stderr.contains("duty `training` is configured twice for this contractor"),
        "{stderr}"
    );
}

#[test]
fn a_duty_repeating_a_shared_duty_says_where_the_first_is_in_the_same_run_as_its_other_problems() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // The standard MFA duty made shared, while the client keeps its own copy, with a typo.
    let shared = "[[duty]]\nid = \"mfa-registered\"\ntitle = \"MFA registered\"\nobjectives = [\"3.5.3\"]\nsource = \"mfa\"\nrule = \"continuous\"\ncheck = \"mfa_registered == true\"\ntolerance = \"24h\"\n\n";
    let config = good
        .replacen("[[contractor]]", &format!("{shared}[[contractor]]"), 1)
        .replacen(
            "check = \"mfa_registered == true\"\ntolerance = \"24h\"\n\n[[contractor.duty]]",
            "check = \"mfa_registred == true\"\ntolerance = \"24h\"\n\n[[contractor.duty]]",
            1,
        );
    fixture.write("dutywatch.toml", &config);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line = config
        .lines()
        .position(|l| l == "id = \"mfa-registered\"")
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!(
            "duty `mfa-registered` is configured twice for this contractor (the first is the shared [[duty]] at line {line}, which every client gets)"
        )),
        "{stderr}"
    );
    // And the copy's own mistake, not only after the duplicate is mended.
    assert!(stderr.contains("mfa_registred"), "{stderr}");
}

#[test]
fn a_misspelt_key_in_a_clients_block_does_not_hide_its_sources_and_duties_problems() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let broken = good
        .replacen("perspective = \"contractor\"", "perspective = \"msp\"", 1)
        .replacen(
            "crm_file = \"crm.csv\"",
            "crm_fille = \"crm.csv\"\ncrm_file = \"crm.csv\"\ncontact = []",
            1,
        )
        .replacen("max_age = \"2d\"", "max_age = \"1 month\"", 1)
        .replacen(
            "check = \"mfa_registered == true\"",
            "check = \"mfa_registred == true\"",
            1,
        );
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (line, said) in [
        (line_of("crm_fille"), "unknown field `crm_fille`"),
        (line_of("contact = []"), "unknown field `contact`"),
        (line_of("1 month"), "max_age"),
        (line_of("mfa_registred"), "mfa_registred"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("dutywatch.toml:{line}:")) && l.contains(said)),
            "line {line}: {said}\n{stderr}"
        );
    }
    assert!(
        stderr
            .contains("the client is quarantined, and the rest of its block is checked without it"),
        "{stderr}"
    );
}

#[test]
fn check_config_says_the_crms_warnings_too() {
    let fixture = util::standard(at(util::CLOCK));
    // A workbook's title row above the header: read, and said.
    fixture.write(
        "crm.csv",
        &format!("Customer Responsibility Matrix, Acme\n{}", util::CRM),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("contractor[acme]: ")
                && line.contains("warning[rows-above-header]")),
        "{stdout}{stderr}"
    );
}

#[test]
fn a_key_left_out_of_a_refused_block_is_not_said_again_as_missing() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let broken = good
        .replacen("perspective = \"contractor\"", "perspective = \"msp\"", 1)
        .replacen("crm_file = \"crm.csv\"", "crm_file = 5", 1);
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 problem(s)") && stderr.contains("crm_file: invalid type: integer `5`"),
        "one problem, said as it is, not again as a missing CRM: {stderr}"
    );
}

#[test]
fn a_config_value_quoted_in_a_problem_has_its_control_characters_written_out() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &good.replacen(
            "timezone = \"America/New_York\"",
            "timezone = \"Mars\\u001b]0;pwned\\u0007\\nFAKE: configuration OK\"",
            1,
        ),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not an IANA time zone"), "{stderr}");
    assert!(
        !format!("{stdout}{stderr}").contains('\u{1b}') && !stderr.contains("\nFAKE"),
        "{stderr:?}"
    );
}

#[test]
fn a_source_or_duty_refused_for_a_misspelt_key_still_has_its_other_problems_said() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let broken = good
        // The mfa source: a key it does not have, and an hour of 25.
        .replacen(
            "schedule = \"0 * * * *\"",
            "schedule = \"0 25 * * *\"\ncolour = \"red\"",
            1,
        )
        // The access review: a misspelt key, and a completion field its kind lacks.
        .replacen(
            "completed_at = \"signed_off_at\"",
            "completed_at = \"signed_of_at\"\nwarn_befor = \"14d\"",
            1,
        );
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for said in [
        "source[mfa].colour: unknown field `colour`",
        "source[mfa].schedule",
        "duty[access-review].warn_befor: unknown field `warn_befor`",
        "signed_of_at",
    ] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
}

#[test]
fn a_second_problem_in_a_refused_table_is_said_even_when_the_table_cannot_be_read_without_it() {
    let fixture = util::standard(at(util::CLOCK));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    // The mfa source: a misspelt key, and its required schedule of the wrong type.
    let broken = good.replacen(
        "schedule = \"0 * * * *\"",
        "schedule = 5\nmax_agee = \"3d\"",
        1,
    );
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("source[mfa].max_agee: unknown field `max_agee`")
            && stderr.contains("source[mfa].schedule: invalid type: integer `5`"),
        "{stderr}"
    );
    assert!(!stderr.contains("missing field"), "{stderr}");
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
}
