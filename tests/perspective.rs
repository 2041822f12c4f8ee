//! An MSP watching its own duties across clients, never mixing them.

use std::sync::Arc;

use dutywatch::config::{self, Perspective};
use dutywatch::engine::Engine;
use dutywatch::status::{self, Filter};
use dutywatch::store::Store;
use dutywatch_checks::party::Party;

use crate::util::{self, CRM, Fixture, MFA_BAD, MFA_OK, at};

pub(crate) fn client(id: &str, name: &str) -> String {
    format!(
        r#"
[[contractor]]
id = "{id}"
name = "{name}"
contacts = ["it@{id}.example"]
msp_contacts = ["team-{id}@keystone.example"]
crm_file = "{id}/crm.csv"

[[contractor.source]]
id = "mfa"
kind = "file"
evidence = "mfa_registration"
path = "{id}/mfa.json"
schedule = "0 * * * *"
max_age = "2d"

[[contractor.source]]
id = "reviews"
kind = "file"
evidence = "access_review"
path = "{id}/reviews.csv"
schedule = "0 6 * * *"
"#
    )
}

const SHARED_DUTIES: &str = r#"
[[duty]]
id = "mfa-registered"
title = "MFA registered"
objectives = ["3.5.3"]
source = "mfa"
rule = "continuous"
check = "mfa_registered == true"
tolerance = "24h"

[[duty]]
id = "access-review"
title = "Quarterly access review"
objectives = ["3.1.1"]
party = "contractor"
source = "reviews"
rule = "recurring"
completed_at = "signed_off_at"
every = "90d"

[[duty]]
id = "account-admin-report"
title = "Monthly account administration report"
objectives = ["3.1.1"]
party = "msp"
source = "reviews"
rule = "recurring"
completed_at = "signed_off_at"
every = "31d"
"#;

pub(crate) fn msp_fixture() -> Fixture {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = Fixture::new();
    let config = format!(
        r#"
perspective = "msp"
timezone = "UTC"
database = "state/msp.db"

[mail]
from = "dutywatch@keystone.example"
transport = "file"

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]
{SHARED_DUTIES}{}{}"#,
        client("acme", "Acme Machining"),
        client("birch", "Birch Avionics")
    );
    fixture.write("dutywatch.toml", &config);
    for (id, mfa) in [("acme", MFA_BAD), ("birch", MFA_OK)] {
        fixture.write(&format!("{id}/crm.csv"), CRM);
        fixture.write_dated(&format!("{id}/mfa.json"), mfa, now);
        fixture.write_dated(
            &format!("{id}/reviews.csv"),
            "review_id,account_id,decision,signed_off_at\nQ2,alice,keep,2026-06-01T00:00:00Z\n",
            now,
        );
    }
    fixture
}

#[test]
fn msp_perspective_watches_only_the_msps_duties() {
    let fixture = msp_fixture();
    let config = fixture.load();
    assert_eq!(config.perspective, Perspective::Msp);
    let mut engine = Engine::new(
        Arc::new(config),
        Store::open(&fixture.path("state/msp.db")).expect("store"),
    );
    let summary = engine.cycle(at("2026-11-23T15:00:00Z")).expect("cycle");
    // Two MSP duties per client; the contractor's access review is not watched.
    assert_eq!(summary.evaluated, 4);
    let rows = status::rows(engine.config(), engine.store(), &Filter::default()).expect("rows");
    assert!(
        rows.iter().all(|row| row.responsible == Party::Msp),
        "{rows:?}"
    );
    let names: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.contractor.clone(), r.duty.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("acme".to_owned(), "mfa-registered".to_owned()),
            ("acme".to_owned(), "account-admin-report".to_owned()),
            ("birch".to_owned(), "mfa-registered".to_owned()),
            ("birch".to_owned(), "account-admin-report".to_owned()),
        ]
    );
}

