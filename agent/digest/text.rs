//! The digest as plain text: readable in any mail client, one section per heading.

use std::fmt::Write as _;

use super::{Counts, Digest};
use crate::sprs::{cmmc_lines, conditional_text, score_text};

/// The digest as a plain-text mail body.
pub fn render_text(digest: &Digest) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Weekly compliance digest: {} ({})",
        digest.contractor_name, digest.contractor
    );
    let _ = writeln!(
        out,
        "For: {} ({})\nAs of: {}\n",
        digest.party_name,
        digest.party,
        digest.local(digest.made_at)
    );

    if let Some(sprs) = &digest.sprs {
        let p = &sprs.projection;
        let _ = writeln!(out, "SPRS PROJECTION");
        let _ = writeln!(
            out,
            "  Score on what is proven:       {}",
            score_text(p.proven.score)
        );
        let _ = writeln!(
            out,
            "  Score with known lapses only:  {} ({} points lost to lapses)",
            score_text(p.lapses.score),
            p.lapses.deducted
        );
        let _ = writeln!(
            out,
            "  Conditional Level 2 (88):      {}",
            conditional_text(p)
        );
        let lapsed: Vec<String> = p
            .not_met
            .iter()
            .filter(|n| n.lapsed)
            .map(|n| format!("{} (-{})", n.requirement, n.deduction))
            .collect();
        if !lapsed.is_empty() {
            let _ = writeln!(out, "  Lapsed requirements: {}", lapsed.join(", "));
        }
        let _ = writeln!(
            out,
            "  {} requirement(s) not proven met; `dutywatch sprs` lists them with their POA&M eligibility.",
            p.not_met.len()
        );
        if let Some(caveat) = &sprs.caveat {
            let _ = writeln!(out, "  Note: {caveat}");
        }
        if let Some(view) = &sprs.cmmc {
            for line in cmmc_lines(view) {
                let _ = writeln!(out, "  {line}");
            }
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(
        out,
        "WHERE THE DUTIES STAND ({} duties)",
        digest.totals.total()
    );
    let _ = writeln!(out, "  {:<12} {}", "", header());
    let _ = writeln!(out, "  {:<12} {}", "all", row(&digest.totals));
    for r in digest.parties.iter().chain(&digest.families) {
        let _ = writeln!(out, "  {:<12} {}", r.scope, row(&r.counts));
    }

    section(
        &mut out,
        "WHAT CHANGED SINCE LAST WEEK",
        digest.changes.is_empty(),
    );
    for c in &digest.changes {
        let from = c
            .from
            .map_or_else(|| "first evaluated".to_owned(), |f| f.to_string());
        let _ = writeln!(
            out,
            "  {}  {}: {} -> {}  ({})",
            digest.local(c.at),
            c.title,
            from,
            c.to,
            c.reason
        );
    }

    section(
        &mut out,
        "DEADLINES IN THE NEXT 14 DAYS",
        digest.deadlines.is_empty(),
    );
    for d in &digest.deadlines {
        let subject = d
            .subject
            .as_deref()
            .map(|s| format!(" [{}]", dutywatch_checks::printable::printable(s)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {}{subject}  ({}, responsible: {})",
            digest.local(d.due),
            d.title,
            d.state,
            d.responsible
        );
    }
    if digest.deadlines_not_shown > 0 {
        let _ = writeln!(out, "  and {} more", digest.deadlines_not_shown);
    }

    section(&mut out, "OPEN INCIDENTS", digest.incidents.is_empty());
    for i in &digest.incidents {
        let due = i
            .due
            .map_or_else(|| "no clock".to_owned(), |d| digest.local(d));
        let _ = writeln!(
            out,
            "  {}  {}  {} due {due}  ({})",
            i.incident, i.title, i.state, i.reason
        );
    }

    section(
        &mut out,
        "EVIDENCE ABOUT TO GO STALE",
        digest.going_stale.is_empty(),
    );
    for g in &digest.going_stale {
        let _ = writeln!(
            out,
            "  {}  {}: from {} (as of {}), stale at {}",
            g.duty,
            g.title,
            g.origin,
            digest.local(g.effective_at),
            digest.local(g.stale_at)
        );
    }

    section(
        &mut out,
        "MAIL NOT DELIVERED",
        digest.undelivered.is_empty(),
    );
    for m in &digest.undelivered {
        let _ = writeln!(
            out,
            "  #{} \"{}\" to {}: {} attempt(s){}",
            m.id,
            m.subject,
            m.remaining().join(", "),
            m.attempts,
            m.last_error
                .as_deref()
                .map(|e| format!(", last: {e}"))
                .unwrap_or_default()
        );
    }

    section(
        &mut out,
        "ACKNOWLEDGEMENTS AND SILENCES IN FORCE",
        digest.acks.is_empty(),
    );
    for ack in &digest.acks {
        let _ = writeln!(out, "  {}", ack_line(digest, ack));
    }

    let _ = writeln!(out, "\nCRM");
    let _ = writeln!(
        out,
        "  Next review: {}\n",
        digest
            .crm_next_review
            .as_deref()
            .unwrap_or("not known (the CRM records no review date)")
    );
    if let Some(url) = &digest.base_url {
        let _ = writeln!(out, "Report: {url}");
    }
    out
}

/// A heading after a blank line, and `none` when nothing follows it.
fn section(out: &mut String, title: &str, empty: bool) {
    let _ = writeln!(out, "\n{title}");
    if empty {
        let _ = writeln!(out, "  none");
    }
}

fn header() -> String {
    Counts::default()
        .named()
        .iter()
        .map(|(state, _)| format!("{:>15}", state.to_string()))
        .collect::<String>()
}

fn row(counts: &Counts) -> String {
    counts
        .named()
        .iter()
        .map(|(_, n)| format!("{n:>15}"))
        .collect::<String>()
}

/// One acknowledgement or silence: what it covers, who, why, until when.
pub(super) fn ack_line(digest: &Digest, ack: &crate::store::Ack) -> String {
    let what = match &ack.subject {
        Some(subject) => format!("{} [{subject}]", ack.duty),
        None => ack.duty.clone(),
    };
    let kind = match ack.kind {
        crate::store::AckKind::Ack => "acknowledged",
        crate::store::AckKind::Silence => "silenced",
    };
    let until = ack
        .until
        .map(|until| format!(" until {}", digest.local(until)))
        .unwrap_or_else(|| " until resolved".to_owned());
    format!(
        "{what}: {kind} by {} on {}{until}: {}",
        ack.by,
        digest.local(ack.created_at),
        ack.reason
    )
}
