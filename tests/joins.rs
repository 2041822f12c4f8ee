//! Joins across sources end to end: NinjaOne pending patches joined to NinjaOne devices and
//! then to Intune devices by name, each read from the vendor's answer saved to a file, so a
//! patch on a device still in use fails, and one on a device Intune last saw ten days ago,
//! or does not know, is unknown (`no_evidence`) with its reason in `status --subjects`.

use dutywatch_checks::verdict::StateKind;
use jiff::{SignedDuration, Timestamp};

use crate::util::ninjaone_server::{device, patch};
use crate::util::{self, Fixture, at, text};

/// The clock the one-shot commands run at, so `status` and the cycle agree.
fn now() -> Timestamp {
    at(util::CLOCK)
}

fn days_ago(days: i64) -> Timestamp {
    now() - SignedDuration::from_hours(24 * days)
}

fn epoch(at: Timestamp) -> f64 {
    at.as_millisecond() as f64 / 1000.0
}

const CRM: &str = "\
id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification
3.14.1,msp,,Patches systems,msp,Weekly patch report,,
";

const CONFIG: &str = r#"perspective = "contractor"
timezone = "America/New_York"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@keystone.example"
{mail}

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]
crm_file = "crm.csv"

[[contractor.source]]
id = "ninja-patches"
kind = "ninjaone"
evidence = "patch"
resource = "os-patches"
path = "exports/os-patches.json"
schedule = "0 * * * *"
max_age = "1d"

[[contractor.source]]
id = "ninja-devices"
kind = "ninjaone"
evidence = "rmm_device"
resource = "devices"
path = "exports/devices.json"
schedule = "0 * * * *"
max_age = "1d"

[[contractor.source]]
id = "intune"
kind = "file"
evidence = "managed_device"
path = "exports/managedDevices.json"
schedule = "0 * * * *"
max_age = "1d"

[[contractor.duty]]
id = "patch-deadlines"
title = "Critical patches within 14 days, important within 30, on devices in use"
objectives = ["3.14.1"]
source = "ninja-patches"
join = [ { source = "ninja-devices", on = "device = id", as = "rmm" },
         { source = "intune", on = "rmm.device = device", as = "intune" } ]
rule = "continuous"
expect = "none"
check = "(severity == 'CRITICAL' and pending_since < now-14d) or (severity == 'IMPORTANT' and pending_since < now-30d)"
unknown_when = "intune.last_sync < now-7d or intune == null"
tolerance = "1h"
"#;

fn intune_device(name: &str, last_sync: Timestamp) -> serde_json::Value {
    serde_json::json!({
        "id": format!("705c034c-{name}"),
        "deviceName": name,
        "operatingSystem": "Windows",
        "complianceState": "compliant",
        "lastSyncDateTime": last_sync.to_string(),
    })
}

fn fixture(config: &str) -> Fixture {
    let fixture = Fixture::new();
    fixture.write("dutywatch.toml", &config.replace("{mail}", util::FILE_MAIL));
    fixture.write("crm.csv", CRM);
    let pending = epoch(days_ago(20));
    let patches = serde_json::json!({
        "cursor": {"name": "c-1", "offset": 0, "count": 4, "expires": epoch(now()) + 3600.0},
        "results": [
            patch(1042, "KB5051989", "CRITICAL", pending),
            patch(1042, "KB5050001", "IMPORTANT", pending),
            patch(1043, "KB5051989", "CRITICAL", pending),
            patch(1044, "KB5051989", "CRITICAL", pending),
        ],
    });
    fixture.write_dated("exports/os-patches.json", &patches.to_string(), now());
    let contact = epoch(days_ago(1));
    let devices = serde_json::json!([
        device(1042, "WS-01", contact),
        device(1043, "WS-02", contact),
        device(1044, "WS-03", contact),
    ]);
    fixture.write_dated("exports/devices.json", &devices.to_string(), now());
    let intune = serde_json::json!({ "value": [
        // Intune spells the name its own way: joined ignoring case.
        intune_device("ws-01", days_ago(1)),
        intune_device("WS-02", days_ago(10)),
    ]});
    fixture.write_dated("exports/managedDevices.json", &intune.to_string(), now());
    fixture
}

fn kb(device: i64, kb: &str) -> String {
    format!("{device} / 2026-11 Cumulative Update for Windows 11 ({kb})")
}

