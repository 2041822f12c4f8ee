//! Cron schedules in an explicit IANA time zone.
//!
//! croner, not cron: standard 5-field lines (6 with seconds), weekday 1 is
//! Monday, day-of-month OR day-of-week like Vixie cron, and DST handled the
//! way operators expect: a 02:30 job runs once (at 03:00) on spring-forward
//! day and a 01:30 job runs once on fall-back day.

use std::fmt;
use std::sync::Arc;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A parsed cron line bound to the zone it is read in. Clones share the parsed line.
#[derive(Clone)]
pub struct Schedule {
    expression: String,
    cron: Arc<Cron>,
    zone: TimeZone,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{expression}` is not a cron schedule: {reason} (write 5 fields `minute hour day-of-month month day-of-week`, e.g. `0 6 * * 1` for Mondays 06:00, or 6 with seconds first)"
)]
pub struct ScheduleError {
    expression: String,
    reason: String,
}

impl Schedule {
    pub fn parse(expression: &str, zone: TimeZone) -> Result<Schedule, ScheduleError> {
        let error = |reason: String| ScheduleError {
            expression: expression.to_owned(),
            reason,
        };
        let fields = expression.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            let plural = if fields == 1 { "" } else { "s" };
            return Err(error(format!("it has {fields} field{plural}")));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            // croner says only "Number out of bounds": name the field and its range.
            .map_err(|e| error(out_of_range(expression).unwrap_or_else(|| e.to_string())))?;
        Ok(Schedule {
            expression: expression.trim().to_owned(),
            cron: Arc::new(cron),
            zone,
        })
    }

    /// The first run strictly after `after`; `None` if the line can never
    /// fire (e.g. `0 0 31 2 *`).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(self.zone.clone());
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|zoned| zoned.timestamp())
    }

    pub fn as_str(&self) -> &str {
        &self.expression
    }

    /// Whether the line has six fields, the first being seconds.
    pub fn has_seconds(&self) -> bool {
        self.expression.split_whitespace().count() == 6
    }

    /// The next two runs after `after`, in the schedule's zone, for `check-config`: a
    /// line that reads otherwise than meant (a sixth field taken as seconds, a day that
    /// never comes) shows in when it runs.
    pub fn next_two_runs(&self, after: Timestamp) -> String {
        let format = if self.has_seconds() {
            "%Y-%m-%d %H:%M:%S %Z"
        } else {
            "%Y-%m-%d %H:%M %Z"
        };
        let show = |at: Timestamp| at.to_zoned(self.zone.clone()).strftime(format).to_string();
        let reading = if self.has_seconds() {
            " (6 fields: read as second minute hour day-of-month month day-of-week)"
        } else {
            ""
        };
        match self.next_after(after) {
            None => format!(
                "schedule `{}`{reading} never runs: no date matches it",
                self.expression
            ),
            Some(first) => {
                let then = self.next_after(first).map_or_else(
                    || "then never".to_owned(),
                    |second| format!("then {}", show(second)),
                );
                format!(
                    "schedule `{}`{reading} runs next at {}, {then}",
                    self.expression,
                    show(first)
                )
            }
        }
    }

    /// The same parsed line, read in `zone`.
    pub fn in_zone(&self, zone: TimeZone) -> Schedule {
        Schedule {
            zone,
            ..self.clone()
        }
    }

    /// Whether `other` is this very parsed line, not another parse of the same text.
    #[cfg(test)]
    pub fn shares_parse_with(&self, other: &Schedule) -> bool {
        Arc::ptr_eq(&self.cron, &other.cron)
    }
}

/// Each cron field's name and the numbers it takes, seconds first (a 5-field line starts
/// at minute).
const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// The first number of a 5- or 6-field line outside its field's range, as a reason.
fn out_of_range(expression: &str) -> Option<String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let names = FIELDS.get(FIELDS.len().checked_sub(fields.len())?..)?;
    for (text, (name, low, high)) in fields.iter().zip(names) {
        for part in text.split(',') {
            // `a-b/step`: the step is not a value of the field.
            let range = part.split('/').next().unwrap_or(part);
            for number in range.split('-') {
                if let Ok(value) = number.parse::<u32>()
                    && !(*low..=*high).contains(&value)
                {
                    return Some(format!(
                        "its {name} field `{text}` is out of range: {name} takes {low} to {high}"
                    ));
                }
            }
        }
    }
    None
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("expression", &self.expression)
            .field("zone", &self.zone.iana_name())
            .finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.expression == other.expression && self.zone.iana_name() == other.zone.iana_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_york() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn runs(expression: &str, from: &str, count: usize) -> Vec<String> {
        let schedule = Schedule::parse(expression, new_york()).unwrap();
        let mut at: Timestamp = from.parse().unwrap();
        let mut out = Vec::new();
        for _ in 0..count {
            at = schedule.next_after(at).unwrap();
            out.push(
                at.to_zoned(new_york())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string(),
            );
        }
        out
    }

    #[test]
    fn weekday_one_is_monday_with_five_fields() {
        // 2026-11-22 is a Sunday.
        assert_eq!(
            runs("0 9 * * 1", "2026-11-22T12:00:00Z", 2),
            ["2026-11-23 09:00 EST", "2026-11-30 09:00 EST"]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_like_vixie_cron() {
        // The 1st of the month OR any Monday.
        assert_eq!(
            runs("0 0 1 * 1", "2026-11-27T12:00:00Z", 3),
            [
                "2026-11-30 00:00 EST",
                "2026-12-01 00:00 EST",
                "2026-12-07 00:00 EST"
            ]
        );
    }

    #[test]
    fn spring_forward_runs_a_0230_job_once() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        assert_eq!(
            runs("30 2 * * *", "2026-03-07T12:00:00Z", 3),
            [
                "2026-03-08 03:00 EDT",
                "2026-03-09 02:30 EDT",
                "2026-03-10 02:30 EDT"
            ]
        );
    }

    #[test]
    fn fall_back_runs_a_0130_job_once() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens
        // twice on the wall clock; the job runs at the first one only.
        assert_eq!(
            runs("30 1 * * *", "2026-10-31T12:00:00Z", 3),
            [
                "2026-11-01 01:30 EDT",
                "2026-11-02 01:30 EST",
                "2026-11-03 01:30 EST"
            ]
        );
    }

    #[test]
    fn six_fields_carry_seconds() {
        assert_eq!(
            runs("30 0 12 * * *", "2026-11-23T12:00:00Z", 1),
            ["2026-11-23 12:00 EST"]
        );
        let schedule = Schedule::parse("30 0 12 * * *", new_york()).unwrap();
        let next = schedule
            .next_after("2026-11-23T12:00:00Z".parse().unwrap())
            .unwrap();
        assert_eq!(next.to_string(), "2026-11-23T17:00:30Z");
    }

    #[test]
    fn a_number_out_of_range_names_its_field_and_range() {
        let error = Schedule::parse("0 25 * * *", new_york())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("its hour field `25` is out of range: hour takes 0 to 23"),
            "{error}"
        );
        let error = Schedule::parse("0 0 6 1 13 *", new_york())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("its month field `13` is out of range: month takes 1 to 12"),
            "{error}"
        );
        let error = Schedule::parse("0", new_york()).unwrap_err().to_string();
        assert!(error.contains("it has 1 field ("), "{error}");
    }

    #[test]
    fn the_next_two_runs_show_how_a_line_is_read() {
        let after: Timestamp = "2026-12-01T05:00:00Z".parse().unwrap();
        let five = Schedule::parse("30 6 * * *", new_york()).unwrap();
        assert_eq!(
            five.next_two_runs(after),
            "schedule `30 6 * * *` runs next at 2026-12-01 06:30 EST, then 2026-12-02 06:30 EST"
        );
        // The extra `*` makes `30` seconds and `6` minutes: hourly, not daily.
        let six = Schedule::parse("30 6 * * * *", new_york()).unwrap();
        assert_eq!(
            six.next_two_runs(after),
            "schedule `30 6 * * * *` (6 fields: read as second minute hour day-of-month month day-of-week) runs next at 2026-12-01 00:06:30 EST, then 2026-12-01 01:06:30 EST"
        );
        let never = Schedule::parse("0 0 31 2 *", new_york()).unwrap();
        assert!(never.next_two_runs(after).contains("never runs"));
    }

    #[test]
    fn bad_lines_explain_the_format() {
        for line in [
            "0 9 * *",
            "0 9 * * * * *",
            "61 * * * *",
            "0 9 * * FUNDAY",
            "",
        ] {
            let error = Schedule::parse(line, new_york()).unwrap_err().to_string();
            assert!(
                error.contains("minute hour day-of-month month day-of-week"),
                "{line}: {error}"
            );
        }
    }
}
