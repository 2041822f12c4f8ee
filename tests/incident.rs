//! The DFARS 252.204-7012 incident clocks end to end: every input opens a clock, the same
//! incident from Defender and Sentinel is one, each warning goes out once to the right people
//! with the right hours left, across a restart; the commands as a user runs them.

use dutywatch::daemon::Daemon;
use jiff::Timestamp;

use crate::util::{self, Fixture, at, text};

/// A contractor with contacts in every role, Defender and Sentinel exports, a ticket feed
/// and a 4-hour hand-off.
fn fixture(now: Timestamp) -> Fixture {
    let config = util::contractor_config(INCIDENT_SOURCES).replace(
        "contacts = [\"it@acme.example\"]",
        "contacts = [\"it@acme.example\"]\n\
         backup_contacts = [\"ops@acme.example\"]\n\
         management_contacts = [\"ceo@acme.example\"]\n\
         msp_contacts = [\"team@keystone.example\"]\n\
         msp_backup_contacts = [\"escalation@keystone.example\"]\n\
         msp_management_contacts = [\"director@keystone.example\"]",
    );
    let fixture = Fixture::new();
    fixture.write("dutywatch.toml", &config);
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
    fixture.write_dated("evidence/defender.json", r#"{"value": []}"#, now);
    fixture.write_dated("evidence/sentinel.json", r#"{"value": []}"#, now);
    fixture.write_dated("evidence/tickets.csv", TICKETS_HEADER, now);
    fixture
}

const INCIDENT_SOURCES: &str = r#"
[[contractor.source]]
id = "defender"
kind = "file"
evidence = "incident"
path = "evidence/defender.json"
records = "value"
schedule = "*/5 * * * *"

[[contractor.source]]
id = "sentinel"
kind = "file"
evidence = "incident"
path = "evidence/sentinel.json"
records = "value"
schedule = "*/5 * * * *"

[[contractor.source]]
id = "tickets"
kind = "file"
evidence = "incident"
path = "evidence/tickets.csv"
schedule = "*/5 * * * *"

[incidents]
check = "*/5 * * * *"
handoff_within = "4h"
ack_within = "2h"
severities = ["high", "medium"]
tags = ["CUI"]
"#;

const TICKETS_HEADER: &str = "id,title,type,severity,detected_at\n";

/// Defender XDR's `security/incidents`, as Graph sends it (PascalCase enum as its example).
fn defender(id: &str, created: &str) -> String {
    format!(
        r#"{{"value": [{{"id": "{id}", "displayName": "Multi-stage incident", "createdDateTime": "{created}",
            "status": "Active", "severity": "high", "classification": "TruePositive", "customTags": []}}]}}"#
    )
}

/// Sentinel's incidents (ARM), the one mirrored from Defender carrying its id.
fn sentinel(defender_id: &str, created: &str) -> String {
    format!(
        r#"{{"value": [
          {{"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.OperationalInsights/workspaces/w/providers/Microsoft.SecurityInsights/incidents/73e01a99",
            "name": "73e01a99", "properties": {{"title": "Multi-stage incident", "severity": "High",
            "status": "New", "incidentNumber": 3190, "createdTimeUtc": "{created}",
            "providerName": "Microsoft 365 Defender", "providerIncidentId": "{defender_id}"}}}},
          {{"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.OperationalInsights/workspaces/w/providers/Microsoft.SecurityInsights/incidents/5b2c",
            "name": "5b2c", "properties": {{"title": "Noise", "severity": "Low", "status": "New",
            "incidentNumber": 3191, "createdTimeUtc": "{created}", "providerName": "Azure Sentinel",
            "providerIncidentId": "3191"}}}}
        ]}}"#
    )
}

/// `dutywatch incident ARGS` in process with the wall clock at `now`, as the daemon beside it
/// runs (the binary's tests take `util::CLOCK`, after every instant these tests step through).
fn incident_at(fixture: &Fixture, now: &str, args: &[&str]) {
    use clap::Parser as _;
    let config = fixture.config_path();
    let mut all = vec!["dutywatch", "--clock", now, "incident"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config.to_str().expect("utf-8")]);
    let cli = dutywatch::cli::Cli::try_parse_from(&all).expect("arguments parse");
    let code = dutywatch::cli::run(cli).unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{args:?}");
}

fn start(fixture: &Fixture, now: Timestamp) -> Daemon {
    Daemon::start(fixture.config_path(), fixture.load(), now).expect("daemon starts")
}

