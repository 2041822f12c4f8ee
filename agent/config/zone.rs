//! Time zone names, as the top level, a `[[contractor]]` and a source give them.

use jiff::tz::TimeZone;
use toml::Spanned;

use super::Context;

/// Names the time zone database keeps for old systems whose offset never changes: `EST` is
/// UTC−5 all year, so a New York contractor's summer times would be read an hour off. Each
/// with the zone that was almost certainly meant.
const FIXED_OFFSET_ABBREVIATIONS: &[(&str, &str)] = &[
    ("EST", "America/New_York"),
    (
        "MST",
        "America/Denver (or America/Phoenix, which keeps no daylight saving time)",
    ),
    ("HST", "Pacific/Honolulu"),
];

impl Context<'_> {
    /// The IANA zone `name` (at `key`), or `None` having said why not; `otherwise` ends the
    /// message (what leaving the key out would do, or an example).
    pub(super) fn time_zone(
        &mut self,
        name: &Spanned<String>,
        key: &str,
        otherwise: &str,
    ) -> Option<TimeZone> {
        let text = name.get_ref();
        let message = if let Some((_, meant)) = FIXED_OFFSET_ABBREVIATIONS
            .iter()
            .find(|(abbreviation, _)| abbreviation.eq_ignore_ascii_case(text.trim()))
        {
            format!(
                "`{text}` is a fixed offset from UTC without daylight saving time, so local times in summer would be read an hour off; write the place's zone, e.g. `{meant}` (or `Etc/GMT+5` style if a fixed offset is really meant)"
            )
        } else {
            match TimeZone::get(text) {
                Ok(zone) => return Some(zone),
                Err(_) => format!("`{text}` is not an IANA time zone; {otherwise}"),
            }
        };
        self.error(name.span().start, key, message);
        None
    }
}