#[test]
fn msp_perspective_keeps_clients_apart_in_status_and_mail() {
    let fixture = msp_fixture();
    let config = fixture.load();
    let mut engine = Engine::new(
        Arc::new(config),
        Store::open(&fixture.path("state/msp.db")).expect("store"),
    );
    engine.cycle(at("2026-11-23T15:00:00Z")).expect("cycle");

    let only_birch = Filter {
        contractor: Some("birch".to_owned()),
        party: None,
    };
    let rows = status::rows(engine.config(), engine.store(), &only_birch).expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.contractor == "birch"));
    assert!(rows.iter().all(|r| !r.reason.contains("acme")), "{rows:?}");

    let mails = fixture.mails();
    assert!(!mails.is_empty());
    for mail in &mails {
        let acme = mail.contains("acme");
        let birch = mail.contains("birch") || mail.contains("Birch");
        assert!(
            acme != birch,
            "every mail is about exactly one client:\n{mail}"
        );
        if acme {
            // Each recipient hears of a pass in one mail: acme's go to acme's people only.
            assert!(
                mail.contains("To: team-acme@keystone.example")
                    || mail.contains("To: it@acme.example"),
                "{mail}"
            );
            assert!(!mail.contains("b@acme.example") || mail.contains("Acme Machining"));
        }
    }
    assert!(
        mails
            .iter()
            .any(|m| m.contains("To: team-acme@keystone.example")),
        "the MSP's team for acme is told"
    );
    // Acme's MFA gap is Acme's alone.
    let mfa: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("MFA registered"))
        .collect();
    assert_eq!(mfa.len(), 1, "only acme's MFA duty needs attention");
    assert!(
        mfa[0].contains("To: team-acme@keystone.example"),
        "{}",
        mfa[0]
    );
}

#[test]
fn status_party_contractor_from_the_msp_perspective_says_why_it_shows_nothing() {
    let fixture = msp_fixture();
    let once = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(once.status.code().is_some(), "once ran");
    let output = fixture.run(&[
        "status",
        "--config",
        "dutywatch.toml",
        "--party",
        "contractor",
    ]);
    let (stdout, stderr) = util::text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    // Not a bare "0 duties: ": the reason there are none, and where the others are.
    assert!(stdout.contains("\n0 duties\n"), "{stdout}");
    assert!(!stdout.contains("0 duties: "), "{stdout}");
    assert!(
        stdout.contains("this config has perspective = \"msp\": it watches only the duties the MSP is responsible for"),
        "{stdout}"
    );
    assert!(stdout.contains("`dutywatch duties plan`"), "{stdout}");
    // Its own party's duties are shown as before, without the note.
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--party", "msp"]);
    let (stdout, _) = util::text(&output);
    assert!(!stdout.contains("perspective = \"msp\""), "{stdout}");
    assert!(!stdout.contains("\n0 duties"), "{stdout}");
}

#[test]
fn contractor_perspective_refuses_several_contractors() {
    let fixture = msp_fixture();
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &text.replace("perspective = \"msp\"", "perspective = \"contractor\""),
    );
    let errors = config::load(&fixture.config_path()).expect_err("rejected");
    assert!(
        errors
            .to_string()
            .contains("watches one contractor, but 2 are configured"),
        "{errors}"
    );
}

