//! Times and cadences as contractors' evidence and configs write them.
//!
//! Spreadsheets and CSV exports write times without an offset
//! (`2026-11-29 23:00`), bare dates (`2026-11-02`) and US dates the way Excel
//! prints them (`11/2/2026 9:05 AM`). Reading those as UTC shifts every
//! deadline by the contractor's offset, and dropping them loses the evidence,
//! so this module reads them in the contractor's IANA zone. A bare date is
//! kept as a whole local day ([`When::Day`]) instead of being pinned to some
//! instant, because "done on 2026-11-02" says nothing about the hour.
//!
//! Recurring work ([`Cadence`]) is counted on the calendar of that zone: a
//! weekly review due Monday 09:00 stays due at Monday 09:00 across a DST
//! change, and "monthly" means the same day next month. Hour deadlines
//! (`72h`) stay elapsed time, as [`crate::period`] explains.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use jiff::fmt::strtime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

/// A time as evidence wrote it: an instant, or a whole local day (a bare date).
///
/// A day stays a day until a zone is known, so that "due on 2026-11-02" can
/// lapse at the end of that day where the contractor is, not at UTC midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    At(Timestamp),
    Day(Date),
}

impl When {
    /// The first instant the value covers in `zone` (a Day: local midnight, or
    /// the first existing instant of that day when midnight is skipped by DST).
    ///
    /// Saturates to `Timestamp::MIN`/`MAX` for days at the ends of jiff's range.
    pub fn start(&self, zone: &TimeZone) -> Timestamp {
        match *self {
            When::At(at) => at,
            When::Day(day) => day_start(day, zone),
        }
    }

    /// The first instant after the value: At(t) → t; Day(d) → start of d+1 in
    /// `zone`. A deadline "due on day d" lapses at this instant.
    pub fn end(&self, zone: &TimeZone) -> Timestamp {
        match *self {
            When::At(at) => at,
            When::Day(day) => match day.tomorrow() {
                Ok(next) => day_start(next, zone),
                Err(_) => Timestamp::MAX,
            },
        }
    }
}

/// Local midnight of `day`, or the first instant after a gap that swallows
/// midnight: `Compatible` resolves a gap to the later side, which is exactly
/// the instant the day begins.
fn day_start(day: Date, zone: &TimeZone) -> Timestamp {
    match zone
        .to_ambiguous_timestamp(day.to_datetime(Time::midnight()))
        .compatible()
    {
        Ok(at) => at,
        Err(_) if day.year() > 0 => Timestamp::MAX,
        Err(_) => Timestamp::MIN,
    }
}

/// How to read texts that carry no offset: the zone, and an optional
/// strftime-style format (jiff::fmt::strtime) a source declares for anything
/// else (`date_format = "%d.%m.%Y"`).
///
/// With a `format`, [`TimeReader::read`] tries it first, then the unambiguous
/// ISO 8601 / RFC 3339 forms, but never the US `M/D/YYYY` form: a source that
/// says `%d/%m/%Y` must never have `02/11/2026` read as February 11.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeReader {
    pub zone: TimeZone,
    pub format: Option<DateFormat>,
}

/// A validated custom format.
///
/// `FromStr` refuses an empty format or one jiff cannot use, and knows whether
/// it has a time-of-day part (no `%H`/`%I`/`%M`/`%S`/`%T`/`%R`… ⇒ it reads
/// Days). Validation writes a sample time with the format and reads it back,
/// so a format that jiff can print but not parse (`%Z`), that names no full
/// date (`%H:%M`) or that loses the hour (`%I` without `%p`) is refused when
/// the config loads instead of failing every value later. Surrounding
/// whitespace is trimmed, as it is from the values read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateFormat {
    text: String,
    has_time: bool,
    /// The sample time written with this format, to show in error messages.
    example: String,
}

/// Why a text is not a usable `date_format`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{format}` is not a usable date_format: {why} (write a strftime-style format such as `%d.%m.%Y` or `%d.%m.%Y %H:%M`)"
)]
pub struct DateFormatError {
    format: String,
    why: String,
}

impl DateFormat {
    /// Whether the format reads a time of day (an instant) or only a date (a Day).
    pub fn has_time(&self) -> bool {
        self.has_time
    }

    fn read(&self, text: &str, zone: &TimeZone) -> Option<Result<When, &'static str>> {
        let parsed = strtime::parse(&self.text, text).ok()?;
        if !self.has_time {
            return Some(parsed.to_date().map(When::Day).map_err(|_| NO_SUCH_DAY));
        }
        if parsed.timestamp().is_some() || parsed.offset().is_some() {
            return Some(
                parsed
                    .to_timestamp()
                    .map(When::At)
                    .map_err(|_| NO_SUCH_TIME),
            );
        }
        Some(match parsed.to_datetime() {
            Ok(local) => local_in_zone(local, zone),
            Err(_) => Err(NO_SUCH_TIME),
        })
    }
}

/// The sample a format must write and read back: a day above 12 and an
/// afternoon hour, so that day/month and 12/24-hour mistakes in jiff's
/// reading show.
fn format_sample() -> Option<jiff::Zoned> {
    let local = DateTime::new(2026, 11, 29, 14, 30, 45, 123_456_789).ok()?;
    local.to_zoned(TimeZone::UTC).ok()
}

impl FromStr for DateFormat {
    type Err = DateFormatError;

    fn from_str(input: &str) -> Result<DateFormat, DateFormatError> {
        let text = input.trim();
        let error = |why: &str| DateFormatError {
            format: quote(text),
            why: why.to_owned(),
        };
        if text.is_empty() {
            return Err(error("it is empty"));
        }
        let sample = format_sample().ok_or_else(|| error("no sample time to check it with"))?;
        let example = strtime::format(text, &sample)
            .map_err(|e| error(&format!("jiff cannot write it ({e})")))?;
        let parsed = strtime::parse(text, &example)
            .map_err(|e| error(&format!("jiff cannot read back `{example}` with it ({e})")))?;
        match parsed.to_date() {
            Ok(date) if date == sample.date() => {}
            _ => {
                return Err(error(
                    "it must name the year, month and day (e.g. %Y, %m and %d)",
                ));
            }
        }
        let has_time = parsed.hour().is_some() || parsed.timestamp().is_some();
        if has_time && parsed.timestamp().is_none() {
            let time = parsed.to_time().ok();
            if time.map(|t| (t.hour(), t.minute())) != Some((14, 30)) {
                return Err(error(&format!(
                    "it reads `{example}` back as another time of day (use %H, or %I together with %p)"
                )));
            }
        }
        Ok(DateFormat {
            text: text.to_owned(),
            has_time,
            example,
        })
    }
}

