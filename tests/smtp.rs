//! Escalations through a real SMTP server (aiosmtpd on loopback, see `util/smtp_server.py`).

use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use dutywatch::store::Store;
use jiff::Timestamp;

use crate::util::smtp_server::{Options, Received, ServerTls, SmtpServer};
use crate::util::test_pki::TestPki;
use crate::util::{self, MFA_BAD, at, text};

const USER: &str = "dutywatch";
const PASSWORD: &str = "s3cret-relay-pass";
const WRONG_PASSWORD: &str = "not-the-relay-pass";

/// `[mail]` keys for the test server: plain text is allowed because it is
/// on loopback.
fn smtp_mail(server: &SmtpServer, login: &str) -> String {
    format!(
        "transport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = \"5s\"\n{login}",
        server.port
    )
}

/// The standard fixture, mailing through `server`.
fn fixture(server: &SmtpServer, login: &str, now: Timestamp) -> util::Fixture {
    let fixture = util::standard(now);
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(&smtp_mail(server, login), ""),
    );
    fixture
}

fn by_subject<'a>(received: &'a [Received], needle: &str) -> &'a Received {
    received
        .iter()
        .find(|m| m.header("Subject").is_some_and(|s| s.contains(needle)))
        .unwrap_or_else(|| panic!("no mail about {needle}: {received:#?}"))
}

#[test]
fn an_escalation_reaches_the_relay_with_its_envelope_and_headers() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options::default());
    let fixture = fixture(&server, "", now);
    fixture.write_dated("evidence/mfa.json", MFA_BAD, now);
    let mut engine = util::engine(&fixture);

    let summary = engine.cycle(now).expect("cycle");
    assert_eq!((summary.mails_sent, summary.mail_failures), (2, 0));
    // The MSP's MFA gap outlives its 24 h tolerance: a lapse, copied to the
    // accountable contractor.
    let summary = engine
        .cycle(at("2026-11-24T15:00:01Z"))
        .expect("a day later");
    assert_eq!((summary.mails_sent, summary.mail_failures), (1, 0));

    let received = server.accepted();
    assert_eq!(received.len(), 3, "{received:#?}\n{}", server.log());
    let training = by_subject(&received, "NO EVIDENCE: Annual training");
    assert_eq!(training.mail_from, "dutywatch@acme.example");
    assert_eq!(training.rcpt_tos, ["it@acme.example"]);
    assert_eq!(training.header("To").as_deref(), Some("it@acme.example"));
    assert_eq!(training.header("Cc"), None);

    let lapse = by_subject(&received, "LAPSED");
    assert_eq!(
        lapse.header("Subject").as_deref(),
        Some("[dutywatch] LAPSED: MFA registered: 1 newly lapsed (Acme Machining)")
    );
    assert_eq!(lapse.mail_from, "dutywatch@acme.example");
    let mut recipients = lapse.rcpt_tos.clone();
    recipients.sort();
    assert_eq!(recipients, ["it@acme.example", "soc@keystone.example"]);
    assert_eq!(lapse.header("To").as_deref(), Some("soc@keystone.example"));
    assert_eq!(lapse.header("Cc").as_deref(), Some("it@acme.example"));
    assert_eq!(
        lapse.header("From").as_deref(),
        Some("dutywatch@acme.example")
    );
    assert!(lapse.data.contains("b@acme.example"), "{}", lapse.data);
    assert_eq!(lapse.authenticated_as, None);

    // One Message-ID per mail, fixed when it was decided (a redelivery repeats it), in the
    // sender's domain. A mail that opens a lapse thread carries the thread's root id; the
    // later ones of that thread answer it.
    let mut ids: Vec<String> = received
        .iter()
        .map(|m| m.header("Message-ID").expect("a Message-ID"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let token = |id: &str, prefix: &str| {
        let token = id
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".acme@acme.example>"))
            .unwrap_or_else(|| panic!("unexpected Message-ID {id}"));
        assert!(
            token.len() == 16 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    };
    let due_soon = by_subject(&received, "DUE SOON: MFA registered");
    let root = due_soon.header("Message-ID").expect("id");
    token(&root, "<dw-thread.");
    token(&training.header("Message-ID").expect("id"), "<dw-thread.");
    token(&lapse.header("Message-ID").expect("id"), "<escalation-3.");
    assert_eq!(lapse.header("In-Reply-To").as_deref(), Some(root.as_str()));
    assert_eq!(lapse.header("References").as_deref(), Some(root.as_str()));
    assert_eq!(due_soon.header("In-Reply-To"), None);

    // Plain text with an HTML alternative, both readable.
    for mail in &received {
        let content_type = mail.header("Content-Type").expect("a Content-Type");
        assert!(
            content_type.starts_with("multipart/alternative"),
            "{content_type}"
        );
        let body = util::unquote(&mail.data.replace("\r\n", "\n"));
        let plain = body.find("Content-Type: text/plain").expect("a text part");
        let html = body.find("Content-Type: text/html").expect("an HTML part");
        assert!(
            plain < html,
            "the plain text first, HTML as the preferred alternative"
        );
        assert!(body.contains("<!DOCTYPE html>"), "{body}");
    }
    assert!(
        util::unquote(&lapse.data.replace("\r\n", "\n"))
            .contains("Responsible:   Keystone IT (the MSP)"),
        "{}",
        lapse.data
    );
    assert!(
        fixture.mails().is_empty(),
        "nothing goes to the file outbox"
    );
}

