//! The binary as a user runs it.

use dutywatch::store::Store;

use crate::util::{self, Fixture, at, text};

#[test]
fn check_config_names_file_line_and_key_for_every_problem() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    let broken = good
        .replace("schedule = \"0 6 * * *\"", "schedule = \"0 6 * *\"")
        .replace("source = \"mfa\"\nrule", "source = \"mfaa\"\nrule")
        .replace(
            "timezone = \"America/New_York\"",
            "timezone = \"Mars/Olympus\"",
        )
        // Keys that would otherwise be silently ignored.
        .replace(
            "path = \"evidence/reviews.csv\"",
            "path = \"evidence/reviews.csv\"\nrecords = \"value\"",
        )
        .replace("every = \"365d\"", "every = \"365d\"\nmax_age = \"30d\"");
    fixture.write("dutywatch.toml", &broken);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("5 problem(s)"), "{stderr}");
    assert!(
        stderr.contains("contractor[acme].source[reviews].records: `records` says where the records sit inside a JSON document"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "contractor[acme].duty[training].max_age: `max_age` limits how old an export may be"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("dutywatch.toml:3: timezone: `Mars/Olympus` is not an IANA time zone"),
        "{stderr}"
    );
    assert!(stderr.contains(": contractor[acme].source[reviews].schedule: `0 6 * *` is not a cron schedule: it has 4 fields"), "{stderr}");
    assert!(stderr.contains("contractor[acme].duty[mfa-registered].source: no source `mfaa` is configured for this contractor; did you mean `mfa`?"), "{stderr}");
    let line_of = |needle: &str| {
        broken
            .lines()
            .position(|l| l.contains(needle))
            .expect("line")
            + 1
    };
    assert!(
        stderr.contains(&format!("dutywatch.toml:{}:", line_of("source = \"mfaa\""))),
        "{stderr}"
    );
}

/// `check-config` on the standard fixture's config with `from` replaced by
/// `to` (which must occur): its exit code and stderr.
fn check_config_with(from: &str, to: &str) -> (Option<i32>, String) {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    assert!(good.contains(from), "the fixture has no `{from}`");
    fixture.write("dutywatch.toml", &good.replacen(from, to, 1));
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    (output.status.code(), text(&output).1)
}

#[test]
fn hand_added_evidence_feeds_only_recurring_duties() {
    let (code, stderr) = check_config_with(
        "source = \"manual\"\nrule = \"recurring\"\nevery = \"365d\"",
        "source = \"manual\"\nrule = \"continuous\"\ncheck = \"done == true\"\ntolerance = \"1d\"",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("contractor[acme].duty[training].rule: hand-added evidence (`source = \"manual\"`) records when a piece of work was done, which only rule = \"recurring\" reads"),
        "{stderr}"
    );
}

#[test]
fn check_config_notes_a_source_that_matches_no_file_yet() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    std::fs::remove_file(fixture.path("evidence/mfa.json")).expect("rm");
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, _) = text(&output);
    assert!(
        stdout.contains("note: contractor[acme].source[mfa]: no file matches `")
            && stdout
                .contains("evidence/mfa.json` yet; its duties are source_error until one does"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("source[reviews]: no file"),
        "the reviews export exists: {stdout}"
    );
}

#[test]
fn a_condition_on_an_export_of_any_age_is_refused() {
    // Without `max_age`, an MFA export nobody refreshes would say "all
    // registered" forever.
    let (code, stderr) = check_config_with("max_age = \"2d\"\n", "");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("contractor[acme].duty[mfa-registered].max_age: how old may source `mfa`'s evidence be and still count as current? set `max_age` on the source"),
        "{stderr}"
    );
}

