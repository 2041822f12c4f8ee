//! One pass's new ladder steps of a client, as mails: one per recipient, most urgent first.
//!
//! Each step has its recipients (its rung of the ladder); a recipient hears everything of
//! this pass in one mail, and recipients who hear exactly the same things share it (so the
//! responsible and the accountable party see each other on a lapse). The mail is first a
//! [`View`] (headings, labelled rows, subject lines), then rendered as plain text and as HTML
//! from that same view, so both parts say the same.

use std::collections::BTreeMap;

use dutywatch_checks::duty::Duty;
use dutywatch_checks::ladder::{Policy, Reach, Step};
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::html;
use super::words::{self, Readers, addresses, headline, local};
use crate::config::{Config, ContactRole, Contractor};
use crate::store::{Ack, ComposedMail, DecidedStep, MailThread, OutgoingMail};

use super::LISTED;

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
}

impl Item<'_> {
    fn kind(&self) -> StateKind {
        self.state.unwrap_or(StateKind::Met)
    }
}

/// What the composition of one client's pass needs besides the steps.
#[derive(Debug)]
pub(super) struct Pass<'a> {
    pub(super) config: &'a Config,
    pub(super) contractor: &'a Contractor,
    /// No thread was ever opened for this client: the mails are its first summary.
    pub(super) first_run: bool,
    pub(super) now: Timestamp,
}

/// A mail before it is rendered.
#[derive(Debug, Default)]
pub(super) struct View {
    pub(super) subject: String,
    pub(super) intro: String,
    pub(super) blocks: Vec<Block>,
    pub(super) footer: Vec<String>,
    pub(super) link: Option<String>,
}