#[test]
fn a_refused_recipient_does_not_keep_the_mail_from_the_others() {
    // The MSP's mailbox is gone; the lapse goes to it, copying the contractor.
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        reject_recipient: Some(("soc@keystone.example", 3)),
        ..Options::default()
    });
    let fixture = fixture(&server, "", now);
    // Without the training duty, so the lapse is all either of them hears of this pass and
    // both are on one mail.
    let config = std::fs::read_to_string(fixture.config_path()).expect("config");
    let cut = config
        .find("[[contractor.duty]]\nid = \"training\"")
        .expect("the training duty");
    fixture.write("dutywatch.toml", &config[..cut]);
    // Failing for 25 hours, past its 24-hour tolerance: lapsed at once.
    fixture.write_dated("evidence/mfa.json", MFA_BAD, at("2026-11-22T14:00:00Z"));
    let mut engine = util::engine(&fixture);
    let lapsed_at = now;
    let summary = engine.cycle(lapsed_at).expect("cycle");
    assert_eq!(
        (summary.mails_sent, summary.mail_failures),
        (0, 1),
        "the lapse is still owed to the MSP"
    );

    let lapses = |server: &SmtpServer| -> Vec<Vec<String>> {
        server
            .accepted()
            .iter()
            .filter(|m| m.header("Subject").is_some_and(|s| s.contains("LAPSED")))
            .map(|m| m.rcpt_tos.clone())
            .collect()
    };
    assert_eq!(
        lapses(&server),
        [["it@acme.example"]],
        "the contractor has it although the MSP's address was refused"
    );
    let lapse = by_subject(&server.accepted(), "LAPSED").clone();
    assert_eq!(lapse.header("To").as_deref(), Some("soc@keystone.example"));
    assert_eq!(lapse.header("Cc").as_deref(), Some("it@acme.example"));

    // Where people look: who has it, who does not, and why.
    let stuck = engine.store().undelivered_mail(None).expect("outbox");
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].delivered_to, ["it@acme.example"]);
    let error = stuck[0].last_error.as_deref().expect("an error");
    assert!(
        error.starts_with("not delivered to soc@keystone.example: smtp relay")
            && error.contains("550"),
        "{error}"
    );

    let output = fixture.run(&["status", "--config", "dutywatch.toml"]);
    let (stdout, _) = text(&output);
    assert!(
        stdout.contains("\" to soc@keystone.example (delivered to it@acme.example)"),
        "{stdout}"
    );

    // Retries go to the refused address only, until its mailbox is back.
    let after = |secs: i64| lapsed_at + jiff::SignedDuration::from_secs(secs);
    assert_eq!(engine.deliver(after(60)).expect("deliver"), (0, 1));
    assert_eq!(engine.deliver(after(60 + 300)).expect("deliver"), (1, 0));
    assert_eq!(
        lapses(&server),
        [["it@acme.example"], ["soc@keystone.example"]],
        "each recipient got it exactly once"
    );
    assert!(
        engine
            .store()
            .undelivered_mail(None)
            .expect("outbox")
            .is_empty()
    );
}

#[test]
fn a_refused_message_is_not_sent_to_each_recipient_alone() {
    // 554 at DATA: the message, not a mailbox, is the problem.
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        reject: Some((554, 2)),
        ..Options::default()
    });
    let fixture = fixture(&server, "", now);
    fixture.write_dated("evidence/mfa.json", MFA_BAD, at("2026-11-22T14:00:00Z"));
    let mut engine = util::engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!((summary.mails_sent, summary.mail_failures), (0, 2));
    let received = server.received();
    assert_eq!(
        received.len(),
        2,
        "one attempt per mail, the two-recipient lapse included: {received:#?}"
    );
    assert!(received.iter().all(|m| !m.accepted));
}

