//! What to tell whom when a duty or one of its subjects changes state.
//!
//! Decided inside the store's transaction that records the change (see
//! `Store::record_verdict`), so an escalation exists exactly when its
//! change does: never lost, never doubled by a restart. One mail per duty
//! and evaluation groups every subject that newly needs attention ("2 users
//! newly due soon: …"), so a second incident or a second failing device is
//! told even while the duty as a whole was already due soon or lapsed.

use dutywatch_checks::duty::Duty;
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::{State, StateKind};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use lettre::Address;

use crate::config::{Config, Contractor, Quarantined};
use crate::store::{OutgoingMail, SubjectChange, Transition};

/// How many subjects a mail lists before it counts the rest.
const LISTED: usize = 25;

/// The mail for a change, or `None` when nothing in it needs anyone's
/// attention (a recovery, a subject that left the evidence).
pub fn decide(
    contractor: &Contractor,
    duty: &Duty,
    change: &Transition<'_>,
) -> Option<OutgoingMail> {
    let duty_news = change.duty_changed() && change.to.needs_attention();
    let news: Vec<&SubjectChange<'_>> = change
        .subjects
        .iter()
        .filter(|s| s.needs_attention())
        .collect();
    if !duty_news && news.is_empty() {
        return None;
    }
    // The headline is the worst thing that is new in this mail.
    let headline_kind = news
        .iter()
        .filter_map(|s| s.to.map(|v| v.state.kind()))
        .chain(duty_news.then_some(change.to))
        .max_by_key(|kind| kind.severity())
        .unwrap_or(change.to);
    let to = addresses(contractor.contacts_of(duty.responsible));
    // A lapse is the accountable party's problem too: copy the contractor
    // when someone else was responsible.
    let cc = if headline_kind == StateKind::Lapsed && duty.responsible != duty.accountable() {
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
    let what = if duty_news || news.is_empty() {
        String::new()
    } else {
        format!(": {}", count_line(&news))
    };
    Some(OutgoingMail {
        to,
        cc,
        subject: format!(
            "[dutywatch] {}: {}{what} ({})",
            headline(headline_kind),
            duty.title,
            contractor.name
        ),
        body: body(contractor, duty, change, &news),
    })
}

/// "2 subject(s) newly lapsed, 1 newly due soon".
fn count_line(news: &[&SubjectChange<'_>]) -> String {
    let mut counts: Vec<(StateKind, usize)> = Vec::new();
    for change in news {
        let Some(kind) = change.to.map(|v| v.state.kind()) else {
            continue;
        };
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts.sort_by_key(|(kind, _)| std::cmp::Reverse(kind.severity()));
    counts
        .iter()
        .map(|(kind, n)| format!("{n} newly {}", words(*kind)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn words(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Met => "met",
        StateKind::Open => "open",
        StateKind::DueSoon => "due soon",
        StateKind::Lapsed => "lapsed",
        StateKind::NoEvidence => "without evidence",
        StateKind::StaleEvidence => "on stale evidence",
        StateKind::SourceError => "unverifiable",
    }
}

fn addresses(list: &[Address]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn headline(kind: StateKind) -> &'static str {
    match kind {
        StateKind::Met => "MET",
        StateKind::Open => "OPEN",
        StateKind::DueSoon => "DUE SOON",
        StateKind::Lapsed => "LAPSED",
        StateKind::NoEvidence => "NO EVIDENCE",
        StateKind::StaleEvidence => "STALE EVIDENCE",
        StateKind::SourceError => "COLLECTOR FAILING",
    }
}

fn what_to_do(duty: &Duty, state: &State) -> String {
    match state {
        State::Open { .. } => format!(
            "A clock is running: complete the open step before it is due and record it in source `{}`.",
            duty.source
        ),
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
    change: &Transition<'_>,
    news: &[&SubjectChange<'_>],
) -> String {
    let verdict = change.verdict;
    let zone = &duty.zone;
    let objectives: Vec<String> = duty.objectives.iter().map(ToString::to_string).collect();
    let evidence: Vec<String> = verdict.evidence.iter().map(ToString::to_string).collect();
    let responsible = match duty.responsible {
        Party::Contractor => contractor.name.clone(),
        Party::Msp => "the MSP".to_owned(),
    };
    let previously = change
        .from
        .map_or("first check".to_owned(), |k| k.to_string());
    let due = verdict
        .state
        .due()
        .map(|due| format!("Due:          {}\n", local(due, zone)))
        .unwrap_or_default();
    let mut subjects = String::new();
    if !news.is_empty() {
        subjects += &format!("\nNewly needing attention ({}):\n", count_line(news));
        for change in news.iter().take(LISTED) {
            if let Some(verdict) = change.to {
                let due = verdict
                    .state
                    .due()
                    .map(|due| format!(", due {}", local(due, zone)))
                    .unwrap_or_default();
                subjects += &format!(
                    "  - {} [{}{due}]: {}\n",
                    change.subject,
                    verdict.state.kind(),
                    verdict.reason
                );
            }
        }
        if news.len() > LISTED {
            subjects += &format!(
                "  … and {} more (dutywatch status --subjects)\n",
                news.len() - LISTED
            );
        }
    }
    let recovered: Vec<String> = change
        .subjects
        .iter()
        .filter(|s| s.to.is_some_and(|v| v.state.kind() == StateKind::Met))
        .map(|s| s.subject.to_string())
        .collect();
    if !recovered.is_empty() {
        subjects += &format!("\nBack to met: {}\n", capped(&recovered));
    }
    let gone: Vec<String> = change
        .subjects
        .iter()
        .filter(|s| s.to.is_none())
        .map(|s| s.subject.to_string())
        .collect();
    if !gone.is_empty() {
        subjects += &format!("\nNo longer in the evidence: {}\n", capped(&gone));
    }
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
         {subjects}\
         \n\
         What to do: {todo}\n\
         \n\
         Evidence used: {evidence}\n\
         See all duties: dutywatch status --client {client} --subjects\n",
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

fn capped(names: &[String]) -> String {
    let shown = names
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        format!("{shown} and {} more", names.len() - LISTED)
    } else {
        shown
    }
}

/// An instant in the contractor's zone, with its offset: people read mail
/// where they are.
fn local(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M %Z (%:z)")
        .to_string()
}

/// The mail to the MSP's contacts when a client enters quarantine (its `client-config` state
/// turns `source_error`); `None` for any other change, so a quarantine is told once however
/// often the broken config is loaded, and again only after the client was fixed and broke anew.
pub fn quarantine(
    config: &Config,
    client: &Quarantined,
    change: &Transition<'_>,
) -> Option<OutgoingMail> {
    if !change.duty_changed() || change.to != StateKind::SourceError {
        return None;
    }
    let errors: String = client
        .errors
        .iter()
        .take(LISTED)
        .map(|error| format!("  - {error}\n"))
        .collect();
    let more = if client.errors.len() > LISTED {
        format!("  … and {} more\n", client.errors.len() - LISTED)
    } else {
        String::new()
    };
    let running = if client.last_good {
        "Its last good configuration keeps running; the edit is not applied to it until the problems are fixed."
    } else {
        "None of its duties is watched until the problems are fixed: nothing is collected, evaluated or mailed for it."
    };
    Some(OutgoingMail {
        to: addresses(&config.msp.contacts),
        cc: Vec::new(),
        subject: format!(
            "[dutywatch] CLIENT QUARANTINED: its configuration does not load ({})",
            client.name
        ),
        body: format!(
            "Contractor:   {name} ({id})\n\
             State:        quarantined (client configuration does not load)\n\
             Config:       {path}\n\
             \n\
             {running} Every other client keeps running.\n\
             \n\
             Problems ({count}):\n\
             {errors}{more}\
             \n\
             What to do: fix them, check with `dutywatch check-config`, then reload the service \
             (`systemctl reload dutywatch`).\n",
            name = client.name,
            id = client.id,
            path = config.path.display(),
            count = client.errors.len(),
        ),
    })
}

/// The one "back to normal" mail to the MSP's contacts when a quarantined client's config
/// loads again: its `client-config` duty goes from `source_error` to `met`, in the same
/// transaction as that change, so it is told once per quarantine, like the quarantine itself.
pub fn quarantine_lifted(
    config: &Config,
    contractor: &Contractor,
    change: &Transition<'_>,
) -> Option<OutgoingMail> {
    if change.from != Some(StateKind::SourceError) || change.to != StateKind::Met {
        return None;
    }
    Some(OutgoingMail {
        to: addresses(&config.msp.contacts),
        cc: Vec::new(),
        subject: format!(
            "[dutywatch] CLIENT BACK TO NORMAL: its configuration loads again ({})",
            contractor.name
        ),
        body: format!(
            "Contractor:   {name} ({id})\n\
             State:        back to normal (client configuration loads again)\n\
             Config:       {path}\n\
             \n\
             The quarantine is over: its current configuration is watched from now on, and its \
             duties are collected, evaluated and mailed as usual. No action needed.\n",
            name = contractor.name,
            id = contractor.id,
            path = config.path.display(),
        ),
    })
}
