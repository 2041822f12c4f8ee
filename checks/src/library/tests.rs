use super::*;
use crate::crm::Crm;
use crate::duty::{Continuous, Quantifier};

fn req(text: &str) -> RequirementId {
    text.parse().unwrap()
}

fn obj(text: &str) -> ObjectiveId {
    text.parse().unwrap()
}

fn lib() -> &'static Library {
    library().unwrap()
}

#[test]
fn every_row_of_the_file_parses_and_names_catalog_requirements() {
    let library = library().unwrap_or_else(|e| panic!("{e}"));
    // 60 lines: the header and 59 rows, four of them program-level (CRM, affirmation, POA&M
    // closeout, reassessment).
    assert_eq!(library.entries().len(), 59);
    let program: Vec<&str> = library
        .entries()
        .iter()
        .filter(|e| e.requirements.is_empty())
        .map(|e| e.label.as_str())
        .collect();
    assert_eq!(
        program,
        [
            "CRM / ESP documentation",
            "Annual affirmation",
            "POA&M closeout",
            "L2 reassessment"
        ]
    );
    for entry in library.entries() {
        assert!(!entry.kinds.is_empty(), "line {}", entry.line);
        assert!(
            entry.cadence.approx_secs() <= YEAR_SECS,
            "line {}: {}",
            entry.line,
            entry.cadence
        );
        for requirement in &entry.requirements {
            assert!(
                catalog::requirement(*requirement).is_some(),
                "{requirement}"
            );
            assert_eq!(library.entry(*requirement), Some(entry));
        }
    }
    // `3.5.7-3.5.9` is a range.
    assert_eq!(library.entry(req("3.5.8")).unwrap().label, "3.5.7-3.5.9");
    assert_eq!(library.entry(req("3.1.3")), None);
}

#[test]
fn each_default_cadence_says_where_it_comes_from() {
    let cases = [
        // requirement, kind, cadence, origin
        (
            "3.1.1",
            DutyKind::Recurring,
            "3 months",
            Origin::FedrampModerate,
        ),
        ("3.1.8", DutyKind::Continuous, "7d", Origin::CommonPractice),
        ("3.1.12", DutyKind::Continuous, "1d", Origin::CommonPractice),
        (
            "3.2.1",
            DutyKind::Recurring,
            "1 year",
            Origin::FedrampModerate,
        ),
        ("3.3.5", DutyKind::Recurring, "7d", Origin::FedrampModerate),
        ("3.4.3", DutyKind::Event, "1 month", Origin::AssessmentGuide),
        ("3.5.5", DutyKind::Continuous, "1 year", Origin::NotGiven),
        ("3.6.2", DutyKind::Event, "1 year", Origin::NotGiven),
        (
            "3.11.1",
            DutyKind::Recurring,
            "1 year",
            Origin::AssessmentGuide,
        ),
        (
            "3.12.4",
            DutyKind::Recurring,
            "1 year",
            Origin::AssessmentGuide,
        ),
        (
            "3.13.11",
            DutyKind::Continuous,
            "1 month",
            Origin::CommonPractice,
        ),
        ("3.14.1", DutyKind::Event, "7d", Origin::AssessmentGuide),
        ("3.14.5", DutyKind::Recurring, "7d", Origin::FedrampModerate),
    ];
    for (requirement, kind, cadence, origin) in cases {
        let default = lib().default_for(req(requirement));
        assert_eq!(
            (default.kind, default.cadence.to_string(), default.origin),
            (Some(kind), cadence.to_owned(), origin),
            "{requirement}"
        );
    }
    // Not in the file: a one-year recurring attestation, saying so.
    let default = lib().default_for(req("3.1.3"));
    assert_eq!(
        (default.kind, default.cadence.to_string(), default.origin),
        (None, "1 year".to_owned(), Origin::NotGiven)
    );
    // A daily check is attested weekly by hand.
    assert_eq!(lib().attestation_cadence(req("3.1.12")).to_string(), "7d");
    assert_eq!(
        lib().attestation_cadence(req("3.1.1")).to_string(),
        "3 months"
    );
}