/// The incident warnings in the outbox as (To, Subject), folded headers joined, by subject.
fn incident_mails(fixture: &Fixture) -> Vec<(String, String)> {
    let warning = [
        "left to report",
        "lapsed",
        "overdue",
        "not acknowledged",
        "report number",
    ];
    let mut out: Vec<(String, String)> = fixture
        .mails()
        .iter()
        .filter_map(|mail| {
            let unfolded = mail.replace("\r\n ", " ").replace("\n ", " ");
            let header = |name: &str| {
                unfolded
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
            };
            Some((header("To:")?, header("Subject:")?))
        })
        // An incident's own warnings say so; the duties' ladder mails (which may say
        // "lapsed" too) do not.
        .filter(|(_, subject)| {
            subject.starts_with("[dutywatch] INCIDENT ")
                && warning.iter().any(|w| subject.contains(w))
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn open_incidents(fixture: &Fixture) -> Vec<dutywatch::store::StoredIncident> {
    let config = fixture.load();
    let store = dutywatch::store::Store::open_read_only(&config.database).expect("store");
    store.incidents("acme").expect("incidents")
}

#[test]
fn every_input_opens_a_clock_and_defender_and_sentinel_are_one_incident() {
    let now = at("2026-11-23T09:00:00Z");
    let fixture = fixture(now);
    fixture.write_dated(
        "evidence/defender.json",
        &defender("2972395", "2026-11-23T08:40:00Z"),
        now,
    );
    fixture.write_dated(
        "evidence/sentinel.json",
        &sentinel("2972395", "2026-11-23T08:38:00Z"),
        now,
    );
    fixture.write_dated(
        "evidence/tickets.csv",
        &format!(
            "{TICKETS_HEADER}T-88412,Possible compromise,incident,medium,2026-11-23T08:50:00Z\n\
             T-88413,EDR alert,alert,high,2026-11-23T08:55:00Z\n\
             T-88414,Low but CUI,incident,low,2026-11-23T08:56:00Z\n"
        ),
        now,
    );
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    let ids: Vec<String> = open_incidents(&fixture)
        .into_iter()
        .map(|s| s.incident.id)
        .collect();
    // Defender and its Sentinel mirror are one; Sentinel's low-severity one, the alert and
    // the low ticket open nothing.
    assert_eq!(ids, ["2972395", "T-88412"], "{ids:?}");
    let merged = &open_incidents(&fixture)[0];
    assert_eq!(
        merged.incident.detected_at(),
        Some(at("2026-11-23T08:38:00Z")),
        "the earliest detection of the two"
    );
    assert!(merged.aliases.contains(&"73e01a99".to_owned()));

    // The command line opens the fourth kind of input.
    incident_at(
        &fixture,
        "2026-11-23T09:00:00Z",
        &[
            "open",
            "MAN-1",
            "--by",
            "Dana (IT)",
            "--title",
            "USB stick found in the lab",
        ],
    );

    // Two clocks, their own mails: the hand-off of each is overdue after 4 hours.
    let later = at("2026-11-23T13:00:00Z");
    daemon.step(later).expect("step");
    let mails = incident_mails(&fixture);
    let subjects: Vec<&str> = mails.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "[dutywatch] INCIDENT 2972395: hand-off to the contractor overdue",
            "[dutywatch] INCIDENT MAN-1: hand-off to the contractor overdue",
            "[dutywatch] INCIDENT T-88412: hand-off to the contractor overdue",
        ]
    );
    for (to, _) in &mails {
        assert_eq!(to, "escalation@keystone.example, it@acme.example");
    }
    // Once each, however often the clocks are checked.
    daemon.step(at("2026-11-23T13:05:00Z")).expect("step");
    assert_eq!(incident_mails(&fixture).len(), 3);
}

#[test]
fn the_report_ladder_goes_out_once_per_rung_to_more_senior_people_across_a_restart() {
    let detected = at("2026-11-23T09:00:00Z");
    let fixture = fixture(detected);
    fixture.write_dated(
        "evidence/defender.json",
        &defender("2972395", "2026-11-23T09:00:00Z"),
        detected,
    );
    let mut daemon = start(&fixture, detected);
    daemon.step(detected).expect("step");
    incident_at(
        &fixture,
        "2026-11-23T10:00:00Z",
        &["handoff", "2972395", "--by", "Keystone SOC"],
    );
    incident_at(
        &fixture,
        "2026-11-23T10:30:00Z",
        &["ack", "2972395", "--by", "Chris (IT lead)"],
    );
    incident_at(
        &fixture,
        "2026-11-23T12:10:00Z",
        &[
            "discover",
            "2972395",
            "--by",
            "Chris (IT lead)",
            "--at",
            "2026-11-23T12:00:00Z",
        ],
    );

    let step = |daemon: &mut Daemon, when: &str| {
        daemon.step(at(when)).expect("step");
        incident_mails(&fixture)
    };
    assert!(
        step(&mut daemon, "2026-11-24T11:55:00Z").is_empty(),
        "nothing before 24 h"
    );
    let mails = step(&mut daemon, "2026-11-24T12:00:00Z");
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0],
        (
            "it@acme.example, team@keystone.example".to_owned(),
            "[dutywatch] INCIDENT 2972395: 48 hours left to report to DoD (DFARS 252.204-7012)"
                .to_owned()
        )
    );
    // A restart: the new daemon decides the same rung again and sends nothing.
    drop(daemon);
    let mut daemon = start(&fixture, at("2026-11-24T12:05:00Z"));
    assert_eq!(
        step(&mut daemon, "2026-11-24T12:05:00Z").len(),
        1,
        "nothing doubled"
    );
    let mails = step(&mut daemon, "2026-11-25T12:00:00Z");
    assert_eq!(mails.len(), 2);
    assert!(
        mails.contains(&(
            "ops@acme.example, escalation@keystone.example".to_owned(),
            "[dutywatch] INCIDENT 2972395: 24 hours left to report to DoD (DFARS 252.204-7012)"
                .to_owned()
        )),
        "{mails:?}"
    );
    let mails = step(&mut daemon, "2026-11-26T00:00:00Z");
    assert!(
        mails.contains(&(
            "ceo@acme.example, director@keystone.example".to_owned(),
            "[dutywatch] INCIDENT 2972395: 12 hours left to report to DoD (DFARS 252.204-7012)"
                .to_owned()
        )),
        "{mails:?}"
    );
    // The daemon was busy at 68 h: checked at 68 h 3 min, the mail says exactly what is left.
    let mails = step(&mut daemon, "2026-11-26T08:03:00Z");
    assert!(mails.iter().any(|(_, s)| s == "[dutywatch] INCIDENT 2972395: 3 hours 57 minutes left to report to DoD (DFARS 252.204-7012)"), "{mails:?}");
    let mails = step(&mut daemon, "2026-11-26T12:00:00Z");
    assert_eq!(mails.len(), 5);
    let (to, subject) = mails
        .iter()
        .find(|(_, s)| s.contains("lapsed"))
        .expect("the lapse");
    assert_eq!(
        subject,
        "[dutywatch] INCIDENT 2972395: the 72-hour report to DoD was not filed - the duty lapsed"
    );
    for who in [
        "ceo@acme.example",
        "ops@acme.example",
        "it@acme.example",
        "director@keystone.example",
    ] {
        assert!(to.contains(who), "{to}");
    }
    let lapse = fixture
        .mails()
        .into_iter()
        .find(|m| m.contains("has lapsed"))
        .expect("lapse mail body");
    assert!(lapse.contains("not met"), "{lapse}");
    assert_eq!(
        step(&mut daemon, "2026-11-27T12:00:00Z").len(),
        5,
        "each once"
    );

    // Reported late: the ladder is over; the timeline shows who did what when.
    incident_at(
        &fixture,
        "2026-11-27T13:00:00Z",
        &[
            "report",
            "2972395",
            "--by",
            "Chris (IT lead)",
            "--number",
            "DIB-2026-000500",
        ],
    );
    let output = fixture.run(&[
        "incident",
        "show",
        "2972395",
        "--json",
        "--config",
        "dutywatch.toml",
    ]);
    let (show, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&show).expect("json");
    let steps: Vec<&str> = shown["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["step"].as_str().expect("step"))
        .collect();
    assert_eq!(
        steps,
        [
            "detected",
            "handed_off",
            "acknowledged",
            "discovered",
            "reported"
        ]
    );
    assert_eq!(shown["report_number"], "DIB-2026-000500");
    assert_eq!(shown["timeline"][4]["by"], "Chris (IT lead)");
}

