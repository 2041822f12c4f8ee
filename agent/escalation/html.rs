//! The HTML part of an escalation mail: the template compiled into the binary, filled with
//! the same [`View`] as the plain text, every value escaped.

use super::view::{Block, View};
pub(crate) use crate::html::escape;
use crate::html::fill;

const TEMPLATE: &str = include_str!("mail.html");

/// The colour of a state's badge: red for a lapse, amber for a warning, green when resolved.
fn colour(block: &Block) -> &'static str {
    match (block.badge.as_str(), block.severity) {
        ("RESOLVED", _) => "#1e7b34",
        (_, 6) => "#b42318",
        (_, 3..=5) => "#b54708",
        _ => "#175cd3",
    }
}

fn block(block: &Block) -> String {
    let mut rows = String::new();
    for (label, value) in &block.rows {
        rows += &format!(
            "<tr><th style=\"text-align:left;vertical-align:top;padding:3px 12px 3px 0;font-weight:600;white-space:nowrap;\">{}</th><td style=\"padding:3px 0;\">{}</td></tr>\n",
            escape(label),
            escape(value)
        );
    }
    let mut subjects = String::new();
    if !block.subjects.is_empty() {
        subjects += &format!(
            "<p style=\"margin:10px 0 4px 0;font-weight:600;\">{}</p>\n<ul style=\"margin:0;padding-left:20px;\">\n",
            escape(&block.subjects_heading)
        );
        for line in &block.subjects {
            subjects += &format!("<li>{}</li>\n", escape(line));
        }
        if block.more > 0 {
            subjects += &format!(
                "<li>… and {} more (dutywatch status --subjects)</li>\n",
                block.more
            );
        }
        subjects += "</ul>\n";
    }
    format!(
        "<div style=\"margin:0 0 16px 0;padding:12px;border-left:4px solid {colour};background:#fafbfc;\">\n\
         <p style=\"margin:0 0 8px 0;font-size:16px;\"><span style=\"display:inline-block;padding:2px 8px;border-radius:3px;background:{colour};color:#ffffff;font-size:12px;font-weight:700;\">{badge}</span> <strong>{title}</strong></p>\n\
         <table style=\"border-collapse:collapse;font-size:14px;\">\n{rows}</table>\n{subjects}</div>",
        colour = colour(block),
        badge = escape(&block.badge),
        title = escape(&block.title),
    )
}

/// The whole HTML document of `view`.
pub(super) fn render(view: &View) -> String {
    let blocks: String = view.blocks.iter().map(block).collect::<Vec<_>>().join("\n");
    let link = view
        .link
        .as_ref()
        .map(|url| {
            format!(
                "<p style=\"margin:16px 0 0 0;\"><a href=\"{url}\" style=\"color:#175cd3;\">Open the report</a></p>",
                url = escape(url)
            )
        })
        .unwrap_or_default();
    let footer: String = view
        .footer
        .iter()
        .map(|line| format!("<p style=\"margin:4px 0;\">{}</p>", escape(line)))
        .collect();
    fill(
        TEMPLATE,
        &[
            ("subject", &escape(&view.subject)),
            ("intro", &escape(&view.intro)),
            ("blocks", &blocks),
            ("link", &link),
            ("footer", &footer),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped_and_no_placeholder_is_left() {
        let view = View {
            subject: "[dutywatch] LAPSED: <script>".to_owned(),
            intro: "Tom & Jerry's \"duty\"".to_owned(),
            blocks: vec![Block {
                badge: "LAPSED".to_owned(),
                severity: 6,
                title: "<b>Restore</b> {{footer}}".to_owned(),
                rows: vec![("Why", "a < b".to_owned())],
                subjects_heading: "Subjects (1 lapsed)".to_owned(),
                subjects: vec!["srv-<01>".to_owned()],
                more: 0,
                duty_still: None,
            }],
            footer: vec!["ack & go".to_owned()],
            link: Some("https://x.example/a?b=1&c=\"2\"".to_owned()),
        };
        let html = render(&view);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;b&gt;Restore&lt;/b&gt;"));
        assert!(html.contains("Tom &amp; Jerry&#39;s &quot;duty&quot;"));
        assert!(html.contains("srv-&lt;01&gt;"));
        assert!(html.contains("href=\"https://x.example/a?b=1&amp;c=&quot;2&quot;\""));
        assert!(
            html.contains("{{footer}}</strong>"),
            "a value that looks like a placeholder stays text"
        );
        assert!(html.contains("<p style=\"margin:4px 0;\">ack &amp; go</p>"));
    }

    #[test]
    fn the_mail_has_a_value_for_every_placeholder() {
        // `fill` drops a placeholder without a value; this holds that none is forgotten.
        let names: Vec<&str> = TEMPLATE
            .split("{{")
            .skip(1)
            .filter_map(|part| part.split_once("}}").map(|(name, _)| name.trim()))
            .collect();
        assert_eq!(names.len(), 5, "{names:?}");
        let html = render(&View {
            subject: "subject-mark".to_owned(),
            intro: "intro-mark".to_owned(),
            blocks: vec![Block {
                badge: "LAPSED".to_owned(),
                severity: 6,
                title: "blocks-mark".to_owned(),
                rows: Vec::new(),
                subjects_heading: String::new(),
                subjects: Vec::new(),
                more: 0,
                duty_still: None,
            }],
            footer: vec!["footer-mark".to_owned()],
            link: Some("https://link-mark.example".to_owned()),
        });
        for name in names {
            assert!(
                html.contains(&format!("{name}-mark")),
                "{{{{{name}}}}} is not filled"
            );
        }
    }
}
