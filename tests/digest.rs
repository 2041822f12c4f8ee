//! The weekly digest and the SPRS projection end to end: `dutywatch sprs`, the digest preview
//! as text and HTML (rendered in headless Chromium), the `[digest]` and `[sprs]` config, and
//! the daemon's weekly record, once per party and week.

use dutywatch::daemon::Daemon;
use dutywatch_checks::party::Party;

use crate::util::{self, Fixture, at, chromium, text};

/// The demo rendered and run as of the tests' clock, in a fixture.
fn demo() -> (Fixture, std::path::PathBuf, String) {
    let fixture = Fixture::new();
    let from = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo");
    let out = fixture.path("demo");
    let output = fixture.run(&[
        "demo",
        "--from",
        from,
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    (fixture, out, stdout)
}

#[test]
fn the_demo_digest_renders_in_chromium_with_the_sprs_figure_and_both_charts() {
    let (fixture, out, stdout) = demo();
    let page = out.join("digest-contractor.html");
    assert!(
        stdout.contains(&format!("weekly digest preview: file://{}", page.display())),
        "{stdout}"
    );
    // The figure the page must show is the one `sprs` computes on the same database.
    let config = out.join("dutywatch.toml");
    let output = fixture.run(&[
        "sprs",
        "--config",
        config.to_str().expect("utf-8"),
        "--json",
    ]);
    let (json, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("sprs --json");
    let proven = report["contractors"][0]["projection"]["proven"]["score"]
        .as_i64()
        .expect("the demo has an SSP, so a score");
    let lapses = report["contractors"][0]["projection"]["lapses"]["score"]
        .as_i64()
        .expect("a score with lapses alone");

    let dom = chromium::dump_dom(&page);
    assert!(
        dom.contains(&format!(
            "id=\"sprs-proven\" data-score=\"{proven}\">{proven}</div>"
        )),
        "no SPRS figure {proven} on the rendered page"
    );
    assert!(dom.contains(&format!(
        "id=\"sprs-lapses\" data-score=\"{lapses}\">{lapses}</div>"
    )));
    // The SPRS chart, with this week's two points.
    let chart = section(&dom, "<svg id=\"sprs-chart\"", "</svg>");
    assert!(
        chart.contains(&format!(
            "data-series=\"proven\" data-week=\"2026-11-30\" data-value=\"{proven}\""
        )),
        "{chart}"
    );
    assert!(chart.contains(&format!(
        "data-series=\"lapses\" data-week=\"2026-11-30\" data-value=\"{lapses}\""
    )));
    // The state chart: its bars add up to the duties counted in the table.
    let states = section(&dom, "<svg id=\"states-chart\"", "</svg>");
    let bars: u32 = states
        .split("data-count=\"")
        .skip(1)
        .map(|rest| {
            rest.split('"')
                .next()
                .expect("a count")
                .parse::<u32>()
                .expect("a number")
        })
        .sum();
    let duties = util::text(&fixture.run(&[
        "status",
        "--config",
        config.to_str().expect("utf-8"),
        "--json",
    ]))
    .0;
    let status: serde_json::Value = serde_json::from_str(&duties).expect("status --json");
    let duty_count = status["duties"].as_array().expect("duties").len();
    assert_eq!(bars as usize, duty_count, "{states}");
    assert!(states.contains("data-state=\"lapsed\""));
    // Self-contained: nothing for the browser to fetch.
    assert!(!dom.contains(" src=\"http"), "an external resource");
    assert!(!dom.contains("<link"), "an external stylesheet");

    // The MSP's digest has no SPRS section: the score is the contractor's.
    let msp = std::fs::read_to_string(out.join("digest-msp.html")).expect("the MSP's page");
    assert!(!msp.contains("id=\"sprs\""));
    assert!(
        msp.contains("For Keystone") || msp.contains("(msp)"),
        "{msp}"
    );
}

/// The text between the first `start` and the `end` after it.
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start}"));
    let rest = &text[from..];
    &rest[..rest.find(end).map_or(rest.len(), |i| i + end.len())]
}

#[test]
fn sprs_prints_both_figures_and_the_poam_verdicts() {
    let fixture = util::standard(at("2026-11-30T12:00:00Z"));
    assert!(
        fixture
            .run(&["once", "--config", "dutywatch.toml"])
            .status
            .success()
    );
    let output = fixture.run(&["sprs", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    // No duty watches 3.12.4 in the standard fixture: no SSP proven, so no score.
    assert!(stdout.contains("no score (no SSP, 3.12.4)"), "{stdout}");
    assert!(stdout.contains("3.12.4   CA.L2-3.12.4"), "{stdout}");
    assert!(stdout.contains("never on a POA&M"), "{stdout}");
    let output = fixture.run(&[
        "sprs",
        "--config",
        "dutywatch.toml",
        "--contractor",
        "nobody",
    ]);
    assert!(!output.status.success());
    assert!(text(&output).1.contains("no contractor `nobody`"));
}

#[test]
fn partial_credit_for_mfa_counts_only_while_the_named_duty_is_met() {
    let now = at("2026-11-30T12:00:00Z");
    // Admin MFA (3.5.3[b]) is proven; MFA for everyone (3.5.3[d]) has lapsed: b@ has none.
    let duties = r#"
[[contractor.duty]]
id = "mfa-admins"
title = "Administrators have MFA"
objectives = ["3.5.3[b]"]
source = "mfa"
rule = "continuous"
where = "user == 'a@acme.example'"
check = "mfa_registered == true"
tolerance = "1h"

[[contractor.duty]]
id = "mfa-everyone"
title = "Every user has MFA"
objectives = ["3.5.3[d]"]
source = "mfa"
rule = "continuous"
check = "mfa_registered == true"
tolerance = "1h"
"#;
    let deduction = |sprs: &str, evidence: &str| {
        let fixture = Fixture::new();
        fixture.write(
            "dutywatch.toml",
            &util::contractor_config(&format!("{duties}{sprs}")),
        );
        fixture.write("crm.csv", util::CRM);
        fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
        fixture.write_dated("evidence/mfa.json", evidence, now);
        // Failing since the first run; past its hour of tolerance at the second.
        for when in ["2026-11-30T12:00:00Z", "2026-11-30T14:00:00Z"] {
            let run = fixture.run(&["once", "--config", "dutywatch.toml", "--at", when]);
            assert!(run.status.success(), "{}", text(&run).1);
        }
        let (json, stderr) = text(&fixture.run(&["sprs", "--config", "dutywatch.toml", "--json"]));
        let report: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|_| panic!("{stderr}"));
        report["contractors"][0]["projection"]["not_met"]
            .as_array()
            .expect("not met")
            .iter()
            .find(|n| n["requirement"] == "3.5.3")
            .map(|n| {
                (
                    n["deduction"].as_u64(),
                    n["partial"].as_bool(),
                    n["lapsed"].as_bool(),
                )
            })
    };
    let named = "\n[sprs]\nmfa_remote_and_privileged_duty = \"mfa-admins\"\n";
    assert_eq!(
        deduction("", util::MFA_BAD),
        Some((Some(5), Some(false), Some(true))),
        "no fact named: the full 5"
    );
    assert_eq!(
        deduction(named, util::MFA_BAD),
        Some((Some(3), Some(true), Some(true))),
        "admin MFA proven: 3"
    );
    // Nobody has MFA: the named duty is not met either, so no partial credit.
    let nobody =
        r#"{"value": [{"userPrincipalName": "a@acme.example", "isMfaRegistered": false}]}"#;
    assert_eq!(
        deduction(named, nobody),
        Some((Some(5), Some(false), Some(true)))
    );

    // A config naming a duty that does not exist is refused, with the key.
    let broken = Fixture::new();
    broken.write(
        "dutywatch.toml",
        &util::contractor_config("\n[sprs]\nencryption_not_fips_validated_duty = \"bitlocker\"\nmfa_remote_and_privileged_duty = \"access-review\"\n\n[digest]\nschedule = \"0 8 * * MON\"\nbase_url = \"compliance.example\"\n"),
    );
    broken.write("crm.csv", util::CRM);
    let output = broken.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success());
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains("sprs.encryption_not_fips_validated_duty: no duty `bitlocker`"),
        "{said}"
    );
    assert!(
        said.contains("digest.base_url: `compliance.example` is not a web address"),
        "{said}"
    );
    // A duty that exists but watches another requirement cannot show MFA's partial credit.
    assert!(
        said.contains(
            "sprs.mfa_remote_and_privileged_duty: duty `access-review` does not watch 3.5.3"
        ),
        "{said}"
    );
}

