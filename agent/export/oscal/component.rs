//! The CRM as an OSCAL component definition: two components, the MSP's managed service
//! (role `provider`) and the contractor's system (role `customer`), each with a statement per
//! objective its party has a part in.
//!
//! OSCAL 1.1's component definition has no `provided`/`responsibility` objects (those belong
//! to an SSP's `by-components`), so each statement says which it is in a `responsibility-kind`
//! prop: `provided` (the MSP's share), `responsibility` (the contractor's share), `inherited`
//! (the contractor's side of an objective the MSP does alone) or `not-applicable`. The CRM
//! import (`checks::crm::oscal_input`) reads these back, as well as an SSP's objects.

use dutywatch_checks::catalog;
use dutywatch_checks::crm::{Assignment, Ownership};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::{control_id, metadata, objective_id, party, prop, uuid};

/// The catalog the control ids are of.
pub const SOURCE: &str = "https://doi.org/10.6028/NIST.SP.800-171r2";

/// Which side a component is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Provider,
    Customer,
}

/// The component definition of one contractor's CRM (the rows deciding each objective for
/// its packages) as of `now`.
pub fn definition(
    client: &str,
    client_name: &str,
    msp_name: &str,
    ownership: Ownership<'_>,
    now: Timestamp,
) -> Value {
    let at = now.to_string();
    let msp_party = uuid(&["party", client, "msp"]);
    let contractor_party = uuid(&["party", client, "contractor"]);
    let mut meta = metadata(
        &format!("Customer responsibility matrix: {client_name} and {msp_name}"),
        now,
        vec![
            party(&contractor_party, client_name, "contractor"),
            party(&msp_party, msp_name, "msp"),
        ],
        "Written by `dutywatch export --format oscal` from the CRM dutywatch loaded: per \
         objective, who does what (the `responsibility-kind` prop of each statement).",
    );
    meta["roles"] = json!([
        { "id": "provider", "title": "Provider (the MSP)" },
        { "id": "customer", "title": "Customer (the contractor, the OSA)" },
    ]);
    let components = [
        (
            Side::Provider,
            "service",
            format!("{msp_name}: managed services for {client_name}"),
            msp_party,
        ),
        (
            Side::Customer,
            "this-system",
            format!("{client_name}: the contractor's system"),
            contractor_party,
        ),
    ]
    .into_iter()
    .map(|(side, kind, title, party)| {
        let role = match side {
            Side::Provider => "provider",
            Side::Customer => "customer",
        };
        json!({
            "uuid": uuid(&["component", client, role]),
            "type": kind,
            "title": title,
            "description": format!("The {role} side of the CRM."),
            "responsible-roles": [{ "role-id": role, "party-uuids": [party] }],
            "control-implementations": [{
                "uuid": uuid(&["control-implementation", client, role]),
                "source": SOURCE,
                "description": format!("The {role}'s part in each NIST SP 800-171 rev2 \
                    requirement, per objective."),
                "implemented-requirements": implemented(client, side, &ownership),
            }],
        })
    })
    .collect::<Vec<_>>();
    json!({
        "component-definition": {
            "uuid": uuid(&["component-definition", client, &at]),
            "metadata": meta,
            "components": components,
        }
    })
}

/// Per requirement with at least one objective this side has a statement for: the
/// implemented requirement and its statements.
fn implemented(client: &str, side: Side, ownership: &Ownership<'_>) -> Vec<Value> {
    let role = match side {
        Side::Provider => "provider",
        Side::Customer => "customer",
    };
    let mut out = Vec::new();
    for requirement in catalog::requirements() {
        let statements: Vec<Value> = requirement
            .objectives()
            .filter_map(|objective| {
                let row = ownership.row(objective)?;
                let (kind, text) = statement(side, &row.assignment)?;
                let name = objective.to_string();
                let mut props = vec![
                    prop("responsibility-kind", kind),
                    prop("owner", row.assignment.responsible().as_str()),
                    json!({ "name": "label", "value": name }),
                ];
                // How the MSP's share is shown and checked, on its statement, so the
                // definition read back as a CRM keeps them.
                if kind == "provided" {
                    if let Some(producer) = row.assignment.evidence_producer() {
                        props.push(prop("evidence-producer", producer.as_str()));
                    }
                    if let Some(verification) = row.assignment.verification() {
                        props.push(prop("verification", verification));
                    }
                }
                Some(json!({
                    "statement-id": objective_id(&name),
                    "uuid": uuid(&["statement", client, role, &name]),
                    "description": text,
                    "props": props,
                    "remarks": format!("From the CRM at {}.", row.location),
                }))
            })
            .collect();
        if statements.is_empty() {
            continue;
        }
        let id = requirement.id.to_string();
        out.push(json!({
            "uuid": uuid(&["implemented-requirement", client, role, &id]),
            "control-id": control_id(&id),
            "description": format!("{} ({})", requirement.title, requirement.cmmc_id),
            "props": [{ "name": "label", "value": id }],
            "statements": statements,
        }));
    }
    out
}

/// This side's statement on an objective: its kind and text, or nothing when the side has no
/// part (the provider on a contractor-only or not-applicable objective).
fn statement(side: Side, assignment: &Assignment) -> Option<(&'static str, String)> {
    let or_none = |text: &str| {
        if text.trim().is_empty() {
            "(no text in the CRM)".to_owned()
        } else {
            text.to_owned()
        }
    };
    match (side, assignment) {
        (
            Side::Provider,
            Assignment::Msp { msp_does, .. } | Assignment::Shared { msp_does, .. },
        ) => Some(("provided", or_none(msp_does))),
        (Side::Provider, _) => None,
        (
            Side::Customer,
            Assignment::Contractor { contractor_does }
            | Assignment::Shared {
                contractor_does, ..
            },
        ) => Some(("responsibility", or_none(contractor_does))),
        (Side::Customer, Assignment::Msp { msp_does, .. }) => Some((
            "inherited",
            format!(
                "Inherited from the provider, who does: {}",
                or_none(msp_does)
            ),
        )),
        (Side::Customer, Assignment::NotApplicable { justification }) => {
            Some(("not-applicable", or_none(justification)))
        }
    }
}
