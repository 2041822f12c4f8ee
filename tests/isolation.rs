//! MSP mode: one client's broken config is quarantined, the others keep running; a reload
//! applies per client. The contractor perspective stays all-or-nothing.

use std::sync::Arc;

use dutywatch::config::{self, CLIENT_CONFIG_DUTY};
use dutywatch::daemon::Daemon;
use dutywatch::engine::Engine;
use dutywatch::status::{self, Filter};
use dutywatch::store::Store;
use dutywatch_checks::verdict::StateKind;

use crate::perspective::msp_fixture;
use crate::util::{self, Fixture, at, text};

const NOW: &str = "2026-11-23T15:00:00Z";

fn engine(fixture: &Fixture) -> Engine {
    let config = fixture.load();
    Engine::new(
        Arc::new(config),
        Store::open(&fixture.path("state/msp.db")).expect("store"),
    )
}

fn quarantine_mails(fixture: &Fixture) -> Vec<String> {
    fixture
        .mails()
        .into_iter()
        .filter(|m| m.contains("CLIENT QUARANTINED"))
        .collect()
}

fn back_to_normal_mails(fixture: &Fixture) -> Vec<String> {
    fixture
        .mails()
        .into_iter()
        .filter(|m| m.contains("CLIENT BACK TO NORMAL"))
        .collect()
}

/// Appends a duty to the last client in the fixture's config (birch).
fn add_birch_duty(fixture: &Fixture, duty: &str) {
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write("dutywatch.toml", &format!("{text}\n{duty}"));
}

#[test]
fn a_client_whose_crm_file_is_missing_is_quarantined_and_the_other_is_evaluated_and_mailed() {
    let fixture = msp_fixture();
    std::fs::remove_file(fixture.path("acme/crm.csv")).expect("remove");
    let config = fixture.load();
    let ids: Vec<&str> = config.contractors.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["birch"], "birch loads");
    assert_eq!(config.quarantined.len(), 1);
    let acme = &config.quarantined[0];
    assert_eq!(
        (acme.id.as_str(), acme.name.as_str()),
        ("acme", "Acme Machining")
    );
    assert!(!acme.last_good);
    assert!(
        acme.errors
            .iter()
            .any(|e| e.key == "contractor[acme].crm_file"
                && e.message.contains("cannot read the CRM")),
        "{:?}",
        acme.errors
    );

    let mut engine = engine(&fixture);
    let summary = engine.cycle(at(NOW)).expect("cycle");
    assert_eq!(summary.evaluated, 2, "birch's two MSP duties");
    let mails = fixture.mails();
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Birch Avionics") && m.contains("To: team-birch@keystone.example")),
        "birch is mailed as usual: {mails:#?}"
    );
    let quarantine = quarantine_mails(&fixture);
    assert_eq!(quarantine.len(), 1, "{mails:#?}");
    assert!(
        quarantine[0].contains("To: soc@keystone.example"),
        "{}",
        quarantine[0]
    );
    assert!(quarantine[0].contains("crm_file"), "{}", quarantine[0]);
    assert!(!quarantine[0].contains("team-birch"), "{}", quarantine[0]);

    // Decided once: more cycles, and a restart (a new engine on the same database), mail no more.
    engine.cycle(at("2026-11-23T15:15:00Z")).expect("cycle");
    drop(engine);
    let mut engine = self::engine(&fixture);
    engine.cycle(at("2026-11-23T15:30:00Z")).expect("cycle");
    assert_eq!(
        quarantine_mails(&fixture).len(),
        1,
        "a quarantine is mailed once"
    );
    assert_eq!(
        engine
            .store()
            .escalation_count(Some("acme"))
            .expect("count"),
        1
    );

    let report =
        status::report(engine.config(), engine.store(), &Filter::default()).expect("report");
    let row = report
        .duties
        .iter()
        .find(|r| r.contractor == "acme")
        .expect("a status row for the quarantined client");
    assert_eq!(row.duty, CLIENT_CONFIG_DUTY);
    assert_eq!(row.state, StateKind::SourceError);
    assert!(row.reason.starts_with("QUARANTINED"), "{}", row.reason);
    assert_eq!(report.quarantined.len(), 1);
    assert!(report.needs_attention());
    assert_eq!(
        report
            .duties
            .iter()
            .filter(|r| r.contractor == "birch")
            .count(),
        2
    );
}

