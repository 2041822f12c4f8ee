//! The calendar a CMMC status sets (32 CFR 170): the POA&M closeout due 180 days after the
//! Conditional status date (§ 170.21(b)), the affirmations the Affirming Official submits in
//! SPRS (§ 170.22: upon Conditional status, after a POA&M closeout, upon Final status, and
//! annually after it), the three-year reassessment and the six years assessment artifacts are
//! kept (§ 170.16(c)(4), § 170.17(c)(4)).
//!
//! Every date here is a civil date in the contractor's zone: these are days an organisation
//! counts on its own calendar, not hours a clause counts from an event.
//!
//! A Final status that follows a Conditional one keeps the Conditional date as the CMMC
//! Status Date (§ 170.4: "a new date is not set"); the annual affirmation, the reassessment
//! and the artifact retention all run from that one date. A status that has expired (no
//! closeout within the 180 days, or three years gone by) sets no affirmation: only a new
//! assessment gives a status again.

use jiff::civil::{Date, date};
use jiff::{Span, ToSpan as _};
use serde::Serialize;

/// § 170.21(b): the POA&M closeout assessment within 180 days of the Conditional status date.
pub const CLOSEOUT_DAYS: i64 = 180;

/// How many days before a closeout or affirmation the outlook calls it due soon.
pub const DUE_SOON_DAYS: i32 = 30;

/// How many days before the reassessment the outlook calls it due soon: an assessment is
/// booked months ahead.
pub const REASSESS_SOON_DAYS: i32 = 90;

/// A Level 2 assessment is repeated (self) or its certificate runs out (C3PAO) after three
/// years.
pub const REASSESS_YEARS: i16 = 3;

/// Assessment artifacts are kept six years from the CMMC Status Date.
pub const KEEP_ARTIFACTS_YEARS: i16 = 6;

/// The day the CMMC program rule (32 CFR 170) took effect: no status is older.
pub const PROGRAM_START: Date = date(2024, 12, 16);

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
        "{date} is before 2024-12-16, when the CMMC program rule (32 CFR 170) took effect: no CMMC status or affirmation is older; check the year"
    )]
    BeforeProgram { field: &'static str, date: Date },
    #[error(
        "a POA&M closeout ({closeout}) needs the Conditional status date it closes out: set `conditional_status_date`"
    )]
    CloseoutWithoutConditional { closeout: Date },
    #[error(
        "the POA&M closeout ({closeout}) is dated before the Conditional status date ({conditional}) it closes out: correct one of the two"
    )]
    CloseoutBeforeConditional { closeout: Date, conditional: Date },
    #[error(
        "the Final status date ({final_status}) is before the Conditional status date ({conditional}): a Final status follows the Conditional one; correct one of the two"
    )]
    FinalBeforeConditional {
        final_status: Date,
        conditional: Date,
    },
    #[error(
        "the Final status date ({final_status}) is before the POA&M closeout ({closeout}): the Final status follows the closeout; correct one of the two"
    )]
    FinalBeforeCloseout { final_status: Date, closeout: Date },
    #[error(
        "a Conditional status ({conditional}) becomes Final only through a POA&M closeout: set `poam_closeout_date` to the day the closeout assessment confirmed it"
    )]
    FinalWithoutCloseout {
        final_status: Date,
        conditional: Date,
    },
    #[error(
        "the POA&M closeout ({closeout}) came after the 180 days ended ({due}), when the Conditional status had expired: a Final status after that comes from a new assessment; give its date as `final_status_date` alone, without `conditional_status_date` and `poam_closeout_date`"
    )]
    FinalAfterLateCloseout { closeout: Date, due: Date },
}

impl DatesError {
    /// The key whose date is wrong, where one is (else the table as a whole).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            DatesError::NoStatus => None,
            DatesError::BeforeProgram { field, .. } => Some(field),
            DatesError::CloseoutWithoutConditional { .. }
            | DatesError::CloseoutBeforeConditional { .. } => Some("poam_closeout_date"),
            DatesError::FinalBeforeConditional { .. }
            | DatesError::FinalBeforeCloseout { .. }
            | DatesError::FinalWithoutCloseout { .. }
            | DatesError::FinalAfterLateCloseout { .. } => Some("final_status_date"),
        }
    }
}

