//! A small, believable tenant served by the fake vendor APIs of `tests/util`, so a new user
//! sees dutywatch pull from APIs (`cargo run --example fake-tenant`, with
//! `config/tenant/dutywatch.toml`) and a test runs the same tenant in-process. Every date is
//! relative to the `now` it starts with, so the verdicts come out the same any day:
//!
//! - Microsoft Graph: four users in two pages (one member without MFA), an enabled
//!   Conditional Access policy requiring MFA for all users, three Intune devices (one not
//!   synced for 12 days), two Defender incidents (one high, active and real, one a resolved
//!   false positive), two quarterly access reviews with their decisions: the privileged
//!   roles' last completed 110 days ago, the guests' 20 days ago with one guest `NotReviewed`;
//! - Azure Resource Manager: a Log Analytics workspace keeping 90 days, four tables (one,
//!   `SecurityEvent`, inheriting those 90 days), two closed Sentinel incidents;
//! - NinjaOne: three devices that checked in today, three pending patches (one critical,
//!   pending for 20 days);
//! - Splunk: three indexes keeping a year or more; Elastic: two ILM policies, one deleting
//!   after 400 days and one keeping its data forever.
//!
//! One demo client id and secret ([`DEMO_SECRET`]) opens every API.

use std::net::TcpListener;

use jiff::{SignedDuration, Timestamp};

use super::arm_server;
use super::elastic_server::{self, ElasticServer};
use super::graph_server::{self, GraphServer};
use super::ninjaone_server::{self, NinjaServer};
use super::splunk_server::{self, SplunkServer};

/// The client secret, Splunk token and Elastic API key of the fake tenant; the same text is in
/// `config/tenant/demo-secret`. A demo value, never a real one.
pub(crate) const DEMO_SECRET: &str = "dutywatch-demo-secret-not-for-production";

/// The ports the five fake APIs listen on, on 127.0.0.1 (0: any free port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    pub(crate) graph: u16,
    pub(crate) arm: u16,
    pub(crate) ninjaone: u16,
    pub(crate) splunk: u16,
    pub(crate) elastic: u16,
}

impl Ports {
    /// The ports `config/tenant/dutywatch.toml` names.
    pub(crate) const DEFAULT_BASE: u16 = 47101;

    /// Five consecutive ports from `base`: Graph, ARM, NinjaOne, Splunk, Elastic.
    pub(crate) fn from_base(base: u16) -> Option<Ports> {
        Some(Ports {
            graph: base,
            arm: base.checked_add(1)?,
            ninjaone: base.checked_add(2)?,
            splunk: base.checked_add(3)?,
            elastic: base.checked_add(4)?,
        })
    }

    /// Any free ports (tests).
    pub(crate) fn any() -> Ports {
        Ports {
            graph: 0,
            arm: 0,
            ninjaone: 0,
            splunk: 0,
            elastic: 0,
        }
    }
}

/// The running fake tenant; its servers serve until the process ends.
#[derive(Clone)]
pub(crate) struct FakeTenant {
    pub(crate) graph: GraphServer,
    pub(crate) arm: GraphServer,
    pub(crate) ninjaone: NinjaServer,
    pub(crate) splunk: SplunkServer,
    pub(crate) elastic: ElasticServer,
}

