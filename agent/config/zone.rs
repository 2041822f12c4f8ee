//! Time zone names, as the top level, a `[[contractor]]` and a source give them.

use jiff::tz::TimeZone;
use toml::Spanned;

use super::Context;

/// Names the time zone database keeps for old systems whose offset never changes, and the
/// places people mean by them: `EST` is UTC−5 all year, so a New York contractor's summer
/// times would be read an hour off. (`HST` is not among them: Hawaii keeps no daylight saving
/// time, so it reads Honolulu's times right.)
const FIXED_OFFSET_ABBREVIATIONS: &[(&str, &str)] = &[
    (
        "EST",
        "UTC−5 all year, so New York's summer times would be read an hour off; write `America/New_York` (or `Etc/GMT+5` if a fixed offset is really meant)",
    ),
    (
        "MST",
        "UTC−7 all year: right for Arizona, an hour off in Denver's summer; write `America/Phoenix` or `America/Denver` (or `Etc/GMT+7` if a fixed offset is really meant)",
    ),
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
        // As written but for surrounding spaces, for every check alike.
        let text = name.get_ref().trim();
        let message = if let Some((_, meant)) = FIXED_OFFSET_ABBREVIATIONS
            .iter()
            .find(|(abbreviation, _)| abbreviation.eq_ignore_ascii_case(text))
        {
            format!("`{text}` is a fixed offset without daylight saving time, {meant}")
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
