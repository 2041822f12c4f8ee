//! `[[…]]` tables that did not read (`raw::Lenient::Refused`): where in them and why.
//!
//! A lenient read keeps only the message of what failed, so one mistake does not hide the
//! next table's. The place is had by reading that one table again, strictly, from the parsed
//! document, which keeps positions.

use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::raw::Lenient;
use super::{Context, read_hint, toml_key_at};

/// Where a table's strict read refuses it (the offset in the document), and why.
pub(super) type Refusal = (usize, String);

/// A table read without the keys its strict read refused
/// ([`RefusedTable::read_without_refused_keys`]).
pub(super) struct WithoutRefused<T> {
    /// `None` when it still does not read (a required key left out): only `more` is said.
    pub(super) read: Option<Spanned<T>>,
    /// Every refusal after the first.
    pub(super) more: Vec<Refusal>,
    /// The keys left out, so a problem that is only their absence is not said as well.
    pub(super) left_out: Vec<String>,
}

/// A table of the document that did not read into its type.
pub(super) struct RefusedTable<'i>(Spanned<DeValue<'i>>);

impl<'i> RefusedTable<'i> {
    /// The table at `path`: `[("contractor", Some(2)), ("duty", Some(0))]` is the first
    /// `[[contractor.duty]]` of the third `[[contractor]]`, `[("mail", None)]` is `[mail]`.
    fn at(document: &Spanned<DeTable<'i>>, path: &[(&str, Option<usize>)]) -> Option<Self> {
        let mut table = document.get_ref();
        let mut found = None;
        for (key, index) in path {
            let (_, value) = table.iter().find(|(k, _)| k.get_ref() == *key)?;
            let item = match (value.get_ref(), index) {
                (DeValue::Array(items), Some(index)) => items.get(*index)?,
                (_, None) => value,
                (_, Some(_)) => return None,
            };
            if let DeValue::Table(inner) = item.get_ref() {
                table = inner;
            }
            found = Some(item);
        }
        found.cloned().map(RefusedTable)
    }

    /// The table's `key` when it is text (its `id`, its `name`).
    pub(super) fn word(&self, key: &str) -> Option<String> {
        let DeValue::Table(table) = self.0.get_ref() else {
            return None;
        };
        table.iter().find_map(|(k, v)| match v.get_ref() {
            DeValue::String(text) if k.get_ref() == key => Some(text.to_string()),
            _ => None,
        })
    }

    /// Where the text value of `key` starts in the file, for an error naming that line.
    pub(super) fn word_offset(&self, key: &str) -> Option<usize> {
        let DeValue::Table(table) = self.0.get_ref() else {
            return None;
        };
        table.iter().find_map(|(k, v)| match v.get_ref() {
            DeValue::String(_) if k.get_ref() == key => Some(v.span().start),
            _ => None,
        })
    }

    /// The table read as a `T` once each key a strict read refuses is left out, one at a
    /// time, with every refusal after the first (where, and why) and the keys left out: a
    /// client's block that does not read for one misspelt key still has its sources and
    /// duties checked. `None` when leaving keys out does not make it read (a required key
    /// missing, say).
    pub(super) fn read_without_refused_keys<T: DeserializeOwned>(
        &self,
    ) -> Option<WithoutRefused<T>> {
        const ROUNDS: usize = 16;
        let mut table = self.0.clone();
        let mut more = Vec::new();
        let mut left_out: Vec<String> = Vec::new();
        // What was found before the table stopped reading (a required key left out): said
        // all the same, the table itself not checked further.
        let stopped = |more: Vec<Refusal>, left_out: Vec<String>| {
            (!more.is_empty()).then_some(WithoutRefused {
                read: None,
                more,
                left_out,
            })
        };
        for round in 0..ROUNDS {
            let error =
                match Spanned::<T>::deserialize(toml::de::ValueDeserializer::from(table.clone())) {
                    Ok(read) => {
                        return Some(WithoutRefused {
                            read: Some(read),
                            more,
                            left_out,
                        });
                    }
                    Err(error) => error,
                };
            let message = error.message().trim_end().to_owned();
            // A key left out that the type needs, or the one a misspelt key left out meant
            // (`schedul` for `schedule`): its absence was said as what it was.
            if let Some(missing) = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                && (left_out.iter().any(|key| key == missing)
                    || dutywatch_checks::join::closest(
                        missing,
                        left_out.iter().map(String::as_str),
                    )
                    .is_some())
            {
                return stopped(more, left_out);
            }
            let Some(at) = error.span().map(|span| span.start) else {
                return stopped(more, left_out);
            };
            if round > 0 {
                more.push((at, message));
            }
            let DeValue::Table(inner) = table.get_mut() else {
                return stopped(more, left_out);
            };
            let Some(refused) = inner
                .iter()
                .find(|(key, value)| key.span().contains(&at) || value.span().contains(&at))
                .map(|(key, _)| key.clone())
            else {
                return stopped(more, left_out);
            };
            left_out.push(refused.get_ref().to_string());
            inner.remove(&refused);
        }
        stopped(more, left_out)
    }

    /// Where the table fails to read as a `T`, and why.
    fn error<T: DeserializeOwned>(&self) -> Option<(usize, String)> {
        let error =
            Spanned::<T>::deserialize(toml::de::ValueDeserializer::from(self.0.clone())).err()?;
        Some((error.span()?.start, error.message().trim_end().to_owned()))
    }
}

