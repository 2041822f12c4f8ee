//! HTML for the pages and mail parts dutywatch writes: one escaping function for every value
//! that goes into markup (mails, the weekly digest, the assessor's page), and one way a
//! compiled-in template's `{{slot}}`s are filled.

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `template` with each `{{name}}` (spaces around the name allowed) replaced by its slot's
/// markup, in one pass over the template, so a value is never scanned for placeholders itself.
/// A name without a slot becomes empty: no `{{…}}` ever reaches a reader. Nothing relies on
/// that: each template has a test holding every one of its placeholders filled
/// (`the_page_has_a_slot_for_every_placeholder`, `the_mail_has_a_value_for_every_placeholder`).
/// The values are markup as they are; the caller escapes what it puts in them.
pub fn fill<V: AsRef<str>>(template: &str, slots: &[(&str, V)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            // An unclosed `{{` is text.
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        if let Some((_, value)) = slots.iter().find(|(slot, _)| *slot == name) {
            out.push_str(value.as_ref());
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_slots_in_one_pass_and_drops_unknown_ones() {
        let page = fill(
            "<p>{{a}}</p>{{ b }}{{gone}} {{open",
            &[("a", "{{b}}"), ("b", "<b>ok</b>")],
        );
        // `a`'s value is not scanned again; `gone` has no slot; the unclosed `{{` stays.
        assert_eq!(page, "<p>{{b}}</p><b>ok</b> {{open");
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }
}
