//! What to tell whom when a duty changes state.
//!
//! Decided inside the store's transaction that records the state change
//! (see `Store::record_verdict`), so an escalation exists exactly when its
//! state change does: never lost, never doubled by a restart.

use dutywatch_checks::duty::Duty;
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::{State, StateKind, Verdict};
use lettre::Address;

use crate::config::Contractor;
use crate::store::OutgoingMail;

/// The mail for a duty entering `verdict`'s state, or `None` when the new
/// state needs nobody's attention.
pub fn decide(
    contractor: &Contractor,
    duty: &Duty,
    verdict: &Verdict,
    from: Option<StateKind>,
) -> Option<OutgoingMail> {
    let kind = verdict.state.kind();
    if !kind.needs_attention() {
        return None;
    }
    let to = addresses(contractor.contacts_of(duty.responsible));
    // A lapse is the accountable party's problem too: copy the contractor
    // when someone else was responsible.
    let cc = if kind == StateKind::Lapsed && duty.responsible != duty.accountable() {
        addresses(contractor.contacts_of(duty.accountable()))
    } else {
        Vec::new()
    };
    let (to, cc) = if to.is_empty() {
        // Nobody configured at the MSP for this client: the accountable
        // party must hear of it rather than nobody.
        (addresses(&contractor.contacts), Vec::new())
    } else {
        (to, cc)
    };
    Some(OutgoingMail {
        to,
        cc,
        subject: format!(
            "[dutywatch] {}: {} ({})",
            headline(kind),
            duty.title,
            contractor.name
        ),
        body: body(contractor, duty, verdict, from),
    })
}

fn addresses(list: &[Address]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn headline(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Met => "MET",
        StateKind::DueSoon => "DUE SOON",
        StateKind::Lapsed => "LAPSED",
        StateKind::NoEvidence => "NO EVIDENCE",
        StateKind::StaleEvidence => "STALE EVIDENCE",
        StateKind::SourceError => "COLLECTOR FAILING",
    }
}

fn what_to_do(duty: &Duty, state: &State) -> String {
    match state {
        State::DueSoon { .. } => format!(
            "Complete this duty before it is due and make sure the evidence reaches source `{}`.",
            duty.source
        ),
        State::Lapsed { .. } => format!(
            "Complete it now and record the evidence in source `{}`. Until then the objectives below are at risk of being scored NOT MET.",
            duty.source
        ),
        State::NoEvidence => format!(
            "Provide evidence through source `{}`. Missing evidence is never counted as compliance.",
            duty.source
        ),
        State::StaleEvidence { .. } => format!(
            "Refresh the export behind source `{}`; old evidence says nothing about today.",
            duty.source
        ),
        State::SourceError { .. } => format!(
            "Fix the collector for source `{}`; until it runs, this duty cannot be verified.",
            duty.source
        ),
        State::Met { .. } => String::new(),
    }
}

fn body(
    contractor: &Contractor,
    duty: &Duty,
    verdict: &Verdict,
    from: Option<StateKind>,
) -> String {
    let objectives: Vec<String> = duty.objectives.iter().map(ToString::to_string).collect();
    let evidence: Vec<String> = verdict.evidence.iter().map(ToString::to_string).collect();
    let responsible = match duty.responsible {
        Party::Contractor => contractor.name.clone(),
        Party::Msp => "the MSP".to_owned(),
    };
    let previously = from.map_or("first check".to_owned(), |k| k.to_string());
    let due = verdict
        .state
        .due()
        .map(|due| format!("Due:          {due}\n"))
        .unwrap_or_default();
    format!(
        "Duty:         {title} ({id})\n\
         Contractor:   {name} ({client})\n\
         State:        {state} (previously {previously})\n\
         {due}\
         Responsible:  {responsible} ({party})\n\
         Accountable:  {name} (the contractor is accountable for every duty)\n\
         Objectives:   {objectives}\n\
         \n\
         Why: {reason}\n\
         \n\
         What to do: {todo}\n\
         \n\
         Evidence used: {evidence}\n\
         See all duties: dutywatch status --client {client}\n",
        title = duty.title,
        id = duty.id,
        name = contractor.name,
        client = contractor.id,
        state = verdict.state.kind(),
        party = duty.responsible,
        objectives = objectives.join(", "),
        reason = verdict.reason,
        todo = what_to_do(duty, &verdict.state),
        evidence = if evidence.is_empty() {
            "none".to_owned()
        } else {
            evidence.join(", ")
        },
    )
}