#[test]
fn a_duty_naming_an_unknown_field_quarantines_only_its_client() {
    let fixture = msp_fixture();
    add_birch_duty(
        &fixture,
        r#"
[[contractor.duty]]
id = "mfa-typo"
title = "MFA, with a typo"
objectives = ["3.5.3"]
source = "mfa"
rule = "continuous"
check = "mfa_registred == true"
tolerance = "24h"
"#,
    );
    let config = fixture.load();
    let ids: Vec<&str> = config.contractors.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["acme"]);
    let birch = config.quarantined("birch").expect("birch is quarantined");
    let errors = config::ConfigErrors(birch.errors.clone()).to_string();
    assert!(
        errors.contains("contractor[birch].duty[mfa-typo]"),
        "{errors}"
    );
    assert!(errors.contains("mfa_registred"), "{errors}");

    let mut engine = engine(&fixture);
    assert_eq!(engine.cycle(at(NOW)).expect("cycle").evaluated, 2);
    let mails = fixture.mails();
    assert!(
        mails
            .iter()
            .any(|m| m.contains("MFA registered") && m.contains("To: team-acme@keystone.example")),
        "acme's MFA gap is still mailed: {mails:#?}"
    );
    let quarantine = quarantine_mails(&fixture);
    assert_eq!(quarantine.len(), 1);
    assert!(
        quarantine[0].contains("Birch Avionics"),
        "{}",
        quarantine[0]
    );
    assert!(quarantine[0].contains("mfa_registred"), "{}", quarantine[0]);
}

#[test]
fn problems_outside_any_client_still_fail_the_whole_msp_config() {
    // Clients hold no secrets: the one secret is the relay's password, shared by all, so a
    // missing one fails the config whole, as do the timezone and the MSP's contacts.
    let fixture = msp_fixture();
    std::fs::remove_file(fixture.path("acme/crm.csv")).expect("remove");
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let smtp = good.replace(
        "transport = \"file\"",
        "transport = \"smtp\"\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"dw\"\npassword = { env = \"DUTYWATCH_TEST_NO_SUCH_SECRET\" }",
    );
    for (what, text) in [
        ("secret", smtp),
        (
            "timezone",
            good.replace("timezone = \"UTC\"", "timezone = \"Mars/Olympus\""),
        ),
        (
            "msp contacts",
            good.replace(
                "contacts = [\"soc@keystone.example\"]",
                "contacts = [\"not an address\"]",
            ),
        ),
    ] {
        fixture.write("dutywatch.toml", &text);
        let errors = config::load(&fixture.config_path())
            .expect_err(what)
            .to_string();
        assert!(
            errors.contains("contractor[acme].crm_file"),
            "the client's problem is listed too ({what}): {errors}"
        );
    }
}

#[test]
fn the_contractor_perspective_stays_all_or_nothing() {
    let fixture = util::standard(at(NOW));
    std::fs::remove_file(fixture.path("crm.csv")).expect("remove");
    let errors = config::load(&fixture.config_path()).expect_err("refused whole");
    assert!(errors.to_string().contains("crm_file"), "{errors}");
}

#[test]
fn a_duty_may_not_take_the_reserved_client_config_id() {
    let fixture = msp_fixture();
    add_birch_duty(
        &fixture,
        r#"
[[contractor.duty]]
id = "client-config"
title = "Clash"
objectives = ["3.5.3"]
source = "mfa"
rule = "continuous"
check = "mfa_registered == true"
tolerance = "24h"
"#,
    );
    let config = fixture.load();
    let birch = config.quarantined("birch").expect("quarantined");
    assert!(
        birch
            .errors
            .iter()
            .any(|e| e.message.contains("is reserved")),
        "{:?}",
        birch.errors
    );
}

