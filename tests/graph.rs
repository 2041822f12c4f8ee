//! The `graph` source against the fake Graph in `util::graph_server`: paging, throttling,
//! token refresh, whole-or-failed collections, the client secret kept out of everything.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use dutywatch::config::{self, Secrets, SourceKind};
use dutywatch::engine::Engine;
use dutywatch::sources::HttpPolicy;
use dutywatch_checks::verdict::StateKind;
use jiff::{SignedDuration, Timestamp};

use crate::util::graph_server::{CLIENT_ID, Fault, GraphServer, POLICIES, TENANT, USERS, user};
use crate::util::{self, Fixture, at, text};

const SECRET: &str = "Qx8~graph-client-secret-7dB2.vR";

/// The contractor config of `util` with its `mfa` source read from `server` instead of a file.
fn graph_config(server: &GraphServer, extra_source_keys: &str) -> String {
    let file_source =
        "kind = \"file\"\nevidence = \"mfa_registration\"\npath = \"evidence/mfa.json\"";
    let config = util::contractor_config("");
    assert!(config.contains(file_source));
    config.replace(
        file_source,
        &format!(
            r#"kind = "graph"
evidence = "mfa_registration"
tenant = "{TENANT}"
client_id = "{CLIENT_ID}"
client_secret = {{ file = "graph-secret" }}
resource = "userRegistrationDetails"
graph_url = "{}"
token_url = "{}"
{extra_source_keys}"#,
            server.base,
            server.token_url()
        ),
    )
}

fn fixture(server: &GraphServer, now: Timestamp) -> Fixture {
    let fixture = Fixture::new();
    fixture.write(
        "dutywatch.toml",
        &in_fixture(&fixture, &graph_config(server, "")),
    );
    fixture.write("crm.csv", util::CRM);
    fixture.write_dated("evidence/reviews.csv", util::REVIEWS, now);
    let secret = fixture.write("graph-secret", &format!("{SECRET}\n"));
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    fixture
}

/// `config` with the secret file's absolute path (secret paths are taken as written, as the
/// SMTP password's are).
fn in_fixture(fixture: &Fixture, config: &str) -> String {
    config.replace(
        "{ file = \"graph-secret\" }",
        &format!(
            "{{ file = \"{}\" }}",
            fixture.path("graph-secret").display()
        ),
    )
}

/// Back-off in milliseconds, so the tests do not wait on it.
fn fast() -> HttpPolicy {
    HttpPolicy {
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(20),
        request_timeout: Duration::from_secs(10),
        ..HttpPolicy::default()
    }
}

fn engine(fixture: &Fixture) -> Engine {
    let mut engine = util::engine(fixture);
    engine.set_http_policy(fast());
    engine
}

fn two_pages(server: &GraphServer) {
    server.set_pages(
        USERS,
        vec![
            vec![user("a@acme.example", true)],
            vec![user("b@acme.example", false)],
        ],
    );
}

/// (origin, payload) of every stored `mfa` snapshot.
fn snapshots(fixture: &Fixture) -> Vec<(String, serde_json::Value)> {
    util::stored_payloads(fixture, "mfa")
        .into_iter()
        .map(|(origin, payload)| {
            (
                origin,
                serde_json::from_slice(&payload).expect("stored JSON"),
            )
        })
        .collect()
}

fn state_of(engine: &Engine, duty: &str) -> (StateKind, String) {
    let verdict = util::verdict_of(engine, duty);
    (verdict.state.kind(), verdict.reason)
}

fn graph_gets(server: &GraphServer) -> Vec<String> {
    server
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "GET")
        .map(|seen| seen.target)
        .collect()
}

