//! The escalation ladder end to end, at exact instants: each step once per subject, repeats at
//! their interval, acknowledgements, silences, resolution, restarts, the first run's summary.

use dutywatch::store::{AckKind, NewAck, Store};
use jiff::{SignedDuration, Timestamp};

use crate::util::{self, at, text};

/// The standard config with management contacts on both sides and a report address.
fn ladder_config(extra: &str) -> String {
    util::contractor_config(extra)
        .replace(
            "contacts = [\"it@acme.example\"]",
            "contacts = [\"it@acme.example\"]\nmanagement_contacts = [\"ceo@acme.example\"]\nmsp_management_contacts = [\"boss@keystone.example\"]",
        )
        .replace(
            "[[contractor]]",
            "[escalation]\nbase_url = \"https://reports.acme.example/dutywatch\"\n\n[[contractor]]",
        )
}

fn fixture(now: Timestamp) -> util::Fixture {
    let fixture = util::standard(now);
    fixture.write("dutywatch.toml", &ladder_config(""));
    fixture
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// A header of a message (folded lines joined).
fn header(mail: &str, name: &str) -> Option<String> {
    let head = mail.split("\n\n").next().unwrap_or_default();
    let mut value: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push_str(line);
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((key, rest)) = line.split_once(':')
            && key.eq_ignore_ascii_case(name)
        {
            value = Some(rest.trim().to_owned());
        }
    }
    value
}

/// The mails written since `before` (the file transport's names sort by nothing useful, so
/// the test counts them).
fn new_mails(fixture: &util::Fixture, before: &[String]) -> Vec<String> {
    fixture
        .mails()
        .into_iter()
        .filter(|m| !before.contains(m))
        .collect()
}

