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

/// A clock that always reads one instant: `--clock` for tests and reproducible one-shot
/// runs, so no result depends on the day it is run.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}