#[test]
fn the_ack_and_silence_commands_a_mail_gives_run_as_pasted_in_an_msps_config() {
    let fixture = msp_fixture();
    let now = "2026-11-23T15:00:00Z";
    let run = |args: &[&str]| util::dutywatch_command_at(&fixture.path(""), args, now);
    let once = run(&["once", "--config", "dutywatch.toml"]);
    assert!(once.status.success(), "{:?}", util::text(&once));
    let mails = fixture.mails();
    let mail = mails
        .iter()
        .find(|m| m.contains("MFA registered"))
        .expect("acme's MFA mail");
    // The command between the backticks of the footer's line, its placeholders filled in.
    let command = |verb: &str| -> Vec<String> {
        let start = mail
            .find(&format!("`dutywatch {verb} "))
            .unwrap_or_else(|| panic!("a {verb} command: {mail}"));
        let text = &mail[start + 1..];
        let text = &text[..text.find('`').expect("closing backtick")];
        text.split_whitespace()
            .skip(1)
            .map(|word| match word {
                "NAME" => "Dana".to_owned(),
                "TEXT" => "on it".to_owned(),
                "TIME" => "2026-11-24T15:00:00Z".to_owned(),
                word => word.to_owned(),
            })
            .collect()
    };
    // Several clients are configured: without `--client` either one is refused.
    for verb in ["silence", "ack"] {
        let mut args = command(verb);
        args.extend(["--config".to_owned(), "dutywatch.toml".to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&args);
        assert!(
            output.status.success(),
            "{args:?}: {:?}",
            util::text(&output)
        );
    }
}

#[test]
fn each_client_is_read_and_told_in_its_own_zone() {
    let fixture = msp_fixture();
    let now = at("2026-11-23T15:00:00Z");
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    let text = text
        .replacen("timezone = \"UTC\"", "timezone = \"America/New_York\"", 1)
        .replacen(
            "name = \"Birch Avionics\"",
            "name = \"Birch Avionics\"\ntimezone = \"America/Chicago\"",
            1,
        );
    fixture.write("dutywatch.toml", &text);
    // A sign-off written as a date: midnight where the client is.
    for id in ["acme", "birch"] {
        fixture.write_dated(
            &format!("{id}/reviews.csv"),
            "review_id,account_id,decision,signed_off_at\nOct,alice,keep,2026-10-25\n",
            now,
        );
    }
    let config = fixture.load();
    let mut engine = Engine::new(
        Arc::new(config),
        Store::open(&fixture.path("state/msp.db")).expect("store"),
    );
    engine.cycle(now).expect("cycle");
    let rows = status::rows(engine.config(), engine.store(), &Filter::default()).expect("rows");
    let due = |client: &str| {
        rows.iter()
            .find(|r| r.contractor == client && r.duty == "account-admin-report")
            .and_then(|r| r.due)
            .unwrap_or_else(|| panic!("{client}'s due time: {rows:#?}"))
    };
    // 31 days after the day of 2026-10-25 ended, in New York and in Chicago.
    assert_eq!(due("acme"), at("2026-11-26T05:00:00Z"));
    assert_eq!(due("birch"), at("2026-11-26T06:00:00Z"));
    let mails = fixture.mails();
    let mail_of = |name: &str| {
        mails
            .iter()
            .find(|m| m.contains(name) && m.contains("Monthly account administration report"))
            .unwrap_or_else(|| panic!("{name}'s mail: {mails:#?}"))
    };
    // The due time, and when the mail was decided.
    let birch = mail_of("Birch Avionics");
    assert!(
        birch.contains("2026-11-26 00:00 CST") && birch.contains("2026-11-23 09:00 CST"),
        "{birch}"
    );
    assert!(
        mail_of("Acme Machining").contains("2026-11-26 00:00 EST"),
        "{}",
        mail_of("Acme Machining")
    );
}

#[test]
fn a_fixed_offset_abbreviation_is_refused_as_a_zone() {
    let fixture = msp_fixture();
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &text
            .replacen("timezone = \"UTC\"", "timezone = \"EST\"", 1)
            .replacen(
                "name = \"Birch Avionics\"",
                "name = \"Birch Avionics\"\ntimezone = \"America/Chikago\"",
                1,
            ),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = util::text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "timezone: `EST` is a fixed offset without daylight saving time, UTC−5 all year"
        ) && stderr.contains("write `America/New_York`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("contractor[birch].timezone: `America/Chikago` is not an IANA time zone"),
        "{stderr}"
    );
}

