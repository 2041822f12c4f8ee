//! An MSP's cycle over many clients: CPU time and peak memory of the first full cycle and of
//! an unchanged second one, and the resident memory left after it.
//!
//! `cargo bench --bench msp_cycle` runs 1x2500, 10x2500 and 100x250 (clients x devices);
//! `cargo bench --bench msp_cycle -- 100x2500 1000x250` runs the sizes given, and
//! `--cache N` bounds the engine's parse cache to N records (0: none), `--collections N` sets
//! `[runtime] max_concurrent_collections`, and `--keep DIR` writes each size's evidence, config
//! and database to `DIR/{clients}x{devices}/` (emptied first) and leaves them there, for
//! `benches/auditree/run.py` to run IBM Auditree on the same files. With
//! `MSP_CYCLE_FIRST_ONLY=1` in the environment each size stops after its first cycle and
//! prints only that cycle's CPU time, so a profiler (`perf record`) sees the first cycle alone.
//! Not run by CI.
//!
//! Its own generator writes, per client, the vendor answers the connectors read, as files:
//! Graph `userRegistrationDetails` (one user per device, a few guests, admins and users
//! without MFA), Intune `managedDevices` (a mix of compliance states, a few not synced for
//! weeks), NinjaOne `/v2/devices` and `/v2/queries/os-patches` (about four pending patches per
//! device, severities from critical to none, ages up to 60 days; a few devices known only to
//! Intune or only to NinjaOne) and the Log Analytics workspace with its tables (inherited and
//! own retention, in some clients a required table missing). A generated MSP config
//! (`perspective = "msp"`, one `[[contractor]]` per client) reads them through file sources
//! with the vendors' field names (records under `value` or `results`).
//!
//! A third cycle runs after every export was touched (same bytes, a new modification time, as
//! an API source's answer has a new `effective_at` on every call): its CPU time and how much
//! the database grew (`touch +MB`).
//!
//! Each size runs in a child process of its own, so the figures are its own: CPU time is user
//! plus system time from /proc/self/stat (what getrusage reports), peak memory `VmHWM` (reset
//! through /proc/self/clear_refs before each cycle), resident memory `VmRSS` (`setup MB`: once
//! the config is loaded and the store open, before the first cycle; `idle:` on stderr splits
//! the idle figure into heap and stacks `RssAnon`, mapped files `RssFile` and `RssShmem`),
//! and the bytes the first cycle handed to `write(2)` (`1st wrote MB`, `wchar` of /proc/self/io: the database, its WAL
//! and checkpoints, and the mail files), which shows what SQLite's commits write again. The child runs
//! with `MALLOC_ARENA_MAX=2`, as the shipped systemd units run the daemon, unless the variable
//! is set already.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

mod common;

use common::{DAY, HOUR, Rng, ago, db_bytes, reset_peak, usage};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    let mut sizes: Vec<(usize, usize)> = args.iter().filter_map(|a| size(a)).collect();
    let cache = args
        .iter()
        .position(|a| a == "--cache")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "default".to_owned());
    // `--collections N`: `[runtime] max_concurrent_collections` (default: the config's).
    let collections = args
        .iter()
        .position(|a| a == "--collections")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok());
    // `--keep DIR`: generate under DIR and keep what was generated.
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    if sizes.is_empty() {
        sizes = vec![(1, 2500), (10, 2500), (100, 250)];
    }
    println!(
        "{:<12} {:>9} {:>11} {:>11} {:>9} {:>11} {:>11} {:>9} {:>10} {:>11} {:>9} {:>8} {:>11} {:>8} {:>12}",
        "clients x dev",
        "gen MB",
        "1st CPU s",
        "1st peak MB",
        "1st wall",
        "2nd CPU s",
        "2nd peak MB",
        "2nd/1st",
        "idle RSS MB",
        "touch CPU s",
        "touch +MB",
        "db MB",
        "setup CPU s",
        "setup MB",
        "1st wrote MB"
    );
    for (clients, devices) in sizes {
        let dir = Workdir::new(keep.as_deref(), clients, devices);
        let dated = Timestamp::now();
        let bytes = generate(dir.path(), clients, devices, dated, collections);
        // After the files were written: evidence dated after `now` would not count. Three
        // seconds on, as exports are written a while before the pass that reads them: a file
        // written less than two seconds before a pass is read again on the next one.
        let now = Timestamp::now() + SignedDuration::from_secs(3);
        let mut child = Command::new(std::env::current_exe().expect("own path"));
        child
            .args(["--child", &now.to_string(), &cache])
            .arg(dir.path());
        // As the shipped systemd units run the daemon, unless the caller says otherwise.
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            child.env("MALLOC_ARENA_MAX", "2");
        }
        let output = child.output().expect("the child runs");
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success(),
            "{clients}x{devices}: {:?}",
            output.status
        );
        let line = String::from_utf8_lossy(&output.stdout);
        println!(
            "{:<12} {:>9} {}",
            format!("{clients}x{devices}"),
            bytes / 1_000_000,
            line.trim_end()
        );
    }
}

