//! The digest as one self-contained HTML page: inline CSS, inline SVG charts, no external
//! resource (a mail client or a printer shows it as it is). The page is `digest.html`,
//! compiled in; its `{{slot}}`s are filled with markup built here, in which every value from
//! the config, the evidence or the store is HTML-escaped.

use std::fmt::Write as _;

use dutywatch_checks::sprs::{CONDITIONAL_MINIMUM, MAX_SCORE};
use dutywatch_checks::verdict::StateKind;

use super::{Counts, Digest, WeekFigures};
use crate::sprs::{cmmc_lines, conditional_text, score_text};

use crate::html::{escape, fill};

const TEMPLATE: &str = include_str!("digest.html");

/// Markup that is safe to put into the page as it is: built here, values escaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Html(String);

impl Html {
    fn text(value: &str) -> Html {
        Html(escape(value))
    }
}

impl AsRef<str> for Html {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The digest as a self-contained HTML page.
pub fn render_html(digest: &Digest) -> String {
    let title = format!("Weekly compliance digest: {}", digest.contractor_name);
    let footer = match &digest.base_url {
        Some(url) => format!(
            "Made by dutywatch. The full report: <a href=\"{0}\">{0}</a>",
            escape(url)
        ),
        None => {
            "Made by dutywatch. Run <code>dutywatch status</code> for the full report.".to_owned()
        }
    };
    fill(
        TEMPLATE,
        &[
            ("title", Html::text(&title)),
            (
                "party",
                Html::text(&format!("{} ({})", digest.party_name, digest.party)),
            ),
            ("made_at", Html::text(&digest.local(digest.made_at))),
            ("zone", Html::text(digest.zone.iana_name().unwrap_or("UTC"))),
            ("sprs", sprs_section(digest)),
            ("counts", counts_table(digest)),
            ("states_chart", states_chart(digest)),
            ("changes", changes(digest)),
            ("deadlines", deadlines(digest)),
            ("incidents", incidents(digest)),
            ("going_stale", going_stale(digest)),
            ("undelivered", undelivered(digest)),
            ("acks", acks(digest)),
            (
                "crm_next_review",
                Html::text(
                    digest
                        .crm_next_review
                        .as_deref()
                        .unwrap_or("not known (the CRM records no review date)"),
                ),
            ),
            ("footer", Html(footer)),
        ],
    )
}

fn none(what: &str) -> Html {
    Html(format!("<p class=\"none\">{}</p>", escape(what)))
}

fn state(kind: StateKind) -> String {
    format!(
        "<span class=\"state {0}\">{1}</span>",
        kind.as_str(),
        escape(&kind.to_string())
    )
}

fn sprs_section(digest: &Digest) -> Html {
    let Some(sprs) = &digest.sprs else {
        return Html::default();
    };
    let p = &sprs.projection;
    let mut out = String::from("<section id=\"sprs\">\n<h2>SPRS score projection</h2>\n");
    let class = |reaches: bool| if reaches { "ok" } else { "bad" };
    let _ = writeln!(
        out,
        "<div class=\"figures\">\
         <div class=\"figure\"><div class=\"value {}\" id=\"sprs-proven\" data-score=\"{}\">{}</div>\
         <div class=\"label\">score on what is proven ({} points not proven)</div></div>\
         <div class=\"figure\"><div class=\"value {}\" id=\"sprs-lapses\" data-score=\"{}\">{}</div>\
         <div class=\"label\">score with the known lapses alone ({} points lost to lapses)</div></div>\
         <div class=\"figure\"><div class=\"value {}\">{}</div>\
         <div class=\"label\">Conditional Level 2 needs {CONDITIONAL_MINIMUM}: {}</div></div></div>",
        class(p.proven.conditional_possible),
        p.proven
            .score
            .map_or_else(|| "none".to_owned(), |s| s.to_string()),
        escape(&score_text(p.proven.score)),
        p.proven.deducted,
        class(p.lapses.conditional_possible),
        p.lapses
            .score
            .map_or_else(|| "none".to_owned(), |s| s.to_string()),
        escape(&score_text(p.lapses.score)),
        p.lapses.deducted,
        class(p.conditional_possible),
        if p.conditional_possible {
            "within reach"
        } else {
            "not yet"
        },
        escape(&conditional_text(p)),
    );
    out.push_str(&sprs_chart(&digest.history, digest).0);
    if let Some(caveat) = &sprs.caveat {
        let _ = writeln!(out, "<p class=\"none\">{}</p>", escape(caveat));
    }
    if let Some(view) = &sprs.cmmc {
        let class = if view.outlook.needs_attention() {
            "bad"
        } else {
            "ok"
        };
        let _ = writeln!(out, "<ul id=\"cmmc\" class=\"{class}\">");
        for line in cmmc_lines(view) {
            let _ = writeln!(out, "<li>{}</li>", escape(&line));
        }
        out.push_str("</ul>\n");
    }
    if p.not_met.is_empty() {
        out.push_str("<p>Every requirement is proven met.</p>\n");
    } else {
        // The lapsed requirements in full: they are what the score loses for certain.
        let lapsed: Vec<_> = p.not_met.iter().filter(|n| n.lapsed).collect();
        if !lapsed.is_empty() {
            out.push_str(
                "<table id=\"lapsed\"><thead><tr><th>Lapsed requirement</th><th>Title</th>\
                 <th class=\"n\">Points</th><th>On a POA&amp;M?</th></tr></thead><tbody>\n",
            );
            for n in lapsed {
                let _ = writeln!(
                    out,
                    "<tr><td>{} <small>{}</small></td><td>{}</td><td class=\"n\">{}{}</td>\
                     <td>{} <small>{}</small></td></tr>",
                    escape(&n.requirement.to_string()),
                    escape(n.cmmc_id),
                    escape(n.title),
                    n.deduction,
                    if n.partial { " (partial)" } else { "" },
                    if n.poam.allowed { "yes" } else { "no" },
                    escape(&n.poam.why),
                );
            }
            out.push_str("</tbody></table>\n");
        }
        // The rest as compact lists, by whether they may sit on a POA&M.
        for (allowed, label) in [
            (true, "Not proven, may sit on a POA&M"),
            (false, "Not proven, may not sit on a POA&M"),
        ] {
            let ids: Vec<String> = p
                .not_met
                .iter()
                .filter(|n| n.poam.allowed == allowed)
                .map(|n| {
                    if n.deduction > 1 || n.partial {
                        format!("{} ({})", n.requirement, n.deduction)
                    } else {
                        n.requirement.to_string()
                    }
                })
                .collect();
            if !ids.is_empty() {
                let _ = writeln!(
                    out,
                    "<p><strong>{}</strong> ({}): {}</p>",
                    escape(label),
                    ids.len(),
                    escape(&ids.join(", "))
                );
            }
        }
        out.push_str(
            "<p class=\"none\">Points in brackets where a requirement costs more than 1; \
             <code>dutywatch sprs</code> lists every objective not proven.</p>\n",
        );
    }
    out.push_str("</section>\n");
    Html(out)
}

/// Chart geometry shared by both charts.
const WIDTH: f64 = 640.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

fn week_label(digest: &Digest, week: &WeekFigures) -> String {
    week.week
        .to_zoned(digest.zone.clone())
        .strftime("%Y-%m-%d")
        .to_string()
}

/// The x of week `i` of `n`, centred in its slot.
fn x_of(i: usize, n: usize) -> f64 {
    let slot = (WIDTH - LEFT - RIGHT) / n.max(1) as f64;
    LEFT + slot * (i as f64 + 0.5)
}

/// The SPRS figures over the recorded weeks: the proven score as a solid line, the score
/// with lapses alone dashed, and the 88 line. A week without a score (no SSP) has no point.
fn sprs_chart(history: &[WeekFigures], digest: &Digest) -> Html {
    const HEIGHT: f64 = 220.0;
    let values = history
        .iter()
        .flat_map(|w| [w.sprs_proven, w.sprs_lapses])
        .flatten();
    let low = values.min().unwrap_or(0).min(0);
    let high = MAX_SCORE;
    let span = f64::from((high - low).max(1));
    let y_of = |score: i32| TOP + (f64::from(high - score) / span) * (HEIGHT - TOP - BOTTOM);
    let n = history.len();
    let mut out = format!(
        "<svg id=\"sprs-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"SPRS score over the last {n} week(s)\">\n"
    );
    let mut grid = vec![
        (high, ""),
        (CONDITIONAL_MINIMUM, " stroke-dasharray=\"4 3\""),
    ];
    grid.push((0, ""));
    if low < 0 {
        grid.push((low, ""));
    }
    for (score, dash) in grid {
        let y = y_of(score);
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{score}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
        );
    }
    for (series, color, dash, pick) in [
        ("proven", "#1f6feb", "", 0usize),
        ("lapses", "#c62828", " stroke-dasharray=\"6 4\"", 1usize),
    ] {
        let points: Vec<(usize, i32)> = history
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let value = if pick == 0 {
                    w.sprs_proven
                } else {
                    w.sprs_lapses
                };
                value.map(|v| (i, v))
            })
            .collect();
        // One polyline per run of consecutive weeks with a score.
        let mut run: Vec<String> = Vec::new();
        let mut last: Option<usize> = None;
        let mut lines = Vec::new();
        for (i, v) in &points {
            if last.is_some_and(|l| l + 1 != *i) && run.len() > 1 {
                lines.push(std::mem::take(&mut run));
            } else if last.is_some_and(|l| l + 1 != *i) {
                run.clear();
            }
            run.push(format!("{:.1},{:.1}", x_of(*i, n), y_of(*v)));
            last = Some(*i);
        }
        if run.len() > 1 {
            lines.push(run);
        }
        for line in lines {
            let _ = writeln!(
                out,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                line.join(" ")
            );
        }
        for (i, v) in &points {
            let week = week_label(digest, &history[*i]);
            let _ = writeln!(
                out,
                "<circle class=\"point {series}\" data-series=\"{series}\" data-week=\"{}\" data-value=\"{v}\" \
                 cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}: {v} ({series})</title></circle>",
                escape(&week),
                x_of(*i, n),
                y_of(*v),
                escape(&week)
            );
        }
    }
    axis_labels(&mut out, history, digest, HEIGHT);
    out.push_str(
        "</svg>\n<p class=\"legend\"><span><i style=\"background:#1f6feb\"></i>proven</span>\
                  <span><i style=\"background:#c62828\"></i>known lapses alone</span>\
                  <span>dashed grey: 88, Conditional status</span></p>\n",
    );
    Html(out)
}