#[test]
fn two_pages_are_one_snapshot_and_the_unregistered_user_is_due_soon() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");

    assert_eq!(state_of(&engine, "mfa-registered").0, StateKind::DueSoon);
    let history = |who: &str| {
        engine
            .store()
            .subject_history("acme", "mfa-registered", who)
            .expect("history")
            .into_iter()
            .map(|(_, from, to)| (from, to))
            .collect::<Vec<_>>()
    };
    assert_eq!(history("b@acme.example"), [(None, "due_soon".to_owned())]);
    assert_eq!(
        history("a@acme.example"),
        [],
        "a subject first met is no change"
    );
    let stored = snapshots(&fixture);
    assert_eq!(stored.len(), 1, "one snapshot for both pages");
    let (origin, payload) = &stored[0];
    assert_eq!(origin, &format!("{}{USERS}", server.base));
    assert_eq!(
        payload,
        &serde_json::json!({"value": [user("a@acme.example", true), user("b@acme.example", false)]})
    );

    // One token, both pages with it; the second by its nextLink as given.
    assert_eq!(server.token_requests(), 1);
    assert_eq!(
        graph_gets(&server),
        [USERS.to_owned(), format!("{USERS}?$skiptoken=page1")]
    );
    let token = server
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .expect("token request");
    for field in [
        "grant_type=client_credentials",
        &format!("client_id={CLIENT_ID}"),
        "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
    ] {
        assert!(token.body.contains(field), "{}", token.body);
    }
    assert!(
        server
            .seen()
            .iter()
            .filter(|s| s.method == "GET")
            .all(|s| s.authorization.as_deref() == Some("Bearer eyJ0.fake-token-1"))
    );

    // The cached token serves the next collection.
    engine
        .cycle(now + SignedDuration::from_hours(1))
        .expect("cycle");
    assert_eq!(server.token_requests(), 1);
}

#[test]
fn throttling_is_waited_out_with_and_without_retry_after() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(USERS, 0, Fault::Throttle(Some("1".to_owned())));
    // Conditional Access style: no Retry-After, so the (test-short) back-off.
    server.fault(USERS, 1, Fault::Throttle(None));
    server.fault(USERS, 1, Fault::Throttle(None));
    // An HTTP date, read against the pass's `now`: the date just past, so at once.
    let date = now.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
    server.fault(USERS, 1, Fault::Unavailable(Some(date)));
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    let started = std::time::Instant::now();
    let summary = engine.cycle(now).expect("cycle");
    let took = started.elapsed();
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 honoured: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "no long waits: {took:?}");
    assert_eq!(graph_gets(&server).len(), 6, "{:?}", graph_gets(&server));
    assert_eq!(snapshots(&fixture).len(), 1);
    assert_eq!(state_of(&engine, "mfa-registered").0, StateKind::DueSoon);
}

#[test]
fn throttling_past_the_bounds_is_a_source_error() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    for _ in 0..10 {
        server.fault(USERS, 0, Fault::Throttle(None));
    }
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("still HTTP 429 after 6 retries"),
        "{reason}"
    );
    assert_eq!(graph_gets(&server).len(), 7);

    // A Retry-After longer than dutywatch waits is not slept through.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(USERS, 0, Fault::Throttle(Some("3600".to_owned())));
    let fixture = self::fixture(&server, now);
    let mut engine = self::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("asks to retry after 3600 s, longer than the 120 s dutywatch waits"),
        "{reason}"
    );
}

#[test]
fn an_expired_token_is_refreshed_once() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(USERS, 1, Fault::ExpireTokens);
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(server.token_requests(), 2);
    let auth: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .map(|s| (s.target, s.authorization.unwrap_or_default()))
        .collect();
    let page2 = format!("{USERS}?$skiptoken=page1");
    assert_eq!(
        auth,
        [
            (USERS.to_owned(), "Bearer eyJ0.fake-token-1".to_owned()),
            (page2.clone(), "Bearer eyJ0.fake-token-1".to_owned()),
            (page2, "Bearer eyJ0.fake-token-2".to_owned()),
        ]
    );
    assert_eq!(snapshots(&fixture).len(), 1);

    // A 401 that a fresh token does not cure is refreshed for once, then a source error.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    for _ in 0..3 {
        server.fault(
            USERS,
            0,
            Fault::Error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            ),
        );
    }
    let fixture = self::fixture(&server, now);
    let mut engine = self::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(reason.contains("HTTP 401 InvalidAuthenticationToken: Access token validation failure.; refused even with a new token"), "{reason}");
    assert_eq!(server.token_requests(), 2);
    assert_eq!(graph_gets(&server).len(), 2);
    assert!(snapshots(&fixture).is_empty());
}

