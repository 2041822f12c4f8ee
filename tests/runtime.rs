//! The runtime: the due sources of a pass collected concurrently with one store writer, the
//! same evidence and verdicts as one after the other; a shutdown that stops a collection
//! stuck in a long `Retry-After` or on a server that never answers, recording nothing for
//! it; a tenant's request budget shared by its sources.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use dutywatch::clock::FixedClock;
use dutywatch::daemon::{self, Command};
use dutywatch::sources::HttpPolicy;
use dutywatch::systemd::ServiceManager;
use jiff::Timestamp;

use crate::util::fake_http::{self, Reply, Request};
use crate::util::graph_server::{GraphServer, USERS, user};
use crate::util::{self, Fixture, at, ms_fixture};

const KEY: &str = "pk_live_runtime_7Hq";

fn now() -> Timestamp {
    at("2026-11-23T15:00:00Z")
}

/// Patching is the MSP's.
const CRM: &str = "\
id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification
3.14.1,msp,,Patches systems,msp,Weekly patch report,,
";

/// A portal source `id` reading `{base}/api/{id}`, and a duty on it.
fn portal_source(base: &str, id: &str) -> String {
    format!(
        r#"
[[contractor.source]]
id = "{id}"
kind = "http_json"
evidence = "patch"
url = "{base}/api/{id}"
token = {{ file = "{{dir}}/secret" }}
header = "X-API-Key"
next = "/links/next"
records_pointer = "/data/items"
fields = {{ device = "host", name = "title", severity = "sev", status = "state", pending_since = "since" }}
schedule = "0 * * * *"
max_age = "2d"

[[contractor.duty]]
id = "patched-{id}"
title = "Critical patches of {id} installed within 14 days"
objectives = ["3.14.1"]
source = "{id}"
rule = "continuous"
check = "not (severity == 'critical' and pending_since < now-14d)"
tolerance = "24h"
"#
    )
}