#[test]
fn check_config_warns_of_two_clients_reading_the_same_export() {
    let fixture = msp_fixture();
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    let check = || {
        let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
        util::text(&output).0
    };
    assert!(!check().contains("warning: contractor["), "{}", check());
    // Birch's block copied from acme's, its MFA export's path left as it was.
    fixture.write(
        "dutywatch.toml",
        &text.replacen("path = \"birch/mfa.json\"", "path = \"acme/mfa.json\"", 1),
    );
    let stdout = check();
    let warned = |stdout: &str| {
        stdout.lines().any(|line| {
            line.starts_with(
                "warning: contractor[birch].source[mfa] reads what contractor[acme].source[mfa] reads (",
            ) && line.contains("acme/mfa.json")
        })
    };
    assert!(warned(&stdout), "{stdout}");
    // However the path is spelt.
    fixture.write(
        "dutywatch.toml",
        &text.replacen(
            "path = \"birch/mfa.json\"",
            "path = \"./birch/../acme/mfa.json\"",
            1,
        ),
    );
    assert!(warned(&check()), "{}", check());
    // Each client's own part of one document is not the same evidence.
    fixture.write(
        "dutywatch.toml",
        &text
            .replacen(
                "path = \"acme/mfa.json\"",
                "path = \"acme/mfa.json\"\nrecords = \"value\"",
                1,
            )
            .replacen(
                "path = \"birch/mfa.json\"",
                "path = \"acme/mfa.json\"\nrecords = \"birch\"",
                1,
            ),
    );
    assert!(!warned(&check()), "{}", check());
}

#[test]
fn a_client_id_given_twice_is_named_as_what_refuses_the_whole_file() {
    let fixture = msp_fixture();
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    let twice = text.replacen("id = \"acme\"", "id = \"birch\"", 1);
    fixture.write("dutywatch.toml", &twice);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = util::text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("The configuration is refused as a whole")
            && last.contains("(contractor.id)"),
        "{stderr}"
    );
}

#[test]
fn a_mails_subject_counts_duties_by_their_worst_state_not_their_subjects() {
    let fixture = msp_fixture();
    let now = at("2026-11-23T15:00:00Z");
    // Three users without MFA at acme: one duty, three subjects.
    fixture.write_dated(
        "acme/mfa.json",
        r#"{"value": [{"userPrincipalName": "b@acme.example", "isMfaRegistered": false}, {"userPrincipalName": "c@acme.example", "isMfaRegistered": false}, {"userPrincipalName": "d@acme.example", "isMfaRegistered": false}]}"#,
        now,
    );
    let mut engine = Engine::new(
        Arc::new(fixture.load()),
        Store::open(&fixture.path("state/msp.db")).expect("store"),
    );
    engine.cycle(now).expect("cycle");
    let mails = fixture.mails();
    // The Subject header, its folded lines joined.
    let subject_of = |mail: &str| -> Option<String> {
        let mut lines = mail.lines().skip_while(|l| !l.starts_with("Subject: "));
        let mut subject = lines.next()?.to_owned();
        for line in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
            subject.push_str(line);
        }
        Some(subject)
    };
    let subject = mails
        .iter()
        .filter(|m| m.contains("Acme Machining"))
        .filter_map(|m| subject_of(m))
        .find(|s| s.contains("duties need attention"))
        .unwrap_or_else(|| panic!("a mail about several of acme's duties: {mails:#?}"));
    let duties: u32 = subject
        .split(": ")
        .nth(2)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{subject}"));
    let counted: u32 = subject
        .split_once('(')
        .and_then(|(_, rest)| rest.split(')').next())
        .unwrap_or_default()
        .split(", ")
        .filter_map(|count| count.split(' ').next()?.parse::<u32>().ok())
        .sum();
    assert_eq!(counted, duties, "{subject}");
}

