//! `kind = "http_json"` against `util::portal_server`: a portal's own field names mapped onto
//! the `patch` kind, pages by a JSON pointer or the `Link` header.

use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::{broken_answers, failing, snapshots, state_of};
use crate::util::at;
use crate::util::fake_http::Fault;
use crate::util::portal_server::{Links, PATCHES, PortalServer};

const KEY: &str = "pk_live_8fJ2mQ0vZx";

fn now() -> Timestamp {
    at("2026-11-23T15:00:00Z")
}

fn source(server: &PortalServer, auth_and_paging: &str) -> String {
    format!(
        r#"
[[contractor.source]]
id = "portal-patches"
kind = "http_json"
evidence = "patch"
url = "{}{PATCHES}?page=1"
token = {{ file = "{{dir}}/secret" }}
{auth_and_paging}
records_pointer = "/data/items"
fields = {{ device = "host", name = "title", severity = "sev", status = "state", pending_since = "since" }}
schedule = "0 * * * *"
max_age = "2d"

[[contractor.duty]]
id = "critical-patches"
title = "Critical patches installed within 14 days"
objectives = ["3.14.1"]
source = "portal-patches"
rule = "continuous"
check = "not (severity == 'critical' and pending_since < now-14d)"
tolerance = "24h"
"#,
        server.base
    )
}

fn item(host: &str, kb: &str, sev: &str, days_ago: i64) -> serde_json::Value {
    let since = now() - jiff::SignedDuration::from_hours(24 * days_ago);
    serde_json::json!({"host": host, "title": format!("Security update {kb}"), "kb": kb,
        "sev": sev, "state": "pending", "since": since.to_string()})
}

fn three_pages(server: &PortalServer, overdue: bool) {
    server.set_pages(vec![
        vec![
            item("WS-1", "KB1", "critical", 2),
            item("WS-2", "KB1", "low", 60),
        ],
        vec![item(
            "WS-3",
            "KB2",
            "critical",
            if overdue { 30 } else { 3 },
        )],
        vec![item("WS-4", "KB3", "important", 5)],
    ]);
}

#[test]
fn pages_by_json_pointer_and_by_link_header_with_mapped_fields() {
    for (links, bearer, auth) in [
        (
            Links::Body,
            false,
            "header = \"X-API-Key\"\nnext = \"/links/next\"",
        ),
        (Links::Header, true, "next = \"link\""),
    ] {
        let server = PortalServer::start(KEY, bearer, links);
        three_pages(&server, true);
        let fixture = super::fixture(&source(&server, auth), KEY);
        let mut engine = super::engine(&fixture);
        let summary = engine.cycle(now()).expect("cycle");
        assert_eq!(summary.collection_failures, 0, "{auth}: {summary:?}");
        assert_eq!(
            failing(&engine, "critical-patches"),
            [(
                "WS-3 / Security update KB2".to_owned(),
                "due_soon".to_owned()
            )],
            "{auth}"
        );
        let targets: Vec<String> = server.seen().into_iter().map(|r| r.target).collect();
        assert_eq!(
            targets,
            [
                "/api/v1/patches?page=1",
                "/api/v1/patches?page=2",
                "/api/v1/patches?page=3"
            ],
            "{auth}"
        );
        let stored = snapshots(&fixture, "portal-patches");
        assert_eq!(
            stored[0]["data"]["items"].as_array().map(Vec::len),
            Some(4),
            "{auth}"
        );
    }
}

#[test]
fn a_refused_key_throttling_and_broken_answers() {
    let server = PortalServer::start("another-key", false, Links::Body);
    three_pages(&server, false);
    let auth = "header = \"X-API-Key\"\nnext = \"/links/next\"";
    let fixture = super::fixture(&source(&server, auth), KEY);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(
            "HTTP 401 {\"error\":\"invalid API key [redacted]\"}; check the source's `token`"
        ),
        "{reason}"
    );
    assert!(!reason.contains(KEY));

    let server = PortalServer::start(KEY, false, Links::Body);
    three_pages(&server, false);
    server.fault(1, Fault::Throttle(Some("1".to_owned())));
    server.fault(2, Fault::Unavailable(None));
    let fixture = super::fixture(&source(&server, auth), KEY);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    assert_eq!(state_of(&engine, "critical-patches").0, StateKind::Met);

    for (fault, expected) in broken_answers() {
        let server = PortalServer::start(KEY, false, Links::Body);
        three_pages(&server, false);
        server.fault(1, fault.clone());
        let fixture = super::fixture(&source(&server, auth), KEY);
        let mut engine = super::engine(&fixture);
        engine.cycle(now()).expect("cycle");
        let (state, reason) = state_of(&engine, "critical-patches");
        assert_eq!(state, StateKind::SourceError, "{fault:?}: {reason}");
        assert!(
            reason.contains("page 2 (") && reason.contains(expected),
            "{fault:?}: {reason}"
        );
    }
}

