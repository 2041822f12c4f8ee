//! The collections of one pass: the due sources are fetched and read (bytes to records) on
//! at most `[runtime] max_concurrent_collections` worker threads, and each outcome is handed
//! over a channel to the pass thread, which alone writes the store. It records them in the
//! order of the sources, whatever order they finish in, so the evidence chain and every
//! verdict come out as a pass collecting one source after the other would make them.
//!
//! A collection is whole or failed as before: a worker hands over either all of a
//! collection's bytes, read, or its error. One the shutdown cancelled is neither: it records
//! nothing, so the next start collects that source again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};

use anyhow::Context as _;
use jiff::Timestamp;
use sha2::Digest as _;

use crate::config::{Source, SourceKind};
use crate::parse_cache::{self, KnownFile, ParseCache, SharedParsed, lock};
use crate::sources::file::{self, FileStamp};
use crate::sources::{self, CollectError, Collected, Http};
use crate::store::{NewEvidence, Store};

/// One due source.
#[derive(Debug)]
pub(super) struct Job<'a> {
    pub(super) contractor: &'a str,
    pub(super) source: &'a Source,
}

/// How one collection ended, as a worker hands it to the pass thread.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Whole and read; `parsed` is `None` when this content was read for the source before.
    /// `stamp`: a file source's file as found before it was read.
    Collected {
        collected: Collected,
        key: parse_cache::Key,
        parsed: Option<SharedParsed>,
        stamp: Option<FileStamp>,
    },
    /// A file source's newest file is the one its last collection stored, unwritten since:
    /// not read again.
    Unchanged(KnownFile),
    Failed(CollectError),
    /// Stopped (or never started) because the daemon is stopping.
    Cancelled,
}

/// Runs `jobs` on at most `workers` threads and hands each outcome to `record` on the calling
/// thread, in the order of `jobs`, with its index. A job starts only while fewer than `2 × workers` jobs
/// before it are unrecorded, so a slow source holds back few outcomes (and their payloads) in
/// memory, however many sources the pass has. An error of `record` (the store's) ends the
/// pass: workers take no further job, and the one under way is dropped when it ends.
pub(super) fn run(
    jobs: &[&Job<'_>],
    workers: usize,
    http: &Http,
    cache: &Mutex<ParseCache>,
    now: Timestamp,
    mut record: impl FnMut(usize, &Job<'_>, Outcome) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let workers = workers.clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let window = Window {
        ahead: 2 * workers,
        state: Mutex::new((0, false)),
        moved: Condvar::new(),
    };
    std::thread::scope(|scope| {
        let (sender, outcomes) = mpsc::channel();
        for _ in 0..workers {
            let (sender, next, window) = (sender.clone(), &next, &window);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    if !window.wait_to_start(index) {
                        break;
                    }
                    let outcome = collect(job, http, cache, now);
                    if sender.send((index, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        // However this ends (a store error included), waiting workers take no further job.
        let _stop = StopOnDrop(&window);
        // Outcomes arrive as collections end; each is recorded once those before it are.
        let mut arrived = BTreeMap::new();
        let mut due = 0;
        for (index, outcome) in outcomes {
            arrived.insert(index, outcome);
            while let Some(outcome) = arrived.remove(&due) {
                record(due, jobs[due], outcome)?;
                due += 1;
                window.recorded(due);
            }
        }
        Ok(())
    })
}

/// How far the workers may run ahead of the pass thread's recording.
struct Window {
    ahead: usize,
    /// (jobs recorded, stopped)
    state: Mutex<(usize, bool)>,
    moved: Condvar,
}

impl Window {
    /// Waits until job `index` may start; `false` when the pass stopped meanwhile.
    fn wait_to_start(&self, index: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !state.1 && index >= state.0 + self.ahead {
            state = self
                .moved
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !state.1
    }

    fn recorded(&self, count: usize) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0 = count;
        self.moved.notify_all();
    }
}

struct StopOnDrop<'a>(&'a Window);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1 = true;
        self.0.moved.notify_all();
    }
}

/// How long a file found unwritten is not read again, at most.
const REREAD_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// One collection on a worker thread: fetched, then read unless this content read for the
/// source before.
fn collect(job: &Job<'_>, http: &Http, cache: &Mutex<ParseCache>, now: Timestamp) -> Outcome {
    let cancel = http.cancellation();
    if cancel.is_cancelled() {
        return Outcome::Cancelled;
    }
    // Taken before the file is read, and the file read is the one stamped: a write during
    // the read makes the next stamp differ, and a newer file matching meanwhile waits for
    // the next pass.
    let stamp = match &job.source.kind {
        SourceKind::File { pattern, .. } => file::stamp(pattern).ok().flatten(),
        _ => None,
    };
    // A day at most without reading it: a file system whose change times cannot be trusted
    // (some FUSE mounts report the modification time, which `cp -p` or `rsync -t` keep) then
    // hides a rewrite of the same size for a day, not for good.
    if let Some(stamp) = &stamp
        && let Some(known) = lock(cache)
            .known_file(job.contractor, &job.source.id)
            .filter(|known| stamp.unchanged_since(&known.stamp, known.read_at))
            .filter(|known| now < known.read_at + REREAD_AFTER)
    {
        return Outcome::Unchanged(known.clone());
    }
    match collect_read(job, http, cache, stamp.as_ref(), now) {
        Ok((collected, key, parsed)) => Outcome::Collected {
            collected,
            key,
            parsed,
            stamp,
        },
        // The HTTP layer's errors are text: a failure once the shutdown began may be the
        // shutdown's doing, and recording nothing is always safe (the next start collects).
        Err(_) if cancel.is_cancelled() => Outcome::Cancelled,
        Err(error) => Outcome::Failed(error),
    }
}

/// Collects `job`'s source and makes sure its bytes read as its kind: content read for the
/// source before (by hash, since the config last changed) is known to, other content is read
/// now. Also hands back the cache key of the content and what it read into, when read now.
fn collect_read(
    job: &Job<'_>,
    http: &Http,
    cache: &Mutex<ParseCache>,
    stamp: Option<&FileStamp>,
    now: Timestamp,
) -> Result<(Collected, parse_cache::Key, Option<SharedParsed>), CollectError> {
    let collected = sources::collect_unparsed(job.source, http, now, stamp)?;
    let key = parse_cache::Key {
        client: job.contractor.to_owned(),
        source: job.source.id.clone(),
        sha256: hex::encode(sha2::Sha256::digest(&collected.payload)),
        origin: collected.origin.clone(),
    };
    // Content this source delivered and read before, under this config, reads the same.
    if lock(cache).read_before(&key) {
        return Ok((collected, key, None));
    }
    let parsed = sources::read_evidence(job.source, &collected.origin, &collected.payload)?;
    lock(cache).mark_read(&key);
    Ok((collected, key, Some(parsed.into())))
}

/// What recording one outcome came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Recorded {
    Collected,
    /// Collected without reading: the file is the one stored last time.
    Unchanged,
    /// Failed, and recorded so, so verdicts say so.
    Failed,
    /// Cancelled: nothing recorded.
    Cancelled,
}

