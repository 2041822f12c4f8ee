//! What the bench binaries share: a deterministic generator, and how a child process measures
//! itself (CPU time, peak and resident memory from /proc) and the database it wrote.
//!
//! Each bench uses a part of it.
#![allow(dead_code)]

use std::path::Path;

use jiff::{SignedDuration, Timestamp};

/// A deterministic generator (xorshift), so every run sees the same evidence.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(crate) const HOUR: u64 = 3600;
pub(crate) const DAY: u64 = 86_400;

pub(crate) fn ago(now: Timestamp, seconds: u64) -> Timestamp {
    now.checked_sub(SignedDuration::from_secs(seconds as i64))
        .expect("in range")
}

/// An engine on the generated `dir/dutywatch.toml` and its store `dir/state/dutywatch.db`, as
/// the daemon starts one; a config that does not load, or quarantines a client, panics.
pub(crate) fn engine_in(dir: &Path) -> dutywatch::engine::Engine {
    let path = dir.join("dutywatch.toml");
    let text = std::fs::read_to_string(&path).expect("the config");
    let config =
        dutywatch::config::parse(&path, &text).unwrap_or_else(|e| panic!("the config: {e}"));
    if let Some(client) = config.quarantined.first() {
        panic!("client {} is quarantined: {}", client.id, client.summary());
    }
    let store = dutywatch::store::Store::open(&dir.join("state/dutywatch.db")).expect("the store");
    dutywatch::engine::Engine::new(std::sync::Arc::new(config), store)
}

/// (user + system CPU seconds, peak resident MiB, resident MiB) of this process.
pub(crate) fn usage() -> (f64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on Linux.
    (
        ticks as f64 / 100.0,
        kib("VmHWM:") / 1024,
        kib("VmRSS:") / 1024,
    )
}

/// Resets `VmHWM` to the current resident size, so the next peak is the next step's.
/// The bytes this process has handed to `write(2)` and its kin so far (`wchar` of
/// /proc/self/io), whether or not they reached the disk.
pub(crate) fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("wchar:"))
        .and_then(|bytes| bytes.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The bytes the database's pages hold (as its readers see it, the write-ahead log included),
/// free pages not counted.
pub(crate) fn db_bytes(dir: &Path) -> u64 {
    let db = rusqlite::Connection::open(dir.join("state/dutywatch.db")).expect("the database");
    db.query_row(
        "SELECT (page_count - freelist_count) * page_size
           FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|bytes| bytes.unsigned_abs())
    .expect("its size")
}
