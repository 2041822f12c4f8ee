//! `dutywatch export --format html --out DIR`: the assessor's package as one page.
//!
//! `index.html` shows, from the same [`coverage`](crate::coverage) report the CSV and OSCAL
//! packages are written from, per contractor: the counts per family, every objective with its
//! owner, each side's responsibility text and the duties watching it (state, due time, reason,
//! evidence ids), its incidents (each deadline kept or missed, and the timeline), the
//! evidence behind the verdicts (source, origin, times, SHA-256), the artifact list, and the
//! evidence chain head. It is self-contained (inline styles, nothing
//! fetched), every value is escaped, and it prints: tables repeat their headers and rows do
//! not split across pages. `chain.txt` is written beside it, as in the other formats.

use std::fmt::Write as _;
use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::coverage::{ClientCoverage, EvidenceRow, ObjectiveCoverage, local};
use crate::html::escape;
use crate::store::{ChainReport, Store};

use super::Exported;
use super::incidents::{self, OnRecord};
use dutywatch_checks::incident::Outcome;

/// The page's file name.
pub const PAGE: &str = "index.html";

const STYLE: &str = "
body { font-family: 'Segoe UI', Helvetica, Arial, sans-serif; color: #1d2430; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px 0; }
h2 { font-size: 18px; margin: 28px 0 8px 0; border-bottom: 2px solid #d8dce3; }
h3 { font-size: 15px; margin: 20px 0 6px 0; }
p.meta { color: #5a6372; margin: 2px 0; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin: 6px 0 12px 0; }
th, td { border: 1px solid #d8dce3; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f4f5f7; }
td.n { text-align: right; }
code, .hash { font-family: Consolas, Menlo, monospace; font-size: 11px; word-break: break-all; }
.state { font-weight: 600; white-space: nowrap; }
.met { color: #1e7b34; } .lapsed { color: #b42318; }
.no_evidence, .stale_evidence, .source_error { color: #b54708; }
.due_soon, .open { color: #175cd3; }
.broken { color: #b42318; font-weight: 700; }
@media print {
  body { margin: 0; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  section.client { break-before: page; }
  section.client:first-of-type { break-before: auto; }
}
";

/// Writes `index.html` and `chain.txt` for `client` (or every contractor) into `out` as of
/// `now`. `out` must be new, empty or an earlier export.
pub fn export(
    config: &crate::config::Config,
    store: &Store,
    client: Option<&str>,
    out: &Path,
    now: Timestamp,
) -> anyhow::Result<Exported> {
    let (now, coverage, chain) = super::prepare(config, store, client, out, now)?;
    let incidents = incidents::on_record(config, store, &coverage.clients, now)?;
    let page = page(&coverage.clients, &incidents, &chain, now, &config.timezone);
    super::write(&out.join(PAGE), &page)?;
    super::write(&out.join("chain.txt"), &super::chain_text(&chain, now))?;
    Ok(Exported { coverage, chain })
}

/// `dutywatch export --format html`: exit 1 when the evidence chain is broken (the page is
/// written all the same and says so at its top).
pub fn run(
    config_path: &Path,
    client: Option<&str>,
    out: &Path,
    now: Timestamp,
) -> anyhow::Result<std::process::ExitCode> {
    let config = crate::config::load_with(config_path, crate::config::Secrets::Skip)
        .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let store = Store::open_read_only(&config.database)?;
    let exported = export(&config, &store, client, out, now)?;
    println!(
        "HTML export written to {} as of {now}",
        out.join(PAGE).display()
    );
    if let Some((id, what)) = &exported.chain.broken {
        eprintln!(
            "error: the evidence chain is broken at {id}: {what}; the page says so at its top"
        );
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn page(
    clients: &[ClientCoverage],
    incidents: &[OnRecord],
    chain: &ChainReport,
    now: Timestamp,
    zone: &TimeZone,
) -> String {
    let names: Vec<String> = clients
        .iter()
        .map(|c| format!("{} ({})", c.name, c.contractor))
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Assessor's package: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>NIST SP 800-171 rev2 assessor's package</h1>\n\
         <p class=\"meta\">{}</p>\n\
         <p class=\"meta\">Exported {} ({})</p>\n",
        escape(&names.join(", ")),
        escape(&names.join(", ")),
        escape(&now.to_string()),
        escape(&local(Some(now), zone)),
    );
    out.push_str(&chain_block(chain));
    for client in clients {
        let theirs = incidents::of_client(incidents, &client.contractor);
        out.push_str(&client_section(client, &theirs, zone));
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn chain_block(chain: &ChainReport) -> String {
    let mut out = String::from("<p class=\"meta\">Evidence chain: ");
    match (&chain.broken, &chain.head) {
        (Some((id, reason)), _) => {
            let _ = write!(
                out,
                "<span class=\"broken\">BROKEN at {}: {}</span>; the verdicts and hashes that \
                 rest on the rows from there on cannot be trusted",
                escape(&id.to_string()),
                escape(reason)
            );
        }
        (None, Some(head)) => {
            let _ = write!(
                out,
                "intact, {} row(s), head row {} <code>{}</code>",
                chain.rows,
                escape(&head.id.to_string()),
                escape(&head.chain)
            );
        }
        (None, None) => out.push_str("no evidence stored"),
    }
    out.push_str("</p>\n");
    out
}

fn client_section(client: &ClientCoverage, incidents: &[&OnRecord], zone: &TimeZone) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"client\">\n<h2>{} ({})</h2>\n",
        escape(&client.name),
        escape(&client.contractor)
    );
    let o = &client.overall;
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} objectives: {} owned, {} not applicable, {} without an owner; \
         {} watched; {} met (not applicable counted as met).</p>",
        o.objectives, o.owned, o.not_applicable, o.unowned, o.watched, o.met
    );

    out.push_str(
        "<h3>Per family</h3>\n<table><thead><tr><th>Family</th><th>Objectives</th><th>Owned</th>\
         <th>Not applicable</th><th>No owner</th><th>Watched</th><th>Met</th></tr></thead><tbody>\n",
    );
    for f in &client.families {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&f.scope),
            f.objectives,
            f.owned,
            f.not_applicable,
            f.unowned,
            f.watched,
            f.met
        );
    }
    out.push_str("</tbody></table>\n");

    out.push_str(
        "<h3>Objectives</h3>\n<table><thead><tr><th>Objective</th><th>Met now</th><th>Owner</th>\
         <th>Contractor's part</th><th>MSP's part</th><th>Duties: state, due, reason, evidence</th>\
         </tr></thead><tbody>\n",
    );
    for objective in &client.objectives {
        out.push_str(&objective_row(objective, zone));
    }
    out.push_str("</tbody></table>\n");

    out.push_str(&incident_block(incidents, zone));
    out.push_str(&evidence_table(&client.evidence, zone));
    out.push_str(&artifact_table(&client.evidence));
    out.push_str("</section>\n");
    out
}

/// The client's incidents, closed ones too: each deadline with what became of it, then the
/// timeline, as `incident_deadlines.csv` and `incident_timeline.csv` have them.
fn incident_block(incidents: &[&OnRecord], zone: &TimeZone) -> String {
    let mut out = String::from("<h3>Incidents (3.6.1, 3.6.2; DFARS 252.204-7012)</h3>\n");
    if incidents.is_empty() {
        out.push_str("<p class=\"meta\">No incident has opened a reporting clock.</p>\n");
        return out;
    }
    for OnRecord {
        stored, deadlines, ..
    } in incidents
    {
        let i = &stored.incident;
        // The store lists the incident's own id among the ids it is known by.
        let aliases: Vec<&str> = stored
            .aliases
            .iter()
            .map(String::as_str)
            .filter(|alias| *alias != i.id)
            .collect();
        let aliases = if aliases.is_empty() {
            String::new()
        } else {
            format!("; also known as {}", aliases.join(", "))
        };
        let _ = writeln!(
            out,
            "<p id=\"incident-{}\"><strong>{}</strong> {}<br><span class=\"meta\">severity {}; {}{}</span></p>",
            escape(&i.id),
            escape(&i.id),
            escape(i.title.as_deref().unwrap_or("(no title)")),
            escape(i.severity.as_deref().unwrap_or("not given")),
            if i.reportable {
                "reportable"
            } else {
                "not determined reportable"
            },
            escape(&aliases)
        );
        out.push_str(
            "<table class=\"deadlines\"><thead><tr><th>Deadline</th><th>Counts from</th><th>Due</th>\
             <th>Done</th><th>Outcome</th><th>How far off</th><th>Note</th></tr></thead><tbody>\n",
        );
        for d in deadlines {
            let class = outcome_class(d.outcome);
            let off = d.by.map(|by| d.outcome.off(by)).unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"state {class}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(d.deadline.clock.describe()),
                escape(d.starts_from),
                escape(&local(Some(d.deadline.due), zone)),
                escape(&local(d.deadline.done, zone)),
                escape(d.outcome.describe()),
                escape(&off),
                escape(&d.note)
            );
        }
        out.push_str("</tbody></table>\n");
        out.push_str(
            "<table class=\"timeline\"><thead><tr><th>When</th><th>Step</th><th>By</th>\
             <th>Report number</th><th>Note</th></tr></thead><tbody>\n",
        );
        for entry in &i.entries {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&local(Some(entry.at), zone)),
                escape(entry.step.describe()),
                escape(&entry.by),
                escape(entry.report_number.as_deref().unwrap_or_default()),
                escape(entry.note.as_deref().unwrap_or_default())
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out
}

/// The page's colour of an outcome: kept (or a hold that ran its course) green, still
/// running or ended before it was due neutral, not kept red.
fn outcome_class(outcome: Outcome) -> &'static str {
    match outcome {
        _ if outcome.not_kept() => "lapsed",
        Outcome::Kept | Outcome::HoldEnded => "met",
        _ => "open",
    }
}

fn objective_row(objective: &ObjectiveCoverage, zone: &TimeZone) -> String {
    let msp = if objective.justification.is_empty() {
        escape(&objective.msp_does)
    } else {
        format!("Not applicable: {}", escape(&objective.justification))
    };
    let duties = if objective.duties.is_empty() {
        if objective.unwatched {
            "<span class=\"state lapsed\">no duty watches it</span>".to_owned()
        } else {
            String::new()
        }
    } else {
        objective
            .duties
            .iter()
            .map(|duty| {
                let evidence: Vec<String> =
                    duty.evidence.iter().map(|id| format!("E{id}")).collect();
                format!(
                    "<div><code>{}</code> ({}): <span class=\"state {}\">{}</span>{}; {}{}</div>",
                    escape(&duty.duty),
                    escape(duty.responsible.as_str()),
                    escape(duty.state.as_str()),
                    escape(duty.state.as_str()),
                    duty.due
                        .map(|due| format!(", due {}", escape(&local(Some(due), zone))))
                        .unwrap_or_default(),
                    escape(&duty.reason),
                    if evidence.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", escape(&evidence.join(" ")))
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("")
    };
    // Met as coverage, the CSV's `objective_met` and the SPRS projection decide it: every
    // watching duty shows the work done now.
    let met = if objective.met {
        "<td class=\"state met objective-met\">yes</td>"
    } else {
        "<td class=\"state lapsed objective-met\">no</td>"
    };
    format!(
        "<tr id=\"{}\"><td>{}</td>{met}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        escape(&objective.objective),
        escape(&objective.objective),
        escape(objective.owner.as_str()),
        escape(&objective.contractor_does),
        msp,
        duties
    )
}

fn evidence_table(evidence: &[EvidenceRow], zone: &TimeZone) -> String {
    let mut out = String::from(
        "<h3>Evidence behind the verdicts</h3>\n<table><thead><tr><th>Id</th><th>Source</th>\
         <th>Origin</th><th>Speaks for</th><th>Collected</th><th>Type</th><th>SHA-256</th>\
         </tr></thead><tbody>\n",
    );
    if evidence.is_empty() {
        out.push_str("<tr><td colspan=\"7\">No evidence behind any verdict.</td></tr>\n");
    }
    for row in evidence {
        let hash = match (&row.sha256, &row.problem) {
            (Some(hash), None) => format!("<span class=\"hash\">{}</span>", escape(hash)),
            (_, Some(problem)) => format!(
                "<span class=\"broken\">TAMPERED: {}</span>",
                escape(problem)
            ),
            (None, None) => "<span class=\"broken\">not hashed</span>".to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr><td>E{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{hash}</td></tr>",
            row.id,
            escape(&row.source),
            escape(&row.origin),
            escape(&local(row.effective_at, zone)),
            escape(&local(row.fetched_at, zone)),
            escape(&row.media_type),
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

fn artifact_table(evidence: &[EvidenceRow]) -> String {
    let rows: Vec<&EvidenceRow> = evidence.iter().collect();
    let mut out = String::from(
        "<h3>Artifacts (file name and SHA-256, as the DoD artifact hashing procedure lists them)</h3>\n\
         <table><thead><tr><th>File</th><th>SHA-256</th><th>Evidence</th></tr></thead><tbody>\n",
    );
    for (name, hash, ids) in super::artifacts(&rows) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"hash\">{}</td><td>{}</td></tr>",
            escape(&name),
            escape(&hash),
            escape(&ids.join(" "))
        );
    }
    out.push_str("</tbody></table>\n");
    out
}
