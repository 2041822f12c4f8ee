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
            return Err(error(format!("it has {fields} fields")));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| error(e.to_string()))?;
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