#[test]
fn toml_syntax_errors_and_unknown_keys_are_located() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let good = std::fs::read_to_string(fixture.config_path()).expect("read");
    fixture.write(
        "dutywatch.toml",
        &good.replace("warn_before = \"14d\"", "warn_befor = \"14d\""),
    );
    let (_, stderr) = text(&fixture.run(&["check-config", "--config", "dutywatch.toml"]));
    let line = good
        .lines()
        .position(|l| l.contains("warn_before"))
        .expect("line")
        + 1;
    assert!(
        stderr.contains(&format!(
            "dutywatch.toml:{line}: contractor[acme].duty[access-review].warn_befor: unknown field `warn_befor`"
        )),
        "{stderr}"
    );

    fixture.write(
        "dutywatch.toml",
        &good.replace("rule = \"recurring\"", "rule = \"sometimes\""),
    );
    let (_, stderr) = text(&fixture.run(&["check-config", "--config", "dutywatch.toml"]));
    assert!(
        stderr.contains(
            "unknown variant `sometimes`, expected one of `recurring`, `continuous`, `event_clock`"
        ),
        "{stderr}"
    );

    // A key given twice, and a value of the wrong type: named, with the fix.
    fixture.write(
        "dutywatch.toml",
        &good.replace("max_age = \"2d\"", "max_age = \"2d\"\nmax_age = \"3d\""),
    );
    let (_, stderr) = text(&fixture.run(&["check-config", "--config", "dutywatch.toml"]));
    assert!(
        stderr.contains("contractor.source.max_age: duplicate key; keep one of them"),
        "{stderr}"
    );
    fixture.write("dutywatch.toml", &good.replace("id = \"acme\"", "id = 3.1"));
    let (_, stderr) = text(&fixture.run(&["check-config", "--config", "dutywatch.toml"]));
    assert!(
        stderr.contains(
            // The first block, its id being what does not read.
            "contractor[#1].id: invalid type: floating point `3.1`, expected a string; quote the value, e.g. id = \"…\"; the rest of this client's block was not read"
        ),
        "{stderr}"
    );

    // Not UTF-8: the line where it stops being text.
    let mut bytes = good.clone().into_bytes();
    bytes.extend_from_slice(b"\n# caf\xe9\n");
    std::fs::write(fixture.config_path(), bytes).expect("write");
    let (_, stderr) = text(&fixture.run(&["check-config", "--config", "dutywatch.toml"]));
    let line = good.lines().count() + 2;
    assert!(
        stderr.contains(&format!("dutywatch.toml:{line}: is not UTF-8 text")),
        "{stderr}"
    );
}

#[test]
fn a_duty_on_an_objective_nobody_owns_is_refused_with_its_reason() {
    let (_, stderr) = check_config_with("objectives = [\"3.2.1\"]", "objectives = [\"3.9.1\"]");
    assert!(
        stderr.contains("duty[training].objectives: 3.9.1[a] has no owner in the CRM"),
        "{stderr}"
    );
    let (_, stderr) = check_config_with(
        "party = \"contractor\"\nsource = \"reviews\"",
        "source = \"reviews\"",
    );
    assert!(stderr.contains("3.1.1[a] is shared per"), "{stderr}");
    assert!(stderr.contains("crm.csv:2"), "{stderr}");
}

#[test]
fn once_at_an_instant_prints_the_status_and_status_filters_it() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let output = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--at",
        "2026-11-23T16:00:00Z",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("acme        access-review   met"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 duties: 2 met, 1 no_evidence"),
        "{stdout}"
    );

    let output = fixture.run(&[
        "status",
        "--config",
        "dutywatch.toml",
        "--party",
        "msp",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let rows = report["duties"].as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["duty"], "mfa-registered");
    assert_eq!(rows[0]["responsible"], "msp");
    assert_eq!(rows[0]["accountable"], "contractor");
    assert_eq!(rows[0]["state"], "met");

    // For monitoring: the MSP's duties are all met, the contractor's training is not.
    let exit = |party: &str| {
        fixture
            .run(&[
                "status",
                "--config",
                "dutywatch.toml",
                "--party",
                party,
                "--exit-code",
            ])
            .status
            .code()
    };
    assert_eq!(exit("msp"), Some(0));
    assert_eq!(exit("contractor"), Some(1));

    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--client", "nobody"]);
    assert!(!output.status.success());
    assert!(text(&output).1.contains("no contractor `nobody`"));
}