impl fmt::Display for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for DateFormat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DateFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<DateFormat, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a value is not a time. The message quotes the value (at most 60
/// characters, cut with `…`, so a stray 1 KB cell does not flood the log) and
/// says which forms are accepted, because the person reading it has to fix the
/// export, not the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a date or time{why}: write {accepted}")]
pub struct TimeError {
    value: String,
    why: &'static str,
    accepted: String,
}

const EMPTY: &str = " (it is empty)";
const NO_SUCH_DAY: &str = " (there is no such day)";
const NO_SUCH_TIME: &str = " (there is no such time)";
const OUT_OF_RANGE: &str = " (it is out of range)";

/// At most 60 characters of `text`, printable, `…` when cut.
fn quote(text: &str) -> String {
    crate::printable::excerpt(text, 60)
}

impl TimeReader {
    pub fn new(zone: TimeZone) -> TimeReader {
        TimeReader { zone, format: None }
    }

    /// Reads one cell/field. Accepts, after trimming:
    ///  - the custom `format` first when one is set;
    ///  - RFC 3339 / ISO 8601 with `Z` or an offset
    ///    (`2026-11-29T23:00:00-05:00`, fractional seconds ok) → At, whatever
    ///    the zone: the writer said which instant it meant;
    ///  - ISO local date-time `2026-11-29T23:00[:00[.fff]]` and
    ///    `2026-11-29 23:00[:SS]` → At, read in `zone`;
    ///  - `YYYY-MM-DD` → Day;
    ///  - only when no `format` is set: `M/D/YYYY` (1 or 2 digit month/day,
    ///    4-digit year) → Day; `M/D/YYYY h:mm[:ss] AM|PM` (any case) and
    ///    24-hour `M/D/YYYY H:MM[:SS]` → At in `zone`. A source with its own
    ///    format (say `%d/%m/%Y`) must never have `02/11/2026` read as Feb 11.
    ///
    /// A local time in a DST gap or fold is resolved with jiff's
    /// `Disambiguation::Compatible`: in a gap the clock is read as if it had
    /// not jumped yet (02:30 on a spring-forward night becomes 03:30
    /// daylight time), in a fold the earlier of the two instants is taken —
    /// the same choice spreadsheets and most libraries make.
    ///
    /// Anything else (empty, `yesterday`, `13/45/2026`, two-digit years
    /// `11/2/26`, `2026-02-30`, bare numbers) is an error.
    pub fn read(&self, text: &str) -> Result<When, TimeError> {
        let text = text.trim();
        let outcome = if text.is_empty() {
            Some(Err(EMPTY))
        } else {
            self.format
                .as_ref()
                .and_then(|format| format.read(text, &self.zone))
                .or_else(|| text.parse::<Timestamp>().ok().map(|at| Ok(When::At(at))))
                .or_else(|| read_iso_local(text, &self.zone))
                .or_else(|| {
                    if self.format.is_some() {
                        None
                    } else {
                        read_us(text, &self.zone)
                    }
                })
        };
        match outcome {
            Some(Ok(when)) => Ok(when),
            Some(Err(why)) => Err(self.error(text, why)),
            None => Err(self.error(text, "")),
        }
    }

    /// JSON numbers are Unix epoch seconds (integer or float, truncated);
    /// strings go to `read`; anything else is an error.
    pub fn read_json(&self, value: &serde_json::Value) -> Result<When, TimeError> {
        match value {
            serde_json::Value::String(text) => self.read(text),
            serde_json::Value::Number(number) => {
                let seconds = match (number.as_i64(), number.as_f64()) {
                    (Some(whole), _) => Some(whole),
                    // `as` saturates, and out-of-range seconds fail below.
                    (None, Some(float)) if float.is_finite() => Some(float.trunc() as i64),
                    _ => None,
                };
                seconds
                    .and_then(|s| Timestamp::from_second(s).ok())
                    .map(When::At)
                    .ok_or_else(|| self.error(&number.to_string(), OUT_OF_RANGE))
            }
            other => Err(self.error(&other.to_string(), "")),
        }
    }

    fn error(&self, text: &str, why: &'static str) -> TimeError {
        let accepted = match &self.format {
            Some(format) => format!(
                "it as {} (the source's date_format `{}`), 2026-11-02, 2026-11-02 14:30 or an RFC 3339 time with an offset",
                format.example, format.text
            ),
            None => "2026-11-02, 2026-11-02 14:30, 11/2/2026 2:30 PM or an RFC 3339 time with an offset (or set the source's date_format)".to_owned(),
        };
        TimeError {
            value: quote(text),
            why,
            accepted,
        }
    }
}

/// A local date-time read in `zone`, gaps and folds resolved `Compatible`.
fn local_in_zone(local: DateTime, zone: &TimeZone) -> Result<When, &'static str> {
    zone.to_ambiguous_timestamp(local)
        .compatible()
        .map(When::At)
        .map_err(|_| OUT_OF_RANGE)
}

/// A tiny cursor over ASCII bytes for the fixed built-in forms; jiff's own
/// parsers are more lenient than these forms should be (a `Date` parse takes
/// a full date-time, for one).
struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    /// Between `min` and `max` ASCII digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<i32> {
        let count = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if count < min || count > max {
            return None;
        }
        let (number, rest) = self.rest.split_at(count);
        self.rest = rest;
        Some(
            number
                .iter()
                .fold(0, |acc, digit| acc * 10 + i32::from(digit - b'0')),
        )
    }

    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((first, rest)) if *first == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }

    fn eat_any(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().any(|byte| self.eat(*byte))
    }

    fn spaces(&mut self) -> usize {
        let count = self.rest.iter().take_while(|b| **b == b' ').count();
        self.rest = &self.rest[count..];
        count
    }

    fn done(&self) -> bool {
        self.rest.is_empty()
    }
}

/// A date from parsed numbers, `NO_SUCH_DAY` when the calendar has none.
fn date(year: i32, month: i32, day: i32) -> Result<Date, &'static str> {
    let (Ok(year), Ok(month), Ok(day)) =
        (i16::try_from(year), i8::try_from(month), i8::try_from(day))
    else {
        return Err(NO_SUCH_DAY);
    };
    Date::new(year, month, day).map_err(|_| NO_SUCH_DAY)
}

fn time(hour: i32, minute: i32, second: i32, nanos: i32) -> Result<Time, &'static str> {
    let (Ok(hour), Ok(minute), Ok(second)) = (
        i8::try_from(hour),
        i8::try_from(minute),
        i8::try_from(second),
    ) else {
        return Err(NO_SUCH_TIME);
    };
    Time::new(hour, minute, second, nanos).map_err(|_| NO_SUCH_TIME)
}

/// `YYYY-MM-DD`, optionally followed by `T`/space and `H[H]:MM[:SS[.f…]]`.
fn read_iso_local(text: &str, zone: &TimeZone) -> Option<Result<When, &'static str>> {
    let mut cursor = Cursor {
        rest: text.as_bytes(),
    };
    let year = cursor.digits(4, 4)?;
    cursor.eat(b'-').then_some(())?;
    let month = cursor.digits(2, 2)?;
    cursor.eat(b'-').then_some(())?;
    let day = cursor.digits(2, 2)?;
    if cursor.done() {
        return Some(date(year, month, day).map(When::Day));
    }
    if !cursor.eat_any(b"Tt") && cursor.spaces() == 0 {
        return None;
    }
    let hour = cursor.digits(1, 2)?;
    cursor.eat(b':').then_some(())?;
    let minute = cursor.digits(2, 2)?;
    let (mut second, mut nanos) = (0, 0);
    if cursor.eat(b':') {
        second = cursor.digits(2, 2)?;
        if cursor.eat_any(b".,") {
            nanos = fraction(&mut cursor)?;
        }
    }
    if !cursor.done() {
        return None;
    }
    Some(local(
        date(year, month, day),
        time(hour, minute, second, nanos),
        zone,
    ))
}