#[test]
fn a_transient_rejection_is_retried_on_a_later_pass_and_delivered_once() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        reject: Some((451, 1)),
        ..Options::default()
    });
    let fixture = fixture(&server, "", now);
    let mut engine = util::engine(&fixture);

    let summary = engine.cycle(now).expect("cycle");
    assert_eq!((summary.mails_sent, summary.mail_failures), (0, 1));
    assert_eq!(server.accepted().len(), 0);

    // Not before the retry time (one minute after a first failure); then once.
    util::assert_retried_once_a_minute_after(&mut engine, at("2026-11-23T15:00:00Z"));

    let received = server.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    assert!(!received[0].accepted && received[1].accepted);
    assert_eq!(
        received[0].header("Message-ID"),
        received[1].header("Message-ID"),
        "the retry is the same message"
    );
    assert_eq!(
        received[1].header("Subject").as_deref(),
        Some("[dutywatch] NO EVIDENCE: Annual training (Acme Machining)")
    );
}

#[test]
fn a_permanent_rejection_says_so_and_the_mail_stays_in_the_outbox() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        reject: Some((550, 1)),
        ..Options::default()
    });
    let fixture = fixture(&server, "", now);
    let output = once(&fixture, None, now);
    let (stdout, stderr) = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "undelivered: {stdout}{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "smtp relay 127.0.0.1:{}: rejected with 550 (mail system)",
            server.port
        )) && stderr.contains("permanent"),
        "{stderr}"
    );
    assert_eq!(pending(&fixture), 1);

    // Where people look, not only in the log.
    let output = fixture.run(&["status", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("1 escalation mail(s) not delivered yet (retried until")
            && stdout.contains("#1 acme/training  \"[dutywatch] NO EVIDENCE: Annual training (Acme Machining)\" to it@acme.example")
            && stdout.contains("1 failed attempt(s), last: smtp relay 127.0.0.1:"),
        "{stdout}"
    );
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let stuck = &report["undelivered_mail"][0];
    assert_eq!(stuck["duty"], "training");
    assert_eq!(stuck["attempts"], 1);
    assert!(
        stuck["last_error"]
            .as_str()
            .expect("an error")
            .contains("550"),
        "{stuck}"
    );

    // The mailbox is gone for good: an operator gives the mail up, with a reason.
    let cancel = |id: &str, reason: &str| {
        fixture.run(&[
            "mail",
            "cancel",
            "--config",
            "dutywatch.toml",
            id,
            "--reason",
            reason,
        ])
    };
    let output = cancel(
        "#1",
        "it@acme.example was retired; training now reports to hr@",
    );
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("mail #1 cancelled"), "{stdout}");
    assert_eq!(pending(&fixture), 0, "never retried");
    let output = fixture.run(&["status", "--config", "dutywatch.toml"]);
    assert!(
        !text(&output).0.contains("not delivered yet"),
        "{}",
        text(&output).0
    );
    // Kept for the record, with its reason.
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    let reason: String = conn
        .query_row("SELECT cancel_reason FROM outbox WHERE id = 1", [], |row| {
            row.get(0)
        })
        .expect("the row is kept");
    assert!(
        reason.starts_with("it@acme.example was retired"),
        "{reason}"
    );

    for (id, reason, expected) in [
        (
            "1",
            "again",
            "outbox mail 1 is not waiting: it was already cancelled at",
        ),
        ("99", "no such", "no outbox mail with id 99"),
        ("1", "  ", "say why with --reason"),
    ] {
        let output = cancel(id, reason);
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{id}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// Runs `dutywatch once` at `now` with `credentials` as `$CREDENTIALS_DIRECTORY`, logging
/// everything: the password must not show up even at trace level.
fn once(fixture: &util::Fixture, credentials: Option<&Path>, now: Timestamp) -> Output {
    once_with(fixture, credentials, now, &[])
}

/// [`once`] with more environment, e.g. `SSL_CERT_FILE` to trust a test CA.
fn once_with(
    fixture: &util::Fixture,
    credentials: Option<&Path>,
    now: Timestamp,
    env: &[(&str, &Path)],
) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"));
    command
        .args([
            "once",
            "--config",
            "dutywatch.toml",
            "--at",
            &now.to_string(),
            "--clock",
            util::CLOCK,
        ])
        .current_dir(fixture.dir.path())
        .env_remove("DUTYWATCH_CONFIG")
        .env_remove("STATE_DIRECTORY")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("DUTYWATCH_LOG", "trace")
        .env("DUTYWATCH_LOG_FORMAT", "text");
    if let Some(dir) = credentials {
        command.env("CREDENTIALS_DIRECTORY", dir);
    }
    // The trust store is what the test says: the host's `SSL_CERT_DIR` would
    // add the system's CAs to a test CA.
    command
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied());
    command.output().expect("the dutywatch binary runs")
}