#[test]
fn a_lapse_climbs_once_per_step_repeats_weekly_and_stops_when_acknowledged() {
    // The manual training duty has no evidence: a problem from the first check on.
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    let first = fixture.mails();
    assert_eq!(first.len(), 1, "{first:#?}");
    let notice = &first[0];
    assert!(
        notice.contains("Subject: [dutywatch] NO EVIDENCE: Annual training (Acme Machining)"),
        "{notice}"
    );
    assert_eq!(header(notice, "To").as_deref(), Some("it@acme.example"));
    assert!(
        notice.contains("no evidence since 2026-12-01 09:00 EST (-05:00)"),
        "times in the configured zone with the offset: {notice}"
    );
    assert!(notice.contains("Report: https://reports.acme.example/dutywatch/acme/"));
    let root = header(notice, "Message-ID").expect("a Message-ID");
    assert!(root.starts_with("<dw-thread."), "{root}");

    let mut seen = fixture.mails();
    let mut step = |engine: &mut dutywatch::engine::Engine, now: Timestamp| -> Vec<String> {
        // The MFA export keeps arriving, so only the duty under test changes.
        fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
        engine.cycle(now).expect("cycle");
        let new = new_mails(&fixture, &seen);
        seen = fixture.mails();
        // The access review falls due mid-December: its mails are not this test's.
        new.into_iter()
            .filter(|m| m.contains("Annual training"))
            .collect()
    };
    assert!(step(&mut engine, t0 + SignedDuration::from_hours(1)).is_empty());
    assert!(
        step(&mut engine, t0 + days(3) - SignedDuration::from_secs(1)).is_empty(),
        "management waits the full three days"
    );
    let management = step(&mut engine, t0 + days(3));
    assert_eq!(management.len(), 1, "{management:#?}");
    let m = &management[0];
    assert!(
        m.contains("Subject: [dutywatch] ESCALATED: NO EVIDENCE: Annual training"),
        "{m}"
    );
    assert_eq!(header(m, "To").as_deref(), Some("it@acme.example"));
    assert_eq!(header(m, "Cc").as_deref(), Some("ceo@acme.example"));
    assert_eq!(header(m, "In-Reply-To").as_deref(), Some(root.as_str()));
    assert_eq!(header(m, "References").as_deref(), Some(root.as_str()));
    assert!(m.contains("escalated to management"), "{m}");

    // A restart in between changes nothing.
    let mut engine = util::engine(&fixture);
    assert!(step(&mut engine, t0 + days(3) + SignedDuration::from_hours(1)).is_empty());
    assert!(step(&mut engine, t0 + days(10) - SignedDuration::from_secs(1)).is_empty());
    let reminder = step(&mut engine, t0 + days(10));
    assert_eq!(reminder.len(), 1, "a week after management: {reminder:#?}");
    assert!(
        reminder[0].contains("Subject: [dutywatch] REMINDER: NO EVIDENCE: Annual training"),
        "{}",
        reminder[0]
    );
    assert!(reminder[0].contains("reminder 1"), "{}", reminder[0]);
    assert!(step(&mut engine, t0 + days(10) + SignedDuration::from_hours(6)).is_empty());
    // The second reminder; the access review fell due meanwhile, and it@ hears of both in
    // one mail while ceo@ hears of the reminder alone.
    let second = step(&mut engine, t0 + days(17));
    assert_eq!(second.len(), 2, "{second:#?}");
    assert!(
        second.iter().all(|m| m.contains("reminder 2")),
        "{second:#?}"
    );
    let to_it = second
        .iter()
        .find(|m| header(m, "To").as_deref() == Some("it@acme.example"))
        .expect("it@'s mail");
    assert!(
        to_it.contains("Subject: [dutywatch] 2 duties need attention"),
        "{to_it}"
    );
    // The counts after it are of duties too, by their worst state.
    let subject = header(to_it, "Subject").expect("a subject");
    let counted: u32 = subject
        .split_once("need attention: ")
        .map(|(_, counts)| counts.split(" (").next().unwrap_or_default())
        .unwrap_or_default()
        .split(", ")
        .filter_map(|count| count.split(' ').next()?.parse::<u32>().ok())
        .sum();
    assert_eq!(counted, 2, "{subject}");
    let (training, review) = (
        to_it
            .find("NO EVIDENCE: Annual training")
            .expect("training"),
        to_it
            .find("DUE SOON: Quarterly access review")
            .expect("review"),
    );
    assert!(training < review, "the worse state first");
    // It answers the training thread; the review's warning opened a thread in this very mail,
    // which has no root mail to answer.
    assert_eq!(header(to_it, "References").as_deref(), Some(root.as_str()));

    // Acknowledged through the CLI (its --clock is 2026-12-01): no reminder any more, the
    // state stays as it is.
    let output = fixture.run(&[
        "ack",
        "training",
        "--by",
        "Dana Reyes",
        "--reason",
        "training vendor booked for Dec 20",
        "--config",
        "dutywatch.toml",
    ]);
    let (out, err) = text(&output);
    assert!(output.status.success(), "{out}{err}");
    assert!(out.contains("acknowledged by Dana Reyes"), "{out}");
    let mut engine = util::engine(&fixture);
    assert!(step(&mut engine, t0 + days(24)).is_empty(), "acknowledged");
    assert!(
        step(&mut engine, t0 + days(60)).is_empty(),
        "still acknowledged"
    );
    assert_eq!(
        util::verdict_of(&engine, "training").state.kind(),
        dutywatch_checks::verdict::StateKind::NoEvidence,
        "the record is untouched"
    );
    let output = fixture.run(&["status", "--config", "dutywatch.toml"]);
    let (out, _) = text(&output);
    assert!(out.contains("no_evidence"), "{out}");
    assert!(
        out.contains("ack     acme/training: by Dana Reyes"),
        "status shows the state with the acknowledgement: {out}"
    );
    let output = fixture.run(&["status", "--json", "--config", "dutywatch.toml"]);
    let status: serde_json::Value = serde_json::from_str(&text(&output).0).expect("json");
    assert_eq!(
        status["acks"][0]["reason"],
        "training vendor booked for Dec 20"
    );
    let output = fixture.run(&["acks", "--json", "--config", "dutywatch.toml"]);
    let (out, err) = text(&output);
    assert!(output.status.success(), "{err}");
    let acks: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(acks[0]["by"], "Dana Reyes");
    assert_eq!(acks[0]["kind"], "ack");
    assert_eq!(acks[0]["duty"], "training");
}

