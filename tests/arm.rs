//! The `arm` source against the fake ARM of `util::arm_server`: a Log Analytics workspace and
//! its tables (effective retention from both, required tables), Sentinel incidents as
//! `incident` records, ARM paging, `api-version`, the ARM error envelope and its faults.

use std::time::Duration;

use dutywatch::config::{ArmResource, SourceKind};
use dutywatch::sources::HttpPolicy;
use dutywatch_checks::verdict::StateKind;

use crate::util::arm_server::{
    self, RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, incident, incidents_path, table, tables_path,
    workspace, workspace_path,
};
use crate::util::graph_server::{ARM_API_VERSION, Fault, GraphServer};
use crate::util::ms_fixture::{
    SECRET, api_source, cycle, engine, fast, fixture, gets, payloads, subject_state,
};
use crate::util::{self, at};

fn arm_keys(resource: &str) -> String {
    format!(
        "resource = \"{resource}\"\nsubscription = \"{SUBSCRIPTION}\"\nresource_group = \"{RESOURCE_GROUP}\"\nworkspace = \"{WORKSPACE}\""
    )
}

const RETENTION_DUTY: &str = r#"
[[contractor.duty]]
id = "log-retention"
title = "Audit tables kept at least 90 days"
objectives = ["3.3.1"]
source = "la_tables"
rule = "continuous"
check = "retention_days >= 90"
required_subjects = ["SigninLogs", "AuditLogs", "SecurityEvent"]
tolerance = "24h"
"#;

fn tables_config(server: &GraphServer) -> String {
    api_source(
        server,
        "la_tables",
        "arm",
        "log_table",
        &arm_keys("logAnalyticsTables"),
    ) + RETENTION_DUTY
}

/// A 90-day workspace; tables in three pages: two inheriting its retention, one with its own
/// 120 days, one with its own 30 days that is not required.
fn serve_tables(server: &GraphServer, workspace_days: i64) {
    server.set_object(&workspace_path(), workspace(workspace_days));
    server.set_pages(
        &tables_path(),
        vec![
            vec![table("SigninLogs", None, workspace_days)],
            vec![
                table("AuditLogs", Some((120, 400)), workspace_days),
                table("Heartbeat", Some((30, 30)), workspace_days),
            ],
            vec![table("SecurityEvent", None, workspace_days)],
        ],
    );
}

#[test]
fn throttled_unavailable_and_expired_token_runs_recover_to_met_over_three_pages() {
    let now = at("2026-11-23T15:00:00Z");
    let server = arm_server::start(SECRET);
    serve_tables(&server, 90);
    server.fault(&workspace_path(), 0, Fault::Throttle(Some("0".to_owned())));
    server.fault(
        &tables_path(),
        1,
        Fault::Throttle(Some("Mon, 23 Nov 2026 15:00:00 GMT".to_owned())),
    );
    server.fault(&tables_path(), 1, Fault::Throttle(None));
    server.fault(&tables_path(), 2, Fault::Unavailable(Some("0".to_owned())));
    server.fault(&tables_path(), 2, Fault::ExpireTokens);
    // Only `retention_days >= 90` of the required tables: Heartbeat's 30 days is not asked.
    let fixture = fixture(
        now,
        &tables_config(&server).replace(
            "check = \"retention_days >= 90\"",
            "where = \"table in ['SigninLogs', 'AuditLogs', 'SecurityEvent']\"\ncheck = \"retention_days >= 90\"",
        ),
    );
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "log-retention");
    assert_eq!(state, StateKind::Met, "{reason}");
    assert_eq!(server.token_requests(), 2, "one renewal after the 401");
    let requests: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "GET")
        .collect();
    // The workspace after a 429; page 2 after two 429s; page 3 after a 503 and a 401.
    assert_eq!(requests.len(), 2 + 1 + 3 + 3, "{requests:?}");
    assert!(
        requests.iter().all(|seen| seen
            .target
            .contains(&format!("api-version={ARM_API_VERSION}"))),
        "every call carries api-version"
    );
    let token = server
        .seen()
        .into_iter()
        .find(|seen| seen.method == "POST")
        .expect("token request");
    assert!(
        token
            .body
            .contains("scope=https%3A%2F%2Fmanagement.azure.com%2F.default"),
        "{}",
        token.body
    );
    let stored = payloads(&fixture, "la_tables");
    assert_eq!(stored.len(), 1, "both documents in one snapshot");
    assert_eq!(stored[0]["workspace"]["properties"]["retentionInDays"], 90);
    assert_eq!(stored[0]["value"].as_array().map(Vec::len), Some(4));
    assert!(
        stored[0]["value"][0]["properties"]
            .get("reportedRetentionInDays")
            .is_none(),
        "stored as ARM sent it; the effective retention is computed when read"
    );
}