/// Unsent outbox mail, whenever due.
fn pending(fixture: &util::Fixture) -> usize {
    let store = Store::open_read_only(&fixture.path("state/dutywatch.db")).expect("store opens");
    store
        .pending_mail(at("2100-01-01T00:00:00Z"), 100)
        .expect("outbox")
        .len()
}

/// The password as sent (raw, AUTH LOGIN, AUTH PLAIN) must appear in none of `haystacks`.
fn assert_no_password(what: &str, haystack: &[u8]) {
    for password in [PASSWORD, WRONG_PASSWORD] {
        let forms = [
            password.to_owned(),
            BASE64.encode(password),
            BASE64.encode(format!("\0{USER}\0{password}")),
        ];
        for form in forms {
            assert!(
                !haystack
                    .windows(form.len())
                    .any(|window| window == form.as_bytes()),
                "{what} contains the password (as `{form}`)"
            );
        }
    }
}

#[test]
fn the_password_comes_from_the_credential_and_never_leaks() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        login: Some((USER, PASSWORD)),
        ..Options::default()
    });
    let (fixture, credentials) = credential_fixture(&server, now);
    let credential = credentials.path().join("smtp-password");

    // A wrong password: the relay refuses the login, the mail stays queued.
    std::fs::write(&credential, format!("{WRONG_PASSWORD}\n")).expect("write credential");
    let refused = once(&fixture, Some(credentials.path()), now);
    let (stdout, stderr) = text(&refused);
    // `once` decided a mail and could not deliver it: it says so and fails,
    // so a cron job or script running it learns of it.
    assert_eq!(refused.status.code(), Some(1), "{stdout}{stderr}");
    assert!(server.received().is_empty(), "{:#?}", server.received());
    assert!(
        stderr.contains(&format!(
            "smtp relay 127.0.0.1:{}: rejected with 535 (authentication)",
            server.port
        )),
        "{stderr}"
    );
    let summary = stderr
        .lines()
        .position(|line| line.starts_with("1 escalation mail(s) could not be delivered"))
        .unwrap_or_else(|| panic!("says how many: {stderr}"));
    assert!(
        stderr
            .lines()
            .nth(summary + 1)
            .is_some_and(|line| line.contains("535")),
        "and why: {stderr}"
    );
    assert_eq!(pending(&fixture), 1);

    // A run before the retry time does not try again, but still fails: the mail is not
    // delivered, and a cron job must not read a 0 as "the relay is fine now".
    let waiting = once(
        &fixture,
        Some(credentials.path()),
        at("2026-11-23T15:00:30Z"),
    );
    let (stdout, stderr) = text(&waiting);
    assert_eq!(waiting.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "1 escalation mail(s) that failed on an earlier run are still undelivered (next attempt 2026-11-23T15:01:00Z)"
        ) && stderr.contains("535"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("could not be delivered"),
        "nothing failed in this run: {stderr}"
    );
    assert!(server.received().is_empty());

    // The right password, after the retry time: delivered, once.
    std::fs::write(&credential, format!("{PASSWORD}\n")).expect("write credential");
    let delivered = once(
        &fixture,
        Some(credentials.path()),
        at("2026-11-23T15:02:00Z"),
    );
    let again = once(
        &fixture,
        Some(credentials.path()),
        at("2026-11-23T15:30:00Z"),
    );
    for output in [&delivered, &again] {
        let (stdout, stderr) = text(output);
        assert!(output.status.success(), "{stdout}{stderr}");
    }
    let received = server.accepted();
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(received[0].authenticated_as.as_deref(), Some(USER));
    assert_eq!(
        server.auth_attempts(),
        ["refused dutywatch", "accepted dutywatch"],
        "one login per delivery attempt, none when nothing is due"
    );
    assert_eq!(received[0].rcpt_tos, ["it@acme.example"]);
    assert_eq!(pending(&fixture), 0);

    for (name, output) in [
        ("refused", &refused),
        ("delivered", &delivered),
        ("again", &again),
    ] {
        assert_no_password(&format!("stdout of the {name} run"), &output.stdout);
        assert_no_password(&format!("stderr of the {name} run"), &output.stderr);
    }
    for entry in std::fs::read_dir(fixture.path("state")).expect("state dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read a database file");
        assert_no_password(&path.display().to_string(), &bytes);
    }
}

