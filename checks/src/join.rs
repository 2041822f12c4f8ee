//! Joins across sources: a continuous duty's records joined with other sources' records
//! before its conditions read them.
//!
//! An MSP's patch check needs three exports: a NinjaOne patch names its device by NinjaOne
//! id, the NinjaOne device names it by host name, and only Intune says whether the device
//! still syncs. A join adds a partner's fields to each record as `alias.field` (and
//! `alias` alone, the partner's subject). A record that finds no partner, or more than
//! one, gets none of them and is not judged: a device one side does not know is unknown,
//! never compliant. Each joined source passes the same gates as the duty's own source
//! (a failed collector, no evidence, stale or implausibly empty evidence) before any
//! record is judged.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::duty::{Join, JoinKey};
use crate::evidence::{Collection, EvidenceView, Snapshot};
use crate::kind::{Empty, EvidenceKind, Field, FieldType};
use crate::period::Period;
use crate::predicate::FieldPath;
use crate::record::{FieldValue, Finding, Record};
use crate::verdict::State;

/// The name under which a joined record carries why a join found no partner. A space
/// cannot be written in a condition, so no config can read it as a field.
pub(crate) const JOIN_MISS: &str = " join miss";

/// The kind a joined duty's conditions are checked against: `primary`'s fields, then for
/// each `(alias, kind)` its fields as `alias.field` and `alias` itself (text, the
/// partner's subject, null when there is none).
pub fn combined_kind(primary: &EvidenceKind, joined: &[(&str, &EvidenceKind)]) -> EvidenceKind {
    let mut kind = primary.clone();
    for (alias, other) in joined {
        kind.fields.push(Field {
            name: (*alias).to_owned(),
            ty: FieldType::Text,
            required: false,
            from: vec![FieldPath::single(alias)],
            event: false,
        });
        for field in &other.fields {
            let name = format!("{alias}.{}", field.name);
            kind.fields.push(Field {
                from: vec![FieldPath::single(&name)],
                name,
                ty: field.ty.clone(),
                required: false,
                // The partner's snapshot speaks for its own instant, not the record's.
                event: false,
            });
        }
    }
    kind
}

/// Reads `on = "left = right"`.
pub fn parse_key(text: &str) -> Result<JoinKey, String> {
    let usage = || {
        format!(
            "`{text}` is not a join key: write on = \"field = joined_field\", e.g. \"device = id\" or \"rmm.device = device\""
        )
    };
    let (left, right) = text.split_once('=').ok_or_else(usage)?;
    let right = right.trim_start_matches('=').trim();
    let left: FieldPath = left.trim().parse().map_err(|_| usage())?;
    let right_path: FieldPath = right.parse().map_err(|_| usage())?;
    let right = right_path.as_name().ok_or_else(usage)?.to_owned();
    Ok(JoinKey { left, right })
}

/// The candidate a mistyped name most likely meant (`ninja-devcies` → `ninja-devices`).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (crate::kind::edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(2))
        .min()
        .map(|(_, candidate)| candidate)
}

/// Checks one join against the kind joined so far and the joined kind: both key fields
/// exist (else a did-you-mean) and are text, a word list or an integer, and the alias
/// is a fresh plain name.
pub fn check_join(join: &Join, so_far: &EvidenceKind, joined: &EvidenceKind) -> Result<(), String> {
    let alias = &join.alias;
    let plain = alias.starts_with(|c: char| c.is_ascii_lowercase())
        && alias
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(format!(
            "`{alias}` is not a join alias: use lowercase letters, digits and `_`, starting with a letter"
        ));
    }
    if so_far.field(alias).is_some() {
        return Err(format!(
            "the alias `{alias}` is already a field or alias of this duty's records; choose another `as`"
        ));
    }
    let Some(key) = &join.on else {
        return Ok(());
    };
    let keyable = |ty: &FieldType| {
        matches!(
            ty,
            FieldType::Text | FieldType::Enum(_) | FieldType::Integer
        )
    };
    let left = key.left.to_string();
    match so_far.field(&left) {
        None => {
            return Err(format!(
                "`{left}` (left of `on`) is not a field of `{}` evidence or of an earlier join; {}",
                so_far.name,
                so_far.unknown_field_hint(&left)
            ));
        }
        Some(field) if !keyable(&field.ty) => {
            return Err(format!(
                "`{left}` is a {} field; a join key must be text or an integer",
                field.ty.name()
            ));
        }
        Some(_) => {}
    }
    match joined.field(&key.right) {
        None => Err(format!(
            "`{}` (right of `on`) is not a field of `{}` evidence, which source `{}` holds; {}",
            key.right,
            joined.name,
            join.source,
            joined.unknown_field_hint(&key.right)
        )),
        Some(field) if !keyable(&field.ty) => Err(format!(
            "`{}` is a {} field; a join key must be text or an integer",
            key.right,
            field.ty.name()
        )),
        Some(_) => Ok(()),
    }
}

