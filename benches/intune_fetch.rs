//! Fetching an Intune tenant's devices in pages from the fake Graph server: the rate of the
//! fetch (devices and pages a second), its CPU time and peak memory, what the stored payload
//! added to the database, then the CPU time and peak memory of evaluating a device-compliance
//! duty over it once.
//!
//! `cargo bench --bench intune_fetch` fetches 50,000 devices in pages of 1,000 (the most Graph
//! sends of `deviceManagement/managedDevices` per `@odata.nextLink`);
//! `cargo bench --bench intune_fetch -- 20000 100` fetches 20,000 in pages of 100. Not run by
//! CI.
//!
//! The parent generates the devices (a managedDevice object with the fields of Graph v1.0,
//! ~1.9 KB of JSON each: a mix of compliance states, 2 % not synced for weeks) and serves them
//! from the tests' fake Graph (`tests/util/graph_server.rs`: token endpoint, bearer tokens,
//! `@odata.nextLink` pages) on loopback. A child process then runs the real thing: a config
//! with one `kind = "graph"`, `resource = "managedDevices"` source and one duty, an [`Engine`]
//! collecting that source into a fresh store over HTTP (fetch, read into records, store), then
//! evaluating once. The child's figures are its own, the server's work is not in them (but
//! the server's time serving each page is in the wall time): CPU is user plus system time from
//! /proc/self/stat, peak memory `VmHWM` (reset through /proc/self/clear_refs before each step),
//! as in `msp_cycle`.

// `json!` recurses once per key; a managedDevice has more than the default limit allows.
#![recursion_limit = "256"]

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dutywatch::engine::Scope;
use dutywatch::sources::HttpPolicy;
use jiff::{SignedDuration, Timestamp};

mod common;

use common::{DAY, HOUR, Rng, ago, db_bytes, reset_peak, usage};

// The tests' fake Graph, included rather than copied, as `examples/fake_tenant.rs` does. The
// `path` on the inline module makes its directory `tests/util/` (from `benches/`), so its
// modules are the files there and `graph_server`'s `super::fake_http` is the shared plumbing.
// (A `#[path = "../../tests/util/…"]` on each module would be read from `benches/util/`,
// which does not exist, so the OS cannot resolve the `..` through it.)
#[path = "../tests/util"]
mod util {
    // The fakes carry helpers (faults, other resources, request logs) this bench never uses.
    #[allow(dead_code)]
    pub(crate) mod fake_http;
    #[allow(dead_code)]
    pub(crate) mod graph_server;
}

use util::graph_server::{self, GraphServer};

/// The fake tenant's client secret (a bench value, never a real one).
const SECRET: &str = "bench-client-secret-not-for-production";
const CONTRACTOR: &str = "bench";
const SOURCE: &str = "intune";
const DUTY: &str = "devices-compliant";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    // Positional numbers only: `cargo bench` also passes `--bench`.
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let devices = numbers.first().copied().unwrap_or(50_000);
    let page_size = numbers.get(1).copied().unwrap_or(1_000).max(1);

    let generated = Instant::now();
    let now = Timestamp::now();
    let pages = pages(devices, page_size, now);
    let page_count = pages.len();
    let server = GraphServer::start(SECRET);
    server.set_pages(graph_server::DEVICES, pages);
    let dir = tempfile::tempdir().expect("a temp dir");
    write_config(dir.path(), &server);
    eprintln!(
        "{devices} devices in {page_count} page(s) of {page_size} generated in {:.1} s",
        generated.elapsed().as_secs_f64()
    );

    let output = Command::new(std::env::current_exe().expect("own path"))
        .args(["--child", &now.to_string(), &devices.to_string()])
        .arg(page_count.to_string())
        .arg(dir.path())
        .output()
        .expect("the child runs");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the child: {:?}", output.status);
    let requests = server
        .seen()
        .iter()
        .filter(|seen| seen.target.starts_with(graph_server::DEVICES))
        .count();
    assert_eq!(requests, page_count, "one request per page");
    println!(
        "{:>8} {:>6} {:>10} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "devices",
        "pages",
        "devices/s",
        "pages/s",
        "fetch s",
        "CPU s",
        "peak MB",
        "DB +MB",
        "eval CPU",
        "eval MB",
        "eval +MB"
    );
    println!(
        "{devices:>8} {page_count:>6} {}",
        String::from_utf8_lossy(&output.stdout).trim_end()
    );
}

/// `count` devices cut into pages of `page_size` (at least one page, as Graph answers an
/// empty tenant with an empty `value`).
fn pages(count: usize, page_size: usize, now: Timestamp) -> Vec<Vec<serde_json::Value>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pages = vec![Vec::new()];
    for i in 0..count {
        if pages.last().is_some_and(|page| page.len() == page_size) {
            pages.push(Vec::with_capacity(page_size));
        }
        if let Some(page) = pages.last_mut() {
            page.push(device(&mut rng, i, now));
        }
    }
    pages
}