#[test]
fn a_discovery_before_the_fall_dst_change_is_due_72_wall_clock_hours_later() {
    // 2026-11-01: New York falls back at 02:00 EDT. Discovered 00:30 EDT (04:30Z).
    let now = at("2026-11-01T04:00:00Z");
    let fixture = fixture(now);
    let output = fixture.run(&[
        "incident",
        "open",
        "DST-1",
        "--config",
        "dutywatch.toml",
        "--by",
        "Dana",
        "--at",
        "2026-11-01T04:00:00Z",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    let output = fixture.run(&[
        "incident",
        "discover",
        "DST-1",
        "--config",
        "dutywatch.toml",
        "--by",
        "Dana",
        "--at",
        "2026-11-01T00:30:00-04:00",
    ]);
    assert!(output.status.success(), "{}", text(&output).1);
    let output = fixture.run(&["incident", "list", "--config", "dutywatch.toml", "--json"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let report = list[0]["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "report")
        .expect("report clock");
    // 72 hours, not three calendar days: 23:30 EST on 11-03, not 00:30.
    assert_eq!(report["due"], "2026-11-04T04:30:00Z");
    assert_eq!(report["basis"], "discovery");
    // util::CLOCK is 2026-12-01T00:00Z, long past: overdue by that much, in seconds exactly.
    let overdue = at(util::CLOCK)
        .duration_since(at("2026-11-04T04:30:00Z"))
        .as_secs();
    assert_eq!(report["seconds_left"], -overdue);
    let output = fixture.run(&["incident", "list", "--config", "dutywatch.toml"]);
    assert!(
        text(&output).0.contains("2026-11-03 23:30 EST"),
        "{}",
        text(&output).0
    );
}

#[test]
fn the_commands_record_each_step_and_refuse_what_is_out_of_order() {
    let fixture = fixture(at("2026-11-20T09:00:00Z"));
    let run = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "dutywatch.toml"]);
        let output = fixture.run(&all);
        let (stdout, stderr) = text(&output);
        (output.status.code(), stdout, stderr)
    };
    let ok = |args: &[&str]| {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        stdout
    };
    let refused = |args: &[&str], needle: &str| {
        let (code, _, stderr) = run(args);
        assert_ne!(code, Some(0), "{args:?} should be refused");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    };
    refused(&["handoff", "NOPE", "--by", "x"], "no incident `NOPE`");
    refused(&["open", "INC-1"], "--by");
    ok(&[
        "open",
        "INC-1",
        "--by",
        "Keystone SOC",
        "--at",
        "2026-11-20T09:00:00Z",
        "--title",
        "Phish",
    ]);
    refused(&["open", "INC-1", "--by", "x"], "already exists");
    refused(
        &["ack", "INC-1", "--by", "Chris"],
        "`incident ack` needs `incident handoff` first (handed off to the contractor)",
    );
    refused(&["handoff", "INC-1", "--by", "  "], "--by is empty");
    refused(
        &[
            "handoff",
            "INC-1",
            "--by",
            "SOC",
            "--at",
            "2026-11-20T08:00:00Z",
        ],
        "`incident handoff` cannot be dated before the detection at 2026-11-20 04:00 EST (2026-11-20T09:00Z)",
    );
    refused(
        &[
            "handoff",
            "INC-1",
            "--by",
            "SOC",
            "--at",
            "2026-12-02T00:00:00Z",
        ],
        "ahead of the clock",
    );
    ok(&[
        "handoff",
        "INC-1",
        "--by",
        "Keystone SOC",
        "--at",
        "2026-11-20T10:00:00Z",
    ]);
    refused(
        &["handoff", "INC-1", "--by", "SOC"],
        "`incident handoff` (handed off to the contractor) was already recorded at 2026-11-20 05:00 EST (2026-11-20T10:00Z) by Keystone SOC",
    );
    ok(&[
        "ack",
        "INC-1",
        "--by",
        "Chris",
        "--at",
        "2026-11-20T10:15:00Z",
    ]);
    ok(&[
        "discover",
        "INC-1",
        "--by",
        "Chris",
        "--at",
        "2026-11-20T11:00:00Z",
        "--note",
        "CDI on the laptop",
    ]);
    refused(
        &["prime", "INC-1", "--by", "Chris"],
        "`incident prime` needs `incident report` first (reported to DoD (DIBNet))",
    );
    refused(
        &["report", "INC-1", "--by", "Chris", "--number", ""],
        "--number is empty",
    );
    let out = ok(&[
        "report",
        "INC-1",
        "--by",
        "Chris",
        "--number",
        "DIB-7",
        "--at",
        "2026-11-21T09:00:00Z",
    ]);
    assert!(out.contains("preserve media (90 days)"), "{out}");
    // The hold runs from the report; nobody has said yet that anything is kept.
    let unpreserved = "no `incident preserve` recorded";
    assert!(out.contains(unpreserved), "{out}");
    assert!(ok(&["list"]).contains(unpreserved));
    ok(&[
        "malware",
        "INC-1",
        "--by",
        "Chris",
        "--at",
        "2026-11-21T10:00:00Z",
    ]);
    ok(&[
        "prime",
        "INC-1",
        "--by",
        "Chris",
        "--at",
        "2026-11-21T11:00:00Z",
    ]);
    ok(&[
        "preserve",
        "INC-1",
        "--by",
        "Keystone SOC",
        "--at",
        "2026-11-21T12:00:00Z",
        // A note may start with a dash, as a pasted list item does.
        "--note",
        "-images on NAS-2",
    ]);
    let list = ok(&["list"]);
    assert!(list.contains("preserve media (90 days)"), "{list}");
    assert!(!list.contains(unpreserved), "{list}");
    refused(
        &["close", "INC-1", "--by", "Chris"],
        "must be kept until 2027-02-19 04:00 EST (2027-02-19T09:00Z)",
    );
    refused(&["close", "INC-1", "--by", "Chris", "--force"], "--reason");
    ok(&[
        "close",
        "INC-1",
        "--by",
        "Chris",
        "--force",
        "--reason",
        "DoD declined interest",
    ]);
    refused(&["malware", "INC-1", "--by", "Chris"], "closed");

    let show = ok(&["show", "INC-1"]);
    for line in [
        "detected",
        "handed off to the contractor",
        "acknowledged by the contractor",
        "discovered (determined reportable)",
        "reported to DoD (DIBNet)",
        "malicious software submitted to DC3",
        "report number given to the prime",
        "images and captures preserved",
        "closed",
        "report DIB-7",
        "closed during the media hold (DoD declined interest)",
        "preserve until: 2027-02-19 04:00 EST",
        "-images on NAS-2",
    ] {
        assert!(show.contains(line), "no `{line}` in:\n{show}");
    }
    assert!(ok(&["list"]).contains("no open incidents"));
}

#[test]
fn the_demo_shows_a_running_72_hour_clock() {
    let fixture = Fixture::new();
    let from = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo");
    let out = fixture.path("demo");
    let out = out.to_str().expect("utf-8");
    let output = fixture.run(&["demo", "--from", from, "--out", out]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("INC-2026-0007"), "{stdout}");
    let config = format!("{out}/dutywatch.toml");
    let output = fixture.run(&["incident", "list", "--config", &config]);
    let (list, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    // Rendered as of util::CLOCK: discovered 26 h before, detected 5 h before.
    assert!(
        list.contains("report to DoD (72 h)         due 2026-12-02 17:00 EST (2026-12-02T22:00Z)  46 hours left (from discovery)"),
        "{list}"
    );
    assert!(
        list.contains("67 hours left (from detection: discovery not recorded)"),
        "{list}"
    );
    assert!(list.contains("19 hours left"), "{list}");
    assert!(
        !list.contains("INC-2026-0005"),
        "a false positive opens no clock:\n{list}"
    );
    let mails: Vec<String> = std::fs::read_dir(format!("{out}/outbox"))
        .expect("outbox")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("mail"))
        .collect();
    let mail = mails
        .iter()
        .find(|m| m.contains("INC-2026-0007: 46 hours left"))
        .expect("the 24-hour warning of INC-2026-0007");
    assert!(
        mail.contains("harborforge-team@bluewater-msp.example"),
        "{mail}"
    );
    // Each incident is announced through its clocks alone: no ladder mail (the first run's
    // summaries, a lapse) tells of the same incidents again.
    for mail in &mails {
        let subject = mail
            .replace("\r\n ", " ")
            .lines()
            .find(|l| l.starts_with("Subject: "))
            .map(str::to_owned)
            .unwrap_or_default();
        if subject.starts_with("Subject: [dutywatch] INCIDENT ") {
            continue;
        }
        for id in ["INC-2026-0003", "INC-2026-0007", "INC-2026-0008"] {
            assert!(
                !mail.contains(id),
                "{id} is told again beside its incident warnings, in {subject}"
            );
        }
    }
    // The status the demo ends with lists each open incident's 72-hour clock.
    assert!(
        stdout.contains("67 hours left (from detection: discovery not recorded)"),
        "{stdout}"
    );
}

#[test]
fn defender_incidents_through_graph_open_a_clock_checked_every_five_minutes() {
    use std::os::unix::fs::PermissionsExt as _;

    use crate::util::graph_server::{CLIENT_ID, GraphServer, TENANT};
    const SECRET: &str = "Zp3~incident-test-secret";
    let server = GraphServer::start(SECRET);
    server.set_pages(
        "/v1.0/security/incidents",
        vec![vec![serde_json::json!({
            "id": "2972395", "displayName": "Multi-stage incident", "status": "active",
            "severity": "High", "classification": "truePositive",
            "createdDateTime": "2026-11-23T08:40:00.5533333Z", "customTags": []
        })]],
    );
    let now = at("2026-11-23T09:00:00Z");
    let fixture = fixture(now);
    let secret = fixture.write("graph-secret", &format!("{SECRET}\n"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = std::fs::read_to_string(fixture.config_path()).expect("config");
    let file_source = "kind = \"file\"\nevidence = \"incident\"\npath = \"evidence/defender.json\"\nrecords = \"value\"";
    assert!(config.contains(file_source));
    let config = config
        .replace(
            file_source,
            &format!(
                "kind = \"graph\"\nevidence = \"incident\"\ntenant = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\n\
                 client_secret = {{ file = \"{}\" }}\npath = \"/v1.0/security/incidents\"\n\
                 graph_url = \"{}\"\ntoken_url = \"{}\"",
                secret.display(),
                server.base,
                server.token_url()
            ),
        )
        // Collected daily: the clocks are still checked every five minutes.
        .replace("schedule = \"*/5 * * * *\"", "schedule = \"0 6 * * *\"");
    fixture.write("dutywatch.toml", &config);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    let opened = open_incidents(&fixture);
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].incident.id, "2972395");
    assert_eq!(opened[0].opened_by, "defender");
    assert_eq!(
        daemon.next_wake(),
        at("2026-11-23T09:05:00Z"),
        "the incident check, before the 15-minute evaluation"
    );
    // 4-hour hand-off from 08:40:00 (the fraction read as the second it is in).
    daemon.step(at("2026-11-23T12:35:00Z")).expect("step");
    assert!(incident_mails(&fixture).is_empty());
    daemon.step(at("2026-11-23T12:40:00Z")).expect("step");
    assert_eq!(
        incident_mails(&fixture),
        [(
            "escalation@keystone.example, it@acme.example".to_owned(),
            "[dutywatch] INCIDENT 2972395: hand-off to the contractor overdue".to_owned()
        )]
    );
}

#[test]
fn defender_through_graph_and_its_sentinel_mirror_through_arm_are_one_incident() {
    use crate::util::arm_server::{self, RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, incidents_path};
    use crate::util::graph_server::GraphServer;
    use crate::util::ms_fixture::{self, SECRET, api_source};

    let graph = GraphServer::start(SECRET);
    graph.set_pages(
        "/v1.0/security/incidents",
        vec![vec![serde_json::json!({
            "id": "2972395", "displayName": "Multi-stage incident", "status": "Active",
            "severity": "High", "classification": "TruePositive",
            "createdDateTime": "2026-11-23T08:40:00Z", "redirectIncidentId": null, "customTags": []
        })]],
    );
    let arm = arm_server::start(SECRET);
    let mut mirrored = arm_server::incident("73e01a99", "New", "High", "2026-11-23T08:38:00Z");
    mirrored["properties"]["classification"] = "TruePositive".into();
    mirrored["properties"]["providerName"] = "Microsoft 365 Defender".into();
    mirrored["properties"]["providerIncidentId"] = "2972395".into();
    let mut native = arm_server::incident("5b2c", "New", "Medium", "2026-11-23T08:50:00Z");
    native["properties"]["classification"] = "Undetermined".into();
    native["properties"]["providerName"] = "Azure Sentinel".into();
    native["properties"]["providerIncidentId"] = "3177".into();
    arm.set_pages(&incidents_path(), vec![vec![mirrored], vec![native]]);

    let extra = api_source(
        &graph,
        "defender",
        "graph",
        "incident",
        "resource = \"securityIncidents\"",
    ) + &api_source(
        &arm,
        "sentinel",
        "arm",
        "incident",
        &format!(
            "resource = \"sentinelIncidents\"\nsubscription = \"{SUBSCRIPTION}\"\nresource_group = \"{RESOURCE_GROUP}\"\nworkspace = \"{WORKSPACE}\""
        ),
    );
    let now = at("2026-11-23T09:00:00Z");
    let fixture = ms_fixture::fixture(now, &extra);
    let mut engine = ms_fixture::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let config = fixture.load();
    let summary = dutywatch::incident::tick(engine.store_mut(), &config, now).expect("tick");
    assert_eq!(summary.opened, 2, "{summary:?}");
    let incidents = engine.store().incidents("acme").expect("incidents");
    let ids: Vec<&str> = incidents.iter().map(|s| s.incident.id.as_str()).collect();
    assert_eq!(ids, ["2972395", "5b2c"]);
    let merged = &incidents[0];
    assert_eq!(
        merged.incident.detected_at(),
        Some(at("2026-11-23T08:38:00Z"))
    );
    let detected_by: Vec<&str> = merged
        .incident
        .entries
        .iter()
        .map(|e| e.by.as_str())
        .collect();
    assert_eq!(detected_by, ["sentinel", "defender"]);
    // Again at the next check: nothing new.
    let again = dutywatch::incident::tick(engine.store_mut(), &config, at("2026-11-23T09:05:00Z"))
        .expect("tick");
    assert_eq!((again.opened, again.steps, again.queued), (0, 0, 0));
}

#[test]
fn an_unacknowledged_handoff_and_the_end_of_preservation_reach_their_people_once() {
    let detected = at("2026-11-23T09:00:00Z");
    let fixture = fixture(detected);
    incident_at(
        &fixture,
        "2026-11-23T09:00:00Z",
        &["open", "INC-2", "--by", "Keystone SOC"],
    );
    incident_at(
        &fixture,
        "2026-11-23T10:00:00Z",
        &["handoff", "INC-2", "--by", "Keystone SOC"],
    );
    let mut daemon = start(&fixture, at("2026-11-23T11:55:00Z"));
    daemon.step(at("2026-11-23T11:55:00Z")).expect("step");
    assert!(
        incident_mails(&fixture).is_empty(),
        "the 2-hour acknowledgement runs"
    );
    daemon.step(at("2026-11-23T12:00:00Z")).expect("step");
    assert_eq!(
        incident_mails(&fixture),
        [(
            "ops@acme.example".to_owned(),
            "[dutywatch] INCIDENT INC-2: hand-off not acknowledged".to_owned()
        )]
    );
    incident_at(
        &fixture,
        "2026-11-23T12:10:00Z",
        &["ack", "INC-2", "--by", "Chris"],
    );
    incident_at(
        &fixture,
        "2026-11-23T15:00:00Z",
        &["report", "INC-2", "--by", "Chris", "--number", "DIB-9"],
    );
    // Report + 90 days = 2027-02-21T15:00Z; the reminder 14 days before.
    daemon.step(at("2027-02-07T14:55:00Z")).expect("step");
    assert_eq!(
        incident_mails(&fixture).len(),
        1,
        "{:#?}",
        incident_mails(&fixture)
    );
    daemon.step(at("2027-02-07T15:00:00Z")).expect("step");
    daemon.step(at("2027-02-08T15:00:00Z")).expect("step");
    let mails = fixture.mails();
    let reminders: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("preservation period ends in"))
        .collect();
    assert_eq!(reminders.len(), 1, "once");
    let reminder = reminders[0].replace("=\r\n", "").replace("=\n", "");
    assert!(
        reminder.contains("To: it@acme.example, team@keystone.example"),
        "{reminder}"
    );
    assert!(reminder.contains("ends in 14 days"), "{reminder}");
    // Nothing was recorded as preserved: the reminder asks for that first.
    assert!(
        reminder.contains(
            "No preservation is on record for this incident: record where the images and captures are kept with dutywatch incident preserve INC-2 --by NAME"
        ),
        "{reminder}"
    );
}

#[test]
fn status_lists_each_open_incidents_72_hour_clock_and_next_step() {
    let fixture = fixture(at("2026-11-27T00:00:00Z"));
    let incident = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "dutywatch.toml", "--by", "Keystone SOC"]);
        let output = fixture.run(&all);
        assert!(output.status.success(), "{args:?}: {}", text(&output).1);
    };
    // Detected 24 h before util::CLOCK, nothing else recorded: the 72 hours run from
    // detection, and the 4-hour hand-off is what is due first (long overdue).
    incident(&["open", "INC-A", "--at", "2026-11-30T00:00:00Z"]);
    // Handed off, acknowledged and discovered 90 h before util::CLOCK: the report is 18 h
    // overdue, counted from discovery.
    incident(&["open", "INC-B", "--at", "2026-11-27T00:00:00Z"]);
    incident(&["handoff", "INC-B", "--at", "2026-11-27T01:00:00Z"]);
    incident(&["ack", "INC-B", "--at", "2026-11-27T02:00:00Z"]);
    incident(&["discover", "INC-B", "--at", "2026-11-27T06:00:00Z"]);
    // Closed: not listed.
    incident(&["open", "INC-C", "--at", "2026-11-27T00:00:00Z"]);
    incident(&["close", "INC-C", "--force", "--reason", "not reportable"]);

    let output = fixture.run(&["status", "--config", "dutywatch.toml"]);
    let (status, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let section = status
        .split_once("2 open incident(s)")
        .map(|(_, section)| section.split("\n\n").next().unwrap_or(section))
        .unwrap_or_else(|| panic!("no incident section in:\n{status}"));
    let a = section.find("acme  INC-A").expect("INC-A");
    let b = section.find("acme  INC-B").expect("INC-B");
    let (inc_a, inc_b) = if a < b {
        (&section[a..b], &section[b..])
    } else {
        (&section[a..], &section[b..a])
    };
    // The lines `incident list` prints for the report clock.
    assert!(
        inc_a.contains(
            "report to DoD (72 h)         due 2026-12-02 19:00 EST (2026-12-03T00:00Z)  48 hours left (from detection: discovery not recorded)"
        ),
        "{inc_a}"
    );
    assert!(
        inc_a.contains(
            "next: hand it off to the contractor by 2026-11-29 23:00 EST (2026-11-30T04:00Z): dutywatch incident handoff INC-A --by NAME"
        ),
        "{inc_a}"
    );
    assert!(
        inc_b.contains("OVERDUE by 18 hours (from discovery)"),
        "{inc_b}"
    );
    assert!(
        inc_b.contains("next: report it to DoD through DIBNet by 2026-11-30 01:00 EST (2026-11-30T06:00Z): dutywatch incident report INC-B --number DIBNET-NUMBER --by NAME"),
        "{inc_b}"
    );
    assert!(!section.contains("INC-C"), "{section}");

    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--json"]);
    let (json, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    let incidents = json["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    let by_id = |id: &str| {
        incidents
            .iter()
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {incidents:#?}"))
    };
    let a = by_id("INC-A");
    assert_eq!(a["client"], "acme");
    assert_eq!(a["report_clock"]["hours_left"], 48.0);
    assert_eq!(a["report_clock"]["basis"], "detection");
    assert_eq!(a["report_clock"]["overdue"], false);
    assert_eq!(a["next_step"]["step"], "handed_off");
    assert_eq!(a["next_step"]["overdue"], true);
    let b = by_id("INC-B");
    assert_eq!(b["report_clock"]["hours_left"], -18.0);
    assert_eq!(b["report_clock"]["basis"], "discovery");
    assert_eq!(b["report_clock"]["overdue"], true);
    assert_eq!(b["next_step"]["step"], "reported");
    assert_eq!(
        b["next_step"]["command"],
        "dutywatch incident report INC-B --number DIBNET-NUMBER --by NAME"
    );
}

#[test]
fn steps_a_register_dates_ahead_of_the_clock_are_not_taken_as_done() {
    let now = at("2026-11-23T09:00:00Z");
    let fixture = fixture(now);
    // INC-7: discovered "next year", handed off and reported "next June" (typos); INC-8:
    // detected "in March".
    fixture.write_dated(
        "evidence/tickets.csv",
        "id,title,type,severity,detected_at,discovered_at,handed_off_at,acknowledged_at,reported_at\n\
         INC-7,Phish,incident,high,2026-11-23T08:00:00Z,2027-01-01T00:00:00Z,2027-06-20T00:00:00Z,2027-06-21T00:00:00Z,2027-06-25T00:00:00Z\n\
         INC-8,Malware,incident,high,2027-03-01T00:00:00Z,,,,\n",
        now,
    );
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    let open = open_incidents(&fixture);
    let by_id = |id: &str| {
        open.iter()
            .find(|s| s.incident.id == id)
            .unwrap_or_else(|| panic!("{id} is open: {open:#?}"))
            .incident
            .clone()
    };
    let inc7 = by_id("INC-7");
    // Nothing after detection is taken: the 72 hours run from detection, and the hand-off is
    // still due.
    assert_eq!(
        inc7.entries.iter().map(|e| e.step).collect::<Vec<_>>(),
        [dutywatch_checks::incident::Step::Detected],
        "{inc7:#?}"
    );
    assert_eq!(
        inc7.report_clock_start().map(|(at, _)| at),
        Some(at("2026-11-23T08:00:00Z"))
    );
    // A detection dated ahead starts the clock when it was first seen, and says so.
    let inc8 = by_id("INC-8");
    assert_eq!(inc8.detected_at(), Some(now), "{inc8:#?}");
    let note = inc8.entries[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("as 2027-03-01T00:00:00Z, which is ahead of the clock"),
        "{note}"
    );

    // The register corrected: INC-8 was detected at 07:00. The earlier detection counts.
    let corrected = at("2026-11-23T09:10:00Z");
    fixture.write_dated(
        "evidence/tickets.csv",
        "id,title,type,severity,detected_at,discovered_at,handed_off_at,acknowledged_at,reported_at\n\
         INC-7,Phish,incident,high,2026-11-23T08:00:00Z,2027-01-01T00:00:00Z,2027-06-20T00:00:00Z,2027-06-21T00:00:00Z,2027-06-25T00:00:00Z\n\
         INC-8,Malware,incident,high,2026-11-23T07:00:00Z,,,,\n",
        corrected,
    );
    daemon.step(corrected).expect("step");
    let inc8 = open_incidents(&fixture)
        .into_iter()
        .find(|s| s.incident.id == "INC-8")
        .expect("INC-8")
        .incident;
    assert_eq!(
        inc8.detected_at(),
        Some(at("2026-11-23T07:00:00Z")),
        "{inc8:#?}"
    );

    // Four hours on, both hand-offs are overdue and told.
    daemon.step(at("2026-11-23T13:05:00Z")).expect("step");
    let subjects: Vec<String> = incident_mails(&fixture)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert!(
        subjects
            .iter()
            .any(|s| s == "[dutywatch] INCIDENT INC-7: hand-off to the contractor overdue"),
        "{subjects:?}"
    );
}

#[test]
fn a_step_written_into_the_database_by_hand_breaks_evidence_verify() {
    let now = at("2026-11-23T09:00:00Z");
    let fixture = fixture(now);
    let mut daemon = start(&fixture, now);
    daemon.step(now).expect("step");
    incident_at(
        &fixture,
        "2026-11-23T09:00:00Z",
        &["open", "MAN-1", "--by", "Dana (IT)", "--title", "USB stick"],
    );
    incident_at(
        &fixture,
        "2026-11-23T10:00:00Z",
        &["handoff", "MAN-1", "--by", "Keystone SOC"],
    );
    let verify = || {
        let output = fixture.run(&["evidence", "verify", "--config", "dutywatch.toml"]);
        (output.status.code(), text(&output).0)
    };
    let (code, said) = verify();
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("incident timeline intact: 2 step(s) verified"),
        "{said}"
    );

    // A report dutywatch never recorded, written straight into the database.
    let db = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("db");
    db.execute(
        "INSERT INTO incident_steps (client, incident_id, step, at, by_whom, report_number,
                                     recorded_at)
         VALUES ('acme', 'MAN-1', 'reported', '2026-11-23T11:00:00Z', 'Dana', 'DIB-FAKE',
                 '2026-11-23T11:00:00Z')",
        [],
    )
    .expect("insert");
    let (code, said) = verify();
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(
            "incident timeline BROKEN at step 3: a step without a chain after chained ones"
        ),
        "{said}"
    );
    // The daemon's own check after its next pass finds it too (and puts it on the status line).
    daemon.step(at("2026-11-23T11:05:00Z")).expect("step");
    let (step, reason) = daemon.timeline_break().expect("the daemon sees the break");
    assert_eq!(*step, 3, "{reason}");
}