#[test]
fn check_config_and_status_name_the_quarantined_client() {
    let fixture = msp_fixture();
    std::fs::remove_file(fixture.path("acme/crm.csv")).expect("remove");
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("problem(s) in the configuration"),
        "{stderr}"
    );
    assert!(
        stderr.contains("contractor[acme].crm_file"),
        "every error: {stderr}"
    );
    assert!(
        stderr.contains("contractor acme (Acme Machining): QUARANTINED"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 client(s) quarantined (acme); the other 1 client(s) would run"),
        "{stderr}"
    );
    assert!(
        stdout.contains("contractor birch (Birch Avionics)"),
        "{stdout}"
    );
    assert!(!stdout.contains("configuration OK"), "{stdout}");

    // The daemon's pass records the quarantine; status shows it, from the config file.
    engine(&fixture).cycle(at(NOW)).expect("cycle");
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--exit-code"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("acme"))
        .unwrap_or_else(|| panic!("a line for acme: {stdout}"));
    assert!(line.contains("client-config"), "{line}");
    assert!(line.contains("source_error"), "{line}");
    assert!(line.contains("QUARANTINED"), "{line}");

    let output = fixture.run(&[
        "status",
        "--config",
        "dutywatch.toml",
        "--json",
        "--client",
        "acme",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["quarantined"][0]["contractor"], "acme");
    assert!(
        json["quarantined"][0]["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("crm_file")),
        "{json}"
    );
    assert_eq!(json["duties"][0]["duty"], CLIENT_CONFIG_DUTY);
    assert!(
        json["duties"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("none of its duties is watched")),
        "{json}"
    );
    assert_eq!(json["duties"][0]["state"], "source_error");
    assert!(json["duties"][0]["state_since"].is_string(), "{json}");

    // Hand-added evidence for a quarantined client is refused, saying why.
    fixture.write("roster.pdf", "%PDF-1.4 roster");
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--client",
        "acme",
        "--duty",
        "training",
        "--file",
        "roster.pdf",
    ]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("contractor `acme` is quarantined"),
        "{stderr}"
    );
}