impl FakeTenant {
    /// Each API's name and base URL, in the order of [`Ports`].
    pub(crate) fn bases(&self) -> [(&'static str, &str); 5] {
        [
            ("Microsoft Graph", self.graph.base.as_str()),
            ("Azure Resource Manager", self.arm.base.as_str()),
            ("NinjaOne", self.ninjaone.base.as_str()),
            ("Splunk", self.splunk.base.as_str()),
            ("Elastic", self.elastic.base.as_str()),
        ]
    }
}

/// Binds every port first (so a taken one is named before anything serves), then starts the
/// five fake APIs with the tenant's data dated from `now`.
pub(crate) fn start(ports: Ports, now: Timestamp) -> Result<FakeTenant, String> {
    let bind = |port: u16, what: &str| {
        TcpListener::bind(("127.0.0.1", port)).map_err(|error| {
            format!(
                "cannot listen on 127.0.0.1:{port} for the fake {what}: {error}; stop what uses it, or pass another first port (the config's URLs must then be changed to match)"
            )
        })
    };
    let listeners = [
        bind(ports.graph, "Microsoft Graph")?,
        bind(ports.arm, "Azure Resource Manager")?,
        bind(ports.ninjaone, "NinjaOne")?,
        bind(ports.splunk, "Splunk")?,
        bind(ports.elastic, "Elastic")?,
    ];
    let [graph, arm, ninjaone, splunk, elastic] = listeners;
    let tenant = FakeTenant {
        graph: GraphServer::start_on(DEMO_SECRET, graph_server::Flavor::Graph, graph),
        arm: arm_server::start_on(DEMO_SECRET, arm),
        ninjaone: NinjaServer::start_on(DEMO_SECRET, ninjaone),
        splunk: SplunkServer::start_on(DEMO_SECRET, splunk),
        elastic: ElasticServer::start_on(DEMO_SECRET, elastic),
    };
    let ago = |hours: i64| now - SignedDuration::from_hours(hours);
    let day = 24;
    fill_graph(&tenant.graph, &ago, day);
    fill_arm(&tenant.arm, &ago, day);
    fill_ninjaone(&tenant.ninjaone, &ago, day);
    fill_splunk(&tenant.splunk, &ago);
    fill_elastic(&tenant.elastic);
    Ok(tenant)
}

fn text(at: Timestamp) -> String {
    at.to_string()
}

/// NinjaOne's float epoch seconds.
fn epoch(at: Timestamp) -> f64 {
    at.as_millisecond() as f64 / 1000.0
}

fn fill_graph(graph: &GraphServer, ago: &impl Fn(i64) -> Timestamp, day: i64) {
    let user = |upn: &str, registered: bool, admin: bool| {
        let mut user = graph_server::user(upn, registered);
        user["isAdmin"] = serde_json::json!(admin);
        user["lastUpdatedDateTime"] = serde_json::json!(text(ago(30)));
        user
    };
    graph.set_pages(
        graph_server::USERS,
        vec![
            vec![
                user("dana.ortiz@harborforge.example", true, true),
                user("li.wong@harborforge.example", true, false),
            ],
            vec![
                user("sam.patel@harborforge.example", false, false),
                user("jo.meyer@harborforge.example", true, false),
            ],
        ],
    );
    graph.set_pages(
        graph_server::POLICIES,
        vec![vec![
            serde_json::json!({
                "id": "7b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                "displayName": "CA001: Require MFA for all users",
                "createdDateTime": text(ago(200 * day)),
                "modifiedDateTime": text(ago(40 * day)),
                "state": "enabled",
                "conditions": {
                    "clientAppTypes": ["all"],
                    "applications": {"includeApplications": ["All"]},
                    "users": {"includeUsers": ["All"], "excludeUsers": ["breakglass-01"], "excludeGroups": [], "excludeRoles": []}
                },
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": []},
                "sessionControls": null
            }),
            serde_json::json!({
                "id": "c558e346-969d-40a7-a64e-2df6c2c88490",
                "displayName": "CA010: Block legacy authentication (report-only)",
                "createdDateTime": text(ago(90 * day)),
                "modifiedDateTime": null,
                "state": "enabledForReportingButNotEnforced",
                "conditions": {
                    "clientAppTypes": ["exchangeActiveSync", "other"],
                    "applications": {"includeApplications": ["All"]},
                    "users": {"includeUsers": ["All"], "excludeUsers": [], "excludeGroups": [], "excludeRoles": []}
                },
                "grantControls": {"operator": "OR", "builtInControls": ["block"], "customAuthenticationFactors": [], "termsOfUse": []},
                "sessionControls": null
            }),
        ]],
    );
    let device = |name: &str, user: &str, last_sync: Timestamp| {
        serde_json::json!({
            "id": format!("705c034c-0000-4000-8000-{:0>12}", name.len()),
            "deviceName": name,
            "userPrincipalName": user,
            "operatingSystem": "Windows",
            "osVersion": "10.0.22631.4460",
            "complianceState": "compliant",
            "isEncrypted": true,
            "managementAgent": "mdm",
            "lastSyncDateTime": text(last_sync),
            "enrolledDateTime": text(ago(300 * day)),
            "azureADDeviceId": "3f1c0000-0000-0000-0000-000000000000"
        })
    };
    graph.set_pages(
        graph_server::DEVICES,
        vec![vec![
            device("HF-ENG-01", "li.wong@harborforge.example", ago(2)),
            device("HF-ENG-02", "jo.meyer@harborforge.example", ago(20)),
            // Compliant when it last synced, 12 days ago: unknown today, never compliant.
            device("HF-SHOP-03", "sam.patel@harborforge.example", ago(12 * day)),
        ]],
    );
    let incident = |id: &str,
                    status: &str,
                    severity: &str,
                    classification: &str,
                    created: Timestamp| {
        serde_json::json!({
            "id": id,
            "incidentWebUrl": format!("https://security.microsoft.com/incidents/{id}?tid=contoso"),
            "redirectIncidentId": null,
            "displayName": format!("Suspicious sign-in activity ({id})"),
            "createdDateTime": text(created),
            "lastUpdateDateTime": text(created + SignedDuration::from_hours(1)),
            "assignedTo": "soc@bluewater-msp.example",
            "classification": classification,
            "determination": if classification == "truePositive" { "compromisedAccount" } else { "notMalicious" },
            "status": status,
            "severity": severity,
            "customTags": [],
            "comments": []
        })
    };
    graph.set_pages(
        graph_server::INCIDENTS,
        vec![vec![
            // Real and six hours old: it also opens the DFARS 72-hour clock (hand-off due).
            incident("2972401", "active", "high", "truePositive", ago(6)),
            // Resolved as a false positive: no incident clock.
            incident(
                "2972388",
                "resolved",
                "medium",
                "falsePositive",
                ago(10 * day),
            ),
        ]],
    );
    let definition = |id: &str, name: &str, query: &str| {
        serde_json::json!({
            "id": id,
            "displayName": name,
            "status": "InProgress",
            "createdDateTime": text(ago(400 * day)),
            "scope": {"@odata.type": "#microsoft.graph.accessReviewQueryScope",
                      "query": query, "queryType": "MicrosoftGraph"},
            "reviewers": [],
            "settings": {"defaultDecision": "None", "autoApplyDecisionsEnabled": true,
                         "recurrence": {"pattern": {"type": "absoluteMonthly", "interval": 3},
                                        "range": {"type": "noEnd", "startDate": "2025-01-05"}}}
        })
    };
    let definitions = [
        (
            "def-priv-roles",
            "Privileged roles quarterly",
            "/roleManagement/directory/roleAssignmentScheduleInstances",
        ),
        (
            "def-guests",
            "Guests quarterly",
            "/groups/6f1d2c3b-0000-4000-8000-00000000a11c/transitiveMembers",
        ),
    ];
    graph.set_pages(
        graph_server::REVIEW_DEFINITIONS,
        vec![
            definitions
                .iter()
                .map(|(id, name, query)| definition(id, name, query))
                .collect(),
        ],
    );
    let instance = |id: &str, ended: Timestamp, query: &str| {
        serde_json::json!({
            "id": id,
            "startDateTime": text(ended - SignedDuration::from_hours(14 * day)),
            "endDateTime": text(ended),
            "status": "Completed",
            "scope": {"query": query}
        })
    };
    // The privileged roles' last completed review ended 110 days ago; the next one was never
    // started. The guests' review of this quarter completed 20 days ago.
    let reviews = [
        Review {
            definition: "def-priv-roles",
            id: "inst-q1",
            ended: ago(200 * day),
            decisions: &[("dana.ortiz@harborforge.example", true)],
        },
        Review {
            definition: "def-priv-roles",
            id: "inst-q2",
            ended: ago(110 * day),
            decisions: &[("dana.ortiz@harborforge.example", true)],
        },
        Review {
            definition: "def-guests",
            id: "inst-guests-q4",
            ended: ago(20 * day),
            decisions: &[
                ("pat.lee_supplier.example#EXT#@harborforge.example", true),
                ("kim.ng_auditor.example#EXT#@harborforge.example", true),
                // Nobody decided on this guest before the review closed: `NotReviewed`,
                // the cadence duty's one failing decision.
                ("ray.cho_vendor.example#EXT#@harborforge.example", false),
            ],
        },
    ];
    for (definition, _, query) in definitions {
        graph.set_pages(
            &format!(
                "{}/{definition}/instances",
                graph_server::REVIEW_DEFINITIONS
            ),
            vec![
                reviews
                    .iter()
                    .filter(|review| review.definition == definition)
                    .map(|review| instance(review.id, review.ended, query))
                    .collect(),
            ],
        );
    }
    for review in &reviews {
        // Decided two days before the review closed.
        let reviewed_at = text(review.ended - SignedDuration::from_hours(2 * day));
        graph.set_pages(
            &format!(
                "{}/{}/instances/{}/decisions",
                graph_server::REVIEW_DEFINITIONS,
                review.definition,
                review.id
            ),
            vec![
                review
                    .decisions
                    .iter()
                    .map(|(upn, reviewed)| {
                        graph_server::review_decision(
                            review.id,
                            upn,
                            reviewed.then_some(reviewed_at.as_str()),
                        )
                    })
                    .collect(),
            ],
        );
    }
}

/// One access review instance of the fake tenant and its decisions.
struct Review {
    definition: &'static str,
    id: &'static str,
    ended: Timestamp,
    /// (principal's UPN, whether someone decided on it).
    decisions: &'static [(&'static str, bool)],
}

