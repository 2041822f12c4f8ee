//! `[runtime]`: how the daemon runs its collections: how many at once, and how long a
//! shutdown waits for one still under way.

use std::time::Duration;

use dutywatch_checks::period::Period;
use serde::Deserialize;
use toml::Spanned;

use super::Context;

/// Collections run at once unless `max_concurrent_collections` says otherwise: enough to
/// overlap a few slow APIs, few enough for a 2-core host and the vendors' rate limits.
pub const DEFAULT_MAX_CONCURRENT_COLLECTIONS: usize = 4;

/// The most `max_concurrent_collections` may be: each collection is a thread.
const MAX_CONCURRENT_COLLECTIONS: usize = 64;

/// How long a shutdown waits for the pass under way unless `shutdown_grace` says otherwise:
/// well inside systemd's `TimeoutStopSec=30s` of the shipped units.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The longest `shutdown_grace`: systemd's default stop timeout is 90 s.
const MAX_SHUTDOWN_GRACE: i64 = 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuntime {
    max_concurrent_collections: Option<Spanned<i64>>,
    shutdown_grace: Option<Spanned<Period>>,
    parse_cache_records: Option<Spanned<i64>>,
}

/// The most records `parse_cache_records` may keep: some 700 MB.
const MAX_PARSE_CACHE_RECORDS: usize = 1_000_000;

/// `[runtime]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Collections of one pass fetched and read at once (each on a thread of its own); the
    /// store is still written by the pass alone, in the configured order of the sources.
    pub max_concurrent_collections: usize,
    /// How long `run` waits, after SIGTERM, for the pass under way to stop.
    pub shutdown_grace: Duration,
    /// Records of evidence read before kept across passes (`parse_cache`); 0 keeps none.
    pub parse_cache_records: usize,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            max_concurrent_collections: DEFAULT_MAX_CONCURRENT_COLLECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            parse_cache_records: crate::parse_cache::DEFAULT_CAP_RECORDS,
        }
    }
}