#[test]
fn a_warning_becomes_a_lapse_in_one_thread_a_silence_holds_it_and_the_resolution_closes_it() {
    // The access review was signed off 2026-10-01, due every 90 days (2026-12-30 12:00 UTC),
    // due soon 14 days before.
    let t0 = at("2026-12-20T14:00:00Z");
    let fixture = fixture(t0);
    // Without the manual training duty, whose own ladder would share these mails.
    let config = ladder_config("");
    let cut = config
        .find("[[contractor.duty]]\nid = \"training\"")
        .expect("the training duty");
    fixture.write("dutywatch.toml", &config[..cut]);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    let all = fixture.mails();
    let due_soon = all
        .iter()
        .find(|m| m.contains("DUE SOON: Quarterly access review"))
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(header(due_soon, "To").as_deref(), Some("it@acme.example"));
    let root = header(due_soon, "Message-ID").expect("id");

    let mut seen = fixture.mails();
    let mut step = |engine: &mut dutywatch::engine::Engine, now: Timestamp| -> Vec<String> {
        // The MFA export keeps arriving, so only the duty under test changes.
        fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
        engine.cycle(now).expect("cycle");
        let new = new_mails(&fixture, &seen);
        seen = fixture.mails();
        new
    };
    let t1 = at("2026-12-30T14:00:00Z");
    let lapse = step(&mut engine, t1);
    let lapse: Vec<&String> = lapse
        .iter()
        .filter(|m| m.contains("Quarterly access review"))
        .collect();
    assert_eq!(lapse.len(), 1, "{lapse:#?}");
    assert!(lapse[0].contains("Subject: [dutywatch] LAPSED: Quarterly access review"));
    assert_eq!(
        header(lapse[0], "In-Reply-To").as_deref(),
        Some(root.as_str())
    );

    // Planned work: silenced for five days from an hour later.
    let mut store = Store::open(&fixture.path("state/dutywatch.db")).expect("store");
    store
        .add_ack(&NewAck {
            kind: AckKind::Silence,
            client: "acme",
            duty: "access-review",
            subject: None,
            by: "ops",
            reason: "review moved to the January audit week",
            at: t1 + SignedDuration::from_hours(1),
            until: Some(t1 + days(5)),
        })
        .expect("silence");
    drop(store);
    let about_review = |mails: Vec<String>| -> Vec<String> {
        mails
            .into_iter()
            .filter(|m| m.contains("Quarterly access review"))
            .collect()
    };
    assert!(
        about_review(step(&mut engine, t1 + days(3))).is_empty(),
        "silenced: management is not told yet"
    );
    let after = about_review(step(&mut engine, t1 + days(5)));
    assert_eq!(after.len(), 1, "the silence ended by itself: {after:#?}");
    assert!(after[0].contains("ESCALATED: LAPSED: Quarterly access review"));
    assert_eq!(
        header(&after[0], "In-Reply-To").as_deref(),
        Some(root.as_str())
    );

    // Done: the export shows the new sign-off. One resolution mail closes the thread, to
    // everyone it reached.
    let done = t1 + days(6);
    fixture.write_dated(
        "evidence/reviews.csv",
        &format!(
            "{}Q4,alice,keep,{}\n",
            util::REVIEWS,
            done - SignedDuration::from_hours(2)
        ),
        done,
    );
    let resolved = about_review(step(&mut engine, done));
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    let r = &resolved[0];
    assert!(
        r.contains("Subject: [dutywatch] RESOLVED: Quarterly access review"),
        "{r}"
    );
    assert_eq!(header(r, "In-Reply-To").as_deref(), Some(root.as_str()));
    assert_eq!(header(r, "To").as_deref(), Some("it@acme.example"));
    assert_eq!(header(r, "Cc").as_deref(), Some("ceo@acme.example"));
    assert!(about_review(step(&mut engine, done + days(14))).is_empty());
}

#[test]
fn a_subject_that_lapses_is_its_own_thread_and_told_once() {
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    let count = |fixture: &util::Fixture, needle: &str| {
        fixture
            .mails()
            .iter()
            .filter(|m| m.contains(needle))
            .count()
    };
    assert_eq!(count(&fixture, "  - b@acme.example [due_soon"), 1);
    // Past the 24 h tolerance b lapses: told once, to the MSP and the accountable contractor.
    for hours in [25, 26, 30] {
        fixture.write_dated(
            "evidence/mfa.json",
            util::MFA_BAD,
            t0 + SignedDuration::from_hours(hours),
        );
        engine
            .cycle(t0 + SignedDuration::from_hours(hours))
            .expect("cycle");
    }
    let lapses: Vec<String> = fixture
        .mails()
        .into_iter()
        .filter(|m| m.contains("  - b@acme.example [lapsed"))
        .collect();
    assert_eq!(lapses.len(), 1, "{lapses:#?}");
    assert_eq!(
        header(&lapses[0], "To").as_deref(),
        Some("soc@keystone.example")
    );
    assert_eq!(header(&lapses[0], "Cc").as_deref(), Some("it@acme.example"));
    assert!(
        lapses[0].contains("Keystone IT (the MSP)"),
        "the party in words: {}",
        lapses[0]
    );
}