fn fill_arm(arm: &GraphServer, ago: &impl Fn(i64) -> Timestamp, day: i64) {
    let workspace_days = 90;
    arm.set_object(
        &arm_server::workspace_path(),
        arm_server::workspace(workspace_days),
    );
    arm.set_pages(
        &arm_server::tables_path(),
        vec![vec![
            arm_server::table("SigninLogs", Some((90, 730)), workspace_days),
            arm_server::table("AuditLogs", Some((90, 730)), workspace_days),
            // Inherits the workspace's 90 days: short of a year.
            arm_server::table("SecurityEvent", None, workspace_days),
            arm_server::table("AzureActivity", Some((90, 400)), workspace_days),
        ]],
    );
    arm.set_pages(
        &arm_server::incidents_path(),
        vec![vec![
            arm_server::incident("a1b2c3d4-0001", "Closed", "High", &text(ago(30 * day))),
            arm_server::incident("a1b2c3d4-0002", "Closed", "Medium", &text(ago(3 * day))),
        ]],
    );
}

fn fill_ninjaone(ninja: &NinjaServer, ago: &impl Fn(i64) -> Timestamp, day: i64) {
    ninja.set_items(
        ninjaone_server::DEVICES,
        vec![
            ninjaone_server::device(1001, "HF-ENG-01", epoch(ago(1))),
            ninjaone_server::device(1002, "HF-ENG-02", epoch(ago(3))),
            ninjaone_server::device(1003, "HF-SHOP-03", epoch(ago(5))),
        ],
    );
    ninja.set_items(
        ninjaone_server::PATCHES,
        vec![
            // Critical and pending for 20 days: past the 14-day deadline.
            ninjaone_server::patch(1001, "KB5046617", "CRITICAL", epoch(ago(20 * day))),
            ninjaone_server::patch(1002, "KB5046633", "IMPORTANT", epoch(ago(5 * day))),
            ninjaone_server::patch(1003, "KB5044284", "CRITICAL", epoch(ago(3 * day))),
        ],
    );
}

fn fill_splunk(splunk: &SplunkServer, ago: &impl Fn(i64) -> Timestamp) {
    let year = 365 * 24 * 3600;
    let mut indexes = vec![
        splunk_server::index("main", year + 35 * 24 * 3600, false),
        splunk_server::index("wineventlog", year, true),
        splunk_server::index("_audit", 2 * year, false),
    ];
    for index in &mut indexes {
        index["content"]["minTime"] = serde_json::json!(text(ago(300 * 24)));
        index["content"]["maxTime"] = serde_json::json!(text(ago(0)));
    }
    splunk.set_entries(indexes);
}

fn fill_elastic(elastic: &ElasticServer) {
    elastic.add_policy(
        "logs-audit",
        elastic_server::policy(Some("400d"), &["logs-audit-000012", "logs-audit-000013"]),
    );
    // No delete phase: kept forever.
    elastic.add_policy(
        "logs-windows",
        elastic_server::policy(None, &["logs-windows-000007"]),
    );
}
