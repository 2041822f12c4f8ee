//! The Graph connectors beyond MFA (Intune devices, security defaults, access reviews,
//! Defender XDR incidents) against the fake Graph: what each resource does differently. The
//! shared layer (token cache, 401 refresh, foreign next links, max_bytes) is covered in
//! `graph.rs`.

use std::time::Duration;

use dutywatch::sources::HttpPolicy;
use dutywatch_checks::verdict::StateKind;

use crate::util::graph_server::{
    DEVICES, Fault, GraphServer, INCIDENTS, REVIEW_DEFINITIONS, SECURITY_DEFAULTS, USERS, user,
};
use crate::util::ms_fixture::{
    SECRET, api_source, cycle, engine, fast, fixture, gets, payload_bytes, payloads, subject_state,
};
use crate::util::{self, at};

fn device(name: &str, compliance: &str, last_sync: &str) -> serde_json::Value {
    serde_json::json!({
        "id": format!("705c034c-{name}"),
        "deviceName": name,
        "userPrincipalName": "jdoe@acme.example",
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.4460",
        "complianceState": compliance,
        "isEncrypted": true,
        "managementAgent": "mdm",
        "lastSyncDateTime": last_sync,
        "enrolledDateTime": "2025-01-10T08:00:00Z",
        "azureADDeviceId": "3f1c0000-0000-0000-0000-000000000000"
    })
}

fn devices_config(server: &GraphServer) -> String {
    api_source(
        server,
        "intune",
        "graph",
        "managed_device",
        "resource = \"managedDevices\"",
    ) + r#"
[[contractor.duty]]
id = "devices-compliant"
title = "Every Intune device compliant and seen this week"
objectives = ["3.14.1"]
source = "intune"
rule = "continuous"
check = "compliance == 'compliant'"
unknown_when = "last_sync < now-7d"
tolerance = "24h"
"#
}

/// Three pages of 1,000, 1,000 and 3 devices, as Intune pages them; the pages it served.
fn three_pages_of_devices(server: &GraphServer) -> Vec<Vec<serde_json::Value>> {
    let fresh = "2026-11-23T08:41:55Z";
    let page = |prefix: &str| {
        (0..1000)
            .map(|i| device(&format!("{prefix}-{i:04}"), "compliant", fresh))
            .collect::<Vec<_>>()
    };
    let pages = vec![
        page("ENG"),
        page("OPS"),
        vec![
            device("ENG-LT-014", "compliant", fresh),
            // Compliant when it last synced, three weeks ago: unknown today.
            device("SHOP-PC-02", "compliant", "2026-11-02T08:00:00Z"),
            // Intune's own casing varies: read ignoring case.
            device("SHOP-PC-07", "NonCompliant", fresh),
        ],
    ];
    server.set_pages(DEVICES, pages.clone());
    pages
}

#[test]
fn intune_devices_in_pages_of_1000_a_stale_device_is_unknown_never_compliant() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    let pages = three_pages_of_devices(&server);
    let fixture = fixture(now, &devices_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "devices-compliant");
    // The worst subject decides: the unknown device keeps the duty from anything better.
    assert_eq!(state, StateKind::NoEvidence, "{reason}");

    let requests = gets(&server, DEVICES);
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(
        requests.iter().all(|target| !target.contains("$skip=")),
        "pages are followed by their link, never by $skip: {requests:?}"
    );
    let stored = payloads(&fixture, "intune");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["value"].as_array().map(Vec::len), Some(2003));
    // Written out page by page, the document is byte for byte the one built from every item
    // at once (so its hash, and what the store already holds, do not change).
    let all: Vec<serde_json::Value> = pages.into_iter().flatten().collect();
    assert_eq!(
        payload_bytes(&fixture, "intune")[0],
        serde_json::to_vec(&serde_json::json!({ "value": all })).expect("json")
    );

    assert_eq!(
        subject_state(&engine, "devices-compliant", "ENG-LT-014").0,
        StateKind::Met
    );
    let (stale, why) = subject_state(&engine, "devices-compliant", "SHOP-PC-02");
    assert_eq!(stale, StateKind::NoEvidence, "{why}");
    assert!(why.contains("last_sync < now-7d"), "{why}");
    assert_eq!(
        subject_state(&engine, "devices-compliant", "SHOP-PC-07").0,
        StateKind::DueSoon
    );
}

