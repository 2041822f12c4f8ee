//! Log output: journald under systemd, readable text on a terminal, JSON for log shippers.
//!
//! journald gets native fields and priorities from `tracing-journald`. Plain text sent to the
//! journal must carry no ANSI colours (journald would store `MESSAGE` as a byte array that
//! `journalctl -o json` consumers have to strip) and no timestamp (journald adds its own).

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use anyhow::Context;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Variables holding the log filter, most specific first.
const FILTER_VARS: [&str; 2] = ["DUTYWATCH_LOG", "RUST_LOG"];

/// Where and how log events are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// journald when stderr is connected to the journal, else text on stderr.
    #[default]
    Auto,
    /// Native journald entries (fields, priority); text on stderr if journald is unreachable.
    Journald,
    /// Human-readable lines on stderr, coloured only on a terminal.
    Text,
    /// One JSON object per line on stderr, for log shippers.
    Json,
}

/// Installs the global subscriber. Call once, first thing in `main`.
///
/// The filter comes from `DUTYWATCH_LOG`, else `RUST_LOG` (`tracing_subscriber::EnvFilter`
/// syntax, e.g. `info,dutywatch::sources=debug`), else `default` (`info` for the daemon, `error`
/// for one-shot commands whose output is the point). An invalid filter is an error rather than
/// silently logging nothing.
pub fn init(format: LogFormat, default: LevelFilter) -> anyhow::Result<()> {
    let filter = env_filter(&|name| std::env::var(name).ok(), default)?;
    let under_journal = stderr_is_journal();
    let mut journald_error = None;
    let layer = match resolve(format, under_journal) {
        Output::Journald => match tracing_journald::layer() {
            Ok(layer) => layer.boxed(),
            Err(error) => {
                journald_error = Some(error);
                // stderr is probably still collected by systemd: no timestamps, no colours.
                text_layer(false)
            }
        },
        Output::Text { timestamps } => text_layer(timestamps),
        Output::Json => json_layer(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .context("cannot install the log subscriber")?;
    if let Some(error) = journald_error {
        tracing::warn!(
            name: "TelemetryJournaldConnectError",
            %error,
            "cannot reach journald; logging to stderr instead"
        );
    }
    Ok(())
}

/// What [`init`] sets up, decided without touching the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Journald,
    Text { timestamps: bool },
    Json,
}

fn resolve(format: LogFormat, under_journal: bool) -> Output {
    match format {
        LogFormat::Auto if under_journal => Output::Journald,
        LogFormat::Journald => Output::Journald,
        LogFormat::Auto | LogFormat::Text => Output::Text {
            timestamps: !under_journal,
        },
        LogFormat::Json => Output::Json,
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn text_layer(timestamps: bool) -> BoxedLayer {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal());
    if timestamps {
        layer.boxed()
    } else {
        layer.without_time().boxed()
    }
}

fn json_layer() -> BoxedLayer {
    tracing_subscriber::fmt::layer()
        .json()
        .with_writer(io::stderr)
        .with_ansi(false)
        .boxed()
}

/// Builds the filter from the first non-empty variable in [`FILTER_VARS`].
fn env_filter(
    env: &dyn Fn(&str) -> Option<String>,
    default: LevelFilter,
) -> anyhow::Result<EnvFilter> {
    let builder = EnvFilter::builder().with_default_directive(default.into());
    let found = FILTER_VARS.iter().find_map(|var| {
        env(var)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (*var, value))
    });
    match found {
        Some((var, directives)) => builder
            .parse(&directives)
            .with_context(|| format!("invalid log filter in {var}: {directives:?}")),
        None => Ok(builder.parse_lossy("")),
    }
}

/// Whether stderr is the journal stream systemd connected (`StandardError=journal`, the
/// default). `$JOURNAL_STREAM` alone is not enough: it is inherited by every process started
/// from a service, also when that process's stderr has been redirected to a file, pipe or
/// terminal. systemd.exec(5) says to compare it with stderr's device and inode.
fn stderr_is_journal() -> bool {
    let Some(expected) = std::env::var("JOURNAL_STREAM")
        .ok()
        .as_deref()
        .and_then(parse_journal_stream)
    else {
        return false;
    };
    stderr_dev_ino().is_some_and(|actual| actual == expected)
}

/// Parses `$JOURNAL_STREAM`, `<device>:<inode>` in decimal.
fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// `fstat` on a duplicate of fd 2, without `unsafe`.
fn stderr_dev_ino() -> Option<(u64, u64)> {
    let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn auto_picks_journald_only_under_the_journal() {
        assert_eq!(resolve(LogFormat::Auto, true), Output::Journald);
        assert_eq!(
            resolve(LogFormat::Auto, false),
            Output::Text { timestamps: true }
        );
        assert_eq!(
            resolve(LogFormat::Text, true),
            Output::Text { timestamps: false }
        );
        assert_eq!(resolve(LogFormat::Journald, false), Output::Journald);
        assert_eq!(resolve(LogFormat::Json, true), Output::Json);
    }

    #[test]
    fn parses_journal_stream() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:12345\n"), Some((8, 12345)));
        assert_eq!(parse_journal_stream(""), None);
        assert_eq!(parse_journal_stream("8"), None);
        assert_eq!(parse_journal_stream("x:1"), None);
    }

    #[test]
    fn dutywatch_log_wins_over_rust_log() {
        let filter = env_filter(
            &env_of(&[("DUTYWATCH_LOG", "dutywatch=trace"), ("RUST_LOG", "warn")]),
            LevelFilter::INFO,
        )
        .unwrap();
        assert_eq!(filter.to_string(), "dutywatch=trace");

        let filter = env_filter(
            &env_of(&[("DUTYWATCH_LOG", " "), ("RUST_LOG", "warn")]),
            LevelFilter::INFO,
        )
        .unwrap();
        assert_eq!(filter.to_string(), "warn");
    }

    #[test]
    fn defaults_to_info() {
        let filter = env_filter(&env_of(&[]), LevelFilter::INFO).unwrap();
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::INFO));
    }

    #[test]
    fn invalid_filter_names_the_variable() {
        let error = env_filter(
            &env_of(&[("RUST_LOG", "dutywatch=loud")]),
            LevelFilter::INFO,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid log filter in RUST_LOG"),
            "{error:#}"
        );
    }

    #[test]
    fn log_format_parses_from_the_command_line() {
        use clap::ValueEnum;
        assert_eq!(
            LogFormat::from_str("journald", false),
            Ok(LogFormat::Journald)
        );
        assert_eq!(LogFormat::default(), LogFormat::Auto);
    }
}
