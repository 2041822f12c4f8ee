//! The calendar a CMMC status sets (32 CFR 170): the POA&M closeout due 180 days after the
//! Conditional status date (§ 170.21(b)), the affirmations the Affirming Official submits in
//! SPRS (§ 170.22: upon Conditional status, upon Final status, after a POA&M closeout, and
//! annually), the three-year reassessment and the six years assessment artifacts are kept
//! (§ 170.16(c)(4), § 170.17(c)(4)).
//!
//! Every date here is a civil date in the contractor's zone: these are days an organisation
//! counts on its own calendar, not hours a clause counts from an event.
//!
//! A Final status that follows a Conditional one keeps the Conditional date as the CMMC
//! Status Date (§ 170.4: "a new date is not set"); the annual affirmation, the reassessment
//! and the artifact retention all run from that one date.

use jiff::civil::Date;
use jiff::{Span, ToSpan as _};
use serde::Serialize;

/// § 170.21(b): the POA&M closeout assessment within 180 days of the Conditional status date.
pub const CLOSEOUT_DAYS: i64 = 180;

/// How many days before a date the outlook calls it due soon.
pub const DUE_SOON_DAYS: i32 = 30;

/// A Level 2 assessment is repeated (self) or its certificate runs out (C3PAO) after three
/// years.
pub const REASSESS_YEARS: i16 = 3;

/// Assessment artifacts are kept six years from the CMMC Status Date.
pub const KEEP_ARTIFACTS_YEARS: i16 = 6;

/// A contractor's CMMC status dates, consistent with one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDates {
    conditional: Option<Date>,
    final_status: Option<Date>,
    closeout: Option<Date>,
    affirmed: Option<Date>,
}

/// Dates that cannot all be true of one status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatesError {
    #[error(
        "neither a Conditional nor a Final status date is given: set `conditional_status_date` (a POA&M is open) or `final_status_date`"
    )]
    NoStatus,
    #[error(
        "a POA&M closeout ({closeout}) needs the Conditional status date it closes out: set `conditional_status_date`"
    )]
    CloseoutWithoutConditional { closeout: Date },
    #[error(
        "the POA&M closeout ({closeout}) is dated before the Conditional status date ({conditional}) it closes out"
    )]
    CloseoutBeforeConditional { closeout: Date, conditional: Date },
    #[error(
        "the Final status date ({final_status}) is before the Conditional status date ({conditional}); a Final status follows a Conditional one"
    )]
    FinalBeforeConditional {
        final_status: Date,
        conditional: Date,
    },
    #[error(
        "a Final status ({final_status}) after a Conditional one ({conditional}) follows a POA&M closeout: set `poam_closeout_date` to the day the closeout assessment confirmed it"
    )]
    FinalWithoutCloseout {
        final_status: Date,
        conditional: Date,
    },
}

impl StatusDates {
    pub fn new(
        conditional: Option<Date>,
        final_status: Option<Date>,
        closeout: Option<Date>,
        affirmed: Option<Date>,
    ) -> Result<StatusDates, DatesError> {
        if conditional.is_none() && final_status.is_none() {
            return Err(DatesError::NoStatus);
        }
        if let Some(closeout) = closeout {
            let Some(conditional) = conditional else {
                return Err(DatesError::CloseoutWithoutConditional { closeout });
            };
            if closeout < conditional {
                return Err(DatesError::CloseoutBeforeConditional {
                    closeout,
                    conditional,
                });
            }
        }
        if let (Some(conditional), Some(final_status)) = (conditional, final_status) {
            if final_status < conditional {
                return Err(DatesError::FinalBeforeConditional {
                    final_status,
                    conditional,
                });
            }
            if closeout.is_none() {
                return Err(DatesError::FinalWithoutCloseout {
                    final_status,
                    conditional,
                });
            }
        }
        Ok(StatusDates {
            conditional,
            final_status,
            closeout,
            affirmed,
        })
    }

    /// The CMMC Status Date: the Conditional one when there was one (§ 170.4).
    pub fn status_date(&self) -> Date {
        match (self.conditional, self.final_status) {
            (Some(date), _) | (None, Some(date)) => date,
            (None, None) => unreachable!("StatusDates::new refuses dates without a status"),
        }
    }