#[test]
fn the_first_run_over_two_hundred_duties_sends_at_most_one_mail_per_recipient() {
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = util::standard(t0);
    let mut extra = String::new();
    for n in 0..210 {
        let (party, objective) = if n % 3 == 0 {
            ("msp", "3.5.3")
        } else {
            ("contractor", "3.2.1")
        };
        extra += &format!(
            "\n[[contractor.duty]]\nid = \"attest-{n:03}\"\ntitle = \"Attestation {n:03}\"\nobjectives = [\"{objective}\"]\nparty = \"{party}\"\nsource = \"manual\"\nrule = \"recurring\"\nevery = \"365d\"\n"
        );
    }
    fixture.write("dutywatch.toml", &ladder_config(&extra));
    let mut engine = util::engine(&fixture);
    let summary = engine.cycle(t0).expect("cycle");
    assert!(summary.evaluated > 200, "{summary:?}");
    let mails = fixture.mails();
    let mut per_recipient: std::collections::BTreeMap<String, usize> = Default::default();
    for mail in &mails {
        for name in ["To", "Cc"] {
            for address in header(mail, name).unwrap_or_default().split(',') {
                let address = address.trim();
                if !address.is_empty() {
                    *per_recipient.entry(address.to_owned()).or_default() += 1;
                }
            }
        }
    }
    assert!(!per_recipient.is_empty());
    assert!(
        per_recipient.values().all(|n| *n == 1),
        "{per_recipient:?} over {} mails",
        mails.len()
    );
    let contractor = mails
        .iter()
        .find(|m| header(m, "To").as_deref() == Some("it@acme.example"))
        .expect("the contractor's summary");
    assert!(
        contractor.contains("Subject: [dutywatch] First check of Acme Machining:"),
        "{}",
        &contractor[..600.min(contractor.len())]
    );
    // Lapsed and missing first: the order of urgency.
    let first_block = contractor.find("NO EVIDENCE: ").expect("a problem block");
    let due_soon = contractor.find("DUE SOON: ").unwrap_or(usize::MAX);
    assert!(first_block < due_soon);
    assert!(
        contractor.contains("Content-Type: text/html"),
        "an HTML alternative"
    );
    assert_eq!(
        header(contractor, "References"),
        None,
        "a first summary answers nothing"
    );
}

#[test]
fn ack_and_silence_refuse_what_they_cannot_keep_saying_how_to_fix_it() {
    let fixture = fixture(at(util::CLOCK));
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--config", "dutywatch.toml"]);
        let output = fixture.run(&all);
        let (out, err) = text(&output);
        (output.status.success(), format!("{out}{err}"))
    };
    let (ok, said) = run(&["ack", "training", "--by", "Dana", "--reason", "booked"]);
    assert!(!ok);
    assert!(said.contains("no database at"), "{said}");
    assert!(run(&["once"]).1.contains("training"));

    let (ok, said) = run(&["ack", "traning", "--by", "Dana", "--reason", "booked"]);
    assert!(!ok);
    assert!(
        said.contains("no duty `traning`") && said.contains("did you mean `training`?"),
        "{said}"
    );
    // Nothing close: where to find them, not every id of the library.
    let (ok, said) = run(&["ack", "zzz-none", "--by", "Dana", "--reason", "booked"]);
    assert!(!ok);
    assert!(
        said.contains("`dutywatch status --library` lists them"),
        "{said}"
    );
    assert!(!said.contains("access-review"), "{said}");
    let (ok, said) = run(&[
        "silence",
        "training",
        "--reason",
        " ",
        "--until",
        "2026-12-02T00:00:00Z",
    ]);
    assert!(!ok);
    assert!(said.contains("say why with --reason"), "{said}");
    let (ok, said) = run(&[
        "ack",
        "training",
        "--by",
        "Dana",
        "--reason",
        "booked",
        "--until",
        "2026-11-30T00:00:00Z",
    ]);
    assert!(!ok);
    assert!(said.contains("is not in the future"), "{said}");
    let (ok, said) = run(&[
        "ack",
        "mfa-registered",
        "--subject",
        "z@acme.example",
        "--by",
        "Dana",
        "--reason",
        "x",
    ]);
    assert!(!ok);
    assert!(said.contains("has no subject `z@acme.example`"), "{said}");
    // Nothing to acknowledge: the access review is met (a met duty's ack would hold back the
    // management step of its next lapse).
    let (ok, said) = run(&["ack", "access-review", "--by", "Dana", "--reason", "fine"]);
    assert!(!ok);
    assert!(
        said.contains("duty `access-review` needs no acknowledgement: it is met"),
        "{said}"
    );
    // A silence for planned work has an end in sight.
    let (ok, said) = run(&[
        "silence",
        "training",
        "--reason",
        "forever",
        "--until",
        "2099-01-01T00:00:00Z",
    ]);
    assert!(!ok);
    assert!(said.contains("is more than 90 days away"), "{said}");
    let (ok, said) = run(&["acks"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("No acknowledgement or silence is in force"),
        "{said}"
    );

    let (ok, said) = run(&[
        "silence",
        "training",
        "--by",
        "Sam",
        "--reason",
        "trainer on leave",
        "--until",
        "2026-12-08T09:00:00-05:00",
    ]);
    assert!(ok, "{said}");
    assert!(
        said.contains("silenced until 2026-12-08 09:00 EST (-05:00)"),
        "{said}"
    );
    let (_, said) = run(&["acks"]);
    assert!(
        said.contains("silence acme/training") && said.contains("trainer on leave"),
        "{said}"
    );
    // Run where no login name is known (cron, a container) and without --by: who said it
    // is asked for, never recorded as a placeholder (`ack` always asks for --by).
    let anonymous = |by: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"));
        command
            .args(["silence", "training", "--reason", "server move", "--until"])
            .args(["2026-12-04T09:00:00-05:00", "--config", "dutywatch.toml"])
            .args(["--clock", util::CLOCK])
            .args(by.map(|by| ["--by", by]).into_iter().flatten())
            .current_dir(fixture.path("."))
            .env_remove("SUDO_USER")
            .env_remove("USER")
            .env_remove("LOGNAME")
            .env_remove("DUTYWATCH_CONFIG")
            .env("DUTYWATCH_LOG", "warn");
        let output = command.output().expect("dutywatch runs");
        let (out, err) = text(&output);
        (output.status.success(), format!("{out}{err}"))
    };
    let (ok, said) = anonymous(None);
    assert!(!ok, "{said}");
    assert!(said.contains("say who with --by NAME"), "{said}");
    // An empty SUDO_USER (a wrapper that clears it) does not hide the login behind it.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"));
    let output = command
        .args([
            "silence",
            "access-review",
            "--reason",
            "audit week",
            "--until",
        ])
        .args(["2026-12-04T09:00:00-05:00", "--config", "dutywatch.toml"])
        .args(["--clock", util::CLOCK])
        .current_dir(fixture.path("."))
        .env("SUDO_USER", "")
        .env("USER", "alice")
        .env_remove("DUTYWATCH_CONFIG")
        .env("DUTYWATCH_LOG", "warn")
        .output()
        .expect("dutywatch runs");
    assert!(output.status.success(), "{:?}", text(&output));
    let (ok, said) = anonymous(Some("Dana"));
    assert!(ok, "{said}");
    let (_, said) = run(&["acks"]);
    assert!(
        said.contains("server move") && said.contains("Dana"),
        "{said}"
    );
    assert!(
        said.contains("audit week") && said.contains("alice"),
        "{said}"
    );
    assert!(!said.contains("unknown"), "{said}");
}