#[test]
fn a_patch_is_judged_only_on_a_device_both_sides_know_and_intune_saw_this_week() {
    let fixture = fixture(CONFIG);
    let mut engine = util::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let verdict = util::verdict_of(&engine, "patch-deadlines");
    // Unknown subjects rank above a failing one: the duty cannot be vouched for.
    assert_eq!(
        verdict.state.kind(),
        StateKind::NoEvidence,
        "{}",
        verdict.reason
    );
    assert!(
        verdict.reason.contains("1 of 4 break it"),
        "{}",
        verdict.reason
    );
    // The verdict rests on all three snapshots.
    assert_eq!(verdict.evidence.len(), 3, "{:?}", verdict.evidence);
    let subjects = util::judged_subjects(&engine, "acme", "patch-deadlines");
    let state = |name: &str| {
        subjects
            .iter()
            .find(|(subject, _, _)| subject == name)
            .map(|(_, state, reason)| {
                (
                    state.parse::<StateKind>().expect("a state kind"),
                    reason.clone(),
                )
            })
            .unwrap_or_else(|| panic!("no subject {name}: {subjects:?}"))
    };
    // Failing as of this first look; the 1 h tolerance runs.
    assert_eq!(state(&kb(1042, "KB5051989")).0, StateKind::DueSoon);
    // Important, 20 days: inside its 30.
    assert_eq!(state(&kb(1042, "KB5050001")).0, StateKind::Met);
    let (stale, why) = state(&kb(1043, "KB5051989"));
    assert_eq!(stale, StateKind::NoEvidence, "{why}");
    assert!(why.contains("intune.last_sync < now-7d"), "{why}");
    let (unknown, why) = state(&kb(1044, "KB5051989"));
    assert_eq!(unknown, StateKind::NoEvidence, "{why}");
    assert!(
        why.contains("no record of `intune` (source `intune`) has `device` = 'ws-03'"),
        "{why}"
    );

    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--subjects"]);
    let (stdout, stderr) = text(&output);
    for (subject, said) in [
        (kb(1042, "KB5051989"), "due_soon"),
        (kb(1043, "KB5051989"), "no_evidence"),
        (kb(1044, "KB5051989"), "unknown to that side"),
    ] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with("    ") && line.contains(&subject))
            .unwrap_or_else(|| panic!("{subject} not listed:\n{stdout}\n{stderr}"));
        assert!(line.contains(said), "{line}\n{stdout}");
        assert!(
            subject != kb(1043, "KB5051989") || line.contains("intune.last_sync < now-7d"),
            "{line}"
        );
    }
}

#[test]
fn a_stale_joined_export_keeps_the_duty_from_met() {
    let fixture = fixture(CONFIG);
    // Nothing is pending any more, but the Intune export is three days old.
    fixture.write_dated(
        "exports/os-patches.json",
        r#"{"cursor": null, "results": []}"#,
        now(),
    );
    let intune = std::fs::read_to_string(fixture.path("exports/managedDevices.json"))
        .expect("intune export");
    fixture.write_dated("exports/managedDevices.json", &intune, days_ago(3));
    let mut engine = util::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let verdict = util::verdict_of(&engine, "patch-deadlines");
    assert_eq!(
        verdict.state.kind(),
        StateKind::StaleEvidence,
        "{}",
        verdict.reason
    );
    assert!(
        verdict
            .reason
            .contains("joined source `intune` (as `intune`)"),
        "{}",
        verdict.reason
    );
}

#[test]
fn a_join_that_names_an_unknown_source_or_field_does_not_load() {
    for (from, to, expected) in [
        (
            "source = \"intune\", on",
            "source = \"intnue\", on",
            "join[intune].source: no source `intnue` is configured for this contractor; did you mean `intune`?",
        ),
        (
            "on = \"rmm.device = device\"",
            "on = \"rmm.device = devise\"",
            "`devise` (right of `on`) is not a field of `managed_device` evidence, which source `intune` holds; did you mean `device`?",
        ),
        (
            "intune.last_sync < now-7d",
            "intune.last_synced < now-7d",
            "`intune.last_synced` is not a field of `patch` evidence; did you mean `intune.last_sync`?",
        ),
        (
            "expect = \"none\"",
            "expect = \"none\"\nmin_share = 0.9",
            "`min_share` is the share of subjects (0 to 1, e.g. 0.95) that must pass for expect = \"all\" to hold",
        ),
        (
            "on = \"device = id\"",
            "on = \"device\"",
            "`device` is not a join key: write on = \"field = joined_field\"",
        ),
    ] {
        let fixture = fixture(&CONFIG.replacen(from, to, 1));
        let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
        let (stdout, stderr) = text(&output);
        assert!(!output.status.success());
        assert!(
            stdout.contains(expected) || stderr.contains(expected),
            "{expected}\n{stdout}\n{stderr}"
        );
    }
}

/// The built-in MFA checks of the README over saved Graph answers: members by share, admins
/// each, guests apart, and MFA enforced by an enabled policy or else security defaults.
const MFA_CONFIG: &str = r#"
[[contractor.source]]
id = "entra_mfa"
kind = "file"
evidence = "mfa_registration"
path = "exports/userRegistrationDetails.json"
schedule = "0 * * * *"
max_age = "1d"

