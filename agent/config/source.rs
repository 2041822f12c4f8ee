//! `[[contractor.source]]`: evidence collectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dutywatch_checks::kind::EvidenceKind;
use dutywatch_checks::period::Period;
use dutywatch_checks::predicate::FieldPath;
use dutywatch_checks::record::{Mapping, RecordReader};
use dutywatch_checks::time::{DateFormat, TimeReader};
use jiff::tz::TimeZone;
use toml::Spanned;

use super::raw::{RawSource, RawSourceKind};
use super::{Context, MANUAL_SOURCE, resolve};
use crate::schedule::Schedule;

/// An evidence collector.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub kind: SourceKind,
    /// The kind of record it produces.
    pub evidence: Arc<EvidenceKind>,
    /// Where the kind's fields sit in this source's exports.
    pub mapping: Mapping,
    /// How its local times and dates are read.
    pub time: TimeReader,
    pub schedule: Schedule,
    pub max_age: Option<Period>,
}

impl Source {
    pub fn reader(&self) -> RecordReader<'_> {
        RecordReader {
            kind: &self.evidence,
            mapping: &self.mapping,
            time: &self.time,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// The newest file matching `pattern` (a path or glob).
    File {
        pattern: PathBuf,
        format: FileFormat,
        records: Option<FieldPath>,
    },
}

pub use dutywatch_checks::read::Format as FileFormat;

impl Context<'_> {
    pub(super) fn source(
        &mut self,
        raw: &Spanned<RawSource>,
        base: &Path,
        zone: &TimeZone,
        contractor: &str,
    ) -> Option<Source> {
        let start = self.errors.len();
        let offset = raw.span().start;
        let raw = raw.get_ref();
        let id = raw.id.get_ref().clone();
        let key = format!("{contractor}.source[{id}]");
        self.id(&raw.id, &format!("{key}.id"));
        if id == MANUAL_SOURCE {
            self.error(
                raw.id.span().start,
                &format!("{key}.id"),
                format!("`{MANUAL_SOURCE}` is reserved for evidence added with `dutywatch evidence add`; pick another id"),
            );
        }
        let schedule = self.schedule(&raw.schedule, &format!("{key}.schedule"), zone);
        let evidence = self.kinds.get(raw.evidence.get_ref()).cloned();
        if evidence.is_none() {
            self.error(
                raw.evidence.span().start,
                &format!("{key}.evidence"),
                format!(
                    "`{}` is not an evidence kind; {}",
                    raw.evidence.get_ref(),
                    self.kinds.unknown_hint(raw.evidence.get_ref())
                ),
            );
        }
        let mapping = evidence
            .as_deref()
            .map(|kind| self.mapping(kind, &raw.fields, &key));
        let zone = match &raw.timezone {
            None => Some(zone.clone()),
            Some(name) => match TimeZone::get(name.get_ref()) {
                Ok(zone) => Some(zone),
                Err(_) => {
                    self.error(
                        name.span().start,
                        &format!("{key}.timezone"),
                        format!(
                            "`{}` is not an IANA time zone; write e.g. `America/Chicago`, or leave it out to read this source's local times in the contractor's zone",
                            name.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let date_format = match &raw.date_format {
            None => None,
            Some(text) => match text.get_ref().parse::<DateFormat>() {
                Ok(format) => Some(format),
                Err(error) => {
                    self.error(
                        text.span().start,
                        &format!("{key}.date_format"),
                        error.to_string(),
                    );
                    None
                }
            },
        };
        let kind = match raw.kind {
            RawSourceKind::File => {
                let Some(path) = &raw.path else {
                    self.error(
                        offset,
                        &format!("{key}.path"),
                        "a file source needs `path` (a file or a glob such as `exports/*.csv`)"
                            .to_owned(),
                    );
                    return None;
                };
                let pattern = resolve(base, path.get_ref());
                let format = raw.format.or_else(|| {
                    match pattern
                        .extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref()
                    {
                        Some("csv") => Some(FileFormat::Csv),
                        Some("json") => Some(FileFormat::Json),
                        _ => None,
                    }
                });
                let Some(format) = format else {
                    self.error(path.span().start, &format!("{key}.format"), "cannot tell the format from the file name; set format = \"csv\" or \"json\"".to_owned());
                    return None;
                };
                if format == FileFormat::Csv && raw.records.is_some() {
                    self.error(
                        offset,
                        &format!("{key}.records"),
                        "`records` says where the records sit inside a JSON document; a CSV file's rows are the records, so remove it (or set format = \"json\")".to_owned(),
                    );
                }
                if glob::Pattern::new(&pattern.to_string_lossy()).is_err() {
                    self.error(
                        path.span().start,
                        &format!("{key}.path"),
                        format!("`{}` is not a valid glob", path.get_ref()),
                    );
                }
                SourceKind::File {
                    pattern,
                    format,
                    records: raw.records.clone(),
                }
            }
        };
        if self.errors.len() > start {
            return None;
        }
        Some(Source {
            id,
            kind,
            evidence: evidence?,
            mapping: mapping?,
            time: TimeReader {
                zone: zone?,
                format: date_format,
            },
            schedule: schedule?,
            max_age: raw.max_age,
        })
    }

    /// A source's `fields`: each key a field of its kind, each value a
    /// column name or a JSON path.
    fn mapping(
        &mut self,
        kind: &EvidenceKind,
        fields: &BTreeMap<String, Spanned<String>>,
        key: &str,
    ) -> Mapping {
        let mut overrides = BTreeMap::new();
        for (name, path) in fields {
            if kind.field(name).is_none() {
                self.error(
                    path.span().start,
                    &format!("{key}.fields.{name}"),
                    format!(
                        "`{name}` is not a field of `{}` evidence; {}",
                        kind.name,
                        kind.unknown_field_hint(name)
                    ),
                );
                continue;
            }
            let text = path.get_ref().trim();
            if text.is_empty() {
                self.error(
                    path.span().start,
                    &format!("{key}.fields.{name}"),
                    "the column or JSON path is empty".to_owned(),
                );
                continue;
            }
            // `a.b` walks JSON objects; anything else (a header with spaces)
            // is one column name as written.
            let path = text
                .parse::<FieldPath>()
                .unwrap_or_else(|_| FieldPath::single(text));
            overrides.insert(name.clone(), path);
        }
        Mapping::new(overrides)
    }
}
