//! The access review cadence check end to end: the decisions of every instance of every
//! Entra ID Governance access review definition, read from the fake Graph in pages of 100,
//! each marked with its instance and definition, and the README's cadence duty over them:
//! met when every review of the quarter is completed and decided, a failing subject per
//! undecided decision, per review open past its end and per required review missing, and
//! never `met` when the collection fails or holds nothing.

use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use crate::util::graph_server::{self, Fault, GraphServer, REVIEW_DEFINITIONS};
use crate::util::ms_fixture::{
    SECRET, api_source, cycle, engine, fixture, gets, payloads, subject_state,
};
use crate::util::{self, at, text};

/// The clock the one-shot commands run at, so `status` and the cycle agree.
fn now() -> Timestamp {
    at(util::CLOCK)
}

/// The README's cadence duty (Built-in checks), on the decisions source.
fn config(server: &GraphServer) -> String {
    api_source(
        server,
        "entra_review_decisions",
        "graph",
        "access_review_decision",
        "resource = \"accessReviewDecisions\"",
    ) + r#"
[[contractor.duty]]
id = "access-review-cadence"
title = "Each required access review completed this quarter, every decision made"
objectives = ["3.1.1"]
party = "msp"
source = "entra_review_decisions"
rule = "continuous"
where = "instance_end >= now-92d and (instance_end <= now or instance_status == 'Completed')"
check = "instance_status == 'Completed' and (reviewed_at != null or (applied_at != null and apply_result in ['AppliedSuccessfully', 'AppliedSuccessfullyButObjectNotFound']))"
required_subjects = ["Guests quarterly", "Admins quarterly"]
required_field = "definition_name"
tolerance = "7d"
"#
}

fn definition(id: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "displayName": name,
        "status": "InProgress",
        "scope": { "@odata.type": "#microsoft.graph.accessReviewQueryScope",
                   "query": "/groups/02f3bafb-448c-487c-88c2-5fd65ce49a41/transitiveMembers",
                   "queryType": "MicrosoftGraph" },
        "settings": { "defaultDecision": "Deny", "autoApplyDecisionsEnabled": true,
                      "recurrence": { "pattern": { "type": "absoluteMonthly", "interval": 3 } } }
    })
}

fn instance(id: &str, status: &str, end: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "startDateTime": "2026-10-01T00:00:00Z",
        "endDateTime": end,
        "status": status,
    })
}

/// A decision of `instance` for `upn`, reviewed on 3 October when `reviewed`.
fn decision(instance: &str, upn: &str, reviewed: bool) -> serde_json::Value {
    graph_server::review_decision(instance, upn, reviewed.then_some("2026-10-03T09:00:00Z"))
}

fn decisions_path(definition: &str, instance: &str) -> String {
    format!("{REVIEW_DEFINITIONS}/{definition}/instances/{instance}/decisions")
}

/// Two definitions; the guests' Q4 review holds 230 decisions in pages of 100, 100 and 30
/// (the last one `undecided` when asked), the admins' one decision.
fn tenant(server: &GraphServer, undecided: bool) {
    server.set_pages(
        REVIEW_DEFINITIONS,
        vec![
            vec![definition("def-guests", "Guests quarterly")],
            vec![definition("def-admins", "Admins quarterly")],
        ],
    );
    server.set_pages(
        &format!("{REVIEW_DEFINITIONS}/def-guests/instances"),
        vec![
            vec![instance("g-q3", "Completed", "2026-07-15T00:00:00Z")],
            vec![instance("g-q4", "Completed", "2026-10-15T00:00:00Z")],
        ],
    );
    server.set_pages(
        &format!("{REVIEW_DEFINITIONS}/def-admins/instances"),
        vec![vec![instance("a-q4", "Completed", "2026-10-15T00:00:00Z")]],
    );
    let guests: Vec<serde_json::Value> = (0..230)
        .map(|i| {
            decision(
                "g-q4",
                &format!("guest{i:03}@fabrikam.com"),
                !(undecided && i == 229),
            )
        })
        .collect();
    server.set_pages(
        &decisions_path("def-guests", "g-q4"),
        guests.chunks(100).map(<[_]>::to_vec).collect(),
    );
    // Last summer's review is outside the quarter: an open decision there is not judged.
    server.set_pages(
        &decisions_path("def-guests", "g-q3"),
        vec![vec![decision("g-q3", "old@fabrikam.com", false)]],
    );
    server.set_pages(
        &decisions_path("def-admins", "a-q4"),
        vec![vec![decision("a-q4", "admin@contoso.com", true)]],
    );
}