impl StatusDates {
    pub fn new(
        conditional: Option<Date>,
        final_status: Option<Date>,
        closeout: Option<Date>,
        affirmed: Option<Date>,
    ) -> Result<StatusDates, DatesError> {
        for (field, value) in [
            ("conditional_status_date", conditional),
            ("final_status_date", final_status),
            ("poam_closeout_date", closeout),
            ("last_affirmation_date", affirmed),
        ] {
            if let Some(date) = value.filter(|d| *d < PROGRAM_START) {
                return Err(DatesError::BeforeProgram { field, date });
            }
        }
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
            let Some(closeout) = closeout else {
                return Err(DatesError::FinalWithoutCloseout {
                    final_status,
                    conditional,
                });
            };
            if final_status < closeout {
                return Err(DatesError::FinalBeforeCloseout {
                    final_status,
                    closeout,
                });
            }
            let due = closeout_due(conditional);
            if closeout > due {
                return Err(DatesError::FinalAfterLateCloseout { closeout, due });
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
        // A closeout or affirmation dated after today is not counted (it is noted below).
        let closed_on = self.closeout.filter(|d| *d <= today);
        let closeout = self.conditional.map(|conditional| {
            let due = closeout_due(conditional);
            let state = match closed_on {
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
        let reassessment_due = add_years(status_date, REASSESS_YEARS);
        let status = match closeout.map(|c| c.state) {
            Some(CloseoutState::Expired { .. } | CloseoutState::ClosedLate { .. }) => {
                Status::ConditionalExpired
            }
            Some(CloseoutState::Open { .. } | CloseoutState::DueSoon { .. }) => Status::Conditional,
            // A closeout in time makes the status Final (§ 170.21(b)), dated or not.
            Some(CloseoutState::Closed { .. }) | None if today > reassessment_due => {
                Status::Expired
            }
            Some(CloseoutState::Closed { .. }) | None => Status::Final,
        };
        let affirmed = self.affirmed.filter(|d| *d <= today);
        let dated_ahead = [
            ("conditional_status_date", self.conditional),
            ("final_status_date", self.final_status),
            ("poam_closeout_date", self.closeout),
            ("last_affirmation_date", self.affirmed),
        ]
        .into_iter()
        .filter_map(|(field, date)| Some(DatedAhead { field, date: date? }))
        .filter(|ahead| ahead.date > today)
        .collect();
        let current = matches!(status, Status::Conditional | Status::Final);
        let (affirmation, later_affirmations) = if current {
            self.affirmations(today, affirmed, closed_on, closeout)
        } else {
            (None, Vec::new())
        };
        Outlook {
            status_date,
            status,
            closeout,
            affirmation,
            later_affirmations,
            // An expired Conditional status is never reassessed: a new assessment starts over.
            reassessment: (status != Status::ConditionalExpired).then(|| Reassessment {
                due: reassessment_due,
                state: due_state(today, reassessment_due, REASSESS_SOON_DAYS),
            }),
            keep_artifacts_until: add_years(status_date, KEEP_ARTIFACTS_YEARS),
            dated_ahead,
        }
    }

    /// The first affirmation occasion after the last affirmation (or the first of all, with
    /// none on record), while the status is current, and when that one is overdue, the later
    /// occasions up to the first still ahead: each is missed or reminded in its own right. An affirmation
    /// covers every occasion on or before its day: one submitted late still makes the
    /// contractor current from then on. `None` once the yearly ones up to the reassessment
    /// are all affirmed: the next comes with the next assessment.
    fn affirmations(
        &self,
        today: Date,
        affirmed: Option<Date>,
        closed_on: Option<Date>,
        closeout: Option<Closeout>,
    ) -> (Option<Affirmation>, Vec<Affirmation>) {
        let status_date = self.status_date();
        // (the earliest day an affirmation counts for it, its due day, the occasion)
        let mut occasions: Vec<(Date, Date, Occasion)> =
            Vec::with_capacity(3 + REASSESS_YEARS as usize);
        if let Some(date) = self.conditional {
            occasions.push((date, date, Occasion::ConditionalStatus));
        }
        // The affirmation after the closeout is due by the closeout's last day, however early
        // the closeout came (what the reminders said while it was pending), and counts from
        // the closeout on. The Final status such a closeout gives is affirmed by the same one.
        match (closed_on, closeout) {
            // Closed in time (a late closeout leaves no status to affirm).
            (Some(date), Some(closeout)) => {
                occasions.push((date, closeout.due, Occasion::Closeout));
            }
            (None, Some(closeout)) => {
                occasions.push((closeout.due, closeout.due, Occasion::Closeout));
            }
            (_, None) => {}
        }
        if let (Some(date), None) = (self.final_status, self.conditional) {
            occasions.push((date, date, Occasion::FinalStatus));
        }
        // The yearly ones up to the reassessment, which comes with an affirmation of its own.
        // One counts from the day it is called due soon, so one submitted when this outlook
        // asked for it counts.
        if self.conditional.is_none() || closed_on.is_some() {
            for year in 1..REASSESS_YEARS {
                let due = add_years(status_date, year);
                let earliest = add_days(due, -i64::from(DUE_SOON_DAYS));
                occasions.push((earliest, due, Occasion::Anniversary { year }));
            }
        }
        occasions.sort_by_key(|(_, due, _)| *due);
        let mut pending = occasions
            .into_iter()
            .filter(|(earliest, _, _)| affirmed.is_none_or(|last| last < *earliest))
            .map(|(counts_from, due, occasion)| Affirmation {
                last: affirmed,
                due,
                counts_from,
                occasion,
                state: due_state(today, due, DUE_SOON_DAYS),
            });
        let first = pending.next();
        // While the first is missed, each later occasion is told too: every one missed, and
        // the first still ahead.
        let mut later = Vec::new();
        if first.is_some_and(|a| matches!(a.state, DueState::Overdue { .. })) {
            for next in pending {
                let ahead = !matches!(next.state, DueState::Overdue { .. });
                later.push(next);
                if ahead {
                    break;
                }
            }
        }
        (first, later)
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
    /// The next affirmation, while the status is current and one is still to come.
    pub affirmation: Option<Affirmation>,
    /// While `affirmation` is overdue, the occasions after it up to the first still ahead
    /// (each missed one, then that one): their reminders are due all the same. One
    /// affirmation covers them all once it counts for the last (`counts_from`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub later_affirmations: Vec<Affirmation>,
    /// `None` once a Conditional status has expired: only a new assessment gives one.
    pub reassessment: Option<Reassessment>,
    pub keep_artifacts_until: Date,
    /// Dates recorded as after the day of the outlook: a typo, most likely. A last
    /// affirmation dated ahead is not counted.
    pub dated_ahead: Vec<DatedAhead>,
}

impl Outlook {
    /// Whether a person must act on the calendar now: a status expired, a closeout,
    /// affirmation or reassessment due soon or missed, a date recorded ahead of today.
    pub fn needs_attention(&self) -> bool {
        let closeout = self.closeout.as_ref().is_some_and(|c| {
            !matches!(
                c.state,
                CloseoutState::Open { .. } | CloseoutState::Closed { .. }
            )
        });
        let affirmation = self
            .affirmation
            .as_ref()
            .is_some_and(|a| !matches!(a.state, DueState::Ahead { .. }));
        let reassessment = self
            .reassessment
            .is_some_and(|r| !matches!(r.state, DueState::Ahead { .. }));
        !matches!(self.status, Status::Conditional | Status::Final)
            || closeout
            || affirmation
            || reassessment
            || !self.dated_ahead.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Conditional, its POA&M not yet closed out and the 180 days still running.
    Conditional,
    /// The 180 days ran out before the closeout: the Conditional status has expired.
    ConditionalExpired,
    /// Final: given so, or a Conditional one closed out in time.
    Final,
    /// Three years have gone by since the status date without a new status recorded.
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Closeout {
    /// The last day the closeout assessment may confirm the POA&M closed.
    pub due: Date,
    #[serde(flatten)]
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
    /// The last affirmation on record (not one dated after the outlook's day).
    pub last: Option<Date>,
    /// The next affirmation is due on this day, for `occasion`.
    pub due: Date,
    /// An affirmation counts for this occasion from this day on: the event's own day, or 30
    /// days before an anniversary.
    pub counts_from: Date,
    #[serde(flatten)]
    pub occasion: Occasion,
    #[serde(flatten)]
    pub state: DueState,
}

/// Why an affirmation is due (§ 170.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "occasion")]
pub enum Occasion {
    ConditionalStatus,
    /// After the POA&M closeout; while it is pending, due by its last day.
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
            Occasion::Anniversary { year: 1 } => {
                f.write_str("annual, 1st anniversary of the status date")
            }
            Occasion::Anniversary { year: 2 } => {
                f.write_str("annual, 2nd anniversary of the status date")
            }
            Occasion::Anniversary { year: 3 } => {
                f.write_str("annual, 3rd anniversary of the status date")
            }
            Occasion::Anniversary { year } => {
                write!(f, "annual, anniversary {year} of the status date")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reassessment {
    pub due: Date,
    #[serde(flatten)]
    pub state: DueState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DueState {
    Ahead { days_left: i32 },
    DueSoon { days_left: i32 },
    Overdue { days_over: i32 },
}

/// A recorded date after the outlook's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DatedAhead {
    pub field: &'static str,
    pub date: Date,
}

/// Days before a closeout's last day at which a reminder goes out, once each.
pub const CLOSEOUT_REMINDERS: [i32; 4] = [30, 14, 7, 1];

/// Days before an affirmation is due at which a reminder goes out, once each.
pub const AFFIRMATION_REMINDERS: [i32; 3] = [30, 7, 1];

/// Days before the reassessment at which a reminder goes out, once each.
pub const REASSESSMENT_REMINDERS: [i32; 2] = [90, 30];

/// A deadline of the calendar a reminder is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Closeout,
    Affirmation(Occasion),
    Reassessment,
}

impl Due {
    /// Its name in a reminder's key.
    pub fn key(self) -> String {
        match self {
            Due::Closeout => "poam-closeout".to_owned(),
            Due::Affirmation(Occasion::ConditionalStatus) => "affirmation-conditional".to_owned(),
            Due::Affirmation(Occasion::Closeout) => "affirmation-closeout".to_owned(),
            Due::Affirmation(Occasion::FinalStatus) => "affirmation-final".to_owned(),
            Due::Affirmation(Occasion::Anniversary { year }) => format!("affirmation-year-{year}"),
            Due::Reassessment => "reassessment".to_owned(),
        }
    }
}

/// How near a deadline a reminder tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// At most this many days are left (one of the deadline's reminder days).
    Within(i32),
    /// The last day has gone by.
    Missed,
}

/// A reminder the calendar asks for on one day: the nearest stage its deadline has reached.
/// Told once per (deadline, due day, stage): a daemon stopped over several reminder days
/// tells only the stage it finds, not each one it slept through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reminder {
    pub due: Due,
    /// The deadline's last day.
    pub on: Date,
    pub stage: Stage,
    /// Days left until `on` (0: today), or gone by since it when missed.
    pub days: i32,
}

impl Reminder {
    /// What decides it, unique over the calendar's life: `poam-closeout:2027-03-14:14d`. A
    /// corrected date or the next year's affirmation is a new deadline with keys of its own.
    pub fn key(&self) -> String {
        let stage = match self.stage {
            Stage::Within(days) => format!("{days}d"),
            Stage::Missed => "missed".to_owned(),
        };
        format!("{}:{}:{stage}", self.due.key(), self.on)
    }

    /// Whether management hears of it too: a deadline missed, or a week or less away.
    pub fn urgent(&self) -> bool {
        match self.stage {
            Stage::Missed => true,
            Stage::Within(days) => days <= 7,
        }
    }
}

impl Outlook {
    /// The reminders due on the outlook's day, the most pressing first: the closeout, the
    /// affirmations, the reassessment. A deadline met (a closeout recorded, an affirmation on
    /// record) or further off than its first reminder day asks for none.
    pub fn reminders(&self) -> Vec<Reminder> {
        let mut out = Vec::new();
        if let Some(closeout) = self.closeout {
            let stage = match closeout.state {
                CloseoutState::DueSoon { days_left } | CloseoutState::Open { days_left } => {
                    within(&CLOSEOUT_REMINDERS, days_left).map(|s| (s, days_left))
                }
                CloseoutState::Expired { days_over } => Some((Stage::Missed, days_over)),
                // Recorded late before a pass saw it missed (or set up afterwards): the
                // status expired all the same, and is told once under the same key.
                CloseoutState::ClosedLate { days_late, .. } => Some((Stage::Missed, days_late)),
                CloseoutState::Closed { .. } => None,
            };
            out.extend(stage.map(|(stage, days)| Reminder {
                due: Due::Closeout,
                on: closeout.due,
                stage,
                days,
            }));
        }
        let dated = self
            .affirmations_apart()
            .map(|a| {
                (
                    Due::Affirmation(a.occasion),
                    a.due,
                    a.state,
                    &AFFIRMATION_REMINDERS[..],
                )
            })
            .chain(self.reassessment.map(|r| {
                (
                    Due::Reassessment,
                    r.due,
                    r.state,
                    &REASSESSMENT_REMINDERS[..],
                )
            }));
        for (due, on, state, days) in dated {
            out.extend(due_stage(state, days).map(|(stage, days)| Reminder {
                due,
                on,
                stage,
                days,
            }));
        }
        out
    }

    /// The deadlines still ahead (or today), each with its last day: the closeout while it is
    /// pending, the affirmations, the reassessment.
    pub fn deadlines_ahead(&self) -> Vec<(Due, Date)> {
        let ahead = |state: DueState| !matches!(state, DueState::Overdue { .. });
        self.pending_closeout()
            .map(|c| (Due::Closeout, c.due))
            .into_iter()
            .chain(
                self.affirmations_apart()
                    .filter(|a| ahead(a.state))
                    .map(|a| (Due::Affirmation(a.occasion), a.due)),
            )
            .chain(
                self.reassessment
                    .filter(|r| ahead(r.state))
                    .map(|r| (Due::Reassessment, r.due)),
            )
            .collect()
    }

    /// The closeout while it is still to come.
    fn pending_closeout(&self) -> Option<Closeout> {
        self.closeout.filter(|c| {
            matches!(
                c.state,
                CloseoutState::Open { .. } | CloseoutState::DueSoon { .. }
            )
        })
    }

    /// The affirmations that are deadlines of their own: the next one and the later ones.
    /// While the closeout is pending, the affirmation after it is due by the same day and
    /// follows from it: the closeout's reminders and deadline tell of both.
    fn affirmations_apart(&self) -> impl Iterator<Item = Affirmation> + '_ {
        let pending = self.pending_closeout().is_some();
        self.affirmation
            .into_iter()
            .chain(self.later_affirmations.iter().copied())
            .filter(move |a| !(pending && a.occasion == Occasion::Closeout))
    }
}

/// The nearest of `days` (descending) that `days_left` has reached.
fn within(days: &[i32], days_left: i32) -> Option<Stage> {
    days.iter()
        .rev()
        .find(|d| days_left <= **d)
        .map(|d| Stage::Within(*d))
}

fn due_stage(state: DueState, days: &[i32]) -> Option<(Stage, i32)> {
    match state {
        DueState::Ahead { days_left } | DueState::DueSoon { days_left } => {
            within(days, days_left).map(|s| (s, days_left))
        }
        DueState::Overdue { days_over } => Some((Stage::Missed, days_over)),
    }
}

/// The last day of the closeout of a Conditional status of `conditional`.
fn closeout_due(conditional: Date) -> Date {
    add_days(conditional, CLOSEOUT_DAYS)
}

fn due_state(today: Date, due: Date, soon_days: i32) -> DueState {
    if due < today {
        return DueState::Overdue {
            days_over: days_between(due, today),
        };
    }
    let days_left = days_between(today, due);
    if days_left <= soon_days {
        DueState::DueSoon { days_left }
    } else {
        DueState::Ahead { days_left }
    }
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
        assert!(!outlook.needs_attention());
        // While Conditional, the next affirmation is the one after the closeout, by its last
        // day: no yearly one comes before a Final status.
        let a = outlook.affirmation.unwrap();
        assert_eq!((a.due, a.occasion), (due, Occasion::Closeout));
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
        // The day after: the Conditional status has expired, and sets nothing more.
        let late = s.outlook(d("2027-03-15"));
        assert_eq!(
            late.closeout.unwrap().state,
            CloseoutState::Expired { days_over: 1 }
        );
        assert_eq!(late.status, Status::ConditionalExpired);
        assert_eq!(late.affirmation, None);
        assert_eq!(late.reassessment, None);
        assert!(late.needs_attention());
        // A closeout recorded with a date still ahead is not one yet.
        let ahead = dates(Some("2026-09-15"), None, Some("2027-01-05"), None).unwrap();
        let outlook = ahead.outlook(d("2026-12-02"));
        assert_eq!(outlook.status, Status::Conditional);
        assert_eq!(
            outlook.closeout.unwrap().state,
            CloseoutState::Open { days_left: 102 }
        );
        assert_eq!(outlook.dated_ahead[0].field, "poam_closeout_date");
    }

    #[test]
    fn a_closeout_in_time_makes_the_status_final_and_a_late_one_leaves_it_expired() {
        let on_time = dates(Some("2026-09-15"), None, Some("2027-03-14"), None).unwrap();
        let outlook = on_time.outlook(d("2027-06-01"));
        assert_eq!(
            outlook.closeout.unwrap().state,
            CloseoutState::Closed {
                on: d("2027-03-14")
            }
        );
        assert_eq!(outlook.status, Status::Final);
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
        assert_eq!(outlook.affirmation, None);
        assert!(outlook.needs_attention());
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
        assert_eq!(outlook.reassessment.unwrap().due, d("2029-09-15"));
        assert_eq!(outlook.keep_artifacts_until, d("2032-09-15"));
        // Affirmed upon the Final status: the next one is the first anniversary of the
        // Conditional date, not of the Final one.
        let a = outlook.affirmation.unwrap();
        assert_eq!(a.due, d("2027-09-15"));
        assert_eq!(a.occasion, Occasion::Anniversary { year: 1 });
        assert_eq!(a.state, DueState::Ahead { days_left: 226 });
        // As `sprs --json` shows it: each state beside the fields it qualifies.
        let json = serde_json::to_value(&outlook).unwrap();
        assert_eq!(
            json["affirmation"],
            serde_json::json!({"last": "2027-01-10", "due": "2027-09-15",
                "counts_from": "2027-08-16", "occasion": "anniversary", "year": 1,
                "state": "ahead", "days_left": 226})
        );
        assert_eq!(
            json["closeout"],
            serde_json::json!({"due": "2027-03-14", "state": "closed", "on": "2027-01-05"})
        );
        assert_eq!(json["status"], "final");
    }

    #[test]
    fn each_occasion_needs_an_affirmation_on_or_after_it() {
        // Nothing affirmed: the affirmation upon the Conditional status is overdue.
        let none = dates(Some("2026-09-15"), None, None, None).unwrap();
        let a = none.outlook(d("2026-09-20")).affirmation.unwrap();
        assert_eq!(a.occasion, Occasion::ConditionalStatus);
        assert_eq!(a.state, DueState::Overdue { days_over: 5 });
        // Affirmed at the Conditional status, then closed out early: the one after the
        // closeout is due by the closeout's last day (as it was while pending), not on the
        // closeout's own day; the Final status the closeout gave needs no other.
        let closed = dates(
            Some("2026-09-15"),
            Some("2027-01-10"),
            Some("2027-01-05"),
            Some("2026-09-15"),
        )
        .unwrap();
        let a = closed.outlook(d("2027-01-11")).affirmation.unwrap();
        assert_eq!((a.due, a.occasion), (d("2027-03-14"), Occasion::Closeout));
        assert_eq!(a.state, DueState::Ahead { days_left: 62 });
        assert_eq!(
            closed.outlook(d("2027-03-17")).affirmation.unwrap().state,
            DueState::Overdue { days_over: 3 }
        );
        // One affirmation after the closeout covers it and the Final status: next, the year.
        let affirmed = dates(
            Some("2026-09-15"),
            Some("2027-01-10"),
            Some("2027-01-05"),
            Some("2027-01-06"),
        )
        .unwrap();
        let a = affirmed.outlook(d("2027-01-11")).affirmation.unwrap();
        assert_eq!(a.occasion, Occasion::Anniversary { year: 1 });
        // Before the closeout an affirmation does not count for it.
        let before = dates(
            Some("2026-09-15"),
            None,
            Some("2027-01-05"),
            Some("2027-01-04"),
        )
        .unwrap();
        assert_eq!(
            before
                .outlook(d("2027-01-11"))
                .affirmation
                .unwrap()
                .occasion,
            Occasion::Closeout
        );
        // A Final status with no Conditional before it: affirmed upon it, then yearly; one
        // submitted while the anniversary is due soon counts for it.
        let final_only = dates(None, Some("2025-03-01"), None, Some("2026-02-20")).unwrap();
        let a = final_only.outlook(d("2026-12-02")).affirmation.unwrap();
        assert_eq!(a.due, d("2027-03-01"));
        assert_eq!(a.occasion, Occasion::Anniversary { year: 2 });
        assert_eq!(a.state, DueState::Ahead { days_left: 89 });
        // One earlier than that does not count for it.
        let early = dates(None, Some("2025-03-01"), None, Some("2026-01-15")).unwrap();
        let a = early.outlook(d("2026-03-02")).affirmation.unwrap();
        assert_eq!(a.due, d("2026-03-01"));
        assert_eq!(a.state, DueState::Overdue { days_over: 1 });
        // The anniversary missed: overdue, and one late affirmation makes it current again.
        let missed = dates(None, Some("2025-03-01"), None, Some("2025-03-01")).unwrap();
        let a = missed.outlook(d("2026-04-01")).affirmation.unwrap();
        assert_eq!(a.occasion, Occasion::Anniversary { year: 1 });
        assert_eq!(a.state, DueState::Overdue { days_over: 31 });
        let caught_up = dates(None, Some("2025-03-01"), None, Some("2026-04-01")).unwrap();
        assert_eq!(
            caught_up.outlook(d("2026-04-02")).affirmation.unwrap().due,
            d("2027-03-01")
        );
    }

    #[test]
    fn three_years_on_the_reassessment_is_due_and_then_the_status_has_run_out() {
        let s = dates(None, Some("2025-01-10"), None, Some("2028-01-05")).unwrap();
        // The third year brings the reassessment, not a yearly affirmation: the second is the
        // last one due.
        let second = dates(None, Some("2025-01-10"), None, Some("2027-01-10")).unwrap();
        let a = second.outlook(d("2027-10-20")).affirmation;
        assert_eq!(a, None, "{a:?}");
        let outlook = s.outlook(d("2028-01-08"));
        assert_eq!(outlook.status, Status::Final);
        assert_eq!(outlook.affirmation, None);
        assert_eq!(
            outlook.reassessment.unwrap().state,
            DueState::DueSoon { days_left: 2 }
        );
        assert!(outlook.needs_attention());
        // 90 days ahead the reassessment is already called due soon: it is booked early.
        assert_eq!(
            s.outlook(d("2027-10-12")).reassessment.unwrap().state,
            DueState::DueSoon { days_left: 90 }
        );
        let after = s.outlook(d("2028-02-01"));
        assert_eq!(after.status, Status::Expired);
        assert_eq!(after.affirmation, None);
        assert_eq!(
            after.reassessment.unwrap().state,
            DueState::Overdue { days_over: 22 }
        );
        assert!(after.needs_attention());
    }

    #[test]
    fn a_leap_day_status_date_falls_due_on_28_february() {
        let s = dates(None, Some("2028-02-29"), None, Some("2028-02-29")).unwrap();
        let outlook = s.outlook(d("2028-06-01"));
        assert_eq!(outlook.affirmation.unwrap().due, d("2029-02-28"));
        assert_eq!(outlook.reassessment.unwrap().due, d("2031-02-28"));
        // Each anniversary counted from the status date itself, not from the one before.
        let later = dates(None, Some("2028-02-29"), None, Some("2029-03-01")).unwrap();
        let a = later.outlook(d("2029-06-01")).affirmation.unwrap();
        assert_eq!(
            (a.due, a.occasion),
            (d("2030-02-28"), Occasion::Anniversary { year: 2 })
        );
    }

    #[test]
    fn a_date_recorded_after_today_is_shown_and_an_affirmation_so_dated_not_counted() {
        let s = dates(None, Some("2025-03-01"), None, Some("2031-01-29")).unwrap();
        let outlook = s.outlook(d("2026-04-01"));
        assert_eq!(
            outlook.dated_ahead,
            [DatedAhead {
                field: "last_affirmation_date",
                date: d("2031-01-29")
            }]
        );
        let a = outlook.affirmation.unwrap();
        assert_eq!(a.last, None);
        assert_eq!(a.occasion, Occasion::FinalStatus);
        assert_eq!(a.state, DueState::Overdue { days_over: 396 });
        assert!(outlook.needs_attention());
    }

    #[test]
    fn dates_that_cannot_be_one_status_are_refused_saying_which() {
        let refused = |error: Result<StatusDates, DatesError>| error.unwrap_err();
        assert_eq!(refused(dates(None, None, None, None)), DatesError::NoStatus);
        let error = refused(dates(None, Some("0001-01-01"), None, None));
        assert_eq!(error.field(), Some("final_status_date"));
        assert!(error.to_string().contains("2024-12-16"), "{error}");
        let error = refused(dates(None, Some("2027-01-10"), Some("2027-01-05"), None));
        assert!(matches!(
            error,
            DatesError::CloseoutWithoutConditional { .. }
        ));
        assert_eq!(error.field(), Some("poam_closeout_date"));
        let error = refused(dates(Some("2026-09-15"), None, Some("2026-09-01"), None));
        assert!(matches!(
            error,
            DatesError::CloseoutBeforeConditional { .. }
        ));
        assert_eq!(error.field(), Some("poam_closeout_date"));
        let error = refused(dates(
            Some("2026-09-15"),
            Some("2026-09-01"),
            Some("2026-09-16"),
            None,
        ));
        assert!(matches!(error, DatesError::FinalBeforeConditional { .. }));
        assert_eq!(error.field(), Some("final_status_date"));
        let error = refused(dates(
            Some("2026-06-25"),
            Some("2026-07-01"),
            Some("2026-12-01"),
            None,
        ));
        assert!(matches!(error, DatesError::FinalBeforeCloseout { .. }));
        // A closeout after the 180 days cannot have led to a Final status on that date.
        let error = refused(dates(
            Some("2026-06-25"),
            Some("2026-12-30"),
            Some("2026-12-30"),
            None,
        ));
        assert!(matches!(error, DatesError::FinalAfterLateCloseout { .. }));
        assert!(error.to_string().contains("alone"), "{error}");
        let error = refused(dates(Some("2026-09-15"), Some("2027-01-10"), None, None));
        assert!(error.to_string().contains("poam_closeout_date"), "{error}");
    }

    /// The keys of the reminders due on `today`, as the outbox would decide them.
    fn reminders_on(s: &StatusDates, today: &str) -> Vec<String> {
        s.outlook(d(today))
            .reminders()
            .iter()
            .map(Reminder::key)
            .collect()
    }

    #[test]
    fn a_closeout_is_reminded_of_30_14_7_and_1_days_ahead_then_once_missed() {
        let s = dates(Some("2026-09-15"), None, None, Some("2026-09-15")).unwrap();
        // The closeout's last day is 2027-03-14; 31 days before it, nothing yet.
        assert_eq!(reminders_on(&s, "2027-02-11"), Vec::<String>::new());
        // The affirmation after the closeout is due by the same day: the closeout's reminder
        // tells of it, not one of its own.
        let first = vec!["poam-closeout:2027-03-14:30d".to_owned()];
        assert_eq!(reminders_on(&s, "2027-02-12"), first);
        // Never affirmed: the one upon the Conditional status is missed, and the one after
        // the closeout is still told in the closeout's reminder, not apart.
        let never = dates(Some("2026-09-15"), None, None, None).unwrap();
        assert_eq!(
            reminders_on(&never, "2027-02-12"),
            vec![
                "poam-closeout:2027-03-14:30d".to_owned(),
                "affirmation-conditional:2026-09-15:missed".to_owned()
            ]
        );
        // A day later the stage is the same, so the same key: nothing new to tell.
        assert_eq!(reminders_on(&s, "2027-02-13"), first);
        assert_eq!(
            reminders_on(&s, "2027-02-28")[0],
            "poam-closeout:2027-03-14:14d"
        );
        assert_eq!(
            reminders_on(&s, "2027-03-07")[0],
            "poam-closeout:2027-03-14:7d"
        );
        // The last day and the day before are one stage.
        for day in ["2027-03-13", "2027-03-14"] {
            let reminders = s.outlook(d(day)).reminders();
            assert_eq!(reminders[0].key(), "poam-closeout:2027-03-14:1d", "{day}");
            assert!(reminders[0].urgent());
        }
        assert!(!s.outlook(d("2027-02-28")).reminders()[0].urgent());
        // Missed: the status expired, so only the closeout is told, and with one key however
        // long it stays missed.
        for day in ["2027-03-15", "2027-06-01"] {
            assert_eq!(
                reminders_on(&s, day),
                vec!["poam-closeout:2027-03-14:missed".to_owned()],
                "{day}"
            );
        }
        let missed = s.outlook(d("2027-03-20")).reminders()[0];
        assert_eq!((missed.stage, missed.days), (Stage::Missed, 6));
        // Closed out in time: no closeout reminder, and the affirmation after it is asked
        // for by the closeout's last day: 12 days off, its 30-day stage.
        let closed = dates(
            Some("2026-09-15"),
            None,
            Some("2027-03-01"),
            Some("2026-09-15"),
        )
        .unwrap();
        assert_eq!(
            reminders_on(&closed, "2027-03-02"),
            vec!["affirmation-closeout:2027-03-14:30d".to_owned()]
        );
        assert_eq!(
            reminders_on(&closed, "2027-03-15"),
            vec!["affirmation-closeout:2027-03-14:missed".to_owned()]
        );
        let affirmed = dates(
            Some("2026-09-15"),
            None,
            Some("2027-03-01"),
            Some("2027-03-01"),
        )
        .unwrap();
        assert_eq!(reminders_on(&affirmed, "2027-03-02"), Vec::<String>::new());
        // A closeout recorded late, before any pass saw the day go by: the status expired
        // all the same, told once under the missed key.
        let late = dates(
            Some("2026-09-15"),
            None,
            Some("2027-03-16"),
            Some("2026-09-15"),
        )
        .unwrap();
        for day in ["2027-03-17", "2027-06-17"] {
            assert_eq!(
                reminders_on(&late, day),
                vec!["poam-closeout:2027-03-14:missed".to_owned()],
                "{day}"
            );
        }
    }

    #[test]
    fn yearly_affirmations_and_the_reassessment_have_reminders_keyed_by_their_own_day() {
        let s = dates(None, Some("2025-01-10"), None, Some("2025-01-10")).unwrap();
        assert_eq!(reminders_on(&s, "2025-12-10"), Vec::<String>::new());
        assert_eq!(
            reminders_on(&s, "2025-12-11"),
            vec!["affirmation-year-1:2026-01-10:30d".to_owned()]
        );
        // Affirmed within the 30 days: the next is a year on, with keys of its own.
        let next = dates(None, Some("2025-01-10"), None, Some("2025-12-20")).unwrap();
        assert_eq!(reminders_on(&next, "2026-01-11"), Vec::<String>::new());
        assert_eq!(
            reminders_on(&next, "2027-01-09"),
            vec!["affirmation-year-2:2027-01-10:1d".to_owned()]
        );
        // The first yearly one missed: told once, and the second is still reminded in its
        // own right (one affirmation will cover both).
        let behind = dates(None, Some("2025-01-10"), None, Some("2025-01-10")).unwrap();
        assert_eq!(
            reminders_on(&behind, "2026-06-01"),
            vec!["affirmation-year-1:2026-01-10:missed".to_owned()]
        );
        assert_eq!(
            reminders_on(&behind, "2027-01-05"),
            vec![
                "affirmation-year-1:2026-01-10:missed".to_owned(),
                "affirmation-year-2:2027-01-10:7d".to_owned()
            ]
        );
        // Both missed: the second is told MISSED once too, apart from the first.
        assert_eq!(
            reminders_on(&behind, "2027-01-11"),
            vec![
                "affirmation-year-1:2026-01-10:missed".to_owned(),
                "affirmation-year-2:2027-01-10:missed".to_owned()
            ]
        );
        // Never affirmed at all: the Final status's and the first year's are missed, each told
        // once, and the second year's is still reminded.
        let never = dates(None, Some("2025-01-10"), None, None).unwrap();
        assert_eq!(
            reminders_on(&never, "2027-01-05"),
            vec![
                "affirmation-final:2025-01-10:missed".to_owned(),
                "affirmation-year-1:2026-01-10:missed".to_owned(),
                "affirmation-year-2:2027-01-10:7d".to_owned()
            ]
        );
        // An affirmation counts for the second only from 30 days before it.
        let then = behind.outlook(d("2026-06-01")).later_affirmations[0];
        assert_eq!(
            (then.due, then.counts_from),
            (d("2027-01-10"), d("2026-12-11"))
        );
        assert_eq!(
            behind.outlook(d("2027-01-05")).deadlines_ahead(),
            vec![
                (
                    Due::Affirmation(Occasion::Anniversary { year: 2 }),
                    d("2027-01-10")
                ),
                (Due::Reassessment, d("2028-01-10"))
            ]
        );
        // Every yearly one in: the reassessment, 90 and 30 days ahead, then missed once the
        // status has run out.
        let all = dates(None, Some("2025-01-10"), None, Some("2027-01-05")).unwrap();
        assert_eq!(reminders_on(&all, "2027-10-11"), Vec::<String>::new());
        assert_eq!(
            reminders_on(&all, "2027-10-12"),
            vec!["reassessment:2028-01-10:90d".to_owned()]
        );
        assert_eq!(
            reminders_on(&all, "2027-12-11"),
            vec!["reassessment:2028-01-10:30d".to_owned()]
        );
        let gone = all.outlook(d("2028-01-11"));
        assert_eq!(gone.status, Status::Expired);
        assert_eq!(
            gone.reminders()
                .iter()
                .map(Reminder::key)
                .collect::<Vec<_>>(),
            vec!["reassessment:2028-01-10:missed".to_owned()]
        );
        assert!(gone.reminders()[0].urgent());
    }
}