#[test]
fn the_daemon_climbs_the_ladder_on_its_evaluation_schedule_and_a_restart_repeats_nothing() {
    use dutywatch::daemon::Daemon;
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    let about_training = |fixture: &util::Fixture| {
        fixture
            .mails()
            .into_iter()
            .filter(|m| m.contains("Annual training"))
            .collect::<Vec<_>>()
    };
    let mut daemon =
        Daemon::start(fixture.config_path(), fixture.load(), t0).expect("daemon starts");
    daemon.step(t0).expect("step");
    assert_eq!(about_training(&fixture).len(), 1);
    // Nothing changes, no source is due at 09:15 local: the 15-minute evaluation alone
    // brings the management step once its time has come.
    let step = |daemon: &mut Daemon, now: Timestamp| {
        fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
        daemon.step(now).expect("step");
    };
    step(&mut daemon, t0 + days(3) - SignedDuration::from_mins(15));
    assert_eq!(about_training(&fixture).len(), 1);
    step(&mut daemon, t0 + days(3) + SignedDuration::from_mins(15));
    let mails = about_training(&fixture);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert!(mails.iter().any(|m| m.contains("ESCALATED: NO EVIDENCE")));
    drop(daemon);

    // A restart: the new daemon catches up on its schedule and decides nothing twice.
    let restart = t0 + days(3) + SignedDuration::from_hours(2);
    let mut daemon =
        Daemon::start(fixture.config_path(), fixture.load(), restart).expect("daemon restarts");
    step(&mut daemon, restart);
    step(&mut daemon, restart + SignedDuration::from_mins(15));
    assert_eq!(about_training(&fixture).len(), 2);
}