#[test]
fn a_late_report_stays_late_once_filed_and_media_are_not_released_before_the_hold_ends() {
    let fixture = fixture(at("2026-11-01T00:00:00Z"));
    let run = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "dutywatch.toml"]);
        let output = fixture.run(&all);
        let (stdout, stderr) = text(&output);
        (output.status.code(), stdout, stderr)
    };
    let ok = |args: &[&str]| {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        stdout
    };
    ok(&[
        "open",
        "INC-9",
        "--by",
        "SOC",
        "--at",
        "2026-10-31T03:30:00Z",
    ]);
    ok(&[
        "discover",
        "INC-9",
        "--by",
        "IT",
        "--at",
        "2026-10-31T05:30:00Z",
    ]);
    // Filed 25 hours after the 72 were up.
    ok(&[
        "report",
        "INC-9",
        "--by",
        "IT",
        "--number",
        "DIB-9",
        "--at",
        "2026-11-04T06:30:00Z",
    ]);
    let show = ok(&["show", "INC-9"]);
    assert!(
        show.contains(
            "done 2026-11-04 01:30 EST (2026-11-04T06:30Z), 25 hours LATE (from discovery)"
        ),
        "{show}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["show", "INC-9", "--json"])).expect("show --json");
    let report = json["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "report")
        .expect("the report clock");
    assert_eq!(report["missed_by_seconds"], 25 * 3600, "{report}");

    // The hold runs until report + 90 days (2027-02-02T06:30Z); releasing before needs a
    // reason on record.
    let (code, _, stderr) = run(&["release", "INC-9", "--by", "IT"]);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains(
            "cannot be released yet: images and captures must be kept until 2027-02-02 01:30 EST (2027-02-02T06:30Z)"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["release", "INC-9", "--by", "IT", "--force"]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--reason"), "{stderr}");
    ok(&[
        "release",
        "INC-9",
        "--by",
        "IT",
        "--force",
        "--reason",
        "DoD declined interest",
    ]);
    let show = ok(&["show", "INC-9"]);
    assert!(
        show.contains("released early (DoD declined interest)"),
        "{show}"
    );
    // Released at the clock (2026-12-01T00:00Z), 63 days 6 hours 30 minutes early.
    assert!(
        show.contains("63 days 6 hours before the hold ended"),
        "{show}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["show", "INC-9", "--json"])).expect("show --json");
    let hold = json["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["clock"] == "preservation")
        .expect("the preservation clock");
    assert_eq!(hold["missed_by_seconds"], serde_json::Value::Null, "{hold}");
    assert_eq!(
        hold["released_early_by_seconds"],
        (63 * 24 + 6) * 3600 + 30 * 60,
        "{hold}"
    );

    // Closed, it is still in the assessor's package, the late report and the early release
    // on record as missed deadlines.
    ok(&["close", "INC-9", "--by", "IT"]);
    let output = fixture.run(&["export", "--config", "dutywatch.toml", "--out", "package"]);
    assert!(output.status.success(), "{:?}", text(&output));
    let deadlines = std::fs::read_to_string(fixture.path("package/incident_deadlines.csv"))
        .expect("incident_deadlines.csv");
    let row = |deadline: &str| {
        deadlines
            .lines()
            .find(|l| l.starts_with(&format!("acme,INC-9,{deadline},")))
            .unwrap_or_else(|| panic!("no {deadline} row: {deadlines}"))
            .to_owned()
    };
    assert_eq!(
        row("report"),
        "acme,INC-9,report,2026-10-31T05:30:00Z,discovery,2026-11-03T05:30:00Z,\
         2026-11-03 00:30:00 EST,2026-11-04T06:30:00Z,2026-11-04 01:30:00 EST,missed,90000,"
    );
    // Releasing early is allowed once DoD declines interest: said as such, with the reason,
    // and that nothing was ever recorded as preserved.
    assert!(
        row("preservation").ends_with(&format!(
            ",released_early,{},no preservation of images or captures recorded; released early (DoD declined interest)",
            (63 * 24 + 6) * 3600 + 30 * 60
        )),
        "{deadlines}"
    );
    // Closed without a report: before the 72 hours were up (a false alarm), or after them.
    for (id, closed) in [
        ("INC-10", "2026-11-20T12:00:00Z"),
        ("INC-11", "2026-11-24T12:00:00Z"),
    ] {
        // A title as a SIEM might carry it, a formula to a spreadsheet.
        let title = format!("=HYPERLINK(\"http://evil.example/{id}\")");
        ok(&[
            "open",
            id,
            "--by",
            "SOC",
            "--at",
            "2026-11-20T00:00:00Z",
            "--title",
            &title,
        ]);
        ok(&["discover", id, "--by", "IT", "--at", "2026-11-20T06:00:00Z"]);
        ok(&[
            "close",
            id,
            "--by",
            "IT",
            "--at",
            closed,
            "--force",
            "--reason",
            "not a cyber incident after all",
        ]);
    }
    // Reported in time four months ago: the hold has ended, which is no deadline missed.
    ok(&[
        "open",
        "INC-13",
        "--by",
        "SOC",
        "--at",
        "2026-07-30T00:00:00Z",
    ]);
    ok(&[
        "discover",
        "INC-13",
        "--by",
        "IT",
        "--at",
        "2026-07-31T00:00:00Z",
    ]);
    ok(&[
        "report",
        "INC-13",
        "--by",
        "IT",
        "--number",
        "DIB-13",
        "--at",
        "2026-08-01T00:00:00Z",
    ]);
    let show = ok(&["show", "INC-13"]);
    let hold = show
        .lines()
        .find(|l| l.trim_start().starts_with("preserve media"))
        .unwrap_or_else(|| panic!("no hold line: {show}"));
    assert!(
        hold.ends_with("hold ended 32 days ago: the media may be released"),
        "{show}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["show", "INC-13", "--json"])).expect("show --json");
    let clock = |name: &str| {
        json["clocks"]
            .as_array()
            .expect("clocks")
            .iter()
            .find(|c| c["clock"] == name)
            .unwrap_or_else(|| panic!("no {name} clock: {json}"))
            .clone()
    };
    // The same reading in the JSON: the ended hold is not overdue; the hand-off never
    // recorded is.
    assert_eq!(clock("preservation")["overdue"], false, "{json}");
    assert_eq!(clock("handoff")["overdue"], true, "{json}");
    // Reported in time, then closed by force ten days into the media hold.
    ok(&[
        "open",
        "INC-12",
        "--by",
        "SOC",
        "--at",
        "2026-11-20T00:00:00Z",
    ]);
    ok(&[
        "discover",
        "INC-12",
        "--by",
        "IT",
        "--at",
        "2026-11-20T06:00:00Z",
    ]);
    ok(&[
        "report",
        "INC-12",
        "--by",
        "IT",
        "--number",
        "DIB-12",
        "--at",
        "2026-11-21T00:00:00Z",
    ]);
    ok(&[
        "close",
        "INC-12",
        "--by",
        "IT",
        "--at",
        "2026-12-01T00:00:00Z",
        "--force",
        "--reason",
        "customer request",
    ]);
    let output = fixture.run(&["export", "--config", "dutywatch.toml", "--out", "package"]);
    assert!(output.status.success(), "{:?}", text(&output));
    let deadlines = std::fs::read_to_string(fixture.path("package/incident_deadlines.csv"))
        .expect("incident_deadlines.csv");
    let hold = deadlines
        .lines()
        .find(|l| l.starts_with("acme,INC-12,preservation,"))
        .unwrap_or_else(|| panic!("no INC-12 hold row: {deadlines}"));
    // The close's words about the hold are the hold's: the hand-off row it also ended does
    // not carry them.
    let handoff = deadlines
        .lines()
        .find(|l| l.starts_with("acme,INC-12,handoff,"))
        .unwrap_or_else(|| panic!("no INC-12 hand-off row: {deadlines}"));
    assert!(!handoff.contains("media hold"), "{handoff}");
    // The hold ran to 2027-02-19T00:00Z: broken off 80 days early, with the close's reason.
    assert!(
        hold.contains(&format!(",closed_during_hold,{},", 80 * 86_400))
            && hold.ends_with("(customer request)"),
        "{hold}"
    );
    assert!(
        deadlines
            .contains("acme,INC-13,preservation,2026-08-01T00:00:00Z,report,2026-10-30T00:00:00Z,"),
        "{deadlines}"
    );
    assert!(
        deadlines
            .lines()
            .any(|l| l.starts_with("acme,INC-13,preservation,") && l.ends_with(",not_preserved,,")),
        "{deadlines}"
    );
    let report = |id: &str| {
        deadlines
            .lines()
            .find(|l| l.starts_with(&format!("acme,{id},report,")))
            .unwrap_or_else(|| panic!("no {id} report row: {deadlines}"))
            .to_owned()
    };
    assert!(
        report("INC-10").ends_with(
            ",closed_before_due,,closed without a report to DoD (not a cyber incident after all)"
        ),
        "{deadlines}"
    );
    // Due 2026-11-23T06:00Z, closed 30 hours later without a report: late, not early.
    assert!(
        report("INC-11").contains(&format!(",missed_not_done,{},", 30 * 3600))
            && report("INC-11")
                .ends_with(",closed without a report to DoD (not a cyber incident after all)"),
        "{deadlines}"
    );
    // A closed incident has nothing overdue: its clocks stopped at its close.
    assert!(
        !deadlines
            .lines()
            .filter(|l| !l.starts_with("acme,INC-13,"))
            .any(|l| l.contains(",overdue,")),
        "{deadlines}"
    );
    let timeline = std::fs::read_to_string(fixture.path("package/incident_timeline.csv"))
        .expect("incident_timeline.csv");
    let steps: Vec<&str> = timeline
        .lines()
        .filter(|l| l.starts_with("acme,INC-9,"))
        .map(|l| l.split(',').nth(7).expect("the step column"))
        .collect();
    assert_eq!(
        steps,
        ["detected", "discovered", "reported", "released", "closed"],
        "{timeline}"
    );
    assert!(
        timeline.contains(",reported,2026-11-04T06:30:00Z,2026-11-04 01:30:00 EST,IT,DIB-9,"),
        "{timeline}"
    );
    // Shown as text by a spreadsheet, never run as a formula.
    assert!(
        timeline.contains(",\"'=HYPERLINK(\"\"http://evil.example/INC-10\"\")\",")
            && !timeline.contains(",\"=HYPERLINK"),
        "{timeline}"
    );

    // `incident show` of a closed incident says what became of each deadline, as the
    // package does.
    let show = ok(&["show", "INC-11"]);
    assert!(
        show.contains("deadlines as closed at ")
            && show.contains("missed: never done, closed 30 hours after it was due"),
        "{show}"
    );

    // The one-page package says the same of each incident, from the same judgement.
    let output = fixture.run(&[
        "export",
        "--config",
        "dutywatch.toml",
        "--format",
        "html",
        "--out",
        "page",
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let page = std::fs::read_to_string(fixture.path("page/index.html")).expect("index.html");
    let incident = |id: &str| {
        let from = page
            .find(&format!("<p id=\"incident-{id}\">"))
            .unwrap_or_else(|| panic!("no {id} on the page"));
        let rest = &page[from..];
        let end = rest[1..]
            .find("<p id=\"incident-")
            .map_or(rest.len(), |i| i + 1);
        rest[..end].to_owned()
    };
    let late = incident("INC-11");
    assert!(
        late.contains("<td>report to DoD (72 h)</td><td>discovery</td>")
            && late.contains("class=\"state lapsed\">missed: never done</td><td>closed 30 hours after it was due</td><td>closed without a report to DoD (not a cyber incident after all)</td>"),
        "{late}"
    );
    let hold = incident("INC-12");
    assert!(
        !hold.contains("also known as"),
        "its own id is no alias: {hold}"
    );
    assert!(
        hold.contains(">hold broken off by the close</td><td>80 days before the hold ended</td><td>no preservation of images or captures recorded; closed during the media hold (customer request)</td>"),
        "{hold}"
    );
    assert!(
        incident("INC-13")
            .contains("class=\"state lapsed\">no preservation of the media on record</td>"),
        "{}",
        incident("INC-13")
    );
    // The timeline in words, as `incident show` says each step.
    assert!(
        late.contains("<td>discovered (determined reportable)</td>"),
        "{late}"
    );
    // A title from a SIEM is text on the page too.
    assert!(
        incident("INC-10").contains("=HYPERLINK(&quot;http://evil.example/INC-10&quot;)"),
        "{}",
        incident("INC-10")
    );
}

#[test]
fn a_contractors_incidents_are_told_in_its_own_zone() {
    let fixture = fixture(at("2026-11-01T00:00:00Z"));
    let config = std::fs::read_to_string(fixture.config_path()).expect("config");
    fixture.write(
        "dutywatch.toml",
        &config.replacen(
            "[[contractor]]",
            "[[contractor]]\ntimezone = \"Asia/Kathmandu\"",
            1,
        ),
    );
    let run = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "dutywatch.toml"]);
        let output = fixture.run(&all);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{args:?}: {stderr}");
        stdout
    };
    let opened = run(&[
        "open",
        "INC-K",
        "--by",
        "SOC",
        "--at",
        "2026-11-30T03:30:00Z",
    ]);
    assert!(opened.contains("2026-11-30 09:15 +0545"), "{opened}");
    // `list` covers every client, so its heading keeps the config's zone; each incident's
    // clocks are its contractor's.
    let list = run(&["list"]);
    let (_, incident) = list.split_once("acme  INC-K").expect("listed");
    for output in [run(&["show", "INC-K"]).as_str(), incident] {
        assert!(output.contains("+0545"), "{output}");
        assert!(!output.contains(" EST"), "{output}");
    }
}

#[test]
fn warnings_a_later_step_answers_are_cancelled_before_they_go_out() {
    let fixture = fixture(at("2026-11-20T00:00:00Z"));
    let incident = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "dutywatch.toml"]);
        let output = fixture.run(&all);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{args:?}: {stderr}");
        stdout
    };
    // Recorded after the fact: opened days ago, so its hand-off and report warnings are due
    // (and queued) the moment it is opened...
    let opened = incident(&[
        "open",
        "INC-T1",
        "--by",
        "SOC",
        "--at",
        "2026-11-25T10:00:00Z",
    ]);
    assert!(opened.contains("queued"), "{opened}");
    // ...and answered by the steps recorded right after.
    incident(&[
        "discover",
        "INC-T1",
        "--by",
        "IT",
        "--at",
        "2026-11-25T12:00:00Z",
    ]);
    incident(&[
        "handoff",
        "INC-T1",
        "--by",
        "SOC",
        "--at",
        "2026-11-25T11:00:00Z",
    ]);
    incident(&[
        "ack",
        "INC-T1",
        "--by",
        "IT",
        "--at",
        "2026-11-25T11:30:00Z",
    ]);
    incident(&[
        "report",
        "INC-T1",
        "--by",
        "IT",
        "--number",
        "DIB-1",
        "--at",
        "2026-11-27T10:00:00Z",
    ]);
    let before = fixture.mails().len();
    let run = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(run.status.success(), "{}", text(&run).1);
    let sent: Vec<(String, String)> = incident_mails(&fixture)
        .into_iter()
        .filter(|(_, subject)| subject.contains("INC-T1"))
        .collect();
    assert!(
        sent.is_empty(),
        "nothing of INC-T1 is overdue any more: {sent:#?} ({} mails before)",
        before
    );
    // Another incident's waiting warnings are its own, however alike the ids.
    incident(&[
        "open",
        "INC-T2:b",
        "--by",
        "SOC",
        "--at",
        "2026-11-25T10:00:00Z",
    ]);
    incident(&[
        "open",
        "inc-t2",
        "--by",
        "SOC",
        "--at",
        "2026-11-25T10:00:00Z",
    ]);
    incident(&[
        "close",
        "inc-t2",
        "--by",
        "IT",
        "--force",
        "--reason",
        "a duplicate",
    ]);
    let run = fixture.run(&["once", "--config", "dutywatch.toml"]);
    assert!(run.status.success(), "{}", text(&run).1);
    assert!(
        incident_mails(&fixture)
            .iter()
            .any(|(_, subject)| subject.contains("INC-T2:b")),
        "{:#?}",
        incident_mails(&fixture)
    );
}

#[test]
fn a_client_that_cannot_be_judged_does_not_hold_back_the_incident_clocks() {
    let fixture = fixture(at("2026-11-23T09:00:00Z"));
    incident_at(
        &fixture,
        "2026-11-23T09:00:00Z",
        &["open", "INC-2", "--by", "Keystone SOC"],
    );
    incident_at(
        &fixture,
        "2026-11-23T10:00:00Z",
        &["handoff", "INC-2", "--by", "Keystone SOC"],
    );
    let mut daemon = start(&fixture, at("2026-11-23T11:55:00Z"));
    daemon.step(at("2026-11-23T11:55:00Z")).expect("step");
    // A row of one of its duties no longer reads: the pass fails for it, every pass.
    rusqlite::Connection::open(fixture.path("state/dutywatch.db"))
        .expect("open")
        .execute_batch("UPDATE duty_state SET state = 'waived' WHERE duty = 'access-review'")
        .expect("damage");
    let failed = daemon.step(at("2026-11-23T12:00:00Z"));
    assert!(failed.is_err(), "the damaged duty is an error");
    // The 2-hour acknowledgement clock ran out all the same, and its warning went out.
    assert_eq!(
        incident_mails(&fixture),
        [(
            "ops@acme.example".to_owned(),
            "[dutywatch] INCIDENT INC-2: hand-off not acknowledged".to_owned()
        )]
    );
}

/// An incident is held to the hours in force when it opened: tightening the hand-off in the
/// config afterwards neither makes its hand-off late in `incident show` nor in the assessor's
/// package, and `show` says what the config says now and that new incidents get it.
#[test]
fn an_incident_keeps_the_hours_it_opened_under_when_the_config_changes() {
    let fixture = fixture(at("2026-11-20T09:00:00Z"));
    let run = |args: &[&str]| {
        let output = fixture.run(args);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{args:?}: {stderr}");
        stdout
    };
    for step in [
        [
            "open",
            "INC-5",
            "--by",
            "Keystone SOC",
            "--at",
            "2026-11-20T09:00:00Z",
        ],
        [
            "handoff",
            "INC-5",
            "--by",
            "Keystone SOC",
            "--at",
            "2026-11-20T12:00:00Z",
        ],
    ] {
        let mut args = vec!["incident"];
        args.extend(step);
        args.extend(["--config", "dutywatch.toml"]);
        run(&args);
    }
    // The CRM is renegotiated: a 2-hour hand-off from now on.
    let config = std::fs::read_to_string(fixture.config_path()).expect("config");
    fixture.write(
        "dutywatch.toml",
        &config.replace("handoff_within = \"4h\"", "handoff_within = \"2h\""),
    );

    let show = run(&["incident", "show", "INC-5", "--config", "dutywatch.toml"]);
    assert!(
        show.contains(
            "held to:        hand-off within 4 hours, acknowledgement within 2 hours, \
             no prime to notify (fixed when it opened)"
        ) && show.contains(
            "the config now says hand-off within 2 hours, acknowledgement within 2 hours, \
             no prime to notify: incidents opened from now on are held to that"
        ),
        "{show}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&[
        "incident",
        "show",
        "INC-5",
        "--json",
        "--config",
        "dutywatch.toml",
    ]))
    .expect("json");
    assert_eq!(json["terms"]["handoff_within_secs"], 4 * 3600, "{json}");
    assert_eq!(json["terms"]["fixed_when_opened"], true, "{json}");

    run(&["export", "--config", "dutywatch.toml", "--out", "package"]);
    let deadlines = std::fs::read_to_string(fixture.path("package/incident_deadlines.csv"))
        .expect("incident_deadlines.csv");
    let handoff = deadlines
        .lines()
        .find(|l| l.starts_with("acme,INC-5,handoff,"))
        .unwrap_or_else(|| panic!("no hand-off row: {deadlines}"));
    // Due 4 hours after detection (13:00Z), done at 12:00Z: kept, not 1 hour late.
    assert!(
        handoff.contains(",2026-11-20T13:00:00Z,") && handoff.contains(",kept,"),
        "{handoff}"
    );
}