#[test]
fn a_key_twice_in_a_record_is_ambiguous_not_resolved_last_wins() {
    let server = PortalServer::start(KEY, false, Links::Body);
    three_pages(&server, false);
    // Overdue, then recent: last-wins would read the critical patch as in time.
    let since = |days: i64| (now() - jiff::SignedDuration::from_hours(24 * days)).to_string();
    server.fault(
        0,
        Fault::Raw(
            200,
            format!(
                r#"{{"data":{{"items":[{{"host":"WS-1","title":"Security update KB1","sev":"critical","state":"pending","since":"{}","since":"{}"}}],"page":1}},"links":{{"next":null}}}}"#,
                since(30),
                since(2)
            ),
        ),
    );
    let fixture = super::fixture(
        &source(&server, "header = \"X-API-Key\"\nnext = \"/links/next\""),
        KEY,
    );
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("the key `since` appears twice in `data.items[0]`"),
        "{reason}"
    );
    assert!(snapshots(&fixture, "portal-patches").is_empty());
}

#[test]
fn a_next_link_back_to_a_page_read_before_is_a_loop() {
    let server = PortalServer::start(KEY, false, Links::Body);
    three_pages(&server, false);
    // Page 2 names page 1 as its next.
    server.fault(
        1,
        Fault::Raw(
            200,
            format!(
                r#"{{"data":{{"items":[],"page":2}},"links":{{"next":"{}{PATCHES}?page=1"}}}}"#,
                server.base
            ),
        ),
    );
    let fixture = super::fixture(
        &source(&server, "header = \"X-API-Key\"\nnext = \"/links/next\""),
        KEY,
    );
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 2 (")
            && reason.contains("the next link leads back to a page read before"),
        "{reason}"
    );
    assert_eq!(server.seen().len(), 2, "no page is read twice");
}

#[test]
fn a_credential_in_the_url_or_its_params_is_refused_without_being_repeated() {
    let server = PortalServer::start(KEY, false, Links::Body);
    let auth = "header = \"X-API-Key\"\nnext = \"/links/next\"";
    let base = server.base.clone();
    for (from, to, said) in [
        (
            format!("url = \"{base}"),
            format!("url = \"{}", base.replacen("://", "://ops:Hunter2pw@", 1)),
            "the URL carries a user name or password before its host",
        ),
        (
            "?page=1\"".to_owned(),
            "?page=1&api_key=Hunter2pw\"".to_owned(),
            "the query parameter `api_key` carries a credential",
        ),
        (
            "?page=1\"".to_owned(),
            "?page=1&passhash=Hunter2pw\"".to_owned(),
            "the query parameter `passhash` carries a credential",
        ),
        (
            "?page=1\"".to_owned(),
            "?page=1#access_token=Hunter2pw\"".to_owned(),
            "the URL has a `#…` part",
        ),
        (
            "header = \"X-API-Key\"".to_owned(),
            "header = \"X-API-Key: Hunter2pw\\u001b[2J\"".to_owned(),
            "this is not a header name (not repeated here",
        ),
        (
            "records_pointer".to_owned(),
            "params = { token = \"Hunter2pw\" }\nrecords_pointer".to_owned(),
            // At the parameter itself.
            "source[portal-patches].params.token: the query parameter `token` carries a credential",
        ),
    ] {
        let config = source(&server, auth).replacen(&from, &to, 1);
        assert!(config.contains("Hunter2pw"), "{config}");
        let fixture = super::fixture(&config, KEY);
        let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
        let (stdout, stderr) = crate::util::text(&output);
        assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        let all = format!("{stdout}{stderr}");
        assert!(
            !all.contains("Hunter2pw") && !all.contains('\u{1b}'),
            "{all:?}"
        );
    }
}