#[test]
fn a_missing_credential_fails_check_config_naming_it_not_its_value() {
    let server = SmtpServer::start(Options::default());
    let (fixture, credentials) = credential_fixture(&server, at("2026-11-23T15:00:00Z"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args(["check-config", "--config", "dutywatch.toml"])
        .current_dir(fixture.dir.path())
        .env("CREDENTIALS_DIRECTORY", credentials.path())
        .output()
        .expect("the dutywatch binary runs");
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("mail.password: cannot resolve the SMTP password: cannot read credential smtp-password from "),
        "{stderr}"
    );
}

#[test]
fn commands_that_send_no_mail_run_from_a_shell_without_the_services_credential() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        login: Some((USER, PASSWORD)),
        ..Options::default()
    });
    let (fixture, credentials) = credential_fixture(&server, now);
    std::fs::write(credentials.path().join("smtp-password"), PASSWORD).expect("credential");
    // The service ran once.
    let output = once(&fixture, Some(credentials.path()), now);
    assert!(output.status.success(), "{:?}", text(&output));

    // An administrator's root shell: no $CREDENTIALS_DIRECTORY.
    let shell = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"))
            .args(args)
            .args(["--config", "dutywatch.toml", "--clock", util::CLOCK])
            .current_dir(fixture.dir.path())
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("DUTYWATCH_CONFIG")
            .env("DUTYWATCH_LOG", "error")
            .output()
            .expect("the dutywatch binary runs")
    };
    for args in [
        &["status"][..],
        &["evidence", "verify"],
        &["backup", "copy.db"],
    ] {
        let output = shell(args);
        assert!(output.status.success(), "{args:?}: {:?}", text(&output));
    }
    // The fixture's CRM leaves most objectives unowned, which check-config
    // reports; the credential is not among its problems.
    let output = shell(&["check-config"]);
    let (stdout, stderr) = text(&output);
    assert!(!stderr.contains("mail.password"), "{stderr}");
    assert!(
        stdout.contains("note: mail.password comes from credential smtp-password, which only the service can read"),
        "{stdout}"
    );
    // What sends mail still needs the password, and says where it should come from.
    let output = shell(&["once"]);
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stderr.contains("credential smtp-password needs $CREDENTIALS_DIRECTORY"),
        "{stderr}"
    );
}

#[test]
fn implicit_tls_to_a_plain_port_names_the_tls_setting() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options::default());
    let fixture = util::standard(now);
    let mail = format!(
        "transport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"implicit\"\ntimeout = \"5s\"",
        server.port
    );
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(&mail, ""),
    );
    let output = once(&fixture, None, now);
    let (stdout, stderr) = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "undelivered: {stdout}{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "smtp relay 127.0.0.1:{}: tls = \"implicit\" failed: ",
            server.port
        )) && stderr.contains("check that `tls` matches the relay's port"),
        "{stderr}"
    );
    assert!(server.received().is_empty());
    assert_eq!(pending(&fixture), 1);
}

#[test]
fn a_refused_login_stops_the_pass_instead_of_trying_every_mail() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        login: Some((USER, PASSWORD)),
        ..Options::default()
    });
    let secrets = util::Fixture::new();
    let password_file = secrets.write("smtp-password", WRONG_PASSWORD);
    let login = format!(
        "username = \"{USER}\"\npassword = {{ file = \"{}\" }}",
        password_file.display()
    );
    let fixture = fixture(&server, &login, now);
    fixture.write_dated("evidence/mfa.json", MFA_BAD, now);
    let mut engine = util::engine(&fixture);

    let summary = engine.cycle(now).expect("cycle");
    assert_eq!((summary.mails_sent, summary.mail_failures), (0, 2));
    assert_eq!(
        server.auth_attempts(),
        ["refused dutywatch"],
        "the second mail is not tried against a relay that refused the login"
    );
    // Both are due again after the first back-off, and both wait for it.
    assert_eq!(
        engine.deliver(at("2026-11-23T15:00:59Z")).expect("deliver"),
        (0, 0)
    );
    assert_eq!(
        engine
            .store()
            .pending_mail(at("2026-11-23T15:01:00Z"), 10)
            .expect("outbox")
            .len(),
        2
    );
}