/// A media hold with nothing recorded as preserved asks for the preservation first: the next
/// step `status` gives is `incident preserve`, not the release, and the assessor's package
/// says no preservation is on record; once it is, the next step is the release.
#[test]
fn a_hold_with_nothing_preserved_asks_for_the_preservation_before_the_release() {
    let fixture = fixture(at("2026-11-20T09:00:00Z"));
    let run = |args: &[&str]| {
        let output = fixture.run(args);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{args:?}: {stderr}");
        stdout
    };
    let step = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--by", "Chris", "--config", "dutywatch.toml"]);
        run(&all);
    };
    step(&["open", "INC-3", "--at", "2026-11-20T09:00:00Z"]);
    step(&["handoff", "INC-3", "--at", "2026-11-20T10:00:00Z"]);
    step(&["ack", "INC-3", "--at", "2026-11-20T10:30:00Z"]);
    step(&[
        "report",
        "INC-3",
        "--at",
        "2026-11-21T09:00:00Z",
        "--number",
        "DIB-77",
    ]);
    let next = |fixture: &Fixture| {
        let output = fixture.run(&["status", "--json", "--config", "dutywatch.toml"]);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        json["incidents"][0]["next_step"].clone()
    };
    let first = next(&fixture);
    assert_eq!(first["step"], "preserved", "{first}");
    assert_eq!(
        first["command"], "dutywatch incident preserve INC-3 --by NAME",
        "{first}"
    );
    let status = run(&["status", "--config", "dutywatch.toml"]);
    assert!(
        status.contains(
            "next: record where the images and captures are kept (they must be kept until "
        ) && status.contains(": dutywatch incident preserve INC-3 --by NAME"),
        "{status}"
    );
    run(&["export", "--config", "dutywatch.toml", "--out", "package"]);
    let deadlines = std::fs::read_to_string(fixture.path("package/incident_deadlines.csv"))
        .expect("incident_deadlines.csv");
    let hold = deadlines
        .lines()
        .find(|l| l.starts_with("acme,INC-3,preservation,"))
        .unwrap_or_else(|| panic!("no preservation row: {deadlines}"));
    assert!(hold.ends_with(",not_preserved,,"), "{hold}");

    step(&[
        "preserve",
        "INC-3",
        "--at",
        "2026-11-21T10:00:00Z",
        "--note",
        "NAS-2",
    ]);
    let then = next(&fixture);
    assert_eq!(then["step"], "released", "{then}");
    run(&["export", "--config", "dutywatch.toml", "--out", "package"]);
    let deadlines = std::fs::read_to_string(fixture.path("package/incident_deadlines.csv"))
        .expect("incident_deadlines.csv");
    assert!(
        !deadlines.contains("no preservation of images or captures recorded"),
        "{deadlines}"
    );
    // The hold's row says when the media were preserved, by whom and where.
    let hold = deadlines
        .lines()
        .find(|l| l.starts_with("acme,INC-3,preservation,"))
        .unwrap_or_else(|| panic!("no preservation row: {deadlines}"));
    assert!(
        hold.ends_with(",holding,,preserved 2026-11-21T10:00:00Z by Chris (NAS-2)"),
        "{hold}"
    );
}