#[test]
fn a_condition_failing_inside_its_tolerance_is_not_met_for_the_score_or_the_export() {
    let now = at("2026-11-30T12:00:00Z");
    let duties = r#"
[[contractor.duty]]
id = "mfa-everyone"
title = "Every user has MFA"
objectives = ["3.5.3"]
source = "mfa"
rule = "continuous"
check = "mfa_registered == true"
tolerance = "2d"
"#;
    let fixture = Fixture::new();
    fixture.write("dutywatch.toml", &util::contractor_config(duties));
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, now);
    let run = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--at",
        "2026-11-30T12:00:00Z",
    ]);
    assert!(run.status.success(), "{}", text(&run).1);
    let (status, _) = text(&fixture.run(&["status", "--config", "dutywatch.toml", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("status --json");
    let row = status["duties"]
        .as_array()
        .expect("duties")
        .iter()
        .find(|d| d["duty"] == "mfa-everyone")
        .expect("the duty");
    // Failing now, inside its two days of tolerance: due soon, and not shown implemented.
    assert_eq!(row["state"], "due_soon", "{row}");
    assert_eq!(row["shows_implemented"], false, "{row}");

    let (json, stderr) = text(&fixture.run(&["sprs", "--config", "dutywatch.toml", "--json"]));
    let report: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|_| panic!("{stderr}"));
    let not_met = &report["contractors"][0]["projection"]["not_met"];
    let mfa = not_met
        .as_array()
        .expect("not met")
        .iter()
        .find(|n| n["requirement"] == "3.5.3")
        .unwrap_or_else(|| panic!("3.5.3 fails now, so it is not met: {not_met}"));
    assert_eq!(mfa["deduction"], 5, "{mfa}");
    assert_eq!(mfa["lapsed"], false, "not lapsed yet: {mfa}");

    let out = fixture.path("export");
    let export = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "oscal",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(export.status.success(), "{}", text(&export).1);
    let results = std::fs::read_dir(&out)
        .expect("the export")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().contains("assessment-results"))
        .expect("assessment results");
    let oscal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).expect("assessment results"))
            .expect("OSCAL JSON");
    let status = oscal["assessment-results"]["results"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| &f["target"])
        .find(|t| t["target-id"] == "sp800-171_3.5.3.a")
        .map(|t| &t["status"])
        .expect("a finding on 3.5.3[a]");
    assert_eq!(status["state"], "not-satisfied", "{status}");
    assert_eq!(status["reason"], "fail", "it fails now: {status}");
}

