//! The standard duty library end to end: derived from the CRM, overridden, refused, satisfied
//! by hand-added evidence, and shown by `duties plan`.

use dutywatch::config;
use dutywatch_checks::library::{self, Role, Watch, gaps};
use dutywatch_checks::party::Party;

use crate::util::{self, Fixture, text};

/// The demo's config (which enables the library) and CRM in a fixture.
fn demo_with_library() -> Fixture {
    let fixture = Fixture::new();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    let config = std::fs::read_to_string(demo.join("dutywatch.toml")).expect("demo config");
    assert!(config.contains("[library]\nenabled = true"));
    fixture.write("dutywatch.toml", &config);
    fixture.write(
        "crm.csv",
        &std::fs::read_to_string(demo.join("crm.csv")).expect("demo crm"),
    );
    fixture
}

#[test]
fn the_demo_crm_with_the_library_watches_every_owned_objective() {
    let fixture = demo_with_library();
    let config = fixture.load();
    let contractor = &config.contractors[0];
    assert!(contractor.library.enabled);
    let plan = contractor.plan();
    assert_eq!(plan.len(), 320);
    let owned = plan
        .iter()
        .filter(|row| row.owner.is_some_and(|o| !o.parties().is_empty()))
        .count();
    assert_eq!(owned, 316, "four objectives are not applicable");
    assert_eq!(gaps(&plan).len(), 0);
    let hand = contractor
        .duties
        .iter()
        .filter(|d| !library::is_derived(&d.id))
        .count();
    let verifications = contractor
        .duties
        .iter()
        .filter(|d| library::is_verification(&d.id))
        .count();
    let library = contractor.duties.len() - hand - verifications;
    // 13 by hand (ssp-reviewed among them, so 3.12.4 needs no library attestation); 138
    // attestations (the contractor's side of 3.6.1 and 3.6.2 among them: the incidents'
    // 72-hour clocks are no duty), 2 re-confirmations of not-applicable rows, 2 CRM reviews.
    assert_eq!((hand, library, verifications), (13, 142, 83));
    // The hand-written duty keeps its side; the library watches the other one.
    let row = plan
        .iter()
        .find(|row| row.objective.to_string() == "3.1.1[b]")
        .expect("3.1.1[b]");
    let duties: Vec<(Party, &str)> = row
        .sides
        .iter()
        .map(|side| match &side.watch {
            Watch::Duty { duty, .. } => (side.party, duty.as_str()),
            Watch::Unwatched { reason } => panic!("unwatched: {reason}"),
        })
        .collect();
    assert_eq!(
        duties,
        [
            (Party::Contractor, "quarterly-access-review"),
            (Party::Msp, "lib-3.1.1-msp"),
            (Party::Contractor, "ver-3.1.1")
        ]
    );
    assert_eq!(row.sides[2].role, Role::Verifies);
    // The shipped demo is this config: the hand-written duties and the library's.
    let shipped = config::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo/dutywatch.toml"),
    )
    .expect("the demo loads");
    assert!(shipped.contractors[0].library.enabled);
    assert_eq!(shipped.contractors[0].duties.len(), contractor.duties.len());
}

fn library_fixture(library: &str) -> Fixture {
    let fixture = Fixture::new();
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config(&format!("\n{library}")),
    );
    fixture.write("crm.csv", util::CRM);
    fixture
}

fn every(config: &config::Config, duty: &str) -> String {
    let duty = config.contractors[0].duty(duty).expect("duty");
    match &duty.rule {
        dutywatch_checks::duty::Rule::Recurring(rule) => rule.every.to_string(),
        other => panic!("{} is {}", duty.id, other.kind()),
    }
}