#[test]
fn a_short_or_inherited_short_retention_fails_and_a_missing_required_table_is_a_failing_subject() {
    let now = at("2026-11-23T15:00:00Z");
    let server = arm_server::start(SECRET);
    // A 30-day workspace: the tables that inherit it keep 30 days, whatever ARM shows as
    // their own value.
    server.set_object(&workspace_path(), workspace(30));
    let mut inherits = table("SigninLogs", None, 30);
    inherits["properties"]["retentionInDays"] = serde_json::json!(-1);
    server.set_pages(
        &tables_path(),
        vec![
            vec![inherits],
            vec![table("AuditLogs", Some((120, 400)), 30)],
            vec![table("Heartbeat", Some((30, 30)), 30)],
        ],
    );
    let fixture = fixture(now, &tables_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "log-retention");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    assert_eq!(
        subject_state(&engine, "log-retention", "AuditLogs").0,
        StateKind::Met
    );
    assert_eq!(
        subject_state(&engine, "log-retention", "SigninLogs").0,
        StateKind::DueSoon,
        "-1 inherits the workspace's 30 days"
    );
    let (missing, why) = subject_state(&engine, "log-retention", "SecurityEvent");
    assert_eq!(missing, StateKind::DueSoon, "{why}");
    assert!(
        why.contains("required but absent from the evidence"),
        "{why}"
    );
}

#[test]
fn the_same_workspace_and_tables_saved_by_hand_read_through_a_file_source() {
    let now = at("2026-11-23T15:00:00Z");
    let document = serde_json::json!({
        "workspace": workspace(30),
        "value": [
            table("SigninLogs", None, 30),
            table("AuditLogs", Some((120, 400)), 30),
            table("SecurityEvent", Some((365, 730)), 30),
        ],
    });
    let extra = r#"
[[contractor.source]]
id = "la_tables"
kind = "file"
evidence = "log_table"
path = "evidence/la-tables.json"
schedule = "0 * * * *"
max_age = "2d"
"#
    .to_owned()
        + RETENTION_DUTY;
    let fixture = fixture(now, &extra);
    fixture.write_dated("evidence/la-tables.json", &document.to_string(), now);
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "log-retention");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    assert_eq!(
        subject_state(&engine, "log-retention", "SigninLogs").0,
        StateKind::DueSoon,
        "inherits 30 days"
    );
    assert_eq!(
        subject_state(&engine, "log-retention", "SecurityEvent").0,
        StateKind::Met
    );

    // Saved with a byte-order mark (Notepad, PowerShell): the same reading, inheritance too.
    let later = now + jiff::SignedDuration::from_hours(1);
    fixture.write_dated(
        "evidence/la-tables.json",
        &format!("\u{feff}{document}"),
        later,
    );
    let (state, reason) = cycle(&mut engine, later, "log-retention");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    assert_eq!(
        subject_state(&engine, "log-retention", "SigninLogs").0,
        StateKind::DueSoon,
        "still inherits 30 days"
    );

    // A table's retention given twice: which one holds is ambiguous, so none of it is used.
    let later = later + jiff::SignedDuration::from_hours(1);
    let twice = document.to_string().replacen(
        "\"retentionInDays\":365,",
        "\"retentionInDays\":365,\"retentionInDays\":30,",
        1,
    );
    assert_ne!(twice, document.to_string(), "the key is given twice");
    fixture.write_dated("evidence/la-tables.json", &twice, later);
    let (state, reason) = cycle(&mut engine, later, "log-retention");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(reason.contains("appears twice"), "{reason}");
}