/// A title with ESC sequences, a CR and an LF (a ticket someone wrote, an API's text) cannot
/// recolour the terminal or forge a line: `once`, `incident list` and the mail show it with
/// those characters written out, and a `--note` typed with them is kept the same way.
#[test]
fn control_characters_in_an_incidents_texts_are_written_out_not_sent_to_the_terminal() {
    let now = at("2026-11-30T23:00:00Z");
    let fixture = fixture(now);
    fixture.write_dated(
        "evidence/tickets.csv",
        &format!(
            "{TICKETS_HEADER}T-1,\"Phish\u{1b}[31mRED\u{1b}[0m\r\n  acme  mfa-registered  met  forged\",incident,high,2026-11-30T17:00:00Z\n"
        ),
        now,
    );
    let output = fixture.run(&["once", "--config", "dutywatch.toml"]);
    let (once, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let list = fixture.run(&["incident", "list", "--config", "dutywatch.toml"]);
    let (list, _) = text(&list);
    let output = fixture.run(&[
        "incident",
        "handoff",
        "T-1",
        "--by",
        "SOC\u{1b}[2J",
        "--note",
        "line one\nacme  mfa-registered  met",
        "--config",
        "dutywatch.toml",
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let show = fixture.run(&["incident", "show", "T-1", "--config", "dutywatch.toml"]);
    let (show, _) = text(&show);
    // The mails as their text reads, quoted-printable soft line breaks joined.
    let mails: String = fixture
        .mails()
        .iter()
        .filter(|mail| mail.contains("INCIDENT T-1"))
        .map(|mail| mail.replace("=\r\n", "").replace("=\n", ""))
        .collect();
    // The hand-off is 6 hours overdue: the MSP's backup contacts were told, with the title.
    assert!(mails.contains(r"Phish\u{1b}[31mRED"), "{mails}");
    assert!(
        !mails.contains("=1B"),
        "an ESC in quoted-printable: {mails}"
    );
    for (what, out) in [
        ("once", &once),
        ("list", &list),
        ("show", &show),
        ("mail", &mails),
    ] {
        assert!(
            !out.contains('\u{1b}') && !out.contains("\r\n  acme  mfa-registered  met  forged"),
            "{what}: {out:?}"
        );
    }
    assert!(
        list.contains(r"Phish\u{1b}[31mRED\u{1b}[0m\r\n  acme"),
        "{list}"
    );
    assert!(
        show.contains(r"by SOC\u{1b}[2J")
            && show.contains(r"(line one\nacme  mfa-registered  met)"),
        "{show}"
    );

    // An id typed with them is kept and found the same way; a report number of line ends
    // alone is still empty.
    let typed = "EVIL\u{1b}[31mX\nacme  met";
    let run = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "dutywatch.toml"]);
        fixture.run(&all)
    };
    assert!(run(&["open", typed, "--by", "Chris"]).status.success());
    let (list, _) = text(&run(&["list"]));
    assert!(
        !list.contains('\u{1b}') && list.contains(r"EVIL\u{1b}[31mX\nacme  met"),
        "{list:?}"
    );
    assert!(run(&["show", typed]).status.success());
    let refused = run(&["report", typed, "--by", "Chris", "--number", "\r"]);
    let (_, stderr) = text(&refused);
    assert!(
        !refused.status.success() && stderr.contains("--number is empty"),
        "{stderr}"
    );
}