/// A contractor whose sources and duties are `body`, then `top` (top-level tables such as
/// `[runtime]`); the API key in the 0600 file `secret`.
fn fixture(body: &str, top: &str) -> Fixture {
    let fixture = Fixture::new();
    let dir = fixture.dir.path().display().to_string();
    let config = format!(
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
{}
{top}
"#,
        util::FILE_MAIL,
        body.replace("{dir}", &dir)
    );
    fixture.write("dutywatch.toml", &config);
    fixture.write("crm.csv", CRM);
    let secret = fixture.write("secret", &format!("{KEY}\n"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    fixture
}

/// Counts the requests in flight and holds each until `target` have been in flight together
/// (or 10 s passed, so a pool that cannot reach it fails the test rather than hangs it).
#[derive(Default)]
struct Gate {
    /// (in flight now, most in flight at once, target)
    state: Mutex<(usize, usize, usize)>,
    changed: Condvar,
}

impl Gate {
    fn reset(&self, target: usize) {
        *self.state.lock().expect("gate") = (0, 0, target);
    }

    fn most(&self) -> usize {
        self.state.lock().expect("gate").1
    }

    fn pass(&self, answer: impl FnOnce() -> Reply) -> Reply {
        let mut state = self.state.lock().expect("gate");
        state.0 += 1;
        state.1 = state.1.max(state.0);
        self.changed.notify_all();
        let deadline = Instant::now() + Duration::from_secs(10);
        while state.1 < state.2 && Instant::now() < deadline {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .expect("gate")
                .0;
        }
        drop(state);
        let reply = answer();
        self.state.lock().expect("gate").0 -= 1;
        reply
    }
}

/// The portal's answer for source `id`: one page of patches that differ by source, or a 500
/// for `broken`.
fn page(id: &str) -> Reply {
    if id == "broken" {
        return Reply::json(500, serde_json::json!({"error": "internal error"}));
    }
    let days = id.len() as i64 * 3;
    let since = (now() - jiff::SignedDuration::from_hours(24 * days)).to_string();
    let items = serde_json::json!([
        {"host": format!("{id}-WS-1"), "title": "Security update KB1", "sev": "critical", "state": "pending", "since": since},
        {"host": format!("{id}-WS-2"), "title": "Security update KB2", "sev": "low", "state": "pending", "since": since},
    ]);
    Reply::json(
        200,
        serde_json::json!({"data": {"items": items}, "links": {"next": null}}),
    )
}

/// The portal: `/api/{id}` answers [`page`]; every request goes through `gate`.
fn portal(gate: Arc<Gate>) -> String {
    fake_http::serve(move |request: &Request| {
        gate.pass(|| {
            if request.header("x-api-key") != Some(KEY) {
                return Reply::json(401, serde_json::json!({"error": "invalid API key"}));
            }
            page(request.path().trim_start_matches("/api/"))
        })
    })
}

/// What a pass left in the store, to compare two runs: the evidence rows with their chain
/// values, the collector runs, and every duty and subject state.
fn stored(fixture: &Fixture) -> Vec<String> {
    let db = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("db");
    let mut rows = Vec::new();
    for query in [
        "SELECT source || ' ' || sha256 || ' ' || chain FROM evidence ORDER BY id",
        "SELECT source || ' ' || outcome || ' ' || coalesce(error, '') FROM source_runs ORDER BY id",
        "SELECT duty || ' ' || state || ' ' || verdict FROM duty_state ORDER BY duty",
        "SELECT duty || ' ' || subject || ' ' || state || ' ' || reason FROM subject_state ORDER BY duty, subject",
    ] {
        let mut statement = db.prepare(query).expect(query);
        let found = statement
            .query_map([], |row| row.get::<_, String>(0))
            .expect(query)
            .collect::<Result<Vec<_>, _>>()
            .expect(query);
        rows.extend(found);
    }
    rows
}

#[test]
fn concurrent_collection_overlaps_up_to_its_bound_and_stores_what_one_after_the_other_does() {
    let gate = Arc::new(Gate::default());
    let base = portal(Arc::clone(&gate));
    let ids = ["a", "bb", "broken", "dddd", "eeeee", "ffffff"];
    let body: String = ids.iter().map(|id| portal_source(&base, id)).collect();

    let mut outcomes = Vec::new();
    for workers in [1, 4] {
        gate.reset(workers);
        let fixture = fixture(
            &body,
            &format!("[runtime]\nmax_concurrent_collections = {workers}"),
        );
        let mut engine = util::engine(&fixture);
        let summary = engine.cycle(now()).expect("cycle");
        assert_eq!(
            (summary.collected, summary.collection_failures),
            (5, 1),
            "{summary:?}"
        );
        assert_eq!(gate.most(), workers, "requests in flight at once");
        outcomes.push(stored(&fixture));
    }
    let (one, four) = (&outcomes[0], &outcomes[1]);
    assert!(
        one.iter().any(|row| row.starts_with("broken error "))
            && one
                .iter()
                .any(|row| row.starts_with("patched-eeeee due_soon ")),
        "{one:#?}"
    );
    assert_eq!(one, four, "same evidence, chain, runs and verdicts");
}

/// A policy that honours a `Retry-After` of an hour, so only the shutdown ends the wait.
fn patient() -> HttpPolicy {
    HttpPolicy {
        max_retry_after: Duration::from_secs(7200),
        max_total: Duration::from_secs(3 * 3600),
        ..HttpPolicy::default()
    }
}

/// A server on which `/api/stuck` answers 429 with `Retry-After: {retry_after}` and
/// `/api/hang` does not answer for ten minutes; other paths are [`page`]s. Each request is
/// announced on `arrived`.
fn stuck_server(arrived: mpsc::Sender<String>, retry_after: &str) -> String {
    let arrived = Mutex::new(arrived);
    let retry_after = retry_after.to_owned();
    fake_http::serve(move |request: &Request| {
        let path = request.path().to_owned();
        let _ = arrived.lock().expect("arrived").send(path.clone());
        match path.as_str() {
            "/api/stuck" => Reply::json(429, serde_json::json!({"error": "slow down"}))
                .header("Retry-After", &retry_after),
            "/api/hang" => Reply {
                delay: Some(Duration::from_secs(600)),
                ..Reply::json(200, "{}")
            },
            other => page(other.trim_start_matches("/api/")),
        }
    })
}

/// Waits (at most 30 s) until a request for each of `paths` has arrived.
fn waits_for(arrived: &mpsc::Receiver<String>, paths: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut missing: Vec<&str> = paths.to_vec();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match arrived.recv_timeout(left) {
            Ok(seen) => missing.retain(|path| *path != seen),
            Err(error) => panic!("no request for {missing:?}: {error}"),
        }
    }
}

/// (collector runs, evidence rows) recorded for `source`.
fn recorded(fixture: &Fixture, source: &str) -> (i64, i64) {
    let db = rusqlite::Connection::open(fixture.path("state/dutywatch.db")).expect("db");
    let count = |table: &str| {
        db.query_row(
            &format!("SELECT count(*) FROM {table} WHERE source = ?1"),
            [source],
            |row| row.get(0),
        )
        .expect(table)
    };
    (count("source_runs"), count("evidence"))
}

#[test]
fn a_cancel_wakes_a_collection_waiting_out_an_hour_long_retry_after_and_records_nothing_for_it() {
    let (sender, arrived) = mpsc::channel();
    let base = stuck_server(sender, "3600");
    let body = portal_source(&base, "stuck") + &portal_source(&base, "a");
    let fixture = fixture(&body, "");
    let mut engine = util::engine(&fixture);
    engine.set_http_policy(patient());
    let cancel = engine.cancellation();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let (outcome, logs) = crate::daemon::logs_of(|| engine.cycle(now()));
        let _ = done.send((engine, outcome, logs));
    });
    waits_for(&arrived, &["/api/stuck"]);
    let cancelled = Instant::now();
    cancel.cancel();
    let (engine, outcome, logs) = finished
        .recv_timeout(Duration::from_secs(20))
        .expect("the pass ends soon after the cancel");
    assert!(
        cancelled.elapsed() < Duration::from_secs(10),
        "{:?}",
        cancelled.elapsed()
    );
    let summary = outcome.expect("a cancelled pass is no error");
    // The other source finished whole before the cancel, or never started after it; the
    // stuck one records neither evidence nor a failure, and nothing is evaluated.
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(summary.evaluated, 0, "{summary:?}");
    assert_eq!(recorded(&fixture, "stuck"), (0, 0));
    assert!(
        logs.lines().any(
            |line| line.contains("SourceCollectCancelled") && line.contains("source=\"stuck\"")
        ),
        "{logs}"
    );
    assert_eq!(
        recorded(&fixture, "a"),
        (summary.collected as i64, summary.collected as i64)
    );
    assert!(
        engine
            .store()
            .last_run("acme", "stuck")
            .expect("runs")
            .is_none(),
        "the next start collects it again"
    );
}

