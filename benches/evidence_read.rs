//! Reading a large `patch` evidence CSV: time and peak memory.
//!
//! `cargo bench --bench evidence_read` (50 MB) or
//! `cargo bench --bench evidence_read -- 500` (500 MB). Not run by CI.
//!
//! Each measurement runs in a child process of its own, so its peak
//! resident memory (`VmHWM` in /proc/self/status) is its own:
//! - `read`: the bytes through `dutywatch_checks::read::read`;
//! - `collect max_bytes=…`: the file collector, with the limit raised above
//!   the file's size and at the default 64 MiB (refused before reading).

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use dutywatch::config::{self, Config};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    // `cargo bench` passes `--bench`; the first number is the size in MB.
    let megabytes: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("evidence/patches.csv");
    let started = Instant::now();
    let bytes = generate(&file, megabytes * 1_000_000);
    println!(
        "generated {} ({bytes} bytes, {} MB) in {:.1}s",
        file.display(),
        bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    // Raised above the size (600MiB for the 500 MB run), the default, and
    // below the size when the default is not.
    let raised = format!("{}MiB", ((bytes >> 20) + 100).max(600));
    let mut runs = vec![
        ("read", String::new()),
        ("collect", raised),
        ("collect", "64MiB".to_owned()),
    ];
    if bytes <= 64 << 20 {
        runs.push(("collect", format!("{}MiB", (bytes >> 21).max(1))));
    }
    for (mode, limit) in &runs {
        let output = Command::new(std::env::current_exe().expect("own path"))
            .args(["--child", mode, limit.as_str()])
            .arg(dir.path())
            .output()
            .expect("the child runs");
        print!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success(),
            "{mode} {limit}: {:?}",
            output.status
        );
    }
}

/// Writes `patch` records to `path` until it holds at least `size` bytes.
fn generate(path: &Path, size: u64) -> u64 {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let header = "deviceId,name,kbNumber,id,severity,status,type,timestamp,installedAt\n";
    out.write_all(header.as_bytes()).expect("write");
    let mut written = header.len() as u64;
    let mut row = 0u64;
    while written < size {
        let line = format!(
            "device-{:06},2026-11 Cumulative Update for Windows 11 Version 24H2 (KB50{:05}),KB50{:05},{row},{},{},PATCH,2026-11-{:02}T{:02}:{:02}:00Z,\n",
            row % 100_000,
            row % 100_000,
            row % 100_000,
            ["critical", "important", "moderate", "low"][(row % 4) as usize],
            ["pending", "approved", "failed"][(row % 3) as usize],
            1 + row % 28,
            row % 24,
            row % 60,
        );
        out.write_all(line.as_bytes()).expect("write");
        written += line.len() as u64;
        row += 1;
    }
    out.flush().expect("flush");
    written
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn config(dir: &Path, max_bytes: &str) -> Config {
    let text = format!(
        r#"
perspective = "contractor"
timezone = "UTC"
database = "state/dutywatch.db"

[mail]
from = "dutywatch@acme.example"
transport = "file"
dir = "outbox"

[msp]
name = "Keystone IT"
contacts = ["soc@keystone.example"]

[[contractor]]
id = "acme"
name = "Acme Machining"
contacts = ["it@acme.example"]

[[contractor.crm]]
id = "3.14.1"
owner = "contractor"
contractor_does = "Patches"

[[contractor.source]]
id = "patches"
kind = "file"
evidence = "patch"
path = "evidence/patches.csv"
schedule = "0 6 * * *"
max_bytes = "{max_bytes}"
"#
    );
    config::parse(&dir.join("dutywatch.toml"), &text).expect("the bench config loads")
}

fn child(args: &[String]) {
    let [mode, limit, dir] = args else {
        panic!("--child MODE LIMIT DIR");
    };
    let dir = Path::new(dir);
    let before = peak_rss_kib();
    let started = Instant::now();
    let (label, outcome) = match mode.as_str() {
        "read" => {
            let config = config(dir, "4GiB");
            let source = &config.contractors[0].sources[0];
            let payload = std::fs::read(dir.join("evidence/patches.csv")).expect("read");
            let parsed = dutywatch_checks::read::read(
                dutywatch_checks::read::Format::Csv,
                None,
                "patches.csv",
                &payload,
                source.reader(),
            )
            .expect("reads");
            (
                "read::read".to_owned(),
                format!(
                    "{} records, {} findings",
                    parsed.records.len(),
                    parsed.findings.len()
                ),
            )
        }
        _ => {
            let config = config(dir, limit);
            let source = &config.contractors[0].sources[0];
            let outcome = match dutywatch::sources::collect(
                source,
                &dutywatch::sources::Http::default(),
                jiff::Timestamp::now(),
            ) {
                Ok(collected) => format!("collected {} bytes", collected.payload.len()),
                Err(error) => format!("refused: {error}"),
            };
            (format!("collect max_bytes={limit}"), outcome)
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{label:<28} {elapsed:>7.2}s  peak RSS {:>6} MiB (before: {} MiB)  {outcome}",
        peak_rss_kib() / 1024,
        before / 1024
    );
}