/// Where one size's files go: a temporary directory, or `DIR/{clients}x{devices}` kept.
enum Workdir {
    Temp(tempfile::TempDir),
    Kept(std::path::PathBuf),
}

impl Workdir {
    fn new(keep: Option<&Path>, clients: usize, devices: usize) -> Self {
        match keep {
            None => Workdir::Temp(tempfile::tempdir().expect("a temp dir")),
            Some(root) => {
                let dir = root.join(format!("{clients}x{devices}"));
                // A kept directory from an earlier run: its database would hold a first cycle.
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).expect("empty the kept directory");
                }
                std::fs::create_dir_all(&dir).expect("the kept directory");
                Workdir::Kept(dir)
            }
        }
    }

    fn path(&self) -> &Path {
        match self {
            Workdir::Temp(dir) => dir.path(),
            Workdir::Kept(dir) => dir,
        }
    }
}

fn size(arg: &str) -> Option<(usize, usize)> {
    let (clients, devices) = arg.split_once('x')?;
    Some((clients.parse().ok()?, devices.parse().ok()?))
}

const REQUIRED_TABLES: [&str; 5] = [
    "SigninLogs",
    "AuditLogs",
    "SecurityEvent",
    "OfficeActivity",
    "AzureActivity",
];

/// Writes every client's exports and the MSP config under `dir`; returns the bytes written.
fn generate(
    dir: &Path,
    clients: usize,
    devices: usize,
    now: Timestamp,
    collections: Option<usize>,
) -> u64 {
    let mut written = 0;
    let mut config = String::from(CONFIG_HEAD);
    if let Some(n) = collections {
        config.push_str(&format!("\n[runtime]\nmax_concurrent_collections = {n}\n"));
    }
    for client in 0..clients {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((client as u64 + 1) * 0x1000_0001));
        let base = dir.join(format!("clients/c{client:04}"));
        std::fs::create_dir_all(&base).expect("mkdir");
        written += write(
            &base.join("users.json"),
            &users(&mut rng, client, devices, now),
        );
        written += write(
            &base.join("managedDevices.json"),
            &intune(&mut rng, client, devices, now),
        );
        let (ninja_devices, patches) = ninja(&mut rng, client, devices, now);
        written += write(&base.join("ninja-devices.json"), &ninja_devices);
        written += write(&base.join("os-patches.json"), &patches);
        written += write(&base.join("la-tables.json"), &tables(&mut rng, client));
        write!(
            config,
            r#"
[[contractor]]
id = "c{client:04}"
name = "Client {client}"
contacts = ["it@c{client:04}.example"]
{CRM}
{}"#,
            SOURCES.replace("DIR", &base.display().to_string())
        )
        .expect("format");
    }
    written += write(&dir.join("dutywatch.toml"), &config);
    written
}

fn write(path: &Path, text: &str) -> u64 {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    file.write_all(text.as_bytes()).expect("write");
    file.flush().expect("flush");
    text.len() as u64
}

