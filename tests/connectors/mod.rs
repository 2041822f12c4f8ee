//! The MSP-tool connectors (`ninjaone`, `splunk`, `elastic`, `http_json`) against the fake
//! vendors in `util`: paging, throttling, token expiry, the vendors' error bodies, broken and
//! slow answers, each fault a `source_error` with its reason and never `met`, and the same
//! normalizer over a saved answer.

mod basic_auth;
mod elastic;
mod http_json;
mod ninjaone;
mod splunk;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use dutywatch::engine::Engine;
use dutywatch::sources::HttpPolicy;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use crate::util::fake_http::Fault;
use crate::util::{self, Fixture};

/// Log retention and patching, both the MSP's.
const CRM: &str = "\
id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification
3.3.1,msp,,Keeps audit logs,msp,Retention report,,
3.14.1,msp,,Patches systems,msp,Weekly patch report,,
";

/// A contractor config whose sources and duties are `body` (`[[contractor.source]]` and
/// `[[contractor.duty]]` tables); `{dir}` in it is the fixture's directory.
fn config(body: &str) -> String {
    format!(
        r#"perspective = "contractor"
timezone = "America/New_York"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@keystone.example"
{}

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]
crm_file = "crm.csv"
{body}"#,
        util::FILE_MAIL
    )
}

/// A fixture with `body` as its sources and duties and `secret` in the 0600 file `secret`.
fn fixture(body: &str, secret: &str) -> Fixture {
    let fixture = Fixture::new();
    let dir = fixture.dir.path().display().to_string();
    fixture.write("dutywatch.toml", &config(&body.replace("{dir}", &dir)));
    fixture.write("crm.csv", CRM);
    let path = fixture.write("secret", &format!("{secret}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    fixture
}

/// Back-off in milliseconds and a short request timeout, so the tests do not wait on them.
fn fast() -> HttpPolicy {
    HttpPolicy {
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(20),
        request_timeout: Duration::from_millis(700),
        ..HttpPolicy::default()
    }
}

fn engine(fixture: &Fixture) -> Engine {
    let mut engine = util::engine(fixture);
    engine.set_http_policy(fast());
    engine
}

fn state_of(engine: &Engine, duty: &str) -> (StateKind, String) {
    let verdict = util::verdict_of(engine, duty);
    (verdict.state.kind(), verdict.reason)
}

/// Each subject of `duty` that is not met, with its state, by name.
fn failing(engine: &Engine, duty: &str) -> Vec<(String, String)> {
    let mut subjects: Vec<(String, String)> = subjects(engine, duty)
        .into_iter()
        .filter(|(_, state)| state != "met")
        .collect();
    subjects.sort();
    subjects
}

/// Every subject of `duty` with its state, as its latest judgement saw it.
fn subjects(engine: &Engine, duty: &str) -> Vec<(String, String)> {
    util::judged_subjects(engine, "acme", duty)
        .into_iter()
        .map(|(subject, state, _)| (subject, state))
        .collect()
}

/// The stored snapshots of `source`, oldest first.
fn snapshots(fixture: &Fixture, source: &str) -> Vec<serde_json::Value> {
    util::stored_payloads(fixture, source)
        .iter()
        .map(|(_, payload)| serde_json::from_slice(payload).expect("stored JSON"))
        .collect()
}

/// The faults every connector must turn into `source_error` with a reason that says what
/// happened, never `met` (`page` is the page they hit, 0 for the first).
fn broken_answers() -> Vec<(Fault, &'static str)> {
    vec![
        (Fault::Malformed, "the answer is not JSON"),
        (Fault::TruncatedJson, "as if cut off"),
        (Fault::Truncated, "the response broke off"),
        (
            Fault::Hang(Duration::from_secs(2)),
            "no complete answer within 0.7 s",
        ),
    ]
}

/// The HTTP date `seconds` after `now`, as `Retry-After` writes it.
fn http_date(now: Timestamp, seconds: i64) -> String {
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&(now + jiff::SignedDuration::from_secs(seconds)))
        .expect("an HTTP date")
}