#[test]
fn a_reload_with_a_missing_credential_keeps_the_old_login() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        login: Some((USER, PASSWORD)),
        ..Options::default()
    });
    let secrets = util::Fixture::new();
    let password_file = secrets.write("smtp-password", PASSWORD);
    let login = format!(
        "username = \"{USER}\"\npassword = {{ file = \"{}\" }}",
        password_file.display()
    );
    let fixture = fixture(&server, &login, now);
    let mut daemon = dutywatch::daemon::Daemon::start(fixture.config_path(), fixture.load(), now)
        .expect("daemon starts");
    daemon.step(now).expect("step");
    assert_eq!(server.accepted().len(), 1);

    std::fs::remove_file(&password_file).expect("remove the password");
    let errors = daemon
        .reload(at("2026-11-23T15:05:00Z"))
        .expect_err("a config whose password cannot be read is rejected");
    let text = errors.to_string();
    assert!(
        text.contains("mail.password: cannot resolve the SMTP password: cannot read secret file"),
        "{text}"
    );

    // The running config kept its resolved password: the next escalation
    // still logs in and is delivered.
    let later = at("2026-11-23T16:00:00Z");
    fixture.write_dated("evidence/mfa.json", MFA_BAD, later);
    let summary = daemon.step(later).expect("step").expect("work was due");
    assert_eq!((summary.mails_sent, summary.mail_failures), (1, 0));
    assert_eq!(server.accepted().len(), 2);
    assert_eq!(
        server.auth_attempts(),
        ["accepted dutywatch", "accepted dutywatch"]
    );
}

/// `[mail]` keys logging in as [`USER`] with the `smtp-password` systemd credential.
fn credential_login() -> String {
    format!("username = \"{USER}\"\npassword = {{ credential = \"smtp-password\" }}")
}

/// The standard fixture mailing through `server` with [`credential_login`], and an empty
/// directory to hand the binary as `$CREDENTIALS_DIRECTORY`.
fn credential_fixture(server: &SmtpServer, now: Timestamp) -> (util::Fixture, tempfile::TempDir) {
    let fixture = fixture(server, &credential_login(), now);
    (fixture, tempfile::tempdir().expect("a credentials dir"))
}

/// A fixture mailing `localhost:port` over `tls`, logging in with the credential.
fn tls_fixture(port: u16, tls: &str, now: Timestamp) -> (util::Fixture, tempfile::TempDir) {
    let mail = format!(
        "transport = \"smtp\"\nhost = \"localhost\"\nport = {port}\ntls = \"{tls}\"\ntimeout = \"5s\"\n{}",
        credential_login()
    );
    let fixture = util::standard(now);
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(&mail, ""),
    );
    let credentials = tempfile::tempdir().expect("a credentials dir");
    std::fs::write(credentials.path().join("smtp-password"), PASSWORD).expect("credential");
    (fixture, credentials)
}

#[test]
fn over_starttls_and_implicit_tls_the_relay_is_verified_and_the_login_encrypted() {
    let now = at("2026-11-23T15:00:00Z");
    let pki = TestPki::new("dutywatch test CA");
    for (mode, tls) in [
        (ServerTls::Starttls, "starttls"),
        (ServerTls::Implicit, "implicit"),
    ] {
        let server = SmtpServer::start(Options {
            login: Some((USER, PASSWORD)),
            tls: Some((mode, &pki)),
            ..Options::default()
        });
        let (fixture, credentials) = tls_fixture(server.port, tls, now);
        let output = once_with(
            &fixture,
            Some(credentials.path()),
            now,
            &[("SSL_CERT_FILE", &pki.ca())],
        );
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{tls}: {stdout}{stderr}");
        let received = server.accepted();
        assert_eq!(received.len(), 1, "{tls}: {stderr}\n{}", server.log());
        assert!(received[0].tls, "{tls}: the message came in the clear");
        assert_eq!(received[0].authenticated_as.as_deref(), Some(USER), "{tls}");
        assert_eq!(server.auth_attempts(), ["accepted dutywatch"], "{tls}");
        assert_eq!(pending(&fixture), 0, "{tls}");
        assert_no_password(&format!("stdout ({tls})"), &output.stdout);
        assert_no_password(&format!("stderr ({tls})"), &output.stderr);
    }
}