#[test]
fn an_override_changes_a_library_cadence_and_a_disable_names_its_reason() {
    let fixture = library_fixture(
        "[library]\nenabled = true\n\n\
         [[library.override]]\nrequirement = \"3.1.1\"\nevery = \"90d\"\n\n\
         [[library.override]]\nrequirement = \"3.14.1\"\ndisable = true\nreason = \"patch-compliance connector duty next quarter\"\n",
    );
    let config = fixture.load();
    let ids: Vec<&str> = config.contractors[0]
        .duties
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "access-review",
            "mfa-registered",
            "training",
            "ver-3.1.1",
            "lib-3.1.1-msp",
            "ver-3.5.3",
            "lib-crm-review-contractor",
            "lib-crm-review-msp"
        ]
    );
    assert_eq!(every(&config, "lib-3.1.1-msp"), "90d");
    let row = config.contractors[0]
        .plan()
        .into_iter()
        .find(|row| row.objective.to_string() == "3.14.1[a]")
        .expect("row");
    assert_eq!(
        row.sides[0].watch,
        Watch::Unwatched {
            reason:
                "library duty disabled for 3.14.1: patch-compliance connector duty next quarter"
                    .to_owned()
        }
    );

    // Without the override: the library's quarterly default and weekly for 3.14.1.
    let fixture = library_fixture("[library]\nenabled = true\n");
    let config = fixture.load();
    assert_eq!(every(&config, "lib-3.1.1-msp"), "3 months");
    assert_eq!(every(&config, "lib-3.14.1-msp"), "7d");
}

fn refused(fixture: &Fixture) -> String {
    config::load(&fixture.config_path())
        .map(|_| ())
        .expect_err("the config is refused")
        .to_string()
}

#[test]
fn a_cadence_over_a_year_and_a_disable_without_reason_are_refused() {
    let fixture = library_fixture(
        "[library]\nenabled = true\n\n[[library.override]]\nrequirement = \"3.1.1\"\nevery = \"13 months\"\n",
    );
    let errors = refused(&fixture);
    assert!(
        errors.contains("library.override[0].every: `13 months` is longer than a year: 32 CFR 170.4 defines \"periodically\" as at least annually, so a recurring duty's `every` may be at most `1 year`"),
        "{errors}"
    );

    let fixture = library_fixture(
        "[library]\nenabled = true\n\n[[library.override]]\nrequirement = \"3.1.1\"\ndisable = true\n",
    );
    let errors = refused(&fixture);
    assert!(
        errors.contains("library.override[0].reason: a disabled library duty needs a `reason`"),
        "{errors}"
    );
    // The library's ids are its own.
    let fixture = library_fixture(
        "[[contractor.duty]]\nid = \"ver-3.1.1\"\ntitle = \"mine\"\nobjectives = [\"3.1.1[a]\"]\nsource = \"manual\"\nrule = \"recurring\"\nevery = \"30d\"\nparty = \"contractor\"\ncompleted_at = \"completed_at\"\n",
    );
    let errors = refused(&fixture);
    assert!(
        errors.contains("ids starting `lib-` or `ver-` are the duty library's"),
        "{errors}"
    );
    // Per contractor, too, and the objective must exist.
    let fixture = library_fixture(
        "[contractor.library]\nenabled = true\n\n[[contractor.library.override]]\nobjective = \"3.1.1[z]\"\nevery = \"30d\"\n",
    );
    let errors = refused(&fixture);
    assert!(
        errors
            .contains("contractor[acme].library.override[0].requirement: 3.1.1[z] does not exist"),
        "{errors}"
    );
}

fn state_at(fixture: &Fixture, at: &str, duty: &str) -> String {
    let output = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--dry-run",
        "--json",
        "--at",
        at,
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output).1));
    let row = report["duties"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["duty"] == duty)
        .unwrap_or_else(|| panic!("no {duty} in {report}"))
        .clone();
    row["state"].as_str().expect("state").to_owned()
}