#[test]
fn a_failure_on_page_two_is_a_source_error_and_stores_no_partial_snapshot() {
    let t0 = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    server.set_pages(
        USERS,
        vec![
            vec![user("a@acme.example", true)],
            vec![user("b@acme.example", true)],
        ],
    );
    let fixture = fixture(&server, t0);
    let mut engine = engine(&fixture);
    engine.cycle(t0).expect("cycle");
    assert_eq!(state_of(&engine, "mfa-registered").0, StateKind::Met);
    assert_eq!(snapshots(&fixture).len(), 1);

    // Page 1 of the next collection would drop b; page 2 fails.
    server.set_pages(USERS, vec![vec![user("a@acme.example", true)], vec![]]);
    server.fault(
        USERS,
        1,
        Fault::Error(500, "generalException", "An unexpected error occurred."),
    );
    let t1 = t0 + SignedDuration::from_hours(1);
    let summary = engine.cycle(t1).expect("cycle");
    assert_eq!(summary.collection_failures, 1, "{summary:?}");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(&format!("page 2 ({}{USERS}?$skiptoken=page1): HTTP 500 generalException: An unexpected error occurred.", server.base)),
        "{reason}"
    );
    assert_eq!(
        snapshots(&fixture).len(),
        1,
        "nothing of the failed run is stored"
    );

    // A permission Graph says is missing is named.
    server.fault(
        USERS,
        0,
        Fault::Error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
    );
    engine
        .cycle(t1 + SignedDuration::from_hours(1))
        .expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("grant the app registration the application permission AuditLog.Read.All"),
        "{reason}"
    );
    assert_eq!(snapshots(&fixture).len(), 1);
}

/// Every byte `once` leaves: its output and log (at debug), the database, the mail.
fn everything_written(fixture: &Fixture, output: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    for dir in ["state", "outbox"] {
        for entry in std::fs::read_dir(fixture.path(dir)).into_iter().flatten() {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

fn once(fixture: &Fixture) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args(["once", "--config", "dutywatch.toml", "--clock", util::CLOCK])
        .current_dir(fixture.dir.path())
        .env_remove("DUTYWATCH_CONFIG")
        .env_remove("STATE_DIRECTORY")
        .env("DUTYWATCH_LOG", "debug")
        .output()
        .expect("the dutywatch binary runs")
}

#[test]
fn the_client_secret_never_reaches_logs_errors_mail_or_the_database() {
    let now = at(util::CLOCK);
    // A good run: the secret goes to the token endpoint and nowhere else.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    let fixture = fixture(&server, now);
    let output = once(&fixture);
    let written = everything_written(&fixture, &output);
    assert!(written.contains("SourceCollected"), "{written}");
    assert!(
        written.contains("b@acme.example"),
        "the mail and database hold the evidence"
    );
    assert!(!written.contains(SECRET), "{written}");
    let posts: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.body.contains("client_secret"))
        .collect();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].target.ends_with("/oauth2/v2.0/token"));
    assert!(server.seen().iter().all(|s| !s.target.contains("Qx8")
        && !s.authorization.clone().unwrap_or_default().contains("Qx8")));

    // A token endpoint that refuses it and echoes it back: refused, named, not repeated.
    let server = GraphServer::start("the-right-secret");
    two_pages(&server);
    let fixture = self::fixture(&server, now);
    let output = once(&fixture);
    let written = everything_written(&fixture, &output);
    assert!(
        written.contains(
            "invalid_client: AADSTS7000215: Invalid client secret provided: '[redacted]'"
        ),
        "{written}"
    );
    assert!(!written.contains(SECRET), "{written}");
}

#[test]
fn plain_http_is_refused_except_to_loopback() {
    let server = GraphServer::start(SECRET);
    let fixture = fixture(&server, at(util::CLOCK));
    let path = fixture.config_path();
    for (key, url) in [
        ("graph_url", "http://graph.microsoft.com"),
        (
            "token_url",
            "http://login.microsoftonline.com/contoso/oauth2/v2.0/token",
        ),
    ] {
        let text = graph_config(&server, "").replace(
            &format!(
                "{key} = \"{}\"",
                if key == "graph_url" {
                    server.base.clone()
                } else {
                    server.token_url()
                }
            ),
            &format!("{key} = \"{url}\""),
        );
        let errors = config::parse_with(&path, &text, &|_| None, Secrets::Skip)
            .expect_err("plain http to another host")
            .to_string();
        assert!(errors.contains(&format!("{key}: `{url}")), "{errors}");
        assert!(errors.contains("is plain HTTP: the bearer token and client secret would cross the network in clear text"), "{errors}");
    }
}