[[contractor.source]]
id = "entra_ca"
kind = "file"
evidence = "conditional_access_policy"
path = "exports/policies.json"
schedule = "0 * * * *"
max_age = "1d"

[[contractor.source]]
id = "security_defaults"
kind = "file"
evidence = "security_defaults"
path = "exports/securityDefaults.json"
schedule = "0 * * * *"
max_age = "1d"

[[contractor.duty]]
id = "mfa-members-registered"
title = "At least 75% of member accounts have MFA registered"
objectives = ["3.5.3"]
source = "entra_mfa"
rule = "continuous"
where = "user_type == 'member'"
check = "mfa_registered == true"
min_share = 0.75
tolerance = "7d"

[[contractor.duty]]
id = "mfa-admins-capable"
title = "Every admin account is MFA capable"
objectives = ["3.5.3"]
source = "entra_mfa"
rule = "continuous"
where = "is_admin == true"
check = "mfa_capable == true"
tolerance = "24h"

[[contractor.duty]]
id = "mfa-guests-registered"
title = "At least 80% of guest accounts have MFA registered"
objectives = ["3.5.3"]
source = "entra_mfa"
rule = "continuous"
where = "user_type == 'guest'"
check = "mfa_registered == true"
min_share = 0.80
min_records = 0
tolerance = "14d"

[[contractor.duty]]
id = "mfa-enforced"
title = "MFA is enforced for all users by Conditional Access or security defaults"
objectives = ["3.5.3"]
source = "entra_ca"
join = [ { source = "security_defaults", as = "defaults" } ]
rule = "continuous"
expect = "any"
check = "(state == 'enabled' and include_users contains 'All' and (grant_controls contains 'mfa' or authentication_strength != null)) or defaults.enabled == true"
tolerance = "24h"
"#;

fn user(upn: &str, kind: &str, admin: bool, registered: bool) -> serde_json::Value {
    serde_json::json!({
        "userPrincipalName": upn, "userType": kind, "isAdmin": admin,
        "isMfaRegistered": registered, "isMfaCapable": registered,
    })
}

#[test]
fn the_builtin_mfa_checks_count_members_admins_and_guests_apart() {
    let config = CONFIG
        .split("[[contractor.source]]")
        .next()
        .expect("the header")
        .to_owned()
        + MFA_CONFIG;
    let fixture = Fixture::new();
    fixture.write("dutywatch.toml", &config.replace("{mail}", util::FILE_MAIL));
    fixture.write(
        "crm.csv",
        &format!("{CRM}3.5.3,msp,,Enforces MFA,msp,Monthly MFA export,,\n"),
    );
    let users = serde_json::json!({ "value": [
        user("a@acme.example", "member", true, true),
        user("b@acme.example", "member", false, true),
        user("c@acme.example", "member", false, true),
        user("d@acme.example", "member", false, false),
        // An admin whose capability Graph did not say: unknown, not capable.
        {"userPrincipalName": "e@acme.example", "userType": "member", "isAdmin": true, "isMfaRegistered": true},
        user("g1@partner.example", "guest", false, false),
        user("g2@partner.example", "guest", false, true),
    ]});
    fixture.write_dated(
        "exports/userRegistrationDetails.json",
        &users.to_string(),
        now(),
    );
    // Enforced only in report-only mode, so security defaults decide.
    let policies = serde_json::json!({ "value": [{
        "displayName": "Require MFA for all users",
        "state": "enabledForReportingButNotEnforced",
        "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": ["breakglass-id"]}},
        "grantControls": {"builtInControls": ["mfa"]},
    }]});
    fixture.write_dated("exports/policies.json", &policies.to_string(), now());
    let defaults = |enabled: bool| {
        serde_json::json!({ "value": [{
            "id": "00000000-0000-0000-0000-000000000005",
            "displayName": "Security Defaults",
            "isEnabled": enabled,
        }]})
        .to_string()
    };
    fixture.write_dated("exports/securityDefaults.json", &defaults(false), now());
    let mut engine = util::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let state = |duty: &str| util::verdict_of(&engine, duty);

    // 4 of 5 members registered: 80% against 75%, so met, with the one listed.
    let members = state("mfa-members-registered");
    assert_eq!(members.state.kind(), StateKind::Met, "{}", members.reason);
    assert!(
        members
            .reason
            .contains("4 of 5 subject(s) pass (80.0%), at least 75.0% must")
            && members.reason.contains("d@acme.example"),
        "{}",
        members.reason
    );
    let admins = state("mfa-admins-capable");
    assert_eq!(
        admins.state.kind(),
        StateKind::NoEvidence,
        "{}",
        admins.reason
    );
    assert!(
        admins.reason.contains("e@acme.example"),
        "{}",
        admins.reason
    );
    // 1 of 2 guests: below their own 80%.
    let guests = state("mfa-guests-registered");
    assert_eq!(guests.state.kind(), StateKind::DueSoon, "{}", guests.reason);
    assert!(
        guests.reason.contains("1 of 2 subject(s) pass (50.0%)"),
        "{}",
        guests.reason
    );
    // Report-only does not count, and security defaults are off.
    let enforced = state("mfa-enforced");
    assert_eq!(
        enforced.state.kind(),
        StateKind::DueSoon,
        "{}",
        enforced.reason
    );
    assert_eq!(enforced.evidence.len(), 2, "{:?}", enforced.evidence);

    // Security defaults switched on: enforced.
    let later = now() + SignedDuration::from_hours(1);
    fixture.write_dated("exports/securityDefaults.json", &defaults(true), later);
    engine.cycle(later).expect("cycle");
    let enforced = util::verdict_of(&engine, "mfa-enforced");
    assert_eq!(enforced.state.kind(), StateKind::Met, "{}", enforced.reason);
}

