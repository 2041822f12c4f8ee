//! `kind = "ninjaone"` against `util::ninjaone_server`.

use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::{broken_answers, failing, http_date, snapshots, state_of};
use crate::util::at;
use crate::util::fake_http::Fault;
use crate::util::ninjaone_server::{CLIENT_ID, DEVICES, NinjaServer, PATCHES, device, patch};

const SECRET: &str = "nj-secret-5s9Vq2LmX";

fn now() -> Timestamp {
    at("2026-11-23T15:00:00Z")
}

/// `days` before `now`, in NinjaOne's float epoch seconds.
fn days_ago(days: f64) -> f64 {
    now().as_second() as f64 - days * 86_400.0 + 0.25
}

fn sources(server: &NinjaServer) -> String {
    format!(
        r#"
[[contractor.source]]
id = "ninja-patches"
kind = "ninjaone"
evidence = "patch"
resource = "os-patches"
base_url = "{base}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "{{dir}}/secret" }}
params = {{ df = "org = 7" }}
page_size = 2
schedule = "0 * * * *"
max_age = "2d"

[[contractor.source]]
id = "ninja-devices"
kind = "ninjaone"
evidence = "rmm_device"
resource = "devices"
base_url = "{base}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "{{dir}}/secret" }}
page_size = 2
schedule = "0 * * * *"
max_age = "2d"

[[contractor.duty]]
id = "critical-patches"
title = "Critical patches installed within 14 days"
objectives = ["3.14.1"]
source = "ninja-patches"
rule = "continuous"
check = "not (severity == 'CRITICAL' and pending_since < now-14d)"
tolerance = "24h"

[[contractor.duty]]
id = "devices-checking-in"
title = "Managed devices check in weekly"
objectives = ["3.14.1"]
source = "ninja-devices"
rule = "continuous"
check = "last_contact > now-7d"
tolerance = "24h"
"#,
        base = server.base
    )
}

/// Five patches (three pages of two), all within their deadlines, and five devices.
fn healthy(server: &NinjaServer) {
    server.set_items(
        PATCHES,
        vec![
            patch(1042, "KB5051989", "CRITICAL", days_ago(3.0)),
            patch(1042, "KB5052000", "IMPORTANT", days_ago(20.0)),
            patch(1043, "KB5051989", "CRITICAL", days_ago(10.5)),
            patch(1044, "KB5050021", "MODERATE", days_ago(40.0)),
            patch(1045, "KB5051989", "CRITICAL", days_ago(1.0)),
        ],
    );
    server.set_items(
        DEVICES,
        (1042..1047)
            .map(|id| device(id, &format!("WS-{id}"), days_ago(0.5)))
            .collect(),
    );
}

fn patch_gets(server: &NinjaServer) -> Vec<String> {
    server
        .seen()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path() == PATCHES)
        .map(|r| r.target)
        .collect()
}

#[test]
fn cursor_pages_are_one_snapshot_and_an_overdue_critical_patch_is_its_own_subject() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.set_items(
        PATCHES,
        vec![
            patch(1042, "KB5051989", "CRITICAL", days_ago(3.0)),
            patch(1042, "KB5052000", "IMPORTANT", days_ago(20.0)),
            patch(1043, "KB5051989", "CRITICAL", days_ago(21.0)),
            patch(1044, "KB5050021", "MODERATE", days_ago(40.0)),
            patch(1045, "KB5051989", "CRITICAL", days_ago(1.0)),
        ],
    );
    let mut devices: Vec<_> = (1042..1046)
        .map(|id| device(id, &format!("WS-{id}"), days_ago(0.5)))
        .collect();
    devices.push(device(1046, "WS-1046", days_ago(9.0)));
    server.set_items(DEVICES, devices);
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    let summary = engine.cycle(now()).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");

    assert_eq!(
        failing(&engine, "critical-patches"),
        [(
            "1043 / 2026-11 Cumulative Update for Windows 11 (KB5051989)".to_owned(),
            "due_soon".to_owned()
        )]
    );
    assert_eq!(
        failing(&engine, "devices-checking-in"),
        [("1046".to_owned(), "due_soon".to_owned())]
    );
    // The first page without a cursor, then the cursor each page named, until a page comes
    // back empty: the short third page may be the server's own cap, not the end.
    assert_eq!(
        patch_gets(&server),
        [
            "/v2/queries/os-patches?df=org+%3D+7&pageSize=2",
            "/v2/queries/os-patches?df=org+%3D+7&pageSize=2&cursor=c-1",
            "/v2/queries/os-patches?df=org+%3D+7&pageSize=2&cursor=c-2",
            "/v2/queries/os-patches?df=org+%3D+7&pageSize=2&cursor=c-3",
        ]
    );
    let devices: Vec<String> = server
        .seen()
        .into_iter()
        .filter(|r| r.path() == DEVICES)
        .map(|r| r.target)
        .collect();
    assert_eq!(
        devices,
        [
            "/v2/devices?pageSize=2",
            "/v2/devices?pageSize=2&after=1043",
            "/v2/devices?pageSize=2&after=1045",
            "/v2/devices?pageSize=2&after=1046",
        ]
    );
    let stored = snapshots(&fixture, "ninja-patches");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["results"].as_array().map(Vec::len), Some(5));
    // One token for both sources (same client and scope), asked with the monitoring scope.
    assert_eq!(server.token_requests(), 1);
    let token = server
        .seen()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("token request");
    assert!(token.body.contains("scope=monitoring"), "{}", token.body);
    assert!(token.body.contains("grant_type=client_credentials"));
}