/// 1 to 9 fractional digits as nanoseconds.
fn fraction(cursor: &mut Cursor<'_>) -> Option<i32> {
    let count = cursor
        .rest
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let value = cursor.digits(1, 9)?;
    let scale = (count..9).fold(1, |acc, _| acc * 10);
    Some(value * scale)
}

fn local(
    day: Result<Date, &'static str>,
    time: Result<Time, &'static str>,
    zone: &TimeZone,
) -> Result<When, &'static str> {
    local_in_zone(DateTime::from_parts(day?, time?), zone)
}

/// `M/D/YYYY`, optionally followed by `H:MM[:SS]` and an optional `AM`/`PM`.
fn read_us(text: &str, zone: &TimeZone) -> Option<Result<When, &'static str>> {
    let mut cursor = Cursor {
        rest: text.as_bytes(),
    };
    let month = cursor.digits(1, 2)?;
    cursor.eat(b'/').then_some(())?;
    let day = cursor.digits(1, 2)?;
    cursor.eat(b'/').then_some(())?;
    let year = cursor.digits(4, 4)?;
    if cursor.done() {
        return Some(date(year, month, day).map(When::Day));
    }
    if cursor.spaces() == 0 {
        return None;
    }
    let hour = cursor.digits(1, 2)?;
    cursor.eat(b':').then_some(())?;
    let minute = cursor.digits(2, 2)?;
    let second = if cursor.eat(b':') {
        cursor.digits(2, 2)?
    } else {
        0
    };
    cursor.spaces();
    let hour = if cursor.done() {
        hour
    } else {
        let pm = match cursor.rest {
            [a, m] if a.eq_ignore_ascii_case(&b'a') && m.eq_ignore_ascii_case(&b'm') => false,
            [p, m] if p.eq_ignore_ascii_case(&b'p') && m.eq_ignore_ascii_case(&b'm') => true,
            _ => return None,
        };
        if !(1..=12).contains(&hour) {
            return Some(Err(NO_SUCH_TIME));
        }
        // 12:xx AM is just after midnight, 12:xx PM just after noon.
        hour % 12 + if pm { 12 } else { 0 }
    };
    Some(local(
        date(year, month, day),
        time(hour, minute, second, 0),
        zone,
    ))
}

/// How often recurring work is due, as people say it. Calendar units are
/// counted in the zone: days, weeks, months, quarters, years; hours, minutes
/// and seconds are elapsed time.
///
/// Accepted texts: Period's syntax (`7d`, `90d`, `2w`, `12h`, `30m`,
/// `1d 12h`, where `d` and `w` are calendar days and `h`/`m`/`s` elapsed
/// time), and words: `N day(s)`, `N week(s)`, `N month(s)`, `N quarter(s)`,
/// `N year(s)`, or without a count `day`, `daily`, `week`, `weekly`, `month`,
/// `monthly`, `quarter`, `quarterly`, `year`, `yearly`, `annually` (words in
/// any case). `1mo` and `1y` are refused with a hint to write the word: next
/// to `30m` for minutes, `1mo` is one typo away from a per-minute duty, so
/// months and years have exactly one spelling. Words and units do not mix
/// (`1 month 2d`, `month 3`, `2 monthly` are refused). A cadence is longer
/// than zero and at most 100 years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cadence {
    /// Calendar months; when non-zero, `days` and `secs` are zero.
    months: u32,
    /// Calendar days (weeks count 7).
    days: u32,
    /// Elapsed seconds.
    secs: u32,
}

const MAX_MONTHS: u32 = 1200;
const MAX_SECS: i64 = 36_500 * 86_400;

/// Why a text is not a cadence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a cadence: {why} (write e.g. `7d`, `72h`, `2w`, `1 month`, `quarterly` or `2 years`)"
)]
pub struct ParseCadenceError {
    input: String,
    why: &'static str,
}

impl Cadence {
    /// `months` calendar months (12 is a year); at least 1, at most 100 years.
    pub fn from_months(months: u32) -> Cadence {
        Cadence {
            months: months.clamp(1, MAX_MONTHS),
            days: 0,
            secs: 0,
        }
    }

    /// `days` calendar days; at least 1, at most 100 years.
    pub fn from_days(days: i64) -> Cadence {
        let days = u32::try_from(days.clamp(1, MAX_SECS / 86_400)).unwrap_or(1);
        Cadence {
            months: 0,
            days,
            secs: 0,
        }
    }

    /// `from` + this cadence in `zone`: calendar units via jiff's Zoned
    /// arithmetic (Monday 09:00 EDT + 7d = Monday 09:00 EST), then elapsed
    /// units. A wall-clock result in a DST gap or fold resolves `Compatible`.
    ///
    /// Month ends clamp (Jan 31 + 1 month = Feb 28/29), as jiff does, and a
    /// clamped result lapses at the *end* of that last day (Jan 31 10:00 +
    /// 1 month = Mar 1 00:00), not at 10:00 on it: keeping the clock time
    /// would make work done on Jan 31 due before work done at 15:00 on Jan 30,
    /// and it matches [`Cadence::due`] for a Day (Jan 31 → end of Feb 28).
    ///
    /// The result is always strictly after `from` and saturates at
    /// `Timestamp::MAX`. It never decreases as `from` grows, with one
    /// exception inherent to counting on the wall clock: while the clock
    /// repeats an hour (a fold), a later instant can show an earlier local
    /// time, and its deadline is then earlier by less than the fold's length.
    pub fn after(&self, from: Timestamp, zone: &TimeZone) -> Timestamp {
        let calendar = if self.months > 0 {
            Span::new().try_months(self.months)
        } else {
            Span::new().try_days(self.days)
        };
        let shifted = if self.months == 0 && self.days == 0 {
            Ok(from)
        } else {
            let start = from.to_zoned(zone.clone());
            calendar
                .and_then(|span| start.checked_add(span))
                .map(|zoned| {
                    if self.months > 0 && zoned.day() < start.day() {
                        // The month lacks the day: due at the end of its last day.
                        When::Day(zoned.date()).end(zone)
                    } else {
                        zoned.timestamp()
                    }
                })
        };
        let result = shifted
            .and_then(|at| at.checked_add(SignedDuration::from_secs(i64::from(self.secs))))
            .unwrap_or(Timestamp::MAX);
        if result > from {
            result
        } else {
            // Only a zone that turned its clock back by a whole day (Alaska
            // in 1867) gets here; fall back to elapsed time.
            from.checked_add(SignedDuration::from_secs(self.approx_secs()))
                .unwrap_or(Timestamp::MAX)
        }
    }

