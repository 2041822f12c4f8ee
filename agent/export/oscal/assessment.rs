//! The assessment-results document and the assessment-plan stub it imports.

use dutywatch_checks::catalog;
use dutywatch_checks::incident::ClockName;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{control_id, metadata, objective_id, party, prop, uuid};
use crate::export::incidents::OnRecord;

/// 3.6.2: track, document and report incidents; its objectives cite the incidents.
const INCIDENT_REPORTING: &str = "3.6.2";
use crate::coverage::{ClientCoverage, EvidenceRow, ObjectiveCoverage, Owner};
use crate::export::artifact_name;
use crate::store::ChainReport;

/// The `assessment-results` document of one contractor as of `now`.
pub(super) fn results(
    client: &ClientCoverage,
    incidents: &[&OnRecord],
    chain: &ChainReport,
    msp_name: &str,
    plan_href: &str,
    now: Timestamp,
) -> Value {
    let at = now.to_string();
    let id = client.contractor.as_str();
    let observations: Vec<Value> = client
        .evidence
        .iter()
        .map(|row| observation(id, row, now))
        .chain(incidents.iter().map(|i| incident_observation(id, i, now)))
        .collect();
    let findings: Vec<Value> = client
        .objectives
        .iter()
        .map(|objective| finding(client, incidents, objective))
        .collect();
    let mut result = json!({
        "uuid": uuid(&["result", id, &at]),
        "title": format!("dutywatch verdicts for {} as of {at}", client.name),
        "description": "Each assessment objective of NIST SP 800-171 rev2 with the state of the \
            duties that watch it. An objective is satisfied only when every duty watching it is \
            met (or due soon, still within its period) or the CRM rules it not applicable; an \
            objective without evidence is not satisfied.",
        "start": at,
        "end": at,
        "props": chain_props(chain),
        "reviewed-controls": reviewed_controls(),
        "findings": findings,
    });
    if !observations.is_empty() {
        result["observations"] = Value::Array(observations);
    }
    let resources = back_matter(id, &client.evidence);
    let mut document = json!({
        "uuid": uuid(&["assessment-results", id, &at]),
        "metadata": metadata(
            &format!("Assessment results: {} (CMMC Level 2, NIST SP 800-171 rev2)", client.name),
            now,
            parties(client, msp_name),
            "Written by `dutywatch export --format oscal` from the same report as \
             `dutywatch coverage`.",
        ),
        "import-ap": { "href": plan_href },
        "results": [result],
    });
    if !resources.is_empty() {
        document["back-matter"] = json!({ "resources": resources });
    }
    json!({ "assessment-results": document })
}

/// The `assessment-plan` stub: the controls the results review, and where the contractor's
/// responsibilities are written down (the component definition beside it).
pub(super) fn plan(client: &ClientCoverage, component_href: &str, now: Timestamp) -> Value {
    let at = now.to_string();
    let id = client.contractor.as_str();
    json!({
        "assessment-plan": {
            "uuid": uuid(&["assessment-plan", id, &at]),
            "metadata": metadata(
                &format!("Assessment plan (stub): {}", client.name),
                now,
                Vec::new(),
                "A stub so the assessment results have a plan to import: the scope is every \
                 requirement of NIST SP 800-171 rev2, assessed by dutywatch's duties.",
            ),
            "import-ssp": {
                "href": component_href,
                "remarks": "dutywatch holds no system security plan; this points to the \
                    component definition written from the CRM, which says who does what.",
            },
            "reviewed-controls": reviewed_controls(),
        }
    })
}

fn parties(client: &ClientCoverage, msp_name: &str) -> Vec<Value> {
    let id = client.contractor.as_str();
    vec![
        party(
            &uuid(&["party", id, "contractor"]),
            &client.name,
            "contractor",
        ),
        party(&uuid(&["party", id, "msp"]), msp_name, "msp"),
    ]
}