#[test]
fn every_review_of_the_quarter_completed_and_decided_is_met_and_one_not_reviewed_fails_alone() {
    let server = GraphServer::start(SECRET);
    tenant(&server, false);
    let fixture = fixture(now(), &config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now(), "access-review-cadence");
    assert_eq!(state, StateKind::Met, "{reason}");
    let decisions_path = decisions_path("def-guests", "g-q4");
    assert_eq!(gets(&server, &decisions_path).len(), 3, "three pages");
    let stored = payloads(&fixture, "entra_review_decisions");
    let stored = stored[0]["value"].as_array().expect("a list");
    assert_eq!(stored.len(), 232, "every decision of every instance");
    let first = &stored[0];
    assert_eq!(first["instanceId"], "g-q3");
    assert_eq!(first["instanceStatus"], "Completed");
    assert_eq!(first["instanceEndDateTime"], "2026-07-15T00:00:00Z");
    assert_eq!(first["definitionId"], "def-guests");
    assert_eq!(first["definitionName"], "Guests quarterly");
    assert_eq!(first["decision"], "NotReviewed", "kept as Graph sent it");

    // The next collection: the last guest of the 230 was never reviewed.
    let server = GraphServer::start(SECRET);
    tenant(&server, true);
    let fixture = self::fixture(now(), &config(&server));
    let mut engine = self::engine(&fixture);
    let (state, reason) = cycle(&mut engine, now(), "access-review-cadence");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    let (state, why) = subject_state(
        &engine,
        "access-review-cadence",
        "g-q4 / guest229@fabrikam.com",
    );
    assert_eq!(state, StateKind::DueSoon, "{why}");
    let (state, _) = subject_state(
        &engine,
        "access-review-cadence",
        "g-q4 / guest228@fabrikam.com",
    );
    assert_eq!(state, StateKind::Met);
    drop(engine);
    let output = fixture.run(&["status", "--config", "dutywatch.toml", "--subjects"]);
    let (stdout, stderr) = text(&output);
    let line = stdout
        .lines()
        .find(|line| line.starts_with("    ") && line.contains("guest229@fabrikam.com"))
        .unwrap_or_else(|| panic!("the undecided decision is not listed:\n{stdout}\n{stderr}"));
    assert!(line.contains("due_soon"), "{line}");
}

#[test]
fn a_required_review_missing_from_the_quarter_or_open_past_its_end_is_a_failing_subject() {
    let server = GraphServer::start(SECRET);
    tenant(&server, false);
    // The admins' Q4 review is still in progress two weeks after its end.
    server.set_pages(
        &format!("{REVIEW_DEFINITIONS}/def-admins/instances"),
        vec![vec![instance("a-q4", "InProgress", "2026-11-15T00:00:00Z")]],
    );
    let fixture = fixture(
        now(),
        &config(&server).replace(
            "required_subjects = [\"Guests quarterly\", \"Admins quarterly\"]",
            "required_subjects = [\"Guests quarterly\", \"Admins quarterly\", \"Finance app\"]",
        ),
    );
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now(), "access-review-cadence");
    assert_eq!(state, StateKind::DueSoon, "{reason}");
    let (state, why) = subject_state(&engine, "access-review-cadence", "a-q4 / admin@contoso.com");
    assert_eq!(state, StateKind::DueSoon, "{why}");
    let (state, why) = subject_state(&engine, "access-review-cadence", "Finance app");
    assert_eq!(state, StateKind::DueSoon, "{why}");
    assert!(
        why.contains("has `definition_name` = 'Finance app'"),
        "{why}"
    );
}