#[test]
fn a_reload_keeps_a_broken_clients_last_good_config_and_a_fix_lifts_the_quarantine() {
    let fixture = msp_fixture();
    let now = at(NOW);
    let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), now).expect("starts");
    daemon.step(now).expect("step");
    assert!(quarantine_mails(&fixture).is_empty());

    // Break acme's CRM and, in the same edit, rename one of birch's duties.
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let crm = std::fs::read_to_string(fixture.path("acme/crm.csv")).expect("read");
    std::fs::remove_file(fixture.path("acme/crm.csv")).expect("remove");
    let edited = good
        .replace(
            "title = \"MFA registered\"",
            "title = \"MFA registered for everyone\"",
        )
        // And the MSP's escalation desk, in the same edit.
        .replacen(
            "contacts = [\"soc@keystone.example\"]",
            "contacts = [\"soc@keystone.example\"]\nbackup_contacts = [\"desk@keystone.example\"]",
            1,
        );
    fixture.write("dutywatch.toml", &edited);
    daemon
        .reload(at("2026-11-23T15:05:00Z"))
        .expect("a reload that breaks one client applies to the others");
    let config = Arc::clone(daemon.config());
    let acme = config.quarantined("acme").expect("acme is quarantined");
    assert!(acme.last_good, "acme keeps its last good config");
    let acme_running = config
        .contractors
        .iter()
        .find(|c| c.id == "acme")
        .expect("acme still runs");
    assert_eq!(
        acme_running.duty("mfa-registered").expect("duty").title,
        "MFA registered",
        "on its last good config, not the edit"
    );
    assert_eq!(
        acme_running
            .msp_backup_contacts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["desk@keystone.example"],
        "but with the MSP's desk of the edit: its block broke, not [msp]"
    );
    let birch = config
        .contractors
        .iter()
        .find(|c| c.id == "birch")
        .expect("birch");
    assert_eq!(
        birch.duty("mfa-registered").expect("duty").title,
        "MFA registered for everyone",
        "birch takes the new config"
    );

    let summary = daemon
        .step(at("2026-11-23T15:05:00Z"))
        .expect("step")
        .expect("work");
    assert_eq!(summary.evaluated, 4, "both clients are still evaluated");
    let quarantine = quarantine_mails(&fixture);
    assert_eq!(quarantine.len(), 1);
    assert!(
        quarantine[0].contains("last good configuration keeps running"),
        "{}",
        quarantine[0]
    );
    // `status` from the file alone says what the daemon recorded: acme still runs.
    let rows = status::rows(
        &fixture.load(),
        &Store::open_read_only(&fixture.path("state/msp.db")).expect("store"),
        &Filter::default(),
    )
    .expect("rows");
    let acme_row = rows.iter().find(|r| r.contractor == "acme").expect("acme");
    assert!(
        acme_row
            .reason
            .contains("its last good config keeps running"),
        "{}",
        acme_row.reason
    );
    // A second broken reload does not mail again.
    daemon.reload(at("2026-11-23T15:10:00Z")).expect("reload");
    daemon.step(at("2026-11-23T15:10:00Z")).expect("step");
    assert_eq!(quarantine_mails(&fixture).len(), 1);
    assert!(
        daemon
            .config()
            .quarantined("acme")
            .expect("still")
            .last_good
    );

    // Fixed: acme leaves quarantine and takes the edit.
    fixture.write("acme/crm.csv", &crm);
    daemon.reload(at("2026-11-23T15:20:00Z")).expect("reload");
    assert!(daemon.config().quarantined.is_empty());
    daemon.step(at("2026-11-23T15:20:00Z")).expect("step");
    let acme_now = daemon
        .config()
        .contractors
        .iter()
        .find(|c| c.id == "acme")
        .expect("acme")
        .duty("mfa-registered")
        .expect("duty")
        .title
        .clone();
    assert_eq!(acme_now, "MFA registered for everyone");
    let rows = daemon
        .engine()
        .store()
        .current_verdicts(Some("acme"))
        .expect("verdicts");
    assert!(
        rows.iter().all(|v| v.duty != CLIENT_CONFIG_DUTY),
        "the quarantine is over: {rows:?}"
    );
    // The MSP is told once that acme is back to normal, through the outbox.
    let back = back_to_normal_mails(&fixture);
    assert_eq!(back.len(), 1, "{:#?}", fixture.mails());
    assert!(back[0].contains("To: soc@keystone.example"), "{}", back[0]);
    assert!(back[0].contains("Acme Machining (acme)"), "{}", back[0]);
    let history = daemon
        .engine()
        .store()
        .history("acme", CLIENT_CONFIG_DUTY)
        .expect("history");
    let kinds: Vec<StateKind> = history.iter().map(|(_, v)| v.state.kind()).collect();
    assert!(
        kinds.ends_with(&[StateKind::SourceError, StateKind::Met]),
        "the lift is in the history: {kinds:?}"
    );
    daemon.step(at("2026-11-23T15:25:00Z")).expect("step");
    daemon.reload(at("2026-11-23T15:30:00Z")).expect("reload");
    daemon.step(at("2026-11-23T15:30:00Z")).expect("step");
    assert_eq!(back_to_normal_mails(&fixture).len(), 1, "told once");
    assert_eq!(quarantine_mails(&fixture).len(), 1);
}

