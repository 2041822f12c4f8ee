//! `kind = "splunk"` against `util::splunk_server`.

use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::{broken_answers, failing, http_date, snapshots, state_of};
use crate::util::at;
use crate::util::fake_http::Fault;
use crate::util::splunk_server::{INDEXES, SplunkServer, capped_index, index};

const TOKEN: &str = "eyJraWQiOiJzcGx1bmsuc2VjcmV0IiwiYWxnIjoiSFM1MTIifQ.splunk-token";
const YEAR: u64 = 31_536_000;

fn now() -> Timestamp {
    at("2026-11-23T15:00:00Z")
}

fn sources(server: &SplunkServer) -> String {
    format!(
        r#"
[[contractor.source]]
id = "splunk-indexes"
kind = "splunk"
evidence = "log_retention"
base_url = "{}"
token = {{ file = "{{dir}}/secret" }}
page_size = 2
schedule = "0 6 * * *"
max_age = "2d"

[[contractor.duty]]
id = "log-retention"
title = "Audit logs kept at least a year"
objectives = ["3.3.1"]
source = "splunk-indexes"
rule = "continuous"
where = "disabled == false"
check = "effective_retention >= '365d'"
tolerance = "24h"
"#,
        server.base
    )
}

/// Five indexes, three pages of two, numbers as numbers and as strings, all kept a year.
fn healthy(server: &SplunkServer) {
    server.set_entries(vec![
        index("wineventlog", YEAR, false),
        index("linux_secure", 2 * YEAR, true),
        index("firewall", YEAR, true),
        index("o365", YEAR + 86_400, false),
        index("azure_ad", 188_697_600, true),
    ]);
}

fn index_gets(server: &SplunkServer) -> Vec<String> {
    server
        .seen()
        .into_iter()
        .filter(|r| r.path() == INDEXES)
        .map(|r| r.target)
        .collect()
}

#[test]
fn count_offset_pages_are_read_and_an_index_at_its_size_cap_fails_on_its_own() {
    let server = SplunkServer::start(TOKEN);
    server.set_entries(vec![
        index("wineventlog", YEAR, false),
        index("linux_secure", 2 * YEAR, true),
        // A year by age, but full: it holds only 40 days.
        capped_index("firewall", YEAR, 40),
        index("o365", 90 * 86_400, true),
        index("azure_ad", 188_697_600, true),
    ]);
    let fixture = super::fixture(&sources(&server), TOKEN);
    let mut engine = super::engine(&fixture);
    let summary = engine.cycle(now()).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(
        failing(&engine, "log-retention"),
        [
            ("firewall".to_owned(), "due_soon".to_owned()),
            ("o365".to_owned(), "due_soon".to_owned()),
        ]
    );
    assert_eq!(
        index_gets(&server),
        [
            "/services/data/indexes?output_mode=json&count=2&offset=0",
            "/services/data/indexes?output_mode=json&count=2&offset=2",
            "/services/data/indexes?output_mode=json&count=2&offset=4",
        ]
    );
    assert!(
        server
            .seen()
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );
    let stored = snapshots(&fixture, "splunk-indexes");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["entry"].as_array().map(Vec::len), Some(5));
}

#[test]
fn throttling_and_an_outage_are_waited_out_and_the_run_that_recovers_is_met() {
    let server = SplunkServer::start(TOKEN);
    healthy(&server);
    server.fault(0, Fault::Throttle(Some("1".to_owned())));
    server.fault(1, Fault::Throttle(Some(http_date(now(), 1))));
    server.fault(1, Fault::Throttle(None));
    server.fault(2, Fault::Unavailable(Some("0".to_owned())));
    let fixture = super::fixture(&sources(&server), TOKEN);
    let mut engine = super::engine(&fixture);
    let summary = engine.cycle(now()).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(state_of(&engine, "log-retention").0, StateKind::Met);
    assert_eq!(index_gets(&server).len(), 3 + 4);
}

#[test]
fn a_refused_token_and_a_missing_capability_say_so_in_splunks_words() {
    for (status, expected) in [
        (
            401,
            "HTTP 401 WARN: call not properly authenticated; check the authentication token",
        ),
        (
            403,
            "requires capability: indexes_list_all).; the token's user needs a role with the `indexes_list_all` capability",
        ),
    ] {
        let server = SplunkServer::start(TOKEN);
        healthy(&server);
        server.fault(1, Fault::Status(status));
        let fixture = super::fixture(&sources(&server), TOKEN);
        let mut engine = super::engine(&fixture);
        engine.cycle(now()).expect("cycle");
        let (state, reason) = state_of(&engine, "log-retention");
        assert_eq!(state, StateKind::SourceError, "{reason}");
        assert!(
            reason.contains("page 2 (") && reason.contains(expected),
            "{reason}"
        );
        assert!(!reason.contains(TOKEN));
        assert!(snapshots(&fixture, "splunk-indexes").is_empty());
    }
}

