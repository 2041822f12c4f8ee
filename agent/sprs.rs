//! `dutywatch sprs`: the SPRS projection of each contractor, from the coverage report's
//! per-objective states (see [`dutywatch_checks::sprs`] for the arithmetic).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use dutywatch_checks::catalog::{ObjectiveId, RequirementId};
use dutywatch_checks::cmmc::{self, CloseoutState, DueState, Outlook};
use dutywatch_checks::sprs::{self, FIPS_CRYPTO, MFA, ObjectiveStatus, PartialFacts, Projection};

use crate::config::{Config, Perspective};
use crate::coverage::{self, ClientCoverage};
use crate::store::Store;
use jiff::Timestamp;

/// One contractor's projection, as `sprs --json` prints it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContractorProjection {
    pub contractor: String,
    pub name: String,
    pub projection: Projection,
    /// What the figures rest on, when this instance cannot see all of it (the MSP
    /// perspective watches only the MSP's duties).
    pub caveat: Option<String>,
    /// The POA&M closeout and affirmation calendar, when `[contractor.cmmc]` gives a status.
    pub cmmc: Option<CmmcView>,
}

/// A contractor's CMMC calendar on the day a report was made, in its own zone.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CmmcView {
    /// That day.
    pub today: jiff::civil::Date,
    #[serde(flatten)]
    pub outlook: Outlook,
    pub affirming_official: Option<String>,
}

impl CmmcView {
    /// `contractor`'s calendar on its own day at `now` (at 00:00 UTC it is still yesterday
    /// in New York); `None` without `[contractor.cmmc]`.
    pub fn of(contractor: &crate::config::Contractor, now: Timestamp) -> Option<CmmcView> {
        let cmmc = contractor.cmmc.as_ref()?;
        let today = now.to_zoned(contractor.timezone.clone()).date();
        Some(CmmcView {
            today,
            outlook: cmmc.dates.outlook(today),
            affirming_official: cmmc.affirming_official.clone(),
        })
    }
}

/// What `sprs --json` prints.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub contractors: Vec<ContractorProjection>,
    /// MSP clients whose configuration does not load: no projection for them.
    pub quarantined: Vec<String>,
}

