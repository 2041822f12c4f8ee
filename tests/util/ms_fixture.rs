//! An installation whose extra sources read a fake Microsoft API (`graph_server`,
//! `arm_server`): the standard contractor config plus the sources and duties a test adds, a
//! CRM that also gives the MSP log retention (3.3.1) and incident handling (3.6.1), and the
//! client secret in a 0600 file.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use dutywatch::engine::Engine;
use dutywatch::sources::HttpPolicy;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::graph_server::{CLIENT_ID, GraphServer, TENANT};
use super::{CRM, Fixture};

pub(crate) const SECRET: &str = "Qx8~ms-client-secret-7dB2.vR";

/// A `[[contractor.source]]` of `kind` ("graph" or "arm") reading `server`; `keys` adds the
/// resource and whatever else the source needs.
pub(crate) fn api_source(
    server: &GraphServer,
    id: &str,
    kind: &str,
    evidence: &str,
    keys: &str,
) -> String {
    let base_key = if kind == "arm" {
        "arm_url"
    } else {
        "graph_url"
    };
    format!(
        r#"
[[contractor.source]]
id = "{id}"
kind = "{kind}"
evidence = "{evidence}"
tenant = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "SECRET_FILE" }}
{base_key} = "{}"
token_url = "{}"
schedule = "0 * * * *"
max_age = "2d"
{keys}
"#,
        server.base,
        server.token_url()
    )
}

/// The standard fixture with `extra` (sources and duties) added to the contractor.
pub(crate) fn fixture(now: Timestamp, extra: &str) -> Fixture {
    let fixture = Fixture::new();
    let secret = fixture.write("ms-secret", &format!("{SECRET}\n"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config =
        super::contractor_config(extra).replace("SECRET_FILE", &secret.display().to_string());
    fixture.write("dutywatch.toml", &config);
    fixture.write(
        "crm.csv",
        &format!("{CRM}3.3.1,msp,,Keeps audit logs,msp,,,\n3.6.1,msp,,Handles incidents,msp,,,\n"),
    );
    fixture.write_dated("evidence/reviews.csv", super::REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", super::MFA_OK, now);
    fixture
}

/// Back-off in milliseconds and a short request timeout, so faults take no real time.
pub(crate) fn fast() -> HttpPolicy {
    HttpPolicy {
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        ..HttpPolicy::default()
    }
}

pub(crate) fn engine(fixture: &Fixture) -> Engine {
    let mut engine = super::engine(fixture);
    engine.set_http_policy(fast());
    engine
}

/// One cycle at `now`, then `duty`'s state and reason.
pub(crate) fn cycle(engine: &mut Engine, now: Timestamp, duty: &str) -> (StateKind, String) {
    engine.cycle(now).expect("cycle");
    let verdict = super::verdict_of(engine, duty);
    (verdict.state.kind(), verdict.reason)
}

/// The state and reason of one subject of `duty` as its latest judgement saw it.
pub(crate) fn subject_state(engine: &Engine, duty: &str, subject: &str) -> (StateKind, String) {
    let subjects = super::judged_subjects(engine, "acme", duty);
    let (_, state, reason) = subjects
        .iter()
        .find(|(name, _, _)| name == subject)
        .unwrap_or_else(|| panic!("no subject {subject} in {subjects:?}"));
    (state.parse().expect("a state kind"), reason.clone())
}

/// The stored payloads of `source`, oldest first.
pub(crate) fn payloads(fixture: &Fixture, source: &str) -> Vec<serde_json::Value> {
    payload_bytes(fixture, source)
        .iter()
        .map(|payload| serde_json::from_slice(payload).expect("stored JSON"))
        .collect()
}

/// The stored payloads of `source`, as bytes, oldest first.
pub(crate) fn payload_bytes(fixture: &Fixture, source: &str) -> Vec<Vec<u8>> {
    super::stored_payloads(fixture, source)
        .into_iter()
        .map(|(_, payload)| payload)
        .collect()
}

/// The GET targets the server saw for `path` (any page).
pub(crate) fn gets(server: &GraphServer, path: &str) -> Vec<String> {
    server
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "GET" && seen.target.split('?').next() == Some(path))
        .map(|seen| seen.target)
        .collect()
}