/// One Graph v1.0 `managedDevice`, with the properties the list call returns (the
/// beta-only and `$select`-only ones left out); a mix of Windows laptops, iPhones and
/// Android phones, compliance 90 % compliant, 2 % not synced for weeks.
fn device(rng: &mut Rng, i: usize, now: Timestamp) -> serde_json::Value {
    let compliance = match rng.below(100) {
        0..=89 => "compliant",
        90..=95 => "noncompliant",
        96..=97 => "inGracePeriod",
        _ => "unknown",
    };
    let synced = if rng.below(100) < 2 {
        ago(now, 10 * DAY + rng.below(40 * DAY))
    } else {
        ago(now, rng.below(48 * HOUR))
    };
    let enrolled = ago(now, 30 * DAY + rng.below(700 * DAY));
    let (os, version, model, manufacturer, agent, enrollment) = match i % 10 {
        0..=6 => (
            "Windows",
            format!("10.0.26100.{}", 2000 + rng.below(500)),
            "Latitude 7450",
            "Dell Inc.",
            "mdm",
            "windowsAzureADJoin",
        ),
        7 | 8 => (
            "iOS",
            format!("18.{}", rng.below(6)),
            "iPhone 15",
            "Apple",
            "mdm",
            "appleBulkWithUser",
        ),
        _ => (
            "Android",
            format!("{}.0", 13 + rng.below(3)),
            "Pixel 8",
            "Google",
            "mdm",
            "androidEnterpriseFullyManaged",
        ),
    };
    let user = format!("user{i:05}@contoso.example");
    let mut mac = String::new();
    for byte in rng.next().to_be_bytes().iter().take(6) {
        write!(mac, "{byte:02X}").expect("format");
    }
    serde_json::json!({
        "@odata.type": "#microsoft.graph.managedDevice",
        "id": format!("{i:08x}-705c-4c03-8c70-4c035c704c03"),
        "userId": format!("{i:08x}-0000-4000-8000-000000000000"),
        "deviceName": format!("CONTOSO-{i:06}"),
        "managedDeviceOwnerType": "company",
        "enrolledDateTime": enrolled.to_string(),
        "lastSyncDateTime": synced.to_string(),
        "operatingSystem": os,
        "complianceState": compliance,
        "jailBroken": if os == "Windows" { "Unknown" } else { "False" },
        "managementAgent": agent,
        "osVersion": version,
        "easActivated": true,
        "easDeviceId": format!("{:016X}", rng.next()),
        "easActivationDateTime": enrolled.to_string(),
        "azureADRegistered": true,
        "deviceEnrollmentType": enrollment,
        "activationLockBypassCode": null,
        "emailAddress": user,
        "azureADDeviceId": format!("{i:08x}-2222-4000-8000-000000000000"),
        "deviceRegistrationState": "registered",
        "deviceCategoryDisplayName": "Corporate",
        "isSupervised": os == "iOS",
        "exchangeLastSuccessfulSyncDateTime": synced.to_string(),
        "exchangeAccessState": "allowed",
        "exchangeAccessStateReason": "compliant",
        "remoteAssistanceSessionUrl": null,
        "remoteAssistanceSessionErrorDetails": null,
        "isEncrypted": rng.below(100) >= 3,
        "userPrincipalName": user,
        "model": model,
        "manufacturer": manufacturer,
        "imei": if os == "Windows" { String::new() } else { format!("35{:013}", rng.below(10_000_000_000_000)) },
        "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z",
        "serialNumber": format!("SN{i:08}"),
        "phoneNumber": "",
        "androidSecurityPatchLevel": if os == "Android" { "2026-10-01" } else { "" },
        "userDisplayName": format!("User {i}"),
        "configurationManagerClientEnabledFeatures": null,
        "wiFiMacAddress": mac,
        "deviceHealthAttestationState": null,
        "subscriberCarrier": "",
        "meid": "",
        "totalStorageSpaceInBytes": 511_101_108_224_u64,
        "freeStorageSpaceInBytes": rng.below(400_000_000_000),
        "managedDeviceName": format!("user{i:05}_{os}_{}", enrolled.strftime("%-m/%-d/%Y_%-I:%M %p")),
        "partnerReportedThreatState": "unknown",
        "requireUserEnrollmentApproval": null,
        "managementCertificateExpirationDate": ago(now, 0).checked_add(SignedDuration::from_hours(24 * 300)).expect("in range").to_string(),
        "iccid": null,
        "udid": null,
        "notes": null,
        "ethernetMacAddress": null,
        "physicalMemoryInBytes": 0,
        "deviceActionResults": []
    })
}

