//! A temporary installation: config, CRM and evidence files in a temp dir.

use std::path::{Path, PathBuf};
use std::process::Output;

use dutywatch::config::{self, Config};
use jiff::Timestamp;

pub(crate) mod arm_server;
pub(crate) mod chromium;
pub(crate) mod elastic_server;
pub(crate) mod fake_http;
pub(crate) mod fake_tenant;
pub(crate) mod graph_server;
pub(crate) mod ms_fixture;
pub(crate) mod ninjaone_server;
pub(crate) mod portal_server;
pub(crate) mod python;
pub(crate) mod smtp_server;
pub(crate) mod splunk_server;
pub(crate) mod test_pki;

/// A small CRM: one shared, two MSP-owned and one contractor-owned
/// requirement (the rest of the catalog is unowned, which lint reports but
/// loading tolerates).
pub(crate) const CRM: &str = "\
id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification
3.1.1,shared,Approves access,Administers accounts,both,Monthly account report,,
3.5.3,msp,,Enforces MFA,msp,Monthly MFA export,,
3.14.1,msp,,Patches systems,msp,Weekly patch report,,
3.2.1,contractor,Trains staff,,contractor,,,
";

pub(crate) fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are valid")
}

#[derive(Debug)]
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub(crate) fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
        path
    }

    /// Writes `content` with the file's modification time set to `at`, the
    /// instant a file source takes the evidence to speak for.
    pub(crate) fn write_dated(&self, relative: &str, content: &str, at: Timestamp) -> PathBuf {
        let path = self.write(relative, content);
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(std::time::SystemTime::from(at))
            .expect("set mtime");
        path
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.path("dutywatch.toml")
    }

    pub(crate) fn load(&self) -> Config {
        config::load(&self.config_path()).unwrap_or_else(|e| panic!("config should load: {e}"))
    }

    pub(crate) fn mails(&self) -> Vec<String> {
        let dir = self.path("outbox");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut mails: Vec<String> = entries
            .map(|e| {
                let raw = std::fs::read_to_string(e.expect("entry").path()).expect("read mail");
                unquote(&raw)
            })
            .collect();
        mails.sort();
        mails
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        dutywatch_command(self.dir.path(), args)
    }
}

/// The wall clock every one-shot command the tests run reads (`--clock`): after every fixed
/// date the fixtures use, so no test depends on the day it runs. The daemon tests in
/// `service` run on the host's clock with evidence dated from it.
pub(crate) const CLOCK: &str = "2026-12-01T00:00:00Z";