#[test]
fn a_cadence_longer_than_a_year_is_refused_per_32_cfr_170_4() {
    for ok in ["1 year", "12 months", "365d", "quarterly", "7d"] {
        assert_eq!(check_every(ok.parse().unwrap(), ok), Ok(()), "{ok}");
    }
    assert_eq!(
        check_every("13 months".parse().unwrap(), "13 months"),
        Err("`13 months` is longer than a year: 32 CFR 170.4 defines \"periodically\" as at least annually, so a recurring duty's `every` may be at most `1 year`".to_owned())
    );
    assert!(check_every("366d".parse().unwrap(), "366d").is_err());
    assert!(check_every("2 years".parse().unwrap(), "2 years").is_err());
}

const HEADER: &str =
    "id,owner,contractor_does,msp_does,evidence_producer,verification,package,justification\n";

fn crm() -> Crm {
    let load = Crm::from_csv(
        "crm.csv",
        format!(
            "{HEADER}3.1.1,contractor,Reviews accounts,,,,,\n\
             3.1.2,shared,Approves roles,Enforces roles,msp,Monthly export,,\n\
             3.1.3,n/a,,,,,,No CUI flows outside the enclave\n\
             3.1.12,msp,,Monitors remote sessions,msp,Monthly report,,\n"
        )
        .as_bytes(),
    );
    assert!(!load.has_errors(), "{:?}", load.problems);
    load.crm
}

fn hand_duty(id: &str, objectives: &[&str], party: Party) -> Duty {
    Duty {
        id: id.parse().unwrap(),
        title: "hand".to_owned(),
        objectives: objectives.iter().map(|o| obj(o)).collect(),
        responsible: party,
        source: "entra".to_owned(),
        max_age: Some(Period::from_secs(86_400)),
        zone: jiff::tz::TimeZone::UTC,
        rule: Rule::Continuous(Continuous {
            expect: Quantifier::All,
            filter: None,
            check: "enabled == true".parse().unwrap(),
            min_records: 1,
            tolerance: Period::from_secs(86_400),
            unknown_when: None,
            required_subjects: Vec::new(),
            required_field: None,
            joins: Vec::new(),
            min_share: None,
        }),
    }
}

fn summary(derivation: &Derivation) -> Vec<(String, Party, String, Vec<String>)> {
    derivation
        .duties
        .iter()
        .map(|d| {
            let Rule::Recurring(rule) = &d.rule else {
                panic!("{} is not recurring", d.id)
            };
            assert_eq!(d.source, MANUAL_SOURCE);
            (
                d.id.to_string(),
                d.responsible,
                rule.every.to_string(),
                d.objectives.iter().map(ToString::to_string).collect(),
            )
        })
        .collect()
}