#[test]
fn hand_added_evidence_meets_a_manual_duty() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    fixture.write("roster.pdf", "%PDF-1.4 signed training roster");
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "training",
        "--file",
        "roster.pdf",
        "--note",
        "2026 class",
        "--by",
        "chris",
        "--done-at",
        "2026-11-01T12:00:00Z",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("sha256 "), "{stdout}");
    assert!(stdout.contains("by chris"), "{stdout}");
    let output = fixture.run(&["once", "--config", "dutywatch.toml", "--json"]);
    let training = util::duty_json(&output, "training");
    assert_eq!(training["state"], "met");
    assert!(
        training["reason"]
            .as_str()
            .expect("reason")
            .contains("last done 2026-11-01 07:00 EST"),
        "times in reasons are the contractor's local time: {training}"
    );

    // Only manual duties take hand-added evidence.
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "mfa-registered",
        "--file",
        "roster.pdf",
    ]);
    assert!(!output.status.success());
    assert!(text(&output).1.contains("reads evidence from source `mfa`"));

    // A file with nothing in it is no evidence of work done: empty, blank, or (what Notepad
    // saves for an empty file in "UTF-8 with BOM") a byte-order mark alone, or UTF-16 blanks.
    for (name, content) in [
        ("empty.pdf", &b""[..]),
        ("blank.txt", &b" \n\t\r\n"[..]),
        ("bom.txt", &b"\xEF\xBB\xBF"[..]),
        ("bom-blank.txt", &b"\xEF\xBB\xBF \r\n"[..]),
        ("utf16.txt", &b"\xFF\xFE\r\0\n\0"[..]),
    ] {
        std::fs::write(fixture.path(name), content).expect("write");
        let output = fixture.run(&[
            "evidence",
            "add",
            "--config",
            "dutywatch.toml",
            "--duty",
            "training",
            "--file",
            name,
        ]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{name} is empty: a file with nothing in it proves nothing"
            )),
            "{stderr}"
        );
    }

    // A file that is not there: the OS's words once, after the path.
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "training",
        "--file",
        "nope.txt",
    ]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read `nope.txt`: "), "{stderr}");
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");

    let output = fixture.run(&["evidence", "verify", "--config", "dutywatch.toml"]);
    assert!(output.status.success());
    assert!(
        text(&output)
            .0
            .contains("evidence chain intact: 3 row(s) verified"),
        "{}",
        text(&output).0
    );
}