#[test]
fn a_relay_certificate_from_an_unknown_ca_is_refused_before_the_login() {
    let now = at("2026-11-23T15:00:00Z");
    let relay = TestPki::new("the relay's CA");
    let trusted = TestPki::new("some other CA");
    let server = SmtpServer::start(Options {
        login: Some((USER, PASSWORD)),
        tls: Some((ServerTls::Starttls, &relay)),
        ..Options::default()
    });
    let (fixture, credentials) = tls_fixture(server.port, "starttls", now);
    let output = once_with(
        &fixture,
        Some(credentials.path()),
        now,
        &[("SSL_CERT_FILE", &trusted.ca())],
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "undelivered: {stdout}{stderr}"
    );
    assert!(
        server.auth_attempts().is_empty(),
        "the password went to an unverified relay"
    );
    assert!(server.received().is_empty());
    assert!(
        stderr.contains(&format!("smtp relay localhost:{}", server.port))
            && stderr.contains("certificate"),
        "the failure names the relay and its certificate: {stderr}"
    );
    assert_eq!(pending(&fixture), 1, "the escalation waits for a retry");
    assert_no_password("stderr", &output.stderr);
}

/// The outbox records the relay's acceptance when its reply to DATA arrives, not after QUIT:
/// the server here takes 3 s to answer QUIT, and the mail is marked sent well before the
/// pass ends. (Before, it was marked after QUIT and the teardown, and a kill in between sent
/// it again.)
#[test]
fn the_delivery_is_recorded_before_the_relay_answers_quit() {
    let now = at("2026-11-23T15:00:00Z");
    let quit_delay = std::time::Duration::from_secs(3);
    let server = SmtpServer::start(Options {
        quit_delay: Some(quit_delay),
        ..Options::default()
    });
    let fixture = fixture(&server, "", now);
    let database = fixture.load().database;
    let mut engine = util::engine(&fixture);
    let started = std::time::Instant::now();
    let pass = std::thread::spawn(move || engine.cycle(now).expect("cycle"));

    let recorded = loop {
        assert!(
            started.elapsed() < quit_delay,
            "not recorded while the relay was still to answer QUIT"
        );
        if let Ok(store) = Store::open_read_only(&database)
            && store.escalation_count(None).unwrap_or(0) == 1
            && store.undelivered_mail(None).expect("outbox").is_empty()
        {
            break started.elapsed();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(!pass.is_finished(), "the pass is still in QUIT");
    assert_eq!(server.accepted().len(), 1);
    let summary = pass.join().expect("the pass");
    assert_eq!((summary.mails_sent, summary.mail_failures), (1, 0));
    assert!(
        started.elapsed() >= quit_delay,
        "QUIT was sent and waited on"
    );
    assert!(recorded < quit_delay, "{recorded:?}");
}

/// A port nothing listens on: the relay is down.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A pass that finds the relay down counts one attempt, for the mail that found it; the rest
/// are deferred "not attempted" and keep their attempts at 0, due again a minute later
/// however long the outage lasts; the attempted one backs off no further than its ceiling.
#[test]
fn an_outage_does_not_push_unattempted_mail_up_the_back_off() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mail = format!(
        "transport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = \"5s\"\n",
        dead_port()
    );
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(&mail, ""),
    );
    fixture.write_dated("evidence/mfa.json", MFA_BAD, now);
    let mut engine = util::engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!((summary.mails_sent, summary.mail_failures), (0, 2));

    let mut at_pass = now;
    let mut first_attempts = 1;
    for pass in 0..12 {
        let rows = engine.store().undelivered_mail(None).expect("outbox");
        assert_eq!(rows.len(), 2, "pass {pass}");
        let (tried, deferred) = (&rows[0], &rows[1]);
        assert_eq!(tried.attempts, first_attempts, "pass {pass}");
        assert!(
            !tried
                .last_error
                .as_deref()
                .unwrap_or("")
                .starts_with("not attempted"),
            "{tried:?}"
        );
        assert_eq!(deferred.attempts, 0, "pass {pass}: {deferred:?}");
        assert!(
            deferred
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("not attempted: smtp relay")),
            "{deferred:?}"
        );
        assert_eq!(
            deferred.next_attempt_at,
            at_pass + jiff::SignedDuration::from_mins(1),
            "pass {pass}"
        );
        // The attempted mail: 1, 5, 25 min … up to 5 min for a clock's mail, 30 for one
        // about missing evidence (a transient failure: nothing listens).
        let state = engine
            .store()
            .pending_mail(at("2100-01-01T00:00:00Z"), 10)
            .expect("outbox")
            .into_iter()
            .find(|m| m.id == tried.id)
            .expect("pending")
            .state;
        let ceiling = if state == "no_evidence" { 30 } else { 5 };
        let expected = 5_i64.pow(first_attempts - 1).min(ceiling);
        assert_eq!(
            tried.next_attempt_at,
            at_pass + jiff::SignedDuration::from_mins(expected),
            "pass {pass}, state {state}"
        );
        // The next pass, when the deferred mail is due again.
        at_pass += jiff::SignedDuration::from_mins(1);
        let due_tried = tried.next_attempt_at <= at_pass;
        let (sent, failed) = engine.deliver(at_pass).expect("deliver");
        assert_eq!(sent, 0);
        if due_tried {
            first_attempts += 1;
            assert_eq!(failed, 2);
        } else {
            // The deferred mail is the first tried now: it counts its first attempt, so
            // the roles swap; stop here.
            assert_eq!(failed, 1);
            let rows = engine.store().undelivered_mail(None).expect("outbox");
            assert_eq!(rows[1].attempts, 1, "{rows:?}");
            assert_eq!(rows[0].attempts, first_attempts, "{rows:?}");
            return;
        }
    }
    panic!("the attempted mail never backed off");
}