/// A message with its quoted-printable parts decoded (soft line breaks joined, `=XX` turned
/// back into bytes), so a test reads the text as the recipient does. Headers have neither.
pub(crate) fn unquote(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| matches!(b, b'0'..=b'9' | b'A'..=b'F');
        if bytes[i] == b'=' && i + 2 < bytes.len() && hex(bytes[i + 1]) && hex(bytes[i + 2]) {
            let text = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(text, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn dutywatch_command(dir: &Path, args: &[&str]) -> Output {
    dutywatch_command_at(dir, args, CLOCK)
}

/// [`dutywatch_command`] on a wall clock that reads `clock`.
pub(crate) fn dutywatch_command_at(dir: &Path, args: &[&str], clock: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args(args)
        .args(["--clock", clock])
        .current_dir(dir)
        .env_remove("DUTYWATCH_CONFIG")
        .env_remove("STATE_DIRECTORY")
        .env("DUTYWATCH_LOG", "warn")
        .output()
        .expect("the dutywatch binary runs")
}

/// The `duties` row of `duty` in `once --json` / `status --json` output.
pub(crate) fn duty_json(output: &Output, duty: &str) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("json ({e}): {:?}", text(output)));
    report["duties"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["duty"] == duty)
        .unwrap_or_else(|| panic!("no {duty}"))
        .clone()
}

pub(crate) fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `[mail]`'s transport keys for the file transport into `outbox/`.
pub(crate) const FILE_MAIL: &str = "transport = \"file\"\ndir = \"outbox\"";

/// A contractor-perspective config with a patch source, an access-review
/// source and a manual duty.
pub(crate) fn contractor_config(extra: &str) -> String {
    contractor_config_with_mail(FILE_MAIL, extra)
}

/// [`contractor_config`] with `mail` as `[mail]`'s transport keys.
pub(crate) fn contractor_config_with_mail(mail: &str, extra: &str) -> String {
    format!(
        r#"
perspective = "contractor"
timezone = "America/New_York"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@acme.example"
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
id = "reviews"
kind = "file"
evidence = "access_review"
path = "evidence/reviews.csv"
schedule = "0 6 * * *"

[[contractor.source]]
id = "mfa"
kind = "file"
evidence = "mfa_registration"
path = "evidence/mfa.json"
schedule = "0 * * * *"
max_age = "2d"

[[contractor.duty]]
id = "access-review"
title = "Quarterly access review"
objectives = ["3.1.1"]
party = "contractor"
source = "reviews"
rule = "recurring"
completed_at = "signed_off_at"
every = "90d"
warn_before = "14d"

[[contractor.duty]]
id = "mfa-registered"
title = "MFA registered"
objectives = ["3.5.3"]
source = "mfa"
rule = "continuous"
check = "mfa_registered == true"
tolerance = "24h"

[[contractor.duty]]
id = "training"
title = "Annual training"
objectives = ["3.2.1"]
source = "manual"
rule = "recurring"
every = "365d"
{extra}"#
    )
}

/// An access review export: one account reviewed and signed off.
pub(crate) const REVIEWS: &str =
    "review_id,account_id,decision,signed_off_at\nQ3,alice,keep,2026-10-01T12:00:00Z\n";

pub(crate) const MFA_OK: &str =
    r#"{"value": [{"userPrincipalName": "a@acme.example", "isMfaRegistered": true}]}"#;
pub(crate) const MFA_BAD: &str = r#"{"value": [{"userPrincipalName": "a@acme.example", "isMfaRegistered": true}, {"userPrincipalName": "b@acme.example", "isMfaRegistered": false}]}"#;

/// The standard fixture, evidence dated relative to `now`.
pub(crate) fn standard(now: Timestamp) -> Fixture {
    let fixture = Fixture::new();
    fixture.write("dutywatch.toml", &contractor_config(""));
    fixture.write("crm.csv", CRM);
    fixture.write_dated("evidence/reviews.csv", REVIEWS, now);
    fixture.write_dated("evidence/mfa.json", MFA_OK, now);
    fixture
}

/// An engine on the fixture's config and database, as `once` builds it.
pub(crate) fn engine(fixture: &Fixture) -> dutywatch::engine::Engine {
    let config = fixture.load();
    let store = dutywatch::store::Store::open(&config.database).expect("store opens");
    dutywatch::engine::Engine::new(std::sync::Arc::new(config), store)
}

/// After one failed delivery at `failed_at`, nothing is retried before the
/// one-minute back-off, the retry delivers, and nothing is sent again.
pub(crate) fn assert_retried_once_a_minute_after(
    engine: &mut dutywatch::engine::Engine,
    failed_at: Timestamp,
) {
    let after = |seconds: i64| failed_at + jiff::SignedDuration::from_secs(seconds);
    assert_eq!(
        engine.deliver(after(30)).expect("deliver"),
        (0, 0),
        "retried too early"
    );
    assert_eq!(
        engine.deliver(after(60)).expect("deliver"),
        (1, 0),
        "the retry delivers"
    );
    assert_eq!(
        engine.deliver(after(1800)).expect("deliver"),
        (0, 0),
        "delivered twice"
    );
}

/// The stored verdict of `duty` (of any contractor).
pub(crate) fn verdict_of(
    engine: &dutywatch::engine::Engine,
    duty: &str,
) -> dutywatch_checks::verdict::Verdict {
    engine
        .store()
        .current_verdicts(None)
        .expect("verdicts")
        .into_iter()
        .find(|v| v.duty == duty)
        .unwrap_or_else(|| panic!("no verdict for {duty}"))
        .verdict
}

/// Rewrites, as someone with write access to the database could, the stored payload of the
/// first evidence row matching `evidence_where` (an SQL condition on `evidence`) with
/// `forged`, readable as it is (`encoding = 'identity'`): content that reads, but is not
/// what the row's hash says.
pub(crate) fn tamper_payload(fixture: &Fixture, evidence_where: &str, forged: &str) {
    let db = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("db");
    db.execute_batch("DROP TRIGGER IF EXISTS payloads_no_update")
        .expect("drop trigger");
    let changed = db
        .execute(
            &format!(
                "UPDATE payloads SET payload = CAST(?1 AS BLOB), encoding = 'identity'
                  WHERE sha256 = (SELECT sha256 FROM evidence WHERE {evidence_where}
                                  ORDER BY id LIMIT 1)"
            ),
            [forged],
        )
        .expect("tamper");
    assert_eq!(changed, 1, "no payload of evidence where {evidence_where}");
}

/// (origin, bytes as collected) of every stored snapshot of `source`, in insertion order:
/// read through the store, which decodes and checks each payload.
pub(crate) fn stored_payloads(fixture: &Fixture, source: &str) -> Vec<(String, Vec<u8>)> {
    let path = fixture.path("state/dutywatch.db");
    let db = rusqlite::Connection::open(&path).expect("db");
    let ids: Vec<i64> = db
        .prepare("SELECT id FROM evidence WHERE source = ?1 ORDER BY id")
        .expect("query")
        .query_map([source], |row| row.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let store = dutywatch::store::Store::open_read_only(&path).expect("store");
    ids.into_iter()
        .map(|id| {
            let row = store
                .evidence(dutywatch_checks::evidence::EvidenceId(id))
                .expect("read")
                .expect("a row")
                .expect("intact");
            (row.origin, row.payload)
        })
        .collect()
}

/// Every subject of `client`'s `duty` as its latest judgement saw it, by name: the stored rows
/// (subjects that were ever not met, gone ones with state `gone`) and the subjects met since
/// first seen, which have no row, from the duty judged again at its last evaluation.
pub(crate) fn judged_subjects(
    engine: &dutywatch::engine::Engine,
    client: &str,
    duty: &str,
) -> Vec<(String, String, String)> {
    let store = engine.store();
    let mut subjects: Vec<(String, String, String)> = store
        .subjects(client, duty)
        .expect("subjects")
        .into_iter()
        .map(|s| {
            let state = if s.gone_at.is_some() {
                "gone"
            } else {
                s.state.as_str()
            };
            (s.subject, state.to_owned(), s.reason)
        })
        .collect();
    let current = store
        .current_verdicts(Some(client))
        .expect("verdicts")
        .into_iter()
        .find(|v| v.duty == duty)
        .unwrap_or_else(|| panic!("no verdict for {client}/{duty}"));
    let config = engine.config();
    let contractor = config
        .contractors
        .iter()
        .find(|c| c.id == client)
        .unwrap_or_else(|| panic!("no contractor {client}"));
    let watched = contractor
        .duties
        .iter()
        .find(|d| d.id.as_str() == duty)
        .unwrap_or_else(|| panic!("no duty {duty}"));
    let judged = engine
        .verdict(contractor, watched, current.evaluated_at)
        .expect("the duty judged again");
    let met: Vec<_> = judged
        .subjects
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s.state.kind() == dutywatch_checks::verdict::StateKind::Met)
        .filter(|s| {
            !subjects
                .iter()
                .any(|(name, _, _)| name == s.subject.as_str())
        })
        .collect();
    assert_eq!(
        current.met_subjects.unwrap_or(0) as usize,
        met.len()
            + subjects
                .iter()
                .filter(|(_, state, _)| state == "met")
                .count(),
        "the stored count of met subjects of {client}/{duty}"
    );
    for subject in met {
        subjects.push((
            subject.subject.as_str().to_owned(),
            "met".to_owned(),
            subject.reason,
        ));
    }
    subjects.sort();
    subjects
}