#[test]
fn subjects_of_a_duty_now_judged_as_a_whole_are_resolved_and_not_told_again() {
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    let cycle = |engine: &mut dutywatch::engine::Engine, now: Timestamp| {
        fixture.write_dated("evidence/mfa.json", util::MFA_BAD, now);
        engine.cycle(now).expect("cycle");
    };
    let about_b = |mails: &[String]| -> Vec<String> {
        mails
            .iter()
            .filter(|m| m.contains("b@acme.example"))
            .cloned()
            .collect()
    };
    let mut engine = util::engine(&fixture);
    cycle(&mut engine, t0);
    // Past the 24 h tolerance b lapses, and its thread reaches the accountable contractor.
    cycle(&mut engine, t0 + SignedDuration::from_hours(25));
    assert!(
        fixture
            .mails()
            .iter()
            .any(|m| m.contains("  - b@acme.example [lapsed")),
        "b lapsed"
    );

    // The duty is changed to hold while any user is registered: b is no longer judged alone.
    fixture.write(
        "dutywatch.toml",
        &ladder_config("").replace(
            "check = \"mfa_registered == true\"",
            "check = \"mfa_registered == true\"\nexpect = \"any\"",
        ),
    );
    let before = fixture.mails();
    let t1 = t0 + SignedDuration::from_hours(26);
    let mut engine = util::engine(&fixture);
    cycle(&mut engine, t1);
    let resolved = about_b(&new_mails(&fixture, &before));
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert!(
        resolved[0].contains(
            "  - b@acme.example [gone]: no longer judged one by one: the duty's rule now judges it as a whole"
        ),
        "the resolution says why: {}",
        resolved[0]
    );
    let subjects = engine
        .store()
        .subjects("acme", "mfa-registered")
        .expect("subjects");
    assert_eq!(subjects.len(), 1);
    assert_eq!(subjects[0].gone_at, Some(t1), "{subjects:?}");
    assert!(
        engine
            .store()
            .ladder_state("acme", t1)
            .expect("ladder")
            .threads
            .iter()
            .all(|t| t.subject != "b@acme.example"),
        "b's thread is closed"
    );

    // Weeks later nothing about b is told: no management step, no reminders.
    let before = fixture.mails();
    for day in [3, 8, 15, 22] {
        cycle(&mut engine, t1 + days(day));
    }
    let later = about_b(&new_mails(&fixture, &before));
    assert!(later.is_empty(), "{later:#?}");
}

#[test]
fn a_thread_opened_for_an_old_lapse_reaches_management_at_once() {
    // Only b, who never registers: once the duty is judged as a whole it lapses as a whole,
    // since b's lapse began days ago.
    const ONLY_B: &str =
        r#"{"value": [{"userPrincipalName": "b@acme.example", "isMfaRegistered": false}]}"#;
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    let cycle = |engine: &mut dutywatch::engine::Engine, now: Timestamp| {
        fixture.write_dated("evidence/mfa.json", ONLY_B, now);
        engine.cycle(now).expect("cycle");
    };
    let mut engine = util::engine(&fixture);
    for at in [t0, t0 + SignedDuration::from_hours(25), t0 + days(4)] {
        cycle(&mut engine, at);
    }
    fixture.write(
        "dutywatch.toml",
        &ladder_config("").replace(
            "check = \"mfa_registered == true\"",
            "check = \"mfa_registered == true\"\nexpect = \"any\"",
        ),
    );
    let t1 = t0 + days(4) + SignedDuration::from_hours(1);
    let mut engine = util::engine(&fixture);
    let before = fixture.mails();
    cycle(&mut engine, t1);
    let subjects = |mails: &[String]| -> Vec<String> {
        mails.iter().filter_map(|m| header(m, "Subject")).collect()
    };
    // Lapsed for days, past `management_after`: management hears of it with the notice, in
    // the same pass (the team's mail also carries the close of b's own thread).
    let mails = new_mails(&fixture, &before);
    assert!(!mails.is_empty());
    assert!(
        subjects(&mails)
            .iter()
            .all(|s| s == "[dutywatch] ESCALATED: LAPSED: MFA registered (Acme Machining)"),
        "{:?}",
        subjects(&mails)
    );
    assert!(
        mails.iter().any(|m| header(m, "To").is_some_and(
            |to| to.contains("ceo@acme.example") && to.contains("boss@keystone.example")
        )),
        "{mails:#?}"
    );
    assert!(
        mails.iter().all(|m| !m.contains("first notice")),
        "{mails:#?}"
    );
    // Nothing is left for the next pass.
    let before = fixture.mails();
    cycle(&mut engine, t1 + SignedDuration::from_mins(15));
    assert!(new_mails(&fixture, &before).is_empty());
}