#[test]
fn a_lapse_stays_a_known_lapse_while_an_export_tells_nothing() {
    let now = at("2026-11-29T12:00:00Z");
    let fixture = Fixture::new();
    fixture.write("dutywatch.toml", &util::contractor_config(""));
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    let lapsed_353 = |fixture: &Fixture| {
        let (json, stderr) = text(&fixture.run(&["sprs", "--config", "dutywatch.toml", "--json"]));
        let report: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|_| panic!("{stderr}"));
        report["contractors"][0]["projection"]["not_met"]
            .as_array()
            .expect("not met")
            .iter()
            .find(|n| n["requirement"] == "3.5.3")
            .and_then(|n| n["lapsed"].as_bool())
    };
    // b@ fails, and is past the 24 h tolerance at the second run.
    for (when, evidence) in [
        ("2026-11-29T12:00:00Z", util::MFA_BAD),
        ("2026-11-30T13:00:00Z", util::MFA_BAD),
        // The export comes back empty: it proves nothing, and b@ stays lapsed as last judged.
        ("2026-11-30T14:00:00Z", r#"{"value": []}"#),
    ] {
        fixture.write_dated("evidence/mfa.json", evidence, at(when));
        let run = fixture.run(&["once", "--config", "dutywatch.toml", "--at", when]);
        assert!(run.status.success(), "{}", text(&run).1);
        if when == "2026-11-30T13:00:00Z" {
            assert_eq!(lapsed_353(&fixture), Some(true));
        }
    }
    assert_eq!(
        lapsed_353(&fixture),
        Some(true),
        "the known lapse is still counted"
    );
}

