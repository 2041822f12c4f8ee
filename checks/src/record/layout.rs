//! Where each path of a reader starts among a raw record's keys, worked out once for all the
//! records that have the same keys in the same order.
//!
//! Finding a field's value means comparing the first segment of each of its paths with every
//! key of the record, ignoring case, to tell one spelling from two (see `find`): some hundred
//! comparisons a record. The records of an export have the same keys, so the answer for the
//! record before holds for the next one as long as its keys are the same: checking that takes
//! one comparison per key.

use super::{RawRecord, RecordReader, spells};

/// The starts of every path of a reader (each field's paths, in the kind's field order), and
/// the keys they were worked out for.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// The keys, in the record's order; `None` before the first record.
    keys: Option<Vec<String>>,
    starts: Vec<Start>,
}

/// Where one path starts in records with the layout's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Start {
    /// The whole dotted path is the key at this index (a CSV header `properties.plan`).
    Joined(usize),
    /// The one key at this index is the path's first segment, ignoring case.
    At(usize),
    /// No key is its first segment.
    Absent,
    /// More than one key is its first segment in some spelling of case.
    Ambiguous,
}

impl Layout {
    /// The starts of `reader`'s paths in `raw`: each field's paths, in the kind's field order.
    /// A layout serves one reader: its paths are not checked again, only the record's keys.
    pub(super) fn starts<R: RawRecord + ?Sized>(
        &mut self,
        raw: &R,
        reader: &RecordReader<'_>,
    ) -> &[Start] {
        let same = self.keys.as_ref().is_some_and(|keys| {
            raw.fields()
                .map(|(key, _)| key)
                .eq(keys.iter().map(String::as_str))
        });
        if !same {
            self.starts.clear();
            for field in &reader.kind.fields {
                for path in reader.mapping.paths(field) {
                    self.starts.push(start(raw, path.segments()));
                }
            }
            let keys = self.keys.get_or_insert_with(Vec::new);
            keys.clear();
            keys.extend(raw.fields().map(|(key, _)| key.to_owned()));
        }
        &self.starts
    }
}

/// Where a path of `segments` starts among `raw`'s keys.
fn start<R: RawRecord + ?Sized>(raw: &R, segments: &[String]) -> Start {
    if segments.len() > 1
        && let Some(index) = raw.fields().position(|(key, _)| spells(key, segments))
    {
        return Start::Joined(index);
    }
    let Some(first) = segments.first() else {
        return Start::Absent;
    };
    let mut matches = raw
        .fields()
        .enumerate()
        .filter(|(_, (key, _))| key.eq_ignore_ascii_case(first));
    match (matches.next(), matches.next()) {
        (Some((index, _)), None) => Start::At(index),
        (Some(_), Some(_)) => Start::Ambiguous,
        (None, _) => Start::Absent,
    }
}