/// The contractor's config: the Intune source on the fake Graph and the compliance duty.
fn write_config(dir: &Path, server: &GraphServer) {
    let secret = dir.join("graph-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("the secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = format!(
        r#"
perspective = "contractor"
timezone = "America/New_York"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@contoso.example"
transport = "file"
dir = "outbox"

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "{CONTRACTOR}"
name = "Contoso Manufacturing"
contacts = ["it@contoso.example"]

[[contractor.crm]]
id = "3.4.1"
owner = "msp"
msp_does = "Keeps the device inventory"

[[contractor.source]]
id = "{SOURCE}"
kind = "graph"
evidence = "managed_device"
resource = "managedDevices"
tenant = "{tenant}"
client_id = "{client_id}"
client_secret = {{ file = "graph-secret" }}
graph_url = "{base}"
token_url = "{token_url}"
schedule = "0 */6 * * *"
max_age = "1d"
max_bytes = "4GiB"

[[contractor.duty]]
id = "{DUTY}"
title = "Every Intune device is compliant and synced this week"
objectives = ["3.4.1"]
party = "msp"
source = "{SOURCE}"
rule = "continuous"
check = "compliance == 'compliant'"
unknown_when = "last_sync < now-7d"
tolerance = "3d"
"#,
        tenant = graph_server::TENANT,
        client_id = graph_server::CLIENT_ID,
        base = server.base,
        token_url = server.token_url(),
    );
    std::fs::write(dir.join("dutywatch.toml"), config).expect("the config");
}

fn child(args: &[String]) {
    let [now, devices, pages, dir] = args else {
        panic!("--child NOW DEVICES PAGES DIR");
    };
    let now: Timestamp = now.parse().expect("an instant");
    let devices: usize = devices.parse().expect("a count");
    let pages: usize = pages.parse().expect("a count");
    let dir = Path::new(dir);
    let mut engine = common::engine_in(dir);
    // The daemon's bounds, but room for as many pages as asked for (the default stops a
    // collection at 1,000 pages) and for a slow fetch of many small pages.
    engine.set_http_policy(HttpPolicy {
        max_pages: pages + 1,
        max_total: Duration::from_secs(3600),
        ..HttpPolicy::default()
    });
    let db_empty = db_bytes(dir);

    reset_peak();
    let (cpu0, _, _) = usage();
    let wall = Instant::now();
    let collected = engine
        .collect(CONTRACTOR, SOURCE, now)
        .expect("the collection is recorded");
    let fetch = wall.elapsed().as_secs_f64();
    let (cpu1, peak1, _) = usage();
    let db_collected = db_bytes(dir);

    reset_peak();
    // What the process holds when the evaluation starts (the parse cache, and heap the
    // allocator kept from the collection): the evaluation's peak starts there.
    let (_, _, resident) = usage();
    let (evaluated, _, _) = engine.evaluate(&Scope::All, now).expect("the evaluation");
    let (cpu2, peak2, _) = usage();
    let db_evaluated = db_bytes(dir);

    let verdict = engine
        .store()
        .current_verdicts(Some(CONTRACTOR))
        .expect("verdicts")
        .into_iter()
        .find(|v| v.duty == DUTY)
        .expect("the duty's verdict");
    assert!(
        collected,
        "the collection failed: {}",
        verdict.verdict.reason
    );
    let subjects = engine.store().subjects(CONTRACTOR, DUTY).expect("subjects");
    let mut states = std::collections::BTreeMap::new();
    for subject in &subjects {
        *states.entry(subject.state.as_str()).or_insert(0) += 1;
    }
    eprintln!(
        "  {evaluated} duty evaluated: {DUTY} {}, subjects {states:?}, {} met; {resident} MB resident before it",
        verdict.verdict.state.kind().as_str(),
        verdict.met_subjects.unwrap_or(0)
    );
    // Subjects met since first seen are counted, not stored one by one.
    assert_eq!(
        subjects.len() as u64 + verdict.met_subjects.unwrap_or(0),
        devices as u64,
        "a subject per device"
    );
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!(
        "{:>10.0} {:>8.1} {fetch:>8.2}s {:>8.2} {peak1:>9} {:>9.1} {:>9.2} {peak2:>9} {:>9.1}",
        devices as f64 / fetch,
        pages as f64 / fetch,
        cpu1 - cpu0,
        mb(db_collected.saturating_sub(db_empty)),
        cpu2 - cpu1,
        mb(db_evaluated.saturating_sub(db_collected)),
    );
}