/// Why a joined source cannot vouch for anything now: its state, reason and the evidence
/// it rests on. `None` when every joined source is usable.
pub(crate) fn gate(
    joins: &[Join],
    joined: &[EvidenceView<'_>],
    duty_max_age: Option<Period>,
    now: Timestamp,
    show: impl Fn(Timestamp) -> String,
) -> Option<(State, String, Vec<crate::evidence::EvidenceId>)> {
    for join in joins {
        let named = format!("joined source `{}` (as `{}`)", join.source, join.alias);
        let Some(view) = joined.iter().find(|v| v.source == join.source) else {
            return Some((
                State::NoEvidence,
                format!("the evidence of {named} was not read"),
                Vec::new(),
            ));
        };
        if let Collection::Failed { since, error } = view.collection {
            return Some((
                State::SourceError {
                    since: *since,
                    error: error.clone(),
                },
                format!(
                    "the collector for {named} has failed since {}: {error}",
                    show(*since)
                ),
                Vec::new(),
            ));
        }
        let Some(latest) = view.latest() else {
            let why = match view.collection {
                Collection::NeverRun => "has not been collected yet",
                _ => "has produced no evidence",
            };
            return Some((State::NoEvidence, format!("{named} {why}"), Vec::new()));
        };
        if let Some(max_age) = join.max_age.or(duty_max_age) {
            let age = Period::between(latest.effective_at, now);
            if age > max_age {
                return Some((
                    State::StaleEvidence {
                        as_of: latest.effective_at,
                        age,
                        max_age,
                    },
                    format!(
                        "the newest evidence of {named} is as of {} ({age} old); it may be at most {max_age} old",
                        show(latest.effective_at)
                    ),
                    vec![latest.id],
                ));
            }
        }
        if latest.records.is_empty() && view.kind.empty == Empty::NoEvidence {
            return Some((
                State::NoEvidence,
                format!(
                    "the evidence of {named} as of {} holds no records; an empty `{}` export proves nothing",
                    show(latest.effective_at),
                    view.kind.name
                ),
                vec![latest.id],
            ));
        }
    }
    None
}

/// The partners of one join, found by key.
struct Index<'a> {
    join: &'a Join,
    kind: &'a EvidenceKind,
    /// Every record of the joined snapshot, for a join without `on`.
    all: &'a [Record],
    by_key: HashMap<String, Vec<&'a Record>>,
    /// The findings of the joined snapshot, whose records that could not be read may hold a
    /// partner that is missing.
    findings: &'a [Finding],
    /// How many of its records could not be read (positions with findings and no record),
    /// counted at the first miss.
    unreadable: std::cell::OnceCell<usize>,
}

impl Index<'_> {
    fn unreadable(&self) -> usize {
        *self.unreadable.get_or_init(|| {
            let read: std::collections::BTreeSet<_> =
                self.all.iter().map(|record| record.position).collect();
            let mut unread: Vec<_> = self
                .findings
                .iter()
                .map(|finding| finding.position)
                .filter(|position| !read.contains(position))
                .collect();
            unread.sort_unstable();
            unread.dedup();
            unread.len()
        })
    }
}