/// Stores one outcome (on the pass thread).
pub(super) fn record(
    store: &mut Store,
    cache: &Mutex<ParseCache>,
    http: &Http,
    job: &Job<'_>,
    outcome: Outcome,
    now: Timestamp,
) -> anyhow::Result<Recorded> {
    let (contractor, source) = (job.contractor, job.source.id.as_str());
    match outcome {
        Outcome::Unchanged(known) => {
            let evidence = NewEvidence {
                client: contractor,
                source,
                fetched_at: now,
                effective_at: known.effective_at,
                media_type: known.media_type,
                origin: &known.origin,
                payload: &[],
            };
            let recorded = store
                .record_unchanged_collection(now, &evidence, &known.sha256)
                .with_context(|| format!("storing evidence of {contractor}/{source}"))?;
            if recorded {
                tracing::info!(contractor, source, origin = %known.origin, unchanged = true, "SourceCollected");
                return Ok(Recorded::Unchanged);
            }
            // The store's newest row of the source is not that file's content (it cannot be
            // while this engine alone writes it): read the file after all.
            lock(cache).set_known_file(contractor, source, None);
            let outcome = collect(job, http, cache, now);
            record(store, cache, http, job, outcome, now)
        }
        Outcome::Collected {
            collected:
                Collected {
                    effective_at,
                    media_type,
                    origin,
                    payload,
                },
            key,
            parsed,
            stamp,
        } => {
            let evidence = NewEvidence {
                client: contractor,
                source,
                fetched_at: now,
                effective_at,
                media_type,
                origin: &origin,
                payload: &payload,
            };
            let (_, stored_now) = store
                .record_collection_hashed(now, &evidence, &key.sha256)
                .with_context(|| format!("storing evidence of {contractor}/{source}"))?;
            // The stamp is of the very file read, taken before it was read.
            let known = stamp.map(|stamp| KnownFile {
                stamp,
                sha256: key.sha256.clone(),
                effective_at,
                media_type,
                origin: origin.clone(),
                read_at: now,
            });
            let mut cache = lock(cache);
            cache.set_known_file(contractor, source, known);
            // Bytes stored in this very transaction are the stored content; content stored
            // before is read back from the store (and its hash checked) by the first duty
            // that needs it. Content beyond the cap is held until its contractor's duties
            // were judged (`ParseCache::end_client`), which a pass does right after the
            // contractor's last collection.
            if stored_now && let Some(parsed) = parsed {
                cache.insert(key, parsed);
            }
            drop(cache);
            tracing::info!(contractor, source, %origin, "SourceCollected");
            Ok(Recorded::Collected)
        }
        Outcome::Failed(error) => {
            let error = error.to_string();
            tracing::warn!(contractor, source, %error, "SourceCollectError");
            lock(cache).set_known_file(contractor, source, None);
            store
                .record_collection_failure(contractor, source, now, now, &error)
                .with_context(|| format!("recording the failure of {contractor}/{source}"))?;
            Ok(Recorded::Failed)
        }
        Outcome::Cancelled => {
            tracing::warn!(contractor, source, "SourceCollectCancelled");
            Ok(Recorded::Cancelled)
        }
    }
}
