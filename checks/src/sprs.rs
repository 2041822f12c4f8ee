//! The SPRS score projection (NIST SP 800-171 DoD Assessment Methodology, 32 CFR 170.21),
//! from what each assessment objective's duties prove.
//!
//! Two figures come out of one set of objective statuses:
//! - **proven**: 110 minus the points of every requirement that has an objective not proven
//!   met. Unwatched objectives, missing or stale evidence and failed collectors all count
//!   against it: absence of evidence is never met.
//! - **lapses**: 110 minus the points of only those requirements that have an objective whose
//!   duty has lapsed: what the known lapses alone cost.
//!
//! A requirement scores MET only when every one of its objectives is (an objective the CRM
//! rules not applicable counts as met, 32 CFR 170.24(b)). Partial credit for 3.5.3 and 3.13.11
//! depends on *how* the requirement falls short (MFA for remote and privileged users only;
//! encryption employed but not FIPS-validated), which no objective count shows; the caller
//! passes it as [`PartialFacts`], and without such a fact the full 5 points are lost. 3.12.4
//! (the SSP) has no point value: without it there is no score at all.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{self, ObjectiveId, PoamEligibility, Requirement, RequirementId};

/// The score with every requirement met.
pub const MAX_SCORE: i32 = 110;

/// 32 CFR 170.21(a)(2)(i): the score divided by 110 at least 0.8, that is at least 88.
pub const CONDITIONAL_MINIMUM: i32 = 88;

// The ids below are built in const context: a wrong one fails the build, never a run.

/// The requirement whose absence leaves no score (the System Security Plan).
pub const SSP: RequirementId = match RequirementId::new(12, 4) {
    Some(id) => id,
    None => unreachable!(),
};

/// 3.5.3 multifactor authentication: partial credit when MFA covers remote and privileged
/// users only.
pub const MFA: RequirementId = match RequirementId::new(5, 3) {
    Some(id) => id,
    None => unreachable!(),
};

/// 3.13.11 FIPS-validated cryptography: partial credit when encryption is employed but not
/// FIPS-validated.
pub const FIPS_CRYPTO: RequirementId = match RequirementId::new(13, 11) {
    Some(id) => id,
    None => unreachable!(),
};

/// What the duties watching one objective show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveStatus {
    /// Every duty watching it is met (or still within its period), or the CRM rules it not
    /// applicable.
    Met,
    /// Not proven met, and at least one duty watching it has lapsed.
    Lapsed,
    /// Not proven met for any other reason: unwatched, no evidence, stale, source error, open.
    NotProven,
}

/// Facts that earn partial credit; each must be shown by the caller's evidence, never assumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PartialFacts {
    /// MFA is in place for remote and privileged users (3.5.3 then costs 3, not 5).
    pub mfa_remote_and_privileged: bool,
    /// Encryption is employed, though not FIPS-validated (3.13.11 then costs 3, not 5, and may
    /// sit on a POA&M).
    pub encryption_not_fips_validated: bool,
}

/// Whether a NOT MET requirement may sit on a POA&M for Conditional Level 2 status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoamVerdict {
    pub allowed: bool,
    /// Why, in words (the rule of 32 CFR 170.21(a)(2) that decides it).
    pub why: String,
}

/// One requirement that is not met in at least one of the two views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotMet {
    pub requirement: RequirementId,
    pub cmmc_id: &'static str,
    pub title: &'static str,
    /// The points this requirement costs (0 for 3.12.4, which gates instead).
    pub deduction: u8,
    /// Its deduction is the reduced one of a partial implementation.
    pub partial: bool,
    /// At least one of its objectives has a lapsed duty: it counts in the lapses figure too.
    pub lapsed: bool,
    /// Its objectives not proven met.
    pub objectives: Vec<ObjectiveId>,
    pub poam: PoamVerdict,
}

/// One of the two figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// `None` when the SSP (3.12.4) is not met in this view: no score can be given.
    pub score: Option<i32>,
    /// Points subtracted from 110.
    pub deducted: u32,
    /// The SSP is met in this view.
    pub ssp: bool,
    /// A score of at least 88 (32 CFR 170.21(a)(2)(i)); `false` without a score.
    pub reaches_conditional: bool,
    /// Conditional Level 2 status is within reach in this view: a score of at least 88 and
    /// every requirement it counts NOT MET allowed on a POA&M (170.21(a)(2)(ii)–(iii)). A
    /// lapsed requirement that may never sit on one (3.10.3, or one worth more than a point)
    /// blocks it however high the score.
    pub conditional_possible: bool,
}