impl Context<'_> {
    pub(super) fn runtime(&mut self, raw: Option<&Spanned<RawRuntime>>) -> RuntimeConfig {
        let mut runtime = RuntimeConfig::default();
        let Some(raw) = raw.map(Spanned::get_ref) else {
            return runtime;
        };
        if let Some(count) = &raw.max_concurrent_collections
            && let Some(n) = self.count_in(
                count,
                "runtime.max_concurrent_collections",
                1..=MAX_CONCURRENT_COLLECTIONS,
                ("collections at once", "one after the other"),
                DEFAULT_MAX_CONCURRENT_COLLECTIONS,
            )
        {
            runtime.max_concurrent_collections = n;
        }
        if let Some(records) = &raw.parse_cache_records
            && let Some(n) = self.count_in(
                records,
                "runtime.parse_cache_records",
                0..=MAX_PARSE_CACHE_RECORDS,
                ("records", "keep none"),
                crate::parse_cache::DEFAULT_CAP_RECORDS,
            )
        {
            runtime.parse_cache_records = n;
        }
        if let Some(grace) = &raw.shutdown_grace {
            let seconds = grace.get_ref().as_secs();
            if (1..=MAX_SHUTDOWN_GRACE).contains(&seconds) {
                runtime.shutdown_grace = Duration::from_secs(seconds.unsigned_abs());
            } else {
                self.error(
                    grace.span().start,
                    "runtime.shutdown_grace",
                    format!(
                        "a shutdown grace of {seconds} s is out of range; write 1s to {MAX_SHUTDOWN_GRACE}s, shorter than the service's TimeoutStopSec="
                    ),
                );
            }
        }
        runtime
    }

    /// `raw` as a count within `range`; outside it, an error at its place that says what to
    /// write: `(unit, what the lowest count means)`, and the default when it is left out.
    fn count_in(
        &mut self,
        raw: &Spanned<i64>,
        key: &str,
        range: std::ops::RangeInclusive<usize>,
        (unit, lowest): (&str, &str),
        default: usize,
    ) -> Option<usize> {
        match usize::try_from(*raw.get_ref()) {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.error(
                    raw.span().start,
                    key,
                    format!(
                        "`{}` {unit} is out of range; write {} ({lowest}) to {}, or leave it out for {default}",
                        raw.get_ref(),
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, SourceKind, parse_with_env};

    /// A contractor with a Graph source, an ARM source and a file source, plus `top` at the
    /// top of the file and `contractor` keys on the contractor.
    fn parse(top: &str, contractor: &str) -> Result<Config, String> {
        parse_with(top, contractor, ["", "", ""])
    }

    /// [`parse`] with `keys` added to the Graph, the ARM and the file source.
    fn parse_with(top: &str, contractor: &str, keys: [&str; 3]) -> Result<Config, String> {
        let [graph_keys, arm_keys, file_keys] = keys;
        let text = format!(
            r#"perspective = "contractor"
timezone = "UTC"
database = "state/dutywatch.db"
{top}
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
{contractor}

[[contractor.crm]]
id = "3.1.1"
owner = "contractor"
contractor_does = "Approves access"

[[contractor.source]]
id = "users"
kind = "graph"
evidence = "mfa_registration"
tenant = "contoso.onmicrosoft.com"
client_id = "c"
client_secret = {{ env = "SECRET" }}
resource = "userRegistrationDetails"
schedule = "0 * * * *"
{graph_keys}

[[contractor.source]]
id = "tables"
kind = "arm"
evidence = "log_table"
tenant = "contoso.onmicrosoft.com"
client_id = "c"
client_secret = {{ env = "SECRET" }}
resource = "logAnalyticsTables"
subscription = "00000000-0000-0000-0000-000000000000"
resource_group = "rg"
workspace = "ws"
schedule = "0 * * * *"
{arm_keys}

[[contractor.source]]
id = "reviews"
kind = "file"
evidence = "access_review"
path = "reviews.csv"
schedule = "0 * * * *"
{file_keys}
"#
        );
        parse_with_env(Path::new("/etc/dutywatch/dutywatch.toml"), &text, &|name| {
            (name == "SECRET").then(|| "s".to_owned())
        })
        .map_err(|errors| errors.to_string())
    }

    fn tenant_limits(config: &Config) -> Vec<Option<u32>> {
        config.contractors[0]
            .sources
            .iter()
            .map(|source| match &source.kind {
                SourceKind::Graph(graph) => graph.tenant_rate_limit,
                SourceKind::Arm(arm) => arm.tenant_rate_limit,
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sources_naming_the_same_cron_line_share_one_parse() {
        let config = parse("", "").expect("parses");
        let sources = &config.contractors[0].sources;
        assert_eq!(sources.len(), 3);
        for source in &sources[1..] {
            assert_eq!(source.schedule, sources[0].schedule);
            assert!(source.schedule.shares_parse_with(&sources[0].schedule));
        }
        // Another line is parsed on its own.
        let other =
            crate::schedule::Schedule::parse("0 * * * *", jiff::tz::TimeZone::UTC).expect("a line");
        assert!(!other.shares_parse_with(&sources[0].schedule));
    }

    #[test]
    fn runtime_defaults_and_bounds() {
        let config = parse("", "").expect("loads");
        assert_eq!(config.runtime, RuntimeConfig::default());
        assert_eq!(config.runtime.max_concurrent_collections, 4);
        assert_eq!(tenant_limits(&config), [None, None, None]);

        assert_eq!(config.runtime.parse_cache_records, 10_000);
        let config = parse(
            "[runtime]\nmax_concurrent_collections = 1\nshutdown_grace = \"3s\"\nparse_cache_records = 0\n",
            "",
        )
        .expect("loads");
        assert_eq!(config.runtime.max_concurrent_collections, 1);
        assert_eq!(config.runtime.shutdown_grace, Duration::from_secs(3));
        assert_eq!(config.runtime.parse_cache_records, 0);

        for (top, says) in [
            (
                "[runtime]\nmax_concurrent_collections = 0\n",
                ":5: runtime.max_concurrent_collections: `0` collections at once is out of range; write 1 (one after the other) to 64",
            ),
            (
                "[runtime]\nmax_concurrent_collections = 500\n",
                "`500` collections at once is out of range",
            ),
            (
                "[runtime]\nshutdown_grace = \"5m\"\n",
                "runtime.shutdown_grace: a shutdown grace of 300 s is out of range; write 1s to 60s",
            ),
            (
                "[runtime]\nparse_cache_records = -1\n",
                "runtime.parse_cache_records: `-1` records is out of range; write 0 (keep none) to 1000000",
            ),
            (
                "[runtime]\nmax_concurrent = 2\n",
                "unknown field `max_concurrent`",
            ),
        ] {
            let error = parse(top, "").expect_err(top);
            assert!(error.contains(says), "{top}: {error}");
        }
    }

    #[test]
    fn the_tenant_rate_limit_goes_to_each_graph_and_arm_source() {
        let config = parse("", "tenant_rate_limit = 600").expect("loads");
        assert_eq!(tenant_limits(&config), [Some(600), Some(600), None]);
        let error = parse("", "tenant_rate_limit = 0").expect_err("0 is refused");
        assert!(
            error.contains(
                "contractor[acme].tenant_rate_limit: a rate limit of 0 requests a minute would never collect"
            ),
            "{error}"
        );
    }

    #[test]
    fn graph_and_arm_sources_take_their_own_rate_limit_and_refuse_connector_keys() {
        let config = parse_with("", "", ["rate_limit = 30", "rate_limit = 20", ""]).expect("loads");
        let limits: Vec<Option<u32>> = config.contractors[0]
            .sources
            .iter()
            .map(|source| match &source.kind {
                SourceKind::Graph(graph) => graph.rate_limit,
                SourceKind::Arm(arm) => arm.rate_limit,
                _ => None,
            })
            .collect();
        assert_eq!(limits, [Some(30), Some(20), None]);
        for (keys, says) in [
            (
                ["rate_limit = 0", "", ""],
                "source[users].rate_limit: a rate limit of 0 requests a minute would never collect",
            ),
            (
                ["", "", "rate_limit = 5"],
                "source[reviews].rate_limit: `rate_limit` is for the API sources",
            ),
            // ARM used to take a connector's keys without a word.
            (
                ["", "page_size = 10", ""],
                "source[tables].page_size: `page_size` is for the ninjaone, splunk, elastic and http_json sources",
            ),
        ] {
            let error = parse_with("", "", keys).expect_err(says);
            assert!(error.contains(says), "{keys:?}: {error}");
        }
    }
}