#[test]
fn a_failed_page_is_a_source_error_and_an_empty_tenant_is_no_evidence_never_met() {
    // The second page of the guests' decisions is refused: nothing partial is stored.
    let server = GraphServer::start(SECRET);
    tenant(&server, false);
    server.fault(
        &decisions_path("def-guests", "g-q4"),
        1,
        Fault::Error(
            403,
            "Forbidden",
            "Insufficient privileges to complete the operation.",
        ),
    );
    let fixture = fixture(now(), &config(&server));
    let mut engine = engine(&fixture);
    let (state, reason) = cycle(&mut engine, now(), "access-review-cadence");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(reason.contains("AccessReview.Read.All"), "{reason}");
    assert!(payloads(&fixture, "entra_review_decisions").is_empty());

    // A cut-off page: the same.
    let server = GraphServer::start(SECRET);
    tenant(&server, false);
    server.fault(&decisions_path("def-admins", "a-q4"), 0, Fault::Truncated);
    let fixture = self::fixture(now(), &config(&server));
    let mut engine = self::engine(&fixture);
    let (state, reason) = cycle(&mut engine, now(), "access-review-cadence");
    assert_eq!(state, StateKind::SourceError, "{reason}");
    assert!(payloads(&fixture, "entra_review_decisions").is_empty());

    // Definitions, but no instance has any decision: nothing proves a review.
    let server = GraphServer::start(SECRET);
    server.set_pages(
        REVIEW_DEFINITIONS,
        vec![vec![definition("def-guests", "Guests quarterly")]],
    );
    server.set_pages(
        &format!("{REVIEW_DEFINITIONS}/def-guests/instances"),
        vec![vec![instance("g-q4", "Completed", "2026-10-15T00:00:00Z")]],
    );
    server.set_pages(&decisions_path("def-guests", "g-q4"), vec![vec![]]);
    let fixture = self::fixture(now(), &config(&server));
    let mut engine = self::engine(&fixture);
    let (state, reason) = cycle(&mut engine, now(), "access-review-cadence");
    assert_eq!(state, StateKind::NoEvidence, "{reason}");
}

#[test]
fn a_required_field_that_is_unknown_not_text_or_without_required_subjects_is_a_config_error() {
    let server = GraphServer::start(SECRET);
    let duty = |id: &str, keys: &str| {
        format!(
            r#"
[[contractor.duty]]
id = "{id}"
title = "Access review cadence"
objectives = ["3.1.1"]
party = "msp"
source = "entra_review_decisions"
rule = "continuous"
check = "reviewed_at != null"
tolerance = "7d"
{keys}
"#
        )
    };
    let config = api_source(
        &server,
        "entra_review_decisions",
        "graph",
        "access_review_decision",
        "resource = \"accessReviewDecisions\"",
    ) + &duty(
        "typo",
        "required_subjects = [\"Guests\"]\nrequired_field = \"definition_nme\"",
    ) + &duty(
        "not-text",
        "required_subjects = [\"Guests\"]\nrequired_field = \"instance_end\"",
    ) + &duty("alone", "required_field = \"definition_name\"");
    let fixture = fixture(now(), &config);
    let output = fixture.run(&["check-config", "--config", "dutywatch.toml"]);
    let (stdout, stderr) = text(&output);
    let all = format!("{stdout}{stderr}");
    assert!(!output.status.success(), "{all}");
    for expected in [
        "duty[typo].required_field: `definition_nme` is not a field of `access_review_decision` evidence; did you mean `definition_name`?",
        "duty[not-text].required_field: `instance_end` is a timestamp field; `required_field` needs a text field",
        "duty[alone].required_field: `required_field` says which field the values of `required_subjects` are",
    ] {
        assert!(all.contains(expected), "{expected}\n{all}");
    }
}