#[test]
fn a_library_duty_is_met_by_hand_added_evidence_and_due_soon_on_time() {
    let fixture = util::standard(util::at("2026-11-23T15:00:00Z"));
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("\n[library]\nenabled = true\n"),
    );
    assert_eq!(
        state_at(&fixture, "2026-12-01T00:00:00Z", "lib-3.1.1-msp"),
        "no_evidence"
    );
    fixture.write(
        "account-report.pdf",
        "%PDF-1.4 monthly account report, signed",
    );
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "lib-3.1.1-msp",
        "--file",
        "account-report.pdf",
        "--by",
        "msp-admin",
        "--done-at",
        "2026-09-20T12:00:00Z",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    // Done 2026-09-20 08:00 EDT; due three calendar months later, 2026-12-20 08:00 EST
    // (13:00Z); due soon a sixth of ~90 days (15 days) ahead, from 2026-12-05 13:00Z.
    assert_eq!(
        state_at(&fixture, "2026-12-05T12:59:59Z", "lib-3.1.1-msp"),
        "met"
    );
    assert_eq!(
        state_at(&fixture, "2026-12-05T13:00:00Z", "lib-3.1.1-msp"),
        "due_soon"
    );
    assert_eq!(
        state_at(&fixture, "2026-12-20T13:00:01Z", "lib-3.1.1-msp"),
        "lapsed"
    );
}

