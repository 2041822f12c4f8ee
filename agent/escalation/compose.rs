//! One pass's new ladder steps of a client, as mails: one per recipient, most urgent first.
//!
//! Each step has its recipients (its rung of the ladder); a recipient hears everything of
//! this pass in one mail, and recipients who hear exactly the same things share it (so the
//! responsible and the accountable party see each other on a lapse). What a mail says is
//! `view.rs`; this module decides who gets which mail and where it sits in its threads.

use std::collections::{BTreeMap, HashSet};

use dutywatch_checks::duty::Duty;
use dutywatch_checks::ladder::{Policy, Reach, Step};
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::html;
use super::view::{render_text, view};
use super::words::{Readers, addresses};
use crate::config::{Config, ContactRole, Contractor};
use crate::store::{Ack, ComposedMail, DecidedStep, MailThread, OutgoingMail};

/// What one unit (a duty, or one of its subjects) is, as the ladder saw it this pass.
#[derive(Clone, Debug)]
pub(super) struct Item<'a> {
    pub(super) duty: &'a Duty,
    /// `""`: the duty itself.
    pub(super) subject: String,
    /// `None`: gone from the evidence.
    pub(super) state: Option<StateKind>,
    pub(super) since: Timestamp,
    pub(super) due: Option<Timestamp>,
    pub(super) reason: String,
    /// The acknowledgement in force, shown with the state.
    pub(super) ack: Option<Ack>,
    /// The duty's ladder, which the mail explains.
    pub(super) policy: Policy,
    /// The duty itself (`subject` `""`) when its own problem (a failing collector, missing
    /// or stale evidence) is over while its subjects still need attention: the duty's
    /// recorded state, its worst subject's. Its thread resolves (`state` is `met` for the
    /// ladder), but the mail must not say the duty is met or that nothing more is needed.
    pub(super) still: Option<StateKind>,
    /// The worst state of the duty's subjects still in the evidence (`met` when none or
    /// when it judges none), whichever unit this is: a subject's resolution does not resolve
    /// a duty whose other subjects still fail.
    pub(super) duty_now: StateKind,
}

impl Item<'_> {
    pub(super) fn kind(&self) -> StateKind {
        self.state.unwrap_or(StateKind::Met)
    }

    /// The state the mail shows for it: [`still`](Item::still) when set.
    pub(super) fn shown(&self) -> StateKind {
        self.still.unwrap_or(self.kind())
    }
}

/// Whether an entry of a mail still asks for attention: any step but a resolution, and a
/// resolution of the duty's own problem while its subjects still need attention.
pub(super) fn asks_attention(step: &DecidedStep, item: &Item<'_>) -> bool {
    step.step != Step::Resolved || item.still.is_some()
}

/// What the composition of one client's pass needs besides the steps.
#[derive(Debug)]
pub(super) struct Pass<'a> {
    pub(super) config: &'a Config,
    pub(super) contractor: &'a Contractor,
    /// No thread was ever opened for this client: the mails are its first summary.
    pub(super) first_run: bool,
    pub(super) now: Timestamp,
    /// Per contractor verification of the MSP (`ver-3.14.1`): when its newest verification
    /// record was made, whatever it found; `None` when it never was. A lapse of the MSP's
    /// that began after it is one the contractor's own checks have not noticed.
    pub(super) verified: Vec<(String, Option<Timestamp>)>,
}

/// The steps one set of recipients hears of, and the thread roots they belong to.
struct Group {
    steps: Vec<usize>,
    /// Address, and whether it is of the people who do the work (`To`).
    recipients: Vec<(String, bool)>,
    /// Each root once, and whether one of the steps opened its thread.
    roots: Vec<(String, bool)>,
    /// The root this mail carries as its `Message-ID`.
    own: Option<String>,
}

