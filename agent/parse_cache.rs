//! The records of evidence content already read, kept by payload hash so that unchanged
//! evidence is not parsed again: not by the next duty reading the same source, not by the
//! next pass while the content stays the same.
//!
//! Only what is safe to reuse is kept. A duty's verdict depends on `now` (due soon, lapsed,
//! staleness), so verdicts are always evaluated again; what is reused is the reading of bytes
//! into records, which depends only on the bytes (named by their SHA-256), the source's
//! reading settings (the cache is emptied when the config changes) and the origin the
//! findings name (part of the key).
//!
//! The records came from bytes whose hash was checked when they were read (from the store, or
//! collected and stored in the same pass), so they are the recorded content. An edit of the
//! stored bytes is made through another connection, which moves the store's data version
//! (`Store::data_version`); the engine then empties the cache, and the next read of each
//! payload checks it again.
//!
//! Memory is bounded by the number of records held ([`ParseCache::with_cap`]): the least
//! recently used content goes first, and content with more records than the cap is not kept.

use std::collections::HashMap;
use std::sync::Arc;

use dutywatch_checks::read::Parsed;
use dutywatch_checks::record::{Finding, Record};

/// Records held at most by default: a few hundred megabytes at most with today's records,
/// enough for the sources of one large client or a hundred small ones.
pub const DEFAULT_CAP_RECORDS: usize = 300_000;

/// What one piece of content read into, shared by every snapshot made from it.
#[derive(Clone, Debug)]
pub struct SharedParsed {
    pub records: Arc<[Record]>,
    pub findings: Arc<[Finding]>,
}

impl From<Parsed> for SharedParsed {
    fn from(parsed: Parsed) -> SharedParsed {
        SharedParsed {
            records: parsed.records.into(),
            findings: parsed.findings.into(),
        }
    }
}

/// What content was read as: (client, source, payload SHA-256, origin).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub client: String,
    pub source: String,
    pub sha256: String,
    pub origin: String,
}

#[derive(Debug)]
struct Entry {
    parsed: SharedParsed,
    last_used: u64,
}

/// The cache; see the module docs.
#[derive(Debug)]
pub struct ParseCache {
    entries: HashMap<Key, Entry>,
    /// Records held by `entries`.
    records: usize,
    cap: usize,
    /// Counts uses, for least-recently-used eviction.
    clock: u64,
    /// The store's data version the entries were read under.
    data_version: Option<i64>,
}

impl Default for ParseCache {
    fn default() -> ParseCache {
        ParseCache::with_cap(DEFAULT_CAP_RECORDS)
    }
}

impl ParseCache {
    /// A cache holding at most `cap` records (0: nothing is kept).
    pub fn with_cap(cap: usize) -> ParseCache {
        ParseCache {
            entries: HashMap::new(),
            records: 0,
            cap,
            clock: 0,
            data_version: None,
        }
    }

    /// Empties the cache when the store's data version is not the one its entries were
    /// read under (another connection wrote to the database).
    pub fn check_version(&mut self, version: i64) {
        if self.data_version != Some(version) {
            self.clear();
            self.data_version = Some(version);
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.records = 0;
    }

    pub fn get(&mut self, key: &Key) -> Option<SharedParsed> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        entry.last_used = self.clock;
        Some(entry.parsed.clone())
    }

    /// Keeps `parsed` under `key` if it fits, evicting the least recently used content to
    /// make room; returns it shared either way.
    pub fn insert(&mut self, key: Key, parsed: SharedParsed) -> SharedParsed {
        let size = parsed.records.len().max(1);
        if size > self.cap {
            return parsed;
        }
        if let Some(old) = self.entries.remove(&key) {
            self.records -= old.parsed.records.len().max(1);
        }
        while self.records + size > self.cap {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.records -= evicted.parsed.records.len().max(1);
            }
        }
        self.clock += 1;
        self.records += size;
        self.entries.insert(
            key,
            Entry {
                parsed: parsed.clone(),
                last_used: self.clock,
            },
        );
        parsed
    }

    /// Records held now.
    pub fn records(&self) -> usize {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use dutywatch_checks::record::{Position, Subject};

    use super::*;

    fn key(sha: &str) -> Key {
        Key {
            client: "acme".to_owned(),
            source: "intune".to_owned(),
            sha256: sha.to_owned(),
            origin: "devices.json".to_owned(),
        }
    }

    fn parsed(records: usize) -> SharedParsed {
        SharedParsed {
            records: (0..records)
                .map(|i| {
                    Record::new(
                        Some(Subject::new(format!("pc-{i}"))),
                        Position::Record(i + 1),
                        Default::default(),
                    )
                })
                .collect(),
            findings: Arc::new([]),
        }
    }

    #[test]
    fn keeps_content_by_key_and_evicts_the_least_recently_used() {
        let mut cache = ParseCache::with_cap(10);
        cache.insert(key("a"), parsed(4));
        cache.insert(key("b"), parsed(4));
        assert_eq!(cache.get(&key("a")).unwrap().records.len(), 4);
        assert!(cache.get(&key("c")).is_none());
        // Room for c only without b, the one used least recently.
        cache.insert(key("c"), parsed(4));
        assert!(cache.get(&key("b")).is_none());
        assert!(cache.get(&key("a")).is_some());
        assert!(cache.get(&key("c")).is_some());
        assert_eq!(cache.records(), 8);
        // Another origin is another reading (its findings name it).
        let other = Key {
            origin: "elsewhere.json".to_owned(),
            ..key("a")
        };
        assert!(cache.get(&other).is_none());
    }

    #[test]
    fn content_larger_than_the_cap_is_returned_but_not_kept() {
        let mut cache = ParseCache::with_cap(3);
        assert_eq!(cache.insert(key("a"), parsed(5)).records.len(), 5);
        assert!(cache.get(&key("a")).is_none());
        assert_eq!(cache.records(), 0);
    }

    #[test]
    fn another_data_version_empties_it() {
        let mut cache = ParseCache::with_cap(10);
        cache.check_version(7);
        cache.insert(key("a"), parsed(1));
        cache.check_version(7);
        assert!(cache.get(&key("a")).is_some());
        cache.check_version(8);
        assert!(cache.get(&key("a")).is_none());
        assert_eq!(cache.records(), 0);
    }
}
