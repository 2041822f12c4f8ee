//! Verdicts that hold: unchanged evidence is not judged again before its verdict may change
//! (`engine/held.rs`), and is judged again as soon as anything it rests on moves.

use dutywatch::engine::Summary;
use dutywatch_checks::verdict::StateKind;

use crate::util::{self, MFA_BAD, at, verdict_of};

fn judged(summary: &Summary) -> (usize, usize) {
    (summary.evaluated, summary.held)
}

#[test]
fn unchanged_evidence_is_judged_again_only_when_its_verdict_may_change() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    assert_eq!(judged(&engine.cycle(now).expect("first")), (3, 0));

    // Both files collected again, same bytes and dates: nothing is read or judged.
    let summary = engine.cycle(at("2026-11-23T15:15:00Z")).expect("second");
    assert_eq!(summary.collected, 2);
    assert_eq!(judged(&summary), (0, 3));

    // The MFA export (max_age 2d, dated 15:00) turns stale at 2026-11-25T15:00Z: that duty,
    // and only it, is judged again right after.
    let summary = engine.cycle(at("2026-11-25T14:59:00Z")).expect("before");
    assert_eq!(judged(&summary), (0, 3));
    let summary = engine.cycle(at("2026-11-25T15:00:01Z")).expect("after");
    assert_eq!(judged(&summary), (1, 2));
    assert_eq!(
        verdict_of(&engine, "mfa-registered").state.kind(),
        StateKind::StaleEvidence
    );

    // The review signed off 2026-10-01 08:00 New York time is due 90 local days on
    // (2026-12-30 08:00 EST), warned 14 days before: due soon from 2026-12-16T13:00Z. The stale MFA duty's reason counts its age, so it is
    // judged at least hourly (`RELATIVE_TEXT_LAG`).
    let summary = engine.cycle(at("2026-12-16T12:59:00Z")).expect("before");
    assert_eq!(judged(&summary), (1, 2));
    assert_eq!(
        verdict_of(&engine, "access-review").state.kind(),
        StateKind::Met
    );
    // At 13:00 the review is judged (the MFA duty was at 12:59 and holds for the hour).
    let summary = engine.cycle(at("2026-12-16T13:00:00Z")).expect("at");
    assert_eq!(judged(&summary), (1, 2));
    assert_eq!(
        verdict_of(&engine, "access-review").state.kind(),
        StateKind::DueSoon
    );
}

#[test]
fn new_content_or_a_write_by_another_process_is_judged_at_once() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("first");

    // New bytes under the same modification time: a new evidence row, so the duty is judged.
    fixture.write_dated("evidence/mfa.json", MFA_BAD, now);
    let summary = engine.cycle(at("2026-11-23T15:15:00Z")).expect("changed");
    assert_eq!(judged(&summary), (1, 2));
    assert_eq!(
        verdict_of(&engine, "mfa-registered").state.kind(),
        StateKind::DueSoon
    );

    // Evidence added by hand through another process: every duty is judged again, and the
    // manual duty is met.
    fixture.write("roster.pdf", "%PDF-1.4 signed training roster");
    let output = fixture.run(&[
        "evidence",
        "add",
        "--config",
        "dutywatch.toml",
        "--duty",
        "training",
        "--file",
        "roster.pdf",
        "--by",
        "chris",
        "--done-at",
        "2026-11-01T12:00:00Z",
    ]);
    assert!(output.status.success(), "{}", util::text(&output).1);
    let summary = engine.cycle(at("2026-11-23T15:30:00Z")).expect("added");
    assert_eq!(judged(&summary), (3, 0));
    assert_eq!(verdict_of(&engine, "training").state.kind(), StateKind::Met);
}

#[test]
fn a_config_reload_judges_every_duty_again() {
    let now = at("2026-11-23T15:00:00Z");
    let fixture = util::standard(now);
    let mut engine = util::engine(&fixture);
    engine.cycle(now).expect("first");
    engine.set_config(std::sync::Arc::new(fixture.load()));
    let summary = engine.cycle(at("2026-11-23T15:15:00Z")).expect("reloaded");
    assert_eq!(judged(&summary), (3, 0));
}