#[test]
fn throttling_and_an_outage_are_waited_out_and_the_run_that_recovers_is_met() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.fault(PATCHES, 0, Fault::Throttle(Some("1".to_owned())));
    server.fault(PATCHES, 1, Fault::Throttle(Some(http_date(now(), 1))));
    server.fault(PATCHES, 1, Fault::Throttle(None));
    server.fault(PATCHES, 2, Fault::Unavailable(None));
    server.fault(PATCHES, 2, Fault::Unavailable(Some("0".to_owned())));
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    let summary = engine.cycle(now()).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(state_of(&engine, "critical-patches").0, StateKind::Met);
    assert_eq!(
        patch_gets(&server).len(),
        4 + 5,
        "four pages (the last empty), each throttled request sent again"
    );
}

#[test]
fn a_token_that_expires_mid_run_is_renewed_once() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.fault(PATCHES, 1, Fault::ExpireTokens);
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    assert_eq!(state_of(&engine, "critical-patches").0, StateKind::Met);
    assert_eq!(server.token_requests(), 2);
}

#[test]
fn refused_credentials_a_missing_scope_and_an_expired_cursor_are_source_errors() {
    // The token endpoint refuses the secret.
    let server = NinjaServer::start("another-secret");
    healthy(&server);
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("HTTP 401 invalid_client: Bad client credentials"),
        "{reason}"
    );
    assert!(!reason.contains(SECRET));

    // The API client lacks the scope.
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.fault(PATCHES, 0, Fault::Status(403));
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("HTTP 403 FAILURE: Access denied")
            && reason.contains("needs the `monitoring` scope"),
        "{reason}"
    );

    // A refusal that quotes the bearer token it was sent.
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.fault(
        PATCHES,
        1,
        Fault::Raw(
            403,
            r#"{"resultCode":"FAILURE","errorMessage":"Access denied for {authorization}","incidentId":"f3a9c2d1"}"#.to_owned(),
        ),
    );
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("Access denied for Bearer [redacted]") && !reason.contains("nj-access"),
        "{reason}"
    );

    // Cursors that expire before the next page is asked for.
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.cursors_expire_at(now().as_second() as f64 - 60.0);
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("the cursor of page 1 expired at 2026-11-23T14:59:00Z"),
        "{reason}"
    );
    assert_eq!(
        patch_gets(&server).len(),
        1,
        "the expired cursor is not sent"
    );
    assert!(snapshots(&fixture, "ninja-patches").is_empty());
}

#[test]
fn broken_and_slow_answers_are_source_errors_and_store_nothing() {
    for (fault, expected) in broken_answers() {
        let server = NinjaServer::start(SECRET);
        healthy(&server);
        server.fault(PATCHES, 1, fault.clone());
        let fixture = super::fixture(&sources(&server), SECRET);
        let mut engine = super::engine(&fixture);
        engine.cycle(now()).expect("cycle");
        let (state, reason) = state_of(&engine, "critical-patches");
        assert_eq!(state, StateKind::SourceError, "{fault:?}: {reason}");
        assert!(
            reason.contains("page 2 (") && reason.contains(expected),
            "{fault:?}: {reason}"
        );
        assert!(snapshots(&fixture, "ninja-patches").is_empty(), "{fault:?}");
    }
}

#[test]
fn a_saved_answer_reads_through_the_same_normalizer() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    let fixture = super::fixture(
        r#"
[[contractor.source]]
id = "ninja-patches"
kind = "ninjaone"
evidence = "patch"
resource = "os-patches"
path = "exports/os-patches.json"
schedule = "0 * * * *"
max_age = "2d"

[[contractor.duty]]
id = "critical-patches"
title = "Critical patches installed within 14 days"
objectives = ["3.14.1"]
source = "ninja-patches"
rule = "continuous"
check = "not (severity == 'CRITICAL' and pending_since < now-14d)"
tolerance = "24h"
"#,
        SECRET,
    );
    // One page exactly as the API answers it, cursor and all.
    let page = serde_json::json!({
        "cursor": {"name": "c-1", "offset": 0, "count": 2, "expires": days_ago(-1.0)},
        "results": [
            patch(1042, "KB5051989", "CRITICAL", days_ago(3.0)),
            patch(1043, "KB5051989", "CRITICAL", days_ago(30.0)),
        ],
    });
    fixture.write_dated("exports/os-patches.json", &page.to_string(), now());
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    assert_eq!(
        failing(&engine, "critical-patches"),
        [(
            "1043 / 2026-11 Cumulative Update for Windows 11 (KB5051989)".to_owned(),
            "due_soon".to_owned()
        )]
    );
    assert!(server.seen().is_empty(), "a saved answer calls no API");

    // The same page cut short while saved: it says two results and holds one.
    let short = serde_json::json!({
        "cursor": {"name": "c-1", "offset": 0, "count": 2, "expires": days_ago(-1.0)},
        "results": [patch(1042, "KB5051989", "CRITICAL", days_ago(3.0))],
    });
    let later = now() + jiff::SignedDuration::from_hours(1);
    fixture.write_dated("exports/os-patches.json", &short.to_string(), later);
    engine.cycle(later).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason
            .contains("holds 1 record(s) where its `cursor.count` says 2: the page is incomplete"),
        "{reason}"
    );
}

