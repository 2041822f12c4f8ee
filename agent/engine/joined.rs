//! The joined sources of a continuous duty (`join = [...]`, `dutywatch_checks::join`):
//! for each, its collector's health and its newest snapshot as of `now`, read with its own
//! kind. The gates (failed, stale, empty) are the checks' to apply; this only reads. The
//! records come through the parse cache, as the duty's own do: a pass that just collected a
//! joined source, or judged another duty joining it, does not parse it again.

use dutywatch_checks::duty::{Duty, Rule};
use dutywatch_checks::evidence::{Collection, EvidenceView, Snapshot};
use dutywatch_checks::verdict::Verdict;
use jiff::Timestamp;

use super::{Content, DutyReader, Engine, intact_or_verdict, untrusted};
use crate::config::{Contractor, Source};
use crate::parse_cache;

/// One joined source's evidence, owned for the length of one evaluation.
pub(super) struct JoinedEvidence<'a> {
    source: &'a Source,
    collection: Collection,
    snapshots: Vec<Snapshot>,
}

impl JoinedEvidence<'_> {
    pub(super) fn view(&self) -> EvidenceView<'_> {
        let reader = self.source.reader();
        EvidenceView {
            source: &self.source.id,
            kind: reader.kind,
            zone: &reader.time.zone,
            collection: &self.collection,
            snapshots: &self.snapshots,
            kept: &[],
            failing_since: &dutywatch_checks::evidence::NONE_FAILING,
            duty_failing_since: None,
        }
    }
}

impl Engine {
    /// The evidence of every source `duty` joins; `Err` with the verdict when a joined
    /// source can no longer be trusted at all (gone from the config, altered in the store).
    pub(super) fn joined<'a>(
        &self,
        contractor: &'a Contractor,
        duty: &Duty,
        now: Timestamp,
    ) -> anyhow::Result<Result<Vec<JoinedEvidence<'a>>, Verdict>> {
        let Rule::Continuous(rule) = &duty.rule else {
            return Ok(Ok(Vec::new()));
        };
        let mut out: Vec<JoinedEvidence<'a>> = Vec::with_capacity(rule.joins.len());
        for join in &rule.joins {
            if out.iter().any(|j| j.source.id == join.source) {
                continue;
            }
            let Some(source) = contractor.source(&join.source) else {
                return Ok(Err(untrusted(
                    now,
                    format!("joined source `{}` is no longer configured", join.source),
                )));
            };
            let mut collection = self.store.collection(&contractor.id, &join.source)?;
            let headers = match intact_or_verdict(
                duty,
                self.store
                    .snapshot_headers(&contractor.id, &join.source, Some(now))?,
                now,
            ) {
                Ok(headers) => headers,
                Err(verdict) => return Ok(Err(*verdict)),
            };
            // The newest snapshot not dated after `now`: records are joined with it alone.
            let mut snapshots = Vec::new();
            if let Some(header) = headers.iter().rev().find(|h| h.effective_at <= now) {
                let key = parse_cache::Key {
                    client: contractor.id.clone(),
                    source: join.source.clone(),
                    sha256: header.sha256.clone(),
                    origin: header.origin.clone(),
                };
                let content = match self.cache().get(&key) {
                    Some(parsed) => Content::Read(parsed),
                    None => match self.payload_of(duty, header, now)? {
                        Ok(payload) => Content::Bytes(payload),
                        Err(verdict) => return Ok(Err(verdict)),
                    },
                };
                match self.records(&DutyReader::Source(source), content, header, key) {
                    Ok(parsed) => snapshots.push(Snapshot {
                        id: header.id,
                        effective_at: header.effective_at,
                        records: parsed.records,
                        findings: parsed.findings,
                    }),
                    Err(error) => {
                        collection = Collection::Failed {
                            since: header.fetched_at,
                            error: format!("its stored evidence no longer reads: {error}"),
                        };
                    }
                }
            }
            out.push(JoinedEvidence {
                source,
                collection,
                snapshots,
            });
        }
        Ok(Ok(out))
    }
}