#[test]
fn crm_lint_is_clean_on_the_demo_and_locates_each_problem_in_a_broken_crm() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo/crm.csv");
    let fixture = Fixture::new();
    let output = fixture.run(&[
        "crm",
        "lint",
        demo,
        "--packages",
        "managed-core,siem-premium",
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("0 error(s)"), "{stdout}");
    assert!(
        stdout.contains("320"),
        "the coverage table counts all 320 objectives: {stdout}"
    );

    fixture.write(
        "broken.csv",
        "id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification\n\
         3.1.1,shared,Approves access,,both,Report,,\n\
         3.1.99,contractor,Does it,,contractor,,,\n\
         3.5.3,msp,,Enforces MFA,,,,\n\
         3.2.1,not_applicable,,,,,,\n\
         3.14.1,msp,,Patches,msp,Weekly report,,\n\
         3.14.1,contractor,Patches,,contractor,,,\n",
    );
    let output = fixture.run(&["crm", "lint", "broken.csv"]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for expected in [
        "broken.csv:2:",
        "broken.csv:3:",
        "broken.csv:4:",
        "broken.csv:5:",
        "broken.csv:7:",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing in:\n{stdout}"
        );
    }

    let output = fixture.run(&["crm", "lint", "broken.csv", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        report["broken.csv"]["findings"]
            .as_array()
            .is_some_and(|f| f.len() >= 5),
        "{report}"
    );

    // Packages are a client's, so they go with a file, not with a config
    // that already says each contractor's.
    let output = fixture.run(&["crm", "lint", "--packages", "premium"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("<FILE>"), "{stderr}");
}

#[test]
fn the_demo_shows_every_kind_of_verdict_and_writes_mails() {
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
    for state in [
        "met",
        "due_soon",
        "lapsed",
        "no_evidence",
        "stale_evidence",
        "source_error",
    ] {
        assert!(
            stdout.contains(&format!("  {state}  ")),
            "no {state} in:\n{stdout}"
        );
    }
    let written: Vec<String> = std::fs::read_dir(out.join("outbox"))
        .expect("outbox")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("mail"))
        .collect();
    let mails = written.len();
    // The first run is one summary per recipient (the MSP, the contractor), not one per duty.
    assert!(mails >= 2, "{mails} mails");
    // The incidents' own clock warnings and the CMMC calendar's reminders are mails of
    // their own, apart from the ladder's.
    let mut recipients: Vec<String> = written
        .iter()
        .filter(|m| {
            !m.replace("\r\n ", " ").lines().any(|l| {
                l.starts_with("Subject: [dutywatch] INCIDENT ")
                    || l.starts_with("Subject: [dutywatch] CMMC ")
            })
        })
        .flat_map(|m| {
            m.lines()
                .filter(|l| l.starts_with("To: ") || l.starts_with("Cc: "))
                .flat_map(|l| {
                    l[4..]
                        .split(',')
                        .map(|a| a.trim().to_owned())
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let all = recipients.len();
    recipients.sort();
    recipients.dedup();
    assert_eq!(
        recipients.len(),
        all,
        "one mail per recipient: {written:#?}"
    );
    assert!(
        stdout.contains(&format!("{mails} escalation mail(s) written")),
        "{stdout}"
    );
}

#[test]
fn a_what_if_run_cannot_rewrite_the_databases_past() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let run = |at: &str| fixture.run(&["once", "--config", "dutywatch.toml", "--at", at]);
    assert!(run("2026-11-23T15:00:00Z").status.success());
    let mails = fixture.mails().len();

    let output = run("2026-11-20T09:00:00Z");
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stderr.contains("already holds work done as of 2026-11-23T15:00:00Z")
            && stderr.contains("add --dry-run"),
        "{stderr}"
    );
    assert_eq!(fixture.mails().len(), mails, "nothing was mailed");
    assert!(
        run("2026-11-23T15:00:00Z").status.success(),
        "the same instant again is fine"
    );

    // Nor date it ahead of the clock (the tests' `--clock`, `util::CLOCK`), even by a second:
    // the daemon and the next `once` would read their clock as behind it.
    let output = run("2026-12-01T00:00:01Z");
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("is ahead of the clock"), "{stderr}");
    assert!(stderr.contains("add --dry-run"), "{stderr}");
}

#[test]
fn a_clock_behind_the_database_stores_and_mails_nothing() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let once_on = |clock: &str| {
        util::dutywatch_command_at(
            &fixture.path(""),
            &["once", "--config", "dutywatch.toml"],
            clock,
        )
    };
    assert!(once_on(util::CLOCK).status.success());
    let mails = fixture.mails().len();
    let status = || {
        let output = fixture.run(&["status", "--config", "dutywatch.toml", "--json"]);
        util::duty_json(&output, "training")
    };
    let before = status();

    // The host's clock stepped back a year, then by a minute: the evidence collected a minute
    // later would read as from the future.
    for behind in ["2025-12-01T00:00:00Z", "2026-11-30T23:59:00Z"] {
        let output = once_on(behind);
        let (stdout, stderr) = text(&output);
        assert!(!output.status.success(), "{stdout}");
        assert!(
            stderr.contains(&format!(
                "the clock reads {behind}, but the database already holds work done as of {}",
                util::CLOCK
            )) && stderr.contains("timedatectl"),
            "{stderr}"
        );
        assert_eq!(fixture.mails().len(), mails, "nothing was mailed");
        assert_eq!(status(), before, "nothing was stored");
    }
    // The same instant again is not a step back; nor did the refused runs lower the mark.
    assert!(once_on(util::CLOCK).status.success());
    assert!(!once_on("2026-11-30T23:59:59Z").status.success());
}

#[test]
fn a_dry_run_on_a_clock_behind_the_database_says_its_answer_is_not_what_a_cycle_would_do() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let run_on = |clock: &str, extra: &[&str]| {
        let mut args = vec!["once", "--config", "dutywatch.toml", "--dry-run"];
        args.extend_from_slice(extra);
        let output = util::dutywatch_command_at(&fixture.path(""), &args, clock);
        assert!(output.status.success(), "{:?}", text(&output));
        text(&output).1
    };
    let warned = |stderr: &str| stderr.contains("warning: this dry run is not what a real cycle");
    assert!(
        !warned(&run_on(util::CLOCK, &[])),
        "no database yet, nothing to be behind"
    );
    let real = util::dutywatch_command_at(
        &fixture.path(""),
        &["once", "--config", "dutywatch.toml"],
        util::CLOCK,
    );
    assert!(real.status.success(), "{:?}", text(&real));

    // The clock stepped back a minute: the what-if reads the evidence as from the future.
    let stderr = run_on("2026-11-30T23:59:00Z", &[]);
    assert!(
        warned(&stderr)
            && stderr.contains(&format!(
                "the clock reads 2026-11-30T23:59:00Z, but the database already holds work done as of {}",
                util::CLOCK
            )),
        "{stderr}"
    );
    // A past instant asked for is the what-if itself, not a clock to warn about.
    assert!(!warned(&run_on(
        util::CLOCK,
        &["--at", "2026-11-30T12:00:00Z"]
    )));
    assert!(!warned(&run_on(util::CLOCK, &[])));
}

#[test]
fn mail_cancel_never_creates_a_database() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let output = fixture.run(&[
        "mail",
        "cancel",
        "--config",
        "dutywatch.toml",
        "1",
        "--reason",
        "gone",
    ]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("no database at `"), "{stderr}");
    assert!(!fixture.path("state/dutywatch.db").exists());
}