#[test]
fn a_duty_removed_from_the_config_closes_its_thread_and_comes_back_in_a_new_one() {
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    let training = "[[contractor.duty]]\nid = \"training\"";
    let full = ladder_config("");
    assert!(full.contains(training));
    let without = full
        .split(training)
        .next()
        .expect("before the duty")
        .to_owned();
    let cycle = |engine: &mut dutywatch::engine::Engine, now: Timestamp| {
        fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
        engine.cycle(now).expect("cycle");
    };
    let mut engine = util::engine(&fixture);
    cycle(&mut engine, t0);
    let first = fixture.mails();
    let notice = first
        .iter()
        .find(|m| m.contains("NO EVIDENCE: Annual training"))
        .expect("the training duty's notice");
    let root = header(notice, "Message-ID").expect("a Message-ID");
    let open = |engine: &dutywatch::engine::Engine, now: Timestamp| -> Vec<String> {
        engine
            .store()
            .ladder_state("acme", now)
            .expect("ladder")
            .threads
            .into_iter()
            .map(|t| t.duty)
            .collect()
    };
    assert!(open(&engine, t0).contains(&"training".to_owned()));

    // Taken out of the config: its thread closes.
    fixture.write("dutywatch.toml", &without);
    let t1 = t0 + days(1);
    let mut engine = util::engine(&fixture);
    cycle(&mut engine, t1);
    assert!(
        !open(&engine, t1).contains(&"training".to_owned()),
        "closed"
    );

    // Put back two weeks later: a lapse of its own, told from the start in a new thread, not
    // as the old thread's next repeat.
    fixture.write("dutywatch.toml", &full);
    let before = fixture.mails();
    let t2 = t0 + days(14);
    let mut engine = util::engine(&fixture);
    cycle(&mut engine, t2);
    let back: Vec<String> = new_mails(&fixture, &before)
        .into_iter()
        .filter(|m| m.contains("Annual training"))
        .collect();
    assert_eq!(back.len(), 1, "{back:#?}");
    assert!(
        back[0].contains("Subject: [dutywatch] NO EVIDENCE: Annual training"),
        "{}",
        back[0]
    );
    assert_eq!(header(&back[0], "In-Reply-To"), None, "{}", back[0]);
    assert_ne!(header(&back[0], "Message-ID"), Some(root));
}

#[test]
fn a_collector_that_recovers_onto_failing_subjects_is_not_told_as_met() {
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    // The export breaks off mid-record: the collector fails, and that is mailed.
    let truncated = &util::MFA_BAD[..util::MFA_BAD.len() / 2];
    fixture.write_dated("evidence/mfa.json", truncated, t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    let before = fixture.mails();
    assert!(
        before.iter().any(|m| m.contains("COLLECTOR FAILING")),
        "{before:#?}"
    );
    // It reads again, and b@ has no MFA: the duty is due soon, not met.
    let t1 = t0 + SignedDuration::from_hours(1);
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, t1);
    engine.cycle(t1).expect("cycle");
    let told: Vec<String> = new_mails(&fixture, &before)
        .into_iter()
        .filter(|m| m.contains("own problem is resolved"))
        .collect();
    // One to each side: the contractor and the MSP.
    assert_eq!(told.len(), 2, "{:#?}", new_mails(&fixture, &before));
    for mail in &told {
        assert!(!mail.contains("Resolved as of"), "{mail}");
        assert!(!mail.contains("RESOLVED"), "{mail}");
        assert!(!mail.contains("State:         met"), "{mail}");
        assert!(mail.contains("State:         due soon since"), "{mail}");
        assert!(
            header(mail, "Subject").is_some_and(|s| s.contains("DUE SOON")),
            "{mail}"
        );
    }
}

#[test]
fn a_damaged_subject_row_silences_only_its_own_duty() {
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    // b@'s row of mfa-registered no longer reads (a state no version knows).
    let db = fixture.path("state/dutywatch.db");
    rusqlite::Connection::open(&db)
        .expect("open")
        .execute_batch("UPDATE subject_state SET state = 'waived' WHERE duty = 'mfa-registered'")
        .expect("damage");
    let before = fixture.mails();
    // The access review falls due soon (due 2026-12-30, warned 14 days ahead): its step and
    // mail still happen, and the pass says what it could not do.
    let t1 = at("2026-12-17T14:00:00Z");
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, t1);
    let error = engine.cycle(t1).expect_err("the damaged duty is an error");
    assert!(format!("{error:#}").contains("mfa-registered"), "{error:#}");
    let new = new_mails(&fixture, &before);
    assert!(
        new.iter()
            .any(|m| m.contains("DUE SOON") && m.contains("Quarterly access review")),
        "{new:#?}"
    );
    // Nothing changes after: the damaged duty is tried, and said, again on the next pass, not
    // held quiet as if it had nothing to tell.
    let t2 = t1 + SignedDuration::from_mins(5);
    let again = engine.cycle(t2).expect_err("still damaged");
    assert!(format!("{again:#}").contains("mfa-registered"), "{again:#}");
}