#[test]
fn duties_plan_shows_owner_duty_cadence_origin_and_what_is_unwatched() {
    let fixture = library_fixture(
        "[library]\nenabled = true\n\n[[library.override]]\nrequirement = \"3.14.1\"\ndisable = true\nreason = \"connector next quarter\"\n",
    );
    let output = fixture.run(&["duties", "plan", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "acme (Acme Machining): 320 objectives, 20 owned, 6 of them not watched on every side; library enabled, 5 library duties"
    );
    let find = |prefix: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .copied()
            .collect()
    };
    assert_eq!(
        find("3.1.1[a] "),
        [
            "3.1.1[a]   shared         contractor            access-review              hand-written 90d        source `reviews`",
            "3.1.1[a]   shared         msp                   lib-3.1.1-msp              library      3 months   FedRAMP Moderate parameter; library: privileged-account review quarterly; all-user review annually; change-driven updates",
            "3.1.1[a]   shared         contractor verifies   ver-3.1.1                  library      1 month    the CRM row's verification text; library: privileged-account review quarterly; all-user review annually; change-driven updates",
        ]
    );
    assert_eq!(
        find("3.14.1[a] "),
        [
            "3.14.1[a]  msp            msp                   -                          unwatched    -          library duty disabled for 3.14.1: connector next quarter",
            "3.14.1[a]  msp            contractor verifies   -                          unwatched    -          library duty disabled for 3.14.1: connector next quarter",
        ]
    );
    assert_eq!(
        find("3.1.2[a] "),
        [
            "3.1.2[a]   -              -                     -                          unwatched    -          no CRM row gives it an owner"
        ]
    );

    let output = fixture.run(&["duties", "plan", "--config", "dutywatch.toml", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let acme = &json["contractors"][0];
    assert_eq!(acme["unwatched_owned"], 6);
    let row = acme["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .find(|r| r["objective"] == "3.1.1[a]")
        .expect("3.1.1[a]");
    assert_eq!(
        row["sides"][1],
        serde_json::json!({
            "party": "msp",
            "role": "does",
            "watch": "duty",
            "duty": "lib-3.1.1-msp",
            "by": "library",
            "rule": "recurring",
            "cadence": "3 months",
            "origin": "FedRAMP Moderate parameter; library: privileged-account review quarterly; all-user review annually; change-driven updates"
        })
    );

    let output = fixture.run(&[
        "duties",
        "plan",
        "--config",
        "dutywatch.toml",
        "--client",
        "x",
    ]);
    assert!(text(&output).1.contains("no contractor `x`"));
}

#[test]
fn the_contractors_verification_of_the_msp_is_met_only_by_a_satisfied_verification_record() {
    let fixture = util::standard(util::at("2026-11-23T15:00:00Z"));
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("\n[library]\nenabled = true\n"),
    );
    fixture.write(
        "patch-report.pdf",
        "%PDF-1.4 the MSP's October patch report",
    );
    let add = |extra: &[&str]| {
        let mut args = vec![
            "evidence",
            "add",
            "--config",
            "dutywatch.toml",
            "--duty",
            "ver-3.1.1",
            "--file",
            "patch-report.pdf",
            "--by",
            "it-lead",
            "--done-at",
        ];
        args.extend_from_slice(extra);
        fixture.run(&args)
    };
    assert_eq!(
        state_at(&fixture, "2026-11-24T00:00:00Z", "ver-3.1.1"),
        "no_evidence"
    );
    // A verification must say what was looked at and what it found.
    let output = add(&["2026-11-20T12:00:00Z"]);
    assert!(!output.status.success());
    assert!(
        text(&output)
            .1
            .contains("say what was looked at and what it found"),
        "{}",
        text(&output).1
    );
    // A finding is kept, but the contractor has not verified a done share yet.
    let output = add(&[
        "2026-11-20T12:00:00Z",
        "--looked-at",
        "the MSP's account report",
        "--outcome",
        "not-satisfied",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    assert_ne!(
        state_at(&fixture, "2026-11-24T00:00:00Z", "ver-3.1.1"),
        "met"
    );
    let output = add(&[
        "2026-11-22T12:00:00Z",
        "--looked-at",
        "the MSP's account report, fixed",
        "--outcome",
        "satisfied",
        "--note",
        "stale accounts removed",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    assert_eq!(
        state_at(&fixture, "2026-11-24T00:00:00Z", "ver-3.1.1"),
        "met"
    );
    // The CRM row says monthly: a month after the satisfied one it has lapsed.
    assert_eq!(
        state_at(&fixture, "2026-12-23T00:00:00Z", "ver-3.1.1"),
        "lapsed"
    );
    // --outcome on a duty that is not a verification is refused.
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "lib-3.1.1-msp",
        "--file",
        "patch-report.pdf",
        "--outcome",
        "satisfied",
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output).1.contains("is not one"),
        "{}",
        text(&output).1
    );
}

#[test]
fn a_changed_crm_file_makes_each_partys_crm_review_due_again_and_a_touched_one_does_not() {
    let fixture = util::standard(util::at("2026-11-23T15:00:00Z"));
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("\n[library]\nenabled = true\n"),
    );
    fixture.write_dated("crm.csv", util::CRM, util::at("2026-06-01T00:00:00Z"));
    let config = fixture.load();
    let reviews: Vec<&str> = config.contractors[0]
        .duties
        .iter()
        .map(|d| d.id.as_str())
        .filter(|id| id.starts_with("lib-crm-review-"))
        .collect();
    assert_eq!(reviews, ["lib-crm-review-contractor", "lib-crm-review-msp"]);

    let duty = "lib-crm-review-contractor";
    assert_eq!(
        state_at(&fixture, "2026-11-24T00:00:00Z", duty),
        "no_evidence"
    );
    fixture.write(
        "crm-review.pdf",
        "%PDF-1.4 CRM reviewed and signed by both parties",
    );
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        duty,
        "--file",
        "crm-review.pdf",
        "--by",
        "it-lead",
        "--done-at",
        "2026-11-01T12:00:00Z",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    assert_eq!(state_at(&fixture, "2026-11-24T00:00:00Z", duty), "met");

    // The same CRM touched: still the reviewed version.
    let mut engine = util::engine(&fixture);
    engine
        .cycle(util::at("2026-11-24T00:00:00Z"))
        .expect("cycle");
    fixture.write_dated("crm.csv", util::CRM, util::at("2026-11-10T00:00:00Z"));
    let mut engine = util::engine(&fixture);
    engine
        .cycle(util::at("2026-11-24T01:00:00Z"))
        .expect("cycle");
    assert_eq!(
        engine
            .store()
            .newest_effective_at("acme", dutywatch::engine::CRM_SOURCE)
            .expect("read"),
        Some(util::at("2026-06-01T00:00:00Z"))
    );
    assert_eq!(util::verdict_of(&engine, duty).state.kind().as_str(), "met");

    // A changed CRM: the review before it no longer counts, for either party.
    let changed = util::CRM.replacen("Approves", "Approves and re-certifies", 1);
    assert_ne!(changed, util::CRM, "the fixture CRM has the word to change");
    fixture.write_dated("crm.csv", &changed, util::at("2026-11-10T00:00:00Z"));
    let mut engine = util::engine(&fixture);
    engine
        .cycle(util::at("2026-11-24T02:00:00Z"))
        .expect("cycle");
    let verdict = util::verdict_of(&engine, duty);
    assert_eq!(
        verdict.state.kind().as_str(),
        "no_evidence",
        "{}",
        verdict.reason
    );
    assert!(
        verdict.reason.contains("the CRM changed") && verdict.reason.contains("2026-11-09"),
        "{}",
        verdict.reason
    );
    assert_ne!(
        util::verdict_of(&engine, "lib-crm-review-msp")
            .state
            .kind()
            .as_str(),
        "met"
    );

    // The MSP reviews the changed version; then the edit is reverted to the bytes the
    // contractor reviewed (with a new file time, a row of its own). That version is current
    // again with its review; the MSP's review was of the other one and does not count for it.
    fixture.write("msp-review.pdf", "%PDF-1.4 CRM v2 reviewed by the MSP");
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "lib-crm-review-msp",
        "--file",
        "msp-review.pdf",
        "--by",
        "msp-lead",
        "--done-at",
        "2026-11-20T12:00:00Z",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    fixture.write_dated("crm.csv", util::CRM, util::at("2026-11-24T02:30:00Z"));
    let mut engine = util::engine(&fixture);
    engine
        .cycle(util::at("2026-11-24T03:00:00Z"))
        .expect("cycle");
    assert_eq!(
        engine
            .store()
            .newest_effective_at("acme", dutywatch::engine::CRM_SOURCE)
            .expect("read"),
        Some(util::at("2026-11-24T02:30:00Z"))
    );
    let verdict = util::verdict_of(&engine, duty);
    assert_eq!(verdict.state.kind().as_str(), "met", "{}", verdict.reason);
    let msp = util::verdict_of(&engine, "lib-crm-review-msp");
    assert_ne!(msp.state.kind().as_str(), "met", "{}", msp.reason);
}

/// A provider's CRM as the issue describes it: an XLSX workbook, a title and guidance above
/// the header, the provider's own headers (`ref`, `contractor_responsibility`, …), owner words
/// of its own vocabulary, two nested packages, and 209 rows: every requirement, more than 20
/// of them split per objective.
fn provider_crm_209() -> (Vec<u8>, usize, usize) {
    use dutywatch_checks::catalog;
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("CRM").expect("name");
    let mut rows: Vec<[String; 8]> = Vec::new();
    let header = [
        "ref",
        "Responsibility",
        "contractor_responsibility",
        "msp_responsibility",
        "contractor_verification",
        "Tier",
        "N/A Justification",
        "Internal notes",
    ];
    // The duties of `util::contractor_config` fix three owners; everything else rotates.
    let fixed = |id: &str| match id {
        "3.1.1" => Some("Both"),
        "3.5.3" => Some("Provider"),
        "3.2.1" => Some("Customer"),
        _ => None,
    };
    let words = [
        "Customer",
        "Provider",
        "Both",
        "Inherited",
        "Customer",
        "Not Applicable",
    ];
    let mut split = 0;
    let mut extra = 0; // rows beyond one per requirement
    for (index, requirement) in catalog::requirements().iter().enumerate() {
        let id = requirement.id.to_string();
        let objectives: Vec<String> = requirement.objectives().map(|o| o.to_string()).collect();
        let split_it =
            fixed(&id).is_none() && objectives.len() > 1 && extra + objectives.len() - 1 <= 99;
        let ids = if split_it {
            split += 1;
            extra += objectives.len() - 1;
            objectives
        } else {
            vec![id.clone()]
        };
        for (n, row_id) in ids.into_iter().enumerate() {
            let owner = fixed(&id).unwrap_or(words[(index + n) % words.len()]);
            let (contractor, msp, verification, justification) = match owner {
                "Customer" => ("Does it in house", "", "", ""),
                "Provider" | "Inherited" => {
                    ("", "Runs it", "Quarterly: review the MSP's report", "")
                }
                "Both" => ("Approves", "Operates", "Monthly: check the export", ""),
                _ => ("", "", "", "Not in the enclave's scope"),
            };
            let tier = if index % 3 == 0 { "Premium" } else { "Basic" };
            rows.push([
                row_id,
                owner.to_owned(),
                contractor.to_owned(),
                msp.to_owned(),
                verification.to_owned(),
                tier.to_owned(),
                justification.to_owned(),
                "keep".to_owned(),
            ]);
        }
    }
    sheet
        .write_string(
            0,
            0,
            "Bluewater IT - Customer Responsibility Matrix (GCC High, Premium)",
        )
        .expect("title");
    sheet
        .write_string(1, 0, "Guidance: Responsibility says who does the work.")
        .expect("guidance");
    for (col, name) in header.iter().enumerate() {
        sheet
            .write_string(2, u16::try_from(col).expect("col"), *name)
            .expect("header");
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                sheet
                    .write_string(
                        3 + u32::try_from(r).expect("row"),
                        u16::try_from(c).expect("col"),
                        cell,
                    )
                    .expect("cell");
            }
        }
    }
    let count = rows.len();
    (workbook.save_to_buffer().expect("workbook"), count, split)
}

#[test]
fn a_209_row_provider_workbook_is_watched_on_every_owned_objective_with_a_few_lines_of_config() {
    let (workbook, rows, split) = provider_crm_209();
    assert_eq!(rows, 209);
    assert!(split >= 20, "{split} requirements split per objective");
    let fixture = util::standard(util::at("2026-11-23T15:00:00Z"));
    std::fs::write(fixture.path("crm.xlsx"), workbook).expect("write");
    // Everything beyond sources and contacts that this CRM needs.
    let duty_config = "\
[[package]]
name = \"Premium\"
includes = [\"Basic\"]

[library]
enabled = true
";
    let config = util::contractor_config(&format!("\n{duty_config}")).replace(
        "crm_file = \"crm.csv\"",
        "crm_file = \"crm.xlsx\"\npackages = [\"premium\"]",
    );
    let lines = duty_config.lines().filter(|l| !l.trim().is_empty()).count() + 2;
    assert!(lines <= 20, "{lines} lines");
    fixture.write("dutywatch.toml", &config);
    let loaded = fixture.load();
    let contractor = &loaded.contractors[0];
    let plan = contractor.plan();
    let owned = plan
        .iter()
        .filter(|row| row.owner.is_some_and(|o| !o.parties().is_empty()))
        .count();
    assert!(owned > 250, "{owned} owned objectives");
    assert_eq!(gaps(&plan).len(), 0, "every owned objective watched");
    // Every MSP side has the contractor's verification beside it.
    let unverified = plan
        .iter()
        .filter(|row| row.owner.is_some_and(|o| o.parties().contains(&Party::Msp)))
        .filter(|row| !row.sides.iter().any(|s| s.role == Role::Verifies))
        .count();
    assert_eq!(unverified, 0);

    let output = fixture.run(&["duties", "plan", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.lines().next().is_some_and(|l| l.contains(&format!(
            "320 objectives, {owned} owned, 0 of them not watched on every side"
        ))),
        "{}",
        stdout.lines().next().unwrap_or_default()
    );
}

#[test]
fn an_msp_lapse_the_contractors_verification_missed_is_told_to_the_contractor_as_such() {
    let t0 = util::at("2026-11-23T15:00:00Z");
    let fixture = util::standard(t0);
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("\n[library]\nenabled = true\n"),
    );
    // b@acme.example is not registered for MFA: the MSP's duty is due soon, then lapses
    // after its 24-hour tolerance.
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, t0);
    let once = |at: &str| {
        let output = fixture.run(&["once", "--config", "dutywatch.toml", "--at", at]);
        assert!(output.status.code().is_some(), "{}", text(&output).1);
    };
    once("2026-11-23T15:00:00Z");
    let before = fixture.mails().len();
    once("2026-11-24T16:00:00Z");
    let mails = fixture.mails();
    let lapse: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("MFA registered") && m.contains("LAPSED"))
        .collect();
    assert!(mails.len() > before && !lapse.is_empty(), "{mails:#?}");
    let told = lapse
        .iter()
        .find(|m| m.contains("it@acme.example"))
        .unwrap_or_else(|| panic!("the contractor hears of the MSP's lapse: {lapse:#?}"));
    let unfolded = told.replace("\n ", " ");
    assert!(
        unfolded.contains("Not noticed:")
            && unfolded.contains("your own verification of the MSP has not caught this lapse")
            && unfolded.contains("`ver-3.5.3` never verified"),
        "{told}"
    );

    // The contractor checks and records the finding: the next mail of that lapse (management,
    // three days on) no longer says it went unnoticed.
    fixture.write("mfa-report.pdf", "%PDF-1.4 MFA registration report");
    let added = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "ver-3.5.3",
        "--file",
        "mfa-report.pdf",
        "--by",
        "it-lead",
        "--done-at",
        "2026-11-24T17:00:00Z",
        "--looked-at",
        "the MSP's MFA registration report",
        "--outcome",
        "not-satisfied",
    ]);
    assert!(added.status.success(), "{}", text(&added).1);
    let seen: std::collections::BTreeSet<String> = fixture.mails().into_iter().collect();
    once("2026-11-27T17:00:00Z");
    let later: Vec<String> = fixture
        .mails()
        .into_iter()
        .filter(|m| !seen.contains(m) && m.contains("MFA registered"))
        .collect();
    assert!(!later.is_empty(), "the management step went out");
    for mail in &later {
        assert!(!mail.contains("Not noticed:"), "{mail}");
    }
}

