use dutywatch_checks::incident::{Observation, Step};
use jiff::SignedDuration;

use super::super::test_util::{temp_store, ts};
use super::*;

/// The terms the tests open incidents under.
const TERMS: Terms = Terms {
    handoff_within: SignedDuration::from_hours(24),
    ack_within: SignedDuration::from_hours(4),
    subcontractor: true,
    prime_within: SignedDuration::from_hours(24),
};

fn seen(id: &str, aliases: &[&str], detected: &str) -> Observation {
    Observation {
        id: id.to_owned(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        title: Some("Phishing".to_owned()),
        severity: Some("high".to_owned()),
        classification: None,
        tags: Vec::new(),
        record_type: None,
        steps: vec![(Step::Detected, ts(detected), None)],
        ahead: Vec::new(),
        report_number: None,
    }
}

/// `by` states incident `id` detected at `detected`, as a source's newest evidence would.
fn observe(store: &mut Store, id: &str, detected: &str, by: &str) {
    let seen = seen(id, &[id], detected);
    store
        .update_incidents(
            "acme",
            &TERMS,
            &[IncidentChange::Observe {
                by,
                seen: &seen,
                reportable: true,
            }],
            ts("2026-11-23T09:05:00Z"),
            &mut |_| Vec::new(),
        )
        .unwrap()
        .unwrap();
}

fn warn_once(key: &str) -> impl FnMut(&Incident) -> Vec<IncidentMail> + '_ {
    move |incident| {
        vec![IncidentMail {
            key: format!("incident:acme:{}:{key}", incident.id),
            duty: incident.id.clone(),
            state: "due_soon",
            mail: OutgoingMail {
                to: vec!["it@acme.example".to_owned()],
                cc: Vec::new(),
                subject: format!("{}: {key}", incident.id),
                body: "hours left".to_owned(),
                ..OutgoingMail::default()
            },
        }]
    }
}

#[test]
fn the_same_incident_from_defender_and_sentinel_is_one_incident() {
    let mut t = temp_store();
    let defender = seen("2972395", &["2972395"], "2026-11-23T09:00:00Z");
    let sentinel = seen(
        "2972395",
        &["2972395", "73e01a99", "/subscriptions/s/incidents/73e01a99"],
        "2026-11-23T08:59:00Z",
    );
    let changes = [
        IncidentChange::Observe {
            by: "defender_incidents",
            seen: &defender,
            reportable: true,
        },
        IncidentChange::Observe {
            by: "sentinel_incidents",
            seen: &sentinel,
            reportable: true,
        },
    ];
    let update = t
        .store
        .update_incidents(
            "acme",
            &TERMS,
            &changes,
            ts("2026-11-23T09:05:00Z"),
            &mut warn_once("w"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(update.opened, ["2972395"]);
    assert_eq!(update.steps, 2, "each source's detection");
    assert_eq!(update.queued.len(), 1);
    let all = t.store.incidents("acme").unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].incident.detected_at(),
        Some(ts("2026-11-23T08:59:00Z")),
        "the earliest detection"
    );
    let by_alias = t.store.incident("acme", "73e01a99").unwrap().unwrap();
    assert_eq!(by_alias.incident.id, "2972395");
    assert_eq!(by_alias.aliases[0], "2972395");
    assert!(t.store.incident("other", "2972395").unwrap().is_none());
}