#[test]
fn a_device_list_without_a_licence_or_permission_is_a_source_error_that_says_so() {
    let now = at("2026-11-23T15:00:00Z");
    for (fault, expected) in [
        (
            Fault::Error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ),
            "HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the operation.; grant the app registration the application permission DeviceManagementManagedDevices.Read.All (with admin consent)",
        ),
        (
            Fault::Error(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            ),
            "needs an Entra ID P1 or P2 licence",
        ),
    ] {
        let server = GraphServer::start(SECRET);
        three_pages_of_devices(&server);
        // On the second page: a collection is whole or failed.
        server.fault(DEVICES, 1, fault);
        let fixture = fixture(now, &devices_config(&server));
        let mut engine = engine(&fixture);
        let (state, reason) = cycle(&mut engine, now, "devices-compliant");
        assert_eq!(state, StateKind::SourceError, "{reason}");
        assert!(reason.contains(expected), "{reason}");
        assert!(payloads(&fixture, "intune").is_empty());
    }
}

fn security_defaults_config(server: &GraphServer) -> String {
    api_source(
        server,
        "secdefaults",
        "graph",
        "security_defaults",
        "resource = \"securityDefaults\"",
    ) + r#"
[[contractor.duty]]
id = "security-defaults"
title = "Security defaults on"
objectives = ["3.5.3"]
source = "secdefaults"
rule = "continuous"
check = "enabled == true"
tolerance = "24h"
"#
}

#[test]
fn security_defaults_are_one_object_and_malformed_or_truncated_answers_are_source_errors() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    server.set_object(
        SECURITY_DEFAULTS,
        serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy/$entity",
            "id": "00000000-0000-0000-0000-000000000005",
            "displayName": "Security Defaults",
            "description": "Security defaults is a set of basic identity security mechanisms recommended by Microsoft.",
            "isEnabled": true
        }),
    );
    server.fault(SECURITY_DEFAULTS, 0, Fault::Malformed);
    server.fault(SECURITY_DEFAULTS, 0, Fault::Truncated);
    let fixture = fixture(now, &security_defaults_config(&server));
    let mut engine = engine(&fixture);

    let (state, reason) = cycle(&mut engine, now, "security-defaults");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(reason.contains("the answer is not JSON"), "{reason}");

    let later = now + jiff::SignedDuration::from_hours(1);
    let (state, reason) = cycle(&mut engine, later, "security-defaults");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("broke off") || reason.contains("not JSON"),
        "{reason}"
    );
    assert!(payloads(&fixture, "secdefaults").is_empty());

    let later = now + jiff::SignedDuration::from_hours(2);
    let (state, reason) = cycle(&mut engine, later, "security-defaults");
    assert_eq!(state, StateKind::Met, "{reason}");
    let stored = payloads(&fixture, "secdefaults");
    assert_eq!(stored[0]["value"][0]["isEnabled"], true, "a list of one");
}

fn definition(id: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "displayName": name,
        "status": "InProgress",
        "createdDateTime": "2026-01-05T10:00:00Z",
        "scope": { "@odata.type": "#microsoft.graph.accessReviewQueryScope",
                   "query": "/groups/02f3bafb-448c-487c-88c2-5fd65ce49a41/transitiveMembers", "queryType": "MicrosoftGraph" },
        "reviewers": [],
        "settings": { "defaultDecision": "None", "autoApplyDecisionsEnabled": true,
                      "recurrence": { "pattern": { "type": "absoluteMonthly", "interval": 3 },
                                      "range": { "type": "noEnd", "startDate": "2026-01-05" } } }
    })
}

fn instance(id: &str, status: &str, start: &str, end: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "startDateTime": start,
        "endDateTime": end,
        "status": status,
        "scope": { "query": "/groups/02f3bafb-448c-487c-88c2-5fd65ce49a41/transitiveMembers" }
    })
}

fn access_review_config(server: &GraphServer) -> String {
    api_source(
        server,
        "reviews_entra",
        "graph",
        "access_review_instance",
        "resource = \"accessReviewInstances\"",
    ) + &api_source(
        server,
        "review_definitions",
        "graph",
        "access_review_definition",
        "resource = \"accessReviewDefinitions\"",
    ) + r#"
[[contractor.duty]]
id = "entra-access-review"
title = "Quarterly Entra access review completed"
objectives = ["3.1.1"]
party = "msp"
source = "reviews_entra"
rule = "recurring"
completed_at = "end_at"
where = "status == 'completed'"
every = "90d"

[[contractor.duty]]
id = "review-cadence"
title = "Every access review recurs at least quarterly"
objectives = ["3.1.1"]
party = "msp"
source = "review_definitions"
rule = "continuous"
check = "recurrence == 'absoluteMonthly' and recurrence_interval <= 3"
tolerance = "7d"
"#
}

