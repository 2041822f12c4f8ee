//! The kill -9 soak: `dutywatch once` against the real test SMTP server, killed with SIGKILL
//! at random moments and right after the relay accepted a mail, then run again; at the end,
//! every mail decided must have reached the server (counted by Message-ID), and duplicates
//! only come from kills inside the moment between the relay's acceptance and its record.
//!
//! Ignored by a plain `cargo test`; `.ci/run` runs it on its own with 20 kills (seconds);
//! `DUTYWATCH_SOAK_KILLS=200` is the long run:
//!
//! ```sh
//! DUTYWATCH_SOAK_KILLS=200 cargo test --locked --test integration soak:: -- --ignored --nocapture
//! ```
//!
//! The server waits 200 ms before answering QUIT, so a kill "right after the relay accepted"
//! (0–30 ms after it stored the message) lands between the 250 to DATA and the end of the
//! session, the window that used to send a mail twice. A duplicate is still possible when a
//! kill falls between the server storing the message and the client recording its 250 (well
//! under a millisecond); the test fails then, and prints the figures either way.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dutywatch::store::Store;

use crate::util::smtp_server::{Options, SmtpServer};
use crate::util::{self, CRM};

/// Users in the MFA export; each iteration one of them is not registered.
const USERS: usize = 7;

fn mfa_export(failing: usize) -> String {
    let users: Vec<String> = (0..USERS)
        .map(|u| {
            format!(
                r#"{{"userPrincipalName": "u{u}@acme.example", "isMfaRegistered": {}}}"#,
                u != failing
            )
        })
        .collect();
    format!(r#"{{"value": [{}]}}"#, users.join(", "))
}

/// xorshift64: enough randomness for kill moments, seeded from the clock (printed).
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn accepted_files(server: &SmtpServer) -> usize {
    std::fs::read_dir(server.maildir())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with("-accepted.json"))
                .count()
        })
        .unwrap_or(0)
}

fn once(fixture: &util::Fixture) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args(["once", "--config", "dutywatch.toml"])
        .current_dir(fixture.dir.path())
        .env_remove("DUTYWATCH_CONFIG")
        .env_remove("STATE_DIRECTORY")
        .env("DUTYWATCH_LOG", "error")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(fixture.path("once.log"))
                .expect("log"),
        )
        .spawn()
        .expect("dutywatch runs")
}

#[test]
#[ignore = "the kill -9 soak takes its own step in .ci/run (cargo test -- --ignored soak::)"]
fn kill9_loses_no_mail_and_duplicates_only_inside_the_acceptance_window() {
    let kills = std::env::var("DUTYWATCH_SOAK_KILLS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(20);
    let seed = std::env::var("DUTYWATCH_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| jiff::Timestamp::now().as_nanosecond() as u64 | 1);
    eprintln!("soak: {kills} kills, seed {seed}");
    let mut random = Random(seed);
    let server = SmtpServer::start(Options {
        quit_delay: Some(Duration::from_millis(200)),
        ..Options::default()
    });
    let fixture = util::Fixture::new();
    let mail = format!(
        "transport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\ntimeout = \"5s\"\n",
        server.port
    );
    fixture.write(
        "dutywatch.toml",
        &util::contractor_config_with_mail(&mail, ""),
    );
    fixture.write("crm.csv", CRM);
    let started = Instant::now();
    let (mut done, mut iteration, mut after_accept) = (0, 0, 0);
    while done < kills {
        let now = jiff::Timestamp::now();
        fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
        fixture.write_dated("evidence/mfa.json", &mfa_export(iteration % USERS), now);
        iteration += 1;
        let before = accepted_files(&server);
        let mut child = once(&fixture);
        let target_accept = random.below(2) == 0;
        let delay = Duration::from_millis(random.below(400));
        // "Right after the relay accepted": 0–30 ms after the server stored the message (it
        // stores it just before its 250, so 0 ms is still inside the unavoidable window).
        let after = Duration::from_micros(random.below(30_000));
        let mut accepted_at: Option<Instant> = None;
        let spawned = Instant::now();
        let killed = loop {
            if child.try_wait().expect("wait").is_some() {
                break false;
            }
            let due = if target_accept {
                if accepted_at.is_none() && accepted_files(&server) > before {
                    accepted_at = Some(Instant::now());
                }
                accepted_at.is_some_and(|at| at.elapsed() >= after)
            } else {
                spawned.elapsed() >= delay
            };
            if due {
                child.kill().expect("SIGKILL");
                break true;
            }
            if spawned.elapsed() > Duration::from_secs(30) {
                panic!("`once` ran for 30 s");
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        let _ = child.wait();
        if killed {
            done += 1;
            after_accept += usize::from(target_accept);
        }
    }
    let open = |database: &std::path::Path| {
        Store::open_read_only(database).unwrap_or_else(|e| {
            panic!(
                "{e}; once.log:\n{}",
                std::fs::read_to_string(fixture.path("once.log")).unwrap_or_default()
            )
        })
    };
    // Drain: the next runs take over the killed one's claims and send the rest.
    let database = fixture.load().database;
    for _ in 0..5 {
        let _ = once(&fixture).wait().expect("once");
        if open(&database)
            .undelivered_mail(None)
            .expect("outbox")
            .is_empty()
        {
            break;
        }
    }

    let store = open(&database);
    let decided = usize::try_from(store.escalation_count(None).expect("count")).expect("fits");
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for message in server.accepted() {
        let id = message.header("Message-ID").expect("a Message-ID");
        *by_id.entry(id).or_default() += 1;
    }
    // One Message-ID per outbox row: the row's own (`<escalation-{row}.…>`) or, for the
    // first mail of a lapse thread, the thread's root (`<dw-thread.{token}.…>`), decided with
    // the row and never reused.
    let outbox_ids: BTreeSet<String> = by_id
        .keys()
        .filter_map(|id| {
            id.strip_prefix("<escalation-")
                .or_else(|| id.strip_prefix("<dw-thread."))
                .and_then(|rest| rest.split('.').next())
                .map(str::to_owned)
        })
        .collect();
    let delivered = by_id.len();
    let duplicated: usize = by_id.values().map(|n| n - 1).sum();
    let lost = decided.saturating_sub(outbox_ids.len());
    let undelivered = store.undelivered_mail(None).expect("outbox").len();
    eprintln!(
        "soak: {kills} kills ({after_accept} right after an acceptance) in {iteration} runs, \
         {:.0?}: decided {decided}, delivered {delivered}, lost {lost}, duplicated {duplicated}, \
         still queued {undelivered}",
        started.elapsed()
    );
    let duplicates: Vec<_> = by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        decided > kills / 2,
        "too few mails decided to mean anything"
    );
    assert_eq!(lost, 0, "lost mail; still queued {undelivered}");
    assert_eq!(delivered, decided);
    // A kill between the relay storing a mail and the store recording its 250 duplicates it:
    // that window cannot be closed, only kept short. The relay here answers QUIT 200 ms late,
    // so recording the outcome after QUIT (as before) would duplicate every mail killed right
    // after its acceptance; recording it at the 250 must duplicate strictly fewer. A kill at
    // a random moment lands in the window rarely; the figures go in the issue note.
    assert!(
        duplicated < after_accept.max(1),
        "{duplicated} duplicate(s) for {after_accept} kill(s) right after an acceptance: {duplicates:?}"
    );
}