/// The evidence chain as the result's props: whether it is intact, its row count and head.
fn chain_props(chain: &ChainReport) -> Vec<Value> {
    let mut props = vec![
        prop(
            "evidence-chain",
            &match &chain.broken {
                None => "intact".to_owned(),
                Some((id, reason)) => format!("BROKEN at {id}: {reason}"),
            },
        ),
        prop("evidence-chain-rows", &chain.rows.to_string()),
    ];
    if let Some(head) = &chain.head {
        props.push(prop("evidence-chain-head-id", &head.id.to_string()));
        props.push(prop("evidence-chain-head", &head.chain));
    }
    props
}

/// Every requirement of the catalog, by OSCAL control id.
fn reviewed_controls() -> Value {
    let controls: Vec<Value> = catalog::requirements()
        .iter()
        .map(|r| json!({ "control-id": control_id(&r.id.to_string()) }))
        .collect();
    json!({
        "description": "Every requirement of NIST SP 800-171 rev2 (CMMC Level 2).",
        "control-selections": [{ "include-controls": controls }],
    })
}

/// One evidence row: what was collected, when, and the artifact with its SHA-256.
fn observation(client: &str, row: &EvidenceRow, now: Timestamp) -> Value {
    let name = artifact_name(&row.origin);
    let evidence_id = format!("E{}", row.id);
    let mut props = vec![
        prop("source", &row.source),
        prop("origin", &row.origin),
        prop("media-type", &row.media_type),
    ];
    match (&row.sha256, &row.problem) {
        (Some(sha), None) => props.push(prop("sha256", sha)),
        (sha, problem) => {
            if let Some(sha) = sha {
                props.push(prop("sha256", sha));
            }
            props.push(prop(
                "integrity",
                &format!(
                    "TAMPERED: {}",
                    problem.as_deref().unwrap_or("the row does not check out")
                ),
            ));
        }
    }
    if let Some(effective) = row.effective_at {
        props.push(prop("effective-at", &effective.to_string()));
    }
    let description = match &row.problem {
        None => format!(
            "Evidence {evidence_id} from source `{}`, read from {}; the verdicts that cite it \
             rest on these bytes.",
            row.source, row.origin
        ),
        Some(problem) => format!(
            "Evidence {evidence_id} from source `{}` does not check out ({problem}): it is \
             never evaluated, and the duty citing it is in source_error.",
            row.source
        ),
    };
    json!({
        "uuid": observation_uuid(client, row.id),
        "title": format!("{evidence_id}: {name}"),
        "description": description,
        "props": [prop("evidence-id", &evidence_id)],
        "methods": ["EXAMINE"],
        "types": ["control-objective"],
        // A tampered row's collection time is not trusted; the export's instant stands in.
        "collected": row.fetched_at.unwrap_or(now).to_string(),
        "relevant-evidence": [{
            "href": name,
            "description": format!("The evidence file `{name}` as collected."),
            "props": props,
        }],
    })
}

fn observation_uuid(client: &str, id: i64) -> String {
    uuid(&["observation", client, &id.to_string()])
}

/// The artifact list (the DoD artifact hashing procedure's) as back-matter resources: each
/// file's name with its SHA-256 as an OSCAL hash.
fn back_matter(client: &str, evidence: &[EvidenceRow]) -> Vec<Value> {
    let rows: Vec<&EvidenceRow> = evidence.iter().collect();
    crate::export::artifacts(&rows)
        .into_iter()
        .map(|(name, hash, ids)| {
            let mut rlink = json!({ "href": name });
            let hashed = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            if hashed {
                rlink["hashes"] = json!([{ "algorithm": "SHA-256", "value": hash }]);
            }
            json!({
                "uuid": uuid(&["artifact", client, &name, &hash]),
                "title": name,
                "description": format!("Evidence file of {}.", ids.join(", ")),
                "props": [prop("sha256", if hashed { &hash } else { "none" })],
                "rlinks": [rlink],
            })
        })
        .collect()
}