#[test]
fn clouds_preset_the_graph_and_login_hosts() {
    let server = GraphServer::start(SECRET);
    let fixture = fixture(&server, at(util::CLOCK));
    let without_overrides = graph_config(&server, "")
        .replace(&format!("graph_url = \"{}\"\n", server.base), "")
        .replace(&format!("token_url = \"{}\"\n", server.token_url()), "");
    for (cloud, graph, login) in [
        (
            "",
            "https://graph.microsoft.com",
            "https://login.microsoftonline.com",
        ),
        (
            "cloud = \"gcc\"",
            "https://graph.microsoft.com",
            "https://login.microsoftonline.com",
        ),
        (
            "cloud = \"gcc_high\"",
            "https://graph.microsoft.us",
            "https://login.microsoftonline.us",
        ),
        (
            "cloud = \"dod\"",
            "https://dod-graph.microsoft.us",
            "https://login.microsoftonline.us",
        ),
    ] {
        let text = without_overrides.replace(
            "resource = \"userRegistrationDetails\"",
            &format!("resource = \"conditionalAccessPolicies\"\n{cloud}"),
        );
        let config = config::parse_with(&fixture.config_path(), &text, &|_| None, Secrets::Skip)
            .unwrap_or_else(|e| panic!("{cloud}: {e}"));
        let source = config.contractors[0].source("mfa").expect("source");
        let SourceKind::Graph(graph_source) = &source.kind else {
            panic!("a graph source");
        };
        assert_eq!(graph_source.url.as_str(), format!("{graph}{POLICIES}"));
        assert_eq!(
            graph_source.token_url.as_str(),
            format!("{login}/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(graph_source.scope, format!("{graph}/.default"));
        assert_eq!(graph_source.permission, Some("Policy.Read.All"));
    }
}

#[test]
fn check_config_from_an_admin_shell_leaves_a_credential_unread() {
    let server = GraphServer::start(SECRET);
    let fixture = fixture(&server, at(util::CLOCK));
    fixture.write(
        "dutywatch.toml",
        &graph_config(&server, "").replace(
            "client_secret = { file = \"graph-secret\" }",
            "client_secret = { credential = \"graph-client-secret\" }",
        ),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = util::text(&output);
    // (It exits 1 over the small CRM's unowned requirements, not over the source.)
    assert!(!stderr.contains("client_secret"), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "source[mfa]: collected from {}{USERS} (not called by check-config)",
            server.base
        )),
        "{stdout}"
    );
    assert!(server.seen().is_empty(), "check-config calls no API");

    // A missing secret file is a config error for what collects.
    std::fs::remove_file(fixture.path("graph-secret")).expect("rm");
    fixture.write(
        "dutywatch.toml",
        &in_fixture(&fixture, &graph_config(&server, "")),
    );
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = util::text(&output);
    assert!(!output.status.success());
    assert!(!stdout.contains("configuration OK"), "{stdout}");
    assert!(
        format!("{stdout}{stderr}")
            .contains("cannot resolve the client secret: cannot read secret file"),
        "{stdout}{stderr}"
    );

    // Written relative, it is looked for beside the config: the error names that file and
    // why the OS would not open it, as a `crm_file` error does.
    fixture.write("dutywatch.toml", &graph_config(&server, ""));
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = util::text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "cannot resolve the client secret: cannot read secret file `{}`: No such file or directory (os error 2)",
            fixture.path("graph-secret").display()
        )),
        "{stdout}{stderr}"
    );
}