/// Graph `reports/authenticationMethods/userRegistrationDetails`: one user per device.
fn users(rng: &mut Rng, client: usize, count: usize, now: Timestamp) -> String {
    let mut out = String::from(
        "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails\",\"value\":[",
    );
    for i in 0..count {
        let guest = rng.chance(5);
        let admin = !guest && i % 50 == 0;
        let registered = !rng.chance(4);
        let methods = if registered {
            r#"["microsoftAuthenticatorPush","softwareOneTimePasscode"]"#
        } else {
            "[]"
        };
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            r#"{{"id":"{client:04}{i:08x}-0000-4000-8000-000000000000","userPrincipalName":"user{i}@c{client:04}.example","userDisplayName":"User {i}","userType":"{}","isAdmin":{admin},"isSsprRegistered":{registered},"isSsprEnabled":true,"isSsprCapable":{registered},"isMfaRegistered":{registered},"isMfaCapable":{registered},"isPasswordlessCapable":false,"methodsRegistered":{methods},"defaultMfaMethod":"{}","lastUpdatedDateTime":"{}"}}"#,
            if guest { "guest" } else { "member" },
            if registered { "microsoftAuthenticatorPush" } else { "none" },
            ago(now, rng.below(30 * DAY)),
        )
        .expect("format");
    }
    out.push_str("]}");
    out
}

fn device_name(client: usize, i: usize) -> String {
    format!("C{client:04}-PC{i:05}")
}

/// Graph `deviceManagement/managedDevices`; 2 % of the devices are not enrolled in Intune.
fn intune(rng: &mut Rng, client: usize, count: usize, now: Timestamp) -> String {
    let mut out = String::from(
        "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices\",\"value\":[",
    );
    let mut first = true;
    for i in 0..count {
        if i % 50 == 7 {
            continue;
        }
        let compliance = match rng.below(100) {
            0..=89 => "compliant",
            90..=96 => "noncompliant",
            _ => "inGracePeriod",
        };
        // 2 % have not synced for weeks.
        let synced = if rng.chance(2) {
            ago(now, 10 * DAY + rng.below(40 * DAY))
        } else {
            ago(now, rng.below(48 * HOUR))
        };
        if !first {
            out.push(',');
        }
        first = false;
        write!(
            out,
            r#"{{"id":"{client:04}{i:08x}-1111-4000-8000-000000000000","userId":"{client:04}{i:08x}-0000-4000-8000-000000000000","deviceName":"{}","managedDeviceOwnerType":"company","enrolledDateTime":"{}","lastSyncDateTime":"{synced}","operatingSystem":"Windows","complianceState":"{compliance}","jailBroken":"Unknown","managementAgent":"mdm","osVersion":"10.0.26100.{}","azureADRegistered":true,"deviceEnrollmentType":"windowsAzureADJoin","emailAddress":"user{i}@c{client:04}.example","azureADDeviceId":"{client:04}{i:08x}-2222-4000-8000-000000000000","deviceRegistrationState":"registered","isEncrypted":{},"userPrincipalName":"user{i}@c{client:04}.example","model":"Latitude 7450","manufacturer":"Dell Inc.","serialNumber":"SN{client:04}{i:06}","userDisplayName":"User {i}","totalStorageSpaceInBytes":511101108224,"freeStorageSpaceInBytes":{}}}"#,
            device_name(client, i),
            ago(now, 200 * DAY + rng.below(400 * DAY)),
            2000 + rng.below(500),
            !rng.chance(3),
            rng.below(400_000_000_000),
        )
        .expect("format");
    }
    out.push_str("]}");
    out
}