/// An incident as an observation: each deadline of DFARS 252.204-7012 and the CRM with what
/// became of it (as `incident_deadlines.csv` has it), and the timeline. A `finding` too when
/// a deadline was not kept.
fn incident_observation(client: &str, on_record: &OnRecord, now: Timestamp) -> Value {
    let i = &on_record.stored.incident;
    let mut description = format!(
        "Incident {} ({}): {}; severity {}.",
        i.id,
        if i.reportable {
            "reportable"
        } else {
            "not determined reportable"
        },
        i.title.as_deref().unwrap_or("no title"),
        i.severity.as_deref().unwrap_or("not given"),
    );
    let mut props = vec![prop("incident-id", &i.id)];
    for d in &on_record.deadlines {
        let done = d
            .deadline
            .done
            .map_or_else(|| "not done".to_owned(), |at| format!("done {at}"));
        let off =
            d.by.map(|by| format!(", {}", d.outcome.off(by)))
                .unwrap_or_default();
        description.push_str(&format!(
            " {}: due {}, {done}: {}{off}.",
            d.deadline.clock.describe(),
            d.deadline.due,
            d.outcome.describe()
        ));
        props.push(prop(
            "deadline",
            &format!("{}: {}", d.deadline.clock.as_str(), d.outcome.as_str()),
        ));
    }
    let steps: Vec<String> = i
        .entries
        .iter()
        .map(|e| format!("{} {} by {}", e.at, e.step.describe(), e.by))
        .collect();
    if !steps.is_empty() {
        description.push_str(&format!(" Timeline: {}.", steps.join("; ")));
    }
    let types: &[&str] = if on_record.deadlines.iter().any(|d| d.outcome.not_kept()) {
        &["historic", "finding"]
    } else {
        &["historic"]
    };
    json!({
        "uuid": incident_uuid(client, &i.id),
        "title": format!("Incident {}", i.id),
        "description": description,
        "props": props,
        "methods": ["EXAMINE"],
        "types": types,
        "collected": i.entries.first().map_or(now, |e| e.at).to_string(),
    })
}

fn incident_uuid(client: &str, incident: &str) -> String {
    uuid(&["incident", client, incident])
}

/// Whether an incident speaks to 3.6.2's `objective` (NIST SP 800-171A): every incident on
/// record shows incidents tracked ([a]) and documented ([b]); one with a DoD report clock
/// shows whether the authorities were notified ([e]), one with a hand-off, acknowledgement or
/// prime's notice whether the organization's officials were ([f]). Who the authorities and
/// officials are ([c], [d]) is the plan's to say, not an incident's.
fn shows(objective: &str, incident: &OnRecord) -> bool {
    let has = |clocks: &[ClockName]| {
        incident
            .deadlines
            .iter()
            .any(|d| clocks.contains(&d.deadline.clock))
    };
    match objective.strip_prefix(INCIDENT_REPORTING) {
        Some("[a]" | "[b]") => true,
        Some("[e]") => has(&[ClockName::Report]),
        Some("[f]") => has(&[ClockName::Handoff, ClockName::Acknowledge, ClockName::Prime]),
        _ => false,
    }
}

