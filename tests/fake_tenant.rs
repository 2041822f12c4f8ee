//! The bundled fake tenant (`cargo run --example fake-tenant`, the same code started here
//! in-process) and `config/tenant/dutywatch.toml`, unchanged but for its ports: `once` (the
//! real binary) pulls from every API and each duty comes out as the config's comments say.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::util::fake_tenant::{self, DEMO_SECRET, FakeTenant, Ports};
use crate::util::{self, CLOCK, Fixture, at, graph_server, ninjaone_server};

const CONFIG: &str = "config/tenant/dutywatch.toml";

/// The repository's `relative` file.
fn bundled(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The bundled config, CRM and secret laid out as in the repository (the config names its
/// CRM and secret by those paths), with the five default ports replaced by `tenant`'s.
fn installation(tenant: Option<&FakeTenant>) -> Fixture {
    let fixture = Fixture::new();
    let mut config = bundled(CONFIG);
    if let Some(tenant) = tenant {
        let default = Ports::from_base(Ports::DEFAULT_BASE).expect("ports");
        let defaults = [
            default.graph,
            default.arm,
            default.ninjaone,
            default.splunk,
            default.elastic,
        ];
        for (port, (_, base)) in defaults.iter().zip(tenant.bases()) {
            let from = format!("http://127.0.0.1:{port}");
            assert!(config.contains(&from), "the config names {from}");
            config = config.replace(&from, base);
        }
    }
    fixture.write(CONFIG, &config);
    fixture.write("config/demo/crm.csv", &bundled("config/demo/crm.csv"));
    let secret = fixture.write(
        "config/tenant/demo-secret",
        &bundled("config/tenant/demo-secret"),
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    fixture
}

fn json(output: &std::process::Output) -> serde_json::Value {
    let (stdout, stderr) = util::text(output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

#[test]
fn the_tenant_config_passes_check_config_and_its_secret_is_the_fake_tenants() {
    let fixture = installation(None);
    let output = fixture.run(&["check-config", "--config", CONFIG]);
    let (stdout, stderr) = util::text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert_eq!(bundled("config/tenant/demo-secret").trim_end(), DEMO_SECRET);
}

#[test]
fn once_against_the_fake_tenant_pulls_from_every_api_and_gives_each_duty_its_state() {
    let tenant = fake_tenant::start(Ports::any(), at(CLOCK)).expect("fake tenant starts");
    let fixture = installation(Some(&tenant));

    let status = json(&fixture.run(&["once", "--config", CONFIG, "--json"]));
    let duties = status["duties"].as_array().expect("duties");
    let states: BTreeMap<&str, &str> = duties
        .iter()
        .map(|d| {
            (
                d["duty"].as_str().expect("duty"),
                d["state"].as_str().expect("state"),
            )
        })
        .collect();
    let expected: BTreeMap<&str, &str> = [
        ("mfa-registered", "due_soon"),
        ("mfa-enforced", "met"),
        ("devices-compliant", "no_evidence"),
        ("no-active-high-incident", "due_soon"),
        ("entra-access-review", "lapsed"),
        ("access-review-cadence", "due_soon"),
        ("log-analytics-retention", "due_soon"),
        ("no-new-high-sentinel-incident", "met"),
        ("critical-patches-14d", "due_soon"),
        ("rmm-devices-checking-in", "met"),
        ("splunk-retention", "met"),
        ("elastic-retention", "met"),
    ]
    .into_iter()
    .collect();
    assert_eq!(states, expected, "{status:#}");

    // The subject behind each failing or unknown duty is the one the tenant planted.
    let failing = |duty: &str| -> Vec<String> {
        duties
            .iter()
            .find(|d| d["duty"] == duty)
            .and_then(|d| d["subjects"].as_array())
            .expect("subjects")
            .iter()
            .filter(|s| s["state"] != "met")
            .map(|s| s["subject"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(failing("mfa-registered"), ["sam.patel@harborforge.example"]);
    assert_eq!(failing("devices-compliant"), ["HF-SHOP-03"]);
    assert_eq!(failing("no-active-high-incident"), ["2972401"]);
    assert_eq!(failing("log-analytics-retention"), ["SecurityEvent"]);
    // The fake tenant's guests review has one decision nobody made (`NotReviewed`, no
    // `reviewedDateTime`), and the privileged roles' last review ended 110 days ago, before
    // the quarter: each is a failing subject of the cadence duty, and nothing else is.
    let mut reviews = failing("access-review-cadence");
    reviews.sort();
    assert_eq!(
        reviews,
        [
            "Privileged roles quarterly",
            "inst-guests-q4 / ray.cho_vendor.example#EXT#@harborforge.example",
        ],
    );
    let cadence = duties
        .iter()
        .find(|d| d["duty"] == "access-review-cadence")
        .expect("the cadence duty");
    // Met since first seen, they are counted, not listed.
    assert_eq!(
        cadence["met_subjects"], 2,
        "the two guests decided on: {cadence:#}"
    );
    let patches = failing("critical-patches-14d");
    assert!(
        patches.len() == 1 && patches[0].contains("KB5046617"),
        "{patches:?}"
    );

    // Every source's evidence came from its API: the stored origin is the URL it called.
    let coverage = json(&fixture.run(&["coverage", "--config", CONFIG, "--json"]));
    let origins: BTreeMap<&str, &str> = coverage["clients"][0]["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|e| {
            (
                e["source"].as_str().expect("source"),
                e["origin"].as_str().expect("origin"),
            )
        })
        .collect();
    let graph = tenant.graph.base.as_str();
    let arm = tenant.arm.base.as_str();
    for (source, origin) in [
        ("entra_mfa", format!("{graph}{}", graph_server::USERS)),
        ("entra_ca", format!("{graph}{}", graph_server::POLICIES)),
        ("intune", format!("{graph}{}", graph_server::DEVICES)),
        ("defender", format!("{graph}{}", graph_server::INCIDENTS)),
        (
            "access_reviews",
            format!("{graph}{}", graph_server::REVIEW_DEFINITIONS),
        ),
        (
            "entra_review_decisions",
            format!("{graph}{}", graph_server::REVIEW_DEFINITIONS),
        ),
        (
            "la_tables",
            format!("{arm}{}", util::arm_server::workspace_path()),
        ),
        (
            "sentinel",
            format!("{arm}{}", util::arm_server::workspace_path()),
        ),
        (
            "ninja_patches",
            format!("{}{}", tenant.ninjaone.base, ninjaone_server::PATCHES),
        ),
        (
            "ninja_devices",
            format!("{}{}", tenant.ninjaone.base, ninjaone_server::DEVICES),
        ),
        (
            "splunk_indexes",
            format!("{}{}", tenant.splunk.base, util::splunk_server::INDEXES),
        ),
        (
            "elastic_ilm",
            format!("{}{}", tenant.elastic.base, util::elastic_server::POLICIES),
        ),
    ] {
        let stored = origins.get(source).copied().unwrap_or_default();
        assert!(
            stored.starts_with(&origin),
            "{source}: origin {stored:?}, expected {origin}…; all: {origins:#?}"
        );
    }

    // And the fakes saw it: tokens from both Entra endpoints and NinjaOne, every list paged.
    assert_eq!(tenant.graph.token_requests(), 1, "one cached Graph token");
    assert_eq!(tenant.arm.token_requests(), 1, "one cached ARM token");
    assert_eq!(
        tenant.ninjaone.token_requests(),
        1,
        "one cached NinjaOne token"
    );
    let graph_gets: Vec<String> = tenant
        .graph
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.target)
        .collect();
    assert_eq!(
        graph_gets
            .iter()
            .filter(|t| t.starts_with(graph_server::USERS))
            .count(),
        2,
        "both pages of users: {graph_gets:?}"
    );
    assert!(
        graph_gets
            .iter()
            .any(|t| t.ends_with("/def-priv-roles/instances")),
        "{graph_gets:?}"
    );
    assert!(
        graph_gets
            .iter()
            .any(|t| t.ends_with("/def-guests/instances/inst-guests-q4/decisions")),
        "{graph_gets:?}"
    );
    assert!(
        tenant
            .arm
            .seen()
            .iter()
            .any(|s| s.target.starts_with(&util::arm_server::tables_path()))
    );
    assert!(!tenant.splunk.seen().is_empty());
    assert!(!tenant.elastic.seen().is_empty());

    // The mail went to the file transport: one first-run summary per party.
    let outbox = fixture.path("target/tenant/outbox");
    let mails = std::fs::read_dir(&outbox)
        .unwrap_or_else(|e| panic!("{}: {e}", outbox.display()))
        .count();
    assert_eq!(mails, 2, "mail(s) in {}", outbox.display());
}