impl<'a> Context<'a> {
    /// The table at `path` of the document (see [`RefusedTable::at`]); the document is parsed
    /// the first time a table is asked for.
    pub(super) fn refused_table(&self, path: &[(&str, Option<usize>)]) -> Option<RefusedTable<'a>> {
        let text = self.text;
        self.document
            .get_or_init(|| DeTable::parse(text).ok())
            .as_ref()
            .and_then(|document| RefusedTable::at(document, path))
    }

    /// Reports `table` (read as a `T`, starting at `start`) as refused with `message`: at the
    /// key and line its strict read names, else at `start` under `fallback_key`, saying what
    /// was therefore not read (`rest`).
    pub(super) fn refused<T: DeserializeOwned>(
        &mut self,
        table: Option<&RefusedTable<'_>>,
        start: usize,
        fallback_key: &str,
        message: &str,
        rest: &str,
    ) {
        let (offset, key, message) = match table.and_then(RefusedTable::error::<T>) {
            Some((offset, message)) => {
                let key = toml_key_at(self.text, offset);
                (offset, with_ids(&key, fallback_key, table), message)
            }
            None => (
                start,
                fallback_key.to_owned(),
                message.trim_end().replace('\n', " "),
            ),
        };
        let hint = read_hint(&message, &key);
        self.error(offset, &key, format!("{message}{hint}; {rest}"));
    }

    /// The problems of a table read again without its refused keys (`rest`): each refusal
    /// after the first (named as `own_key`'s), then what `check` finds in what did read,
    /// but a problem that is only the absence of a key left out, which was said as it is.
    pub(super) fn check_without_refused<T>(
        &mut self,
        rest: &WithoutRefused<T>,
        own_key: &str,
        check: &mut dyn FnMut(&mut Self, &Spanned<T>),
    ) {
        for (offset, message) in &rest.more {
            let key = with_ids(&toml_key_at(self.text, *offset), own_key, None);
            let hint = read_hint(message, &key);
            self.error(*offset, &key, format!("{message}{hint}"));
        }
        let Some(read) = &rest.read else {
            return;
        };
        let checked = self.errors.len();
        check(self, read);
        let mut n = checked;
        while n < self.errors.len() {
            let said = &self.errors[n];
            let absent = rest.left_out.iter().any(|key| {
                said.key.ends_with(&format!(".{key}")) || said.message.contains(&format!("`{key}`"))
            });
            if absent {
                self.errors.remove(n);
            } else {
                n += 1;
            }
        }
    }

    /// `part` as read; or, once the reason it does not read is reported (at the key its
    /// strict read names, else at `fallback_key`, saying `rest` was not read), the table as the
    /// document holds it, for its id or name. The rest of the file is still read.
    pub(super) fn lenient<'r, T: DeserializeOwned>(
        &mut self,
        part: &'r Spanned<Lenient<Spanned<T>>>,
        path: &[(&str, Option<usize>)],
        fallback_key: &str,
        rest: &str,
    ) -> Result<&'r Spanned<T>, Option<RefusedTable<'a>>> {
        match part.get_ref() {
            Lenient::Read(read) => Ok(read),
            Lenient::Refused(message) => {
                let table = self.refused_table(path);
                self.refused::<T>(
                    table.as_ref(),
                    part.span().start,
                    fallback_key,
                    message,
                    rest,
                );
                Err(table)
            }
        }
    }

    /// A top-level section (`[mail]`, `[[kind]]` number `index`, …) as read, or `None` once
    /// the reason it does not read is reported (see [`Context::lenient`]).
    pub(super) fn section<'r, T: DeserializeOwned>(
        &mut self,
        part: &'r Spanned<Lenient<Spanned<T>>>,
        key: &str,
        index: Option<usize>,
    ) -> Option<&'r Spanned<T>> {
        let rest = match index {
            Some(_) => format!("this [[{key}]] was not read"),
            None => format!("[{key}] was not read"),
        };
        self.lenient(part, &[(key, index)], key, &rest).ok()
    }

    /// Says that each of `refused` (the ids of tables that did not read, and where they start)
    /// is given twice when a table that did read has it (`read`) or an earlier refused one
    /// does: the duplicate is said in the same run as the table's own problem.
    pub(super) fn refused_twice(
        &mut self,
        refused: &[(String, usize)],
        read: &dyn Fn(&str) -> bool,
        key: &str,
        twice: &dyn Fn(&str) -> String,
    ) {
        for (n, (id, offset)) in refused.iter().enumerate() {
            if read(id) || refused[..n].iter().any(|(other, _)| other == id) {
                self.error(*offset, key, twice(id));
            }
        }
    }
}

/// `key` as the text says it (`contractor.source.token`) with the ids of the tables it is in,
/// as the rest of the config's problems name them (`contractor[acme].source[mfa].token`): in
/// an MSP's file of hundreds of clients the first says nothing of which. `fallback_key` is
/// the table's own (`contractor[acme].source`), `table` gives its `id`.
fn with_ids(key: &str, fallback_key: &str, table: Option<&RefusedTable<'_>>) -> String {
    let mut path = String::new();
    let mut in_id = false;
    for c in fallback_key.chars() {
        match c {
            '[' => in_id = true,
            ']' => in_id = false,
            c if !in_id => path.push(c),
            _ => {}
        }
    }
    let Some(rest) = key.strip_prefix(&path) else {
        return key.to_owned();
    };
    let own = match table.and_then(|table| table.word("id")) {
        Some(id) if !fallback_key.ends_with(']') => format!("{fallback_key}[{id}]"),
        _ => fallback_key.to_owned(),
    };
    format!("{own}{rest}")
}