/// NinjaOne `/v2/devices` and `/v2/queries/os-patches`: 3 % of the devices are not in
/// NinjaOne (others than those missing in Intune), about four pending patches per device.
fn ninja(rng: &mut Rng, client: usize, count: usize, now: Timestamp) -> (String, String) {
    let mut devices = String::from("[");
    let mut patches = String::from("{\"results\":[");
    let mut first_patch = true;
    let mut patch_id = 0u64;
    for i in 0..count {
        if i % 33 == 11 {
            continue;
        }
        let id = client * 1_000_000 + i;
        let contact = if rng.chance(2) {
            ago(now, 10 * DAY + rng.below(60 * DAY))
        } else {
            ago(now, rng.below(6 * HOUR))
        };
        if devices.len() > 1 {
            devices.push(',');
        }
        write!(
            devices,
            r#"{{"id":{id},"parentDeviceId":null,"organizationId":{client},"locationId":{client},"nodeClass":"WINDOWS_WORKSTATION","nodeRoleId":1,"rolePolicyId":2,"approvalStatus":"APPROVED","offline":{},"displayName":"{name}","systemName":"{name}","dnsName":"{name}.c{client:04}.local","created":{}.0,"lastContact":{}.0,"lastUpdate":{}.0}}"#,
            contact < ago(now, DAY),
            ago(now, 300 * DAY).as_second(),
            contact.as_second(),
            contact.as_second(),
            name = device_name(client, i),
        )
        .expect("format");
        for _ in 0..(2 + rng.below(5)) {
            let severity = match rng.below(100) {
                0..=9 => "CRITICAL",
                10..=39 => "IMPORTANT",
                40..=69 => "MODERATE",
                70..=79 => "LOW",
                _ => "UNSPECIFIED",
            };
            let kb = 5_040_000 + rng.below(20_000);
            if !first_patch {
                patches.push(',');
            }
            first_patch = false;
            patch_id += 1;
            write!(
                patches,
                r#"{{"id":"p{client}-{patch_id}","deviceId":{id},"name":"2026-11 Cumulative Update for Windows 11 Version 24H2 for x64-based Systems (KB{kb})","kbNumber":"KB{kb}","severity":"{severity}","status":"{}","type":"PATCH","timestamp":{}.0}}"#,
                if rng.chance(90) { "PENDING" } else { "APPROVED" },
                ago(now, rng.below(60 * DAY)).as_second(),
            )
            .expect("format");
        }
    }
    devices.push(']');
    patches
        .push_str("],\"cursor\":{\"name\":\"os-patches\",\"offset\":0,\"count\":0,\"expires\":0}}");
    (devices, patches)
}

/// The Log Analytics workspace and its tables, as the `arm` source stores them.
fn tables(rng: &mut Rng, client: usize) -> String {
    let workspace_days = [30, 90, 365][rng.below(3) as usize];
    let mut names: Vec<String> = REQUIRED_TABLES.iter().map(|t| (*t).to_owned()).collect();
    // One client in ten lacks a required table.
    if client % 10 == 3 {
        names.remove(rng.below(names.len() as u64) as usize);
    }
    for extra in 0..15 {
        names.push(format!("Custom{extra}_CL"));
    }
    let mut out = format!(
        r#"{{"workspace":{{"id":"/subscriptions/0/resourceGroups/rg-c{client:04}/providers/Microsoft.OperationalInsights/workspaces/ws-c{client:04}","name":"ws-c{client:04}","properties":{{"retentionInDays":{workspace_days},"sku":{{"name":"PerGB2018"}}}}}},"value":["#
    );
    for (i, name) in names.iter().enumerate() {
        let own = rng.chance(50);
        let properties = if own {
            format!(
                r#""retentionInDays":{},"totalRetentionInDays":{},"retentionInDaysAsDefault":false,"totalRetentionInDaysAsDefault":false"#,
                [90, 180, 365][rng.below(3) as usize],
                [365, 730, 2556][rng.below(3) as usize]
            )
        } else {
            format!(
                r#""retentionInDays":{workspace_days},"totalRetentionInDays":{workspace_days},"retentionInDaysAsDefault":true,"totalRetentionInDaysAsDefault":true"#
            )
        };
        if i > 0 {
            out.push(',');
        }
        write!(
            out,
            r#"{{"id":"/subscriptions/0/resourceGroups/rg-c{client:04}/providers/Microsoft.OperationalInsights/workspaces/ws-c{client:04}/tables/{name}","name":"{name}","properties":{{{properties},"plan":"Analytics","provisioningState":"Succeeded"}}}}"#
        )
        .expect("format");
    }
    out.push_str("]}");
    out
}

const CONFIG_HEAD: &str = r#"
perspective = "msp"
timezone = "America/New_York"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@msp.example"
transport = "file"
dir = "outbox"

[msp]
name = "Keystone IT"
contacts = ["soc@msp.example"]