#[test]
fn a_next_link_to_another_host_a_response_over_max_bytes_and_a_hang_are_source_errors() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(
        USERS,
        0,
        Fault::NextLink("https://graph.evil.example/v1.0/users?$skiptoken=x".to_owned()),
    );
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(&format!(
            "`@odata.nextLink` leads to `https://graph.evil.example`, away from `{}`; refused",
            server.base
        )),
        "{reason}"
    );
    assert_eq!(
        graph_gets(&server).len(),
        1,
        "the foreign link is not called"
    );
    assert!(snapshots(&fixture).is_empty());

    // A link back to the page itself.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(USERS, 0, Fault::NextLink(format!("{}{USERS}", server.base)));
    let fixture = self::fixture(&server, now);
    let mut engine = self::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("names this same page; the pages do not advance"),
        "{reason}"
    );
    assert!(snapshots(&fixture).is_empty());

    // Both pages together pass max_bytes.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    let fixture = self::fixture(&server, now);
    fixture.write(
        "dutywatch.toml",
        &in_fixture(&fixture, &graph_config(&server, "max_bytes = 900")),
    );
    let mut engine = self::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 2 (")
            && reason.contains("the pages pass the source's `max_bytes` of 900 bytes"),
        "{reason}"
    );
    assert!(snapshots(&fixture).is_empty());

    // A page that does not come within the request timeout.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(USERS, 1, Fault::Hang(Duration::from_secs(1)));
    let fixture = self::fixture(&server, now);
    let mut engine = util::engine(&fixture);
    engine.set_http_policy(HttpPolicy {
        request_timeout: Duration::from_millis(300),
        ..fast()
    });
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 2 (") && reason.contains("no complete answer within 0.3 s"),
        "{reason}"
    );
    assert!(snapshots(&fixture).is_empty());
}

#[test]
fn a_world_readable_secret_file_is_said_once_even_by_a_one_shot_command() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    let fixture = fixture(&server, now);
    std::fs::set_permissions(
        fixture.path("graph-secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    // At the one-shot commands' own log level (the tests' `fixture.run` sets `warn`).
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args([
            "check-config",
            "--config",
            "dutywatch.toml",
            "--clock",
            util::CLOCK,
        ])
        .current_dir(fixture.path(""))
        .env_remove("DUTYWATCH_LOG")
        .env_remove("RUST_LOG")
        .env_remove("DUTYWATCH_CONFIG")
        .output()
        .expect("runs");
    // (It also reports the fixture's small CRM, which leaves most objectives unowned.)
    let (stdout, stderr) = text(&output);
    let said = format!("{stdout}{stderr}")
        .matches("secret file is world-readable; chmod 0600 it or use a systemd credential")
        .count();
    assert_eq!(said, 1, "{stdout}{stderr}");
    assert!(!stderr.contains(SECRET), "the secret itself is never shown");
}

#[test]
fn a_reload_says_again_that_a_secret_file_is_world_readable() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    let fixture = fixture(&server, now);
    std::fs::set_permissions(
        fixture.path("graph-secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let ((), logs) = crate::daemon::logs_of(|| {
        let mut daemon =
            dutywatch::daemon::Daemon::start(fixture.config_path(), fixture.load(), now)
                .expect("starts");
        daemon
            .reload(now + SignedDuration::from_mins(5))
            .expect("the same config reloads");
    });
    let said = logs
        .matches("secret file is world-readable; chmod 0600 it or use a systemd credential")
        .count();
    assert_eq!(said, 2, "once at start, once at the reload: {logs}");
    assert!(!logs.contains(SECRET), "the secret itself is never shown");
}