#[test]
fn a_shutdown_during_a_hanging_fetch_returns_from_run_within_the_grace_and_records_nothing() {
    let (sender, arrived) = mpsc::channel();
    // Defaults everywhere (a 60 s request timeout; a Retry-After up to 120 s honoured) but
    // the grace.
    let base = stuck_server(sender, "100");
    let body = portal_source(&base, "hang") + &portal_source(&base, "stuck");
    let fixture = fixture(&body, "[runtime]\nshutdown_grace = \"1s\"");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (commands, receiver) = tokio::sync::mpsc::channel(4);
    let config_path = fixture.config_path();
    let (done, returned) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = runtime.block_on(daemon::run(
            config_path,
            Arc::new(FixedClock(now())),
            receiver,
            ServiceManager::from_env(),
        ));
        let _ = done.send(outcome.map_err(|error| format!("{error:#}")));
        // The abandoned pass thread is not waited for.
        runtime.shutdown_background();
    });
    waits_for(&arrived, &["/api/stuck", "/api/hang"]);
    let asked = Instant::now();
    commands
        .blocking_send(Command::Shutdown)
        .expect("the daemon listens");
    let outcome = returned
        .recv_timeout(Duration::from_secs(20))
        .expect("run returns");
    assert_eq!(outcome, Ok(()));
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "the grace is 1 s and the hanging request's timeout 60 s; run took {took:?}"
    );
    assert_eq!(recorded(&fixture, "hang"), (0, 0));
    assert_eq!(recorded(&fixture, "stuck"), (0, 0));
}