# NinjaOne /v2/devices as the device list of the RMM.
[[kind]]
name = "ninja_device"
subject = ["device"]

[[kind.field]]
name = "device"
type = "text"
required = true
from = ["systemName"]

[[kind.field]]
name = "offline"
type = "bool"
from = ["offline"]

[[kind.field]]
name = "last_contact"
type = "timestamp"
required = true
from = ["lastContact"]

[[duty]]
id = "mfa-registered"
title = "Every member has MFA registered"
objectives = ["3.5.3"]
source = "users"
rule = "continuous"
where = "user_type == 'member'"
check = "mfa_registered == true"
tolerance = "7d"

[[duty]]
id = "devices-compliant"
title = "Every Intune device is compliant and has synced this week"
objectives = ["3.4.1"]
source = "intune"
rule = "continuous"
check = "compliance == 'compliant'"
unknown_when = "last_sync < now-7d"
tolerance = "3d"

[[duty]]
id = "rmm-reporting"
title = "Every NinjaOne device reported this week"
objectives = ["3.4.1"]
source = "ninja_devices"
rule = "continuous"
check = "last_contact >= now-7d"
tolerance = "3d"

[[duty]]
id = "critical-patches-14d"
title = "No critical patch pending more than 14 days"
objectives = ["3.14.1"]
source = "patches"
rule = "continuous"
expect = "none"
check = "severity == 'CRITICAL' and status == 'PENDING' and pending_since < now-14d"
tolerance = "2d"

[[duty]]
id = "important-patches-30d"
title = "No important patch pending more than 30 days"
objectives = ["3.14.1"]
source = "patches"
rule = "continuous"
expect = "none"
check = "severity == 'IMPORTANT' and status == 'PENDING' and pending_since < now-30d"
tolerance = "2d"

[[duty]]
id = "log-retention"
title = "Audit tables keep a year of logs"
objectives = ["3.3.1"]
source = "la_tables"
rule = "continuous"
check = "total_retention_days >= 365"
required_subjects = ["SigninLogs", "AuditLogs", "SecurityEvent", "OfficeActivity", "AzureActivity"]
tolerance = "24h"
"#;

const CRM: &str = r#"
[[contractor.crm]]
id = "3.3.1"
owner = "msp"
msp_does = "Keeps audit logs"

[[contractor.crm]]
id = "3.4.1"
owner = "msp"
msp_does = "Keeps the device inventory"

[[contractor.crm]]
id = "3.5.3"
owner = "msp"
msp_does = "Enforces MFA"

[[contractor.crm]]
id = "3.14.1"
owner = "msp"
msp_does = "Patches"
"#;

const SOURCES: &str = r#"
[[contractor.source]]
id = "users"
kind = "file"
evidence = "mfa_registration"
path = "DIR/users.json"
records = "value"
schedule = "0 * * * *"
max_age = "2d"
max_bytes = "1GiB"

[[contractor.source]]
id = "intune"
kind = "file"
evidence = "managed_device"
path = "DIR/managedDevices.json"
records = "value"
schedule = "0 * * * *"
max_age = "2d"
max_bytes = "1GiB"

[[contractor.source]]
id = "ninja_devices"
kind = "file"
evidence = "ninja_device"
path = "DIR/ninja-devices.json"
schedule = "0 * * * *"
max_age = "2d"
max_bytes = "1GiB"

[[contractor.source]]
id = "patches"
kind = "file"
evidence = "patch"
path = "DIR/os-patches.json"
records = "results"
schedule = "0 * * * *"
max_age = "2d"
max_bytes = "1GiB"

[[contractor.source]]
id = "la_tables"
kind = "file"
evidence = "log_table"
path = "DIR/la-tables.json"
schedule = "0 * * * *"
max_age = "2d"
"#;