/// The mails of `decided` (the steps recorded just now), indices into `items`.
pub(super) fn mails(
    pass: &Pass<'_>,
    items: &[Item<'_>],
    decided: &[DecidedStep],
) -> Vec<ComposedMail> {
    // A notice decided with its unit's management step (a problem first told after
    // `management_after`) is told by that step: everyone the notice reaches hears it too, so
    // they share one mail that says management was told, not a first notice beside it.
    // Looked up by item, not by scanning the steps for each: a client's first pass decides
    // a step per failing subject, thousands of them.
    let managed: HashSet<usize> = decided
        .iter()
        .filter(|step| step.step == Step::Management)
        .map(|step| step.item)
        .collect();
    let opened: HashSet<usize> = decided
        .iter()
        .filter(|step| step.opened)
        .map(|step| step.item)
        .collect();
    let told_by_management =
        |step: &DecidedStep| matches!(step.step, Step::Notice(_)) && managed.contains(&step.item);
    // Who hears which steps.
    let mut heard: BTreeMap<String, (String, bool, Vec<usize>)> = BTreeMap::new();
    for (index, step) in decided
        .iter()
        .enumerate()
        .filter(|(_, s)| s.step.is_mailed() && !told_by_management(s))
    {
        let Some(item) = items.get(step.item) else {
            continue;
        };
        let reach = step.step.reach(step.reached_before);
        for (address, primary) in recipients(pass.contractor, item.duty, reach) {
            let entry = heard
                .entry(address.to_ascii_lowercase())
                .or_insert_with(|| (address.clone(), false, Vec::new()));
            entry.1 |= primary;
            // Steps come in order, so a repeat can only be the last one pushed.
            if entry.2.last() != Some(&index) {
                entry.2.push(index);
            }
        }
    }
    // Recipients who hear the same share a mail.
    let mut groups: BTreeMap<Vec<usize>, Vec<(String, bool)>> = BTreeMap::new();
    for (_, (address, primary, steps)) in heard {
        groups.entry(steps).or_default().push((address, primary));
    }
    let domain = pass.config.mail.from.email.domain().to_owned();
    // Which mail carries which thread root, before any mail says what it answers.
    let mut claimed: Vec<String> = Vec::new();
    let groups: Vec<Group> = groups
        .into_iter()
        .map(|(mut steps, recipients)| {
            steps.sort_by_key(|i| urgency(items, decided, *i));
            let roots = roots_of(pass, decided, &opened, &steps, &domain);
            let own = claim(&roots, &mut claimed);
            Group {
                steps,
                recipients,
                roots,
                own,
            }
        })
        .collect();
    let mut mails = Vec::new();
    for Group {
        steps,
        recipients,
        roots,
        own,
    } in groups
    {
        let readers = readers(pass, &recipients);
        let view = view(pass, items, decided, &steps, readers);
        let thread = thread_headers(&roots, own, &claimed);
        let (to, cc): (Vec<_>, Vec<_>) = recipients.iter().partition(|(_, primary)| *primary);
        let (to, cc) = if to.is_empty() {
            (cc, Vec::new())
        } else {
            (to, cc)
        };
        let first = steps
            .first()
            .and_then(|i| decided.get(*i))
            .and_then(|s| items.get(s.item));
        let worst = steps
            .iter()
            .filter_map(|i| decided.get(*i))
            .filter_map(|s| Some((s, items.get(s.item)?)))
            .filter(|(s, i)| asks_attention(s, i))
            .map(|(_, i)| i.shown())
            .max_by_key(|k| k.severity())
            .unwrap_or(StateKind::Met);
        mails.push(ComposedMail {
            duty: first
                .map(|i| i.duty.id.as_str().to_owned())
                .unwrap_or_default(),
            state: worst.as_str().to_owned(),
            mail: OutgoingMail {
                to: to.into_iter().map(|(a, _)| a.clone()).collect(),
                cc: cc.into_iter().map(|(a, _)| a.clone()).collect(),
                subject: view.subject.clone(),
                body: render_text(&view),
                html: Some(html::render(&view)),
                thread,
            },
            steps,
        });
    }
    mails
}

/// Sort key: unresolved before resolved, worse states first, then by duty and subject.
fn urgency(
    items: &[Item<'_>],
    decided: &[DecidedStep],
    index: usize,
) -> (bool, std::cmp::Reverse<u8>, String, String) {
    let Some(step) = decided.get(index) else {
        return (true, std::cmp::Reverse(0), String::new(), String::new());
    };
    let Some(item) = items.get(step.item) else {
        return (true, std::cmp::Reverse(0), String::new(), String::new());
    };
    (
        !asks_attention(step, item),
        std::cmp::Reverse(item.shown().severity()),
        item.duty.title.clone(),
        item.subject.clone(),
    )
}

/// Addresses a step at `reach` goes to; `true` for the people who do the work (To).
fn recipients(contractor: &Contractor, duty: &Duty, reach: Reach) -> Vec<(String, bool)> {
    let mut list: Vec<(String, bool)> = Vec::new();
    let mut add = |addresses: Vec<String>, primary: bool| {
        for address in addresses {
            match list
                .iter_mut()
                .find(|(a, _)| a.eq_ignore_ascii_case(&address))
            {
                Some(entry) => entry.1 |= primary,
                None => list.push((address, primary)),
            }
        }
    };
    let responsible = addresses(contractor.contacts_of(duty.responsible));
    if responsible.is_empty() {
        // Nobody configured at the MSP for this client: the accountable party must hear of it
        // rather than nobody.
        add(addresses(&contractor.contacts), true);
    } else {
        add(responsible, true);
    }
    if reach >= Reach::Accountable {
        add(addresses(contractor.contacts_of(duty.accountable())), false);
    }
    // Why a lapse and management reach the responsible party's backups: `Reach::Backup`.
    // A party without backups falls back to its primary contacts, already told.
    if reach >= Reach::Backup {
        add(
            addresses(contractor.contacts_at(duty.responsible, ContactRole::Backup)),
            false,
        );
    }
    if reach >= Reach::Management {
        add(
            addresses(contractor.contacts_at(duty.responsible, ContactRole::Management)),
            false,
        );
        add(
            addresses(contractor.contacts_at(duty.accountable(), ContactRole::Management)),
            false,
        );
    }
    list
}

/// Which side the recipients of one mail are on.
fn readers(pass: &Pass<'_>, recipients: &[(String, bool)]) -> Readers {
    let c = pass.contractor;
    let side = |address: &str| {
        let is = |list: &[lettre::Address]| {
            list.iter()
                .any(|a| a.to_string().eq_ignore_ascii_case(address))
        };
        let contractor = is(&c.contacts) || is(&c.backup_contacts) || is(&c.management_contacts);
        let msp =
            is(&c.msp_contacts) || is(&c.msp_backup_contacts) || is(&c.msp_management_contacts);
        (contractor, msp)
    };
    let (mut any_contractor, mut any_msp) = (false, false);
    for (address, _) in recipients {
        let (contractor, msp) = side(address);
        any_contractor |= contractor && !msp;
        any_msp |= msp && !contractor;
        if contractor && msp {
            any_contractor = true;
            any_msp = true;
        }
    }
    match (any_contractor, any_msp) {
        (true, false) => Readers::Contractor,
        (false, true) => Readers::Msp,
        _ => Readers::Both,
    }
}

/// The root `Message-ID` of a thread: its random token, unique over the database's life.
fn root(pass: &Pass<'_>, step: &DecidedStep, domain: &str) -> String {
    let client: String = pass
        .contractor
        .id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("<dw-thread.{}.{client}@{domain}>", step.thread.token)
}

/// How many thread roots a mail's `References` lists at most: a summary of many lapses
/// answers the first few, not a header of kilobytes.
const REFERENCED: usize = 10;

/// The roots of the threads a mail tells of, each once, in the mail's order; `opened`: the
/// items a step of this pass opened a thread for.
fn roots_of(
    pass: &Pass<'_>,
    decided: &[DecidedStep],
    opened: &HashSet<usize>,
    steps: &[usize],
    domain: &str,
) -> Vec<(String, bool)> {
    let mut roots: Vec<(String, bool)> = Vec::new();
    // Where each root is in `roots`: a client's first pass can open thousands of threads.
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for step in steps.iter().filter_map(|i| decided.get(*i)) {
        let id = root(pass, step, domain);
        // A step whose thread another step of this pass opened (a notice told by its
        // management step) carries the root as that step would have.
        let opened = step.opened || opened.contains(&step.item);
        match at.get(&id) {
            Some(&index) => roots[index].1 |= opened,
            None => {
                at.insert(id.clone(), roots.len());
                roots.push((id, opened));
            }
        }
    }
    roots
}

/// The root a mail carries as its own `Message-ID`: when it tells of one thread only and
/// holds the step that opened it (of several such mails, the first).
fn claim(roots: &[(String, bool)], claimed: &mut Vec<String>) -> Option<String> {
    match roots {
        [(only, true)] if !claimed.contains(only) => {
            claimed.push(only.clone());
            Some(only.clone())
        }
        _ => None,
    }
}

/// A mail answers the roots that exist: those of threads opened before this pass, and those
/// another mail of this pass carries. A thread opened in a summary has no root mail; its later
/// mails still share their `References`, which is what clients thread by.
fn thread_headers(roots: &[(String, bool)], own: Option<String>, claimed: &[String]) -> MailThread {
    if own.is_some() {
        return MailThread {
            message_id: own,
            in_reply_to: None,
            references: Vec::new(),
        };
    }
    let references: Vec<String> = roots
        .iter()
        .filter(|(root, opened)| !opened || claimed.contains(root))
        .map(|(root, _)| root.clone())
        .take(REFERENCED)
        .collect();
    MailThread {
        message_id: None,
        in_reply_to: references.first().cloned(),
        references,
    }
}