    /// For a date-only completion: the day the work is next due (d + the
    /// calendar days, months or years). An elapsed part rounds up to whole
    /// days (`12h` → the next day, `36h` → two days): the hour the work was
    /// done is unknown, and evidence that lacks it should not make a duty
    /// lapse sooner. Saturates at `Date::MAX`.
    pub fn after_day(&self, from: Date) -> Date {
        let span = if self.months > 0 {
            Span::new().try_months(self.months)
        } else {
            let elapsed_days = self.secs.div_ceil(86_400);
            Span::new().try_days(i64::from(self.days) + i64::from(elapsed_days))
        };
        span.and_then(|span| from.checked_add(span))
            .unwrap_or(Date::MAX)
    }

    /// The deadline for work completed at `done`: At → after(); Day → end of
    /// after_day() in zone ("a review due 90 days after 2026-11-02 lapses at
    /// the end of that local day").
    pub fn due(&self, done: When, zone: &TimeZone) -> Timestamp {
        match done {
            When::At(at) => self.after(at, zone),
            When::Day(day) => When::Day(self.after_day(day)).end(zone),
        }
    }

    /// Roughly how long one cadence is, in seconds (month = 30d, year =
    /// 365d), for defaults such as a warning window of a sixth of the period
    /// and for sizing evidence windows.
    pub fn approx_secs(&self) -> i64 {
        let years = i64::from(self.months / 12);
        let months = i64::from(self.months % 12);
        (years * 365 + months * 30 + i64::from(self.days)) * 86_400 + i64::from(self.secs)
    }

    fn from_words(count: Option<&str>, word: &str) -> Result<Cadence, &'static str> {
        let word = word.to_ascii_lowercase();
        let (months, days) = match (count.is_some(), word.as_str()) {
            (false, "day" | "daily") | (true, "day" | "days") => (0, 1),
            (false, "week" | "weekly") | (true, "week" | "weeks") => (0, 7),
            (false, "month" | "monthly") | (true, "month" | "months") => (1, 0),
            (false, "quarter" | "quarterly") | (true, "quarter" | "quarters") => (3, 0),
            (false, "year" | "yearly" | "annually") | (true, "year" | "years") => (12, 0),
            (true, "daily" | "weekly" | "monthly" | "quarterly" | "yearly" | "annually") => {
                return Err("a word like `monthly` takes no count (write `3 months`)");
            }
            _ => {
                return Err(
                    "the word must be one of day, week, month, quarter, year (or daily, weekly, monthly, quarterly, yearly, annually)",
                );
            }
        };
        let count: u32 = match count {
            None => 1,
            Some(text) if text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse().map_err(|_| "the number is too large")?
            }
            Some(text) if text.starts_with('-') => return Err("it cannot be negative"),
            Some(_) => return Err("the count must be a whole number, as in `3 months`"),
        };
        if count == 0 {
            return Err("it must be longer than zero");
        }
        if months > 0 {
            let months = count
                .checked_mul(months)
                .filter(|m| *m <= MAX_MONTHS)
                .ok_or("it may be at most 100 years")?;
            Ok(Cadence {
                months,
                days: 0,
                secs: 0,
            })
        } else {
            Cadence::from_parts(i64::from(count) * days, 0)
        }
    }

    fn from_units(text: &str) -> Result<Cadence, &'static str> {
        if text.starts_with('-') {
            return Err("it cannot be negative");
        }
        let (mut days, mut secs): (i64, i64) = (0, 0);
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err("each part must start with a whole number");
            }
            let value: i64 = rest[..digits]
                .parse()
                .map_err(|_| "the number is too large")?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| !c.is_alphabetic())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let (calendar, seconds) = match unit {
                "w" => (true, 7),
                "d" => (true, 1),
                "h" => (false, 3_600),
                "m" => (false, 60),
                "s" => (false, 1),
                "" => return Err("a number has no unit (s, m, h, d or w)"),
                "mo" | "mon" | "M" | "y" | "yr" | "Y" | "q" => {
                    return Err(
                        "write months, quarters and years as words (`1 month`, `quarterly`, `1 year`)",
                    );
                }
                _ => return Err("the unit must be one of s, m, h, d, w"),
            };
            let part = value
                .checked_mul(seconds)
                .ok_or("the number is too large")?;
            let total = if calendar { &mut days } else { &mut secs };
            *total = total.checked_add(part).ok_or("the number is too large")?;
            rest = rest[unit_len..].trim_start();
        }
        Cadence::from_parts(days, secs)
    }

    fn from_parts(days: i64, secs: i64) -> Result<Cadence, &'static str> {
        let total = days
            .checked_mul(86_400)
            .and_then(|d| d.checked_add(secs))
            .ok_or("it may be at most 100 years (36500d)")?;
        if total == 0 {
            return Err("it must be longer than zero");
        }
        if total > MAX_SECS {
            return Err("it may be at most 100 years (36500d)");
        }
        match (u32::try_from(days), u32::try_from(secs)) {
            (Ok(days), Ok(secs)) => Ok(Cadence {
                months: 0,
                days,
                secs,
            }),
            _ => Err("it may be at most 100 years (36500d)"),
        }
    }
}

impl FromStr for Cadence {
    type Err = ParseCadenceError;

    fn from_str(input: &str) -> Result<Cadence, ParseCadenceError> {
        let text = input.trim();
        let words: Vec<&str> = text.split_whitespace().collect();
        let starts_with_word = words
            .first()
            .is_some_and(|w| w.starts_with(|c: char| c.is_alphabetic()));
        let wordy = |w: &&str| w.chars().all(char::is_alphabetic) && w.chars().count() > 1;
        let result = match words.as_slice() {
            [] => Err("it is empty"),
            [word] if wordy(word) => Cadence::from_words(None, word),
            [count, word] if wordy(word) => Cadence::from_words(Some(count), word),
            _ if starts_with_word => Err("write the count first, as in `3 months`"),
            _ if words
                .iter()
                .any(|w| w.len() > 2 && w.chars().all(char::is_alphabetic)) =>
            {
                Err("words and units do not mix (write `1 month` or `30d`, not both)")
            }
            _ => Cadence::from_units(text),
        };
        result.map_err(|why| ParseCadenceError {
            input: quote(text),
            why,
        })
    }
}