#[test]
fn a_shared_duty_every_client_finds_wrong_is_said_once_for_the_whole_file() {
    let fixture = msp_fixture();
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    // The shared MFA duty names a source no client has.
    let broken = text.replacen("source = \"mfa\"", "source = \"mfaa\"", 1);
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = util::text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("no source `mfaa` is configured").count(),
        1,
        "once, not once per client: {stderr}"
    );
    assert!(
        stderr.contains("(for every client: a shared [[duty]] is every client's)")
            && !stderr.contains("QUARANTINED"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("The configuration is refused as a whole"),
        "{stderr}"
    );
    // Wrong for one client only, it stays that client's: birch is quarantined, acme runs.
    let one = broken.replacen(
        "path = \"acme/reviews.csv\"\nschedule = \"0 6 * * *\"\n",
        "path = \"acme/reviews.csv\"\nschedule = \"0 6 * * *\"\n\n[[contractor.source]]\nid = \"mfaa\"\nkind = \"file\"\nevidence = \"mfa_registration\"\npath = \"acme/mfa.json\"\nschedule = \"0 * * * *\"\nmax_age = \"2d\"\n",
        1,
    );
    assert_ne!(one, broken);
    fixture.write("dutywatch.toml", &one);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = util::text(&output);
    assert!(
        stderr.contains("contractor birch (Birch Avionics): QUARANTINED"),
        "{stderr}"
    );
}

#[test]
fn a_shared_duty_wrong_in_different_ways_for_different_clients_is_said_to_each() {
    let fixture = msp_fixture();
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    // Birch's mfa source holds other evidence: the shared check is wrong for each client in
    // its own words.
    let birch = text
        .rfind("evidence = \"mfa_registration\"")
        .expect("birch's mfa source");
    let mut broken = text.clone();
    broken.replace_range(
        birch..birch + "evidence = \"mfa_registration\"".len(),
        "evidence = \"patch\"",
    );
    let broken = broken.replacen(
        "check = \"mfa_registered == true\"",
        "check = \"mfa_registered == true and severity == 'x'\"",
        1,
    );
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = util::text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("for every client"), "{stderr}");
    assert!(
        stderr.contains("contractor[acme].duty[mfa-registered].check")
            && stderr.contains("contractor[birch].duty[mfa-registered].check"),
        "{stderr}"
    );
}

#[test]
fn an_msps_sprs_duty_gives_partial_credit_only_where_it_watches_that_requirement() {
    let fixture = msp_fixture();
    // The MSP names its monthly account report (3.1.1) as showing MFA for remote and
    // privileged users: it is met, but it shows nothing about 3.5.3.
    let config = std::fs::read_to_string(fixture.config_path()).expect("config");
    fixture.write(
        "dutywatch.toml",
        &config.replacen(
            "[msp]",
            "[sprs]\nmfa_remote_and_privileged_duty = \"account-admin-report\"\n\n[msp]",
            1,
        ),
    );
    let now = at("2026-11-23T15:00:00Z");
    fixture.write_dated(
        "acme/reviews.csv",
        "review_id,account_id,decision,signed_off_at\nQ4,alice,keep,2026-11-10T00:00:00Z\n",
        now,
    );
    let run = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--at",
        "2026-11-23T15:00:00Z",
    ]);
    assert!(run.status.success(), "{}", util::text(&run).1);
    let (json, stderr) = util::text(&fixture.run(&[
        "sprs",
        "--config",
        "dutywatch.toml",
        "--client",
        "acme",
        "--json",
    ]));
    let report: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|_| panic!("{json}{stderr}"));
    let mfa = report["contractors"][0]["projection"]["not_met"]
        .as_array()
        .expect("not met")
        .iter()
        .find(|n| n["requirement"] == "3.5.3")
        .cloned()
        .expect("b@ has no MFA: 3.5.3 is not met");
    assert_eq!(mfa["deduction"], 5, "{mfa}");
    assert_eq!(mfa["partial"], false, "{mfa}");
}