    /// What the dates mean on `today`.
    pub fn outlook(&self, today: Date) -> Outlook {
        let status_date = self.status_date();
        let closeout = self.conditional.map(|conditional| {
            let due = add_days(conditional, CLOSEOUT_DAYS);
            let state = match self.closeout {
                Some(on) if on <= due => CloseoutState::Closed { on },
                Some(on) => CloseoutState::ClosedLate {
                    on,
                    days_late: days_between(due, on),
                },
                None if today <= due => {
                    let days_left = days_between(today, due);
                    if days_left <= DUE_SOON_DAYS {
                        CloseoutState::DueSoon { days_left }
                    } else {
                        CloseoutState::Open { days_left }
                    }
                }
                None => CloseoutState::Expired {
                    days_over: days_between(due, today),
                },
            };
            Closeout { due, state }
        });
        let status = match (&closeout, self.final_status) {
            (_, Some(_)) => Status::Final,
            (
                Some(Closeout {
                    state: CloseoutState::Expired { .. } | CloseoutState::ClosedLate { .. },
                    ..
                }),
                None,
            ) => Status::ConditionalExpired,
            _ => Status::Conditional,
        };
        Outlook {
            status_date,
            status,
            closeout,
            affirmation: self.affirmation(today),
            reassessment_due: add_years(status_date, REASSESS_YEARS),
            keep_artifacts_until: add_years(status_date, KEEP_ARTIFACTS_YEARS),
        }
    }

    /// The first affirmation occasion after the last affirmation (or the first of all, with
    /// none on record). An affirmation covers every occasion on or before its day: one
    /// submitted late still makes the contractor current from then on.
    fn affirmation(&self, today: Date) -> Affirmation {
        let status_date = self.status_date();
        let mut occasions: Vec<(Date, Occasion)> = Vec::with_capacity(3);
        if let Some(date) = self.conditional {
            occasions.push((date, Occasion::ConditionalStatus));
        }
        if let Some(date) = self.closeout {
            occasions.push((date, Occasion::Closeout));
        }
        if let Some(date) = self.final_status {
            occasions.push((date, Occasion::FinalStatus));
        }
        // An affirmation upon an event comes on or after it; the yearly one counts from the
        // day it is called due soon, so one submitted when this outlook asked for it counts.
        let pending = |date: Date, occasion: Occasion| {
            let earliest = match occasion {
                Occasion::Anniversary { .. } => add_days(date, -i64::from(DUE_SOON_DAYS)),
                _ => date,
            };
            self.affirmed.is_none_or(|last| last < earliest)
        };
        let (due, occasion) = occasions
            .into_iter()
            .find(|(date, occasion)| pending(*date, *occasion))
            .unwrap_or_else(|| {
                // The anniversaries of the status date, the first not yet affirmed.
                let mut year = 1;
                loop {
                    let date = add_years(status_date, year);
                    let occasion = Occasion::Anniversary { year };
                    if pending(date, occasion) || date == Date::MAX {
                        break (date, occasion);
                    }
                    year += 1;
                }
            });
        let state = if due < today {
            DueState::Overdue {
                days_over: days_between(due, today),
            }
        } else {
            let days_left = days_between(today, due);
            if days_left <= DUE_SOON_DAYS {
                DueState::DueSoon { days_left }
            } else {
                DueState::Ahead { days_left }
            }
        };
        Affirmation {
            last: self.affirmed,
            due,
            occasion,
            state,
        }
    }
}

/// The CMMC calendar on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outlook {
    /// The CMMC Status Date everything else runs from.
    pub status_date: Date,
    pub status: Status,
    /// The POA&M closeout, when the status was Conditional.
    pub closeout: Option<Closeout>,
    pub affirmation: Affirmation,
    pub reassessment_due: Date,
    pub keep_artifacts_until: Date,
}