#[test]
fn a_not_applicable_row_and_the_ssp_are_reviewed_yearly_at_exact_instants() {
    let fixture = util::standard(util::at("2026-11-23T15:00:00Z"));
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("\n[library]\nenabled = true\n"),
    );
    fixture.write(
        "crm.csv",
        &format!(
            "{}3.1.16,not_applicable,,,,,,No wireless access to the enclave\n\
             3.12.4,contractor,Writes and reviews the SSP,,contractor,,,\n",
            util::CRM
        ),
    );
    fixture.write("signed.pdf", "%PDF-1.4 signed");
    for duty in ["lib-na-3.1.16", "lib-3.12.4-contractor"] {
        assert_eq!(
            state_at(&fixture, "2026-11-24T00:00:00Z", duty),
            "no_evidence"
        );
        let output = fixture.run(&[
            "evidence",
            "add",
            "--config",
            "dutywatch.toml",
            "--duty",
            duty,
            "--file",
            "signed.pdf",
            "--by",
            "it-lead",
            "--done-at",
            "2026-01-15T17:00:00Z",
        ]);
        assert!(output.status.success(), "{}", text(&output).1);
        // Done 2026-01-15 12:00 EST: due a calendar year later, 2027-01-15 12:00 EST
        // (17:00Z); due soon from 30 days before (a sixth of a year, capped at 30 days).
        assert_eq!(
            state_at(&fixture, "2026-12-16T16:59:59Z", duty),
            "met",
            "{duty}"
        );
        assert_eq!(
            state_at(&fixture, "2026-12-16T17:00:00Z", duty),
            "due_soon",
            "{duty}"
        );
        assert_eq!(
            state_at(&fixture, "2027-01-15T17:00:00Z", duty),
            "due_soon",
            "{duty}"
        );
        assert_eq!(
            state_at(&fixture, "2027-01-15T17:00:01Z", duty),
            "lapsed",
            "{duty}"
        );
    }
}
