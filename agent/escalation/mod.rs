//! What to tell whom, and when.
//!
//! Two paths, each deciding its mail in the transaction that records its cause, so nothing is
//! lost and nothing doubled by a restart:
//! - a client whose config does not load (`quarantine`), decided on its `client-config` state
//!   change inside `Store::record_verdict`;
//! - every duty's escalation ladder (`ladder`): after each pass's evaluation, the ladder reads
//!   the stored state of each duty and subject and decides its due steps (`Store::record_ladder`),
//!   grouped into one mail per recipient (`compose`), as plain text with an HTML alternative
//!   (`html`), threaded per lapse.

mod compose;
mod html;
pub mod ladder;
mod view;
mod words;

use crate::config::{Config, Contractor, Quarantined};
use crate::store::{OutgoingMail, Transition};
use dutywatch_checks::verdict::StateKind;

pub use words::local;

/// How many subjects or problems a mail lists before it counts the rest.
const LISTED: usize = 25;

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
        to: words::addresses(&config.msp.contacts),
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
        ..OutgoingMail::default()
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
        to: words::addresses(&config.msp.contacts),
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
        ..OutgoingMail::default()
    })
}
