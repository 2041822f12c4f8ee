//! Lengths of time as people write them in configs: `72h`, `90d`, `1d 12h`.
//!
//! A day is exactly 24 hours here. The deadlines dutywatch checks are
//! counted in elapsed wall-clock time (DFARS 7012's 72 hours do not pause for
//! weekends or DST), so calendar-aware arithmetic would be wrong, not just
//! unnecessary.

use std::fmt;
use std::str::FromStr;

use jiff::SignedDuration;

/// A non-negative length of time with one-second resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period(SignedDuration);

const UNITS: [(char, i64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// The longest period a config may write. No compliance deadline is longer,
/// and the bound keeps every sum of periods and instants far inside range.
const MAX_SECONDS: i64 = 36_500 * 86_400;

/// Why a text is not a period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a duration: {why} (write it as e.g. `30m`, `72h`, `90d`, `2w` or `1d 12h`)"
)]
pub struct ParsePeriodError {
    input: String,
    why: &'static str,
}

impl Period {
    /// A period of `seconds` seconds; negative inputs clamp to zero.
    pub fn from_secs(seconds: i64) -> Period {
        Period(SignedDuration::from_secs(seconds.max(0)))
    }

    /// The span from `earlier` to `later`, zero if `later` is not later.
    ///
    /// A part second counts as a whole one: an instant a millisecond past a
    /// deadline is overdue by 1s, never by a `0s` that no config could
    /// express and that would contradict being late at all.
    pub fn between(earlier: jiff::Timestamp, later: jiff::Timestamp) -> Period {
        let span = later.duration_since(earlier);
        let part = i64::from(span.subsec_nanos() > 0);
        Period::from_secs(span.as_secs().saturating_add(part))
    }

    pub fn as_secs(self) -> i64 {
        self.0.as_secs()
    }

    pub fn as_signed_duration(self) -> SignedDuration {
        self.0
    }
}

impl FromStr for Period {
    type Err = ParsePeriodError;

    fn from_str(input: &str) -> Result<Period, ParsePeriodError> {
        let error = |why| ParsePeriodError {
            input: input.to_owned(),
            why,
        };
        let mut total: i64 = 0;
        let mut rest = input.trim();
        if rest.is_empty() {
            return Err(error("it is empty"));
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(error("each part must start with a whole number"));
            }
            let value: i64 = rest[..digits]
                .parse()
                .map_err(|_| error("the number is too large"))?;
            rest = &rest[digits..];
            let unit = rest
                .chars()
                .next()
                .ok_or_else(|| error("a number has no unit (s, m, h, d or w)"))?;
            let (_, seconds) = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .ok_or_else(|| error("the unit must be one of s, m, h, d, w"))?;
            total = value
                .checked_mul(*seconds)
                .and_then(|part| total.checked_add(part))
                .ok_or_else(|| error("the number is too large"))?;
            rest = rest[unit.len_utf8()..].trim_start();
        }
        if total == 0 {
            return Err(error("it must be longer than zero"));
        }
        if total > MAX_SECONDS {
            return Err(error("it may be at most 100 years (36500d)"));
        }
        Ok(Period::from_secs(total))
    }
}

impl fmt::Display for Period {
    /// Largest units first, e.g. `90d`, `1d 12h`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.as_secs();
        if rest == 0 {
            return f.write_str("0s");
        }
        let mut first = true;
        // Weeks read worse than days in deadlines ("13w" vs "91d"), so
        // display starts at days.
        for (unit, seconds) in &UNITS[1..] {
            if rest >= *seconds {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{}{unit}", rest / seconds)?;
                rest %= seconds;
                first = false;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Period, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        let cases = [
            ("30s", 30),
            ("15m", 900),
            ("72h", 72 * 3600),
            ("90d", 90 * 86_400),
            ("2w", 14 * 86_400),
            ("1d 12h", 36 * 3600),
            ("1d12h30m", 36 * 3600 + 1800),
            (" 24h ", 86_400),
            ("36500d", 36_500 * 86_400),
        ];
        for (text, seconds) in cases {
            assert_eq!(text.parse::<Period>().unwrap().as_secs(), seconds, "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in [
            "",
            "h",
            "12",
            "12x",
            "-3d",
            "0h",
            "1.5d",
            "99999999999999999999d",
            "100000000000000d",
            "36501d",
            "3 d",
        ] {
            let error = text.parse::<Period>().unwrap_err().to_string();
            assert!(error.contains("is not a duration"), "{text}: {error}");
            assert!(
                error.contains("72h"),
                "the error shows the accepted form: {error}"
            );
        }
    }

    #[test]
    fn displays_largest_units_first() {
        assert_eq!(Period::from_secs(90 * 86_400).to_string(), "90d");
        assert_eq!(Period::from_secs(36 * 3600 + 60).to_string(), "1d 12h 1m");
        assert_eq!(Period::from_secs(0).to_string(), "0s");
        assert_eq!(Period::from_secs(-5).to_string(), "0s");
    }

    #[test]
    fn between_counts_a_part_second_as_whole() {
        let due: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let later = |text: &str| text.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(Period::between(due, due).as_secs(), 0);
        assert_eq!(
            Period::between(due, later("2026-01-01T00:00:00.001Z")).as_secs(),
            1
        );
        assert_eq!(
            Period::between(due, later("2026-01-01T00:00:01Z")).as_secs(),
            1
        );
        assert_eq!(
            Period::between(due, later("2026-01-01T00:00:01.5Z")).as_secs(),
            2
        );
        assert_eq!(
            Period::between(later("2026-01-01T00:00:05Z"), due).as_secs(),
            0
        );
    }

    #[test]
    fn display_round_trips() {
        for seconds in [1, 59, 61, 3600, 86_399, 86_400, 1_000_000] {
            let period = Period::from_secs(seconds);
            assert_eq!(period.to_string().parse::<Period>().unwrap(), period);
        }
    }
}