fn axis_labels(out: &mut String, history: &[WeekFigures], digest: &Digest, height: f64) {
    let n = history.len();
    for (i, week) in history.iter().enumerate() {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x_of(i, n),
            height - 8.0,
            escape(week_label(digest, week).get(5..).unwrap_or_default())
        );
    }
}

/// The state counts over the recorded weeks as stacked bars, one per week.
fn states_chart(digest: &Digest) -> Html {
    const HEIGHT: f64 = 200.0;
    let history = &digest.history;
    let n = history.len();
    let max = history
        .iter()
        .map(|w| w.counts.total())
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = (HEIGHT - TOP - BOTTOM) / f64::from(max);
    let slot = (WIDTH - LEFT - RIGHT) / n.max(1) as f64;
    let bar = (slot * 0.6).min(36.0);
    let mut out = format!(
        "<svg id=\"states-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"duties per state over the last {n} week(s)\">\n"
    );
    for value in [0, max] {
        let y = HEIGHT - BOTTOM - f64::from(value) * scale;
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0
        );
    }
    for (i, week) in history.iter().enumerate() {
        let x = x_of(i, n) - bar / 2.0;
        let mut base = HEIGHT - BOTTOM;
        let label = week_label(digest, week);
        // Worst on top, met at the bottom.
        for (kind, count) in week.counts.named() {
            if count == 0 {
                continue;
            }
            let h = f64::from(count) * scale;
            base -= h;
            let _ = writeln!(
                out,
                "<rect class=\"bar\" data-week=\"{}\" data-state=\"{}\" data-count=\"{count}\" \
                 x=\"{x:.1}\" y=\"{base:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" \
                 style=\"fill:var(--{})\"><title>{}: {count} {}</title></rect>",
                escape(&label),
                kind.as_str(),
                kind.as_str(),
                escape(&label),
                escape(&kind.to_string())
            );
        }
    }
    axis_labels(&mut out, history, digest, HEIGHT);
    out.push_str("</svg>\n<p class=\"legend\">");
    for (kind, _) in Counts::default().named() {
        let _ = write!(
            out,
            "<span><i style=\"background:var(--{})\"></i>{}</span>",
            kind.as_str(),
            escape(&kind.to_string())
        );
    }
    out.push_str("</p>\n");
    Html(out)
}