#[test]
fn a_dry_run_answers_what_if_without_storing_or_sending() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let output = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--at",
        "2026-11-23T15:00:00Z",
    ]);
    assert!(output.status.success(), "{:?}", text(&output));
    let database = fixture.path("state/dutywatch.db");
    let before = std::fs::read(&database).expect("read the database");
    let mails = fixture.mails().len();

    // A year on, the quarterly access review has lapsed; and back in time.
    for when in ["2027-11-23T15:00:00Z", "2026-11-01T00:00:00Z"] {
        let output = fixture.run(&[
            "once",
            "--config",
            "dutywatch.toml",
            "--dry-run",
            "--at",
            when,
            "--json",
        ]);
        let (_, stderr) = text(&output);
        assert!(output.status.success(), "{when}: {stderr}");
        let review = util::duty_json(&output, "access-review");
        assert!(
            stderr.contains(&format!("dry run as of {when}: "))
                && stderr.contains("nothing was stored and nothing was sent"),
            "{stderr}"
        );
        if when.starts_with("2027") {
            assert_eq!(review["state"], "lapsed", "{review}");
        }
    }
    assert_eq!(fixture.mails().len(), mails, "no mail went out");
    assert!(
        std::fs::read(&database).expect("read the database") == before,
        "the database is untouched"
    );
}

/// A dry run never talks to the relay: with mail stuck in the real outbox (the relay is down)
/// it still exits 0, and says that this says nothing about delivery, while `once` exits 1.
#[test]
fn a_dry_run_says_it_does_not_deliver_when_mail_is_stuck() {
    let now = "2026-11-23T15:00:00Z";
    let fixture = util::standard(at(now));
    // A loopback port nobody listens on: the relay is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mail = format!(
        "transport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout = \"2s\"\n"
    );
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(&mail, ""),
    );
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, at(now));
    let output = fixture.run(&["once", "--config", "dutywatch.toml", "--at", now]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("escalation mail(s) could not be delivered"),
        "{stderr}"
    );
    let database = fixture.path("state/dutywatch.db");
    let stuck = Store::open_read_only(&database)
        .expect("store")
        .undelivered_mail(None)
        .expect("outbox")
        .len();
    assert!(stuck > 0);

    // A few seconds on, before any retry is due: nothing is "sent", but the stuck mail is
    // still said to wait, not counted as none.
    let output = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--dry-run",
        "--at",
        "2026-11-23T15:00:10Z",
    ]);
    let (_, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "and {stuck} more wait in the outbox for a later attempt"
        )) && stderr.contains(&format!(
            "the {stuck} waiting mail(s) are not delivered yet"
        )),
        "{stderr}"
    );

    // An hour on, past every retry time: the dry run "sends" the stuck mail to its scratch
    // folder and says so, exit 0.
    let output = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--dry-run",
        "--at",
        "2026-11-23T16:00:00Z",
    ]);
    let (_, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "0 decided by this cycle, {stuck} already waiting in the outbox"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("a dry run does not deliver: its exit status says nothing about the relay"),
        "{stderr}"
    );
    assert_eq!(
        Store::open_read_only(&database)
            .expect("store")
            .undelivered_mail(None)
            .expect("outbox")
            .len(),
        stuck,
        "still stuck in the real outbox"
    );
}

