//! `join = [...]` on a continuous duty: the other sources its records are joined with
//! (`dutywatch_checks::join`), checked here against each source's kind so that a typo in
//! a source, a key or a joined field is a config error with a did-you-mean, not a duty
//! that quietly finds no partners.

use std::sync::Arc;

use dutywatch_checks::duty::Join;
use dutywatch_checks::join::{check_join, closest, combined_kind, parse_key};
use dutywatch_checks::kind::EvidenceKind;
use toml::Spanned;

use super::Context;
use super::raw::RawJoin;

impl Context<'_> {
    /// The duty's joins and the kind its conditions are then checked against (`None`
    /// when a joined source's own definition is broken: reported at that source). Errors
    /// go to `{key}.join`.
    pub(super) fn joins(
        &mut self,
        raw: &[Spanned<RawJoin>],
        key: &str,
        primary: Option<&Arc<EvidenceKind>>,
        sources: &[(String, Option<Arc<EvidenceKind>>)],
    ) -> (Vec<Join>, Option<EvidenceKind>) {
        let mut joins = Vec::new();
        let mut so_far = primary.map(|kind| (**kind).clone());
        for entry in raw {
            let at = entry.span().start;
            let entry = entry.get_ref();
            let field = format!("{key}.join[{}]", entry.alias.get_ref());
            let source = entry.source.get_ref();
            let Some((_, kind)) = sources.iter().find(|(id, _)| id == source) else {
                self.error(
                    entry.source.span().start,
                    &format!("{field}.source"),
                    unknown_source(source, sources, ""),
                );
                so_far = None;
                continue;
            };
            let on = match &entry.on {
                None => None,
                Some(text) => match parse_key(text.get_ref()) {
                    Ok(on) => Some(on),
                    Err(message) => {
                        self.error(text.span().start, &format!("{field}.on"), message);
                        so_far = None;
                        continue;
                    }
                },
            };
            let join = Join {
                source: source.clone(),
                alias: entry.alias.get_ref().clone(),
                on,
                max_age: entry.max_age,
            };
            if let (Some(joined), Some(current)) = (kind, &so_far) {
                if let Err(message) = check_join(&join, current, joined) {
                    self.error(at, &field, message);
                    so_far = None;
                } else {
                    so_far = Some(combined_kind(current, &[(&join.alias, joined)]));
                }
            } else {
                so_far = None;
            }
            joins.push(join);
        }
        (joins, so_far)
    }
}

/// Why `source` names no source of the contractor's (`sources`): the nearest id as a
/// did-you-mean, else every id, each once; `also` ends the list (another choice).
pub(super) fn unknown_source(
    source: &str,
    sources: &[(String, Option<Arc<EvidenceKind>>)],
    also: &str,
) -> String {
    let mut known: Vec<&str> = sources.iter().map(|(id, _)| id.as_str()).collect();
    known.sort_unstable();
    known.dedup();
    let hint = match closest(source, known.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if known.is_empty() => format!("known: none{also}"),
        None => format!(
            "known: {}{also}",
            known
                .iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("no source `{source}` is configured for this contractor; {hint}")
}