#[test]
fn arm_refusals_and_broken_answers_are_source_errors_with_their_reason() {
    let now = at("2026-11-23T15:00:00Z");
    let cases: Vec<(String, Fault, &str)> = vec![
        (
            workspace_path(),
            Fault::Error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action 'Microsoft.OperationalInsights/workspaces/read'.",
            ),
            "HTTP 403 AuthorizationFailed: The client does not have authorization to perform action 'Microsoft.OperationalInsights/workspaces/read'.; assign the app registration's service principal the Azure role Log Analytics Reader",
        ),
        (
            tables_path(),
            Fault::Error(404, "ResourceNotFound", "The Resource was not found."),
            "HTTP 404 ResourceNotFound: The Resource was not found.; check `subscription`, `resource_group` and `workspace`",
        ),
        // The envelope's target and detail quoting the bearer token it was sent.
        (
            tables_path(),
            Fault::Raw(
                403,
                r#"{"error":{"code":"InvalidAuthenticationToken","message":"Refused.","target":"{authorization}","details":[{"code":"TokenScope","message":"token {authorization} lacks the scope"}]}}"#.to_owned(),
            ),
            "HTTP 403 InvalidAuthenticationToken/TokenScope: Refused. (target `Bearer [redacted]`); token Bearer [redacted] lacks the scope",
        ),
        (tables_path(), Fault::Malformed, "the answer is not JSON"),
        (tables_path(), Fault::Truncated, "page 2 ("),
    ];
    for (path, fault, expected) in cases {
        let server = arm_server::start(SECRET);
        serve_tables(&server, 90);
        let page = usize::from(path == tables_path() && matches!(fault, Fault::Truncated));
        server.fault(&path, page, fault);
        let fixture = fixture(now, &tables_config(&server));
        let mut engine = engine(&fixture);
        let (state, reason) = cycle(&mut engine, now, "log-retention");
        assert_eq!(state, StateKind::SourceError, "{reason}");
        assert!(reason.contains(expected), "{expected}: {reason}");
        assert!(payloads(&fixture, "la_tables").is_empty());
    }

    // Throttled past the retries, and a hang past the request timeout.
    let server = arm_server::start(SECRET);
    serve_tables(&server, 90);
    for _ in 0..7 {
        server.fault(&tables_path(), 0, Fault::Throttle(None));
    }
    let fixture = fixture(now, &tables_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "log-retention");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("still HTTP 429 after 6 retries"),
        "{reason}"
    );

    let server = arm_server::start(SECRET);
    serve_tables(&server, 90);
    server.fault(&tables_path(), 2, Fault::Hang(Duration::from_secs(1)));
    let fixture = self::fixture(now, &tables_config(&server));
    let mut engine = util::engine(&fixture);
    engine.set_http_policy(HttpPolicy {
        request_timeout: Duration::from_millis(300),
        ..fast()
    });
    let (state, reason) = cycle(&mut engine, now, "log-retention");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 3 (") && reason.contains("no complete answer within 0.3 s"),
        "{reason}"
    );
}

fn incidents_config(server: &GraphServer) -> String {
    api_source(
        server,
        "sentinel",
        "arm",
        "incident",
        &arm_keys("sentinelIncidents"),
    ) + r#"
[[contractor.duty]]
id = "no-new-high-incident"
title = "No high-severity Sentinel incident left new"
objectives = ["3.6.1"]
source = "sentinel"
rule = "continuous"
expect = "none"
check = "severity == 'high' and status == 'new'"
tolerance = "4h"
"#
}

#[test]
fn check_config_names_the_list_each_arm_source_reads() {
    let now = at("2026-11-23T15:00:00Z");
    let server = arm_server::start(SECRET);
    let config = incidents_config(&server)
        + &api_source(
            &server,
            "la_tables",
            "arm",
            "log_table",
            &arm_keys("logAnalyticsTables"),
        );
    let fixture = fixture(now, &config);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    // (The fixture's CRM has findings of its own; the notes are what is looked at.)
    let (stdout, _) = util::text(&output);
    let noted = |source: &str, path: &str| {
        stdout.lines().any(|line| {
            line.contains(&format!("source[{source}]: collected from "))
                && line.contains(&format!("{path}?api-version="))
        })
    };
    assert!(noted("sentinel", &incidents_path()), "{stdout}");
    assert!(noted("la_tables", &workspace_path()), "{stdout}");
    assert!(server.seen().is_empty(), "check-config calls no API");
}

#[test]
fn sentinel_incidents_over_three_pages_are_incident_records() {
    let now = at("2026-11-23T15:00:00Z");
    let server = arm_server::start(SECRET);
    server.set_pages(
        &incidents_path(),
        vec![
            vec![incident(
                "73e01a99-5cd7-4139-a149-9f2736ff2ab5",
                "Closed",
                "High",
                "2026-11-20T13:15:30Z",
            )],
            vec![incident(
                "8a44b7bb-c8a1-4fe9-b2ba-0f9f8e0a5e8c",
                "Active",
                "Medium",
                "2026-11-21T13:15:30Z",
            )],
            vec![incident(
                "b2f1a5f0-2c4e-4d7f-9b1a-6c1d2e3f4a5b",
                "New",
                "High",
                "2026-11-23T13:15:30Z",
            )],
        ],
    );
    let fixture = fixture(now, &incidents_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "no-new-high-incident");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    // An incident is named by its ARM resource id.
    let id = |name: &str| {
        format!(
            "{}/providers/Microsoft.SecurityInsights/Incidents/{name}",
            workspace_path()
        )
    };
    assert_eq!(
        subject_state(
            &engine,
            "no-new-high-incident",
            &id("b2f1a5f0-2c4e-4d7f-9b1a-6c1d2e3f4a5b")
        )
        .0,
        StateKind::DueSoon
    );
    assert_eq!(
        subject_state(
            &engine,
            "no-new-high-incident",
            &id("73e01a99-5cd7-4139-a149-9f2736ff2ab5")
        )
        .0,
        StateKind::Met
    );
    let requests = gets(&server, &incidents_path());
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(
        requests[0].ends_with("?api-version=2023-02-01"),
        "{requests:?}"
    );
}