#[test]
fn access_review_instances_are_listed_per_definition_and_a_missing_permission_is_named() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    server.set_pages(
        REVIEW_DEFINITIONS,
        vec![
            vec![definition("def-1", "Admins quarterly")],
            vec![definition("def-2", "Guests quarterly")],
            vec![definition("def-3", "Finance app quarterly")],
        ],
    );
    for (id, status) in [
        ("def-1", "Completed"),
        ("def-2", "InProgress"),
        ("def-3", "AutoReviewed"),
    ] {
        server.set_pages(
            &format!("{REVIEW_DEFINITIONS}/{id}/instances"),
            vec![vec![instance(
                &format!("{id}-q4"),
                status,
                "2026-10-01T00:00:00Z",
                "2026-10-15T00:00:00Z",
            )]],
        );
    }
    let fixture = fixture(now, &access_review_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "entra-access-review");
    assert_eq!(state, StateKind::Met, "{reason}");
    let (state, reason) = cycle(&mut engine, now, "review-cadence");
    assert_eq!(state, StateKind::Met, "{reason}");
    let stored = payloads(&fixture, "reviews_entra");
    let instances = stored[0]["value"].as_array().expect("list");
    assert_eq!(instances.len(), 3);
    assert_eq!(instances[0]["definitionId"], "def-1");
    assert_eq!(instances[0]["definitionName"], "Admins quarterly");
    assert_eq!(
        instances[0]["status"], "Completed",
        "kept as Graph spells it"
    );

    // The app lacks AccessReview.Read.All for the instances of the second definition.
    let server = GraphServer::start(SECRET);
    server.set_pages(
        REVIEW_DEFINITIONS,
        vec![vec![definition("def-1", "Admins")]],
    );
    server.fault(
        &format!("{REVIEW_DEFINITIONS}/def-1/instances"),
        0,
        Fault::Error(
            403,
            "Forbidden",
            "Insufficient privileges to complete the operation.",
        ),
    );
    let fixture = self::fixture(now, &access_review_config(&server));
    let mut engine = self::engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "entra-access-review");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("application permission AccessReview.Read.All"),
        "{reason}"
    );
}

fn defender_incident(id: &str, status: &str, severity: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{id}?tid=contoso"),
        "redirectIncidentId": null,
        "displayName": format!("Multi-stage incident {id}"),
        "createdDateTime": "2026-11-20T08:43:35.5533333Z",
        "lastUpdateDateTime": "2026-11-21T09:35:45.1133333Z",
        "assignedTo": "KaiC@contoso.onmicrosoft.com",
        "classification": "TruePositive",
        "determination": "multiStagedAttack",
        "status": status,
        "severity": severity,
        "customTags": [],
        "comments": []
    })
}

fn incidents_config(server: &GraphServer) -> String {
    api_source(
        server,
        "defender",
        "graph",
        "incident",
        "resource = \"securityIncidents\"",
    ) + r#"
[[contractor.duty]]
id = "no-high-incident-waiting"
title = "No high-severity Defender incident awaits action"
objectives = ["3.6.1"]
source = "defender"
rule = "continuous"
expect = "none"
check = "severity == 'high' and status == 'awaitingAction'"
tolerance = "4h"
"#
}

#[test]
fn defender_incidents_send_prefer_on_every_page_and_keep_unknown_enum_values_in_any_case() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    server.set_pages(
        INCIDENTS,
        vec![
            vec![defender_incident("2972395", "Active", "Medium")],
            vec![defender_incident("2972396", "redirected", "low")],
            vec![defender_incident("2972397", "AwaitingAction", "High")],
        ],
    );
    let fixture = fixture(now, &incidents_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "no-high-incident-waiting");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    assert_eq!(
        subject_state(&engine, "no-high-incident-waiting", "2972397").0,
        StateKind::DueSoon
    );
    assert_eq!(
        subject_state(&engine, "no-high-incident-waiting", "2972395").0,
        StateKind::Met
    );
    let prefers: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "GET")
        .map(|seen| seen.prefer)
        .collect();
    assert_eq!(prefers.len(), 3);
    assert!(
        prefers
            .iter()
            .all(|p| p.as_deref() == Some("include-unknown-enum-members")),
        "{prefers:?}"
    );
}