#[test]
fn a_broken_client_keeps_its_last_good_config_across_a_restart() {
    let fixture = msp_fixture();
    let now = at(NOW);
    // A config that loads may still hold a secret in a comment: what is kept has none.
    let good = std::fs::read_to_string(fixture.config_path())
        .expect("read")
        .replacen(
            "[[contractor]]",
            "# client_secret = \"commented-hunter2\"  (the old way, before credentials)\n[[contractor]]",
            1,
        )
        .replacen(
            "contacts = [\"soc@keystone.example\"]",
            "contacts = [\"soc@keystone.example\"]\nbackup_contacts = [\"desk@keystone.example\"]",
            1,
        );
    fixture.write("dutywatch.toml", &good);
    {
        let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), now).expect("starts");
        daemon.step(now).expect("step");
    }
    // Acme's block breaks (a misspelt key, and a secret written where its reference goes)
    // while the daemon is down; the restart is a reboot, an upgrade.
    let broken = good.replacen(
        "name = \"Acme Machining\"",
        "name = \"Acme Machining\"\ntenant_rate_limt = \"hunter2-literal\"",
        1,
    );
    assert_ne!(broken, good);
    // The MSP's escalation desk changed meanwhile: that is the current file's, not the kept one's.
    let broken = broken.replacen("desk@keystone.example", "desk2@keystone.example", 1);
    fixture.write("dutywatch.toml", &broken);
    let later = at("2026-11-23T15:05:00Z");
    let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), later).expect("starts");
    let config = Arc::clone(daemon.config());
    let acme = config.quarantined("acme").expect("acme is quarantined");
    assert!(acme.last_good, "on the config it last loaded from");
    let restored = config
        .contractors
        .iter()
        .find(|c| c.id == "acme")
        .expect("acme runs");
    assert_eq!(
        restored
            .msp_backup_contacts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["desk2@keystone.example"]
    );
    let summary = daemon.step(later).expect("step").expect("work");
    assert_eq!(summary.evaluated, 4, "both clients are still evaluated");
    let quarantine = quarantine_mails(&fixture);
    assert_eq!(quarantine.len(), 1);
    assert!(
        quarantine[0].contains("last good configuration keeps running"),
        "{}",
        quarantine[0]
    );
    // `status` shows acme's duties as they run, beside the quarantine.
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--client", "acme"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("client-config") && stdout.contains("mfa-registered"),
        "{stdout}"
    );
    // What its mails say to run works on it too.
    let ack = fixture.run(&[
        "ack",
        "mfa-registered",
        "--client",
        "acme",
        "--by",
        "Dana",
        "--reason",
        "enrolling the last users",
        "--config",
        "dutywatch.toml",
    ]);
    assert!(ack.status.success(), "{:?}", text(&ack));
    // The database and its write-ahead log, as the daemon leaves them running.
    let stored: Vec<u8> = ["state/msp.db", "state/msp.db-wal"]
        .iter()
        .filter_map(|file| std::fs::read(fixture.path(file)).ok())
        .flatten()
        .collect();
    drop(daemon);
    for secret in ["hunter2-literal", "commented-hunter2"] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "`{secret}` is not in the database: neither a broken block nor a comment is kept"
        );
    }
}

#[test]
fn a_client_broken_from_the_start_is_not_watched_until_a_reload_fixes_it() {
    let fixture = msp_fixture();
    let crm = std::fs::read_to_string(fixture.path("acme/crm.csv")).expect("read");
    std::fs::remove_file(fixture.path("acme/crm.csv")).expect("remove");
    let now = at(NOW);
    let mut daemon = Daemon::start(fixture.config_path(), fixture.load(), now).expect("starts");
    let summary = daemon.step(now).expect("step").expect("work");
    assert_eq!(summary.evaluated, 2, "birch only");
    let quarantine = quarantine_mails(&fixture);
    assert_eq!(quarantine.len(), 1);
    assert!(
        quarantine[0].contains("None of its duties is watched"),
        "{}",
        quarantine[0]
    );

    fixture.write("acme/crm.csv", &crm);
    daemon.reload(at("2026-11-23T15:05:00Z")).expect("reload");
    assert!(daemon.config().quarantined.is_empty());
    let summary = daemon
        .step(at("2026-11-23T15:05:00Z"))
        .expect("step")
        .expect("work");
    assert_eq!(summary.evaluated, 4, "acme is watched again");
    let back = back_to_normal_mails(&fixture);
    assert_eq!(back.len(), 1, "{:#?}", fixture.mails());
    assert!(back[0].contains("To: soc@keystone.example"), "{}", back[0]);
    daemon.step(at("2026-11-23T15:20:00Z")).expect("step");
    assert_eq!(back_to_normal_mails(&fixture).len(), 1, "told once");

    // Broken anew: a second quarantine mail, and a second "back to normal" after the fix.
    std::fs::remove_file(fixture.path("acme/crm.csv")).expect("remove");
    daemon.reload(at("2026-11-23T15:30:00Z")).expect("reload");
    daemon.step(at("2026-11-23T15:30:00Z")).expect("step");
    assert_eq!(quarantine_mails(&fixture).len(), 2);
    fixture.write("acme/crm.csv", &crm);
    daemon.reload(at("2026-11-23T15:40:00Z")).expect("reload");
    daemon.step(at("2026-11-23T15:40:00Z")).expect("step");
    assert_eq!(back_to_normal_mails(&fixture).len(), 2);
}

