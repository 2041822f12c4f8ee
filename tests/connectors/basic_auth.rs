//! HTTP Basic (`username` and `password`) for `kind = "splunk"` and `"elastic"` against the
//! fake servers, which take only the right `Authorization: Basic …`: collected and met, and a
//! refused password a `source_error` whose reason, log lines and stored rows never hold it.

use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::{snapshots, state_of};
use crate::util::elastic_server::{ElasticServer, policy};
use crate::util::fake_http;
use crate::util::splunk_server::{SplunkServer, index};
use crate::util::{self, at};

const USER: &str = "svc-dutywatch";
const PASSWORD: &str = "Vq7#basic-pa55word-9Lm";
const YEAR: u64 = 31_536_000;

fn now() -> Timestamp {
    at(util::CLOCK)
}

/// A `{kind}` source signing in as [`USER`] with the password in the fixture's `secret` file,
/// and a duty on it.
fn sources(kind: &str, base: &str) -> String {
    format!(
        r#"
[[contractor.source]]
id = "logs"
kind = "{kind}"
evidence = "log_retention"
base_url = "{base}"
username = "{USER}"
password = {{ file = "{{dir}}/secret" }}
schedule = "0 6 * * *"
max_age = "2d"

[[contractor.duty]]
id = "log-retention"
title = "Audit logs kept at least a year"
objectives = ["3.3.1"]
source = "logs"
rule = "continuous"
check = "effective_retention >= '365d'"
tolerance = "24h"
"#
    )
}

/// Every byte of the database and its journal files.
fn database_bytes(fixture: &util::Fixture) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["dutywatch.db", "dutywatch.db-wal", "dutywatch.db-journal"] {
        if let Ok(more) = std::fs::read(fixture.path(&format!("state/{name}"))) {
            bytes.extend(more);
        }
    }
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn splunk_and_elastic_sign_in_with_username_and_password() {
    let splunk = SplunkServer::start_basic(USER, PASSWORD);
    splunk.set_entries(vec![
        index("wineventlog", YEAR, false),
        index("o365", YEAR, true),
    ]);
    let fixture = super::fixture(&sources("splunk", &splunk.base), PASSWORD);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention");
    assert_eq!(state, StateKind::Met, "{reason}");
    let expected = fake_http::basic(USER, PASSWORD);
    assert!(!splunk.seen().is_empty());
    assert!(
        splunk
            .seen()
            .iter()
            .all(|r| r.header("authorization") == Some(expected.as_str()))
    );
    assert_eq!(snapshots(&fixture, "logs").len(), 1);
    drop(engine);
    let stored = database_bytes(&fixture);
    assert!(!holds(&stored, PASSWORD), "the password is in the database");
    assert!(
        !holds(&stored, &expected["Basic ".len()..]),
        "the encoded credential is in the database"
    );

    let elastic = ElasticServer::start_basic(USER, PASSWORD);
    elastic.add_policy("logs-audit", policy(Some("400d"), &["logs-audit-000001"]));
    let fixture = super::fixture(&sources("elastic", &elastic.base), PASSWORD);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention");
    assert_eq!(state, StateKind::Met, "{reason}");
    assert!(
        elastic
            .seen()
            .iter()
            .all(|r| r.header("authorization") == Some(expected.as_str()))
    );
}

#[test]
fn a_refused_password_is_a_source_error_that_never_repeats_it() {
    // The server knows another password, and echoes what it was sent.
    let splunk = SplunkServer::start_basic(USER, "the-right-one");
    splunk.set_entries(vec![index("wineventlog", YEAR, false)]);
    let fixture = super::fixture(&sources("splunk", &splunk.base), PASSWORD);
    let output = fixture.run(&["once", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = util::text(&output);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("call not properly authenticated"), "{all}");
    assert!(
        all.contains("[redacted]"),
        "the echo is there, redacted: {all}"
    );
    let encoded = &fake_http::basic(USER, PASSWORD)["Basic ".len()..];
    assert!(!all.contains(PASSWORD) && !all.contains(encoded), "{all}");
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("`username`, the account's password"),
        "{reason}"
    );
    assert!(
        !reason.contains(PASSWORD) && !reason.contains(encoded),
        "{reason}"
    );
    drop(engine);
    let stored = database_bytes(&fixture);
    assert!(!holds(&stored, PASSWORD) && !holds(&stored, encoded));
    assert!(snapshots(&fixture, "logs").is_empty());
}