#[test]
fn a_payload_edited_in_the_database_is_a_source_error_never_met() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    // b@ has no MFA yet: inside the 24 h tolerance, the duty is due soon.
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, now);
    let once =
        |at: &str| fixture.run(&["once", "--config", "dutywatch.toml", "--at", at, "--json"]);
    let mfa = util::duty_json(&once("2026-11-23T15:00:00Z"), "mfa-registered");
    assert_eq!(mfa["state"], "due_soon", "{mfa}");

    // Someone with write access to the database makes the export say "all registered".
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    let id: i64 = conn
        .query_row(
            "SELECT MAX(id) FROM evidence WHERE source = 'mfa'",
            [],
            |r| r.get(0),
        )
        .expect("the mfa row");
    conn.execute_batch("DROP TRIGGER payloads_no_update")
        .expect("drop trigger");
    conn.execute(
        "UPDATE payloads SET payload = CAST(?1 AS BLOB)
          WHERE sha256 = (SELECT sha256 FROM evidence WHERE id = ?2)",
        rusqlite::params![util::MFA_OK, id],
    )
    .expect("tamper");
    drop(conn);

    // The export on disk is unchanged, so the next cycle stores nothing new and would
    // evaluate the edited row.
    let output = once("2026-11-23T15:30:00Z");
    let (_, stderr) = text(&output);
    let mfa = util::duty_json(&output, "mfa-registered");
    assert_eq!(mfa["state"], "source_error", "{mfa}");
    let reason = mfa["reason"].as_str().expect("reason");
    assert!(
        reason.contains(&format!(
            "evidence E{id} (`{}`) does not match its recorded hash: it was \
             altered in the database; it is not used. Run `dutywatch evidence verify`",
            fixture.path("evidence/mfa.json").display()
        )),
        "{reason}"
    );
    assert_eq!(mfa["evidence"], serde_json::json!([id]), "{mfa}");
    assert!(stderr.contains("EvidenceTampered"), "{stderr}");
    assert!(stderr.contains(&format!("E{id}")), "{stderr}");
    assert!(
        !stderr.contains("isMfaRegistered"),
        "the payload is never logged: {stderr}"
    );
    // The other duties, on intact evidence, are evaluated as before.
    let review = util::duty_json(&output, "access-review");
    assert_eq!(review["state"], "met", "{review}");
}

#[test]
fn evidence_verify_prints_the_head_and_expect_head_shows_removed_newest_rows() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let once = fixture.run(&[
        "once",
        "--config",
        "dutywatch.toml",
        "--at",
        "2026-11-23T15:00:00Z",
    ]);
    assert!(once.status.success(), "{:?}", text(&once));
    let verify = |extra: &[&str]| {
        let mut args = vec!["evidence", "verify", "--config", "dutywatch.toml"];
        args.extend_from_slice(extra);
        fixture.run(&args)
    };
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    let (head_id, head): (i64, String) = conn
        .query_row(
            "SELECT id, chain FROM evidence ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("head");
    let first: String = conn
        .query_row("SELECT chain FROM evidence ORDER BY id LIMIT 1", [], |r| {
            r.get(0)
        })
        .expect("first");

    let output = verify(&[]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "evidence chain intact: 2 row(s) verified\nhead: E{head_id} {head}\n"
        )),
        "{stdout}"
    );
    let output = verify(&["--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "rows": 2,
            "head": head,
            "head_id": head_id,
            "broken": null,
            "expect_head": null,
            "incident_steps": {"steps": 0, "unchained": 0, "head": null, "broken": null},
        })
    );
    let output = verify(&["--expect-head", &head.to_ascii_uppercase()]);
    assert_eq!(output.status.code(), Some(0), "{:?}", text(&output));
    assert!(
        text(&output).0.contains(&format!(
            "expected head found: E{head_id}; the chain up to it is intact"
        )),
        "{:?}",
        text(&output)
    );
    let output = verify(&["--expect-head", "abc"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "clap refuses it: {:?}",
        text(&output)
    );

    // The newest row is deleted: the rest of the chain is intact, only the head shows it.
    conn.execute_batch("DROP TRIGGER evidence_no_delete")
        .expect("drop trigger");
    conn.execute_batch(&format!(
        "DELETE FROM source_runs WHERE evidence_id = {head_id};
         DELETE FROM evidence WHERE id = {head_id};"
    ))
    .expect("delete");
    drop(conn);
    assert_eq!(
        verify(&[]).status.code(),
        Some(0),
        "undetectable without a head"
    );
    let output = verify(&["--expect-head", &head]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "expected head {head} is NOT in the chain: the rows up to it were removed or \
             rewritten"
        )),
        "{stdout}"
    );
    let output = verify(&["--expect-head", &head, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["rows"], 1);
    assert_eq!(json["head"], first);
    assert_eq!(
        json["expect_head"],
        serde_json::json!({"head": head, "found_id": null})
    );
}

#[test]
fn one_shot_commands_read_the_injected_clock_and_the_daemon_refuses_it() {
    let fixture = util::standard(at(util::CLOCK));
    // `dutywatch_command` passes `--clock util::CLOCK`: `once` without `--at` runs as of it.
    let output = fixture.run(&["once", "--config", "dutywatch.toml", "--json"]);
    let review = util::duty_json(&output, "access-review");
    assert_eq!(review["evaluated_at"], util::CLOCK, "{review}");
    assert_eq!(util::duty_json(&output, "mfa-registered")["state"], "met");
    // `--at` ahead of that clock, even by a little, is refused (see
    // `a_what_if_run_cannot_rewrite_the_databases_past`); at the clock it runs.
    let output = fixture.run(&["once", "--config", "dutywatch.toml", "--at", util::CLOCK]);
    assert!(output.status.success(), "{:?}", text(&output));

    let output = fixture.run(&["run", "--config", "dutywatch.toml"]);
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--clock is for one-shot commands"),
        "{stderr}"
    );
}