#[test]
fn two_graph_sources_of_one_tenant_collected_at_once_share_its_request_budget() {
    let server = GraphServer::start(ms_fixture::SECRET);
    server.set_pages(USERS, vec![vec![user("a@acme.example", true)]]);
    let sources = ["users", "users-again"]
        .iter()
        .map(|id| {
            ms_fixture::api_source(
                &server,
                id,
                "graph",
                "mfa_registration",
                "resource = \"userRegistrationDetails\"",
            )
        })
        .collect::<String>();
    let fixture = ms_fixture::fixture(now(), &sources);
    // 120 requests a minute: one every 500 ms for the tenant, whichever source sends it.
    let config = std::fs::read_to_string(fixture.config_path()).expect("config");
    fixture.write(
        "dutywatch.toml",
        &config.replace(
            "crm_file = \"crm.csv\"\n",
            "crm_file = \"crm.csv\"\ntenant_rate_limit = 120\n",
        ),
    );
    let mut engine = ms_fixture::engine(&fixture);
    let started = Instant::now();
    let summary = engine.cycle(now()).expect("cycle");
    let took = started.elapsed();
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    // Token requests and the two sources' pages: each a slot of its own.
    let requests = server.seen().len();
    assert!(requests >= 3, "{:?}", server.seen());
    let spaced = Duration::from_millis(500) * (requests as u32 - 1);
    assert!(
        took >= spaced,
        "{requests} requests of one tenant took {took:?}, less than {spaced:?}"
    );
}

#[test]
fn a_slow_first_source_lets_the_workers_run_only_a_few_collections_ahead() {
    // `/api/a` answers only once released; every other path at once. Each arrival is told.
    let (sender, arrived) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let (sender, released) = (Mutex::new(sender), Mutex::new(released));
    let base = fake_http::serve(move |request: &Request| {
        let path = request.path().to_owned();
        let _ = sender.lock().expect("sender").send(path.clone());
        if path == "/api/a" {
            let _ = released
                .lock()
                .expect("released")
                .recv_timeout(Duration::from_secs(30));
        }
        page(path.trim_start_matches("/api/"))
    });
    let ids = ["a", "b", "c", "d", "e", "f"];
    let body: String = ids.iter().map(|id| portal_source(&base, id)).collect();
    let fixture = fixture(&body, "[runtime]\nmax_concurrent_collections = 2");
    let mut engine = util::engine(&fixture);
    let pass = std::thread::spawn(move || engine.cycle(now()).map(|summary| summary.collected));
    // Two workers may run four jobs ahead of what is recorded: `a` (held) and b, c, d.
    waits_for(&arrived, &["/api/a", "/api/b", "/api/c", "/api/d"]);
    assert_eq!(
        arrived.recv_timeout(Duration::from_millis(300)).ok(),
        None,
        "a fifth collection started while the first was not recorded"
    );
    release.send(()).expect("release");
    waits_for(&arrived, &["/api/e", "/api/f"]);
    assert_eq!(pass.join().expect("pass").expect("cycle"), 6);
}
