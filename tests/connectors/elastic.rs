//! `kind = "elastic"` against `util::elastic_server`, and one log-retention rule over Splunk
//! and Elastic.

use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::{broken_answers, failing, http_date, snapshots, state_of};
use crate::util::at;
use crate::util::elastic_server::{ElasticServer, policy};
use crate::util::fake_http::Fault;
use crate::util::splunk_server::{SplunkServer, index};

const API_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

fn now() -> Timestamp {
    at("2026-11-23T15:00:00Z")
}

fn source(server: &ElasticServer, extra: &str) -> String {
    format!(
        r#"
[[contractor.source]]
id = "elastic-ilm"
kind = "elastic"
evidence = "log_retention"
base_url = "{}"
token = {{ file = "{{dir}}/secret" }}
schedule = "0 6 * * *"
max_age = "2d"
{extra}

[[contractor.duty]]
id = "log-retention-elastic"
title = "Audit logs kept at least a year"
objectives = ["3.3.1"]
source = "elastic-ilm"
rule = "continuous"
check = "effective_retention >= '365d'"
tolerance = "24h"
"#,
        server.base
    )
}

fn healthy(server: &ElasticServer) {
    server.add_policy("audit-400d", policy(Some("400d"), &["audit-000001"]));
    server.add_policy("winlogs", policy(Some("9600h"), &["winlogs-000007"]));
    // No delete phase: kept forever.
    server.add_policy("archive-forever", policy(None, &["archive-000001"]));
}

#[test]
fn policies_by_name_are_judged_each_and_one_without_a_delete_phase_keeps_forever() {
    let server = ElasticServer::start(API_KEY);
    healthy(&server);
    server.add_policy("metrics", policy(Some("30d"), &["metrics-000002"]));
    let fixture = super::fixture(&source(&server, ""), API_KEY);
    let mut engine = super::engine(&fixture);
    let summary = engine.cycle(now()).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(
        failing(&engine, "log-retention-elastic"),
        [("metrics".to_owned(), "due_soon".to_owned())]
    );
    let seen = server.seen();
    assert_eq!(seen[0].target, "/_ilm/policy");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("ApiKey {API_KEY}").as_str())
    );
    // Stored as received: the object of policies by name.
    let stored = snapshots(&fixture, "elastic-ilm");
    assert!(stored[0]["archive-forever"]["policy"]["phases"].is_object());
}

#[test]
fn an_unknown_policy_a_refused_key_and_a_missing_privilege_are_source_errors() {
    let server = ElasticServer::start(API_KEY);
    healthy(&server);
    let fixture = super::fixture(&source(&server, "resource = \"audit-400d,nope\""), API_KEY);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention-elastic");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(
            "HTTP 404 resource_not_found_exception: Lifecycle policy not found: nope; check the policy names in `resource`"
        ),
        "{reason}"
    );
    for (status, expected) in [
        (401, "HTTP 401 security_exception: unable to authenticate"),
        (
            403,
            "needs the cluster privilege `read_ilm` (or `manage_ilm`)",
        ),
    ] {
        let server = ElasticServer::start(API_KEY);
        healthy(&server);
        server.fault(Fault::Status(status));
        let fixture = super::fixture(&source(&server, ""), API_KEY);
        let mut engine = super::engine(&fixture);
        engine.cycle(now()).expect("cycle");
        let (state, reason) = state_of(&engine, "log-retention-elastic");
        assert_eq!(state, StateKind::SourceError, "{reason}");
        assert!(reason.contains(expected), "{reason}");
        assert!(!reason.contains(API_KEY));
    }
}

#[test]
fn throttling_an_outage_and_broken_answers() {
    let server = ElasticServer::start(API_KEY);
    healthy(&server);
    server.fault(Fault::Throttle(Some(http_date(now(), 1))));
    server.fault(Fault::Throttle(None));
    server.fault(Fault::Unavailable(Some("0".to_owned())));
    let fixture = super::fixture(&source(&server, ""), API_KEY);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    assert_eq!(state_of(&engine, "log-retention-elastic").0, StateKind::Met);
    assert_eq!(server.seen().len(), 4);

    for (fault, expected) in broken_answers() {
        let server = ElasticServer::start(API_KEY);
        healthy(&server);
        server.fault(fault.clone());
        let fixture = super::fixture(&source(&server, ""), API_KEY);
        let mut engine = super::engine(&fixture);
        engine.cycle(now()).expect("cycle");
        let (state, reason) = state_of(&engine, "log-retention-elastic");
        assert_eq!(state, StateKind::SourceError, "{fault:?}: {reason}");
        assert!(reason.contains(expected), "{fault:?}: {reason}");
        assert!(snapshots(&fixture, "elastic-ilm").is_empty());
    }
}

