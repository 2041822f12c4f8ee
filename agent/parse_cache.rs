//! The records of evidence content already read, kept by payload hash so that the same content
//! is not parsed again: not by the next duty reading the same source, not by a later pass that
//! must judge it again (the same bytes collected at a new instant; unchanged evidence whose
//! verdict still holds is not read at all, see `engine/held.rs`).
//!
//! Only what is safe to reuse is kept: the reading of bytes into records, which depends only
//! on the bytes (named by their SHA-256), the source's reading settings (the cache is emptied
//! when the config changes) and the origin the findings name (part of the key).
//!
//! The records came from bytes whose hash was checked when they were read (from the store, or
//! collected and stored in the same pass), so they are the recorded content. An edit of the
//! stored bytes is made through another connection, which moves the store's data version
//! (`Store::data_version`); the engine then empties the cache, and the next read of each
//! payload checks it again.
//!
//! Memory is bounded by the number of records held ([`ParseCache::with_cap`]). A pass reads
//! every source in the same order, so evicting the least recently used content to make room
//! would evict exactly what the rest of the pass needs next (nothing would ever be found once
//! the sources hold more records than the cap). Instead, when the cache is full, only content
//! that no duty read in this pass or the one before is evicted (content that changed, a
//! source removed), and otherwise the new content is not kept: the cache then serves the
//! sources it holds on every pass, and reads the others each time. Content that does not fit
//! is still kept until the engine is done with the client it belongs to
//! ([`ParseCache::end_client`]), so the duties of one client that read the same source read
//! it once, and content a collection read is what its contractor's duties judge: a pass
//! judges each contractor right after its last collection, so what is held beyond the cap is
//! one contractor's content and the few collections the workers read ahead.
//!
//! A pass that reads more than four times the cap (an MSP's hundreds of clients) keeps
//! nothing across passes: the cap's worth it held would serve a few clients of the next pass,
//! and the memory it held stays the process's for good (an allocator does not hand it back),
//! so it is dropped as soon as the pass outgrows it, where the rest of the pass reuses it. At
//! 1,000 x 250 that lowers the idle daemon from 51 MB to 49 MB, at the same CPU.
//!
//! It also remembers, per file source, the file it last collected and stored ([`KnownFile`]):
//! a pass that finds the newest file with the same stamp (path, size, times) records the
//! collection without reading or hashing the file again. Emptied with the rest, so after a
//! reload, a restart or another process's write every file is read once more.
//!
//! Apart from records, it remembers which content read without error for which source
//! ([`ParseCache::read_before`]): only keys, a few hundred bytes each, so a collection of
//! content the source has delivered before (under the same config) need not be read just to be
//! refused or accepted again, even when its records did not fit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dutywatch_checks::read::Parsed;
use dutywatch_checks::record::{Finding, Record};
use jiff::Timestamp;

use crate::sources::file::FileStamp;

/// Records held at most by default across passes: about 7 MB with today's records (some
/// 700 bytes each, measured by `benches/msp_cycle.rs`), the largest source of a contractor with
/// 2,500 devices (its pending patches). Unchanged evidence is not read again anyway (held
/// verdicts, files not re-read), so what the cache saves is reading touched content (the same
/// bytes at a new instant, as an API answers every call); at an MSP's scale that fits no cap:
/// at 1,000 x 250 a touched cycle costs the same with 20,000 records, 10,000 or none (which
/// is why a pass that outgrows the cap keeps nothing, see the module docs). A contractor with
/// 2,500 devices keeps three of its four sources (a touched cycle 0.04 s against 0.02 s with
/// all four).
pub const DEFAULT_CAP_RECORDS: usize = 10_000;

/// Keys of content read before held at most; beyond, they are forgotten all at once.
const MAX_READ_BEFORE: usize = 100_000;

/// A pass that reads more than this many times the cap's records would find under a quarter
/// of its content kept on the next: the records kept are dropped then, and nothing more is
/// kept in that pass beyond its client ([`ParseCache::outgrown`]).
const OUTGROWN: usize = 4;

/// The cache behind its lock (the engine's pass thread and its collection workers share it).
/// Nothing in it is left half-changed by a panic elsewhere: a poisoned lock is fine.
pub fn lock(cache: &std::sync::Mutex<ParseCache>) -> std::sync::MutexGuard<'_, ParseCache> {
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