#[test]
fn clouds_preset_the_arm_and_login_hosts() {
    let now = at("2026-11-23T15:00:00Z");
    let server = arm_server::start(SECRET);
    for (cloud, arm, login) in [
        (
            "commercial",
            "https://management.azure.com",
            "https://login.microsoftonline.com",
        ),
        (
            "gcc",
            "https://management.azure.com",
            "https://login.microsoftonline.com",
        ),
        (
            "gcc_high",
            "https://management.usgovcloudapi.net",
            "https://login.microsoftonline.us",
        ),
        (
            "dod",
            "https://management.usgovcloudapi.net",
            "https://login.microsoftonline.us",
        ),
    ] {
        let config = tables_config(&server)
            .replace(&format!("arm_url = \"{}\"\n", server.base), "")
            .replace(&format!("token_url = \"{}\"\n", server.token_url()), "")
            .replace(
                "kind = \"arm\"\n",
                &format!("kind = \"arm\"\ncloud = \"{cloud}\"\n"),
            );
        let fixture = fixture(now, &config);
        let loaded = fixture.load();
        let source = loaded.contractors[0]
            .sources
            .iter()
            .find(|source| source.id == "la_tables")
            .expect("source");
        let SourceKind::Arm(arm_source) = &source.kind else {
            panic!("not an arm source");
        };
        assert_eq!(arm_source.resource, ArmResource::LogAnalyticsTables);
        assert_eq!(
            arm_source.url.as_str(),
            format!("{arm}{}?api-version=2022-10-01", workspace_path())
        );
        assert_eq!(arm_source.scope, format!("{arm}/.default"));
        assert_eq!(
            arm_source.token_url.as_str(),
            format!("{login}/contoso.onmicrosoft.com/oauth2/v2.0/token")
        );
        assert_eq!(arm_source.role, "Log Analytics Reader");
    }
    // A newer api-version, as configured.
    let config = tables_config(&server).replace(
        "resource = \"logAnalyticsTables\"",
        "resource = \"logAnalyticsTables\"\napi_version = \"2025-02-01\"",
    );
    let loaded = fixture(now, &config).load();
    let source = loaded.contractors[0]
        .sources
        .iter()
        .find(|source| source.id == "la_tables")
        .expect("source");
    assert_eq!(
        source
            .kind
            .api_url()
            .and_then(|url| url.query().map(str::to_owned)),
        Some("api-version=2025-02-01".to_owned())
    );
}

#[test]
fn arm_keys_are_checked_where_they_belong() {
    let now = at("2026-11-23T15:00:00Z");
    let server = arm_server::start(SECRET);
    let config = tables_config(&server)
        .replace("resource = \"logAnalyticsTables\"", "resource = \"tables\"")
        .replace(
            &format!("workspace = \"{WORKSPACE}\""),
            "workspace = \"soc/ws\"",
        )
        + "\n[[contractor.source]]\nid = \"stray\"\nkind = \"file\"\nevidence = \"log_table\"\npath = \"t.json\"\nworkspace = \"ws\"\nschedule = \"0 * * * *\"\n"
        + r#"
[[contractor.source]]
id = "tables_file"
kind = "file"
evidence = "log_table"
path = "tables.json"
schedule = "0 * * * *"

[[contractor.duty]]
id = "bad-retention"
title = "Badly written"
objectives = ["3.3.1"]
source = "tables_file"
rule = "continuous"
expect = "any"
check = "retention_days >= 90"
unknown_when = "retension_days < 1"
required_subjects = ["SigninLogs"]
tolerance = "24h"
max_age = "2d"
"#;
    let fixture = fixture(now, &config);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = util::text(&output);
    let all = format!("{stdout}{stderr}");
    assert!(!output.status.success(), "{all}");
    assert!(
        all.contains("source[la_tables].resource: `tables` is not an ARM resource dutywatch knows; write one of \"logAnalyticsTables\", \"sentinelIncidents\""),
        "{all}"
    );
    assert!(
        all.contains("source[la_tables].workspace: `soc/ws` is not a workspace name"),
        "{all}"
    );
    assert!(
        all.contains(
            "source[stray].workspace: `workspace` is for kind = \"arm\" sources, not file sources"
        ),
        "{all}"
    );
    assert!(
        all.contains("duty[bad-retention].unknown_when:")
            && all.contains("did you mean `retention_days`?"),
        "{all}"
    );
    assert!(
        all.contains("duty[bad-retention].required_subjects: `required_subjects` names subjects each of which must hold"),
        "{all}"
    );
    assert!(server.seen().is_empty(), "check-config calls no API");
}