#[test]
fn every_owned_objective_gets_an_attestation_per_party_unless_a_hand_written_duty_watches_it() {
    let crm = crm();
    let ownership = crm.ownership(None);
    let hand = [hand_duty("entra-roles", &["3.1.2[a]"], Party::Msp)];
    let settings = Settings {
        enabled: true,
        overrides: Vec::new(),
    };
    let derivation = derive(
        lib(),
        &ownership,
        &hand,
        &settings,
        &jiff::tz::TimeZone::UTC,
    );
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let crm_review_objectives: Vec<String> = catalog::objectives()
        .filter(|o| o.requirement() == req("3.12.4"))
        .map(|o| o.to_string())
        .collect();
    assert_eq!(crm_review_objectives.len(), 8, "3.12.4[a]–[h]");
    assert_eq!(
        summary(&derivation),
        [
            (
                "lib-3.1.1-contractor".to_owned(),
                Party::Contractor,
                "3 months".to_owned(),
                s(&[
                    "3.1.1[a]", "3.1.1[b]", "3.1.1[c]", "3.1.1[d]", "3.1.1[e]", "3.1.1[f]"
                ])
            ),
            (
                "lib-3.1.2-contractor".to_owned(),
                Party::Contractor,
                "3 months".to_owned(),
                s(&["3.1.2[a]", "3.1.2[b]"])
            ),
            // The contractor verifies the MSP's share as often as the CRM's verification
            // text says ("Monthly export"), whoever watches the MSP's side.
            (
                "ver-3.1.2".to_owned(),
                Party::Contractor,
                "1 month".to_owned(),
                s(&["3.1.2[a]", "3.1.2[b]"])
            ),
            // 3.1.2[a]'s MSP side is the hand-written duty's.
            (
                "lib-3.1.2-msp".to_owned(),
                Party::Msp,
                "3 months".to_owned(),
                s(&["3.1.2[b]"])
            ),
            // A not-applicable row is re-confirmed every year.
            (
                "lib-na-3.1.3".to_owned(),
                Party::Contractor,
                "1 year".to_owned(),
                s(&["3.1.3[a]", "3.1.3[b]", "3.1.3[c]", "3.1.3[d]", "3.1.3[e]"])
            ),
            (
                "ver-3.1.12".to_owned(),
                Party::Contractor,
                "1 month".to_owned(),
                s(&["3.1.12[a]", "3.1.12[b]", "3.1.12[c]", "3.1.12[d]"])
            ),
            // A daily log-ingest check, attested weekly until a connector watches it.
            (
                "lib-3.1.12-msp".to_owned(),
                Party::Msp,
                "7d".to_owned(),
                s(&["3.1.12[a]", "3.1.12[b]", "3.1.12[c]", "3.1.12[d]"])
            ),
            // Each party with work under the CRM reviews it (part of the SSP, 3.12.4).
            (
                "lib-crm-review-contractor".to_owned(),
                Party::Contractor,
                "1 year".to_owned(),
                crm_review_objectives.clone()
            ),
            (
                "lib-crm-review-msp".to_owned(),
                Party::Msp,
                "1 year".to_owned(),
                crm_review_objectives
            ),
        ]
    );
    assert_eq!(
        derivation.duties[0].title,
        format!(
            "3.1.1 {}: contractor attests its part every 3 months (FedRAMP Moderate parameter; library: privileged-account review quarterly; all-user review annually; change-driven updates)",
            catalog::requirement(req("3.1.1")).unwrap().title
        )
    );
    assert!(derivation.duties[6].title.ends_with(
        "(common practice; library: daily log-ingest check; attested weekly by hand until a connector checks it)"
    ));
    let row = |o: &str| {
        derivation
            .plan
            .iter()
            .find(|r| r.objective == obj(o))
            .unwrap()
    };
    assert_eq!(
        row("3.1.2[a]").sides[1].watch,
        Watch::Duty {
            duty: "entra-roles".to_owned(),
            by: "hand-written",
            rule: "continuous",
            cadence: "continuous, tolerance 1d".to_owned(),
            origin: "source `entra`".to_owned(),
        }
    );
    assert_eq!(row("3.1.3[a]").sides.len(), 1);
    assert_eq!(row("3.1.3[a]").sides[0].role, Role::Reconfirms);
    let verifies = &row("3.1.12[a]").sides[1];
    assert_eq!(
        (verifies.party, verifies.role),
        (Party::Contractor, Role::Verifies)
    );
    assert_eq!(
        derivation.duties[2].title,
        format!(
            "3.1.2 {}: the contractor verifies the MSP's part every 1 month (the CRM row's verification text; library: {})",
            catalog::requirement(req("3.1.2")).unwrap().title,
            lib().default_for(req("3.1.2")).entry.unwrap().suggested
        )
    );
    // Only a satisfied verification completes it.
    let Rule::Recurring(rule) = &derivation.duties[2].rule else {
        panic!("recurring")
    };
    assert_eq!(
        rule.filter.as_ref().map(ToString::to_string).as_deref(),
        Some("outcome == 'satisfied'")
    );
    assert_eq!(
        row("3.1.4[a]").unwrap_or_default(),
        "no CRM row gives it an owner"
    );
    // Every owned, applicable objective is watched on every side.
    let owned: Vec<ObjectiveId> = gaps(&derivation.plan).into_iter().collect();
    assert_eq!(owned, []);
}

trait Unwatched {
    fn unwrap_or_default(&self) -> &str;
}

impl Unwatched for PlanRow {
    fn unwrap_or_default(&self) -> &str {
        self.unwatched.as_deref().unwrap_or_default()
    }
}