/// The file a file source's last collection read and stored, and what it recorded of it.
#[derive(Clone, Debug)]
pub struct KnownFile {
    pub stamp: FileStamp,
    pub sha256: String,
    pub effective_at: Timestamp,
    pub media_type: &'static str,
    pub origin: String,
    /// When that collection read it (the pass's instant).
    pub read_at: Timestamp,
}

#[derive(Debug)]
struct Entry {
    parsed: SharedParsed,
    /// The pass it was last used in.
    last_used: u64,
}

/// The cache; see the module docs.
#[derive(Debug)]
pub struct ParseCache {
    entries: HashMap<Key, Entry>,
    /// Content that did not fit, kept until [`ParseCache::end_client`].
    overflow: HashMap<Key, SharedParsed>,
    /// Content that read without error, records kept or not.
    read_ok: HashSet<Key>,
    /// Per (client, source): the file its last collection stored.
    files: HashMap<(String, String), KnownFile>,
    /// Records held by `entries`.
    records: usize,
    cap: usize,
    /// The current pass ([`ParseCache::next_pass`]).
    pass: u64,
    /// The store's data version the entries were read under.
    data_version: Option<i64>,
    /// The pass that last evicted: once it did, nothing else becomes evictable before the
    /// next pass, so a full cache is not walked again on every insert.
    evicted_in: Option<u64>,
    /// Records read into the cache (not found in it) in the current pass.
    read_in_pass: usize,
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
            overflow: HashMap::new(),
            read_ok: HashSet::new(),
            files: HashMap::new(),
            records: 0,
            cap,
            pass: 0,
            data_version: None,
            evicted_in: None,
            read_in_pass: 0,
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

    /// Starts a new pass: content not used in it nor in the one before may make room.
    pub fn next_pass(&mut self) {
        self.pass += 1;
        self.read_in_pass = 0;
    }

    /// Whether this pass has read far more records than the cap holds (an MSP's hundreds of
    /// clients, [`OUTGROWN`]): what is kept would then serve a small part of the next pass (a
    /// few clients' content) while holding the cap's memory through this pass and between
    /// passes, which an allocator does not hand back. A contractor whose content is within
    /// reach of the cap keeps it as before.
    fn outgrown(&self) -> bool {
        self.read_in_pass > self.cap.saturating_mul(OUTGROWN)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.overflow.clear();
        self.read_ok.clear();
        self.files.clear();
        self.records = 0;
    }

    /// Whether the content under `key` read without error since the cache was last emptied
    /// (so under the current config: reading depends only on the bytes, the source's settings
    /// and the origin).
    pub fn read_before(&self, key: &Key) -> bool {
        self.read_ok.contains(key)
    }

    /// The file `source` of `client` last collected and stored, if it is still known.
    pub fn known_file(&self, client: &str, source: &str) -> Option<&KnownFile> {
        self.files.get(&(client.to_owned(), source.to_owned()))
    }

    /// Remembers the file a collection of `source` just stored (`None`: forgets it, as a
    /// failed collection or one that read something else does).
    pub fn set_known_file(&mut self, client: &str, source: &str, file: Option<KnownFile>) {
        let key = (client.to_owned(), source.to_owned());
        match file {
            Some(file) => {
                self.files.insert(key, file);
            }
            None => {
                self.files.remove(&key);
            }
        }
    }

    /// Drops the content kept beyond the cap for `client`: its duties were judged.
    pub fn end_client(&mut self, client: &str) {
        self.overflow.retain(|key, _| key.client != client);
    }

    pub fn get(&mut self, key: &Key) -> Option<SharedParsed> {
        if let Some(parsed) = self.overflow.get(key) {
            return Some(parsed.clone());
        }
        let entry = self.entries.get_mut(key)?;
        entry.last_used = self.pass;
        Some(entry.parsed.clone())
    }

    /// Keeps `parsed` under `key` if it fits, after evicting content unused in this pass and
    /// the one before if it must; returns it shared either way.
    /// Remembers that the content under `key` read without error.
    pub fn mark_read(&mut self, key: &Key) {
        if self.read_ok.len() >= MAX_READ_BEFORE {
            self.read_ok.clear();
        }
        self.read_ok.insert(key.clone());
    }