fn counts_table(digest: &Digest) -> Html {
    let mut out = String::from("<table id=\"counts\"><thead><tr><th></th>");
    for (kind, _) in Counts::default().named() {
        let _ = write!(out, "<th class=\"n\">{}</th>", escape(&kind.to_string()));
    }
    out.push_str("</tr></thead><tbody>\n");
    let all = super::CountRow {
        scope: "all duties".to_owned(),
        counts: digest.totals,
    };
    for row in std::iter::once(&all)
        .chain(&digest.parties)
        .chain(&digest.families)
    {
        let _ = write!(out, "<tr><th>{}</th>", escape(&row.scope));
        for (_, count) in row.counts.named() {
            let _ = write!(out, "<td class=\"n\">{count}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    Html(out)
}

fn changes(digest: &Digest) -> Html {
    if digest.changes.is_empty() {
        return none("No duty changed state in the last seven days.");
    }
    let mut out = String::from(
        "<table><thead><tr><th>When</th><th>Duty</th><th>From</th><th>To</th><th>Why</th></tr></thead><tbody>\n",
    );
    for c in &digest.changes {
        let _ = writeln!(
            out,
            "<tr><td class=\"when\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&digest.local(c.at)),
            escape(&c.title),
            c.from.map_or_else(|| "first evaluated".to_owned(), state),
            state(c.to),
            escape(&c.reason)
        );
    }
    out.push_str("</tbody></table>\n");
    Html(out)
}

fn deadlines(digest: &Digest) -> Html {
    if digest.deadlines.is_empty() {
        return none("Nothing falls due in the next 14 days.");
    }
    let mut out = String::from(
        "<table><thead><tr><th>Due</th><th>Duty</th><th>Concerns</th><th>State</th><th>Responsible</th></tr></thead><tbody>\n",
    );
    for d in &digest.deadlines {
        let _ = writeln!(
            out,
            "<tr><td class=\"when\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&digest.local(d.due)),
            escape(&d.title),
            escape(d.subject.as_deref().unwrap_or("the duty as a whole")),
            state(d.state),
            escape(party_name(digest, d.responsible).as_str())
        );
    }
    out.push_str("</tbody></table>\n");
    if digest.deadlines_not_shown > 0 {
        let _ = writeln!(
            out,
            "<p class=\"none\">and {} more subject(s)</p>",
            digest.deadlines_not_shown
        );
    }
    Html(out)
}

fn party_name(digest: &Digest, party: dutywatch_checks::party::Party) -> String {
    match party {
        dutywatch_checks::party::Party::Contractor => digest.contractor_name.clone(),
        dutywatch_checks::party::Party::Msp => digest.msp_name.clone(),
    }
}

fn incidents(digest: &Digest) -> Html {
    if digest.incidents.is_empty() {
        return none("No incident has a step open.");
    }
    let mut out = String::from(
        "<table><thead><tr><th>Incident</th><th>Duty</th><th>State</th><th>Due</th><th>Where it stands</th></tr></thead><tbody>\n",
    );
    for i in &digest.incidents {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&i.incident),
            escape(&i.title),
            state(i.state),
            escape(
                &i.due
                    .map_or_else(|| "no clock".to_owned(), |d| digest.local(d))
            ),
            escape(&i.reason)
        );
    }
    out.push_str("</tbody></table>\n");
    Html(out)
}

fn going_stale(digest: &Digest) -> Html {
    if digest.going_stale.is_empty() {
        return none("No evidence turns stale in the next 14 days.");
    }
    let mut out = String::from(
        "<table><thead><tr><th>Duty</th><th>Evidence from</th><th>As of</th><th>Stale at</th></tr></thead><tbody>\n",
    );
    for g in &digest.going_stale {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&g.title),
            escape(&g.origin),
            escape(&digest.local(g.effective_at)),
            escape(&digest.local(g.stale_at))
        );
    }
    out.push_str("</tbody></table>\n");
    Html(out)
}