/// Under a service manager the quarantined clients are in the `STATUS=` line, where
/// `systemctl status` shows them.
#[test]
fn the_service_status_line_names_the_quarantined_clients() {
    use std::os::unix::net::UnixDatagram;
    use std::process::{Command, Stdio};

    let fixture = msp_fixture();
    std::fs::remove_file(fixture.path("acme/crm.csv")).expect("remove");
    let socket_path = fixture.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .expect("timeout");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args(["run", "--config", "dutywatch.toml"])
        .current_dir(fixture.dir.path())
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("WATCHDOG_USEC")
        .env_remove("DUTYWATCH_CONFIG")
        .env_remove("STATE_DIRECTORY")
        .env("DUTYWATCH_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let mut seen = Vec::new();
    crate::service::wait_for(&socket, &mut seen, |m| {
        m.iter().any(|s| s.starts_with("STATUS="))
    });
    crate::service::signal(&child, "-TERM");
    let _ = child.wait();
    let status = seen
        .iter()
        .find(|s| s.starts_with("STATUS="))
        .expect("a status line");
    assert!(
        status.starts_with(
            "STATUS=1 client(s) QUARANTINED: acme (1 problem(s)) (run `dutywatch check-config`); last cycle"
        ),
        "{status}"
    );
}

#[test]
fn a_client_whose_stored_state_no_longer_reads_stops_neither_the_collection_nor_the_judging_of_the_others()
 {
    let fixture = msp_fixture();
    let mut engine = engine(&fixture);
    engine.cycle(at(NOW)).expect("first cycle");
    // acme's recorded verdicts are damaged (a newer version's rows, a bad restore).
    let db = rusqlite::Connection::open(fixture.path("state/msp.db")).expect("db");
    db.execute_batch("UPDATE duty_state SET state = 'waived' WHERE client = 'acme'")
        .expect("damage");
    drop(db);
    // birch's MFA export now has a user without MFA: new evidence, to be collected and judged.
    let later = at("2026-11-23T16:00:00Z");
    fixture.write_dated("birch/mfa.json", util::MFA_BAD, later);
    let runs = |source: &str| -> i64 {
        let db = rusqlite::Connection::open(fixture.path("state/msp.db")).expect("db");
        db.query_row(
            "SELECT count(*) FROM source_runs WHERE client = 'birch' AND source = ?1",
            [source],
            |row| row.get(0),
        )
        .expect("runs")
    };
    let before = runs("mfa");
    let error = engine
        .cycle(later)
        .expect_err("the pass says it could not judge acme");
    assert!(format!("{error:#}").contains("acme"), "{error:#}");
    // acme comes first, yet birch was collected and judged.
    assert_eq!(runs("mfa"), before + 1);
    let birch = engine
        .store()
        .current_verdicts(Some("birch"))
        .expect("birch's verdicts")
        .into_iter()
        .find(|v| v.duty == "mfa-registered")
        .expect("birch's MFA duty");
    assert_eq!(birch.evaluated_at, later);
    assert_ne!(
        birch.verdict.state.kind(),
        StateKind::Met,
        "{}",
        birch.verdict.reason
    );
}

#[test]
fn a_client_quarantined_for_a_secret_only_the_service_reads_shows_so_in_status() {
    let fixture = msp_fixture();
    // Birch's Graph source names a secret file that is not there (the service's credential,
    // say, which the person running `status` cannot read either).
    add_birch_duty(
        &fixture,
        r#"
[[contractor.source]]
id = "entra-users"
kind = "graph"
evidence = "mfa_registration"
tenant = "birch.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = { file = "/nonexistent/graph-secret" }
resource = "userRegistrationDetails"
schedule = "0 * * * *"
max_age = "2d"
"#,
    );
    let config = fixture.load();
    assert_eq!(
        config.quarantined.len(),
        1,
        "the daemon's load quarantines birch"
    );
    engine(&fixture).cycle(at(NOW)).expect("cycle");

    // `status` does not read secrets: birch's config loads there, yet its quarantine shows.
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--client", "birch"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("birch") && l.contains("client-config"))
        .unwrap_or_else(|| panic!("birch's quarantine: {stdout}"));
    assert!(line.contains("QUARANTINED"), "{line}");
    let output = fixture.run(&[
        "status",
        "--config",
        "dutywatch.toml",
        "--json",
        "--client",
        "birch",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["quarantined"][0]["contractor"], "birch", "{json}");
}

#[test]
fn a_typo_in_one_clients_block_quarantines_that_client_alone() {
    let fixture = msp_fixture();
    // Birch's block (the last): an unknown key, as `max_agee` for `max_age`.
    add_birch_duty(
        &fixture,
        r#"
[[contractor.source]]
id = "extra"
kind = "file"
evidence = "mfa_registration"
path = "birch/mfa.json"
schedule = "0 * * * *"
max_agee = "2d"
"#,
    );
    let config = fixture.load();
    let ids: Vec<&str> = config.contractors.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["acme"], "acme loads");
    assert_eq!(config.quarantined.len(), 1);
    let birch = &config.quarantined[0];
    assert_eq!(
        (birch.id.as_str(), birch.name.as_str()),
        ("birch", "Birch Avionics")
    );
    let said = birch.errors[0].to_string();
    assert!(
        said.contains(
            "contractor[birch].source[extra].max_agee: unknown field `max_agee`, expected one of"
        ) && said.contains("this source was not read"),
        "{said}"
    );
    // A wrong type is the same: that client's problem.
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &text.replace("max_agee = \"2d\"", "max_age = 5"),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = crate::util::text(&output);
    assert!(
        stderr.contains("contractor birch (Birch Avionics): QUARANTINED")
            && stderr
                .contains("contractor[birch].source[extra].max_age: invalid type: integer `5`"),
        "{stdout}{stderr}"
    );
    // The other client is judged as usual.
    engine(&fixture).cycle(at(NOW)).expect("cycle");
    let rows = status::rows(
        &fixture.load(),
        &Store::open(&fixture.path("state/msp.db")).expect("store"),
        &Filter::default(),
    )
    .expect("rows");
    assert!(
        rows.iter()
            .any(|r| r.contractor == "acme" && r.duty != CLIENT_CONFIG_DUTY)
    );
    assert!(
        rows.iter()
            .any(|r| r.contractor == "birch" && r.duty == CLIENT_CONFIG_DUTY)
    );
}

#[test]
fn a_client_removed_from_the_config_is_forgotten_and_its_threads_close() {
    let fixture = msp_fixture();
    let now = at(NOW);
    engine(&fixture).cycle(now).expect("cycle");
    let store = || Store::open(&fixture.path("state/msp.db")).expect("store");
    assert!(
        !store()
            .current_verdicts(Some("acme"))
            .expect("rows")
            .is_empty()
    );
    assert!(
        !store()
            .ladder_state("acme", now)
            .expect("ladder")
            .threads
            .is_empty()
    );

    // Acme's block taken out (the MSP no longer serves it).
    let text = std::fs::read_to_string(fixture.config_path()).expect("read");
    let acme = text
        .find("[[contractor]]\nid = \"acme\"")
        .expect("acme's block");
    let birch = text
        .find("[[contractor]]\nid = \"birch\"")
        .expect("birch's block");
    fixture.write(
        "dutywatch.toml",
        &format!("{}{}", &text[..acme], &text[birch..]),
    );
    let later = now + jiff::SignedDuration::from_hours(1);
    engine(&fixture).cycle(later).expect("cycle");
    assert!(
        store()
            .current_verdicts(Some("acme"))
            .expect("rows")
            .is_empty()
    );
    assert!(
        store()
            .ladder_state("acme", later)
            .expect("ladder")
            .threads
            .is_empty()
    );
    assert!(
        !store()
            .current_verdicts(Some("birch"))
            .expect("rows")
            .is_empty(),
        "birch stays"
    );
    assert!(
        !store()
            .history("acme", "mfa-registered")
            .expect("history")
            .is_empty(),
        "history stays"
    );
}
