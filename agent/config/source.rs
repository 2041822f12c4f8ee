//! `[[contractor.source]]`: evidence collectors.

use std::path::{Path, PathBuf};

use dutywatch_checks::period::Period;
use dutywatch_checks::predicate::FieldPath;
use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;

use super::raw::{RawSource, RawSourceKind};
use super::{Context, MANUAL_SOURCE, resolve};
use crate::schedule::Schedule;

/// An evidence collector.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub kind: SourceKind,
    pub schedule: Schedule,
    pub max_age: Option<Period>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Json,
}

impl FileFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv",
            FileFormat::Json => "application/json",
        }
    }
}

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
            schedule: schedule?,
            max_age: raw.max_age,
        })
    }
}