/// A join key's value as compared: text ignoring ASCII case, integers as written.
fn key_of(value: &FieldValue) -> Option<String> {
    match value {
        FieldValue::Text(text) => Some(text.to_ascii_lowercase()),
        FieldValue::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Joins each record of every snapshot to the newest snapshot of each joined source
/// (which `gate` has found usable).
pub(crate) fn join_snapshots(
    joins: &[Join],
    joined: &[EvidenceView<'_>],
    snapshots: &[Snapshot],
) -> Vec<Snapshot> {
    let mut indexes = Vec::with_capacity(joins.len());
    for join in joins {
        let Some(view) = joined.iter().find(|v| v.source == join.source) else {
            continue;
        };
        let all: &[Record] = view.latest().map_or(&[], |s| &s.records[..]);
        let findings: &[Finding] = view.latest().map_or(&[], |s| &s.findings[..]);
        let mut by_key: HashMap<String, Vec<&Record>> = HashMap::new();
        if let Some(key) = &join.on {
            for record in all {
                if let Some(k) = record.get(&key.right).and_then(key_of) {
                    by_key.entry(k).or_default().push(record);
                }
            }
        }
        indexes.push(Index {
            join,
            kind: view.kind,
            all,
            by_key,
            findings,
            unreadable: std::cell::OnceCell::new(),
        });
    }
    // The same names, in the same order, for every joined record.
    let names: Vec<Box<str>> = indexes
        .iter()
        .flat_map(|index| {
            std::iter::once(Box::from(index.join.alias.as_str())).chain(
                index
                    .kind
                    .fields
                    .iter()
                    .map(|f| Box::from(format!("{}.{}", index.join.alias, f.name))),
            )
        })
        .collect();
    snapshots
        .iter()
        .map(|snapshot| Snapshot {
            id: snapshot.id,
            effective_at: snapshot.effective_at,
            records: snapshot
                .records
                .iter()
                .map(|record| join_record(record, &indexes, &names))
                .collect(),
            findings: snapshot.findings.clone(),
        })
        .collect()
}

fn join_record(record: &Record, indexes: &[Index<'_>], names: &[Box<str>]) -> Record {
    let mut partners: Vec<Option<&Record>> = Vec::with_capacity(indexes.len());
    let mut miss: Option<String> = None;
    for index in indexes {
        let found = match partner(record, index, &partners, indexes) {
            Ok(found) => Some(found),
            Err(why) => {
                miss.get_or_insert(why);
                None
            }
        };
        partners.push(found);
    }
    let mut values: Vec<Option<FieldValue>> = Vec::with_capacity(names.len());
    for (index, found) in indexes.iter().zip(&partners) {
        values.push(found.map(|p| FieldValue::Text(Arc::from(p.name()))));
        for field in &index.kind.fields {
            values.push(found.and_then(|p| p.get(&field.name)).cloned());
        }
    }
    let mut extra: Vec<(Box<str>, Option<FieldValue>)> =
        names.iter().cloned().zip(values).collect();
    if let Some(why) = miss {
        extra.push((JOIN_MISS.into(), Some(FieldValue::Text(Arc::from(why)))));
    }
    record.extended(extra)
}

/// The one partner of `record` in `index`, or why there is none.
fn partner<'a>(
    record: &Record,
    index: &Index<'a>,
    earlier: &[Option<&'a Record>],
    indexes: &[Index<'a>],
) -> Result<&'a Record, String> {
    let join = index.join;
    let named = format!("`{}` (source `{}`)", join.alias, join.source);
    let Some(key) = &join.on else {
        return match index.all {
            [one] => Ok(one),
            many => Err(format!(
                "{named} holds {} records; a join without `on` needs exactly one",
                many.len()
            )),
        };
    };
    let value = left_value(record, &key.left, earlier, indexes);
    let Some(wanted) = value.and_then(key_of) else {
        return Err(format!(
            "it has no `{}`, so it cannot be joined to {named}",
            key.left
        ));
    };
    match index.by_key.get(&wanted).map(Vec::as_slice) {
        Some([one]) => Ok(one),
        Some(many) => Err(format!(
            "{} records of {named} have `{}` = '{wanted}', so which one is its partner cannot be told",
            many.len(),
            key.right
        )),
        None if index.unreadable() > 0 => Err(format!(
            "no readable record of {named} has `{}` = '{wanted}' (`{key}`), and {} of its record(s) could not be read: it may be one of them, or unknown to that side",
            key.right,
            index.unreadable()
        )),
        None => Err(format!(
            "no record of {named} has `{}` = '{wanted}' (`{key}`): it is unknown to that side",
            key.right
        )),
    }
}

/// The left key's value: the record's own field, or an earlier partner's `alias.field`.
fn left_value<'a>(
    record: &'a Record,
    left: &FieldPath,
    earlier: &[Option<&'a Record>],
    indexes: &[Index<'_>],
) -> Option<&'a FieldValue> {
    if let [alias, field] = left.segments() {
        for (index, found) in indexes.iter().zip(earlier) {
            if index.join.alias == *alias {
                return found.and_then(|p| p.get(field));
            }
        }
    }
    record.get_path(left)
}

/// Why `record` found no partner, if it did not.
pub(crate) fn miss(record: &Record) -> Option<&str> {
    match record.get(JOIN_MISS) {
        Some(FieldValue::Text(why)) => Some(why),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