#[test]
fn a_verification_that_found_the_msp_failing_is_a_lapse_not_missing_evidence() {
    let (fixture, out, _) = demo();
    let config = out.join("dutywatch.toml");
    let (status, _) = text(&fixture.run(&[
        "status",
        "--config",
        config.to_str().expect("utf-8"),
        "--json",
    ]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("status --json");
    let duty = |id: &str| {
        status["duties"]
            .as_array()
            .expect("duties")
            .iter()
            .find(|d| d["duty"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id}"))
    };
    // The demo's contractor looked at the MSP's MFA report and found two members without it.
    let mfa = duty("ver-3.5.3");
    assert_eq!(mfa["state"], "lapsed", "{mfa}");
    let reason = mfa["reason"].as_str().expect("reason");
    assert!(
        reason.contains("found the MSP's part not satisfied (`outcome` = 'not_satisfied')"),
        "{reason}"
    );
    // A satisfied one is a completion as before.
    assert_eq!(duty("ver-3.14.1")["state"], "met");
}

#[test]
fn a_not_applicable_objective_whose_policy_is_not_on_record_is_deducted() {
    let (fixture, out, _) = demo();
    let config = out.join("dutywatch.toml");
    let config = config.to_str().expect("utf-8");
    let (status, _) = text(&fixture.run(&["status", "--config", config, "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("status --json");
    let reconfirm = status["duties"]
        .as_array()
        .expect("duties")
        .iter()
        .find(|d| d["duty"] == "lib-na-3.1.17")
        .expect("the demo's CRM has 3.1.17 not applicable, re-confirmed by the library");
    assert_eq!(reconfirm["state"], "no_evidence", "{reconfirm}");
    let (json, _) = text(&fixture.run(&["sprs", "--config", config, "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).expect("sprs --json");
    let not_met = &report["contractors"][0]["projection"]["not_met"];
    assert!(
        not_met
            .as_array()
            .expect("not met")
            .iter()
            .any(|n| n["requirement"] == "3.1.17" && n["deduction"] == 5),
        "no policy on record keeps 3.1.17 not applicable, so it is deducted: {not_met}"
    );
    let (coverage, _) = text(&fixture.run(&["coverage", "--config", config, "--json"]));
    let coverage: serde_json::Value = serde_json::from_str(&coverage).expect("coverage --json");
    let objective = coverage["clients"][0]["objectives"]
        .as_array()
        .expect("objectives")
        .iter()
        .find(|o| o["objective"] == "3.1.17[a]")
        .expect("3.1.17[a]");
    assert_eq!(objective["owner"], "not_applicable", "{objective}");
    assert_eq!(objective["met"], false, "{objective}");
}

#[test]
fn the_contractors_digest_tells_incident_clocks_in_the_contractors_zone() {
    let (fixture, out, _) = demo();
    let config = out.join("dutywatch.toml");
    let text_of = std::fs::read_to_string(&config).expect("the demo config");
    std::fs::write(
        &config,
        text_of.replacen(
            "[[contractor]]",
            "[[contractor]]\ntimezone = \"Asia/Kathmandu\"",
            1,
        ),
    )
    .expect("write");
    let output = fixture.run(&[
        "digest",
        "--preview",
        "--party",
        "contractor",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    let (digest, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = digest.lines().filter(|l| l.contains("DIBNet by")).collect();
    assert!(
        !lines.is_empty(),
        "the demo has an incident to report:\n{digest}"
    );
    for line in lines {
        assert!(line.contains("+0545"), "{line}");
        assert!(!line.contains(" EST") && !line.contains(" EDT"), "{line}");
    }
}

#[test]
fn the_preview_renders_text_and_escaped_html_and_requires_preview() {
    let now = at("2026-11-30T12:00:00Z");
    let fixture = Fixture::new();
    let config = util::contractor_config("").replace(
        "name = \"Acme Machining\"",
        "name = \"Acme <script>alert(1)</script> & Sons\"",
    );
    fixture.write("dutywatch.toml", &config);
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, now);
    assert!(
        fixture
            .run(&[
                "once",
                "--config",
                "dutywatch.toml",
                "--at",
                "2026-11-30T12:00:00Z"
            ])
            .status
            .success()
    );

    let output = fixture.run(&["digest", "--config", "dutywatch.toml"]);
    assert!(!output.status.success());
    assert!(text(&output).1.contains("add --preview"));

    let output = fixture.run(&["digest", "--preview", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("SPRS PROJECTION"), "{stdout}");
    assert!(
        stdout.contains("WHERE THE DUTIES STAND (3 duties)"),
        "{stdout}"
    );
    // b@acme.example fails MFA: its deadline is within 14 days, in the configured zone.
    assert!(stdout.contains("[b@acme.example]"), "{stdout}");
    assert!(stdout.contains("EST (-05:00)"), "{stdout}");

    let output = fixture.run(&[
        "digest",
        "--preview",
        "--config",
        "dutywatch.toml",
        "--party",
        "msp",
        "--html",
        "msp.html",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    let page = std::fs::read_to_string(fixture.path("msp.html")).expect("the page");
    assert!(page.contains("Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons"));
    assert!(!page.contains("<script>"));
    assert!(
        !page.contains("id=\"sprs\""),
        "the MSP's digest has no SPRS section"
    );
    assert!(page.contains("b@acme.example"));
}

#[test]
fn the_daemon_records_each_partys_digest_once_per_week_across_a_restart() {
    let now = at("2026-11-30T14:00:00Z"); // Monday 09:00 in New York
    let fixture = Fixture::new();
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("\n[digest]\nschedule = \"0 8 * * MON\"\n"),
    );
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
    let weeks = |party| {
        let config = fixture.load();
        let store = dutywatch::store::Store::open_read_only(&config.database).expect("store");
        store.digest_weeks("acme", party).expect("weeks")
    };
    {
        let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), now).expect("start");
        daemon.step(now).expect("step");
        // Later the same week: nothing new.
        daemon.step(at("2026-12-02T14:00:00Z")).expect("step");
    }
    let mut daemon = Daemon::start(
        fixture.config_path(),
        fixture.load(),
        at("2026-12-03T14:00:00Z"),
    )
    .expect("restart");
    daemon.step(at("2026-12-03T14:00:00Z")).expect("step");
    let contractor = weeks(Party::Contractor);
    assert_eq!(
        contractor.len(),
        1,
        "one digest for the week, restart or not"
    );
    assert_eq!(
        contractor[0].week,
        at("2026-11-30T13:00:00Z"),
        "Monday 08:00 EST"
    );
    assert_eq!(contractor[0].to, ["it@acme.example"]);
    assert!(contractor[0].subject.contains("Acme Machining"));
    assert!(contractor[0].body.contains("SPRS PROJECTION"));
    assert_eq!(contractor[0].sprs_proven, None, "no SSP in this fixture");
    assert_eq!(weeks(Party::Msp).len(), 1);
    assert_eq!(weeks(Party::Msp)[0].to, ["soc@keystone.example"]);

    // The next Monday: the second week, and the chart shows both.
    let next = at("2026-12-07T14:00:00Z");
    daemon.step(next).expect("step");
    let contractor = weeks(Party::Contractor);
    assert_eq!(contractor.len(), 2);
    assert_eq!(contractor[1].week, at("2026-12-07T13:00:00Z"));
    let output = fixture.run(&[
        "digest",
        "--preview",
        "--config",
        "dutywatch.toml",
        "--html",
        "d.html",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    let page = std::fs::read_to_string(fixture.path("d.html")).expect("page");
    let bars = page.matches("class=\"bar\"").count();
    assert!(
        bars >= 3,
        "three weeks of bars (two recorded, the preview's): {bars}"
    );
}

#[test]
fn a_change_of_timezone_makes_no_second_digest_in_the_same_week() {
    let now = at("2026-11-30T14:00:00Z"); // Monday 09:00 in New York, 15:00 in Berlin
    let fixture = Fixture::new();
    let config = util::contractor_config("\n[digest]\nschedule = \"0 8 * * MON\"\n");
    fixture.write("dutywatch.toml", &config);
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
    let weeks = || {
        let config = fixture.load();
        let store = dutywatch::store::Store::open_read_only(&config.database).expect("store");
        store
            .digest_weeks("acme", Party::Contractor)
            .expect("weeks")
            .into_iter()
            .map(|w| w.week)
            .collect::<Vec<_>>()
    };
    Daemon::start(fixture.config_path(), fixture.load(), now)
        .expect("start")
        .step(now)
        .expect("step");
    assert_eq!(weeks(), [at("2026-11-30T13:00:00Z")]);

    // The config moves to Berlin: this week's schedule fired at 07:00Z instead, and this
    // week's digest is made already.
    let berlin = config.replace("America/New_York", "Europe/Berlin");
    assert_ne!(berlin, config);
    fixture.write("dutywatch.toml", &berlin);
    let later = at("2026-12-01T14:00:00Z");
    let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), later).expect("start");
    daemon.step(later).expect("step");
    assert_eq!(
        weeks(),
        [at("2026-11-30T13:00:00Z")],
        "one digest this week"
    );

    // The next Monday, 08:00 in Berlin.
    let next = at("2026-12-07T07:00:00Z");
    daemon.step(next).expect("step");
    assert_eq!(
        weeks(),
        [at("2026-11-30T13:00:00Z"), at("2026-12-07T07:00:00Z")]
    );
}

#[test]
fn the_digest_names_each_partys_next_crm_review_from_its_library_duty() {
    let now = at("2026-11-30T12:00:00Z");
    let fixture = util::standard(now);
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config("\n[library]\nenabled = true\n"),
    );
    // The CRM as signed in February; reviewed in March.
    fixture.write_dated("crm.csv", util::CRM, at("2026-02-01T00:00:00Z"));
    fixture.write("review.pdf", "%PDF-1.4 CRM reviewed");
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "lib-crm-review-contractor",
        "--file",
        "review.pdf",
        "--by",
        "it-lead",
        "--done-at",
        "2026-03-02T15:00:00Z",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    let once = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--at",
        "2026-11-30T12:00:00Z",
    ]);
    assert!(once.status.success(), "{}", text(&once).1);
    let preview = |party: &str| {
        let output = fixture.run(&[
            "digest",
            "--preview",
            "--party",
            party,
            "--config",
            "dutywatch.toml",
        ]);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stderr}");
        stdout
    };
    // Reviewed 2026-03-02 10:00 EST: due a year later, in the configured zone, with its
    // offset like every other time of the digest.
    let contractor = preview("contractor");
    assert!(
        contractor.contains("Next review: due 2027-03-02 10:00 EST (-05:00) (met)"),
        "{contractor}"
    );
    // The MSP has never reviewed it.
    let msp = preview("msp");
    assert!(msp.contains("Next review: no_evidence"), "{msp}");
    assert!(
        msp.contains("ACKNOWLEDGEMENTS AND SILENCES IN FORCE\n  none"),
        "{msp}"
    );

    // An acknowledgement in force is listed in every digest, with who, why and until when.
    let ack = fixture.run(&[
        "ack",
        "--config",
        "dutywatch.toml",
        "lib-crm-review-msp",
        "--by",
        "Dana Reyes",
        "--reason",
        "review booked with the MSP for next week",
    ]);
    assert!(ack.status.success(), "{}", text(&ack).1);
    for party in ["contractor", "msp"] {
        let digest = preview(party);
        assert!(
            digest.contains(
                "lib-crm-review-msp: acknowledged by Dana Reyes on 2026-11-30 19:00 EST (-05:00) until resolved: review booked with the MSP for next week"
            ),
            "{digest}"
        );
    }
}

#[test]
fn the_digest_lists_the_open_incidents_with_their_72_hour_clock_and_next_step() {
    let fixture = util::standard(at("2026-11-30T12:00:00Z"));
    let output = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(output.status.success(), "{}", text(&output).1);
    // Detected 18 h before util::CLOCK, nothing else recorded yet.
    let output = fixture.run(&[
        "incident",
        "open",
        "INC-9",
        "--title",
        "Ransomware note",
        "--by",
        "Keystone SOC",
        "--at",
        "2026-11-30T06:00:00Z",
        "--config",
        "dutywatch.toml",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    let output = fixture.run(&["digest", "--preview", "--config", "dutywatch.toml"]);
    let (digest, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let section = digest
        .split_once("OPEN INCIDENTS\n")
        .and_then(|(_, rest)| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no incident section in:\n{digest}"));
    assert_eq!(
        section,
        "  INC-9  Ransomware note  open due 2026-12-01 01:00 EST (-05:00)  (report to DoD (72 h): \
         54 hours left (from detection: discovery not recorded); next: hand it off to the \
         contractor by 2026-12-01 01:00 EST (2026-12-01T06:00Z))"
    );
    let output = fixture.run(&[
        "digest",
        "--preview",
        "--html",
        "digest.html",
        "--config",
        "dutywatch.toml",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    let html = std::fs::read_to_string(fixture.path("digest.html")).expect("the page");
    assert!(
        html.contains("<td>INC-9</td><td>Ransomware note</td>"),
        "{html}"
    );
}

#[test]
fn the_demo_counts_down_to_its_poam_closeout_and_next_affirmation_in_its_own_zone() {
    let (fixture, out, _) = demo();
    let config = out.join("dutywatch.toml");
    let config = config.to_str().expect("utf-8");
    // The demo's Conditional status was dated 160 days before the tests' clock (a UTC
    // date): the closeout is due 180 days after it. At that clock, midnight UTC, it is still
    // the evening before in the demo's New York: 21 days left there.
    let (stdout, stderr) = text(&fixture.run(&["sprs", "--config", config]));
    assert!(
        stdout.contains("POA&M closeout: DUE SOON, by 2026-12-21 (21 days left)"),
        "{stdout}{stderr}"
    );
    // Still Conditional: the next affirmation is the one after the closeout, by its last
    // day, and the Affirming Official is named.
    assert!(
        stdout.contains("affirmation in SPRS: DUE SOON, due at the latest 2026-12-21 (after the POA&M closeout), 21 days left, by M. Alvarez, President; last 2026-06-24"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CMMC status date 2026-06-24 (Conditional); reassessment due 2029-06-24; keep assessment artifacts until 2032-06-24"),
        "{stdout}"
    );
    // check-config says the same as of today, so a date typed wrong shows before a
    // reminder goes out on it.
    let (checked, stderr) = text(&fixture.run(&["check-config", "--config", config]));
    assert!(
        checked.contains(
            "note: contractor[harbor-forge].cmmc: POA&M closeout: DUE SOON, by 2026-12-21 (21 days left)"
        ),
        "{checked}{stderr}"
    );
    let (json, _) = text(&fixture.run(&["sprs", "--config", config, "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).expect("sprs --json");
    let cmmc = &report["contractors"][0]["cmmc"];
    assert_eq!(cmmc["status"], "conditional", "{cmmc}");
    assert_eq!(cmmc["closeout"]["state"], "due_soon", "{cmmc}");
    assert_eq!(cmmc["closeout"]["days_left"], 21, "{cmmc}");
    assert_eq!(cmmc["today"], "2026-11-30", "{cmmc}");
    assert_eq!(cmmc["affirmation"]["occasion"], "closeout", "{cmmc}");
    // Once it is 1 December in New York, one day less.
    let output = util::dutywatch_command_at(
        &out,
        &["sprs", "--config", config, "--json"],
        "2026-12-01T12:00:00Z",
    );
    let (json, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("sprs --json");
    let cmmc = &report["contractors"][0]["cmmc"];
    assert_eq!(cmmc["today"], "2026-12-01", "{cmmc}");
    assert_eq!(cmmc["closeout"]["days_left"], 20, "{cmmc}");

    // The contractor's weekly digest says the same, as text and on the page.
    let (digest, stderr) = text(&fixture.run(&[
        "digest",
        "--preview",
        "--config",
        config,
        "--party",
        "contractor",
    ]));
    assert!(
        digest.contains("POA&M closeout: DUE SOON, by 2026-12-21 (21 days left)")
            && digest
                .contains("CMMC status date 2026-06-24 (Conditional); reassessment due 2029-06-24"),
        "{digest}{stderr}"
    );
    let page = std::fs::read_to_string(out.join("digest-contractor.html")).expect("the page");
    let list = section(&page, "<ul id=\"cmmc\"", "</ul>");
    assert!(
        list.contains("class=\"bad\"") && list.contains("POA&amp;M closeout: DUE SOON"),
        "{list}"
    );
}

/// The CMMC reminders written to `outbox`, oldest first, decoded and with their headers
/// unfolded, as a mail client reads them.
fn cmmc_reminders(outbox: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    // In the order they were queued: the outbox row in `Message-ID: <escalation-{row}.…>`
    // (file times may tie within a second).
    let mut mails: Vec<(u64, String)> = entries
        .filter_map(|entry| {
            let raw = std::fs::read_to_string(entry.expect("entry").path()).expect("mail");
            let mail = util::unquote(&raw)
                .replace("\r\n ", " ")
                .replace("\n ", " ");
            if !mail.contains("Subject: [dutywatch] CMMC ") {
                return None;
            }
            let row = header(&mail, "Message-ID: <escalation-")
                .split('.')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no outbox row in the Message-ID: {mail}"));
            Some((row, mail))
        })
        .collect();
    mails.sort();
    mails.into_iter().map(|(_, mail)| mail).collect()
}

/// A mail's header, as `cmmc_reminders` unfolds it.
fn header<'a>(mail: &'a str, name: &str) -> &'a str {
    mail.lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_default()
}

/// (subject, recipients) of each CMMC reminder in `outbox`, oldest first.
fn cmmc_mails(out: &std::path::Path) -> Vec<(String, String)> {
    cmmc_reminders(&out.join("outbox"))
        .iter()
        .map(|m| {
            (
                header(m, "Subject: ").to_owned(),
                header(m, "To: ").to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_cmmc_calendar_mails_each_reminder_once_and_the_digest_lists_the_closeout() {
    let (_fixture, out, _) = demo();
    let config = out.join("dutywatch.toml");
    let config = config.to_str().expect("utf-8");
    let once = |clock: &str| {
        let output = util::dutywatch_command_at(&out, &["once", "--config", config], clock);
        assert!(output.status.success(), "{clock}: {}", text(&output).1);
    };
    // The demo's closeout is 21 days off in New York: the 30-day reminder, to the people who
    // work the duties. The affirmation due by the same day is told in it, not apart.
    let first = cmmc_mails(&out);
    assert_eq!(
        first,
        vec![(
            "[dutywatch] CMMC POA&M closeout (32 CFR 170.21): due in 21 days (2026-12-21)"
                .to_owned(),
            "it-lead@harborforge.example, compliance@harborforge.example".to_owned()
        )],
        "{first:#?}"
    );
    let mail = cmmc_reminders(&out.join("outbox")).remove(0);
    assert!(
        mail.contains("the Conditional status expires")
            && mail.contains("`poam_closeout_date`")
            && mail.contains("(M. Alvarez, President) then affirms in SPRS"),
        "{mail}"
    );
    // The same stage again, the next day included: nothing more.
    once("2026-12-01T00:00:00Z");
    once("2026-12-02T15:00:00Z");
    assert_eq!(cmmc_mails(&out).len(), 1, "{:#?}", cmmc_mails(&out));

    // 13 days left on 8 December: the 14-day reminder, and the digest lists the closeout
    // among the deadlines of the next 14 days.
    once("2026-12-08T12:00:00Z");
    let mails = cmmc_mails(&out);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_eq!(
        mails[1].0,
        "[dutywatch] CMMC POA&M closeout (32 CFR 170.21): due in 13 days (2026-12-21)"
    );
    let output = util::dutywatch_command_at(
        &out,
        &[
            "digest",
            "--preview",
            "--config",
            config,
            "--party",
            "contractor",
        ],
        "2026-12-08T12:00:00Z",
    );
    let (digest, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let deadlines = section(&digest, "DEADLINES IN THE NEXT 14 DAYS", "OPEN INCIDENTS");
    assert!(
        deadlines.contains("2026-12-21 23:59 EST (-05:00)  CMMC POA&M closeout (32 CFR 170.21)  (due_soon, responsible: contractor)")
            && !deadlines.contains("CMMC affirmation"),
        "{deadlines}"
    );
    let output = util::dutywatch_command_at(
        &out,
        &[
            "digest",
            "--preview",
            "--config",
            config,
            "--html",
            "later.html",
        ],
        "2026-12-08T12:00:00Z",
    );
    assert!(output.status.success(), "{}", text(&output).1);
    let page = std::fs::read_to_string(out.join("later.html")).expect("the page");
    assert!(
        page.contains("<td>CMMC POA&amp;M closeout (32 CFR 170.21)</td>"),
        "{page}"
    );

    // A week off, management hears of it; missed, the backups too, once.
    once("2026-12-15T12:00:00Z");
    once("2026-12-22T12:00:00Z");
    once("2026-12-23T12:00:00Z");
    let mails = cmmc_mails(&out);
    assert_eq!(mails.len(), 4, "{mails:#?}");
    assert_eq!(
        mails[2],
        (
            "[dutywatch] CMMC POA&M closeout (32 CFR 170.21): due in 6 days (2026-12-21)"
                .to_owned(),
            "it-lead@harborforge.example, compliance@harborforge.example, ceo@harborforge.example"
                .to_owned()
        )
    );
    assert_eq!(
        mails[3],
        (
            "[dutywatch] CMMC POA&M closeout (32 CFR 170.21): MISSED (2026-12-21)".to_owned(),
            "it-lead@harborforge.example, compliance@harborforge.example, ops-manager@harborforge.example, ceo@harborforge.example"
                .to_owned()
        )
    );
}

#[test]
fn the_daemon_sends_a_cmmc_reminder_once_across_passes_and_a_restart() {
    let now = at("2026-12-01T14:00:00Z");
    let fixture = Fixture::new();
    // The closeout is due 180 days after 2026-06-24: 2026-12-21, 20 days off.
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config(
            "\n[contractor.cmmc]\nconditional_status_date = \"2026-06-24\"\nlast_affirmation_date = \"2026-06-24\"\n",
        ),
    );
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
    let reminders = || cmmc_reminders(&fixture.path("outbox"));
    {
        let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), now).expect("start");
        daemon.step(now).expect("step");
        assert_eq!(reminders().len(), 1, "{:#?}", fixture.mails());
        // The next full evaluation, a quarter hour on, and the next day: the same stage.
        daemon.step(at("2026-12-01T14:15:00Z")).expect("step");
        daemon.step(at("2026-12-02T14:00:00Z")).expect("step");
    }
    let later = at("2026-12-02T15:00:00Z");
    let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), later).expect("restart");
    daemon.step(later).expect("step");
    let sent = reminders();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].contains("CMMC POA&M closeout (32 CFR 170.21): due in 20 days (2026-12-21)")
            && sent[0].contains("To: it@acme.example"),
        "{}",
        sent[0]
    );
}

#[test]
fn a_late_closeout_is_told_once_and_an_early_one_leaves_its_affirmation_due_by_the_180th_day() {
    let fixture = Fixture::new();
    let write = |cmmc: &str| {
        fixture.write(
            "dutywatch.toml",
            &util::contractor_config(&format!("\n[contractor.cmmc]\n{cmmc}")),
        );
    };
    fixture.write("crm.csv", util::CRM);
    let reminders = || cmmc_reminders(&fixture.path("outbox"));
    let once = |clock: &str| {
        let output = util::dutywatch_command_at(
            fixture.dir.path(),
            &["once", "--config", "dutywatch.toml"],
            clock,
        );
        assert!(output.status.success(), "{clock}: {}", text(&output).1);
    };
    // Due 2026-12-21 (180 days after 2026-06-24); the closeout was recorded two days late,
    // before any pass saw the day go by: the expired status is told, once.
    write(
        "conditional_status_date = \"2026-06-24\"\npoam_closeout_date = \"2026-12-23\"\nlast_affirmation_date = \"2026-06-24\"\n",
    );
    once("2026-12-24T15:00:00Z");
    once("2026-12-28T15:00:00Z");
    let sent = reminders();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].contains("CMMC POA&M closeout (32 CFR 170.21): MISSED (2026-12-21)")
            && sent[0].contains("recorded on 2026-12-23 came 2 days after its last day"),
        "{}",
        sent[0]
    );

    // Corrected: it was closed out early, on 2026-11-02. The affirmation after it is due by
    // the 180th day, as the closeout's reminders said, not on the closeout's own day.
    write(
        "conditional_status_date = \"2026-06-24\"\npoam_closeout_date = \"2026-11-02\"\nlast_affirmation_date = \"2026-06-24\"\n",
    );
    once("2026-12-29T15:00:00Z");
    let sent = reminders();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let affirmation = sent
        .iter()
        .find(|m| m.contains("after the POA&M closeout"))
        .unwrap_or_else(|| panic!("{sent:#?}"));
    assert!(
        affirmation
            .contains("CMMC affirmation in SPRS, after the POA&M closeout: MISSED (2026-12-21)"),
        "{affirmation}"
    );

    // The 14-day list counts the contractor's days: a deadline on the 14th day is in it at
    // the Monday digest's hour. A Final status of 2025-12-21: its first anniversary is
    // 2026-12-21, 14 days after Monday 2026-12-07.
    write("final_status_date = \"2025-12-21\"\nlast_affirmation_date = \"2025-12-21\"\n");
    let output = util::dutywatch_command_at(
        fixture.dir.path(),
        &["digest", "--preview", "--config", "dutywatch.toml"],
        "2026-12-07T13:00:00Z",
    );
    let (digest, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let deadlines = section(&digest, "DEADLINES IN THE NEXT 14 DAYS", "OPEN INCIDENTS");
    assert!(
        deadlines.contains("2026-12-21 23:59 EST (-05:00)  CMMC affirmation in SPRS, annual, 1st anniversary of the status date"),
        "{deadlines}"
    );

    // That anniversary missed, the next is shown and reminded in its own right, and `sprs`
    // says when an affirmation starts to count for it.
    let output = util::dutywatch_command_at(
        fixture.dir.path(),
        &["sprs", "--config", "dutywatch.toml"],
        "2027-01-05T15:00:00Z",
    );
    let (sprs, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        sprs.contains("affirmation in SPRS: OVERDUE, it was due 2026-12-21")
            && sprs.contains("affirmation in SPRS: then due 2027-12-21 (annual, 2nd anniversary of the status date), 350 days left; one made before 2027-11-21 does not count for it"),
        "{sprs}"
    );
}

#[test]
fn an_msp_instance_mails_no_cmmc_reminder_and_check_config_says_why() {
    let fixture = Fixture::new();
    let config = util::contractor_config(
        "\n[contractor.cmmc]\nconditional_status_date = \"2026-06-24\"\nlast_affirmation_date = \"2026-06-24\"\n",
    )
    .replacen("perspective = \"contractor\"", "perspective = \"msp\"", 1);
    fixture.write("dutywatch.toml", &config);
    fixture.write("crm.csv", util::CRM);
    let output = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(output.status.success(), "{}", text(&output).1);
    assert_eq!(
        cmmc_reminders(&fixture.path("outbox")),
        Vec::<String>::new()
    );
    let (checked, stderr) = text(&fixture.run(&["check-config", "--config", "dutywatch.toml"]));
    assert!(
        checked.contains("POA&M closeout: DUE SOON, by 2026-12-21")
            && checked.contains(
                "this MSP instance shows the calendar in `sprs` but mails no reminders of it"
            ),
        "{checked}{stderr}"
    );
}

#[test]
fn a_reminder_whose_deadline_a_date_typed_ahead_would_meet_says_to_check_it_first() {
    let fixture = Fixture::new();
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config(
            "\n[contractor.cmmc]\nconditional_status_date = \"2026-06-24\"\npoam_closeout_date = \"2027-06-01\"\nlast_affirmation_date = \"2026-06-24\"\n",
        ),
    );
    fixture.write("crm.csv", util::CRM);
    let output = util::dutywatch_command_at(
        fixture.dir.path(),
        &["once", "--config", "dutywatch.toml"],
        "2026-12-10T15:00:00Z",
    );
    assert!(output.status.success(), "{}", text(&output).1);
    let sent = cmmc_reminders(&fixture.path("outbox"));
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].contains("CMMC POA&M closeout (32 CFR 170.21): due in 11 days (2026-12-21)")
            && sent[0].contains("Check the date first: `poam_closeout_date` in [contractor.cmmc] is 2027-06-01, after today (2026-12-10)"),
        "{}",
        sent[0]
    );
}