#[test]
fn a_token_lifetime_too_large_is_capped_and_one_that_is_no_number_is_said() {
    let now = at("2026-11-23T15:00:00Z");
    // u64::MAX, i64::MAX and the string form: more than an `Instant` can hold, capped.
    for huge in [
        serde_json::json!(u64::MAX),
        serde_json::json!(i64::MAX),
        serde_json::json!("18446744073709551615"),
        serde_json::json!("99999999999999999999999"),
    ] {
        let server = GraphServer::start(SECRET);
        two_pages(&server);
        server.set_expires_in(huge.clone());
        let fixture = fixture(&server, now);
        let mut engine = engine(&fixture);
        let summary = engine.cycle(now).expect("cycle");
        assert_eq!(summary.collection_failures, 0, "{huge}: {summary:?}");
        assert_eq!(state_of(&engine, "mfa-registered").0, StateKind::DueSoon);
        // The capped token is cached: the next collection asks for none.
        engine
            .cycle(now + SignedDuration::from_hours(1))
            .expect("cycle");
        assert_eq!(server.token_requests(), 1, "{huge}");
    }
    for (odd, said) in [
        (serde_json::json!(-5), "-5"),
        (serde_json::json!("abc"), "\"abc\""),
        (serde_json::json!(1e10), "10000000000.0"),
    ] {
        let server = GraphServer::start(SECRET);
        two_pages(&server);
        server.set_expires_in(odd.clone());
        let fixture = fixture(&server, now);
        let mut engine = engine(&fixture);
        engine.cycle(now).expect("cycle");
        let (state, reason) = state_of(&engine, "mfa-registered");
        assert_eq!(state, StateKind::SourceError, "{reason}");
        assert!(
            reason.contains(&format!(
                "the answer's `expires_in` is {said}, not a whole number of seconds"
            )),
            "{odd}: {reason}"
        );
    }
}

#[test]
fn a_bearer_token_a_server_or_proxy_echoes_is_not_repeated() {
    let now = at("2026-11-23T15:00:00Z");
    for (status, body) in [
        // Graph's envelope, its message quoting the header it was sent.
        (
            403,
            r#"{"error":{"code":"Authorization_RequestDenied","message":"The token in {authorization} lacks AuditLog.Read.All"}}"#,
        ),
        // A proxy's error page quoting the request.
        (
            502,
            "<html><body><h1>502 Bad Gateway</h1><pre>GET /v1.0/reports HTTP/1.1\nAuthorization: {authorization}</pre></body></html>",
        ),
    ] {
        let server = GraphServer::start(SECRET);
        two_pages(&server);
        server.fault(USERS, 1, Fault::Raw(status, body.to_owned()));
        let fixture = fixture(&server, now);
        let mut engine = engine(&fixture);
        engine.cycle(now).expect("cycle");
        let (state, reason) = state_of(&engine, "mfa-registered");
        assert_eq!(state, StateKind::SourceError, "{reason}");
        assert!(
            reason.contains(&format!("HTTP {status}")) && reason.contains("Bearer [redacted]"),
            "{reason}"
        );
        assert!(!reason.contains("fake-token"), "{reason}");
        assert!(!reason.contains(SECRET), "{reason}");
    }
}

#[test]
fn loopback_requests_never_go_through_the_environments_proxy() {
    // A proxy that hears every request and answers none of them as asked.
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let proxy = {
        let heard = std::sync::Arc::clone(&heard);
        util::fake_http::serve(move |request| {
            heard
                .lock()
                .expect("heard")
                .push(format!("{} {}", request.method, request.target));
            util::fake_http::Reply::json(502, "{}")
        })
    };
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    let fixture = fixture(&server, at(util::CLOCK));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dutywatch"))
        .args(["once", "--config", "dutywatch.toml", "--clock", util::CLOCK])
        .current_dir(fixture.dir.path())
        .env_remove("DUTYWATCH_CONFIG")
        .env_remove("STATE_DIRECTORY")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("HTTP_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .env("HTTPS_PROXY", &proxy)
        .env("ALL_PROXY", &proxy)
        .output()
        .expect("the dutywatch binary runs");
    let written = everything_written(&fixture, &output);
    assert!(
        heard.lock().expect("heard").is_empty(),
        "the proxy heard {:?}",
        heard.lock().expect("heard")
    );
    assert!(written.contains("b@acme.example"), "collected: {written}");
    assert_eq!(server.token_requests(), 1);
}

#[test]
fn a_key_twice_in_a_page_is_ambiguous_and_a_bom_is_read() {
    let now = at("2026-11-23T15:00:00Z");
    // Last-wins would read b as registered.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(
        USERS,
        1,
        Fault::Raw(
            200,
            r#"{"value":[{"id":"id-b","userPrincipalName":"b@acme.example","userType":"member","isMfaRegistered":false,"methodsRegistered":[],"isMfaRegistered":true}]}"#
                .to_owned(),
        ),
    );
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 2 (")
            && reason.contains("the key `isMfaRegistered` appears twice in `value[0]`"),
        "{reason}"
    );
    assert!(snapshots(&fixture).is_empty());

    // A UTF-8 BOM before the JSON, as a saved file may have it.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    let page = serde_json::json!({ "value": [user("b@acme.example", false)] });
    server.fault(USERS, 1, Fault::Raw(200, format!("\u{feff}{page}")));
    let fixture = self::fixture(&server, now);
    let mut engine = self::engine(&fixture);
    let summary = engine.cycle(now).expect("cycle");
    assert_eq!(summary.collection_failures, 0, "{summary:?}");
    assert_eq!(state_of(&engine, "mfa-registered").0, StateKind::DueSoon);
}

