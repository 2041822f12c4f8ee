//! Where the daemon's "now" comes from. Everything below the daemon loop
//! takes `now` as an argument, so `dutywatch once --at …` and the tests
//! decide what time it is.

use jiff::Timestamp;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The host's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that reads what it was last set to: tests move it by hand, so a lease or a
/// back-off measured on the wall clock runs out exactly when the test says.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(std::sync::Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A clock that always reads one instant: `--clock` for tests and reproducible one-shot
/// runs, so no result depends on the day it is run.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// How far behind the database's latest work the clock may read and still write: a clock
/// set right by NTP moves by seconds, and `once --at` may run this far ahead of the clock.
pub const STEP_BACK_TOLERANCE: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// The clock reads `now`, but the database holds work done as of `latest`, further ahead than
/// [`STEP_BACK_TOLERANCE`]: a cycle now would store verdicts and history dated before what
/// they follow, restart every lapse's clock and mail about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the clock reads {now}, but the database already holds work done as of {latest}: a cycle now would write its history out of order and mail about it. Either this host's clock is behind (check `timedatectl`; dutywatch carries on once it reads {latest} or later), or it was ahead when that work was done (then restore a backup from before it)"
)]
pub struct ClockBehind {
    pub now: Timestamp,
    pub latest: Timestamp,
}

/// Whether a cycle may run at `now` on a database whose latest work was at `latest`.
pub fn check_not_behind(now: Timestamp, latest: Option<Timestamp>) -> Result<(), ClockBehind> {
    match latest {
        Some(latest)
            if now
                .checked_add(STEP_BACK_TOLERANCE)
                .is_ok_and(|t| t < latest) =>
        {
            Err(ClockBehind { now, latest })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_behind_the_database_by_more_than_the_tolerance_is_refused() {
        let latest: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(check_not_behind(at("2000-01-01T00:00:00Z"), Some(latest)).is_err());
        assert!(check_not_behind(at("2026-12-01T11:54:59Z"), Some(latest)).is_err());
        assert!(check_not_behind(at("2026-12-01T11:55:00Z"), Some(latest)).is_ok());
        assert!(check_not_behind(at("2026-12-02T00:00:00Z"), Some(latest)).is_ok());
        assert!(
            check_not_behind(at("2000-01-01T00:00:00Z"), None).is_ok(),
            "a new database"
        );
    }
}