/// 100,000 `[` in a `check` overflowed the stack (SIGABRT) before lists
/// shared the parser's depth limit; the message quotes a short excerpt.
pub(crate) fn deeply_nested_check() -> String {
    format!(
        "check = \"mfa_registered in {}'x'{}\"",
        "[".repeat(100_000),
        "]".repeat(100_000)
    )
}

#[test]
fn deep_nesting_in_a_check_or_in_toml_is_refused_with_a_short_message() {
    let (code, stderr) =
        check_config_with("check = \"mfa_registered == true\"", &deeply_nested_check());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("lists cannot be nested"), "{stderr}");
    assert!(stderr.contains('…'), "the excerpt is marked: {stderr}");
    assert!(stderr.len() < 1_000, "{} bytes: {stderr}", stderr.len());

    // The TOML parser's own nesting (arrays, inline tables) is bounded too.
    for deep in [
        format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("x = {}1{}", "{a = ".repeat(100_000), "}".repeat(100_000)),
    ] {
        let (code, stderr) = check_config_with("timezone =", &format!("{deep}\ntimezone ="));
        assert_eq!(code, Some(1), "{}", &stderr[..stderr.len().min(2_000)]);
        assert!(stderr.len() < 1_000, "{} bytes", stderr.len());
    }
}

#[test]
fn max_bytes_takes_sizes_and_refuses_zero_and_absurd_limits() {
    let mfa = "path = \"evidence/mfa.json\"\n";
    for ok in ["\"64MiB\"", "\"500KB\"", "\"1.5 GiB\"", "1048576"] {
        // The fixture's CRM has problems of its own; none is about the limit.
        let (_, stderr) = check_config_with(mfa, &format!("{mfa}max_bytes = {ok}\n"));
        assert!(!stderr.contains("max_bytes"), "{ok}: {stderr}");
    }
    for (bad, expected) in [
        ("0", "at least one byte"),
        ("\"0MiB\"", "at least one byte"),
        ("-5", "at least one byte"),
        ("\"5GiB\"", "more than the 4 GiB"),
        ("5000000000", "more than the 4 GiB"),
        ("\"lots\"", "is not a size"),
        ("\"64 MiBs\"", "is not a size"),
        ("true", "is not a size"),
    ] {
        let (code, stderr) = check_config_with(mfa, &format!("{mfa}max_bytes = {bad}\n"));
        assert_eq!(code, Some(1), "{bad}: {stderr}");
        assert!(stderr.contains("source[mfa].max_bytes"), "{bad}: {stderr}");
        assert!(stderr.contains(expected), "{bad}: {stderr}");
    }
}

#[test]
fn evidence_add_refuses_fifos_devices_and_files_over_the_limit() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let add = |file: &str| {
        let output = fixture.run(&[
            "evidence",
            "add",
            "--config",
            "dutywatch.toml",
            "--duty",
            "training",
            "--file",
            file,
        ]);
        (output.status.code(), text(&output).1)
    };
    let fifo = fixture.path("pipe.pdf");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    // Blocked forever before: opening a FIFO waits for a writer.
    let (code, stderr) = add("pipe.pdf");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is a FIFO (named pipe), not a regular file"),
        "{stderr}"
    );
    let (code, stderr) = add("/dev/zero");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is a device, not a regular file"),
        "{stderr}"
    );

    // One byte over 64 MiB, sparse so it costs no disk.
    let big = std::fs::File::create(fixture.path("big.pdf")).expect("create");
    big.set_len(64 * 1024 * 1024 + 1).expect("set_len");
    let (code, stderr) = add("big.pdf");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is 64.0 MiB (67108865 bytes), over the limit of 64 MiB (67108864 bytes)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hand-added evidence is limited to 64 MiB"),
        "{stderr}"
    );
}