/// One retention rule, two log stores: each index and each policy is its own subject.
#[test]
fn one_log_retention_rule_over_splunk_and_elastic_judges_each_index_and_policy() {
    let elastic = ElasticServer::start(API_KEY);
    healthy(&elastic);
    elastic.add_policy("metrics", policy(Some("30d"), &[]));
    let splunk = SplunkServer::start(API_KEY);
    splunk.set_entries(vec![
        index("wineventlog", 31_536_000, false),
        index("o365", 90 * 86_400, true),
    ]);
    let body = format!(
        r#"{}
[[contractor.source]]
id = "splunk-indexes"
kind = "splunk"
evidence = "log_retention"
base_url = "{}"
token = {{ file = "{{dir}}/secret" }}
schedule = "0 6 * * *"
max_age = "2d"

[[contractor.duty]]
id = "log-retention-splunk"
title = "Audit logs kept at least a year"
objectives = ["3.3.1"]
source = "splunk-indexes"
rule = "continuous"
check = "effective_retention >= '365d'"
tolerance = "24h"
"#,
        source(&elastic, ""),
        splunk.base
    );
    let fixture = super::fixture(&body, API_KEY);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    assert_eq!(
        failing(&engine, "log-retention-elastic"),
        [("metrics".to_owned(), "due_soon".to_owned())]
    );
    assert_eq!(
        failing(&engine, "log-retention-splunk"),
        [("o365".to_owned(), "due_soon".to_owned())]
    );
    // A day past the tolerance, both are lapsed, and the stores that keep a year stay met.
    engine
        .cycle(now() + jiff::SignedDuration::from_hours(25))
        .expect("cycle");
    assert_eq!(
        state_of(&engine, "log-retention-elastic").0,
        StateKind::Lapsed
    );
    let states = super::subjects(&engine, "log-retention-splunk");
    assert!(
        states.contains(&("wineventlog".to_owned(), "met".to_owned())),
        "{states:?}"
    );
    assert!(
        states.contains(&("o365".to_owned(), "lapsed".to_owned())),
        "{states:?}"
    );
}

/// The answers saved to files read exactly as the collected ones: the same subjects fail.
#[test]
fn saved_splunk_and_elastic_answers_read_through_the_same_normalizers() {
    let body = r#"
[[contractor.source]]
id = "elastic-ilm"
kind = "elastic"
evidence = "log_retention"
path = "exports/ilm-*.json"
schedule = "0 6 * * *"
max_age = "2d"

[[contractor.source]]
id = "splunk-indexes"
kind = "splunk"
evidence = "log_retention"
path = "exports/splunk-indexes.json"
schedule = "0 6 * * *"
max_age = "2d"

[[contractor.duty]]
id = "log-retention-elastic"
title = "Audit logs kept at least a year"
objectives = ["3.3.1"]
source = "elastic-ilm"
rule = "continuous"
check = "effective_retention >= '365d'"
tolerance = "24h"

[[contractor.duty]]
id = "log-retention-splunk"
title = "Audit logs kept at least a year"
objectives = ["3.3.1"]
source = "splunk-indexes"
rule = "continuous"
check = "effective_retention >= '365d'"
tolerance = "24h"
"#;
    let fixture = super::fixture(body, API_KEY);
    let policies = serde_json::json!({
        "audit-400d": policy(Some("400d"), &["audit-000001"]),
        "archive-forever": policy(None, &[]),
        "metrics": policy(Some("30d"), &["metrics-000002"]),
    });
    fixture.write_dated("exports/ilm-2026-11-23.json", &policies.to_string(), now());
    let splunk = serde_json::json!({
        "entry": [index("wineventlog", 31_536_000, true), index("o365", 90 * 86_400, false)],
        "paging": {"total": 2, "perPage": 30, "offset": 0},
        "messages": [],
    });
    fixture.write_dated("exports/splunk-indexes.json", &splunk.to_string(), now());
    let mut engine = super::engine(&fixture);
    let summary = engine.cycle(now()).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(
        failing(&engine, "log-retention-elastic"),
        [("metrics".to_owned(), "due_soon".to_owned())]
    );
    assert_eq!(
        failing(&engine, "log-retention-splunk"),
        [("o365".to_owned(), "due_soon".to_owned())]
    );
    // A saved Elastic error answer is not evidence.
    fixture.write_dated(
        "exports/ilm-2026-11-24.json",
        r#"{"error": {"type": "security_exception", "reason": "denied"}, "status": 403}"#,
        now() + jiff::SignedDuration::from_hours(1),
    );
    engine
        .cycle(now() + jiff::SignedDuration::from_hours(2))
        .expect("cycle");
    let (state, reason) = state_of(&engine, "log-retention-elastic");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("is an Elastic error answer, not policies"),
        "{reason}"
    );
}