#[test]
fn a_page_that_says_an_error_beside_its_entries_fails_the_collection() {
    let server = SplunkServer::start(TOKEN);
    healthy(&server);
    server.fault(1, Fault::ErrorBeside);
    let fixture = super::fixture(&sources(&server), TOKEN);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 2 (")
            && reason.contains("Splunk says ERROR: Search peer idx-2 is down"),
        "{reason}"
    );
    assert!(snapshots(&fixture, "splunk-indexes").is_empty());

    // An error beside the entries that quotes the token the page was asked with.
    let server = SplunkServer::start(TOKEN);
    healthy(&server);
    server.fault(
        1,
        Fault::Raw(
            200,
            r#"{"entry":[],"paging":{"total":5,"offset":2},"messages":[{"type":"ERROR","text":"token {authorization} was refused by idx-2"}]}"#.to_owned(),
        ),
    );
    let fixture = super::fixture(&sources(&server), TOKEN);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("Splunk says ERROR: token Bearer [redacted] was refused by idx-2"),
        "{reason}"
    );
    assert!(!reason.contains(TOKEN), "{reason}");
}

#[test]
fn broken_and_slow_answers_are_source_errors_and_store_nothing() {
    for (fault, expected) in broken_answers() {
        let server = SplunkServer::start(TOKEN);
        healthy(&server);
        server.fault(2, fault.clone());
        let fixture = super::fixture(&sources(&server), TOKEN);
        let mut engine = super::engine(&fixture);
        engine.cycle(now()).expect("cycle");
        let (state, reason) = state_of(&engine, "log-retention");
        assert_eq!(state, StateKind::SourceError, "{fault:?}: {reason}");
        assert!(
            reason.contains("page 3 (") && reason.contains(expected),
            "{fault:?}: {reason}"
        );
        assert!(snapshots(&fixture, "splunk-indexes").is_empty());
    }
}

#[test]
fn a_server_that_ignores_offset_is_a_source_error_not_the_first_page_twice() {
    let first_two = || {
        vec![
            index("wineventlog", YEAR, false),
            index("linux_secure", YEAR, false),
        ]
    };
    // The first page again in answer to offset 2, with and without the offset it was asked.
    for (paging, expected) in [
        (
            serde_json::json!({"total": 4, "perPage": 2, "offset": 0}),
            "the page says `paging.offset` 0 where offset 2 was asked; the server ignores `offset`, so the pages do not advance",
        ),
        (
            serde_json::json!({"total": 4}),
            "the page holds the same entries as the page before; the pages do not advance",
        ),
    ] {
        let server = SplunkServer::start(TOKEN);
        let mut entries = first_two();
        entries.extend([index("firewall", YEAR, false), index("o365", YEAR, false)]);
        server.set_entries(entries);
        let body = serde_json::json!({"entry": first_two(), "paging": paging, "messages": []});
        server.fault(1, Fault::Raw(200, body.to_string()));
        let fixture = super::fixture(&sources(&server), TOKEN);
        let mut engine = super::engine(&fixture);
        engine.cycle(now()).expect("cycle");
        let (state, reason) = state_of(&engine, "log-retention");
        assert_eq!(state, StateKind::SourceError, "{reason}");
        assert!(
            reason.contains("page 2 (") && reason.contains(expected),
            "{reason}"
        );
        assert!(snapshots(&fixture, "splunk-indexes").is_empty());
    }

    // Pages that overlap by one entry: an index twice.
    let server = SplunkServer::start(TOKEN);
    let mut entries = first_two();
    entries.extend([index("firewall", YEAR, false), index("o365", YEAR, false)]);
    server.set_entries(entries);
    let body = serde_json::json!({
        "entry": [index("linux_secure", YEAR, false), index("firewall", YEAR, false)],
        "paging": {"total": 4},
        "messages": [],
    });
    server.fault(1, Fault::Raw(200, body.to_string()));
    let fixture = super::fixture(&sources(&server), TOKEN);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("the pages hold the entry `linux_secure` twice"),
        "{reason}"
    );
}

#[test]
fn a_paging_parameter_in_params_is_refused_at_its_line() {
    let server = SplunkServer::start(TOKEN);
    let config = sources(&server).replacen(
        "page_size = 2",
        "page_size = 2\nparams = { count = \"100\", search = \"retention\" }",
        1,
    );
    let fixture = super::fixture(&config, TOKEN);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = crate::util::text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "source[splunk-indexes].params.count: `count` is set by dutywatch as it pages"
        ) && !stderr.contains("params.search"),
        "{stderr}"
    );
}