/// The projection of one contractor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Projection {
    /// The score on what is proven.
    pub proven: Figure,
    /// The score if only the known lapses counted.
    pub lapses: Figure,
    /// The requirements not proven met, in catalog order.
    pub not_met: Vec<NotMet>,
    /// Conditional Level 2 status is within reach on what is proven: a score of at least 88
    /// and every NOT MET requirement allowed on a POA&M.
    pub conditional_possible: bool,
    pub partial: PartialFacts,
}

/// Projects the score from per-objective statuses. An objective missing from `objectives`
/// is [`ObjectiveStatus::NotProven`].
pub fn project(
    objectives: &BTreeMap<ObjectiveId, ObjectiveStatus>,
    partial: PartialFacts,
) -> Projection {
    let mut not_met = Vec::new();
    for requirement in catalog::requirements() {
        let unproven: Vec<(ObjectiveId, ObjectiveStatus)> = requirement
            .objectives()
            .map(|o| {
                (
                    o,
                    objectives
                        .get(&o)
                        .copied()
                        .unwrap_or(ObjectiveStatus::NotProven),
                )
            })
            .filter(|(_, status)| *status != ObjectiveStatus::Met)
            .collect();
        if unproven.is_empty() {
            continue;
        }
        let (deduction, is_partial) = deduction(requirement, partial);
        not_met.push(NotMet {
            requirement: requirement.id,
            cmmc_id: requirement.cmmc_id,
            title: requirement.title,
            deduction,
            partial: is_partial,
            lapsed: unproven
                .iter()
                .any(|(_, status)| *status == ObjectiveStatus::Lapsed),
            objectives: unproven.into_iter().map(|(o, _)| o).collect(),
            poam: poam(requirement, partial, deduction),
        });
    }
    let proven = figure(not_met.iter());
    let lapses = figure(not_met.iter().filter(|n| n.lapsed));
    let conditional_possible = proven.conditional_possible;
    Projection {
        proven,
        lapses,
        not_met,
        conditional_possible,
        partial,
    }
}

fn figure<'a>(counted: impl Iterator<Item = &'a NotMet>) -> Figure {
    let mut deducted = 0u32;
    let mut ssp = true;
    let mut all_on_poam = true;
    for item in counted {
        deducted += u32::from(item.deduction);
        all_on_poam &= item.poam.allowed;
        if item.requirement == SSP {
            ssp = false;
        }
    }
    // At most 313 points can be deducted, so the difference always fits.
    let score = ssp.then(|| MAX_SCORE - i32::try_from(deducted).unwrap_or(i32::MAX / 2));
    let reaches_conditional = score.is_some_and(|s| s >= CONDITIONAL_MINIMUM);
    Figure {
        score,
        deducted,
        ssp,
        reaches_conditional,
        conditional_possible: reaches_conditional && all_on_poam,
    }
}

/// The points a NOT MET requirement costs, and whether they are the partial-credit ones.
fn deduction(requirement: &Requirement, partial: PartialFacts) -> (u8, bool) {
    let full = requirement.points.unwrap_or(0);
    let applies = (requirement.id == MFA && partial.mfa_remote_and_privileged)
        || (requirement.id == FIPS_CRYPTO && partial.encryption_not_fips_validated);
    match (applies, requirement.partial_points) {
        (true, Some(reduced)) => (reduced, true),
        _ => (full, false),
    }
}