/// The projection of every contractor, or of `contractor` alone, at `now`.
pub fn report(
    config: &Config,
    store: &Store,
    contractor: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<Report> {
    let coverage = coverage::coverage(config, store, contractor)?;
    Ok(Report {
        contractors: coverage
            .clients
            .iter()
            .map(|client| project_client(config, client, now))
            .collect(),
        quarantined: coverage.quarantined,
    })
}

/// The projection from one contractor's coverage, with its CMMC calendar at `now`.
pub fn project_client(
    config: &Config,
    client: &ClientCoverage,
    now: Timestamp,
) -> ContractorProjection {
    let partial = partial_facts(config, client);
    let cmmc = config
        .contractors
        .iter()
        .find(|c| c.id == client.contractor)
        .and_then(|c| CmmcView::of(c, now));
    ContractorProjection {
        contractor: client.contractor.clone(),
        name: client.name.clone(),
        projection: sprs::project(&objective_statuses(client), partial),
        caveat: (config.perspective == Perspective::Msp).then(|| {
            "this instance watches only the MSP's duties: the contractor's own objectives count as not proven here".to_owned()
        }),
        cmmc,
    }
}

/// The CMMC calendar in lines, most pressing first: a status that no longer holds, the
/// closeout, the affirmation, then the dates further off and any recorded ahead of today.
pub fn cmmc_lines(view: &CmmcView) -> Vec<String> {
    let o = &view.outlook;
    let mut lines = Vec::new();
    match o.status {
        cmmc::Status::ConditionalExpired => lines.push(
            "NO CURRENT CMMC STATUS: the Conditional status expired without a POA&M closeout within 180 days (32 CFR 170.21(b)); a new assessment is needed".to_owned(),
        ),
        cmmc::Status::Expired => lines.push(format!(
            "NO CURRENT CMMC STATUS: the status of {} ran out after three years; record the new assessment's status date once it is done",
            o.status_date
        )),
        cmmc::Status::Conditional | cmmc::Status::Final => {}
    }
    if let Some(closeout) = &o.closeout {
        let due = closeout.due;
        lines.push(match closeout.state {
            CloseoutState::Open { days_left } => {
                format!("POA&M closeout: due by {due}, {}", left(days_left))
            }
            CloseoutState::DueSoon { days_left } => format!(
                "POA&M closeout: DUE SOON, by {due} ({}): the closeout assessment must confirm every POA&M item closed, or the Conditional status expires (32 CFR 170.21(b))",
                left(days_left)
            ),
            CloseoutState::Expired { days_over } => format!(
                "POA&M closeout: MISSED, it was due by {due} ({})",
                ago(days_over)
            ),
            CloseoutState::Closed { on } => format!("POA&M closeout: done {on} (due by {due})"),
            CloseoutState::ClosedLate { on, days_late } => format!(
                "POA&M closeout: done {on}, {} LATE: the Conditional status had expired after {due}",
                days(days_late)
            ),
        });
    }
    let who = view
        .affirming_official
        .as_deref()
        .map_or_else(String::new, |name| format!(", by {name}"));
    match &o.affirmation {
        Some(a) => {
            let last = a
                .last
                .map_or_else(|| "none on record".to_owned(), |d| format!("last {d}"));
            // While the closeout is pending, the affirmation after it is due by its last day.
            let pending = o.closeout.is_some_and(|c| {
                matches!(
                    c.state,
                    CloseoutState::Open { .. } | CloseoutState::DueSoon { .. }
                )
            });
            let by = if pending && a.occasion == cmmc::Occasion::Closeout {
                "at the latest "
            } else {
                ""
            };
            lines.push(match a.state {
                DueState::Ahead { days_left } => format!(
                    "affirmation in SPRS: next due {by}{} ({}), {}; {last}",
                    a.due,
                    a.occasion,
                    left(days_left)
                ),
                DueState::DueSoon { days_left } => format!(
                    "affirmation in SPRS: DUE SOON, due {by}{} ({}), {}{who}; {last}",
                    a.due,
                    a.occasion,
                    left(days_left)
                ),
                DueState::Overdue { days_over } => format!(
                    "affirmation in SPRS: OVERDUE, it was due {} ({}), {}{who}; {last}",
                    a.due,
                    a.occasion,
                    ago(days_over)
                ),
            });
            for then in &o.later_affirmations {
                // One affirmation now covers both only once it counts for the later one.
                let covers = if view.today >= then.counts_from {
                    "one affirmation now covers it too".to_owned()
                } else {
                    format!("one made before {} does not count for it", then.counts_from)
                };
                lines.push(match then.state {
                    DueState::Ahead { days_left } | DueState::DueSoon { days_left } => format!(
                        "affirmation in SPRS: then due {} ({}), {}; {covers}",
                        then.due,
                        then.occasion,
                        left(days_left)
                    ),
                    DueState::Overdue { days_over } => format!(
                        "affirmation in SPRS: also OVERDUE, it was due {} ({}), {}; {covers}",
                        then.due,
                        then.occasion,
                        ago(days_over)
                    ),
                });
            }
        }
        None if matches!(o.status, cmmc::Status::Final) => lines.push(
            "affirmation in SPRS: every yearly one is in; the next comes with the reassessment"
                .to_owned(),
        ),
        None => {}
    }
    let status = match o.status {
        cmmc::Status::Conditional => "Conditional",
        cmmc::Status::ConditionalExpired => "Conditional, expired",
        cmmc::Status::Final => "Final",
        cmmc::Status::Expired => "ran out",
    };
    let reassessment = match o.reassessment {
        None => String::new(),
        Some(r) => match r.state {
            DueState::Ahead { .. } => format!("; reassessment due {}", r.due),
            DueState::DueSoon { days_left } => {
                format!(
                    "; reassessment DUE SOON, by {} ({})",
                    r.due,
                    left(days_left)
                )
            }
            DueState::Overdue { days_over } => {
                format!(
                    "; reassessment OVERDUE since {} ({})",
                    r.due,
                    ago(days_over)
                )
            }
        },
    };
    lines.push(format!(
        "CMMC status date {} ({status}){reassessment}; keep assessment artifacts until {}",
        o.status_date, o.keep_artifacts_until
    ));
    for ahead in &o.dated_ahead {
        let counted = if ahead.field == "last_affirmation_date" {
            "; an affirmation dated ahead is not counted"
        } else {
            ""
        };
        lines.push(format!(
            "note: `{}` ({}) is after today ({}): check the date in [contractor.cmmc]{counted}",
            ahead.field, ahead.date, view.today
        ));
    }
    lines
}

/// `1 day`, `12 days`.
pub(crate) fn days(n: i32) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// What is left until a due day: `due today`, `1 day left`.
fn left(n: i32) -> String {
    if n == 0 {
        "due today".to_owned()
    } else {
        format!("{} left", days(n))
    }
}

/// How long ago a due day passed.
fn ago(n: i32) -> String {
    format!("{} ago", days(n))
}

/// Per objective what its duties prove: the coverage report's `met`, else lapsed when a
/// watching duty has lapsed, else not proven.
pub fn objective_statuses(client: &ClientCoverage) -> BTreeMap<ObjectiveId, ObjectiveStatus> {
    client
        .objectives
        .iter()
        .filter_map(|o| {
            let id: ObjectiveId = o.objective.parse().ok()?;
            let status = if o.met {
                ObjectiveStatus::Met
            } else if o.duties.iter().any(|d| d.lapsed) {
                ObjectiveStatus::Lapsed
            } else {
                ObjectiveStatus::NotProven
            };
            Some((id, status))
        })
        .collect()
}

/// A partial-credit fact holds when the duty `[sprs]` names for it is met (or still within
/// its period) for this contractor.
fn partial_facts(config: &Config, client: &ClientCoverage) -> PartialFacts {
    // Only the duty watching that requirement can show it (an MSP's config names one duty
    // id for every client; a client whose duty of that id watches something else gets no
    // partial credit from it).
    let shown = |duty: &Option<String>, requirement: RequirementId| {
        duty.as_deref().is_some_and(|id| {
            client
                .objectives
                .iter()
                .filter(|o| {
                    o.objective
                        .parse::<ObjectiveId>()
                        .is_ok_and(|o| o.requirement() == requirement)
                })
                .flat_map(|o| o.duties.iter())
                .any(|d| d.duty == id && d.shows_implemented)
        })
    };
    PartialFacts {
        mfa_remote_and_privileged: shown(&config.sprs.mfa_remote_and_privileged_duty, MFA),
        encryption_not_fips_validated: shown(
            &config.sprs.encryption_not_fips_validated_duty,
            FIPS_CRYPTO,
        ),
    }
}

/// A score as people read it: `103`, or that there is none.
pub fn score_text(score: Option<i32>) -> String {
    score.map_or_else(|| "no score (no SSP, 3.12.4)".to_owned(), |s| s.to_string())
}

/// The report as text: both figures, Conditional status, then one line per NOT MET
/// requirement.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for c in &report.contractors {
        let p = &c.projection;
        let _ = writeln!(out, "{} ({})", c.name, c.contractor);
        if let Some(caveat) = &c.caveat {
            let _ = writeln!(out, "  note: {caveat}");
        }
        let _ = writeln!(
            out,
            "  SPRS score on what is proven:     {:>4}  ({} points not proven)",
            score_text(p.proven.score),
            p.proven.deducted
        );
        let _ = writeln!(
            out,
            "  SPRS score with known lapses only: {:>4}  ({} points lost to lapses)",
            score_text(p.lapses.score),
            p.lapses.deducted
        );
        let _ = writeln!(
            out,
            "  Conditional Level 2 (score >= {}): {}",
            sprs::CONDITIONAL_MINIMUM,
            conditional_text(p)
        );
        if let Some(view) = &c.cmmc {
            for line in cmmc_lines(view) {
                let _ = writeln!(out, "  {line}");
            }
        }
        if p.not_met.is_empty() {
            let _ = writeln!(out, "  every requirement is proven met");
        } else {
            let _ = writeln!(
                out,
                "\n  {:<8} {:<14} {:>6}  {:<7} {:<6} OBJECTIVES NOT PROVEN / POA&M",
                "REQ", "CMMC", "POINTS", "LAPSED", "POA&M"
            );
            for n in &p.not_met {
                let objectives: Vec<String> =
                    n.objectives.iter().map(ToString::to_string).collect();
                let points = if n.partial {
                    format!("{}*", n.deduction)
                } else {
                    n.deduction.to_string()
                };
                let _ = writeln!(
                    out,
                    "  {:<8} {:<14} {:>6}  {:<7} {:<6} {} / {}",
                    n.requirement.to_string(),
                    n.cmmc_id,
                    points,
                    if n.lapsed { "yes" } else { "no" },
                    if n.poam.allowed { "yes" } else { "no" },
                    objectives.join(" "),
                    n.poam.why
                );
            }
            if p.not_met.iter().any(|n| n.partial) {
                let _ = writeln!(out, "  * partial credit");
            }
        }
        let _ = writeln!(out);
    }
    for id in &report.quarantined {
        let _ = writeln!(
            out,
            "client {id} is QUARANTINED: its configuration does not load, so no projection"
        );
    }
    out
}

/// Whether Conditional status is within reach, and if not why.
pub fn conditional_text(p: &Projection) -> String {
    let blocked: Vec<String> = p
        .not_met
        .iter()
        .filter(|n| !n.poam.allowed)
        .map(|n| n.requirement.to_string())
        .collect();
    match (p.proven.score, p.conditional_possible) {
        (None, _) => "no: without an SSP there is no score".to_owned(),
        (Some(_), true) => "within reach: every NOT MET requirement may sit on a POA&M".to_owned(),
        (Some(score), false) if score < sprs::CONDITIONAL_MINIMUM => {
            format!("no: {score} is below {}", sprs::CONDITIONAL_MINIMUM)
        }
        (Some(_), false) => format!(
            "no: the score reaches {}, but {} may not sit on a POA&M",
            sprs::CONDITIONAL_MINIMUM,
            blocked.join(", ")
        ),
    }
}