fn undelivered(digest: &Digest) -> Html {
    if digest.undelivered.is_empty() {
        return none("Every mail was delivered.");
    }
    let mut out = String::from(
        "<table><thead><tr><th>Mail</th><th>Waiting for</th><th>Attempts</th><th>Last error</th></tr></thead><tbody>\n",
    );
    for m in &digest.undelivered {
        let _ = writeln!(
            out,
            "<tr><td>#{} {}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            m.id,
            escape(&m.subject),
            escape(&m.remaining().join(", ")),
            m.attempts,
            escape(m.last_error.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>\n");
    Html(out)
}

fn acks(digest: &Digest) -> Html {
    if digest.acks.is_empty() {
        return none("No acknowledgement or silence holds back any reminder.");
    }
    let mut out = String::from("<ul>\n");
    for ack in &digest.acks {
        let _ = writeln!(
            out,
            "<li>{}</li>",
            escape(&super::text::ack_line(digest, ack))
        );
    }
    out.push_str("</ul>\n");
    Html(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_slots_and_drops_unknown_ones() {
        let page = fill(
            "<p>{{a}}</p>{{ b }}{{gone}}",
            &[
                ("a", Html::text("<x>")),
                ("b", Html("<b>ok</b>".to_owned())),
            ],
        );
        assert_eq!(page, "<p>&lt;x&gt;</p><b>ok</b>");
    }

    #[test]
    fn the_page_has_a_slot_for_every_placeholder() {
        let names: Vec<&str> = TEMPLATE
            .split("{{")
            .skip(1)
            .filter_map(|part| part.split_once("}}").map(|(name, _)| name.trim()))
            .collect();
        let filled = [
            "title",
            "party",
            "made_at",
            "zone",
            "sprs",
            "counts",
            "states_chart",
            "changes",
            "deadlines",
            "incidents",
            "going_stale",
            "undelivered",
            "acks",
            "crm_next_review",
            "footer",
        ];
        for name in &names {
            assert!(filled.contains(name), "slot {name} is not filled");
        }
        // Self-contained: nothing for a mail client or browser to fetch.
        assert!(!TEMPLATE.contains("http"));
        assert!(!TEMPLATE.contains(" src="));
        assert!(!TEMPLATE.contains("<link"));
    }
}