/// 32 CFR 170.21(a)(2)(ii)–(iii), as the catalog records it per requirement.
/// `deduction` is what it costs here: the partial value where that applies.
fn poam(requirement: &Requirement, partial: PartialFacts, deduction: u8) -> PoamVerdict {
    let (allowed, why) = match requirement.poam {
        PoamEligibility::Eligible => (true, "1-point requirement".to_owned()),
        PoamEligibility::OnlyIfEncryptionNotFipsValidated => {
            if partial.encryption_not_fips_validated {
                (
                    true,
                    "encryption is employed but not FIPS-validated (the 3-point exception)"
                        .to_owned(),
                )
            } else {
                (
                    false,
                    "only when encryption is employed but not FIPS-validated, which is not shown"
                        .to_owned(),
                )
            }
        }
        PoamEligibility::NotEligible => match requirement.points {
            Some(1) | None => (
                false,
                "named in 32 CFR 170.21(a)(2)(iii): never on a POA&M".to_owned(),
            ),
            Some(_) => (
                false,
                format!("worth {deduction} points: only 1-point requirements may sit on a POA&M"),
            ),
        },
    };
    PoamVerdict { allowed, why }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> RequirementId {
        text.parse().unwrap()
    }

    /// Every objective met except those of `unmet` (NotProven) and `lapsed`.
    fn statuses(unmet: &[&str], lapsed: &[&str]) -> BTreeMap<ObjectiveId, ObjectiveStatus> {
        let mut map: BTreeMap<ObjectiveId, ObjectiveStatus> = catalog::objectives()
            .map(|o| (o, ObjectiveStatus::Met))
            .collect();
        for text in unmet {
            map.insert(text.parse().unwrap(), ObjectiveStatus::NotProven);
        }
        for text in lapsed {
            map.insert(text.parse().unwrap(), ObjectiveStatus::Lapsed);
        }
        map
    }

    fn ids(projection: &Projection) -> Vec<String> {
        projection
            .not_met
            .iter()
            .map(|n| n.requirement.to_string())
            .collect()
    }

    #[test]
    fn all_met_is_110_and_nothing_listed() {
        let p = project(&statuses(&[], &[]), PartialFacts::default());
        assert_eq!(p.proven.score, Some(110));
        assert_eq!(p.lapses.score, Some(110));
        assert!(p.not_met.is_empty());
        assert!(p.conditional_possible);
    }

    #[test]
    fn a_lapse_never_allowed_on_a_poam_blocks_conditional_status_with_the_lapses_alone() {
        // 3.10.3 (escort visitors) is worth 1 point but is one of the six never on a POA&M.
        let p = project(&statuses(&[], &["3.10.3[a]"]), PartialFacts::default());
        assert_eq!(p.lapses.score, Some(109));
        assert!(p.lapses.reaches_conditional);
        assert!(!p.lapses.conditional_possible);
        assert!(!p.conditional_possible);
    }

    #[test]
    fn an_objective_missing_from_the_input_is_not_proven() {
        let mut map = statuses(&[], &[]);
        map.remove(&"3.1.3[b]".parse().unwrap());
        let p = project(&map, PartialFacts::default());
        assert_eq!(ids(&p), ["3.1.3"]);
        assert_eq!(p.proven.score, Some(109));
        // Not lapsed: the lapses figure does not count it.
        assert_eq!(p.lapses.score, Some(110));
    }

    #[test]
    fn a_five_point_and_two_one_point_requirements_cost_seven() {
        // 3.1.1 (5 points; one objective of six unproven is enough), 3.1.3 and 3.1.4 (1 each).
        let p = project(
            &statuses(&["3.1.1[c]", "3.1.3[a]"], &["3.1.4[a]"]),
            PartialFacts::default(),
        );
        assert_eq!(ids(&p), ["3.1.1", "3.1.3", "3.1.4"]);
        assert_eq!(p.proven.score, Some(103));
        assert_eq!(p.proven.deducted, 7);
        // Only 3.1.4 has a lapsed duty.
        assert_eq!(p.lapses.score, Some(109));
        assert_eq!(p.not_met[0].deduction, 5);
        assert!(!p.not_met[0].poam.allowed);
        assert!(p.not_met[0].poam.why.contains("worth 5 points"));
        assert!(p.not_met[1].poam.allowed && p.not_met[2].poam.allowed);
        assert!(p.not_met[2].lapsed && !p.not_met[1].lapsed);
        // 103 reaches 88, but 3.1.1 may not sit on a POA&M.
        assert!(p.proven.reaches_conditional);
        assert!(!p.conditional_possible);
        // With the lapses alone only 3.1.4 counts, which may.
        assert!(p.lapses.conditional_possible);
    }

    #[test]
    fn mfa_costs_five_unless_remote_and_privileged_mfa_is_shown() {
        // Three of the four objectives proven is not the partial case: what makes 3.5.3
        // partial is which users have MFA, which the caller must show.
        let unmet = statuses(&["3.5.3[d]"], &[]);
        let full = project(&unmet, PartialFacts::default());
        assert_eq!(full.proven.score, Some(105));
        assert!(!full.not_met[0].partial);
        let partial = project(
            &unmet,
            PartialFacts {
                mfa_remote_and_privileged: true,
                ..PartialFacts::default()
            },
        );
        assert_eq!(partial.proven.score, Some(107));
        assert_eq!(partial.not_met[0].deduction, 3);
        assert!(partial.not_met[0].partial);
        // 3 points still exceed 1: not on a POA&M, and the reason gives what it costs here.
        assert!(!partial.not_met[0].poam.allowed);
        assert!(
            partial.not_met[0].poam.why.contains("worth 3 points"),
            "{}",
            partial.not_met[0].poam.why
        );
        // A fact for 3.5.3 changes nothing when 3.5.3 is met.
        let met = project(
            &statuses(&[], &[]),
            PartialFacts {
                mfa_remote_and_privileged: true,
                ..PartialFacts::default()
            },
        );
        assert_eq!(met.proven.score, Some(110));
    }

    #[test]
    fn encryption_not_fips_costs_three_and_may_sit_on_a_poam() {
        let unmet = statuses(&[], &["3.13.11[a]"]);
        let none = project(&unmet, PartialFacts::default());
        assert_eq!(none.proven.score, Some(105));
        assert_eq!(none.lapses.score, Some(105));
        assert!(!none.not_met[0].poam.allowed);
        assert!(!none.conditional_possible);
        let not_fips = project(
            &unmet,
            PartialFacts {
                encryption_not_fips_validated: true,
                ..PartialFacts::default()
            },
        );
        assert_eq!(not_fips.proven.score, Some(107));
        assert_eq!(not_fips.lapses.score, Some(107));
        assert!(not_fips.not_met[0].partial);
        assert!(not_fips.not_met[0].poam.allowed);
        assert!(not_fips.conditional_possible);
    }

    #[test]
    fn both_partials_together() {
        let p = project(
            &statuses(&["3.5.3[a]", "3.13.11[a]"], &[]),
            PartialFacts {
                mfa_remote_and_privileged: true,
                encryption_not_fips_validated: true,
            },
        );
        assert_eq!(p.proven.score, Some(104));
        assert_eq!(p.proven.deducted, 6);
    }

    #[test]
    fn without_the_ssp_there_is_no_score() {
        let p = project(&statuses(&["3.12.4[b]"], &[]), PartialFacts::default());
        assert_eq!(ids(&p), ["3.12.4"]);
        assert_eq!(p.proven.score, None);
        assert!(!p.proven.ssp);
        assert_eq!(p.proven.deducted, 0);
        assert!(!p.proven.reaches_conditional);
        assert!(!p.conditional_possible);
        assert!(!p.not_met[0].poam.allowed);
        assert!(p.not_met[0].poam.why.contains("never on a POA&M"));
        // Unproven is not lapsed: the lapses view still has its SSP.
        assert_eq!(p.lapses.score, Some(110));
        let lapsed = project(&statuses(&[], &["3.12.4[a]"]), PartialFacts::default());
        assert_eq!(lapsed.lapses.score, None);
    }

    #[test]
    fn a_one_point_requirement_named_by_the_rule_is_never_on_a_poam() {
        // 3.10.3 (escort visitors) is worth 1 point but named in 170.21(a)(2)(iii).
        let p = project(&statuses(&["3.10.3[a]"], &[]), PartialFacts::default());
        assert_eq!(p.proven.score, Some(109));
        assert_eq!(p.not_met[0].deduction, 1);
        assert!(!p.not_met[0].poam.allowed);
        assert!(p.not_met[0].poam.why.contains("170.21(a)(2)(iii)"));
        assert!(p.proven.reaches_conditional);
        assert!(!p.conditional_possible);
    }

    /// 22 one-point POA&M-eligible requirements not met: 88; one more: 87.
    #[test]
    fn the_boundary_at_88() {
        let eligible: Vec<String> = catalog::requirements()
            .iter()
            .filter(|r| r.poam == PoamEligibility::Eligible)
            .map(|r| format!("{}[a]", r.id))
            .collect();
        assert!(eligible.len() >= 23);
        let refs: Vec<&str> = eligible.iter().map(String::as_str).collect();
        let at_88 = project(&statuses(&refs[..22], &[]), PartialFacts::default());
        assert_eq!(at_88.proven.score, Some(88));
        assert!(at_88.proven.reaches_conditional);
        assert!(at_88.conditional_possible);
        let at_87 = project(&statuses(&refs[..23], &[]), PartialFacts::default());
        assert_eq!(at_87.proven.score, Some(87));
        assert!(!at_87.proven.reaches_conditional);
        assert!(!at_87.conditional_possible);
    }

    #[test]
    fn nothing_proven_is_no_score_and_the_floor_is_minus_203_with_an_ssp() {
        let empty = project(&BTreeMap::new(), PartialFacts::default());
        assert_eq!(empty.proven.score, None);
        assert_eq!(empty.not_met.len(), 110);
        assert_eq!(empty.proven.deducted, 313);
        let mut only_ssp = BTreeMap::new();
        for o in catalog::requirement(SSP).unwrap().objectives() {
            only_ssp.insert(o, ObjectiveStatus::Met);
        }
        assert_eq!(
            project(&only_ssp, PartialFacts::default()).proven.score,
            Some(-203)
        );
        assert_eq!(req("3.12.4"), SSP);
    }
}