#[test]
fn a_lapse_and_the_management_step_reach_the_responsible_partys_backups() {
    let t0 = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options::default());
    let fixture = fixture(&server, "", t0);
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(&smtp_mail(&server, ""), "").replace(
            "contacts = [\"it@acme.example\"]",
            "contacts = [\"it@acme.example\"]\n\
             backup_contacts = [\"ops@acme.example\"]\n\
             management_contacts = [\"ceo@acme.example\"]\n\
             msp_backup_contacts = [\"desk@keystone.example\"]",
        ),
    );
    let mut engine = util::engine(&fixture);
    let cycle = |engine: &mut dutywatch::engine::Engine, now: Timestamp| {
        // The MSP's MFA export keeps arriving (still with its gap), so it never goes stale.
        fixture.write_dated("evidence/mfa.json", MFA_BAD, now);
        let summary = engine.cycle(now).expect("cycle");
        assert_eq!(summary.mail_failures, 0, "{}", server.log());
    };
    let recipients = |mail: &Received| {
        let mut all = mail.rcpt_tos.clone();
        all.sort();
        all
    };

    // Missing evidence of the contractor's training: its primary contacts only, for now.
    cycle(&mut engine, t0);
    let received = server.accepted();
    let training = by_subject(&received, "NO EVIDENCE: Annual training");
    assert_eq!(training.rcpt_tos, ["it@acme.example"]);

    // The MSP's MFA gap outlives its tolerance: the lapse reaches the MSP's desk at once,
    // beside the MSP and the accountable contractor (whose backups are not the MSP's).
    cycle(&mut engine, at("2026-11-24T15:00:01Z"));
    let received = server.accepted();
    let lapse = by_subject(&received, "LAPSED: MFA registered");
    assert_eq!(
        recipients(lapse),
        [
            "desk@keystone.example",
            "it@acme.example",
            "soc@keystone.example"
        ]
    );
    assert_eq!(lapse.header("To").as_deref(), Some("soc@keystone.example"));

    // Three days on, the training's management step: the contractor's backups with its
    // management.
    cycle(&mut engine, at("2026-11-26T15:00:00Z"));
    let received = server.accepted();
    let escalated = by_subject(&received, "ESCALATED: NO EVIDENCE: Annual training");
    assert_eq!(
        recipients(escalated),
        ["ceo@acme.example", "it@acme.example", "ops@acme.example"]
    );
    assert_eq!(escalated.header("To").as_deref(), Some("it@acme.example"));
    assert_eq!(received.len(), 4, "one mail per step: {received:#?}");
}

#[test]
fn an_undelivered_mail_about_several_duties_is_listed_as_such() {
    let now = at("2026-11-23T15:00:00Z");
    let server = SmtpServer::start(Options {
        reject: Some((550, 1)),
        ..Options::default()
    });
    // A second contractor duty without evidence: the first check tells of both in one mail.
    let fixture = util::standard(now);
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(
            &smtp_mail(&server, ""),
            "\n[[contractor.duty]]\nid = \"awareness\"\ntitle = \"Awareness briefing\"\nobjectives = [\"3.2.1\"]\nsource = \"manual\"\nrule = \"recurring\"\nevery = \"365d\"\n",
        ),
    );
    let output = once(&fixture, None, now);
    assert_eq!(output.status.code(), Some(1), "{:?}", text(&output));
    let output = fixture.run(&["status", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    assert!(
        stdout.contains("#1 acme (2 duties)  \"[dutywatch] First check of Acme Machining: 2 duties need attention"),
        "{stdout}{stderr}"
    );
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["undelivered_mail"][0]["duties"], 2, "{report}");
}