#[test]
fn a_joined_export_dated_ahead_is_used_once_its_instant_comes() {
    // A file share's clock half an hour ahead: the Intune export is not used at first, and
    // is from its instant on, although no file changed in between (the verdict is not held).
    let fixture = fixture(CONFIG);
    let intune =
        std::fs::read_to_string(fixture.path("exports/managedDevices.json")).expect("intune");
    fixture.write_dated(
        "exports/managedDevices.json",
        &intune,
        now() + SignedDuration::from_mins(30),
    );
    let mut engine = util::engine(&fixture);
    engine.cycle(now()).expect("first");
    assert!(
        util::verdict_of(&engine, "patch-deadlines")
            .reason
            .contains("has produced no evidence"),
        "not used before its instant"
    );
    let summary = engine
        .cycle(now() + SignedDuration::from_hours(1))
        .expect("later");
    assert_eq!(summary.evaluated, 1, "{summary}");
    let verdict = util::verdict_of(&engine, "patch-deadlines");
    assert!(
        verdict.reason.contains("1 of 4 break it"),
        "{}",
        verdict.reason
    );
}

#[test]
fn a_joined_export_altered_in_the_store_is_a_source_error_not_a_join() {
    let fixture = fixture(CONFIG);
    let mut engine = util::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    // The engine has just read the Intune export (its records are cached); another
    // connection now edits its stored bytes to say every device synced today.
    let forged = serde_json::json!({ "value": [
        intune_device("ws-01", days_ago(0)),
        intune_device("WS-02", days_ago(0)),
        intune_device("WS-03", days_ago(0)),
    ]});
    util::tamper_payload(&fixture, "source = 'intune'", &forged.to_string());
    // A later pass judges again (a new patch export) and must not trust the edited partner.
    let patches =
        std::fs::read_to_string(fixture.path("exports/os-patches.json")).expect("patches");
    fixture.write_dated(
        "exports/os-patches.json",
        &patches.replace("\"c-1\"", "\"c-2\""),
        now() + SignedDuration::from_mins(30),
    );
    engine
        .cycle(now() + SignedDuration::from_hours(1))
        .expect("cycle");
    let verdict = util::verdict_of(&engine, "patch-deadlines");
    assert_eq!(
        verdict.state.kind(),
        StateKind::SourceError,
        "{}",
        verdict.reason
    );
    assert!(
        verdict.reason.contains("does not match its recorded hash"),
        "{}",
        verdict.reason
    );
}

#[test]
fn a_partner_whose_record_does_not_read_is_said_to_be_maybe_among_the_unreadable() {
    let fixture = fixture(CONFIG);
    // WS-03's Intune record lacks its (required) last sync: it is not a record at all.
    // WS-01's reads, with a finding for an optional value that does not (counted apart).
    let mut ws01 = intune_device("ws-01", days_ago(1));
    ws01["isEncrypted"] = serde_json::json!("maybe");
    let intune = serde_json::json!({ "value": [
        ws01,
        intune_device("WS-02", days_ago(10)),
        {"id": "705c034c-WS-03", "deviceName": "WS-03", "operatingSystem": "Windows",
         "complianceState": "compliant"},
    ]});
    fixture.write_dated("exports/managedDevices.json", &intune.to_string(), now());
    let mut engine = util::engine(&fixture);
    engine.cycle(now()).expect("cycle");
    let subjects = util::judged_subjects(&engine, "acme", "patch-deadlines");
    let (_, state, why) = subjects
        .iter()
        .find(|(subject, _, _)| *subject == kb(1044, "KB5051989"))
        .expect("WS-03's patch");
    assert_eq!(state, "no_evidence", "{why}");
    assert!(
        why.contains("no readable record of `intune` (source `intune`) has `device` = 'ws-03'")
            && why.contains("1 of its record(s) could not be read: it may be one of them"),
        "{why}"
    );
}
