//! Reading an MSP's JSON evidence exports: the CPU time of `sources::read_evidence` (what the
//! engine calls, so `dutywatch_checks::read::read` behind it) per evidence kind.
//!
//! `cargo bench --bench json_read -- DIR [--clients N] [--digest]` reads the files of the
//! config `DIR/dutywatch.toml` (one that `msp_cycle --keep DIR` wrote, e.g. `DIR/100x2500`;
//! without one it says so and reads nothing), the first N clients (default all). Each file is loaded into memory
//! first and only the reading is timed, as CPU time of this thread (`/proc/thread-self/schedstat`,
//! nanoseconds), so other processes on the machine do not count. `--digest` also prints a
//! SHA-256 of everything each kind read (records with their positions and subjects, findings,
//! errors): two builds that print the same digests read the same. Not run by CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dutywatch::config::{self, FileFormat, SourceKind};
use sha2::{Digest as _, Sha256};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args
        .iter()
        .find(|a| !a.starts_with("--") && Path::new(a).is_dir())
        .map(PathBuf::from)
    else {
        // `cargo bench` runs every bench: this one says what it needs instead of failing.
        println!(
            "json_read: give a directory that `cargo bench --bench msp_cycle -- --keep DIR` \
             wrote, e.g. `cargo bench --bench json_read -- DIR/100x2500`"
        );
        return;
    };
    let clients: usize = args
        .iter()
        .position(|a| a == "--clients")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let digest = args.iter().any(|a| a == "--digest");
    let path = dir.join("dutywatch.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; generate it with msp_cycle --keep", path.display()));
    let config = config::parse(&path, &text).unwrap_or_else(|e| panic!("the config: {e}"));

    let mut kinds: BTreeMap<String, Tally> = BTreeMap::new();
    for contractor in config.contractors.iter().take(clients) {
        for source in &contractor.sources {
            let SourceKind::File {
                pattern,
                format: FileFormat::Json,
                ..
            } = &source.kind
            else {
                continue;
            };
            let payload =
                std::fs::read(pattern).unwrap_or_else(|e| panic!("{}: {e}", pattern.display()));
            let origin = pattern.display().to_string();
            let before = thread_cpu_ns();
            let parsed = dutywatch::sources::read_evidence(source, &origin, &payload);
            let spent = thread_cpu_ns() - before;
            let tally = kinds.entry(source.evidence.name.clone()).or_default();
            tally.files += 1;
            tally.bytes += payload.len() as u64;
            tally.cpu_ns += spent;
            match &parsed {
                Ok(parsed) => {
                    tally.records += parsed.records.len() as u64;
                    tally.findings += parsed.findings.len() as u64;
                }
                Err(_) => tally.errors += 1,
            }
            if digest {
                tally.hash(&parsed);
            }
        }
    }

    let mut total = Tally::default();
    println!(
        "{:<18} {:>5} {:>9} {:>10} {:>8} {:>6} {:>8} {:>8}",
        "kind", "files", "MB", "records", "findings", "errors", "CPU s", "MB/s"
    );
    for (name, tally) in &kinds {
        tally.print(name);
        total.files += tally.files;
        total.bytes += tally.bytes;
        total.records += tally.records;
        total.findings += tally.findings;
        total.errors += tally.errors;
        total.cpu_ns += tally.cpu_ns;
    }
    total.print("total");
    if digest {
        for (name, tally) in &kinds {
            println!(
                "digest {name:<18} {}",
                hex::encode(tally.digest.clone().finalize())
            );
        }
    }
}

#[derive(Default)]
struct Tally {
    files: u64,
    bytes: u64,
    records: u64,
    findings: u64,
    errors: u64,
    cpu_ns: u64,
    digest: Sha256,
}

impl Tally {
    fn print(&self, name: &str) {
        let seconds = self.cpu_ns as f64 / 1e9;
        let megabytes = self.bytes as f64 / 1e6;
        println!(
            "{name:<18} {:>5} {megabytes:>9.1} {:>10} {:>8} {:>6} {seconds:>8.3} {:>8.1}",
            self.files,
            self.records,
            self.findings,
            self.errors,
            megabytes / seconds.max(1e-9)
        );
    }

    /// Everything the reading gave, as text: the records as the store keeps them, with their
    /// positions and subjects, the findings and the error as they are shown.
    fn hash(
        &mut self,
        parsed: &Result<dutywatch_checks::read::Parsed, dutywatch_checks::read::ReadError>,
    ) {
        match parsed {
            Ok(parsed) => {
                self.digest.update(format!("total {}\n", parsed.total));
                for record in &parsed.records {
                    self.digest.update(format!(
                        "{} {:?} {}\n",
                        record.position,
                        record.subject,
                        record.to_json()
                    ));
                }
                for finding in &parsed.findings {
                    self.digest.update(format!("{finding}\n"));
                }
            }
            Err(error) => self.digest.update(format!("error {error}\n")),
        }
    }
}

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
