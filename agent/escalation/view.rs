//! A mail before it is rendered: headings, labelled rows and subject lines per duty, the
//! most urgent first, in the reader's words; and its plain-text rendering. The HTML part
//! (`html.rs`) renders the same view, so both parts say the same.

use std::collections::BTreeMap;

use dutywatch_checks::duty::Duty;
use dutywatch_checks::ladder::Step;
use dutywatch_checks::party::Party;
use dutywatch_checks::verdict::StateKind;
use jiff::Timestamp;

use super::LISTED;
use super::compose::{Item, Pass, asks_attention};
use super::words::{self, Readers, headline, local};
use crate::store::DecidedStep;

/// A mail before it is rendered.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(super) subject: String,
    pub(super) intro: String,
    pub(super) blocks: Vec<Block>,
    pub(super) footer: Vec<String>,
    pub(super) link: Option<String>,
}

/// One duty in a mail.
#[derive(Debug, Default)]
pub(crate) struct Block {
    /// The state word (`LAPSED`, `RESOLVED`).
    pub(super) badge: String,
    pub(super) severity: u8,
    pub(super) title: String,
    pub(super) rows: Vec<(&'static str, String)>,
    /// One line per subject, the heading saying how many of what.
    pub(super) subjects_heading: String,
    pub(super) subjects: Vec<String>,
    pub(super) more: usize,
    /// Everything in it is resolved, but its duty still needs attention for other subjects
    /// (told in their own threads): that state.
    pub(super) duty_still: Option<StateKind>,
}

/// What the mail of `steps` (indices into `decided`) says, to readers on `readers`' side.
pub(super) fn view(
    pass: &Pass<'_>,
    items: &[Item<'_>],
    decided: &[DecidedStep],
    steps: &[usize],
    readers: Readers,
) -> View {
    let c = pass.contractor;
    let zone = &pass.contractor.timezone;
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
    // Duties by their worst open state, as the subject counts duties ("2 duties need
    // attention: 1 lapsed, 1 due soon"), not the subjects within them.
    let counts = count_line(order.iter().filter_map(|id| {
        (by_duty.get(id)?.iter())
            .filter(|(s, i)| asks_attention(s, i))
            .map(|(_, i)| i.shown())
            .max_by_key(|kind| kind.severity())
    }));
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
    } else if open.is_empty() && blocks.iter().any(|b| b.duty_still.is_some()) {
        format!(
            "Resolved as of {}: what is below needs nothing more, but its duty still needs attention for other subjects, each told in its own thread.",
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
                "Working on it? Tell your dutywatch administrator, who records it with `dutywatch ack {first_duty} --client {} --by NAME --reason TEXT`: reminders stop, the record stays.",
                c.id
            ),
            // With the client named, as `status` below: an MSP's config has many, and the
            // command pasted without it is refused.
            format!(
                "Planned work? `dutywatch silence {first_duty} --client {} --by NAME --reason TEXT --until TIME` holds the mails until then.",
                c.id
            ),
            format!(
                "All duties: `dutywatch status --client {} --subjects`.",
                c.id
            ),
        ],
        link: pass.config.escalation.report_link(&c.id),
    }
}

/// Whether the contractor's own verification of the MSP missed this lapse: for the
/// requirements of `duty` that have a verification duty, the ones whose newest verification
/// record is older than the lapse (or that were never verified). The contractor stays
/// accountable for what it handed over, so the mail says so plainly.
fn unnoticed(pass: &Pass<'_>, duty: &Duty, lapsed_since: Timestamp) -> Option<String> {
    let zone = &pass.contractor.timezone;
    let mut requirements: Vec<_> = duty.objectives.iter().map(|o| o.requirement()).collect();
    requirements.dedup();
    let missed: Vec<String> = requirements
        .iter()
        .filter_map(|requirement| {
            let id = dutywatch_checks::library::verification_id(*requirement);
            let (_, newest) = pass.verified.iter().find(|(duty, _)| *duty == id)?;
            match newest {
                Some(at) if *at >= lapsed_since => None,
                Some(at) => Some(format!("`{id}` last verified {}", local(*at, zone))),
                None => Some(format!("`{id}` never verified")),
            }
        })
        .collect();
    if missed.is_empty() {
        return None;
    }
    Some(format!(
        "your own verification of the MSP has not caught this lapse ({}); the contractor \
         stays accountable for the MSP's part: check it now and record what you find with \
         `dutywatch evidence add --duty ver-… --looked-at … --outcome not-satisfied`",
        missed.join("; ")
    ))
}

fn block(pass: &Pass<'_>, entries: &[(&DecidedStep, &Item<'_>)], readers: Readers) -> Block {
    let c = pass.contractor;
    let zone = &pass.contractor.timezone;
    let duty = entries[0].1.duty;
    let all_resolved = !entries.iter().any(|(s, i)| asks_attention(s, i));
    let worst = entries
        .iter()
        .filter(|(s, i)| asks_attention(s, i))
        .map(|(_, i)| i.shown())
        .max_by_key(|k| k.severity())
        .unwrap_or(StateKind::Met);
    let from = words::evidence_from(c, duty);
    let mut rows: Vec<(&'static str, String)> = Vec::new();
    if let Some((step, item)) = entries.iter().find(|(_, i)| i.subject.is_empty()) {
        rows.push(("State", state_line(item, zone)));
        if let Some(due) = item.due.filter(|_| item.shown() != StateKind::Met) {
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
    if duty.responsible == Party::Msp && worst == StateKind::Lapsed && readers != Readers::Msp {
        let lapsed_since = entries
            .iter()
            .filter(|(s, i)| asks_attention(s, i) && i.shown() == StateKind::Lapsed)
            .map(|(_, i)| i.since)
            .min();
        if let Some(since) = lapsed_since
            && let Some(note) = unnoticed(pass, duty, since)
        {
            rows.push(("Not noticed", note));
        }
    }
    let objectives: Vec<String> = duty.objectives.iter().map(ToString::to_string).collect();
    rows.push(("Objectives", objectives.join(", ")));
    rows.push(("Evidence from", from.clone()));
    if !all_resolved {
        rows.push(("What to do", words::next_step(worst, &from)));
    }
    let duty_now = entries[0].1.duty_now;
    let duty_still = (all_resolved && duty_now.needs_attention()).then_some(duty_now);
    if let Some(state) = duty_still {
        rows.push((
            "Duty",
            format!(
                "still {} for its other subjects, each told in its own thread",
                words::state(state)
            ),
        ));
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
            // As the evidence has it, a subject may hold control characters: written out.
            format!(
                "{} [{state}{due}]: {} ({})",
                dutywatch_checks::printable::printable(&item.subject),
                dutywatch_checks::printable::printable(&item.reason),
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
        duty_still,
    }
}

fn state_line(item: &Item<'_>, zone: &jiff::tz::TimeZone) -> String {
    match (item.still, item.state) {
        (Some(kind), _) => format!(
            "{} since {}, as its worst subject is",
            words::state(kind),
            local(item.since, zone)
        ),
        (None, None) => "no longer in the evidence".to_owned(),
        (None, Some(kind)) => {
            format!("{} since {}", words::state(kind), local(item.since, zone))
        }
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
        Step::Resolved | Step::Closed => match item.still {
            Some(kind) => format!(
                "the duty's own problem is resolved, which closes its thread; its subjects \
                 are still {} and each is told in its own thread",
                words::state(kind)
            ),
            None => "resolved: this closes the thread".to_owned(),
        },
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
