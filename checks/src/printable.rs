//! Text from evidence and vendors as it may be shown: in a terminal, a table, a mail.
//!
//! An export's values and a server's words go into reasons, subjects and findings, and from
//! there to `status` and to mail, where an ESC sequence would rewrite the screen, a CR or LF
//! forge a line of its own, a NUL cut the text short, and a direction override make a line
//! read otherwise than it is. Each such character is written out as its escape (`\n`,
//! `\u{1b}`) instead.

use std::borrow::Cow;

/// Whether `c` is shown as its escape rather than as itself: control characters, direction
/// marks and overrides, line and paragraph separators, and characters that show as nothing
/// (zero-width spaces and joiners, the soft hyphen, a byte-order mark, tags), with which two
/// different values would look the same.
fn escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// `text` with every control character and direction override written out as its escape;
/// borrowed when there is none, as almost always.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `text`, printable, `…` when cut: a message names a value, it
/// does not copy a field of free text.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        if escaped(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_direction_overrides_are_written_out_and_plain_text_is_borrowed() {
        assert!(matches!(printable("ws-07 / KB50"), Cow::Borrowed(_)));
        assert_eq!(
            printable("guest\u{1b}]0;pwned\u{7}\nFAKE: met\r\u{202e}"),
            "guest\\u{1b}]0;pwned\\u{7}\\nFAKE: met\\r\\u{202e}"
        );
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("a\nb", 3), "a\\nb");
        assert_eq!(excerpt("é€", 5), "é€");
        assert_eq!(
            printable("\u{200b}member\u{feff}"),
            "\\u{200b}member\\u{feff}"
        );
    }
}