/// One objective's finding: satisfied only when the coverage report calls it met. The
/// incident-reporting objectives (3.6.2) cite the observations of the incidents that speak
/// to them ([`shows`]).
fn finding(
    client: &ClientCoverage,
    incidents: &[&OnRecord],
    objective: &ObjectiveCoverage,
) -> Value {
    let id = client.contractor.as_str();
    let (state, reason, remarks) = status(objective);
    let mut related: Vec<Value> = Vec::new();
    for evidence in objective.duties.iter().flat_map(|d| d.evidence.iter()) {
        let uuid = observation_uuid(id, *evidence);
        if client.evidence.iter().any(|e| e.id == *evidence)
            && !related
                .iter()
                .any(|r| r["observation-uuid"] == uuid.as_str())
        {
            related.push(json!({ "observation-uuid": uuid }));
        }
    }
    if objective.requirement == INCIDENT_REPORTING {
        related.extend(
            incidents
                .iter()
                .filter(|i| shows(&objective.objective, i))
                .map(|i| json!({ "observation-uuid": incident_uuid(id, &i.stored.incident.id) })),
        );
    }
    let mut props = vec![prop("owner", objective.owner.as_str())];
    for duty in &objective.duties {
        props.push(prop(
            "duty",
            &format!("{} ({}): {}", duty.duty, duty.responsible, duty.state),
        ));
    }
    let mut finding = json!({
        "uuid": uuid(&["finding", id, &objective.objective]),
        "title": format!("{}: {}", objective.objective, state),
        "description": description(objective),
        "props": props,
        "target": {
            "type": "objective-id",
            "target-id": objective_id(&objective.objective),
            "title": objective.objective,
            "props": [{ "name": "label", "value": objective.objective }],
            "status": { "state": state, "reason": reason, "remarks": remarks },
        },
    });
    if !related.is_empty() {
        finding["related-observations"] = Value::Array(related);
    }
    finding
}

/// Who does what on the objective, per the CRM.
fn description(objective: &ObjectiveCoverage) -> String {
    let mut text = format!(
        "Objective {} of requirement {} ({}); owner per the CRM: {}.",
        objective.objective, objective.requirement, objective.family, objective.owner
    );
    if !objective.contractor_does.is_empty() {
        text.push_str(&format!(
            " The contractor's responsibility: {}.",
            objective.contractor_does.trim_end_matches('.')
        ));
    }
    if !objective.msp_does.is_empty() {
        text.push_str(&format!(
            " The MSP's responsibility: {}.",
            objective.msp_does.trim_end_matches('.')
        ));
    }
    text
}

/// The finding's objective status: `satisfied`/`pass` when met, else `not-satisfied` with
/// `fail` (a duty lapsed) or `other` (no, stale or unreadable evidence; nobody watching or
/// owning it), and remarks saying why.
fn status(objective: &ObjectiveCoverage) -> (&'static str, &'static str, String) {
    match objective.owner {
        Owner::NotApplicable => {
            let justification = format!(
                "Not applicable per the CRM: {}",
                if objective.justification.is_empty() {
                    "no justification given"
                } else {
                    &objective.justification
                }
            );
            if objective.met {
                return ("satisfied", "pass", justification);
            }
            // Its re-confirmation does not show the policy that keeps it not applicable.
            let (_, reason, remarks) = watched_status(objective);
            return (
                "not-satisfied",
                reason,
                format!("{justification}; but {remarks}"),
            );
        }
        Owner::Unowned => {
            return (
                "not-satisfied",
                "other",
                "No CRM row gives this objective an owner: nobody answers for it and no \
                 evidence shows it is met."
                    .to_owned(),
            );
        }
        _ => {}
    }
    if objective.duties.is_empty() {
        return (
            "not-satisfied",
            "other",
            format!(
                "Owned by {} per the CRM, but no duty watches it: without evidence it is not \
                 satisfied.",
                objective.owner
            ),
        );
    }
    watched_status(objective)
}

/// [`status`] of an objective that duties watch: what each says, `fail` when one has lapsed
/// or its condition fails now (inside its tolerance, `due_soon` of a continuous duty).
fn watched_status(objective: &ObjectiveCoverage) -> (&'static str, &'static str, String) {
    let lines: Vec<String> = objective
        .duties
        .iter()
        .map(|d| {
            let reason = if d.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", d.reason)
            };
            format!("{} ({}) is {}{reason}", d.duty, d.responsible, d.state)
        })
        .collect();
    let remarks = lines.join("; ");
    if objective.met {
        return ("satisfied", "pass", remarks);
    }
    let lapsed = objective
        .duties
        .iter()
        .any(|d| d.lapsed || (d.state == StateKind::DueSoon && !d.shows_implemented));
    (
        "not-satisfied",
        if lapsed { "fail" } else { "other" },
        remarks,
    )
}