#[test]
fn overrides_change_a_cadence_split_an_objective_off_and_disable_with_a_reason() {
    let crm = crm();
    let ownership = crm.ownership(None);
    let settings = Settings {
        enabled: true,
        overrides: vec![
            Override {
                control: "3.1.1".parse().unwrap(),
                action: OverrideAction::Every("90d".parse().unwrap()),
            },
            Override {
                control: "3.1.1[f]".parse().unwrap(),
                action: OverrideAction::Every("1 year".parse().unwrap()),
            },
            Override {
                control: "3.1.12".parse().unwrap(),
                action: OverrideAction::Disable {
                    reason: "Sentinel connector duty planned".to_owned(),
                },
            },
        ],
    };
    let derivation = derive(lib(), &ownership, &[], &settings, &jiff::tz::TimeZone::UTC);
    let ids: Vec<(String, String, usize)> = summary(&derivation)
        .into_iter()
        .map(|(id, _, every, objectives)| (id, every, objectives.len()))
        .collect();
    assert_eq!(
        ids,
        [
            ("lib-3.1.1-contractor".to_owned(), "90d".to_owned(), 5),
            ("lib-3.1.1.f-contractor".to_owned(), "1 year".to_owned(), 1),
            ("lib-3.1.2-contractor".to_owned(), "3 months".to_owned(), 2),
            ("ver-3.1.2".to_owned(), "1 month".to_owned(), 2),
            ("lib-3.1.2-msp".to_owned(), "3 months".to_owned(), 2),
            ("lib-na-3.1.3".to_owned(), "1 year".to_owned(), 5),
            (
                "lib-crm-review-contractor".to_owned(),
                "1 year".to_owned(),
                8
            ),
            ("lib-crm-review-msp".to_owned(), "1 year".to_owned(), 8),
        ]
    );
    assert!(
        derivation.duties[0]
            .title
            .ends_with("every 90d (config override)")
    );
    let row = derivation
        .plan
        .iter()
        .find(|r| r.objective == obj("3.1.12[a]"))
        .unwrap();
    // Disabled on every side, the verification too.
    for side in &row.sides {
        assert_eq!(
            side.watch,
            Watch::Unwatched {
                reason: "library duty disabled for 3.1.12: Sentinel connector duty planned"
                    .to_owned()
            }
        );
    }
    assert_eq!(row.sides.len(), 2);
    assert_eq!(
        gaps(&derivation.plan).len(),
        4,
        "the disabled requirement's four objectives"
    );
}

#[test]
fn without_the_library_the_plan_names_what_is_unwatched() {
    let crm = crm();
    let ownership = crm.ownership(None);
    let derivation = derive(
        lib(),
        &ownership,
        &[],
        &Settings::default(),
        &jiff::tz::TimeZone::UTC,
    );
    assert!(derivation.duties.is_empty());
    let row = derivation
        .plan
        .iter()
        .find(|r| r.objective == obj("3.1.1[a]"))
        .unwrap();
    assert_eq!(
        row.sides[0].watch,
        Watch::Unwatched {
            reason: "no duty watches it; `[library] enabled = true` would add a manual attestation"
                .to_owned()
        }
    );
    assert_eq!(derivation.plan.len(), 320);
}

#[test]
fn a_verification_cadence_comes_from_the_crm_text_at_most_weekly_else_the_library_at_most_quarterly()
 {
    let r = req("3.14.1");
    let cadence = |text: Option<&str>| verification_cadence(lib(), r, text);
    assert_eq!(
        cadence(Some("Quarterly: review the MSP's patch report")),
        (Cadence::from_months(3), Origin::CrmVerification)
    );
    assert_eq!(
        cadence(Some("Semi-annual review of the SOC report")),
        (Cadence::from_months(6), Origin::CrmVerification)
    );
    assert_eq!(
        cadence(Some("Daily dashboard glance")),
        (weekly(), Origin::CrmVerification)
    );
    // 3.14.1's library cadence is shorter than a quarter: quarterly.
    assert_eq!(
        cadence(Some("Review the patch report")),
        (Cadence::from_months(3), Origin::VerificationDefault)
    );
    // 3.12.1 (assess the controls) is yearly in the library: verified yearly.
    assert_eq!(
        verification_cadence(lib(), req("3.12.1"), None),
        (
            lib().default_for(req("3.12.1")).cadence,
            Origin::VerificationDefault
        )
    );
    assert!(
        lib().default_for(req("3.12.1")).cadence.approx_secs()
            >= Cadence::from_months(3).approx_secs()
    );
}