/// One duty in a mail.
#[derive(Debug, Default)]
pub(super) struct Block {
    /// The state word (`LAPSED`, `RESOLVED`).
    pub(super) badge: String,
    pub(super) severity: u8,
    pub(super) title: String,
    pub(super) rows: Vec<(&'static str, String)>,
    /// One line per subject, the heading saying how many of what.
    pub(super) subjects_heading: String,
    pub(super) subjects: Vec<String>,
    pub(super) more: usize,
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
    // Who hears which steps.
    let mut heard: BTreeMap<String, (String, bool, Vec<usize>)> = BTreeMap::new();
    for (index, step) in decided
        .iter()
        .enumerate()
        .filter(|(_, s)| s.step.is_mailed())
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
            if !entry.2.contains(&index) {
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
            let roots = roots_of(pass, decided, &steps, &domain);
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
            .filter(|s| s.step != Step::Resolved)
            .filter_map(|s| items.get(s.item))
            .map(Item::kind)
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
        step.step == Step::Resolved,
        std::cmp::Reverse(item.kind().severity()),
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

/// The roots of the threads a mail tells of, each once, in the mail's order.
fn roots_of(
    pass: &Pass<'_>,
    decided: &[DecidedStep],
    steps: &[usize],
    domain: &str,
) -> Vec<(String, bool)> {
    let mut roots: Vec<(String, bool)> = Vec::new();
    for step in steps.iter().filter_map(|i| decided.get(*i)) {
        let id = root(pass, step, domain);
        match roots.iter_mut().find(|(r, _)| *r == id) {
            Some(entry) => entry.1 |= step.opened,
            None => roots.push((id, step.opened)),
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

fn view(
    pass: &Pass<'_>,
    items: &[Item<'_>],
    decided: &[DecidedStep],
    steps: &[usize],
    readers: Readers,
) -> View {
    let c = pass.contractor;
    let zone = &pass.config.timezone;
    // Blocks per duty, in the order of their most urgent step.
    let mut order: Vec<&str> = Vec::new();
    let mut by_duty: BTreeMap<&str, Vec<(&DecidedStep, &Item<'_>)>> = BTreeMap::new();
    for step in steps.iter().filter_map(|i| decided.get(*i)) {
        let Some(item) = items.get(step.item) else {
            continue;
        };
        let id = item.duty.id.as_str();
        if !order.contains(&id) {
            order.push(id);
        }
        by_duty.entry(id).or_default().push((step, item));
    }
    let mut blocks = Vec::new();
    for id in &order {
        let Some(entries) = by_duty.get(id) else {
            continue;
        };
        blocks.push(block(pass, entries, readers));
    }
    let open: Vec<&Block> = blocks.iter().filter(|b| b.badge != "RESOLVED").collect();
    let counts = count_line(
        steps
            .iter()
            .filter_map(|i| decided.get(*i))
            .filter(|s| s.step != Step::Resolved)
            .filter_map(|s| items.get(s.item))
            .map(Item::kind),
    );
    let subject = match blocks.as_slice() {
        [only] => {
            let entries = by_duty.get(order[0]).map(Vec::as_slice).unwrap_or_default();
            let prefix = entries
                .iter()
                .map(|(s, _)| s.step)
                .fold("", |prefix, step| match step {
                    Step::Management => "ESCALATED: ",
                    Step::Repeat(_) if prefix.is_empty() => "REMINDER: ",
                    _ => prefix,
                });
            let subjects = entries
                .iter()
                .filter(|(_, i)| !i.subject.is_empty())
                .count();
            let newly = count_line_with(
                entries
                    .iter()
                    .filter(|(s, i)| !i.subject.is_empty() && matches!(s.step, Step::Notice(_)))
                    .map(|(_, i)| i.kind()),
                "newly ",
            );
            let what = if subjects > 0 && !newly.is_empty() {
                format!(": {newly}")
            } else {
                String::new()
            };
            format!(
                "[dutywatch] {prefix}{}: {}{what} ({})",
                only.badge, only.title, c.name
            )
        }
        _ if pass.first_run => format!(
            "[dutywatch] First check of {}: {} duties need attention ({counts})",
            c.name,
            open.len()
        ),
        _ if open.is_empty() => {
            format!("[dutywatch] {} duties resolved ({})", blocks.len(), c.name)
        }
        _ => format!(
            "[dutywatch] {} duties need attention: {counts} ({})",
            open.len(),
            c.name
        ),
    };
    let intro = if pass.first_run {
        format!(
            "dutywatch checked the duties of {} for the first time on {}. What needs your attention is below, the most urgent first; from now on you hear of each change and of each lapse that is not dealt with.",
            c.name,
            local(pass.now, zone)
        )
    } else if open.is_empty() {
        format!(
            "Resolved as of {}: nothing more is needed for what is below.",
            local(pass.now, zone)
        )
    } else {
        format!(
            "As of {}, {} of {} need{} attention, the most urgent first.",
            local(pass.now, zone),
            if open.len() == 1 {
                "one duty".to_owned()
            } else {
                format!("{} duties", open.len())
            },
            c.name,
            if open.len() == 1 { "s" } else { "" }
        )
    };
    let first_duty = order.first().copied().unwrap_or("DUTY");
    View {
        subject,
        intro,
        blocks,
        footer: vec![
            format!(
                "Working on it? Tell your dutywatch administrator, who records it with `dutywatch ack {first_duty} --by NAME --reason TEXT`: reminders stop, the record stays."
            ),
            format!(
                "Planned work? `dutywatch silence {first_duty} --reason TEXT --until TIME` holds the mails until then."
            ),
            format!(
                "All duties: `dutywatch status --client {} --subjects`.",
                c.id
            ),
        ],
        link: pass.config.escalation.report_link(&c.id),
    }
}

fn block(pass: &Pass<'_>, entries: &[(&DecidedStep, &Item<'_>)], readers: Readers) -> Block {
    let c = pass.contractor;
    let zone = &pass.config.timezone;
    let duty = entries[0].1.duty;
    let all_resolved = entries.iter().all(|(s, _)| s.step == Step::Resolved);
    let worst = entries
        .iter()
        .filter(|(s, _)| s.step != Step::Resolved)
        .map(|(_, i)| i.kind())
        .max_by_key(|k| k.severity())
        .unwrap_or(StateKind::Met);
    let from = words::evidence_from(c, duty);
    let mut rows: Vec<(&'static str, String)> = Vec::new();
    if let Some((step, item)) = entries.iter().find(|(_, i)| i.subject.is_empty()) {
        rows.push(("State", state_line(item, zone)));
        if let Some(due) = item.due.filter(|_| item.kind() != StateKind::Met) {
            rows.push(("Due", local(due, zone)));
        }
        rows.push(("Why", item.reason.clone()));
        rows.push(("Step", step_words(item, step)));
    }
    rows.push((
        "Responsible",
        words::party(pass.config, c, duty.responsible, readers),
    ));
    if duty.responsible != Party::Contractor {
        rows.push((
            "Accountable",
            words::party(pass.config, c, duty.accountable(), readers),
        ));
    }
    let objectives: Vec<String> = duty.objectives.iter().map(ToString::to_string).collect();
    rows.push(("Objectives", objectives.join(", ")));
    rows.push(("Evidence from", from.clone()));
    if !all_resolved {
        rows.push(("What to do", words::next_step(worst, &from)));
    }
    if let Some(ack) = entries.iter().find_map(|(_, i)| i.ack.as_ref()) {
        let until = ack
            .until
            .map(|u| format!(", until {}", local(u, zone)))
            .unwrap_or_default();
        rows.push((
            "Acknowledged",
            format!(
                "by {} on {}{until}: {}",
                ack.by,
                local(ack.created_at, zone),
                ack.reason
            ),
        ));
    }
    let subject_entries: Vec<&(&DecidedStep, &Item<'_>)> = entries
        .iter()
        .filter(|(_, i)| !i.subject.is_empty())
        .collect();
    let subjects = subject_entries
        .iter()
        .take(LISTED)
        .map(|(step, item)| {
            let due = item
                .due
                .filter(|_| item.kind() != StateKind::Met)
                .map(|due| format!(", due {}", local(due, zone)))
                .unwrap_or_default();
            let state = match item.state {
                Some(kind) => format!("{kind} since {}", local(item.since, zone)),
                None => "gone".to_owned(),
            };
            format!(
                "{} [{state}{due}]: {} ({})",
                item.subject,
                item.reason,
                step_words(item, step)
            )
        })
        .collect();
    let subjects_heading = if subject_entries.is_empty() {
        String::new()
    } else {
        let counts = count_line(
            subject_entries
                .iter()
                .filter(|(s, _)| s.step != Step::Resolved)
                .map(|(_, i)| i.kind()),
        );
        let resolved = subject_entries
            .iter()
            .filter(|(s, _)| s.step == Step::Resolved)
            .count();
        match (counts.is_empty(), resolved) {
            (false, 0) => format!("Subjects ({counts})"),
            (false, n) => format!("Subjects ({counts}, {n} resolved)"),
            (true, n) => format!("Subjects ({n} resolved)"),
        }
    };
    Block {
        badge: if all_resolved {
            "RESOLVED".to_owned()
        } else {
            headline(worst).to_owned()
        },
        severity: worst.severity(),
        title: duty.title.clone(),
        rows,
        subjects_heading,
        subjects,
        more: subject_entries.len().saturating_sub(LISTED),
    }
}

fn state_line(item: &Item<'_>, zone: &jiff::tz::TimeZone) -> String {
    match item.state {
        None => "no longer in the evidence".to_owned(),
        Some(kind) => format!("{} since {}", words::state(kind), local(item.since, zone)),
    }
}

/// Where on the ladder this mail is, in words.
fn step_words(item: &Item<'_>, step: &DecidedStep) -> String {
    let policy_text = |p: dutywatch_checks::period::Period| p.to_string();
    let policy = item.policy;
    match step.step {
        Step::Notice(k) if dutywatch_checks::ladder::is_problem(k) => format!(
            "first notice; management is told if it is still {} after {}",
            words::state(k),
            policy_text(policy.management_after)
        ),
        Step::Notice(_) => "first notice".to_owned(),
        Step::Management => format!(
            "escalated to management: still {} after {}; reminders every {} until resolved",
            words::state(item.kind()),
            policy_text(policy.management_after),
            policy_text(policy.repeat_every)
        ),
        Step::Repeat(n) => format!(
            "reminder {n}, every {} until resolved or acknowledged",
            policy_text(policy.repeat_every)
        ),
        Step::Resolved | Step::Closed => "resolved: this closes the thread".to_owned(),
    }
}

/// "2 lapsed, 1 due soon".
fn count_line(kinds: impl Iterator<Item = StateKind>) -> String {
    count_line_with(kinds, "")
}

/// [`count_line`] with a word before each state ("2 newly lapsed").
fn count_line_with(kinds: impl Iterator<Item = StateKind>, word: &str) -> String {
    let mut counts: Vec<(StateKind, usize)> = Vec::new();
    for kind in kinds {
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts.sort_by_key(|(kind, _)| std::cmp::Reverse(kind.severity()));
    counts
        .iter()
        .map(|(kind, n)| format!("{n} {word}{}", words::words(*kind)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plain-text part: readable in any client, one labelled row per line.
pub(super) fn render_text(view: &View) -> String {
    let mut out = format!("{}\n", view.intro);
    for block in &view.blocks {
        out += &format!("\n{}: {}\n", block.badge, block.title);
        for (label, value) in &block.rows {
            out += &format!("  {:<15}{value}\n", format!("{label}:"));
        }
        if !block.subjects.is_empty() {
            out += &format!("  {}:\n", block.subjects_heading);
            for line in &block.subjects {
                out += &format!("  - {line}\n");
            }
            if block.more > 0 {
                out += &format!(
                    "  … and {} more (dutywatch status --subjects)\n",
                    block.more
                );
            }
        }
    }
    if let Some(link) = &view.link {
        out += &format!("\nReport: {link}\n");
    }
    out += "\n";
    for line in &view.footer {
        out += &format!("{line}\n");
    }
    out
}