    pub fn insert(&mut self, key: Key, parsed: SharedParsed) -> SharedParsed {
        self.mark_read(&key);
        let size = parsed.records.len().max(1);
        self.read_in_pass += size;
        if let Some(old) = self.entries.remove(&key) {
            self.records -= old.parsed.records.len().max(1);
        }
        if self.outgrown() {
            // Kept only for its client, and what was kept goes now, while the pass can still
            // reuse its memory. What read without error and the files collected stay known.
            if !self.entries.is_empty() {
                tracing::debug!(
                    read = self.read_in_pass,
                    cap = self.cap,
                    dropped = self.records,
                    "ParseCacheOutgrown"
                );
                self.entries = HashMap::new();
                self.records = 0;
            }
            self.overflow.insert(key, parsed.clone());
            return parsed;
        }
        if self.records + size > self.cap && self.evicted_in != Some(self.pass) {
            self.evicted_in = Some(self.pass);
            let pass = self.pass;
            let mut freed = 0;
            self.entries.retain(|_, entry| {
                let live = entry.last_used + 1 >= pass;
                if !live {
                    freed += entry.parsed.records.len().max(1);
                }
                live
            });
            self.records -= freed;
        }
        if self.records + size > self.cap {
            self.overflow.insert(key, parsed.clone());
            return parsed;
        }
        self.records += size;
        self.entries.insert(
            key,
            Entry {
                parsed: parsed.clone(),
                last_used: self.pass,
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
    fn keeps_what_fits_and_evicts_only_content_no_longer_read() {
        let mut cache = ParseCache::with_cap(10);
        cache.insert(key("a"), parsed(4));
        cache.insert(key("b"), parsed(4));
        assert_eq!(cache.get(&key("a")).unwrap().records.len(), 4);
        assert!(cache.get(&key("c")).is_none());
        // Full of content this pass reads: c is kept only until its client is done, and a
        // and b stay (a pass reading a, b, c in turn finds two of three on every pass).
        assert_eq!(cache.insert(key("c"), parsed(4)).records.len(), 4);
        assert!(cache.get(&key("c")).is_some(), "for the client's next duty");
        cache.end_client("acme");
        assert!(cache.get(&key("c")).is_none());
        cache.next_pass();
        assert!(cache.get(&key("a")).is_some());
        cache.next_pass();
        // b was last read two passes ago (its source changed): it makes room for c.
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

    /// A pass that reads more than four times the cap drops what it kept once it has (it
    /// would serve under a quarter of the next pass); one within reach keeps it.
    #[test]
    fn a_pass_that_outgrows_the_cap_keeps_nothing_between_passes() {
        let mut cache = ParseCache::with_cap(10);
        cache.next_pass();
        cache.insert(key("a"), parsed(4));
        cache.insert(key("b"), parsed(4));
        for n in 0..8 {
            cache.insert(key(&format!("x{n}")), parsed(4));
        }
        // 40 records read, four times the cap: still within reach.
        assert!(cache.get(&key("a")).is_some());
        assert_eq!(cache.records(), 8);

        cache.next_pass();
        for n in 0..10 {
            cache.insert(key(&format!("y{n}")), parsed(4));
        }
        assert!(cache.get(&key("a")).is_some(), "40 read this pass");
        cache.insert(key("y10"), parsed(4));
        assert!(cache.get(&key("a")).is_none(), "44 read: outgrown");
        assert_eq!(cache.records(), 0);
        assert!(
            cache.read_before(&key("a")),
            "what read without error is still known"
        );
        // What it reads for the rest of the pass serves its own client only.
        assert!(cache.get(&key("y10")).is_some());
        cache.end_client("acme");
        assert!(cache.get(&key("y10")).is_none());

        // The next pass keeps again what fits.
        cache.next_pass();
        cache.insert(key("a"), parsed(4));
        assert!(cache.get(&key("a")).is_some());
    }

    #[test]
    fn content_larger_than_the_cap_is_kept_only_for_its_client() {
        let mut cache = ParseCache::with_cap(3);
        assert_eq!(cache.insert(key("a"), parsed(5)).records.len(), 5);
        // The next client's, collected while acme's duties are judged.
        let next = Key {
            client: "beta".to_owned(),
            ..key("n")
        };
        cache.insert(next.clone(), parsed(5));
        cache.end_client("acme");
        assert!(cache.get(&key("a")).is_none());
        assert!(
            cache.get(&next).is_some(),
            "beta's duties were not judged yet"
        );
        cache.end_client("beta");
        assert!(cache.get(&next).is_none());
        assert_eq!(cache.records(), 0);
        assert!(cache.read_before(&key("a")), "it did read");
        assert!(!cache.read_before(&key("b")));
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
        assert!(!cache.read_before(&key("a")));
        assert_eq!(cache.records(), 0);
    }
}