impl Outlook {
    /// Whether a person must act on the calendar now: a closeout or affirmation due within
    /// [`DUE_SOON_DAYS`] or missed.
    pub fn needs_attention(&self) -> bool {
        let closeout = self.closeout.as_ref().is_some_and(|c| {
            matches!(
                c.state,
                CloseoutState::DueSoon { .. } | CloseoutState::Expired { .. }
            )
        });
        closeout || !matches!(self.affirmation.state, DueState::Ahead { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Conditional, its POA&M not yet closed out and the 180 days still running.
    Conditional,
    /// The 180 days ran out before the closeout: the Conditional status has expired.
    ConditionalExpired,
    Final,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Closeout {
    /// The last day the closeout assessment may confirm the POA&M closed.
    pub due: Date,
    pub state: CloseoutState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CloseoutState {
    Open { days_left: i32 },
    DueSoon { days_left: i32 },
    Expired { days_over: i32 },
    Closed { on: Date },
    ClosedLate { on: Date, days_late: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Affirmation {
    /// The last affirmation on record.
    pub last: Option<Date>,
    /// The next affirmation is due on this day, for `occasion`.
    pub due: Date,
    pub occasion: Occasion,
    pub state: DueState,
}

/// Why an affirmation is due (§ 170.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "occasion")]
pub enum Occasion {
    ConditionalStatus,
    Closeout,
    FinalStatus,
    /// The `year`th anniversary of the CMMC Status Date.
    Anniversary {
        year: i16,
    },
}

impl std::fmt::Display for Occasion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Occasion::ConditionalStatus => f.write_str("upon the Conditional status"),
            Occasion::Closeout => f.write_str("after the POA&M closeout"),
            Occasion::FinalStatus => f.write_str("upon the Final status"),
            Occasion::Anniversary { year } => write!(f, "yearly, year {year}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DueState {
    Ahead { days_left: i32 },
    DueSoon { days_left: i32 },
    Overdue { days_over: i32 },
}

fn add_days(date: Date, days: i64) -> Date {
    date.checked_add(days.days()).unwrap_or(Date::MAX)
}

/// `date` moved on `years` calendar years: 29 February becomes 28 February in a common year.
fn add_years(date: Date, years: i16) -> Date {
    date.checked_add(Span::new().years(years))
        .unwrap_or(Date::MAX)
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
fn days_between(from: Date, to: Date) -> i32 {
    from.until(to).map_or(i32::MAX, |span| span.get_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn dates(
        conditional: Option<&str>,
        final_status: Option<&str>,
        closeout: Option<&str>,
        affirmed: Option<&str>,
    ) -> Result<StatusDates, DatesError> {
        StatusDates::new(
            conditional.map(d),
            final_status.map(d),
            closeout.map(d),
            affirmed.map(d),
        )
    }

    #[test]
    fn the_closeout_counts_180_days_from_the_conditional_date_and_expires_after_them() {
        let s = dates(Some("2026-09-15"), None, None, Some("2026-09-15")).unwrap();
        let due = d("2027-03-14");
        let outlook = s.outlook(d("2026-12-02"));
        assert_eq!(outlook.status, Status::Conditional);
        assert_eq!(
            outlook.closeout,
            Some(Closeout {
                due,
                state: CloseoutState::Open { days_left: 102 }
            })
        );
        // 30 days before: due soon; on the day itself still due soon (the day counts).
        assert_eq!(
            s.outlook(d("2027-02-12")).closeout.unwrap().state,
            CloseoutState::DueSoon { days_left: 30 }
        );
        assert_eq!(
            s.outlook(due).closeout.unwrap().state,
            CloseoutState::DueSoon { days_left: 0 }
        );
        assert!(s.outlook(due).needs_attention());
        // The day after: the Conditional status has expired.
        let late = s.outlook(d("2027-03-15"));
        assert_eq!(
            late.closeout.unwrap().state,
            CloseoutState::Expired { days_over: 1 }
        );
        assert_eq!(late.status, Status::ConditionalExpired);
        assert!(late.needs_attention());
    }

    #[test]
    fn a_closeout_on_or_before_the_last_day_is_closed_and_one_after_is_late() {
        let on_time = dates(Some("2026-09-15"), None, Some("2027-03-14"), None).unwrap();
        let outlook = on_time.outlook(d("2027-06-01"));
        assert_eq!(
            outlook.closeout.unwrap().state,
            CloseoutState::Closed {
                on: d("2027-03-14")
            }
        );
        assert_eq!(outlook.status, Status::Conditional);
        let late = dates(Some("2026-09-15"), None, Some("2027-03-16"), None).unwrap();
        let outlook = late.outlook(d("2027-06-01"));
        assert_eq!(
            outlook.closeout.unwrap().state,
            CloseoutState::ClosedLate {
                on: d("2027-03-16"),
                days_late: 2
            }
        );
        assert_eq!(outlook.status, Status::ConditionalExpired);
    }

    #[test]
    fn the_conditional_date_stays_the_status_date_after_a_final_status() {
        let s = dates(
            Some("2026-09-15"),
            Some("2027-01-10"),
            Some("2027-01-05"),
            Some("2027-01-10"),
        )
        .unwrap();
        let outlook = s.outlook(d("2027-02-01"));
        assert_eq!(outlook.status, Status::Final);
        assert_eq!(outlook.status_date, d("2026-09-15"));
        assert_eq!(outlook.reassessment_due, d("2029-09-15"));
        assert_eq!(outlook.keep_artifacts_until, d("2032-09-15"));
        // Affirmed upon the Final status: the next one is the first anniversary of the
        // Conditional date, not of the Final one.
        assert_eq!(outlook.affirmation.due, d("2027-09-15"));
        assert_eq!(
            outlook.affirmation.occasion,
            Occasion::Anniversary { year: 1 }
        );
        assert_eq!(
            outlook.affirmation.state,
            DueState::Ahead { days_left: 226 }
        );
    }

    #[test]
    fn each_occasion_needs_an_affirmation_on_or_after_it() {
        // Nothing affirmed: the affirmation upon the Conditional status is overdue.
        let none = dates(Some("2026-09-15"), None, None, None).unwrap();
        let a = none.outlook(d("2026-09-20")).affirmation;
        assert_eq!(a.occasion, Occasion::ConditionalStatus);
        assert_eq!(a.state, DueState::Overdue { days_over: 5 });
        // Affirmed at the Conditional status, then closed out: one is due after the
        // closeout, and overdue from the day after.
        let closed = dates(
            Some("2026-09-15"),
            None,
            Some("2027-01-05"),
            Some("2026-09-15"),
        )
        .unwrap();
        let a = closed.outlook(d("2027-01-05")).affirmation;
        assert_eq!((a.due, a.occasion), (d("2027-01-05"), Occasion::Closeout));
        assert_eq!(a.state, DueState::DueSoon { days_left: 0 });
        assert_eq!(
            closed.outlook(d("2027-01-08")).affirmation.state,
            DueState::Overdue { days_over: 3 }
        );
        // A Final status with no Conditional before it: affirmed upon it, then yearly.
        let final_only = dates(None, Some("2025-03-01"), None, Some("2026-02-20")).unwrap();
        let a = final_only.outlook(d("2026-12-02")).affirmation;
        assert_eq!(a.due, d("2027-03-01"));
        assert_eq!(a.occasion, Occasion::Anniversary { year: 2 });
        assert_eq!(a.state, DueState::Ahead { days_left: 89 });
        // One submitted while the anniversary is due soon counts for it; one earlier does not.
        let early = dates(None, Some("2025-03-01"), None, Some("2026-01-15")).unwrap();
        let a = early.outlook(d("2026-03-02")).affirmation;
        assert_eq!(a.due, d("2026-03-01"));
        assert_eq!(a.state, DueState::Overdue { days_over: 1 });
        // The anniversary missed: overdue, and one late affirmation makes it current again.
        let missed = dates(None, Some("2025-03-01"), None, Some("2025-03-01")).unwrap();
        let a = missed.outlook(d("2026-04-01")).affirmation;
        assert_eq!(a.occasion, Occasion::Anniversary { year: 1 });
        assert_eq!(a.state, DueState::Overdue { days_over: 31 });
        let caught_up = dates(None, Some("2025-03-01"), None, Some("2026-04-01")).unwrap();
        assert_eq!(
            caught_up.outlook(d("2026-04-02")).affirmation.due,
            d("2027-03-01")
        );
    }

    #[test]
    fn a_leap_day_status_date_falls_due_on_28_february() {
        let s = dates(None, Some("2028-02-29"), None, Some("2028-02-29")).unwrap();
        let outlook = s.outlook(d("2028-06-01"));
        assert_eq!(outlook.affirmation.due, d("2029-02-28"));
        assert_eq!(outlook.reassessment_due, d("2031-02-28"));
        // The fourth anniversary is a leap day again, counted from the status date itself.
        let later = dates(None, Some("2028-02-29"), None, Some("2031-03-01")).unwrap();
        assert_eq!(
            later.outlook(d("2031-06-01")).affirmation.due,
            d("2032-02-29")
        );
    }

    #[test]
    fn dates_that_cannot_be_one_status_are_refused_saying_which() {
        assert_eq!(dates(None, None, None, None), Err(DatesError::NoStatus));
        assert!(matches!(
            dates(None, Some("2027-01-10"), Some("2027-01-05"), None),
            Err(DatesError::CloseoutWithoutConditional { .. })
        ));
        assert!(matches!(
            dates(Some("2026-09-15"), None, Some("2026-09-01"), None),
            Err(DatesError::CloseoutBeforeConditional { .. })
        ));
        assert!(matches!(
            dates(
                Some("2026-09-15"),
                Some("2026-09-01"),
                Some("2026-09-16"),
                None
            ),
            Err(DatesError::FinalBeforeConditional { .. })
        ));
        let error = dates(Some("2026-09-15"), Some("2027-01-10"), None, None).unwrap_err();
        assert!(error.to_string().contains("poam_closeout_date"), "{error}");
    }
}