#[test]
fn at_refuses_an_offset_out_of_range_and_says_when_an_instant_is_out_of_range() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    for (at, expected) in [
        (
            "2026-03-08T02:30:00+25:00",
            "has the offset +25:00, which is out of range",
        ),
        (
            "9999-12-31T23:59:59Z",
            "is out of range: an instant must lie within 50 years",
        ),
        // In jiff's range, but past what a cycle can keep (without --dry-run
        // it is refused as ahead of the clock).
        (
            "9999-06-01T00:00:00Z",
            "is out of range: an instant must lie within 50 years",
        ),
        (
            "1900-01-01T00:00:00Z",
            "is out of range: an instant must lie within 50 years",
        ),
    ] {
        for dry_run in [true, false] {
            if at.starts_with("9999-06") && !dry_run {
                continue;
            }
            let mut args = vec!["once", "--config", "dutywatch.toml", "--at", at];
            if dry_run {
                args.push("--dry-run");
            }
            let output = fixture.run(&args);
            let (_, stderr) = text(&output);
            assert!(!output.status.success(), "{at}: {stderr}");
            assert!(stderr.contains(expected), "{at}: {stderr}");
            assert!(!stderr.contains("overflow"), "{at}: {stderr}");
        }
    }
    assert!(!fixture.path("state/dutywatch.db").exists(), "nothing ran");
}

#[test]
fn an_empty_file_stored_as_hand_added_evidence_does_not_meet_its_duty() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    // As `evidence add` stored it before it refused empty files.
    let config = fixture.load();
    let mut store = dutywatch::store::Store::open(&config.database).expect("store");
    store
        .add_evidence(&dutywatch::store::NewEvidence {
            client: "acme",
            source: "manual:training",
            fetched_at: now,
            effective_at: at("2026-11-01T12:00:00Z"),
            media_type: "application/pdf",
            origin: "manual: roster.pdf added by chris",
            payload: b"",
        })
        .expect("stored");
    drop(store);
    let output = fixture.run(&["once", "--config", "dutywatch.toml", "--json"]);
    let training = util::duty_json(&output, "training");
    assert_ne!(training["state"], "met", "{training}");
    assert!(
        training["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("is empty: a file with nothing in it proves nothing"),
        "{training}"
    );
}

#[test]
fn a_file_is_one_origin_however_the_config_was_named() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    let absolute = fixture.config_path();
    std::fs::create_dir_all(fixture.path("sub")).expect("mkdir");
    let roundabout = fixture.path("sub/../dutywatch.toml");
    let configs = [
        "dutywatch.toml",
        absolute.to_str().expect("utf-8"),
        roundabout.to_str().expect("utf-8"),
    ];
    for (hours, config) in (1..).zip(configs) {
        let output = fixture.run(&["once", "--config", config]);
        assert!(output.status.success(), "{:?}", text(&output));
        // Changed before the next run, so each stores a snapshot with its origin.
        let touched = at("2026-11-23T15:00:00Z") + jiff::SignedDuration::from_hours(hours);
        fixture.write_dated("evidence/reviews.csv", util::REVIEWS, touched);
    }
    let conn = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("open");
    let snapshots: i64 = conn
        .query_row(
            "SELECT count(*) FROM evidence WHERE source = 'reviews'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(snapshots, 3, "one per run");
    let origins: Vec<String> = conn
        .prepare("SELECT DISTINCT origin FROM evidence WHERE source = 'reviews'")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        origins,
        [fixture.path("evidence/reviews.csv").display().to_string()]
    );
}

#[test]
fn control_characters_in_a_subject_never_reach_the_status_table_or_a_mail() {
    let fixture = util::standard(at("2026-11-23T15:00:00Z"));
    fixture.write_dated(
        "evidence/mfa.json",
        r#"{"value": [{"userPrincipalName": "eve\u001b]0;pwned\u0007\nFAKE: acme mfa-registered met\u202e@acme.example", "isMfaRegistered": false}]}"#,
        at("2026-11-23T15:00:00Z"),
    );
    let once = util::dutywatch_command_at(
        &fixture.path(""),
        &["once", "--config", "dutywatch.toml"],
        "2026-11-23T15:00:00Z",
    );
    let (stdout, stderr) = text(&once);
    assert!(once.status.success(), "{stdout}{stderr}");
    let status = fixture.run(&["status", "--config", "dutywatch.toml", "--subjects"]);
    let (table, _) = text(&status);
    let mails = fixture.mails().join("\n");
    for (what, shown) in [
        ("once", &stdout),
        ("status --subjects", &table),
        ("mail", &mails),
    ] {
        assert!(shown.contains("pwned"), "{what} names the user: {shown}");
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{202e}') && !shown.contains("\nFAKE"),
            "{what}: {shown:?}"
        );
    }
}