impl fmt::Display for Cadence {
    /// `1 month`, `3 months`, `2 years`, or Period-style units with days as the
    /// largest (`7d`, `1d 12h`, `36h`); elapsed hours never fold into days, so
    /// the text parses back to the same cadence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.months > 0 {
            let (count, unit) = if self.months.is_multiple_of(12) {
                (self.months / 12, "year")
            } else {
                (self.months, "month")
            };
            let plural = if count == 1 { "" } else { "s" };
            return write!(f, "{count} {unit}{plural}");
        }
        let parts = [
            (self.days, 'd'),
            (self.secs / 3_600, 'h'),
            (self.secs % 3_600 / 60, 'm'),
            (self.secs % 60, 's'),
        ];
        let mut first = true;
        for (value, unit) in parts {
            if value > 0 {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{value}{unit}")?;
                first = false;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Cadence {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cadence {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Cadence, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn day(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn at(text: &str) -> When {
        When::At(ts(text))
    }

    fn cadence(text: &str) -> Cadence {
        text.parse().unwrap()
    }

    fn reader() -> TimeReader {
        TimeReader::new(ny())
    }

    fn with_format(format: &str) -> TimeReader {
        TimeReader {
            zone: ny(),
            format: Some(format.parse().unwrap()),
        }
    }

    #[test]
    fn a_local_date_time_is_read_in_the_zone() {
        let r = reader();
        assert_eq!(r.read("2026-11-29 23:00"), Ok(at("2026-11-30T04:00:00Z")));
        assert_eq!(r.read("2026-11-29T23:00"), Ok(at("2026-11-30T04:00:00Z")));
        assert_eq!(
            r.read("  2026-11-29T23:00:07  "),
            Ok(at("2026-11-30T04:00:07Z"))
        );
        assert_eq!(
            r.read("2026-11-29T23:00:07.25"),
            Ok(at("2026-11-30T04:00:07.25Z"))
        );
        assert_eq!(r.read("2026-07-01 9:30"), Ok(at("2026-07-01T13:30:00Z")));
    }

    #[test]
    fn a_bare_date_is_a_whole_local_day() {
        let r = reader();
        let when = r.read("2026-11-02").unwrap();
        assert_eq!(when, When::Day(day("2026-11-02")));
        assert_eq!(when.start(&ny()), ts("2026-11-02T05:00:00Z"));
        assert_eq!(when.end(&ny()), ts("2026-11-03T05:00:00Z"));
        // The day DST ends is 25 hours long.
        let fall = When::Day(day("2026-11-01"));
        assert_eq!(fall.start(&ny()), ts("2026-11-01T04:00:00Z"));
        assert_eq!(fall.end(&ny()), ts("2026-11-02T05:00:00Z"));
        let instant = at("2026-11-02T12:00:00Z");
        assert_eq!(instant.start(&ny()), ts("2026-11-02T12:00:00Z"));
        assert_eq!(instant.end(&ny()), ts("2026-11-02T12:00:00Z"));
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_the_clock_resumes() {
        // São Paulo sprang from 00:00 to 01:00 on 2018-11-04.
        let zone = TimeZone::get("America/Sao_Paulo").unwrap();
        let when = When::Day(day("2018-11-04"));
        assert_eq!(when.start(&zone), ts("2018-11-04T03:00:00Z"));
        assert_eq!(
            When::Day(day("2018-11-03")).end(&zone),
            ts("2018-11-04T03:00:00Z")
        );
    }

    #[test]
    fn the_ends_of_the_calendar_saturate() {
        assert_eq!(When::Day(Date::MAX).end(&ny()), Timestamp::MAX);
        assert_eq!(When::Day(Date::MAX).start(&TimeZone::UTC), Timestamp::MAX);
        assert_eq!(When::Day(Date::MIN).start(&ny()), Timestamp::MIN);
        assert_eq!(cadence("1 year").after_day(Date::MAX), Date::MAX);
        assert_eq!(cadence("7d").after(Timestamp::MAX, &ny()), Timestamp::MAX);
        assert_eq!(cadence("72h").after(Timestamp::MAX, &ny()), Timestamp::MAX);
        assert_eq!(
            cadence("100 years").due(When::Day(day("9990-01-01")), &ny()),
            Timestamp::MAX
        );
    }

    #[test]
    fn ninety_days_after_a_day_lapses_at_the_end_of_the_local_day() {
        let due = cadence("90d").due(When::Day(day("2026-11-02")), &ny());
        assert_eq!(
            cadence("90d").after_day(day("2026-11-02")),
            day("2027-01-31")
        );
        assert_eq!(due, ts("2027-02-01T05:00:00Z"));
    }

    #[test]
    fn a_week_is_a_calendar_week_across_both_dst_changes() {
        let weekly = cadence("7d");
        let spring_from = ts("2026-03-02T14:00:00Z"); // Monday 09:00 EST
        let spring = weekly.after(spring_from, &ny());
        assert_eq!(spring, ts("2026-03-09T13:00:00Z")); // Monday 09:00 EDT
        assert_eq!(spring.duration_since(spring_from).as_hours(), 167);
        assert_eq!(spring.to_zoned(ny()).hour(), 9);

        let fall_from = ts("2026-10-26T13:00:00Z"); // Monday 09:00 EDT
        let fall = weekly.after(fall_from, &ny());
        assert_eq!(fall, ts("2026-11-02T14:00:00Z")); // Monday 09:00 EST
        assert_eq!(fall.duration_since(fall_from).as_hours(), 169);

        for text in ["weekly", "week", "1 week", "1w"] {
            assert_eq!(cadence(text).after(fall_from, &ny()), fall, "{text}");
        }
        assert_eq!(
            cadence("2w").after(fall_from, &ny()),
            ts("2026-11-09T14:00:00Z")
        );
    }

    #[test]
    fn months_quarters_and_years_follow_the_calendar() {
        let monthly = cadence("1 month");
        assert_eq!(monthly.after_day(day("2026-01-31")), day("2026-02-28"));
        assert_eq!(monthly.after_day(day("2028-01-31")), day("2028-02-29"));
        assert_eq!(
            monthly.after(ts("2026-01-28T15:00:00Z"), &ny()),
            ts("2026-02-28T15:00:00Z")
        );
        // A clamped instant lapses at the end of Feb 28, so that work done on
        // Jan 31 is never due before work done on Jan 30.
        assert_eq!(
            monthly.after(ts("2026-01-30T20:00:00Z"), &ny()),
            ts("2026-03-01T05:00:00Z")
        );
        assert_eq!(
            monthly.after(ts("2026-01-31T15:00:00Z"), &ny()),
            ts("2026-03-01T05:00:00Z")
        );
        assert_eq!(
            monthly.due(When::Day(day("2026-01-31")), &ny()),
            ts("2026-03-01T05:00:00Z")
        );

        // 10:00 EST on Feb 15 is 10:00 EDT on Mar 15.
        assert_eq!(
            cadence("monthly").after(ts("2026-02-15T15:00:00Z"), &ny()),
            ts("2026-03-15T14:00:00Z")
        );
        assert_eq!(
            cadence("quarter").after_day(day("2026-11-30")),
            day("2027-02-28")
        );
        assert_eq!(
            cadence("quarterly").after_day(day("2026-01-15")),
            day("2026-04-15")
        );
        assert_eq!(
            cadence("year").after_day(day("2028-02-29")),
            day("2029-02-28")
        );
        assert_eq!(
            cadence("2 years").after_day(day("2026-06-01")),
            day("2028-06-01")
        );
        assert_eq!(
            cadence("annually").after(ts("2026-07-04T16:00:00Z"), &ny()),
            ts("2027-07-04T16:00:00Z")
        );
        assert_eq!(
            cadence("quarterly").due(When::Day(day("2026-11-02")), &ny()),
            ts("2027-02-03T05:00:00Z")
        );
        assert_eq!(
            cadence("daily").after(ts("2026-03-07T14:00:00Z"), &ny()),
            ts("2026-03-08T13:00:00Z")
        );
    }

    #[test]
    fn hours_stay_elapsed_across_a_dst_change() {
        let from = ts("2026-03-07T14:00:00Z"); // Saturday 09:00 EST
        let due = cadence("72h").after(from, &ny());
        assert_eq!(due, ts("2026-03-10T14:00:00Z")); // Tuesday 10:00 EDT
        assert_eq!(due.duration_since(from).as_hours(), 72);
        // `1d 12h`: a calendar day, then 12 elapsed hours.
        assert_eq!(
            cadence("1d 12h").after(ts("2026-03-07T14:00:00Z"), &ny()),
            ts("2026-03-09T01:00:00Z")
        );
        // A date-only completion rounds the elapsed part up to whole days.
        assert_eq!(
            cadence("72h").after_day(day("2026-11-02")),
            day("2026-11-05")
        );
        assert_eq!(
            cadence("12h").after_day(day("2026-11-02")),
            day("2026-11-03")
        );
        assert_eq!(
            cadence("1d 1s").after_day(day("2026-11-02")),
            day("2026-11-04")
        );
        assert_eq!(
            cadence("72h").due(at("2026-11-02T12:00:00Z"), &ny()),
            ts("2026-11-05T12:00:00Z")
        );
    }

    #[test]
    fn us_dates_as_excel_writes_them() {
        let r = reader();
        assert_eq!(r.read("11/02/2026"), Ok(When::Day(day("2026-11-02"))));
        assert_eq!(r.read("1/2/2026"), Ok(When::Day(day("2026-01-02"))));
        assert_eq!(r.read("11/2/2026 9:05 AM"), Ok(at("2026-11-02T14:05:00Z")));
        assert_eq!(
            r.read("11/2/2026 9:05:33 PM"),
            Ok(at("2026-11-03T02:05:33Z"))
        );
        assert_eq!(
            r.read("11/2/2026 9:05:33 pm"),
            Ok(at("2026-11-03T02:05:33Z"))
        );
        assert_eq!(r.read("11/2/2026 9:05am"), Ok(at("2026-11-02T14:05:00Z")));
        assert_eq!(r.read("11/2/2026 21:05"), Ok(at("2026-11-03T02:05:00Z")));
        assert_eq!(r.read("11/2/2026 0:05"), Ok(at("2026-11-02T05:05:00Z")));
        assert_eq!(r.read("11/2/2026 12:00 AM"), Ok(at("2026-11-02T05:00:00Z")));
        assert_eq!(r.read("11/2/2026 12:30 PM"), Ok(at("2026-11-02T17:30:00Z")));
        assert_eq!(r.read("7/4/2026 12:30 PM"), Ok(at("2026-07-04T16:30:00Z")));
    }

    #[test]
    fn an_offset_wins_over_the_zone() {
        let r = reader();
        assert_eq!(
            r.read("2026-11-29T23:00:00-05:00"),
            Ok(at("2026-11-30T04:00:00Z"))
        );
        assert_eq!(
            r.read("2026-11-29T23:00:00+09:00"),
            Ok(at("2026-11-29T14:00:00Z"))
        );
        assert_eq!(
            r.read("2026-11-29T23:00:00.123Z"),
            Ok(at("2026-11-29T23:00:00.123Z"))
        );
        let tokyo = TimeReader::new(TimeZone::get("Asia/Tokyo").unwrap());
        assert_eq!(
            tokyo.read("2026-11-29T23:00:00Z"),
            Ok(at("2026-11-29T23:00:00Z"))
        );
        assert_eq!(
            tokyo.read("2026-11-29 23:00"),
            Ok(at("2026-11-29T14:00:00Z"))
        );
        // The custom format does not stop RFC 3339 from being read.
        assert_eq!(
            with_format("%d.%m.%Y").read("2026-11-29T23:00:00Z"),
            Ok(at("2026-11-29T23:00:00Z"))
        );
    }

    #[test]
    fn json_numbers_are_epoch_seconds() {
        use serde_json::json;
        let r = reader();
        assert_eq!(
            r.read_json(&json!(1_795_000_000)),
            Ok(When::At(Timestamp::from_second(1_795_000_000).unwrap()))
        );
        assert_eq!(
            r.read_json(&json!(1_795_000_000.9)),
            Ok(When::At(Timestamp::from_second(1_795_000_000).unwrap()))
        );
        assert_eq!(r.read_json(&json!(0)), Ok(at("1970-01-01T00:00:00Z")));
        assert_eq!(r.read_json(&json!(-1.5)), Ok(at("1969-12-31T23:59:59Z")));
        assert_eq!(
            r.read_json(&json!("2026-11-02")),
            Ok(When::Day(day("2026-11-02")))
        );
        assert_eq!(
            r.read_json(&json!("11/2/2026 9:05 AM")),
            Ok(at("2026-11-02T14:05:00Z"))
        );
        for bad in [
            json!(1e300),
            json!(u64::MAX),
            json!(true),
            json!(null),
            json!([1]),
            json!({"a": 1}),
        ] {
            let error = r.read_json(&bad).unwrap_err().to_string();
            assert!(error.contains("is not a date or time"), "{bad}: {error}");
        }
        assert!(
            r.read_json(&json!(1e300))
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
    }

    #[test]
    fn a_gap_reads_later_and_a_fold_reads_earlier() {
        let r = reader();
        // 02:30 does not exist on 2026-03-08: read as 03:30 EDT.
        let gap = r.read("2026-03-08 02:30").unwrap();
        assert_eq!(gap, at("2026-03-08T07:30:00Z"));
        assert_eq!(gap.start(&ny()).to_zoned(ny()).hour(), 3);
        assert_eq!(r.read("3/8/2026 2:30 AM"), Ok(gap));
        // 01:30 happens twice on 2026-11-01: the first one, EDT.
        let fold = r.read("2026-11-01 01:30").unwrap();
        assert_eq!(fold, at("2026-11-01T05:30:00Z"));
        assert_eq!(r.read("11/1/2026 1:30 AM"), Ok(fold));
    }

    #[test]
    fn a_custom_format_reads_first_and_turns_off_the_us_form() {
        let dotted = with_format("%d.%m.%Y");
        assert_eq!(dotted.read("02.11.2026"), Ok(When::Day(day("2026-11-02"))));
        assert_eq!(dotted.read("2.11.2026"), Ok(When::Day(day("2026-11-02"))));
        assert_eq!(dotted.read("2026-11-02"), Ok(When::Day(day("2026-11-02"))));
        assert_eq!(
            dotted.read("2026-11-02 10:00"),
            Ok(at("2026-11-02T15:00:00Z"))
        );
        assert!(dotted.read("02/11/2026").is_err());
        assert!(dotted.read("11/2/2026 9:05 AM").is_err());
        let error = dotted.read("30.02.2026").unwrap_err().to_string();
        assert!(error.contains("no such day"), "{error}");
        assert!(
            error.contains("29.11.2026"),
            "the error shows the format: {error}"
        );
        assert!(error.contains("%d.%m.%Y"), "{error}");

        let european = with_format("%d/%m/%Y");
        assert_eq!(
            european.read("02/11/2026"),
            Ok(When::Day(day("2026-11-02")))
        );
        assert!(european.read("11/30/2026").is_err());

        let with_time = with_format("%d.%m.%Y %H:%M");
        assert!(with_time.format.as_ref().unwrap().has_time());
        assert_eq!(
            with_time.read("29.11.2026 23:00"),
            Ok(at("2026-11-30T04:00:00Z"))
        );
        assert_eq!(
            with_time.read("08.03.2026 02:30"),
            Ok(at("2026-03-08T07:30:00Z"))
        );
        let with_offset = with_format("%d.%m.%Y %H:%M %z");
        assert_eq!(
            with_offset.read("29.11.2026 23:00 +0100"),
            Ok(at("2026-11-29T22:00:00Z"))
        );
        let twelve_hour = with_format("%m-%d-%Y %I:%M %p");
        assert_eq!(
            twelve_hour.read("11-02-2026 09:05 PM"),
            Ok(at("2026-11-03T02:05:00Z"))
        );
    }

    #[test]
    fn date_formats_are_validated_when_read_from_config() {
        let format: DateFormat = " %d.%m.%Y ".parse().unwrap();
        assert_eq!(format.to_string(), "%d.%m.%Y");
        assert!(!format.has_time());
        assert!(
            "%Y-%m-%dT%H:%M:%S"
                .parse::<DateFormat>()
                .unwrap()
                .has_time()
        );
        assert!("%d.%m.%Y %T".parse::<DateFormat>().unwrap().has_time());
        assert!("%e %B %Y".parse::<DateFormat>().is_ok());
        let parsed: DateFormat = serde_json::from_str("\"%d.%m.%Y\"").unwrap();
        assert_eq!(parsed, format);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"%d.%m.%Y\"");
        for bad in [
            "",
            "  ",
            "%H:%M",
            "%Y",
            "%m/%Y",
            "%d.%m.%Y %Z",
            "%d.%m.%Y %I:%M",
            "%Q%",
            "%d.%m.%Y %!",
        ] {
            let error = bad.parse::<DateFormat>().unwrap_err().to_string();
            assert!(
                error.contains("is not a usable date_format"),
                "{bad:?}: {error}"
            );
        }
        assert!(serde_json::from_str::<DateFormat>("\"%H\"").is_err());
    }

    #[test]
    fn what_is_not_a_time_is_refused_with_the_accepted_forms() {
        let r = reader();
        let cases = [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("yesterday", ""),
            ("13/45/2026", "no such day"),
            ("2/30/2026", "no such day"),
            ("11/2/26", ""),
            ("11/2/26 9:05 AM", ""),
            ("2026-02-30", "no such day"),
            ("2026-02-30 10:00", "no such day"),
            ("2026-11-02 24:00", "no such time"),
            ("2026-11-02 10:60", "no such time"),
            ("11/2/2026 13:05 PM", "no such time"),
            ("11/2/2026 0:05 AM", "no such time"),
            ("11/2/2026 9:05 XM", ""),
            ("11/2/2026 9:5", ""),
            ("2026-11-2", ""),
            ("26-11-02", ""),
            ("2026-11-02T", ""),
            ("2026-11-02 10", ""),
            ("2026-11-02 10:00:00.", ""),
            ("2026-11-02 10:00:00.1234567891", ""),
            ("1795000000", ""),
            ("02.11.2026", ""),
            ("11/02/2026 9:05 AM extra", ""),
        ];
        for (text, why) in cases {
            let error = r.read(text).unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("`{}` is not a date or time", text.trim())),
                "{text}: {message}"
            );
            assert!(message.contains(why), "{text}: {message}");
            assert!(
                message.contains("2026-11-02 14:30, 11/2/2026 2:30 PM or an RFC 3339"),
                "{text}: {message}"
            );
        }
        assert_eq!(
            r.read("13/45/2026").unwrap_err().to_string(),
            "`13/45/2026` is not a date or time (there is no such day): write 2026-11-02, \
             2026-11-02 14:30, 11/2/2026 2:30 PM or an RFC 3339 time with an offset \
             (or set the source's date_format)"
        );
    }

    #[test]
    fn the_error_quotes_at_most_sixty_characters() {
        let long = "x".repeat(1024);
        let message = reader().read(&long).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("`{}…` is not", "x".repeat(60))),
            "{message}"
        );
        assert!(message.len() < 300, "{message}");
        let accents = "é".repeat(100);
        let message = reader().read(&accents).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("`{}…`", "é".repeat(60))),
            "{message}"
        );
        let message = reader().read("2026-11-02\u{7}x").unwrap_err().to_string();
        assert!(message.starts_with("`2026-11-02\\u{7}x`"), "{message}");
    }

    #[test]
    fn cadences_parse_and_display_round_trip() {
        let cases = [
            ("7d", "7d"),
            ("90d", "90d"),
            ("2w", "14d"),
            ("12h", "12h"),
            ("30m", "30m"),
            ("1d 12h", "1d 12h"),
            ("1d12h30m", "1d 12h 30m"),
            ("36h", "36h"),
            ("90s", "1m 30s"),
            ("1 month", "1 month"),
            ("3 months", "3 months"),
            ("month", "1 month"),
            ("Monthly", "1 month"),
            ("quarter", "3 months"),
            ("quarterly", "3 months"),
            ("2 quarters", "6 months"),
            ("year", "1 year"),
            ("yearly", "1 year"),
            ("annually", "1 year"),
            ("1 year", "1 year"),
            ("2 years", "2 years"),
            ("18 months", "18 months"),
            ("12 months", "1 year"),
            ("100 years", "100 years"),
            ("week", "7d"),
            ("weekly", "7d"),
            ("3 weeks", "21d"),
            ("daily", "1d"),
            ("5 days", "5d"),
            ("36500d", "36500d"),
        ];
        for (text, shown) in cases {
            let parsed = cadence(text);
            assert_eq!(parsed.to_string(), shown, "{text}");
            assert_eq!(cadence(shown), parsed, "{text}");
            let json = serde_json::to_string(&parsed).unwrap();
            assert_eq!(json, format!("\"{shown}\""));
            assert_eq!(serde_json::from_str::<Cadence>(&json).unwrap(), parsed);
        }
        assert_ne!(cadence("1d"), cadence("24h"));
        assert_ne!(cadence("1 month"), cadence("30d"));
        assert_eq!(cadence("1 week"), cadence("7d"));
    }

    #[test]
    fn cadences_that_make_no_sense_are_refused() {
        for text in [
            "0d",
            "",
            "  ",
            "-7d",
            "-3 months",
            "0 months",
            "101 years",
            "1201 months",
            "36501d",
            "5215w",
            "month 3",
            "2 monthly",
            "1 month 2d",
            "3 months 1 week",
            "1mo",
            "1y",
            "1M",
            "3months",
            "every week",
            "fortnightly",
            "1.5 months",
            "7",
            "d",
            "7 d",
            "7x",
            "99999999999999999999d",
            "4294967296 months",
        ] {
            let error = text.parse::<Cadence>().unwrap_err().to_string();
            assert!(error.contains("is not a cadence"), "{text}: {error}");
            assert!(error.contains("`1 month`"), "{text}: {error}");
        }
        assert!(serde_json::from_str::<Cadence>("\"0d\"").is_err());
        let hint = "1mo".parse::<Cadence>().unwrap_err().to_string();
        assert!(hint.contains("as words"), "{hint}");
    }

    #[test]
    fn approximate_lengths() {
        assert_eq!(cadence("1 month").approx_secs(), 30 * 86_400);
        assert_eq!(cadence("quarter").approx_secs(), 90 * 86_400);
        assert_eq!(cadence("year").approx_secs(), 365 * 86_400);
        assert_eq!(cadence("18 months").approx_secs(), (365 + 180) * 86_400);
        assert_eq!(cadence("1d 12h").approx_secs(), 36 * 3_600);
        assert_eq!(cadence("72h").approx_secs(), 72 * 3_600);
    }

    use crate::test_rng::Rng;

    /// Whether `at` shows a wall-clock time that `zone` shows twice.
    fn in_fold(at: Timestamp, zone: &TimeZone) -> bool {
        let local = at.to_zoned(zone.clone()).datetime();
        zone.to_ambiguous_timestamp(local).is_ambiguous()
    }

    #[test]
    fn after_is_strictly_later_and_monotone() {
        let zones = [
            ny(),
            TimeZone::UTC,
            TimeZone::get("Europe/London").unwrap(),
            TimeZone::get("Australia/Lord_Howe").unwrap(),
            TimeZone::get("America/Sao_Paulo").unwrap(),
        ];
        let cadences = [
            "1s",
            "30m",
            "72h",
            "1d",
            "1d 12h",
            "7d",
            "2w",
            "90d",
            "1 month",
            "quarter",
            "year",
            "2 years",
            "36500d",
            "100 years",
        ]
        .map(cadence);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        // 2000-01-01 .. 2100-01-01, the years deadlines live in.
        let (low, high) = (946_684_800_i64, 4_102_444_800_i64);
        let mut folds = 0;
        for round in 0..6_000 {
            let zone = &zones[round % zones.len()];
            let c = cadences[rng.below(cadences.len())];
            // Half the starts land within three hours of a 2026 DST change
            // (New York's and Europe's, spring and fall).
            let near_change = round % 2 == 1;
            let base = if near_change {
                let changes = [
                    1_772_953_200_i64,
                    1_793_512_800,
                    1_774_746_000,
                    1_792_890_000,
                ];
                changes[rng.below(4)] - 3 * 3_600 + rng.below(6 * 3_600) as i64
            } else {
                low + rng.below((high - low) as usize) as i64
            };
            let from = Timestamp::from_second(base).unwrap();
            let steps = [1, 59, 1_800, 3_600, 86_400, 3 * 86_400];
            let step = steps[rng.below(if near_change { 4 } else { 6 })];
            let later = Timestamp::from_second(base + rng.below(step) as i64 + 1).unwrap();
            let (first, second) = (c.after(from, zone), c.after(later, zone));
            assert!(first > from, "{c} after {from} in {zone:?} = {first}");
            assert!(second > later, "{c} after {later} = {second}");
            if first > second {
                // Only a start inside a repeated hour may do this, and by
                // less than the hour.
                assert!(
                    in_fold(from, zone) || in_fold(later, zone),
                    "{c}: {from} {later}"
                );
                assert!(
                    first.duration_since(second).as_secs() < 3_600,
                    "{c}: {from} {later}"
                );
                folds += 1;
            }
        }
        // The exception was met (so the check above ran) but stays rare.
        assert!((1..300).contains(&folds), "{folds}");
    }

    #[test]
    fn a_start_in_a_fold_is_the_one_exception_to_monotone() {
        let daily = cadence("1d");
        // 01:45 EDT (the first 01:45) comes before 01:30 EST (the second 01:30)…
        let first = ts("2026-11-01T05:45:00Z");
        let second = ts("2026-11-01T06:30:00Z");
        // …but a day later, 01:45 is after 01:30.
        assert_eq!(daily.after(first, &ny()), ts("2026-11-02T06:45:00Z"));
        assert_eq!(daily.after(second, &ny()), ts("2026-11-02T06:30:00Z"));
    }

    #[test]
    fn due_days_are_monotone_and_after_the_day() {
        let mut rng = Rng(42);
        let cadences = ["1d", "12h", "7d", "90d", "1 month", "quarter", "year"].map(cadence);
        for _ in 0..3_000 {
            let c = cadences[rng.below(cadences.len())];
            let from = day("2000-01-01")
                .checked_add(Span::new().days(rng.below(36_500) as i64))
                .unwrap();
            let next = from.tomorrow().unwrap();
            assert!(c.after_day(from) > from, "{c} {from}");
            assert!(c.after_day(next) >= c.after_day(from), "{c} {from}");
            assert!(
                c.due(When::Day(from), &ny()) > When::Day(from).end(&ny()),
                "{c} {from}"
            );
        }
    }

    #[test]
    fn read_never_panics_and_reads_back_what_it_accepts() {
        let mut rng = Rng(7);
        let alphabet: Vec<u8> = b"0123456789/-:. TtZz+APMapm,"
            .iter()
            .copied()
            .chain(0x20..0x7f)
            .collect();
        let readers = [
            reader(),
            with_format("%d.%m.%Y"),
            with_format("%d/%m/%Y %H:%M"),
        ];
        let mut accepted = 0;
        for round in 0..20_000 {
            let len = rng.below(24);
            let text: String = (0..len)
                .map(|_| char::from(alphabet[rng.below(alphabet.len())]))
                .collect();
            if readers[round % readers.len()].read(&text).is_ok() {
                accepted += 1;
            }
            let _ = readers[0].read_json(&serde_json::Value::String(text.clone()));
            // Cadences and formats come from configs: they must not panic either.
            if let Ok(c) = text.parse::<Cadence>() {
                assert_eq!(c.to_string().parse::<Cadence>(), Ok(c), "{text}");
            }
            let _ = text.parse::<DateFormat>();
        }
        assert!(accepted < 20_000);

        // Generated local times and US forms read back to the same instant.
        for _ in 0..3_000 {
            let (y, m, d) = (
                1900 + rng.below(200) as i16,
                1 + rng.below(12) as i8,
                1 + rng.below(28) as i8,
            );
            let (h, min, s) = (
                rng.below(24) as i8,
                rng.below(60) as i8,
                rng.below(60) as i8,
            );
            let local = DateTime::new(y, m, d, h, min, s, 0).unwrap();
            let expected = ny().to_ambiguous_timestamp(local).compatible().unwrap();
            let iso = format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}");
            assert_eq!(reader().read(&iso), Ok(When::At(expected)), "{iso}");
            let (twelve, half) = match h {
                0 => (12, "AM"),
                1..=11 => (h, "am"),
                12 => (12, "PM"),
                _ => (h - 12, "pm"),
            };
            let us = format!("{m}/{d}/{y} {twelve}:{min:02}:{s:02} {half}");
            assert_eq!(reader().read(&us), Ok(When::At(expected)), "{us}");
        }
    }
}