fn child(args: &[String]) {
    let [now, cache, dir] = args else {
        panic!("--child NOW CACHE DIR");
    };
    let now: Timestamp = now.parse().expect("an instant");
    let dir = Path::new(dir);
    // What the process spent before the first cycle: start, config, store (`setup CPU s`).
    let mut engine = common::engine_in(dir);
    if let Ok(records) = cache.parse() {
        engine.set_parse_cache_cap(records);
    }

    // Resident once the config is loaded and the store open, before any evidence: what a
    // thousand clients' configuration costs.
    let (cpu0, _, setup_rss) = usage();
    let wrote0 = common::written_bytes();
    reset_peak();
    let wall = Instant::now();
    let first = engine.cycle(now).expect("the first cycle");
    // A pass delivers at most one batch; the rest of what the first cycle decided goes out
    // now and counts as the first cycle's, so the second cycle has nothing left over.
    let mut drained = 0;
    loop {
        let (sent, failed) = engine.deliver(now).expect("delivery");
        drained += sent;
        if sent + failed == 0 {
            break;
        }
    }
    let wall1 = wall.elapsed().as_secs_f64();
    let (cpu1, peak1, _) = usage();
    let wrote1 = common::written_bytes().saturating_sub(wrote0);
    // For a profiler: the first cycle alone.
    if std::env::var_os("MSP_CYCLE_FIRST_ONLY").is_some() {
        eprintln!("  first: {first}, {:.2} s CPU", cpu1 - cpu0);
        std::process::exit(0);
    }

    reset_peak();
    let second = engine
        .cycle(
            now.checked_add(SignedDuration::from_mins(1))
                .expect("in range"),
        )
        .expect("the second cycle");
    let (cpu2, peak2, idle) = usage();
    // What the idle resident memory is made of: heap and stacks, mapped files (the binary's
    // code, SQLite's -shm), shared memory.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let idle_parts: Vec<&str> = status
        .lines()
        .filter(|line| {
            ["RssAnon:", "RssFile:", "RssShmem:"]
                .iter()
                .any(|k| line.starts_with(k))
        })
        .collect();
    eprintln!(
        "  idle: {}",
        idle_parts
            .join(", ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    let db_before = db_bytes(dir);

    // Same content, new modification times: each collection speaks for a new instant.
    let touched = std::time::SystemTime::from(
        now.checked_add(SignedDuration::from_mins(2))
            .expect("in range"),
    );
    for client in std::fs::read_dir(dir.join("clients")).expect("clients") {
        for file in std::fs::read_dir(client.expect("entry").path()).expect("files") {
            std::fs::File::options()
                .write(true)
                .open(file.expect("entry").path())
                .and_then(|f| f.set_modified(touched))
                .expect("touch");
        }
    }
    let third = engine
        .cycle(
            now.checked_add(SignedDuration::from_mins(3))
                .expect("in range"),
        )
        .expect("the touched cycle");
    let (cpu3, _, _) = usage();
    let grown = db_bytes(dir).saturating_sub(db_before);
    assert_eq!(first.collection_failures, 0, "{first}");
    eprintln!(
        "  first: {first} (then {drained} more mail(s) delivered)\n  second: {second}\n  touched: {third}"
    );
    // What the duties of the first client came to, to see the evidence reads as meant.
    for verdict in engine
        .store()
        .current_verdicts(Some("c0000"))
        .expect("verdicts")
    {
        let subjects = engine
            .store()
            .subjects("c0000", &verdict.duty)
            .expect("subjects");
        let mut states = std::collections::BTreeMap::new();
        for subject in &subjects {
            *states.entry(subject.state.as_str()).or_insert(0) += 1;
        }
        eprintln!(
            "  c0000 {:<22} {:<14} subjects {states:?}, {} met",
            verdict.duty,
            verdict.verdict.state.kind().as_str(),
            verdict.met_subjects.unwrap_or(0)
        );
    }
    let (c1, c2) = (cpu1 - cpu0, cpu2 - cpu1);
    println!(
        "{c1:>11.2} {peak1:>11} {wall1:>8.1}s {c2:>11.2} {peak2:>11} {:>8.1}% {idle:>10} {:>11.2} {:>9.1} {:>8.1} {cpu0:>11.2} {setup_rss:>8} {:>12.1}",
        100.0 * c2 / c1.max(0.01),
        cpu3 - cpu2,
        grown as f64 / 1e6,
        db_bytes(dir) as f64 / 1e6,
        wrote1 as f64 / 1e6,
    );
}