#[test]
fn a_restart_repeats_nothing_and_an_unreportable_record_opens_nothing() {
    let mut t = temp_store();
    let observed = seen("INC-8", &["INC-8"], "2026-11-23T09:00:00Z");
    let alert = seen("ALERT-1", &["ALERT-1"], "2026-11-23T09:00:00Z");
    let changes = [
        IncidentChange::Observe {
            by: "register",
            seen: &observed,
            reportable: true,
        },
        IncidentChange::Observe {
            by: "register",
            seen: &alert,
            reportable: false,
        },
    ];
    let first = t
        .store
        .update_incidents(
            "acme",
            &TERMS,
            &changes,
            ts("2026-11-23T09:05:00Z"),
            &mut warn_once("w"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(first.queued, ["incident:acme:INC-8:w"]);
    drop(t.store);
    let mut store = Store::open(&t.path).unwrap();
    let again = store
        .update_incidents(
            "acme",
            &TERMS,
            &changes,
            ts("2026-11-23T09:10:00Z"),
            &mut warn_once("w"),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        again,
        IncidentUpdate {
            open: 1,
            ..IncidentUpdate::default()
        },
        "nothing doubled"
    );
    let all = store.incidents("acme").unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].incident.entries.len(), 1);
    assert_eq!(
        store
            .pending_mail(ts("2026-11-24T00:00:00Z"), 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_refused_step_writes_nothing_and_the_timeline_is_append_only() {
    let mut t = temp_store();
    let at = ts("2026-11-23T09:00:00Z");
    let entry = |step, at| Entry {
        step,
        at,
        by: "chris".to_owned(),
        note: None,
        report_number: None,
    };
    let open = [IncidentChange::Open {
        id: "INC-9",
        title: Some("Ransomware note"),
        entry: entry(Step::Detected, at),
    }];
    t.store
        .update_incidents("acme", &TERMS, &open, at, &mut |_| Vec::new())
        .unwrap()
        .unwrap();
    assert!(matches!(
        t.store
            .update_incidents("acme", &TERMS, &open, at, &mut |_| Vec::new())
            .unwrap(),
        Err(IncidentRefusal::Exists(_))
    ));
    // A hand-off then an acknowledgement out of order: the hand-off is rolled back too.
    let changes = [
        IncidentChange::Step {
            id: "INC-9",
            entry: entry(Step::HandedOff, ts("2026-11-23T10:00:00Z")),
        },
        IncidentChange::Step {
            id: "INC-9",
            entry: entry(Step::PrimeNotified, ts("2026-11-23T10:00:00Z")),
        },
    ];
    let refused = t
        .store
        .update_incidents("acme", &TERMS, &changes, at, &mut warn_once("w"))
        .unwrap();
    assert!(
        matches!(refused, Err(IncidentRefusal::Step { .. })),
        "{refused:?}"
    );
    let stored = t.store.incident("acme", "INC-9").unwrap().unwrap();
    assert_eq!(stored.incident.entries.len(), 1);
    assert_eq!(
        t.store
            .pending_mail(ts("2026-11-24T00:00:00Z"), 10)
            .unwrap()
            .len(),
        0
    );
    assert!(matches!(
        t.store
            .update_incidents(
                "acme",
                &TERMS,
                &[IncidentChange::Step {
                    id: "INC-404",
                    entry: entry(Step::HandedOff, at)
                }],
                at,
                &mut |_| Vec::new()
            )
            .unwrap(),
        Err(IncidentRefusal::Unknown(_))
    ));
    let rewrite = t
        .store
        .conn
        .execute("UPDATE incident_steps SET by_whom = 'mallory'", []);
    assert!(rewrite.is_err());
    assert!(
        t.store
            .conn
            .execute("DELETE FROM incident_steps", [])
            .is_err()
    );
}

#[test]
fn the_timeline_is_chained_and_an_inserted_edited_or_removed_step_breaks_it() {
    let mut t = temp_store();
    observe(&mut t.store, "INC-1", "2026-11-23T09:00:00Z", "defender");
    observe(&mut t.store, "INC-1", "2026-11-23T08:59:00Z", "sentinel");
    observe(&mut t.store, "INC-2", "2026-11-23T09:01:00Z", "defender");
    let intact = t.store.verify_incident_chain().unwrap();
    assert_eq!(
        (intact.steps, intact.unchained, &intact.broken),
        (3, 0, &None)
    );
    assert!(intact.head.is_some());

    // A report slipped in by hand, as if it had been made.
    t.store
        .conn
        .execute(
            "INSERT INTO incident_steps (client, incident_id, step, at, by_whom, recorded_at)
             VALUES ('acme', 'INC-1', 'reported', '2026-11-24T09:00:00Z', 'DIB-FAKE',
                     '2026-11-24T09:00:00Z')",
            [],
        )
        .unwrap();
    let broken = t.store.verify_incident_chain().unwrap().broken.unwrap();
    assert!(broken.1.contains("not recorded by dutywatch"), "{broken:?}");
    t.store
        .conn
        .execute_batch(
            "DROP TRIGGER incident_steps_no_delete; DROP TRIGGER incident_steps_no_update;
             DELETE FROM incident_steps WHERE step = 'reported'",
        )
        .unwrap();
    assert_eq!(t.store.verify_incident_chain().unwrap(), intact);

    // A detection moved an hour later.
    t.store
        .conn
        .execute(
            "UPDATE incident_steps SET at = '2026-11-23T10:00:00Z' WHERE id = 1",
            [],
        )
        .unwrap();
    let broken = t.store.verify_incident_chain().unwrap().broken.unwrap();
    assert_eq!(broken.0, 1);
    assert!(broken.1.contains("the step was edited"), "{broken:?}");
    t.store
        .conn
        .execute(
            "UPDATE incident_steps SET at = '2026-11-23T09:00:00Z' WHERE id = 1",
            [],
        )
        .unwrap();
    assert_eq!(t.store.verify_incident_chain().unwrap(), intact);

    // The middle step removed.
    t.store
        .conn
        .execute("DELETE FROM incident_steps WHERE id = 2", [])
        .unwrap();
    let broken = t.store.verify_incident_chain().unwrap().broken.unwrap();
    assert_eq!(broken.0, 3);
    assert!(
        broken.1.contains("a step was removed or inserted"),
        "{broken:?}"
    );
}

#[test]
fn a_step_inserted_by_hand_before_the_chain_breaks_it() {
    let mut t = temp_store();
    observe(&mut t.store, "INC-1", "2026-11-23T09:00:00Z", "defender");
    let intact = t.store.verify_incident_chain().unwrap();
    assert_eq!((intact.steps, intact.unchained), (1, 0));
    // A report typed in by hand with an id below the chain's first step: the tester's attack
    // with `id` given. AUTOINCREMENT does not stop an explicit id.
    t.store
        .conn
        .execute(
            "INSERT INTO incident_steps (id, client, incident_id, step, at, by_whom, report_number,
                                         recorded_at)
             VALUES (0, 'acme', 'INC-1', 'reported', '2026-11-23T10:00:00Z', 'Dana', 'DIB-FAKE',
                     '2026-11-23T10:00:00Z')",
            [],
        )
        .unwrap();
    // The incident now reads as reported...
    let stored = t.store.incident("acme", "INC-1").unwrap().unwrap();
    assert!(
        stored
            .incident
            .entries
            .iter()
            .any(|e| e.report_number.as_deref() == Some("DIB-FAKE")),
        "the forged step is read as part of the timeline"
    );
    // ...and the timeline must not verify as intact (with the same head as before).
    let after = t.store.verify_incident_chain().unwrap();
    assert!(
        after.broken.is_some(),
        "forged pre-chain step passes verify: {after:?}"
    );
}

#[test]
fn steps_recorded_before_the_chain_are_folded_into_where_it_starts() {
    let mut t = temp_store();
    // As a database from before migration 0019 holds them: no chain.
    t.store
        .conn
        .execute_batch(
            "INSERT INTO incidents (client, id, title, severity, classification, reportable,
                                    opened_at, opened_by)
             VALUES ('acme', 'OLD-1', 'Old', 'high', NULL, 1, '2026-11-01T00:00:00Z', 'cli');
             INSERT INTO incident_steps (client, incident_id, step, at, by_whom, recorded_at)
             VALUES ('acme', 'OLD-1', 'detected', '2026-11-01T00:00:00Z', 'cli',
                     '2026-11-01T00:00:00Z'),
                    ('acme', 'OLD-1', 'handed_off', '2026-11-01T02:00:00Z', 'cli',
                     '2026-11-01T02:00:00Z');",
        )
        .unwrap();
    observe(&mut t.store, "INC-2", "2026-11-23T09:00:00Z", "defender");
    let intact = t.store.verify_incident_chain().unwrap();
    assert_eq!(
        (intact.steps, intact.unchained, &intact.broken),
        (1, 2, &None)
    );
    // An old step edited: the first chained step no longer follows what came before it.
    t.store
        .conn
        .execute_batch(
            "DROP TRIGGER incident_steps_no_update;
             UPDATE incident_steps SET at = '2026-11-01T05:00:00Z' WHERE step = 'handed_off'",
        )
        .unwrap();
    let broken = t.store.verify_incident_chain().unwrap().broken.unwrap();
    assert_eq!(broken.0, 3, "{broken:?}");
}

/// The terms an update opens an incident under are stored with it and read back with it;
/// a later update under other terms leaves them, and an incident stored before terms were
/// recorded reads as having none (it follows the policy in force).
#[test]
fn an_incident_keeps_the_terms_it_was_opened_under() {
    let mut t = temp_store();
    let at = ts("2026-11-23T09:00:00Z");
    let open = |id: &'static str| IncidentChange::Open {
        id,
        title: None,
        entry: Entry {
            step: Step::Detected,
            at,
            by: "chris".to_owned(),
            note: None,
            report_number: None,
        },
    };
    t.store
        .update_incidents("acme", &TERMS, &[open("INC-1")], at, &mut |_| Vec::new())
        .unwrap()
        .unwrap();
    let tighter = Terms {
        handoff_within: SignedDuration::from_hours(4),
        ack_within: SignedDuration::from_hours(1),
        subcontractor: false,
        prime_within: SignedDuration::from_hours(8),
    };
    t.store
        .update_incidents("acme", &tighter, &[open("INC-2")], at, &mut |_| Vec::new())
        .unwrap()
        .unwrap();
    fn terms_of(store: &Store, id: &str) -> Option<Terms> {
        store.incident("acme", id).unwrap().unwrap().incident.terms
    }
    let terms = |id: &str| terms_of(&t.store, id);
    assert_eq!(terms("INC-1"), Some(TERMS));
    assert_eq!(terms("INC-2"), Some(tighter));

    // A later update under other terms, one that sees INC-1 again under an alias, leaves them.
    let mut seen_again = seen("INC-1", &["INC-1", "SOC-1"], "2026-11-23T09:00:00Z");
    seen_again.title = Some("Phishing, widened".to_owned());
    t.store
        .update_incidents(
            "acme",
            &tighter,
            &[IncidentChange::Observe {
                by: "tickets",
                seen: &seen_again,
                reportable: true,
            }],
            at,
            &mut |_| Vec::new(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(terms_of(&t.store, "INC-1"), Some(TERMS));
    // Nor can they be edited afterwards.
    let edit = t.store.conn.execute(
        "UPDATE incidents SET handoff_within_secs = 86400 * 30 WHERE id = 'INC-1'",
        [],
    );
    assert!(
        edit.is_err_and(|e| e.to_string().contains("terms are fixed")),
        "the terms were edited"
    );
    assert_eq!(terms_of(&t.store, "INC-1"), Some(TERMS));

    // An incident stored before terms were recorded has none.
    t.store
        .conn
        .execute(
            "INSERT INTO incidents (client, id, reportable, opened_at, opened_by)
             VALUES ('acme', 'INC-OLD', 1, '2026-11-01T00:00:00Z', 'an older dutywatch')",
            [],
        )
        .unwrap();
    assert_eq!(terms_of(&t.store, "INC-OLD"), None);
}