#[test]
fn defender_throttling_a_503_and_an_expired_token_are_waited_out_and_a_hang_is_a_source_error() {
    let now = at("2026-11-23T15:00:00Z");
    let pages = |server: &GraphServer| {
        server.set_pages(
            INCIDENTS,
            vec![
                vec![defender_incident("1", "resolved", "high")],
                vec![defender_incident("2", "active", "low")],
                vec![defender_incident("3", "inProgress", "medium")],
            ],
        );
    };
    let server = GraphServer::start(SECRET);
    pages(&server);
    server.fault(INCIDENTS, 0, Fault::Throttle(Some("0".to_owned())));
    // An HTTP date already passed by the time it is read: at once.
    server.fault(
        INCIDENTS,
        1,
        Fault::Throttle(Some("Mon, 23 Nov 2026 15:00:00 GMT".to_owned())),
    );
    server.fault(INCIDENTS, 1, Fault::Throttle(None));
    server.fault(INCIDENTS, 2, Fault::Unavailable(None));
    server.fault(INCIDENTS, 2, Fault::ExpireTokens);
    let fixture = fixture(now, &incidents_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "no-high-incident-waiting");
    assert_eq!(state, StateKind::Met, "{reason}");
    assert_eq!(
        gets(&server, INCIDENTS).len(),
        8,
        "3 pages, 4 retries, 1 refresh"
    );
    assert_eq!(server.token_requests(), 2);
    assert_eq!(payloads(&fixture, "defender").len(), 1);

    let server = GraphServer::start(SECRET);
    pages(&server);
    server.fault(INCIDENTS, 2, Fault::Hang(Duration::from_secs(1)));
    let fixture = self::fixture(now, &incidents_config(&server));
    let mut engine = util::engine(&fixture);
    engine.set_http_policy(HttpPolicy {
        request_timeout: Duration::from_millis(300),
        ..fast()
    });
    let (state, reason) = cycle(&mut engine, now, "no-high-incident-waiting");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 3 (") && reason.contains("no complete answer within 0.3 s"),
        "{reason}"
    );
    assert!(payloads(&fixture, "defender").is_empty());
}

#[test]
fn a_vendor_export_saved_by_hand_reads_as_the_connector_reads_it() {
    // The same userRegistrationDetails answer from the API and from a file source.
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    let items = vec![user("a@acme.example", true), user("b@acme.example", false)];
    server.set_pages(USERS, vec![items.clone()]);
    let duty = |source: &str| {
        format!(
            r#"
[[contractor.duty]]
id = "mfa-{source}"
title = "MFA registered"
objectives = ["3.5.3"]
source = "{source}"
rule = "continuous"
check = "mfa_registered == true"
tolerance = "24h"
"#
        )
    };
    let extra = api_source(
        &server,
        "api_users",
        "graph",
        "mfa_registration",
        "resource = \"userRegistrationDetails\"",
    ) + &duty("api_users")
        + r#"
[[contractor.source]]
id = "file_users"
kind = "file"
evidence = "mfa_registration"
path = "evidence/userRegistrationDetails.json"
schedule = "0 * * * *"
max_age = "2d"
"# + &duty("file_users");
    let fixture = fixture(now, &extra);
    fixture.write_dated(
        "evidence/userRegistrationDetails.json",
        &serde_json::json!({ "value": items }).to_string(),
        now,
    );
    let mut engine = engine(&fixture);
    engine.cycle(now).expect("cycle");
    for source in ["api_users", "file_users"] {
        let duty = format!("mfa-{source}");
        assert_eq!(
            subject_state(&engine, &duty, "b@acme.example").0,
            StateKind::DueSoon
        );
        assert_eq!(
            subject_state(&engine, &duty, "a@acme.example").0,
            StateKind::Met
        );
    }
}

/// A 200 that says an error beside its list (`{"value": [], "error": {...}}`: a throttled or
/// failed part of the answer) is a `source_error` naming the error, never an empty list read
/// as "no incident awaits action"; the next answer without it is judged as usual.
#[test]
fn an_error_beside_the_list_in_a_200_is_a_source_error_not_an_empty_list() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    server.set_pages(
        INCIDENTS,
        vec![vec![defender_incident("2972395", "Active", "Medium")]],
    );
    server.fault(
        INCIDENTS,
        0,
        Fault::Raw(
            200,
            r#"{"value": [], "error": {"code": "Throttled", "message": "part of the answer is missing"}}"#
                .to_owned(),
        ),
    );
    let fixture = fixture(now, &incidents_config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now, "no-high-incident-waiting");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(
            "HTTP 200 with an error beside the data (Throttled: part of the answer is missing)"
        ),
        "{reason}"
    );
    let later = now + jiff::SignedDuration::from_hours(1);
    let (state, reason) = cycle(&mut engine, later, "no-high-incident-waiting");
    assert_eq!(state, StateKind::Met, "{reason}");
    // `"error": null` says there is none: the answer is read as usual.
    server.fault(
        INCIDENTS,
        0,
        Fault::Raw(
            200,
            serde_json::json!({
                "value": [defender_incident("2972395", "Active", "Medium")],
                "error": null
            })
            .to_string(),
        ),
    );
    let later = later + jiff::SignedDuration::from_hours(1);
    let (state, reason) = cycle(&mut engine, later, "no-high-incident-waiting");
    assert_eq!(state, StateKind::Met, "{reason}");
    assert!(!reason.contains("error beside"), "{reason}");
}