#[test]
fn a_page_that_holds_fewer_results_than_its_cursor_says_fails_the_collection() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.fault(PATCHES, 1, Fault::ShortPage);
    let fixture = super::fixture(&sources(&server), SECRET);
    let mut engine = super::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let (state, reason) = state_of(&engine, "critical-patches");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 2 (")
            && reason.contains("where its `cursor.count` says")
            && reason.contains("the report is incomplete, so nothing is stored"),
        "{reason}"
    );
    assert_eq!(
        reason.matches("`ninja-patches`").count(),
        1,
        "the source named once: {reason}"
    );
}

#[test]
fn a_rate_limited_source_spaces_its_requests() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    // 600 a minute: one request every 100 ms, the token request included.
    let config =
        sources(&server).replacen("page_size = 2\n", "page_size = 2\nrate_limit = 600\n", 1);
    let fixture = super::fixture(&config, SECRET);
    let mut engine = super::engine(&fixture);
    let started = std::time::Instant::now();
    engine.cycle(now()).expect("cycle");
    assert_eq!(state_of(&engine, "critical-patches").0, StateKind::Met);
    // Its three pages: two intervals at least. (The token request may be the other source's:
    // sources collected at once share a credential's token, so it is not counted on.)
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn check_config_reads_a_saved_answer_and_calls_no_api() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    let config = sources(&server);
    let fixture = super::fixture(
        &config.replacen(
            &format!("base_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ file = \"{{dir}}/secret\" }}\nparams = {{ df = \"org = 7\" }}\npage_size = 2", server.base),
            "path = \"exports/os-patches.json\"",
            1,
        ),
        SECRET,
    );
    let page = serde_json::json!({
        "cursor": {"name": "c-1", "offset": 0, "count": 2, "expires": days_ago(-1.0)},
        "results": [
            patch(1042, "KB5051989", "CRITICAL", days_ago(3.0)),
            {"deviceId": 1043, "name": "no severity", "status": "MANUAL", "timestamp": days_ago(2.0)},
        ],
    });
    fixture.write("exports/os-patches.json", &page.to_string());
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    // (It exits 1 all the same: the test CRM leaves most of the catalog unowned.)
    let (stdout, _) = crate::util::text(&output);
    assert!(
        stdout.contains("holds 1 readable `patch` record(s) of 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "source[ninja-devices]: collected from {}/v2/devices (not called by check-config)",
            server.base
        )),
        "{stdout}"
    );
    assert!(server.seen().is_empty(), "check-config calls no API");
}

/// A server that holds fewer items a page than `pageSize` asks (its own cap) is paged on to
/// the empty page: a short page read as the last would store part of the devices and patches
/// as all of them, and the silent device and the overdue patch past the first page would be
/// missed.
#[test]
fn a_server_that_caps_its_pages_below_the_page_size_is_read_to_the_end() {
    let server = NinjaServer::start(SECRET);
    healthy(&server);
    server.set_items(
        PATCHES,
        (0..5)
            .map(|n| patch(1042 + n, "KB5051989", "CRITICAL", days_ago(1.0)))
            .chain([patch(1047, "KB5051989", "CRITICAL", days_ago(30.0))])
            .collect(),
    );
    let mut devices: Vec<_> = (1042..1047)
        .map(|id| device(id, &format!("WS-{id}"), days_ago(0.5)))
        .collect();
    devices.push(device(1047, "WS-1047", days_ago(30.0)));
    server.set_items(DEVICES, devices);
    server.caps_pages_at(2);
    let config = sources(&server).replace("page_size = 2\n", "page_size = 500\n");
    let fixture = super::fixture(&config, SECRET);
    let mut engine = super::engine(&fixture);
    let summary = engine.cycle(now()).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(
        failing(&engine, "critical-patches"),
        [(
            "1047 / 2026-11 Cumulative Update for Windows 11 (KB5051989)".to_owned(),
            "due_soon".to_owned()
        )]
    );
    assert_eq!(
        failing(&engine, "devices-checking-in"),
        [("1047".to_owned(), "due_soon".to_owned())]
    );
    // Three pages of two, then the empty one.
    assert_eq!(patch_gets(&server).len(), 4);
    assert_eq!(
        snapshots(&fixture, "ninja-patches")[0]["results"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
}