#[test]
fn a_subject_gone_while_others_still_fail_is_not_told_as_nothing_more_needed() {
    let two = r#"{"value": [{"userPrincipalName": "b@acme.example", "isMfaRegistered": false}, {"userPrincipalName": "c@acme.example", "isMfaRegistered": false}]}"#;
    let t0 = at("2026-12-01T14:00:00Z");
    let fixture = fixture(t0);
    fixture.write_dated("evidence/mfa.json", two, t0);
    let mut engine = util::engine(&fixture);
    engine.cycle(t0).expect("cycle");
    // Past the 24 h tolerance both lapse, and are told so.
    let t1 = t0 + SignedDuration::from_hours(25);
    fixture.write_dated("evidence/mfa.json", two, t1);
    engine.cycle(t1).expect("cycle");
    let before = fixture.mails();
    // c@ leaves the export; b@ still has no MFA.
    let t2 = t0 + SignedDuration::from_hours(26);
    fixture.write_dated("evidence/mfa.json", util::MFA_BAD, t2);
    engine.cycle(t2).expect("cycle");
    let told = new_mails(&fixture, &before);
    assert!(!told.is_empty(), "c@'s thread is resolved in a mail");
    for mail in &told {
        assert!(mail.contains("c@acme.example"), "{mail}");
        assert!(!mail.contains("nothing more is needed"), "{mail}");
        assert!(
            mail.contains("still lapsed for its other subjects"),
            "{mail}"
        );
    }
}

/// A lapse that a silence held until after `management_after` is told to management at once
/// when the silence ends, in one mail to everyone (the team, its backups, the contractor and
/// both managements) that says so: no "first notice" promising a step that is owed already.
#[test]
fn a_lapse_first_told_when_its_silence_ends_reaches_management_in_one_mail() {
    // The access review is due 2026-12-30 12:00 UTC; silenced from before it lapses until a
    // week after.
    let t0 = at("2026-12-10T14:00:00Z");
    let fixture = fixture(t0);
    let config = ladder_config("");
    let cut = config
        .find("[[contractor.duty]]\nid = \"training\"")
        .expect("the training duty");
    fixture.write("dutywatch.toml", &config[..cut]);
    let mut store = Store::open(&fixture.path("state/dutywatch.db")).expect("store");
    store
        .add_ack(&NewAck {
            kind: AckKind::Silence,
            client: "acme",
            duty: "access-review",
            subject: None,
            by: "ops",
            reason: "review moved to the January audit week",
            at: t0,
            until: Some(at("2027-01-06T12:00:00Z")),
        })
        .expect("silence");
    drop(store);
    let mut engine = util::engine(&fixture);
    let mut seen = fixture.mails();
    let mut step = |engine: &mut dutywatch::engine::Engine, now: Timestamp| -> Vec<String> {
        fixture.write_dated("evidence/mfa.json", util::MFA_OK, now);
        engine.cycle(now).expect("cycle");
        let new: Vec<String> = new_mails(&fixture, &seen)
            .into_iter()
            .filter(|m| m.contains("Quarterly access review"))
            .collect();
        seen = fixture.mails();
        new
    };
    for now in [t0, at("2026-12-30T14:00:00Z"), at("2027-01-03T14:00:00Z")] {
        assert!(step(&mut engine, now).is_empty(), "silenced at {now}");
    }
    let ended = step(&mut engine, at("2027-01-06T14:00:00Z"));
    assert_eq!(ended.len(), 1, "one mail: {ended:#?}");
    let mail = ended[0].replace("=\r\n", "").replace("=\n", "");
    assert!(
        mail.contains("Subject: [dutywatch] ESCALATED: LAPSED: Quarterly access review"),
        "{mail}"
    );
    assert!(mail.contains("escalated to management"), "{mail}");
    assert!(!mail.contains("first notice"), "{mail}");
    let to_and_cc = format!(
        "{} {}",
        header(&mail, "To").unwrap_or_default(),
        header(&mail, "Cc").unwrap_or_default()
    );
    for who in ["it@acme.example", "ceo@acme.example"] {
        assert!(to_and_cc.contains(who), "{who} in {to_and_cc}");
    }
    // It opens the thread: its Message-ID is the root the thread's later mails answer.
    let id = header(&mail, "Message-ID").expect("Message-ID");
    assert!(header(&mail, "In-Reply-To").is_none(), "{mail}");
    // Told once: the next pass sends nothing new; the resolution answers this mail.
    assert!(step(&mut engine, at("2027-01-06T15:00:00Z")).is_empty());
    fixture.write_dated(
        "evidence/reviews.csv",
        "review_id,account_id,decision,signed_off_at\nQ4,alice,keep,2027-01-07T10:00:00Z\n",
        at("2027-01-07T10:00:00Z"),
    );
    let resolved = step(&mut engine, at("2027-01-07T14:00:00Z"));
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert_eq!(
        header(&resolved[0], "In-Reply-To"),
        Some(id),
        "{}",
        resolved[0]
    );
}