#[test]
fn next_links_that_go_round_in_a_loop_are_a_source_error() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    server.set_pages(
        USERS,
        vec![
            vec![user("a@acme.example", true)],
            vec![user("b@acme.example", true)],
            vec![user("c@acme.example", true)],
        ],
    );
    // Page 3 links back to page 2: B → C → B.
    let page_two = format!("{}{USERS}?$skiptoken=page1", server.base);
    server.fault(USERS, 2, Fault::NextLink(page_two.clone()));
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 3 (")
            && reason.contains(&format!(
                "leads back to a page read before ({page_two}); the pages go round in a loop"
            )),
        "{reason}"
    );
    assert_eq!(graph_gets(&server).len(), 3, "no page is read twice");
    assert!(snapshots(&fixture).is_empty());
}

#[test]
fn control_characters_in_a_servers_words_are_written_out() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    // An ESC sequence that clears the screen, a CR LF that starts a forged line, a NUL.
    server.fault(
        USERS,
        0,
        Fault::Raw(
            403,
            r#"{"error":{"code":"Denied\u001b[31m","message":"No.\u001b[2J\r\nmfa-registered: met\u0000"}}"#.to_owned(),
        ),
    );
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(r"HTTP 403 Denied\u{1b}[31m: No.\u{1b}[2J\r\nmfa-registered: met\u{0}"),
        "{reason}"
    );
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
}

#[test]
fn a_stalled_body_an_oversized_token_answer_and_a_redirect_say_what_they_are() {
    let now = at("2026-11-23T15:00:00Z");
    // The headers come, the body does not.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(USERS, 1, Fault::Stall(Duration::from_secs(2)));
    let fixture = fixture(&server, now);
    let mut engine = util::engine(&fixture);
    engine.set_http_policy(HttpPolicy {
        request_timeout: Duration::from_millis(300),
        ..fast()
    });
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("page 2 (") && reason.contains("no complete answer within 0.3 s"),
        "{reason}"
    );

    // A token answer over its own 64 KiB: not the source's `max_bytes`.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.set_expires_in(serde_json::json!("9".repeat(70_000)));
    let fixture = self::fixture(&server, now);
    let mut engine = self::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(
            "the token answer is larger than the 64 KiB (65536 bytes) dutywatch reads of one"
        ) && !reason.contains("max_bytes"),
        "{reason}"
    );

    // A redirect, named by the host it points to.
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.fault(
        USERS,
        0,
        Fault::Redirect("https://login.example.net/sso?session=abc".to_owned()),
    );
    let fixture = self::fixture(&server, now);
    let mut engine = self::engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains(
            "HTTP 302, a redirect to `https://login.example.net`; dutywatch follows no redirects"
        ) && !reason.contains("session=abc"),
        "{reason}"
    );
}

#[test]
fn an_access_token_no_header_can_carry_is_refused_at_the_token_answer() {
    let now = at("2026-11-23T15:00:00Z");
    let server = GraphServer::start(SECRET);
    two_pages(&server);
    server.set_access_token("eyJ0.fake\r\nX-Injected: 1");
    let fixture = fixture(&server, now);
    let mut engine = engine(&fixture);
    engine.cycle(now).expect("cycle");
    let (state, reason) = state_of(&engine, "mfa-registered");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(
        reason.contains("token request to ")
            && reason.contains(
                "the answer's `access_token` holds a space, a control character or non-ASCII"
            ),
        "{reason}"
    );
    assert!(!reason.contains("X-Injected"), "{reason}");
    assert_eq!(graph_gets(&server).len(), 0, "no page is asked with it");
}
